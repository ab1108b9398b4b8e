//! The store: every durable fact (users, keys, projects, datasets, jobs,
//! outputs, audit events) lives in one SQL database through sqlx.
//!
//! Invariant: every write happens inside a [`WriteTx`] that also appends the
//! audit event describing it, so a change and its record commit together.
//! Invariant: the store holds no rules; it answers questions and records facts.
//! Boundary: one SQL dialect for both backends (`$n` placeholders, TEXT and
//! 64-bit integers, `ON CONFLICT DO NOTHING`); the few differences (how a write
//! transaction starts, audit serialization, job claiming) switch on [`Backend`].

mod audit;
mod checks;
mod group;
mod jobs;
mod purge;
mod registry;
mod releases;
mod standalone;
mod tokens;
mod web;

use std::path::Path;
use std::sync::Arc;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::MigrateDatabase;
use sqlx::{Any, AnyConnection, AnyPool, Executor};

pub use audit::{AuditFilter, format_time};
pub use checks::OutputCheckRow;
pub use jobs::{JobRow, Lease, NewJob, OutputRow, RunResult};
pub use purge::PurgeRecord;
pub use registry::{DatasetRow, ProjectRow, ProjectRulesRow, UserRow, parse_date};
pub use releases::{LedgerRow, ReleaseFileRow, ReleaseRow, VoteRow};
pub use tokens::TokenRow;
pub use web::{CredentialRow, WebSessionRow};

/// Which database server is behind the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (WAL): one machine.
    Sqlite,
    /// PostgreSQL: several gateway and worker nodes.
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    ///
    /// # Errors
    /// For any other URL scheme.
    pub fn of_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Corrupt(
                "database_url must start with sqlite:, postgres: or postgresql:".into(),
            ))
        }
    }
}

/// A write transaction. On SQLite it is a savepoint on the one writer
/// connection, inside a physical `BEGIN IMMEDIATE` transaction shared with the
/// writers queued behind it (group commit, `group.rs`), so it holds the write
/// lock from the start; on PostgreSQL audit appends take a transaction-scoped
/// advisory lock. Either way audit sequence numbers cannot race. Dropped
/// without `commit`, it rolls back.
pub struct WriteTx {
    inner: TxInner,
    backend: Backend,
}

enum TxInner {
    /// PostgreSQL: a transaction on a pooled connection.
    Pooled(sqlx::Transaction<'static, Any>),
    /// SQLite: a logical transaction on the group-commit writer.
    Group(group::GroupTx),
}

impl WriteTx {
    fn conn(&mut self) -> &mut AnyConnection {
        match &mut self.inner {
            TxInner::Pooled(tx) => tx,
            TxInner::Group(tx) => tx.conn(),
        }
    }

    /// The newest audit event as the SQLite writer knows it (`None` on
    /// PostgreSQL, where other nodes append too, or when unknown).
    fn audit_head(&self) -> Option<&group::AuditHead> {
        match &self.inner {
            TxInner::Pooled(_) => None,
            TxInner::Group(tx) => tx.audit_head(),
        }
    }

    fn set_audit_head(&mut self, head: group::AuditHead) {
        if let TxInner::Group(tx) = &mut self.inner {
            tx.set_audit_head(head);
        }
    }

    /// Commits; the change is durable when this returns (on SQLite, once the
    /// physical transaction holding it has committed).
    ///
    /// # Errors
    /// When the database refuses the commit; on SQLite also when the shared
    /// physical commit failed, which fails every transaction of that batch.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Pooled(tx) => Ok(tx.commit().await?),
            TxInner::Group(tx) => tx.commit().await,
        }
    }
}

/// What went wrong talking to the database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database refused or failed a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be decoded.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// The group commit holding this transaction failed; nothing of it was kept.
    #[error("commit failed: {0}")]
    Commit(String),
}

/// Handle to the database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite only: the one writer connection (group commit).
    writer: Option<Arc<group::GroupWriter>>,
    /// SQLite only: standalone audit events waiting to share one insert.
    standalone: standalone::StandaloneQueue,
}

/// Connection settings on SQLite: WAL for concurrent readers; FULL so that a
/// committed (acknowledged) change survives a power cut.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 30000;";

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../infra/migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("../infra/migrations/postgres");

impl Store {
    /// Opens (creating if missing) the database at `url` and runs migrations.
    ///
    /// # Errors
    /// When the URL is invalid, the file cannot be opened, or a migration fails.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url)?;
        let pool = match backend {
            Backend::Sqlite => {
                if !Any::database_exists(url).await? {
                    Any::create_database(url).await?;
                }
                AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute(SQLITE_PRAGMAS).await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .connect(url)
                    .await?
            }
        };
        let writer = match backend {
            Backend::Sqlite => {
                SQLITE_MIGRATIONS.run(&pool).await?;
                Some(Arc::new(
                    group::GroupWriter::connect(url, SQLITE_PRAGMAS).await?,
                ))
            }
            Backend::Postgres => {
                POSTGRES_MIGRATIONS.run(&pool).await?;
                None
            }
        };
        Ok(Store {
            pool,
            backend,
            writer,
            standalone: standalone::StandaloneQueue::default(),
        })
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The SQLite URL for a database file.
    pub fn sqlite_url(path: &Path) -> String {
        format!("sqlite://{}", path.display())
    }

    /// Starts a write transaction.
    ///
    /// # Errors
    /// When the database is unavailable.
    pub async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        let inner = match &self.writer {
            Some(writer) => TxInner::Group(writer.begin().await?),
            None => TxInner::Pooled(self.pool.begin().await?),
        };
        Ok(WriteTx {
            inner,
            backend: self.backend,
        })
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}
