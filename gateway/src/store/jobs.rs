//! Jobs and their quarantined outputs.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Store, StoreError, WriteTx};

/// What a submission stores.
#[derive(Clone, Debug)]
pub struct NewJob {
    /// Job id.
    pub id: String,
    /// Project name.
    pub project: String,
    /// Submitting user.
    pub submitter: String,
    /// Human name given at submission.
    pub name: String,
    /// SHA-256 of the module (hex).
    pub module_sha256: String,
    /// Module size in bytes.
    pub module_size: i64,
    /// Arguments, JSON array text.
    pub args: String,
    /// Dataset mounted at `/data`.
    pub dataset: String,
    /// Its version.
    pub dataset_version: String,
    /// Limits, JSON object text.
    pub limits: String,
    /// Random seed (hex).
    pub seed: String,
    /// Submission time.
    pub submitted_at: String,
    /// SHA-256 of the script of a Python job (hex); `module_sha256` is then the runner's.
    pub script_sha256: Option<String>,
}

/// A stored job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRow {
    /// Job id.
    pub id: String,
    /// Project name.
    pub project: String,
    /// Submitting user.
    pub submitter: String,
    /// Human name.
    pub name: String,
    /// SHA-256 of the module (hex).
    pub module_sha256: String,
    /// Module size in bytes.
    pub module_size: i64,
    /// Arguments, JSON array text.
    pub args: String,
    /// Dataset mounted at `/data`.
    pub dataset: String,
    /// Its version.
    pub dataset_version: String,
    /// Limits, JSON object text.
    pub limits: String,
    /// Random seed (hex).
    pub seed: String,
    /// `queued`, `running`, `succeeded` or `failed`.
    pub state: String,
    /// Why it failed (or how it ended).
    pub reason: Option<String>,
    /// Exit status if the module exited.
    pub exit_code: Option<i64>,
    /// Resource usage, JSON object text.
    pub usage: Option<String>,
    /// How many times a worker started it.
    pub attempts: i64,
    /// Submission time.
    pub submitted_at: String,
    /// Start of the last attempt.
    pub started_at: Option<String>,
    /// End time.
    pub finished_at: Option<String>,
    /// Worker holding (or last holding) the job.
    pub worker_id: Option<String>,
    /// When the current holder's lease ends.
    pub lease_expires_at: Option<String>,
    /// Files under `/data` the run opened, JSON array text (`None` until it ran).
    pub data_access: Option<String>,
    /// SHA-256 of the script of a Python job (hex); `module_sha256` is then the runner's.
    pub script_sha256: Option<String>,
}

/// A worker's hold on one attempt of a running job: the fencing token that
/// completion and heartbeats must present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Worker id.
    pub worker_id: String,
    /// Attempt number the worker is running.
    pub attempt: i64,
}

/// A quarantined output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputRow {
    /// File name relative to `/out`, or `stdout` / `stderr`.
    pub name: String,
    /// `file`, `stdout` or `stderr`.
    pub kind: String,
    /// Size in bytes.
    pub size: i64,
    /// SHA-256 (hex) naming the quarantined content.
    pub sha256: String,
    /// Whether capture stopped at the size cap.
    pub truncated: bool,
}

/// How a run ended, to be stored.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// `succeeded` or `failed`.
    pub state: &'static str,
    /// Outcome text (`exit 0`, `trap: ...`, `limit: ...`).
    pub reason: String,
    /// Exit status when the module exited.
    pub exit_code: Option<i64>,
    /// Usage, JSON object text.
    pub usage: String,
    /// End time.
    pub finished_at: String,
    /// Files under `/data` the run opened, JSON array text (`None` when it never ran).
    pub data_access: Option<String>,
}

const JOB_COLUMNS: &str = "id, project, submitter, name, module_sha256, module_size, args, \
    dataset, dataset_version, limits, seed, state, reason, exit_code, usage, attempts, \
    submitted_at, started_at, finished_at, worker_id, lease_expires_at, data_access, \
    script_sha256";

