//! Release requests, their files, the checkers' votes and the release ledger.
//!
//! Invariant: no rules here; `enclave_policy::release` decides, the service records.
//! Invariant: a request read for a change is read inside the write transaction, locked on
//! PostgreSQL (`FOR UPDATE`), so two concurrent votes cannot both miss each other.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Backend, Store, StoreError, WriteTx};

/// A release request with its files and every vote ever cast on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseRow {
    /// Request id (`rel-…`).
    pub id: String,
    /// Project.
    pub project: String,
    /// Dataset the job read.
    pub dataset: String,
    /// Researcher who made it.
    pub author: String,
    /// State name.
    pub state: String,
    /// Current round (1, then +1 per resubmission).
    pub round: i64,
    /// What the files show.
    pub context: String,
    /// Why failed files are safe.
    pub justification: Option<String>,
    /// Created.
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
    /// When released.
    pub released_at: Option<String>,
    /// The release record (JSON), once released.
    pub record: Option<String>,
    /// Files, by name.
    pub files: Vec<ReleaseFileRow>,
    /// Votes of every round, oldest first.
    pub votes: Vec<VoteRow>,
}

/// A file in a release request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseFileRow {
    /// File name.
    pub name: String,
    /// Job the bytes came from.
    pub job_id: String,
    /// `original` or `suggested`.
    pub variant: String,
    /// SHA-256 naming the bytes in the quarantine.
    pub sha256: String,
    /// Size in bytes.
    pub size: i64,
    /// Automated verdict, when checked.
    pub verdict: Option<String>,
    /// The round whose votes count for these bytes.
    pub round: i64,
    /// `approved`, `changes` or `rejected` once decided.
    pub outcome: Option<String>,
    /// SHA-256 frozen on release.
    pub released_sha256: Option<String>,
}

/// One checker's vote on one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoteRow {
    /// File name.
    pub name: String,
    /// Round.
    pub round: i64,
    /// Checker.
    pub checker: String,
    /// `approve`, `changes` or `reject`.
    pub vote: String,
    /// Comment (may be empty).
    pub comment: String,
    /// When.
    pub created_at: String,
}

/// A table in the release ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerRow {
    /// The release that let it out.
    pub request_id: String,
    /// File name.
    pub name: String,
    /// SHA-256 of the released bytes.
    pub sha256: String,
    /// Table spec (JSON).
    pub spec: String,
}

const REQUEST_COLUMNS: &str = "id, project, dataset, author, state, round, context, \
    justification, created_at, updated_at, released_at, record";

