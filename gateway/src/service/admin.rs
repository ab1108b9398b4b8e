//! Administration: users, keys, projects and datasets. Reached from the
//! host-side `enclave admin` command (door `cli`); audited like everything else.

use std::path::Path;

use enclave_policy::sdc::{Loosening, Preset, RuleSet, sha256_hex};
use enclave_policy::{Actor, Decision, Request, RoleSet, RulesChange, authorize};
use serde::Serialize;
use time::Date;

use super::{Caller, Service, ServiceError, detail, event};
use crate::audit::{NewEvent, Outcome};
use crate::store::{DatasetRow, ProjectRulesRow, Store, StoreError, WriteTx};

/// The operator at the host's command line. Host access implies the admin role.
#[derive(Clone, Debug)]
pub struct AdminCaller(pub Caller);

/// A user to create.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Login name: lower-case letters, digits, `-`, `_`, `.`; 1–32 characters.
    pub name: String,
    /// Roles to grant.
    pub roles: RoleSet,
    /// OpenSSH public keys (one-line form).
    pub ssh_keys: Vec<String>,
}

/// A project to create.
#[derive(Clone, Debug)]
pub struct NewProject {
    /// Project name (same character rules as user names).
    pub name: String,
    /// Certified organization.
    pub organization: String,
    /// Last valid day.
    pub expires_on: Date,
    /// Output rule preset (`ndb`, `acro`, `opensafely`).
    pub rules: String,
    /// Initial members.
    pub members: Vec<String>,
    /// Initial datasets.
    pub datasets: Vec<String>,
}

/// A dataset folder to register.
#[derive(Clone, Debug)]
pub struct DatasetRegistration {
    /// Dataset name.
    pub name: String,
    /// Folder with one sub-folder per table, each holding a `dictionary.json`.
    pub path: std::path::PathBuf,
    /// Declared class; must match the dictionaries.
    pub class: String,
}

/// A project's own output-checking rules, from a rules file (`enclave admin project rules`).
#[derive(Clone, Debug)]
pub struct ProjectRulesRequest {
    /// Project name.
    pub project: String,
    /// The rules file's name, for error messages and the audit trail.
    pub file: String,
    /// The rules file's bytes (UTF-8 TOML: a preset plus overrides).
    pub bytes: Vec<u8>,
    /// What the operator confirmed about loosening.
    pub loosening: LooseningConsent,
}

/// Whether the operator confirmed that the rules may be looser than the project's preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LooseningConsent {
    /// Tightening only: any loosening is refused.
    Refuse,
    /// The operator confirmed (`--allow-loosening`); the loosenings are audited.
    Confirm,
}

/// What a project's rules were set to.
#[derive(Clone, Debug, Serialize)]
pub struct ProjectRulesSet {
    /// The rule set's name.
    pub name: String,
    /// SHA-256 of the stored rules (every parameter, TOML).
    pub sha256: String,
    /// Parameters looser than the project's preset (empty when only tightened).
    pub loosenings: Vec<Loosening>,
}

/// Summary of a user for listings.
#[derive(Clone, Debug, Serialize)]
pub struct UserSummary {
    /// Login name.
    pub name: String,
    /// Roles.
    pub roles: String,
    /// Whether disabled.
    pub disabled: bool,
}

/// Output rule presets known today.
pub const RULE_PRESETS: [&str; 3] = ["ndb", "acro", "opensafely"];

impl Service {
    /// Creates a user with roles and SSH keys.
    ///
    /// # Errors
    /// `Invalid` for a bad name or key, `Conflict` for an existing user or key.
    pub async fn admin_add_user(
        &self,
        caller: &AdminCaller,
        user: NewUser,
    ) -> Result<(), ServiceError> {
        let mut record = self
            .admin_event(caller, "admin.user.add", &user.name)
            .await?;
        detail(&mut record, "roles", user.roles.to_string());
        if let Err(message) = check_name(&user.name) {
            return Err(self.admin_invalid(record, message).await);
        }
        if self.store.user(&user.name).await?.is_some() {
            record.outcome = Outcome::Error;
            detail(&mut record, "reason", "user exists");
            return Err(self
                .refuse(
                    record,
                    ServiceError::Conflict(format!("user {} already exists", user.name)),
                )
                .await);
        }
        let mut keys = Vec::new();
        for text in &user.ssh_keys {
            match parse_public_key(text) {
                Ok(key) => keys.push(key),
                Err(message) => return Err(self.admin_invalid(record, message).await),
            }
        }
        let fingerprints: Vec<&str> = keys.iter().map(|(f, _)| f.as_str()).collect();
        detail(&mut record, "keys", fingerprints);
        let now = self.now_text()?;
        let mut tx = self.store.begin_write().await?;
        Store::insert_user(&mut tx, &user.name, user.roles, &now).await?;
        for (fingerprint, key) in &keys {
            if let Err(error) = Store::insert_key(&mut tx, fingerprint, &user.name, key, &now).await
            {
                drop(tx);
                return Err(self
                    .admin_conflict(record, error, "SSH key already registered")
                    .await);
            }
        }
        self.commit_with(tx, record).await
    }

