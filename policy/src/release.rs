//! Release decisions: who may request, review, vote on and download releases, and how the
//! votes move a request through its states.
//!
//! Invariant: pure. The caller loads the facts (the request, its files, the current round's
//! votes) and passes `today`; nothing here reads a clock or a store.
//! Invariant: a file is released only with `approvals_required` approvals from distinct
//! eligible checkers, and never fewer than two for pseudonymized data.
//! Invariant: a checker never reviews a request of a project they belong to, nor one they
//! authored; an administrator never votes.

use std::fmt;
use std::str::FromStr;

use time::Date;

use crate::access::{Actor, Decision, DenyReason, JobFacts, ProjectFacts, Scope};
use crate::access::{allow, missing, project_open_to};
use crate::roles::Role;
use crate::sdc::Verdict;

#[cfg(test)]
mod tests;

/// Where a release request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReleaseState {
    /// Waiting for its first vote.
    Submitted,
    /// Some votes are in, not yet the required independent reviews of every file.
    PartiallyReviewed,
    /// Every file has the required reviews but a conflict awaits another checker.
    Reviewed,
    /// The approved files are frozen and downloadable.
    Released,
    /// Sent back to the researcher with comments; may be resubmitted.
    Returned,
    /// Withdrawn by its author.
    Withdrawn,
    /// Every file was rejected.
    Rejected,
}

impl ReleaseState {
    /// Every state, in a stable order.
    pub const ALL: [ReleaseState; 7] = [
        ReleaseState::Submitted,
        ReleaseState::PartiallyReviewed,
        ReleaseState::Reviewed,
        ReleaseState::Released,
        ReleaseState::Returned,
        ReleaseState::Withdrawn,
        ReleaseState::Rejected,
    ];

    /// The stable name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseState::Submitted => "submitted",
            ReleaseState::PartiallyReviewed => "partially_reviewed",
            ReleaseState::Reviewed => "reviewed",
            ReleaseState::Released => "released",
            ReleaseState::Returned => "returned",
            ReleaseState::Withdrawn => "withdrawn",
            ReleaseState::Rejected => "rejected",
        }
    }

    /// Whether checkers can still vote.
    pub fn open_for_review(self) -> bool {
        matches!(
            self,
            ReleaseState::Submitted | ReleaseState::PartiallyReviewed | ReleaseState::Reviewed
        )
    }
}

impl fmt::Display for ReleaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReleaseState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ReleaseState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| format!("unknown release state {text:?}"))
    }
}

/// A checker's vote on one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Vote {
    /// Safe to release.
    Approve,
    /// Send back to the researcher for changes.
    Changes,
    /// Never release.
    Reject,
}

impl Vote {
    /// The stable name (`approve`, `changes`, `reject`).
    pub fn as_str(self) -> &'static str {
        match self {
            Vote::Approve => "approve",
            Vote::Changes => "changes",
            Vote::Reject => "reject",
        }
    }
}

impl FromStr for Vote {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "approve" => Ok(Vote::Approve),
            "changes" => Ok(Vote::Changes),
            "reject" => Ok(Vote::Reject),
            other => Err(format!(
                "unknown vote {other:?} (expected approve, changes or reject)"
            )),
        }
    }
}

/// Whether a project's data is pseudonymized (the default) or anonymized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataClass {
    /// Pseudonymized: never fewer than two approvals.
    Pseudonymized,
    /// Anonymized: one approval may be configured.
    Anonymized,
}

/// Approvals a file needs: the project's setting, but never fewer than two for
/// pseudonymized data and never fewer than one.
pub fn approvals_required(class: DataClass, configured: u8) -> u8 {
    match class {
        DataClass::Pseudonymized => configured.max(2),
        DataClass::Anonymized => configured.max(1),
    }
}

/// One vote of the current round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoteFacts {
    /// The checker.
    pub checker: String,
    /// Their vote.
    pub vote: Vote,
}

/// A file in a release request, with the current round's votes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileFacts {
    /// File name.
    pub name: String,
    /// The automated verdict; `None` when the output was never checked (treated as `fail`).
    pub verdict: Option<Verdict>,
    /// Votes cast on the file's current bytes.
    pub votes: Vec<VoteFacts>,
}

