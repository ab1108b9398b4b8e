//! What a run produces: the outcome, captured streams, output candidates, the data-access
//! record, resource usage, and the errors that are not the guest's doing. Plain data only;
//! no behaviour beyond formatting.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Everything a finished run produced. Contents are untrusted guest output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutput {
    /// How the job ended.
    pub outcome: Outcome,
    /// Captured stdout (at most [`crate::SandboxLimits::stdout_bytes`]).
    pub stdout: Vec<u8>,
    /// Captured stderr (at most [`crate::SandboxLimits::stderr_bytes`]).
    pub stderr: Vec<u8>,
    /// Whether stdout reached its cap (later writes were discarded).
    pub stdout_truncated: bool,
    /// Whether stderr reached its cap (later writes were discarded).
    pub stderr_truncated: bool,
    /// Regular files found under `/out`, sorted by name. Empty when a limit was exceeded.
    pub outputs: Vec<OutputFile>,
    /// Entries under `/out` that are not acceptable outputs. Empty when a limit was exceeded.
    pub rejected_outputs: Vec<RejectedOutput>,
    /// Resources the run used.
    pub usage: Usage,
    /// Files under `/data` the job opened, with the bytes it read from each, sorted by path.
    /// Kept whatever the outcome, since a job stopped by a limit may still have read data.
    /// Empty when nothing ran (a compile-time limit).
    pub data_access: Vec<DataAccess>,
}

/// One file under `/data` that a job opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataAccess {
    /// Guest path, starting with `/data/` (normalised: no `.` or `..` components).
    pub path: String,
    /// How many times the job opened it.
    pub opens: u64,
    /// Bytes the job read from it, summed over all opens.
    pub bytes_read: u64,
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
    /// Bytes read from files under `/data` (the sum of [`RunOutput::data_access`]).
    pub data_bytes_read: u64,
    /// Time spent compiling the module; zero when it came from the cache.
    pub compile_time: Duration,
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
    /// [`crate::SandboxLimits::wall_time`].
    WallTime,
    /// [`crate::SandboxLimits::memory_bytes`].
    Memory,
    /// [`crate::SandboxLimits::fuel`].
    Fuel,
    /// [`crate::SandboxLimits::out_bytes`].
    OutputBytes,
    /// [`crate::SandboxLimits::out_files`].
    OutputFiles,
    /// [`crate::SandboxLimits::compile_time`].
    CompileTime,
    /// [`crate::SandboxLimits::table_elements`].
    TableElements,
    /// [`crate::SandboxLimits::stdio_hard_bytes`] on stdout.
    StdoutBytes,
    /// [`crate::SandboxLimits::stdio_hard_bytes`] on stderr.
    StderrBytes,
    /// [`crate::SandboxLimits::tmp_bytes`].
    TmpBytes,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::WallTime => "wall time",
            Limit::Memory => "memory",
            Limit::Fuel => "fuel",
            Limit::OutputBytes => "output bytes",
            Limit::OutputFiles => "output files",
            Limit::CompileTime => "compile time",
            Limit::TableElements => "table elements",
            Limit::StdoutBytes => "stdout bytes",
            Limit::StderrBytes => "stderr bytes",
            Limit::TmpBytes => "scratch bytes",
        })
    }
}

/// Something went wrong before or around a run. Guest misbehaviour is never an error: it is
/// an [`Outcome`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The module bytes were refused (not wasm, neither a core module nor a component, too
    /// large, invalid, missing `_start` or `wasi:cli/run`, or importing something the sandbox
    /// does not provide).
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