fn job_from_row(row: &AnyRow) -> Result<JobRow, StoreError> {
    Ok(JobRow {
        id: row.try_get("id")?,
        project: row.try_get("project")?,
        submitter: row.try_get("submitter")?,
        name: row.try_get("name")?,
        module_sha256: row.try_get("module_sha256")?,
        module_size: row.try_get("module_size")?,
        args: row.try_get("args")?,
        dataset: row.try_get("dataset")?,
        dataset_version: row.try_get("dataset_version")?,
        limits: row.try_get("limits")?,
        seed: row.try_get("seed")?,
        state: row.try_get("state")?,
        reason: row.try_get("reason")?,
        exit_code: row.try_get("exit_code")?,
        usage: row.try_get("usage")?,
        attempts: row.try_get("attempts")?,
        submitted_at: row.try_get("submitted_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        worker_id: row.try_get("worker_id")?,
        lease_expires_at: row.try_get("lease_expires_at")?,
        data_access: row.try_get("data_access")?,
        script_sha256: row.try_get("script_sha256")?,
    })
}

impl Store {
    /// Inserts a queued job.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn insert_job(tx: &mut WriteTx, job: &NewJob) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO jobs (id, project, submitter, name, module_sha256, module_size, args, \
             dataset, dataset_version, limits, seed, state, attempts, submitted_at, \
             script_sha256) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'queued', 0, $12, $13)",
        )
        .bind(&job.id)
        .bind(&job.project)
        .bind(&job.submitter)
        .bind(&job.name)
        .bind(&job.module_sha256)
        .bind(job.module_size)
        .bind(&job.args)
        .bind(&job.dataset)
        .bind(&job.dataset_version)
        .bind(&job.limits)
        .bind(&job.seed)
        .bind(&job.submitted_at)
        .bind(&job.script_sha256)
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// The job with this id.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn job(&self, id: &str) -> Result<Option<JobRow>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Jobs, newest first: all of them, or only those submitted by `submitter`.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn jobs(&self, submitter: Option<&str>) -> Result<Vec<JobRow>, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE ($1 IS NULL OR submitter = $1) \
             ORDER BY submitted_at DESC, id DESC"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(submitter)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Marks the oldest queued job as running under `worker_id` until
    /// `lease_until` and returns it.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn claim_next_job(
        tx: &mut WriteTx,
        now: &str,
        worker_id: &str,
        lease_until: &str,
    ) -> Result<Option<JobRow>, StoreError> {
        let sql = match tx.backend {
            Backend::Sqlite => {
                "SELECT id FROM jobs WHERE state = 'queued' ORDER BY submitted_at, id LIMIT 1"
            }
            // Several workers claim at once: skip rows another worker holds.
            Backend::Postgres => {
                "SELECT id FROM jobs WHERE state = 'queued' ORDER BY submitted_at, id LIMIT 1 \
                 FOR UPDATE SKIP LOCKED"
            }
        };
        let Some(row) = sqlx::query(sql).fetch_optional(tx.conn()).await? else {
            return Ok(None);
        };
        let id: String = row.try_get("id")?;
        sqlx::query(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = $1, \
             worker_id = $2, lease_expires_at = $3 WHERE id = $4",
        )
        .bind(now)
        .bind(worker_id)
        .bind(lease_until)
        .bind(&id)
        .execute(tx.conn())
        .await?;
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&id)
            .fetch_one(tx.conn())
            .await?;
        job_from_row(&row).map(Some)
    }

    /// Jobs left `running` (by a process that stopped).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn running_jobs(tx: &mut WriteTx) -> Result<Vec<JobRow>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE state = 'running' ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(tx.conn())
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Puts a running job back in the queue.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn requeue_job(tx: &mut WriteTx, id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'queued', started_at = NULL, lease_expires_at = NULL \
             WHERE id = $1",
        )
        .bind(id)
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// Records how a running job ended. With a `lease`, only if that lease is
    /// still the job's current one; returns false (and changes nothing) when
    /// the lease was lost, so a job completes at most once.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn finish_job(
        tx: &mut WriteTx,
        id: &str,
        result: &RunResult,
        lease: Option<&Lease>,
    ) -> Result<bool, StoreError> {
        let (worker, attempt) = lease.map_or((None, None), |l| {
            (Some(l.worker_id.as_str()), Some(l.attempt))
        });
        let done = sqlx::query(
            "UPDATE jobs SET state = $1, reason = $2, exit_code = $3, usage = $4, finished_at = $5, \
             lease_expires_at = NULL, data_access = $9 WHERE id = $6 AND state = 'running' \
             AND ($7 IS NULL OR (worker_id = $7 AND attempts = $8))",
        )
        .bind(result.state)
        .bind(&result.reason)
        .bind(result.exit_code)
        .bind(&result.usage)
        .bind(&result.finished_at)
        .bind(id)
        .bind(worker)
        .bind(attempt)
        .bind(&result.data_access)
        .execute(tx.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Extends a running job's lease if `lease` still holds it.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn extend_lease(
        tx: &mut WriteTx,
        id: &str,
        lease: &Lease,
        lease_until: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_expires_at = $1 WHERE id = $2 AND state = 'running' \
             AND worker_id = $3 AND attempts = $4",
        )
        .bind(lease_until)
        .bind(id)
        .bind(&lease.worker_id)
        .bind(lease.attempt)
        .execute(tx.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Running jobs whose lease ended before `now` (their worker died or hung).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn expired_leases(tx: &mut WriteTx, now: &str) -> Result<Vec<JobRow>, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE state = 'running' \
             AND lease_expires_at IS NOT NULL AND lease_expires_at < $1 ORDER BY id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .fetch_all(tx.conn())
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Records one quarantined output of a job.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn insert_output(
        tx: &mut WriteTx,
        job_id: &str,
        output: &OutputRow,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO outputs (job_id, name, kind, size, sha256, truncated) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(job_id)
        .bind(&output.name)
        .bind(&output.kind)
        .bind(output.size)
        .bind(&output.sha256)
        .bind(i64::from(output.truncated))
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// A job's outputs: stdout, stderr, then files by name.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn outputs(&self, job_id: &str) -> Result<Vec<OutputRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, kind, size, sha256, truncated FROM outputs WHERE job_id = $1 \
             ORDER BY CASE kind WHEN 'stdout' THEN 0 WHEN 'stderr' THEN 1 ELSE 2 END, name",
        )
        .bind(job_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(OutputRow {
                    name: row.try_get("name")?,
                    kind: row.try_get("kind")?,
                    size: row.try_get("size")?,
                    sha256: row.try_get("sha256")?,
                    truncated: row.try_get::<i64, _>("truncated")? != 0,
                })
            })
            .collect()
    }
}
