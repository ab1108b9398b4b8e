//! Table-driven edges of every cell rule: N-1, N, N+1, zero, k exactly at the limit,
//! p% exactly at the limit, negative contributions, missing values, extremes, dof.

use expect_test::{Expect, expect};

use super::*;
use crate::sdc::rules::Preset;
use crate::sdc::verdict::overall;

fn show(reasons: &[Reason]) -> String {
    let codes: Vec<String> = reasons.iter().map(|r| format!("{:?}", r.code)).collect();
    format!("{} {}", overall(reasons).as_str(), codes.join(","))
}

/// One line per count: `count: verdict codes`.
fn check_counts(preset: Preset, counts: &[u64], expected: Expect) {
    let rules = preset.rules();
    let out: String = counts
        .iter()
        .map(|n| format!("{n}: {}\n", show(&check_count(*n as f64, &rules))))
        .collect();
    expected.assert_eq(&out);
}

fn evidence(n: u64, sum: f64, top1: f64, top2: f64) -> Evidence {
    Evidence {
        n,
        sum,
        top1,
        top2,
        negatives: 0,
        missing: 0,
    }
}

/// One line per labelled case: `label: verdict codes`.
fn check_magnitudes(
    rules: &RuleSet,
    cases: &[(&str, Statistic, Option<Evidence>)],
    expected: Expect,
) {
    let out: String = cases
        .iter()
        .map(|(label, statistic, evidence)| {
            format!(
                "{label}: {}\n",
                show(&check_magnitude(*statistic, evidence.as_ref(), rules))
            )
        })
        .collect();
    expected.assert_eq(&out);
}

