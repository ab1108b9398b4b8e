//! The fuzz target bodies: what each target feeds `enclave_policy::sdc` and what it asserts.
//!
//! Compiled twice: into the `enclave-fuzz` crate (libFuzzer, nightly) and, through
//! `#[path]`, into the stable test `policy/tests/fuzz_corpus.rs`. So it uses only
//! `enclave_policy` and `serde_json`, both available to either.
//!
//! Every body asserts the same contract as the checker's callers rely on:
//! - no panic, whatever the bytes;
//! - an error names a file the checker was given (or the rules file) and a line;
//! - a record serializes to JSON that parses back, with no NaN or infinite cell value;
//! - a stricter rule set (threshold raised) never gives any output a better verdict;
//! - a rules file that parses prints as TOML that parses back to the same rule set.

use std::collections::BTreeMap;

use enclave_policy::sdc::{
    CheckRecord, Ledger, MANIFEST_FILE, Manifest, Preset, ReleasedTable, RuleSet, SdcError,
    TableSpec, check_outputs,
};

/// Inputs longer than this are skipped. The suggested version's cost grows faster than a
/// table's rows, and the gateway screens larger tables out before the checker
/// (`gateway/src/service/checks/screen.rs`), so long inputs only slow the search down.
pub const MAX_INPUT: usize = 16 * 1024;

/// The manifest the `tables` target checks its input under: the same bytes as a frequency
/// table, as a magnitude table and as that table's evidence, and as a figure's counts.
const TABLES_MANIFEST: &str = r#"{ "version": 1, "outputs": [
  { "file": "t.csv", "kind": "frequency_table", "dimensions": ["a", "b"], "count": "n" },
  { "file": "m.csv", "kind": "magnitude_table", "statistic": "sum", "dimensions": ["a", "b"],
    "value": "n", "evidence": "m.evidence.csv" },
  { "file": "fig.png", "kind": "figure", "underlying": "f.csv" } ] }"#;

/// The first bytes of a PNG file: enough for the figure's file gate.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";

/// A released table the `tables` target's input is differenced against.
const RELEASED: &str = "a,b,n\nx,y,20\nx,z,30\nx,Total,50\n";

/// Target `manifest`: any bytes as `manifest.json`, alone and with every file it names
/// present as a small table.
pub fn manifest(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let manifest = match Manifest::parse(data) {
        Ok(manifest) => manifest,
        Err(error) => return assert_located(&error, &[MANIFEST_FILE]),
    };
    let mut files = BTreeMap::from([(MANIFEST_FILE.to_owned(), data.to_vec())]);
    if let Err(error) = manifest.validate(&files) {
        assert_located(&error, &[MANIFEST_FILE]);
    }
    for name in manifest.evidence_files() {
        files.insert(name.to_owned(), EVIDENCE.as_bytes().to_vec());
    }
    for output in &manifest.outputs {
        files
            .entry(output.file.clone())
            .or_insert_with(|| RELEASED.as_bytes().to_vec());
    }
    for name in manifest.underlying_files() {
        files
            .entry(name.to_owned())
            .or_insert_with(|| RELEASED.as_bytes().to_vec());
    }
    check_all_presets(&files);
}

/// Target `tables`: any bytes as a long-format CSV, read as a frequency table, a magnitude
/// table and its evidence, a figure's counts, and a released table in the ledger.
pub fn tables(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let frequency = BTreeMap::from([
        (
            MANIFEST_FILE.to_owned(),
            TABLES_MANIFEST.as_bytes().to_vec(),
        ),
        ("t.csv".to_owned(), data.to_vec()),
        ("m.csv".to_owned(), data.to_vec()),
        ("m.evidence.csv".to_owned(), data.to_vec()),
        ("fig.png".to_owned(), PNG.to_vec()),
        ("f.csv".to_owned(), data.to_vec()),
    ]);
    check_all_presets(&frequency);
    // Without a manifest entry the same bytes are `other`: file gates only.
    check_all_presets(&BTreeMap::from([("t.csv".to_owned(), data.to_vec())]));

    let spec = TableSpec {
        dimensions: vec!["a".into(), "b".into()],
        value: "n".into(),
        total_label: "Total".into(),
    };
    match ReleasedTable::from_csv("r-1", "t.csv", &spec, data) {
        Ok(released) => {
            assert!(released.cells.values().all(|value| value.is_finite()));
            let ledger = Ledger {
                tables: vec![released],
            };
            let files = BTreeMap::from([
                (
                    MANIFEST_FILE.to_owned(),
                    TABLES_MANIFEST.as_bytes().to_vec(),
                ),
                ("t.csv".to_owned(), RELEASED.as_bytes().to_vec()),
                ("m.csv".to_owned(), EVIDENCE.as_bytes().to_vec()),
                ("m.evidence.csv".to_owned(), EVIDENCE.as_bytes().to_vec()),
                ("fig.png".to_owned(), PNG.to_vec()),
                ("f.csv".to_owned(), RELEASED.as_bytes().to_vec()),
            ]);
            for preset in Preset::ALL {
                if let Ok(record) = checked(&files, &preset.rules(), &ledger) {
                    assert_sound(&record);
                }
            }
        }
        Err(error) => assert_located(&error, &["t.csv"]),
    }
}

