//! Checker pages: the review queue and a request's review page (context, justification,
//! each output rendered with its flagged cells, verdicts, the suggested safe version side
//! by side, and vote forms). The same service calls as `ssh ... review-queue|review|
//! review-cat|vote`; the core enforces eligibility and the comment rules.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use enclave_policy::release::Vote;
use maud::{Markup, html};
use serde::Deserialize;

use super::i18n::{Lang, Msg};
use super::render::{csv_table, image_type, text};
use super::{Page, WebState, check_form, error_page, layout, url_component as enc};
use crate::service::{FileReview, ReleaseView, ServiceError};

/// A table of requests linking to `base` + id.
pub(super) fn request_table(lang: Lang, requests: &[ReleaseView], base: &str) -> Markup {
    html! {
        @if requests.is_empty() { p.muted #empty { (lang.t(Msg::Nothing)) } } @else {
            table #requests {
                thead { tr {
                    th { "ID" } th { (lang.t(Msg::Project)) } th { (lang.t(Msg::Author)) }
                    th { (lang.t(Msg::State)) } th { (lang.t(Msg::Round)) } th { (lang.t(Msg::Files)) }
                    th { (lang.t(Msg::Created)) }
                } }
                tbody {
                    @for r in requests {
                        tr data-request=(r.id) {
                            td { a href={ (base) (enc(&r.id)) } { code { (r.id) } } }
                            td { (r.project) } td { (r.author) }
                            td class={ "state " (r.state) } { (lang.word(&r.state)) }
                            td.num { (r.round) }
                            td { @for f in &r.files { code { (f.name) } " " } }
                            td { (r.created_at) }
                        }
                    }
                }
            }
        }
    }
}

/// The facts of a request: project, author, state, context, justification.
pub(super) fn request_facts(lang: Lang, r: &ReleaseView) -> Markup {
    html! {
        dl.facts {
            dt { (lang.t(Msg::Project)) } dd { (r.project) " / " (r.dataset) }
            dt { (lang.t(Msg::Author)) } dd { (r.author) }
            dt { (lang.t(Msg::State)) } dd #request-state class={ "state " (r.state) } { (lang.word(&r.state)) }
            dt { (lang.t(Msg::Round)) } dd { (r.round) }
            dt { (lang.t(Msg::Approvals)) } dd { (r.approvals_required) }
            dt { (lang.t(Msg::Context)) } dd #context { (r.context) }
            dt { (lang.t(Msg::Justification)) } dd #justification { (r.justification.as_deref().unwrap_or("—")) }
        }
    }
}

/// The votes the viewer may see (or the blinding notice).
pub(super) fn votes_table(lang: Lang, r: &ReleaseView) -> Markup {
    html! {
        h2 { (lang.t(Msg::Votes)) }
        @if r.blinded { p.muted #blinded { (lang.t(Msg::Blinded)) } }
        @if r.votes.is_empty() { p.muted { (lang.t(Msg::Nothing)) } } @else {
            table #votes {
                thead { tr {
                    th { (lang.t(Msg::File)) } th { (lang.t(Msg::Round)) } th { (lang.t(Msg::Checker)) }
                    th { (lang.t(Msg::Vote)) } th { (lang.t(Msg::Comment)) } th { (lang.t(Msg::Time)) }
                } }
                tbody {
                    @for v in &r.votes {
                        tr { td { code { (v.file) } } td.num { (v.round) } td { (v.checker) }
                             td class={ "vote " (v.vote) } { (lang.word(&v.vote)) } td { (v.comment) } td { (v.at) } }
                    }
                }
            }
        }
    }
}

/// `GET /review`.
pub(crate) async fn queue(State(state): State<WebState>, page: Page) -> Response {
    let lang = page.lang;
    let requests = match state.service.review_queue(page.caller()).await {
        Ok(requests) => requests,
        Err(error) => return error_page(&page, &error),
    };
    let body = html! {
        h1 { (lang.t(Msg::ReviewQueue)) }
        (request_table(lang, &requests, "/review/"))
    };
    layout(&page, lang.t(Msg::ReviewQueue), &body).into_response()
}

