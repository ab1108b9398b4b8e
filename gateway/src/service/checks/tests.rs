//! The pure evaluation: verdicts per output, fail-closed paths, and what researchers see.

use enclave_policy::sdc::{Ledger, Preset, RuleSet, Verdict, sha256_hex};

use super::evaluate::{Input, JobChecks, OutputCheck, evaluate};
use super::{CHECK_ERROR, ReasonSummary};

const MANIFEST: &str = r#"{ "version": 1, "outputs": [
  { "file": "by_age.csv", "kind": "frequency_table", "dimensions": ["age"], "count": "n" },
  { "file": "cost.csv", "kind": "magnitude_table", "statistic": "mean", "dimensions": ["age"],
    "value": "mean_cost", "evidence": "cost.evidence.csv" } ] }"#;

fn input(kind: &str, name: &str, bytes: &[u8]) -> Input {
    Input {
        kind: kind.into(),
        name: name.into(),
        bytes: bytes.to_vec(),
    }
}

fn job(manifest: &str) -> Vec<Input> {
    vec![
        input("stdout", "stdout", b"counted 95 people\n"),
        input("stderr", "stderr", b"skipped P0123456789abcdef\n"),
        input(
            "file",
            "by_age.csv",
            b"age,n\n0-39,3\n40-64,40\n65+,52\nTotal,95\n",
        ),
        input("file", "cost.csv", b"age,mean_cost\n0-39,10\n40-64,20\n"),
        input(
            "file",
            "cost.evidence.csv",
            b"age,n,sum,top1,top2\n0-39,30,300,20,19\n40-64,40,800,30,29\n",
        ),
        input("file", "manifest.json", manifest.as_bytes()),
    ]
}

fn check(rules: Result<&RuleSet, &str>, inputs: &[Input]) -> JobChecks {
    evaluate(rules, inputs, &Ledger::new(), "test")
}

