//! The machine-readable check record (SATRE's disclosure-control record): rule set and
//! parameters, tool version, every output's verdict, reasons and cells, and the SHA-256 of
//! every input and suggested file. It is stored with the job and goes with the release.
//!
//! Boundary: the JSON shape is what `enclave check-output --json` prints: `outputs[]` with
//! `file`, `kind`, `verdict`, `cells[]` (`dims`, `value`, `verdict`, `reasons`) and
//! `suggested`, plus the extra fields below. Cells carry values: show them to checkers,
//! never to researchers in the enclave.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::sdc::manifest::Kind;
use crate::sdc::rules::RuleSet;
use crate::sdc::suppress::Suppression;
use crate::sdc::verdict::{Reason, Verdict};

/// Version of the record format.
pub const RECORD_VERSION: u32 = 1;

/// The whole record of one check run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckRecord {
    /// [`RECORD_VERSION`].
    pub record_version: u32,
    /// The checker's version, as passed in by the caller.
    pub tool_version: String,
    /// The rule set with every parameter.
    pub rules: RuleSet,
    /// Worst verdict over the releasable outputs (evidence excluded).
    pub verdict: Verdict,
    /// The manifest's digest, if there was one.
    pub manifest: Option<FileDigest>,
    /// One entry per file other than the manifest, in file-name order.
    pub outputs: Vec<OutputRecord>,
}

/// A file's name, size and SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileDigest {
    /// File name.
    pub file: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Lower-case hexadecimal SHA-256 of the contents.
    pub sha256: String,
}

/// The check result of one output file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutputRecord {
    /// File name.
    pub file: String,
    /// Kind from the manifest (`other` without an entry; `evidence` for evidence files).
    pub kind: Kind,
    /// Worst of the file's reasons and its cells' verdicts.
    pub verdict: Verdict,
    /// File-level reasons (gates, manual review, margins, ...).
    pub reasons: Vec<Reason>,
    /// Per-cell results of tables (a figure's: its underlying counts).
    pub cells: Vec<CellRecord>,
    /// File name of the suggested safe version, if one was built.
    pub suggested: Option<String>,
    /// Size and SHA-256 of the input file.
    pub input: FileDigest,
    /// Size and SHA-256 of the suggested file.
    pub suggested_digest: Option<FileDigest>,
    /// The suggested file's bytes (not part of the JSON record).
    #[serde(skip)]
    pub suggested_csv: Option<Vec<u8>>,
}

/// The check result of one table cell (or margin).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CellRecord {
    /// Dimension name → value (the total label for margins).
    pub dims: BTreeMap<String, String>,
    /// The published value (`null` if the researcher hid it).
    #[serde(serialize_with = "number")]
    pub value: Option<f64>,
    /// Worst of the reasons.
    pub verdict: Verdict,
    /// Why the cell is not a plain pass.
    pub reasons: Vec<Reason>,
    /// Whether the suggested version hides the cell, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<Suppression>,
}

impl CheckRecord {
    /// The record as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain structs of strings and finite numbers cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Suggested files to write: (file name, CSV bytes).
    pub fn suggested_files(&self) -> Vec<(&str, &[u8])> {
        self.outputs
            .iter()
            .filter_map(|output| {
                Some((
                    output.suggested.as_deref()?,
                    output.suggested_csv.as_deref()?,
                ))
            })
            .collect()
    }
}

impl FileDigest {
    /// The digest of `bytes` named `file`.
    pub fn of(file: &str, bytes: &[u8]) -> FileDigest {
        FileDigest {
            file: file.to_owned(),
            bytes: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        }
    }
}

/// Lower-case hexadecimal SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Whole numbers as JSON integers, others as floats; values are always finite.
fn number<S: Serializer>(value: &Option<f64>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 => {
            serializer.serialize_i64(*v as i64)
        }
        Some(v) => serializer.serialize_f64(*v),
        None => serializer.serialize_none(),
    }
}
