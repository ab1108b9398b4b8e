//! The recovery audit: the exact interval an attacker can derive for every hidden cell from
//! the published cells and the additivity of the margins, by linear programming (a small
//! dense simplex with Bland's rule, so it cannot cycle).
//!
//! It judges tables in which the researcher already hid cells, and the tests use it to prove
//! that secondary suppression leaves every suppressed cell's interval wide enough.

use crate::sdc::grid::{Grid, Model, State};
use crate::sdc::table::{Table, Value};

/// The attacker's feasible interval for one hidden grid cell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Interval {
    pub index: usize,
    pub low: f64,
    /// `f64::INFINITY` when the published cells do not bound it.
    pub high: f64,
}

impl Interval {
    pub(crate) fn width(&self) -> f64 {
        self.high - self.low
    }
}

/// Largest LP (constraints × variables) the audit solves.
pub(crate) const MAX_AUDIT: usize = 250_000;
const EPS: f64 = 1e-9;
const MAX_PIVOTS: usize = 100_000;

/// Intervals for every hidden cell of `model`; `None` when the LP is too large, the
/// published values are inconsistent, or the solver gives up.
pub(crate) fn intervals(model: &Model) -> Option<Vec<Interval>> {
    let hidden = model.hidden();
    let mut var_of = vec![usize::MAX; model.grid.len()];
    for (var, index) in hidden.iter().enumerate() {
        var_of[*index] = var;
    }
    let (mut rows, mut rhs) = (Vec::new(), Vec::new());
    for line in model.grid.lines() {
        let mut row = vec![0.0; hidden.len()];
        let (mut constant, mut any) = (0.0, false);
        let last = line.len() - 1;
        for (position, index) in line.iter().enumerate() {
            let coefficient = if position == last { -1.0 } else { 1.0 };
            if model.states[*index].is_hidden() {
                row[var_of[*index]] += coefficient;
                any = true;
            } else {
                constant += coefficient * model.values[*index];
            }
        }
        if any {
            rows.push(row);
            rhs.push(-constant);
        }
        if rows.len().saturating_mul(hidden.len()) > MAX_AUDIT {
            return None;
        }
    }
    let base = phase_one(rows, rhs, hidden.len())?;
    let mut out = Vec::with_capacity(hidden.len());
    for (var, index) in hidden.iter().enumerate() {
        let mut cost = vec![0.0; hidden.len()];
        cost[var] = 1.0;
        let low = minimize(base.clone(), &cost)?.unwrap_or(f64::NEG_INFINITY);
        cost[var] = -1.0;
        let high = minimize(base.clone(), &cost)?.map_or(f64::INFINITY, |v| -v);
        out.push(Interval {
            index: *index,
            // `+ 0.0` turns a negative zero into zero.
            low: low.max(0.0) + 0.0,
            high,
        });
    }
    Some(out)
}

/// For a table whose researcher hid cells: per hidden row, whether its interval is
/// narrower than `need`. `None` when the table is too large to audit.
pub(crate) fn recoverable_rows(table: &Table, need: f64) -> Option<Vec<(usize, bool)>> {
    Some(
        hidden_intervals(table)?
            .into_iter()
            .map(|(row, interval)| (row, interval.width() < need - 1e-9))
            .collect(),
    )
}

/// The attacker's interval for every hidden row of a published table, from its published
/// cells and margins alone (margins the table leaves out are taken as unknown).
pub(crate) fn hidden_intervals(table: &Table) -> Option<Vec<(usize, Interval)>> {
    let grid = Grid::from_table(table)?;
    let len = grid.len();
    let mut model = Model {
        values: vec![0.0; len],
        states: vec![State::Fixed; len],
        grid,
    };
    for index in 0..len {
        if !model.grid.is_interior(index) {
            model.states[index] = State::Hidden;
        }
    }
    let mut located = Vec::new();
    for (row_index, row) in table.rows.iter().enumerate() {
        let index = model.grid.locate(&row.dims, &table.spec.total_label)?;
        match row.value {
            Value::Number(value) => {
                model.states[index] = State::Published;
                model.values[index] = value;
            }
            Value::Hidden => {
                model.states[index] = State::Hidden;
                located.push((row_index, index));
            }
        }
    }
    let found = intervals(&model)?;
    Some(
        located
            .into_iter()
            .filter_map(|(row, index)| Some((row, *found.iter().find(|i| i.index == index)?)))
            .collect(),
    )
}