    /// Adds an SSH public key to an existing user.
    ///
    /// # Errors
    /// `NotFound`, `Invalid` or `Conflict`.
    pub async fn admin_add_key(
        &self,
        caller: &AdminCaller,
        user: &str,
        key: &str,
    ) -> Result<(), ServiceError> {
        let mut record = self.admin_event(caller, "admin.user.key.add", user).await?;
        if self.store.user(user).await?.is_none() {
            return Err(self
                .admin_missing(record, format!("unknown user {user}"))
                .await);
        }
        let (fingerprint, key) = match parse_public_key(key) {
            Ok(parsed) => parsed,
            Err(message) => return Err(self.admin_invalid(record, message).await),
        };
        detail(&mut record, "key", fingerprint.clone());
        let now = self.now_text()?;
        let mut tx = self.store.begin_write().await?;
        if let Err(error) = Store::insert_key(&mut tx, &fingerprint, user, &key, &now).await {
            drop(tx);
            return Err(self
                .admin_conflict(record, error, "SSH key already registered")
                .await);
        }
        self.commit_with(tx, record).await
    }

    /// Disables or re-enables a user.
    ///
    /// # Errors
    /// `NotFound` for an unknown user.
    pub async fn admin_set_disabled(
        &self,
        caller: &AdminCaller,
        user: &str,
        disabled: bool,
    ) -> Result<(), ServiceError> {
        let action = if disabled {
            "admin.user.disable"
        } else {
            "admin.user.enable"
        };
        let record = self.admin_event(caller, action, user).await?;
        if self.store.user(user).await?.is_none() {
            return Err(self
                .admin_missing(record, format!("unknown user {user}"))
                .await);
        }
        let mut tx = self.store.begin_write().await?;
        Store::set_user_disabled(&mut tx, user, disabled).await?;
        self.commit_with(tx, record).await
    }