#[test]
fn ndb_threshold_edges_and_zeros_allowed() {
    check_counts(
        Preset::Ndb,
        &[0, 1, 9, 10, 11, 1_000_000],
        expect![[r#"
        0: pass 
        1: fail Threshold
        9: fail Threshold
        10: pass 
        11: pass 
        1000000: pass 
    "#]],
    );
}

#[test]
fn acro_zeros_are_disclosive() {
    check_counts(
        Preset::Acro,
        &[0, 9, 10, 11],
        expect![[r#"
        0: fail Zero
        9: fail Threshold
        10: pass 
        11: pass 
    "#]],
    );
}

#[test]
fn opensafely_redacts_seven_or_fewer_and_wants_multiples_of_five() {
    check_counts(
        Preset::Opensafely,
        &[0, 5, 7, 8, 10, 12, 15],
        expect![[r#"
        0: pass 
        5: fail Threshold
        7: fail Threshold,Unrounded
        8: fail Unrounded
        10: pass 
        12: fail Unrounded
        15: pass 
    "#]],
    );
}

#[test]
fn dominance_and_p_percent_at_the_exact_limits() {
    let acro = Preset::Acro.rules();
    check_magnitudes(
        &acro,
        &[
            (
                "top2 exactly 90% of total",
                Statistic::Sum,
                Some(evidence(10, 100.0, 50.0, 40.0)),
            ),
            (
                "top2 just over 90%",
                Statistic::Sum,
                Some(evidence(10, 100.0, 50.0, 40.5)),
            ),
            (
                "spread out",
                Statistic::Sum,
                Some(evidence(20, 1000.0, 100.0, 90.0)),
            ),
            (
                "all contributions zero",
                Statistic::Sum,
                Some(evidence(20, 0.0, 0.0, 0.0)),
            ),
            (
                "dominance ignored for median",
                Statistic::Median,
                Some(evidence(10, 100.0, 99.0, 1.0)),
            ),
        ],
        expect![[r#"
            top2 exactly 90% of total: pass 
            top2 just over 90%: fail Dominance
            spread out: pass 
            all contributions zero: pass 
            dominance ignored for median: pass 
        "#]],
    );
    // Under ACRO's defaults p% 0.1 is implied by (2, 0.9); isolate it.
    let p_only = RuleSet {
        dominance: Vec::new(),
        ..acro
    };
    check_magnitudes(
        &p_only,
        &[
            (
                "rest exactly 10% of top1",
                Statistic::Mean,
                Some(evidence(10, 1000.0, 500.0, 450.0)),
            ),
            (
                "rest just under 10% of top1",
                Statistic::Mean,
                Some(evidence(10, 1000.0, 500.0, 451.0)),
            ),
            (
                "single contributor",
                Statistic::Sum,
                Some(evidence(1, 70.0, 70.0, 0.0)),
            ),
        ],
        expect![[r#"
            rest exactly 10% of top1: pass 
            rest just under 10% of top1: fail PPercent
            single contributor: fail Threshold,PPercent
        "#]],
    );
}

#[test]
fn contributors_threshold_edges_and_empty_cells() {
    let many = |n| Some(evidence(n, 1000.0, 100.0, 90.0));
    check_magnitudes(
        &Preset::Ndb.rules(),
        &[
            ("n=9", Statistic::Mean, many(9)),
            ("n=10", Statistic::Mean, many(10)),
            ("n=11", Statistic::Mean, many(11)),
            (
                "n=0 under ndb",
                Statistic::Sum,
                Some(evidence(0, 0.0, 0.0, 0.0)),
            ),
            ("no evidence", Statistic::Sum, None),
        ],
        expect![[r#"
            n=9: fail Threshold
            n=10: pass 
            n=11: pass 
            n=0 under ndb: pass 
            no evidence: fail EvidenceMissing
        "#]],
    );
    check_magnitudes(
        &Preset::Acro.rules(),
        &[(
            "n=0 under acro",
            Statistic::Sum,
            Some(evidence(0, 0.0, 0.0, 0.0)),
        )],
        expect![[r#"
        n=0 under acro: fail Zero
    "#]],
    );
}

#[test]
fn negatives_missing_and_extremes() {
    let negative = Evidence {
        negatives: 2,
        ..evidence(30, 10.0, 500.0, 400.0)
    };
    let missing = Evidence {
        missing: 3,
        ..evidence(30, 1000.0, 100.0, 90.0)
    };
    let rules = Preset::Acro.rules();
    check_magnitudes(
        &rules,
        &[
            ("negative contributions", Statistic::Sum, Some(negative)),
            ("missing values", Statistic::Mean, Some(missing)),
            (
                "max of 30",
                Statistic::Max,
                Some(evidence(30, 1000.0, 100.0, 90.0)),
            ),
            (
                "min of 9",
                Statistic::Min,
                Some(evidence(9, 1000.0, 200.0, 190.0)),
            ),
            (
                "median of 9",
                Statistic::Median,
                Some(evidence(9, 1000.0, 200.0, 190.0)),
            ),
            (
                "mode of 10",
                Statistic::Mode,
                Some(evidence(10, 1000.0, 200.0, 190.0)),
            ),
            (
                "std of 12",
                Statistic::Std,
                Some(evidence(12, 1000.0, 200.0, 190.0)),
            ),
        ],
        expect![[r#"
            negative contributions: review NegativeValues
            missing values: review MissingValues
            max of 30: review ExtremeValue
            min of 9: fail Threshold
            median of 9: fail Threshold,ExtremeValue
            mode of 10: pass 
            std of 12: pass 
        "#]],
    );
    let relaxed = RuleSet {
        min_max: Verdict::Pass,
        negatives: Verdict::Fail,
        ..rules
    };
    check_magnitudes(
        &relaxed,
        &[
            (
                "max of 30, min_max = pass",
                Statistic::Max,
                Some(evidence(30, 1000.0, 100.0, 90.0)),
            ),
            ("negatives = fail", Statistic::Sum, Some(negative)),
        ],
        expect![[r#"
            max of 30, min_max = pass: pass 
            negatives = fail: fail NegativeValues
        "#]],
    );
}

#[test]
fn residual_degrees_of_freedom_edges() {
    let rules = Preset::Acro.rules();
    let out: String = [None, Some(0), Some(9), Some(10), Some(11)]
        .iter()
        .map(|dof| format!("{dof:?}: {}\n", show(&check_regression(*dof, &rules))))
        .collect();
    expect![[r#"
        None: fail ResidualDof
        Some(0): fail ResidualDof
        Some(9): fail ResidualDof
        Some(10): pass 
        Some(11): pass 
    "#]]
    .assert_eq(&out);
}

#[test]
fn protection_widths() {
    let rules = Preset::Acro.rules();
    let out = [
        magnitude_protection(100.0, Some(&evidence(10, 100.0, 50.0, 45.0)), &rules),
        magnitude_protection(-40.0, None, &rules),
        magnitude_protection(0.0, None, &rules),
        magnitude_protection(
            100.0,
            Some(&evidence(10, 100.0, 95.0, 4.0)),
            &RuleSet {
                dominance: vec![crate::sdc::rules::Dominance { n: 1, k: 0.2 }],
                ..rules.clone()
            },
        ),
    ];
    expect![[r#"
        [
            100.0,
            40.0,
            1e-9,
            375.0,
        ]
    "#]]
    .assert_debug_eq(&out);
}
