//! The audit hash chain: how an event's hash is computed and how a stored
//! sequence of events is verified. No I/O: the store appends and reads rows,
//! this module only computes.
//!
//! Invariant: an event's hash covers every stored field and the previous
//! event's hash, so altering, deleting, inserting or reordering any event
//! breaks verification at that event's sequence number.
//! Boundary: the canonical encoding below is a stored format; changing it
//! invalidates every existing chain.

pub mod catalogue;
pub mod checkpoint;
pub mod merkle;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The hash that precedes the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where a request came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    /// The SSH front door.
    Ssh,
    /// The HTTPS front door.
    Https,
    /// The host-side command line (`enclave admin`, `enclave audit`).
    Cli,
    /// The gateway itself (runner, recovery).
    System,
}

impl Door {
    /// Stable name stored in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Door::Ssh => "ssh",
            Door::Https => "https",
            Door::Cli => "cli",
            Door::System => "system",
        }
    }
}

/// Whether the recorded action happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It happened.
    Ok,
    /// Policy refused it.
    Denied,
    /// It was attempted and failed (bad input, internal error).
    Error,
}

impl Outcome {
    /// Stable name stored in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }
}

/// An event before it is appended: everything but sequence, time and hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    /// User name, or `-` when unknown (e.g. a rejected key).
    pub actor: String,
    /// The role the actor acted under, or `-`.
    pub role: String,
    /// Where the request came in.
    pub door: Door,
    /// Peer address, or `-`.
    pub source: String,
    /// Stable action code, e.g. `job.submit`.
    pub action: String,
    /// What was acted on (job id, user name...), or `-`.
    pub target: String,
    /// Project involved, or `-`.
    pub project: String,
    /// Dataset involved, or `-`.
    pub dataset: String,
    /// Sign-in session (SSH connection, web session), or `-`.
    pub session: String,
    /// Request id shown to the client, or `-`.
    pub request_id: String,
    /// Whether it happened.
    pub outcome: Outcome,
    /// Free-form details as a JSON object (never payloads or secrets).
    pub details: serde_json::Value,
}

impl NewEvent {
    /// An event with every optional field `-`, outcome `ok` and empty details.
    pub fn new(actor: &str, door: Door, action: &str) -> NewEvent {
        NewEvent {
            actor: actor.to_owned(),
            role: "-".into(),
            door,
            source: "-".into(),
            action: action.to_owned(),
            target: "-".into(),
            project: "-".into(),
            dataset: "-".into(),
            session: "-".into(),
            request_id: "-".into(),
            outcome: Outcome::Ok,
            details: serde_json::json!({}),
        }
    }
}

/// An event as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StoredEvent {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// RFC 3339 UTC time, never earlier than the previous event's.
    pub time: String,
    /// See [`NewEvent::actor`].
    pub actor: String,
    /// See [`NewEvent::role`].
    pub role: String,
    /// See [`NewEvent::door`].
    pub door: String,
    /// See [`NewEvent::source`].
    pub source: String,
    /// See [`NewEvent::action`].
    pub action: String,
    /// See [`NewEvent::target`].
    pub target: String,
    /// See [`NewEvent::project`].
    pub project: String,
    /// See [`NewEvent::dataset`].
    pub dataset: String,
    /// See [`NewEvent::session`].
    pub session: String,
    /// See [`NewEvent::request_id`].
    pub request_id: String,
    /// See [`NewEvent::outcome`].
    pub outcome: String,
    /// JSON text of the details object.
    pub details: String,
    /// Hash of the previous event ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and this event's canonical encoding.
    pub hash: String,
}

