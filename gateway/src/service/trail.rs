//! The audit trail as compliance staff use it: verify the chain, the Merkle
//! tree and every signed checkpoint; sign checkpoints; prove inclusion and
//! consistency; query and export with the checkpoint that covers the export.
//! Every read is itself recorded (`Service::record_audit_read`).

use serde::Serialize;

use super::{Caller, Service, ServiceError, detail, event};
use crate::audit::checkpoint::{Checkpoint, CheckpointKey, verify_signature};
use crate::audit::merkle::pruned::PrunedTree;
use crate::audit::merkle::{self, Frontier, Hash};
use crate::audit::{Outcome, StoredEvent, Verifier};
use crate::store::{AuditFilter, Store, format_time};

mod purge;

pub use purge::{PurgeMode, PurgeOptions, PurgeReport};

/// Page size for streaming the trail.
const PAGE: i64 = 20_000;

/// The result of a full verification.
#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    /// Events checked.
    pub events: i64,
    /// Chain hash of the last event.
    pub head: String,
    /// RFC 6962 root over all events.
    pub root_hash: String,
    /// Stored checkpoints whose signature and root matched (before a purge
    /// cut: whose signature matched).
    pub checkpoints: usize,
    /// Events purged under the retention policy (`1..=purged`), 0 if none.
    pub purged: i64,
    /// The first problem found, naming the sequence number where possible.
    pub problem: Option<String>,
}

/// An inclusion proof for one event against a signed checkpoint.
#[derive(Clone, Debug, Serialize)]
pub struct InclusionProofView {
    /// The event's sequence number (leaf index + 1).
    pub seq: i64,
    /// The event's chain hash (the leaf data).
    pub event_hash: String,
    /// RFC 6962 audit path, hex, leaf to root.
    pub proof: Vec<String>,
    /// The checkpoint the proof leads to.
    pub checkpoint: Checkpoint,
}

/// A consistency proof between two tree sizes.
#[derive(Clone, Debug, Serialize)]
pub struct ConsistencyProofView {
    /// Older tree size.
    pub old_size: u64,
    /// Its root.
    pub old_root: String,
    /// Newer tree size.
    pub new_size: u64,
    /// Its root.
    pub new_root: String,
    /// RFC 6962 consistency proof, hex.
    pub proof: Vec<String>,
}

impl Service {
    /// The public key checkpoints are signed with (hex).
    pub fn checkpoint_public_key(&self) -> Option<String> {
        self.checkpoint_key.as_ref().map(|k| k.public_hex())
    }

