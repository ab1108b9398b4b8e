//! The pure part of a job's output checks: from the quarantined bytes and the project's
//! rule set to the stored record and the per-output verdicts. No I/O, no store.
//!
//! `/out` files go through `check_outputs` with their manifest. stdout, stderr and the
//! manifest itself go through a second run without a manifest, as `other` outputs under
//! every file gate (names ending `.txt`/`.json` so that only content decides). When the
//! first run cannot read its input, every `/out` file fails with `check_error`.

use std::collections::BTreeMap;

use enclave_policy::sdc::{
    FileDigest, Kind, Ledger, MANIFEST_FILE, OutputRecord, RuleSet, Verdict, check_outputs,
    sha256_hex,
};
use serde::Serialize;

use super::screen::{oversized_table, safe_summary};
use super::{CHECK_ERROR, ReasonSummary};

/// Names under which the stored record lists the streams. A job may name a file the same:
/// records are matched to outputs by position, never by these names.
const STDOUT: &str = "<stdout>";
const STDERR: &str = "<stderr>";

/// One quarantined output to check: `kind` is `file`, `stdout` or `stderr`.
#[derive(Clone, Debug)]
pub(crate) struct Input {
    pub kind: String,
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Everything the checks produce for one job.
#[derive(Clone, Debug)]
pub(crate) struct JobChecks {
    /// The check record as stored with the job (JSON; holds cell values: checkers only).
    pub record: String,
    /// SHA-256 of `record`.
    pub record_sha256: String,
    /// Worst verdict over the releasable outputs.
    pub verdict: Verdict,
    /// Rule set name (`-` when there was none).
    pub rules: String,
    /// Why the checks could not run, in words safe to show the researcher.
    pub error: Option<String>,
    /// One per input, in input order.
    pub outputs: Vec<OutputCheck>,
}

/// The verdict of one output.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct OutputCheck {
    pub kind: String,
    pub name: String,
    pub verdict: Verdict,
    pub reasons: Vec<ReasonSummary>,
    /// The suggested safe version: its name, SHA-256 and bytes.
    pub suggested: Option<(String, String, Vec<u8>)>,
    /// Checker evidence: never released.
    pub never_release: bool,
}

/// Checks a job's outputs. `rules` is `Err` (with a safe reason) when the project has no
/// usable rule set: everything then fails closed.
pub(crate) fn evaluate(
    rules: Result<&RuleSet, &str>,
    inputs: &[Input],
    ledger: &Ledger,
    tool_version: &str,
) -> JobChecks {
    let rules = match rules {
        Ok(rules) => rules,
        Err(why) => return failed_closed(None, inputs, why, why, tool_version),
    };
    if let Some(why) = oversized_table(inputs, rules) {
        return failed_closed(Some(rules), inputs, &why, &why, tool_version);
    }
    let files: BTreeMap<String, Vec<u8>> = inputs
        .iter()
        .filter(|input| input.kind == "file")
        .map(|input| (input.name.clone(), input.bytes.clone()))
        .collect();
    let mut side = BTreeMap::new();
    let mut aliases = BTreeMap::new();
    for input in inputs {
        // The manifest under its own name would be read as a manifest again.
        let (alias, shown) = match (input.kind.as_str(), input.name.as_str()) {
            ("stdout", _) => ("stdout.txt", STDOUT),
            ("stderr", _) => ("stderr.txt", STDERR),
            ("file", MANIFEST_FILE) => ("manifest.json.txt", MANIFEST_FILE),
            _ => continue,
        };
        side.insert(alias.to_owned(), input.bytes.clone());
        aliases.insert(alias.to_owned(), shown);
    }
    let side = match check_outputs(&side, rules, &Ledger::new(), tool_version) {
        Ok(record) => record,
        Err(error) => {
            let why = "the job's logs could not be checked";
            return failed_closed(Some(rules), inputs, why, &error.to_string(), tool_version);
        }
    };
    let mut record = match check_outputs(&files, rules, ledger, tool_version) {
        Ok(record) => record,
        Err(error) => {
            return failed_closed(
                Some(rules),
                inputs,
                &safe_summary(&error),
                &error.to_string(),
                tool_version,
            );
        }
    };
    // Streams and the manifest are matched by their alias, /out files by name: a job may
    // name a file `<stdout>`, and must not borrow a stream's verdict (or lend it one).
    let mut outputs = Vec::with_capacity(inputs.len());
    for input in inputs {
        let alias = match (input.kind.as_str(), input.name.as_str()) {
            ("stdout", _) => Some("stdout.txt"),
            ("stderr", _) => Some("stderr.txt"),
            ("file", MANIFEST_FILE) => Some("manifest.json.txt"),
            _ => None,
        };
        let found = match alias {
            Some(alias) => side.outputs.iter().find(|output| output.file == alias),
            None => record
                .outputs
                .iter()
                .find(|output| output.file == input.name),
        };
        outputs.push(match found {
            Some(output) => output_check(input, output),
            // Every input is in a record; fail closed should that ever change.
            None => check_error(input, "this output was not checked"),
        });
    }
    for mut output in side.outputs {
        let shown = aliases.get(&output.file).copied().unwrap_or(STDOUT);
        output.file = shown.to_owned();
        output.input.file = shown.to_owned();
        record.outputs.push(output);
    }
    record.verdict = record
        .outputs
        .iter()
        .filter(|output| output.kind != Kind::Evidence)
        .fold(Verdict::Pass, |acc, output| acc.worst(output.verdict));
    let json = record.to_json();
    JobChecks {
        record_sha256: sha256_hex(json.as_bytes()),
        record: json,
        verdict: record.verdict,
        rules: rules.name.clone(),
        error: None,
        outputs,
    }
}

