//! Retention: `enclave audit purge` removes events older than the retention
//! period while keeping the trail verifiable.
//!
//! Order, each step before the next: verify the whole trail (a trail that does
//! not verify is never purged: that would destroy the evidence); optionally
//! archive the purged events (JSON Lines, fsynced); sign a checkpoint of the
//! whole log; then in one transaction sign a checkpoint at the cut, store the
//! purge record (cut, chain hash and time of the last purged event, frontier
//! and root at the cut), delete the events and append `audit.purge` naming all
//! of it; finally sign a checkpoint covering the purge event.
//! Invariant: only the host operator purges (`Door::Cli`); refusals are audited.
//! Invariant: verification after a purge resumes from the newest purge record,
//! and that record must match the `audit.purge` event that announced it.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::super::{Caller, Service, ServiceError, detail, event};
use super::{PAGE, decode};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::merkle::pruned::PrunedTree;
use crate::audit::merkle::{self, Frontier, Hash};
use crate::audit::{Door, Outcome, StoredEvent};
use crate::store::{PurgeRecord, Store, format_time};

/// Whether a purge deletes or only reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PurgeMode {
    /// Report what would be purged; change nothing but the audit trail.
    DryRun,
    /// Purge.
    Purge,
}

/// How to purge.
#[derive(Clone, Debug)]
pub struct PurgeOptions {
    /// Dry run or purge.
    pub mode: PurgeMode,
    /// Keep events at most this many days old.
    pub retention_days: u32,
    /// Write the purged events here first (JSON Lines; must not exist).
    pub archive: Option<PathBuf>,
}

/// What a purge did (or, dry, would do).
#[derive(Clone, Debug, Serialize)]
pub struct PurgeReport {
    /// `true` for a dry run.
    pub dry_run: bool,
    /// Events before this time are past retention.
    pub cutoff: String,
    /// First and last sequence number purged (`None`: nothing to purge).
    pub range: Option<(i64, i64)>,
    /// The stored purge record.
    pub record: Option<PurgeRecord>,
    /// Checkpoint signed after the purge event.
    pub checkpoint: Option<Checkpoint>,
    /// SHA-256 of the archive file, when one was written.
    pub archive_sha256: Option<String>,
}

