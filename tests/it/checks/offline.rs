//! `enclave check-output` on folders: verdicts with exit status 0, and unusable input
//! refused with one line naming the file and line.

use serde_json::Value;

use super::{FILES, as_bytes, check_output, write_files};
use crate::support::text;

/// Files of a test folder: (name, contents).
type Files<'a> = Vec<(&'a str, &'a [u8])>;

pub(super) fn dir_arg(dir: &tempfile::TempDir) -> String {
    dir.path().display().to_string()
}

#[test]
fn check_output_prints_verdicts_and_exits_zero_whatever_they_are() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_files(dir.path(), &as_bytes(&FILES));
    let out = check_output(&["--rules", "ndb", "--dir", &dir_arg(&dir)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    for fragment in [
        "overall: FAIL",
        "FAIL    small.csv (frequency_table)",
        "g=a = 3: fail",
        "fail threshold: ",
        "PASS    big.csv (frequency_table)",
        "FAIL    cost.evidence.csv (evidence)",
        "suggested safe version: small.suggested.csv (write it with --write-suggested DIR)",
    ] {
        assert!(report.contains(fragment), "{fragment:?} in {report}");
    }

    let suggested = tempfile::tempdir().expect("temp dir");
    let out = check_output(&[
        "--rules",
        "acro",
        "--dir",
        &dir_arg(&dir),
        "--json",
        "--write-suggested",
        &dir_arg(&suggested),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let record: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let small = record["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .find(|o| o["file"] == "small.csv")
        .expect("small.csv");
    assert_eq!(small["kind"], "frequency_table");
    assert_eq!(small["verdict"], "fail");
    assert_eq!(small["suggested"], "small.suggested.csv");
    let cell = &small["cells"][0];
    assert_eq!(cell["dims"], serde_json::json!({"g": "a"}));
    assert_eq!(cell["value"], 3);
    assert_eq!(cell["verdict"], "fail");
    assert_eq!(cell["reasons"][0]["code"], "threshold");
    let written = std::fs::read_to_string(suggested.path().join("small.suggested.csv"))
        .expect("suggested file written");
    assert!(written.contains("a,[REDACTED]"), "{written}");
}

#[test]
fn check_output_refuses_unusable_input_naming_file_and_line() {
    let good = r#"{"version": 1, "outputs": [
        {"file": "t.csv", "kind": "frequency_table", "dimensions": ["g"], "count": "n"}]}"#;
    let missing = r#"{"version": 1, "outputs": [
        {"file": "missing.csv", "kind": "text"}]}"#;
    let magnitude = r#"{"version": 1, "outputs": [
        {"file": "m.csv", "kind": "magnitude_table", "statistic": "sum", "dimensions": ["g"],
         "value": "v", "evidence": "m.evidence.csv"}]}"#;
    let nested = format!("{}{}", "[".repeat(300), "]".repeat(300));
    let cases: [(&str, Files<'_>, &str); 11] = [
        (
            "malformed JSON",
            vec![("manifest.json", b"{\"version\": 1,\n \"outputs\": [")],
            "manifest.json line 2 column",
        ),
        (
            "ragged CSV",
            vec![
                ("manifest.json", good.as_bytes()),
                ("t.csv", b"g,n\na,30\nb\n"),
            ],
            "t.csv line 3: row has 1 fields but the header has 2",
        ),
        (
            "manifest naming a missing file",
            vec![("manifest.json", missing.as_bytes())],
            "manifest.json line 2: output file \"missing.csv\" is not among the outputs",
        ),
        (
            "non-UTF-8 table",
            vec![
                ("manifest.json", good.as_bytes()),
                ("t.csv", b"g,n\n\xff\xfe,30\n"),
            ],
            "t.csv line 2: not valid UTF-8",
        ),
        (
            "a file above the size cap",
            vec![("big.txt", &[b'x'; 2048])],
            "big.txt: larger than the limit of 1000 bytes per file (--max-file-bytes)",
        ),
        (
            "non-UTF-8 manifest",
            vec![(
                "manifest.json",
                b"{\"version\": 1,\n \"outputs\": [\"\xff\"]}",
            )],
            "manifest.json line 2: not valid UTF-8",
        ),
        (
            "manifest naming a missing evidence file",
            vec![
                ("manifest.json", magnitude.as_bytes()),
                ("m.csv", b"g,v\na,1\n"),
            ],
            "manifest.json line 2: evidence file \"m.evidence.csv\" is not among the outputs",
        ),
        (
            "ragged evidence",
            vec![
                ("manifest.json", magnitude.as_bytes()),
                ("m.csv", b"g,v\na,1\n"),
                ("m.evidence.csv", b"g,n,sum,top1,top2\na,30,300,20\n"),
            ],
            "m.evidence.csv line 2: row has 4 fields but the header has 5",
        ),
        (
            "evidence missing a column",
            vec![
                ("manifest.json", magnitude.as_bytes()),
                ("m.csv", b"g,v\na,1\n"),
                ("m.evidence.csv", b"g,n,sum,top1\na,30,300,20\n"),
            ],
            "m.evidence.csv line 1:",
        ),
        (
            "JSON nested deeper than the parser allows",
            vec![("manifest.json", nested.as_bytes())],
            "manifest.json line 1 column",
        ),
        (
            "a count that is not a number",
            vec![
                ("manifest.json", good.as_bytes()),
                ("t.csv", b"g,n\na,many\n"),
            ],
            "t.csv line 2: value in column \"n\" is not a whole number of zero or more",
        ),
    ];
    for (what, files, fragment) in cases {
        let dir = tempfile::tempdir().expect("temp dir");
        write_files(dir.path(), &files);
        let out = check_output(&[
            "--rules",
            "ndb",
            "--max-file-bytes",
            "1000",
            "--dir",
            &dir_arg(&dir),
        ]);
        assert_unusable(&out, fragment, what);
    }

    let dir = tempfile::tempdir().expect("temp dir");
    write_files(dir.path(), &[("t.csv", b"g,n\n")]);
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("passwd.txt")).expect("symlink");
    let out = check_output(&["--rules", "ndb", "--dir", &dir_arg(&dir)]);
    assert_unusable(&out, "passwd.txt: is a symbolic link", "a symlink");
    let out = check_output(&["--rules", "lenient", "--dir", &dir_arg(&dir)]);
    assert_unusable(
        &out,
        "neither a preset (ndb, acro, opensafely)",
        "unknown rules",
    );
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "preset = \"acro\"\nthreshold = 0\n").expect("rules");
    let out = check_output(&[
        "--rules",
        &rules.display().to_string(),
        "--dir",
        "/nonexistent",
    ]);
    assert_unusable(
        &out,
        "rules.toml line 2: threshold must be between",
        "bad rules file",
    );
    let out = check_output(&["--rules", "ndb", "--dir", "/nonexistent/out"]);
    assert_unusable(&out, "/nonexistent/out: cannot read", "a missing folder");
}

#[track_caller]
fn assert_unusable(out: &std::process::Output, fragment: &str, what: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{what}: {stderr}");
    assert!(
        stderr.contains(fragment),
        "{what}: expected {fragment:?} in {stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{what}: one line: {stderr}");
    assert!(out.stdout.is_empty(), "{what}: no report on unusable input");
}
