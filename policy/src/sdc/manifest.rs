//! The output manifest (`manifest.json`, version 1): which file is which kind of output,
//! and for tables which columns are dimensions and which holds the count or value.
//!
//! Parsing checks the schema (serde, with line and column); [`Manifest::validate`] checks
//! what the schema cannot: duplicate entries, unsafe names, and files named but absent.

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::sdc::error::SdcError;

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    version: u32,
    outputs: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum RawEntry {
    FrequencyTable {
        file: String,
        dimensions: Vec<String>,
        count: String,
        total_label: Option<String>,
    },
    MagnitudeTable {
        file: String,
        statistic: Statistic,
        dimensions: Vec<String>,
        value: String,
        evidence: Option<String>,
        total_label: Option<String>,
    },
    Regression {
        file: String,
        n_obs: Option<u64>,
        residual_dof: Option<u64>,
    },
    Summary {
        file: String,
    },
    Figure {
        file: String,
        underlying: Option<String>,
    },
    Text {
        file: String,
    },
    Model {
        file: String,
    },
    Other {
        file: String,
    },
}

impl Manifest {
    /// Parses `manifest.json` bytes (schema only; see [`Manifest::validate`]).
    ///
    /// # Errors
    /// [`SdcError::Json`] with line and column for malformed JSON, an unknown kind or
    /// field, or a missing required field; [`SdcError::Manifest`] for a version other than 1
    /// or an invalid table description.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, SdcError> {
        let text = std::str::from_utf8(bytes).map_err(|err| {
            let line = bytes[..err.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            SdcError::manifest(MANIFEST_FILE, line, "not valid UTF-8")
        })?;
        let raw: RawManifest = serde_json::from_str(text).map_err(|err| SdcError::Json {
            file: MANIFEST_FILE.to_owned(),
            line: err.line(),
            column: err.column(),
            message: err
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_owned(),
        })?;
        if raw.version != 1 {
            return Err(SdcError::manifest(
                MANIFEST_FILE,
                line_of(text, "\"version\""),
                format!("unsupported manifest version {} (expected 1)", raw.version),
            ));
        }
        let mut outputs = Vec::with_capacity(raw.outputs.len());
        for entry in raw.outputs {
            outputs.push(entry.into_spec(text)?);
        }
        Ok(Manifest { outputs })
    }

    /// The entry for `file`, if any.
    pub fn entry(&self, file: &str) -> Option<&OutputSpec> {
        self.outputs.iter().find(|spec| spec.file == file)
    }

    /// Evidence files named by magnitude tables (never released).
    pub fn evidence_files(&self) -> BTreeSet<&str> {
        self.outputs
            .iter()
            .filter_map(|spec| match &spec.kind {
                OutputKind::MagnitudeTable { evidence, .. } => evidence.as_deref(),
                _ => None,
            })
            .collect()
    }

