//! The release workflow (the airlock): researchers ask for checked outputs to leave,
//! independent checkers vote per file, approved files are frozen by SHA-256 and only then
//! downloadable.
//!
//! Invariant: every decision goes to `enclave_policy::release::authorize_release`; the state a
//! request moves to after a vote is `enclave_policy::release::settle`.
//! Invariant: a vote, the state it leads to, the frozen hashes, the ledger entries and their
//! audit events commit in one transaction: a crash leaves the request either not yet
//! released or released and audited.
//! Invariant: votes are shown to researchers and to other checkers only once unblinded.

mod checker;
mod researcher;
mod views;

use enclave_policy::release::{
    DataClass, FileFacts, ReleaseFacts, ReleaseState, VoteFacts, approvals_required,
};
use enclave_policy::{Actor, Decision, DenyReason, ProjectFacts};
use sha2::{Digest, Sha256};

use super::{Caller, Service, ServiceError, detail};
use crate::audit::{NewEvent, Outcome};
use crate::store::{ReleaseFileRow, ReleaseRow};
pub use views::{FileReview, ReleaseFileView, ReleaseView, ReviewView, VoteView};

/// A new release request as the doors parse it.
#[derive(Clone, Debug)]
pub struct ReleaseSubmission {
    /// The job whose outputs are requested.
    pub job: String,
    /// File names under `/out`.
    pub files: Vec<String>,
    /// What the files show, the population, the relation to earlier outputs.
    pub context: String,
    /// Why files that failed the automated checks are safe.
    pub justification: Option<String>,
    /// Request the checker's suggested safe version of each file instead.
    pub suggested: bool,
}

/// A resubmission of a returned request.
#[derive(Clone, Debug, Default)]
pub struct Resubmission {
    /// New context, if it changed.
    pub context: Option<String>,
    /// New justification, if any.
    pub justification: Option<String>,
    /// A new job whose files replace the request's files of the same names.
    pub job: Option<String>,
}

/// Longest context, justification or comment accepted, in characters.
pub const MAX_TEXT: usize = 4000;

/// A request opened for one action by one caller.
struct Opened {
    actor: Actor,
    record: NewEvent,
    row: ReleaseRow,
    facts: ReleaseFacts,
}

impl Service {
    /// Loads the caller, starts the action's audit event (naming `file` when given) and
    /// loads the request; an unknown id is refused and recorded.
    async fn open_release(
        &self,
        caller: &Caller,
        action: &str,
        id: &str,
        file: Option<&str>,
    ) -> Result<Opened, ServiceError> {
        let actor = self.actor(caller).await?;
        let mut record = super::event(caller, action, Outcome::Ok);
        if let Some(file) = file {
            detail(
                &mut record,
                "file",
                file.chars().take(256).collect::<String>(),
            );
        }
        let (row, facts) = self.load_release(&mut record, id).await?;
        Ok(Opened {
            actor,
            record,
            row,
            facts,
        })
    }

    /// Loads a request and the facts policy needs; records a refusal for unknown ids.
    async fn load_release(
        &self,
        record: &mut NewEvent,
        id: &str,
    ) -> Result<(ReleaseRow, ReleaseFacts), ServiceError> {
        record.target = id.chars().take(64).collect();
        let Some(row) = self.store.release(id).await? else {
            return Err(self.unknown_release(record.clone(), id).await);
        };
        let facts = self.release_facts(&row).await?;
        record.project.clone_from(&row.project);
        record.dataset.clone_from(&row.dataset);
        Ok((row, facts))
    }

    async fn unknown_release(&self, mut record: NewEvent, id: &str) -> ServiceError {
        record.outcome = Outcome::Error;
        detail(&mut record, "reason", "no such release request");
        let shown: String = id.chars().take(64).collect();
        self.refuse(
            record,
            ServiceError::NotFound(format!("no such release request: {shown}")),
        )
        .await
    }

    /// The facts policy needs about a stored request (current round's votes only).
    async fn release_facts(&self, row: &ReleaseRow) -> Result<ReleaseFacts, ServiceError> {
        let project = self.project_facts(&row.project).await?;
        let required = self.approvals_for(&row.project, &row.dataset).await?;
        Ok(facts_of(row, project, required))
    }

    async fn project_facts(&self, name: &str) -> Result<ProjectFacts, ServiceError> {
        self.store
            .project(name)
            .await?
            .map(|p| p.facts)
            .ok_or_else(|| ServiceError::Internal(format!("release names missing project {name}")))
    }

