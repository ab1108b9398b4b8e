//! Researcher pages: jobs and their states, a job's outputs with verdicts, release
//! requests. The same service calls as `ssh ... jobs|status|outputs|requests|request`.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::i18n::Msg;
use super::render::json;
use super::{Page, WebState, error_page, layout, url_component as enc};
use crate::service::ServiceError;

/// `GET /jobs`.
pub(crate) async fn jobs(State(state): State<WebState>, page: Page) -> Response {
    let lang = page.lang;
    let jobs = match state.service.jobs(page.caller()).await {
        Ok(jobs) => jobs,
        Err(error) => return error_page(&page, &error),
    };
    let body = html! {
        h1 { (lang.t(Msg::Jobs)) }
        @if jobs.is_empty() { p.muted { (lang.t(Msg::Nothing)) } } @else {
            table #jobs {
                thead { tr {
                    th { "ID" } th { (lang.t(Msg::Name)) } th { (lang.t(Msg::Project)) }
                    th { (lang.t(Msg::State)) } th { (lang.t(Msg::Submitted)) } th { (lang.t(Msg::Finished)) }
                } }
                tbody {
                    @for job in &jobs {
                        tr data-state=(job.state) {
                            td { a href={ "/jobs/" (enc(&job.id)) } { code { (job.id) } } }
                            td { (job.name) } td { (job.project) }
                            td class={ "state " (job.state) } { (lang.word(&job.state)) }
                            td { (job.submitted_at) } td { (job.finished_at.as_deref().unwrap_or("—")) }
                        }
                    }
                }
            }
        }
    };
    layout(&page, lang.t(Msg::Jobs), &body).into_response()
}

/// `GET /jobs/{id}`.
pub(crate) async fn job(
    State(state): State<WebState>,
    page: Page,
    Path(id): Path<String>,
) -> Response {
    job_page(&state, &page, &id, None).await
}

/// The job page, with an error banner after a refused release request.
pub(super) async fn job_page(
    state: &WebState,
    page: &Page,
    id: &str,
    error: Option<&ServiceError>,
) -> Response {
    let lang = page.lang;
    let job = match state.service.status(page.caller(), id).await {
        Ok(job) => job,
        Err(error) => return error_page(page, &error),
    };
    let may_request =
        job.state == "succeeded" && page.session.roles.iter().any(|r| r == "researcher");
    let body = html! {
        h1 { (lang.t(Msg::Job)) " " code { (job.id) } }
        @if let Some(error) = error { p.error #request-error role="alert" { (error.to_string()) } }
        dl.facts {
            dt { (lang.t(Msg::Name)) } dd { (job.name) }
            dt { (lang.t(Msg::Project)) } dd { (job.project) }
            dt { (lang.t(Msg::Dataset)) } dd { (job.dataset) " " span.muted { (job.dataset_version) } }
            dt { (lang.t(Msg::State)) } dd #job-state class={ "state " (job.state) } { (lang.word(&job.state)) @if let Some(reason) = &job.reason { " — " (reason) } }
            dt { (lang.t(Msg::ModuleHash)) } dd { code { (job.module_sha256) } " (" (job.language) ")" }
            dt { (lang.t(Msg::Submitted)) } dd { (job.submitted_at) }
            dt { (lang.t(Msg::Finished)) } dd { (job.finished_at.as_deref().unwrap_or("—")) }
            dt { (lang.t(Msg::Limits)) } dd { (json(&job.limits)) }
            @if let Some(usage) = &job.usage { dt { (lang.t(Msg::Usage)) } dd { (json(usage)) } }
        }
        h2 { (lang.t(Msg::Outputs)) }
        @if job.outputs.is_empty() { p.muted { (lang.t(Msg::Nothing)) } } @else {
            table #outputs {
                thead { tr {
                    th { (lang.t(Msg::File)) } th { (lang.t(Msg::Size)) } th { "SHA-256" }
                    th { (lang.t(Msg::Verdict)) } th { (lang.t(Msg::Reasons)) } th { (lang.t(Msg::Suggested)) }
                } }
                tbody {
                    @for output in &job.outputs {
                        @let verdict = output.verdict.as_deref().unwrap_or("—");
                        tr {
                            td { code { (output.name) } }
                            td.num { (output.size) }
                            td { code.hash { (output.sha256) } }
                            td class={ "verdict " (verdict) } { (lang.word(verdict)) }
                            td { @for reason in &output.reasons { div { code { (reason.code) } " " (reason.detail.as_deref().unwrap_or("")) } } }
                            td { @if let Some(s) = &output.suggested { code { (s.name) } } @else { "—" } }
                        }
                    }
                }
            }
            @if may_request { (super::actions::request_form(page, &job)) }
        }
    };
    let status = error.map_or(StatusCode::OK, super::status_of);
    (status, layout(page, lang.t(Msg::Job), &body)).into_response()
}

