//! `enclave check-output` on folders, and the researcher SDKs (C and Python, run natively
//! on the host) whose tables pass the checker by construction.

use std::process::Command;

use serde_json::Value;

use super::{FILES, as_bytes, check_output, write_files};
use crate::support::{repo_root, text};

fn dir_arg(dir: &tempfile::TempDir) -> String {
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
    let cases: [(&str, Vec<(&str, &[u8])>, &str); 6] = [
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

/// Verdict per file of `check-output --json` on `dir`.
fn verdicts(dir: &tempfile::TempDir, rules: &str) -> Vec<(String, String, Value)> {
    let out = check_output(&["--rules", rules, "--json", "--dir", &dir_arg(dir)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let record: Value = serde_json::from_slice(&out.stdout).expect("record");
    record["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .map(|o| {
            let name = o["file"].as_str().unwrap_or_default().to_owned();
            (
                name,
                o["verdict"].as_str().unwrap_or_default().to_owned(),
                o["reasons"].clone(),
            )
        })
        .collect()
}

/// Rows of a long-format table whose last column is a count: (dims, count).
fn rows(path: &std::path::Path) -> Vec<(String, u64)> {
    let csv = std::fs::read_to_string(path).expect("table");
    csv.lines()
        .skip(1)
        .filter_map(|line| {
            let (dims, count) = line.rsplit_once(',')?;
            Some((dims.to_owned(), count.parse().ok()?))
        })
        .collect()
}

/// Rounded cells, and margins that are the sums of the rounded cells.
fn assert_rounded_with_consistent_total(path: &std::path::Path) {
    let rows = rows(path);
    assert!(rows.iter().all(|(_, n)| n % 5 == 0), "{rows:?}");
    let cells: u64 = rows
        .iter()
        .filter(|(d, _)| !d.contains("Total"))
        .map(|r| r.1)
        .sum();
    let grand = rows
        .iter()
        .find(|(d, _)| d.split(',').all(|v| v == "Total"));
    assert_eq!(grand.map(|r| r.1), Some(cells), "{rows:?}");
}

#[test]
fn python_sdk_tables_pass_by_construction() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = format!(
        r#"
import random, sys
sys.path.insert(0, {sdk:?})
from enclave_sdk import FrequencyTable, MagnitudeTable, Outputs, SdkError
out, rng = Outputs({out:?}), random.Random(7)
visits = FrequencyTable("visits.csv", [("region", ["north", "south"]), ("sex", ["F", "M"]),
                        ("age", ["young", "old"])], count="n", round_to=5)
for _ in range(4000):
    visits.add(rng.choice(["north", "south"]), rng.choice(["F", "M"]), rng.choice(["young", "old"]))
out.write(visits)
cost = MagnitudeTable("cost.csv", [("region", ["north", "south"])], value="mean_cost")
for _ in range(200):
    cost.contribute(rng.choice(["north", "south"]), total=rng.uniform(100, 200))
out.write(cost)
with open({out:?} + "/notes.txt", "w") as f:
    f.write("two regions\n")
out.declare("notes.txt", "text")
try:
    FrequencyTable("ids.csv", [("person_id", ["a"])])
except SdkError as error:
    print("refused:", error)
out.write_manifest()
"#,
        sdk = repo_root().join("sdk/python").display().to_string(),
        out = dir_arg(&dir),
    );
    let run = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3");
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(
        text(&run.stdout).trim(),
        "refused: column 'person_id' looks like a person identifier"
    );
    assert_rounded_with_consistent_total(&dir.path().join("visits.csv"));
    let got = verdicts(&dir, "opensafely");
    let summary: Vec<(&str, &str)> = got
        .iter()
        .map(|(f, v, _)| (f.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("cost.csv", "pass"),
            ("cost.evidence.csv", "fail"),
            ("notes.txt", "review"),
            ("visits.csv", "pass"),
        ],
        "{got:?}"
    );
}

#[test]
fn c_sdk_tables_pass_by_construction() {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = dir.path().join("job.c");
    std::fs::write(
        &source,
        r#"
#define ENCLAVE_SDK_IMPLEMENTATION
#include "enclave_sdk.h"
#include <stdio.h>
int main(int argc, char **argv) {
    static const char *region[] = {"north", "south", "east"}, *sex[] = {"F", "M"};
    static const char *age[] = {"young", "old"};
    const char *dims[] = {"region", "sex", "age"};
    enc_set_out_dir(argv[1]);
    enc_table *t = enc_frequency_table("visits.csv", "n", 3, dims);
    if (!t || enc_levels(t, 0, 3, region) || enc_levels(t, 1, 2, sex) || enc_levels(t, 2, 2, age)
        || enc_round_to(t, 5))
        return printf("%s\n", enc_error()), 1;
    unsigned seed = 7;
    for (int i = 0; i < 6000; i++) {
        seed = seed * 1103515245u + 12345u;
        int cell[3] = {(int)(seed >> 8) % 3, (int)(seed >> 12) % 2, (int)(seed >> 16) % 2};
        enc_count(t, cell, 1);
    }
    int cell[3] = {0, 0, 0};
    if (enc_count(t, cell, -1) == 0)
        return printf("negative count accepted\n"), 1;
    printf("refused: %s\n", enc_error());
    enc_table *s = enc_magnitude_table("spend.csv", "total_spend", ENC_SUM, 1, dims);
    if (!s || enc_levels(s, 0, 3, region))
        return printf("%s\n", enc_error()), 1;
    for (int i = 0; i < 300; i++) {
        int r[1] = {i % 3};
        enc_contribute(s, r, 100.0 + i % 7, 1);
    }
    if (enc_write(t) || enc_write(s) || enc_write_manifest())
        return printf("%s\n", enc_error()), 1;
    (void)argc;
    return 0;
}
"#,
    )
    .expect("write job.c");
    let binary = dir.path().join("job");
    let out_dir = tempfile::tempdir().expect("temp dir");
    let build = Command::new("cc")
        .args(["-O1", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(repo_root().join("sdk/c"))
        .arg(&source)
        .arg("-o")
        .arg(&binary)
        .arg("-lm")
        .output()
        .expect("run cc");
    assert!(build.status.success(), "{}", text(&build.stderr));
    let run = Command::new(&binary)
        .arg(out_dir.path())
        .output()
        .expect("run job");
    assert!(run.status.success(), "{}", text(&run.stdout));
    assert_eq!(
        text(&run.stdout).trim(),
        "refused: visits.csv: counts cannot be negative"
    );
    assert_rounded_with_consistent_total(&out_dir.path().join("visits.csv"));
    let got = verdicts(&out_dir, "opensafely");
    let summary: Vec<(&str, &str)> = got
        .iter()
        .map(|(f, v, _)| (f.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("spend.csv", "pass"),
            ("spend.evidence.csv", "fail"),
            ("visits.csv", "pass"),
        ],
        "{got:?}"
    );
}
