//! Job throughput and latency through the real SSH door, for 1 and 2 workers
//! on each backend. Prints jobs per second and p50/p99 submit-to-done; asserts
//! nothing about time.
//!
//!   cargo build --bins && sdk/build-examples.sh target/examples
//!   cargo bench -p enclave-tests --bench jobs            # debug binary
//!   ENCLAVE_BIN=target/release/enclave cargo bench -p enclave-tests --bench jobs
//!
//! PostgreSQL runs on a throwaway cluster (infra/postgres/test-cluster.sh), or
//! on the one named by ENCLAVE_TEST_PG_DIR.

#[path = "../it/support.rs"]
#[allow(
    dead_code,
    reason = "shared with the integration tests; the bench uses part of it"
)]
mod support;

use std::time::Instant;

use support::{PgCluster, Server, Stdin, database_in, text};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const JOBS: usize = 60;
const CLIENTS: usize = 4;

fn main() {
    let cluster = PgCluster::ensure();
    println!(
        "{:<10} {:>7} {:>6} {:>10} {:>10} {:>10} {:>12}",
        "backend", "workers", "jobs", "jobs/s", "p50 ms", "p99 ms", "submit ms"
    );
    for backend in ["sqlite", "postgres"] {
        for workers in [1, 2] {
            let url = (backend == "postgres").then(|| database_in(&cluster.dir));
            let (rate, p50, p99, submit) = run(url, workers);
            println!(
                "{backend:<10} {workers:>7} {JOBS:>6} {rate:>10.1} {p50:>10.1} {p99:>10.1} {submit:>12.1}"
            );
        }
    }
}

/// Returns (jobs per second, p50 and p99 submit-to-done in ms, mean SSH submit round trip in ms).
fn run(database_url: Option<String>, workers: u32) -> (f64, f64, f64, f64) {
    let mut server = Server::setup_only_with(database_url);
    let config = server.path().join("enclave.toml");
    let text_config = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text_config.replace("workers = 2", &format!("workers = {workers}")),
    )
    .expect("config");
    server.serve();
    let module = server.job_module("count_by_age.wasm");
    let started = Instant::now();
    let ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (server, module) = (&server, &module);
                scope.spawn(move || {
                    (0..JOBS / CLIENTS)
                        .map(|_| server.submit(Stdin::File(module), &[]))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("client"))
            .collect()
    });
    let submit_ms = started.elapsed().as_secs_f64() * 1000.0 / JOBS as f64 * CLIENTS as f64;
    let mut latencies = Vec::new();
    let (mut first, mut last) = (None::<OffsetDateTime>, None::<OffsetDateTime>);
    for id in &ids {
        let status = server.wait_finished(id);
        assert_eq!(
            status["state"],
            "succeeded",
            "{}",
            text(status.to_string().as_bytes())
        );
        let at = |key: &str| {
            OffsetDateTime::parse(status[key].as_str().expect("time"), &Rfc3339).expect("RFC 3339")
        };
        let (submitted, finished) = (at("submitted_at"), at("finished_at"));
        latencies.push((finished - submitted).as_seconds_f64() * 1000.0);
        first = Some(first.map_or(submitted, |f| f.min(submitted)));
        last = Some(last.map_or(finished, |l| l.max(finished)));
    }
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    let span = (last.expect("jobs") - first.expect("jobs")).as_seconds_f64();
    (JOBS as f64 / span, pick(0.5), pick(0.99), submit_ms)
}