/// `GET /requests`.
pub(crate) async fn requests(State(state): State<WebState>, page: Page) -> Response {
    let lang = page.lang;
    let requests = match state.service.releases(page.caller()).await {
        Ok(requests) => requests,
        Err(error) => return error_page(&page, &error),
    };
    let body = html! {
        h1 { (lang.t(Msg::Requests)) }
        (super::checker::request_table(lang, &requests, "/requests/"))
    };
    layout(&page, lang.t(Msg::Requests), &body).into_response()
}

/// `GET /requests/{id}`.
pub(crate) async fn request(
    State(state): State<WebState>,
    page: Page,
    Path(id): Path<String>,
) -> Response {
    request_page(&state, &page, &id, None).await
}

/// The request page, with an error banner after a refused withdrawal or resubmission.
pub(super) async fn request_page(
    state: &WebState,
    page: &Page,
    id: &str,
    error: Option<&ServiceError>,
) -> Response {
    let lang = page.lang;
    let request = match state.service.release_request(page.caller(), id).await {
        Ok(request) => request,
        Err(error) => return error_page(page, &error),
    };
    let body = html! {
        h1 { (lang.t(Msg::Request)) " " code { (request.id) } }
        @if let Some(error) = error { p.error #request-error role="alert" { (error.to_string()) } }
        (super::checker::request_facts(lang, &request))
        h2 { (lang.t(Msg::Files)) }
        table #request-files {
            thead { tr {
                th { (lang.t(Msg::File)) } th { (lang.t(Msg::Job)) } th { (lang.t(Msg::Verdict)) }
                th { (lang.t(Msg::Outcome)) } th { (lang.t(Msg::Download)) }
            } }
            tbody {
                @for file in &request.files {
                    @let verdict = file.verdict.as_deref().unwrap_or("—");
                    tr {
                        td { code { (file.name) } @if file.variant == "suggested" { " " span.tag { (lang.t(Msg::Suggested)) } } }
                        td { a href={ "/jobs/" (enc(&file.job)) } { code { (file.job) } } }
                        td class={ "verdict " (verdict) } { (lang.word(verdict)) }
                        td { (file.outcome.as_deref().map_or_else(|| "—".to_owned(), |o| lang.word(o))) }
                        td { @if file.released { a.download href={ "/requests/" (enc(&request.id)) "/files/" (enc(&file.name)) } { (lang.t(Msg::Download)) } } @else { "—" } }
                    }
                }
            }
        }
        (super::checker::votes_table(lang, &request))
        @if request.author == page.caller().user { (super::actions::request_actions(page, &request)) }
    };
    let status = error.map_or(StatusCode::OK, super::status_of);
    (status, layout(page, lang.t(Msg::Request), &body)).into_response()
}

/// `GET /requests/{id}/files/{file}`: a released file, as an attachment (the same checks
/// and audit event as `ssh ... download`).
pub(crate) async fn download(
    State(state): State<WebState>,
    page: Page,
    Path((id, file)): Path<(String, String)>,
) -> Response {
    match state.service.download(page.caller(), &id, &file).await {
        Ok(bytes) => {
            let safe: String = file
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            (
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{safe}\""),
                    ),
                ],
                bytes,
            )
                .into_response()
        }
        Err(error) => error_page(&page, &error),
    }
}
