//! Access decisions: may this actor make this request, given these stored facts?
//!
//! Invariant: no I/O and no clock; `today` is passed in by the caller.
//! Invariant: deny unless a rule below allows.

use std::fmt;

use time::Date;

use crate::roles::{Role, RoleSet};

/// The person making a request, as loaded from the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// Stable user name.
    pub user: String,
    /// Roles granted by an administrator.
    pub roles: RoleSet,
    /// A disabled user may do nothing at all.
    pub disabled: bool,
}

/// Stored facts about a project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectFacts {
    /// Project name.
    pub name: String,
    /// User names of the project's members.
    pub members: Vec<String>,
    /// Last day on which the project's approval is valid (inclusive).
    pub expires_on: Date,
    /// False once an administrator has suspended or closed the project.
    pub active: bool,
}

impl ProjectFacts {
    /// Whether `user` is a member of this project.
    pub fn has_member(&self, user: &str) -> bool {
        self.members.iter().any(|member| member == user)
    }
}

/// Stored facts about a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobFacts {
    /// User name of the researcher who submitted the job.
    pub submitter: String,
    /// The project the job ran in.
    pub project: ProjectFacts,
}

/// What the actor asks to do.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Request<'a> {
    /// Show the command list.
    Help,
    /// Show one's own identity and roles.
    WhoAmI,
    /// Submit a job in a project.
    SubmitJob {
        /// The project named in the submission.
        project: &'a ProjectFacts,
    },
    /// List jobs (the decision says which ones).
    ListJobs,
    /// See one job's state, limits and resource usage.
    ViewJob {
        /// The job asked for.
        job: &'a JobFacts,
    },
    /// See the list of a job's quarantined outputs (names, sizes, hashes; never contents).
    ViewOutputs {
        /// The job asked for.
        job: &'a JobFacts,
    },
    /// Register or change users, projects and datasets.
    Administer,
    /// Create, list or revoke users' credentials for the HTTPS door: API tokens, web
    /// passwords and TOTP enrolments.
    ManageTokens,
    /// Check the audit chain.
    VerifyAudit,
    /// Read audit events.
    ReadAudit,
    /// List, upload, read or remove files in one's own SFTP inbox (job modules).
    UseInbox,
    /// Set a project's output-checking rule set (its preset, tightened or loosened).
    SetOutputRules {
        /// The project whose rules change.
        project: &'a ProjectFacts,
        /// How the proposed rules compare with the project's preset.
        change: RulesChange,
    },
}

/// How a proposed project rule set compares with the project's preset
/// (`sdc::RuleSet::loosenings` against the preset decides which).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RulesChange {
    /// Every parameter is as strict as the preset's or stricter.
    Tightens,
    /// Some parameter is looser, and the requester has not confirmed that they mean it.
    Loosens,
    /// Some parameter is looser, and the requester explicitly confirmed the loosening.
    LoosensConfirmed,
}

impl Request<'_> {
    /// A stable name for the request, used in audit events and tests.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Help => "help",
            Request::WhoAmI => "whoami",
            Request::SubmitJob { .. } => "submit",
            Request::ListJobs => "jobs",
            Request::ViewJob { .. } => "status",
            Request::ViewOutputs { .. } => "outputs",
            Request::Administer => "admin",
            Request::ManageTokens => "tokens",
            Request::VerifyAudit => "audit-verify",
            Request::ReadAudit => "audit-read",
            Request::UseInbox => "inbox",
            Request::SetOutputRules { .. } => "set-rules",
        }
    }
}

/// Which records a listing may include.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Only records the actor created.
    Own,
    /// Every record.
    All,
}

/// Proof that [`authorize`] allowed a request. Only this crate can construct it
/// and it cannot be cloned, so the gateway cannot act without a decision.
#[derive(Debug)]
pub struct Authorized {
    role: Option<Role>,
    scope: Scope,
}

impl Authorized {
    /// The role under which the request was allowed (recorded in the audit trail);
    /// `None` for requests open to every enabled user.
    pub fn role(&self) -> Option<Role> {
        self.role
    }

    /// Which records a listing may include.
    pub fn scope(&self) -> Scope {
        self.scope
    }
}

