//! Per-user API tokens for the HTTPS door. A token reads `enc_<id>_<secret>`:
//! the id is public and names the stored row, the secret (256 random bits) is
//! shown once at creation and kept only as an argon2 hash.
//!
//! Invariant: no secret is stored, logged or audited; only token ids are.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use enclave_policy::Request;
use serde::Serialize;

use super::admin::AdminCaller;
use super::{Caller, Service, ServiceError, detail, event};
use crate::audit::{Door, Outcome};
use crate::store::{Store, TokenRow};

/// A token just created: the only time its secret exists outside the client.
#[derive(Clone, Debug)]
pub struct CreatedToken {
    /// Public id.
    pub id: String,
    /// The full token, `enc_<id>_<secret>`.
    pub token: String,
}

/// A token as listings show it (never the secret or its hash).
#[derive(Clone, Debug, Serialize)]
pub struct TokenSummary {
    /// Public id.
    pub id: String,
    /// Owner.
    pub user: String,
    /// Operator's label.
    pub label: String,
    /// When created.
    pub created_at: String,
    /// When revoked, if ever.
    pub revoked_at: Option<String>,
}

/// Why a presented token was refused (audited; the client only learns
/// "unauthenticated").
const UNAUTHENTICATED: &str = "missing, unknown or revoked API token";

/// Splits `enc_<id>_<secret>` into id and secret.
fn split_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix("enc_")?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 12) && hex(secret, 64)).then_some((id, secret))
}

pub(super) async fn hash_secret(secret: String) -> Result<String, ServiceError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(secret.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|error| ServiceError::Internal(format!("hashing a token: {error}")))
    })
    .await
    .map_err(|error| ServiceError::Internal(error.to_string()))?
}

pub(super) async fn secret_matches(secret: String, hash: String) -> Result<bool, ServiceError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(secret.as_bytes(), hash.as_str())
            .is_ok()
    })
    .await
    .map_err(|error| ServiceError::Internal(error.to_string()))
}

impl Service {
    /// Creates an API token for `user` and returns it (the only copy).
    ///
    /// # Errors
    /// `NotFound` for an unknown user, `Invalid` for an overlong label.
    pub async fn admin_create_token(
        &self,
        caller: &AdminCaller,
        user: &str,
        label: &str,
    ) -> Result<CreatedToken, ServiceError> {
        let mut record = self
            .admin_event_for(caller, "admin.token.create", user, &Request::ManageTokens)
            .await?;
        if self.store.user(user).await?.is_none() {
            return Err(self
                .admin_missing(record, format!("unknown user {user}"))
                .await);
        }
        if label.chars().count() > 64 || label.chars().any(char::is_control) {
            return Err(self
                .admin_invalid(
                    record,
                    "a token label has at most 64 printable characters".into(),
                )
                .await);
        }
        let id = hex::encode(rand::random::<[u8; 6]>());
        let secret = hex::encode(rand::random::<[u8; 32]>());
        let token = format!("enc_{id}_{secret}");
        let row = TokenRow {
            id: id.clone(),
            user: user.to_owned(),
            label: label.to_owned(),
            secret_hash: hash_secret(secret).await?,
            created_at: self.now_text()?,
            revoked_at: None,
        };
        detail(&mut record, "token", id.clone());
        let mut tx = self.store.begin_write().await?;
        Store::insert_token(&mut tx, &row).await?;
        self.commit_with(tx, record).await?;
        Ok(CreatedToken { id, token })
    }

    /// Revokes a token; every later use is refused.
    ///
    /// # Errors
    /// `NotFound` for an unknown id, `Conflict` when already revoked.
    pub async fn admin_revoke_token(
        &self,
        caller: &AdminCaller,
        id: &str,
    ) -> Result<(), ServiceError> {
        let mut record = self
            .admin_event_for(caller, "admin.token.revoke", id, &Request::ManageTokens)
            .await?;
        let Some(row) = self.store.token(id).await? else {
            return Err(self
                .admin_missing(record, format!("unknown token {id}"))
                .await);
        };
        detail(&mut record, "token", id);
        detail(&mut record, "user", row.user.clone());
        if row.revoked_at.is_some() {
            record.outcome = Outcome::Error;
            detail(&mut record, "reason", "already revoked");
            return Err(self
                .refuse(
                    record,
                    ServiceError::Conflict(format!("token {id} is already revoked")),
                )
                .await);
        }
        let now = self.now_text()?;
        let mut tx = self.store.begin_write().await?;
        Store::revoke_token(&mut tx, id, &now).await?;
        self.commit_with(tx, record).await
    }

