//! W3C trace context across gRPC calls: a tonic client interceptor that sends the caller's
//! context in the request metadata, and the server-side span that continues it.
//!
//! ```text
//! // server
//! Server::builder().trace_fn(chain_telemetry::grpc::server_span).add_service(..)
//! // client
//! let mut client = RequestsClient::with_interceptor(channel, TraceContextInterceptor);
//! client.open_request(request).instrument(client_span("chain.v1.Requests", "OpenRequest")).await
//! ```

use crate::attributes::chain_span;
use crate::propagation::{extract_from, inject_into};
use opentelemetry::propagation::{Extractor, Injector};
use tonic::metadata::{KeyRef, MetadataKey, MetadataMap, MetadataValue};
use tonic::service::Interceptor;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// A tonic client interceptor that writes the current span's trace context and baggage into
/// each request's metadata. Use it with `SomeClient::with_interceptor(channel, ..)`; run the
/// call inside a client span (see [`client_span`]) so the server's span is that span's child.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceContextInterceptor;

impl Interceptor for TraceContextInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        inject_into_metadata(request.metadata_mut());
        Ok(request)
    }
}

/// Writes the current span's trace context and baggage into `metadata`, for interceptors that
/// do more than this one.
pub fn inject_into_metadata(metadata: &mut MetadataMap) {
    inject_into(&mut MetadataInjector(metadata));
}

/// The span of one incoming gRPC request, continuing the caller's trace: pass this function to
/// `tonic::transport::Server::builder().trace_fn(..)`. tonic runs the handler inside the span.
///
/// Fields: `rpc.system = "grpc"`, `rpc.service`, `rpc.method`, `otel.kind = "server"`,
/// `otel.name = "{service}/{method}"` (the name Jaeger shows), an empty
/// `rpc.grpc.status_code` for a layer that knows the outcome to record, and the empty chain
/// attributes of [`crate::attributes`] (`chain.team`, `chain.link`, `chain.request_id`,
/// `chain.ticket_id`, `chain.case_id`, `chain.customer_tier`) for the handler to fill in with
/// `tracing::Span::current().record("chain.request_id", ..)`: `tracing` records only the fields
/// a span declared when it was created.
pub fn server_span(request: &http::Request<()>) -> tracing::Span {
    let (service, method) = rpc_service_and_method(request.uri().path());
    let span = chain_span!(
        "grpc.request",
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = tracing::field::Empty,
        otel.kind = "server",
        otel.name = format!("{service}/{method}"),
    );
    // The span was just created and not entered, so this cannot fail for being too late; it
    // fails only when the span is disabled or no OpenTelemetry layer is installed, and then
    // there is no trace to continue.
    let _ = span.set_parent(extract_from(&HttpHeaderExtractor(request.headers())));
    span
}

/// The span of one outgoing gRPC call; instrument the call's future with it so that
/// [`TraceContextInterceptor`] sends this span as the server's parent.
pub fn client_span(rpc_service: &str, rpc_method: &str) -> tracing::Span {
    tracing::info_span!(
        "grpc.call",
        rpc.system = "grpc",
        rpc.service = rpc_service,
        rpc.method = rpc_method,
        rpc.grpc.status_code = tracing::field::Empty,
        otel.kind = "client",
        otel.name = format!("{rpc_service}/{rpc_method}"),
    )
}

/// Splits a gRPC path `/package.Service/Method` into service and method; anything else is
/// reported whole as the method of service `unknown`.
pub fn rpc_service_and_method(path: &str) -> (&str, &str) {
    path.strip_prefix('/')
        .and_then(|rest| rest.split_once('/'))
        .filter(|(service, method)| {
            !service.is_empty() && !method.is_empty() && !method.contains('/')
        })
        .unwrap_or(("unknown", path))
}

/// Writes trace context into tonic request metadata. Keys or values gRPC would reject are
/// skipped (the W3C propagators never produce one).
#[derive(Debug)]
pub struct MetadataInjector<'a>(pub &'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// Reads trace context from tonic request metadata (`request.metadata()` in a handler).
#[derive(Debug, Clone, Copy)]
pub struct MetadataExtractor<'a>(pub &'a MetadataMap);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|key| match key {
                KeyRef::Ascii(key) => Some(key.as_str()),
                KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

/// Reads trace context from HTTP/2 request headers (what [`server_span`] sees).
#[derive(Debug, Clone, Copy)]
pub struct HttpHeaderExtractor<'a>(pub &'a http::HeaderMap);

impl Extractor for HttpHeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_grpc_paths() {
        assert_eq!(
            rpc_service_and_method("/chain.v1.Requests/OpenRequest"),
            ("chain.v1.Requests", "OpenRequest")
        );
        assert_eq!(rpc_service_and_method("/health"), ("unknown", "/health"));
        assert_eq!(rpc_service_and_method("/a/b/c"), ("unknown", "/a/b/c"));
        assert_eq!(rpc_service_and_method("//Method"), ("unknown", "//Method"));
    }

    #[test]
    fn metadata_round_trip_skips_invalid_entries() {
        let mut metadata = MetadataMap::new();
        let mut injector = MetadataInjector(&mut metadata);
        injector.set(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
        );
        injector.set("bad key", "x".to_owned());
        injector.set("baggage", "a=1\n".to_owned());
        let extractor = MetadataExtractor(&metadata);
        assert_eq!(
            extractor.get("traceparent"),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        assert_eq!(extractor.keys(), ["traceparent"]);
    }
}
