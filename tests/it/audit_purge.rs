//! Issue 7: retention. Purging old events is an audited, checkpointed action
//! that keeps the trail verifiable: verify passes from the purge record,
//! proofs for kept events still check with an independent RFC 6962 verifier,
//! and tampering with kept events or with the purge record is still caught.

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

fn root(value: &Value, size: u64) -> ct_merkle::RootHash<sha2_11::Sha256> {
    ct_merkle::RootHash::new(hex32(value).into(), size)
}

fn hashes(value: &Value) -> Vec<u8> {
    value
        .as_array()
        .expect("path")
        .iter()
        .flat_map(hex32)
        .collect()
}

/// Appends `extra` to the installation's config.
fn configure(server: &Server, extra: &str) {
    let path = server.path().join("enclave.toml");
    let original = std::fs::read_to_string(&path).expect("config");
    std::fs::write(&path, format!("{original}\n{extra}")).expect("config");
}

/// SQL lifting the guard on purge records, as someone with owner access could.
fn drop_purge_guards(server: &Server) -> &'static str {
    match server.database_url {
        None => "DROP TRIGGER audit_purges_no_update;",
        Some(_) => "DROP TRIGGER audit_purges_no_update ON audit_purges;",
    }
}

#[test]
fn retention_below_a_year_needs_an_explicit_override() {
    let server = Server::setup_only();
    configure(&server, "[audit]\nretention_days = 30\n");
    let refused = server.enclave(&["audit", "verify"]);
    assert_eq!(refused.status.code(), Some(64), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("retention_days"));
}

#[test]
fn purging_old_events_keeps_the_trail_verifiable_and_tamper_evident() {
    let mut server = Server::setup_only();
    // Every event older than the purge itself is past a zero-day retention.
    configure(
        &server,
        "[audit]\nretention_days = 0\ndanger_allow_short_retention = true\n",
    );
    let kept = server.enclave(&["audit", "checkpoint"]);
    assert!(kept.status.success(), "{}", text(&kept.stderr));
    let old_checkpoint = server.path().join("old-checkpoint.json");
    std::fs::write(&old_checkpoint, &kept.stdout).expect("write");
    let before = server.audit_events();

    // An ordinary delete is refused by the store.
    let refused = server.sql("DELETE FROM audit_events WHERE seq = 1;");
    assert!(
        !refused.status.success(),
        "deleting an event must be refused"
    );

    // A dry run deletes nothing.
    let plan = json(&server.enclave(&["audit", "purge", "--dry-run"]));
    assert_eq!(plan["dry_run"], true);
    assert!(plan["record"].is_null());
    assert_eq!(server.audit_events()[0]["seq"], 1);

    let archive = server.path().join("purged.jsonl");
    let report = json(&server.enclave(&[
        "audit",
        "purge",
        "--archive",
        archive.to_str().expect("utf-8"),
    ]));
    let cut = report["record"]["cut_seq"].as_u64().expect("cut");
    assert!(
        cut as usize > before.len(),
        "the plan's own events go too: {report}"
    );
    let archived = std::fs::read(&archive).expect("archive");
    assert_eq!(
        report["archive_sha256"],
        hex::encode(<sha2_11::Sha256 as sha2_11::Digest>::digest(&archived)).as_str()
    );
    let archived: Vec<Value> = text(&archived)
        .lines()
        .map(|l| serde_json::from_str(l).expect("archived event"))
        .collect();
    assert_eq!(archived.len() as u64, cut);
    assert_eq!(archived[0], before[0], "archived verbatim");

    let events = server.audit_events();
    assert_eq!(
        events[0]["seq"].as_u64(),
        Some(cut + 1),
        "kept events start after the cut"
    );
    let purge = events
        .iter()
        .find(|e| e["action"] == "audit.purge")
        .expect("audit.purge event");
    let details: Value =
        serde_json::from_str(purge["details"].as_str().expect("details")).expect("details JSON");
    assert_eq!(details["cut_seq"].as_u64(), Some(cut));
    assert_eq!(details["root_hash"], report["record"]["root_hash"]);

    let verify = server.enclave(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify.stderr));
    assert!(text(&verify.stdout).contains(&format!("events 1..={cut} purged")));
    // A checkpoint from before the cut can no longer be checked against the log.
    let verify = server.enclave(&[
        "audit",
        "verify",
        "--checkpoint",
        old_checkpoint.to_str().expect("utf-8"),
    ]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        text(&verify.stderr).contains("predates the purge"),
        "{}",
        text(&verify.stderr)
    );

    // The gateway keeps appending after the purge: a job through SSH.
    server.serve();
    let id = server.submit(Stdin::File(&server.job_module("count_by_age.wasm")), &[]);
    server.wait_finished(&id);

    // An inclusion proof for a kept event, checked by an independent verifier.
    let seq = cut + 2;
    let proof = json(&server.enclave(&["audit", "proof", &seq.to_string()]));
    let size = proof["checkpoint"]["tree_size"].as_u64().expect("size");
    let inclusion =
        ct_merkle::InclusionProof::<sha2_11::Sha256>::from_bytes(hashes(&proof["proof"]));
    assert!(
        root(&proof["checkpoint"]["root_hash"], size)
            .verify_inclusion(&hex32(&proof["event_hash"]), seq - 1, &inclusion)
            .is_ok(),
        "inclusion proof after a purge rejected: {proof}"
    );
    let purged = server.enclave(&["audit", "proof", "1"]);
    assert!(!purged.status.success());
    assert!(
        text(&purged.stderr).contains("purged"),
        "{}",
        text(&purged.stderr)
    );

    // A consistency proof from the cut to now, checked independently.
    let now = server
        .audit_events()
        .last()
        .and_then(|e| e["seq"].as_u64())
        .expect("seq");
    let consistency =
        json(&server.enclave(&["audit", "consistency", &cut.to_string(), &now.to_string()]));
    assert_eq!(consistency["old_root"], report["record"]["root_hash"]);
    let proof = ct_merkle::ConsistencyProof::<sha2_11::Sha256>::try_from_bytes(hashes(
        &consistency["proof"],
    ))
    .expect("proof");
    assert!(
        root(&consistency["new_root"], now)
            .verify_consistency(&root(&consistency["old_root"], cut), &proof)
            .is_ok(),
        "consistency proof after a purge rejected: {consistency}"
    );
    let verify = server.enclave(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify.stderr));
    server.kill();

    // Tampering with the purge record is caught...
    let out = server.sql(&format!(
        "{} UPDATE audit_purges SET last_time = '2000-01-01T00:00:00.000000Z';",
        drop_purge_guards(&server)
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let verify = server.enclave(&["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        text(&verify.stderr).contains("purge record"),
        "{}",
        text(&verify.stderr)
    );
    let out = server.sql(&format!(
        "UPDATE audit_purges SET last_time = '{}';",
        report["record"]["last_time"].as_str().expect("time")
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(server.enclave(&["audit", "verify"]).status.success());

    // ...and so is an altered kept event, named by its sequence number.
    let victim = cut + 3;
    let out = server.sql(&format!(
        "{} UPDATE audit_events SET actor = 'mallory' WHERE seq = {victim};",
        server.drop_audit_guards()
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let verify = server.enclave(&["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        text(&verify.stderr).contains(&victim.to_string()),
        "{}",
        text(&verify.stderr)
    );
}
