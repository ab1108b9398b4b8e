//! Output checks after a run: every quarantined output of a job (the files of `/out`, the
//! manifest, stdout and stderr) is checked under the project's rule preset with
//! `enclave_policy::sdc`, and the verdicts are stored with the job. The rule set is the
//! project's own (set by `enclave admin project rules`, table `project_rules`) or else its
//! preset.
//!
//! The runner calls [`Service::check_run_outputs`] before its completion transaction (the
//! checks may take seconds and must not hold the write lock) and
//! [`Service::record_checks`] inside it, so the verdicts, the check record and the
//! `job.check` audit event commit together with the job's result.
//!
//! Invariant: fail closed. No rule set, an unreadable quarantined file or input the checker
//! cannot use gives every output the verdict `fail` with reason `check_error`.
//! Invariant: researchers see verdicts and reason codes with cell counts, never messages or
//! the record: both can quote the job's own bytes (cell values, column names).
//! Invariant: evidence files are stored `never_release`.
//! Boundary: suggested safe versions are stored content-addressed in the quarantine folder;
//! the record holds their SHA-256.

mod evaluate;
mod screen;
#[cfg(test)]
mod tests;

use enclave_policy::sdc::{Ledger, Preset, ReleasedTable, RuleSet, TableSpec, Verdict, sha256_hex};
use serde::{Deserialize, Serialize};

use super::{Service, ServiceError, detail};
use crate::audit::{Door, NewEvent, Outcome};
use crate::store::{JobRow, OutputCheckRow, OutputRow, Store, WriteTx};
pub(crate) use evaluate::JobChecks;
use evaluate::{Input, evaluate};

/// Reason code of an output that could not be checked at all.
pub const CHECK_ERROR: &str = "check_error";

