//! The JSON API under `/api/v1/`: one handler per service call, each parsing
//! the wire input, calling the core as the token's owner, and mapping the
//! result back. No rules live here.
//!
//! Boundary: errors are `{ "error": { "code", "message", "request_id" } }`
//! with a stable code per [`ServiceError`] category (see [`status_and_code`]).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Serialize;
use utoipa::OpenApi;

use super::RequestId;
use crate::service::{Caller, Service, ServiceError, SubmitRequest};

/// What every API handler shares.
#[derive(Clone)]
pub(crate) struct ApiState {
    /// The core.
    pub(crate) service: Service,
    /// Largest module accepted by `POST /api/v1/jobs` (as over SSH).
    pub(crate) module_limit: usize,
}

mod errors;
mod releases;
mod trail;

/// Largest JSON request body accepted (release requests, resubmissions, votes): far above
/// what the core accepts (texts of at most `MAX_TEXT` characters), far below a module.
pub(crate) const JSON_BODY_LIMIT: usize = 64 * 1024;

/// The API routes (under `/api/v1`). Every error reply, axum's own included, is an
/// [`ErrorBody`] (`errors::json_errors`).
pub(crate) fn routes(state: ApiState) -> Router {
    let json_limit = DefaultBodyLimit::max(JSON_BODY_LIMIT);
    Router::new()
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/help", get(help))
        .route(
            "/api/v1/jobs",
            get(jobs).post(submit).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/jobs/{id}", get(job))
        .route("/api/v1/jobs/{id}/outputs", get(outputs))
        .route(
            "/api/v1/releases",
            get(releases::releases)
                .post(releases::request_release)
                .layer(json_limit),
        )
        .route("/api/v1/releases/{id}", get(releases::release))
        .route("/api/v1/releases/{id}/withdraw", post(releases::withdraw))
        .route(
            "/api/v1/releases/{id}/resubmit",
            post(releases::resubmit).layer(json_limit),
        )
        .route(
            "/api/v1/releases/{id}/votes",
            post(releases::vote).layer(json_limit),
        )
        .route(
            "/api/v1/releases/{id}/files/{file}",
            get(releases::download),
        )
        .route("/api/v1/releases/{id}/review", get(releases::review))
        .route(
            "/api/v1/releases/{id}/review/files/{file}",
            get(releases::review_file),
        )
        .route("/api/v1/review-queue", get(releases::review_queue))
        .route("/api/v1/audit", get(trail::audit))
        .route("/api/v1/audit/verify", get(trail::verify))
        .route("/api/v1/audit/export", get(trail::export))
        .route("/api/v1/audit/proof/{seq}", get(trail::proof))
        .route("/api/v1/audit/checkpoints", post(trail::checkpoint))
        .route("/api/v1/audit/provenance/{id}", get(trail::provenance))
        .route("/api/v1/openapi.json", get(openapi))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(errors::json_errors))
        .with_state(state)
}

/// The API's OpenAPI document, generated from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(title = "enclave", description = "JSON API of the enclave HTTPS door"),
    paths(
        whoami,
        help,
        jobs,
        submit,
        job,
        outputs,
        releases::releases,
        releases::request_release,
        releases::release,
        releases::withdraw,
        releases::resubmit,
        releases::vote,
        releases::download,
        releases::review,
        releases::review_file,
        releases::review_queue,
        trail::audit,
        trail::verify,
        trail::export,
        trail::proof,
        trail::checkpoint,
        trail::provenance
    ),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        releases::ReleaseBody,
        releases::ResubmitBody,
        releases::VoteBody
    )),
    modifiers(&BearerAuth)
)]
pub(crate) struct ApiDoc;

/// Declares the `bearer` security scheme (`Authorization: Bearer enc_<id>_<secret>`).
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "a per-user API token from `enclave admin token create`",
                    ))
                    .build(),
            ),
        );
    }
}

/// `GET /api/v1/openapi.json`: public, like `/healthz` (it describes, never answers).
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// A refusal or failure as the API shows it.
pub(crate) struct ApiError {
    error: ServiceError,
    request_id: String,
    /// The status and code when they are not the category's (see [`ApiError::too_large`]).
    overridden: Option<(StatusCode, &'static str)>,
}

impl ApiError {
    /// The reply for `error` (status and code from [`status_and_code`]).
    pub(crate) fn new(error: ServiceError, request_id: String) -> Self {
        ApiError {
            error,
            request_id,
            overridden: None,
        }
    }

