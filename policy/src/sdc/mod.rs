//! Output checking (statistical disclosure control): pure functions that judge a job's
//! outputs before any person may release them.
//!
//! The caller reads a job's `/out` into a map of file name → bytes, picks a [`RuleSet`]
//! (a [`Preset`], possibly tightened by a rules file), passes the project's [`Ledger`] of
//! earlier releases and its own version, and gets a [`CheckRecord`]: per output a
//! [`Verdict`] with [`Reason`]s, per table cell the same, and a suggested safe version
//! (primary and secondary suppression, optional rounding) as CSV bytes.
//!
//! ```text
//! files ──manifest.rs──▶ kinds ──table.rs──▶ cells.rs (rules per cell)
//!                                   │            └─ differencing.rs (ledger)
//!                                   ├─ audit.rs (hidden cells recoverable?)
//!                                   └─ suppress.rs + round.rs (suggested version)
//!        gates.rs (every file) ──▶ record.rs (JSON record with hashes)
//! ```
//!
//! Invariant: no I/O, no clock, no environment, no randomness, no logging.
//! Invariant: evidence files are recorded as `evidence` with verdict `fail`: never released.
//! Invariant: a file without a manifest entry is `other` (people only, every gate applies),
//! except a figure's counts, which are checked as the frequency table they are.

mod audit;
mod cells;
mod check;
mod differencing;
mod error;
mod gates;
mod grid;
mod manifest;
mod record;
mod round;
mod rules;
mod suppress;
mod table;
#[cfg(test)]
mod tests;
mod verdict;

use std::collections::{BTreeMap, BTreeSet};

pub use differencing::{CellKey, Ledger, ReleasedTable, cell_key};
pub use error::SdcError;
pub use manifest::{Kind, MANIFEST_FILE, Manifest, OutputKind, OutputSpec, Statistic, TableSpec};
pub use record::{CellRecord, CheckRecord, FileDigest, OutputRecord, RECORD_VERSION, sha256_hex};
pub use round::round_to_base;
pub use rules::{Dominance, FileGates, Loosening, Preset, RuleSet, ZeroRule};
pub use suppress::Suppression;
pub use table::{HIDDEN_MARKERS, SUPPRESSED};
pub use verdict::{Reason, ReasonCode, Verdict, overall};

use check::{Context, check_output, evidence_record};

/// Checks every file of a job's outputs.
///
/// `files` maps file names (relative to `/out`) to contents, including `manifest.json` if
/// the job wrote one. `ledger` holds the tables released earlier in the same project on
/// the same dataset. `tool_version` is recorded as given.
///
/// # Errors
/// [`SdcError`] when the rule set is out of range, or the manifest, a table, its evidence
/// or a figure's counts cannot be read (naming the file and line). Disclosive outputs are
/// not errors: they are verdicts in the record.
pub fn check_outputs(
    files: &BTreeMap<String, Vec<u8>>,
    rules: &RuleSet,
    ledger: &Ledger,
    tool_version: &str,
) -> Result<CheckRecord, SdcError> {
    rules.validate()?;
    let manifest = match files.get(MANIFEST_FILE) {
        Some(bytes) => {
            let manifest = Manifest::parse(bytes)?;
            manifest.validate(files)?;
            manifest
        }
        None => Manifest::default(),
    };
    let evidence = manifest.evidence_files();
    let underlying = manifest.underlying_files();
    let ctx = Context {
        files,
        manifest: &manifest,
        rules,
        ledger,
    };
    let mut names: BTreeSet<String> = files.keys().cloned().collect();
    let mut outputs = Vec::with_capacity(files.len());
    for (file, bytes) in files {
        if file == MANIFEST_FILE {
            continue;
        }
        if evidence.contains(file.as_str()) {
            outputs.push(evidence_record(file, bytes));
            continue;
        }
        let kind = match manifest.entry(file) {
            Some(spec) => spec.kind.clone(),
            // A figure's counts without an entry of their own are still described by the
            // manifest: check them as the frequency table they are.
            None if underlying.contains(file.as_str()) => {
                OutputKind::FrequencyTable(table::infer_spec(file, bytes)?)
            }
            None => OutputKind::Other,
        };
        let mut output = check_output(&ctx, file, bytes, &kind)?;
        if let Some(csv) = &output.suggested_csv {
            let name = suggested_name(file, &names);
            names.insert(name.clone());
            output.suggested_digest = Some(FileDigest::of(&name, csv));
            output.suggested = Some(name);
        }
        outputs.push(output);
    }
    let verdict = outputs
        .iter()
        .filter(|output| output.kind != Kind::Evidence)
        .fold(Verdict::Pass, |acc, output| acc.worst(output.verdict));
    Ok(CheckRecord {
        record_version: RECORD_VERSION,
        tool_version: tool_version.to_owned(),
        rules: rules.clone(),
        verdict,
        manifest: files
            .get(MANIFEST_FILE)
            .map(|bytes| FileDigest::of(MANIFEST_FILE, bytes)),
        outputs,
    })
}

/// `by_age.csv` → `by_age.suggested.csv`, numbered if that name is taken.
fn suggested_name(file: &str, taken: &BTreeSet<String>) -> String {
    let stem = file.strip_suffix(".csv").unwrap_or(file);
    let mut name = format!("{stem}.suggested.csv");
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{stem}.suggested-{n}.csv");
        n += 1;
    }
    name
}