impl FileFacts {
    fn verdict(&self) -> Verdict {
        self.verdict.unwrap_or(Verdict::Fail)
    }
}

/// A release request as loaded from the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseFacts {
    /// Request id.
    pub id: String,
    /// The researcher who made it.
    pub author: String,
    /// Its project.
    pub project: ProjectFacts,
    /// Current state.
    pub state: ReleaseState,
    /// Approvals each file needs (see [`approvals_required`]).
    pub approvals_required: u8,
    /// Its files.
    pub files: Vec<FileFacts>,
}

impl ReleaseFacts {
    fn file(&self, name: &str) -> Option<&FileFacts> {
        self.files.iter().find(|file| file.name == name)
    }
}

/// A file named in a new request, as the job's check left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestedFile {
    /// File name.
    pub name: String,
    /// Its automated verdict (`None` when never checked).
    pub verdict: Option<Verdict>,
    /// Checker evidence: never released.
    pub never_release: bool,
}

/// What the actor asks to do with releases.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum ReleaseRequest<'a> {
    /// Ask for a job's files to be released.
    Create {
        /// The job the files come from.
        job: &'a JobFacts,
        /// The files.
        files: &'a [RequestedFile],
        /// Whether a justification was given.
        justified: bool,
    },
    /// List release requests (the decision says which).
    List,
    /// See one request (state, files, unblinded votes, comments).
    View {
        /// The request.
        release: &'a ReleaseFacts,
    },
    /// Withdraw a request.
    Withdraw {
        /// The request.
        release: &'a ReleaseFacts,
    },
    /// Resubmit a returned request.
    Resubmit {
        /// The request.
        release: &'a ReleaseFacts,
    },
    /// See the requests awaiting one's review.
    ReviewQueue,
    /// Review a request: its files' contents, verdicts and reasons.
    Review {
        /// The request.
        release: &'a ReleaseFacts,
    },
    /// Vote on one file.
    Vote {
        /// The request.
        release: &'a ReleaseFacts,
        /// The file voted on.
        file: &'a str,
        /// The vote.
        vote: Vote,
        /// Whether a comment was given.
        commented: bool,
    },
    /// Download a released file.
    Download {
        /// The request.
        release: &'a ReleaseFacts,
        /// The file.
        file: &'a str,
    },
}

impl ReleaseRequest<'_> {
    /// A stable name, used in audit events and tests.
    pub fn name(&self) -> &'static str {
        match self {
            ReleaseRequest::Create { .. } => "request-release",
            ReleaseRequest::List => "requests",
            ReleaseRequest::View { .. } => "request",
            ReleaseRequest::Withdraw { .. } => "withdraw",
            ReleaseRequest::Resubmit { .. } => "resubmit",
            ReleaseRequest::ReviewQueue => "review-queue",
            ReleaseRequest::Review { .. } => "review",
            ReleaseRequest::Vote { .. } => "vote",
            ReleaseRequest::Download { .. } => "download",
        }
    }
}

