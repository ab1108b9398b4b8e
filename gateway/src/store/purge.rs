//! Purge records and the one DELETE the audit tables allow: events at or
//! below the newest purge record's cut (the triggers of migration 0007
//! refuse every other UPDATE and DELETE).

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Store, StoreError, WriteTx, corrupt};

/// What a purge keeps of the events it removed: enough for the chain to
/// resume, for tree heads and proofs of later events, and for verification
/// to tie it to a signed checkpoint and to its `audit.purge` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeRecord {
    /// Events `1..=cut_seq` were removed (the Merkle tree size at the cut).
    pub cut_seq: i64,
    /// Chain hash of event `cut_seq` (event `cut_seq + 1` links to it).
    pub last_hash: String,
    /// Time of event `cut_seq` (later events are not older).
    pub last_time: String,
    /// RFC 6962 root of the first `cut_seq` events (hex).
    pub root_hash: String,
    /// The frontier at the cut: `(leaf count, root hex)` of each perfect
    /// subtree covering the purged events, leftmost first.
    pub frontier: Vec<(u64, String)>,
    /// When the purge happened.
    pub time: String,
}

impl Store {
    /// The newest purge record (largest cut), if any.
    ///
    /// # Errors
    /// When the database fails or the stored frontier is unreadable.
    pub async fn latest_purge(&self) -> Result<Option<PurgeRecord>, StoreError> {
        let row = sqlx::query(LATEST).fetch_optional(self.pool()).await?;
        row.as_ref().map(purge_row).transpose()
    }

    /// The newest purge record, read inside `tx`.
    ///
    /// # Errors
    /// When the database fails or the stored frontier is unreadable.
    pub async fn latest_purge_in(tx: &mut WriteTx) -> Result<Option<PurgeRecord>, StoreError> {
        let row = sqlx::query(LATEST).fetch_optional(tx.conn()).await?;
        row.as_ref().map(purge_row).transpose()
    }

    /// The highest sequence number of an event older than `before` (RFC 3339, store format).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn audit_last_before(&self, before: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT MAX(seq) AS seq FROM audit_events WHERE time < $1")
            .bind(before)
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("seq")?)
    }

    /// Chain hash and time of event `seq`, read inside `tx`.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn audit_link_in(
        tx: &mut WriteTx,
        seq: i64,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query("SELECT hash, time FROM audit_events WHERE seq = $1")
            .bind(seq)
            .fetch_optional(tx.conn())
            .await?;
        row.map(|row| Ok((row.try_get("hash")?, row.try_get("time")?)))
            .transpose()
    }

    /// Stores `record` and deletes events `..=record.cut_seq`, inside `tx`.
    /// Returns the number of events deleted.
    ///
    /// # Errors
    /// When the database fails or refuses (a serving role without DELETE).
    pub async fn purge_audit(tx: &mut WriteTx, record: &PurgeRecord) -> Result<u64, StoreError> {
        let frontier = serde_json::to_string(&record.frontier).map_err(corrupt)?;
        sqlx::query(
            "INSERT INTO audit_purges (id, cut_seq, last_hash, last_time, root_hash, frontier, time) \
             VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM audit_purges), $1, $2, $3, $4, $5, $6)",
        )
        .bind(record.cut_seq)
        .bind(&record.last_hash)
        .bind(&record.last_time)
        .bind(&record.root_hash)
        .bind(&frontier)
        .bind(&record.time)
        .execute(tx.conn())
        .await?;
        let deleted = sqlx::query("DELETE FROM audit_events WHERE seq <= $1")
            .bind(record.cut_seq)
            .execute(tx.conn())
            .await?;
        Ok(deleted.rows_affected())
    }
}

const LATEST: &str = "SELECT cut_seq, last_hash, last_time, root_hash, frontier, time \
     FROM audit_purges ORDER BY cut_seq DESC, id DESC LIMIT 1";

fn purge_row(row: &sqlx::any::AnyRow) -> Result<PurgeRecord, StoreError> {
    let frontier: String = row.try_get("frontier")?;
    Ok(PurgeRecord {
        cut_seq: row.try_get("cut_seq")?,
        last_hash: row.try_get("last_hash")?,
        last_time: row.try_get("last_time")?,
        root_hash: row.try_get("root_hash")?,
        frontier: serde_json::from_str(&frontier).map_err(corrupt)?,
        time: row.try_get("time")?,
    })
}