/// One reason behind an output's verdict, as researchers may see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonSummary {
    /// Stable reason code (`threshold`, `dominance`, ..., or `check_error`).
    pub code: String,
    /// How bad this reason is.
    pub verdict: Verdict,
    /// Number of table cells with this reason (0 for reasons about the whole file).
    #[serde(default)]
    pub cells: u64,
    /// Gateway-written detail (where a check error is), never text from the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Service {
    /// Checks a finished run's quarantined outputs. Never fails: what cannot be checked
    /// fails closed. `None` when there is nothing to check (the job never ran).
    pub(super) async fn check_run_outputs(
        &self,
        job: &JobRow,
        outputs: &[OutputRow],
    ) -> Option<JobChecks> {
        if outputs.is_empty() {
            return None;
        }
        let rules = self.project_rules(job).await;
        let mut inputs = Vec::with_capacity(outputs.len());
        let mut unreadable = false;
        for output in outputs {
            let path = self.paths.quarantine.join(&output.sha256);
            let bytes = tokio::fs::read(&path).await.unwrap_or_else(|error| {
                tracing::error!(job = %job.id, %error, "quarantined output unreadable");
                unreadable = true;
                Vec::new()
            });
            inputs.push(Input {
                kind: output.kind.clone(),
                name: output.name.clone(),
                bytes,
            });
        }
        let rules = match rules {
            Ok(_) if unreadable => Err("a quarantined output could not be read".to_owned()),
            other => other,
        };
        let ledger = self.release_ledger(job).await;
        let inputs = std::sync::Arc::new(inputs);
        let task_inputs = std::sync::Arc::clone(&inputs);
        let task = tokio::task::spawn_blocking(move || {
            evaluate(
                rules.as_ref().map_err(String::as_str),
                &task_inputs,
                &ledger,
                crate::check_cli::TOOL_VERSION,
            )
        });
        let mut checks = match task.await {
            Ok(checks) => checks,
            Err(error) => {
                tracing::error!(job = %job.id, %error, "output check task failed");
                let why = "the output checker stopped";
                evaluate(
                    Err(why),
                    &inputs,
                    &Ledger::new(),
                    crate::check_cli::TOOL_VERSION,
                )
            }
        };
        for output in &mut checks.outputs {
            let Some((_, sha256, bytes)) = &output.suggested else {
                continue;
            };
            if let Err(error) = self.store_content(sha256, bytes).await {
                tracing::error!(job = %job.id, %error, "cannot store a suggested version");
                output.suggested = None;
            }
        }
        Some(checks)
    }

    /// Stores the verdicts and the record and appends `job.check`, all in `tx`.
    ///
    /// # Errors
    /// When the store fails.
    pub(super) async fn record_checks(
        &self,
        tx: &mut WriteTx,
        job: &JobRow,
        checks: Option<JobChecks>,
    ) -> Result<(), ServiceError> {
        let Some(checks) = checks else {
            return Ok(());
        };
        Store::set_check_record(tx, &job.id, &checks.record).await?;
        let mut summary = Vec::with_capacity(checks.outputs.len());
        for output in &checks.outputs {
            let reasons = serde_json::to_string(&output.reasons)
                .map_err(|e| ServiceError::Internal(format!("reasons: {e}")))?;
            let row = OutputCheckRow {
                kind: output.kind.clone(),
                name: output.name.clone(),
                verdict: Some(output.verdict.as_str().to_owned()),
                reasons: Some(reasons),
                suggested_name: output.suggested.as_ref().map(|s| s.0.clone()),
                suggested_sha256: output.suggested.as_ref().map(|s| s.1.clone()),
                never_release: output.never_release,
            };
            Store::set_output_check(tx, &job.id, &row).await?;
            let codes: Vec<&str> = output.reasons.iter().map(|r| r.code.as_str()).collect();
            summary.push(serde_json::json!({
                "name": output.name, "kind": output.kind, "verdict": output.verdict.as_str(),
                "reasons": codes, "suggested_sha256": row.suggested_sha256,
                "never_release": output.never_release,
            }));
        }
        let mut record = NewEvent {
            actor: format!("worker:{}", self.worker.id),
            role: "-".into(),
            door: Door::System,
            source: "-".into(),
            action: "job.check".into(),
            target: job.id.clone(),
            project: job.project.clone(),
            dataset: job.dataset.clone(),
            session: "-".into(),
            request_id: "-".into(),
            outcome: if checks.error.is_some() {
                Outcome::Error
            } else {
                Outcome::Ok
            },
            details: serde_json::json!({ "submitter": job.submitter, "dataset": job.dataset }),
        };
        detail(&mut record, "rules", checks.rules);
        detail(&mut record, "tool_version", crate::check_cli::TOOL_VERSION);
        detail(&mut record, "verdict", checks.verdict.as_str());
        detail(&mut record, "record_sha256", checks.record_sha256);
        detail(&mut record, "outputs", summary);
        if let Some(error) = checks.error {
            detail(&mut record, "error", error);
        }
        self.record_in(tx, record).await
    }

    /// The project's rule set, or why there is none (fail closed): the rules an
    /// administrator set for the project (`admin_set_project_rules`), else its preset.
    async fn project_rules(&self, job: &JobRow) -> Result<RuleSet, String> {
        let loaded = match self.store.project(&job.project).await {
            Ok(Some(project)) => match self.store.project_rules(&job.project).await {
                Ok(own) => Ok((project, own)),
                Err(error) => Err(error),
            },
            Ok(None) => return Err("the project no longer exists".to_owned()),
            Err(error) => Err(error),
        };
        let (project, own) = loaded.map_err(|error| {
            tracing::error!(job = %job.id, %error, "cannot load the project's rules");
            "the project's rule set could not be loaded".to_owned()
        })?;
        match own {
            Some(own) => {
                if sha256_hex(own.rules_toml.as_bytes()) != own.sha256 {
                    return Err("the project's stored rule set does not match its hash".to_owned());
                }
                RuleSet::from_toml("project rules", &own.rules_toml).map_err(|error| {
                    tracing::error!(job = %job.id, %error, "the project's stored rules are unusable");
                    "the project's stored rule set is unusable".to_owned()
                })
            }
            None => Preset::from_name(&project.rules)
                .map(Preset::rules)
                .ok_or_else(|| format!("the project's rule set {:?} is unknown", project.rules)),
        }
    }

    /// Tables released earlier in the job's project on the same dataset, for differencing:
    /// the release ledger's frozen frequency tables, read back from the quarantine. An entry
    /// that cannot be read is logged and skipped (the release record still holds it).
    async fn release_ledger(&self, job: &JobRow) -> Ledger {
        let entries = match self.store.ledger(&job.project, &job.dataset).await {
            Ok(entries) => entries,
            Err(error) => {
                tracing::error!(job = %job.id, %error, "cannot load the release ledger");
                return Ledger::new();
            }
        };
        let mut ledger = Ledger::new();
        for entry in entries {
            let table = async {
                let spec: TableSpec = serde_json::from_str(&entry.spec).ok()?;
                let bytes = tokio::fs::read(self.paths.quarantine.join(&entry.sha256))
                    .await
                    .ok()?;
                ReleasedTable::from_csv(&entry.request_id, &entry.name, &spec, &bytes).ok()
            };
            match table.await {
                Some(table) => ledger.tables.push(table),
                None => tracing::error!(
                    job = %job.id, release = %entry.request_id, file = %entry.name,
                    "released table unreadable; left out of differencing"
                ),
            }
        }
        ledger
    }

    /// Writes bytes into the quarantine under their SHA-256 (atomically; an existing file
    /// already holds the same bytes).
    async fn store_content(&self, sha256: &str, bytes: &[u8]) -> std::io::Result<()> {
        let target = self.paths.quarantine.join(sha256);
        if tokio::fs::try_exists(&target).await? {
            return Ok(());
        }
        let nonce: [u8; 8] = rand::random();
        let temp = self
            .paths
            .quarantine
            .join(format!(".{sha256}.{}.tmp", hex::encode(nonce)));
        tokio::fs::write(&temp, bytes).await?;
        tokio::fs::rename(&temp, &target).await
    }
}