/// Decides whether `actor` may make `request` on `today`.
pub fn authorize_release(actor: &Actor, request: &ReleaseRequest<'_>, today: Date) -> Decision {
    if actor.disabled {
        return Decision::Deny(DenyReason::UserDisabled);
    }
    let roles = actor.roles;
    match request {
        ReleaseRequest::Create {
            job,
            files,
            justified,
        } => {
            if !roles.contains(Role::Researcher) {
                return missing(&[Role::Researcher]);
            }
            if let Some(reason) = project_open_to(actor, &job.project, today) {
                return Decision::Deny(reason);
            }
            if files.is_empty() {
                return Decision::Deny(DenyReason::NothingRequested);
            }
            if let Some(file) = files.iter().find(|file| file.never_release) {
                return Decision::Deny(DenyReason::NeverRelease {
                    file: file.name.clone(),
                });
            }
            let failed = files
                .iter()
                .find(|file| file.verdict.unwrap_or(Verdict::Fail) == Verdict::Fail);
            match failed {
                Some(file) if !justified => Decision::Deny(DenyReason::JustificationRequired {
                    file: file.name.clone(),
                }),
                _ => allow(Some(Role::Researcher), Scope::Own),
            }
        }
        ReleaseRequest::List => {
            if roles.contains(Role::Compliance) {
                allow(Some(Role::Compliance), Scope::All)
            } else if roles.contains(Role::Admin) {
                allow(Some(Role::Admin), Scope::All)
            } else if roles.contains(Role::Researcher) {
                allow(Some(Role::Researcher), Scope::Own)
            } else {
                missing(&[Role::Researcher, Role::Compliance, Role::Admin])
            }
        }
        ReleaseRequest::View { release } => view(actor, release),
        ReleaseRequest::Withdraw { release } => {
            author_action(actor, release, "withdraw", |state| {
                matches!(
                    state,
                    ReleaseState::Submitted
                        | ReleaseState::PartiallyReviewed
                        | ReleaseState::Reviewed
                        | ReleaseState::Returned
                )
            })
        }
        ReleaseRequest::Resubmit { release } => {
            let decision = author_action(actor, release, "resubmit", |state| {
                state == ReleaseState::Returned
            });
            if matches!(decision, Decision::Deny(_)) {
                return decision;
            }
            project_open_to(actor, &release.project, today).map_or(decision, Decision::Deny)
        }
        ReleaseRequest::ReviewQueue => checker(actor),
        ReleaseRequest::Review { release } => eligible_checker(actor, release),
        ReleaseRequest::Vote {
            release,
            file,
            vote,
            commented,
        } => {
            let decision = eligible_checker(actor, release);
            if matches!(decision, Decision::Deny(_)) {
                return decision;
            }
            if !release.state.open_for_review() {
                return Decision::Deny(DenyReason::WrongState {
                    action: "vote on",
                    state: release.state.as_str(),
                });
            }
            let Some(facts) = release.file(file) else {
                return Decision::Deny(DenyReason::NotInRequest {
                    file: (*file).to_owned(),
                });
            };
            if facts.votes.iter().any(|v| v.checker == actor.user) {
                return Decision::Deny(DenyReason::AlreadyVoted {
                    file: (*file).to_owned(),
                });
            }
            if file_outcome(facts, release.approvals_required) != FileOutcome::Pending {
                return Decision::Deny(DenyReason::AlreadyDecided {
                    file: (*file).to_owned(),
                });
            }
            if !commented && comment_required(facts.verdict(), *vote) {
                return Decision::Deny(DenyReason::CommentRequired {
                    vote: vote.as_str(),
                    verdict: facts.verdict().as_str(),
                });
            }
            decision
        }
        ReleaseRequest::Download { release, file } => {
            if !roles.contains(Role::Researcher) {
                return missing(&[Role::Researcher]);
            }
            if let Some(reason) = project_open_to(actor, &release.project, today) {
                return Decision::Deny(reason);
            }
            let released = release.state == ReleaseState::Released
                && release.file(file).is_some_and(|facts| {
                    file_outcome(facts, release.approvals_required) == FileOutcome::Approved
                });
            if released {
                allow(Some(Role::Researcher), Scope::Own)
            } else {
                Decision::Deny(DenyReason::NotReleased {
                    file: (*file).to_owned(),
                })
            }
        }
    }
}

/// Whether a vote needs a comment: every vote except approving a file that passed.
pub fn comment_required(verdict: Verdict, vote: Vote) -> bool {
    !(vote == Vote::Approve && verdict == Verdict::Pass)
}

fn view(actor: &Actor, release: &ReleaseFacts) -> Decision {
    let roles = actor.roles;
    if roles.contains(Role::Compliance) {
        return allow(Some(Role::Compliance), Scope::All);
    }
    if roles.contains(Role::Admin) {
        return allow(Some(Role::Admin), Scope::All);
    }
    if roles.contains(Role::Researcher)
        && (release.author == actor.user || release.project.has_member(&actor.user))
    {
        return allow(Some(Role::Researcher), Scope::Own);
    }
    if roles.contains(Role::Checker) {
        return eligible_checker(actor, release);
    }
    if roles.contains(Role::Researcher) {
        return Decision::Deny(DenyReason::NotProjectMember {
            project: release.project.name.clone(),
        });
    }
    missing(&[
        Role::Researcher,
        Role::Checker,
        Role::Compliance,
        Role::Admin,
    ])
}

