//! The human-readable report of `enclave check-output`: per file its verdict and reasons,
//! then the cells that do not pass (at most [`MAX_CELLS_SHOWN`] per file; `--json` has all),
//! then where the suggested safe version is.
//!
//! This report is for the researcher's own dummy-data runs: it shows cell values. The
//! gateway never shows it (or the record) to researchers for real outputs.

use std::fmt::Write;
use std::path::Path;

use enclave_policy::sdc::{CellRecord, CheckRecord, OutputRecord, Reason, Verdict};

/// Most non-passing cells listed per file.
pub(super) const MAX_CELLS_SHOWN: usize = 50;

/// Renders the report; `written` is where `--write-suggested` put the suggested files.
pub(super) fn render(record: &CheckRecord, written: Option<&Path>) -> String {
    let mut out = String::new();
    let rules = &record.rules;
    let _ = writeln!(
        out,
        "rules {} (preset {}), {}",
        rules.name, rules.preset, record.tool_version
    );
    let _ = writeln!(
        out,
        "overall: {}  ({} outputs)",
        record.verdict.as_str().to_uppercase(),
        record.outputs.len()
    );
    for output in &record.outputs {
        out.push('\n');
        file(&mut out, output, written);
    }
    out
}

fn file(out: &mut String, output: &OutputRecord, written: Option<&Path>) {
    let kind = serde_json::to_value(output.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{:<7} {} ({kind})",
        output.verdict.as_str().to_uppercase(),
        output.file
    );
    for reason in &output.reasons {
        let _ = writeln!(out, "        {}", reason_text(reason));
    }
    if !output.cells.is_empty() {
        let count = |verdict| {
            output
                .cells
                .iter()
                .filter(|cell| cell.verdict == verdict)
                .count()
        };
        let _ = writeln!(
            out,
            "        cells: {} pass, {} review, {} fail",
            count(Verdict::Pass),
            count(Verdict::Review),
            count(Verdict::Fail)
        );
    }
    let attention: Vec<&CellRecord> = output
        .cells
        .iter()
        .filter(|cell| cell.verdict != Verdict::Pass)
        .collect();
    for cell in attention.iter().take(MAX_CELLS_SHOWN) {
        let _ = writeln!(
            out,
            "        {} = {}: {}",
            dims_text(cell),
            value_text(cell.value),
            cell.verdict.as_str()
        );
        for reason in &cell.reasons {
            let _ = writeln!(out, "            {}", reason_text(reason));
        }
    }
    if attention.len() > MAX_CELLS_SHOWN {
        let _ = writeln!(
            out,
            "        ... and {} more cells that do not pass (--json lists them all)",
            attention.len() - MAX_CELLS_SHOWN
        );
    }
    if let Some(name) = &output.suggested {
        let place = match written {
            Some(dir) => format!("written to {}", dir.join(name).display()),
            None => "write it with --write-suggested DIR".to_owned(),
        };
        let _ = writeln!(out, "        suggested safe version: {name} ({place})");
    }
}

fn reason_text(reason: &Reason) -> String {
    let code = serde_json::to_value(reason.code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    format!("{} {code}: {}", reason.verdict.as_str(), reason.message)
}

fn dims_text(cell: &CellRecord) -> String {
    cell.dims
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn value_text(value: Option<f64>) -> String {
    match value {
        None => "(hidden)".to_owned(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{}", v as i64),
        Some(v) => format!("{v}"),
    }
}
