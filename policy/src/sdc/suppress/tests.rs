//! Suppression tests. Every suggestion is re-read as a published table and audited by
//! linear programming: each hidden cell's feasible interval must be at least the threshold
//! wide, and contain the true value. That is the proof that margins do not give it away.

use expect_test::{Expect, expect};

use super::*;
use crate::sdc::audit::hidden_intervals;
use crate::sdc::cells::check_count;
use crate::sdc::grid::{Grid, Model};
use crate::sdc::manifest::TableSpec;
use crate::sdc::rules::{Preset, RuleSet};
use crate::sdc::table::{ValueKind, parse_table};

mod props;

fn spec(dims: usize) -> TableSpec {
    TableSpec {
        dimensions: ["a", "b", "c", "d"][..dims]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        value: "n".into(),
        total_label: "Total".into(),
    }
}

fn plan(rules: &RuleSet) -> Plan {
    Plan {
        additive: true,
        counts: true,
        secondary: rules.secondary_suppression,
        totals_known_elsewhere: rules.totals_known_elsewhere,
        rounding: rules.rounding(),
    }
}

/// Runs the suggestion on a count table the way `check_table` does.
fn suggest_counts(csv: &str, dims: usize, rules: &RuleSet) -> (Table, Suggestion) {
    let table = parse_table("t.csv", csv.as_bytes(), &spec(dims), ValueKind::Count).unwrap();
    let fails = |v: f64| {
        check_count(v, rules)
            .iter()
            .any(|r| r.verdict == Verdict::Fail && r.code != ReasonCode::Unrounded)
    };
    let needs: Vec<Option<f64>> = table
        .rows
        .iter()
        .map(|row| fails(row.value.number().unwrap()).then_some(rules.threshold as f64))
        .collect();
    let suggestion = suggest(&table, &needs, plan(rules), &fails);
    (table, suggestion)
}

/// The suggested CSV plus every margin the original left out (the attacker may know them
/// from elsewhere), with the values the suggestion's own margins would have.
fn published_view(original: &Table, suggested: &str, rules: &RuleSet) -> Table {
    let dims = original.spec.dimensions.len();
    let mut published =
        parse_table("s.csv", suggested.as_bytes(), &spec(dims), ValueKind::Count).unwrap();
    if !rules.totals_known_elsewhere {
        return published;
    }
    let grid = Grid::from_table(original).unwrap();
    let mut model = Model {
        values: vec![0.0; grid.len()],
        states: vec![State::Fixed; grid.len()],
        grid,
    };
    for row in &original.rows {
        let index = model.grid.locate(&row.dims, "Total").unwrap();
        if model.grid.is_interior(index) {
            let value = row.value.number().unwrap();
            model.values[index] = rules
                .rounding()
                .map_or(value, |base| crate::sdc::round::round_count(value, base));
        }
    }
    model.recompute_margins();
    for index in 0..model.grid.len() {
        let labels = model.grid.labels(index, "Total");
        let known = published.rows.iter().any(|row| row.dims == labels);
        let fails = check_count(model.values[index], rules)
            .iter()
            .any(|r| r.verdict == Verdict::Fail && r.code != ReasonCode::Unrounded);
        if !known && !model.grid.is_interior(index) && !fails {
            let value = model.values[index];
            published.rows.push(crate::sdc::table::Row {
                line: 0,
                dims: labels,
                value: Value::Number(value),
                raw: String::new(),
            });
        }
    }
    published
}

/// Asserts the proof and renders the suggestion and every hidden cell's interval.
fn check(csv: &str, dims: usize, rules: &RuleSet, expected: Expect) {
    let (table, suggestion) = suggest_counts(csv, dims, rules);
    let mut out = String::new();
    for reason in &suggestion.reasons {
        out.push_str(&format!("reason: {:?}\n", reason.code));
    }
    match &suggestion.csv {
        None => out.push_str("no suggestion\n"),
        Some(bytes) => {
            let text = String::from_utf8(bytes.clone()).unwrap();
            out.push_str(&text);
            let published = published_view(&table, &text, rules);
            for (row, interval) in hidden_intervals(&published).unwrap() {
                let dims = published.rows[row].dims.join("/");
                let truth = table
                    .rows
                    .iter()
                    .find(|r| r.dims == published.rows[row].dims)
                    .and_then(|r| r.value.number())
                    .unwrap();
                let truth = rules
                    .rounding()
                    .map_or(truth, |base| crate::sdc::round::round_count(truth, base));
                out.push_str(&format!(
                    "  {dims}: [{}, {}]\n",
                    interval.low, interval.high
                ));
                assert!(
                    interval.width() >= rules.threshold as f64 - 1e-6,
                    "{dims} recoverable: {interval:?}"
                );
                assert!(
                    interval.low <= truth + 1e-6 && truth <= interval.high + 1e-6,
                    "{dims}: truth outside {interval:?}"
                );
            }
        }
    }
    expected.assert_eq(&out);
}

