//! Running queued jobs: claim, re-check policy, run in the sandbox, quarantine
//! outputs, record the result. Used by the worker pool in `crate::runner`.

use std::path::Path;
use std::sync::Arc;

use enclave_policy::{Actor, Authorized, Decision, Request, authorize};
use enclave_sandbox::{JobSpec, Outcome as RunOutcome, RunOutput};

use super::{Service, ServiceError, detail};
use crate::audit::{Door, NewEvent, Outcome};
use crate::store::{JobRow, OutputRow, RunResult, Store, StoreError};

/// How many times a job interrupted by a stopped gateway is started again
/// before it is failed. Runs are deterministic, so a rerun is safe.
const MAX_ATTEMPTS: i64 = 2;

impl Service {
    /// Waits until a job may be ready (a submission, or `timeout`).
    pub async fn wait_for_work(&self, timeout: std::time::Duration) {
        let _ = tokio::time::timeout(timeout, self.work_ready.notified()).await;
    }

    /// Puts jobs left `running` by a stopped process back in the queue (or
    /// fails them after [`MAX_ATTEMPTS`]). Call once at start-up, before workers run.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn recover_interrupted_jobs(&self) -> Result<usize, ServiceError> {
        let mut tx = self.store.begin_write().await?;
        let running = Store::running_jobs(&mut tx).await?;
        for job in &running {
            let mut record = system_event("job.recover", job);
            if job.attempts < MAX_ATTEMPTS {
                Store::requeue_job(&mut tx, &job.id).await?;
                detail(&mut record, "result", "requeued");
            } else {
                let result = RunResult {
                    state: "failed",
                    reason: "interrupted: gateway stopped during the run".into(),
                    exit_code: None,
                    usage: "null".into(),
                    finished_at: self.now_text()?,
                };
                Store::finish_job(&mut tx, &job.id, &result).await?;
                record.outcome = Outcome::Error;
                detail(&mut record, "result", "failed");
            }
            detail(&mut record, "attempts", job.attempts);
            self.record_in(&mut tx, record).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(running.len())
    }

    /// Claims and runs the oldest queued job. Returns false when the queue was empty.
    ///
    /// # Errors
    /// When the store fails; sandbox failures end the job, not the worker.
    pub async fn run_next_job(&self) -> Result<bool, ServiceError> {
        let mut tx = self.store.begin_write().await?;
        let Some(job) = Store::claim_next_job(&mut tx, &self.now_text()?).await? else {
            return Ok(false);
        };
        let mut record = system_event("job.start", &job);
        detail(&mut record, "attempt", job.attempts);
        self.record_in(&mut tx, record).await?;
        tx.commit().await.map_err(StoreError::from)?;

        let result = match self.recheck(&job).await? {
            Ok(authorized) => self.execute(&job, authorized).await,
            Err(reason) => Ok(Finished::refused(reason)),
        };
        let finished = match result {
            Ok(finished) => finished,
            Err(error) => {
                tracing::error!(job = %job.id, %error, "job could not run");
                Finished::refused(format!("error: {error}"))
            }
        };
        self.complete(&job, finished).await?;
        Ok(true)
    }

    /// Policy is asked again at run time: the project may have expired or the
    /// submitter been disabled since submission.
    async fn recheck(&self, job: &JobRow) -> Result<Result<Authorized, String>, ServiceError> {
        let user = self.store.user(&job.submitter).await?;
        let project = self.store.project(&job.project).await?;
        let (Some(user), Some(project)) = (user, project) else {
            return Ok(Err("refused: submitter or project no longer exists".into()));
        };
        let actor = Actor {
            user: user.name,
            roles: user.roles,
            disabled: user.disabled,
        };
        let request = Request::SubmitJob {
            project: &project.facts,
        };
        Ok(match authorize(&actor, &request, self.now().date()) {
            Decision::Allow(authorized) => Ok(authorized),
            Decision::Deny(reason) => Err(format!("refused: {reason}")),
        })
    }

