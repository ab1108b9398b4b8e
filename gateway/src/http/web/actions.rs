//! What researchers do from the pages: request the release of a job's outputs, withdraw a
//! request, resubmit a returned one. The same service calls as `ssh ... request-release|
//! withdraw|resubmit`; every form carries the session's CSRF token.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::i18n::Msg;
use super::researcher::{job_page, request_page};
use super::{Page, WebState, check_form, url_component as enc};
use crate::service::{JobView, ReleaseSubmission, ReleaseView, Resubmission};

/// A posted form's fields; `files` may repeat.
#[derive(Default)]
struct Fields {
    csrf: String,
    files: Vec<String>,
    context: String,
    justification: String,
    job: String,
    suggested: bool,
}

fn fields(body: &Bytes) -> Fields {
    let mut fields = Fields::default();
    for (key, value) in form_urlencoded::parse(body) {
        let value = value.into_owned();
        match key.as_ref() {
            "csrf" => fields.csrf = value,
            "files" => fields.files.push(value),
            "context" => fields.context = value,
            "justification" => fields.justification = value,
            "job" => fields.job = value,
            "suggested" => fields.suggested = value == "on",
            _ => {}
        }
    }
    fields
}

/// The form's fields once its CSRF token checked out (else the refusal page).
async fn checked(
    state: &WebState,
    page: &Page,
    headers: &HeaderMap,
    id: &str,
    body: &Bytes,
) -> Result<Fields, Response> {
    let form = fields(body);
    check_form(state, page, headers, &form.csrf, id).await?;
    Ok(form)
}

/// Empty text means "not given".
fn given(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The release-request form under a finished job's outputs.
pub(super) fn request_form(page: &Page, job: &JobView) -> Markup {
    let lang = page.lang;
    html! {
        h2 { (lang.t(Msg::RequestRelease)) }
        form.request #request-form method="post" action={ "/jobs/" (enc(&job.id)) "/request" } {
            input type="hidden" name="csrf" value=(page.session.csrf);
            fieldset {
                legend { (lang.t(Msg::Files)) }
                @for output in job.outputs.iter().filter(|o| !o.never_release) {
                    label { input type="checkbox" name="files" value=(output.name); " " code { (output.name) } }
                }
            }
            label { (lang.t(Msg::Context)) textarea name="context" rows="2" maxlength="4000" required {} }
            label { (lang.t(Msg::Justification)) textarea name="justification" rows="2" maxlength="4000" {} }
            label { input type="checkbox" name="suggested"; " " (lang.t(Msg::UseSuggested)) }
            button type="submit" { (lang.t(Msg::RequestRelease)) }
        }
    }
}

/// Withdraw and resubmit forms on the author's own request, as its state allows.
pub(super) fn request_actions(page: &Page, request: &ReleaseView) -> Markup {
    let lang = page.lang;
    let open = matches!(
        request.state.as_str(),
        "submitted" | "partially_reviewed" | "reviewed" | "returned"
    );
    html! {
        @if request.state == "returned" {
            h2 { (lang.t(Msg::Resubmit)) }
            form.request #resubmit-form method="post" action={ "/requests/" (enc(&request.id)) "/resubmit" } {
                input type="hidden" name="csrf" value=(page.session.csrf);
                label { (lang.t(Msg::NewJob)) input name="job" placeholder="j-…"; }
                label { (lang.t(Msg::Context)) textarea name="context" rows="2" maxlength="4000" {} }
                label { (lang.t(Msg::Justification)) textarea name="justification" rows="2" maxlength="4000" {} }
                button type="submit" { (lang.t(Msg::Resubmit)) }
            }
        }
        @if open {
            form.inline #withdraw-form method="post" action={ "/requests/" (enc(&request.id)) "/withdraw" } {
                input type="hidden" name="csrf" value=(page.session.csrf);
                button.secondary type="submit" { (lang.t(Msg::Withdraw)) }
            }
        }
    }
}

/// `POST /jobs/{id}/request`.
pub(crate) async fn request(
    State(state): State<WebState>,
    page: Page,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let form = match checked(&state, &page, &headers, &id, &body).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let submission = ReleaseSubmission {
        job: id.clone(),
        files: form.files,
        context: form.context.trim().to_owned(),
        justification: given(&form.justification),
        suggested: form.suggested,
    };
    match state
        .service
        .request_release(page.caller(), submission)
        .await
    {
        Ok(request) => Redirect::to(&format!("/requests/{}", enc(&request))).into_response(),
        Err(error) => job_page(&state, &page, &id, Some(&error)).await,
    }
}

/// `POST /requests/{id}/withdraw`.
pub(crate) async fn withdraw(
    State(state): State<WebState>,
    page: Page,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refused) = checked(&state, &page, &headers, &id, &body).await {
        return refused;
    }
    match state.service.withdraw_release(page.caller(), &id).await {
        Ok(()) => Redirect::to(&format!("/requests/{}", enc(&id))).into_response(),
        Err(error) => request_page(&state, &page, &id, Some(&error)).await,
    }
}

/// `POST /requests/{id}/resubmit`.
pub(crate) async fn resubmit(
    State(state): State<WebState>,
    page: Page,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let form = match checked(&state, &page, &headers, &id, &body).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let change = Resubmission {
        context: given(&form.context),
        justification: given(&form.justification),
        job: given(&form.job),
    };
    match state
        .service
        .resubmit_release(page.caller(), &id, change)
        .await
    {
        Ok(()) => Redirect::to(&format!("/requests/{}", enc(&id))).into_response(),
        Err(error) => request_page(&state, &page, &id, Some(&error)).await,
    }
}
