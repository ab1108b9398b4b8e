//! Verdicts and reasons: the vocabulary every check speaks.
//!
//! Reason codes are a stored format (they go into the release record): never rename one.

use serde::{Deserialize, Serialize};

/// The outcome of a check, ordered from best to worst.
///
/// Deliberately exhaustive: the release workflow is built on exactly these three.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Safe to release as far as the automated rules can tell.
    Pass,
    /// A person must look: the rules cannot decide.
    Review,
    /// Unsafe as it stands; release needs a justification and the reviewers' consent.
    Fail,
}

impl Verdict {
    /// The worse of two verdicts.
    pub fn worst(self, other: Verdict) -> Verdict {
        self.max(other)
    }

    /// The stable lower-case name (`pass`, `review`, `fail`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Review => "review",
            Verdict::Fail => "fail",
        }
    }
}

/// Stable machine-readable reason codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReasonCode {
    /// A count (or number of contributors) is below the threshold.
    Threshold,
    /// A zero count, and the rule set treats zeros as disclosive.
    Zero,
    /// The largest contributors dominate a magnitude cell ((n,k) rule).
    Dominance,
    /// The second-largest contributor could estimate the largest (p% rule).
    PPercent,
    /// Negative contributions: dominance is undefined.
    NegativeValues,
    /// The cell's statistic was computed over data with missing values.
    MissingValues,
    /// A regression has too few residual degrees of freedom, or does not say how many.
    ResidualDof,
    /// A minimum or maximum (a single person's value) or a median/mode of too few people.
    ExtremeValue,
    /// The rule set requires rounded counts and this one is not a multiple of the base.
    Unrounded,
    /// A magnitude cell has no evidence row (contributors, top contributions).
    EvidenceMissing,
    /// A cell already hidden in the output can be recovered from the published cells.
    Recoverable,
    /// The table could not be audited for recovery of hidden cells (too large).
    NotAudited,
    /// Margin rows do not equal the sums of the cells they total.
    MarginInconsistent,
    /// The table has columns that are neither dimensions nor the value: they are unchecked.
    UncheckedColumns,
    /// A cell differs from a cell released earlier by a few people.
    Differencing,
    /// A figure without the file holding its underlying counts.
    FigureUnderlyingMissing,
    /// A figure's image must be compared with its counts by a person.
    FigureReview,
    /// The kind of output (text, model, summary, other) is checked by people only.
    ManualReview,
    /// The file type is not allowed out.
    FileType,
    /// The file is larger than allowed.
    FileSize,
    /// The CSV file has more rows than allowed.
    TooManyRows,
    /// A column name looks like a person identifier or pseudonym.
    IdentifierColumn,
    /// The text contains a token that looks like a pseudonym.
    PseudonymToken,
    /// A text file is not UTF-8, so it could not be scanned.
    NotUtf8,
    /// The file is checker evidence and never leaves the enclave.
    EvidenceFile,
    /// No safe suppressed version of the table could be built.
    NoSafeSuggestion,
}

/// One reason behind a verdict: a stable code, its own verdict and a sentence for people.
///
/// Messages never contain cell values, so a reason can be shown to the researcher.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// Stable code.
    pub code: ReasonCode,
    /// How bad this reason is on its own.
    pub verdict: Verdict,
    /// Human-readable explanation (lower case, no cell values).
    pub message: String,
}

impl Reason {
    pub(crate) fn new(code: ReasonCode, verdict: Verdict, message: impl Into<String>) -> Reason {
        Reason {
            code,
            verdict,
            message: message.into(),
        }
    }
}

/// The worst verdict among `reasons` (pass when there are none).
pub fn overall(reasons: &[Reason]) -> Verdict {
    reasons
        .iter()
        .fold(Verdict::Pass, |acc, reason| acc.worst(reason.verdict))
}
