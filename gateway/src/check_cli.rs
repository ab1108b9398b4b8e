//! `enclave check-output`: the offline output checker. Researchers run it on the outputs of
//! a job run on dummy data before submitting for real; tests and benchmarks run it too.
//!
//! It reads a folder (the job's `/out`: files, `manifest.json`, evidence) into memory,
//! checks it with `enclave_policy::sdc::check_outputs` under a preset or a rules file, and
//! prints the verdicts (text, or the check record as one JSON document). Verdicts are not
//! errors: the exit status is 0 whatever they are, and non-zero only when the input cannot be
//! used at all, with one stderr line naming the file and line.
//!
//! Invariant: it never follows a symbolic link, never reads a special file, and never holds
//! more than [`MAX_TOTAL_BYTES`] of input; it writes only into `--write-suggested`.

mod read;
#[cfg(test)]
mod tests;
mod text;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use enclave_policy::sdc::{CheckRecord, Ledger, Preset, RuleSet, SdcError, check_outputs};

pub use read::{MAX_FILES, MAX_TOTAL_BYTES, ReadError, read_output_dir};

/// Default cap on the size of one input file.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// The checker's version as recorded in check records.
pub const TOOL_VERSION: &str = concat!("enclave ", env!("CARGO_PKG_VERSION"));

/// Exit status for input that cannot be checked (EX_DATAERR).
pub const EXIT_UNUSABLE: u8 = 65;

/// Exit status when the suggested files or the report cannot be written (EX_CANTCREAT).
pub const EXIT_CANNOT_WRITE: u8 = 73;

/// Arguments of `enclave check-output`.
#[derive(Args, Debug, Clone)]
pub struct CheckOutputArgs {
    /// Rule preset (ndb, acro, opensafely) or the path of a rules file (TOML).
    #[arg(long)]
    pub rules: String,
    /// Folder holding the outputs and their manifest.json (a job's /out).
    #[arg(long)]
    pub dir: PathBuf,
    /// Print the whole check record as one JSON document.
    #[arg(long)]
    pub json: bool,
    /// Write the suggested safe versions (suppressed or rounded tables) into this folder.
    #[arg(long, value_name = "DIR")]
    pub write_suggested: Option<PathBuf>,
    /// Refuse input files larger than this many bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_FILE_BYTES)]
    pub max_file_bytes: u64,
}

/// Why `check-output` could not produce verdicts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckCliError {
    /// `--rules` names neither a preset nor a readable rules file.
    #[error("--rules {0:?} is neither a preset (ndb, acro, opensafely) nor a readable rules file")]
    UnknownRules(String),
    /// The rules file is not UTF-8 text.
    #[error("{0} line 1: the rules file is not UTF-8 text")]
    RulesNotText(String),
    /// The rules file is invalid (names the file and line).
    #[error("{0}")]
    Rules(SdcError),
    /// The folder could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The rules or the files are unusable (names the file and line).
    #[error("in {dir}: {error}")]
    Check {
        /// The folder checked.
        dir: String,
        /// What the checker refused.
        error: SdcError,
    },
}

/// Runs `enclave check-output` and returns its exit status.
pub fn run(args: &CheckOutputArgs) -> ExitCode {
    let record = match check_dir(args) {
        Ok(record) => record,
        Err(error) => {
            eprintln!("enclave: error: {error}");
            return ExitCode::from(EXIT_UNUSABLE);
        }
    };
    let mut written = None;
    if let Some(out) = &args.write_suggested {
        match write_suggested(&record, out) {
            Ok(()) => written = Some(out.as_path()),
            Err(error) => {
                eprintln!("enclave: error: {error}");
                return ExitCode::from(EXIT_CANNOT_WRITE);
            }
        }
    }
    let report = if args.json {
        let mut json = record.to_json();
        json.push('\n');
        json
    } else {
        text::render(&record, written)
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(report.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("enclave: error: cannot write the report: {error}");
            ExitCode::from(EXIT_CANNOT_WRITE)
        }
    }
}

/// Reads the rules and the folder and checks them.
///
/// # Errors
/// [`CheckCliError`] naming the rules, file and line that cannot be used.
pub fn check_dir(args: &CheckOutputArgs) -> Result<CheckRecord, CheckCliError> {
    let rules = load_rules(&args.rules)?;
    if rules.loosens_preset() {
        // Offline the checker has no authority to refuse: it says so and goes on. The
        // gateway never accepts such rules without an administrator.
        for loosening in rules.loosenings(&rules.preset.rules()) {
            eprintln!(
                "enclave: warning: these rules are looser than preset {}: {}",
                rules.preset, loosening.message
            );
        }
    }
    let files = read_output_dir(&args.dir, args.max_file_bytes)?;
    check_outputs(&files, &rules, &Ledger::new(), TOOL_VERSION).map_err(|error| {
        CheckCliError::Check {
            dir: args.dir.display().to_string(),
            error,
        }
    })
}

/// A preset by name, or a rules file by path.
///
/// # Errors
/// [`CheckCliError`] when `spec` is neither, or the file is invalid (with its line).
pub fn load_rules(spec: &str) -> Result<RuleSet, CheckCliError> {
    if let Some(preset) = Preset::from_name(spec) {
        return Ok(preset.rules());
    }
    let path = Path::new(spec);
    let is_file = std::fs::metadata(path).is_ok_and(|meta| meta.is_file());
    if !is_file {
        return Err(CheckCliError::UnknownRules(spec.to_owned()));
    }
    let bytes = std::fs::read(path).map_err(|_| CheckCliError::UnknownRules(spec.to_owned()))?;
    let text = String::from_utf8(bytes).map_err(|_| CheckCliError::RulesNotText(spec.into()))?;
    RuleSet::from_toml(spec, &text).map_err(CheckCliError::Rules)
}

/// Writes every suggested file under `out` (created if missing).
fn write_suggested(record: &CheckRecord, out: &Path) -> Result<(), String> {
    for (name, bytes) in record.suggested_files() {
        let path = out.join(name);
        let parent = path.parent().unwrap_or(out);
        std::fs::create_dir_all(parent)
            .and_then(|()| std::fs::write(&path, bytes))
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    }
    Ok(())
}
