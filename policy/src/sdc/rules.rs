//! Rule sets: named parameters for every check, the three presets and their validation.
//!
//! A project picks a preset and may tighten it in a rules file ([`RuleSet::from_toml`]);
//! [`RuleSet::loosenings`] lists every parameter that is looser than a baseline, so the
//! gateway can demand an administrator for those. Pure: no I/O.

mod file;
mod loosen;
#[cfg(test)]
mod tests;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use loosen::Loosening;

use crate::sdc::error::SdcError;
use crate::sdc::verdict::Verdict;

/// The presets a rule set can start from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Preset {
    /// Japan's NDB publication rules: counts below 10 unsafe, zeros publishable.
    Ndb,
    /// ACRO's defaults: threshold 10, zeros disclosive, (2, 0.9) dominance, p% 0.1, dof 10.
    Acro,
    /// OpenSAFELY: counts of 7 or fewer redacted, the rest rounded to a multiple of 5.
    Opensafely,
}

impl Preset {
    /// Every preset, in a stable order.
    pub const ALL: [Preset; 3] = [Preset::Ndb, Preset::Acro, Preset::Opensafely];

    /// The stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Ndb => "ndb",
            Preset::Acro => "acro",
            Preset::Opensafely => "opensafely",
        }
    }

    /// The preset's name-to-value parse; `None` for an unknown name.
    pub fn from_name(name: &str) -> Option<Preset> {
        Preset::ALL
            .into_iter()
            .find(|preset| preset.as_str() == name)
    }

    /// The preset's full rule set.
    pub fn rules(self) -> RuleSet {
        let base = RuleSet {
            name: self.as_str().to_owned(),
            preset: self,
            threshold: 10,
            zeros: ZeroRule::Allowed,
            dominance: Vec::new(),
            p_percent: 0.0,
            min_residual_dof: 10,
            negatives: Verdict::Review,
            missing: Verdict::Review,
            min_max: Verdict::Review,
            secondary_suppression: true,
            totals_known_elsewhere: true,
            rounding_base: 0,
            rounding_required: false,
            gates: FileGates::default(),
        };
        match self {
            Preset::Ndb => base,
            Preset::Acro => RuleSet {
                zeros: ZeroRule::Disclosive,
                dominance: vec![Dominance { n: 2, k: 0.9 }],
                p_percent: 0.1,
                ..base
            },
            Preset::Opensafely => RuleSet {
                threshold: 8,
                rounding_base: 5,
                rounding_required: true,
                ..base
            },
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How zero counts are treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZeroRule {
    /// A zero may be published (NDB, OpenSAFELY).
    Allowed,
    /// A zero reveals that everyone in a group shares (or lacks) a trait (ACRO): fail.
    Disclosive,
}

/// An (n, k) dominance rule: a magnitude cell fails when its `n` largest contributions make
/// up more than the fraction `k` of the cell total (ACRO's strict inequality).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dominance {
    /// Number of largest contributors (1 or 2: evidence carries `top1` and `top2`).
    pub n: u8,
    /// Fraction of the cell total, in (0, 1].
    pub k: f64,
}

/// Gates every released file passes, whatever its kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileGates {
    /// Lower-case file name extensions that may leave (OpenSAFELY's list by default).
    pub allowed_extensions: Vec<String>,
    /// Largest file size in bytes.
    pub max_bytes: u64,
    /// Most data rows in a CSV file (header excluded).
    pub max_csv_rows: u64,
    /// Fail CSV files with a column whose name looks like a person identifier.
    pub identifier_columns: bool,
    /// Fail text with tokens that look like pseudonyms (long runs of hexadecimal digits).
    pub pseudonym_tokens: bool,
    /// Shortest run of hexadecimal digits that counts as a pseudonym-like token.
    pub pseudonym_min_hex_run: u32,
}

impl Default for FileGates {
    fn default() -> Self {
        FileGates {
            allowed_extensions: ["csv", "png", "jpeg", "jpg", "svg", "txt", "json", "md"]
                .into_iter()
                .map(str::to_owned)
                .collect(),
            max_bytes: 16 * 1024 * 1024,
            max_csv_rows: 5000,
            identifier_columns: true,
            pseudonym_tokens: true,
            pseudonym_min_hex_run: 12,
        }
    }
}

