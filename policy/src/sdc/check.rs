//! One output, by kind: tables (cells, audit of hidden cells, differencing, suggestion),
//! regressions, figures, and the kinds that only people can check.

use std::collections::BTreeMap;

use crate::sdc::audit::recoverable_rows;
use crate::sdc::cells::{check_count, check_magnitude, check_regression, magnitude_protection};
use crate::sdc::differencing::{Ledger, cell_key, check_cell};
use crate::sdc::error::SdcError;
use crate::sdc::gates::check_file;
use crate::sdc::manifest::{Kind, Manifest, OutputKind, Statistic, TableSpec};
use crate::sdc::record::{CellRecord, FileDigest, OutputRecord};
use crate::sdc::rules::RuleSet;
use crate::sdc::suppress::{Plan, suggest};
use crate::sdc::table::{Value, ValueKind, infer_spec, parse_evidence, parse_table};
use crate::sdc::verdict::{Reason, ReasonCode, Verdict, overall};

/// The context shared by every output of one check run.
pub(crate) struct Context<'a> {
    pub files: &'a BTreeMap<String, Vec<u8>>,
    pub manifest: &'a Manifest,
    pub rules: &'a RuleSet,
    pub ledger: &'a Ledger,
}

/// Evidence rows by the cell's dimension values.
type EvidenceMap = BTreeMap<Vec<String>, crate::sdc::table::Evidence>;

/// What a table check yields.
struct TableResult {
    cells: Vec<CellRecord>,
    reasons: Vec<Reason>,
    suggested: Option<Vec<u8>>,
}

/// Checks one releasable file (not evidence, not the manifest).
pub(crate) fn check_output(
    ctx: &Context<'_>,
    file: &str,
    bytes: &[u8],
    kind: &OutputKind,
) -> Result<OutputRecord, SdcError> {
    let rules = ctx.rules;
    let mut reasons = check_file(file, bytes, &rules.gates);
    let mut cells = Vec::new();
    let mut suggested = None;
    match kind {
        OutputKind::FrequencyTable(spec) => {
            let result = check_table(ctx, file, bytes, spec, None)?;
            (cells, suggested) = (result.cells, result.suggested);
            reasons.extend(result.reasons);
        }
        OutputKind::MagnitudeTable {
            table,
            statistic,
            evidence,
        } => {
            let evidence = match evidence {
                Some(name) => Some(parse_evidence(
                    name,
                    ctx.files.get(name).map_or(&[][..], Vec::as_slice),
                    table,
                )?),
                None => None,
            };
            let result = check_table(
                ctx,
                file,
                bytes,
                table,
                Some((*statistic, evidence.as_ref())),
            )?;
            (cells, suggested) = (result.cells, result.suggested);
            reasons.extend(result.reasons);
        }
        OutputKind::Regression { residual_dof, .. } => {
            reasons.extend(check_regression(*residual_dof, rules))
        }
        OutputKind::Figure {
            underlying: Some(name),
        } => {
            let counts = ctx.files.get(name).map_or(&[][..], Vec::as_slice);
            let spec = match ctx.manifest.entry(name).map(|entry| &entry.kind) {
                Some(OutputKind::FrequencyTable(spec)) => spec.clone(),
                _ => infer_spec(name, counts)?,
            };
            let result = check_table(ctx, name, counts, &spec, None)?;
            // The counts file carries its own suggestion; the image has none.
            cells = result
                .cells
                .into_iter()
                .map(|cell| CellRecord {
                    suppressed: None,
                    ..cell
                })
                .collect();
            reasons.extend(result.reasons);
            reasons.push(Reason::new(
                ReasonCode::FigureReview,
                Verdict::Review,
                "a person must check that the image shows only its checked counts",
            ));
        }
        OutputKind::Figure { underlying: None } => reasons.push(Reason::new(
            ReasonCode::FigureUnderlyingMissing,
            Verdict::Fail,
            "a figure needs the file holding its underlying counts (manifest field underlying)",
        )),
        OutputKind::Summary | OutputKind::Text | OutputKind::Model | OutputKind::Other => {
            reasons.push(Reason::new(
                ReasonCode::ManualReview,
                Verdict::Review,
                "this kind of output is checked by people only",
            ));
        }
    }
    let verdict = cells
        .iter()
        .fold(overall(&reasons), |acc, cell: &CellRecord| {
            acc.worst(cell.verdict)
        });
    Ok(OutputRecord {
        file: file.to_owned(),
        kind: kind.kind(),
        verdict,
        reasons,
        cells,
        suggested: None,
        input: FileDigest::of(file, bytes),
        suggested_digest: None,
        suggested_csv: suggested,
    })
}