#[derive(Clone)]
struct Tableau {
    a: Vec<Vec<f64>>,
    b: Vec<f64>,
    basis: Vec<usize>,
}

/// A feasible basis for `a x = b, x >= 0` over the structural columns, or `None` if
/// infeasible (or the solver gave up).
fn phase_one(mut a: Vec<Vec<f64>>, mut b: Vec<f64>, n: usize) -> Option<Tableau> {
    let m = a.len();
    for (row, rhs) in a.iter_mut().zip(b.iter_mut()) {
        if *rhs < 0.0 {
            row.iter_mut().for_each(|v| *v = -*v);
            *rhs = -*rhs;
        }
    }
    for (r, row) in a.iter_mut().enumerate() {
        row.extend((0..m).map(|k| if k == r { 1.0 } else { 0.0 }));
    }
    let mut t = Tableau {
        a,
        b,
        basis: (n..n + m).collect(),
    };
    let cost: Vec<f64> = (0..n + m).map(|j| if j >= n { 1.0 } else { 0.0 }).collect();
    run(&mut t, &cost).ok()?;
    let infeasibility: f64 = t
        .basis
        .iter()
        .zip(&t.b)
        .filter(|(j, _)| **j >= n)
        .map(|(_, v)| *v)
        .sum();
    if infeasibility > 1e-7 * (1.0 + t.b.iter().fold(0.0f64, |acc, v| acc.max(v.abs()))) {
        return None;
    }
    // Drive artificial variables out of the basis; rows where that is impossible are redundant.
    let mut r = 0;
    while r < t.a.len() {
        if t.basis[r] >= n {
            if let Some(j) = (0..n).find(|j| t.a[r][*j].abs() > EPS) {
                pivot(&mut t, r, j);
            } else {
                t.a.remove(r);
                t.b.remove(r);
                t.basis.remove(r);
                continue;
            }
        }
        r += 1;
    }
    for row in &mut t.a {
        row.truncate(n);
    }
    Some(t)
}

/// Minimum of `cost · x`; `Some(None)` when unbounded below; `None` if the solver gave up.
fn minimize(mut t: Tableau, cost: &[f64]) -> Option<Option<f64>> {
    match run(&mut t, cost) {
        Ok(()) => Some(Some(
            t.basis.iter().zip(&t.b).map(|(j, v)| cost[*j] * v).sum(),
        )),
        Err(Stop::Unbounded) => Some(None),
        Err(Stop::GaveUp) => None,
    }
}

enum Stop {
    Unbounded,
    GaveUp,
}

fn run(t: &mut Tableau, cost: &[f64]) -> Result<(), Stop> {
    for _ in 0..MAX_PIVOTS {
        let columns = cost.len();
        let entering = (0..columns).find(|j| {
            let reduced = cost[*j]
                - t.basis
                    .iter()
                    .zip(&t.a)
                    .map(|(k, row)| cost[*k] * row[*j])
                    .sum::<f64>();
            reduced < -EPS
        });
        let Some(j) = entering else { return Ok(()) };
        let mut leaving: Option<(usize, f64)> = None;
        for r in 0..t.a.len() {
            if t.a[r][j] > EPS {
                let ratio = t.b[r] / t.a[r][j];
                let better = match leaving {
                    None => true,
                    Some((best, best_ratio)) => {
                        ratio < best_ratio - EPS
                            || (ratio <= best_ratio + EPS && t.basis[r] < t.basis[best])
                    }
                };
                if better {
                    leaving = Some((r, ratio));
                }
            }
        }
        let Some((r, _)) = leaving else {
            return Err(Stop::Unbounded);
        };
        pivot(t, r, j);
    }
    Err(Stop::GaveUp)
}

fn pivot(t: &mut Tableau, r: usize, j: usize) {
    let p = t.a[r][j];
    t.a[r].iter_mut().for_each(|v| *v /= p);
    t.b[r] /= p;
    let pivot_row = t.a[r].clone();
    let pivot_rhs = t.b[r];
    for k in 0..t.a.len() {
        if k != r {
            let factor = t.a[k][j];
            if factor != 0.0 {
                t.a[k]
                    .iter_mut()
                    .zip(&pivot_row)
                    .for_each(|(v, p)| *v -= factor * p);
                t.b[k] -= factor * pivot_rhs;
            }
        }
    }
    t.basis[r] = j;
}