impl Service {
    /// Purges events older than `options.retention_days` (see the module docs).
    ///
    /// # Errors
    /// `Forbidden` unless the caller is the host operator; `Conflict` when the
    /// trail does not verify or the archive exists; `Unavailable` without a
    /// signing key; store and file failures.
    pub async fn purge_trail(
        &self,
        caller: &Caller,
        options: &PurgeOptions,
    ) -> Result<PurgeReport, ServiceError> {
        if caller.door != Door::Cli {
            let mut record = event(caller, "audit.purge", Outcome::Denied);
            detail(&mut record, "reason", "purging is a host operator action");
            return Err(self
                .refuse(
                    record,
                    ServiceError::Forbidden("purging is a host operator action".into()),
                )
                .await);
        }
        let Some(key) = self.checkpoint_key.clone() else {
            return Err(ServiceError::Unavailable("no audit signing key".into()));
        };
        let cutoff_time = self.now() - time::Duration::days(i64::from(options.retention_days));
        let cutoff = format_time(cutoff_time)?;
        let previous = self.store.latest_purge().await?.map_or(0, |p| p.cut_seq);
        let cut = self
            .store
            .audit_last_before(&cutoff)
            .await?
            .filter(|cut| *cut > previous);
        let mut report = PurgeReport {
            dry_run: options.mode == PurgeMode::DryRun,
            cutoff: cutoff.clone(),
            range: cut.map(|cut| (previous + 1, cut)),
            record: None,
            checkpoint: None,
            archive_sha256: None,
        };
        let mut announce = event(
            caller,
            match options.mode {
                PurgeMode::DryRun => "audit.purge.plan",
                PurgeMode::Purge => "audit.purge",
            },
            Outcome::Ok,
        );
        detail(&mut announce, "cutoff", cutoff.clone());
        detail(&mut announce, "retention_days", options.retention_days);
        let Some(cut) = cut else {
            detail(&mut announce, "purged", 0);
            self.record(announce).await?;
            return Ok(report);
        };
        if options.mode == PurgeMode::DryRun {
            detail(&mut announce, "from_seq", previous + 1);
            detail(&mut announce, "cut_seq", cut);
            self.record(announce).await?;
            return Ok(report);
        }
        let verified = self.verify_trail(caller, None).await?;
        if let Some(problem) = verified.problem {
            let mut record = event(caller, "audit.purge", Outcome::Error);
            detail(&mut record, "reason", "the trail does not verify");
            return Err(self
                .refuse(
                    record,
                    ServiceError::Conflict(format!(
                        "the trail does not verify, nothing purged: {problem}"
                    )),
                )
                .await);
        }
        if let Some(path) = &options.archive {
            let digest = self.archive(path, previous, cut).await?;
            detail(&mut announce, "archive", path.display().to_string());
            detail(&mut announce, "archive_sha256", digest.clone());
            report.archive_sha256 = Some(digest);
        }
        // The whole log as it stood, signed before anything is removed.
        self.create_checkpoint(caller).await?;

        let mut tx = self.store.begin_write().await?;
        Store::lock_audit(&mut tx).await?;
        let prior = Store::latest_purge_in(&mut tx).await?;
        if prior.as_ref().map_or(0, |p| p.cut_seq) != previous {
            return Err(ServiceError::Conflict("another purge ran meanwhile".into()));
        }
        let hashes = Store::audit_leaves_in(&mut tx).await?;
        let kept_before =
            usize::try_from(cut - previous).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let Some(purged) = hashes.get(..kept_before) else {
            return Err(ServiceError::Internal(
                "events vanished before the purge".into(),
            ));
        };
        let mut frontier = match &prior {
            Some(record) => frontier_of(record).map_err(ServiceError::Internal)?,
            None => Frontier::default(),
        };
        for hash in purged {
            frontier.push(merkle::leaf_hash(&decode(hash)));
        }
        let root = hex::encode(frontier.root());
        let (last_hash, last_time) = Store::audit_link_in(&mut tx, cut)
            .await?
            .ok_or_else(|| ServiceError::Internal("last purged event missing".into()))?;
        let now = format_time(self.now())?;
        Store::insert_checkpoint(&mut tx, &key.sign(cut as u64, &root, &now)).await?;
        let record = PurgeRecord {
            cut_seq: cut,
            last_hash,
            last_time,
            root_hash: root,
            frontier: frontier
                .nodes()
                .into_iter()
                .map(|(size, node)| (size, hex::encode(node)))
                .collect(),
            time: now,
        };
        let deleted = Store::purge_audit(&mut tx, &record).await?;
        if deleted != (cut - previous) as u64 {
            return Err(ServiceError::Internal(format!(
                "purge deleted {deleted} events, expected {}",
                cut - previous
            )));
        }
        detail(&mut announce, "from_seq", previous + 1);
        detail(&mut announce, "cut_seq", cut);
        detail(&mut announce, "purged", deleted);
        detail(&mut announce, "root_hash", record.root_hash.clone());
        detail(&mut announce, "last_hash", record.last_hash.clone());
        detail(&mut announce, "last_time", record.last_time.clone());
        detail(
            &mut announce,
            "frontier",
            serde_json::json!(record.frontier),
        );
        self.record_in(&mut tx, announce).await?;
        tx.commit().await?;
        report.record = Some(record);
        // The purge event itself, under a signed checkpoint.
        report.checkpoint = Some(self.create_checkpoint(caller).await?);
        Ok(report)
    }

