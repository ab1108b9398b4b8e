//! Web sign-in: password + TOTP second factor, browser sessions with idle and absolute
//! timeouts, per-account lockout, and the CSRF token each session carries.
//!
//! Invariants: passwords are kept only as argon2 hashes; TOTP secrets only sealed under the
//! installation's web key (bound to the user name); a session cookie only as its SHA-256.
//! A TOTP code is accepted once (its time step is used up). Every sign-in, failure,
//! sign-out, expiry and CSRF refusal is audited; the browser learns only "wrong user name,
//! password or code" or "too many attempts".

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sha2::Digest;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use totp_rs::{Algorithm, TOTP};

use super::tokens::{hash_secret, secret_matches};
use super::{Caller, Service, ServiceError, detail, event};
use crate::audit::{Door, NewEvent, Outcome};
use crate::store::{Store, WebSessionRow};

mod credentials;
mod key;

pub use key::WebKey;

/// What every failed sign-in shows (the reason is audited, never shown).
pub const LOGIN_REFUSED: &str = "wrong user name, password or code";
/// What a locked account or a rate-limited client is shown.
pub const LOGIN_LOCKED: &str = "too many failed sign-ins; try again later";
/// What a browser with no valid session is told.
const SIGN_IN: &str = "please sign in";

/// TOTP parameters (RFC 6238 defaults, what authenticator apps expect).
const TOTP_STEP: u64 = 30;
const TOTP_DIGITS: usize = 6;

/// Session and sign-in limits (`[web]` in `enclave.toml`).
#[derive(Clone, Debug)]
pub struct WebSettings {
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in, used or not.
    pub absolute: Duration,
    /// Failed sign-ins in a row before the account locks.
    pub max_failures: u32,
    /// How long a locked account stays locked.
    pub lockout: Duration,
    /// Sign-in attempts one client address may make per five minutes (the door counts).
    pub attempts_per_address: u32,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            idle: Duration::from_secs(15 * 60),
            absolute: Duration::from_secs(8 * 3600),
            max_failures: 5,
            lockout: Duration::from_secs(15 * 60),
            attempts_per_address: 30,
        }
    }
}

/// A TOTP enrolment, shown once to the administrator who made it.
#[derive(Clone, Debug)]
pub struct TotpEnrolment {
    /// The secret in base32 (what authenticator apps and `oathtool -b` take).
    pub secret: String,
    /// `otpauth://totp/...` for a QR code.
    pub uri: String,
}

/// A session just opened: the cookie value exists only here and in the browser.
#[derive(Clone, Debug)]
pub struct OpenedSession {
    /// Cookie value.
    pub cookie: String,
    /// The session's CSRF token.
    pub csrf: String,
}

/// A live session as a request sees it.
#[derive(Clone, Debug)]
pub struct WebSession {
    /// The caller, for service calls.
    pub caller: Caller,
    /// The token every form of this session must carry.
    pub csrf: String,
    /// The user's roles (for the pages' navigation; the policy decides every request).
    pub roles: Vec<String>,
}

fn totp(secret: Vec<u8>, user: &str) -> Result<TOTP, ServiceError> {
    TOTP::new(
        Algorithm::SHA1,
        TOTP_DIGITS,
        0,
        TOTP_STEP,
        secret,
        Some("enclave".into()),
        user.to_owned(),
    )
    .map_err(|error| ServiceError::Internal(format!("TOTP: {error}")))
}

fn hash_cookie(cookie: &str) -> String {
    hex::encode(sha2::Sha256::digest(cookie.as_bytes()))
}

/// The audit label of a session: not the cookie, not its full hash.
fn session_label(id_hash: &str) -> String {
    format!("web:{}", &id_hash[..16.min(id_hash.len())])
}

fn parse(text: &str) -> Result<OffsetDateTime, ServiceError> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|error| ServiceError::Internal(format!("stored time {text}: {error}")))
}

/// Whether `name` could be a user name (1–32 of `a-z 0-9 . _ -`); anything else is
/// refused without being recorded.
fn plausible_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}

