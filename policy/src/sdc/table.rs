//! Long-format CSV tables and their evidence: one row per cell, dimension columns then the
//! count or value column. Rows whose dimension value is the total label are margins.
//!
//! Invariant: every error names the file and the 1-based line; no message echoes a cell.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::sdc::error::SdcError;
use crate::sdc::manifest::TableSpec;

/// Values that mark a cell the researcher already hid.
pub const HIDDEN_MARKERS: [&str; 3] = ["", "NA", SUPPRESSED];

/// What the suggested version writes for a suppressed cell.
pub const SUPPRESSED: &str = "[REDACTED]";

/// A cell's published value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Value {
    /// A finite number (a whole non-negative number in frequency tables).
    Number(f64),
    /// Hidden by the researcher (one of [`HIDDEN_MARKERS`]).
    Hidden,
}

impl Value {
    pub(crate) fn number(self) -> Option<f64> {
        match self {
            Value::Number(value) => Some(value),
            Value::Hidden => None,
        }
    }
}

/// Whether a table holds counts or magnitudes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValueKind {
    Count,
    Magnitude,
}

/// One cell row.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Row {
    pub line: u64,
    pub dims: Vec<String>,
    pub value: Value,
    /// The value as written, so an unchanged cell is printed back byte for byte.
    pub raw: String,
}

/// A parsed long-format table.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Table {
    pub spec: TableSpec,
    /// Columns that are neither dimensions nor the value (unchecked).
    pub extra_columns: Vec<String>,
    pub rows: Vec<Row>,
}

/// Per-cell evidence of a magnitude table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Evidence {
    pub n: u64,
    pub sum: f64,
    pub top1: f64,
    pub top2: f64,
    pub negatives: u64,
    pub missing: u64,
}

/// A CSV file read as header plus records with their line numbers.
pub(crate) struct Csv {
    pub header: Vec<String>,
    pub records: Vec<(u64, Vec<String>)>,
}

/// Reads CSV strictly: UTF-8, a header row, every row as long as the header.
pub(crate) fn read_csv(file: &str, bytes: &[u8]) -> Result<Csv, SdcError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|err| csv_error(file, &err))?
        .iter()
        .map(str::to_owned)
        .collect();
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err(SdcError::csv(file, 1, "no header row"));
    }
    let mut records = Vec::new();
    for result in reader.records() {
        let record = result.map_err(|err| csv_error(file, &err))?;
        let line = record.position().map_or(0, csv::Position::line);
        records.push((line, record.iter().map(str::to_owned).collect()));
    }
    Ok(Csv { header, records })
}

fn csv_error(file: &str, err: &csv::Error) -> SdcError {
    let line = err.position().map_or(1, csv::Position::line);
    let message = match err.kind() {
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_owned(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("row has {len} fields but the header has {expected_len}")
        }
        _ => "not readable as CSV".to_owned(),
    };
    SdcError::csv(file, line, message)
}

/// Column positions of `names` in `header`.
fn columns(file: &str, header: &[String], names: &[&str]) -> Result<Vec<usize>, SdcError> {
    let mut seen = BTreeMap::new();
    for (index, name) in header.iter().enumerate() {
        if seen.insert(name.as_str(), index).is_some() {
            return Err(SdcError::csv(
                file,
                1,
                format!("column {name:?} appears twice in the header"),
            ));
        }
    }
    names
        .iter()
        .map(|name| {
            seen.get(name)
                .copied()
                .ok_or_else(|| SdcError::csv(file, 1, format!("the header has no column {name:?}")))
        })
        .collect()
}

/// Parses a long-format table described by `spec`.
pub(crate) fn parse_table(
    file: &str,
    bytes: &[u8],
    spec: &TableSpec,
    kind: ValueKind,
) -> Result<Table, SdcError> {
    let csv = read_csv(file, bytes)?;
    let mut names: Vec<&str> = spec.dimensions.iter().map(String::as_str).collect();
    names.push(&spec.value);
    let positions = columns(file, &csv.header, &names)?;
    let extra_columns = csv
        .header
        .iter()
        .enumerate()
        .filter(|(index, _)| !positions.contains(index))
        .map(|(_, name)| name.clone())
        .collect();
    let (dim_positions, value_position) = positions.split_at(spec.dimensions.len());
    let mut seen: BTreeMap<Vec<String>, u64> = BTreeMap::new();
    let mut rows = Vec::with_capacity(csv.records.len());
    for (line, record) in csv.records {
        let dims: Vec<String> = dim_positions
            .iter()
            .map(|index| record[*index].clone())
            .collect();
        let raw = record[value_position[0]].trim();
        let value = parse_value(raw, kind).ok_or_else(|| {
            let what = match kind {
                ValueKind::Count => "is not a whole number of zero or more",
                ValueKind::Magnitude => "is not a finite number",
            };
            SdcError::csv(
                file,
                line,
                format!("value in column {:?} {what}", spec.value),
            )
        })?;
        if let Some(first) = seen.insert(dims.clone(), line) {
            return Err(SdcError::csv(
                file,
                line,
                format!("same cell as line {first}"),
            ));
        }
        rows.push(Row {
            line,
            dims,
            value,
            raw: raw.to_owned(),
        });
    }
    Ok(Table {
        spec: spec.clone(),
        extra_columns,
        rows,
    })
}

