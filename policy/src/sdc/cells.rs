//! Per-cell rules: threshold, zeros, rounding for counts; contributors, dominance, p%,
//! negative contributions, missing values and extremes for magnitudes; residual degrees
//! of freedom for regressions. Each returns the reasons a cell is not a plain pass.
//!
//! Invariant: no NaN escapes: ratios are taken only over strictly positive totals.

#[cfg(test)]
mod tests;

use crate::sdc::manifest::Statistic;
use crate::sdc::rules::{RuleSet, ZeroRule};
use crate::sdc::table::Evidence;
use crate::sdc::verdict::{Reason, ReasonCode, Verdict};

/// Reasons for one count (a frequency-table cell or margin).
pub(crate) fn check_count(count: f64, rules: &RuleSet) -> Vec<Reason> {
    let mut reasons = Vec::new();
    if count == 0.0 {
        if rules.zeros == ZeroRule::Disclosive {
            reasons.push(Reason::new(
                ReasonCode::Zero,
                Verdict::Fail,
                "zero count, and zeros are disclosive under this rule set",
            ));
        }
    } else if count < rules.threshold as f64 {
        reasons.push(threshold_reason("count", rules.threshold));
    }
    if let Some(base) = rules.rounding().filter(|_| rules.rounding_required)
        && count % base as f64 != 0.0
    {
        reasons.push(Reason::new(
            ReasonCode::Unrounded,
            Verdict::Fail,
            format!("count is not rounded to a multiple of {base}"),
        ));
    }
    reasons
}

/// Reasons for one magnitude cell given its evidence.
pub(crate) fn check_magnitude(
    statistic: Statistic,
    evidence: Option<&Evidence>,
    rules: &RuleSet,
) -> Vec<Reason> {
    let Some(evidence) = evidence else {
        return vec![Reason::new(
            ReasonCode::EvidenceMissing,
            Verdict::Fail,
            "no evidence row for this cell (contributors and top contributions)",
        )];
    };
    let mut reasons = Vec::new();
    if evidence.n == 0 {
        if rules.zeros == ZeroRule::Disclosive {
            reasons.push(Reason::new(
                ReasonCode::Zero,
                Verdict::Fail,
                "no contributors, and empty cells are disclosive under this rule set",
            ));
        }
        return reasons;
    }
    if evidence.n < rules.threshold {
        reasons.push(threshold_reason("number of contributors", rules.threshold));
    }
    match statistic {
        Statistic::Min | Statistic::Max
            if evidence.n >= rules.threshold && rules.min_max != Verdict::Pass =>
        {
            reasons.push(Reason::new(
                ReasonCode::ExtremeValue,
                rules.min_max,
                "a minimum or maximum is one person's value",
            ));
        }
        Statistic::Median | Statistic::Mode if evidence.n < rules.threshold => {
            reasons.push(Reason::new(
                ReasonCode::ExtremeValue,
                Verdict::Fail,
                "a median or mode of too few contributors is one person's value",
            ));
        }
        _ => {}
    }
    if evidence.negatives > 0 {
        if rules.negatives != Verdict::Pass {
            reasons.push(Reason::new(
                ReasonCode::NegativeValues,
                rules.negatives,
                "negative contributions: dominance and p% cannot be judged",
            ));
        }
    } else if matches!(statistic, Statistic::Sum | Statistic::Mean) {
        reasons.extend(dominance(evidence, rules));
    }
    if evidence.missing > 0 && rules.missing != Verdict::Pass {
        reasons.push(Reason::new(
            ReasonCode::MissingValues,
            rules.missing,
            "the statistic was computed over data with missing values",
        ));
    }
    reasons
}

/// (n, k) dominance and p% over non-negative contributions.
fn dominance(evidence: &Evidence, rules: &RuleSet) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let total = evidence.sum;
    // All contributions zero (or an inconsistent non-positive sum): no one dominates.
    if total <= 0.0 || evidence.top1 <= 0.0 {
        return reasons;
    }
    for rule in &rules.dominance {
        let top = if rule.n == 1 {
            evidence.top1
        } else {
            evidence.top1 + evidence.top2
        };
        if top / total > rule.k {
            reasons.push(Reason::new(
                ReasonCode::Dominance,
                Verdict::Fail,
                format!(
                    "the largest {} contribution(s) exceed {} of the cell total",
                    rule.n, rule.k
                ),
            ));
        }
    }
    if rules.p_percent > 0.0 {
        let rest = total - evidence.top1 - evidence.top2;
        if rest / evidence.top1 < rules.p_percent {
            reasons.push(Reason::new(
                ReasonCode::PPercent,
                Verdict::Fail,
                format!(
                    "the second-largest contributor could estimate the largest within {}",
                    rules.p_percent
                ),
            ));
        }
    }
    reasons
}

/// The interval width the attacker must be left with for a suppressed magnitude cell:
/// at least the cell's own size, and at least what dominance and p% protection demand.
pub(crate) fn magnitude_protection(
    value: f64,
    evidence: Option<&Evidence>,
    rules: &RuleSet,
) -> f64 {
    let mut need = value.abs();
    if let Some(evidence) = evidence.filter(|e| e.negatives == 0) {
        for rule in &rules.dominance {
            let top = if rule.n == 1 {
                evidence.top1
            } else {
                evidence.top1 + evidence.top2
            };
            need = need.max(top / rule.k - evidence.sum);
        }
        need = need
            .max(rules.p_percent * evidence.top1 - (evidence.sum - evidence.top1 - evidence.top2));
    }
    if need.is_finite() && need > 1e-9 {
        need
    } else {
        1e-9
    }
}

/// Reasons for a regression.
pub(crate) fn check_regression(residual_dof: Option<u64>, rules: &RuleSet) -> Vec<Reason> {
    match residual_dof {
        None => vec![Reason::new(
            ReasonCode::ResidualDof,
            Verdict::Fail,
            "the manifest does not give the residual degrees of freedom",
        )],
        Some(dof) if dof < rules.min_residual_dof => vec![Reason::new(
            ReasonCode::ResidualDof,
            Verdict::Fail,
            format!(
                "fewer than {} residual degrees of freedom",
                rules.min_residual_dof
            ),
        )],
        Some(_) => Vec::new(),
    }
}

fn threshold_reason(what: &str, threshold: u64) -> Reason {
    Reason::new(
        ReasonCode::Threshold,
        Verdict::Fail,
        format!("{what} below the threshold of {threshold}"),
    )
}