    /// Every token (ids, owners, labels, dates).
    ///
    /// # Errors
    /// When the store fails.
    pub async fn admin_tokens(
        &self,
        caller: &AdminCaller,
    ) -> Result<Vec<TokenSummary>, ServiceError> {
        let record = self
            .admin_event_for(caller, "admin.token.list", "-", &Request::ManageTokens)
            .await?;
        let tokens = self.store.tokens().await?;
        self.record(record).await?;
        Ok(tokens
            .into_iter()
            .map(|t| TokenSummary {
                id: t.id,
                user: t.user,
                label: t.label,
                created_at: t.created_at,
                revoked_at: t.revoked_at,
            })
            .collect())
    }

    /// Checks a bearer token presented at the HTTPS door and returns the
    /// caller it stands for. Every use and every failure is audited
    /// (`session.token`); the caller's session is `token:<id>`.
    ///
    /// # Errors
    /// `Unauthenticated` for a missing, malformed, unknown, revoked or wrong
    /// token, or one whose owner no longer exists or is disabled.
    pub async fn authenticate_token(
        &self,
        presented: Option<&str>,
        source: Option<String>,
        request_id: &str,
    ) -> Result<Caller, ServiceError> {
        let mut caller = Caller {
            user: "-".into(),
            door: Door::Https,
            source,
            request_id: request_id.to_owned(),
            session: None,
        };
        let refused = |reason: &str, caller: &Caller| {
            let mut record = event(caller, "session.token", Outcome::Denied);
            detail(&mut record, "reason", reason);
            record
        };
        let Some(presented) = presented else {
            let record = refused("no bearer token", &caller);
            return Err(self
                .refuse(
                    record,
                    ServiceError::Unauthenticated(UNAUTHENTICATED.into()),
                )
                .await);
        };
        let Some((id, secret)) = split_token(presented) else {
            let record = refused("malformed token", &caller);
            return Err(self
                .refuse(
                    record,
                    ServiceError::Unauthenticated(UNAUTHENTICATED.into()),
                )
                .await);
        };
        caller.session = Some(format!("token:{id}"));
        let Some(row) = self.store.token(id).await? else {
            let mut record = refused("unknown token", &caller);
            record.target = id.to_owned();
            detail(&mut record, "token", id);
            return Err(self
                .refuse(
                    record,
                    ServiceError::Unauthenticated(UNAUTHENTICATED.into()),
                )
                .await);
        };
        caller.user.clone_from(&row.user);
        let reason = if !secret_matches(secret.to_owned(), row.secret_hash.clone()).await? {
            Some("wrong secret")
        } else if row.revoked_at.is_some() {
            Some("revoked token")
        } else {
            match self.store.user(&row.user).await? {
                None => Some("unknown user"),
                // Refused at sign-in, as over SSH (policy refuses every request anyway).
                Some(user) if user.disabled => Some("disabled user"),
                Some(_) => None,
            }
        };
        let mut record = event(&caller, "session.token", Outcome::Ok);
        record.target = id.to_owned();
        detail(&mut record, "token", id);
        if let Some(reason) = reason {
            record.outcome = Outcome::Denied;
            detail(&mut record, "reason", reason);
            return Err(self
                .refuse(
                    record,
                    ServiceError::Unauthenticated(UNAUTHENTICATED.into()),
                )
                .await);
        }
        self.record(record).await?;
        Ok(caller)
    }
}

#[cfg(test)]
mod tests {
    use super::split_token;

    #[test]
    fn tokens_split_only_in_their_one_shape() {
        let id = "0123456789ab";
        let secret = "f".repeat(64);
        let token = format!("enc_{id}_{secret}");
        assert_eq!(split_token(&token), Some((id, secret.as_str())));
        for bad in [
            String::new(),
            format!("enc_{id}"),
            format!("xyz_{id}_{secret}"),
            format!("enc_{id}_{secret}0"),
            format!("enc_0123_{secret}"),
            format!("enc_{id}_{}", "g".repeat(64)),
        ] {
            assert_eq!(split_token(&bad), None, "{bad}");
        }
    }
}