fn author_action(
    actor: &Actor,
    release: &ReleaseFacts,
    action: &'static str,
    allowed_in: impl Fn(ReleaseState) -> bool,
) -> Decision {
    if !actor.roles.contains(Role::Researcher) {
        return missing(&[Role::Researcher]);
    }
    if release.author != actor.user {
        return Decision::Deny(DenyReason::NotAuthor);
    }
    if !allowed_in(release.state) {
        return Decision::Deny(DenyReason::WrongState {
            action,
            state: release.state.as_str(),
        });
    }
    allow(Some(Role::Researcher), Scope::Own)
}

fn checker(actor: &Actor) -> Decision {
    if !actor.roles.contains(Role::Checker) {
        return missing(&[Role::Checker]);
    }
    if actor.roles.contains(Role::Admin) {
        return Decision::Deny(DenyReason::AdminMayNotReview);
    }
    allow(Some(Role::Checker), Scope::All)
}

/// Whether `actor` may review `release`: a checker, not an admin, outside the project, not
/// its author.
fn eligible_checker(actor: &Actor, release: &ReleaseFacts) -> Decision {
    let decision = checker(actor);
    if matches!(decision, Decision::Deny(_)) {
        return decision;
    }
    if release.author == actor.user {
        return Decision::Deny(DenyReason::OwnRequest);
    }
    if release.project.has_member(&actor.user) {
        return Decision::Deny(DenyReason::OwnProject {
            project: release.project.name.clone(),
        });
    }
    decision
}

/// Where one file stands after its votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileOutcome {
    /// Needs more votes (too few, or a conflict awaiting another checker).
    Pending,
    /// Enough distinct approvals, outnumbering the objections.
    Approved,
    /// Enough objections, at least one asking for changes.
    Changes,
    /// Enough objections, all rejections.
    Rejected,
}

/// A file's outcome: approved with at least `required` distinct approvals that outnumber the
/// objections; changes or rejected with at least `required` objections that outnumber the
/// approvals; otherwise pending (a tie, e.g. one approve and one reject, needs a third
/// checker).
pub fn file_outcome(file: &FileFacts, required: u8) -> FileOutcome {
    let required = usize::from(required.max(1));
    let mut approvers: Vec<&str> = Vec::new();
    let mut objectors: Vec<&str> = Vec::new();
    let mut changes = false;
    for vote in &file.votes {
        let list = if vote.vote == Vote::Approve {
            &mut approvers
        } else {
            changes |= vote.vote == Vote::Changes;
            &mut objectors
        };
        if !list.contains(&vote.checker.as_str()) {
            list.push(&vote.checker);
        }
    }
    let (approve, object) = (approvers.len(), objectors.len());
    if approve >= required && approve > object {
        FileOutcome::Approved
    } else if object >= required && object > approve {
        if changes {
            FileOutcome::Changes
        } else {
            FileOutcome::Rejected
        }
    } else {
        FileOutcome::Pending
    }
}

/// The state a request moves to after a vote (or stays in).
pub fn settle(release: &ReleaseFacts) -> ReleaseState {
    if !release.state.open_for_review() {
        return release.state;
    }
    let outcomes: Vec<FileOutcome> = release
        .files
        .iter()
        .map(|file| file_outcome(file, release.approvals_required))
        .collect();
    if outcomes.iter().all(|o| *o != FileOutcome::Pending) {
        if outcomes.contains(&FileOutcome::Changes) {
            return ReleaseState::Returned;
        }
        if outcomes.contains(&FileOutcome::Approved) {
            return ReleaseState::Released;
        }
        return ReleaseState::Rejected;
    }
    if unblinded(release) {
        ReleaseState::Reviewed
    } else if release.files.iter().any(|file| !file.votes.is_empty()) {
        ReleaseState::PartiallyReviewed
    } else {
        ReleaseState::Submitted
    }
}

/// Whether votes are visible: once every file has the required number of independent
/// reviews. Until then each checker sees only their own votes and the researcher none.
pub fn unblinded(release: &ReleaseFacts) -> bool {
    let required = usize::from(release.approvals_required.max(1));
    release.files.iter().all(|file| {
        let mut voters: Vec<&str> = file.votes.iter().map(|v| v.checker.as_str()).collect();
        voters.sort_unstable();
        voters.dedup();
        voters.len() >= required
    })
}
