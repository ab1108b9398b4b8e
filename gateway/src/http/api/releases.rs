//! Release requests over HTTPS: list, request, read, withdraw, resubmit, vote, download, and
//! the checker's review, files under review and queue. The same service calls as
//! `ssh ... requests|request-release|request|withdraw|resubmit|vote|download|review|
//! review-cat|review-queue`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use enclave_policy::release::Vote;
use serde::Deserialize;

use super::{ApiError, ApiResult, ApiState, Authenticated, ErrorBody, JSON_BODY_LIMIT, reply};
use crate::service::{Caller, ReleaseSubmission, Resubmission, ServiceError};

#[utoipa::path(
    get,
    path = "/api/v1/releases",
    tag = "releases",
    responses((status = 200, description = "`{ requests: [...] }` visible to the caller"), (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(super) async fn releases(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
) -> ApiResult {
    let result = state
        .service
        .releases(&caller)
        .await
        .map(|requests| serde_json::json!({ "requests": requests }));
    reply(&caller, result)
}

/// Body of `POST /api/v1/releases`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub(super) struct ReleaseBody {
    job: String,
    files: Vec<String>,
    context: String,
    justification: Option<String>,
    #[serde(default)]
    suggested: bool,
}

/// A JSON request body as read by axum: at most [`JSON_BODY_LIMIT`] bytes.
type JsonBytes = Result<Bytes, BytesRejection>;

/// Parses a JSON body, auditing a malformed or oversized one like an unparsable command
/// (an oversized one is answered 413 `payload_too_large`). `empty` stands in for an empty
/// body when one is allowed.
pub(super) async fn json_body<T: serde::de::DeserializeOwned>(
    state: &ApiState,
    caller: &Caller,
    what: &str,
    body: JsonBytes,
    empty: Option<&str>,
) -> Result<T, ApiError> {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let too_large = rejection.status() == StatusCode::PAYLOAD_TOO_LARGE;
            let message = if too_large {
                format!("JSON body larger than {JSON_BODY_LIMIT} bytes")
            } else {
                "unreadable request body".to_owned()
            };
            let error = state.service.reject_malformed(caller, what, &message).await;
            let request_id = caller.request_id.clone();
            return Err(if too_large {
                ApiError::too_large(error, request_id)
            } else {
                ApiError::new(error, request_id)
            });
        }
    };
    let text: &[u8] = match empty {
        Some(default) if body.iter().all(u8::is_ascii_whitespace) => default.as_bytes(),
        _ => &body,
    };
    match serde_json::from_slice(text) {
        Ok(value) => Ok(value),
        Err(error) => {
            let message = format!("malformed JSON body: {error}");
            let error = state.service.reject_malformed(caller, what, &message).await;
            Err(ApiError::new(error, caller.request_id.clone()))
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/releases",
    tag = "releases",
    request_body = ReleaseBody,
    responses((status = 201, description = "`{ request }`: the new request's id"), (status = 413, description = "the body is larger than 64 KiB", body = ErrorBody), (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(super) async fn request_release(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    body: JsonBytes,
) -> ApiResult {
    let body: ReleaseBody = json_body(&state, &caller, "POST /api/v1/releases", body, None).await?;
    let submission = ReleaseSubmission {
        job: body.job,
        files: body.files,
        context: body.context,
        justification: body.justification,
        suggested: body.suggested,
    };
    let result = state
        .service
        .request_release(&caller, submission)
        .await
        .map(|id| serde_json::json!({ "request": id }));
    reply(&caller, result).map(|response| (StatusCode::CREATED, response).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/releases/{id}",
    tag = "releases",
    params(("id" = String, Path, description = "job or request id")),
    responses((status = 200, description = "the request, its files and (unblinded) votes"), (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(super) async fn release(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult {
    reply(&caller, state.service.release_request(&caller, &id).await)
}

#[utoipa::path(
    post,
    path = "/api/v1/releases/{id}/withdraw",
    tag = "releases",
    params(("id" = String, Path, description = "job or request id")),
    responses((status = 200, description = "`{ request, state }`"), (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(super) async fn withdraw(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult {
    let result = state
        .service
        .withdraw_release(&caller, &id)
        .await
        .map(|()| serde_json::json!({ "request": id, "state": "withdrawn" }));
    reply(&caller, result)
}

/// Body of `POST /api/v1/releases/{id}/resubmit` (all optional; an empty body is `{}`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub(super) struct ResubmitBody {
    /// A new job whose files replace the request's files of the same names.
    job: Option<String>,
    /// A new context.
    context: Option<String>,
    /// A new justification.
    justification: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/releases/{id}/resubmit",
    tag = "releases",
    params(("id" = String, Path, description = "request id")),
    request_body = ResubmitBody,
    responses((status = 200, description = "`{ request, state }`: submitted again; changed or unapproved files are reviewed again"), (status = 413, description = "the body is larger than 64 KiB", body = ErrorBody), (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(super) async fn resubmit(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    body: JsonBytes,
) -> ApiResult {
    let what = "POST /api/v1/releases/{id}/resubmit";
    let body: ResubmitBody = json_body(&state, &caller, what, body, Some("{}")).await?;
    let change = Resubmission {
        context: body.context,
        justification: body.justification,
        job: body.job,
    };
    let result = state
        .service
        .resubmit_release(&caller, &id, change)
        .await
        .map(|()| serde_json::json!({ "request": id, "state": "submitted" }));
    reply(&caller, result)
}

/// Body of `POST /api/v1/releases/{id}/votes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub(super) struct VoteBody {
    file: String,
    vote: String,
    #[serde(default)]
    comment: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/releases/{id}/votes",
    tag = "releases",
    params(("id" = String, Path, description = "job or request id")),
    request_body = VoteBody,
    responses((status = 200, description = "the request after the vote"), (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(super) async fn vote(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    body: JsonBytes,
) -> ApiResult {
    let what = "POST /api/v1/releases/{id}/votes";
    let body: VoteBody = json_body(&state, &caller, what, body, None).await?;
    let vote = match body.vote.parse::<Vote>() {
        Ok(vote) => vote,
        Err(_) => {
            let message = "vote must be approve, changes or reject";
            let error = state.service.reject_malformed(&caller, what, message).await;
            return Err(ApiError::new(error, caller.request_id.clone()));
        }
    };
    let result = state
        .service
        .vote(&caller, &id, &body.file, vote, &body.comment)
        .await;
    reply(&caller, result)
}

#[utoipa::path(
    get,
    path = "/api/v1/releases/{id}/files/{file}",
    tag = "releases",
    params(("id" = String, Path, description = "job or request id"), ("file" = String, Path, description = "file name")),
    responses((status = 200, description = "the released file's bytes", content_type = "application/octet-stream"), (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(super) async fn download(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path((id, file)): Path<(String, String)>,
) -> ApiResult {
    bytes(&caller, state.service.download(&caller, &id, &file).await)
}

#[utoipa::path(
    get,
    path = "/api/v1/releases/{id}/review",
    tag = "releases",
    params(("id" = String, Path, description = "request id")),
    responses((status = 200, description = "what a checker sees: context, files, verdicts, suggestions"), (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(super) async fn review(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult {
    reply(&caller, state.service.review(&caller, &id).await)
}

#[utoipa::path(
    get,
    path = "/api/v1/releases/{id}/review/files/{file}",
    tag = "releases",
    params(
        ("id" = String, Path, description = "request id"),
        ("file" = String, Path, description = "file name")
    ),
    responses(
        (status = 200, description = "a file under review, for a checker", content_type = "application/octet-stream"),
        (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub(super) async fn review_file(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path((id, file)): Path<(String, String)>,
) -> ApiResult {
    bytes(&caller, state.service.review_cat(&caller, &id, &file).await)
}

/// Maps a core result holding file contents to an octet-stream response.
fn bytes(caller: &Caller, result: Result<Vec<u8>, ServiceError>) -> ApiResult {
    result
        .map(|bytes| {
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                )],
                bytes,
            )
                .into_response()
        })
        .map_err(|error| ApiError::new(error, caller.request_id.clone()))
}

#[utoipa::path(
    get,
    path = "/api/v1/review-queue",
    tag = "releases",
    responses((status = 200, description = "`{ requests: [...] }` awaiting the checker"), (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(super) async fn review_queue(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
) -> ApiResult {
    let result = state
        .service
        .review_queue(&caller)
        .await
        .map(|requests| serde_json::json!({ "requests": requests }));
    reply(&caller, result)
}
