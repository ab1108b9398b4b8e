//! Per-project rules: `enclave admin project rules` tightens a project's preset freely,
//! loosens it only with `--allow-loosening` (refusals and loosenings audited), and the
//! worker then checks that project's outputs under the stored rules.

use serde_json::Value;

use super::{outputs, writer};
use crate::support::{Server, Stdin, assert_refused, audited, text};

/// A job whose table has one cell of 7: fails a threshold of 10 or 50, passes one of 5.
fn seven_job() -> Vec<u8> {
    let manifest = br#"{ "version": 1, "outputs": [
      { "file": "t.csv", "kind": "frequency_table", "dimensions": ["g"], "count": "n" } ] }"#;
    writer(&[
        ("manifest.json", manifest.as_slice()),
        ("t.csv", b"g,n\na,7\nb,60\nc,52\nTotal,119\n".as_slice()),
    ])
}

fn table_verdict(server: &Server, module: &[u8]) -> (String, Value) {
    let id = server.submit(Stdin::Bytes(module), &[]);
    let outs = outputs(server, &id);
    let table = &outs["t.csv"];
    (
        table["verdict"].as_str().unwrap_or("-").to_owned(),
        table["reasons"].clone(),
    )
}

fn set_rules(server: &Server, text_of_file: &str, extra: &[&str]) -> std::process::Output {
    let file = server.path().join("project-rules.toml");
    std::fs::write(&file, text_of_file).expect("rules file");
    let file = file.display().to_string();
    let mut args = vec![
        "admin",
        "project",
        "rules",
        "diabetes-study",
        "--rules",
        &file,
    ];
    args.extend_from_slice(extra);
    server.enclave(&args)
}

fn rules_events(server: &Server) -> Vec<Value> {
    server
        .audit_events()
        .into_iter()
        .filter(|e| e["action"] == "admin.project.rules")
        .collect()
}

#[test]
fn project_rules_tighten_freely_loosen_only_when_confirmed_and_drive_the_worker() {
    let server = Server::demo();
    let module = seven_job();

    // The demo project's preset (ndb, threshold 10) fails the cell of 7.
    let (verdict, reasons) = table_verdict(&server, &module);
    assert_eq!(verdict, "fail", "{reasons}");

    // Tightening needs no confirmation and takes effect for the next job.
    let out = set_rules(
        &server,
        "preset = \"ndb\"\nname = \"strict\"\nthreshold = 61\n",
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("now checks outputs under strict"),
        "{}",
        text(&out.stdout)
    );
    let (verdict, reasons) = table_verdict(&server, &module);
    assert_eq!(verdict, "fail");
    assert_eq!(
        reasons,
        serde_json::json!([{"code": "threshold", "verdict": "fail", "cells": 3}]),
        "b=60 and c=52 now fail too"
    );
    let events = server.audit_events();
    assert!(audited(&events, "job.check", "ok", "\"rules\":\"strict\""));

    // Loosening without confirmation is refused, audited with what it would loosen, and
    // changes nothing.
    let loose = "preset = \"ndb\"\nname = \"loose\"\nthreshold = 5\n";
    let out = set_rules(&server, loose, &[]);
    assert_refused(&out, 3, "pass --allow-loosening to confirm");
    assert!(
        text(&out.stderr).contains("threshold"),
        "{}",
        text(&out.stderr)
    );
    let events = rules_events(&server);
    let denied = events.last().expect("refusal recorded");
    assert_eq!(denied["outcome"], "denied");
    let details = denied["details"].as_str().expect("details");
    assert!(
        details.contains("threshold lowered from 10 to 5"),
        "{details}"
    );
    let (verdict, _) = table_verdict(&server, &module);
    assert_eq!(verdict, "fail", "the strict rules still apply");

    // Switching to another preset is judged against the project's own preset: OpenSAFELY's
    // threshold of 8 is looser than NDB's 10.
    let out = set_rules(&server, "preset = \"opensafely\"\n", &[]);
    assert_refused(&out, 3, "threshold");

    // Confirmed, the loosening is stored, listed in the audit event and used by the worker.
    let out = set_rules(&server, loose, &["--allow-loosening"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("loosened: threshold lowered from 10 to 5"),
        "{}",
        text(&out.stdout)
    );
    let events = rules_events(&server);
    let allowed = events.last().expect("change recorded");
    assert_eq!(allowed["outcome"], "ok");
    assert_eq!(allowed["project"], "diabetes-study");
    let details: Value =
        serde_json::from_str(allowed["details"].as_str().expect("details")).expect("JSON");
    assert_eq!(details["allow_loosening"], true);
    assert_eq!(details["loosenings"][0]["parameter"], "threshold");
    assert_eq!(details["rules"], "loose");
    let (verdict, reasons) = table_verdict(&server, &module);
    assert_eq!(verdict, "pass", "{reasons}");

    // The stored rules are every parameter, matching the audited hash.
    let stored =
        server.sql_value("SELECT sha256 FROM project_rules WHERE project = 'diabetes-study'");
    assert_eq!(stored, details["rules_sha256"].as_str().expect("hash"));

    // Stored rules altered behind the service's back fail every output closed.
    let out = server.sql(
        "UPDATE project_rules SET rules_toml = replace(rules_toml, 'threshold = 5', \
         'threshold = 1') WHERE project = 'diabetes-study'",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = server.submit(Stdin::Bytes(&module), &[]);
    let outs = outputs(&server, &id);
    for (name, output) in &outs {
        assert_eq!(output["verdict"], "fail", "{name}");
        assert_eq!(output["reasons"][0]["code"], "check_error", "{name}");
        assert_eq!(
            output["reasons"][0]["detail"],
            "the project's stored rule set does not match its hash"
        );
    }
}

#[test]
fn unusable_rules_files_and_unknown_projects_are_refused_with_file_and_line() {
    let server = Server::demo();
    let out = set_rules(&server, "preset = \"ndb\"\n\nthreshold = \"ten\"\n", &[]);
    assert_refused(&out, 2, "project-rules.toml line 3:");
    let out = set_rules(&server, "preset = \"ndb\"\nthreshold = 0\n", &[]);
    assert_refused(
        &out,
        2,
        "project-rules.toml line 2: threshold must be between",
    );
    let out = set_rules(&server, "preset = \"ndb\"\nmystery = 1\n", &[]);
    assert_refused(&out, 2, "project-rules.toml line 2:");

    let file = server.path().join("latin1.toml");
    std::fs::write(&file, b"preset = \"ndb\"\nname = \"caf\xe9\"\n").expect("file");
    let out = server.enclave(&[
        "admin",
        "project",
        "rules",
        "diabetes-study",
        "--rules",
        &file.display().to_string(),
    ]);
    assert_refused(&out, 2, "latin1.toml line 2: not UTF-8 text");

    let file = server.path().join("project-rules.toml");
    let out = server.enclave(&[
        "admin",
        "project",
        "rules",
        "no-such-project",
        "--rules",
        &file.display().to_string(),
    ]);
    assert_refused(&out, 4, "unknown project no-such-project");

    let events = rules_events(&server);
    assert_eq!(events.len(), 5, "every refusal is audited: {events:?}");
    assert!(events.iter().all(|e| e["outcome"] == "error"));
    assert!(server.sql_value("SELECT count(*) FROM project_rules") == "0");
}