/// The stored record when checking could not run.
#[derive(Serialize)]
struct FailedRecord<'a> {
    record_version: u32,
    tool_version: &'a str,
    rules: Option<&'a RuleSet>,
    verdict: Verdict,
    /// The full reason (it may quote the job's own input: checkers only).
    error: &'a str,
    inputs: Vec<FileDigest>,
}

fn failed_closed(
    rules: Option<&RuleSet>,
    inputs: &[Input],
    safe: &str,
    full: &str,
    tool_version: &str,
) -> JobChecks {
    let record = FailedRecord {
        record_version: enclave_policy::sdc::RECORD_VERSION,
        tool_version,
        rules,
        verdict: Verdict::Fail,
        error: full,
        inputs: inputs
            .iter()
            .map(|input| FileDigest::of(&input.name, &input.bytes))
            .collect(),
    };
    let json = serde_json::to_string_pretty(&record).unwrap_or_default();
    JobChecks {
        record_sha256: sha256_hex(json.as_bytes()),
        record: json,
        verdict: Verdict::Fail,
        rules: rules.map_or_else(|| "-".to_owned(), |rules| rules.name.clone()),
        error: Some(safe.to_owned()),
        outputs: inputs
            .iter()
            .map(|input| check_error(input, safe))
            .collect(),
    }
}

fn check_error(input: &Input, safe: &str) -> OutputCheck {
    OutputCheck {
        kind: input.kind.clone(),
        name: input.name.clone(),
        verdict: Verdict::Fail,
        reasons: vec![ReasonSummary {
            code: CHECK_ERROR.to_owned(),
            verdict: Verdict::Fail,
            cells: 0,
            detail: Some(safe.to_owned()),
        }],
        suggested: None,
        never_release: false,
    }
}

fn output_check(input: &Input, output: &OutputRecord) -> OutputCheck {
    let mut counts: BTreeMap<(Verdict, String), u64> = BTreeMap::new();
    for reason in &output.reasons {
        counts.entry((reason.verdict, code(reason))).or_insert(0);
    }
    for cell in &output.cells {
        for reason in &cell.reasons {
            *counts.entry((reason.verdict, code(reason))).or_insert(0) += 1;
        }
    }
    let reasons = counts
        .into_iter()
        .rev()
        .map(|((verdict, code), cells)| ReasonSummary {
            code,
            verdict,
            cells,
            detail: None,
        })
        .collect();
    let suggested = match (&output.suggested_digest, &output.suggested_csv) {
        (Some(digest), Some(bytes)) => {
            Some((digest.file.clone(), digest.sha256.clone(), bytes.clone()))
        }
        _ => None,
    };
    OutputCheck {
        kind: input.kind.clone(),
        name: input.name.clone(),
        verdict: output.verdict,
        reasons,
        suggested,
        never_release: output.kind == Kind::Evidence,
    }
}

/// A reason code's stable name (`threshold`, `dominance`, ...).
fn code(reason: &enclave_policy::sdc::Reason) -> String {
    serde_json::to_value(reason.code)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}
