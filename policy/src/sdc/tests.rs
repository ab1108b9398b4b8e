//! End-to-end tests of `check_outputs`: the issue's manifest, the JSON record, errors, the
//! researcher-redacted tables ACRO gets wrong, differencing, and the property tests (a
//! stricter rule set never passes more; no panic or NaN on any input).

use std::collections::BTreeMap;

use expect_test::{Expect, expect};

use super::*;

mod props;

const MANIFEST: &str = r#"{ "version": 1,
  "outputs": [
    { "file": "by_age_sex.csv", "kind": "frequency_table", "dimensions": ["age_band","sex"], "count": "n" },
    { "file": "cost.csv", "kind": "magnitude_table", "statistic": "mean", "dimensions": ["age_band"], "value": "mean_cost",
      "evidence": "cost.evidence.csv" },
    { "file": "model.csv", "kind": "regression", "n_obs": 250, "residual_dof": 245 },
    { "file": "hist.png", "kind": "figure", "underlying": "hist_counts.csv" },
    { "file": "notes.txt", "kind": "text" } ] }"#;

fn example() -> BTreeMap<String, Vec<u8>> {
    let files: [(&str, &[u8]); 9] = [
        ("manifest.json", MANIFEST.as_bytes()),
        ("by_age_sex.csv", b"age_band,sex,n\n0-19,f,4\n0-19,m,22\n0-19,Total,26\n20-64,f,130\n20-64,m,118\n20-64,Total,248\n65+,f,61\n65+,m,0\n65+,Total,61\nTotal,f,195\nTotal,m,140\nTotal,Total,335\n"),
        ("cost.csv", b"age_band,mean_cost\n0-19,1200.5\n20-64,3400\n65+,9100\n"),
        ("cost.evidence.csv", b"age_band,n,sum,top1,top2,negatives,missing\n0-19,26,31213,5000,4000,0,0\n20-64,248,843200,700000,90000,0,0\n65+,61,555100,20000,15000,1,0\n"),
        ("model.csv", b"term,estimate,se\nintercept,1.2,0.1\nage,0.03,0.01\n"),
        ("hist.png", b"\x89PNG\r\n\x1a\n"),
        ("hist_counts.csv", b"bin,count\n0-10,14\n10-20,3\n20-30,40\n"),
        ("notes.txt", b"cohort: adults with type 2 diabetes\n"),
        ("debug.log", b"row P0123456789abcdef failed\n"),
    ];
    files
        .iter()
        .map(|(name, bytes)| ((*name).to_owned(), bytes.to_vec()))
        .collect()
}

/// Renders the record compactly: one line per output, one per non-passing cell, and the
/// suggested files.
fn check(files: &BTreeMap<String, Vec<u8>>, rules: &RuleSet, ledger: &Ledger, expected: Expect) {
    let out = match check_outputs(files, rules, ledger, "test") {
        Ok(record) => render(&record),
        Err(err) => format!("error: {err}\n"),
    };
    expected.assert_eq(&out);
}

fn render(record: &CheckRecord) -> String {
    let mut out = format!("overall {}\n", record.verdict.as_str());
    for output in &record.outputs {
        let codes: Vec<String> = output
            .reasons
            .iter()
            .map(|r| format!("{:?}", r.code))
            .collect();
        out.push_str(&format!(
            "{} [{:?}] {} {}\n",
            output.file,
            output.kind,
            output.verdict.as_str(),
            codes.join(",")
        ));
        for cell in output
            .cells
            .iter()
            .filter(|c| c.verdict != Verdict::Pass || c.suppressed.is_some())
        {
            let dims: Vec<&str> = cell.dims.values().map(String::as_str).collect();
            let codes: Vec<String> = cell
                .reasons
                .iter()
                .map(|r| format!("{:?}", r.code))
                .collect();
            let suppressed = cell
                .suppressed
                .map_or(String::new(), |s| format!(" suppressed:{s:?}"));
            out.push_str(&format!(
                "  {} {}{suppressed} {}\n",
                dims.join("/"),
                cell.verdict.as_str(),
                codes.join(",")
            ));
        }
    }
    for (name, bytes) in record.suggested_files() {
        out.push_str(&format!("--- {name}\n{}", String::from_utf8_lossy(bytes)));
    }
    out
}

