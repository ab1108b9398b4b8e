//! The web pages: server-rendered HTML (maud, escaped by default) over the same service
//! calls as SSH and the JSON API. Sign-in is password + TOTP (`login.rs`); pages for
//! researchers (`researcher.rs`), checkers (`checker.rs`) and compliance staff
//! (`compliance.rs`), in Japanese or English (`i18n.rs`).
//!
//! Boundary: every page needs a live session (cookie `__Host-enclave_session`: Secure,
//! HttpOnly, SameSite=Strict); every POST carries the session's CSRF token and, when the
//! browser sends one, a same-origin `Origin`. Pages forbid scripts, frames and foreign
//! resources (Content-Security-Policy); they contain no JavaScript at all. No rules live
//! here.

mod account;
mod actions;
mod checker;
mod compliance;
pub(crate) mod i18n;
mod login;
mod render;
mod researcher;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use self::i18n::{LANG_COOKIE, Lang, Msg};
use super::RequestId;
use crate::service::{Caller, Service, ServiceError, WebSession};

/// The session cookie (the `__Host-` prefix makes browsers insist on Secure, Path=/ and
/// no Domain).
pub(crate) const SESSION_COOKIE: &str = "__Host-enclave_session";

/// The Content-Security-Policy of every page: own stylesheet and images only, no scripts,
/// no frames, forms post only here.
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What every page handler shares.
#[derive(Clone)]
pub(crate) struct WebState {
    pub(crate) service: Service,
    pub(crate) limiter: Arc<login::Limiter>,
    /// Per address, how many requests with unknown session cookies are recorded.
    pub(crate) unknown_sessions: Arc<login::Limiter>,
}

/// The page routes.
pub(crate) fn routes(service: Service) -> Router {
    let per_address = service.web_settings().attempts_per_address;
    let state = WebState {
        service,
        limiter: Arc::new(login::Limiter::new(per_address)),
        unknown_sessions: Arc::new(login::Limiter::new(per_address)),
    };
    Router::new()
        .route("/", get(home))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/account", get(account::page))
        .route("/account/password", post(account::change_password))
        .route("/lang/{lang}", get(switch_language))
        .route("/static/enclave.css", get(stylesheet))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/jobs", get(researcher::jobs))
        .route("/jobs/{id}", get(researcher::job))
        .route("/jobs/{id}/request", post(actions::request))
        .route("/requests", get(researcher::requests))
        .route("/requests/{id}", get(researcher::request))
        .route("/requests/{id}/files/{file}", get(researcher::download))
        .route("/requests/{id}/withdraw", post(actions::withdraw))
        .route("/requests/{id}/resubmit", post(actions::resubmit))
        .route("/review", get(checker::queue))
        .route("/review/{id}", get(checker::page))
        .route("/review/{id}/vote", post(checker::vote))
        .route("/review/{id}/files/{file}", get(checker::file))
        .route("/audit", get(compliance::trail))
        .route("/audit/export", get(compliance::export))
        .route("/audit/verify", get(compliance::verify))
        .route("/provenance/{id}", get(compliance::provenance))
        .layer(axum::middleware::map_response(page_headers))
        // Forms are small (a vote's comment is at most 4,000 characters).
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}

/// Strict headers on every page response.
async fn page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: under `no-referrer` browsers send `Origin: null` on
    // form posts, and the CSRF check could no longer tell that a form came from here.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("enclave.css"),
    )
}