fn output<'a>(checks: &'a JobChecks, kind: &str, name: &str) -> &'a OutputCheck {
    checks
        .outputs
        .iter()
        .find(|o| o.kind == kind && o.name == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn reason(code: &str, verdict: Verdict, cells: u64) -> ReasonSummary {
    ReasonSummary {
        code: code.into(),
        verdict,
        cells,
        detail: None,
    }
}

#[test]
fn every_output_gets_a_verdict_with_codes_and_cell_counts() {
    let rules = Preset::Ndb.rules();
    let checks = check(Ok(&rules), &job(MANIFEST));
    assert_eq!(checks.outputs.len(), 6);
    assert_eq!(checks.verdict, Verdict::Fail);
    assert_eq!(checks.rules, "ndb");
    assert_eq!(checks.error, None);

    let table = output(&checks, "file", "by_age.csv");
    assert_eq!(table.verdict, Verdict::Fail);
    assert_eq!(table.reasons, [reason("threshold", Verdict::Fail, 1)]);
    let (name, sha, bytes) = table.suggested.as_ref().expect("suggested version");
    assert_eq!(name, "by_age.suggested.csv");
    assert_eq!(sha, &sha256_hex(bytes));
    assert!(
        checks.record.contains(sha.as_str()),
        "record names the hash"
    );

    let cost = output(&checks, "file", "cost.csv");
    assert_eq!(cost.verdict, Verdict::Pass, "{cost:?}");
    let evidence = output(&checks, "file", "cost.evidence.csv");
    assert!(evidence.never_release);
    assert_eq!(evidence.verdict, Verdict::Fail);
    assert_eq!(
        evidence.reasons,
        [reason("evidence_file", Verdict::Fail, 0)]
    );

    // Streams and the manifest: people only, under every gate.
    let stdout = output(&checks, "stdout", "stdout");
    assert_eq!(stdout.verdict, Verdict::Review);
    assert_eq!(
        stdout.reasons,
        [reason("manual_review", Verdict::Review, 0)]
    );
    let stderr = output(&checks, "stderr", "stderr");
    assert_eq!(stderr.verdict, Verdict::Fail);
    assert_eq!(
        stderr.reasons,
        [
            reason("pseudonym_token", Verdict::Fail, 0),
            reason("manual_review", Verdict::Review, 0)
        ]
    );
    assert_eq!(
        output(&checks, "file", "manifest.json").verdict,
        Verdict::Review
    );
    assert!(
        !checks
            .outputs
            .iter()
            .any(|o| o.never_release && o.name != "cost.evidence.csv")
    );
    assert_eq!(checks.record_sha256, sha256_hex(checks.record.as_bytes()));
    assert!(checks.record.contains("\"<stderr>\""), "{}", checks.record);
}

#[test]
fn unusable_input_fails_every_output_without_quoting_it() {
    // The manifest smuggles a pseudonym in a field name: serde's message would quote it.
    let manifest = r#"{ "version": 1, "outputs": [], "P0123456789abcdef": 1 }"#;
    let rules = Preset::Acro.rules();
    let checks = check(Ok(&rules), &job(manifest));
    assert_eq!(checks.verdict, Verdict::Fail);
    let detail = "manifest.json line 1: not valid JSON or not the manifest schema";
    assert_eq!(checks.error.as_deref(), Some(detail));
    for output in &checks.outputs {
        assert_eq!(output.verdict, Verdict::Fail, "{output:?}");
        assert_eq!(output.reasons[0].code, CHECK_ERROR);
        assert_eq!(output.reasons[0].detail.as_deref(), Some(detail));
        assert!(output.suggested.is_none());
    }
    // Checkers get the full message in the record.
    assert!(
        checks.record.contains("P0123456789abcdef"),
        "{}",
        checks.record
    );
}

#[test]
fn a_ragged_table_names_its_line_only() {
    let mut inputs = job(MANIFEST);
    inputs[2] = input("file", "by_age.csv", b"age,n\n0-39,3\n40-64\n");
    let rules = Preset::Ndb.rules();
    let checks = check(Ok(&rules), &inputs);
    assert_eq!(
        checks.error.as_deref(),
        Some("by_age.csv line 3: not readable as the table the manifest describes")
    );
}

#[test]
fn without_a_rule_set_everything_fails_closed() {
    let checks = check(
        Err("the project's rule set \"x\" is unknown"),
        &job(MANIFEST),
    );
    assert_eq!(checks.rules, "-");
    assert!(checks.outputs.iter().all(|o| o.verdict == Verdict::Fail
        && o.reasons[0].code == CHECK_ERROR
        && o.reasons[0].detail.as_deref() == Some("the project's rule set \"x\" is unknown")));
    assert!(
        checks.record.contains("\"verdict\": \"fail\""),
        "{}",
        checks.record
    );
}

#[test]
fn a_file_named_like_a_stream_neither_borrows_nor_lends_its_verdict() {
    let rules = Preset::Ndb.rules();
    let inputs = vec![
        input("stdout", "stdout", b"all fine\n"),
        input("file", "<stdout>", b"P0123456789abcdef\n"),
        input("file", "stdout.txt", b"P0123456789abcdef\n"),
    ];
    let checks = check(Ok(&rules), &inputs);
    assert_eq!(output(&checks, "stdout", "stdout").verdict, Verdict::Review);
    assert_eq!(output(&checks, "file", "<stdout>").verdict, Verdict::Fail);
    assert_eq!(output(&checks, "file", "stdout.txt").verdict, Verdict::Fail);
}

#[test]
fn files_without_a_manifest_are_other_and_need_people() {
    let rules = Preset::Opensafely.rules();
    let inputs = vec![input("file", "table.csv", b"g,n\na,12\n")];
    let checks = check(Ok(&rules), &inputs);
    let table = output(&checks, "file", "table.csv");
    assert_eq!(table.verdict, Verdict::Review);
    assert_eq!(table.reasons, [reason("manual_review", Verdict::Review, 0)]);
    assert!(table.suggested.is_none());
}

#[test]
fn a_table_above_the_row_limit_is_not_checked_cell_by_cell() {
    let mut rules = Preset::Ndb.rules();
    rules.gates.max_csv_rows = 4;
    let mut inputs = job(MANIFEST);
    let checks = check(Ok(&rules), &inputs);
    assert_eq!(
        checks.error, None,
        "by_age.csv has 4 rows with its margin: at the limit"
    );
    inputs[2] = input(
        "file",
        "by_age.csv",
        b"age,n\n0-39,3\n40-64,40\n65+,52\n80+,10\nTotal,105\n",
    );
    let checks = check(Ok(&rules), &inputs);
    let why = "by_age.csv: more than the rules' limit of 4 rows; the outputs were not checked";
    assert_eq!(checks.error.as_deref(), Some(why));
    assert!(
        checks
            .outputs
            .iter()
            .all(|o| o.verdict == Verdict::Fail && o.reasons[0].detail.as_deref() == Some(why))
    );
}
