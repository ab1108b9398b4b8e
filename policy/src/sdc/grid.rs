//! The extended grid of a table: every interior cell plus every margin at every level
//! (each dimension gets one extra position, its total). Suppression and the recovery audit
//! both work on it.
//!
//! Invariant: along every line (one dimension varying, the others fixed) the value at the
//! total position equals the sum of the interior positions (after `recompute_margins`).

use std::collections::BTreeMap;

use crate::sdc::table::Table;

/// The largest extended grid the checker builds (cells, margins included).
pub(crate) const MAX_GRID_CELLS: usize = 1 << 22;

/// What the attacker sees of a grid cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Published; may still be chosen as a complementary suppression.
    Published,
    /// Suppressed because it fails a rule.
    Primary,
    /// Suppressed to protect a primary cell.
    Secondary,
    /// Not published (a margin the table leaves out, or a cell the researcher hid).
    Hidden,
    /// Known to the attacker and not ours to hide (a structural zero, a total known
    /// elsewhere).
    Fixed,
}

impl State {
    pub(crate) fn is_hidden(self) -> bool {
        matches!(self, State::Primary | State::Secondary | State::Hidden)
    }
}

/// Dimension levels and index arithmetic.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Grid {
    levels: Vec<Vec<String>>,
    /// Level name → position, per dimension.
    positions: Vec<BTreeMap<String, usize>>,
    strides: Vec<usize>,
    len: usize,
}

impl Grid {
    /// The grid of `table`'s levels (first-appearance order); `None` if it would exceed
    /// [`MAX_GRID_CELLS`].
    pub(crate) fn from_table(table: &Table) -> Option<Grid> {
        let dims = table.spec.dimensions.len();
        let mut levels: Vec<Vec<String>> = vec![Vec::new(); dims];
        let mut positions: Vec<BTreeMap<String, usize>> = vec![BTreeMap::new(); dims];
        for row in &table.rows {
            for (d, value) in row.dims.iter().enumerate() {
                if *value != table.spec.total_label && !positions[d].contains_key(value) {
                    positions[d].insert(value.clone(), levels[d].len());
                    levels[d].push(value.clone());
                }
            }
        }
        let mut strides = vec![0; dims];
        let mut len: usize = 1;
        for d in (0..dims).rev() {
            strides[d] = len;
            len = len.checked_mul(levels[d].len() + 1)?;
            if len > MAX_GRID_CELLS {
                return None;
            }
        }
        Some(Grid {
            positions,
            levels,
            strides,
            len,
        })
    }

    pub(crate) fn dims(&self) -> usize {
        self.levels.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Positions along dimension `d`: its levels, then the total.
    pub(crate) fn size(&self, d: usize) -> usize {
        self.levels[d].len() + 1
    }

    /// The total's position along dimension `d`.
    pub(crate) fn total(&self, d: usize) -> usize {
        self.levels[d].len()
    }

    pub(crate) fn index(&self, coords: &[usize]) -> usize {
        coords.iter().zip(&self.strides).map(|(c, s)| c * s).sum()
    }

    pub(crate) fn coords(&self, index: usize) -> Vec<usize> {
        (0..self.dims())
            .map(|d| (index / self.strides[d]) % self.size(d))
            .collect()
    }

    /// The grid index of a row's dimension values.
    pub(crate) fn locate(&self, dims: &[String], total_label: &str) -> Option<usize> {
        let mut coords = Vec::with_capacity(dims.len());
        for (d, value) in dims.iter().enumerate() {
            if value == total_label {
                coords.push(self.total(d));
            } else {
                coords.push(*self.positions[d].get(value)?);
            }
        }
        Some(self.index(&coords))
    }

    /// The dimension values of a grid cell (the total label at total positions).
    #[cfg(test)]
    pub(crate) fn labels(&self, index: usize, total_label: &str) -> Vec<String> {
        self.coords(index)
            .iter()
            .enumerate()
            .map(|(d, p)| {
                self.levels[d]
                    .get(*p)
                    .map_or(total_label, String::as_str)
                    .to_owned()
            })
            .collect()
    }

    pub(crate) fn is_interior(&self, index: usize) -> bool {
        (0..self.dims()).all(|d| (index / self.strides[d]) % self.size(d) != self.total(d))
    }

    /// Every line: the grid indices along one dimension with the others fixed, total last.
    pub(crate) fn lines(&self) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        for d in 0..self.dims() {
            let stride = self.strides[d];
            for start in 0..self.len {
                if (start / stride).is_multiple_of(self.size(d)) {
                    out.push((0..self.size(d)).map(|p| start + p * stride).collect());
                }
            }
        }
        out
    }
}

/// Values and states over a grid.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Model {
    pub grid: Grid,
    pub values: Vec<f64>,
    pub states: Vec<State>,
}

impl Model {
    /// Sets every margin to the sum of the interior cells it totals, level by level.
    pub(crate) fn recompute_margins(&mut self) {
        for d in 0..self.grid.dims() {
            let stride = self.grid.strides[d];
            let size = self.grid.size(d);
            for start in 0..self.grid.len() {
                if (start / stride).is_multiple_of(size) {
                    let sum: f64 = (0..size - 1).map(|p| self.values[start + p * stride]).sum();
                    self.values[start + (size - 1) * stride] = sum;
                }
            }
        }
    }

    /// Grid indices of hidden cells.
    pub(crate) fn hidden(&self) -> Vec<usize> {
        (0..self.grid.len())
            .filter(|index| self.states[*index].is_hidden())
            .collect()
    }
}
