//! The researcher SDKs (C and Python, run natively on the host against the same contract a
//! job has in `/out`): their tables pass `enclave check-output` by construction.

use std::process::Command;

use serde_json::Value;

use super::check_output;
use super::offline::dir_arg;
use crate::support::{repo_root, text};

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
try:
    out.figure("visits.png", visits)
except SdkError as error:
    print("refused:", error)
out.write(visits)
with open({out:?} + "/visits.png", "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n")
out.figure("visits.png", visits)
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
        "refused: visits.png: write its underlying counts visits.csv as a FrequencyTable first\n\
         refused: column 'person_id' looks like a person identifier"
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
            ("visits.png", "review"),
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
    if (enc_declare_figure("visits.png", "visits.csv") == 0)
        return printf("figure without its counts accepted\n"), 1;
    printf("refused: %s\n", enc_error());
    if (enc_write(t) || enc_write(s) || enc_declare_figure("visits.png", "visits.csv"))
        return printf("%s\n", enc_error()), 1;
    char png[512];
    snprintf(png, sizeof png, "%s/visits.png", argv[1]);
    FILE *f = fopen(png, "wb");
    if (!f || fwrite("\x89PNG\r\n\x1a\n", 1, 8, f) != 8 || fclose(f))
        return printf("cannot write %s\n", png), 1;
    if (enc_write_manifest())
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
        "refused: visits.csv: counts cannot be negative\n\
         refused: visits.png: write its underlying counts visits.csv with enc_write first"
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
            ("visits.png", "review"),
        ],
        "{got:?}"
    );
}
