//! Per-job provenance for a regulator's question ("where did this number come
//! from?"): project approval, submitter, module hash, dataset and version,
//! limits, wasmtime version, data files read, outputs with hashes and check
//! verdicts, the check record, and every audit event about the job, in one
//! answer, with every release request that drew on the job: context, files and frozen hashes,
//! votes, the release record's hash, and the request's own audit events (reviews, votes,
//! release, downloads). `audit provenance rel-…` answers the same for a release's job.

use serde::Serialize;

use super::{Caller, Service, ServiceError};
use crate::audit::StoredEvent;
use crate::store::AuditFilter;

/// The wasmtime release the sandbox is built with (pinned in the workspace `Cargo.toml`).
pub const WASMTIME_VERSION: &str = "48.0.8";

/// Everything known about how one job's outputs came to be.
#[derive(Clone, Debug, Serialize)]
pub struct Provenance {
    /// Job id.
    pub job_id: String,
    /// Project approval at the time of the query.
    pub project: serde_json::Value,
    /// Submitter.
    pub submitter: String,
    /// Module SHA-256 (for a Python job, the runner component's).
    pub module_sha256: String,
    /// A Python job's script SHA-256 (the script is kept in the module store).
    pub script_sha256: Option<String>,
    /// Dataset, class and version mounted at `/data`.
    pub dataset: serde_json::Value,
    /// Limits the job ran under.
    pub limits: serde_json::Value,
    /// Sandbox engine.
    pub wasmtime_version: &'static str,
    /// State and how it ended.
    pub state: String,
    /// Reason (`exit 0`, `trap: …`, `limit: …`).
    pub reason: Option<String>,
    /// Resource usage.
    pub usage: serde_json::Value,
    /// Files under `/data` the job opened and bytes read.
    pub data_access: serde_json::Value,
    /// Quarantined outputs with hashes and check verdicts.
    pub outputs: serde_json::Value,
    /// The machine-readable output-check record.
    pub check_record: serde_json::Value,
    /// Every audit event about the job, in order.
    pub events: Vec<StoredEvent>,
    /// Release requests with files from this job: request, votes, release, downloads.
    pub releases: Vec<serde_json::Value>,
}

impl Service {
    /// Provenance of one job (compliance and administrators; recorded as a read).
    ///
    /// # Errors
    /// `Forbidden` for other callers, `NotFound` for an unknown job.
    pub async fn provenance(
        &self,
        caller: &Caller,
        job_id: &str,
    ) -> Result<Provenance, ServiceError> {
        self.check_audit_access(caller, "audit.provenance").await?;
        let shown: String = job_id.chars().take(64).collect();
        let release_job;
        let job_id = if job_id.starts_with("rel-") {
            let release = self.store.release(job_id).await?.ok_or_else(|| {
                ServiceError::NotFound(format!("no such release request: {shown}"))
            })?;
            release_job = release
                .files
                .first()
                .map(|f| f.job_id.clone())
                .unwrap_or_default();
            release_job.as_str()
        } else {
            job_id
        };
        let job = self
            .store
            .job(job_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no such job: {shown}")))?;
        let project = self.store.project(&job.project).await?;
        let dataset = self.store.dataset(&job.dataset).await?;
        let outputs = self.store.outputs(&job.id).await?;
        let checks = self.store.output_checks(&job.id).await?;
        let check_record = self.store.check_record(&job.id).await?;
        let filter = AuditFilter {
            target: Some(job.id.clone()),
            ..AuditFilter::default()
        };
        let events = self.all_events(&filter).await?;
        let mut releases = Vec::new();
        for release in self.store.releases_of_job(&job.id).await? {
            let filter = AuditFilter {
                target: Some(release.id.clone()),
                ..AuditFilter::default()
            };
            let record_sha256 = release
                .record
                .as_deref()
                .map(|r| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(r.as_bytes())));
            let files: Vec<serde_json::Value> = release
                .files
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "name": f.name, "job": f.job_id, "variant": f.variant, "sha256": f.sha256,
                        "verdict": f.verdict, "round": f.round, "outcome": f.outcome,
                        "released_sha256": f.released_sha256,
                    })
                })
                .collect();
            let votes: Vec<serde_json::Value> = release
                .votes
                .iter()
                .map(|v| {
                    serde_json::json!({
                        "file": v.name, "round": v.round, "checker": v.checker,
                        "vote": v.vote, "comment": v.comment, "at": v.created_at,
                    })
                })
                .collect();
            releases.push(serde_json::json!({
                "id": release.id, "state": release.state, "author": release.author,
                "context": release.context, "justification": release.justification,
                "created_at": release.created_at, "released_at": release.released_at,
                "record_sha256": record_sha256, "files": files, "votes": votes,
                "events": self.all_events(&filter).await?,
            }));
        }
        let parse = |text: Option<&str>| {
            text.and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or(serde_json::Value::Null)
        };
        let outputs: Vec<serde_json::Value> = outputs
            .iter()
            .map(|o| {
                let check = checks.iter().find(|c| c.kind == o.kind && c.name == o.name);
                serde_json::json!({
                    "name": o.name, "kind": o.kind, "size": o.size, "sha256": o.sha256,
                    "verdict": check.and_then(|c| c.verdict.clone()),
                    "reasons": parse(check.and_then(|c| c.reasons.as_deref())),
                    "suggested_sha256": check.and_then(|c| c.suggested_sha256.clone()),
                    "never_release": check.is_some_and(|c| c.never_release),
                })
            })
            .collect();
        let provenance = Provenance {
            job_id: job.id.clone(),
            project: project.map_or(serde_json::Value::Null, |p| {
                serde_json::json!({
                    "name": p.facts.name, "organization": p.organization, "expires_on": p.facts.expires_on.to_string(),
                    "active": p.facts.active, "rules": p.rules, "members": p.facts.members, "datasets": p.datasets,
                })
            }),
            submitter: job.submitter.clone(),
            module_sha256: job.module_sha256.clone(),
            script_sha256: job.script_sha256.clone(),
            dataset: dataset.map_or(serde_json::Value::Null, |d| {
                serde_json::json!({ "name": d.name, "class": d.class, "version": job.dataset_version, "tables": d.tables })
            }),
            limits: parse(Some(&job.limits)),
            wasmtime_version: WASMTIME_VERSION,
            state: job.state.clone(),
            reason: job.reason.clone(),
            usage: parse(job.usage.as_deref()),
            data_access: parse(job.data_access.as_deref()),
            outputs: serde_json::Value::Array(outputs),
            check_record: parse(check_record.as_deref()),
            events,
            releases,
        };
        self.record_audit_read(
            caller,
            "audit.provenance",
            (provenance.events.len() + provenance.releases.len()) as i64,
            None,
        )
        .await?;
        Ok(provenance)
    }

    /// Every audit event matching `filter`, in order.
    async fn all_events(&self, filter: &AuditFilter) -> Result<Vec<StoredEvent>, ServiceError> {
        let mut events = Vec::new();
        let mut after = 0;
        loop {
            let page = self.store.audit_query(filter, after, 10_000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            events.extend(page);
        }
        Ok(events)
    }
}
