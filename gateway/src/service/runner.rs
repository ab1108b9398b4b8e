//! Running queued jobs: claim, re-check policy, run in the sandbox, quarantine
//! outputs, record the result. Used by the worker pool in `crate::runner`.

use std::path::Path;
use std::sync::Arc;

use enclave_policy::{Actor, Authorized, Decision, Request, authorize};
use enclave_sandbox::{JobSpec, Outcome as RunOutcome, Program, RunOutput};

use super::{Service, ServiceError, detail};
use crate::audit::{Door, NewEvent, Outcome};
use crate::store::{Backend, JobRow, Lease, OutputRow, RunResult, Store, WriteTx};

/// How many times a job is started before a lost worker fails it instead of
/// re-queueing it. Runs are deterministic, so a rerun is safe; the cap stops a
/// module that kills its worker from doing so forever.
const MAX_ATTEMPTS: i64 = 3;

impl Service {
    /// Waits until a job may be ready (a submission, or `timeout`).
    pub async fn wait_for_work(&self, timeout: std::time::Duration) {
        let _ = tokio::time::timeout(timeout, self.work_ready.notified()).await;
    }

    /// Single-node start-up (SQLite): jobs left `running` by the previous
    /// process cannot still be running anywhere, so they are re-queued (or
    /// failed after `MAX_ATTEMPTS`) at once. On PostgreSQL other nodes may be
    /// running them, so only expired leases are recovered ([`Service::reap_expired_leases`]).
    ///
    /// # Errors
    /// When the store fails.
    pub async fn recover_interrupted_jobs(&self) -> Result<usize, ServiceError> {
        if self.store.backend() != Backend::Sqlite {
            return Ok(0);
        }
        let mut tx = self.store.begin_write().await?;
        let running = Store::running_jobs(&mut tx).await?;
        for job in &running {
            self.requeue_or_fail(
                &mut tx,
                job,
                "job.recover",
                "gateway stopped during the run",
            )
            .await?;
        }
        tx.commit().await?;
        Ok(running.len())
    }

    /// How often to look for expired leases.
    pub fn lease_check_interval(&self) -> std::time::Duration {
        self.worker.lease / 2
    }

