//! File gates every output passes whatever its kind: allowed types, size, CSV rows, no
//! column that looks like a person identifier, no pseudonym-like tokens in text.
//!
//! Pseudonyms in enclave datasets are `P` plus 16 hexadecimal digits; the scan looks for
//! any long run of hexadecimal digits containing a letter (and very long digit runs), so
//! other identifier formats are caught too. Messages name the line, never the token.

#[cfg(test)]
mod tests;

use crate::sdc::rules::FileGates;
use crate::sdc::table::read_csv;
use crate::sdc::verdict::{Reason, ReasonCode, Verdict};

/// Column names (normalized: lower case, other characters as `_`) that identify a person.
const IDENTIFIER_NAMES: [&str; 24] = [
    "id",
    "pid",
    "person",
    "person_id",
    "personid",
    "patient",
    "patient_id",
    "patientid",
    "subject",
    "subject_id",
    "participant_id",
    "pseudo_id",
    "pseudonym",
    "mrn",
    "hashed_id",
    "research_id",
    "nhs_number",
    "my_number",
    "mynumber",
    "insurer_number",
    "kanja_id",
    "kojin_id",
    "患者id",
    "個人id",
];

/// Extensions whose content is text and is scanned for pseudonym-like tokens.
const TEXT_EXTENSIONS: [&str; 6] = ["csv", "txt", "md", "json", "svg", "tsv"];

/// Gate reasons for one file.
pub(crate) fn check_file(file: &str, bytes: &[u8], gates: &FileGates) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let extension = extension(file);
    if !gates.allowed_extensions.contains(&extension) {
        reasons.push(Reason::new(
            ReasonCode::FileType,
            Verdict::Fail,
            format!("file type {extension:?} is not allowed out"),
        ));
    }
    if bytes.len() as u64 > gates.max_bytes {
        reasons.push(Reason::new(
            ReasonCode::FileSize,
            Verdict::Fail,
            format!("larger than {} bytes", gates.max_bytes),
        ));
    }
    if extension == "csv" {
        let parsed = read_csv(file, bytes).ok();
        // A CSV the reader rejects is still counted, by lines, so size limits hold.
        let rows = parsed.as_ref().map_or_else(
            || {
                bytes
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count()
                    .saturating_sub(1)
            },
            |csv| csv.records.len(),
        );
        if rows as u64 > gates.max_csv_rows {
            reasons.push(Reason::new(
                ReasonCode::TooManyRows,
                Verdict::Fail,
                format!("more than {} rows", gates.max_csv_rows),
            ));
        }
        let header = parsed.map(|csv| csv.header).unwrap_or_default();
        if gates.identifier_columns {
            for name in header.iter().filter(|name| looks_like_identifier(name)) {
                reasons.push(Reason::new(
                    ReasonCode::IdentifierColumn,
                    Verdict::Fail,
                    format!("column {name:?} looks like a person identifier"),
                ));
            }
        }
    }
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes));
    match text {
        Ok(text) if gates.pseudonym_tokens => {
            if let Some(line) = first_pseudonym_line(text, gates.pseudonym_min_hex_run as usize) {
                reasons.push(Reason::new(
                    ReasonCode::PseudonymToken,
                    Verdict::Fail,
                    format!("line {line} has a token that looks like a pseudonym"),
                ));
            }
        }
        Ok(_) => {}
        Err(_) if TEXT_EXTENSIONS.contains(&extension.as_str()) => {
            reasons.push(Reason::new(
                ReasonCode::NotUtf8,
                Verdict::Review,
                "text that is not UTF-8 could not be scanned for pseudonyms",
            ));
        }
        Err(_) => {}
    }
    reasons
}

/// The lower-case extension after the last dot of the last path component ("" if none).
pub(crate) fn extension(file: &str) -> String {
    let name = file.rsplit('/').next().unwrap_or(file);
    match name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => extension.to_lowercase(),
        _ => String::new(),
    }
}

/// Whether a column name looks like a person identifier or pseudonym.
pub(crate) fn looks_like_identifier(name: &str) -> bool {
    let normalized: String = name
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '_' })
        .collect();
    IDENTIFIER_NAMES.contains(&normalized.as_str())
        || normalized.ends_with("_person_id")
        || normalized.ends_with("_patient_id")
        || normalized.contains("pseudonym")
}

/// The 1-based line of the first pseudonym-like token, if any.
pub(crate) fn first_pseudonym_line(text: &str, min_hex_run: usize) -> Option<usize> {
    text.lines()
        .position(|line| {
            line.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|token| pseudonym_like(token, min_hex_run))
                || line
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                    .any(|token| dashed_hex(token, min_hex_run))
        })
        .map(|index| index + 1)
}

/// A dashed hexadecimal token such as a UUID: only hex digits and dashes, at least twice
/// `min_hex_run` digits, at least one of them a letter.
fn dashed_hex(token: &str, min_hex_run: usize) -> bool {
    let digits = token.bytes().filter(u8::is_ascii_hexdigit).count();
    token.contains('-')
        && token.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        && token.bytes().any(|b| b.is_ascii_alphabetic())
        && digits >= 2 * min_hex_run
}

/// A token with a run of at least `min_hex_run` hexadecimal digits that includes a letter,
/// or a run of at least `min_hex_run + 4` decimal digits.
fn pseudonym_like(token: &str, min_hex_run: usize) -> bool {
    let (mut run, mut letters, mut digits) = (0usize, false, 0usize);
    for byte in token.bytes() {
        if byte.is_ascii_hexdigit() {
            run += 1;
            letters |= byte.is_ascii_alphabetic();
            digits = if byte.is_ascii_digit() { digits + 1 } else { 0 };
        } else {
            run = 0;
            letters = false;
            digits = 0;
        }
        if (run >= min_hex_run && letters) || digits >= min_hex_run + 4 {
            return true;
        }
    }
    false
}