impl Store {
    /// One request with its files and votes.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn release(&self, id: &str) -> Result<Option<ReleaseRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        load(&mut conn, id, false, self.backend()).await
    }

    /// One request read inside `tx` and locked until it commits (PostgreSQL).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn release_for_update(
        tx: &mut WriteTx,
        id: &str,
    ) -> Result<Option<ReleaseRow>, StoreError> {
        let backend = tx.backend;
        load(tx.conn(), id, true, backend).await
    }

    /// Requests, newest first: of these projects (`Some`) or all (`None`), optionally only
    /// in these states.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn releases(
        &self,
        projects: Option<&[String]>,
        states: Option<&[&str]>,
    ) -> Result<Vec<ReleaseRow>, StoreError> {
        // The filters are bound parameters; only their count shapes the SQL.
        let mut next = 0;
        let mut list = |n: usize| {
            let marks: Vec<String> = (0..n)
                .map(|_| {
                    next += 1;
                    format!("${next}")
                })
                .collect();
            marks.join(", ")
        };
        let mut conditions = Vec::new();
        if let Some(projects) = projects {
            conditions.push(format!("project IN ({})", list(projects.len())));
        }
        if let Some(states) = states {
            conditions.push(format!("state IN ({})", list(states.len())));
        }
        if projects.is_some_and(<[String]>::is_empty) || states.is_some_and(<[&str]>::is_empty) {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT id FROM release_requests{} ORDER BY created_at DESC, id DESC",
            if conditions.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", conditions.join(" AND "))
            }
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for project in projects.unwrap_or_default() {
            query = query.bind(project.clone());
        }
        for state in states.unwrap_or_default() {
            query = query.bind((*state).to_owned());
        }
        let rows = query.fetch_all(self.pool()).await?;
        let mut out = Vec::with_capacity(rows.len());
        let mut conn = self.pool().acquire().await?;
        for row in rows {
            let id: String = row.try_get("id")?;
            if let Some(release) = load(&mut conn, &id, false, self.backend()).await? {
                out.push(release);
            }
        }
        Ok(out)
    }

    /// Requests with at least one file from `job_id`, oldest first.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn releases_of_job(&self, job_id: &str) -> Result<Vec<ReleaseRow>, StoreError> {
        let ids = sqlx::query(
            "SELECT DISTINCT f.request_id AS id, r.created_at AS created_at FROM release_files f \
             JOIN release_requests r ON r.id = f.request_id WHERE f.job_id = $1 \
             ORDER BY r.created_at, f.request_id",
        )
        .bind(job_id)
        .fetch_all(self.pool())
        .await?;
        let mut conn = self.pool().acquire().await?;
        let mut out = Vec::with_capacity(ids.len());
        for row in ids {
            let id: String = row.try_get("id")?;
            if let Some(release) = load(&mut conn, &id, false, self.backend()).await? {
                out.push(release);
            }
        }
        Ok(out)
    }

    /// Inserts a new request and its files.
    ///
    /// # Errors
    /// When the database fails (e.g. a duplicate id).
    pub async fn insert_release(tx: &mut WriteTx, release: &ReleaseRow) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO release_requests ({REQUEST_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&release.id)
            .bind(&release.project)
            .bind(&release.dataset)
            .bind(&release.author)
            .bind(&release.state)
            .bind(release.round)
            .bind(&release.context)
            .bind(&release.justification)
            .bind(&release.created_at)
            .bind(&release.updated_at)
            .bind(&release.released_at)
            .bind(&release.record)
            .execute(tx.conn())
            .await?;
        for file in &release.files {
            Store::put_release_file(tx, &release.id, file).await?;
        }
        Ok(())
    }

    /// Inserts or replaces one file of a request.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn put_release_file(
        tx: &mut WriteTx,
        request_id: &str,
        file: &ReleaseFileRow,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM release_files WHERE request_id = $1 AND name = $2")
            .bind(request_id)
            .bind(&file.name)
            .execute(tx.conn())
            .await?;
        sqlx::query(
            "INSERT INTO release_files (request_id, name, job_id, variant, sha256, size, \
             verdict, round, outcome, released_sha256) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(request_id)
        .bind(&file.name)
        .bind(&file.job_id)
        .bind(&file.variant)
        .bind(&file.sha256)
        .bind(file.size)
        .bind(&file.verdict)
        .bind(file.round)
        .bind(&file.outcome)
        .bind(&file.released_sha256)
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// Records a vote.
    ///
    /// # Errors
    /// When the database fails (a second vote of the same checker on the same file and
    /// round violates the primary key).
    pub async fn insert_vote(
        tx: &mut WriteTx,
        request_id: &str,
        vote: &VoteRow,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO release_votes (request_id, name, round, checker, vote, comment, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(request_id)
        .bind(&vote.name)
        .bind(vote.round)
        .bind(&vote.checker)
        .bind(&vote.vote)
        .bind(&vote.comment)
        .bind(&vote.created_at)
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// Updates a request's state, round, text and release fields.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn update_release(tx: &mut WriteTx, release: &ReleaseRow) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE release_requests SET state = $1, round = $2, context = $3, \
             justification = $4, updated_at = $5, released_at = $6, record = $7 WHERE id = $8",
        )
        .bind(&release.state)
        .bind(release.round)
        .bind(&release.context)
        .bind(&release.justification)
        .bind(&release.updated_at)
        .bind(&release.released_at)
        .bind(&release.record)
        .bind(&release.id)
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// Adds a released table to the project's ledger.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn insert_ledger(
        tx: &mut WriteTx,
        project: &str,
        dataset: &str,
        entry: &LedgerRow,
        released_at: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO release_ledger (project, dataset, request_id, name, sha256, spec, \
             released_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(project)
        .bind(dataset)
        .bind(&entry.request_id)
        .bind(&entry.name)
        .bind(&entry.sha256)
        .bind(&entry.spec)
        .bind(released_at)
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// Tables released in `project` on `dataset`, oldest first.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn ledger(&self, project: &str, dataset: &str) -> Result<Vec<LedgerRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT request_id, name, sha256, spec FROM release_ledger \
             WHERE project = $1 AND dataset = $2 ORDER BY released_at, request_id, name",
        )
        .bind(project)
        .bind(dataset)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LedgerRow {
                    request_id: row.try_get("request_id")?,
                    name: row.try_get("name")?,
                    sha256: row.try_get("sha256")?,
                    spec: row.try_get("spec")?,
                })
            })
            .collect()
    }

    /// Sets the approvals a project asks for per file.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn set_release_approvals(
        tx: &mut WriteTx,
        project: &str,
        approvals: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE projects SET release_approvals = $1 WHERE name = $2")
            .bind(approvals)
            .bind(project)
            .execute(tx.conn())
            .await?;
        Ok(())
    }

    /// Approvals the project asks for per file (before the policy's floor).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn release_approvals(&self, project: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT release_approvals FROM projects WHERE name = $1")
            .bind(project)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(row) => row.try_get("release_approvals")?,
            None => 2,
        })
    }
}

