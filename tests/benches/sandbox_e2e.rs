//! Issue 3 (e): latency from `submit` to `succeeded` for a small job through the real SSH
//! door, one job at a time on an idle gateway (SQLite). Prints the client-side `submit` time
//! and the server-side submitted→finished time; asserts nothing about time.
//!
//!   cargo build --bins && sdk/build-examples.sh target/examples
//!   cargo bench -p enclave-tests --bench sandbox_e2e

#[path = "../it/support.rs"]
#[allow(
    dead_code,
    reason = "shared with the integration tests; the bench uses part of it"
)]
mod support;

use std::time::Instant;

use support::{Server, Stdin};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const JOBS: usize = 20;

fn main() {
    let server = Server::demo();
    let small = wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "_start")))"#)
        .expect("WAT");
    let mut submit_ms = Vec::new();
    let mut done_ms = Vec::new();
    for _ in 0..JOBS {
        let started = Instant::now();
        let id = server.submit(Stdin::Bytes(&small), &[]);
        submit_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        let status = server.wait_finished(&id);
        assert_eq!(status["state"], "succeeded", "{status}");
        let at = |key: &str| {
            OffsetDateTime::parse(status[key].as_str().expect("time"), &Rfc3339).expect("RFC 3339")
        };
        done_ms.push((at("finished_at") - at("submitted_at")).as_seconds_f64() * 1000.0);
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    println!(
        "(e) small job through SSH, {JOBS} jobs one at a time: ssh submit p50 {:.1} ms, \
         submitted->succeeded p50 {:.1} ms",
        median(&mut submit_ms),
        median(&mut done_ms)
    );
}