    /// Checks the entries against the files handed to the checker.
    ///
    /// # Errors
    /// [`SdcError::MissingFile`] for an output, evidence or underlying file that is not in
    /// `files`; [`SdcError::Manifest`] for duplicate entries, unsafe file names, or an
    /// evidence file that is also listed as an output.
    pub fn validate(&self, files: &BTreeMap<String, Vec<u8>>) -> Result<(), SdcError> {
        let mut seen = BTreeSet::new();
        let evidence = self.evidence_files();
        for spec in &self.outputs {
            let line = spec.line;
            for name in spec.named_files() {
                if !is_safe_name(name) {
                    return Err(SdcError::manifest(
                        MANIFEST_FILE,
                        line,
                        format!("file name {name:?} must be a relative path inside /out"),
                    ));
                }
            }
            if !seen.insert(spec.file.as_str()) {
                return Err(SdcError::manifest(
                    MANIFEST_FILE,
                    line,
                    format!("{:?} has more than one entry", spec.file),
                ));
            }
            if evidence.contains(spec.file.as_str()) {
                return Err(SdcError::manifest(
                    MANIFEST_FILE,
                    line,
                    format!("{:?} is evidence and cannot also be an output", spec.file),
                ));
            }
            let missing = |name: &str, role: &'static str| SdcError::MissingFile {
                file: MANIFEST_FILE.to_owned(),
                line,
                missing: name.to_owned(),
                role,
            };
            if !files.contains_key(&spec.file) {
                return Err(missing(&spec.file, "output"));
            }
            match &spec.kind {
                OutputKind::MagnitudeTable {
                    evidence: Some(name),
                    ..
                } if !files.contains_key(name) => {
                    return Err(missing(name, "evidence"));
                }
                OutputKind::Figure {
                    underlying: Some(name),
                } if !files.contains_key(name) => {
                    return Err(missing(name, "underlying"));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl OutputSpec {
    fn named_files(&self) -> Vec<&str> {
        let mut names = vec![self.file.as_str()];
        match &self.kind {
            OutputKind::MagnitudeTable {
                evidence: Some(name),
                ..
            } => names.push(name),
            OutputKind::Figure {
                underlying: Some(name),
            } => names.push(name),
            _ => {}
        }
        names
    }
}

impl RawEntry {
    fn into_spec(self, text: &str) -> Result<OutputSpec, SdcError> {
        let table = |file: &str, dimensions: Vec<String>, value: String, total: Option<String>| {
            let line = line_of(text, &quoted(file));
            let spec = TableSpec {
                dimensions,
                value,
                total_label: total.unwrap_or_else(|| "Total".to_owned()),
            };
            check_table_spec(&spec)
                .map_err(|message| SdcError::manifest(MANIFEST_FILE, line, message))?;
            Ok::<_, SdcError>(spec)
        };
        let (file, kind) = match self {
            RawEntry::FrequencyTable {
                file,
                dimensions,
                count,
                total_label,
            } => {
                let spec = table(&file, dimensions, count, total_label)?;
                (file, OutputKind::FrequencyTable(spec))
            }
            RawEntry::MagnitudeTable {
                file,
                statistic,
                dimensions,
                value,
                evidence,
                total_label,
            } => {
                let spec = table(&file, dimensions, value, total_label)?;
                (
                    file,
                    OutputKind::MagnitudeTable {
                        table: spec,
                        statistic,
                        evidence,
                    },
                )
            }
            RawEntry::Regression {
                file,
                n_obs,
                residual_dof,
            } => (
                file,
                OutputKind::Regression {
                    n_obs,
                    residual_dof,
                },
            ),
            RawEntry::Summary { file } => (file, OutputKind::Summary),
            RawEntry::Figure { file, underlying } => (file, OutputKind::Figure { underlying }),
            RawEntry::Text { file } => (file, OutputKind::Text),
            RawEntry::Model { file } => (file, OutputKind::Model),
            RawEntry::Other { file } => (file, OutputKind::Other),
        };
        let line = line_of(text, &quoted(&file));
        Ok(OutputSpec { file, kind, line })
    }
}

fn check_table_spec(spec: &TableSpec) -> Result<(), String> {
    if spec.dimensions.is_empty() {
        return Err("a table needs at least one dimension column".into());
    }
    let mut names = BTreeSet::new();
    for name in spec.dimensions.iter().chain([&spec.value]) {
        if name.is_empty() {
            return Err("column names must not be empty".into());
        }
        if !names.insert(name) {
            return Err(format!("column {name:?} is named twice"));
        }
    }
    if spec.total_label.is_empty() {
        return Err("total_label must not be empty".into());
    }
    Ok(())
}

/// A file name the checker accepts: relative, no `..`, no empty components, not the manifest.
fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name != MANIFEST_FILE
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.contains('\0')
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

fn quoted(name: &str) -> String {
    serde_json::to_string(name).unwrap_or_default()
}

/// The 1-based line of the first occurrence of `needle` in `text`, or 1.
fn line_of(text: &str, needle: &str) -> usize {
    text.find(needle)
        .map_or(1, |offset| crate::sdc::error::line_of_offset(text, offset))
}
