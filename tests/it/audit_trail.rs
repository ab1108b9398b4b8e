//! Issue 7: Merkle checkpoints, proofs, queries and export, and tamper tests
//! that the hash chain alone would miss.

use serde_json::Value;

use crate::support::{Server, Stdin, text};

fn json(output: &std::process::Output) -> Value {
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

fn hex32(value: &Value) -> [u8; 32] {
    hex::decode(value.as_str().expect("hex"))
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

#[test]
fn compliance_gets_proofs_that_an_independent_verifier_accepts() {
    let server = Server::demo();
    let id = server.submit(Stdin::File(&server.job_module("count_by_age.wasm")), &[]);
    server.wait_finished(&id);

    // erin (compliance) asks over SSH; a researcher may not.
    let proof = json(&server.ssh("erin", &["audit", "proof", "3"], Stdin::Null));
    let checkpoint = &proof["checkpoint"];
    let size = checkpoint["tree_size"].as_u64().expect("size");
    assert!(size >= 3);
    let path: Vec<u8> = proof["proof"]
        .as_array()
        .expect("path")
        .iter()
        .flat_map(hex32)
        .collect();
    let root =
        ct_merkle::RootHash::<sha2_11::Sha256>::new(hex32(&checkpoint["root_hash"]).into(), size);
    let leaf = hex32(&proof["event_hash"]);
    let inclusion = ct_merkle::InclusionProof::<sha2_11::Sha256>::from_bytes(path);
    assert!(
        root.verify_inclusion(&leaf, 2, &inclusion).is_ok(),
        "RFC 6962 inclusion proof rejected"
    );
    assert!(
        root.verify_inclusion(&leaf, 3, &inclusion).is_err(),
        "proof must bind the index"
    );
    let public_key = text(&server.enclave(&["audit", "public-key"]).stdout)
        .trim()
        .to_owned();
    assert_eq!(checkpoint["public_key"], public_key.as_str());

    let denied = server.ssh("alice", &["audit", "proof", "3"], Stdin::Null);
    assert_eq!(denied.status.code(), Some(3), "{}", text(&denied.stderr));

    // Filtered export carries the covering checkpoint; CSV too.
    let export = server.ssh("erin", &["audit", "export", "--job", &id], Stdin::Null);
    assert!(export.status.success());
    let export = text(&export.stdout);
    let mut lines = export.lines();
    let head: Value = serde_json::from_str(lines.next().expect("checkpoint line")).expect("JSON");
    let events: Vec<Value> = lines
        .map(|l| serde_json::from_str(l).expect("event"))
        .collect();
    assert!(events.len() >= 3, "submit, start, finish: {events:?}");
    assert!(events.iter().all(|e| e["target"] == id.as_str()));
    let last = events.last().and_then(|e| e["seq"].as_u64()).expect("seq");
    assert!(head["checkpoint"]["tree_size"].as_u64().expect("size") >= last);
    let csv = server.ssh(
        "erin",
        &["audit", "export", "--format", "csv", "--outcome", "denied"],
        Stdin::Null,
    );
    let csv = text(&csv.stdout);
    assert!(csv.starts_with("# checkpoint: {"), "{csv}");
    assert!(
        csv.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("seq,time,actor"))
    );
    assert!(
        csv.contains("audit.proof"),
        "alice's refused proof request is in the denied export: {csv}"
    );

    // Filters by dataset and action.
    let listing = server.ssh(
        "erin",
        &[
            "audit",
            "--dataset",
            "claims-demo",
            "--action",
            "job.submit",
            "--json",
        ],
        Stdin::Null,
    );
    let listing = json(&listing);
    let events = listing["events"].as_array().expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["target"], id.as_str());

    // Verification over SSH and on the host, which also checks the stored checkpoints.
    let verify = server.ssh("erin", &["audit", "verify", "--json"], Stdin::Null);
    let report = json(&verify);
    assert!(report["problem"].is_null(), "{report}");
    assert!(report["checkpoints"].as_u64() >= Some(1));
    assert!(server.enclave(&["audit", "verify"]).status.success());
}