async fn load(
    conn: &mut AnyConnection,
    id: &str,
    lock: bool,
    backend: Backend,
) -> Result<Option<ReleaseRow>, StoreError> {
    let lock = if lock && backend == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {REQUEST_COLUMNS} FROM release_requests WHERE id = $1{lock}");
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let files = sqlx::query(
        "SELECT name, job_id, variant, sha256, size, verdict, round, outcome, released_sha256 \
         FROM release_files WHERE request_id = $1 ORDER BY name",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(file_from_row)
    .collect::<Result<Vec<_>, _>>()?;
    let votes = sqlx::query(
        "SELECT name, round, checker, vote, comment, created_at FROM release_votes \
         WHERE request_id = $1 ORDER BY created_at, round, name, checker",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| {
        Ok(VoteRow {
            name: row.try_get("name")?,
            round: row.try_get("round")?,
            checker: row.try_get("checker")?,
            vote: row.try_get("vote")?,
            comment: row.try_get("comment")?,
            created_at: row.try_get("created_at")?,
        })
    })
    .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Some(ReleaseRow {
        id: row.try_get("id")?,
        project: row.try_get("project")?,
        dataset: row.try_get("dataset")?,
        author: row.try_get("author")?,
        state: row.try_get("state")?,
        round: row.try_get("round")?,
        context: row.try_get("context")?,
        justification: row.try_get("justification")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        released_at: row.try_get("released_at")?,
        record: row.try_get("record")?,
        files,
        votes,
    }))
}

fn file_from_row(row: &AnyRow) -> Result<ReleaseFileRow, StoreError> {
    Ok(ReleaseFileRow {
        name: row.try_get("name")?,
        job_id: row.try_get("job_id")?,
        variant: row.try_get("variant")?,
        sha256: row.try_get("sha256")?,
        size: row.try_get("size")?,
        verdict: row.try_get("verdict")?,
        round: row.try_get("round")?,
        outcome: row.try_get("outcome")?,
        released_sha256: row.try_get("released_sha256")?,
    })
}
