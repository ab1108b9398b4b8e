//! Python jobs: the operator-installed runner component that executes a submitted script.
//!
//! The runner (`[python] runner` in enclave.toml, built by `sdk/python/build-runner.sh`) is
//! trusted operator code, not the researcher's: it is loaded once per process, compiled
//! outside the per-job compile-time limit (`Sandbox::load_runner`) or read from the
//! sandbox's on-disk compiled cache, and shared by every Python job. A submission records the
//! runner's SHA-256 as the job's `module_sha256` and the script's as `script_sha256`; a
//! worker runs the job only with a runner of that exact hash.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use enclave_sandbox::{Runner, Sandbox};
use tokio::sync::OnceCell;

use super::{Service, ServiceError};

/// Largest runner component accepted (the componentize-py runner is about 20 MB).
const RUNNER_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// The configured Python runner, loaded on first use.
#[derive(Clone, Debug)]
pub struct PythonRunner {
    path: PathBuf,
    script_bytes: u64,
    loaded: Arc<OnceCell<Runner>>,
}

impl PythonRunner {
    /// A runner read from `path` when first needed; scripts up to `script_bytes` accepted.
    pub fn new(path: PathBuf, script_bytes: u64) -> PythonRunner {
        PythonRunner {
            path,
            script_bytes,
            loaded: Arc::new(OnceCell::new()),
        }
    }

    /// The largest script accepted, in bytes.
    pub(crate) fn script_bytes(&self) -> u64 {
        self.script_bytes
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

    /// Loads the Python runner now (if one is configured), so the first Python job does not
    /// wait for it to compile. Failures are logged; submissions retry the load.
    pub async fn warm_python_runner(&self) {
        if let Some(python) = &self.python
            && let Err(error) = python.load(&self.sandbox).await
        {
            tracing::warn!(%error, "Python runner not loaded at start-up");
        }
    }

    /// The configured runner settings, if any.
    pub(crate) fn python(&self) -> Option<&PythonRunner> {
        self.python.as_ref()
    }

    /// The compiled Python runner, or `None` when Python jobs are not configured.
    pub(crate) async fn python_runner(&self) -> Result<Option<Runner>, ServiceError> {
        match &self.python {
            Some(python) => python.load(&self.sandbox).await.map(Some),
            None => Ok(None),
        }
    }
}
