//! The hypercube search: for one primary cell, the cheapest set of 2^n cells (the primary
//! one corner) whose alternating perturbation leaves the attacker an interval at least the
//! required width. See the module above for why this guarantees protection.

use crate::sdc::grid::{Model, State};

const CUBE_BUDGET: usize = 1024;

/// Protects one primary cell with the cheapest adequate hypercube; false if none exists.
pub(crate) fn protect(model: &mut Model, primary: usize, need: f64) -> bool {
    let grid = &model.grid;
    let origin = grid.coords(primary);
    let dims = origin.len();
    let full: usize = (0..dims)
        .map(|d| grid.size(d) - 1)
        .fold(1, usize::saturating_mul);
    let per_dim = if full <= CUBE_BUDGET {
        usize::MAX
    } else {
        (CUBE_BUDGET as f64)
            .powf(1.0 / dims as f64)
            .floor()
            .max(2.0) as usize
    };
    let own = model.values[primary].max(0.0);
    let mut choices: Vec<Vec<usize>> = Vec::with_capacity(dims);
    let mut coords = origin.clone();
    for d in 0..dims {
        let mut options: Vec<(bool, f64, usize)> = Vec::with_capacity(grid.size(d));
        for position in (0..grid.size(d)).filter(|p| *p != origin[d]) {
            coords[d] = position;
            let index = grid.index(&coords);
            let state = model.states[index];
            if state == State::Fixed {
                continue;
            }
            let value = model.values[index];
            let minus = origin[d] != grid.total(d) && position != grid.total(d);
            let inadequate = minus && value < need - own - 1e-9;
            let cost = if state.is_hidden() { 0.0 } else { value.abs() };
            options.push((inadequate, cost, position));
        }
        coords[d] = origin[d];
        // A total order (ties broken by position), so selecting the `per_dim` best before
        // sorting them gives exactly the prefix a full sort would: same cubes, same result,
        // without sorting a whole long line for every primary cell.
        let order = |a: &(bool, f64, usize), b: &(bool, f64, usize)| {
            a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2))
        };
        if per_dim < options.len() {
            options.select_nth_unstable_by(per_dim, order);
            options.truncate(per_dim);
        }
        options.sort_unstable_by(order);
        if options.is_empty() {
            return false;
        }
        choices.push(options.into_iter().map(|option| option.2).collect());
    }
    let mut best: Option<(f64, usize, Vec<usize>)> = None;
    let mut pick = vec![0usize; dims];
    loop {
        let other: Vec<usize> = (0..dims).map(|d| choices[d][pick[d]]).collect();
        if let Some((cost, new)) = evaluate(
            model,
            &origin,
            &other,
            need,
            best.as_ref().map(|b| (b.0, b.1)),
        ) {
            best = Some((cost, new, other));
        }
        // Advance the mixed-radix counter over the per-dimension choices.
        let mut d = 0;
        loop {
            if d == dims {
                return apply(model, &origin, best.map(|b| b.2));
            }
            pick[d] += 1;
            if pick[d] < choices[d].len() {
                break;
            }
            pick[d] = 0;
            d += 1;
        }
    }
}

/// Cost and new-cell count of the cube spanned by `origin` and `other`, if it is usable,
/// wide enough, and cheaper than `bound`.
fn evaluate(
    model: &Model,
    origin: &[usize],
    other: &[usize],
    need: f64,
    bound: Option<(f64, usize)>,
) -> Option<(f64, usize)> {
    let grid = &model.grid;
    let (mut plus, mut minus, mut cost, mut new) = (f64::INFINITY, f64::INFINITY, 0.0, 0usize);
    let mut coords = origin.to_vec();
    for mask in 0usize..(1 << origin.len()) {
        let mut negative = false;
        for d in 0..origin.len() {
            if mask & (1 << d) != 0 {
                coords[d] = other[d];
                negative ^= origin[d] != grid.total(d) && other[d] != grid.total(d);
            } else {
                coords[d] = origin[d];
            }
        }
        let index = grid.index(&coords);
        let state = model.states[index];
        if state == State::Fixed {
            return None;
        }
        let value = model.values[index];
        if negative {
            minus = minus.min(value)
        } else {
            plus = plus.min(value)
        }
        if state == State::Published {
            cost += value.abs();
            new += 1;
        }
        if bound.is_some_and(|(best, best_new)| {
            cost > best + 1e-9 || (cost >= best - 1e-9 && new >= best_new)
        }) {
            return None;
        }
    }
    (plus + minus >= need - 1e-9 * need.max(1.0)).then_some((cost, new))
}

fn apply(model: &mut Model, origin: &[usize], other: Option<Vec<usize>>) -> bool {
    let Some(other) = other else { return false };
    let mut coords = origin.to_vec();
    for mask in 0usize..(1 << origin.len()) {
        for d in 0..origin.len() {
            coords[d] = if mask & (1 << d) != 0 {
                other[d]
            } else {
                origin[d]
            };
        }
        let index = model.grid.index(&coords);
        if model.states[index] == State::Published {
            model.states[index] = State::Secondary;
        }
    }
    true
}
