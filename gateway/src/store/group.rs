//! Group commit on SQLite: many logical write transactions share one
//! physical transaction and one fsync.
//!
//! One dedicated writer connection sits behind a fair (FIFO) mutex. A logical
//! transaction ([`GroupTx`]) holds the mutex for its whole life and runs inside
//! a `SAVEPOINT` of the long physical `BEGIN IMMEDIATE` transaction (a
//! "generation"). Its commit releases the savepoint, gives up the mutex, and
//! waits until its generation is resolved. The first commit of a generation
//! spawns the one flush task for it (detached, so a cancelled caller cannot
//! strand the batch); the task takes its turn on the mutex behind the writers
//! that queued meanwhile, so their changes join the same physical `COMMIT`:
//! one fsync for the batch. Resolutions are published in generation order on
//! a watch channel.
//!
//! Invariant: `commit` returns `Ok` only after the physical `COMMIT` that holds
//! the change returned (`synchronous = FULL`: durable); when that `COMMIT` (or
//! anything that breaks the physical transaction) fails, every logical
//! transaction of that batch gets the error.
//! Invariant: the physical transaction is open only while a logical
//! transaction runs or a commit waits for it, so the write lock is never held
//! by an idle gateway (the pool's readers and outside tools are not blocked).
//! Invariant: readers use the pool, so they see a change only once durable.
//! Invariant: a logical transaction dropped without `commit` is rolled back
//! to its savepoint before any other writer gets the connection.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{AnyConnection, Connection, Executor};
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

use super::StoreError;

/// The writer connection and the batches in flight.
pub(super) struct GroupWriter {
    state: Arc<Mutex<WriterState>>,
    shared: Arc<Shared>,
}

/// What committers read without the connection.
struct Shared {
    /// Batches with logical commits waiting for their outcome.
    batches: std::sync::Mutex<HashMap<u64, Batch>>,
    /// The highest resolved generation (generations resolve in order).
    resolved: watch::Sender<u64>,
}

impl std::fmt::Debug for GroupWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupWriter").finish_non_exhaustive()
    }
}

struct WriterState {
    conn: AnyConnection,
    /// Whether the physical transaction is open.
    open: bool,
    /// Whether a released savepoint holds changes not yet committed.
    dirty: bool,
    /// Number of the current (or last) physical transaction.
    generation: u64,
    /// A logical transaction was dropped without commit: roll back its savepoint first.
    pending_rollback: bool,
    /// The audit head including every released logical transaction of the
    /// open physical transaction.
    head: Option<AuditHead>,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Batch {
    /// Logical commits that have not yet read the outcome.
    waiters: usize,
    /// `None` while the physical transaction is open.
    outcome: Option<Result<(), Arc<str>>>,
}

/// While the physical transaction is open a savepoint is always set at the
/// end of the last released logical transaction ("armed"), so the next one
/// starts without a round trip: beginning the physical transaction sets it,
/// a commit releases it and sets the next in one call, and a rollback to it
/// keeps it. Logical transactions never nest, so one name suffices.
const BEGIN: &str = "BEGIN IMMEDIATE; SAVEPOINT enclave_write";
const RELEASE_AND_ARM: &str = "RELEASE SAVEPOINT enclave_write; SAVEPOINT enclave_write";
const ROLLBACK_TO: &str = "ROLLBACK TO SAVEPOINT enclave_write";

/// The newest audit event as the writer last left it: lets an append skip
/// reading it back. Host commands (`enclave admin`, `enclave audit`) are
/// other processes that append too, so the head is trusted only within one
/// physical transaction (which holds the database's write lock from `BEGIN
/// IMMEDIATE` to `COMMIT`): it is forgotten whenever one begins or fails.
#[derive(Clone, Debug)]
pub(super) struct AuditHead {
    pub(super) seq: i64,
    pub(super) hash: String,
    pub(super) time: String,
}

impl GroupWriter {
    /// Opens the dedicated writer connection with the same pragmas as the pool.
    pub(super) async fn connect(
        url: &str,
        pragmas: &'static str,
    ) -> Result<GroupWriter, StoreError> {
        let mut conn = AnyConnection::connect(url).await?;
        conn.execute(pragmas).await?;
        let shared = Arc::new(Shared {
            batches: std::sync::Mutex::new(HashMap::new()),
            resolved: watch::Sender::new(0),
        });
        Ok(GroupWriter {
            state: Arc::new(Mutex::new(WriterState {
                conn,
                open: false,
                dirty: false,
                generation: 0,
                pending_rollback: false,
                head: None,
                shared: Arc::clone(&shared),
            })),
            shared,
        })
    }

    /// Starts a logical transaction: waits for the connection (first come,
    /// first served), joins or opens the physical transaction, sets a savepoint.
    pub(super) async fn begin(&self) -> Result<GroupTx, StoreError> {
        let mut guard = Arc::clone(&self.state).lock_owned().await;
        guard.settle().await;
        if !guard.open {
            if let Err(error) = guard.conn.execute(BEGIN).await {
                // Whatever part of it ran, leave no transaction behind.
                let _ = guard.conn.execute("ROLLBACK").await;
                return Err(error.into());
            }
            guard.open = true;
            guard.dirty = false;
            guard.generation += 1;
            // Another process may have appended since our last commit.
            guard.head = None;
        }
        let head = guard.head.clone();
        Ok(GroupTx {
            head,
            guard: Some(guard),
            state: Arc::clone(&self.state),
            shared: Arc::clone(&self.shared),
        })
    }
}

/// One logical write transaction (see the module docs).
pub(super) struct GroupTx {
    /// The audit head as of this transaction's own appends.
    head: Option<AuditHead>,
    /// `None` once committed.
    guard: Option<OwnedMutexGuard<WriterState>>,
    state: Arc<Mutex<WriterState>>,
    shared: Arc<Shared>,
}

impl GroupTx {
    pub(super) fn conn(&mut self) -> &mut AnyConnection {
        match self.guard.as_mut() {
            Some(guard) => &mut guard.conn,
            // A committed GroupTx is consumed by `commit`, so no caller can reach this.
            None => unreachable!("a committed transaction is consumed"),
        }
    }

