//! Setting web credentials: an administrator sets a password or enrols TOTP; a signed-in
//! user changes their own password (current password and a fresh code again). Each change
//! ends the user's other sessions in the same transaction.

use enclave_policy::Request;

use super::{LOGIN_REFUSED, TotpEnrolment, WebSession, hash_cookie, parse, password_problem, totp};
use crate::audit::{NewEvent, Outcome};
use crate::service::admin::AdminCaller;
use crate::service::tokens::{hash_secret, secret_matches};
use crate::service::{Service, ServiceError, detail, event};
use crate::store::Store;

impl Service {
    /// Sets `user`'s web password (and clears a lock).
    ///
    /// # Errors
    /// `NotFound` for an unknown user, `Invalid` for a password outside the rules.
    pub async fn admin_set_password(
        &self,
        caller: &AdminCaller,
        user: &str,
        password: &str,
    ) -> Result<(), ServiceError> {
        let mut record = self
            .admin_event_for(caller, "admin.user.password", user, &Request::ManageTokens)
            .await?;
        if self.store.user(user).await?.is_none() {
            return Err(self
                .admin_missing(record, format!("unknown user {user}"))
                .await);
        }
        if let Some(problem) = password_problem(password) {
            return Err(self.admin_invalid(record, problem.into()).await);
        }
        let hash = hash_secret(password.to_owned()).await?;
        let now = self.now_text()?;
        let mut tx = self.store.begin_write().await?;
        Store::set_password(&mut tx, user, &hash, &now).await?;
        let ended = Store::end_user_sessions(&mut tx, user, &now, "password changed").await?;
        detail(&mut record, "sessions_ended", ended);
        self.commit_with(tx, record).await
    }

    /// Enrols `user` for TOTP with a fresh secret (replacing any earlier one).
    ///
    /// # Errors
    /// `NotFound` for an unknown user, `Unavailable` without a web key.
    pub async fn admin_enrol_totp(
        &self,
        caller: &AdminCaller,
        user: &str,
    ) -> Result<TotpEnrolment, ServiceError> {
        let mut record = self
            .admin_event_for(caller, "admin.user.totp", user, &Request::ManageTokens)
            .await?;
        if self.store.user(user).await?.is_none() {
            return Err(self
                .admin_missing(record, format!("unknown user {user}"))
                .await);
        }
        let Some(key) = self.web_key.clone() else {
            return Err(ServiceError::Unavailable(
                "no web key is configured on this node".into(),
            ));
        };
        let secret: [u8; 20] = rand::random();
        let code = totp(secret.to_vec(), user)?;
        let enrolment = TotpEnrolment {
            secret: code.get_secret_base32(),
            uri: code.get_url(),
        };
        let sealed = key.seal(user, &secret)?;
        let now = self.now_text()?;
        let mut tx = self.store.begin_write().await?;
        Store::set_totp(&mut tx, user, &sealed, &now).await?;
        let ended = Store::end_user_sessions(&mut tx, user, &now, "TOTP re-enrolled").await?;
        detail(&mut record, "sessions_ended", ended);
        self.commit_with(tx, record).await?;
        Ok(enrolment)
    }

    /// Changes the caller's own password: the current password and a fresh TOTP code are
    /// asked again (a session left open is not enough), the new one follows the same rules
    /// as an administrator's, and every other session of the user ends.
    ///
    /// # Errors
    /// `Unauthenticated` for a wrong current password or code, `Invalid` for a new password
    /// outside the rules.
    pub async fn web_change_password(
        &self,
        session: &WebSession,
        cookie: &str,
        current: &str,
        code: &str,
        new: &str,
    ) -> Result<(), ServiceError> {
        let user = session.caller.user.clone();
        let mut record = event(&session.caller, "session.password", Outcome::Ok);
        record.target.clone_from(&user);
        let refused = |reason: &str, mut record: NewEvent| {
            record.outcome = Outcome::Denied;
            detail(&mut record, "reason", reason);
            record
        };
        let Some(credentials) = self.store.credentials(&user).await? else {
            let record = refused("no web credentials", record);
            return Err(self
                .refuse(record, ServiceError::Unauthenticated(LOGIN_REFUSED.into()))
                .await);
        };
        let hash = credentials.password_hash.clone().unwrap_or_default();
        let password_ok = !hash.is_empty() && secret_matches(current.to_owned(), hash).await?;
        let step = self.totp_step(&user, &credentials, code, self.now())?;
        let locked = match &credentials.locked_until {
            Some(until) => parse(until)? > self.now(),
            None => false,
        };
        let (true, Some(step), false) = (password_ok, step, locked) else {
            let reason = if locked {
                "account locked"
            } else if password_ok {
                "wrong, expired or reused TOTP code"
            } else {
                "wrong current password"
            };
            let mut record = refused(reason, record);
            // Counted like sign-in failures: an open session is no way round the lock.
            let until = crate::store::format_time(self.now() + self.web.lockout)?;
            let mut tx = self.store.begin_write().await?;
            let max = i64::from(self.web.max_failures);
            let (failures, _) = Store::count_login_failure(&mut tx, &user, max, &until).await?;
            detail(&mut record, "failures", failures);
            self.commit_with(tx, record).await?;
            return Err(ServiceError::Unauthenticated(LOGIN_REFUSED.into()));
        };
        if let Some(problem) = password_problem(new) {
            record.outcome = Outcome::Error;
            detail(&mut record, "reason", problem);
            return Err(self
                .refuse(record, ServiceError::Invalid(problem.into()))
                .await);
        }
        let hash = hash_secret(new.to_owned()).await?;
        let now = self.now_text()?;
        let mut tx = self.store.begin_write().await?;
        if !Store::accept_login(&mut tx, &user, step, &now).await? {
            drop(tx);
            let record = refused("TOTP code already used", record);
            return Err(self
                .refuse(record, ServiceError::Unauthenticated(LOGIN_REFUSED.into()))
                .await);
        }
        Store::set_password(&mut tx, &user, &hash, &now).await?;
        let ended = Store::end_other_sessions(&mut tx, &user, &hash_cookie(cookie), &now).await?;
        detail(&mut record, "sessions_ended", ended);
        self.commit_with(tx, record).await
    }
}
