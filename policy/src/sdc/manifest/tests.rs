use expect_test::{Expect, expect};

use std::collections::BTreeMap;

use super::*;

/// The issue's example manifest.
const EXAMPLE: &str = r#"{ "version": 1,
  "outputs": [
    { "file": "by_age_sex.csv", "kind": "frequency_table", "dimensions": ["age_band","sex"], "count": "n" },
    { "file": "cost.csv", "kind": "magnitude_table", "statistic": "mean", "dimensions": ["age_band"], "value": "mean_cost",
      "evidence": "cost.evidence.csv" },
    { "file": "model.csv", "kind": "regression", "n_obs": 250, "residual_dof": 245 },
    { "file": "hist.png", "kind": "figure", "underlying": "hist_counts.csv" },
    { "file": "notes.txt", "kind": "text" } ] }"#;

fn files(names: &[&str]) -> BTreeMap<String, Vec<u8>> {
    names
        .iter()
        .map(|name| ((*name).to_owned(), Vec::new()))
        .collect()
}

fn all_files() -> BTreeMap<String, Vec<u8>> {
    files(&[
        "by_age_sex.csv",
        "cost.csv",
        "cost.evidence.csv",
        "model.csv",
        "hist.png",
        "hist_counts.csv",
        "notes.txt",
    ])
}

/// Parses and validates against `files`; renders the entries or the error.
fn check(json: &str, files: &BTreeMap<String, Vec<u8>>, expected: Expect) {
    let out = match Manifest::parse(json.as_bytes()).and_then(|m| m.validate(files).map(|()| m)) {
        Ok(manifest) => manifest
            .outputs
            .iter()
            .map(|spec| format!("line {}: {} {:?}\n", spec.line, spec.file, spec.kind))
            .collect(),
        Err(err) => format!("error: {err}\n"),
    };
    expected.assert_eq(&out);
}

