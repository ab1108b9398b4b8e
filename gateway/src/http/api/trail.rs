//! Compliance endpoints: the event query, verification, export with the covering
//! checkpoint, inclusion proofs, on-demand checkpoints and provenance. The same service
//! calls as `ssh ... audit list|verify|export|proof|checkpoint|provenance`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde::Deserialize;

use super::{ApiError, ApiResult, ApiState, Authenticated, ErrorBody, reply};
use crate::service::{Caller, ServiceError};
use crate::store::AuditFilter;

#[utoipa::path(
    get,
    path = "/api/v1/audit/verify",
    tag = "audit",
    responses((status = 200, description = "the verification report (`problem` names the first bad sequence, if any)"), (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(super) async fn verify(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
) -> ApiResult {
    reply(&caller, state.service.verify_trail(&caller, None).await)
}

/// Query of `GET /api/v1/audit/export`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExportQuery {
    format: Option<String>,
    actor: Option<String>,
    project: Option<String>,
    dataset: Option<String>,
    target: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/audit/export",
    tag = "audit",
    params(("format" = Option<String>, Query, description = "jsonl (default) or csv"), ("actor" = Option<String>, Query, description = "exact actor"), ("project" = Option<String>, Query, description = "exact project"), ("dataset" = Option<String>, Query, description = "exact dataset"), ("target" = Option<String>, Query, description = "exact target"), ("action" = Option<String>, Query, description = "exact action code"), ("outcome" = Option<String>, Query, description = "ok, denied or error"), ("from" = Option<String>, Query, description = "RFC 3339, inclusive"), ("to" = Option<String>, Query, description = "RFC 3339, exclusive")),
    responses((status = 200, description = "the matching events with the signed checkpoint that covers them, as JSON Lines or CSV"), (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(super) async fn export(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> ApiResult {
    let fail = |error: ServiceError| ApiError::new(error, caller.request_id.clone());
    let query = filters(&state, &caller, "GET /api/v1/audit/export", query).await?;
    let format = query.format.unwrap_or_else(|| "jsonl".into());
    if format != "jsonl" && format != "csv" {
        let error = state
            .service
            .reject_malformed(
                &caller,
                "GET /api/v1/audit/export",
                "format must be jsonl or csv",
            )
            .await;
        return Err(fail(error));
    }
    let filter = AuditFilter {
        actor: query.actor,
        project: query.project,
        dataset: query.dataset,
        target: query.target,
        action: query.action,
        outcome: query.outcome,
        from: query.from,
        to: query.to,
    };
    let (events, checkpoint) = state
        .service
        .audit_export(&caller, &filter)
        .await
        .map_err(fail)?;
    let text = crate::cli_audit::render_export(&events, &checkpoint, &format)
        .map_err(|e| fail(ServiceError::Invalid(e.to_string())))?;
    let content_type = if format == "csv" {
        "text/csv; charset=utf-8"
    } else {
        "application/x-ndjson"
    };
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/audit/proof/{seq}",
    tag = "audit",
    params(("seq" = i64, Path, description = "event sequence number")),
    responses((status = 200, description = "RFC 6962 inclusion proof of the event against a signed checkpoint"), (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(super) async fn proof(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(seq): Path<i64>,
) -> ApiResult {
    reply(&caller, state.service.inclusion_proof(&caller, seq).await)
}

#[utoipa::path(
    post,
    path = "/api/v1/audit/checkpoints",
    tag = "audit",
    responses((status = 200, description = "a freshly signed checkpoint (tree size, root, time, signature)"), (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(super) async fn checkpoint(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
) -> ApiResult {
    reply(&caller, state.service.create_checkpoint(&caller).await)
}

#[utoipa::path(
    get,
    path = "/api/v1/audit/provenance/{id}",
    tag = "audit",
    params(("id" = String, Path, description = "job id or release request id")),
    responses((status = 200, description = "provenance: project, module, dataset version, limits, data read, outputs, checks, releases, votes, downloads, events"), (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(super) async fn provenance(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult {
    reply(&caller, state.service.provenance(&caller, &id).await)
}

/// Query of `GET /api/v1/audit`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditQuery {
    actor: Option<String>,
    project: Option<String>,
    dataset: Option<String>,
    target: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    from: Option<String>,
    to: Option<String>,
    #[serde(default)]
    after: i64,
    limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    params(("actor" = Option<String>, Query, description = "exact actor"), ("project" = Option<String>, Query, description = "exact project"), ("dataset" = Option<String>, Query, description = "exact dataset"), ("target" = Option<String>, Query, description = "exact target"), ("action" = Option<String>, Query, description = "exact action code"), ("outcome" = Option<String>, Query, description = "ok, denied or error"), ("from" = Option<String>, Query, description = "RFC 3339, inclusive"), ("to" = Option<String>, Query, description = "RFC 3339, exclusive"), ("after" = Option<i64>, Query, description = "events after this sequence number"), ("limit" = Option<i64>, Query, description = "at most this many (default 1000)")),
    responses((status = 200, description = "`{ events: [...] }` matching the filters, oldest first"), (status = "default", description = "an error (see the `error.code`)", body = ErrorBody)),
    security(("bearer" = []))
)]
pub(super) async fn audit(
    State(state): State<ApiState>,
    Authenticated(caller): Authenticated,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult {
    let query = filters(&state, &caller, "GET /api/v1/audit", query).await?;
    let filter = AuditFilter {
        actor: query.actor,
        project: query.project,
        dataset: query.dataset,
        target: query.target,
        action: query.action,
        outcome: query.outcome,
        from: query.from,
        to: query.to,
    };
    let result = state
        .service
        .audit_events(&caller, &filter, query.after, query.limit.unwrap_or(1000))
        .await
        .map(|events| serde_json::json!({ "events": events }));
    reply(&caller, result)
}

/// The filters of an audit query or export, or the audited `Invalid` refusal of unknown or
/// malformed ones.
async fn filters<T>(
    state: &ApiState,
    caller: &Caller,
    what: &str,
    query: Result<Query<T>, QueryRejection>,
) -> Result<T, ApiError> {
    match query {
        Ok(Query(query)) => Ok(query),
        Err(rejection) => {
            let error = state
                .service
                .reject_malformed(
                    caller,
                    &format!("{what}: {rejection}"),
                    "unknown or malformed audit filter",
                )
                .await;
            Err(ApiError::new(error, caller.request_id.clone()))
        }
    }
}