    /// Writes events `previous+1..=cut` to a new JSON Lines file, fsynced;
    /// returns its SHA-256.
    async fn archive(&self, path: &Path, previous: i64, cut: i64) -> Result<String, ServiceError> {
        let io = |e: std::io::Error| ServiceError::Conflict(format!("archive: {e}"));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .await
            .map_err(io)?;
        let mut out = tokio::io::BufWriter::new(file);
        let mut digest = Sha256::new();
        let mut after = previous;
        while after < cut {
            let page = self.store.audit_page(after, PAGE.min(cut - after)).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for event in &page {
                let mut line = serde_json::to_vec::<StoredEvent>(event)
                    .map_err(|e| ServiceError::Internal(e.to_string()))?;
                line.push(b'\n');
                digest.update(&line);
                out.write_all(&line).await.map_err(io)?;
            }
        }
        out.flush().await.map_err(io)?;
        out.get_mut().sync_all().await.map_err(io)?;
        Ok(hex::encode(digest.finalize()))
    }
}

/// The frontier a purge record keeps, checked against the record's root.
///
/// # Errors
/// A message naming the record when it is malformed or inconsistent.
pub(super) fn frontier_of(record: &PurgeRecord) -> Result<Frontier, String> {
    let bad = || {
        format!(
            "the purge record at sequence {} is malformed",
            record.cut_seq
        )
    };
    let nodes: Vec<(u64, Hash)> = record
        .frontier
        .iter()
        .map(|(size, node)| {
            let bytes: Hash = hex::decode(node)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(bad)?;
            Ok((*size, bytes))
        })
        .collect::<Result<_, String>>()?;
    let frontier = Frontier::from_nodes(&nodes).ok_or_else(bad)?;
    if frontier.len() != record.cut_seq as u64 || hex::encode(frontier.root()) != record.root_hash {
        return Err(format!(
            "the purge record at sequence {} does not match its own tree head: it was altered",
            record.cut_seq
        ));
    }
    Ok(frontier)
}

/// The tree over the newest purge record's frontier and the kept chain hashes.
pub(super) fn tree(
    record: Option<&PurgeRecord>,
    hashes: &[String],
) -> Result<PrunedTree, ServiceError> {
    let base = match record {
        Some(record) => frontier_of(record).map_err(ServiceError::Internal)?,
        None => Frontier::default(),
    };
    let leaves = hashes
        .iter()
        .map(|h| merkle::leaf_hash(&decode(h)))
        .collect();
    Ok(PrunedTree::new(&base, leaves))
}

/// Checks, while verification streams the kept events, that the newest purge
/// record is the one its `audit.purge` event announced.
pub(super) struct EventCheck<'a> {
    record: &'a PurgeRecord,
    announced: bool,
}

impl<'a> EventCheck<'a> {
    pub(super) fn new(record: &'a PurgeRecord) -> EventCheck<'a> {
        EventCheck {
            record,
            announced: false,
        }
    }

    /// Looks at the next verified event.
    pub(super) fn push(&mut self, event: &StoredEvent) -> Result<(), String> {
        if event.action != "audit.purge" || event.outcome != "ok" {
            return Ok(());
        }
        let Ok(details) = serde_json::from_str::<serde_json::Value>(&event.details) else {
            return Ok(());
        };
        if details.get("cut_seq").and_then(serde_json::Value::as_i64) != Some(self.record.cut_seq) {
            return Ok(());
        }
        let frontier = serde_json::json!(self.record.frontier);
        let matches = details.get("root_hash").and_then(|v| v.as_str())
            == Some(self.record.root_hash.as_str())
            && details.get("last_hash").and_then(|v| v.as_str())
                == Some(self.record.last_hash.as_str())
            && details.get("last_time").and_then(|v| v.as_str())
                == Some(self.record.last_time.as_str())
            && details.get("frontier") == Some(&frontier);
        if !matches {
            return Err(format!(
                "the purge record at sequence {} differs from the audit.purge event {}: it was altered",
                self.record.cut_seq, event.seq
            ));
        }
        self.announced = true;
        Ok(())
    }

    /// After the last event: the record must have been announced.
    pub(super) fn finish(&self) -> Result<(), String> {
        if self.announced {
            Ok(())
        } else {
            Err(format!(
                "the purge record at sequence {} has no audit.purge event: it was forged or its event removed",
                self.record.cut_seq
            ))
        }
    }
}
