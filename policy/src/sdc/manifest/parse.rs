//! Parsing and validating `manifest.json`: serde for the schema (errors carry line and
//! column), then the checks the schema cannot express.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::{MANIFEST_FILE, Manifest, OutputKind, OutputSpec, Statistic, TableSpec};
use crate::sdc::error::SdcError;

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

    /// Files named as a figure's underlying counts.
    pub fn underlying_files(&self) -> BTreeSet<&str> {
        self.outputs
            .iter()
            .filter_map(|spec| match &spec.kind {
                OutputKind::Figure { underlying } => underlying.as_deref(),
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
