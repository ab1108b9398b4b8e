//! Sign-in, identity and help: what every door needs before any real work.

use enclave_policy::{Decision, Request, Role, authorize};
use serde::Serialize;

use super::{Caller, Service, ServiceError, detail, event};
use crate::audit::{Door, NewEvent, Outcome};

/// Commands every door offers, shown by `help`.
pub const HELP_TEXT: &str = "\
enclave: a secure visiting environment for pseudonymized medical data

usage: ssh -p PORT USER@HOST <command> [options]

commands:
  submit --project P --name N [--dataset D] [-- ARGS...] < job.wasm
                       submit a WebAssembly job (WASI preview 1 module or 0.2 component);
                       prints the job id
  submit --project P --name N [--dataset D] --python [-- ARGS...] < analysis.py
                       submit a Python script, run by the installation's Python runner
  jobs                 list your jobs
  status <job-id>      state, exit status or failure reason, resource usage
  outputs <job-id>     quarantined outputs: name, size, SHA-256 (never contents)
  whoami               your user name, roles and projects
  request-release <job-id> <file>... --context TEXT [--justification TEXT] [--suggested]
                       ask for checked outputs to be released (files before options)
  requests             your projects' release requests
  request <id>         state, files, votes and comments once unblinded
  withdraw <id>        withdraw a request
  resubmit <id> [--context TEXT] [--justification TEXT] [--job JOB]
                       resubmit a returned request (changed files are reviewed again)
  download <id> <file> the released bytes, to stdout (also: sftp, released/<id>/<file>)
  review-queue         requests awaiting your review (checkers)
  review <id>          context, verdicts and flagged cells of each file (checkers)
  review-cat <id> <file>
                       a file's contents (checkers)
  vote <id> <file> approve|changes|reject [--comment TEXT]
                       vote on one file; a comment is required unless approving a pass
  audit [--actor A --project P --dataset D --job J --action X --outcome O --from T --to T]
                       audit events as JSON Lines (compliance)
  audit verify         check the chain, the Merkle tree and the signed checkpoints
  audit export [--format jsonl|csv] [filters]
                       events with the signed checkpoint that covers them
  audit proof <seq>    inclusion proof of one event against a signed checkpoint
  audit checkpoint     sign a checkpoint of the trail now
  audit provenance <job-id>
                       module, dataset version, limits, data read, outputs, checks, events
  help                 this text

every command accepts --json and then prints one JSON document.
outputs stay in quarantine until checked and released.
";

/// The answer to `whoami`.
#[derive(Clone, Debug, Serialize)]
pub struct WhoAmI {
    /// User name.
    pub user: String,
    /// Role names.
    pub roles: Vec<String>,
    /// Projects the user is a member of.
    pub projects: Vec<String>,
}

impl Service {
    /// Checks an offered key before the client proves it holds it. Records
    /// only refusals (the sign-in itself is recorded by
    /// [`Service::authenticate_ssh_key`]).
    ///
    /// # Errors
    /// `Unauthenticated` when the key would be refused.
    pub async fn check_ssh_key(
        &self,
        user: &str,
        fingerprint: &str,
        source: Option<String>,
    ) -> Result<(), ServiceError> {
        match self.key_refusal(user, fingerprint).await? {
            None => Ok(()),
            Some(reason) => Err(self.refuse_login(user, fingerprint, source, reason).await),
        }
    }

    /// Checks that the SSH key with `fingerprint` belongs to `user` and that
    /// the account is enabled. Records the attempt either way.
    ///
    /// # Errors
    /// `Unauthenticated` when the key is unknown, belongs to someone else, or
    /// the account is disabled.
    pub async fn authenticate_ssh_key(
        &self,
        user: &str,
        fingerprint: &str,
        source: Option<String>,
    ) -> Result<(), ServiceError> {
        match self.key_refusal(user, fingerprint).await? {
            None => {
                let mut record = login_event(user, source, Door::Ssh);
                detail(&mut record, "method", "publickey");
                detail(&mut record, "key", fingerprint);
                self.record(record).await
            }
            Some(reason) => Err(self.refuse_login(user, fingerprint, source, reason).await),
        }
    }

