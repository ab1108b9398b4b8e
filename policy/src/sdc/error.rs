//! Errors of the output checker: input it cannot use at all.
//!
//! A disclosive output is not an error: it is a [`crate::sdc::Verdict`] with reasons. An
//! `SdcError` means the files or the rules could not be read, and names the file and line.
//! Messages never echo cell contents.

/// Why a set of outputs or a rule set could not be checked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdcError {
    /// A JSON file (the manifest) is malformed or does not match the schema.
    #[error("{file} line {line} column {column}: {message}")]
    Json {
        /// The file that failed to parse.
        file: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The manifest is well-formed but says something the checker cannot accept.
    #[error("{file} line {line}: {message}")]
    Manifest {
        /// The manifest's file name.
        file: String,
        /// 1-based line of the offending entry (best effort).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The manifest names a file (an output, its evidence or a figure's counts) that is
    /// not among the files handed to the checker.
    #[error("{file} line {line}: {role} file {missing:?} is not among the outputs")]
    MissingFile {
        /// The manifest's file name.
        file: String,
        /// 1-based line of the entry that names the missing file.
        line: usize,
        /// The missing file's name.
        missing: String,
        /// What the missing file was for (`output`, `evidence`, `underlying`).
        role: &'static str,
    },
    /// A CSV table, evidence file or figure's counts could not be read.
    #[error("{file} line {line}: {message}")]
    Csv {
        /// The CSV file.
        file: String,
        /// 1-based line of the offending record (1 is the header).
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A rules file is malformed, or a rule set has an out-of-range parameter.
    #[error("{file} line {line}: {message}")]
    Rules {
        /// The rules file's name (or `rules` for a rule set built in code).
        file: String,
        /// 1-based line (1 when the problem is not tied to a line).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl SdcError {
    pub(crate) fn csv(file: &str, line: u64, message: impl Into<String>) -> SdcError {
        SdcError::Csv {
            file: file.to_owned(),
            line,
            message: message.into(),
        }
    }

    pub(crate) fn manifest(file: &str, line: usize, message: impl Into<String>) -> SdcError {
        SdcError::Manifest {
            file: file.to_owned(),
            line,
            message: message.into(),
        }
    }

    pub(crate) fn rules(file: &str, line: usize, message: impl Into<String>) -> SdcError {
        SdcError::Rules {
            file: file.to_owned(),
            line,
            message: message.into(),
        }
    }
}

/// The 1-based line of byte offset `offset` in `text`.
pub(crate) fn line_of_offset(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}