/// A complete, named rule set: every parameter of every check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// The rule set's name, recorded with every check.
    pub name: String,
    /// The preset it started from; loosening is judged against it.
    pub preset: Preset,
    /// A count (or number of contributors) below this is unsafe (OpenSAFELY's "≤ 7" is 8).
    pub threshold: u64,
    /// Whether zero counts are disclosive.
    pub zeros: ZeroRule,
    /// Dominance rules; empty turns the check off.
    pub dominance: Vec<Dominance>,
    /// p% rule as a fraction: a cell fails when (total − top1 − top2) < p × top1; 0 is off.
    pub p_percent: f64,
    /// A regression with fewer residual degrees of freedom fails.
    pub min_residual_dof: u64,
    /// Verdict for magnitude cells with negative contributions (dominance undefined).
    pub negatives: Verdict,
    /// Verdict for magnitude cells computed over missing values.
    pub missing: Verdict,
    /// Verdict for min/max cells that have enough contributors (never `pass` by default).
    pub min_max: Verdict,
    /// Suggest secondary suppression so suppressed cells cannot be recovered from margins.
    pub secondary_suppression: bool,
    /// Protect as if a table's margins were known even when it does not publish them.
    pub totals_known_elsewhere: bool,
    /// Round counts in the suggested version to a multiple of this (0 or 1: no rounding).
    pub rounding_base: u64,
    /// Fail counts that are not multiples of `rounding_base`.
    pub rounding_required: bool,
    /// File gates.
    pub gates: FileGates,
}

impl RuleSet {
    /// The preset's rule set (same as [`Preset::rules`]).
    pub fn preset(preset: Preset) -> RuleSet {
        preset.rules()
    }

    /// Checks every parameter's range.
    ///
    /// # Errors
    /// [`SdcError::Rules`] naming the first out-of-range parameter.
    pub fn validate(&self) -> Result<(), SdcError> {
        self.check_ranges()
            .map_err(|(_, message)| SdcError::rules("rules", 1, message))
    }

    /// The first out-of-range parameter: its name and what is wrong.
    pub(crate) fn check_ranges(&self) -> Result<(), (&'static str, String)> {
        let bad = |parameter: &'static str, message: &str| Err((parameter, message.to_owned()));
        if self.name.trim().is_empty() {
            return bad("name", "the rule set needs a name");
        }
        if self.threshold == 0 || self.threshold > 1_000_000 {
            return bad("threshold", "threshold must be between 1 and 1000000");
        }
        for rule in &self.dominance {
            if !(1..=2).contains(&rule.n) {
                return bad(
                    "dominance",
                    "dominance n must be 1 or 2 (evidence carries top1 and top2)",
                );
            }
            if !(rule.k > 0.0 && rule.k <= 1.0) {
                return bad("dominance", "dominance k must be in (0, 1]");
            }
        }
        if !(0.0..1.0).contains(&self.p_percent) {
            return bad("p_percent", "p_percent must be in [0, 1)");
        }
        if self.rounding_base > 1_000_000 {
            return bad("rounding_base", "rounding_base must be at most 1000000");
        }
        if self.rounding_required && self.rounding_base < 2 {
            return bad(
                "rounding_required",
                "rounding_required needs a rounding_base of at least 2",
            );
        }
        if self.gates.max_bytes == 0 || self.gates.max_bytes > 1 << 40 {
            return bad("max_bytes", "gates.max_bytes must be between 1 and 2^40");
        }
        if self.gates.max_csv_rows > 1 << 40 {
            return bad("max_csv_rows", "gates.max_csv_rows must be at most 2^40");
        }
        if self.gates.pseudonym_min_hex_run < 4 || self.gates.pseudonym_min_hex_run > 1024 {
            return bad(
                "pseudonym_min_hex_run",
                "gates.pseudonym_min_hex_run must be between 4 and 1024",
            );
        }
        Ok(())
    }

    /// The rounding base when rounding is on.
    pub(crate) fn rounding(&self) -> Option<u64> {
        (self.rounding_base >= 2).then_some(self.rounding_base)
    }
}
