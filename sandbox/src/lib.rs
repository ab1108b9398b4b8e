//! Runs one untrusted WebAssembly job next to a read-only dataset.
//!
//! A job is a WASI preview 1 core module exporting `_start` or a WASI 0.2 component
//! (`wasi:cli/command`); anything else is refused. It sees `/data` (read-only), `/out`
//! (read-write, with a byte and entry quota) and optionally `/tmp` (with a byte quota);
//! arguments after `job`; only `ENCLAVE_*` environment variables; empty stdin; captured
//! stdout and stderr; frozen clocks; and randomness seeded from the job. Nothing else from
//! the host is granted. Compile time, wall time (epoch interruption plus a tokio timeout),
//! memory, tables, optional fuel, stack and output size are limited; exceeding one ends the
//! job with [`Outcome::LimitExceeded`]. The run reports which `/data` files a preview 1 job
//! opened and how much it read ([`RunOutput::data_access`]).
//!
//! Compiled code is cached in memory by the module's SHA-256 and, when
//! [`SandboxConfig::compiled_cache_dir`] is set, on disk (verified before use). A trusted
//! runner, such as the Python interpreter component, is compiled once with
//! [`Sandbox::load_runner`] and runs a job's script mounted read-only at `/job`
//! ([`Program::Runner`]).
//!
//! This crate knows nothing of users, sessions, HTTP, SSH or the database.
//!
//! ```no_run
//! # fn main() -> Result<(), enclave_sandbox::SandboxError> {
//! use enclave_sandbox::{JobSpec, Sandbox, SandboxConfig, SandboxLimits};
//! let sandbox = Sandbox::new(SandboxConfig::default())?;
//! let output = sandbox.run_blocking(JobSpec {
//!     program: std::fs::read("job.wasm")?.into(),
//!     data_dir: Some("/srv/datasets/demo".into()),
//!     out_dir: "/srv/jobs/42/out".into(),
//!     tmp_dir: None,
//!     args: vec!["--table".into(), "person".into()],
//!     env: vec![("ENCLAVE_JOB_ID".into(), "42".into())],
//!     seed: [42; 32],
//!     limits: SandboxLimits::default(),
//! })?;
//! println!("{}", output.outcome);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod access;
mod clock;
mod compile;
mod component;
mod component_access;
mod disk_cache;
mod engine;
mod limits;
mod module;
mod outputs;
mod poll;
mod precompiled;
mod report;
mod run;
mod stdio;
mod types;
mod wasi;

use wasmtime::Engine;

pub use crate::compile::CacheStats;
pub use crate::report::{
    DataAccess, Limit, Outcome, OutputFile, RejectedOutput, RunOutput, SandboxError, Usage,
};
pub use crate::types::{JobSpec, Program, Runner, SandboxConfig, SandboxLimits};

/// How many compiled modules are kept in memory.
const MODULE_CACHE_CAPACITY: usize = 64;

/// A wasmtime engine with its compiled-module cache and epoch ticker. Create one per process
/// and share it; it is `Send + Sync`.
pub struct Sandbox {
    engine: Engine,
    linkers: run::Linkers,
    cache: compile::ModuleCache,
    config: SandboxConfig,
    // Dropped last: stops the thread that advances `engine`'s epoch.
    _ticker: engine::EpochTicker,
}

impl Sandbox {
    /// Creates the engine (pooling allocator, or on-demand if the pool cannot be reserved)
    /// and starts its epoch ticker.
    ///
    /// # Errors
    ///
    /// [`SandboxError::Engine`] if wasmtime rejects the configuration,
    /// [`SandboxError::Io`] if the ticker thread cannot be started or the compiled-cache
    /// folder cannot be created.
    pub fn new(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        let engine = engine::build_engine(&config)?;
        let linkers = run::new_linkers(&engine)?;
        let disk = match &config.compiled_cache_dir {
            Some(dir) => Some(disk_cache::DiskCache::open(
                dir,
                config.compiled_cache_max_bytes,
                &engine,
            )?),
            None => None,
        };
        let ticker = engine::EpochTicker::start(engine.clone(), config.epoch_tick)?;
        let max_compilations = usize::try_from(config.max_concurrent_jobs.max(1)).unwrap_or(1);
        Ok(Sandbox {
            engine,
            linkers,
            cache: compile::ModuleCache::new(MODULE_CACHE_CAPACITY, max_compilations, disk),
            config,
            _ticker: ticker,
        })
    }

    /// Cheap checks for submission time, without compiling: size, the WebAssembly header (a
    /// core module or a component; anything else is refused), the caps on function count and
    /// body size that bound compile work, and validation. Returns the module's SHA-256 in
    /// lower-case hex.
    ///
    /// # Errors
    ///
    /// [`SandboxError::InvalidModule`] saying why the bytes were refused.
    pub fn check_module(
        &self,
        bytes: &[u8],
        limits: &SandboxLimits,
    ) -> Result<String, SandboxError> {
        module::check_bytes(&self.engine, bytes, limits).map(|checked| hex::encode(checked.hash))
    }

    /// Runs one job to completion on the calling thread, which it blocks (it drives its own
    /// current-thread tokio runtime; from async code call it through `spawn_blocking`).
    /// Whatever the guest does ends up in [`RunOutput::outcome`]; this never panics on guest
    /// behaviour.
    ///
    /// # Errors
    ///
    /// [`SandboxError::InvalidJob`] for a refused job description (environment keys not
    /// starting with `ENCLAVE_`, a missing or non-empty out directory, ...),
    /// [`SandboxError::InvalidModule`] for refused module bytes (as [`Sandbox::check_module`],
    /// plus compile errors, a missing `_start` or `wasi:cli/run`, or unknown imports; a
    /// compilation that exceeds its time is an [`Outcome`], not an error), [`SandboxError::Io`] or
    /// [`SandboxError::Engine`] for host-side failures.
    pub fn run_blocking(&self, job: JobSpec) -> Result<RunOutput, SandboxError> {
        run::run(self, job)
    }

    /// Compiles a trusted runner (operator-installed code such as the Python interpreter
    /// component), or loads it from the on-disk cache. It is admitted like a job's module
    /// (kind, validation, compiler-work caps; `max_bytes` instead of the job size limit) but
    /// compiled on the calling thread with no time limit, since it is not the researcher's
    /// code; call it once at start-up and share the [`Runner`].
    ///
    /// # Errors
    ///
    /// [`SandboxError::InvalidModule`] for bytes that are not an admissible module or
    /// component or that fail to compile.
    pub fn load_runner(&self, bytes: &[u8], max_bytes: u64) -> Result<Runner, SandboxError> {
        let limits = SandboxLimits {
            module_bytes: max_bytes,
            ..SandboxLimits::default()
        };
        let checked = module::check_bytes(&self.engine, bytes, &limits)?;
        let compiled =
            self.cache
                .compile_trusted(&self.engine, checked.hash, checked.kind, bytes)?;
        if let compile::Compiled::Core(module) = &compiled {
            module::require_start(module)?;
        }
        Ok(Runner {
            hash: checked.hash,
            compiled,
        })
    }

    /// How many compiled modules are cached in memory.
    pub fn cached_modules(&self) -> usize {
        self.cache.len()
    }

    /// Counts of compiled-code cache outcomes (memory hits, disk hits, rejected disk
    /// entries, compilations) since this sandbox was created.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("config", &self.config)
            .field("cached_modules", &self.cache.len())
            .finish_non_exhaustive()
    }
}