    /// The newest audit event, if the writer knows it.
    pub(super) fn audit_head(&self) -> Option<&AuditHead> {
        self.head.as_ref()
    }

    /// Records this transaction's newest appended event.
    pub(super) fn set_audit_head(&mut self, head: AuditHead) {
        self.head = Some(head);
    }

    /// Releases the savepoint and waits until the batch is durable.
    pub(super) async fn commit(mut self) -> Result<(), StoreError> {
        let Some(mut guard) = self.guard.take() else {
            return Err(StoreError::Corrupt("transaction already finished".into()));
        };
        if let Err(error) = guard.conn.execute(RELEASE_AND_ARM).await {
            // The physical transaction is in an unknown state: end it, and
            // every change of the batch with it.
            guard.abort(&error.to_string()).await;
            return Err(error.into());
        }
        guard.dirty = true;
        guard.head = self.head.take();
        let generation = guard.generation;
        // Subscribe before the connection is released: no resolution is missed.
        let mut resolved = self.shared.resolved.subscribe();
        let first = {
            let mut batches = self.shared.lock_batches();
            let batch = batches.entry(generation).or_default();
            batch.waiters += 1;
            batch.waiters == 1
        };
        let waiter = Waiter {
            shared: Arc::clone(&self.shared),
            generation,
        };
        drop(guard);
        if first {
            let state = Arc::clone(&self.state);
            tokio::spawn(async move {
                state.lock_owned().await.flush(generation).await;
            });
        }
        if resolved.wait_for(|done| *done >= generation).await.is_err() {
            return Err(StoreError::Commit("the writer is gone".into()));
        }
        match waiter.outcome() {
            Ok(()) => Ok(()),
            Err(message) => Err(StoreError::Commit(message.to_string())),
        }
    }
}

/// A commit waiting for its generation; leaves the batch when dropped (also
/// when the waiting caller is cancelled), and the last one removes it.
struct Waiter {
    shared: Arc<Shared>,
    generation: u64,
}

impl Waiter {
    fn outcome(&self) -> Result<(), Arc<str>> {
        self.shared
            .lock_batches()
            .get(&self.generation)
            .and_then(|batch| batch.outcome.clone())
            .unwrap_or_else(|| Err(Arc::from("write batch outcome lost")))
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut batches = self.shared.lock_batches();
        if let Some(batch) = batches.get_mut(&self.generation) {
            batch.waiters -= 1;
            if batch.waiters == 0 {
                batches.remove(&self.generation);
            }
        }
    }
}

impl Shared {
    fn lock_batches(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Batch>> {
        // Nothing panics while holding this lock; a poisoned map is still consistent.
        self.batches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for GroupTx {
    fn drop(&mut self) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        // Drop cannot run SQL: mark the rollback so whoever takes the
        // connection next performs it before anything else, and settle it now
        // on a task when a runtime is there (so an idle gateway does not keep
        // the write lock).
        guard.pending_rollback = true;
        drop(guard);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let state = Arc::clone(&self.state);
            runtime.spawn(async move {
                state.lock_owned().await.settle().await;
            });
        }
    }
}

impl WriterState {
    /// Performs a pending savepoint rollback and closes a physical transaction
    /// that holds nothing to commit.
    async fn settle(&mut self) {
        if self.pending_rollback {
            self.pending_rollback = false;
            if let Err(error) = self.conn.execute(ROLLBACK_TO).await {
                self.abort(&error.to_string()).await;
            }
        }
        self.close_if_clean().await;
    }

    async fn close_if_clean(&mut self) {
        if self.open && !self.dirty {
            if let Err(error) = self.conn.execute("ROLLBACK").await {
                tracing::error!(%error, "could not end an empty write transaction");
            }
            self.open = false;
        }
    }

    /// Ends the physical transaction after a failure: its batch fails.
    async fn abort(&mut self, message: &str) {
        if self.open {
            // May fail when SQLite already rolled back on its own; either way it is over.
            let _ = self.conn.execute("ROLLBACK").await;
            self.open = false;
            self.dirty = false;
            self.head = None;
            self.resolve(Err(Arc::from(message)));
        }
    }

    /// Records the current generation's outcome and publishes it.
    fn resolve(&mut self, outcome: Result<(), Arc<str>>) {
        if let Some(batch) = self.shared.lock_batches().get_mut(&self.generation) {
            batch.outcome = Some(outcome);
        }
        self.shared.resolved.send_replace(self.generation);
    }

    /// Commits `generation` if it is still open (it may already have failed).
    async fn flush(&mut self, generation: u64) {
        self.settle().await;
        if self.open && self.generation == generation {
            match self.conn.execute("COMMIT").await {
                Ok(_) => {
                    self.open = false;
                    self.dirty = false;
                    self.resolve(Ok(()));
                }
                Err(error) => self.abort(&error.to_string()).await,
            }
        }
    }
}

#[cfg(test)]
mod tests;
