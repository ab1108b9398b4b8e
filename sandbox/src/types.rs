//! The sandbox's vocabulary: engine configuration, per-job limits, the job description and
//! what a run produces. Plain data only; no behaviour beyond defaults and formatting.

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
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            epoch_tick: Duration::from_millis(10),
            max_concurrent_jobs: 4,
            max_memory_bytes: 4 * 1024 * MIB,
        }
    }
}

/// Resource limits for one job. Exceeding any of them ends the job with
/// [`Outcome::LimitExceeded`] (stdout and stderr are truncated instead).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxLimits {
    /// Wall-clock time from instantiation to exit. Default 60 s.
    pub wall_time: Duration,
    /// Linear memory size. Default 256 MiB.
    pub memory_bytes: u64,
    /// Optional instruction budget (wasmtime fuel). Default none.
    pub fuel: Option<u64>,
    /// Captured stdout; later writes fail with an error the guest sees. Default 1 MiB.
    pub stdout_bytes: u64,
    /// Captured stderr; later writes fail with an error the guest sees. Default 1 MiB.
    pub stderr_bytes: u64,
    /// Total apparent size of everything under `/out`. Default 64 MiB.
    pub out_bytes: u64,
    /// Number of entries (files, directories and anything else) under `/out`. Default 64.
    pub out_files: u32,
    /// Size of the module itself. Default 64 MiB.
    pub module_bytes: u64,
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
        }
    }
}

/// One job to run: the module, what it may see and how far it may go.
#[derive(Clone)]
pub struct JobSpec {
    /// The WebAssembly module bytes (a WASI preview 1 core module exporting `_start`).
    pub module: Vec<u8>,
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
            .field("module_len", &self.module.len())
            .field("data_dir", &self.data_dir)
            .field("out_dir", &self.out_dir)
            .field("tmp_dir", &self.tmp_dir)
            .field("args", &self.args)
            .field("env", &self.env)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Everything a finished run produced. Contents are untrusted guest output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutput {
    /// How the job ended.
    pub outcome: Outcome,
    /// Captured stdout (at most [`SandboxLimits::stdout_bytes`]).
    pub stdout: Vec<u8>,
    /// Captured stderr (at most [`SandboxLimits::stderr_bytes`]).
    pub stderr: Vec<u8>,
    /// Whether stdout reached its cap (later writes were refused).
    pub stdout_truncated: bool,
    /// Whether stderr reached its cap (later writes were refused).
    pub stderr_truncated: bool,
    /// Regular files found under `/out`, sorted by name. Empty when a limit was exceeded.
    pub outputs: Vec<OutputFile>,
    /// Entries under `/out` that are not acceptable outputs. Empty when a limit was exceeded.
    pub rejected_outputs: Vec<RejectedOutput>,
    /// Resources the run used.
    pub usage: Usage,
}

/// One accepted output file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputFile {
    /// Path relative to `/out`, components separated by `/`.
    pub name: String,
    /// Size in bytes, as hashed.
    pub size: u64,
    /// SHA-256 of the contents, lower-case hex.
    pub sha256: String,
    /// Where the file lies on the host (inside the job's out directory).
    pub host_path: PathBuf,
}

/// An entry under `/out` that was refused and never opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectedOutput {
    /// Path relative to `/out` (lossily decoded if it is not UTF-8).
    pub name: String,
    /// Why it was refused.
    pub reason: String,
}

/// Resource usage of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Time from instantiation to the end of the run.
    pub wall_time: Duration,
    /// Fuel used, when a fuel limit was set and the count is meaningful.
    pub fuel_consumed: Option<u64>,
    /// Largest linear memory size reached.
    pub peak_memory_bytes: u64,
    /// Total apparent size of the entries under `/out` after the run.
    pub out_bytes: u64,
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The guest returned from `_start` (status 0) or called `proc_exit`.
    Exited(i32),
    /// The guest trapped; the text is wasmtime's description (for example
    /// `wasm \`unreachable\` instruction executed` or `call stack exhausted`).
    Trapped(String),
    /// The job was stopped because it exceeded a limit.
    LimitExceeded(Limit),
}

impl Outcome {
    /// Whether the job exited with status 0.
    pub fn succeeded(&self) -> bool {
        matches!(self, Outcome::Exited(0))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Exited(status) => write!(f, "exit {status}"),
            Outcome::Trapped(description) => write!(f, "trap: {description}"),
            Outcome::LimitExceeded(limit) => write!(f, "limit: {limit}"),
        }
    }
}

/// A limit a job can exceed. A stack overflow is a trap (`call stack exhausted`), not a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// [`SandboxLimits::wall_time`].
    WallTime,
    /// [`SandboxLimits::memory_bytes`].
    Memory,
    /// [`SandboxLimits::fuel`].
    Fuel,
    /// [`SandboxLimits::out_bytes`].
    OutputBytes,
    /// [`SandboxLimits::out_files`].
    OutputFiles,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::WallTime => "wall time",
            Limit::Memory => "memory",
            Limit::Fuel => "fuel",
            Limit::OutputBytes => "output bytes",
            Limit::OutputFiles => "output files",
        })
    }
}

/// Something went wrong before or around a run. Guest misbehaviour is never an error: it is
/// an [`Outcome`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The module bytes were refused (not wasm, a component, too large, invalid, missing
    /// `_start`, or importing something the sandbox does not provide).
    #[error("invalid module: {0}")]
    InvalidModule(String),
    /// The job description was refused (bad environment, arguments or directories).
    #[error("invalid job: {0}")]
    InvalidJob(String),
    /// A host filesystem or runtime operation failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// wasmtime failed for a reason that is not the guest's doing (configuration, no free
    /// instance slot, ...).
    #[error("engine error: {0}")]
    Engine(String),
}
