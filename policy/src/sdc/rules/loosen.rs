//! Tighten-only comparison: which parameters of a rule set are looser than a baseline.
//!
//! Invariant: a rule set with no loosenings against a baseline fails and reviews at least
//! every cell and file the baseline does (the property tests in `sdc` check this).

use serde::Serialize;

use super::{RuleSet, ZeroRule};

/// One parameter of a proposed rule set that is looser than the baseline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Loosening {
    /// The parameter's name as written in a rules file.
    pub parameter: &'static str,
    /// What changed, for the administrator who must approve it.
    pub message: String,
}

impl RuleSet {
    /// Every parameter that is looser than in `baseline` (empty: only tightened or equal).
    pub fn loosenings(&self, baseline: &RuleSet) -> Vec<Loosening> {
        let mut out = Vec::new();
        let mut flag = |parameter: &'static str, message: String| {
            out.push(Loosening { parameter, message });
        };
        if self.threshold < baseline.threshold {
            flag(
                "threshold",
                format!(
                    "threshold lowered from {} to {}",
                    baseline.threshold, self.threshold
                ),
            );
        }
        if baseline.zeros == ZeroRule::Disclosive && self.zeros == ZeroRule::Allowed {
            flag(
                "zeros",
                "zeros allowed where the baseline treats them as disclosive".into(),
            );
        }
        for rule in &baseline.dominance {
            let covered = self
                .dominance
                .iter()
                .any(|mine| mine.n >= rule.n && mine.k <= rule.k);
            if !covered {
                flag(
                    "dominance",
                    format!("no dominance rule as strict as ({}, {})", rule.n, rule.k),
                );
            }
        }
        if self.p_percent < baseline.p_percent {
            flag(
                "p_percent",
                format!(
                    "p% lowered from {} to {}",
                    baseline.p_percent, self.p_percent
                ),
            );
        }
        if self.min_residual_dof < baseline.min_residual_dof {
            flag(
                "min_residual_dof",
                format!(
                    "residual degrees of freedom lowered from {} to {}",
                    baseline.min_residual_dof, self.min_residual_dof
                ),
            );
        }
        for (parameter, mine, theirs) in [
            ("negatives", self.negatives, baseline.negatives),
            ("missing", self.missing, baseline.missing),
            ("min_max", self.min_max, baseline.min_max),
        ] {
            if mine < theirs {
                flag(
                    parameter,
                    format!(
                        "{parameter} lowered from {} to {}",
                        theirs.as_str(),
                        mine.as_str()
                    ),
                );
            }
        }
        if baseline.secondary_suppression && !self.secondary_suppression {
            flag(
                "secondary_suppression",
                "secondary suppression turned off".into(),
            );
        }
        if baseline.totals_known_elsewhere && !self.totals_known_elsewhere {
            flag(
                "totals_known_elsewhere",
                "unpublished totals no longer protected against".into(),
            );
        }
        if let Some(base) = baseline.rounding() {
            let coarser = self.rounding().is_some_and(|mine| mine % base == 0);
            if !coarser {
                flag(
                    "rounding_base",
                    format!("rounding is no longer to a multiple of {base}"),
                );
            }
        }
        if baseline.rounding_required && !self.rounding_required {
            flag(
                "rounding_required",
                "unrounded counts no longer fail".into(),
            );
        }
        let (mine, theirs) = (&self.gates, &baseline.gates);
        let added: Vec<&str> = mine
            .allowed_extensions
            .iter()
            .filter(|ext| !theirs.allowed_extensions.contains(ext))
            .map(String::as_str)
            .collect();
        if !added.is_empty() {
            flag(
                "gates.allowed_extensions",
                format!("file types added: {}", added.join(", ")),
            );
        }
        if mine.max_bytes > theirs.max_bytes {
            flag(
                "gates.max_bytes",
                format!(
                    "size limit raised from {} to {}",
                    theirs.max_bytes, mine.max_bytes
                ),
            );
        }
        if mine.max_csv_rows > theirs.max_csv_rows {
            flag(
                "gates.max_csv_rows",
                format!(
                    "row limit raised from {} to {}",
                    theirs.max_csv_rows, mine.max_csv_rows
                ),
            );
        }
        if theirs.identifier_columns && !mine.identifier_columns {
            flag(
                "gates.identifier_columns",
                "identifier column check turned off".into(),
            );
        }
        if theirs.pseudonym_tokens && !mine.pseudonym_tokens {
            flag(
                "gates.pseudonym_tokens",
                "pseudonym token check turned off".into(),
            );
        }
        if mine.pseudonym_min_hex_run > theirs.pseudonym_min_hex_run {
            flag(
                "gates.pseudonym_min_hex_run",
                "pseudonym tokens must be longer to be caught".into(),
            );
        }
        out
    }

    /// Whether this rule set is looser than its own preset in any parameter (the gateway
    /// requires an administrator, and audits, when it is).
    pub fn loosens_preset(&self) -> bool {
        !self.loosenings(&self.preset.rules()).is_empty()
    }
}
