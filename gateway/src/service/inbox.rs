//! Researchers' upload areas (the SFTP `inbox/`): job modules uploaded here can be
//! submitted with `submit --module inbox/NAME`.
//!
//! Invariant: one flat folder per user under `Paths::inbox`; names are checked before any
//! path is built, so nothing outside the user's folder is ever touched.
//! Invariant: uploads and removals are audited with the file's SHA-256 and size.

use enclave_policy::{Request, authorize};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Caller, Service, ServiceError, detail, event};
use crate::audit::Outcome;

/// Most files a user may keep in their inbox.
pub const MAX_INBOX_FILES: usize = 100;

/// One file in an inbox.
#[derive(Clone, Debug, Serialize)]
pub struct InboxEntry {
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
}

/// Whether `name` may name an inbox file: 1–100 characters of `A-Z a-z 0-9 . _ -`, not
/// starting with a dot.
pub fn valid_inbox_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Service {
    async fn inbox_dir(
        &self,
        caller: &Caller,
        action: &str,
    ) -> Result<std::path::PathBuf, ServiceError> {
        let actor = self.actor(caller).await?;
        let mut record = event(caller, action, Outcome::Ok);
        match authorize(&actor, &Request::UseInbox, self.now().date()) {
            enclave_policy::Decision::Allow(_) => {}
            enclave_policy::Decision::Deny(reason) => {
                record.outcome = Outcome::Denied;
                detail(&mut record, "reason", reason.to_string());
                return Err(self
                    .refuse(record, ServiceError::Forbidden(reason.to_string()))
                    .await);
            }
        }
        // User names are checked at registration ([a-z0-9_-]), so this stays one level down.
        let dir = self.paths.inbox.join(&caller.user);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| ServiceError::Unavailable(format!("inbox folder: {e}")))?;
        Ok(dir)
    }

    /// Records the start of an SFTP session.
    ///
    /// # Errors
    /// When the audit append fails.
    pub async fn record_sftp_start(&self, caller: &Caller) -> Result<(), ServiceError> {
        self.record(event(caller, "session.sftp", Outcome::Ok))
            .await
    }

    /// The caller's inbox files.
    ///
    /// # Errors
    /// `Forbidden` for non-researchers.
    pub async fn inbox_list(&self, caller: &Caller) -> Result<Vec<InboxEntry>, ServiceError> {
        let dir = self.inbox_dir(caller, "inbox.list").await?;
        let mut entries = Vec::new();
        let mut read = tokio::fs::read_dir(&dir)
            .await
            .map_err(|e| ServiceError::Unavailable(format!("inbox folder: {e}")))?;
        while let Ok(Some(entry)) = read.next_entry().await {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(meta) = entry.metadata().await else {
                continue;
            };
            if meta.is_file() && valid_inbox_name(&name) {
                entries.push(InboxEntry {
                    name,
                    size: meta.len(),
                });
            }
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Reads one inbox file.
    ///
    /// # Errors
    /// `Invalid` for a bad name, `NotFound` when missing.
    pub async fn inbox_get(&self, caller: &Caller, name: &str) -> Result<Vec<u8>, ServiceError> {
        let dir = self.inbox_dir(caller, "inbox.read").await?;
        if !valid_inbox_name(name) {
            return Err(ServiceError::Invalid(format!(
                "bad inbox file name {name:?}"
            )));
        }
        tokio::fs::read(dir.join(name))
            .await
            .map_err(|_| ServiceError::NotFound(format!("no such inbox file: {name}")))
    }

    /// Stores an upload (atomically) and records it.
    ///
    /// # Errors
    /// `Invalid` for a bad name or too large a file, `Conflict` when the inbox is full.
    pub async fn inbox_put(
        &self,
        caller: &Caller,
        name: &str,
        bytes: &[u8],
        limit: usize,
    ) -> Result<(), ServiceError> {
        let dir = self.inbox_dir(caller, "inbox.upload").await?;
        let mut record = event(caller, "inbox.upload", Outcome::Ok);
        record.target = name.chars().take(100).collect();
        detail(&mut record, "size", bytes.len());
        let problem = if !valid_inbox_name(name) {
            Some(ServiceError::Invalid(format!(
                "bad inbox file name {:?}: use letters, digits, '.', '_' and '-'",
                name.chars().take(100).collect::<String>()
            )))
        } else if bytes.len() > limit {
            Some(ServiceError::Invalid(format!(
                "{name} is larger than the module limit of {limit} bytes"
            )))
        } else if !dir.join(name).exists()
            && self.inbox_list(caller).await?.len() >= MAX_INBOX_FILES
        {
            Some(ServiceError::Conflict(format!(
                "inbox full ({MAX_INBOX_FILES} files); remove some first"
            )))
        } else {
            None
        };
        if let Some(error) = problem {
            record.outcome = Outcome::Error;
            detail(&mut record, "reason", error.to_string());
            return Err(self.refuse(record, error).await);
        }
        let temp = dir.join(format!(
            ".upload-{}",
            hex::encode(rand::random::<[u8; 6]>())
        ));
        let write = async {
            tokio::fs::write(&temp, bytes).await?;
            tokio::fs::File::open(&temp).await?.sync_all().await?;
            tokio::fs::rename(&temp, dir.join(name)).await
        };
        if let Err(error) = write.await {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(ServiceError::Unavailable(format!(
                "storing upload: {error}"
            )));
        }
        detail(&mut record, "sha256", hex::encode(Sha256::digest(bytes)));
        self.record(record).await
    }

    /// Removes one inbox file and records it.
    ///
    /// # Errors
    /// `Invalid` for a bad name, `NotFound` when missing.
    pub async fn inbox_remove(&self, caller: &Caller, name: &str) -> Result<(), ServiceError> {
        let dir = self.inbox_dir(caller, "inbox.remove").await?;
        let mut record = event(caller, "inbox.remove", Outcome::Ok);
        record.target = name.chars().take(100).collect();
        if !valid_inbox_name(name) || tokio::fs::remove_file(dir.join(name)).await.is_err() {
            record.outcome = Outcome::Error;
            let error = ServiceError::NotFound(format!("no such inbox file: {}", record.target));
            detail(&mut record, "reason", error.to_string());
            return Err(self.refuse(record, error).await);
        }
        self.record(record).await
    }
}