fn ndb() -> RuleSet {
    Preset::Ndb.rules()
}

#[test]
fn one_dimension_with_total_hides_the_smallest_sufficient_complement() {
    check(
        "a,n\n0-19,3\n20-39,50\n40-59,12\n60+,30\nTotal,95\n",
        1,
        &ndb(),
        expect![[r#"
            a,n
            0-19,[REDACTED]
            20-39,50
            40-59,[REDACTED]
            60+,30
            Total,95
              0-19: [0, 15]
              40-59: [0, 15]
        "#]],
    );
}

#[test]
fn one_dimension_without_total_still_protects_against_a_known_total() {
    check(
        "a,n\nx,3\ny,50\nz,12\n",
        1,
        &ndb(),
        expect![[r#"
        a,n
        x,[REDACTED]
        y,50
        z,[REDACTED]
          x: [0, 15]
          z: [0, 15]
    "#]],
    );
    let rules = RuleSet {
        totals_known_elsewhere: false,
        ..ndb()
    };
    check(
        "a,n\nx,3\ny,50\nz,12\n",
        1,
        &rules,
        expect![[r#"
        a,n
        x,[REDACTED]
        y,50
        z,12
          x: [0, inf]
    "#]],
    );
}

#[test]
fn two_small_cells_in_a_row_need_a_third_because_their_sum_is_small() {
    check(
        "a,n\nx,3\ny,4\nz,40\nw,11\nTotal,58\n",
        1,
        &ndb(),
        expect![[r#"
        a,n
        x,[REDACTED]
        y,[REDACTED]
        z,40
        w,[REDACTED]
        Total,58
          x: [0, 18]
          y: [0, 18]
          w: [0, 18]
    "#]],
    );
}

#[test]
fn two_dimensions_with_margins() {
    let csv = "a,b,n\n\
        m,young,3\nm,old,40\nm,Total,43\n\
        f,young,25\nf,old,30\nf,Total,55\n\
        x,young,12\nx,old,60\nx,Total,72\n\
        Total,young,40\nTotal,old,130\nTotal,Total,170\n";
    check(
        csv,
        2,
        &ndb(),
        expect![[r#"
        a,b,n
        m,young,[REDACTED]
        m,old,[REDACTED]
        m,Total,43
        f,young,[REDACTED]
        f,old,[REDACTED]
        f,Total,55
        x,young,12
        x,old,60
        x,Total,72
        Total,young,40
        Total,old,130
        Total,Total,170
          m/young: [0, 28]
          m/old: [15, 43]
          f/young: [0, 28]
          f/old: [27, 55]
    "#]],
    );
}

#[test]
fn three_dimensions_with_all_margins() {
    let mut csv = String::from("a,b,c,n\n");
    let value = |a: usize, b: usize, c: usize| {
        [2, 14, 20, 31, 17, 25, 40, 11, 9, 60, 33, 18][a * 4 + b * 2 + c] as u64
    };
    for a in 0..4 {
        for b in 0..3 {
            for c in 0..3 {
                let sum: u64 = (0..3usize)
                    .flat_map(|x| {
                        (0..2usize).flat_map(move |y| (0..2usize).map(move |z| (x, y, z)))
                    })
                    .filter(|(x, y, z)| {
                        (a == 3 || a == *x) && (b == 2 || b == *y) && (c == 2 || c == *z)
                    })
                    .map(|(x, y, z)| value(x, y, z))
                    .sum();
                let label = |i: usize, last: usize| {
                    if i == last {
                        "Total".to_owned()
                    } else {
                        i.to_string()
                    }
                };
                csv.push_str(&format!(
                    "{},{},{},{sum}\n",
                    label(a, 3),
                    label(b, 2),
                    label(c, 2)
                ));
            }
        }
    }
    check(
        &csv,
        3,
        &ndb(),
        expect![[r#"
        a,b,c,n
        0,0,0,[REDACTED]
        0,0,1,[REDACTED]
        0,0,Total,16
        0,1,0,[REDACTED]
        0,1,1,[REDACTED]
        0,1,Total,51
        0,Total,0,22
        0,Total,1,45
        0,Total,Total,67
        1,0,0,[REDACTED]
        1,0,1,[REDACTED]
        1,0,Total,42
        1,1,0,[REDACTED]
        1,1,1,[REDACTED]
        1,1,Total,51
        1,Total,0,57
        1,Total,1,36
        1,Total,Total,93
        2,0,0,[REDACTED]
        2,0,1,[REDACTED]
        2,0,Total,69
        2,1,0,[REDACTED]
        2,1,1,[REDACTED]
        2,1,Total,51
        2,Total,0,42
        2,Total,1,78
        2,Total,Total,120
        Total,0,0,28
        Total,0,1,99
        Total,0,Total,127
        Total,1,0,93
        Total,1,1,60
        Total,1,Total,153
        Total,Total,0,121
        Total,Total,1,159
        Total,Total,Total,280
          0/0/0: [0, 16]
          0/0/1: [0, 16]
          0/1/0: [6, 22]
          0/1/1: [29, 45]
          1/0/0: [6, 28]
          1/0/1: [14, 36]
          1/1/0: [29, 51]
          1/1/1: [0, 22]
          2/0/0: [0, 22]
          2/0/1: [47, 69]
          2/1/0: [20, 42]
          2/1/1: [9, 31]
    "#]],
    );
}

#[test]
fn a_small_margin_is_suppressed_and_protected_by_another_margin() {
    let csv = "a,b,n\n\
        m,young,0\nm,old,4\nm,Total,4\n\
        f,young,25\nf,old,30\nf,Total,55\n\
        x,young,12\nx,old,60\nx,Total,72\n\
        Total,young,37\nTotal,old,94\nTotal,Total,131\n";
    check(
        csv,
        2,
        &ndb(),
        expect![[r#"
        a,b,n
        m,young,0
        m,old,[REDACTED]
        m,Total,[REDACTED]
        f,young,25
        f,old,[REDACTED]
        f,Total,[REDACTED]
        x,young,12
        x,old,60
        x,Total,72
        Total,young,37
        Total,old,94
        Total,Total,131
          m/old: [0, 34]
          m/Total: [0, 34]
          f/old: [0, 34]
          f/Total: [25, 59]
    "#]],
    );
}

#[test]
fn a_small_table_total_hides_everything() {
    check(
        "a,n\nx,3\ny,4\nTotal,7\n",
        1,
        &ndb(),
        expect![[r#"
        a,n
        x,[REDACTED]
        y,[REDACTED]
        Total,[REDACTED]
          x: [0, inf]
          y: [0, inf]
          Total: [0, inf]
    "#]],
    );
}

#[test]
fn no_safe_version_when_structural_zeros_and_known_totals_pin_the_cell() {
    // (m, old) and (f, young) are absent, hence known zeros; the grand total 43 and f's
    // total 40 are safe and may be published elsewhere, so m/young = 43 - 40 whatever we hide.
    check(
        "a,b,n\nm,young,3\nf,old,40\n",
        2,
        &ndb(),
        expect![[r#"
        reason: NoSafeSuggestion
        no suggestion
    "#]],
    );
}

#[test]
fn opensafely_redacts_then_rounds_and_recomputes_margins() {
    let csv = "a,b,n\n\
        m,young,7\nm,old,41\nm,Total,48\n\
        f,young,8\nf,old,33\nf,Total,41\n\
        Total,young,15\nTotal,old,74\nTotal,Total,89\n";
    check(
        csv,
        2,
        &Preset::Opensafely.rules(),
        expect![[r#"
        a,b,n
        m,young,[REDACTED]
        m,old,[REDACTED]
        m,Total,45
        f,young,[REDACTED]
        f,old,[REDACTED]
        f,Total,45
        Total,young,15
        Total,old,75
        Total,Total,90
          m/young: [0, 15]
          m/old: [30, 45]
          f/young: [0, 15]
          f/old: [30, 45]
    "#]],
    );
}

#[test]
fn without_secondary_suppression_only_failing_cells_are_hidden() {
    let rules = RuleSet {
        secondary_suppression: false,
        ..ndb()
    };
    let (_, suggestion) = suggest_counts("a,n\nx,3\ny,50\nTotal,53\n", 1, &rules);
    assert_eq!(suggestion.actions, [Some(Suppression::Primary), None, None]);
}