#[test]
fn the_issue_example_parses() {
    check(
        EXAMPLE,
        &all_files(),
        expect![[r#"
        line 3: by_age_sex.csv FrequencyTable(TableSpec { dimensions: ["age_band", "sex"], value: "n", total_label: "Total" })
        line 4: cost.csv MagnitudeTable { table: TableSpec { dimensions: ["age_band"], value: "mean_cost", total_label: "Total" }, statistic: Mean, evidence: Some("cost.evidence.csv") }
        line 6: model.csv Regression { n_obs: Some(250), residual_dof: Some(245) }
        line 7: hist.png Figure { underlying: Some("hist_counts.csv") }
        line 8: notes.txt Text
    "#]],
    );
}

#[test]
fn files_named_but_absent_are_errors_naming_the_line() {
    let mut without_evidence = all_files();
    without_evidence.remove("cost.evidence.csv");
    check(
        EXAMPLE,
        &without_evidence,
        expect![[r#"
        error: manifest.json line 4: evidence file "cost.evidence.csv" is not among the outputs
    "#]],
    );
    let mut without_counts = all_files();
    without_counts.remove("hist_counts.csv");
    check(
        EXAMPLE,
        &without_counts,
        expect![[r#"
        error: manifest.json line 7: underlying file "hist_counts.csv" is not among the outputs
    "#]],
    );
    let mut without_output = all_files();
    without_output.remove("notes.txt");
    check(
        EXAMPLE,
        &without_output,
        expect![[r#"
        error: manifest.json line 8: output file "notes.txt" is not among the outputs
    "#]],
    );
}

#[test]
fn schema_errors_name_line_and_column() {
    let f = all_files();
    check(
        "{ \"version\": 1,\n  \"outputs\": [ { \"file\": \"a.csv\", \"kind\": \"spreadsheet\" } ] }",
        &f,
        expect![[r#"
        error: manifest.json line 2 column 55: unknown variant `spreadsheet`, expected one of `frequency_table`, `magnitude_table`, `regression`, `summary`, `figure`, `text`, `model`, `other`
    "#]],
    );
    check(
        "{ \"version\": 1,\n  \"outputs\": [\n { \"file\": \"notes.txt\", \"kind\": \"frequency_table\", \"count\": \"n\" } ] }",
        &f,
        expect![[r#"
        error: manifest.json line 3 column 67: missing field `dimensions`
    "#]],
    );
    check(
        "{ \"version\": 1, \"outputs\": [ { \"file\": \"notes.txt\", \"kind\": \"text\", \"colour\": 1 } ] }",
        &f,
        expect![[r#"
        error: manifest.json line 1 column 83: unknown field `colour`, expected `file`
    "#]],
    );
    check(
        "{ \"version\": 1,\n \"outputs\": [ ",
        &f,
        expect![[r#"
        error: manifest.json line 2 column 14: EOF while parsing a list
    "#]],
    );
    check(
        "{ \"version\": 2, \"outputs\": [] }",
        &f,
        expect![[r#"
        error: manifest.json line 1: unsupported manifest version 2 (expected 1)
    "#]],
    );
    check(
        "[1, 2]",
        &f,
        expect![[r#"
        error: manifest.json line 1 column 5: invalid type: integer `2`, expected a sequence
    "#]],
    );
    check(
        "",
        &f,
        expect![[r#"
        error: manifest.json line 1 column 0: EOF while parsing a value
    "#]],
    );
}

#[test]
fn non_utf8_manifest_names_the_line() {
    let bytes = b"{ \"version\": 1,\n \"outputs\": [ \xff ] }";
    let err = Manifest::parse(bytes).unwrap_err();
    expect![[r#"manifest.json line 2: not valid UTF-8"#]].assert_eq(&err.to_string());
}

#[test]
fn semantic_errors() {
    let f = files(&["a.csv", "b.csv"]);
    check(
        r#"{"version":1,"outputs":[{"file":"a.csv","kind":"text"},{"file":"a.csv","kind":"other"}]}"#,
        &f,
        expect![[r#"
        error: manifest.json line 1: "a.csv" has more than one entry
    "#]],
    );
    check(
        r#"{"version":1,"outputs":[{"file":"../etc/passwd","kind":"text"}]}"#,
        &f,
        expect![[r#"
        error: manifest.json line 1: file name "../etc/passwd" must be a relative path inside /out
    "#]],
    );
    check(
        r#"{"version":1,"outputs":[{"file":"manifest.json","kind":"text"}]}"#,
        &f,
        expect![[r#"
        error: manifest.json line 1: file name "manifest.json" must be a relative path inside /out
    "#]],
    );
    check(
        r#"{"version":1,"outputs":[{"file":"a.csv","kind":"magnitude_table","statistic":"sum","dimensions":["x"],"value":"v","evidence":"b.csv"},{"file":"b.csv","kind":"text"}]}"#,
        &f,
        expect![[r#"
            error: manifest.json line 1: "b.csv" is evidence and cannot also be an output
        "#]],
    );
    check(
        r#"{"version":1,"outputs":[{"file":"a.csv","kind":"frequency_table","dimensions":[],"count":"n"}]}"#,
        &f,
        expect![[r#"
        error: manifest.json line 1: a table needs at least one dimension column
    "#]],
    );
    check(
        r#"{"version":1,"outputs":[{"file":"a.csv","kind":"frequency_table","dimensions":["n"],"count":"n"}]}"#,
        &f,
        expect![[r#"
        error: manifest.json line 1: column "n" is named twice
    "#]],
    );
    check(
        r#"{"version":1,"outputs":[{"file":"a.csv","kind":"magnitude_table","statistic":"average","dimensions":["x"],"value":"v"}]}"#,
        &f,
        expect![[r#"
        error: manifest.json line 1 column 119: unknown variant `average`, expected one of `sum`, `mean`, `median`, `min`, `max`, `mode`, `std`
    "#]],
    );
}
