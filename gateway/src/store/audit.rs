//! Audit rows: append inside a write transaction, read in sequence order.

use sqlx::Row;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::group::AuditHead;
use super::{Backend, Store, StoreError, WriteTx, corrupt};

/// Advisory-lock key that serializes audit appends on PostgreSQL.
const AUDIT_LOCK_KEY: i64 = 0x0065_6e63_6c61_7665; // "enclave"
use crate::audit::checkpoint::Checkpoint;
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
        let (prev_seq, prev_hash, prev_time) = match tx.audit_head() {
            Some(head) => (head.seq, head.hash.clone(), head.time.clone()),
            None => Store::audit_head_in(tx).await?,
        };
        let mut time = format_time(now)?;
        if time < prev_time {
            time = prev_time;
        }
        let stored = seal(event, prev_seq, &prev_hash, time);
        sqlx::query(
            "INSERT INTO audit_events (seq, time, actor, role, door, source, action, target, \
             project, dataset, session, request_id, outcome, details, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
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
        .bind(&stored.dataset)
        .bind(&stored.session)
        .bind(&stored.request_id)
        .bind(&stored.outcome)
        .bind(&stored.details)
        .bind(&stored.prev_hash)
        .bind(&stored.hash)
        .execute(tx.conn())
        .await?;
        tx.set_audit_head(AuditHead {
            seq: stored.seq,
            hash: stored.hash.clone(),
            time: stored.time.clone(),
        });
        Ok(stored)
    }

    /// Sequence number, chain hash and time of the newest event, read inside `tx`.
    async fn audit_head_in(tx: &mut WriteTx) -> Result<(i64, String, String), StoreError> {
        let last =
            sqlx::query("SELECT seq, hash, time FROM audit_events ORDER BY seq DESC LIMIT 1")
                .fetch_optional(tx.conn())
                .await?;
        Ok(match last {
            Some(row) => (
                row.try_get::<i64, _>("seq")?,
                row.try_get::<String, _>("hash")?,
                row.try_get::<String, _>("time")?,
            ),
            // Empty: a fresh trail, or every event was purged (the chain
            // resumes from the purge record).
            None => match Store::latest_purge_in(tx).await? {
                Some(purge) => (purge.cut_seq, purge.last_hash, purge.last_time),
                None => (0, GENESIS_HASH.to_owned(), String::new()),
            },
        })
    }

    /// Up to `limit` events with sequence greater than `after`, in order.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn audit_page(&self, after: i64, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        self.audit_query(&AuditFilter::default(), after, limit)
            .await
    }

    /// Up to `limit` events matching `filter` with sequence greater than `after`, in order.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn audit_query(
        &self,
        filter: &AuditFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.audit_select(filter, after, limit, false).await
    }

    /// Up to `limit` events matching `filter` with sequence less than `before`, newest
    /// first (for paging back from the end of a long trail).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn audit_query_newest(
        &self,
        filter: &AuditFilter,
        before: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.audit_select(filter, before, limit, true).await
    }

    async fn audit_select(
        &self,
        filter: &AuditFilter,
        bound: i64,
        limit: i64,
        newest_first: bool,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let (compare, order) = if newest_first {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        // Only the filters given become conditions, so each can use its `(column, seq)`
        // index and a page costs the same at the end of a long trail as at its start
        // (`benches/audit.rs` measures it against one static query with `$n IS NULL OR`).
        let mut sql = format!(
            "SELECT seq, time, actor, role, door, source, action, target, project, dataset, \
             session, request_id, outcome, details, prev_hash, hash FROM audit_events \
             WHERE seq {compare} $1"
        );
        let conditions = [
            ("actor =", &filter.actor),
            ("project =", &filter.project),
            ("dataset =", &filter.dataset),
            ("target =", &filter.target),
            ("action =", &filter.action),
            ("outcome =", &filter.outcome),
            ("time >=", &filter.from),
            ("time <", &filter.to),
        ];
        let mut values = Vec::new();
        for (condition, value) in conditions {
            if let Some(value) = value {
                values.push(value.as_str());
                sql.push_str(&format!(" AND {condition} ${}", values.len() + 1));
            }
        }
        sql.push_str(&format!(
            " ORDER BY seq {order} LIMIT ${}",
            values.len() + 2
        ));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(bound);
        for value in values {
            query = query.bind(value);
        }
        let rows = query.bind(limit).fetch_all(self.pool()).await?;
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
                    dataset: row.try_get("dataset")?,
                    session: row.try_get("session")?,
                    request_id: row.try_get("request_id")?,
                    outcome: row.try_get("outcome")?,
                    details: row.try_get("details")?,
                    prev_hash: row.try_get("prev_hash")?,
                    hash: row.try_get("hash")?,
                })
            })
            .collect()
    }

    /// Number of events (the highest sequence number).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn audit_size(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS size FROM audit_events")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("size")?)
    }

    /// Chain hashes of events `after+1 ..= after+limit`, in order, with their sequence numbers.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn audit_hashes(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows =
            sqlx::query("SELECT seq, hash FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(after)
                .bind(limit)
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("seq")?, row.try_get("hash")?)))
            .collect()
    }

    /// Takes the audit append lock for the rest of `tx` (PostgreSQL; on SQLite
    /// the write transaction already holds the database lock).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn lock_audit(tx: &mut WriteTx) -> Result<(), StoreError> {
        if tx.backend == Backend::Postgres {
            sqlx::query("SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock($1)) AS l")
                .bind(AUDIT_LOCK_KEY)
                .execute(tx.conn())
                .await?;
        }
        Ok(())
    }

    /// Every event's chain hash, in sequence order, read inside `tx`.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn audit_leaves_in(tx: &mut WriteTx) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT hash FROM audit_events ORDER BY seq")
            .fetch_all(tx.conn())
            .await?;
        rows.iter().map(|row| Ok(row.try_get("hash")?)).collect()
    }

    /// Stores a signed checkpoint inside `tx`.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn insert_checkpoint(
        tx: &mut WriteTx,
        checkpoint: &Checkpoint,
    ) -> Result<(), StoreError> {
        let size = i64::try_from(checkpoint.tree_size).map_err(corrupt)?;
        sqlx::query(
            "INSERT INTO audit_checkpoints (id, tree_size, root_hash, time, public_key, signature) \
             VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM audit_checkpoints), $1, $2, $3, $4, $5)",
        )
        .bind(size)
        .bind(&checkpoint.root_hash)
        .bind(&checkpoint.time)
        .bind(&checkpoint.public_key)
        .bind(&checkpoint.signature)
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// Every stored checkpoint, oldest first.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let rows = sqlx::query(
            "SELECT tree_size, root_hash, time, public_key, signature FROM audit_checkpoints ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Checkpoint {
                    tree_size: u64::try_from(row.try_get::<i64, _>("tree_size")?)
                        .map_err(corrupt)?,
                    root_hash: row.try_get("root_hash")?,
                    time: row.try_get("time")?,
                    public_key: row.try_get("public_key")?,
                    signature: row.try_get("signature")?,
                })
            })
            .collect()
    }
}

/// Which audit events a query returns. `None` matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Exact actor.
    pub actor: Option<String>,
    /// Exact project.
    pub project: Option<String>,
    /// Exact dataset.
    pub dataset: Option<String>,
    /// Exact target (a job id, a user name...).
    pub target: Option<String>,
    /// Exact action code.
    pub action: Option<String>,
    /// `ok`, `denied` or `error`.
    pub outcome: Option<String>,
    /// Events at or after this RFC 3339 time.
    pub from: Option<String>,
    /// Events before this RFC 3339 time.
    pub to: Option<String>,
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