/// Why a request was refused. Shown to the user and recorded in the audit trail.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenyReason {
    /// The account is disabled.
    UserDisabled,
    /// The request needs one of these roles, and the actor holds none of them.
    MissingRole(Vec<Role>),
    /// The actor is not a member of the project.
    NotProjectMember {
        /// The project's name.
        project: String,
    },
    /// The project's approval has expired.
    ProjectExpired {
        /// The project's name.
        project: String,
        /// The last valid day.
        expired_on: Date,
    },
    /// The project is suspended or closed.
    ProjectInactive {
        /// The project's name.
        project: String,
    },
    /// A release request must name at least one file.
    NothingRequested,
    /// The file is checker evidence and never leaves.
    NeverRelease {
        /// The file.
        file: String,
    },
    /// A file failed the automated checks and no justification was given.
    JustificationRequired {
        /// The file.
        file: String,
    },
    /// Only the request's author may do this.
    NotAuthor,
    /// The request is in a state that does not allow this.
    WrongState {
        /// What was attempted.
        action: &'static str,
        /// The request's state.
        state: &'static str,
    },
    /// The file is not part of the request.
    NotInRequest {
        /// The file.
        file: String,
    },
    /// The checker already voted on this file in this round.
    AlreadyVoted {
        /// The file.
        file: String,
    },
    /// The file already has its decision.
    AlreadyDecided {
        /// The file.
        file: String,
    },
    /// The vote needs a comment.
    CommentRequired {
        /// The vote.
        vote: &'static str,
        /// The file's automated verdict.
        verdict: &'static str,
    },
    /// The file is not released (yet, or at all).
    NotReleased {
        /// The file.
        file: String,
    },
    /// Administrators never review or vote on releases (separation of duties).
    AdminMayNotReview,
    /// A checker may not review their own request.
    OwnRequest,
    /// A checker may not review a request from a project they belong to.
    OwnProject {
        /// The project's name.
        project: String,
    },
    /// Loosening a project's rules was not explicitly confirmed.
    LooseningNotConfirmed {
        /// The project's name.
        project: String,
    },
    /// The actor is a member of the project whose rules they would loosen (separation of
    /// duties: nobody relaxes the checks on their own work).
    OwnProjectRules {
        /// The project's name.
        project: String,
    },
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenyReason::UserDisabled => f.write_str("account is disabled"),
            DenyReason::MissingRole(roles) => {
                let names: Vec<&str> = roles.iter().map(|role| role.as_str()).collect();
                write!(f, "requires role {}", names.join(" or "))
            }
            DenyReason::NotProjectMember { project } => {
                write!(f, "not a member of project {project}")
            }
            DenyReason::ProjectExpired {
                project,
                expired_on,
            } => write!(f, "project {project} expired on {expired_on}"),
            DenyReason::ProjectInactive { project } => write!(f, "project {project} is not active"),
            DenyReason::NothingRequested => f.write_str("name at least one file to release"),
            DenyReason::NeverRelease { file } => {
                write!(f, "{file} is checker evidence and is never released")
            }
            DenyReason::JustificationRequired { file } => write!(
                f,
                "{file} failed the automated checks: give --justification explaining why it is safe"
            ),
            DenyReason::NotAuthor => f.write_str("only the request's author may do this"),
            DenyReason::WrongState { action, state } => {
                write!(f, "cannot {action} a request that is {state}")
            }
            DenyReason::NotInRequest { file } => write!(f, "{file} is not in this request"),
            DenyReason::AlreadyVoted { file } => write!(f, "you already voted on {file}"),
            DenyReason::AlreadyDecided { file } => {
                write!(f, "{file} already has its decision")
            }
            DenyReason::CommentRequired { vote, verdict } => write!(
                f,
                "a comment is required to vote {vote} on a file whose automated verdict is {verdict} (--comment)"
            ),
            DenyReason::NotReleased { file } => write!(f, "{file} is not released"),
            DenyReason::AdminMayNotReview => {
                f.write_str("administrators may not review or vote on releases")
            }
            DenyReason::OwnRequest => f.write_str("you may not review your own request"),
            DenyReason::OwnProject { project } => write!(
                f,
                "you may not review requests from project {project}, of which you are a member"
            ),
            DenyReason::LooseningNotConfirmed { project } => write!(
                f,
                "the rule set loosens project {project}'s preset and the loosening was not confirmed"
            ),
            DenyReason::OwnProjectRules { project } => {
                write!(
                    f,
                    "may not loosen the rules of project {project}: a member of it"
                )
            }
        }
    }
}

/// The outcome of [`authorize`].
#[derive(Debug)]
pub enum Decision {
    /// The request may go ahead.
    Allow(Authorized),
    /// The request is refused.
    Deny(DenyReason),
}

impl Decision {
    /// The proof on allow, the reason on deny.
    ///
    /// # Errors
    /// Returns the [`DenyReason`] when the request was refused.
    pub fn into_result(self) -> Result<Authorized, DenyReason> {
        match self {
            Decision::Allow(authorized) => Ok(authorized),
            Decision::Deny(reason) => Err(reason),
        }
    }
}

