//! The service core: the only code that changes state. Front doors (SSH,
//! HTTPS, the host CLI) parse their input into calls on [`Service`] and map
//! [`ServiceError`] back to their wire format.
//!
//! Invariant: every method that changes state, and every refusal, appends an
//! audit event in the same transaction as the change.
//! Invariant: every permission question goes to `enclave_policy::authorize`.

mod admin;
mod checks;
mod inbox;
mod jobs;
mod provenance;
mod python;
mod releases;
mod runner;
mod session;
mod tokens;
mod trail;
mod web;

use std::path::PathBuf;
use std::sync::Arc;

use enclave_policy::Actor;
use enclave_sandbox::{Sandbox, SandboxLimits};
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::audit::{Door, NewEvent, Outcome};
use crate::store::{Store, StoreError, WriteTx, format_time};

pub use admin::{
    AdminCaller, DatasetRegistration, LooseningConsent, NewProject, NewUser, ProjectRulesRequest,
    ProjectRulesSet, RULE_PRESETS, UserSummary,
};
pub use checks::{CHECK_ERROR, ReasonSummary};
pub use inbox::{InboxEntry, MAX_INBOX_FILES, valid_inbox_name};
pub(crate) use jobs::job_seed;
pub use jobs::{JobView, OutputView, SubmitRequest, SuggestedView};
pub use provenance::{Provenance, WASMTIME_VERSION};
pub use python::PythonRunner;
pub use releases::{
    FileReview, MAX_TEXT, ReleaseFileView, ReleaseSubmission, ReleaseView, Resubmission,
    ReviewView, VoteView,
};
pub use session::{HELP_TEXT, WhoAmI};
pub use tokens::{CreatedToken, TokenSummary};
pub use trail::{
    ConsistencyProofView, InclusionProofView, PurgeMode, PurgeOptions, PurgeReport, VerifyReport,
    load_or_create_checkpoint_key,
};
pub use web::{
    LOGIN_LOCKED, LOGIN_REFUSED, OpenedSession, TotpEnrolment, WebKey, WebSession, WebSettings,
};

/// A source of trusted time.
pub trait Clock: Send + Sync {
    /// The current UTC time.
    fn now(&self) -> OffsetDateTime;
}

/// The host's clock (kept synchronized by the operator, e.g. with chrony).
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// Who is calling, through which door.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Authenticated user name.
    pub user: String,
    /// The door the request came through.
    pub door: Door,
    /// Peer address, if known.
    pub source: Option<String>,
    /// Request id, echoed to the client and recorded in the audit trail.
    pub request_id: String,
    /// Sign-in session (one SSH connection), if any.
    pub session: Option<String>,
}

/// Errors the core returns; each door maps them once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The caller is not who they claim, or is unknown.
    #[error("{0}")]
    Unauthenticated(String),
    /// Policy refused the request.
    #[error("{0}")]
    Forbidden(String),
    /// The request is malformed or names something impossible.
    #[error("{0}")]
    Invalid(String),
    /// The thing asked for does not exist (or is not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with existing state.
    #[error("{0}")]
    Conflict(String),
    /// A dependency (the database, the disk) is unavailable.
    #[error("service unavailable, try again later")]
    Unavailable(String),
    /// A bug or an unexpected failure; details are in the operator log.
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "store error");
        match error {
            StoreError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) => {
                ServiceError::Unavailable(error.to_string())
            }
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

/// Where the service keeps files.
#[derive(Clone, Debug)]
pub struct Paths {
    /// Submitted modules, named by SHA-256.
    pub modules: PathBuf,
    /// Quarantined outputs, named by SHA-256.
    pub quarantine: PathBuf,
    /// Per-job scratch (`/out`, `/tmp`), removed after each run.
    pub work: PathBuf,
    /// Researchers' SFTP upload areas, one folder per user.
    pub inbox: PathBuf,
}

impl Paths {
    /// Creates the directories if missing.
    ///
    /// # Errors
    /// When a directory cannot be created.
    pub fn create(&self) -> std::io::Result<()> {
        for dir in [&self.modules, &self.quarantine, &self.work, &self.inbox] {
            std::fs::create_dir_all(dir)?;
        }
        Ok(())
    }
}

