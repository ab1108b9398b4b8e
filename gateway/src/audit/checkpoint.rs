//! Signed checkpoints of the audit log: (tree size, RFC 6962 root hash, time)
//! signed with ed25519. A checkpoint kept outside the operator lets a data
//! producer or regulator later prove that history was not rewritten.
//! Pure: keys and checkpoints are values; the caller stores them.
//!
//! Boundary: the signed message format below is stable:
//! `enclave-audit-checkpoint-v1\n<tree_size>\n<root_hash hex>\n<time>\n`.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

/// A signed tree head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Number of events covered (events 1..=tree_size).
    pub tree_size: u64,
    /// RFC 6962 Merkle tree hash of those events, hex.
    pub root_hash: String,
    /// When it was signed (RFC 3339 UTC).
    pub time: String,
    /// The signer's ed25519 public key, hex.
    pub public_key: String,
    /// ed25519 signature over [`signed_message`], hex.
    pub signature: String,
}

/// Why a checkpoint is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The checkpoint was signed by a key other than the trusted one.
    #[error("checkpoint at tree size {0} is signed by an untrusted key")]
    UntrustedKey(u64),
    /// The signature does not verify.
    #[error("checkpoint at tree size {0} has an invalid signature")]
    BadSignature(u64),
    /// A field is not valid hex of the right length.
    #[error("checkpoint is malformed: {0}")]
    Malformed(String),
}

/// The exact bytes a checkpoint signature covers.
pub fn signed_message(tree_size: u64, root_hash: &str, time: &str) -> Vec<u8> {
    format!("enclave-audit-checkpoint-v1\n{tree_size}\n{root_hash}\n{time}\n").into_bytes()
}

/// The installation's checkpoint signing key.
pub struct CheckpointKey(SigningKey);

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckpointKey({})", self.public_hex())
    }
}

impl CheckpointKey {
    /// A new random key.
    pub fn generate() -> CheckpointKey {
        let secret: [u8; 32] = rand::random();
        CheckpointKey(SigningKey::from_bytes(&secret))
    }

    /// Parses the hex secret written by [`CheckpointKey::secret_hex`].
    ///
    /// # Errors
    /// When the text is not 32 bytes of hex.
    pub fn from_secret_hex(text: &str) -> Result<CheckpointKey, CheckpointError> {
        let bytes = decode32(text.trim(), "secret key")?;
        Ok(CheckpointKey(SigningKey::from_bytes(&bytes)))
    }

    /// The secret, hex (store it readable by the service only).
    pub fn secret_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// The public key, hex.
    pub fn public_hex(&self) -> String {
        hex::encode(self.0.verifying_key().to_bytes())
    }

    /// Signs a tree head.
    pub fn sign(&self, tree_size: u64, root_hash: &str, time: &str) -> Checkpoint {
        let signature = self.0.sign(&signed_message(tree_size, root_hash, time));
        Checkpoint {
            tree_size,
            root_hash: root_hash.to_owned(),
            time: time.to_owned(),
            public_key: self.public_hex(),
            signature: hex::encode(signature.to_bytes()),
        }
    }
}

/// Checks that `checkpoint` is signed by `trusted_public_key` (hex).
///
/// # Errors
/// An untrusted key, a bad signature, or malformed fields.
pub fn verify_signature(
    checkpoint: &Checkpoint,
    trusted_public_key: &str,
) -> Result<(), CheckpointError> {
    if !checkpoint
        .public_key
        .eq_ignore_ascii_case(trusted_public_key.trim())
    {
        return Err(CheckpointError::UntrustedKey(checkpoint.tree_size));
    }
    let key = VerifyingKey::from_bytes(&decode32(&checkpoint.public_key, "public key")?).map_err(
        |_| CheckpointError::Malformed("public key is not a valid ed25519 point".into()),
    )?;
    let bytes = hex::decode(&checkpoint.signature)
        .map_err(|_| CheckpointError::Malformed("signature is not hex".into()))?;
    let signature = Signature::from_slice(&bytes)
        .map_err(|_| CheckpointError::Malformed("signature has the wrong length".into()))?;
    key.verify(
        &signed_message(
            checkpoint.tree_size,
            &checkpoint.root_hash,
            &checkpoint.time,
        ),
        &signature,
    )
    .map_err(|_| CheckpointError::BadSignature(checkpoint.tree_size))
}

fn decode32(text: &str, what: &str) -> Result<[u8; 32], CheckpointError> {
    hex::decode(text)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| CheckpointError::Malformed(format!("{what} is not 32 bytes of hex")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_checkpoint_verifies_and_any_change_breaks_it() {
        let key = CheckpointKey::generate();
        let checkpoint = key.sign(42, &"ab".repeat(32), "2026-01-01T00:00:00.000000Z");
        assert_eq!(verify_signature(&checkpoint, &key.public_hex()), Ok(()));

        let mut bigger = checkpoint.clone();
        bigger.tree_size = 43;
        assert_eq!(
            verify_signature(&bigger, &key.public_hex()),
            Err(CheckpointError::BadSignature(43))
        );
        let mut rerooted = checkpoint.clone();
        rerooted.root_hash = "cd".repeat(32);
        assert!(verify_signature(&rerooted, &key.public_hex()).is_err());
        let mut retimed = checkpoint.clone();
        retimed.time = "2027-01-01T00:00:00.000000Z".into();
        assert!(verify_signature(&retimed, &key.public_hex()).is_err());
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_is_rejected() {
        let ours = CheckpointKey::generate();
        let theirs = CheckpointKey::generate();
        let forged = theirs.sign(1, &"00".repeat(32), "2026-01-01T00:00:00.000000Z");
        assert_eq!(
            verify_signature(&forged, &ours.public_hex()),
            Err(CheckpointError::UntrustedKey(1))
        );
        // Claiming our key while signing with theirs fails the signature check.
        let mut claimed = forged.clone();
        claimed.public_key = ours.public_hex();
        assert_eq!(
            verify_signature(&claimed, &ours.public_hex()),
            Err(CheckpointError::BadSignature(1))
        );
    }

    #[test]
    fn keys_round_trip_through_hex() {
        let key = CheckpointKey::generate();
        let again = CheckpointKey::from_secret_hex(&key.secret_hex()).unwrap();
        assert_eq!(again.public_hex(), key.public_hex());
        assert!(CheckpointKey::from_secret_hex("zz").is_err());
    }
}