/// A password an administrator may set: 12–1024 characters, no control characters.
fn password_problem(password: &str) -> Option<&'static str> {
    let count = password.chars().count();
    if count < 12 {
        Some("a password has at least 12 characters")
    } else if count > 1024 {
        Some("a password has at most 1024 characters")
    } else if password.chars().any(char::is_control) {
        Some("a password has no control characters")
    } else {
        None
    }
}

/// An argon2 hash to check against when the account does not exist, so that unknown
/// names cost the same time as wrong passwords.
async fn dummy_hash() -> Result<String, ServiceError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash.clone());
    }
    let hash = hash_secret(hex::encode(rand::random::<[u8; 16]>())).await?;
    Ok(DUMMY.get_or_init(|| hash).clone())
}

fn login_event(user: &str, source: Option<String>, request_id: &str) -> NewEvent {
    let caller = Caller {
        user: user.to_owned(),
        door: Door::Https,
        source,
        request_id: request_id.to_owned(),
        session: None,
    };
    let mut record = event(&caller, "session.login", Outcome::Ok);
    record.target = user.to_owned();
    detail(&mut record, "method", "password+totp");
    record
}

impl Service {
    /// Sets the web key and session settings.
    #[must_use]
    pub fn with_web(mut self, key: WebKey, settings: WebSettings) -> Service {
        self.web_key = Some(Arc::new(key));
        self.web = settings;
        self
    }

    /// The session and sign-in limits.
    pub fn web_settings(&self) -> &WebSettings {
        &self.web
    }

    /// Records that an address went over the door's sign-in limit (once per window; the
    /// names it tries are not recorded).
    pub async fn refuse_login_rate(
        &self,
        source: Option<String>,
        request_id: &str,
    ) -> ServiceError {
        let mut record = login_event("-", source, request_id);
        record.outcome = Outcome::Denied;
        detail(&mut record, "reason", "too many attempts from this address");
        self.refuse(record, ServiceError::Unavailable(LOGIN_LOCKED.into()))
            .await
    }

    /// Records a sign-in form posted without its anti-forgery value (login CSRF).
    pub async fn refuse_login_form(
        &self,
        user: &str,
        source: Option<String>,
        request_id: &str,
    ) -> ServiceError {
        let user = if plausible_name(user) {
            user
        } else {
            "(invalid)"
        };
        let mut record = login_event(user, source, request_id);
        record.outcome = Outcome::Denied;
        detail(&mut record, "reason", "sign-in form token missing or wrong");
        self.refuse(
            record,
            ServiceError::Forbidden("sign-in form expired".into()),
        )
        .await
    }