    /// A body over its limit: the core recorded it as invalid; HTTP says 413.
    fn too_large(error: ServiceError, request_id: String) -> Self {
        ApiError {
            overridden: Some((StatusCode::PAYLOAD_TOO_LARGE, errors::PAYLOAD_TOO_LARGE)),
            ..ApiError::new(error, request_id)
        }
    }
}

/// The one mapping from core errors to HTTP status and stable error code.
fn status_and_code(error: &ServiceError) -> (StatusCode, &'static str) {
    match error {
        ServiceError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
        ServiceError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
        ServiceError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid"),
        ServiceError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        ServiceError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        ServiceError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        // Future categories are failures until mapped deliberately.
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

/// The body of every error reply.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable code: `unauthenticated`, `forbidden`, `invalid`, `not_found`,
    /// `conflict`, `unavailable` or `internal` (from the core), or
    /// `method_not_allowed`, `payload_too_large`, `unsupported_media_type`
    /// (from HTTP itself).
    code: &'static str,
    /// One line for people; never secrets.
    message: String,
    /// The request id, also in `x-request-id` and the audit trail.
    request_id: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self
            .overridden
            .unwrap_or_else(|| status_and_code(&self.error));
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message: self.error.to_string(),
                request_id: self.request_id,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"enclave\""),
            );
        }
        response
    }
}

/// The caller a valid bearer token stands for.
pub(crate) struct Authenticated(Caller);

impl FromRequestParts<ApiState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map_or_else(|| "-".to_owned(), |id| id.0.clone());
        let source = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.to_string());
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim);
        state
            .service
            .authenticate_token(presented, source, &request_id)
            .await
            .map(Authenticated)
            .map_err(|error| ApiError::new(error, request_id))
    }
}

type ApiResult = Result<Response, ApiError>;

/// Maps a core result to a JSON response (or the error body).
fn reply<T: serde::Serialize>(caller: &Caller, result: Result<T, ServiceError>) -> ApiResult {
    result
        .map(|value| Json(value).into_response())
        .map_err(|error| ApiError::new(error, caller.request_id.clone()))
}

async fn not_found(request_id: Option<Extension<RequestId>>) -> ApiError {
    ApiError::new(
        ServiceError::NotFound("no such API endpoint".into()),
        request_id.map_or_else(|| "-".to_owned(), |id| id.0.0),
    )
}