    async fn key_refusal(
        &self,
        user: &str,
        fingerprint: &str,
    ) -> Result<Option<&'static str>, ServiceError> {
        let owner = self.store.key_owner(fingerprint).await?;
        let account = self.store.user(user).await?;
        Ok(match (&owner, &account) {
            (None, _) => Some("key not registered"),
            (Some(owner), _) if owner != user => Some("key registered to another user"),
            (_, None) => Some("unknown user"),
            (_, Some(account)) if account.disabled => Some("account is disabled"),
            _ => None,
        })
    }

    async fn refuse_login(
        &self,
        user: &str,
        fingerprint: &str,
        source: Option<String>,
        reason: &str,
    ) -> ServiceError {
        let mut record = login_event(user, source, Door::Ssh);
        record.outcome = Outcome::Denied;
        detail(&mut record, "method", "publickey");
        detail(&mut record, "key", fingerprint);
        detail(&mut record, "reason", reason);
        self.refuse(
            record,
            ServiceError::Unauthenticated("access denied".into()),
        )
        .await
    }

    /// Records a sign-in that failed before any key was checked: a client that
    /// offered only passwords or keyboard-interactive, or gave up.
    ///
    /// # Errors
    /// When the audit event cannot be written.
    pub async fn record_failed_login(
        &self,
        user: &str,
        source: Option<String>,
        methods: &[String],
        door: Door,
    ) -> Result<(), ServiceError> {
        let mut record = login_event(user, source, door);
        record.outcome = Outcome::Denied;
        detail(&mut record, "methods", methods.to_vec());
        detail(&mut record, "reason", "no acceptable authentication");
        self.record(record).await
    }

    /// Records the end of a signed-in session and how long it lasted.
    ///
    /// # Errors
    /// When the audit event cannot be written.
    pub async fn record_logout(&self, caller: &Caller, seconds: f64) -> Result<(), ServiceError> {
        let mut record = event(caller, "session.logout", Outcome::Ok);
        detail(&mut record, "duration_seconds", seconds);
        self.record(record).await
    }

    /// Who the caller is.
    ///
    /// # Errors
    /// `Forbidden` for a disabled account.
    pub async fn whoami(&self, caller: &Caller) -> Result<WhoAmI, ServiceError> {
        let actor = self.actor(caller).await?;
        let mut record = event(caller, "session.whoami", Outcome::Ok);
        if let Decision::Deny(reason) = authorize(&actor, &Request::WhoAmI, self.now().date()) {
            record.outcome = Outcome::Denied;
            detail(&mut record, "reason", reason.to_string());
            return Err(self
                .refuse(record, ServiceError::Forbidden(reason.to_string()))
                .await);
        }
        let projects = self.store.projects_of(&actor.user).await?;
        self.record(record).await?;
        Ok(WhoAmI {
            user: actor.user,
            roles: actor
                .roles
                .iter()
                .map(|r| Role::as_str(r).to_owned())
                .collect(),
            projects,
        })
    }

    /// The command list.
    ///
    /// # Errors
    /// `Forbidden` for a disabled account.
    pub async fn help(&self, caller: &Caller) -> Result<&'static str, ServiceError> {
        let actor = self.actor(caller).await?;
        let mut record = event(caller, "session.help", Outcome::Ok);
        if let Decision::Deny(reason) = authorize(&actor, &Request::Help, self.now().date()) {
            record.outcome = Outcome::Denied;
            detail(&mut record, "reason", reason.to_string());
            return Err(self
                .refuse(record, ServiceError::Forbidden(reason.to_string()))
                .await);
        }
        self.record(record).await?;
        Ok(HELP_TEXT)
    }

    /// Records a request the door could not parse, and returns the error to show.
    pub async fn reject_malformed(
        &self,
        caller: &Caller,
        what: &str,
        message: &str,
    ) -> ServiceError {
        let mut record = event(caller, "command.invalid", Outcome::Error);
        let shown: String = what.chars().take(200).collect();
        detail(&mut record, "command", shown);
        detail(&mut record, "reason", message);
        self.refuse(record, ServiceError::Invalid(message.to_owned()))
            .await
    }
}

fn login_event(user: &str, source: Option<String>, door: Door) -> NewEvent {
    NewEvent {
        actor: user.to_owned(),
        role: "-".into(),
        door,
        source: source.unwrap_or_else(|| "-".into()),
        action: "session.login".into(),
        target: user.to_owned(),
        project: "-".into(),
        dataset: "-".into(),
        session: "-".into(),
        request_id: "-".into(),
        outcome: Outcome::Ok,
        details: serde_json::json!({}),
    }
}

impl Service {
    /// Refuses (and records the refusal) unless the caller may read the audit
    /// trail; called before any work so a refused caller costs nothing.
    ///
    /// # Errors
    /// `Forbidden` when policy refuses.
    pub async fn check_audit_access(
        &self,
        caller: &Caller,
        action: &str,
    ) -> Result<(), ServiceError> {
        // The host operator and the gateway itself are trusted with the trail.
        if matches!(caller.door, Door::Cli | Door::System) {
            return Ok(());
        }
        let actor = self.actor(caller).await?;
        let request = if action == "audit.verify" {
            Request::VerifyAudit
        } else {
            Request::ReadAudit
        };
        if let Decision::Deny(reason) = authorize(&actor, &request, self.now().date()) {
            let mut record = event(caller, action, Outcome::Denied);
            detail(&mut record, "reason", reason.to_string());
            return Err(self
                .refuse(record, ServiceError::Forbidden(reason.to_string()))
                .await);
        }
        Ok(())
    }

    /// Records a read of the audit trail (reads are events too).
    ///
    /// # Errors
    /// `Forbidden` when the caller may not read the trail; store failures.
    pub async fn record_audit_read(
        &self,
        caller: &Caller,
        action: &str,
        events: i64,
        failure: Option<String>,
    ) -> Result<(), ServiceError> {
        let mut record = event(caller, action, Outcome::Ok);
        let actor = match caller.door {
            Door::Cli | Door::System => enclave_policy::Actor {
                user: caller.user.clone(),
                roles: enclave_policy::RoleSet::of(&[Role::Admin]),
                disabled: false,
            },
            _ => self.actor(caller).await?,
        };
        let request = if action == "audit.verify" {
            Request::VerifyAudit
        } else {
            Request::ReadAudit
        };
        match authorize(&actor, &request, self.now().date()) {
            Decision::Allow(authorized) => {
                record.role = authorized.role().map_or("-", Role::as_str).into();
            }
            Decision::Deny(reason) => {
                record.outcome = Outcome::Denied;
                detail(&mut record, "reason", reason.to_string());
                return Err(self
                    .refuse(record, ServiceError::Forbidden(reason.to_string()))
                    .await);
            }
        }
        detail(&mut record, "events", events);
        if let Some(failure) = failure {
            record.outcome = Outcome::Error;
            detail(&mut record, "result", failure);
        }
        self.record(record).await
    }
}