#[test]
fn rewriting_history_with_a_recomputed_chain_is_caught_by_checkpoints() {
    let server = Server::setup_only();
    let kept = server.enclave(&["audit", "checkpoint"]);
    assert!(kept.status.success(), "{}", text(&kept.stderr));
    let external = server.path().join("kept-by-the-regulator.json");
    std::fs::write(&external, &kept.stdout).expect("write checkpoint");
    assert!(
        server
            .enclave(&[
                "audit",
                "verify",
                "--checkpoint",
                external.to_str().expect("utf-8")
            ])
            .status
            .success()
    );

    // Rewrite event 4 and recompute every later hash so the chain itself verifies.
    let events = server.audit_events();
    let mut rewritten: Vec<enclave_gateway::audit::StoredEvent> = events
        .iter()
        .map(|e| serde_json::from_value(e.clone()).expect("stored event"))
        .collect();
    rewritten[3].actor = "mallory".into();
    for i in 3..rewritten.len() {
        if i > 3 {
            rewritten[i].prev_hash = rewritten[i - 1].hash.clone();
        }
        rewritten[i].hash = enclave_gateway::audit::event_hash(&rewritten[i]);
    }
    let mut sql = String::from(server.drop_audit_guards());
    for e in &rewritten[3..] {
        sql.push_str(&format!(
            " UPDATE audit_events SET actor = '{}', prev_hash = '{}', hash = '{}' WHERE seq = {};",
            e.actor, e.prev_hash, e.hash, e.seq
        ));
    }
    let out = server.sql(&sql);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let verify = server.enclave(&["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(1));
    let message = text(&verify.stderr);
    assert!(
        message.contains("does not match the checkpoint"),
        "{message}"
    );
    let verify = server.enclave(&[
        "audit",
        "verify",
        "--checkpoint",
        external.to_str().expect("utf-8"),
    ]);
    assert_eq!(verify.status.code(), Some(1));
}

#[test]
fn truncation_and_forged_checkpoints_are_caught() {
    let server = Server::setup_only();
    let checkpoint: Value =
        serde_json::from_slice(&server.enclave(&["audit", "checkpoint"]).stdout).expect("JSON");
    let size = checkpoint["tree_size"].as_i64().expect("size");

    // A checkpoint signed by someone else's key is rejected.
    let other = Server::setup_only();
    let foreign = other.enclave(&["audit", "checkpoint"]);
    let foreign_path = server.path().join("foreign.json");
    std::fs::write(&foreign_path, &foreign.stdout).expect("write");
    let verify = server.enclave(&[
        "audit",
        "verify",
        "--checkpoint",
        foreign_path.to_str().expect("utf-8"),
    ]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        text(&verify.stderr).contains("untrusted key"),
        "{}",
        text(&verify.stderr)
    );

    // Altering a stored checkpoint breaks its signature.
    let out = server.sql("UPDATE audit_checkpoints SET tree_size = tree_size - 1;");
    assert!(!out.status.success(), "checkpoints are append-only");

    // Dropping the newest events leaves a gap-free chain, but the checkpoint knows.
    let out = server.sql(&format!(
        "{} DELETE FROM audit_events WHERE seq >= {};",
        server.drop_audit_guards(),
        size - 1
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let verify = server.enclave(&["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        text(&verify.stderr).contains("events were removed"),
        "{}",
        text(&verify.stderr)
    );
}

#[test]
fn worker_nodes_sign_checkpoints_periodically() {
    let mut server = Server::setup_only();
    let config = server.path().join("enclave.toml");
    let text_config = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        format!("{text_config}\n[audit]\ncheckpoint_seconds = 10\n"),
    )
    .expect("config");
    server.serve();
    let start = std::time::Instant::now();
    loop {
        let events = server.audit_events();
        if let Some(event) = events.iter().find(|e| e["action"] == "audit.checkpoint") {
            assert!(
                event["actor"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("worker:")),
                "{event}"
            );
            assert_eq!(event["door"], "system");
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "no periodic checkpoint"
        );
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    let verify = server.enclave(&["audit", "verify"]);
    assert!(
        text(&verify.stdout).contains("1 checkpoints verified"),
        "{}",
        text(&verify.stdout)
    );
}

#[test]
fn a_crash_under_load_loses_no_acknowledged_action() {
    let mut server = Server::setup_only();
    server.serve();
    let module = server.job_module("count_by_age.wasm");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let acknowledged: Vec<String> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..3)
            .map(|_| {
                let (server, module, stop) = (&server, &module, &stop);
                scope.spawn(move || {
                    let mut seen = Vec::new();
                    // Bounded: at most 40 submissions per client.
                    for _ in 0..40 {
                        if stop.load(std::sync::atomic::Ordering::SeqCst) {
                            break;
                        }
                        let out = server.ssh(
                            "alice",
                            &["submit", "--project", "diabetes-study"],
                            Stdin::File(module),
                        );
                        if out.status.success() {
                            seen.push(text(&out.stdout).trim().to_owned());
                        }
                    }
                    seen
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let pid = server.pid().expect("running");
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        clients
            .into_iter()
            .flat_map(|c| c.join().expect("client"))
            .collect()
    });
    assert!(
        !acknowledged.is_empty(),
        "no submission was acknowledged before the crash"
    );
    server.kill();
    server.serve();
    let verify = server.enclave(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify.stderr));
    let events = server.audit_events();
    for id in &acknowledged {
        assert!(
            events.iter().any(|e| e["action"] == "job.submit"
                && e["outcome"] == "ok"
                && e["target"] == id.as_str()),
            "acknowledged job {id} is missing from the trail"
        );
    }
}

#[test]
fn provenance_of_a_job_answers_a_regulators_question_in_one_query() {
    let server = Server::demo();
    let id = server.submit(Stdin::File(&server.job_module("count_by_age.wasm")), &[]);
    let status = server.wait_finished(&id);
    let provenance = json(&server.ssh("erin", &["audit", "provenance", &id], Stdin::Null));
    assert_eq!(provenance["job_id"], id.as_str());
    assert_eq!(provenance["submitter"], "alice");
    assert_eq!(provenance["module_sha256"], status["module_sha256"]);
    assert_eq!(provenance["dataset"]["name"], "claims-demo");
    assert_eq!(provenance["dataset"]["class"], "pseudonymized");
    assert_eq!(
        provenance["project"]["organization"],
        "Example Pharma K.K. (certified user)"
    );
    assert_eq!(provenance["wasmtime_version"], "48.0.8");
    assert!(provenance["limits"]["memory_bytes"].as_u64().is_some());
    let outputs = provenance["outputs"].as_array().expect("outputs");
    assert!(
        outputs
            .iter()
            .any(|o| o["name"] == "count_by_age_sex.csv" && o["sha256"].is_string())
    );
    let actions: Vec<&str> = provenance["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in ["job.submit", "job.start", "job.finish"] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    // Researchers cannot read provenance; the refusal is itself recorded.
    let denied = server.ssh("alice", &["audit", "provenance", &id], Stdin::Null);
    assert_eq!(denied.status.code(), Some(3));
    let events = server.audit_events();
    assert!(events.iter().any(|e| e["action"] == "audit.provenance"
        && e["outcome"] == "denied"
        && e["actor"] == "alice"));
}
