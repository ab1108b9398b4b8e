//! API tokens: public id, owner, label and an argon2 hash of the secret.

use sqlx::Row;

use super::{Store, StoreError, WriteTx};

/// A stored API token (never the secret).
#[derive(Clone, Debug)]
pub struct TokenRow {
    /// Public id (the `<id>` in `enc_<id>_<secret>`).
    pub id: String,
    /// Owner.
    pub user: String,
    /// Operator's label.
    pub label: String,
    /// Argon2 PHC string of the secret.
    pub secret_hash: String,
    /// When created.
    pub created_at: String,
    /// When revoked, if ever.
    pub revoked_at: Option<String>,
}

fn token_from_row(row: &sqlx::any::AnyRow) -> Result<TokenRow, StoreError> {
    Ok(TokenRow {
        id: row.try_get("id")?,
        user: row.try_get("user_name")?,
        label: row.try_get("label")?,
        secret_hash: row.try_get("secret_hash")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

impl Store {
    /// The token with this public id.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn token(&self, id: &str) -> Result<Option<TokenRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, user_name, label, secret_hash, created_at, revoked_at \
             FROM api_tokens WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    /// Every token, oldest first.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_name, label, secret_hash, created_at, revoked_at \
             FROM api_tokens ORDER BY created_at, id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// Records a new token.
    ///
    /// # Errors
    /// When the database fails (including a duplicate id).
    pub async fn insert_token(tx: &mut WriteTx, token: &TokenRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (id, user_name, label, secret_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&token.id)
        .bind(&token.user)
        .bind(&token.label)
        .bind(&token.secret_hash)
        .bind(&token.created_at)
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// Marks a token revoked (once; later calls change nothing).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn revoke_token(tx: &mut WriteTx, id: &str, now: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(tx.conn())
            .await?;
        Ok(())
    }
}
