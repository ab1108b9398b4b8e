//! Audit trail load figures: durable appends per second with 1, 8 and 64
//! concurrent appenders, each event in its own write transaction as the
//! service writes state changes; standalone events (reads, refusals) from 8 and
//! 64 concurrent callers sharing inserts and commits (SQLite group commit: concurrent transactions share an
//! fsync; one appender is the old one-fsync-per-event path), verify time per
//! million events (chain + Merkle), and inclusion proof size and time.
//! Prints; asserts nothing about time.
//!
//!   cargo bench --profile dev -p enclave-gateway --bench audit     # 1,000,000 events
//!   (the dev profile builds in seconds; SQLite and SHA-256 are optimized in it too)
//!   ENCLAVE_BENCH_EVENTS=100000 cargo bench --profile dev -p enclave-gateway --bench audit
//!
//! With the store's hot path optimized (the README's second set of figures), add
//! `--config 'profile.dev.package.<crate>.opt-level=3'` for each of enclave-gateway,
//! enclave-policy, tokio, sqlx, sqlx-core, sqlx-sqlite, serde, serde_json, time, flume,
//! futures-util, futures-core, futures-channel, futures-intrusive, bytes, tracing,
//! tracing-core, hashbrown, indexmap and smallvec (a separate CARGO_TARGET_DIR keeps the
//! everyday cache intact).

use std::time::Instant;

use enclave_gateway::audit::merkle::{self, Frontier, Hash};
use enclave_gateway::audit::{Door, NewEvent, Verifier};
use enclave_gateway::store::{AuditFilter, Store};