/// Computes the hash of an event from its fields and the previous hash.
pub fn event_hash(event: &StoredEvent) -> String {
    // Canonical encoding: a JSON array of the fields in a fixed order. serde_json
    // escapes every string unambiguously, so no two field lists share an encoding.
    let canonical = serde_json::json!([
        event.seq,
        event.time,
        event.actor,
        event.role,
        event.door,
        event.source,
        event.action,
        event.target,
        event.project,
        event.dataset,
        event.session,
        event.request_id,
        event.outcome,
        event.details,
    ]);
    let mut hasher = Sha256::new();
    hasher.update(event.prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

/// Why a chain failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// An event is missing or out of order.
    #[error("audit chain broken at sequence {expected}: found sequence {found}")]
    Gap {
        /// The sequence number that should come next.
        expected: i64,
        /// The sequence number found instead.
        found: i64,
    },
    /// The event does not link to the previous event's hash.
    #[error("audit chain broken at sequence {seq}: previous-hash link does not match")]
    BrokenLink {
        /// The offending event.
        seq: i64,
    },
    /// The event's fields do not match its hash.
    #[error("audit chain broken at sequence {seq}: event was altered")]
    Altered {
        /// The offending event.
        seq: i64,
    },
    /// An event's time is earlier than its predecessor's.
    #[error("audit chain broken at sequence {seq}: time goes backwards")]
    TimeReversed {
        /// The offending event.
        seq: i64,
    },
}

impl VerifyError {
    /// The first bad sequence number.
    pub fn seq(&self) -> i64 {
        match self {
            VerifyError::Gap { expected, .. } => *expected,
            VerifyError::BrokenLink { seq }
            | VerifyError::Altered { seq }
            | VerifyError::TimeReversed { seq } => *seq,
        }
    }
}

/// Incremental verifier: feed events in sequence order.
#[derive(Debug)]
pub struct Verifier {
    next_seq: i64,
    prev_hash: String,
    prev_time: String,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            next_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
            prev_time: String::new(),
        }
    }
}

impl Verifier {
    /// A verifier that continues after a purge: the next event must be
    /// `last_seq + 1`, link to `last_hash` and not be older than `last_time`.
    pub fn resume(last_seq: i64, last_hash: &str, last_time: &str) -> Verifier {
        Verifier {
            next_seq: last_seq + 1,
            prev_hash: last_hash.to_owned(),
            prev_time: last_time.to_owned(),
        }
    }

    /// Checks the next event.
    ///
    /// # Errors
    /// The first inconsistency found, naming its sequence number.
    pub fn push(&mut self, event: &StoredEvent) -> Result<(), VerifyError> {
        if event.seq != self.next_seq {
            return Err(VerifyError::Gap {
                expected: self.next_seq,
                found: event.seq,
            });
        }
        if event.prev_hash != self.prev_hash {
            return Err(VerifyError::BrokenLink { seq: event.seq });
        }
        if event_hash(event) != event.hash {
            return Err(VerifyError::Altered { seq: event.seq });
        }
        // RFC 3339 UTC strings with a fixed format compare in time order.
        if event.time < self.prev_time {
            return Err(VerifyError::TimeReversed { seq: event.seq });
        }
        self.next_seq += 1;
        self.prev_hash.clone_from(&event.hash);
        self.prev_time.clone_from(&event.time);
        Ok(())
    }

    /// Number of events verified so far.
    pub fn count(&self) -> i64 {
        self.next_seq - 1
    }

    /// Hash of the last verified event.
    pub fn head(&self) -> &str {
        &self.prev_hash
    }
}

/// Builds the stored form of `event` as the successor of (`prev_seq`, `prev_hash`).
pub fn seal(event: &NewEvent, prev_seq: i64, prev_hash: &str, time: String) -> StoredEvent {
    let mut stored = StoredEvent {
        seq: prev_seq + 1,
        time,
        actor: event.actor.clone(),
        role: event.role.clone(),
        door: event.door.as_str().to_owned(),
        source: event.source.clone(),
        action: event.action.clone(),
        target: event.target.clone(),
        project: event.project.clone(),
        dataset: event.dataset.clone(),
        session: event.session.clone(),
        request_id: event.request_id.clone(),
        outcome: event.outcome.as_str().to_owned(),
        details: event.details.to_string(),
        prev_hash: prev_hash.to_owned(),
        hash: String::new(),
    };
    stored.hash = event_hash(&stored);
    stored
}

#[cfg(test)]
mod tests;
