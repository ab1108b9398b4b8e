//! Sign-in and sign-out pages. The form posts user name, password and TOTP code together,
//! so a failure never says which part was wrong. The form itself is protected against
//! login CSRF by a random value in both a cookie and a hidden field.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use super::i18n::{Lang, Msg};
use super::{
    Page, RequestIdExt, SESSION_COOKIE, WebState, check_form, cookie, language_switch, local_path,
    set_cookie, url_component,
};
use crate::service::ServiceError;

/// The cookie holding the sign-in form's anti-forgery value.
const LOGIN_COOKIE: &str = "__Host-enclave_login";

/// The window sign-in attempts per address are counted in.
const WINDOW: Duration = Duration::from_secs(300);

/// Sign-in attempts per client address (this node's memory; accounts also lock in the
/// database after repeated failures, across nodes).
pub(crate) struct Limiter {
    per_window: usize,
    attempts: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

/// What the limiter says of one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// Within the limit.
    Allowed,
    /// The first one over the limit in this window (recorded).
    FirstRefused,
    /// Over the limit again (refused without another record).
    Refused,
}

/// The address attempts are counted under: IPv4 as is, IPv6 by its /64 (one host usually
/// holds a whole /64).
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::V6(segments.into())
        }
    }
}

impl Limiter {
    /// A limiter allowing `per_window` attempts per address per five minutes.
    pub(crate) fn new(per_window: u32) -> Limiter {
        Limiter {
            per_window: usize::try_from(per_window).unwrap_or(usize::MAX),
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt from `ip`.
    pub(crate) fn allow(&self, ip: IpAddr) -> Attempt {
        let ip = bucket(ip);
        let now = Instant::now();
        let mut map = self
            .attempts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 10_000 {
            map.retain(|_, seen| seen.back().is_some_and(|t| now - *t < WINDOW));
        }
        let seen = map.entry(ip).or_default();
        while seen.front().is_some_and(|t| now - *t >= WINDOW) {
            seen.pop_front();
        }
        if seen.len() >= self.per_window {
            // One extra entry marks that the refusal was recorded in this window.
            if seen.len() == self.per_window {
                seen.push_back(now);
                return Attempt::FirstRefused;
            }
            return Attempt::Refused;
        }
        seen.push_back(now);
        Attempt::Allowed
    }
}

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
}

fn login_page(lang: Lang, token: &str, next: &str, message: Option<&str>) -> Html<String> {
    let markup: Markup = html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (lang.t(Msg::SignIn)) " — enclave" }
                link rel="stylesheet" href="/static/enclave.css";
            }
            body {
                header { nav { span.brand { (lang.t(Msg::AppName)) } span.spacer {} (language_switch(lang, &format!("/login?next={}", url_component(next)))) } }
                main.narrow {
                    h1 { (lang.t(Msg::SignIn)) }
                    p.muted { (lang.t(Msg::SignInHelp)) }
                    @if let Some(message) = message { p.error #login-error role="alert" { (message) } }
                    form method="post" action="/login" {
                        input type="hidden" name="csrf" value=(token);
                        input type="hidden" name="next" value=(next);
                        label { (lang.t(Msg::UserName)) input name="user" autocomplete="username" required; }
                        label { (lang.t(Msg::Password)) input name="password" type="password" autocomplete="current-password" required; }
                        label { (lang.t(Msg::TotpCode)) input name="totp" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required; }
                        button type="submit" { (lang.t(Msg::SignIn)) }
                    }
                }
            }
        }
    };
    Html(markup.into_string())
}

/// A fresh sign-in form (and its anti-forgery cookie).
fn fresh_form(lang: Lang, next: &str, message: Option<&str>, status: StatusCode) -> Response {
    let token = hex::encode(rand::random::<[u8; 16]>());
    let mut response = (status, login_page(lang, &token, next, message)).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, &token, None));
    response
}