/// The value of cookie `name`, if the request carries it.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A cookie for this site only: Secure, HttpOnly, SameSite=Strict, whole site.
fn set_cookie(name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict{age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn request_id(parts: &Parts) -> String {
    parts
        .extensions
        .get::<RequestId>()
        .map_or_else(|| "-".to_owned(), |id| id.0.clone())
}

fn source(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.to_string())
}

/// A signed-in request: who, in which language, with which session.
pub(crate) struct Page {
    pub(crate) session: WebSession,
    pub(crate) lang: Lang,
    pub(crate) cookie: String,
    /// This page's path and query (where the language switch returns to).
    pub(crate) path: String,
    /// The host the browser addressed (`Host`, or the HTTP/2 `:authority`).
    pub(crate) authority: Option<String>,
}

impl Page {
    fn caller(&self) -> &Caller {
        &self.session.caller
    }
}

/// Where an unauthenticated browser goes: the sign-in page, then back.
pub(crate) struct ToLogin(String);

impl IntoResponse for ToLogin {
    fn into_response(self) -> Response {
        Redirect::to(&self.0).into_response()
    }
}

impl FromRequestParts<WebState> for Page {
    type Rejection = ToLogin;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        let next = parts
            .uri
            .path_and_query()
            .map_or("/", axum::http::uri::PathAndQuery::as_str);
        let to_login = ToLogin(format!("/login?next={}", url_component(next)));
        let Some(cookie) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login);
        };
        let record_unknown = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .is_none_or(|info| {
                state.unknown_sessions.allow(info.0.ip()) != login::Attempt::Refused
            });
        let session = state
            .service
            .web_session(&cookie, source(parts), &request_id(parts), record_unknown)
            .await
            .map_err(|_| ToLogin(format!("{}&expired=1", to_login.0)))?;
        Ok(Page {
            session,
            lang: Lang::of(&parts.headers),
            cookie,
            path: next.to_owned(),
            authority: parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
                .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned())),
        })
    }
}

/// Percent-encodes a path segment or query value (only unreserved characters pass; `/` is
/// encoded too, so a file name with a slash stays one segment).
pub(crate) fn url_component(text: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(text, UNRESERVED).to_string()
}

/// Checks a form's CSRF token (and the browser's `Origin`, when sent) against the session;
/// refusals are audited.
async fn check_form(
    state: &WebState,
    page: &Page,
    headers: &HeaderMap,
    token: &str,
    what: &str,
) -> Result<(), Response> {
    let origin = headers.get(header::ORIGIN).and_then(|h| h.to_str().ok());
    let reason = match (origin, &page.authority) {
        (Some(origin), Some(host)) if origin != format!("https://{host}") => {
            Some(format!("cross-origin form (origin {origin}, host {host})"))
        }
        (Some(origin), None) => Some(format!("cross-origin form (origin {origin}, no host)")),
        _ if !constant_time_eq::constant_time_eq(
            token.as_bytes(),
            page.session.csrf.as_bytes(),
        ) =>
        {
            Some("missing or wrong CSRF token".to_owned())
        }
        _ => None,
    };
    match reason {
        None => Ok(()),
        Some(reason) => {
            let error = state
                .service
                .refuse_csrf(page.caller(), what, &reason)
                .await;
            Err(error_page(page, &error))
        }
    }
}

/// The HTTP status for a core error.
fn status_of(error: &ServiceError) -> StatusCode {
    match error {
        ServiceError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
        ServiceError::Invalid(_) => StatusCode::BAD_REQUEST,
        ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
        ServiceError::Conflict(_) => StatusCode::CONFLICT,
        ServiceError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A refusal or failure as a page.
fn error_page(page: &Page, error: &ServiceError) -> Response {
    let lang = page.lang;
    let body = html! {
        h1 { (lang.t(Msg::Error)) }
        p.error role="alert" { (error.to_string()) }
        p.muted { "request id: " code { (page.caller().request_id) } }
    };
    (status_of(error), layout(page, lang.t(Msg::Error), &body)).into_response()
}

/// The frame of every signed-in page: header with the user's links, language switch and
/// sign-out form.
fn layout(page: &Page, title: &str, body: &Markup) -> Html<String> {
    let lang = page.lang;
    let has = |role: &str| page.session.roles.iter().any(|r| r == role);
    let markup = html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — enclave" }
                link rel="stylesheet" href="/static/enclave.css";
            }
            body {
                header {
                    nav {
                        a.brand href="/" { (lang.t(Msg::AppName)) }
                        @if has("researcher") {
                            a href="/jobs" { (lang.t(Msg::Jobs)) }
                            a href="/requests" { (lang.t(Msg::Requests)) }
                        }
                        @if has("checker") {
                            a href="/review" { (lang.t(Msg::ReviewQueue)) }
                        }
                        @if has("compliance") || has("admin") {
                            a href="/audit" { (lang.t(Msg::AuditTrail)) }
                            a href="/audit/verify" { (lang.t(Msg::Verify)) }
                        }
                        span.spacer {}
                        (language_switch(lang, &page.path))
                        span.who { (lang.t(Msg::Welcome)) " " a #whoami href="/account" { strong { (page.caller().user) } } }
                        form.inline method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(page.session.csrf);
                            button #logout type="submit" { (lang.t(Msg::SignOut)) }
                        }
                    }
                }
                main { (body) }
            }
        }
    };
    Html(markup.into_string())
}

