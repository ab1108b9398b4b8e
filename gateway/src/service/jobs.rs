//! Submitting jobs and looking at them.

use std::collections::BTreeMap;

use enclave_policy::{Decision, JobFacts, Request, Scope, authorize};
use enclave_sandbox::SandboxLimits;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Caller, ReasonSummary, Service, ServiceError, detail, event};
use crate::audit::Outcome;
use crate::store::{JobRow, NewJob, OutputCheckRow, Store};

/// A job submission as the doors parse it.
#[derive(Clone, Debug)]
pub struct SubmitRequest {
    /// Project to run in.
    pub project: String,
    /// Human-readable name.
    pub name: String,
    /// Dataset to mount; optional when the project has exactly one.
    pub dataset: Option<String>,
    /// Arguments passed to the module after its program name.
    pub args: Vec<String>,
    /// The module bytes, or with `python` the script's.
    pub module: Vec<u8>,
    /// The bytes are a Python script for the installation's runner.
    pub python: bool,
}

/// What a caller may see of a job: state and metadata, never output contents.
#[derive(Clone, Debug, Serialize)]
pub struct JobView {
    /// Job id.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Project.
    pub project: String,
    /// Submitting user.
    pub submitter: String,
    /// `queued`, `running`, `succeeded` or `failed`.
    pub state: String,
    /// How it ended (`exit 0`, `trap: ...`, `limit: wall time`...).
    pub reason: Option<String>,
    /// Exit status when the module exited.
    pub exit_code: Option<i64>,
    /// SHA-256 of the module that ran (for a Python job, the runner component).
    pub module_sha256: String,
    /// `wasm` or `python`.
    pub language: &'static str,
    /// SHA-256 of a Python job's script.
    pub script_sha256: Option<String>,
    /// Dataset and version mounted at `/data`.
    pub dataset: String,
    /// Dataset version.
    pub dataset_version: String,
    /// Arguments.
    pub args: serde_json::Value,
    /// Limits the job ran under.
    pub limits: serde_json::Value,
    /// Resource usage once finished.
    pub usage: Option<serde_json::Value>,
    /// Files under `/data` the run opened, with bytes read (`[{path, opens, bytes_read}]`).
    pub data_access: Option<serde_json::Value>,
    /// Submission time.
    pub submitted_at: String,
    /// Start time.
    pub started_at: Option<String>,
    /// End time.
    pub finished_at: Option<String>,
    /// Quarantined outputs (filled by `status`, empty in listings).
    pub outputs: Vec<OutputView>,
}

/// One quarantined output: metadata only.
#[derive(Clone, Debug, Serialize)]
pub struct OutputView {
    /// Name under `/out`, or `stdout` / `stderr`.
    pub name: String,
    /// `file`, `stdout` or `stderr`.
    pub kind: String,
    /// Size in bytes.
    pub size: i64,
    /// SHA-256 (hex).
    pub sha256: String,
    /// Whether capture stopped at the cap.
    pub truncated: bool,
    /// Output-check verdict (`pass`, `review`, `fail`); `None` until checked.
    pub verdict: Option<String>,
    /// Why: reason codes with the number of cells concerned (never contents or messages).
    pub reasons: Vec<ReasonSummary>,
    /// The suggested safe version the checker built, if any.
    pub suggested: Option<SuggestedView>,
    /// Checker evidence: never released.
    pub never_release: bool,
}

/// A suggested safe version of an output: metadata only.
#[derive(Clone, Debug, Serialize)]
pub struct SuggestedView {
    /// File name (`<stem>.suggested.csv`).
    pub name: String,
    /// SHA-256 (hex) naming it in the quarantine.
    pub sha256: String,
}