/// Decides whether `actor` may make `request` on `today`.
pub fn authorize(actor: &Actor, request: &Request<'_>, today: Date) -> Decision {
    if actor.disabled {
        return Decision::Deny(DenyReason::UserDisabled);
    }
    let roles = actor.roles;
    match request {
        Request::Help | Request::WhoAmI => allow(roles.iter().next(), Scope::Own),
        Request::SubmitJob { project } => {
            if !roles.contains(Role::Researcher) {
                return missing(&[Role::Researcher]);
            }
            project_open_to(actor, project, today)
                .map_or_else(|| allow(Some(Role::Researcher), Scope::Own), Decision::Deny)
        }
        Request::ListJobs => {
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
        Request::ViewJob { job } | Request::ViewOutputs { job } => {
            if roles.contains(Role::Compliance) {
                allow(Some(Role::Compliance), Scope::All)
            } else if roles.contains(Role::Admin) {
                allow(Some(Role::Admin), Scope::All)
            } else if roles.contains(Role::Researcher) {
                if job.submitter == actor.user || job.project.has_member(&actor.user) {
                    allow(Some(Role::Researcher), Scope::Own)
                } else {
                    Decision::Deny(DenyReason::NotProjectMember {
                        project: job.project.name.clone(),
                    })
                }
            } else {
                missing(&[Role::Researcher, Role::Compliance, Role::Admin])
            }
        }
        // Tokens are credentials: only administrators issue or revoke them.
        Request::Administer | Request::ManageTokens => require(roles, Role::Admin),
        Request::UseInbox => {
            if roles.contains(Role::Researcher) {
                allow(Some(Role::Researcher), Scope::Own)
            } else {
                missing(&[Role::Researcher])
            }
        }
        Request::SetOutputRules { project, change } => {
            set_output_rules(actor, project, *change, today)
        }
        Request::VerifyAudit | Request::ReadAudit => {
            if roles.contains(Role::Compliance) {
                allow(Some(Role::Compliance), Scope::All)
            } else if roles.contains(Role::Admin) {
                allow(Some(Role::Admin), Scope::All)
            } else {
                missing(&[Role::Compliance, Role::Admin])
            }
        }
    }
}

/// Tightening: an administrator, or a researcher who may work in the project. Loosening:
/// an administrator who is not a member of the project and confirmed it explicitly.
fn set_output_rules(
    actor: &Actor,
    project: &ProjectFacts,
    change: RulesChange,
    today: Date,
) -> Decision {
    let roles = actor.roles;
    match change {
        RulesChange::Tightens if roles.contains(Role::Admin) => {
            allow(Some(Role::Admin), Scope::All)
        }
        RulesChange::Tightens if roles.contains(Role::Researcher) => {
            project_open_to(actor, project, today)
                .map_or_else(|| allow(Some(Role::Researcher), Scope::Own), Decision::Deny)
        }
        RulesChange::Tightens => missing(&[Role::Admin, Role::Researcher]),
        RulesChange::Loosens | RulesChange::LoosensConfirmed if !roles.contains(Role::Admin) => {
            missing(&[Role::Admin])
        }
        RulesChange::Loosens | RulesChange::LoosensConfirmed if project.has_member(&actor.user) => {
            Decision::Deny(DenyReason::OwnProjectRules {
                project: project.name.clone(),
            })
        }
        RulesChange::Loosens => Decision::Deny(DenyReason::LooseningNotConfirmed {
            project: project.name.clone(),
        }),
        RulesChange::LoosensConfirmed => allow(Some(Role::Admin), Scope::All),
    }
}

/// Why `actor` may not work in `project` today, if anything.
pub(crate) fn project_open_to(
    actor: &Actor,
    project: &ProjectFacts,
    today: Date,
) -> Option<DenyReason> {
    if !project.has_member(&actor.user) {
        return Some(DenyReason::NotProjectMember {
            project: project.name.clone(),
        });
    }
    if !project.active {
        return Some(DenyReason::ProjectInactive {
            project: project.name.clone(),
        });
    }
    if today > project.expires_on {
        return Some(DenyReason::ProjectExpired {
            project: project.name.clone(),
            expired_on: project.expires_on,
        });
    }
    None
}

fn require(roles: RoleSet, role: Role) -> Decision {
    if roles.contains(role) {
        allow(Some(role), Scope::All)
    } else {
        missing(&[role])
    }
}

pub(crate) fn allow(role: Option<Role>, scope: Scope) -> Decision {
    Decision::Allow(Authorized { role, scope })
}

pub(crate) fn missing(roles: &[Role]) -> Decision {
    Decision::Deny(DenyReason::MissingRole(roles.to_vec()))
}

#[cfg(test)]
mod tests;
