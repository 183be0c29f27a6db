//! An OTLP/gRPC trace receiver in this process, standing in for Jaeger or a collector: a tonic
//! server implementing the collector's `TraceService` that keeps every span it is sent, and
//! [`ExportedSpan`], one of those spans with the `service.name` of the resource that sent it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

/// The resource attribute naming the service that sent a span.
const SERVICE_NAME: &str = "service.name";

/// A running receiver on a loopback port; it stops when dropped.
#[derive(Debug)]
pub struct TraceReceiver {
    spans: Received,
    address: SocketAddr,
    server: JoinHandle<()>,
}

/// The spans received so far, shared with the gRPC service.
#[derive(Clone, Debug, Default)]
struct Received(Arc<Mutex<Vec<ExportedSpan>>>);

impl Received {
    fn push(&self, request: ExportTraceServiceRequest) {
        let mut spans = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for resource_spans in request.resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|resource| string_value(&resource.attributes, SERVICE_NAME))
                .unwrap_or_default();
            let received = resource_spans
                .scope_spans
                .into_iter()
                .flat_map(|scope_spans| scope_spans.spans)
                .map(|span| ExportedSpan {
                    service: service.clone(),
                    span,
                });
            spans.extend(received);
        }
    }

    fn snapshot(&self) -> Vec<ExportedSpan> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl TraceReceiver {
    /// Starts a receiver on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let spans = Received::default();
        let service = TraceServiceServer::new(spans.clone());
        let server = tokio::spawn(async move {
            // It only ends when aborted (or when the listener fails, leaving nothing to serve).
            let _ = Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpIncoming::from(listener))
                .await;
        });
        Ok(Self {
            spans,
            address,
            server,
        })
    }

    /// The endpoint to give the exporter (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every span received so far, in the order received.
    pub fn spans(&self) -> Vec<ExportedSpan> {
        self.spans.snapshot()
    }
}

impl Drop for TraceReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// One received span and the `service.name` of the resource it came with.
#[derive(Clone, Debug)]
pub struct ExportedSpan {
    /// The `service.name` resource attribute (empty when the exporter sent none).
    pub service: String,
    /// The span as sent.
    pub span: Span,
}

impl ExportedSpan {
    /// The span's name (for our spans, the `otel.name` Jaeger shows).
    pub fn name(&self) -> &str {
        &self.span.name
    }

    /// The attribute `key` as text (strings as they are, numbers and booleans printed).
    pub fn attribute(&self, key: &str) -> Option<String> {
        self.span
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .and_then(scalar_text)
    }

    /// Whether the span carries an event named `name`.
    pub fn has_event(&self, name: &str) -> bool {
        self.span.events.iter().any(|event| event.name == name)
    }

    /// Every piece of text the span holds, as a collector or Jaeger would store it: its name,
    /// status message, every attribute's key and value (nested values too), every event's name
    /// and attributes, every link's attributes. What a search for personal data must look at.
    pub fn texts(&self) -> Vec<String> {
        let span = &self.span;
        let mut texts = vec![span.name.clone()];
        if let Some(status) = &span.status {
            texts.push(status.message.clone());
        }
        collect_texts(&span.attributes, &mut texts);
        for event in &span.events {
            texts.push(event.name.clone());
            collect_texts(&event.attributes, &mut texts);
        }
        for link in &span.links {
            collect_texts(&link.attributes, &mut texts);
        }
        texts
    }
}

/// A string attribute among `attributes`.
fn string_value(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(value) => Some(value.clone()),
            _ => None,
        }
    })
}

fn scalar_text(value: &AnyValue) -> Option<String> {
    match value.value.as_ref()? {
        any_value::Value::StringValue(text) => Some(text.clone()),
        any_value::Value::IntValue(number) => Some(number.to_string()),
        any_value::Value::DoubleValue(number) => Some(number.to_string()),
        any_value::Value::BoolValue(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn collect_texts(attributes: &[KeyValue], texts: &mut Vec<String>) {
    for kv in attributes {
        texts.push(kv.key.clone());
        if let Some(value) = &kv.value {
            collect_value(value, texts);
        }
    }
}

fn collect_value(value: &AnyValue, texts: &mut Vec<String>) {
    match &value.value {
        Some(any_value::Value::ArrayValue(array)) => {
            for item in &array.values {
                collect_value(item, texts);
            }
        }
        Some(any_value::Value::KvlistValue(list)) => collect_texts(&list.values, texts),
        Some(any_value::Value::BytesValue(bytes)) => {
            texts.push(String::from_utf8_lossy(bytes).into_owned());
        }
        Some(_) => texts.extend(scalar_text(value)),
        None => {}
    }
}
