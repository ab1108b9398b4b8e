//! Issue 4: output checking. Jobs through the real SSH door get per-output verdicts that
//! researchers see as codes and counts, never contents; `enclave check-output` judges the
//! same files the same way offline and refuses unusable input with one clear line.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{Server, Stdin, audited, enclave_bin, text};

mod offline;
mod project_rules;
mod sdk;

const MANIFEST: &str = r#"{ "version": 1, "outputs": [
  { "file": "small.csv", "kind": "frequency_table", "dimensions": ["g"], "count": "n" },
  { "file": "big.csv", "kind": "frequency_table", "dimensions": ["g"], "count": "n" },
  { "file": "leak.csv", "kind": "frequency_table", "dimensions": ["g"], "count": "n" },
  { "file": "cost.csv", "kind": "magnitude_table", "statistic": "mean", "dimensions": ["g"],
    "value": "mean_cost", "evidence": "cost.evidence.csv" },
  { "file": "notes.txt", "kind": "text" } ] }"#;

/// Outputs of a job: a failing, a passing and a review table, a magnitude table with its
/// evidence, and text.
const FILES: [(&str, &str); 7] = [
    ("manifest.json", MANIFEST),
    ("small.csv", "g,n\na,3\nb,40\nc,52\nTotal,95\n"),
    ("big.csv", "g,n\na,30\nb,40\nTotal,70\n"),
    ("leak.csv", "g,n,secretcolumn\na,30,1\nb,40,2\nTotal,70,3\n"),
    ("cost.csv", "g,mean_cost\na,10\nb,20\n"),
    (
        "cost.evidence.csv",
        "g,n,sum,top1,top2\na,30,300,20,19\nb,40,800,30,29\n",
    ),
    ("notes.txt", "cohort: adults\n"),
];

/// A WASI module that writes `files` into `/out` (preopen fd 4; 3 is `/data`).
pub fn writer(files: &[(&str, &[u8])]) -> Vec<u8> {
    let escape = |bytes: &[u8]| -> String { bytes.iter().map(|b| format!("\\{b:02x}")).collect() };
    let (mut data, mut code, mut at) = (String::new(), String::new(), 1024usize);
    for (name, content) in files {
        let (name_at, content_at) = (at, at + name.len());
        at = content_at + content.len();
        data.push_str(&format!(
            "(data (i32.const {name_at}) \"{}\")\n(data (i32.const {content_at}) \"{}\")\n",
            escape(name.as_bytes()),
            escape(content)
        ));
        code.push_str(&format!(
            "(drop (call $open (i32.const 4) (i32.const 0) (i32.const {name_at}) (i32.const {})
               (i32.const 9) (i64.const 64) (i64.const 64) (i32.const 0) (i32.const 0)))
             (i32.store (i32.const 16) (i32.const {content_at}))
             (i32.store (i32.const 20) (i32.const {}))
             (drop (call $write (i32.load (i32.const 0)) (i32.const 16) (i32.const 1) (i32.const 32)))\n",
            name.len(),
            content.len()
        ));
    }
    let pages = at / 65536 + 1;
    let source = format!(
        r#"(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") {pages})
  {data}
  (func (export "_start") {code}))"#
    );
    wat::parse_str(source).expect("valid WAT")
}

fn as_bytes<'a>(files: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a [u8])> {
    files.iter().map(|(n, c)| (*n, c.as_bytes())).collect()
}

/// `outputs --json` of a finished job, by output name.
fn outputs(server: &Server, id: &str) -> BTreeMap<String, Value> {
    let status = server.wait_finished(id);
    assert_eq!(status["state"], "succeeded", "{status}");
    let out = server.ssh("alice", &["outputs", id, "--json"], Stdin::Null);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).expect("outputs JSON");
    json["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .map(|o| (o["name"].as_str().expect("name").to_owned(), o.clone()))
        .collect()
}

/// Runs `enclave check-output` with `args`.
pub fn check_output(args: &[&str]) -> Output {
    Command::new(enclave_bin())
        .arg("check-output")
        .args(args)
        .output()
        .expect("run enclave check-output")
}

/// Writes `files` into `dir`.
pub fn write_files(dir: &Path, files: &[(&str, &[u8])]) {
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).expect("write file");
    }
}

