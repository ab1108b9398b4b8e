//! The output manifest (`manifest.json`, version 1): which file is which kind of output,
//! and for tables which columns are dimensions and which holds the count or value.
//!
//! Parsing checks the schema (serde, with line and column); [`Manifest::validate`] checks
//! what the schema cannot: duplicate entries, unsafe names, and files named but absent.

mod parse;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

/// The manifest's file name in a job's `/out`.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Kinds of output, as named in the manifest and the check record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Kind {
    /// Counts of people per cell.
    FrequencyTable,
    /// A statistic of a magnitude per cell, with evidence.
    MagnitudeTable,
    /// Regression coefficients with residual degrees of freedom.
    Regression,
    /// Descriptive statistics without cell structure (manual review).
    Summary,
    /// An image with a file holding its underlying counts.
    Figure,
    /// Free text (manual review).
    Text,
    /// A fitted model (manual review).
    Model,
    /// Anything else, including files without a manifest entry (manual review).
    Other,
    /// Checker evidence named by a magnitude table: never released (record only).
    Evidence,
}

/// The statistic a magnitude table publishes per cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Statistic {
    /// Sum of contributions (additive: margins are sums of cells).
    Sum,
    /// Mean of contributions.
    Mean,
    /// Median.
    Median,
    /// Minimum (a single person's value).
    Min,
    /// Maximum (a single person's value).
    Max,
    /// Most frequent value.
    Mode,
    /// Standard deviation.
    Std,
}

/// How to read a long-format table: one row per cell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSpec {
    /// Dimension columns, in order.
    pub dimensions: Vec<String>,
    /// The count (frequency tables) or value (magnitude tables) column.
    pub value: String,
    /// A dimension value that marks a margin row (default `Total`).
    pub total_label: String,
}

/// What the manifest says about one output.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum OutputKind {
    /// A frequency table.
    FrequencyTable(TableSpec),
    /// A magnitude table.
    MagnitudeTable {
        /// Columns of the table.
        table: TableSpec,
        /// The statistic per cell.
        statistic: Statistic,
        /// The evidence file (never released).
        evidence: Option<String>,
    },
    /// A regression.
    Regression {
        /// Number of observations, if given.
        n_obs: Option<u64>,
        /// Residual degrees of freedom, if given.
        residual_dof: Option<u64>,
    },
    /// A summary.
    Summary,
    /// A figure.
    Figure {
        /// The CSV file holding the figure's underlying counts.
        underlying: Option<String>,
    },
    /// Text.
    Text,
    /// A model.
    Model,
    /// Other.
    Other,
}

impl OutputKind {
    /// The kind's name.
    pub fn kind(&self) -> Kind {
        match self {
            OutputKind::FrequencyTable(_) => Kind::FrequencyTable,
            OutputKind::MagnitudeTable { .. } => Kind::MagnitudeTable,
            OutputKind::Regression { .. } => Kind::Regression,
            OutputKind::Summary => Kind::Summary,
            OutputKind::Figure { .. } => Kind::Figure,
            OutputKind::Text => Kind::Text,
            OutputKind::Model => Kind::Model,
            OutputKind::Other => Kind::Other,
        }
    }
}

/// One manifest entry.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputSpec {
    /// The output's file name, relative to `/out`.
    pub file: String,
    /// What it is.
    pub kind: OutputKind,
    /// 1-based line of the entry in the manifest (best effort, for messages).
    pub line: usize,
}

/// A parsed manifest.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Manifest {
    /// Entries in manifest order.
    pub outputs: Vec<OutputSpec>,
}