    /// Verifies the whole trail: chain, Merkle tree, every stored checkpoint
    /// (signature by this installation's key and root at its size), and,
    /// when given, an externally kept checkpoint. Records the verification.
    ///
    /// # Errors
    /// `Forbidden` for callers without the permission; store failures.
    pub async fn verify_trail(
        &self,
        caller: &Caller,
        external: Option<&Checkpoint>,
    ) -> Result<VerifyReport, ServiceError> {
        self.check_audit_access(caller, "audit.verify").await?;
        let trusted = self.checkpoint_public_key();
        let purge = self.store.latest_purge().await?;
        let mut checkpoints = self.store.checkpoints().await?;
        let cut = purge.as_ref().map_or(0, |p| p.cut_seq as u64);
        let mut problem = None;
        if let Some(external) = external {
            if external.tree_size < cut {
                problem = Some(format!(
                    "the checkpoint at tree size {} predates the purge of events 1..={cut}: check it against the purge archive",
                    external.tree_size
                ));
            }
            checkpoints.push(external.clone());
        }
        checkpoints.sort_by_key(|c| c.tree_size);
        let mut pending = checkpoints.iter().peekable();
        let (mut verifier, mut frontier) = match &purge {
            Some(record) => (
                Verifier::resume(record.cut_seq, &record.last_hash, &record.last_time),
                purge::frontier_of(record).unwrap_or_else(|message| {
                    problem.get_or_insert(message);
                    Frontier::default()
                }),
            ),
            None => (Verifier::default(), Frontier::default()),
        };
        let mut verified = 0usize;
        // Checkpoints of purged sizes: their roots went with the events (the
        // purge verified them first); their signatures still must hold.
        while let Some(checkpoint) = pending.next_if(|c| c.tree_size < cut) {
            match check_signature(checkpoint, trusted.as_deref()) {
                Ok(()) => verified += 1,
                Err(message) => {
                    problem.get_or_insert(message);
                }
            }
        }
        let mut purge_check = purge.as_ref().map(purge::EventCheck::new);
        let mut after = cut as i64;
        'pages: loop {
            if problem.is_some() {
                break;
            }
            while let Some(checkpoint) = pending.next_if(|c| c.tree_size == frontier.len()) {
                match check(checkpoint, &frontier, trusted.as_deref()) {
                    Ok(()) => verified += 1,
                    Err(message) => {
                        problem = Some(message);
                        break 'pages;
                    }
                }
            }
            let page = self.store.audit_page(after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for event in &page {
                if let Err(error) = verifier.push(event) {
                    problem = Some(error.to_string());
                    break 'pages;
                }
                if let Some(purge_check) = &mut purge_check
                    && let Err(message) = purge_check.push(event)
                {
                    problem = Some(message);
                    break 'pages;
                }
                frontier.push(leaf(event));
                while let Some(checkpoint) = pending.next_if(|c| c.tree_size == frontier.len()) {
                    match check(checkpoint, &frontier, trusted.as_deref()) {
                        Ok(()) => verified += 1,
                        Err(message) => {
                            problem = Some(message);
                            break 'pages;
                        }
                    }
                }
            }
        }
        if problem.is_none()
            && let Some(purge_check) = &purge_check
        {
            problem = purge_check.finish().err();
        }
        if problem.is_none()
            && let Some(checkpoint) = pending.next()
        {
            problem = Some(format!(
                "checkpoint at tree size {} covers events the log no longer holds (log has {}): events were removed",
                checkpoint.tree_size,
                frontier.len()
            ));
        }
        let report = VerifyReport {
            events: verifier.count(),
            head: verifier.head().to_owned(),
            root_hash: hex::encode(frontier.root()),
            checkpoints: verified,
            purged: cut as i64,
            problem,
        };
        self.record_audit_read(
            caller,
            "audit.verify",
            report.events,
            report.problem.clone(),
        )
        .await?;
        Ok(report)
    }

    /// Signs a checkpoint of the whole trail now and stores it.
    ///
    /// # Errors
    /// `Unavailable` when no signing key is configured; store failures.
    pub async fn create_checkpoint(&self, caller: &Caller) -> Result<Checkpoint, ServiceError> {
        self.check_audit_access(caller, "audit.checkpoint").await?;
        let Some(key) = self.checkpoint_key.clone() else {
            return Err(ServiceError::Unavailable("no audit signing key".into()));
        };
        self.record_audit_read(caller, "audit.checkpoint.request", 0, None)
            .await?;
        let mut tx = self.store.begin_write().await?;
        Store::lock_audit(&mut tx).await?;
        let purge = Store::latest_purge_in(&mut tx).await?;
        let leaves = Store::audit_leaves_in(&mut tx).await?;
        let tree = purge::tree(purge.as_ref(), &leaves)?;
        let root = tree
            .root(tree.size())
            .ok_or_else(|| ServiceError::Internal("no tree head".into()))?;
        let checkpoint = key.sign(tree.size(), &hex::encode(root), &format_time(self.now())?);
        Store::insert_checkpoint(&mut tx, &checkpoint).await?;
        let mut record = event(caller, "audit.checkpoint", Outcome::Ok);
        detail(&mut record, "tree_size", checkpoint.tree_size);
        detail(&mut record, "root_hash", checkpoint.root_hash.clone());
        self.record_in(&mut tx, record).await?;
        tx.commit().await?;
        Ok(checkpoint)
    }

    /// Signs a checkpoint if events were added since the newest one (the
    /// periodic task on worker nodes). Returns the new checkpoint, if any.
    ///
    /// # Errors
    /// Store failures.
    pub async fn checkpoint_if_new_events(&self) -> Result<Option<Checkpoint>, ServiceError> {
        let size = self.store.audit_size().await?;
        let latest = self
            .store
            .checkpoints()
            .await?
            .iter()
            .map(|c| c.tree_size)
            .max()
            .unwrap_or(0);
        if size as u64 <= latest {
            return Ok(None);
        }
        let caller = Caller {
            user: format!("worker:{}", self.worker.id),
            door: crate::audit::Door::System,
            source: None,
            request_id: "-".into(),
            session: None,
        };
        self.create_checkpoint(&caller).await.map(Some)
    }