    /// Runs the job in the sandbox and moves its outputs into quarantine.
    /// Holding `Authorized` is what permits running a researcher's module.
    async fn execute(
        &self,
        job: &JobRow,
        _authorized: Authorized,
    ) -> Result<Finished, ServiceError> {
        let unavailable = |what: &str, error: std::io::Error| {
            ServiceError::Unavailable(format!("{what}: {error}"))
        };
        let module = tokio::fs::read(
            self.paths
                .modules
                .join(format!("{}.wasm", job.module_sha256)),
        )
        .await
        .map_err(|e| unavailable("module missing", e))?;
        let dataset =
            self.store.dataset(&job.dataset).await?.ok_or_else(|| {
                ServiceError::Internal(format!("dataset {} missing", job.dataset))
            })?;
        let work = self.paths.work.join(&job.id);
        if work.exists() {
            tokio::fs::remove_dir_all(&work)
                .await
                .map_err(|e| unavailable("work dir", e))?;
        }
        let (out_dir, tmp_dir) = (work.join("out"), work.join("tmp"));
        for dir in [&out_dir, &tmp_dir] {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| unavailable("work dir", e))?;
        }
        let args: Vec<String> = serde_json::from_str(&job.args).unwrap_or_default();
        let spec = JobSpec {
            module,
            data_dir: Some(dataset.path.clone().into()),
            out_dir: out_dir.clone(),
            tmp_dir: Some(tmp_dir),
            args,
            env: vec![
                ("ENCLAVE_JOB_ID".into(), job.id.clone()),
                ("ENCLAVE_PROJECT".into(), job.project.clone()),
                ("ENCLAVE_DATASET".into(), job.dataset.clone()),
                (
                    "ENCLAVE_DATASET_VERSION".into(),
                    job.dataset_version.clone(),
                ),
            ],
            seed: super::jobs::job_seed(&job.id),
            limits: self.limits.clone(),
        };
        let sandbox = Arc::clone(&self.sandbox);
        let run = tokio::task::spawn_blocking(move || sandbox.run_blocking(spec))
            .await
            .map_err(|e| ServiceError::Internal(format!("sandbox task: {e}")))?;
        let finished = match run {
            Ok(output) => {
                let outputs = quarantine(&self.paths.quarantine, &job.id, &output)
                    .await
                    .map_err(|e| unavailable("quarantine", e))?;
                Finished::from_run(&output, outputs)
            }
            Err(error) => Finished::refused(format!("error: {error}")),
        };
        if let Err(error) = tokio::fs::remove_dir_all(&work).await {
            tracing::warn!(job = %job.id, %error, "could not remove work dir");
        }
        Ok(finished)
    }

    async fn complete(&self, job: &JobRow, finished: Finished) -> Result<(), ServiceError> {
        let result = RunResult {
            state: finished.state,
            reason: finished.reason.clone(),
            exit_code: finished.exit_code,
            usage: finished.usage.to_string(),
            finished_at: self.now_text()?,
        };
        let mut record = system_event("job.finish", job);
        record.outcome = if finished.state == "succeeded" {
            Outcome::Ok
        } else {
            Outcome::Error
        };
        detail(&mut record, "state", finished.state);
        detail(&mut record, "reason", finished.reason);
        detail(&mut record, "usage", finished.usage);
        let names: Vec<serde_json::Value> = finished
            .outputs
            .iter()
            .map(|o| serde_json::json!({"name": o.name, "kind": o.kind, "size": o.size, "sha256": o.sha256}))
            .collect();
        detail(&mut record, "outputs", names);
        detail(&mut record, "rejected_outputs", finished.rejected);
        let mut tx = self.store.begin_write().await?;
        for output in &finished.outputs {
            Store::insert_output(&mut tx, &job.id, output).await?;
        }
        Store::finish_job(&mut tx, &job.id, &result).await?;
        self.record_in(&mut tx, record).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}

/// The end of one run, ready to store.
struct Finished {
    state: &'static str,
    reason: String,
    exit_code: Option<i64>,
    usage: serde_json::Value,
    outputs: Vec<OutputRow>,
    rejected: Vec<serde_json::Value>,
}

impl Finished {
    fn refused(reason: String) -> Finished {
        Finished {
            state: "failed",
            reason,
            exit_code: None,
            usage: serde_json::Value::Null,
            outputs: Vec::new(),
            rejected: Vec::new(),
        }
    }

    fn from_run(run: &RunOutput, outputs: Vec<OutputRow>) -> Finished {
        let exit_code = match run.outcome {
            RunOutcome::Exited(code) => Some(i64::from(code)),
            _ => None,
        };
        Finished {
            state: if run.outcome.succeeded() {
                "succeeded"
            } else {
                "failed"
            },
            reason: run.outcome.to_string(),
            exit_code,
            usage: serde_json::json!({
                "wall_time_ms": u64::try_from(run.usage.wall_time.as_millis()).unwrap_or(u64::MAX),
                "fuel_consumed": run.usage.fuel_consumed,
                "peak_memory_bytes": run.usage.peak_memory_bytes,
                "out_bytes": run.usage.out_bytes,
            }),
            outputs,
            rejected: run
                .rejected_outputs
                .iter()
                .map(|r| serde_json::json!({"name": r.name, "reason": r.reason}))
                .collect(),
        }
    }
}

/// Moves a run's outputs into the content-addressed quarantine, with stdout
/// and stderr stored the same way.
async fn quarantine(dir: &Path, job_id: &str, run: &RunOutput) -> std::io::Result<Vec<OutputRow>> {
    let mut rows = Vec::new();
    for (kind, bytes, truncated) in [
        ("stdout", &run.stdout, run.stdout_truncated),
        ("stderr", &run.stderr, run.stderr_truncated),
    ] {
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
        let target = dir.join(&sha);
        if !tokio::fs::try_exists(&target).await? {
            // Unique per job: several workers may store the same content at once.
            let temp = dir.join(format!(".{sha}.{job_id}.{kind}.tmp"));
            tokio::fs::write(&temp, bytes).await?;
            tokio::fs::rename(&temp, &target).await?;
        }
        rows.push(OutputRow {
            name: kind.into(),
            kind: kind.into(),
            size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            sha256: sha,
            truncated,
        });
    }
    for file in &run.outputs {
        let target = dir.join(&file.sha256);
        if tokio::fs::try_exists(&target).await? {
            tokio::fs::remove_file(&file.host_path).await?;
        } else {
            tokio::fs::rename(&file.host_path, &target).await?;
        }
        rows.push(OutputRow {
            name: file.name.clone(),
            kind: "file".into(),
            size: i64::try_from(file.size).unwrap_or(i64::MAX),
            sha256: file.sha256.clone(),
            truncated: false,
        });
    }
    Ok(rows)
}

fn system_event(action: &str, job: &JobRow) -> NewEvent {
    NewEvent {
        actor: "enclave".into(),
        role: "-".into(),
        door: Door::System,
        source: "-".into(),
        action: action.into(),
        target: job.id.clone(),
        project: job.project.clone(),
        outcome: Outcome::Ok,
        details: serde_json::json!({ "submitter": job.submitter, "dataset": job.dataset, "dataset_version": job.dataset_version }),
    }
}
