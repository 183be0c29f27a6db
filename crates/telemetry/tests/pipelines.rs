//! `pipeline`: two services' pipelines in one process, each used as the default subscriber of
//! its own code, export to the same OTLP receiver under their own `service.name`, and a trace
//! that crosses from one to the other (through a carrier, as over NATS) stays one trace.
//! Nothing global is installed.

use std::sync::{Arc, Mutex};

use chain_telemetry::propagation::{extract_from, inject_into};
use chain_telemetry::{TelemetryConfig, pipeline};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span;
use std::collections::HashMap;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Keeps every span it receives with the `service.name` it came under.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<(String, Span)>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut kept = self.0.lock().expect("not poisoned");
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|resource| resource.attributes.iter())
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    any_value::Value::StringValue(name) => Some(name.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope_spans in resource_spans.scope_spans {
                kept.extend(scope_spans.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn config(name: &str, endpoint: &str) -> TelemetryConfig {
    let mut config = TelemetryConfig::new(name, "1.0.0");
    config.otlp_endpoint = Some(endpoint.to_owned());
    config.log_filter = "off".to_owned();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pipelines_in_one_process_export_under_their_own_names() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free local port");
    let endpoint = format!("http://{}", listener.local_addr().expect("bound"));
    let receiver = Receiver::default();
    tokio::spawn(
        Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );

    let (producer, producer_guard) =
        pipeline(config("chain-producer", &endpoint), std::io::sink).expect("a pipeline");
    let (consumer, consumer_guard) =
        pipeline(config("chain-consumer", &endpoint), std::io::sink).expect("a pipeline");
    assert!(producer_guard.is_exporting() && consumer_guard.is_exporting());

    let carrier = tracing::dispatcher::with_default(&producer, || {
        let mut carrier = HashMap::<String, String>::new();
        tracing::info_span!("publish", chain.case_id = "case-1")
            .in_scope(|| inject_into(&mut carrier));
        carrier
    });
    tracing::dispatcher::with_default(&consumer, || {
        let process = tracing::info_span!("process");
        process
            .set_parent(extract_from(&carrier))
            .expect("not entered yet");
        process.in_scope(|| {});
    });
    assert!(
        tracing::dispatcher::get_default(|outside| {
            outside.is::<tracing::subscriber::NoSubscriber>()
        }),
        "no global subscriber was installed"
    );

    let produced = producer_guard.shutdown().await.expect("clean shutdown");
    let consumed = consumer_guard.shutdown().await.expect("clean shutdown");
    assert_eq!((produced.ended, produced.exported), (1, 1), "{produced:?}");
    assert_eq!((consumed.ended, consumed.exported), (1, 1), "{consumed:?}");

    let spans = receiver.0.lock().expect("not poisoned").clone();
    let find = |name: &str| {
        spans
            .iter()
            .find(|(_, span)| span.name == name)
            .unwrap_or_else(|| panic!("no span {name} in {spans:?}"))
    };
    let (publish_service, publish) = find("publish");
    let (process_service, process) = find("process");
    assert_eq!(publish_service, "chain-producer");
    assert_eq!(process_service, "chain-consumer");
    assert_eq!(process.trace_id, publish.trace_id, "one trace");
    assert_eq!(process.parent_span_id, publish.span_id, "continued");
}