    /// The newest stored checkpoint covering at least `size` events, signing
    /// a new one if none does.
    async fn checkpoint_covering(
        &self,
        caller: &Caller,
        size: u64,
    ) -> Result<Checkpoint, ServiceError> {
        let existing = self
            .store
            .checkpoints()
            .await?
            .into_iter()
            .rev()
            .find(|c| c.tree_size >= size);
        match existing {
            Some(checkpoint) => Ok(checkpoint),
            None => self.create_checkpoint(caller).await,
        }
    }

    /// Proves that event `seq` is in the tree of a signed checkpoint.
    ///
    /// # Errors
    /// `NotFound` for a sequence number beyond the trail.
    pub async fn inclusion_proof(
        &self,
        caller: &Caller,
        seq: i64,
    ) -> Result<InclusionProofView, ServiceError> {
        self.check_audit_access(caller, "audit.proof").await?;
        self.record_audit_read(caller, "audit.proof", 1, None)
            .await?;
        let size = self.store.audit_size().await?;
        if seq < 1 || seq > size {
            return Err(ServiceError::NotFound(format!(
                "no audit event {seq} (the trail has {size})"
            )));
        }
        let checkpoint = self.checkpoint_covering(caller, seq as u64).await?;
        let (tree, hashes) = self.tree(checkpoint.tree_size).await?;
        let index = (seq - 1) as u64;
        let (Some(proof), Some(event_hash)) = (
            tree.inclusion_proof(index, checkpoint.tree_size),
            index
                .checked_sub(tree.cut())
                .and_then(|i| hashes.get(usize::try_from(i).ok()?)),
        ) else {
            return Err(ServiceError::NotFound(format!(
                "audit event {seq} was purged under the retention policy (events 1..={} are gone; the purge record keeps their tree head)",
                tree.cut()
            )));
        };
        Ok(InclusionProofView {
            seq,
            event_hash: event_hash.clone(),
            proof: proof.iter().map(hex::encode).collect(),
            checkpoint,
        })
    }

    /// Proves that the tree of size `new_size` extends the tree of size `old_size`.
    ///
    /// # Errors
    /// `Invalid` unless 0 < old_size <= new_size <= trail size.
    pub async fn consistency_proof(
        &self,
        caller: &Caller,
        old_size: u64,
        new_size: u64,
    ) -> Result<ConsistencyProofView, ServiceError> {
        self.check_audit_access(caller, "audit.consistency").await?;
        self.record_audit_read(caller, "audit.consistency", 0, None)
            .await?;
        let size = self.store.audit_size().await? as u64;
        if old_size == 0 || old_size > new_size || new_size > size {
            return Err(ServiceError::Invalid(format!(
                "need 0 < old <= new <= {size}"
            )));
        }
        let (tree, _) = self.tree(new_size).await?;
        let (Some(old_root), Some(new_root), Some(proof)) = (
            tree.root(old_size),
            tree.root(new_size),
            tree.consistency_proof(old_size, new_size),
        ) else {
            return Err(ServiceError::Invalid(format!(
                "tree sizes before the purge cut ({}) cannot be proven any more",
                tree.cut()
            )));
        };
        Ok(ConsistencyProofView {
            old_size,
            old_root: hex::encode(old_root),
            new_size,
            new_root: hex::encode(new_root),
            proof: proof.iter().map(hex::encode).collect(),
        })
    }

