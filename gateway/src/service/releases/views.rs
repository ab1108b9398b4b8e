//! What callers see of release requests.
//!
//! Invariant: a vote of the current round is shown only to its checker, to compliance and
//! administrators, and to everyone else once the request is unblinded.

use enclave_policy::release::{FileOutcome, ReleaseFacts, file_outcome, unblinded};
use serde::Serialize;

use crate::store::ReleaseRow;

/// A release request as a caller may see it.
#[derive(Clone, Debug, Serialize)]
pub struct ReleaseView {
    /// Request id.
    pub id: String,
    /// Project.
    pub project: String,
    /// Dataset.
    pub dataset: String,
    /// Researcher who made it.
    pub author: String,
    /// State.
    pub state: String,
    /// Round (1, then +1 per resubmission).
    pub round: i64,
    /// Approvals each file needs.
    pub approvals_required: u8,
    /// What the files show.
    pub context: String,
    /// Why failed files are safe.
    pub justification: Option<String>,
    /// Whether the current round's votes are still hidden from this caller.
    pub blinded: bool,
    /// Created.
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
    /// Released.
    pub released_at: Option<String>,
    /// Files.
    pub files: Vec<ReleaseFileView>,
    /// Votes and their comments that this caller may see.
    pub votes: Vec<VoteView>,
}

/// One file of a request.
#[derive(Clone, Debug, Serialize)]
pub struct ReleaseFileView {
    /// File name.
    pub name: String,
    /// Job the bytes came from.
    pub job: String,
    /// `original` or `suggested`.
    pub variant: String,
    /// SHA-256 of the bytes under review.
    pub sha256: String,
    /// Size.
    pub size: i64,
    /// Automated verdict.
    pub verdict: Option<String>,
    /// The round whose votes count for these bytes.
    pub round: i64,
    /// Votes in that round (a count; who voted what only once unblinded).
    pub votes: usize,
    /// `approved`, `changes`, `rejected` once decided (shown once unblinded).
    pub outcome: Option<String>,
    /// Whether it can be downloaded.
    pub released: bool,
    /// SHA-256 frozen on release.
    pub released_sha256: Option<String>,
}

/// A vote as shown.
#[derive(Clone, Debug, Serialize)]
pub struct VoteView {
    /// File.
    pub file: String,
    /// Round.
    pub round: i64,
    /// Checker.
    pub checker: String,
    /// Vote.
    pub vote: String,
    /// Public comment.
    pub comment: String,
    /// When.
    pub at: String,
}

/// What a checker sees when reviewing.
#[derive(Clone, Debug, Serialize)]
pub struct ReviewView {
    /// The request.
    pub request: ReleaseView,
    /// Each file's kind, verdict and per-cell reasons.
    pub files: Vec<FileReview>,
}

/// One file under review.
#[derive(Clone, Debug, Serialize)]
pub struct FileReview {
    /// File name.
    pub name: String,
    /// Manifest kind (`frequency_table`, ...), from the check record.
    pub kind: Option<String>,
    /// Automated verdict.
    pub verdict: Option<String>,
    /// Whether the suggested safe version is under review.
    pub suggested: bool,
    /// File-level reasons (codes and messages).
    pub reasons: serde_json::Value,
    /// Cells that did not pass, with their reasons.
    pub flagged_cells: serde_json::Value,
    /// Whether this checker has voted on it in this round.
    pub voted: bool,
    /// SHA-256 of the checker's suggested safe version of the original, when one was
    /// made (shown side by side; [`crate::service::Service::review_suggested`]).
    pub suggested_sha256: Option<String>,
}

/// Who is looking, for blinding.
pub(super) enum Viewer<'a> {
    /// Sees every vote (compliance, administrators).
    Overseer,
    /// Sees their own votes, others' once unblinded.
    Person(&'a str),
}

/// Builds the view of `row` for `viewer`.
pub(super) fn view(row: &ReleaseRow, facts: &ReleaseFacts, viewer: &Viewer<'_>) -> ReleaseView {
    let open = unblinded(facts);
    let sees_all = open || matches!(viewer, Viewer::Overseer);
    let votes = row
        .votes
        .iter()
        .filter(|v| {
            sees_all
                || v.round < row.round && !is_current(row, &v.name, v.round)
                || matches!(viewer, Viewer::Person(me) if *me == v.checker)
        })
        .map(|v| VoteView {
            file: v.name.clone(),
            round: v.round,
            checker: v.checker.clone(),
            vote: v.vote.clone(),
            comment: v.comment.clone(),
            at: v.created_at.clone(),
        })
        .collect();
    let files = row
        .files
        .iter()
        .zip(&facts.files)
        .map(|(file, file_facts)| {
            let outcome = match file_outcome(file_facts, facts.approvals_required) {
                FileOutcome::Pending => None,
                FileOutcome::Approved => Some("approved"),
                FileOutcome::Changes => Some("changes"),
                FileOutcome::Rejected => Some("rejected"),
            };
            ReleaseFileView {
                name: file.name.clone(),
                job: file.job_id.clone(),
                variant: file.variant.clone(),
                sha256: file.sha256.clone(),
                size: file.size,
                verdict: file.verdict.clone(),
                round: file.round,
                votes: file_facts.votes.len(),
                outcome: if sees_all {
                    outcome.map(str::to_owned)
                } else {
                    None
                },
                released: file.released_sha256.is_some(),
                released_sha256: file.released_sha256.clone(),
            }
        })
        .collect();
    ReleaseView {
        id: row.id.clone(),
        project: row.project.clone(),
        dataset: row.dataset.clone(),
        author: row.author.clone(),
        state: row.state.clone(),
        round: row.round,
        approvals_required: facts.approvals_required,
        context: row.context.clone(),
        justification: row.justification.clone(),
        blinded: !sees_all,
        created_at: row.created_at.clone(),
        updated_at: row.updated_at.clone(),
        released_at: row.released_at.clone(),
        files,
        votes,
    }
}

/// Whether votes of `round` on `name` are the file's current votes (kept across a
/// resubmission for an unchanged approved file).
fn is_current(row: &ReleaseRow, name: &str, round: i64) -> bool {
    row.files
        .iter()
        .any(|file| file.name == name && file.round == round)
}
