//! Users, SSH keys, projects and datasets.

use enclave_policy::{ProjectFacts, Role, RoleSet};
use sqlx::Row;
use sqlx::any::AnyRow;
use time::Date;
use time::macros::format_description;

use super::{Store, StoreError, WriteTx, corrupt};

/// A stored user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    /// Login name.
    pub name: String,
    /// Granted roles.
    pub roles: RoleSet,
    /// Whether the account is disabled.
    pub disabled: bool,
}

/// A stored project with its members and datasets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectRow {
    /// Facts the policy needs.
    pub facts: ProjectFacts,
    /// Certified organization the project belongs to.
    pub organization: String,
    /// Output rule preset name.
    pub rules: String,
    /// Names of datasets granted to the project.
    pub datasets: Vec<String>,
}

/// A project's own output-checking rule set: its preset tightened, or loosened by an
/// administrator. No row means the preset as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectRulesRow {
    /// Every parameter, as printed by `RuleSet::to_toml`.
    pub rules_toml: String,
    /// SHA-256 of `rules_toml`.
    pub sha256: String,
    /// JSON array of the loosenings against the project's preset (`[]` when none).
    pub loosenings: String,
    /// Who set it (`cli:$USER`).
    pub set_by: String,
    /// When.
    pub set_at: String,
}

/// A registered dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetRow {
    /// Dataset name.
    pub name: String,
    /// Host folder holding one directory per table.
    pub path: String,
    /// `anonymized` or `pseudonymized`.
    pub class: String,
    /// Version from the dictionaries.
    pub version: String,
    /// Table names.
    pub tables: Vec<String>,
}

const DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]");

/// Parses a `YYYY-MM-DD` date.
///
/// # Errors
/// When `text` is not such a date.
pub fn parse_date(text: &str) -> Result<Date, time::error::Parse> {
    Date::parse(text, DATE_FORMAT)
}

fn parse_roles(text: &str) -> Result<RoleSet, StoreError> {
    text.split(',')
        .filter(|part| !part.is_empty())
        .try_fold(RoleSet::EMPTY, |set, name| {
            name.parse::<Role>()
                .map(|role| set.with(role))
                .map_err(corrupt)
        })
}

fn user_from_row(row: &AnyRow) -> Result<UserRow, StoreError> {
    Ok(UserRow {
        name: row.try_get("name")?,
        roles: parse_roles(&row.try_get::<String, _>("roles")?)?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
    })
}

