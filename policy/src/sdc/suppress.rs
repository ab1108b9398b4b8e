//! The suggested safe version of a table: primary suppression of failing cells, optional
//! rounding (margins recomputed from the rounded cells), and secondary suppression so that
//! no suppressed cell can be recovered from the published cells and margins.
//!
//! Secondary suppression is the hypercube method (as in τ-ARGUS): each primary cell `p` is
//! protected by a hypercube of 2^n cells of the extended grid with `p` as one corner, all of
//! them hidden. Adding `±t` to its corners in alternating signs keeps every published
//! margin, so every `t` that keeps the corners non-negative is consistent with what is
//! published: the attacker's interval for `p` is at least `min(plus corners) + min(minus
//! corners)` wide. We pick, per primary, the cheapest cube (sum of newly hidden values,
//! then fewest new cells) whose width reaches the protection the rule requires. Later
//! suppressions only widen intervals, so earlier guarantees hold.

mod hypercube;
#[cfg(test)]
mod tests;

use serde::Serialize;

use crate::sdc::grid::{Grid, Model, State};
use crate::sdc::round::round_count;
use crate::sdc::table::{SUPPRESSED, Table, Value};
use crate::sdc::verdict::{Reason, ReasonCode, Verdict};
use hypercube::protect;

/// Why the suggested version hides a cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Suppression {
    /// The cell fails a rule.
    Primary,
    /// The cell is hidden to protect a primary cell.
    Secondary,
}

/// How to build a suggestion.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// Margins are sums of cells (counts, sums), so secondary suppression applies.
    pub additive: bool,
    /// Values are whole counts, printed as integers.
    pub counts: bool,
    pub secondary: bool,
    pub totals_known_elsewhere: bool,
    pub rounding: Option<u64>,
}

/// The suggested version of one table.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Suggestion {
    /// CSV bytes, or `None` when nothing changes or no safe version exists.
    pub csv: Option<Vec<u8>>,
    /// Per input row: whether the suggestion hides it.
    pub actions: Vec<Option<Suppression>>,
    /// File-level reasons (margins inconsistent, no safe version).
    pub reasons: Vec<Reason>,
}

/// Builds the suggestion. `needs[row]` is `Some(width)` for rows that fail a rule: the
/// interval width the attacker must be left with. `unsafe_total` says whether a margin the
/// table leaves out would itself be disclosive (then it is not assumed known elsewhere).
pub(crate) fn suggest(
    table: &Table,
    needs: &[Option<f64>],
    plan: Plan,
    unsafe_total: &dyn Fn(f64) -> bool,
) -> Suggestion {
    let mut reasons = Vec::new();
    let mut actions: Vec<Option<Suppression>> = needs
        .iter()
        .map(|need| need.map(|_| Suppression::Primary))
        .collect();
    if table.rows.iter().any(|row| row.value == Value::Hidden) {
        // Hidden input cells have unknown values: the audit judges them instead.
        return Suggestion {
            csv: None,
            actions,
            reasons,
        };
    }
    let mut printed: Vec<Option<f64>> = vec![None; table.rows.len()];
    if plan.additive {
        let Some(grid) = Grid::from_table(table) else {
            reasons.push(no_safe(
                "the table is too large to build a suppressed version",
            ));
            return Suggestion {
                csv: None,
                actions,
                reasons,
            };
        };
        let mut model = model(table, grid, plan, unsafe_total, &mut reasons);
        let mut primaries: Vec<(usize, f64)> = Vec::new();
        let cells: Vec<Option<usize>> = table
            .rows
            .iter()
            .map(|row| model.grid.locate(&row.dims, &table.spec.total_label))
            .collect();
        for (row, need) in needs.iter().enumerate() {
            if let (Some(need), Some(index)) = (need, cells[row]) {
                model.states[index] = State::Primary;
                primaries.push((index, *need));
            }
        }
        if plan.secondary {
            primaries.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            for (index, need) in primaries {
                if !protect(&mut model, index, need) {
                    reasons.push(no_safe("no combination of complementary suppressions protects every suppressed cell"));
                    return Suggestion {
                        csv: None,
                        actions,
                        reasons,
                    };
                }
            }
        }
        for (row, index) in cells.iter().enumerate() {
            let Some(index) = *index else { continue };
            if model.states[index] == State::Secondary {
                actions[row] = Some(Suppression::Secondary);
            }
            if plan.counts || plan.rounding.is_some() || !reasons.is_empty() {
                printed[row] = Some(model.values[index]);
            }
        }
    }
    let changed = actions.iter().any(Option::is_some)
        || !table.extra_columns.is_empty()
        || table
            .rows
            .iter()
            .zip(&printed)
            .any(|(row, value)| value.is_some_and(|v| Some(v) != row.value.number()));
    let csv = changed.then(|| write_csv(table, &actions, &printed, plan.counts));
    Suggestion {
        csv,
        actions,
        reasons,
    }
}

/// The grid model of a table without hidden cells: recomputed (and rounded) margins.
fn model(
    table: &Table,
    grid: Grid,
    plan: Plan,
    unsafe_total: &dyn Fn(f64) -> bool,
    reasons: &mut Vec<Reason>,
) -> Model {
    let len = grid.len();
    let mut model = Model {
        values: vec![0.0; len],
        states: vec![State::Fixed; len],
        grid,
    };
    let mut given = Vec::new();
    for row in &table.rows {
        let (Some(index), Some(value)) = (
            model.grid.locate(&row.dims, &table.spec.total_label),
            row.value.number(),
        ) else {
            continue;
        };
        model.states[index] = State::Published;
        if model.grid.is_interior(index) {
            model.values[index] = value;
        } else {
            given.push((index, value));
        }
    }
    model.recompute_margins();
    let inconsistent = given
        .iter()
        .any(|(index, value)| (model.values[*index] - value).abs() > 1e-9 * value.abs().max(1.0));
    if inconsistent {
        reasons.push(Reason::new(
            ReasonCode::MarginInconsistent,
            Verdict::Review,
            "margin rows do not equal the sums of their cells; the suggestion recomputes them",
        ));
    }
    for index in 0..len {
        if model.states[index] == State::Fixed
            && !model.grid.is_interior(index)
            && (!plan.totals_known_elsewhere || unsafe_total(model.values[index]))
        {
            model.states[index] = State::Hidden;
        }
    }
    if let Some(base) = plan.rounding {
        for index in 0..len {
            if model.grid.is_interior(index) {
                model.values[index] = round_count(model.values[index], base);
            }
        }
        model.recompute_margins();
    }
    model
}

fn write_csv(
    table: &Table,
    actions: &[Option<Suppression>],
    printed: &[Option<f64>],
    counts: bool,
) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = table.spec.dimensions.iter().map(String::as_str).collect();
    header.push(&table.spec.value);
    // Writing into a Vec cannot fail; errors are ignored rather than unwrapped.
    let _ = writer.write_record(&header);
    for ((row, action), value) in table.rows.iter().zip(actions).zip(printed) {
        let text = match (action, value) {
            (Some(_), _) => SUPPRESSED.to_owned(),
            (None, Some(value)) if counts => format!("{}", *value as u64),
            (None, Some(value)) => format!("{value}"),
            (None, None) => row.raw.clone(),
        };
        let mut record: Vec<&str> = row.dims.iter().map(String::as_str).collect();
        record.push(&text);
        let _ = writer.write_record(&record);
    }
    writer.into_inner().unwrap_or_default()
}

fn no_safe(message: &str) -> Reason {
    Reason::new(ReasonCode::NoSafeSuggestion, Verdict::Review, message)
}
