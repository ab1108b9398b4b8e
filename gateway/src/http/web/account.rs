//! The signed-in user's own account: who they are and a password change that asks for the
//! current password and a fresh TOTP code again (`Service::web_change_password`).

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::i18n::Msg;
use super::{Page, WebState, check_form, layout, status_of};
use crate::service::ServiceError;

#[derive(Deserialize)]
pub(crate) struct Notice {
    changed: Option<String>,
}

/// `GET /account`.
pub(crate) async fn page(page: Page, Query(notice): Query<Notice>) -> Response {
    let notice = notice.changed.map(|_| page.lang.t(Msg::PasswordChanged));
    account_page(&page, notice, None)
}

fn account_page(page: &Page, notice: Option<&str>, error: Option<&ServiceError>) -> Response {
    let lang = page.lang;
    let body = html! {
        h1 { (lang.t(Msg::Account)) }
        @if let Some(notice) = notice { p.notice #notice role="status" { (notice) } }
        @if let Some(error) = error { p.error #password-error role="alert" { (error.to_string()) } }
        dl.facts {
            dt { (lang.t(Msg::UserName)) } dd { (page.caller().user) }
            dt { (lang.t(Msg::Roles)) } dd { (page.session.roles.join(", ")) }
        }
        h2 { (lang.t(Msg::ChangePassword)) }
        form #password-form method="post" action="/account/password" {
            input type="hidden" name="csrf" value=(page.session.csrf);
            label { (lang.t(Msg::CurrentPassword)) input name="current" type="password" autocomplete="current-password" required; }
            label { (lang.t(Msg::TotpCode)) input name="totp" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required; }
            label { (lang.t(Msg::NewPassword)) input name="new" type="password" autocomplete="new-password" minlength="12" required; }
            label { (lang.t(Msg::NewPasswordAgain)) input name="again" type="password" autocomplete="new-password" minlength="12" required; }
            button type="submit" { (lang.t(Msg::ChangePassword)) }
        }
    };
    let status = error.map_or(StatusCode::OK, status_of);
    (status, layout(page, lang.t(Msg::Account), &body)).into_response()
}

#[derive(Default, Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    totp: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    again: String,
}

/// `POST /account/password`.
pub(crate) async fn change_password(
    State(state): State<WebState>,
    page: Page,
    headers: HeaderMap,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(form)| form).unwrap_or_default();
    if let Err(refused) = check_form(&state, &page, &headers, &form.csrf, "password").await {
        return refused;
    }
    if form.new != form.again {
        let error = ServiceError::Invalid(page.lang.t(Msg::PasswordsDiffer).into());
        return account_page(&page, None, Some(&error));
    }
    match state
        .service
        .web_change_password(
            &page.session,
            &page.cookie,
            &form.current,
            &form.totp,
            &form.new,
        )
        .await
    {
        Ok(()) => Redirect::to("/account?changed=1").into_response(),
        Err(error) => account_page(&page, None, Some(&error)),
    }
}
