//! What the checks may tell a researcher about unusable input, and which tables are too
//! large to check at all. Pure.

use enclave_policy::sdc::{MANIFEST_FILE, Manifest, OutputKind, RuleSet, SdcError};

use super::evaluate::Input;

/// A table larger than the rules let out, named with the limit it breaks. Such a table
/// fails its file gate anyway, and building a suggestion for it costs time that grows
/// faster than its rows: a job must not be able to hold a worker with a huge table.
pub(super) fn oversized_table(inputs: &[Input], rules: &RuleSet) -> Option<String> {
    let manifest = inputs
        .iter()
        .find(|input| input.kind == "file" && input.name == MANIFEST_FILE)
        .and_then(|input| Manifest::parse(&input.bytes).ok())?;
    let mut tables = Vec::new();
    for spec in &manifest.outputs {
        match &spec.kind {
            OutputKind::FrequencyTable(_) => tables.push(spec.file.as_str()),
            OutputKind::MagnitudeTable { evidence, .. } => {
                tables.push(spec.file.as_str());
                tables.extend(evidence.as_deref());
            }
            OutputKind::Figure { underlying } => tables.extend(underlying.as_deref()),
            _ => {}
        }
    }
    let gates = &rules.gates;
    inputs
        .iter()
        .filter(|input| input.kind == "file" && tables.contains(&input.name.as_str()))
        .find_map(|input| {
            let rows = input.bytes.iter().filter(|b| **b == b'\n').count() as u64;
            if input.bytes.len() as u64 > gates.max_bytes {
                Some(format!(
                    "{}: larger than the rules' limit of {} bytes; the outputs were not checked",
                    input.name, gates.max_bytes
                ))
            } else if rows > gates.max_csv_rows.saturating_add(1) {
                Some(format!(
                    "{}: more than the rules' limit of {} rows; the outputs were not checked",
                    input.name, gates.max_csv_rows
                ))
            } else {
                None
            }
        })
}

/// Where and roughly why the input is unusable, without any text taken from it: error
/// messages can quote the job's own bytes (a column name, a manifest field), which would
/// let a job pass data out through its verdicts. File names here are outputs the
/// researcher already sees listed.
pub(super) fn safe_summary(error: &SdcError) -> String {
    match error {
        SdcError::Json { file, line, .. } => {
            format!("{file} line {line}: not valid JSON or not the manifest schema")
        }
        SdcError::Manifest { file, line, .. } => {
            format!("{file} line {line}: the manifest is not acceptable")
        }
        SdcError::MissingFile {
            file, line, role, ..
        } => format!("{file} line {line}: names an {role} file that is not among the outputs"),
        SdcError::Csv { file, line, .. } => {
            format!("{file} line {line}: not readable as the table the manifest describes")
        }
        SdcError::Rules { .. } => "the project's rule set is invalid".to_owned(),
        _ => "the outputs could not be checked".to_owned(),
    }
}
