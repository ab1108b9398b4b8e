//! `enclave dummy-data`: a synthetic dataset with the same schema as a real one, made from
//! its `dictionary.json` files alone (one per table folder, as `datagen.rs` writes them).
//! Researchers develop against it with `enclave run-local`. Values are plausible for their
//! type and code system but carry no information from the real data: only the dictionaries
//! are read. The output is deterministic for a given seed.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use chacha20::ChaCha20Rng;
use clap::Args;
use rand::{RngExt, SeedableRng};
use serde::Deserialize;

/// Arguments of `enclave dummy-data`.
#[derive(Args, Debug)]
pub struct DummyDataArgs {
    /// Dataset folder whose table folders hold `dictionary.json` (CSV files are not read).
    #[arg(long = "from-dictionary")]
    pub from_dictionary: PathBuf,
    /// Output folder (must be empty or missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Rows per table.
    #[arg(long, default_value_t = 1000)]
    pub rows: u32,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// A table's `dictionary.json`: only the fields the generator needs.
#[derive(Debug, Deserialize)]
struct Dictionary {
    table: String,
    columns: Vec<Column>,
}

#[derive(Debug, Deserialize)]
struct Column {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    code_system: Option<String>,
    #[serde(default)]
    identifier: bool,
}

/// Writes `<out>/<table>/<table>.csv` and a copy of each dictionary marked `synthetic`.
///
/// # Errors
/// Unreadable or invalid dictionaries, a non-empty output folder, or write failures.
pub fn dummy_data(args: &DummyDataArgs) -> anyhow::Result<ExitCode> {
    if std::fs::read_dir(&args.out).is_ok_and(|mut entries| entries.next().is_some()) {
        bail!("{} is not empty", args.out.display());
    }
    let mut tables = Vec::new();
    for entry in std::fs::read_dir(&args.from_dictionary)
        .with_context(|| format!("reading {}", args.from_dictionary.display()))?
    {
        let path = entry?.path().join("dictionary.json");
        if path.is_file() {
            tables.push(path);
        }
    }
    if tables.is_empty() {
        bail!(
            "no <table>/dictionary.json under {}",
            args.from_dictionary.display()
        );
    }
    tables.sort();
    let mut rng = ChaCha20Rng::seed_from_u64(args.seed);
    // Person pseudonyms are shared by every table, so joins on person_id work.
    let people: Vec<String> = (0..args.rows.max(1))
        .map(|_| format!("P{:016x}", rng.random::<u64>()))
        .collect();
    for path in &tables {
        let (table, rows) = write_table(path, &args.out, args.rows, &people, &mut rng)?;
        println!("{table:<22} {rows:>9} rows");
    }
    Ok(ExitCode::SUCCESS)
}

fn write_table(
    dictionary_path: &Path,
    out: &Path,
    rows: u32,
    people: &[String],
    rng: &mut ChaCha20Rng,
) -> anyhow::Result<(String, u32)> {
    let text = std::fs::read_to_string(dictionary_path)
        .with_context(|| format!("reading {}", dictionary_path.display()))?;
    let dictionary: Dictionary = serde_json::from_str(&text)
        .with_context(|| format!("parsing {}", dictionary_path.display()))?;
    let safe = !dictionary.table.is_empty()
        && dictionary
            .table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !safe {
        bail!("{}: unusable table name", dictionary_path.display());
    }
    let dir = out.join(&dictionary.table);
    std::fs::create_dir_all(&dir)?;
    let mut copy: serde_json::Value = serde_json::from_str(&text)?;
    copy["class"] = serde_json::Value::from("synthetic");
    std::fs::write(
        dir.join("dictionary.json"),
        serde_json::to_vec_pretty(&copy)?,
    )?;
    let file = std::fs::File::create(dir.join(format!("{}.csv", dictionary.table)))?;
    let mut csv = std::io::BufWriter::new(file);
    let header: Vec<&str> = dictionary.columns.iter().map(|c| c.name.as_str()).collect();
    writeln!(csv, "{}", header.join(","))?;
    let mut line = String::new();
    for row in 1..=rows {
        line.clear();
        for (index, column) in dictionary.columns.iter().enumerate() {
            if index > 0 {
                line.push(',');
            }
            let system = code_system(&dictionary.columns, column);
            value(&mut line, column, system, index, row, people, rng);
        }
        writeln!(csv, "{line}")?;
    }
    csv.flush()?;
    Ok((dictionary.table, rows))
}

/// One synthetic value: by identifier, code system, name and type. Never contains a comma,
/// quote or newline (the dataset format has no quoting).
fn value(
    line: &mut String,
    column: &Column,
    system: Option<&str>,
    index: usize,
    row: u32,
    people: &[String],
    rng: &mut ChaCha20Rng,
) {
    let name = column.name.as_str();
    let pick = |rng: &mut ChaCha20Rng, choices: &[&str]| {
        choices[rng.random_range(0..choices.len())].to_owned()
    };
    let text = match (system, column.ty.as_str()) {
        _ if column.identifier || name == "person_id" => {
            let first_in_person = index == 0 && name == "person_id";
            let at = if first_in_person {
                usize::try_from(row - 1).unwrap_or(0) % people.len()
            } else {
                rng.random_range(0..people.len())
            };
            people[at].clone()
        }
        _ if index == 0 && name.ends_with("_id") => row.to_string(),
        (Some(system), "string") if name.ends_with("_vocabulary") => code_prefix(system),
        (Some("JP claims sex code"), _) => pick(rng, &["1", "2"]),
        (Some("JIS X 0401"), _) => format!("{:02}", rng.random_range(1..=47)),
        (Some(system), _) if system.starts_with("ICD") => {
            pick(rng, &["E11.9", "E14.9", "I10", "E78.5", "J45.9", "K21.0"])
        }
        (Some("JLAC10"), _) => pick(rng, &["3D046000001906202", "3F077000002327101"]),
        (_, "date") => {
            let year = rng.random_range(2015..=2024);
            let month = rng.random_range(1..=12);
            let day = rng.random_range(1..=28);
            format!("{year}-{month:02}-{day:02}")
        }
        (Some("OMOP"), "integer") if name.starts_with("gender") => pick(rng, &["8507", "8532"]),
        (_, "integer") if name.contains("year") => rng.random_range(1930..=2010).to_string(),
        (_, "integer") => rng.random_range(1..=90).to_string(),
        (_, "number") => format!("{:.1}", rng.random_range(40..=1200) as f64 / 10.0),
        (Some(system), _) => format!("{}-{}", code_prefix(system), rng.random_range(100..1000)),
        _ => format!("x{}", rng.random_range(1000..10_000)),
    };
    let _ = write!(line, "{text}");
}

/// The column's code system; a `*_source_vocabulary` column names the one of its
/// `*_source_value` sibling.
fn code_system<'a>(columns: &'a [Column], column: &'a Column) -> Option<&'a str> {
    if let Some(system) = column.code_system.as_deref() {
        return Some(system);
    }
    let sibling = column.name.strip_suffix("_vocabulary")?;
    let sibling = format!("{sibling}_value");
    columns
        .iter()
        .find(|other| other.name == sibling)?
        .code_system
        .as_deref()
}

/// A short, CSV-safe tag for a code system's synthetic codes.
fn code_prefix(system: &str) -> String {
    let tag: String = system
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    if tag.is_empty() {
        "code".to_owned()
    } else {
        tag
    }
}