    /// Every user.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn admin_users(
        &self,
        caller: &AdminCaller,
    ) -> Result<Vec<UserSummary>, ServiceError> {
        let record = self.admin_event(caller, "admin.user.list", "-").await?;
        let users = self.store.users().await?;
        self.record(record).await?;
        Ok(users
            .into_iter()
            .map(|u| UserSummary {
                name: u.name,
                roles: u.roles.to_string(),
                disabled: u.disabled,
            })
            .collect())
    }

    /// Creates a project with members and datasets.
    ///
    /// # Errors
    /// `Invalid` for bad names, unknown members or datasets, or an unknown preset.
    pub async fn admin_create_project(
        &self,
        caller: &AdminCaller,
        project: NewProject,
    ) -> Result<(), ServiceError> {
        let mut record = self
            .admin_event(caller, "admin.project.create", &project.name)
            .await?;
        record.project = project.name.clone();
        detail(&mut record, "organization", project.organization.clone());
        detail(&mut record, "expires_on", project.expires_on.to_string());
        detail(&mut record, "rules", project.rules.clone());
        detail(&mut record, "members", project.members.clone());
        detail(&mut record, "datasets", project.datasets.clone());
        if let Err(message) = check_name(&project.name) {
            return Err(self.admin_invalid(record, message).await);
        }
        if project.organization.trim().is_empty() {
            return Err(self
                .admin_invalid(record, "the certified organization is required".into())
                .await);
        }
        if !RULE_PRESETS.contains(&project.rules.as_str()) {
            let message = format!(
                "unknown rule preset {} (expected one of {})",
                project.rules,
                RULE_PRESETS.join(", ")
            );
            return Err(self.admin_invalid(record, message).await);
        }
        if self.store.project(&project.name).await?.is_some() {
            record.outcome = Outcome::Error;
            return Err(self
                .refuse(
                    record,
                    ServiceError::Conflict(format!("project {} already exists", project.name)),
                )
                .await);
        }
        for member in &project.members {
            if self.store.user(member).await?.is_none() {
                return Err(self
                    .admin_invalid(record, format!("unknown user {member}"))
                    .await);
            }
        }
        for dataset in &project.datasets {
            if self.store.dataset(dataset).await?.is_none() {
                return Err(self
                    .admin_invalid(record, format!("unknown dataset {dataset}"))
                    .await);
            }
        }
        let now = self.now_text()?;
        let mut tx = self.store.begin_write().await?;
        Store::insert_project(
            &mut tx,
            &project.name,
            &project.organization,
            project.expires_on,
            &project.rules,
            &now,
        )
        .await?;
        for member in &project.members {
            Store::insert_member(&mut tx, &project.name, member).await?;
        }
        for dataset in &project.datasets {
            Store::insert_project_dataset(&mut tx, &project.name, dataset).await?;
        }
        self.commit_with(tx, record).await
    }

    /// Adds a member to a project.
    ///
    /// # Errors
    /// `NotFound` for an unknown project or user.
    pub async fn admin_add_member(
        &self,
        caller: &AdminCaller,
        project: &str,
        user: &str,
    ) -> Result<(), ServiceError> {
        let mut record = self
            .admin_event(caller, "admin.project.member.add", user)
            .await?;
        record.project = project.to_owned();
        if self.store.project(project).await?.is_none() {
            return Err(self
                .admin_missing(record, format!("unknown project {project}"))
                .await);
        }
        if self.store.user(user).await?.is_none() {
            return Err(self
                .admin_missing(record, format!("unknown user {user}"))
                .await);
        }
        let mut tx = self.store.begin_write().await?;
        Store::insert_member(&mut tx, project, user).await?;
        self.commit_with(tx, record).await
    }

    /// Grants a dataset to a project.
    ///
    /// # Errors
    /// `NotFound` for an unknown project or dataset.
    pub async fn admin_grant_dataset(
        &self,
        caller: &AdminCaller,
        project: &str,
        dataset: &str,
    ) -> Result<(), ServiceError> {
        let mut record = self
            .admin_event(caller, "admin.project.dataset.add", dataset)
            .await?;
        record.project = project.to_owned();
        if self.store.project(project).await?.is_none() {
            return Err(self
                .admin_missing(record, format!("unknown project {project}"))
                .await);
        }
        if self.store.dataset(dataset).await?.is_none() {
            return Err(self
                .admin_missing(record, format!("unknown dataset {dataset}"))
                .await);
        }
        let mut tx = self.store.begin_write().await?;
        Store::insert_project_dataset(&mut tx, project, dataset).await?;
        self.commit_with(tx, record).await
    }

    /// Changes a project's expiry date.
    ///
    /// # Errors
    /// `NotFound` for an unknown project.
    pub async fn admin_set_expiry(
        &self,
        caller: &AdminCaller,
        project: &str,
        expires_on: Date,
    ) -> Result<(), ServiceError> {
        let mut record = self
            .admin_event(caller, "admin.project.expiry", project)
            .await?;
        record.project = project.to_owned();
        detail(&mut record, "expires_on", expires_on.to_string());
        if self.store.project(project).await?.is_none() {
            return Err(self
                .admin_missing(record, format!("unknown project {project}"))
                .await);
        }
        let mut tx = self.store.begin_write().await?;
        Store::set_project_expiry(&mut tx, project, expires_on).await?;
        self.commit_with(tx, record).await
    }

    /// Sets how many independent approvals each released file of a project needs. One is
    /// allowed only when every dataset granted to the project is anonymized; the policy's
    /// floor (two for pseudonymized data) applies whatever is stored.
    ///
    /// # Errors
    /// `NotFound` for an unknown project, `Invalid` for a number out of range or one below
    /// two on pseudonymized data.
    pub async fn admin_set_release_approvals(
        &self,
        caller: &AdminCaller,
        project: &str,
        approvals: i64,
    ) -> Result<(), ServiceError> {
        let mut record = self
            .admin_event(caller, "admin.project.approvals", project)
            .await?;
        record.project = project.to_owned();
        detail(&mut record, "approvals", approvals);
        let Some(row) = self.store.project(project).await? else {
            return Err(self
                .admin_missing(record, format!("unknown project {project}"))
                .await);
        };
        let mut problem = (!(1..=9).contains(&approvals))
            .then(|| format!("approvals must be between 1 and 9, not {approvals}"));
        if approvals < 2 {
            for dataset in &row.datasets {
                let class = self.store.dataset(dataset).await?.map(|d| d.class);
                if class.as_deref() != Some("anonymized") {
                    problem.get_or_insert_with(|| {
                        format!(
                            "dataset {dataset} is pseudonymized: every file needs at least 2 approvals"
                        )
                    });
                }
            }
        }
        if let Some(message) = problem {
            record.outcome = Outcome::Error;
            detail(&mut record, "reason", message.clone());
            return Err(self.refuse(record, ServiceError::Invalid(message)).await);
        }
        let mut tx = self.store.begin_write().await?;
        Store::set_release_approvals(&mut tx, project, approvals).await?;
        self.commit_with(tx, record).await
    }

    /// Sets a project's own output-checking rules from a rules file. The baseline is the
    /// project's preset (not the preset the file names, so switching presets cannot loosen
    /// in disguise); any looser parameter needs an administrator outside the project who
    /// confirmed it, and the loosenings go into the audit event.
    ///
    /// # Errors
    /// `NotFound` for an unknown project, `Invalid` for a rules file that does not parse
    /// (naming file and line), `Forbidden` for an unconfirmed or disallowed loosening.
    pub async fn admin_set_project_rules(
        &self,
        caller: &AdminCaller,
        request: ProjectRulesRequest,
    ) -> Result<ProjectRulesSet, ServiceError> {
        let mut record = event(&caller.0, "admin.project.rules", Outcome::Ok);
        record.target = request.project.clone();
        record.project = request.project.clone();
        record.role = "admin".into();
        detail(&mut record, "file", request.file.clone());
        detail(&mut record, "file_sha256", sha256_hex(&request.bytes));
        detail(
            &mut record,
            "allow_loosening",
            request.loosening == LooseningConsent::Confirm,
        );
        let Some(project) = self.store.project(&request.project).await? else {
            return Err(self
                .admin_missing(record, format!("unknown project {}", request.project))
                .await);
        };
        let text = match std::str::from_utf8(&request.bytes) {
            Ok(text) => text,
            Err(error) => {
                let valid = &request.bytes[..error.valid_up_to()];
                let line = valid.iter().filter(|byte| **byte == b'\n').count() + 1;
                let message = format!("{} line {line}: not UTF-8 text", request.file);
                return Err(self.admin_invalid(record, message).await);
            }
        };
        let rules = match RuleSet::from_toml(&request.file, text) {
            Ok(rules) => rules,
            Err(error) => return Err(self.admin_invalid(record, error.to_string()).await),
        };
        let Some(preset) = Preset::from_name(&project.rules) else {
            let message = format!(
                "project {} has an unknown preset {:?}",
                project.facts.name, project.rules
            );
            return Err(self.admin_invalid(record, message).await);
        };
        let loosenings = rules.loosenings(&preset.rules());
        let stored = match rules.to_toml() {
            Ok(text) => text,
            Err(error) => return Err(self.admin_invalid(record, error.to_string()).await),
        };
        let sha256 = sha256_hex(stored.as_bytes());
        detail(&mut record, "preset", preset.as_str());
        detail(&mut record, "rules", rules.name.clone());
        detail(&mut record, "rules_sha256", sha256.clone());
        let listed = serde_json::to_value(&loosenings)
            .map_err(|e| ServiceError::Internal(format!("loosenings: {e}")))?;
        detail(&mut record, "loosenings", listed.clone());
        let change = match (loosenings.is_empty(), request.loosening) {
            (true, _) => RulesChange::Tightens,
            (false, LooseningConsent::Refuse) => RulesChange::Loosens,
            (false, LooseningConsent::Confirm) => RulesChange::LoosensConfirmed,
        };
        // The host operator acts as `cli:$USER`; policy compares the login name with the
        // project's members, so an administrator who works in the project cannot loosen it.
        let login = caller.0.user.strip_prefix("cli:").unwrap_or(&caller.0.user);
        let actor = Actor {
            user: login.to_owned(),
            roles: RoleSet::of(&[enclave_policy::Role::Admin]),
            disabled: false,
        };
        let asked = Request::SetOutputRules {
            project: &project.facts,
            change,
        };
        if let Decision::Deny(reason) = authorize(&actor, &asked, self.now().date()) {
            record.outcome = Outcome::Denied;
            detail(&mut record, "reason", reason.to_string());
            let mut message = reason.to_string();
            if change == RulesChange::Loosens {
                let names: Vec<&str> = loosenings.iter().map(|l| l.parameter).collect();
                message = format!(
                    "{message} (looser than {}: {}; pass --allow-loosening to confirm)",
                    preset.as_str(),
                    names.join(", ")
                );
            }
            return Err(self.refuse(record, ServiceError::Forbidden(message)).await);
        }
        let row = ProjectRulesRow {
            rules_toml: stored,
            sha256: sha256.clone(),
            loosenings: listed.to_string(),
            set_by: caller.0.user.clone(),
            set_at: self.now_text()?,
        };
        let mut tx = self.store.begin_write().await?;
        Store::set_project_rules(&mut tx, &project.facts.name, &row).await?;
        self.commit_with(tx, record).await?;
        Ok(ProjectRulesSet {
            name: rules.name,
            sha256,
            loosenings,
        })
    }

    /// Projects with their facts.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn admin_projects(
        &self,
        caller: &AdminCaller,
    ) -> Result<Vec<crate::store::ProjectRow>, ServiceError> {
        let record = self.admin_event(caller, "admin.project.list", "-").await?;
        let mut projects = Vec::new();
        for name in self.store.project_names().await? {
            if let Some(project) = self.store.project(&name).await? {
                projects.push(project);
            }
        }
        self.record(record).await?;
        Ok(projects)
    }

    /// Registers a dataset folder after reading its table dictionaries.
    ///
    /// # Errors
    /// `Invalid` when the folder or its dictionaries are missing or inconsistent.
    pub async fn admin_register_dataset(
        &self,
        caller: &AdminCaller,
        registration: DatasetRegistration,
    ) -> Result<DatasetRow, ServiceError> {
        let mut record = self
            .admin_event(caller, "admin.dataset.register", &registration.name)
            .await?;
        detail(&mut record, "path", registration.path.display().to_string());
        detail(&mut record, "class", registration.class.clone());
        if let Err(message) = check_name(&registration.name) {
            return Err(self.admin_invalid(record, message).await);
        }
        let dataset = match read_dictionaries(&registration) {
            Ok(dataset) => dataset,
            Err(message) => return Err(self.admin_invalid(record, message).await),
        };
        if self.store.dataset(&dataset.name).await?.is_some() {
            record.outcome = Outcome::Error;
            return Err(self
                .refuse(
                    record,
                    ServiceError::Conflict(format!("dataset {} already registered", dataset.name)),
                )
                .await);
        }
        detail(&mut record, "version", dataset.version.clone());
        detail(&mut record, "tables", dataset.tables.clone());
        let now = self.now_text()?;
        let mut tx = self.store.begin_write().await?;
        Store::insert_dataset(&mut tx, &dataset, &now).await?;
        self.commit_with(tx, record).await?;
        Ok(dataset)
    }

    /// Registered datasets.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn admin_datasets(
        &self,
        caller: &AdminCaller,
    ) -> Result<Vec<DatasetRow>, ServiceError> {
        let record = self.admin_event(caller, "admin.dataset.list", "-").await?;
        let mut datasets = Vec::new();
        for name in self.store.dataset_names().await? {
            if let Some(dataset) = self.store.dataset(&name).await? {
                datasets.push(dataset);
            }
        }
        self.record(record).await?;
        Ok(datasets)
    }

    /// Starts an admin event and checks the admin permission.
    pub(super) async fn admin_event(
        &self,
        caller: &AdminCaller,
        action: &str,
        target: &str,
    ) -> Result<NewEvent, ServiceError> {
        self.admin_event_for(caller, action, target, &Request::Administer)
            .await
    }

    /// Starts an admin event and checks `request` for the operator.
    pub(super) async fn admin_event_for(
        &self,
        caller: &AdminCaller,
        action: &str,
        target: &str,
        request: &Request<'_>,
    ) -> Result<NewEvent, ServiceError> {
        let mut record = event(&caller.0, action, Outcome::Ok);
        record.target = target.to_owned();
        record.role = "admin".into();
        let actor = Actor {
            user: caller.0.user.clone(),
            roles: RoleSet::of(&[enclave_policy::Role::Admin]),
            disabled: false,
        };
        if let Decision::Deny(reason) = authorize(&actor, request, self.now().date()) {
            record.outcome = Outcome::Denied;
            detail(&mut record, "reason", reason.to_string());
            return Err(self
                .refuse(record, ServiceError::Forbidden(reason.to_string()))
                .await);
        }
        Ok(record)
    }

    pub(super) async fn commit_with(
        &self,
        mut tx: WriteTx,
        record: NewEvent,
    ) -> Result<(), ServiceError> {
        self.record_in(&mut tx, record).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn admin_invalid(
        &self,
        mut record: NewEvent,
        message: String,
    ) -> ServiceError {
        record.outcome = Outcome::Error;
        detail(&mut record, "reason", message.clone());
        self.refuse(record, ServiceError::Invalid(message)).await
    }

    pub(super) async fn admin_missing(
        &self,
        mut record: NewEvent,
        message: String,
    ) -> ServiceError {
        record.outcome = Outcome::Error;
        detail(&mut record, "reason", message.clone());
        self.refuse(record, ServiceError::NotFound(message)).await
    }

    async fn admin_conflict(
        &self,
        mut record: NewEvent,
        error: StoreError,
        message: &str,
    ) -> ServiceError {
        tracing::warn!(%error, "admin change conflicted");
        record.outcome = Outcome::Error;
        detail(&mut record, "reason", message);
        self.refuse(record, ServiceError::Conflict(message.to_owned()))
            .await
    }
}