    /// Signs `user` in with a password and a TOTP code, opening a session.
    ///
    /// # Errors
    /// `Unauthenticated` ([`LOGIN_REFUSED`]) for any wrong part, `Unavailable`
    /// ([`LOGIN_LOCKED`]) for a locked account.
    pub async fn web_login(
        &self,
        user: &str,
        password: &str,
        code: &str,
        source: Option<String>,
        request_id: &str,
    ) -> Result<OpenedSession, ServiceError> {
        let refused = ServiceError::Unauthenticated(LOGIN_REFUSED.into());
        if !plausible_name(user) {
            // Never record what was typed: it may be a password in the wrong box.
            let _ = secret_matches(password.to_owned(), dummy_hash().await?).await;
            let mut record = login_event("(invalid)", source, request_id);
            record.outcome = Outcome::Denied;
            detail(&mut record, "reason", "not a user name");
            return Err(self.refuse(record, refused).await);
        }
        let mut record = login_event(user, source, request_id);
        let account = self.store.user(user).await?;
        let credentials = self.store.credentials(user).await?;
        let (Some(account), Some(credentials)) = (account, credentials) else {
            // Spend the time a wrong password costs.
            let _ = secret_matches(password.to_owned(), dummy_hash().await?).await;
            record.outcome = Outcome::Denied;
            detail(&mut record, "reason", "unknown user or no web credentials");
            return Err(self.refuse(record, refused).await);
        };
        let now = self.now();
        if let Some(until) = &credentials.locked_until
            && parse(until)? > now
        {
            record.outcome = Outcome::Denied;
            detail(&mut record, "reason", "account locked");
            detail(&mut record, "locked_until", until.clone());
            return Err(self
                .refuse(record, ServiceError::Unavailable(LOGIN_LOCKED.into()))
                .await);
        }
        let hash = credentials.password_hash.clone().unwrap_or_default();
        let password_ok =
            !hash.is_empty() && secret_matches(password.to_owned(), hash.clone()).await?;
        if hash.is_empty() {
            let _ = secret_matches(password.to_owned(), dummy_hash().await?).await;
        }
        let step = self.totp_step(user, &credentials, code, now)?;
        let reason = if account.disabled {
            Some("account is disabled")
        } else if !password_ok {
            Some("wrong password")
        } else if credentials.totp_sealed.is_none() {
            Some("no TOTP enrolment")
        } else if step.is_none() {
            Some("wrong, expired or reused TOTP code")
        } else {
            None
        };
        let now_text = self.now_text()?;
        if let Some(reason) = reason {
            record.outcome = Outcome::Denied;
            detail(&mut record, "reason", reason);
            let until = crate::store::format_time(now + self.web.lockout)?;
            let mut tx = self.store.begin_write().await?;
            // Counted in one statement, so parallel guesses each count and none undoes a lock.
            let (failures, locked) =
                Store::count_login_failure(&mut tx, user, i64::from(self.web.max_failures), &until)
                    .await?;
            detail(&mut record, "failures", failures);
            if locked {
                detail(&mut record, "locked_until", until);
            }
            self.commit_with(tx, record).await?;
            return Err(refused);
        }
        let step = step.unwrap_or_default();
        let cookie = hex::encode(rand::random::<[u8; 32]>());
        let csrf = hex::encode(rand::random::<[u8; 32]>());
        let id_hash = hash_cookie(&cookie);
        record.session = session_label(&id_hash);
        let mut tx = self.store.begin_write().await?;
        if !Store::accept_login(&mut tx, user, step, &now_text).await? {
            drop(tx);
            record.outcome = Outcome::Denied;
            detail(
                &mut record,
                "reason",
                "TOTP code already used, or the account locked meanwhile",
            );
            return Err(self.refuse(record, refused).await);
        }
        let row = WebSessionRow {
            id_hash,
            user: user.to_owned(),
            csrf_token: csrf.clone(),
            created_at: now_text.clone(),
            last_seen: now_text,
            ended_at: None,
        };
        Store::insert_web_session(&mut tx, &row).await?;
        self.commit_with(tx, record).await?;
        Ok(OpenedSession { cookie, csrf })
    }

    /// The time step `code` is valid for (this one, or one either side for clock drift),
    /// if it is later than the last one used.
    fn totp_step(
        &self,
        user: &str,
        credentials: &crate::store::CredentialRow,
        code: &str,
        now: OffsetDateTime,
    ) -> Result<Option<i64>, ServiceError> {
        let (Some(key), Some(sealed)) = (&self.web_key, &credentials.totp_sealed) else {
            return Ok(None);
        };
        let Some(secret) = key.open(user, sealed) else {
            tracing::error!(
                user,
                "a sealed TOTP secret does not open under this web key"
            );
            return Ok(None);
        };
        let code = code.trim();
        if code.len() != TOTP_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        let checker = totp(secret, user)?;
        let current = u64::try_from(now.unix_timestamp()).unwrap_or_default() / TOTP_STEP;
        let step = [current.saturating_sub(1), current, current + 1]
            .into_iter()
            .filter(|step| i64::try_from(*step).unwrap_or(i64::MAX) > credentials.totp_last_step)
            .find(|step| checker.check(code, step * TOTP_STEP));
        Ok(step.and_then(|step| i64::try_from(step).ok()))
    }

