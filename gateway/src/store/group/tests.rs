//! Group commit against a real SQLite file: concurrent commits are durable
//! and visible, a dropped transaction rolls back alone, a failed physical
//! commit fails every transaction of its batch, and the write lock is not
//! held once the writer is idle.

use std::time::Duration;

use sqlx::{Connection, Executor, Row};

use crate::audit::{Door, NewEvent, Verifier};
use crate::store::{Store, StoreError};

async fn store(dir: &tempfile::TempDir) -> Store {
    Store::open(&Store::sqlite_url(&dir.path().join("t.db")))
        .await
        .expect("open store")
}

fn event(n: u64) -> NewEvent {
    let mut event = NewEvent::new("alice", Door::Ssh, "job.status");
    event.target = format!("j-{n}");
    event
}

async fn parents(store: &Store) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM parent")
        .fetch_one(store.pool())
        .await
        .expect("count")
        .get("n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commits_are_one_gap_free_durable_chain() {
    let dir = tempfile::tempdir().expect("dir");
    let store = store(&dir).await;
    let now = time::OffsetDateTime::now_utc();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..16u64 {
        let store = store.clone();
        tasks.spawn(async move {
            for i in 0..25 {
                let mut tx = store.begin_write().await.expect("begin");
                Store::append_audit(&mut tx, &event(task * 100 + i), now)
                    .await
                    .expect("append");
                tx.commit().await.expect("commit");
                // Acknowledged means visible to the pool's readers.
                assert!(store.audit_size().await.expect("size") >= 1);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }
    let events = store.audit_page(0, 1000).await.expect("page");
    assert_eq!(events.len(), 400);
    let mut verifier = Verifier::default();
    for event in &events {
        verifier.push(event).expect("chain verifies");
    }
    drop(store);
    // A fresh process sees the same trail.
    let reopened = self::store(&dir).await;
    assert_eq!(reopened.audit_size().await.expect("size"), 400);
}

#[tokio::test]
async fn a_dropped_transaction_rolls_back_alone() {
    let dir = tempfile::tempdir().expect("dir");
    let store = store(&dir).await;
    let now = time::OffsetDateTime::now_utc();
    let mut kept = store.begin_write().await.expect("begin");
    Store::append_audit(&mut kept, &event(1), now)
        .await
        .expect("append");
    // Released but not yet flushed: the next transaction joins the same batch.
    let commit = tokio::spawn(kept.commit());
    let mut dropped = store.begin_write().await.expect("begin");
    let ghost = Store::append_audit(&mut dropped, &event(2), now)
        .await
        .expect("append");
    assert_eq!(ghost.seq, 2);
    drop(dropped);
    commit.await.expect("join").expect("commit");
    let mut next = store.begin_write().await.expect("begin");
    let stored = Store::append_audit(&mut next, &event(3), now)
        .await
        .expect("append");
    next.commit().await.expect("commit");
    assert_eq!(
        stored.seq, 2,
        "the rolled-back event left no trace in the chain"
    );
    let events = store.audit_page(0, 10).await.expect("page");
    assert_eq!(
        events.iter().map(|e| e.target.as_str()).collect::<Vec<_>>(),
        ["j-1", "j-3"]
    );
}

#[tokio::test]
async fn a_failed_physical_commit_fails_every_transaction_of_its_batch() {
    let dir = tempfile::tempdir().expect("dir");
    let store = store(&dir).await;
    // A deferred foreign key is checked at COMMIT, after every savepoint was
    // released: the one way to make the shared COMMIT itself fail.
    let mut tx = store.begin_write().await.expect("begin");
    tx.conn()
        .execute(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY); \
             CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER \
             REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .await
        .expect("schema");
    tx.commit().await.expect("commit schema");

    let mut bad = store.begin_write().await.expect("begin");
    bad.conn()
        .execute("INSERT INTO child (id, parent) VALUES (1, 42)")
        .await
        .expect("insert passes until commit");
    // Queue a second writer before the first releases the connection, so it
    // lands in the same batch ahead of the flush.
    let second = store.begin_write();
    tokio::pin!(second);
    assert!(
        tokio::time::timeout(Duration::ZERO, &mut second)
            .await
            .is_err(),
        "the second writer waits for the connection"
    );
    let bad_commit = tokio::spawn(bad.commit());
    let mut good = second.await.expect("begin");
    good.conn()
        .execute("INSERT INTO parent (id) VALUES (7)")
        .await
        .expect("insert");
    let good_result = good.commit().await;
    let bad_result = bad_commit.await.expect("join");
    assert!(
        matches!(bad_result, Err(StoreError::Commit(_))),
        "{bad_result:?}"
    );
    assert!(
        matches!(good_result, Err(StoreError::Commit(_))),
        "{good_result:?}"
    );
    assert_eq!(parents(&store).await, 0, "nothing of the batch was kept");

    // The writer carries on.
    let mut tx = store.begin_write().await.expect("begin");
    Store::append_audit(&mut tx, &event(1), time::OffsetDateTime::now_utc())
        .await
        .expect("append");
    tx.commit().await.expect("commit");
    assert_eq!(store.audit_size().await.expect("size"), 1);
}

#[tokio::test]
async fn an_idle_writer_holds_no_write_lock() {
    let dir = tempfile::tempdir().expect("dir");
    let store = store(&dir).await;
    let mut tx = store.begin_write().await.expect("begin");
    Store::append_audit(&mut tx, &event(1), time::OffsetDateTime::now_utc())
        .await
        .expect("append");
    tx.commit().await.expect("commit");
    let rolled_back = store.begin_write().await.expect("begin");
    drop(rolled_back);
    // Wait (bounded by count, not time) for the rollback task to take its turn.
    let mut other = sqlx::AnyConnection::connect(&Store::sqlite_url(&dir.path().join("t.db")))
        .await
        .expect("connect");
    other
        .execute("PRAGMA busy_timeout = 0")
        .await
        .expect("pragma");
    let mut locked = true;
    for _ in 0..1000 {
        if other.execute("BEGIN IMMEDIATE").await.is_ok() {
            locked = false;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(
        !locked,
        "another process can write once the gateway is idle"
    );
    other.execute("ROLLBACK").await.expect("rollback");
}

/// Host commands (`enclave admin`, `enclave audit`) are other processes
/// appending to the same file: the writer must not chain on a stale head.
#[tokio::test]
async fn another_process_appending_between_batches_keeps_one_chain() {
    let dir = tempfile::tempdir().expect("dir");
    let gateway = store(&dir).await;
    let host = store(&dir).await;
    let now = time::OffsetDateTime::now_utc();
    for (i, writer) in [&gateway, &host, &gateway, &host, &gateway]
        .iter()
        .enumerate()
    {
        let mut tx = writer.begin_write().await.expect("begin");
        Store::append_audit(&mut tx, &event(i as u64), now)
            .await
            .expect("append");
        tx.commit().await.expect("commit");
    }
    let events = gateway.audit_page(0, 10).await.expect("page");
    assert_eq!(events.len(), 5);
    let mut verifier = Verifier::default();
    for event in &events {
        verifier.push(event).expect("one chain");
    }
}

/// Standalone events from many tasks share inserts and commits; each caller returns only
/// once its own event is durable, and the result is one gap-free chain holding every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_events_share_inserts_and_stay_one_chain() {
    let dir = tempfile::tempdir().expect("dir");
    let store = store(&dir).await;
    let now = time::OffsetDateTime::now_utc();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..32u64 {
        let store = store.clone();
        tasks.spawn(async move {
            for i in 0..20 {
                let event = event(task * 100 + i);
                store
                    .append_audit_standalone(&event, now)
                    .await
                    .expect("append");
                // Acknowledged means durable and visible to the pool's readers.
                let seen = store
                    .audit_page(0, 100_000)
                    .await
                    .expect("page")
                    .iter()
                    .any(|e| e.target == event.target);
                assert!(seen, "acknowledged {} is not visible", event.target);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }
    // A state change's own transaction chains on after the shared batches.
    let mut tx = store.begin_write().await.expect("begin");
    Store::append_audit(&mut tx, &event(9_999), now)
        .await
        .expect("append");
    tx.commit().await.expect("commit");
    let events = store.audit_page(0, 10_000).await.expect("page");
    assert_eq!(events.len(), 32 * 20 + 1);
    let mut targets: Vec<&str> = events.iter().map(|e| e.target.as_str()).collect();
    targets.sort_unstable();
    targets.dedup();
    assert_eq!(targets.len(), 32 * 20 + 1, "every event exactly once");
    let mut verifier = Verifier::default();
    for event in &events {
        verifier.push(event).expect("chain verifies");
    }
}