/// Links to the other language that come back to `here`.
fn language_switch(lang: Lang, here: &str) -> Markup {
    let back = url_component(here);
    html! {
        span.lang {
            @if lang == Lang::Ja { strong { "日本語" } } @else { a #lang-ja href={ "/lang/ja?next=" (back) } { "日本語" } }
            " | "
            @if lang == Lang::En { strong { "English" } } @else { a #lang-en href={ "/lang/en?next=" (back) } { "English" } }
        }
    }
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

/// A local path to return to (never another site).
fn local_path(next: Option<&str>) -> &str {
    match next {
        // Printable ASCII only: browsers drop tabs and newlines, so "/\t/host" would
        // become "//host".
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && path.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            path
        }
        _ => "/",
    }
}

/// `GET /lang/{en|ja}`: remembers the choice for a year and goes back.
async fn switch_language(Path(code): Path<String>, Query(next): Query<Next>) -> Response {
    let Some(lang) = Lang::parse(&code) else {
        return (StatusCode::NOT_FOUND, "no such language").into_response();
    };
    let mut response = Redirect::to(local_path(next.next.as_deref())).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(LANG_COOKIE, lang.code(), Some(31_536_000)),
    );
    response
}

/// `GET /`: a start page with the links the user's roles open.
async fn home(page: Page) -> Response {
    let lang = page.lang;
    let has = |role: &str| page.session.roles.iter().any(|r| r == role);
    let body = html! {
        h1 { (lang.t(Msg::Home)) }
        p { (lang.t(Msg::Welcome)) " " strong { (page.caller().user) } " — " (lang.t(Msg::Roles)) ": " (page.session.roles.join(", ")) }
        ul.links {
            @if has("researcher") {
                li { a href="/jobs" { (lang.t(Msg::Jobs)) } }
                li { a href="/requests" { (lang.t(Msg::Requests)) } }
            }
            @if has("checker") { li { a href="/review" { (lang.t(Msg::ReviewQueue)) } } }
            @if has("compliance") || has("admin") {
                li { a href="/audit" { (lang.t(Msg::AuditTrail)) } }
                li { a href="/audit/verify" { (lang.t(Msg::Verify)) } }
            }
        }
    };
    layout(&page, lang.t(Msg::Home), &body).into_response()
}

/// The request id extension, for handlers that build their own callers' replies.
pub(crate) type RequestIdExt = Option<Extension<RequestId>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path(Some("/jobs?x=1")), "/jobs?x=1");
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "jobs",
        ] {
            assert_eq!(local_path(Some(bad)), "/", "{bad}");
        }
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn ids_and_names_stay_one_segment() {
        assert_eq!(url_component("rel-0a_b.c~"), "rel-0a_b.c~");
        assert_eq!(url_component("dir/x y.png"), "dir%2Fx%20y.png");
        assert_eq!(url_component("/jobs?a=1&b"), "%2Fjobs%3Fa%3D1%26b");
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-enclave_session=abc; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "__Host-enclave"), None);
    }
}