    /// The live session a cookie names; ends (and audits) one past its idle or absolute
    /// timeout.
    ///
    /// # Errors
    /// `Unauthenticated` for no, unknown, ended or expired sessions, or a disabled user.
    pub async fn web_session(
        &self,
        cookie: &str,
        source: Option<String>,
        request_id: &str,
        record_unknown: bool,
    ) -> Result<WebSession, ServiceError> {
        let id_hash = hash_cookie(cookie);
        let mut caller = Caller {
            user: "-".into(),
            door: Door::Https,
            source,
            request_id: request_id.to_owned(),
            session: Some(session_label(&id_hash)),
        };
        let refused = || ServiceError::Unauthenticated(SIGN_IN.into());
        let Some(row) = self.store.web_session(&id_hash).await? else {
            if !record_unknown {
                // The door's per-address limit is spent: refused, not recorded again.
                return Err(refused());
            }
            let mut record = event(&caller, "session.web", Outcome::Denied);
            detail(&mut record, "reason", "unknown session");
            return Err(self.refuse(record, refused()).await);
        };
        caller.user.clone_from(&row.user);
        if row.ended_at.is_some() {
            let mut record = event(&caller, "session.web", Outcome::Denied);
            detail(&mut record, "reason", "session ended");
            return Err(self.refuse(record, refused()).await);
        }
        let now = self.now();
        let idle = now - parse(&row.last_seen)?;
        let age = now - parse(&row.created_at)?;
        let account = self.store.user(&row.user).await?;
        let expired = if age > self.web.absolute {
            Some("absolute timeout")
        } else if idle > self.web.idle {
            Some("idle timeout")
        } else if account.as_ref().is_none_or(|u| u.disabled) {
            Some("account disabled")
        } else {
            None
        };
        if let Some(reason) = expired {
            let mut record = event(&caller, "session.expire", Outcome::Ok);
            detail(&mut record, "reason", reason);
            detail(&mut record, "duration_seconds", age.as_seconds_f64());
            let mut tx = self.store.begin_write().await?;
            if Store::end_web_session(&mut tx, &id_hash, &self.now_text()?, reason).await? {
                self.commit_with(tx, record).await?;
            }
            return Err(refused());
        }
        if idle > time::Duration::seconds(15) {
            self.store
                .touch_web_session(&id_hash, &self.now_text()?)
                .await?;
        }
        Ok(WebSession {
            caller,
            csrf: row.csrf_token,
            roles: account
                .map(|u| u.roles.iter().map(|r| r.as_str().to_owned()).collect())
                .unwrap_or_default(),
        })
    }

    /// Signs out: ends the session the cookie names.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn web_logout(&self, session: &WebSession, cookie: &str) -> Result<(), ServiceError> {
        let id_hash = hash_cookie(cookie);
        let mut record = event(&session.caller, "session.logout", Outcome::Ok);
        if let Some(row) = self.store.web_session(&id_hash).await? {
            let age = self.now() - parse(&row.created_at)?;
            detail(&mut record, "duration_seconds", age.as_seconds_f64());
        }
        detail(&mut record, "reason", "signed out");
        let mut tx = self.store.begin_write().await?;
        Store::end_web_session(&mut tx, &id_hash, &self.now_text()?, "signed out").await?;
        self.commit_with(tx, record).await
    }

    /// Records a form refused for a missing or wrong CSRF token (or a foreign origin).
    pub async fn refuse_csrf(&self, caller: &Caller, what: &str, reason: &str) -> ServiceError {
        let mut record = event(caller, "session.csrf", Outcome::Denied);
        record.target = what.to_owned();
        detail(&mut record, "reason", reason);
        self.refuse(
            record,
            ServiceError::Forbidden(
                "this form has expired or did not come from this site; reload the page".into(),
            ),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_follow_the_rules() {
        assert!(password_problem("short").is_some());
        assert!(password_problem("long enough password").is_none());
        assert!(password_problem("long enough\npassword").is_some());
        assert!(password_problem(&"x".repeat(1025)).is_some());
    }
}