    /// Re-queues (or fails) running jobs whose worker stopped renewing its lease.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn reap_expired_leases(&self) -> Result<usize, ServiceError> {
        let mut tx = self.store.begin_write().await?;
        let expired = Store::expired_leases(&mut tx, &self.now_text()?).await?;
        for job in &expired {
            self.requeue_or_fail(&mut tx, job, "job.lease_expired", "worker lost")
                .await?;
        }
        tx.commit().await?;
        Ok(expired.len())
    }

    async fn requeue_or_fail(
        &self,
        tx: &mut WriteTx,
        job: &JobRow,
        action: &str,
        why: &str,
    ) -> Result<(), ServiceError> {
        let mut record = system_event(action, job, &self.worker.id);
        detail(&mut record, "attempts", job.attempts);
        detail(&mut record, "lost_worker", job.worker_id.clone());
        if job.attempts < MAX_ATTEMPTS {
            Store::requeue_job(tx, &job.id).await?;
            detail(&mut record, "result", "requeued");
        } else {
            let result = RunResult {
                state: "failed",
                reason: format!("interrupted: {why} after {} attempts", job.attempts),
                exit_code: None,
                usage: "null".into(),
                finished_at: self.now_text()?,
                data_access: None,
            };
            Store::finish_job(tx, &job.id, &result, None).await?;
            record.outcome = Outcome::Error;
            detail(&mut record, "result", "failed");
        }
        self.record_in(tx, record).await
    }

    /// Claims and runs the oldest queued job. Returns false when the queue was empty.
    ///
    /// # Errors
    /// When the store fails; sandbox failures end the job, not the worker.
    pub async fn run_next_job(&self) -> Result<bool, ServiceError> {
        let mut tx = self.store.begin_write().await?;
        let now = self.now();
        let lease_until = crate::store::format_time(now + self.worker.lease)?;
        let Some(job) =
            Store::claim_next_job(&mut tx, &self.now_text()?, &self.worker.id, &lease_until)
                .await?
        else {
            return Ok(false);
        };
        let lease = Lease {
            worker_id: self.worker.id.clone(),
            attempt: job.attempts,
        };
        let mut record = system_event("job.start", &job, &self.worker.id);
        detail(&mut record, "attempt", job.attempts);
        self.record_in(&mut tx, record).await?;
        tx.commit().await?;

        let heartbeat = self.spawn_heartbeat(job.id.clone(), lease.clone());
        let span = tracing::info_span!(
            "job.run",
            job_id = %job.id,
            project = %job.project,
            attempt = job.attempts,
            outcome = tracing::field::Empty
        );
        let result = tracing::Instrument::instrument(
            async {
                match self.recheck(&job).await? {
                    Ok(authorized) => Ok::<_, ServiceError>(self.execute(&job, authorized).await),
                    Err(reason) => Ok(Ok(Finished::refused(reason))),
                }
            },
            span.clone(),
        )
        .await?;
        heartbeat.abort();
        let finished = match result {
            Ok(finished) => finished,
            Err(error) => {
                tracing::error!(job = %job.id, %error, "job could not run");
                Finished::refused(format!("error: {error}"))
            }
        };
        // The job's state (`succeeded`, `failed`...), never its reason text.
        span.record("outcome", finished.state);
        self.complete(&job, &lease, finished).await?;
        Ok(true)
    }

    /// Renews the lease every third of its length while the job runs.
    fn spawn_heartbeat(&self, job_id: String, lease: Lease) -> tokio::task::JoinHandle<()> {
        let service = self.clone();
        tokio::spawn(async move {
            let period = service.worker.lease / 3;
            loop {
                tokio::time::sleep(period).await;
                let renewed = async {
                    let until = crate::store::format_time(service.now() + service.worker.lease)?;
                    let mut tx = service.store.begin_write().await?;
                    let held = Store::extend_lease(&mut tx, &job_id, &lease, &until).await?;
                    tx.commit().await?;
                    Ok::<bool, ServiceError>(held)
                };
                match renewed.await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(job = %job_id, "lease lost; the result of this run will be discarded");
                        return;
                    }
                    Err(error) => tracing::warn!(job = %job_id, %error, "heartbeat failed"),
                }
            }
        })
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
        let module = match &job.script_sha256 {
            None => Some(
                tokio::fs::read(
                    self.paths
                        .modules
                        .join(format!("{}.wasm", job.module_sha256)),
                )
                .await
                .map_err(|e| unavailable("module missing", e))?,
            ),
            Some(_) => None,
        };
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
        let program = match module {
            Some(module) => Program::Module(module),
            None => match self.python_program(job, &work).await? {
                Ok(program) => program,
                Err(reason) => {
                    if let Err(error) = tokio::fs::remove_dir_all(&work).await {
                        tracing::warn!(job = %job.id, %error, "could not remove work dir");
                    }
                    return Ok(Finished::refused(reason));
                }
            },
        };
        let args: Vec<String> = serde_json::from_str(&job.args).unwrap_or_default();
        let spec = JobSpec {
            program,
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

    /// The runner and the job's script, written as `main.py` into a `job` folder under the
    /// work dir (mounted read-only at `/job`). `Ok(Err(reason))` fails the job: Python jobs
    /// not configured on this worker, or a runner other than the one the job was submitted
    /// for (the job's provenance names the runner's hash, so it must be the one that runs).
    async fn python_program(
        &self,
        job: &JobRow,
        work: &Path,
    ) -> Result<Result<Program, String>, ServiceError> {
        let unavailable = |what: &str, error: std::io::Error| {
            ServiceError::Unavailable(format!("{what}: {error}"))
        };
        let Some(script_sha256) = &job.script_sha256 else {
            return Err(ServiceError::Internal(format!(
                "job {} has no script",
                job.id
            )));
        };
        let runner = match self.python_runner().await {
            Ok(Some(runner)) => runner,
            Ok(None) => {
                return Ok(Err(
                    "refused: Python jobs are not enabled on this worker".into()
                ));
            }
            Err(error) => {
                tracing::error!(job = %job.id, %error, "Python runner unavailable");
                return Ok(Err("error: the Python runner is unavailable".into()));
            }
        };
        if runner.sha256() != job.module_sha256 {
            return Ok(Err(format!(
                "refused: this worker's Python runner ({}) is not the one the job was submitted for ({})",
                runner.sha256(),
                job.module_sha256
            )));
        }
        let script = tokio::fs::read(self.paths.modules.join(format!("{script_sha256}.py")))
            .await
            .map_err(|e| unavailable("script missing", e))?;
        if hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&script)) != *script_sha256 {
            return Err(ServiceError::Internal(format!(
                "stored script {script_sha256} does not match its hash"
            )));
        }
        let job_dir = work.join("job");
        tokio::fs::create_dir_all(&job_dir)
            .await
            .map_err(|e| unavailable("work dir", e))?;
        tokio::fs::write(job_dir.join("main.py"), &script)
            .await
            .map_err(|e| unavailable("work dir", e))?;
        Ok(Ok(Program::Runner { runner, job_dir }))
    }

    async fn complete(
        &self,
        job: &JobRow,
        lease: &Lease,
        finished: Finished,
    ) -> Result<(), ServiceError> {
        let result = RunResult {
            state: finished.state,
            reason: finished.reason.clone(),
            exit_code: finished.exit_code,
            usage: finished.usage.to_string(),
            finished_at: self.now_text()?,
            data_access: finished
                .data_access
                .as_ref()
                .map(serde_json::Value::to_string),
        };
        let mut record = system_event("job.finish", job, &self.worker.id);
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
        // Which medical records the run touched, as access-log guidelines ask.
        detail(&mut record, "data_access", finished.data_access);
        // Output checks may take seconds: run them before taking the write lock.
        let checks = self.check_run_outputs(job, &finished.outputs).await;
        let mut tx = self.store.begin_write().await?;
        if !Store::finish_job(&mut tx, &job.id, &result, Some(lease)).await? {
            // Another worker took the job over after this one's lease expired:
            // its run is the one that counts. Keep a record of the discarded run.
            drop(tx);
            let mut record = system_event("job.result_discarded", job, &self.worker.id);
            record.outcome = Outcome::Error;
            detail(&mut record, "attempt", lease.attempt);
            detail(&mut record, "reason", "lease lost before completion");
            return self.record(record).await;
        }
        for output in &finished.outputs {
            Store::insert_output(&mut tx, &job.id, output).await?;
        }
        self.record_in(&mut tx, record).await?;
        self.record_checks(&mut tx, job, checks).await?;
        tx.commit().await?;
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
    /// Files under `/data` the run opened; `None` when it never ran.
    data_access: Option<serde_json::Value>,
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
            data_access: None,
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
                "data_bytes_read": run.usage.data_bytes_read,
                "compile_time_ms": u64::try_from(run.usage.compile_time.as_millis()).unwrap_or(u64::MAX),
            }),
            data_access: Some(
                run.data_access
                    .iter()
                    .map(|file| serde_json::json!({"path": file.path, "opens": file.opens, "bytes_read": file.bytes_read}))
                    .collect(),
            ),
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

fn system_event(action: &str, job: &JobRow, worker: &str) -> NewEvent {
    NewEvent {
        actor: format!("worker:{worker}"),
        role: "-".into(),
        door: Door::System,
        source: "-".into(),
        action: action.into(),
        target: job.id.clone(),
        project: job.project.clone(),
        dataset: job.dataset.clone(),
        session: "-".into(),
        request_id: "-".into(),
        outcome: Outcome::Ok,
        details: serde_json::json!({ "submitter": job.submitter, "dataset_version": job.dataset_version }),
    }
}
