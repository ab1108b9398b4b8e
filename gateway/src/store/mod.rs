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
mod jobs;
mod registry;

use std::path::Path;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::MigrateDatabase;
use sqlx::{Any, AnyConnection, AnyPool, Executor};

pub use audit::{AuditFilter, format_time};
pub use checks::OutputCheckRow;
pub use jobs::{JobRow, Lease, NewJob, OutputRow, RunResult};
pub use registry::{DatasetRow, ProjectRow, ProjectRulesRow, UserRow, parse_date};

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

/// A write transaction. On SQLite it is `BEGIN IMMEDIATE`, so it holds the
/// write lock from the start; on PostgreSQL audit appends take a
/// transaction-scoped advisory lock. Either way audit sequence numbers cannot race.
pub struct WriteTx {
    tx: sqlx::Transaction<'static, Any>,
    backend: Backend,
}

impl WriteTx {
    fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Commits; the change is durable when this returns.
    ///
    /// # Errors
    /// When the database refuses the commit.
    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
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
}

/// Handle to the database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

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
                            // WAL for concurrent readers; FULL so that a committed
                            // (acknowledged) change survives a power cut.
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 30000;",
                            )
                            .await?;
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
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Store { pool, backend })
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
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTx {
            tx,
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
