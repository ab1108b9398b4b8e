//! A crash of the gateway leaves no job stuck in `running`.

use crate::support::{Server, Stdin, audited};

const SPIN: &str =
    r#"(module (memory (export "memory") 1) (func (export "_start") (loop (br 0))))"#;

#[test]
fn a_job_running_when_the_gateway_dies_is_recovered_after_restart() {
    let mut server = Server::setup_only();
    // A short wall-time limit so the recovered job ends quickly.
    let config_path = server.path().join("enclave.toml");
    let config = std::fs::read_to_string(&config_path).expect("config");
    std::fs::write(
        &config_path,
        config
            .replace("wall_time_seconds = 60", "wall_time_seconds = 3")
            .replace("workers = 2", "workers = 2\nlease_seconds = 3"),
    )
    .expect("write config");
    server.serve();

    let module = wat::parse_str(SPIN).expect("WAT");
    let id = server.submit(Stdin::Bytes(&module), &[]);
    server.wait_for(&id, |state| state == "running");
    server.kill();

    // The second start names the config file instead of the folder.
    server.serve_config(&config_path);
    let status = server.wait_finished(&id);
    assert_eq!(status["state"], "failed", "{status}");
    assert_eq!(status["reason"], "limit: wall time", "{status}");
    let events = server.audit_events();
    // One machine (SQLite) re-queues at start-up; on PostgreSQL other nodes may
    // still be running jobs, so recovery waits for the dead worker's lease to expire.
    let recovery = if server.database_url.is_some() {
        "job.lease_expired"
    } else {
        "job.recover"
    };
    assert!(
        audited(&events, recovery, "ok", "requeued"),
        "no {recovery} event"
    );
    let out = server.enclave(&["audit", "verify"]);
    assert!(out.status.success());
}