/// The record of an evidence file: never released.
pub(crate) fn evidence_record(file: &str, bytes: &[u8]) -> OutputRecord {
    OutputRecord {
        file: file.to_owned(),
        kind: Kind::Evidence,
        verdict: Verdict::Fail,
        reasons: vec![Reason::new(
            ReasonCode::EvidenceFile,
            Verdict::Fail,
            "checker evidence never leaves the enclave",
        )],
        cells: Vec::new(),
        suggested: None,
        input: FileDigest::of(file, bytes),
        suggested_digest: None,
        suggested_csv: None,
    }
}

/// A frequency table (`magnitude` is `None`) or a magnitude table with its evidence.
fn check_table(
    ctx: &Context<'_>,
    file: &str,
    bytes: &[u8],
    spec: &TableSpec,
    magnitude: Option<(Statistic, Option<&EvidenceMap>)>,
) -> Result<TableResult, SdcError> {
    let rules = ctx.rules;
    let kind = if magnitude.is_some() {
        ValueKind::Magnitude
    } else {
        ValueKind::Count
    };
    let table = parse_table(file, bytes, spec, kind)?;
    let mut reasons = Vec::new();
    if !table.extra_columns.is_empty() {
        reasons.push(Reason::new(
            ReasonCode::UncheckedColumns,
            Verdict::Review,
            format!("columns {:?} are neither dimensions nor the value and are not checked; the suggestion drops them", table.extra_columns),
        ));
    }
    let additive = matches!(magnitude, None | Some((Statistic::Sum, _)));
    let mut cell_reasons = Vec::with_capacity(table.rows.len());
    let mut needs = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let (found, need) = match (row.value, magnitude) {
            (Value::Hidden, _) => (Vec::new(), 0.0),
            (Value::Number(value), None) => {
                let mut found = check_count(value, rules);
                found.extend(check_cell(
                    &cell_key(spec, &row.dims),
                    value,
                    rules.threshold,
                    ctx.ledger,
                ));
                (found, rules.threshold as f64)
            }
            (Value::Number(value), Some((statistic, evidence))) => {
                let evidence = evidence.and_then(|all| all.get(&row.dims));
                let found = check_magnitude(statistic, evidence, rules);
                (found, magnitude_protection(value, evidence, rules))
            }
        };
        let fails = found
            .iter()
            .any(|r| r.verdict == Verdict::Fail && r.code != ReasonCode::Unrounded);
        needs.push(fails.then_some(need));
        cell_reasons.push(found);
    }
    if table.rows.iter().any(|row| row.value == Value::Hidden) && additive {
        let need = if magnitude.is_none() {
            rules.threshold as f64
        } else {
            1e-9
        };
        match recoverable_rows(&table, need) {
            Some(found) => {
                for (row, _) in found.into_iter().filter(|(_, narrow)| *narrow) {
                    cell_reasons[row].push(Reason::new(
                        ReasonCode::Recoverable,
                        Verdict::Fail,
                        "this hidden cell can be recovered from the published cells and margins",
                    ));
                }
            }
            None => reasons.push(Reason::new(
                ReasonCode::NotAudited,
                Verdict::Review,
                "the table is too large to audit its hidden cells for recovery",
            )),
        }
    }
    let plan = Plan {
        additive,
        counts: magnitude.is_none(),
        secondary: rules.secondary_suppression,
        totals_known_elsewhere: rules.totals_known_elsewhere,
        rounding: if magnitude.is_none() {
            rules.rounding()
        } else {
            None
        },
    };
    let counts = magnitude.is_none();
    let unsafe_total = |value: f64| {
        counts
            && check_count(value, rules)
                .iter()
                .any(|r| r.verdict == Verdict::Fail && r.code != ReasonCode::Unrounded)
    };
    let suggestion = suggest(&table, &needs, plan, &unsafe_total);
    reasons.extend(suggestion.reasons);
    let cells = table
        .rows
        .iter()
        .zip(cell_reasons)
        .zip(suggestion.actions)
        .map(|((row, reasons), suppressed)| CellRecord {
            dims: spec
                .dimensions
                .iter()
                .cloned()
                .zip(row.dims.iter().cloned())
                .collect(),
            value: row.value.number(),
            verdict: overall(&reasons),
            reasons,
            suppressed,
        })
        .collect();
    Ok(TableResult {
        cells,
        reasons,
        suggested: suggestion.csv,
    })
}
