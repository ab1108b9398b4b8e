//! Web sign-in: credentials (argon2 password hash, sealed TOTP secret, failure counter)
//! and browser sessions (SHA-256 of the cookie value, CSRF token, times).

use sqlx::Row;

use super::{Store, StoreError, WriteTx};

/// A user's web credentials.
#[derive(Clone, Debug)]
pub struct CredentialRow {
    /// Owner.
    pub user: String,
    /// Argon2 PHC string of the password, once set.
    pub password_hash: Option<String>,
    /// The TOTP secret, sealed, once enrolled.
    pub totp_sealed: Option<String>,
    /// Last accepted TOTP time step (codes at or before it are refused).
    pub totp_last_step: i64,
    /// Failed sign-ins since the last success or lock.
    pub failed_logins: i64,
    /// Sign-in refused until then (RFC 3339), if locked.
    pub locked_until: Option<String>,
}

/// A browser session.
#[derive(Clone, Debug)]
pub struct WebSessionRow {
    /// SHA-256 (hex) of the cookie value.
    pub id_hash: String,
    /// Who signed in.
    pub user: String,
    /// The token every form must carry.
    pub csrf_token: String,
    /// Sign-in time (RFC 3339).
    pub created_at: String,
    /// Last request (RFC 3339).
    pub last_seen: String,
    /// When ended, if ever.
    pub ended_at: Option<String>,
}

impl Store {
    /// The web credentials of `user`, if any were set.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn credentials(&self, user: &str) -> Result<Option<CredentialRow>, StoreError> {
        let row = sqlx::query(
            "SELECT user_name, password_hash, totp_sealed, totp_last_step, failed_logins, \
             locked_until FROM web_credentials WHERE user_name = $1",
        )
        .bind(user)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(CredentialRow {
            user: row.try_get("user_name")?,
            password_hash: row.try_get("password_hash")?,
            totp_sealed: row.try_get("totp_sealed")?,
            totp_last_step: row.try_get("totp_last_step")?,
            failed_logins: row.try_get("failed_logins")?,
            locked_until: row.try_get("locked_until")?,
        }))
    }

    /// Sets (or replaces) `user`'s password hash and clears any lock.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn set_password(
        tx: &mut WriteTx,
        user: &str,
        hash: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO web_credentials (user_name, password_hash, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_name) DO UPDATE SET password_hash = $2, failed_logins = 0, \
             locked_until = NULL, updated_at = $3",
        )
        .bind(user)
        .bind(hash)
        .bind(now)
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// Sets (or replaces) `user`'s sealed TOTP secret.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn set_totp(
        tx: &mut WriteTx,
        user: &str,
        sealed: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO web_credentials (user_name, totp_sealed, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_name) DO UPDATE SET totp_sealed = $2, totp_last_step = 0, \
             updated_at = $3",
        )
        .bind(user)
        .bind(sealed)
        .bind(now)
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// Counts a failed sign-in in one statement; at `max` failures in a row the account
    /// locks until `until` and the count starts again. Returns the failures counted so far
    /// (0 once locked) and whether this failure locked the account. Never unlocks.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn count_login_failure(
        tx: &mut WriteTx,
        user: &str,
        max: i64,
        until: &str,
    ) -> Result<(i64, bool), StoreError> {
        let row = sqlx::query(
            "UPDATE web_credentials SET \
             failed_logins = CASE WHEN failed_logins + 1 >= $1 THEN 0 ELSE failed_logins + 1 END, \
             locked_until = CASE WHEN failed_logins + 1 >= $1 THEN $2 ELSE locked_until END \
             WHERE user_name = $3 RETURNING failed_logins, locked_until",
        )
        .bind(max)
        .bind(until)
        .bind(user)
        .fetch_optional(tx.conn())
        .await?;
        let Some(row) = row else {
            return Ok((0, false));
        };
        let failures: i64 = row.try_get("failed_logins")?;
        let locked: Option<String> = row.try_get("locked_until")?;
        Ok((failures, failures == 0 && locked.as_deref() == Some(until)))
    }

    /// Ends every open session of `user` but the one whose cookie hashes to `keep` (the user
    /// changed their own password there); returns how many.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn end_other_sessions(
        tx: &mut WriteTx,
        user: &str,
        keep: &str,
        now: &str,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE web_sessions SET ended_at = $1, end_reason = 'password changed' \
             WHERE user_name = $2 AND ended_at IS NULL AND id_hash <> $3",
        )
        .bind(now)
        .bind(user)
        .bind(keep)
        .execute(tx.conn())
        .await?;
        Ok(done.rows_affected())
    }

    /// Ends every open session of `user` (credentials changed); returns how many.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn end_user_sessions(
        tx: &mut WriteTx,
        user: &str,
        now: &str,
        reason: &str,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE web_sessions SET ended_at = $1, end_reason = $2 \
             WHERE user_name = $3 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(reason)
        .bind(user)
        .execute(tx.conn())
        .await?;
        Ok(done.rows_affected())
    }

    /// Records a successful sign-in: failures cleared, the TOTP step used up. Returns
    /// false when another sign-in used this step (or a later one) first, or the account
    /// locked meanwhile.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn accept_login(
        tx: &mut WriteTx,
        user: &str,
        step: i64,
        now: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE web_credentials SET failed_logins = 0, locked_until = NULL, \
             totp_last_step = $1 WHERE user_name = $2 AND totp_last_step < $1 \
             AND (locked_until IS NULL OR locked_until <= $3)",
        )
        .bind(step)
        .bind(user)
        .bind(now)
        .execute(tx.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Opens a session.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn insert_web_session(
        tx: &mut WriteTx,
        session: &WebSessionRow,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO web_sessions (id_hash, user_name, csrf_token, created_at, last_seen) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&session.id_hash)
        .bind(&session.user)
        .bind(&session.csrf_token)
        .bind(&session.created_at)
        .bind(&session.last_seen)
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// The session whose cookie hashes to `id_hash`.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn web_session(&self, id_hash: &str) -> Result<Option<WebSessionRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id_hash, user_name, csrf_token, created_at, last_seen, ended_at \
             FROM web_sessions WHERE id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(WebSessionRow {
            id_hash: row.try_get("id_hash")?,
            user: row.try_get("user_name")?,
            csrf_token: row.try_get("csrf_token")?,
            created_at: row.try_get("created_at")?,
            last_seen: row.try_get("last_seen")?,
            ended_at: row.try_get("ended_at")?,
        }))
    }

    /// Notes activity on a live session (bookkeeping for the idle timeout).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn touch_web_session(&self, id_hash: &str, now: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE web_sessions SET last_seen = $1 WHERE id_hash = $2 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(id_hash)
        .execute(tx.conn())
        .await?;
        tx.commit().await
    }

    /// Ends a session (once). Returns false when it had already ended.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn end_web_session(
        tx: &mut WriteTx,
        id_hash: &str,
        now: &str,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE web_sessions SET ended_at = $1, end_reason = $2 \
             WHERE id_hash = $3 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(reason)
        .bind(id_hash)
        .execute(tx.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
