//! The store: every durable fact (users, keys, projects, datasets, jobs,
//! outputs, audit events) lives in one SQL database through sqlx.
//!
//! Invariant: every write happens inside a [`WriteTx`] that also appends the
//! audit event describing it, so a change and its record commit together.
//! Invariant: the store holds no rules; it answers questions and records facts.
//! Boundary: SQL uses `$n` placeholders and portable types so that the
//! PostgreSQL backend can share it.

mod audit;
mod jobs;
mod registry;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use audit::format_time;
pub use jobs::{JobRow, NewJob, OutputRow, RunResult};
pub use registry::{DatasetRow, ProjectRow, UserRow, parse_date};

/// A write transaction. On SQLite it is `BEGIN IMMEDIATE`, so it holds the
/// write lock from the start and audit sequence numbers cannot race.
pub type WriteTx = sqlx::Transaction<'static, sqlx::Sqlite>;

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
    pool: SqlitePool,
}

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../infra/migrations/sqlite");

impl Store {
    /// Opens (creating if missing) the database at `url` and runs migrations.
    ///
    /// # Errors
    /// When the URL is invalid, the file cannot be opened, or a migration fails.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed (acknowledged) change survives a power cut.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        MIGRATIONS.run(&pool).await?;
        Ok(Store { pool })
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
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}