/// `GET /login`.
pub(crate) async fn form(headers: HeaderMap, Query(query): Query<LoginQuery>) -> Response {
    let lang = Lang::of(&headers);
    let next = local_path(query.next.as_deref());
    let message = query.expired.as_ref().map(|_| lang.t(Msg::SessionEnded));
    fresh_form(lang, next, message, StatusCode::OK)
}

#[derive(Default, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

/// `POST /login`: checks everything, opens a session, goes to `next`.
pub(crate) async fn submit(
    State(state): State<WebState>,
    headers: HeaderMap,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    request_id: RequestIdExt,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(form)| form).unwrap_or_default();
    let lang = Lang::of(&headers);
    let next = local_path(form.next.as_deref()).to_owned();
    let request_id = request_id.map_or_else(|| "-".to_owned(), |id| id.0.0);
    let source = connect.as_ref().map(|c| c.0.0.to_string());
    let user = form.user.trim();
    let attempt = connect
        .map(|c| state.limiter.allow(c.0.0.ip()))
        .unwrap_or(Attempt::Allowed);
    if attempt != Attempt::Allowed {
        if attempt == Attempt::FirstRefused {
            let _ = state.service.refuse_login_rate(source, &request_id).await;
        }
        return fresh_form(
            lang,
            &next,
            Some(lang.t(Msg::LoginLocked)),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty()
        || !constant_time_eq::constant_time_eq(expected.as_bytes(), form.csrf.as_bytes())
    {
        let _ = state
            .service
            .refuse_login_form(user, source, &request_id)
            .await;
        let message = lang.t(Msg::FormExpired);
        return fresh_form(lang, &next, Some(message), StatusCode::FORBIDDEN);
    }
    match state
        .service
        .web_login(user, &form.password, &form.totp, source, &request_id)
        .await
    {
        Ok(opened) => {
            let mut response = Redirect::to(&next).into_response();
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                set_cookie(SESSION_COOKIE, &opened.cookie, None),
            );
            headers.append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", Some(0)));
            response
        }
        Err(error) => {
            let (status, message) = match &error {
                ServiceError::Unavailable(_) => {
                    (StatusCode::TOO_MANY_REQUESTS, lang.t(Msg::LoginLocked))
                }
                ServiceError::Unauthenticated(_) => {
                    (StatusCode::UNAUTHORIZED, lang.t(Msg::LoginRefused))
                }
                _ => (StatusCode::INTERNAL_SERVER_ERROR, lang.t(Msg::LoginFailed)),
            };
            fresh_form(lang, &next, Some(message), status)
        }
    }
}

#[derive(Default, Deserialize)]
pub(crate) struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`: ends the session and clears the cookie.
pub(crate) async fn logout(
    State(state): State<WebState>,
    page: Page,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> Response {
    // A missing or unreadable body is a form without a token: refused below, and audited.
    let form = form.map(|Form(form)| form).unwrap_or_default();
    if let Err(refused) = check_form(&state, &page, &headers, &form.csrf, "logout").await {
        return refused;
    }
    if let Err(error) = state.service.web_logout(&page.session, &page.cookie).await {
        return super::error_page(&page, &error);
    }
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", Some(0)));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_limited_per_window() {
        let limiter = Limiter::new(3);
        let ip: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..3 {
            assert_eq!(limiter.allow(ip), Attempt::Allowed);
        }
        assert_eq!(limiter.allow(ip), Attempt::FirstRefused);
        assert_eq!(limiter.allow(ip), Attempt::Refused);
        assert_eq!(
            limiter.allow([127, 0, 0, 2].into()),
            Attempt::Allowed,
            "per address"
        );
        let a: IpAddr = "2001:db8::1".parse().unwrap_or(ip);
        let b: IpAddr = "2001:db8::ffff:2".parse().unwrap_or(ip);
        for _ in 0..3 {
            assert_eq!(limiter.allow(a), Attempt::Allowed);
        }
        assert_eq!(limiter.allow(b), Attempt::FirstRefused, "one /64");
    }
}