#[derive(Deserialize)]
pub(crate) struct Notice {
    voted: Option<String>,
}

/// `GET /review/{id}`.
pub(crate) async fn page(
    State(state): State<WebState>,
    page: Page,
    Path(id): Path<String>,
    Query(notice): Query<Notice>,
) -> Response {
    let notice = notice
        .voted
        .map(|_| page.lang.t(Msg::VoteRecorded).to_owned());
    review_page(&state, &page, &id, notice.as_deref(), None).await
}

/// Renders the review page, with a notice or an error banner (after a vote).
async fn review_page(
    state: &WebState,
    page: &Page,
    id: &str,
    notice: Option<&str>,
    error: Option<&ServiceError>,
) -> Response {
    let lang = page.lang;
    let review = match state.service.review(page.caller(), id).await {
        Ok(review) => review,
        Err(error) => return error_page(page, &error),
    };
    let mut files = Vec::with_capacity(review.files.len());
    for file in &review.files {
        files.push(file_section(state, page, &review.request, file).await);
    }
    let r = &review.request;
    let body = html! {
        h1 { (lang.t(Msg::Review)) " " code #request-id { (r.id) } }
        @if let Some(notice) = notice { p.notice #notice role="status" { (notice) } }
        @if let Some(error) = error { p.error #vote-error role="alert" { (error.to_string()) } }
        (request_facts(lang, r))
        p.muted { (lang.t(Msg::FlaggedHint)) " " (lang.t(Msg::PseudonymHint)) }
        @for section in &files { (section) }
        (votes_table(lang, r))
    };
    let status = error.map_or(axum::http::StatusCode::OK, super::status_of);
    (status, layout(page, lang.t(Msg::Review), &body)).into_response()
}

/// One file: verdict and reasons, the output rendered, the suggested version beside it,
/// and the vote form.
async fn file_section(
    state: &WebState,
    page: &Page,
    request: &ReleaseView,
    file: &FileReview,
) -> Markup {
    let lang = page.lang;
    let caller = page.caller();
    let flagged = file.flagged_cells.as_array().cloned().unwrap_or_default();
    let slug: String = file
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let original = state
        .service
        .review_cat(caller, &request.id, &file.name)
        .await;
    let suggested = match &file.suggested_sha256 {
        Some(_) if !file.suggested => Some(
            state
                .service
                .review_suggested(caller, &request.id, &file.name)
                .await,
        ),
        _ => None,
    };
    let show = |bytes: &Result<Vec<u8>, ServiceError>, which: &str| -> Markup {
        match bytes {
            Err(error) => html! { p.error { (error.to_string()) } },
            Ok(bytes) => {
                if image_type(bytes).is_some() {
                    let src = format!(
                        "/review/{}/files/{}{}",
                        enc(&request.id),
                        enc(&file.name),
                        if which == "suggested" {
                            "?variant=suggested"
                        } else {
                            ""
                        }
                    );
                    html! { img.output src=(src) alt=(file.name); }
                } else if file.name.ends_with(".csv") {
                    let cells: &[serde_json::Value] =
                        if which == "suggested" { &[] } else { &flagged };
                    csv_table(bytes, cells, &format!("{which}-{slug}"))
                } else {
                    text(&String::from_utf8_lossy(bytes))
                }
            }
        }
    };
    let verdict = file.verdict.as_deref().unwrap_or("—");
    let can_vote = !file.voted
        && matches!(
            request.state.as_str(),
            "submitted" | "partially_reviewed" | "reviewed"
        );
    html! {
        section.file id={ "file-" (slug) } data-file=(file.name) {
            h2 { code { (file.name) } " " span class={ "verdict " (verdict) } { (lang.word(verdict)) }
                 @if file.suggested { " " span.tag { (lang.t(Msg::Suggested)) } } }
            @if let Some(reasons) = file.reasons.as_array() {
                @if !reasons.is_empty() {
                    ul.reasons { @for r in reasons {
                        li { code { (r.get("code").and_then(|c| c.as_str()).unwrap_or("?")) } " "
                             (r.get("message").and_then(|c| c.as_str()).unwrap_or("")) }
                    } }
                }
            }
            div.side-by-side {
                div { h3 { (lang.t(Msg::Original)) } (show(&original, "original")) }
                @if let Some(suggested) = &suggested {
                    div { h3 { (lang.t(Msg::Suggested)) } (show(suggested, "suggested")) }
                }
            }
            @if file.voted { p.muted.voted { (lang.t(Msg::YouVoted)) } }
            @else if can_vote {
                form.vote method="post" action={ "/review/" (enc(&request.id)) "/vote" } {
                    input type="hidden" name="csrf" value=(page.session.csrf);
                    input type="hidden" name="file" value=(file.name);
                    fieldset {
                        legend { (lang.t(Msg::Vote)) }
                        label { input type="radio" name="vote" value="approve" required; " " (lang.t(Msg::VoteApprove)) }
                        label { input type="radio" name="vote" value="changes"; " " (lang.t(Msg::VoteChanges)) }
                        label { input type="radio" name="vote" value="reject"; " " (lang.t(Msg::VoteReject)) }
                    }
                    label { (lang.t(Msg::Comment)) textarea name="comment" rows="2" maxlength="4000" {} }
                    p.muted { (lang.t(Msg::CommentRule)) }
                    button type="submit" { (lang.t(Msg::SendVote)) }
                }
            }
        }
    }
}

#[derive(Default, Deserialize)]
pub(crate) struct VoteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    file: String,
    #[serde(default)]
    vote: String,
    #[serde(default)]
    comment: String,
}

/// `POST /review/{id}/vote`.
pub(crate) async fn vote(
    State(state): State<WebState>,
    page: Page,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<VoteForm>, FormRejection>,
) -> Response {
    // A missing or unreadable body is a form without a token: refused below, and audited.
    let form = form.map(|Form(form)| form).unwrap_or_default();
    if let Err(refused) = check_form(&state, &page, &headers, &form.csrf, &id).await {
        return refused;
    }
    let vote = match form.vote.parse::<Vote>() {
        Ok(vote) => vote,
        Err(_) => {
            let error = state
                .service
                .reject_malformed(
                    page.caller(),
                    "POST /review/{id}/vote",
                    "vote must be approve, changes or reject",
                )
                .await;
            return review_page(&state, &page, &id, None, Some(&error)).await;
        }
    };
    match state
        .service
        .vote(page.caller(), &id, &form.file, vote, &form.comment)
        .await
    {
        Ok(_) => Redirect::to(&format!("/review/{}?voted=1", enc(&id))).into_response(),
        Err(error) => review_page(&state, &page, &id, None, Some(&error)).await,
    }
}

#[derive(Deserialize)]
pub(crate) struct Variant {
    variant: Option<String>,
}

/// `GET /review/{id}/files/{file}`: an image under review (raster images only; anything
/// else is shown inline by the review page and refused here).
pub(crate) async fn file(
    State(state): State<WebState>,
    page: Page,
    Path((id, name)): Path<(String, String)>,
    Query(variant): Query<Variant>,
) -> Response {
    let result = if variant.variant.as_deref() == Some("suggested") {
        state
            .service
            .review_suggested(page.caller(), &id, &name)
            .await
    } else {
        state.service.review_cat(page.caller(), &id, &name).await
    };
    match result {
        Ok(bytes) => match image_type(&bytes) {
            Some(kind) => ([(header::CONTENT_TYPE, kind)], bytes).into_response(),
            None => error_page(
                &page,
                &ServiceError::Invalid(format!("{name} is not an image")),
            ),
        },
        Err(error) => error_page(&page, &error),
    }
}
