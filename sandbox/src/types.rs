//! The sandbox's inputs: engine configuration, per-job limits and the job description. What a
//! run produces lives in `report.rs`. Plain data only; no behaviour beyond defaults.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

/// Engine-wide settings, fixed when a [`Sandbox`](crate::Sandbox) is created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxConfig {
    /// How often the engine's epoch advances. Wall-time and output-quota checks happen at
    /// this granularity while a guest computes. Default 10 ms.
    pub epoch_tick: Duration,
    /// How many jobs may run at once; sizes the pooling allocator. Default 4.
    pub max_concurrent_jobs: u32,
    /// Largest linear memory any job may get (the per-job limit is the smaller of this and
    /// [`SandboxLimits::memory_bytes`]). Capped at 4 GiB, the wasm32 maximum. Default 4 GiB.
    pub max_memory_bytes: u64,
    /// Whether compiled code counts fuel, which a [`SandboxLimits::fuel`] limit needs. It
    /// costs a few percent on compute-bound jobs (see the README's performance section), so
    /// an installation without fuel limits turns it off. Default on.
    pub fuel_metering: bool,
    /// Folder for the on-disk cache of compiled code (`.cwasm` files from wasmtime's
    /// `serialize`, each with its SHA-256 beside it), so a restart or a second process does
    /// not compile the same module again. `None` keeps compiled code in memory only.
    /// Default `None`.
    pub compiled_cache_dir: Option<PathBuf>,
    /// Total size of the `.cwasm` files kept in [`SandboxConfig::compiled_cache_dir`]; past
    /// it the least recently used entries are removed. Default 4 GiB.
    pub compiled_cache_max_bytes: u64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            epoch_tick: Duration::from_millis(10),
            max_concurrent_jobs: 4,
            max_memory_bytes: 4 * 1024 * MIB,
            fuel_metering: true,
            compiled_cache_dir: None,
            compiled_cache_max_bytes: 4 * 1024 * MIB,
        }
    }
}

/// Resource limits for one job. Exceeding any of them ends the job with
/// [`Outcome::LimitExceeded`](crate::Outcome::LimitExceeded) (stdout and stderr are truncated,
/// up to [`SandboxLimits::stdio_hard_bytes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxLimits {
    /// Wall-clock time from instantiation to exit. Default 60 s.
    pub wall_time: Duration,
    /// Linear memory size. Default 256 MiB.
    pub memory_bytes: u64,
    /// Optional instruction budget (wasmtime fuel). Default none.
    pub fuel: Option<u64>,
    /// Captured stdout; later writes are accepted and discarded, and the capture is flagged
    /// as truncated. Default 1 MiB.
    pub stdout_bytes: u64,
    /// Captured stderr, as [`SandboxLimits::stdout_bytes`]. Default 1 MiB.
    pub stderr_bytes: u64,
    /// Bytes a job may write to stdout, and separately to stderr, counting discarded ones;
    /// past this the job is stopped (a flood is a denial of service). Default 64 MiB.
    pub stdio_hard_bytes: u64,
    /// Total apparent size of everything under `/out`. Default 64 MiB.
    pub out_bytes: u64,
    /// Number of entries (files, directories and anything else) under `/out`. Default 64.
    pub out_files: u32,
    /// Size of the module itself. Default 64 MiB.
    pub module_bytes: u64,
    /// Time to compile the module (a cached module costs nothing). Compiling untrusted code
    /// is itself a denial-of-service vector. Default 60 s.
    pub compile_time: Duration,
    /// Elements per table (function pointers). Capped at 65 536. Default 65 536.
    pub table_elements: u32,
    /// Total apparent size of everything under `/tmp`, checked while the job runs.
    /// Default 256 MiB.
    pub tmp_bytes: u64,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            wall_time: Duration::from_secs(60),
            memory_bytes: 256 * MIB,
            fuel: None,
            stdout_bytes: MIB,
            stderr_bytes: MIB,
            out_bytes: 64 * MIB,
            out_files: 64,
            module_bytes: 64 * MIB,
            stdio_hard_bytes: 64 * MIB,
            compile_time: Duration::from_secs(60),
            table_elements: 65_536,
            tmp_bytes: 256 * MIB,
        }
    }
}

/// What a job runs.
#[derive(Clone)]
pub enum Program {
    /// Untrusted WebAssembly bytes: a WASI preview 1 core module exporting `_start`, or a
    /// WASI 0.2 component exporting `wasi:cli/run` (a `wasi:cli/command`). Admitted as by
    /// [`Sandbox::check_module`](crate::Sandbox::check_module) and compiled within
    /// [`SandboxLimits::compile_time`].
    Module(Vec<u8>),
    /// A trusted runner (an interpreter the operator installed, compiled once by
    /// [`Sandbox::load_runner`](crate::Sandbox::load_runner)) executing the files in
    /// `job_dir`, which is mounted read-only at `/job`.
    Runner {
        /// The compiled runner.
        runner: Runner,
        /// Host directory mounted read-only at `/job` (the researcher's script).
        job_dir: PathBuf,
    },
}

impl From<Vec<u8>> for Program {
    fn from(bytes: Vec<u8>) -> Self {
        Program::Module(bytes)
    }
}

impl fmt::Debug for Program {
    // The module bytes are summarised: dumping megabytes of wasm into a log helps nobody.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Program::Module(bytes) => f.debug_struct("Module").field("len", &bytes.len()).finish(),
            Program::Runner { runner, job_dir } => f
                .debug_struct("Runner")
                .field("runner", runner)
                .field("job_dir", job_dir)
                .finish(),
        }
    }
}

/// A trusted runner component or module, compiled (or loaded from the on-disk cache) once
/// and shared by every job that uses it. Cheap to clone.
#[derive(Clone)]
pub struct Runner {
    pub(crate) hash: crate::module::ModuleHash,
    pub(crate) compiled: crate::compile::Compiled,
}

impl Runner {
    /// SHA-256 of the runner's bytes, lower-case hex (the job's provenance records it).
    pub fn sha256(&self) -> String {
        hex::encode(self.hash)
    }
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("sha256", &self.sha256())
            .finish_non_exhaustive()
    }
}

/// One job to run: the program, what it may see and how far it may go.
#[derive(Clone)]
pub struct JobSpec {
    /// What runs: untrusted module bytes, or a trusted runner with the job's files.
    pub program: Program,
    /// Host directory mounted read-only at `/data`, if any.
    pub data_dir: Option<PathBuf>,
    /// Host directory mounted read-write at `/out`; must exist and be empty.
    pub out_dir: PathBuf,
    /// Host directory mounted read-write at `/tmp`, if any.
    pub tmp_dir: Option<PathBuf>,
    /// Arguments after `argv[0]`, which is always `job`.
    pub args: Vec<String>,
    /// Environment; every key must start with `ENCLAVE_`.
    pub env: Vec<(String, String)>,
    /// Seed for all randomness the guest sees, so a rerun reproduces the outputs.
    pub seed: [u8; 32],
    /// Limits for this run.
    pub limits: SandboxLimits,
}

impl fmt::Debug for JobSpec {
    // The module bytes are summarised: dumping megabytes of wasm into a log helps nobody.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobSpec")
            .field("program", &self.program)
            .field("data_dir", &self.data_dir)
            .field("out_dir", &self.out_dir)
            .field("tmp_dir", &self.tmp_dir)
            .field("args", &self.args)
            .field("env", &self.env)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}