impl Service {
    /// Queues a job after checking permission, the project's dataset and the module.
    ///
    /// # Errors
    /// `Forbidden` when policy refuses, `Invalid` for an unknown project or
    /// dataset or a module that is not valid WebAssembly.
    #[tracing::instrument(skip_all)]
    pub async fn submit(
        &self,
        caller: &Caller,
        request: SubmitRequest,
    ) -> Result<String, ServiceError> {
        let actor = self.actor(caller).await?;
        let mut record = event(caller, "job.submit", Outcome::Ok);
        record.project = request.project.clone();
        detail(&mut record, "name", request.name.clone());
        detail(&mut record, "module_size", request.module.len());
        let Some(project) = self.store.project(&request.project).await? else {
            record.outcome = Outcome::Error;
            let message = format!("unknown project {}", request.project);
            detail(&mut record, "reason", message.clone());
            return Err(self.refuse(record, ServiceError::Invalid(message)).await);
        };
        let today = self.now().date();
        let authorized = match authorize(
            &actor,
            &Request::SubmitJob {
                project: &project.facts,
            },
            today,
        ) {
            Decision::Allow(authorized) => authorized,
            Decision::Deny(reason) => {
                record.outcome = Outcome::Denied;
                detail(&mut record, "reason", reason.to_string());
                return Err(self
                    .refuse(record, ServiceError::Forbidden(reason.to_string()))
                    .await);
            }
        };
        record.role = authorized.role().map_or("-", |r| r.as_str()).into();
        if request.python {
            detail(&mut record, "language", "python");
        }
        let checked = self.check_submission(&project.datasets, &request).await;
        let (dataset, program) = match checked {
            Ok(ok) => ok,
            Err(error) => {
                record.outcome = Outcome::Error;
                let reason = match &error {
                    ServiceError::Unavailable(why) => why.clone(),
                    other => other.to_string(),
                };
                detail(&mut record, "reason", reason);
                return Err(self.refuse(record, error).await);
            }
        };
        let module_sha256 = program.module_sha256.clone();
        match &program.script_sha256 {
            Some(script_sha256) => {
                self.store_module_file(&format!("{script_sha256}.py"), &request.module)
                    .await?;
                detail(&mut record, "script_sha256", script_sha256.clone());
                detail(&mut record, "runner_sha256", module_sha256.clone());
            }
            None => self.store_module(&module_sha256, &request.module).await?,
        }
        let id = new_job_id();
        let limits = limits_json(&self.limits);
        let job = NewJob {
            id: id.clone(),
            project: project.facts.name.clone(),
            submitter: actor.user.clone(),
            name: request.name.clone(),
            module_sha256: module_sha256.clone(),
            module_size: i64::try_from(request.module.len()).unwrap_or(i64::MAX),
            args: serde_json::to_string(&request.args).unwrap_or_else(|_| "[]".into()),
            dataset: dataset.name.clone(),
            dataset_version: dataset.version.clone(),
            limits: limits.to_string(),
            seed: hex::encode(job_seed(&id)),
            submitted_at: self.now_text()?,
            script_sha256: program.script_sha256,
        };
        record.target = id.clone();
        detail(&mut record, "module_sha256", module_sha256);
        record.dataset = dataset.name;
        detail(&mut record, "dataset_version", dataset.version);
        detail(&mut record, "args", request.args);
        detail(&mut record, "limits", limits);
        let mut tx = self.store.begin_write().await?;
        Store::insert_job(&mut tx, &job).await?;
        self.record_in(&mut tx, record).await?;
        tx.commit().await?;
        self.work_ready.notify_one();
        Ok(id)
    }

    /// Jobs visible to the caller, newest first.
    ///
    /// # Errors
    /// `Forbidden` when the caller may not list jobs.
    pub async fn jobs(&self, caller: &Caller) -> Result<Vec<JobView>, ServiceError> {
        let actor = self.actor(caller).await?;
        let mut record = event(caller, "job.list", Outcome::Ok);
        let authorized = match authorize(&actor, &Request::ListJobs, self.now().date()) {
            Decision::Allow(authorized) => authorized,
            Decision::Deny(reason) => {
                record.outcome = Outcome::Denied;
                detail(&mut record, "reason", reason.to_string());
                return Err(self
                    .refuse(record, ServiceError::Forbidden(reason.to_string()))
                    .await);
            }
        };
        record.role = authorized.role().map_or("-", |r| r.as_str()).into();
        let rows = match authorized.scope() {
            Scope::Own => self.store.jobs(Some(&actor.user)).await?,
            Scope::All => self.store.jobs(None).await?,
        };
        detail(&mut record, "count", rows.len());
        self.record(record).await?;
        Ok(rows.into_iter().map(|row| view(row, Vec::new())).collect())
    }

    /// One job's state, usage and outputs.
    ///
    /// # Errors
    /// `NotFound` when the job does not exist or the caller may not see it.
    pub async fn status(&self, caller: &Caller, id: &str) -> Result<JobView, ServiceError> {
        let row = self.visible_job(caller, id, "job.status").await?;
        let outputs = self.output_views(&row.id).await?;
        Ok(view(row, outputs))
    }