/// The core.
#[derive(Clone)]
pub struct Service {
    store: Store,
    sandbox: Arc<Sandbox>,
    clock: Arc<dyn Clock>,
    paths: Paths,
    limits: SandboxLimits,
    work_ready: Arc<Notify>,
    worker: WorkerIdentity,
    checkpoint_key: Option<Arc<crate::audit::checkpoint::CheckpointKey>>,
    python: Option<python::PythonRunner>,
    web_key: Option<Arc<web::WebKey>>,
    web: web::WebSettings,
}

/// Who this process is when it runs jobs, and how long its hold on a job lasts
/// without a heartbeat.
#[derive(Clone, Debug)]
pub struct WorkerIdentity {
    /// Unique per process: `<host>/<random>`.
    pub id: String,
    /// Lease length; heartbeats renew it every third of this.
    pub lease: std::time::Duration,
}

impl WorkerIdentity {
    /// A fresh identity for this process.
    pub fn new(lease: std::time::Duration) -> WorkerIdentity {
        let host = std::fs::read_to_string("/etc/hostname")
            .map_or_else(|_| "host".to_owned(), |h| h.trim().to_owned());
        let nonce: [u8; 4] = rand::random();
        WorkerIdentity {
            id: format!("{host}/{}", hex::encode(nonce)),
            lease,
        }
    }
}

impl Service {
    /// Builds the core over its dependencies.
    pub fn new(
        store: Store,
        sandbox: Arc<Sandbox>,
        clock: Arc<dyn Clock>,
        paths: Paths,
        limits: SandboxLimits,
    ) -> Service {
        Service {
            store,
            sandbox,
            clock,
            paths,
            limits,
            work_ready: Arc::new(Notify::new()),
            worker: WorkerIdentity::new(std::time::Duration::from_secs(30)),
            checkpoint_key: None,
            python: None,
            web_key: None,
            web: web::WebSettings::default(),
        }
    }

    /// Sets the key audit checkpoints are signed with.
    #[must_use]
    pub fn with_checkpoint_key(mut self, key: crate::audit::checkpoint::CheckpointKey) -> Service {
        self.checkpoint_key = Some(Arc::new(key));
        self
    }

    /// Sets this process's worker identity and lease length.
    #[must_use]
    pub fn with_worker(mut self, worker: WorkerIdentity) -> Service {
        self.worker = worker;
        self
    }

    /// The store, for read-only tooling (audit verification).
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    fn now_text(&self) -> Result<String, ServiceError> {
        Ok(format_time(self.now())?)
    }

    /// Appends an audit event in its own transaction (for refusals and reads,
    /// which change nothing else).
    async fn record(&self, event: NewEvent) -> Result<(), ServiceError> {
        Ok(self
            .store
            .append_audit_standalone(&event, self.now())
            .await?)
    }

    /// Appends an audit event inside `tx`.
    async fn record_in(&self, tx: &mut WriteTx, event: NewEvent) -> Result<(), ServiceError> {
        Store::append_audit(tx, &event, self.now()).await?;
        Ok(())
    }

    /// Records a refusal and returns the matching error.
    async fn refuse(&self, event: NewEvent, error: ServiceError) -> ServiceError {
        if let Err(audit_error) = self.record(event).await {
            // The refusal stands either way; losing its record is an operator alarm.
            tracing::error!(error = %audit_error, "could not record refusal");
            return audit_error;
        }
        error
    }

    /// Loads the caller as a policy actor.
    async fn actor(&self, caller: &Caller) -> Result<Actor, ServiceError> {
        let user = self.store.user(&caller.user).await?.ok_or_else(|| {
            ServiceError::Unauthenticated(format!("unknown user {}", caller.user))
        })?;
        Ok(Actor {
            user: user.name,
            roles: user.roles,
            disabled: user.disabled,
        })
    }
}

/// Starts an audit event for `caller`.
fn event(caller: &Caller, action: &str, outcome: Outcome) -> NewEvent {
    NewEvent {
        actor: caller.user.clone(),
        role: "-".into(),
        door: caller.door,
        source: caller.source.clone().unwrap_or_else(|| "-".into()),
        action: action.into(),
        target: "-".into(),
        project: "-".into(),
        dataset: "-".into(),
        session: caller.session.clone().unwrap_or_else(|| "-".into()),
        request_id: caller.request_id.clone(),
        outcome,
        details: serde_json::json!({}),
    }
}

/// Adds a key to an event's details object.
fn detail(event: &mut NewEvent, key: &str, value: impl Into<serde_json::Value>) {
    if let serde_json::Value::Object(map) = &mut event.details {
        map.insert(key.to_owned(), value.into());
    }
}
