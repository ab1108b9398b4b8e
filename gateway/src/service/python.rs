//! Python jobs: the operator-installed runner component that executes a submitted script.
//!
//! The runner (`[python] runner` in enclave.toml, built by `sdk/python/build-runner.sh`) is
//! trusted operator code, not the researcher's. A worker compiles it once per process, on
//! the first Python job, outside the per-job compile-time limit (`Sandbox::load_runner`), or
//! loads it from the sandbox's on-disk compiled cache, and shares it with every later job.
//! It is not compiled eagerly at start-up: a node that never runs a Python job (a gateway-only
//! node, most test installations) never pays for it. A submission only hashes the file: it
//! records the runner's SHA-256 as the job's `module_sha256` and the script's as
//! `script_sha256`, and a worker runs the job only with a runner of that exact hash.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use enclave_sandbox::{Runner, Sandbox};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::{Service, ServiceError};

/// Largest runner component accepted (the componentize-py runner is about 20 MB).
const RUNNER_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// The configured Python runner, loaded on first use.
#[derive(Clone, Debug)]
pub struct PythonRunner {
    path: PathBuf,
    script_bytes: u64,
    /// SHA-256 of the runner file, read once.
    sha256: Arc<OnceCell<String>>,
    loaded: Arc<OnceCell<Runner>>,
}

impl PythonRunner {
    /// A runner read from `path` when first needed; scripts up to `script_bytes` accepted.
    pub fn new(path: PathBuf, script_bytes: u64) -> PythonRunner {
        PythonRunner {
            path,
            script_bytes,
            sha256: Arc::new(OnceCell::new()),
            loaded: Arc::new(OnceCell::new()),
        }
    }

    /// The largest script accepted, in bytes.
    pub(crate) fn script_bytes(&self) -> u64 {
        self.script_bytes
    }

    /// The runner file's SHA-256, read and hashed on first call (no compilation).
    async fn sha256(&self) -> Result<String, ServiceError> {
        if let Some(runner) = self.loaded.get() {
            return Ok(runner.sha256());
        }
        let sha256 = self
            .sha256
            .get_or_try_init(|| async {
                let bytes = tokio::fs::read(&self.path).await.map_err(|error| {
                    tracing::error!(path = %self.path.display(), %error, "cannot read the Python runner");
                    ServiceError::Unavailable(format!("cannot read the Python runner: {error}"))
                })?;
                tokio::task::spawn_blocking(move || hex::encode(Sha256::digest(&bytes)))
                    .await
                    .map_err(|error| ServiceError::Internal(format!("runner hash task: {error}")))
            })
            .await?;
        Ok(sha256.clone())
    }

    /// The compiled runner, loading it on first call (later calls wait for the first).
    /// A failed load is not remembered: the next call tries again.
    async fn load(&self, sandbox: &Arc<Sandbox>) -> Result<Runner, ServiceError> {
        let runner = self
            .loaded
            .get_or_try_init(|| async {
                let started = Instant::now();
                let bytes = tokio::fs::read(&self.path).await.map_err(|error| {
                    tracing::error!(path = %self.path.display(), %error, "cannot read the Python runner");
                    ServiceError::Unavailable(format!("cannot read the Python runner: {error}"))
                })?;
                let sandbox = Arc::clone(sandbox);
                let runner = tokio::task::spawn_blocking(move || {
                    sandbox.load_runner(&bytes, RUNNER_MAX_BYTES)
                })
                .await
                .map_err(|error| ServiceError::Internal(format!("runner load task: {error}")))?
                .map_err(|error| {
                    tracing::error!(path = %self.path.display(), %error, "the Python runner is unusable");
                    ServiceError::Unavailable(format!("the Python runner is unusable: {error}"))
                })?;
                tracing::info!(
                    sha256 = %runner.sha256(),
                    took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    "Python runner ready"
                );
                Ok::<_, ServiceError>(runner)
            })
            .await?;
        Ok(runner.clone())
    }
}

impl Service {
    /// Sets the Python runner; without one, Python submissions are refused.
    #[must_use]
    pub fn with_python_runner(mut self, runner: PythonRunner) -> Service {
        self.python = Some(runner);
        self
    }

    /// The configured runner settings, if any.
    pub(crate) fn python(&self) -> Option<&PythonRunner> {
        self.python.as_ref()
    }

    /// The Python runner's SHA-256 (hashing the file, not compiling it), or `None` when
    /// Python jobs are not configured.
    pub(crate) async fn python_runner_sha256(&self) -> Result<Option<String>, ServiceError> {
        match &self.python {
            Some(python) => python.sha256().await.map(Some),
            None => Ok(None),
        }
    }

    /// The compiled Python runner, or `None` when Python jobs are not configured.
    pub(crate) async fn python_runner(&self) -> Result<Option<Runner>, ServiceError> {
        match &self.python {
            Some(python) => python.load(&self.sandbox).await.map(Some),
            None => Ok(None),
        }
    }
}
