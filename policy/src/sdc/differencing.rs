//! Differencing across releases: a new table whose cell differs from the matching cell of
//! a table released earlier (same project, same dataset: the caller passes only those) by
//! a positive amount below the threshold lets an attacker subtract the two and isolate a
//! few people. No anchor tool detects this.
//!
//! Cells match on their dimension values with total dimensions dropped, so a margin of a
//! new 2-D table also matches the cells of an earlier 1-D table.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::sdc::error::SdcError;
use crate::sdc::manifest::TableSpec;
use crate::sdc::table::{ValueKind, parse_table};
use crate::sdc::verdict::{Reason, ReasonCode, Verdict};

/// A cell's key: dimension name → value, margins' total dimensions left out.
pub type CellKey = BTreeMap<String, String>;

/// A frequency table released earlier in the same project and dataset.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ReleasedTable {
    /// The release that let it out (named in findings).
    pub release_id: String,
    /// Its file name.
    pub file: String,
    /// Published counts by cell (hidden cells are absent).
    pub cells: BTreeMap<CellKey, f64>,
}

/// Every table released earlier in the same project on the same dataset.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Ledger {
    /// Earlier releases, oldest first.
    pub tables: Vec<ReleasedTable>,
}

impl Ledger {
    /// An empty ledger (a project's first release).
    pub fn new() -> Ledger {
        Ledger::default()
    }
}

impl ReleasedTable {
    /// Reads a released long-format frequency table (as released: hidden cells skipped).
    ///
    /// # Errors
    /// [`SdcError::Csv`] naming the file and line, as for any table.
    pub fn from_csv(
        release_id: &str,
        file: &str,
        spec: &TableSpec,
        bytes: &[u8],
    ) -> Result<ReleasedTable, SdcError> {
        let table = parse_table(file, bytes, spec, ValueKind::Count)?;
        let cells = table
            .rows
            .iter()
            .filter_map(|row| Some((cell_key(spec, &row.dims), row.value.number()?)))
            .collect();
        Ok(ReleasedTable {
            release_id: release_id.to_owned(),
            file: file.to_owned(),
            cells,
        })
    }
}

/// The key of a cell with dimension values `dims` under `spec`.
pub fn cell_key(spec: &TableSpec, dims: &[String]) -> CellKey {
    spec.dimensions
        .iter()
        .zip(dims)
        .filter(|(_, value)| **value != spec.total_label)
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// Differencing findings for one published count: one reason per earlier release whose
/// matching cell differs by more than zero and less than `threshold`.
pub(crate) fn check_cell(
    key: &CellKey,
    value: f64,
    threshold: u64,
    ledger: &Ledger,
) -> Vec<Reason> {
    let mut reasons: Vec<Reason> = Vec::new();
    for table in &ledger.tables {
        let Some(old) = table.cells.get(key) else {
            continue;
        };
        let difference = (value - old).abs();
        let named = reasons.iter().any(|r| {
            r.message
                .contains(&format!("release {:?}", table.release_id))
        });
        if difference > 0.0 && difference < threshold as f64 && !named {
            reasons.push(Reason::new(
                ReasonCode::Differencing,
                Verdict::Review,
                format!(
                    "differs from release {:?} ({}) by fewer than {threshold}: subtracting the two isolates a few people",
                    table.release_id, table.file
                ),
            ));
        }
    }
    reasons
}
