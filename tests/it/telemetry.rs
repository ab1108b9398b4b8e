//! Issue 7: operators get tracing spans over OpenTelemetry. A real OTLP/gRPC
//! trace collector (the `TraceService` of `opentelemetry-proto`, on tonic)
//! listens on loopback; a real `enclave serve` exports to it while a job is
//! submitted over SSH and runs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};

use crate::support::{Server, Stdin};

/// One received span: its name and attributes as text, and its resource's.
#[derive(Clone, Debug)]
struct Received {
    name: String,
    attributes: BTreeMap<String, String>,
    resource: BTreeMap<String, String>,
}

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().expect("collector lock");
        for resource_spans in request.into_inner().resource_spans {
            let resource = resource_spans
                .resource
                .map(|r| flatten(&r.attributes))
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push(Received {
                        name: span.name,
                        attributes: flatten(&span.attributes),
                        resource: resource.clone(),
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn flatten(attributes: &[KeyValue]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|kv| (kv.key.clone(), value_text(kv.value.as_ref())))
        .collect()
}

fn value_text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => hex::encode(b),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

/// Starts the collector on a free loopback port; returns its runtime (keep it), port and spans.
fn start_collector() -> (tokio::runtime::Runtime, u16, Collector) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let collector = Collector::default();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind collector");
    let port = listener.local_addr().expect("address").port();
    let service = TraceServiceServer::new(collector.clone());
    runtime.spawn(async move {
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming)
            .await;
    });
    (runtime, port, collector)
}

#[test]
fn a_jobs_spans_reach_an_otlp_collector_without_payloads() {
    let (_runtime, port, collector) = start_collector();
    let mut server = Server::setup_only();
    let config = server.path().join("enclave.toml");
    let original = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        format!("{original}\n[telemetry]\notlp_endpoint = \"http://127.0.0.1:{port}\"\n"),
    )
    .expect("config");
    server.serve();

    let module_path = server.job_module("count_by_age.wasm");
    let id = server.submit(Stdin::File(&module_path), &[]);
    let status = server.wait_finished(&id);
    assert_eq!(status["state"], "succeeded", "{status}");

    // The batch exporter sends every few seconds: poll, bounded by count.
    let mut spans = Vec::new();
    for _ in 0..120 {
        spans = collector.spans.lock().expect("lock").clone();
        let run = spans
            .iter()
            .any(|s| s.name == "job.run" && s.attributes.get("job_id") == Some(&id));
        let submit = spans.iter().any(|s| {
            s.name == "ssh.command"
                && s.attributes.get("command").map(String::as_str) == Some("submit")
        });
        if run && submit {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();

    let run = spans
        .iter()
        .find(|s| s.name == "job.run" && s.attributes.get("job_id") == Some(&id))
        .unwrap_or_else(|| panic!("no job.run span for {id}; got {names:?}"));
    assert_eq!(
        run.attributes.get("project").map(String::as_str),
        Some("diabetes-study"),
        "{run:?}"
    );
    assert_eq!(
        run.attributes.get("outcome").map(String::as_str),
        Some("succeeded"),
        "{run:?}"
    );
    assert_eq!(
        run.resource.get("service.name").map(String::as_str),
        Some("enclave")
    );

    let submit = spans
        .iter()
        .find(|s| {
            s.name == "ssh.command"
                && s.attributes.get("command").map(String::as_str) == Some("submit")
        })
        .unwrap_or_else(|| panic!("no ssh.command submit span; got {names:?}"));
    assert_eq!(
        submit.attributes.get("user").map(String::as_str),
        Some("alice"),
        "{submit:?}"
    );
    assert_eq!(
        submit.attributes.get("door").map(String::as_str),
        Some("ssh")
    );
    assert!(
        submit
            .attributes
            .get("request_id")
            .is_some_and(|r| r.starts_with("r-")),
        "{submit:?}"
    );

    // No payloads, module bytes, keys or data in any span.
    let module = std::fs::read(&module_path).expect("module");
    let module_hex = hex::encode(&module[..module.len().min(64)]);
    let private_key = std::fs::read_to_string(server.key("alice")).expect("key");
    let key_line = private_key.lines().nth(1).expect("key body");
    for span in &spans {
        for (key, value) in &span.attributes {
            assert!(
                value.len() < 512,
                "long attribute {key} in {}: {value}",
                span.name
            );
            assert!(
                !value.contains(&module_hex),
                "module bytes in {}",
                span.name
            );
            assert!(!value.contains(key_line), "private key in {}", span.name);
            assert!(
                !value.contains("PRIVATE KEY"),
                "key material in {}",
                span.name
            );
            assert!(
                !value.contains("person_id"),
                "dataset content in {}",
                span.name
            );
        }
    }
}