    /// A job's quarantined outputs: names, sizes and hashes only.
    ///
    /// # Errors
    /// `NotFound` when the job does not exist or the caller may not see it.
    pub async fn outputs(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Vec<OutputView>, ServiceError> {
        let row = self.visible_job(caller, id, "job.outputs").await?;
        self.output_views(&row.id).await
    }

    async fn output_views(&self, job_id: &str) -> Result<Vec<OutputView>, ServiceError> {
        let mut checks: BTreeMap<(String, String), OutputCheckRow> = self
            .store
            .output_checks(job_id)
            .await?
            .into_iter()
            .map(|c| ((c.kind.clone(), c.name.clone()), c))
            .collect();
        self.store
            .outputs(job_id)
            .await?
            .into_iter()
            .map(|o| {
                let check = checks.remove(&(o.kind.clone(), o.name.clone()));
                let check = check.as_ref();
                let reasons = match check.and_then(|c| c.reasons.as_deref()) {
                    Some(text) => serde_json::from_str(text).map_err(|e| {
                        ServiceError::Internal(format!("stored reasons of {job_id}: {e}"))
                    })?,
                    None => Vec::new(),
                };
                let suggested = check.and_then(|c| {
                    Some(SuggestedView {
                        name: c.suggested_name.clone()?,
                        sha256: c.suggested_sha256.clone()?,
                    })
                });
                Ok(OutputView {
                    verdict: check.and_then(|c| c.verdict.clone()),
                    never_release: check.is_some_and(|c| c.never_release),
                    reasons,
                    suggested,
                    name: o.name,
                    kind: o.kind,
                    size: o.size,
                    sha256: o.sha256,
                    truncated: o.truncated,
                })
            })
            .collect()
    }

    /// Loads a job if policy lets the caller see it; records the access.
    /// A refused caller is told the job does not exist, so ids do not leak.
    async fn visible_job(
        &self,
        caller: &Caller,
        id: &str,
        action: &str,
    ) -> Result<JobRow, ServiceError> {
        let actor = self.actor(caller).await?;
        let mut record = event(caller, action, Outcome::Ok);
        record.target = id.chars().take(64).collect();
        let not_found = || {
            ServiceError::NotFound(format!(
                "no such job: {}",
                id.chars().take(64).collect::<String>()
            ))
        };
        let Some(row) = self.store.job(id).await? else {
            record.outcome = Outcome::Error;
            detail(&mut record, "reason", "no such job");
            return Err(self.refuse(record, not_found()).await);
        };
        record.project = row.project.clone();
        let Some(project) = self.store.project(&row.project).await? else {
            return Err(ServiceError::Internal(format!(
                "job {id} names a missing project"
            )));
        };
        let facts = JobFacts {
            submitter: row.submitter.clone(),
            project: project.facts,
        };
        let request = if action == "job.outputs" {
            Request::ViewOutputs { job: &facts }
        } else {
            Request::ViewJob { job: &facts }
        };
        match authorize(&actor, &request, self.now().date()) {
            Decision::Allow(authorized) => {
                record.role = authorized.role().map_or("-", |r| r.as_str()).into();
                self.record(record).await?;
                Ok(row)
            }
            Decision::Deny(reason) => {
                record.outcome = Outcome::Denied;
                detail(&mut record, "reason", reason.to_string());
                Err(self.refuse(record, not_found()).await)
            }
        }
    }

    /// Picks the dataset and validates the module (or the script, with the runner that will
    /// run it). Refusals are `Invalid` with a user-facing message; a configured runner that
    /// cannot be loaded is `Unavailable`.
    async fn check_submission(
        &self,
        granted: &[String],
        request: &SubmitRequest,
    ) -> Result<(crate::store::DatasetRow, Program), ServiceError> {
        let invalid = |message: String| ServiceError::Invalid(message);
        let dataset_name = match (&request.dataset, granted) {
            (Some(name), _) if granted.contains(name) => name.clone(),
            (Some(name), _) => {
                return Err(invalid(format!(
                    "dataset {name} is not granted to project {}",
                    request.project
                )));
            }
            (None, [only]) => only.clone(),
            (None, []) => {
                return Err(invalid(format!(
                    "project {} has no dataset",
                    request.project
                )));
            }
            (None, _) => {
                return Err(invalid(format!(
                    "project {} has several datasets: choose one with --dataset ({})",
                    request.project,
                    granted.join(", ")
                )));
            }
        };
        let dataset = match self.store.dataset(&dataset_name).await {
            Ok(Some(dataset)) => dataset,
            Ok(None) => {
                return Err(invalid(format!("dataset {dataset_name} is not registered")));
            }
            Err(error) => return Err(invalid(format!("dataset lookup failed: {error}"))),
        };
        if request.python {
            return Ok((dataset, self.check_script(&request.module).await?));
        }
        if request.module.is_empty() {
            return Err(invalid(
                "empty module: send the .wasm file on standard input".into(),
            ));
        }
        let sha = self
            .sandbox
            .check_module(&request.module, &self.limits)
            .map_err(|error| invalid(error.to_string()))?;
        Ok((
            dataset,
            Program {
                module_sha256: sha,
                script_sha256: None,
            },
        ))
    }

    /// A Python script: the installation must have a runner; the script must be non-empty,
    /// within the size limit and UTF-8 (Python source is). Syntax is the runner's business:
    /// a script that does not compile fails its job with the traceback in stderr.
    async fn check_script(&self, script: &[u8]) -> Result<Program, ServiceError> {
        let Some(python) = self.python() else {
            return Err(ServiceError::Invalid(
                "Python jobs are not enabled on this installation (no [python] runner configured); \
                 submit a WebAssembly module instead"
                    .into(),
            ));
        };
        if script.is_empty() {
            return Err(ServiceError::Invalid(
                "empty script: send the .py file on standard input".into(),
            ));
        }
        let len = u64::try_from(script.len()).unwrap_or(u64::MAX);
        if len > python.script_bytes() {
            return Err(ServiceError::Invalid(format!(
                "script is {len} bytes, more than the limit of {} bytes",
                python.script_bytes()
            )));
        }
        if let Err(error) = std::str::from_utf8(script) {
            return Err(ServiceError::Invalid(format!(
                "script is not UTF-8 text (invalid byte at offset {})",
                error.valid_up_to()
            )));
        }
        let Some(runner_sha256) = self.python_runner_sha256().await? else {
            return Err(ServiceError::Internal("python runner vanished".into()));
        };
        Ok(Program {
            module_sha256: runner_sha256,
            script_sha256: Some(hex::encode(Sha256::digest(script))),
        })
    }

    /// Writes the module under its hash (atomically; content-addressed, so an
    /// existing file already holds the same bytes).
    async fn store_module(&self, sha256: &str, bytes: &[u8]) -> Result<(), ServiceError> {
        self.store_module_file(&format!("{sha256}.wasm"), bytes)
            .await
    }

    /// Writes `bytes` as `file_name` in the module store, atomically; the name starts with
    /// the content's SHA-256, so an existing file already holds the same bytes.
    async fn store_module_file(&self, file_name: &str, bytes: &[u8]) -> Result<(), ServiceError> {
        let sha256 = file_name.split('.').next().unwrap_or(file_name);
        let path = self.paths.modules.join(file_name);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(());
        }
        // A unique temporary name: the same module may be submitted concurrently.
        let nonce: [u8; 8] = rand::random();
        let temp = self
            .paths
            .modules
            .join(format!(".{sha256}.{}.tmp", hex::encode(nonce)));
        let write = async {
            let mut file = tokio::fs::File::create(&temp).await?;
            tokio::io::AsyncWriteExt::write_all(&mut file, bytes).await?;
            file.sync_all().await?;
            tokio::fs::rename(&temp, &path).await
        };
        write.await.map_err(|error| {
            tracing::error!(%error, "cannot store module");
            ServiceError::Unavailable(format!("cannot store module: {error}"))
        })
    }
}