fn event(i: u64) -> NewEvent {
    let mut event = NewEvent::new("alice", Door::Ssh, "job.status");
    event.target = format!("j-{i:016x}");
    event.project = "diabetes-study".into();
    event.details = serde_json::json!({ "n": i });
    event
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let total: u64 = std::env::var("ENCLAVE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let store = Store::open(&Store::sqlite_url(&dir.path().join("bench.db"))).await?;
    let now = time::OffsetDateTime::now_utc();

    // Durable appends: one transaction per event; `commit` returns once the
    // event is on disk. Concurrent appenders share physical commits.
    let mut durable = 0u64;
    let mut rates = Vec::new();
    for (appenders, events) in [(1u64, 1_000u64), (8, 8_000), (64, 40_000)] {
        let events = events.min(total.saturating_sub(durable));
        if events < appenders {
            break;
        }
        let per_task = events / appenders;
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..appenders {
            let store = store.clone();
            let first = durable + task * per_task;
            tasks.spawn(async move {
                for i in first..first + per_task {
                    let mut tx = store.begin_write().await?;
                    Store::append_audit(&mut tx, &event(i), now).await?;
                    tx.commit().await?;
                }
                anyhow::Ok(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        let written = per_task * appenders;
        rates.push((appenders, written as f64 / start.elapsed().as_secs_f64()));
        durable += written;
    }

    // Standalone events (the service's reads and refusals): each caller waits for its own
    // event to be durable; concurrent callers share one multi-row insert and one commit.
    let mut standalone = Vec::new();
    for (appenders, events) in [(8u64, 8_000u64), (64, 40_000)] {
        let events = events.min(total.saturating_sub(durable));
        if events < appenders {
            break;
        }
        let per_task = events / appenders;
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..appenders {
            let store = store.clone();
            let first = durable + task * per_task;
            tasks.spawn(async move {
                for i in first..first + per_task {
                    store.append_audit_standalone(&event(i), now).await?;
                }
                Ok::<(), anyhow::Error>(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        let written = per_task * appenders;
        standalone.push((appenders, written as f64 / start.elapsed().as_secs_f64()));
        durable += written;
    }

    // Batched appends (many events per transaction) up to `total`.
    let start = Instant::now();
    let mut i = durable;
    while i < total {
        let mut tx = store.begin_write().await?;
        for _ in 0..10_000.min(total - i) {
            Store::append_audit(&mut tx, &event(i), now).await?;
            i += 1;
        }
        tx.commit().await?;
    }
    let batched = (total - durable) as f64 / start.elapsed().as_secs_f64().max(1e-9);

    // Verify: chain and Merkle root over everything.
    let start = Instant::now();
    let (mut verifier, mut frontier, mut after) = (Verifier::default(), Frontier::default(), 0);
    let mut leaves: Vec<Hash> = Vec::with_capacity(usize::try_from(total)?);
    loop {
        let page = store.audit_page(after, 20_000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            verifier.push(e)?;
            let leaf = merkle::leaf_hash(&hex::decode(&e.hash)?);
            frontier.push(leaf);
            leaves.push(leaf);
        }
    }
    let verify = start.elapsed().as_secs_f64();
    let root = frontier.root();

    let start = Instant::now();
    let index = leaves.len() / 3;
    let proof = merkle::inclusion_proof(index, &leaves);
    let prove = start.elapsed().as_secs_f64();
    assert!(merkle::verify_inclusion(
        index as u64,
        leaves.len() as u64,
        &leaves[index],
        &proof,
        &root
    ));

    // The compliance page: newest first, 50 per page, unfiltered and by a rare target (one
    // event at the start of the trail), against the same pages from one static query whose
    // optional filters read `($n IS NULL OR column = $n)` (the baseline: what the store did
    // before; it cannot use the `(column, seq)` indexes).
    let rare = AuditFilter {
        target: Some(format!("j-{:016x}", 10)),
        ..AuditFilter::default()
    };
    let pool = sqlx::AnyPool::connect(&Store::sqlite_url(&dir.path().join("bench.db"))).await?;
    let mut pages = Vec::new();
    for (label, filter, before) in [
        ("newest page", AuditFilter::default(), i64::MAX),
        (
            "page from the middle",
            AuditFilter::default(),
            (total / 2) as i64,
        ),
        ("rare target, newest", rare.clone(), i64::MAX),
    ] {
        let ours =
            time_it(|| async { Ok(store.audit_query_newest(&filter, before, 50).await?.len()) })
                .await?;
        let baseline = time_it(|| async { static_page(&pool, &filter, before).await }).await?;
        assert_eq!(ours.1, baseline.1, "{label}: both find the same events");
        pages.push((label, ours.0, baseline.0));
    }

    println!("events                         {}", verifier.count());
    for (appenders, rate) in &rates {
        println!("durable appends/s, {appenders:>2} appenders {rate:.0}");
    }
    for (appenders, rate) in &standalone {
        println!("standalone appends/s, {appenders:>2} callers {rate:.0}");
    }
    println!("batched appends/s (10k per tx) {batched:.0}");
    println!(
        "verify s per million events    {:.2}",
        verify * 1e6 / verifier.count() as f64
    );
    println!(
        "inclusion proof                {} hashes, {} bytes, {:.1} ms",
        proof.len(),
        proof.len() * 32,
        prove * 1000.0
    );
    for (label, ours, baseline) in &pages {
        println!(
            "audit page, {label:<20} {:.2} ms (static query {:.2} ms: {:.1}x)",
            ours * 1000.0,
            baseline * 1000.0,
            baseline / ours.max(1e-9)
        );
    }
    Ok(())
}

/// Best of five runs of `f`: (seconds, rows).
async fn time_it<F, Fut>(f: F) -> anyhow::Result<(f64, usize)>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    let mut best = (f64::MAX, 0);
    for _ in 0..5 {
        let start = Instant::now();
        let rows = f().await?;
        best = (best.0.min(start.elapsed().as_secs_f64()), rows);
    }
    Ok(best)
}

/// One newest-first page through a single static query with optional filters.
async fn static_page(
    pool: &sqlx::AnyPool,
    filter: &AuditFilter,
    before: i64,
) -> anyhow::Result<usize> {
    let rows = sqlx::query(
        "SELECT seq, time, actor, role, door, source, action, target, project, dataset, \
         session, request_id, outcome, details, prev_hash, hash FROM audit_events WHERE seq < $1 AND ($2 IS NULL OR actor = $2) \
         AND ($3 IS NULL OR project = $3) AND ($4 IS NULL OR target = $4) \
         AND ($5 IS NULL OR action = $5) ORDER BY seq DESC LIMIT 50",
    )
    .bind(before)
    .bind(filter.actor.as_deref())
    .bind(filter.project.as_deref())
    .bind(filter.target.as_deref())
    .bind(filter.action.as_deref())
    .fetch_all(pool)
    .await?;
    Ok(rows.len())
}