#[utoipa::path(
    get,
    path = "/api/v1/whoami",
    tag = "session",
    responses((status = 200, description = "the caller's identity and roles"), (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn whoami(State(state): State<ApiState>, Authenticated(caller): Authenticated) -> ApiResult {
    reply(&caller, state.service.whoami(&caller).await)
}

#[utoipa::path(
    get,
    path = "/api/v1/help",
    tag = "session",
    responses((status = 200, description = "`{ help }`: the command list, as `help --json` over SSH"), (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn help(State(state): State<ApiState>, Authenticated(caller): Authenticated) -> ApiResult {
    let result = state
        .service
        .help(&caller)
        .await
        .map(|text| serde_json::json!({ "help": text }));
    reply(&caller, result)
}

#[utoipa::path(
    get,
    path = "/api/v1/jobs",
    tag = "jobs",
    responses((status = 200, description = "`{ jobs: [...] }`, the jobs the caller may see"), (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn jobs(State(state): State<ApiState>, Authenticated(caller): Authenticated) -> ApiResult {
    let result = state
        .service
        .jobs(&caller)
        .await
        .map(|jobs| serde_json::json!({ "jobs": jobs }));
    reply(&caller, result)
}

/// Query of `POST /api/v1/jobs`: `project`, `name`, optional `dataset` and
/// `python=true`, and `arg` once per module argument, in order (`-- ARGS` over SSH).
#[derive(Debug, PartialEq, Eq)]
struct SubmitQuery {
    project: String,
    name: String,
    dataset: Option<String>,
    python: bool,
    args: Vec<String>,
}

impl SubmitQuery {
    /// Reads the decoded query pairs; unknown or repeated single parameters are refused.
    fn parse(pairs: Vec<(String, String)>) -> Result<Self, &'static str> {
        fn once(slot: &mut Option<String>, value: String) -> Result<(), &'static str> {
            match slot.replace(value) {
                None => Ok(()),
                Some(_) => Err("a submit parameter was given twice"),
            }
        }
        let (mut project, mut name, mut dataset, mut python) = (None, None, None, None);
        let mut args = Vec::new();
        for (key, value) in pairs {
            match key.as_str() {
                "project" => once(&mut project, value)?,
                "name" => once(&mut name, value)?,
                "dataset" => once(&mut dataset, value)?,
                "python" => once(&mut python, value)?,
                "arg" => args.push(value),
                _ => return Err("unknown submit parameter"),
            }
        }
        let python = match python.as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err("python must be true or false"),
        };
        match (project, name) {
            (Some(project), Some(name)) => Ok(SubmitQuery {
                project,
                name,
                dataset,
                python,
                args,
            }),
            _ => Err("missing project or name"),
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/jobs",
    tag = "jobs",
    params(("project" = String, Query, description = "project"), ("name" = String, Query, description = "job name"), ("dataset" = Option<String>, Query, description = "dataset, when the project has several"), ("python" = Option<bool>, Query, description = "the body is a Python script"), ("arg" = Option<Vec<String>>, Query, description = "one module argument; repeat for several, in order")),
    request_body(content = String, content_type = "application/octet-stream", description = "the WebAssembly module (or Python script), at most the configured module size"),
    responses((status = 201, description = "`{ id, state }` of the queued job"), (status = 413, description = "the module is larger than the configured module size", body = ErrorBody), (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn submit(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> ApiResult {
    let invalid = |error| ApiError::new(error, caller.request_id.clone());
    let query = match query
        .map_err(|_| "malformed query")
        .and_then(|Query(pairs)| SubmitQuery::parse(pairs))
    {
        Ok(query) => query,
        Err(problem) => {
            let message = format!(
                "{problem}; submit needs ?project=P&name=N (optional dataset, python=true, arg=A...)"
            );
            let error = state
                .service
                .reject_malformed(&caller, &format!("POST /api/v1/jobs: {problem}"), &message)
                .await;
            return Err(invalid(error));
        }
    };
    let module = match axum::body::to_bytes(body, state.module_limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let message = format!("module larger than {} bytes", state.module_limit);
            let error = state
                .service
                .reject_malformed(&caller, "POST /api/v1/jobs", &message)
                .await;
            return Err(ApiError::too_large(error, caller.request_id.clone()));
        }
    };
    let request = SubmitRequest {
        project: query.project,
        name: query.name,
        dataset: query.dataset,
        args: query.args,
        module: module.to_vec(),
        python: query.python,
    };
    let result = state
        .service
        .submit(&caller, request)
        .await
        .map(|id| serde_json::json!({ "id": id, "state": "queued" }));
    reply(&caller, result).map(|response| (StatusCode::CREATED, response).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/jobs/{id}",
    tag = "jobs",
    params(("id" = String, Path, description = "job or request id")),
    responses((status = 200, description = "the job's state, limits, usage and outputs"), (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn job(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult {
    reply(&caller, state.service.status(&caller, &id).await)
}

#[utoipa::path(
    get,
    path = "/api/v1/jobs/{id}/outputs",
    tag = "jobs",
    params(("id" = String, Path, description = "job or request id")),
    responses((status = 200, description = "`{ id, outputs }`: names, sizes, hashes and verdicts"), (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)),
    security(("bearer" = []))
)]
async fn outputs(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult {
    let result = state
        .service
        .outputs(&caller, &id)
        .await
        .map(|outputs| serde_json::json!({ "id": id, "outputs": outputs }));
    reply(&caller, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submit_query_keeps_arguments_in_order_and_refuses_the_unknown() {
        let pairs = |list: &[(&str, &str)]| {
            list.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
        };
        let parsed = SubmitQuery::parse(pairs(&[
            ("arg", "1"),
            ("project", "p"),
            ("name", "n"),
            ("arg", "two words"),
            ("python", "true"),
        ]));
        assert_eq!(
            parsed,
            Ok(SubmitQuery {
                project: "p".into(),
                name: "n".into(),
                dataset: None,
                python: true,
                args: vec!["1".into(), "two words".into()],
            })
        );
        for (bad, problem) in [
            (&[("name", "n")][..], "missing project or name"),
            (
                &[("project", "p"), ("name", "n"), ("name", "m")],
                "a submit parameter was given twice",
            ),
            (
                &[("project", "p"), ("name", "n"), ("args", "x")],
                "unknown submit parameter",
            ),
            (
                &[("project", "p"), ("name", "n"), ("python", "yes")],
                "python must be true or false",
            ),
        ] {
            assert_eq!(SubmitQuery::parse(pairs(bad)), Err(problem));
        }
    }

    #[test]
    fn every_error_category_has_its_status_and_code() {
        let cases = [
            (
                ServiceError::Unauthenticated(String::new()),
                401,
                "unauthenticated",
            ),
            (ServiceError::Forbidden(String::new()), 403, "forbidden"),
            (ServiceError::Invalid(String::new()), 400, "invalid"),
            (ServiceError::NotFound(String::new()), 404, "not_found"),
            (ServiceError::Conflict(String::new()), 409, "conflict"),
            (ServiceError::Unavailable(String::new()), 503, "unavailable"),
            (ServiceError::Internal(String::new()), 500, "internal"),
        ];
        for (error, status, code) in cases {
            assert_eq!(
                status_and_code(&error),
                (StatusCode::from_u16(status).unwrap_or_default(), code)
            );
        }
    }
}
