//! Rendering outputs for people: CSV as a table with flagged cells highlighted (reason on
//! hover), text with pseudonym-like tokens highlighted, images by their magic bytes, and
//! any JSON value as nested lists. Everything is escaped by maud.

use maud::{Markup, html};
use serde_json::Value;

/// The image type of `bytes`, by magic number (only raster formats: never SVG, which can
/// carry script).
pub(super) fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else {
        None
    }
}

/// Whether a word looks like a pseudonymous identifier: the datasets' `P` + 16 hex digits,
/// or any run of 12+ letters and digits that is mostly digits or hex with digits in it.
pub(super) fn pseudonym_like(word: &str) -> bool {
    let hexish = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    let has_digit = word.bytes().any(|b| b.is_ascii_digit());
    if let Some(rest) = word.strip_prefix('P')
        && rest.len() == 16
        && hexish(rest)
    {
        return true;
    }
    word.len() >= 12 && has_digit && hexish(&word.to_ascii_lowercase())
}

/// Text with pseudonym-like words marked.
pub(super) fn text(body: &str) -> Markup {
    let mut pieces: Vec<(bool, &str)> = Vec::new();
    let mut start = 0;
    let mut in_word = false;
    for (i, c) in body.char_indices() {
        let word_char = c.is_ascii_alphanumeric();
        if word_char != in_word {
            if i > start {
                pieces.push((in_word, &body[start..i]));
            }
            start = i;
            in_word = word_char;
        }
    }
    if start < body.len() {
        pieces.push((in_word, &body[start..]));
    }
    html! {
        pre.output {
            @for (is_word, piece) in pieces {
                @if is_word && pseudonym_like(piece) {
                    mark.pseudonym title="pseudonym-like identifier" { (piece) }
                } @else { (piece) }
            }
        }
    }
}

/// The reasons of a flagged cell, for its tooltip.
fn cell_reasons(cell: &Value) -> String {
    let reasons = cell
        .get("reasons")
        .and_then(Value::as_array)
        .map(|reasons| {
            reasons
                .iter()
                .map(|r| {
                    let code = r.get("code").and_then(Value::as_str).unwrap_or("?");
                    let message = r.get("message").and_then(Value::as_str).unwrap_or("");
                    format!("{code}: {message}")
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    let verdict = cell.get("verdict").and_then(Value::as_str).unwrap_or("");
    format!("{verdict}\n{reasons}").trim().to_owned()
}

/// The flagged cell a CSV row stands for: every dimension of the cell equals the row's
/// value in the column of that name.
fn flag_of<'a>(header: &[String], row: &[String], flagged: &'a [Value]) -> Option<&'a Value> {
    flagged.iter().find(|cell| {
        cell.get("dims")
            .and_then(Value::as_object)
            .is_some_and(|dims| {
                !dims.is_empty()
                    && dims.iter().all(|(dim, value)| {
                        header
                            .iter()
                            .position(|h| h == dim)
                            .and_then(|i| row.get(i))
                            .is_some_and(|cell| Some(cell.as_str()) == value.as_str())
                    })
            })
    })
}

/// A CSV file as a table; rows that are flagged cells get their measure columns
/// highlighted with the reasons as a tooltip. Falls back to text when it is not CSV.
pub(super) fn csv_table(bytes: &[u8], flagged: &[Value], id: &str) -> Markup {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_owned).collect(),
        Err(_) => return text(&String::from_utf8_lossy(bytes)),
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        match record {
            Ok(r) => rows.push(r.iter().map(str::to_owned).collect::<Vec<_>>()),
            Err(_) => return text(&String::from_utf8_lossy(bytes)),
        }
    }
    // Columns named as a dimension by some flagged cell are labels; the others are measures.
    let dims: std::collections::BTreeSet<&str> = flagged
        .iter()
        .filter_map(|c| c.get("dims").and_then(Value::as_object))
        .flat_map(|d| d.keys().map(String::as_str))
        .collect();
    html! {
        table.output id=(id) {
            thead { tr { @for h in &header { th { (h) } } } }
            tbody {
                @for row in &rows {
                    @let flag = flag_of(&header, row, flagged);
                    tr {
                        @for (i, value) in row.iter().enumerate() {
                            @let measure = header.get(i).is_none_or(|h| !dims.contains(h.as_str()));
                            @match flag {
                                Some(cell) if measure => {
                                    @let verdict = cell.get("verdict").and_then(Value::as_str).unwrap_or("review");
                                    td class={ "flagged " (verdict) } title=(cell_reasons(cell)) data-verdict=(verdict) { (value) }
                                }
                                _ => td { (value) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Any JSON value as nested definition lists and tables, for provenance and reports.
pub(super) fn json(value: &Value) -> Markup {
    html! {
        @match value {
            Value::Object(map) if !map.is_empty() && map.values().all(|v| !v.is_object() && !v.is_array()) => {
                table.kv {
                    @for (key, value) in map {
                        tr { td { (key) } td { (json(value)) } }
                    }
                }
            }
            Value::Object(map) => {
                dl.json {
                    @for (key, value) in map {
                        dt { (key) }
                        dd { (json(value)) }
                    }
                }
            }
            Value::Array(items) if items.is_empty() => { span.muted { "—" } }
            Value::Array(items) => {
                ol.json { @for item in items { li { (json(item)) } } }
            }
            Value::String(s) => { code { (s) } }
            Value::Null => { span.muted { "—" } }
            other => { code { (other.to_string()) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_recognised() {
        assert!(pseudonym_like("P0123456789abcdef"));
        assert!(pseudonym_like("123456789012"));
        assert!(pseudonym_like("deadbeef00112233"));
        assert!(!pseudonym_like("Pabc"));
        assert!(!pseudonym_like("diabetes"));
        assert!(!pseudonym_like("2024"));
        assert!(!pseudonym_like("abcdefabcdefab"), "no digits");
    }

    #[test]
    fn text_marks_only_pseudonyms_and_escapes() {
        let html = text("patient P0123456789abcdef had <b>2</b> visits").into_string();
        assert!(html.contains("<mark class=\"pseudonym\""), "{html}");
        assert!(html.contains("&lt;b&gt;2"), "{html}");
        assert_eq!(html.matches("<mark").count(), 1, "{html}");
    }

    #[test]
    fn flagged_rows_are_highlighted_with_reasons() {
        let csv = b"sex,age_band,count\nF,40-49,3\nM,40-49,120\n";
        let flagged = vec![serde_json::json!({
            "dims": {"sex": "F", "age_band": "40-49"}, "verdict": "fail",
            "reasons": [{"code": "threshold", "message": "3 < 10"}]
        })];
        let html = csv_table(csv, &flagged, "t").into_string();
        assert_eq!(html.matches("class=\"flagged fail\"").count(), 1, "{html}");
        assert!(html.contains("threshold: 3 &lt; 10"), "{html}");
        assert!(html.contains("<td>120</td>"), "{html}");
    }

    #[test]
    fn images_only_by_raster_magic() {
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\nxxxx"), Some("image/png"));
        assert_eq!(image_type(b"<svg onload=alert(1)>"), None);
    }
}
