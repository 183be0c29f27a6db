//! `init` end to end: spans reach a real OTLP/gRPC receiver (a tonic server implementing the
//! collector's TraceService) with the service's resource, the parent order intact, and the
//! span counts agree; `init` refuses a second call. One test per binary: `init` is per process.

use chain_telemetry::{TelemetryConfig, TelemetryError, init};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use std::sync::{Arc, Mutex};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

/// Keeps every export request it receives.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<ExportTraceServiceRequest>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0
            .lock()
            .expect("not poisoned")
            .push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn string_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match &kv.value {
            Some(AnyValue {
                value: Some(any_value::Value::StringValue(value)),
            }) => Some(value.clone()),
            _ => None,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_receiver_with_the_service_resource() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free local port");
    let address = listener.local_addr().expect("bound");
    let receiver = Receiver::default();
    tokio::spawn(
        Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );

    let mut config = TelemetryConfig::new("chain-test-service", "9.9.9");
    config.otlp_endpoint = Some(format!("http://{address}"));
    config.log_filter = "warn".to_owned();
    let guard = init(config).expect("first init in this process");
    assert!(guard.is_exporting());
    assert!(matches!(
        init(TelemetryConfig::new("again", "0")),
        Err(TelemetryError::AlreadyInitialised)
    ));

    {
        let breakdown = tracing::info_span!("breakdown", chain.link = "billing->ledger");
        let _entered = breakdown.enter();
        tracing::info_span!("notify_customer", chain.ticket_id = "t-7").in_scope(|| {});
    }

    let counts = guard.shutdown().await.expect("clean shutdown");
    assert_eq!(counts.ended, 2, "{counts:?}");
    assert_eq!(counts.exported, 2, "{counts:?}");
    assert_eq!(counts.not_exported(), 0, "{counts:?}");

    let requests = receiver.0.lock().expect("not poisoned").clone();
    let resource_spans: Vec<_> = requests
        .iter()
        .flat_map(|request| request.resource_spans.iter())
        .collect();
    assert!(!resource_spans.is_empty(), "nothing exported");
    for resource_spans in &resource_spans {
        let resource = resource_spans.resource.as_ref().expect("a resource");
        assert_eq!(
            string_attribute(&resource.attributes, "service.name").as_deref(),
            Some("chain-test-service")
        );
        assert_eq!(
            string_attribute(&resource.attributes, "service.version").as_deref(),
            Some("9.9.9")
        );
    }
    let spans: Vec<&Span> = resource_spans
        .iter()
        .flat_map(|resource_spans| resource_spans.scope_spans.iter())
        .flat_map(|scope_spans| scope_spans.spans.iter())
        .collect();
    let named = |name: &str| {
        spans
            .iter()
            .find(|span| span.name == name)
            .unwrap_or_else(|| panic!("no span {name}"))
    };
    let breakdown = named("breakdown");
    let notify = named("notify_customer");
    assert_eq!(notify.trace_id, breakdown.trace_id);
    assert_eq!(notify.parent_span_id, breakdown.span_id);
    assert_eq!(
        string_attribute(&breakdown.attributes, "chain.link").as_deref(),
        Some("billing->ledger")
    );
    assert_eq!(
        string_attribute(&notify.attributes, "chain.ticket_id").as_deref(),
        Some("t-7")
    );
}
