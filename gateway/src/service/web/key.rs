//! The web key: TOTP secrets must be read back to check codes, so they are sealed
//! (XChaCha20-Poly1305, the user name as associated data) under one key per installation,
//! kept in the shared folder beside the audit signing key.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};

use crate::service::ServiceError;

/// The key TOTP secrets are sealed under (XChaCha20-Poly1305; one per installation,
/// shared by its nodes like the audit signing key).
pub struct WebKey([u8; 32]);

impl std::fmt::Debug for WebKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebKey(..)")
    }
}

impl WebKey {
    /// Loads the key from `path`, creating it (mode 0600) when missing.
    ///
    /// # Errors
    /// When the file cannot be read, parsed or written.
    pub fn load_or_create(path: &std::path::Path) -> anyhow::Result<WebKey> {
        use std::io::Write;
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let key: [u8; 32] = rand::random();
        // `create_new`: two nodes starting together on the shared folder agree on one key
        // (the loser reads the winner's).
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(mut file) => {
                file.write_all(hex::encode(key).as_bytes())?;
                file.sync_all()?;
                return Ok(WebKey(key));
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(error.into()),
        }
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the web key is readable by others (mode {mode:o}); use 0600");
        }
        let text = std::fs::read_to_string(path)?;
        let bytes: [u8; 32] = hex::decode(text.trim())?
            .try_into()
            .map_err(|_| anyhow::anyhow!("{}: not a 32-byte hex key", path.display()))?;
        Ok(WebKey(bytes))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.0).into())
    }

    /// Seals `secret` for `user`: hex of nonce ‖ ciphertext.
    pub(super) fn seal(&self, user: &str, secret: &[u8]) -> Result<String, ServiceError> {
        let nonce: [u8; 24] = rand::random();
        let sealed = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: user.as_bytes(),
                },
            )
            .map_err(|_| ServiceError::Internal("sealing a TOTP secret failed".into()))?;
        Ok(format!("{}{}", hex::encode(nonce), hex::encode(sealed)))
    }

    /// Opens what [`WebKey::seal`] made for `user`; `None` when altered, moved to another
    /// user, or sealed under another key.
    pub(super) fn open(&self, user: &str, sealed: &str) -> Option<Vec<u8>> {
        let bytes = hex::decode(sealed).ok()?;
        if bytes.len() < 24 {
            return None;
        }
        let (nonce, body) = bytes.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().ok()?;
        self.cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: body,
                    aad: user.as_bytes(),
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_for_their_user_and_key() {
        let key = WebKey([7; 32]);
        let sealed = key
            .seal("alice", b"0123456789abcdefghij")
            .unwrap_or_default();
        assert_eq!(
            key.open("alice", &sealed).as_deref(),
            Some(&b"0123456789abcdefghij"[..])
        );
        assert_eq!(key.open("bob", &sealed), None, "bound to the user");
        assert_eq!(
            WebKey([8; 32]).open("alice", &sealed),
            None,
            "bound to the key"
        );
        let mut flipped = sealed.into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap_or_default();
        assert_eq!(key.open("alice", &flipped), None, "authenticated");
        assert_eq!(key.open("alice", "zz"), None);
    }
}
