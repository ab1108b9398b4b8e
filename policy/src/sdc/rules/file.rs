//! The rules file: TOML that names a preset and overrides some of its parameters.
//!
//! ```toml
//! preset = "acro"
//! name = "diabetes-2026"
//! threshold = 20
//! [gates]
//! max_csv_rows = 1000
//! ```
//! [`RuleSet::to_toml`] prints every parameter, so parse → print → parse is stable.

use serde::Deserialize;

use super::{Dominance, FileGates, Preset, RuleSet, ZeroRule};
use crate::sdc::error::{SdcError, line_of_offset};
use crate::sdc::verdict::Verdict;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    preset: Preset,
    name: Option<String>,
    threshold: Option<u64>,
    zeros: Option<ZeroRule>,
    dominance: Option<Vec<Dominance>>,
    p_percent: Option<f64>,
    min_residual_dof: Option<u64>,
    negatives: Option<Verdict>,
    missing: Option<Verdict>,
    min_max: Option<Verdict>,
    secondary_suppression: Option<bool>,
    totals_known_elsewhere: Option<bool>,
    rounding_base: Option<u64>,
    rounding_required: Option<bool>,
    gates: Option<GatesFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GatesFile {
    allowed_extensions: Option<Vec<String>>,
    max_bytes: Option<u64>,
    max_csv_rows: Option<u64>,
    identifier_columns: Option<bool>,
    pseudonym_tokens: Option<bool>,
    pseudonym_min_hex_run: Option<u32>,
}

impl RuleSet {
    /// Parses a rules file: a preset plus overrides. `file` names the file in errors.
    ///
    /// Loosening a preset is accepted here; ask [`RuleSet::loosenings`] before using it.
    ///
    /// # Errors
    /// [`SdcError::Rules`] with the line of a TOML error, an unknown key, or an
    /// out-of-range parameter.
    pub fn from_toml(file: &str, text: &str) -> Result<RuleSet, SdcError> {
        let parsed: RulesFile = toml::from_str(text).map_err(|err| {
            let line = err
                .span()
                .map_or(1, |span| line_of_offset(text, span.start));
            SdcError::rules(file, line, err.message().trim().to_lowercase())
        })?;
        let rules = parsed.apply();
        rules.check_ranges().map_err(|(parameter, message)| {
            let line = text
                .lines()
                .position(|line| line.trim_start().starts_with(parameter))
                .map_or(1, |index| index + 1);
            SdcError::rules(file, line, message)
        })?;
        Ok(rules)
    }

    /// Prints every parameter as a rules file that [`RuleSet::from_toml`] reads back to an
    /// equal rule set.
    ///
    /// # Errors
    /// [`SdcError::Rules`] if a value cannot be written as TOML (an integer above `i64::MAX`).
    pub fn to_toml(&self) -> Result<String, SdcError> {
        toml::to_string(self).map_err(|err| SdcError::rules("rules", 1, err.to_string()))
    }
}

impl RulesFile {
    fn apply(self) -> RuleSet {
        let base = self.preset.rules();
        // A file that changes anything but keeps the preset's name would misname the rules
        // in every record; it gets a name of its own unless it gives one.
        let changed = self.threshold.is_some()
            || self.zeros.is_some()
            || self.dominance.is_some()
            || self.p_percent.is_some()
            || self.min_residual_dof.is_some()
            || self.negatives.is_some()
            || self.missing.is_some()
            || self.min_max.is_some()
            || self.secondary_suppression.is_some()
            || self.totals_known_elsewhere.is_some()
            || self.rounding_base.is_some()
            || self.rounding_required.is_some()
            || self.gates.is_some();
        let default_name = if changed {
            format!("{}-custom", base.name)
        } else {
            base.name.clone()
        };
        let gates = match self.gates {
            Some(gates) => gates.apply(base.gates.clone()),
            None => base.gates.clone(),
        };
        RuleSet {
            name: self.name.unwrap_or(default_name),
            preset: self.preset,
            threshold: self.threshold.unwrap_or(base.threshold),
            zeros: self.zeros.unwrap_or(base.zeros),
            dominance: self.dominance.unwrap_or(base.dominance),
            p_percent: self.p_percent.unwrap_or(base.p_percent),
            min_residual_dof: self.min_residual_dof.unwrap_or(base.min_residual_dof),
            negatives: self.negatives.unwrap_or(base.negatives),
            missing: self.missing.unwrap_or(base.missing),
            min_max: self.min_max.unwrap_or(base.min_max),
            secondary_suppression: self
                .secondary_suppression
                .unwrap_or(base.secondary_suppression),
            totals_known_elsewhere: self
                .totals_known_elsewhere
                .unwrap_or(base.totals_known_elsewhere),
            rounding_base: self.rounding_base.unwrap_or(base.rounding_base),
            rounding_required: self.rounding_required.unwrap_or(base.rounding_required),
            gates,
        }
    }
}

impl GatesFile {
    fn apply(self, base: FileGates) -> FileGates {
        FileGates {
            allowed_extensions: self
                .allowed_extensions
                .map(|list| list.iter().map(|ext| ext.to_lowercase()).collect())
                .unwrap_or(base.allowed_extensions),
            max_bytes: self.max_bytes.unwrap_or(base.max_bytes),
            max_csv_rows: self.max_csv_rows.unwrap_or(base.max_csv_rows),
            identifier_columns: self.identifier_columns.unwrap_or(base.identifier_columns),
            pseudonym_tokens: self.pseudonym_tokens.unwrap_or(base.pseudonym_tokens),
            pseudonym_min_hex_run: self
                .pseudonym_min_hex_run
                .unwrap_or(base.pseudonym_min_hex_run),
        }
    }
}
