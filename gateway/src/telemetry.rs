//! Logs and traces for operators: `tracing` to stderr (text, or JSON with
//! `ENCLAVE_LOG_FORMAT=json`), filtered by `ENCLAVE_LOG` (default `warn`),
//! and, when an OTLP endpoint is configured (`[telemetry] otlp_endpoint` or
//! `OTEL_EXPORTER_OTLP_ENDPOINT`), every span exported over OTLP/gRPC with
//! service name `enclave`.
//!
//! Invariant: spans and logs carry ids, names, actions and outcomes only;
//! never payloads, module bytes, dataset content, credentials or results.
//! wasmtime-wasi's per-call spans (which name the paths a job opened) are held
//! at `warn` for both outputs, whatever the operator asks for.
//! Boundary: the exporter must be built inside a tokio runtime (tonic);
//! [`Telemetry::shutdown`] flushes the spans still queued and must run
//! before that runtime is dropped.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The environment variable OpenTelemetry SDKs read for the collector.
pub const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Service name reported with every span.
pub const SERVICE_NAME: &str = "enclave";

/// Crates whose spans or events could carry a job's file paths or bytes.
const QUIET: [&str; 3] = [
    "wasmtime_wasi=warn",
    "wasmtime=warn",
    "cranelift_codegen=warn",
];

/// The installed tracing set-up; keep it until the end of `main`.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Installs the global subscriber. With `otlp_endpoint`, spans are also
    /// exported there. Must be called inside a tokio runtime.
    ///
    /// Errors building the exporter are reported on stderr and leave logging
    /// on: telemetry never stops the gateway.
    pub fn init(otlp_endpoint: Option<&str>) -> Telemetry {
        let fmt_filter = quiet(
            EnvFilter::try_from_env("ENCLAVE_LOG").unwrap_or_else(|_| EnvFilter::new("warn")),
        );
        // Each request and job span logs one line when it closes, with its duration.
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE);
        let fmt = if std::env::var("ENCLAVE_LOG_FORMAT").is_ok_and(|f| f == "json") {
            fmt.json()
                .with_current_span(true)
                .with_filter(fmt_filter)
                .boxed()
        } else {
            fmt.with_filter(fmt_filter).boxed()
        };
        let provider = otlp_endpoint.and_then(|endpoint| match provider(endpoint) {
            Ok(provider) => Some(provider),
            Err(error) => {
                eprintln!("enclave: warning: OpenTelemetry export disabled: {error}");
                None
            }
        });
        let otel = provider.as_ref().map(|provider| {
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer(SERVICE_NAME))
                .with_filter(quiet(EnvFilter::new("info")))
        });
        let _ = tracing_subscriber::registry()
            .with(fmt)
            .with(otel)
            .try_init();
        Telemetry { provider }
    }

    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Flushes queued spans and stops the exporter.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown()
        {
            eprintln!("enclave: warning: OpenTelemetry flush failed: {error}");
        }
    }
}

/// The endpoint to export to: the config's, else the environment's.
pub fn endpoint(configured: Option<String>) -> Option<String> {
    configured.or_else(|| {
        std::env::var(OTLP_ENDPOINT_ENV)
            .ok()
            .filter(|value| !value.trim().is_empty())
    })
}

fn provider(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(SERVICE_NAME).build())
        .build())
}

fn quiet(mut filter: EnvFilter) -> EnvFilter {
    for directive in QUIET {
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}
