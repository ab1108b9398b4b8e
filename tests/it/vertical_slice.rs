//! Issue 2: a researcher submits a WASM job over SSH, it runs sandboxed next
//! to the dataset, outputs are quarantined, and every action is audited.

use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{Server, Stdin, assert_refused, audited, psql, text};

const TRAP: &str = r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#;
const EXIT_3: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const 3))))"#;
const MEMORY_BOMB: &str = r#"(module (memory (export "memory") 1)
  (func (export "_start") (loop (br_if 0 (i32.ne (memory.grow (i32.const 256)) (i32.const -1))))))"#;

fn wasm(source: &str) -> Vec<u8> {
    wat::parse_str(source).expect("valid WAT")
}

#[test]
fn researcher_submits_jobs_and_sees_only_metadata_of_quarantined_outputs() {
    let server = Server::demo();

    let help = server.ssh("alice", &["help"], Stdin::Null);
    assert!(help.status.success());
    assert!(text(&help.stdout).contains("submit --project"));

    let who = server.ssh("alice", &["whoami", "--json"], Stdin::Null);
    let who: Value = serde_json::from_slice(&who.stdout).expect("whoami JSON");
    assert_eq!(who["user"], "alice");
    assert_eq!(who["roles"], serde_json::json!(["researcher"]));
    assert_eq!(who["projects"], serde_json::json!(["diabetes-study"]));

    // Submit as in the README, with an unquoted multi-word name.
    let module = server.job_module("count_by_age.wasm");
    let output = server.ssh(
        "alice",
        &[
            "submit",
            "--project",
            "diabetes-study",
            "--name",
            "HbA1c by age",
        ],
        Stdin::File(&module),
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let id = text(&output.stdout).lines().next().expect("id").to_owned();
    let status = server.wait_finished(&id);
    assert_eq!(status["state"], "succeeded", "{status}");
    assert_eq!(status["exit_code"], 0);
    assert_eq!(status["name"], "HbA1c by age");
    assert_eq!(status["dataset"], "claims-demo");
    let names: Vec<&str> = status["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["stdout", "stderr", "count_by_age_sex.csv", "manifest.json"]
    );

    // The quarantine holds exactly the listed bytes, named by their hash.
    for output in status["outputs"].as_array().expect("outputs") {
        let sha = output["sha256"].as_str().expect("sha");
        let bytes =
            std::fs::read(server.path().join("quarantine").join(sha)).expect("quarantined file");
        assert_eq!(hex::encode(Sha256::digest(&bytes)), sha);
        assert_eq!(output["size"].as_u64(), Some(bytes.len() as u64));
    }
    let csv_sha = status["outputs"][2]["sha256"]
        .as_str()
        .expect("sha")
        .to_owned();
    let csv =
        std::fs::read_to_string(server.path().join("quarantine").join(&csv_sha)).expect("csv");
    assert!(csv.starts_with("age_band,sex,n\n"), "{csv}");
    // Cells only: the SDK also writes Total margins (issue 4).
    let total: u64 = csv
        .lines()
        .skip(1)
        .filter(|l| !l.contains("Total"))
        .filter_map(|l| l.rsplit(',').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(total, 3000, "every synthetic patient is counted once");

    // `outputs` shows names, sizes and hashes, never contents.
    let listing = server.ssh("alice", &["outputs", &id], Stdin::Null);
    assert!(listing.status.success());
    let listing = text(&listing.stdout);
    assert!(listing.contains("count_by_age_sex.csv") && listing.contains(&csv_sha));
    assert!(
        !listing.contains("age_band") && !listing.contains("counted"),
        "contents leaked: {listing}"
    );

    // A rerun of the same module on the same dataset gives byte-identical outputs.
    let again = server.submit(Stdin::File(&module), &[]);
    let again = server.wait_finished(&again);
    assert_eq!(again["outputs"][2]["sha256"], csv_sha.as_str());

    // The second example joins person and measurement.
    let hba1c = server.submit(
        Stdin::File(&server.job_module("mean_hba1c_by_prefecture.wasm")),
        &[],
    );
    let hba1c = server.wait_finished(&hba1c);
    assert_eq!(hba1c["state"], "succeeded", "{hba1c}");
    // stdout, stderr, then files by name: manifest.json sorts first (issue 4).
    assert_eq!(hba1c["outputs"][3]["name"], "mean_hba1c_by_prefecture.csv");

    // Failures carry a named reason.
    for (source, reason) in [
        (TRAP, "trap: "),
        (EXIT_3, "exit 3"),
        (MEMORY_BOMB, "limit: memory"),
    ] {
        let id = server.submit(Stdin::Bytes(&wasm(source)), &[]);
        let status = server.wait_finished(&id);
        assert_eq!(status["state"], "failed", "{status}");
        assert!(
            status["reason"]
                .as_str()
                .unwrap_or_default()
                .starts_with(reason),
            "{status}"
        );
    }
    let exit3 = server.ssh("alice", &["jobs", "--json"], Stdin::Null);
    let jobs: Value = serde_json::from_slice(&exit3.stdout).expect("jobs JSON");
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(6));
    assert!(
        jobs["jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .any(|j| j["exit_code"] == 3)
    );

    // The HTTPS door answers its health check.
    let health = Command::new("curl")
        .args([
            "-sk",
            &format!("https://127.0.0.1:{}/healthz", server.https_port),
        ])
        .output()
        .expect("run curl");
    assert!(
        text(&health.stdout).contains("\"ok\""),
        "{}",
        text(&health.stdout)
    );

    // The run and its data access are in the audit trail.
    let events = server.audit_events();
    assert!(audited(&events, "job.submit", "ok", "\"module_sha256\""));
    assert!(audited(&events, "job.finish", "ok", "count_by_age_sex.csv"));
    assert!(audited(&events, "job.finish", "error", "limit: memory"));
}

#[test]
fn refusals_are_clear_change_nothing_and_are_audited() {
    let server = Server::demo();
    let module = server.job_module("count_by_age.wasm");
    let alice_job = server.submit(Stdin::File(&module), &[]);
    server.wait_finished(&alice_job);
    let jobs_before = std::fs::read_dir(server.path().join("modules"))
        .expect("modules")
        .count();

    // bob is a researcher in no project.
    let out = server.ssh(
        "bob",
        &["submit", "--project", "diabetes-study"],
        Stdin::File(&module),
    );
    assert_refused(&out, 3, "not a member of project diabetes-study");
    let out = server.ssh("bob", &["status", &alice_job], Stdin::Null);
    assert_refused(&out, 4, "no such job");
    // A checker cannot list jobs.
    let out = server.ssh("carol", &["jobs"], Stdin::Null);
    assert_refused(&out, 3, "requires role");

    // Bad input from a legitimate user.
    let out = server.ssh("alice", &["frobnicate"], Stdin::Null);
    assert_refused(&out, 2, "unknown command");
    let out = server.ssh(
        "alice",
        &["submit", "--project", "no-such-project"],
        Stdin::File(&module),
    );
    assert_refused(&out, 2, "unknown project no-such-project");
    let out = server.ssh(
        "alice",
        &["submit", "--project", "diabetes-study"],
        Stdin::Bytes(b"#!/bin/sh\nrm -rf /\n"),
    );
    assert_refused(&out, 2, "not a WebAssembly module");
    let out = server.ssh(
        "alice",
        &["submit", "--project", "diabetes-study"],
        Stdin::Null,
    );
    assert_refused(&out, 2, "empty module");

    // Sign-in refusals: unknown key, someone else's key, passwords.
    let stranger = server.path().join("stranger");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&stranger)
        .output()
        .expect("ssh-keygen");
    assert!(keygen.status.success());
    let stranger_key = stranger.to_str().expect("path");
    let out = server.ssh_with(
        &["-i", stranger_key, "-o", "IdentitiesOnly=yes"],
        "alice",
        &["whoami"],
        Stdin::Null,
    );
    assert_refused(&out, 255, "Permission denied (publickey)");
    let alice_key = server.key("alice");
    let out = server.ssh_with(
        &[
            "-i",
            alice_key.to_str().expect("path"),
            "-o",
            "IdentitiesOnly=yes",
        ],
        "bob",
        &["whoami"],
        Stdin::Null,
    );
    assert_refused(&out, 255, "Permission denied (publickey)");
    let out = server.ssh_with(
        &[
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
        ],
        "alice",
        &["whoami"],
        Stdin::Null,
    );
    assert_refused(&out, 255, "Permission denied (publickey)");

    // No shell, no PTY, no forwarding.
    let out = server.ssh("alice", &[], Stdin::Null);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("interactive shells are not available"));
    assert!(text(&out.stdout).is_empty());
    let out = server.ssh("alice", &["-tt"], Stdin::Null);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("PTY allocation request failed"),
        "{}",
        text(&out.stderr)
    );
    let out = server.ssh("alice", &["-W", "127.0.0.1:22"], Stdin::Null);
    assert_eq!(out.status.code(), Some(255));

    // Nothing changed: one job, one stored module.
    let jobs = server.ssh("alice", &["jobs", "--json"], Stdin::Null);
    let jobs: Value = serde_json::from_slice(&jobs.stdout).expect("jobs JSON");
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        std::fs::read_dir(server.path().join("modules"))
            .expect("modules")
            .count(),
        jobs_before
    );

    // Expired projects and disabled users are refused.
    let out = server.enclave(&[
        "admin",
        "project",
        "set-expiry",
        "diabetes-study",
        "2020-03-31",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = server.ssh(
        "alice",
        &["submit", "--project", "diabetes-study"],
        Stdin::File(&module),
    );
    assert_refused(&out, 3, "project diabetes-study expired on 2020-03-31");
    let out = server.enclave(&["admin", "user", "disable", "alice"]);
    assert!(out.status.success());
    let out = server.ssh("alice", &["whoami"], Stdin::Null);
    assert_refused(&out, 255, "Permission denied (publickey)");
    let out = server.enclave(&["admin", "user", "add", "Bad Name", "--role", "researcher"]);
    assert_refused(&out, 2, "invalid name");

    // Every refusal is in the audit trail with its reason.
    let events = server.audit_events();
    for (action, outcome, fragment) in [
        (
            "job.submit",
            "denied",
            "not a member of project diabetes-study",
        ),
        ("job.status", "denied", "not a member"),
        ("job.list", "denied", "requires role"),
        ("command.invalid", "error", "unknown command"),
        ("job.submit", "error", "unknown project no-such-project"),
        ("job.submit", "error", "not a WebAssembly module"),
        ("job.submit", "error", "empty module"),
        ("session.login", "denied", "key not registered"),
        ("session.login", "denied", "key registered to another user"),
        ("session.login", "denied", "no acceptable authentication"),
        (
            "command.invalid",
            "error",
            "interactive shell is not available",
        ),
        (
            "command.invalid",
            "error",
            "port forwarding is not available",
        ),
        ("admin.project.expiry", "ok", "2020-03-31"),
        ("job.submit", "denied", "expired on 2020-03-31"),
        ("admin.user.disable", "ok", ""),
        ("session.login", "denied", "account is disabled"),
        ("admin.user.add", "error", "invalid name"),
    ] {
        assert!(
            audited(&events, action, outcome, fragment),
            "no {action}/{outcome} event mentioning {fragment:?}"
        );
    }
    let seqs: Vec<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "sequence has gaps"
    );
}

