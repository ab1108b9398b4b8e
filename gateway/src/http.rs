//! The HTTPS front door (axum over rustls): a health endpoint, the JSON API under
//! `/api/v1/` (`http/api.rs`, per-user bearer tokens) and the web pages (`http/web/`,
//! password + TOTP sessions). A thin adapter: no rules live here.

mod api;
mod web;

use std::net::SocketAddr;
use std::path::Path;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::get;
use tower_http_headers::security_headers;

use crate::service::Service;

/// The request id of the request being served (set by `request_span`,
/// passed to the core as `Caller::request_id`).
#[derive(Clone, Debug)]
pub(crate) struct RequestId(pub(crate) String);

/// Builds the router over the core; modules sent to `POST /api/v1/jobs` are
/// limited to `module_limit` bytes, as over SSH.
pub fn router(service: Service, module_limit: usize) -> Router {
    let app = Router::new()
        .route("/healthz", get(health))
        .merge(web::routes(service.clone()))
        .merge(api::routes(api::ApiState {
            service,
            module_limit,
        }))
        .layer(axum::middleware::from_fn(request_span));
    security_headers(app)
}

/// One span per request (door, request id, method, path; never the query,
/// headers or body), and the request id echoed in `x-request-id`.
async fn request_span(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let request_id = format!("r-{}", hex::encode(rand::random::<[u8; 8]>()));
    let span = tracing::info_span!(
        "https.request",
        door = "https",
        request_id = %request_id,
        method = %request.method(),
        path = %request.uri().path(),
        status = tracing::field::Empty
    );
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));
    let mut response = tracing::Instrument::instrument(next.run(request), span.clone()).await;
    span.record("status", response.status().as_u16());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// Creates a self-signed certificate for `localhost`/127.0.0.1 and returns
/// its SHA-256 fingerprint (hex, colon-separated).
///
/// # Errors
/// When generation or writing fails.
pub fn create_self_signed(cert_path: &Path, key_path: &Path) -> anyhow::Result<String> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names)?;
    let pem = certified.cert.pem();
    if let Some(parent) = cert_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(cert_path, &pem)?;
    crate::fsutil::write_private(key_path, certified.signing_key.serialize_pem().as_bytes())?;
    Ok(fingerprint(certified.cert.der()))
}

/// SHA-256 fingerprint of a DER certificate.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(der);
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Serves HTTPS on `listener` with the PEM certificate and key.
///
/// # Errors
/// When the certificate cannot be loaded or the server fails.
pub async fn serve(
    listener: std::net::TcpListener,
    cert: &Path,
    key: &Path,
    service: Service,
    module_limit: usize,
) -> anyhow::Result<()> {
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key).await?;
    axum_server::from_tcp_rustls(listener, tls)?
        .serve(router(service, module_limit).into_make_service_with_connect_info::<SocketAddr>())
        .await?;
    Ok(())
}

mod tower_http_headers {
    use super::{HeaderValue, Router, header};

    /// Adds conservative security headers to every response.
    pub(super) fn security_headers(router: Router) -> Router {
        router.layer(axum::middleware::map_response(
            |mut response: axum::response::Response| async move {
                let headers = response.headers_mut();
                headers.insert(
                    header::STRICT_TRANSPORT_SECURITY,
                    HeaderValue::from_static("max-age=31536000"),
                );
                headers.insert(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                );
                // Pages set their own (stricter than nothing, looser than this).
                headers
                    .entry(header::CONTENT_SECURITY_POLICY)
                    .or_insert(HeaderValue::from_static("default-src 'none'"));
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            },
        ))
    }
}