    /// Events matching `filter` (at most `limit`, after `after`), recorded as a read.
    ///
    /// # Errors
    /// `Forbidden` for callers without the permission.
    pub async fn audit_events(
        &self,
        caller: &Caller,
        filter: &AuditFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, ServiceError> {
        self.check_audit_access(caller, "audit.query").await?;
        let events = self
            .store
            .audit_query(filter, after, limit.clamp(1, 100_000))
            .await?;
        self.record_audit_read(caller, "audit.query", events.len() as i64, None)
            .await?;
        Ok(events)
    }

    /// Up to `limit` events matching `filter` before sequence `before` (all when `None`),
    /// newest first: how the web pages page back through a long trail.
    ///
    /// # Errors
    /// `Forbidden` for callers without the permission.
    pub async fn audit_events_newest(
        &self,
        caller: &Caller,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, ServiceError> {
        self.check_audit_access(caller, "audit.query").await?;
        let events = self
            .store
            .audit_query_newest(filter, before.unwrap_or(i64::MAX), limit.clamp(1, 100_000))
            .await?;
        self.record_audit_read(caller, "audit.query", events.len() as i64, None)
            .await?;
        Ok(events)
    }

    /// Every event matching `filter` plus the signed checkpoint covering them.
    ///
    /// # Errors
    /// `Forbidden` for callers without the permission.
    pub async fn audit_export(
        &self,
        caller: &Caller,
        filter: &AuditFilter,
    ) -> Result<(Vec<StoredEvent>, Checkpoint), ServiceError> {
        self.check_audit_access(caller, "audit.export").await?;
        let mut events = Vec::new();
        let mut after = 0;
        loop {
            let page = self.store.audit_query(filter, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            events.extend(page);
        }
        self.record_audit_read(caller, "audit.export", events.len() as i64, None)
            .await?;
        let covered = events.last().map_or(1, |e| e.seq as u64);
        let checkpoint = self.checkpoint_covering(caller, covered).await?;
        Ok((events, checkpoint))
    }

    /// The Merkle tree of the first `size` events (after the newest purge,
    /// from its frontier) and the kept events' chain hashes.
    async fn tree(&self, size: u64) -> Result<(PrunedTree, Vec<String>), ServiceError> {
        let purge = self.store.latest_purge().await?;
        let mut after = purge.as_ref().map_or(0, |p| p.cut_seq);
        let mut hashes = Vec::new();
        while (after as u64) < size {
            let page = self
                .store
                .audit_hashes(after, PAGE.min(size as i64 - after))
                .await?;
            let Some((last, _)) = page.last() else { break };
            after = *last;
            hashes.extend(page.into_iter().map(|(_, h)| h));
        }
        let tree = purge::tree(purge.as_ref(), &hashes)?;
        Ok((tree, hashes))
    }
}

/// Loads or creates the installation's checkpoint signing key (mode 0600) and
/// writes its public half beside it.
///
/// # Errors
/// When the file cannot be read, parsed or written.
pub fn load_or_create_checkpoint_key(path: &std::path::Path) -> anyhow::Result<CheckpointKey> {
    if path.exists() {
        return Ok(CheckpointKey::from_secret_hex(&std::fs::read_to_string(
            path,
        )?)?);
    }
    let key = CheckpointKey::generate();
    crate::fsutil::write_private(path, key.secret_hex().as_bytes())?;
    std::fs::write(
        path.with_extension("pub"),
        format!("{}\n", key.public_hex()),
    )?;
    Ok(key)
}

fn leaf(event: &StoredEvent) -> Hash {
    merkle::leaf_hash(&decode(&event.hash))
}

/// Chain hashes are hex written by us; a corrupt one becomes a leaf that can
/// never match, so verification reports it rather than panicking.
fn decode(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap_or_else(|_| text.as_bytes().to_vec())
}

fn check_signature(checkpoint: &Checkpoint, trusted: Option<&str>) -> Result<(), String> {
    match trusted {
        Some(key) => verify_signature(checkpoint, key).map_err(|e| e.to_string()),
        None => Err("no trusted checkpoint key to verify against".into()),
    }
}

fn check(
    checkpoint: &Checkpoint,
    frontier: &Frontier,
    trusted: Option<&str>,
) -> Result<(), String> {
    check_signature(checkpoint, trusted)?;
    if hex::encode(frontier.root()) != checkpoint.root_hash {
        return Err(format!(
            "log does not match the checkpoint at tree size {}: history was rewritten at or before sequence {}",
            checkpoint.tree_size, checkpoint.tree_size
        ));
    }
    Ok(())
}