fn parse_value(raw: &str, kind: ValueKind) -> Option<Value> {
    if HIDDEN_MARKERS.contains(&raw) {
        return Some(Value::Hidden);
    }
    match kind {
        ValueKind::Count => {
            let count: u64 = raw.parse().ok()?;
            // Counts beyond 2^53 cannot be held exactly; no table of people is that large.
            (count <= 1 << 53).then_some(Value::Number(count as f64))
        }
        ValueKind::Magnitude => finite(raw).map(Value::Number),
    }
}

fn finite(raw: &str) -> Option<f64> {
    let value: f64 = raw.trim().parse().ok()?;
    value.is_finite().then_some(value)
}

/// The spec of a figure's counts file without its own manifest entry: every column but the
/// last is a dimension, the last holds the counts.
pub(crate) fn infer_spec(file: &str, bytes: &[u8]) -> Result<TableSpec, SdcError> {
    let csv = read_csv(file, bytes)?;
    match csv.header.split_last() {
        Some((value, dimensions)) if !dimensions.is_empty() => Ok(TableSpec {
            dimensions: dimensions.to_vec(),
            value: value.clone(),
            total_label: "Total".to_owned(),
        }),
        _ => Err(SdcError::csv(
            file,
            1,
            "counts need at least one dimension column and a count column",
        )),
    }
}

/// Parses a magnitude table's evidence: the dimension columns, `n`, `sum`, `top1`, `top2`
/// and optionally `negatives` and `missing`, keyed by the cell's dimension values.
pub(crate) fn parse_evidence(
    file: &str,
    bytes: &[u8],
    spec: &TableSpec,
) -> Result<BTreeMap<Vec<String>, Evidence>, SdcError> {
    let csv = read_csv(file, bytes)?;
    let mut names: Vec<&str> = spec.dimensions.iter().map(String::as_str).collect();
    names.extend(["n", "sum", "top1", "top2"]);
    let positions = columns(file, &csv.header, &names)?;
    let optional = |name: &str| csv.header.iter().position(|column| column == name);
    let (negatives_at, missing_at) = (optional("negatives"), optional("missing"));
    let dims = spec.dimensions.len();
    let mut out = BTreeMap::new();
    for (line, record) in &csv.records {
        let bad = |what: &str| SdcError::csv(file, *line, what.to_owned());
        let count = |index: usize, name: &str| {
            record[index]
                .trim()
                .parse::<u64>()
                .map_err(|_| bad(&format!("{name} is not a whole number of zero or more")))
        };
        let number = |index: usize, name: &str| {
            finite(&record[index]).ok_or_else(|| bad(&format!("{name} is not a finite number")))
        };
        let evidence = Evidence {
            n: count(positions[dims], "n")?,
            sum: number(positions[dims + 1], "sum")?,
            top1: number(positions[dims + 2], "top1")?,
            top2: number(positions[dims + 3], "top2")?,
            negatives: negatives_at.map_or(Ok(0), |index| count(index, "negatives"))?,
            missing: missing_at.map_or(Ok(0), |index| count(index, "missing"))?,
        };
        if evidence.top1 < 0.0 || evidence.top2 < 0.0 || evidence.top2 > evidence.top1 {
            return Err(bad(
                "top1 and top2 must be absolute contributions with top1 >= top2",
            ));
        }
        if evidence.n < 2 && evidence.top2 > 0.0 || evidence.n == 0 && evidence.top1 > 0.0 {
            return Err(bad("top contributions given for fewer contributors than n"));
        }
        let key: Vec<String> = positions[..dims]
            .iter()
            .map(|index| record[*index].clone())
            .collect();
        if out.insert(key, evidence).is_some() {
            return Err(bad("evidence for the same cell twice"));
        }
    }
    Ok(out)
}