#[test]
fn audit_verify_detects_an_altered_row() {
    let server = Server::demo();
    let id = server.submit(Stdin::File(&server.job_module("count_by_age.wasm")), &[]);
    server.wait_finished(&id);
    let out = server.enclave(&["audit", "verify"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("audit chain ok: "));

    // The store itself refuses changes to the trail.
    let out = server.sql("UPDATE audit_events SET actor = 'mallory' WHERE seq = 5;");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("append-only"),
        "{}",
        text(&out.stderr)
    );
    let out = server.sql("DELETE FROM audit_events WHERE seq = 5;");
    assert!(!out.status.success());
    if let Some(url) = &server.database_url {
        // On PostgreSQL the gateway's role lacks the privilege as well.
        let gateway_url = url.replace("enclave_owner@", "enclave_gateway@");
        let out = psql(
            &gateway_url,
            "UPDATE audit_events SET actor = 'mallory' WHERE seq = 5;",
        );
        assert!(
            text(&out.stderr).contains("permission denied"),
            "{}",
            text(&out.stderr)
        );
    }
    // Someone with write access to the file (or owner rights) can drop the guards;
    // verify catches the edit.
    let out = server.sql(&format!(
        "{} UPDATE audit_events SET actor = 'mallory' WHERE seq = 5;",
        server.drop_audit_guards()
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = server.enclave(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("sequence 5"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn deleting_or_reordering_audit_rows_is_detected() {
    let server = Server::setup_only();
    let out = server.sql(&format!(
        "{} DELETE FROM audit_events WHERE seq = 3;",
        server.drop_audit_guards()
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = server.enclave(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("sequence 3"),
        "{}",
        text(&out.stderr)
    );

    let other = Server::setup_only();
    let out = other.sql(&format!(
        "{} UPDATE audit_events SET seq = -seq WHERE seq IN (2, 3); \
         UPDATE audit_events SET seq = 3 WHERE seq = -2; UPDATE audit_events SET seq = 2 WHERE seq = -3;",
        other.drop_audit_guards()
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = other.enclave(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("sequence 2"),
        "{}",
        text(&out.stderr)
    );
}
