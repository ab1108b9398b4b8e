//! Standalone audit events (reads and refusals, which change nothing else) share one
//! multi-row insert and one durable commit with every other standalone event queued at the
//! same moment. Events that belong to a state change are appended in that change's own
//! transaction instead (`Store::append_audit`).
//!
//! Invariant: `append_audit_standalone` returns `Ok` only once its event is durable; if the
//! shared insert or commit fails, every event of that batch gets the error and none is kept.
//! Invariant: the chain and sequence are exactly as if the events were appended one by one
//! in queue order (same sealing, same monotonic time).

use std::sync::{Arc, Mutex};

use time::OffsetDateTime;
use tokio::sync::oneshot;

use super::{Backend, Store, StoreError, WriteTx};
use crate::audit::{NewEvent, StoredEvent, seal};

/// Most rows in one INSERT (16 parameters each, under SQLite's limit of 32,766).
const ROWS_PER_INSERT: usize = 500;

struct Pending {
    event: NewEvent,
    now: OffsetDateTime,
    reply: oneshot::Sender<Result<(), String>>,
}

/// The queue of standalone events and whether a leader is draining it.
#[derive(Clone, Default)]
pub(super) struct StandaloneQueue(Arc<Mutex<Queue>>);

#[derive(Default)]
struct Queue {
    items: Vec<Pending>,
    leader: bool,
}

impl std::fmt::Debug for StandaloneQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StandaloneQueue")
    }
}

impl StandaloneQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `pending`; true when the caller must lead (no leader is draining).
    fn push(&self, pending: Pending) -> bool {
        let mut queue = self.lock();
        queue.items.push(pending);
        !std::mem::replace(&mut queue.leader, true)
    }

    /// The next batch for the leader; an empty batch ends the leadership, atomically with
    /// the check, so an event queued later finds no leader and leads itself.
    fn next_batch(&self) -> Vec<Pending> {
        let mut queue = self.lock();
        let batch = std::mem::take(&mut queue.items);
        if batch.is_empty() {
            queue.leader = false;
        }
        batch
    }
}

impl Store {
    /// Appends one standalone event durably. On SQLite it joins the queue; whoever gets the
    /// writer next writes the whole queue in one insert and commits it. On PostgreSQL it is
    /// its own transaction (the server's group commit applies there).
    ///
    /// # Errors
    /// When the database fails; on SQLite also when the shared batch failed.
    pub async fn append_audit_standalone(
        &self,
        event: &NewEvent,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            let mut tx = self.begin_write().await?;
            Store::append_audit(&mut tx, event, now).await?;
            return tx.commit().await;
        }
        let (reply, done) = oneshot::channel();
        let lead = self.standalone.push(Pending {
            event: event.clone(),
            now,
            reply,
        });
        if lead {
            // The draining runs in its own task, so a caller that is cancelled (a client
            // that hangs up) cannot leave the queue without a leader.
            let store = self.clone();
            tokio::spawn(async move { store.drain_standalone().await });
        }
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(StoreError::Commit(message)),
            Err(_) => Err(StoreError::Commit("the audit batch was dropped".into())),
        }
    }

    /// Writes queued events until the queue is empty: each round is one insert and one
    /// commit for everything queued meanwhile.
    async fn drain_standalone(&self) {
        loop {
            let batch = self.standalone.next_batch();
            if batch.is_empty() {
                return;
            }
            let result = self.write_batch(&batch).await;
            for pending in batch {
                let _ = pending.reply.send(result.clone());
            }
        }
    }

    /// Writes one batch in its own write transaction and commits it.
    async fn write_batch(&self, batch: &[Pending]) -> Result<(), String> {
        let mut tx = self.begin_write().await.map_err(|e| e.to_string())?;
        let events: Vec<(&NewEvent, OffsetDateTime)> =
            batch.iter().map(|p| (&p.event, p.now)).collect();
        Store::append_audit_many(&mut tx, &events)
            .await
            .map_err(|e| e.to_string())?;
        tx.commit().await.map_err(|e| e.to_string())
    }

    /// Appends `events` in order inside `tx`, sealed exactly as one `append_audit` per
    /// event would, with multi-row inserts.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn append_audit_many(
        tx: &mut WriteTx,
        events: &[(&NewEvent, OffsetDateTime)],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let Some(((first, first_now), rest)) = events.split_first() else {
            return Ok(Vec::new());
        };
        // The first goes through the ordinary path (lock on PostgreSQL, head lookup).
        let mut stored = vec![Store::append_audit(tx, first, *first_now).await?];
        let mut sealed = Vec::with_capacity(rest.len());
        for (event, now) in rest {
            let previous = sealed.last().unwrap_or(&stored[0]);
            let mut time = super::format_time(*now)?;
            if time < previous.time {
                time.clone_from(&previous.time);
            }
            sealed.push(seal(event, previous.seq, &previous.hash, time));
        }
        for chunk in sealed.chunks(ROWS_PER_INSERT) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|row| {
                    let params: Vec<String> =
                        (1..=16).map(|col| format!("${}", row * 16 + col)).collect();
                    format!("({})", params.join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO audit_events (seq, time, actor, role, door, source, action, \
                 target, project, dataset, session, request_id, outcome, details, prev_hash, \
                 hash) VALUES {}",
                rows.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for event in chunk {
                query = query
                    .bind(event.seq)
                    .bind(event.time.clone())
                    .bind(event.actor.clone())
                    .bind(event.role.clone())
                    .bind(event.door.clone())
                    .bind(event.source.clone())
                    .bind(event.action.clone())
                    .bind(event.target.clone())
                    .bind(event.project.clone())
                    .bind(event.dataset.clone())
                    .bind(event.session.clone())
                    .bind(event.request_id.clone())
                    .bind(event.outcome.clone())
                    .bind(event.details.clone())
                    .bind(event.prev_hash.clone())
                    .bind(event.hash.clone());
            }
            query.execute(tx.conn()).await?;
        }
        if let Some(last) = sealed.last() {
            tx.set_audit_head(super::group::AuditHead {
                seq: last.seq,
                hash: last.hash.clone(),
                time: last.time.clone(),
            });
        }
        stored.extend(sealed);
        Ok(stored)
    }
}