#[test]
fn job_outputs_carry_check_verdicts_but_never_contents() {
    let server = Server::demo();
    let id = server.submit(Stdin::Bytes(&writer(&as_bytes(&FILES))), &[]);
    let outs = outputs(&server, &id);
    let verdicts: BTreeMap<&str, &str> = outs
        .iter()
        .map(|(name, o)| (name.as_str(), o["verdict"].as_str().unwrap_or("-")))
        .collect();
    let expected: BTreeMap<&str, &str> = [
        ("big.csv", "pass"),
        ("cost.csv", "pass"),
        ("cost.evidence.csv", "fail"),
        ("leak.csv", "review"),
        ("manifest.json", "review"),
        ("notes.txt", "review"),
        ("small.csv", "fail"),
        ("stderr", "review"),
        ("stdout", "review"),
    ]
    .into();
    assert_eq!(verdicts, expected);
    let small = &outs["small.csv"];
    assert_eq!(
        small["reasons"],
        serde_json::json!([{"code": "threshold", "verdict": "fail", "cells": 1}])
    );
    assert_eq!(outs["cost.evidence.csv"]["never_release"], true);
    assert_eq!(outs["small.csv"]["never_release"], false);
    assert_eq!(outs["leak.csv"]["reasons"][0]["code"], "unchecked_columns");

    // The suggested safe version is quarantined under its hash.
    let suggested = &small["suggested"];
    assert_eq!(suggested["name"], "small.suggested.csv");
    let sha = suggested["sha256"].as_str().expect("sha");
    let bytes = std::fs::read(server.path().join("quarantine").join(sha)).expect("suggested");
    assert_eq!(hex::encode(Sha256::digest(&bytes)), sha);
    assert!(text(&bytes).contains("a,[REDACTED]"), "{}", text(&bytes));

    // The text listing shows verdicts and reason codes only.
    let listing = server.ssh("alice", &["outputs", &id], Stdin::Null);
    let listing = text(&listing.stdout);
    for fragment in [
        "fail: threshold (1 cell)",
        "checker evidence: never released",
        "suggested safe version: small.suggested.csv",
        "review: unchecked_columns",
    ] {
        assert!(listing.contains(fragment), "{fragment:?} in {listing}");
    }
    let status = server.ssh("alice", &["status", &id], Stdin::Null);
    let status = text(&status.stdout);
    assert!(status.contains("fail: threshold (1 cell)"), "{status}");
    for view in [&listing, &status] {
        assert!(
            !view.contains("secretcolumn") && !view.contains("[REDACTED]"),
            "contents leaked: {view}"
        );
    }

    // The whole record stays with the job, and the check is audited with it.
    let record = server.sql(&format!("SELECT check_record FROM jobs WHERE id = '{id}'"));
    let record = text(&record.stdout);
    assert!(
        record.contains("\"record_version\": 1") && record.contains(sha),
        "{record}"
    );
    let events = server.audit_events();
    assert!(audited(&events, "job.check", "ok", "\"record_sha256\""));
    assert!(audited(&events, "job.check", "ok", "threshold"));

    // Offline, `check-output` gives the same verdicts for the same files.
    let dir = tempfile::tempdir().expect("temp dir");
    write_files(dir.path(), &as_bytes(&FILES));
    let out = check_output(&[
        "--rules",
        "ndb",
        "--json",
        "--dir",
        &dir.path().display().to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let record: Value = serde_json::from_slice(&out.stdout).expect("record JSON");
    for output in record["outputs"].as_array().expect("outputs") {
        let name = output["file"].as_str().expect("file");
        assert_eq!(output["verdict"], outs[name]["verdict"], "{name}");
    }

    // Input the checker cannot use fails every output closed, without quoting it.
    let bad = r#"{ "version": 1, "outputs": [], "Psecretfield": 1 }"#;
    let id = server.submit(
        Stdin::Bytes(&writer(&[
            ("manifest.json", bad.as_bytes()),
            ("t.csv", b"g,n\na,30\n"),
        ])),
        &[],
    );
    let outs = outputs(&server, &id);
    for (name, output) in &outs {
        assert_eq!(output["verdict"], "fail", "{name}");
        assert_eq!(output["reasons"][0]["code"], "check_error", "{name}");
        assert_eq!(
            output["reasons"][0]["detail"],
            "manifest.json line 1: not valid JSON or not the manifest schema"
        );
    }
    let listing = server.ssh("alice", &["outputs", &id, "--json"], Stdin::Null);
    assert!(!text(&listing.stdout).contains("Psecretfield"));
    let events = server.audit_events();
    assert!(audited(
        &events,
        "job.check",
        "error",
        "not the manifest schema"
    ));
}

#[test]
fn example_jobs_write_manifests_the_checker_understands() {
    let server = Server::demo();
    let ages = server.submit(Stdin::File(&server.job_module("count_by_age.wasm")), &[]);
    let hba1c = server.submit(
        Stdin::File(&server.job_module("mean_hba1c_by_prefecture.wasm")),
        &[],
    );
    let ages = outputs(&server, &ages);
    assert_eq!(ages["count_by_age_sex.csv"]["verdict"], "pass", "{ages:?}");
    assert_eq!(
        ages["count_by_age_sex.csv"]["reasons"],
        serde_json::json!([])
    );
    let hba1c = outputs(&server, &hba1c);
    let table = &hba1c["mean_hba1c_by_prefecture.csv"];
    let codes: Vec<&str> = table["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .filter_map(|r| r["code"].as_str())
        .collect();
    // The count column is not checked by the rules: a person reviews it.
    assert!(codes.contains(&"unchecked_columns"), "{table}");
    let evidence = &hba1c["mean_hba1c_by_prefecture.evidence.csv"];
    assert_eq!(evidence["never_release"], true, "{evidence}");
    assert_eq!(evidence["verdict"], "fail");
}