fn view(row: JobRow, outputs: Vec<OutputView>) -> JobView {
    let parse = |text: &str| serde_json::from_str(text).unwrap_or(serde_json::Value::Null);
    JobView {
        args: parse(&row.args),
        limits: parse(&row.limits),
        usage: row.usage.as_deref().map(parse),
        data_access: row.data_access.as_deref().map(parse),
        id: row.id,
        name: row.name,
        project: row.project,
        submitter: row.submitter,
        state: row.state,
        reason: row.reason,
        exit_code: row.exit_code,
        module_sha256: row.module_sha256,
        language: if row.script_sha256.is_some() {
            "python"
        } else {
            "wasm"
        },
        script_sha256: row.script_sha256,
        dataset: row.dataset,
        dataset_version: row.dataset_version,
        submitted_at: row.submitted_at,
        started_at: row.started_at,
        finished_at: row.finished_at,
        outputs,
    }
}

/// What a submission will run: the module's hash, and for a Python job the script's (the
/// module is then the runner).
struct Program {
    module_sha256: String,
    script_sha256: Option<String>,
}

/// A fresh random job id.
fn new_job_id() -> String {
    let bytes: [u8; 8] = rand::random();
    format!("j-{}", hex::encode(bytes))
}

/// The job's random seed: derived from its id, so it is recorded implicitly and
/// a rerun of the same job reproduces its outputs.
pub(crate) fn job_seed(id: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"enclave job seed v1\n");
    hasher.update(id.as_bytes());
    hasher.finalize().into()
}

/// The limits as recorded with the job.
pub(crate) fn limits_json(limits: &SandboxLimits) -> serde_json::Value {
    serde_json::json!({
        "wall_time_ms": u64::try_from(limits.wall_time.as_millis()).unwrap_or(u64::MAX),
        "memory_bytes": limits.memory_bytes,
        "fuel": limits.fuel,
        "stdout_bytes": limits.stdout_bytes,
        "stderr_bytes": limits.stderr_bytes,
        "out_bytes": limits.out_bytes,
        "out_files": limits.out_files,
        "module_bytes": limits.module_bytes,
        "stdio_hard_bytes": limits.stdio_hard_bytes,
        "compile_time_ms": u64::try_from(limits.compile_time.as_millis()).unwrap_or(u64::MAX),
        "table_elements": limits.table_elements,
        "tmp_bytes": limits.tmp_bytes,
    })
}