    /// Approvals per file: the project's setting under the policy's floor for the data class.
    async fn approvals_for(&self, project: &str, dataset: &str) -> Result<u8, ServiceError> {
        let configured = self.store.release_approvals(project).await?;
        let class = match self.store.dataset(dataset).await? {
            Some(row) if row.class == "anonymized" => DataClass::Anonymized,
            _ => DataClass::Pseudonymized,
        };
        let configured = u8::try_from(configured.clamp(0, 9)).unwrap_or(2);
        Ok(approvals_required(class, configured))
    }

    /// Applies a policy decision: on allow, notes the role; on deny, records the refusal
    /// and returns the matching error.
    async fn decide(
        &self,
        record: &mut NewEvent,
        decision: Decision,
    ) -> Result<enclave_policy::Authorized, ServiceError> {
        match decision {
            Decision::Allow(authorized) => {
                record.role = authorized.role().map_or("-", |r| r.as_str()).into();
                Ok(authorized)
            }
            Decision::Deny(reason) => {
                let mut refused = record.clone();
                refused.outcome = Outcome::Denied;
                detail(&mut refused, "reason", reason.to_string());
                Err(self.refuse(refused, deny_error(&reason)).await)
            }
        }
    }

    /// Reads quarantined bytes and checks they still hash to `sha256`.
    async fn quarantined(&self, sha256: &str) -> Result<Vec<u8>, ServiceError> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ServiceError::Internal(format!("bad stored hash {sha256}")));
        }
        let bytes = tokio::fs::read(self.paths.quarantine.join(sha256))
            .await
            .map_err(|e| ServiceError::Internal(format!("quarantined file {sha256}: {e}")))?;
        if hex::encode(Sha256::digest(&bytes)) != sha256 {
            return Err(ServiceError::Internal(format!(
                "quarantined file {sha256} no longer matches its hash"
            )));
        }
        Ok(bytes)
    }
}

/// Builds policy facts from a stored request.
pub(crate) fn facts_of(row: &ReleaseRow, project: ProjectFacts, required: u8) -> ReleaseFacts {
    let state = row.state.parse().unwrap_or(ReleaseState::Rejected);
    let files = row
        .files
        .iter()
        .map(|file| FileFacts {
            name: file.name.clone(),
            verdict: parse_verdict(file.verdict.as_deref()),
            votes: current_votes(row, file),
        })
        .collect();
    ReleaseFacts {
        id: row.id.clone(),
        author: row.author.clone(),
        project,
        state,
        approvals_required: required,
        files,
    }
}

fn current_votes(row: &ReleaseRow, file: &ReleaseFileRow) -> Vec<VoteFacts> {
    row.votes
        .iter()
        .filter(|v| v.name == file.name && v.round == file.round)
        .filter_map(|v| {
            Some(VoteFacts {
                checker: v.checker.clone(),
                vote: v.vote.parse().ok()?,
            })
        })
        .collect()
}

fn parse_verdict(text: Option<&str>) -> Option<enclave_policy::sdc::Verdict> {
    use enclave_policy::sdc::Verdict;
    match text? {
        "pass" => Some(Verdict::Pass),
        "review" => Some(Verdict::Review),
        "fail" => Some(Verdict::Fail),
        _ => None,
    }
}

/// The error a door shows for a refusal.
fn deny_error(reason: &DenyReason) -> ServiceError {
    let message = reason.to_string();
    match reason {
        DenyReason::WrongState { .. }
        | DenyReason::AlreadyVoted { .. }
        | DenyReason::AlreadyDecided { .. } => ServiceError::Conflict(message),
        DenyReason::NothingRequested
        | DenyReason::JustificationRequired { .. }
        | DenyReason::CommentRequired { .. }
        | DenyReason::NotInRequest { .. } => ServiceError::Invalid(message),
        _ => ServiceError::Forbidden(message),
    }
}

/// Checks free text (context, justification, comment): bounded, no control characters
/// other than newlines and tabs.
fn check_text(what: &str, text: &str) -> Result<(), String> {
    if text.chars().count() > MAX_TEXT {
        return Err(format!("{what} is longer than {MAX_TEXT} characters"));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(format!("{what} contains control characters"));
    }
    Ok(())
}

/// A fresh request id.
fn new_release_id() -> String {
    format!("rel-{}", hex::encode(rand::random::<[u8; 6]>()))
}
