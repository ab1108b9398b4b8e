//! Every error reply under `/api/` is an [`ErrorBody`]. The handlers' own errors already
//! are ([`super::ApiError`]); axum's rejections are not (405 from a method router, 413 from a
//! body limit, 415/400/422 from extractors answer in plain text). [`json_errors`] rewrites any
//! 4xx/5xx reply that is not JSON into the error body with the request id, keeping the
//! status and every header (so a 405 keeps its `Allow`).
//!
//! It only reshapes replies: it decides nothing and never echoes the plain-text body, which
//! can quote the request.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::{ErrorBody, ErrorDetail, RequestId};

/// Code of a 405: the path exists, the method does not (see `Allow`).
pub(super) const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
/// Code of a 413: the body is over the endpoint's limit.
pub(super) const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
/// Code of a 415: the body's content type is not one the endpoint reads.
pub(super) const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";

/// Middleware on the API router: non-JSON error replies become [`ErrorBody`] replies.
pub(super) async fn json_errors(request: Request, next: Next) -> Response {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map_or_else(|| "-".to_owned(), |id| id.0.clone());
    as_json_error(next.run(request).await, request_id)
}

/// The reply itself when it succeeded or is JSON already; otherwise the same status and
/// headers with an [`ErrorBody`].
fn as_json_error(response: Response, request_id: String) -> Response {
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    if !is_error || is_json(&response) {
        return response;
    }
    let (code, message) = code_and_message(status);
    let body = ErrorBody {
        error: ErrorDetail {
            code,
            message,
            request_id,
        },
    };
    let (mut parts, _plain) = response.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    // Serializing a struct of strings cannot fail; an empty body would still carry the status.
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    Response::from_parts(parts, Body::from(bytes))
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

/// The stable code and the message of an error status axum produced by itself. The core's
/// categories keep their codes (`super::status_and_code`); statuses only HTTP produces get
/// their own; anything else is `invalid` (4xx) or `internal` (5xx).
fn code_and_message(status: StatusCode) -> (&'static str, String) {
    let code = match status {
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => METHOD_NOT_ALLOWED,
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => PAYLOAD_TOO_LARGE,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => UNSUPPORTED_MEDIA_TYPE,
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        status if status.is_client_error() => "invalid",
        _ => "internal",
    };
    let reason = status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase();
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => format!("{reason} (see the Allow header)"),
        _ => reason,
    };
    (code, message)
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;

    use super::*;

    #[test]
    fn every_http_error_status_has_a_stable_code() {
        let cases = [
            (400, "invalid", "bad request"),
            (401, "unauthenticated", "unauthorized"),
            (403, "forbidden", "forbidden"),
            (404, "not_found", "not found"),
            (
                405,
                "method_not_allowed",
                "method not allowed (see the Allow header)",
            ),
            (409, "conflict", "conflict"),
            (413, "payload_too_large", "payload too large"),
            (415, "unsupported_media_type", "unsupported media type"),
            (422, "invalid", "unprocessable entity"),
            (500, "internal", "internal server error"),
            (503, "unavailable", "service unavailable"),
        ];
        for (status, code, message) in cases {
            let status = StatusCode::from_u16(status).unwrap_or_default();
            assert_eq!(
                code_and_message(status),
                (code, message.to_owned()),
                "{status}"
            );
        }
    }

    async fn body_of(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or_default()
    }

    #[tokio::test]
    async fn plain_text_errors_become_error_bodies_and_keep_their_headers() {
        let mut plain = (StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed").into_response();
        plain
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET,HEAD"));
        let reply = as_json_error(plain, "r-1".into());
        assert_eq!(reply.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(reply.headers()[header::ALLOW], "GET,HEAD");
        assert_eq!(reply.headers()[header::CONTENT_TYPE], "application/json");
        let body = body_of(reply).await;
        assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
        assert_eq!(body["error"]["request_id"], "r-1", "{body}");

        let too_large = (
            StatusCode::PAYLOAD_TOO_LARGE,
            "Failed to buffer the request body: length limit exceeded",
        );
        let reply = as_json_error(too_large.into_response(), "r-2".into());
        assert_eq!(reply.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body = body_of(reply).await;
        assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
        assert!(!body.to_string().contains("buffer"), "{body}");
    }

    #[tokio::test]
    async fn successes_and_json_errors_pass_unchanged() {
        let ok = (StatusCode::OK, "released bytes").into_response();
        let reply = as_json_error(ok, "r-3".into());
        let bytes = axum::body::to_bytes(reply.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        assert_eq!(&bytes[..], b"released bytes");

        let own = super::super::ApiError::new(
            crate::service::ServiceError::Conflict("release changed".into()),
            "r-4".into(),
        )
        .into_response();
        let body = body_of(as_json_error(own, "r-other".into())).await;
        assert_eq!(body["error"]["code"], "conflict", "{body}");
        assert_eq!(body["error"]["message"], "release changed", "{body}");
        assert_eq!(body["error"]["request_id"], "r-4", "{body}");
    }
}