/// Names of users, projects and datasets: short, lower-case, shell-safe.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid name {name:?}: use 1-32 lower-case letters, digits, '-', '_' or '.'"
        ))
    }
}

/// Parses an OpenSSH public key line; returns its SHA-256 fingerprint and the
/// key without its comment.
pub(crate) fn parse_public_key(text: &str) -> Result<(String, String), String> {
    let key = russh::keys::PublicKey::from_openssh(text.trim())
        .map_err(|error| format!("invalid SSH public key: {error}"))?;
    let fingerprint = key.fingerprint(russh::keys::HashAlg::Sha256).to_string();
    let mut bare = key.clone();
    bare.set_comment("");
    let line = bare
        .to_openssh()
        .map_err(|error| format!("invalid SSH public key: {error}"))?;
    Ok((fingerprint, line.trim().to_owned()))
}

/// The dictionary each table folder holds.
#[derive(serde::Deserialize)]
struct TableDictionary {
    dataset: String,
    version: String,
    class: String,
    table: String,
}

fn read_dictionaries(registration: &DatasetRegistration) -> Result<DatasetRow, String> {
    let root: &Path = &registration.path;
    let root = root
        .canonicalize()
        .map_err(|error| format!("cannot open dataset folder {}: {error}", root.display()))?;
    if !["anonymized", "pseudonymized"].contains(&registration.class.as_str()) {
        return Err(format!(
            "invalid dataset class {:?}: expected anonymized or pseudonymized",
            registration.class
        ));
    }
    let mut entries: Vec<_> = std::fs::read_dir(&root)
        .map_err(|error| format!("cannot read dataset folder {}: {error}", root.display()))?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    let mut tables = Vec::new();
    let mut version: Option<String> = None;
    for entry in entries {
        let path = entry.path().join("dictionary.json");
        let text = std::fs::read_to_string(&path).map_err(|error| {
            format!(
                "table folder {} has no readable dictionary.json: {error}",
                entry.path().display()
            )
        })?;
        let dictionary: TableDictionary =
            serde_json::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))?;
        if dictionary.class != registration.class {
            return Err(format!(
                "{}: class is {} but the dataset is being registered as {}",
                path.display(),
                dictionary.class,
                registration.class
            ));
        }
        if *version.get_or_insert_with(|| dictionary.version.clone()) != dictionary.version {
            return Err(format!(
                "{}: tables disagree on the dataset version",
                path.display()
            ));
        }
        let _ = dictionary.dataset;
        tables.push(dictionary.table);
    }
    let Some(version) = version else {
        return Err(format!(
            "dataset folder {} holds no table with a dictionary.json",
            root.display()
        ));
    };
    Ok(DatasetRow {
        name: registration.name.clone(),
        path: root.display().to_string(),
        class: registration.class.clone(),
        version,
        tables,
    })
}