#[test]
fn the_issue_example_under_acro() {
    check(
        &example(),
        &Preset::Acro.rules(),
        &Ledger::new(),
        expect![[r#"
            overall fail
            by_age_sex.csv [FrequencyTable] fail 
              0-19/f fail suppressed:Primary Threshold
              0-19/m pass suppressed:Secondary 
              65+/f pass suppressed:Secondary 
              65+/m fail suppressed:Primary Zero
            cost.csv [MagnitudeTable] fail 
              20-64 fail suppressed:Primary Dominance,PPercent
              65+ review NegativeValues
            cost.evidence.csv [Evidence] fail EvidenceFile
            debug.log [Other] fail FileType,PseudonymToken,ManualReview
            hist.png [Figure] fail FigureReview
              10-20 fail Threshold
            hist_counts.csv [FrequencyTable] fail 
              0-10 pass suppressed:Secondary 
              10-20 fail suppressed:Primary Threshold
            model.csv [Regression] pass 
            notes.txt [Text] review ManualReview
            --- by_age_sex.suggested.csv
            age_band,sex,n
            0-19,f,[REDACTED]
            0-19,m,[REDACTED]
            0-19,Total,26
            20-64,f,130
            20-64,m,118
            20-64,Total,248
            65+,f,[REDACTED]
            65+,m,[REDACTED]
            65+,Total,61
            Total,f,195
            Total,m,140
            Total,Total,335
            --- cost.suggested.csv
            age_band,mean_cost
            0-19,1200.5
            20-64,[REDACTED]
            65+,9100
            --- hist_counts.suggested.csv
            bin,count
            0-10,[REDACTED]
            10-20,[REDACTED]
            20-30,40
        "#]],
    );
}

#[test]
fn the_issue_example_under_opensafely() {
    check(
        &example(),
        &Preset::Opensafely.rules(),
        &Ledger::new(),
        expect![[r#"
            overall fail
            by_age_sex.csv [FrequencyTable] fail 
              0-19/f fail suppressed:Primary Threshold,Unrounded
              0-19/m fail suppressed:Secondary Unrounded
              0-19/Total fail Unrounded
              20-64/m fail Unrounded
              20-64/Total fail Unrounded
              65+/f fail suppressed:Secondary Unrounded
              65+/m pass suppressed:Secondary 
              65+/Total fail Unrounded
            cost.csv [MagnitudeTable] review 
              65+ review NegativeValues
            cost.evidence.csv [Evidence] fail EvidenceFile
            debug.log [Other] fail FileType,PseudonymToken,ManualReview
            hist.png [Figure] fail FigureReview
              0-10 fail Unrounded
              10-20 fail Threshold,Unrounded
            hist_counts.csv [FrequencyTable] fail 
              0-10 fail suppressed:Secondary Unrounded
              10-20 fail suppressed:Primary Threshold,Unrounded
            model.csv [Regression] pass 
            notes.txt [Text] review ManualReview
            --- by_age_sex.suggested.csv
            age_band,sex,n
            0-19,f,[REDACTED]
            0-19,m,[REDACTED]
            0-19,Total,25
            20-64,f,130
            20-64,m,120
            20-64,Total,250
            65+,f,[REDACTED]
            65+,m,[REDACTED]
            65+,Total,60
            Total,f,195
            Total,m,140
            Total,Total,335
            --- hist_counts.suggested.csv
            bin,count
            0-10,[REDACTED]
            10-20,[REDACTED]
            20-30,40
        "#]],
    );
}

#[test]
fn the_json_record_has_the_cli_shape() {
    let mut files = BTreeMap::new();
    files.insert("manifest.json".to_owned(), br#"{"version":1,"outputs":[{"file":"t.csv","kind":"frequency_table","dimensions":["sex"],"count":"n"}]}"#.to_vec());
    files.insert("t.csv".to_owned(), b"sex,n\nf,3\nm,40\nx,12\n".to_vec());
    let record = check_outputs(&files, &Preset::Ndb.rules(), &Ledger::new(), "0.1.0").unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&record.to_json()).unwrap();
    // The rules are printed in full elsewhere; keep the snapshot to the outputs' shape.
    json["rules"] = serde_json::Value::String("…".into());
    expect![[r#"
        {
          "manifest": {
            "bytes": 100,
            "file": "manifest.json",
            "sha256": "f6a357cb2a9cd681fa7d258a68a9c1ac2f7c557f4a68ce2142c28f737084ef0f"
          },
          "outputs": [
            {
              "cells": [
                {
                  "dims": {
                    "sex": "f"
                  },
                  "reasons": [
                    {
                      "code": "threshold",
                      "message": "count below the threshold of 10",
                      "verdict": "fail"
                    }
                  ],
                  "suppressed": "primary",
                  "value": 3,
                  "verdict": "fail"
                },
                {
                  "dims": {
                    "sex": "m"
                  },
                  "reasons": [],
                  "value": 40,
                  "verdict": "pass"
                },
                {
                  "dims": {
                    "sex": "x"
                  },
                  "reasons": [],
                  "suppressed": "secondary",
                  "value": 12,
                  "verdict": "pass"
                }
              ],
              "file": "t.csv",
              "input": {
                "bytes": 20,
                "file": "t.csv",
                "sha256": "e8a8883b1c076c7cea8498422abe9ffeb349bfe3a6d3407dd679657a92f48291"
              },
              "kind": "frequency_table",
              "reasons": [],
              "suggested": "t.suggested.csv",
              "suggested_digest": {
                "bytes": 37,
                "file": "t.suggested.csv",
                "sha256": "37857ad87b1bc6c031cb0b9bb9d31c471603744569a9ad72be1784f3ed664796"
              },
              "verdict": "fail"
            }
          ],
          "record_version": 1,
          "rules": "…",
          "tool_version": "0.1.0",
          "verdict": "fail"
        }"#]]
    .assert_eq(&serde_json::to_string_pretty(&json).unwrap());
}

#[test]
fn unusable_input_is_an_error_naming_file_and_line() {
    let mut missing_evidence = example();
    missing_evidence.remove("cost.evidence.csv");
    check(
        &missing_evidence,
        &Preset::Acro.rules(),
        &Ledger::new(),
        expect![[r#"
        error: manifest.json line 4: evidence file "cost.evidence.csv" is not among the outputs
    "#]],
    );
    let mut ragged = example();
    ragged.insert(
        "by_age_sex.csv".into(),
        b"age_band,sex,n\n0-19,f,4\n0-19,m\n".to_vec(),
    );
    check(
        &ragged,
        &Preset::Acro.rules(),
        &Ledger::new(),
        expect![[r#"
        error: by_age_sex.csv line 3: row has 2 fields but the header has 3
    "#]],
    );
    let mut bad_evidence = example();
    bad_evidence.insert(
        "cost.evidence.csv".into(),
        b"age_band,n,sum,top1,top2\n0-19,\xff,1,1,1\n".to_vec(),
    );
    check(
        &bad_evidence,
        &Preset::Acro.rules(),
        &Ledger::new(),
        expect![[r#"
        error: cost.evidence.csv line 2: not valid UTF-8
    "#]],
    );
    let mut bad_json = example();
    bad_json.insert(
        "manifest.json".into(),
        b"{ \"version\": 1,\n  \"outputs\": [ { \"file\": \"a.csv\" ] }".to_vec(),
    );
    check(
        &bad_json,
        &Preset::Acro.rules(),
        &Ledger::new(),
        expect![[r#"
        error: manifest.json line 2 column 34: expected `,` or `}`
    "#]],
    );
    let bad_rules = RuleSet {
        threshold: 0,
        ..Preset::Acro.rules()
    };
    check(
        &example(),
        &bad_rules,
        &Ledger::new(),
        expect![[r#"
        error: rules line 1: threshold must be between 1 and 1000000
    "#]],
    );
}

#[test]
fn no_manifest_means_every_file_is_other() {
    let mut files = example();
    files.remove("manifest.json");
    files.retain(|name, _| name.starts_with("by_") || name.starts_with("debug"));
    check(
        &files,
        &Preset::Ndb.rules(),
        &Ledger::new(),
        expect![[r#"
        overall fail
        by_age_sex.csv [Other] review ManualReview
        debug.log [Other] fail FileType,PseudonymToken,ManualReview
    "#]],
    );
}

fn table(csv: &str) -> BTreeMap<String, Vec<u8>> {
    let manifest = br#"{"version":1,"outputs":[{"file":"t.csv","kind":"frequency_table","dimensions":["age"],"count":"n"}]}"#;
    BTreeMap::from([
        ("manifest.json".to_owned(), manifest.to_vec()),
        ("t.csv".to_owned(), csv.as_bytes().to_vec()),
    ])
}

#[test]
fn researcher_redaction_that_margins_undo_fails() {
    // ACRO-style: the small cell is redacted but the published total gives it back.
    check(
        &table("age,n\n0-19,[REDACTED]\n20-39,50\n40-59,31\nTotal,84\n"),
        &Preset::Ndb.rules(),
        &Ledger::new(),
        expect![[r#"
        overall fail
        t.csv [FrequencyTable] fail 
          0-19 fail Recoverable
    "#]],
    );
    // With a complementary cell hidden too, the pair is only known to sum to 34.
    check(
        &table("age,n\n0-19,[REDACTED]\n20-39,50\n40-59,[REDACTED]\nTotal,84\n"),
        &Preset::Ndb.rules(),
        &Ledger::new(),
        expect![[r#"
        overall pass
        t.csv [FrequencyTable] pass 
    "#]],
    );
}

#[test]
fn differencing_against_the_ledger() {
    let spec = TableSpec {
        dimensions: vec!["age".into()],
        value: "n".into(),
        total_label: "Total".into(),
    };
    let earlier = ReleasedTable::from_csv(
        "r-7",
        "old.csv",
        &spec,
        b"age,n\n0-19,120\n20-39,50\nTotal,170\n",
    )
    .unwrap();
    let ledger = Ledger {
        tables: vec![earlier],
    };
    check(
        &table("age,n\n0-19,123\n20-39,50\nTotal,173\n"),
        &Preset::Ndb.rules(),
        &ledger,
        expect![[r#"
        overall review
        t.csv [FrequencyTable] review 
          0-19 review Differencing
          Total review Differencing
    "#]],
    );
}

#[test]
fn magnitude_sum_tables_get_secondary_suppression() {
    let manifest = br#"{"version":1,"outputs":[{"file":"s.csv","kind":"magnitude_table","statistic":"sum","dimensions":["region"],"value":"cost","evidence":"s.ev.csv"}]}"#;
    let files = BTreeMap::from([
        ("manifest.json".to_owned(), manifest.to_vec()),
        ("s.csv".to_owned(), b"region,cost\nnorth,1000.5\nsouth,52000\neast,30000\nwest,8000\nTotal,91000.5\n".to_vec()),
        ("s.ev.csv".to_owned(), b"region,n,sum,top1,top2\nnorth,40,1000.5,100,90\nsouth,50,52000,48000,1000\neast,45,30000,2000,1900\nwest,30,8000,600,500\nTotal,165,91000.5,48000,2000\n".to_vec()),
    ]);
    check(
        &files,
        &Preset::Acro.rules(),
        &Ledger::new(),
        expect![[r#"
        overall fail
        s.csv [MagnitudeTable] fail 
          north pass suppressed:Secondary 
          south fail suppressed:Primary Dominance,PPercent
        s.ev.csv [Evidence] fail EvidenceFile
        --- s.suggested.csv
        region,cost
        north,[REDACTED]
        south,[REDACTED]
        east,30000
        west,8000
        Total,91000.5
    "#]],
    );
}