/// Evidence that reads as both the magnitude table (value `n`) and its evidence.
const EVIDENCE: &str = "a,b,n,sum,top1,top2\nx,y,20,400,30,25\nx,z,12,90,80,5\n";

/// Target `outputs`: any bytes as a bundle of files (see [`bundle`]), the manifest
/// included, checked under every preset.
pub fn outputs(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    check_all_presets(&bundle(data));
}

/// Target `rules`: any bytes as a rules file.
pub fn rules(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return; // rules files are read as text by the callers, which report non-UTF-8
    };
    let rules = match RuleSet::from_toml("rules.toml", text) {
        Ok(rules) => rules,
        Err(error) => return assert_located(&error, &["rules.toml"]),
    };
    rules.validate().expect("a parsed rule set is in range");
    let printed = rules.to_toml().expect("a parsed rule set prints");
    let again = RuleSet::from_toml("printed.toml", &printed).expect("printed rules parse");
    assert_eq!(again, rules, "parse → print → parse changed the rule set");
    for preset in Preset::ALL {
        let _ = rules.loosenings(&preset.rules());
    }
}

/// Splits a bundle into files. A line `==> name <==` starts a file called `name` (as
/// `head` prints several files); bytes before the first such line are ignored.
pub fn bundle(data: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in data.split_inclusive(|byte| *byte == b'\n') {
        let trimmed = line.strip_suffix(b"\n").unwrap_or(line);
        let header = trimmed
            .strip_prefix(b"==> ")
            .and_then(|rest| rest.strip_suffix(b" <=="));
        if let Some(name) = header {
            let name = String::from_utf8_lossy(name).into_owned();
            files.entry(name.clone()).or_default();
            current = Some(name);
        } else if let Some(name) = &current {
            files
                .entry(name.clone())
                .or_default()
                .extend_from_slice(line);
        }
    }
    files
}

/// Checks `files` under every preset and a stricter variant of each, asserting the
/// contract in the module docs.
fn check_all_presets(files: &BTreeMap<String, Vec<u8>>) {
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    for preset in Preset::ALL {
        let base = preset.rules();
        let stricter = RuleSet {
            threshold: base.threshold * 2,
            name: format!("{}-stricter", base.name),
            ..base.clone()
        };
        let loose = checked(files, &base, &Ledger::new());
        let strict = checked(files, &stricter, &Ledger::new());
        match (loose, strict) {
            (Ok(loose), Ok(strict)) => {
                assert_sound(&loose);
                assert_sound(&strict);
                assert_eq!(loose.outputs.len(), strict.outputs.len());
                for (a, b) in loose.outputs.iter().zip(&strict.outputs) {
                    assert_eq!(a.file, b.file);
                    assert!(
                        b.verdict >= a.verdict,
                        "{}: a stricter threshold gave {:?} where the preset gave {:?}",
                        a.file,
                        b.verdict,
                        a.verdict
                    );
                }
            }
            (Err(a), Err(b)) => {
                assert_eq!(
                    a, b,
                    "whether input is usable cannot depend on the threshold"
                );
                assert_located(&a, &names);
            }
            (a, b) => panic!("usable under one threshold only: {a:?} / {b:?}"),
        }
    }
}

fn checked(
    files: &BTreeMap<String, Vec<u8>>,
    rules: &RuleSet,
    ledger: &Ledger,
) -> Result<CheckRecord, SdcError> {
    check_outputs(files, rules, ledger, "fuzz")
}

/// A record is JSON that parses back, and no cell holds a NaN or an infinity.
fn assert_sound(record: &CheckRecord) {
    let json = record.to_json();
    let parsed: serde_json::Value =
        serde_json::from_str(&json).expect("the check record is valid JSON");
    assert!(
        parsed
            .get("outputs")
            .is_some_and(serde_json::Value::is_array)
    );
    for output in &record.outputs {
        for cell in &output.cells {
            if let Some(value) = cell.value {
                assert!(
                    value.is_finite(),
                    "{}: a cell value is {value}",
                    output.file
                );
            }
        }
    }
}

/// An error names one of `files` and a line: `<file> line <n>…` with n ≥ 1.
fn assert_located(error: &SdcError, files: &[&str]) {
    let message = error.to_string();
    let located = files.iter().any(|file| {
        message
            .strip_prefix(file)
            .and_then(|rest| rest.strip_prefix(" line "))
            .and_then(|rest| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse::<u64>().ok()
            })
            .is_some_and(|line| line >= 1)
    });
    assert!(located, "error does not name a file and line: {message}");
}
