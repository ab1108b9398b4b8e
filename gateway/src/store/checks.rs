//! Output-check results: the check record stored with a job, and each output's verdict,
//! reason summary, suggested safe version and evidence flag.
//!
//! Invariant: no rules here; the service decides, the store records.

use sqlx::Row;

use super::{Store, StoreError, WriteTx};

/// The stored check result of one output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputCheckRow {
    /// `file`, `stdout` or `stderr`.
    pub kind: String,
    /// Output name.
    pub name: String,
    /// `pass`, `review` or `fail`; `None` until checked.
    pub verdict: Option<String>,
    /// Reason summary, JSON array text.
    pub reasons: Option<String>,
    /// File name of the suggested safe version.
    pub suggested_name: Option<String>,
    /// SHA-256 naming the suggested version in the quarantine.
    pub suggested_sha256: Option<String>,
    /// Checker evidence: never released.
    pub never_release: bool,
}

impl Store {
    /// Stores a job's check record (JSON text).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn set_check_record(
        tx: &mut WriteTx,
        job_id: &str,
        record: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET check_record = $1 WHERE id = $2")
            .bind(record)
            .bind(job_id)
            .execute(tx.conn())
            .await?;
        Ok(())
    }

    /// Stores one output's check result.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn set_output_check(
        tx: &mut WriteTx,
        job_id: &str,
        check: &OutputCheckRow,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outputs SET verdict = $1, reasons = $2, suggested_name = $3, \
             suggested_sha256 = $4, never_release = $5 \
             WHERE job_id = $6 AND kind = $7 AND name = $8",
        )
        .bind(&check.verdict)
        .bind(&check.reasons)
        .bind(&check.suggested_name)
        .bind(&check.suggested_sha256)
        .bind(i64::from(check.never_release))
        .bind(job_id)
        .bind(&check.kind)
        .bind(&check.name)
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// The check results of a job's outputs.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn output_checks(&self, job_id: &str) -> Result<Vec<OutputCheckRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, name, verdict, reasons, suggested_name, suggested_sha256, \
             never_release FROM outputs WHERE job_id = $1",
        )
        .bind(job_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(OutputCheckRow {
                    kind: row.try_get("kind")?,
                    name: row.try_get("name")?,
                    verdict: row.try_get("verdict")?,
                    reasons: row.try_get("reasons")?,
                    suggested_name: row.try_get("suggested_name")?,
                    suggested_sha256: row.try_get("suggested_sha256")?,
                    never_release: row.try_get::<i64, _>("never_release")? != 0,
                })
            })
            .collect()
    }

    /// A job's check record (JSON text), if its outputs were checked. It holds cell
    /// values: for checkers and the release record, never for researchers.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn check_record(&self, job_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT check_record FROM jobs WHERE id = $1")
            .bind(job_id)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(row) => Ok(row.try_get("check_record")?),
            None => Ok(None),
        }
    }
}
