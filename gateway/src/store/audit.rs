//! Audit rows: append inside a write transaction, read in sequence order.

use sqlx::Row;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Backend, Store, StoreError, WriteTx, corrupt};

/// Advisory-lock key that serializes audit appends on PostgreSQL.
const AUDIT_LOCK_KEY: i64 = 0x0065_6e63_6c61_7665; // "enclave"
use crate::audit::{GENESIS_HASH, NewEvent, StoredEvent, seal};

impl Store {
    /// Appends `event` as the next link of the chain, inside `tx`.
    /// The event's time is `now`, or the previous event's time if the clock
    /// went backwards, so times never decrease along the chain.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn append_audit(
        tx: &mut WriteTx,
        event: &NewEvent,
        now: OffsetDateTime,
    ) -> Result<StoredEvent, StoreError> {
        if tx.backend == Backend::Postgres {
            // Several gateway and worker processes append: serialize appends in the
            // database (held until commit), so the chain stays one gap-free sequence.
            sqlx::query("SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock($1)) AS l")
                .bind(AUDIT_LOCK_KEY)
                .execute(tx.conn())
                .await?;
        }
        let last =
            sqlx::query("SELECT seq, hash, time FROM audit_events ORDER BY seq DESC LIMIT 1")
                .fetch_optional(tx.conn())
                .await?;
        let (prev_seq, prev_hash, prev_time) = match last {
            Some(row) => (
                row.try_get::<i64, _>("seq")?,
                row.try_get::<String, _>("hash")?,
                row.try_get::<String, _>("time")?,
            ),
            None => (0, GENESIS_HASH.to_owned(), String::new()),
        };
        let mut time = format_time(now)?;
        if time < prev_time {
            time = prev_time;
        }
        let stored = seal(event, prev_seq, &prev_hash, time);
        sqlx::query(
            "INSERT INTO audit_events (seq, time, actor, role, door, source, action, target, \
             project, outcome, details, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(stored.seq)
        .bind(&stored.time)
        .bind(&stored.actor)
        .bind(&stored.role)
        .bind(&stored.door)
        .bind(&stored.source)
        .bind(&stored.action)
        .bind(&stored.target)
        .bind(&stored.project)
        .bind(&stored.outcome)
        .bind(&stored.details)
        .bind(&stored.prev_hash)
        .bind(&stored.hash)
        .execute(tx.conn())
        .await?;
        Ok(stored)
    }

    /// Up to `limit` events with sequence greater than `after`, in order.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn audit_page(&self, after: i64, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, time, actor, role, door, source, action, target, project, outcome, \
             details, prev_hash, hash FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredEvent {
                    seq: row.try_get("seq")?,
                    time: row.try_get("time")?,
                    actor: row.try_get("actor")?,
                    role: row.try_get("role")?,
                    door: row.try_get("door")?,
                    source: row.try_get("source")?,
                    action: row.try_get("action")?,
                    target: row.try_get("target")?,
                    project: row.try_get("project")?,
                    outcome: row.try_get("outcome")?,
                    details: row.try_get("details")?,
                    prev_hash: row.try_get("prev_hash")?,
                    hash: row.try_get("hash")?,
                })
            })
            .collect()
    }
}

/// Formats a time the way the store keeps it: RFC 3339 UTC with microseconds,
/// fixed width, so that text order is time order.
///
/// # Errors
/// Never for times between years 0 and 9999.
pub fn format_time(time: OffsetDateTime) -> Result<String, StoreError> {
    let utc = time.to_offset(time::UtcOffset::UTC);
    let micros = utc.microsecond();
    let base = utc
        .replace_nanosecond(0)
        .map_err(corrupt)?
        .format(&Rfc3339)
        .map_err(corrupt)?;
    // `base` ends in "Z" with no fraction; insert a fixed six-digit fraction.
    let stem = base.trim_end_matches('Z');
    Ok(format!("{stem}.{micros:06}Z"))
}