impl Store {
    /// The user called `name`.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn user(&self, name: &str) -> Result<Option<UserRow>, StoreError> {
        let row = sqlx::query("SELECT name, roles, disabled FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Every user, by name.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        let rows = sqlx::query("SELECT name, roles, disabled FROM users ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// The owner of the key with this fingerprint.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn key_owner(&self, fingerprint: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT user_name FROM ssh_keys WHERE fingerprint = $1")
            .bind(fingerprint)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|row| row.try_get("user_name")).transpose()?)
    }

    /// Inserts a user.
    ///
    /// # Errors
    /// When the database fails (including a duplicate name).
    pub async fn insert_user(
        tx: &mut WriteTx,
        name: &str,
        roles: RoleSet,
        now: &str,
    ) -> Result<(), StoreError> {
        let roles: Vec<&str> = roles.iter().map(Role::as_str).collect();
        sqlx::query("INSERT INTO users (name, roles, disabled, created_at) VALUES ($1, $2, 0, $3)")
            .bind(name)
            .bind(roles.join(","))
            .bind(now)
            .execute(tx.conn())
            .await?;
        Ok(())
    }

    /// Sets or clears a user's disabled flag.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn set_user_disabled(
        tx: &mut WriteTx,
        name: &str,
        disabled: bool,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET disabled = $1 WHERE name = $2")
            .bind(i64::from(disabled))
            .bind(name)
            .execute(tx.conn())
            .await?;
        Ok(())
    }

    /// Records an SSH public key for a user.
    ///
    /// # Errors
    /// When the database fails (including a key already registered).
    pub async fn insert_key(
        tx: &mut WriteTx,
        fingerprint: &str,
        user: &str,
        public_key: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ssh_keys (fingerprint, user_name, public_key, added_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(fingerprint)
        .bind(user)
        .bind(public_key)
        .bind(now)
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// The project called `name`, with members and datasets.
    ///
    /// # Errors
    /// When the database fails or a stored date is corrupt.
    pub async fn project(&self, name: &str) -> Result<Option<ProjectRow>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT name, organization, expires_on, rules, active FROM projects WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let members = sqlx::query(
            "SELECT user_name FROM project_members WHERE project = $1 ORDER BY user_name",
        )
        .bind(name)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("user_name"))
        .collect::<Result<Vec<_>, _>>()?;
        let datasets =
            sqlx::query("SELECT dataset FROM project_datasets WHERE project = $1 ORDER BY dataset")
                .bind(name)
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>("dataset"))
                .collect::<Result<Vec<_>, _>>()?;
        let expires_on = parse_date(&row.try_get::<String, _>("expires_on")?).map_err(corrupt)?;
        Ok(Some(ProjectRow {
            facts: ProjectFacts {
                name: row.try_get("name")?,
                members,
                expires_on,
                active: row.try_get::<i64, _>("active")? != 0,
            },
            organization: row.try_get("organization")?,
            rules: row.try_get("rules")?,
            datasets,
        }))
    }

    /// The project's own rule set, if one was set.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn project_rules(
        &self,
        project: &str,
    ) -> Result<Option<ProjectRulesRow>, StoreError> {
        let row = sqlx::query(
            "SELECT rules_toml, sha256, loosenings, set_by, set_at FROM project_rules \
             WHERE project = $1",
        )
        .bind(project)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(ProjectRulesRow {
                rules_toml: row.try_get("rules_toml")?,
                sha256: row.try_get("sha256")?,
                loosenings: row.try_get("loosenings")?,
                set_by: row.try_get("set_by")?,
                set_at: row.try_get("set_at")?,
            })
        })
        .transpose()
    }

    /// Sets (or replaces) the project's own rule set.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn set_project_rules(
        tx: &mut WriteTx,
        project: &str,
        rules: &ProjectRulesRow,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO project_rules (project, rules_toml, sha256, loosenings, set_by, set_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (project) DO UPDATE SET rules_toml = excluded.rules_toml, \
             sha256 = excluded.sha256, loosenings = excluded.loosenings, \
             set_by = excluded.set_by, set_at = excluded.set_at",
        )
        .bind(project)
        .bind(&rules.rules_toml)
        .bind(&rules.sha256)
        .bind(&rules.loosenings)
        .bind(&rules.set_by)
        .bind(&rules.set_at)
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// Names of every project, by name.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn project_names(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT name FROM projects ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("name"))
            .collect::<Result<_, _>>()?)
    }

    /// Names of the projects `user` is a member of.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn projects_of(&self, user: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT project FROM project_members WHERE user_name = $1 ORDER BY project",
        )
        .bind(user)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("project"))
            .collect::<Result<_, _>>()?)
    }

    /// Inserts a project.
    ///
    /// # Errors
    /// When the database fails (including a duplicate name).
    pub async fn insert_project(
        tx: &mut WriteTx,
        name: &str,
        organization: &str,
        expires_on: Date,
        rules: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        let expires = expires_on.format(DATE_FORMAT).map_err(corrupt)?;
        sqlx::query(
            "INSERT INTO projects (name, organization, expires_on, rules, active, created_at) \
             VALUES ($1, $2, $3, $4, 1, $5)",
        )
        .bind(name)
        .bind(organization)
        .bind(expires)
        .bind(rules)
        .bind(now)
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// Changes a project's expiry date.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn set_project_expiry(
        tx: &mut WriteTx,
        name: &str,
        expires_on: Date,
    ) -> Result<(), StoreError> {
        let expires = expires_on.format(DATE_FORMAT).map_err(corrupt)?;
        sqlx::query("UPDATE projects SET expires_on = $1 WHERE name = $2")
            .bind(expires)
            .bind(name)
            .execute(tx.conn())
            .await?;
        Ok(())
    }

    /// Adds a member to a project (no-op if already a member).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn insert_member(
        tx: &mut WriteTx,
        project: &str,
        user: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO project_members (project, user_name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(project)
        .bind(user)
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// Grants a dataset to a project (no-op if already granted).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn insert_project_dataset(
        tx: &mut WriteTx,
        project: &str,
        dataset: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO project_datasets (project, dataset) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(project)
        .bind(dataset)
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// The dataset called `name`.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn dataset(&self, name: &str) -> Result<Option<DatasetRow>, StoreError> {
        let row =
            sqlx::query("SELECT name, path, class, version, tables FROM datasets WHERE name = $1")
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        row.map(|row| {
            let tables: String = row.try_get("tables")?;
            Ok(DatasetRow {
                name: row.try_get("name")?,
                path: row.try_get("path")?,
                class: row.try_get("class")?,
                version: row.try_get("version")?,
                tables: serde_json::from_str(&tables).map_err(corrupt)?,
            })
        })
        .transpose()
    }

    /// Names of every dataset.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn dataset_names(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT name FROM datasets ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("name"))
            .collect::<Result<_, _>>()?)
    }

    /// Registers a dataset.
    ///
    /// # Errors
    /// When the database fails (including a duplicate name).
    pub async fn insert_dataset(
        tx: &mut WriteTx,
        dataset: &DatasetRow,
        now: &str,
    ) -> Result<(), StoreError> {
        let tables = serde_json::to_string(&dataset.tables).map_err(corrupt)?;
        sqlx::query(
            "INSERT INTO datasets (name, path, class, version, tables, registered_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&dataset.name)
        .bind(&dataset.path)
        .bind(&dataset.class)
        .bind(&dataset.version)
        .bind(tables)
        .bind(now)
        .execute(tx.conn())
        .await?;
        Ok(())
    }
}
