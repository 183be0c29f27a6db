//! Trace context survives every hop the chain uses: a plain map, NATS headers, a stored event's
//! `TraceContext`, a gRPC call; baggage rides along. Spans go to the SDK's in-memory exporter
//! through the same `trace_layer` the services use.

use chain_telemetry::grpc::{TraceContextInterceptor, client_span, server_span};
use chain_telemetry::propagation::{
    CaseBaggage, NatsHeaderInjector, extract_from, extract_from_nats, inject_into,
    inject_into_nats, set_case_baggage,
};
use chain_telemetry::{TraceContext, trace_layer};
use opentelemetry::trace::{SpanKind, TraceContextExt as _};
use opentelemetry::{Key, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use std::collections::HashMap;
use tonic::service::Interceptor as _;
use tracing::info_span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// Runs `f` under a subscriber that traces into memory, and returns the finished spans.
fn traced(f: impl FnOnce()) -> Vec<SpanData> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry().with(trace_layer(&provider));
    tracing::subscriber::with_default(subscriber, f);
    provider
        .force_flush()
        .expect("in-memory export cannot fail");
    exporter
        .get_finished_spans()
        .expect("in-memory exporter is readable")
}

fn span<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|span| span.name == name)
        .unwrap_or_else(|| panic!("no span named {name} in {spans:#?}"))
}

/// `child` continues `parent`'s trace as its direct, remote child.
fn assert_remote_child(child: &SpanData, parent: &SpanData) {
    assert_eq!(
        child.span_context.trace_id(),
        parent.span_context.trace_id(),
        "same trace"
    );
    assert_eq!(
        child.parent_span_id,
        parent.span_context.span_id(),
        "parent span id"
    );
    assert!(
        child.parent_span_is_remote,
        "the parent came from a carrier"
    );
}

#[test]
fn a_map_carries_the_trace_from_one_span_to_another() {
    let spans = traced(|| {
        let mut carrier = HashMap::<String, String>::new();
        info_span!("producer").in_scope(|| inject_into(&mut carrier));
        assert!(carrier.contains_key("traceparent"), "{carrier:?}");

        // A root span, as a consumer would create for a message: only the carrier links them.
        let consumer = info_span!(parent: None, "consumer");
        consumer
            .set_parent(extract_from(&carrier))
            .expect("the span is not entered yet");
        consumer.in_scope(|| {});
    });
    assert_remote_child(span(&spans, "consumer"), span(&spans, "producer"));
}

#[test]
fn nats_headers_carry_the_trace_and_the_case_baggage() {
    let mut seen = CaseBaggage::default();
    let spans = traced(|| {
        let mut headers = async_nats::HeaderMap::new();
        let publish = info_span!("publish");
        set_case_baggage(&publish, "case-42", "gold").expect("set before entering");
        publish.in_scope(|| inject_into_nats(&mut headers));
        let baggage = headers.get("baggage").map(|v| v.as_str().to_owned());
        assert!(
            baggage
                .as_deref()
                .is_some_and(|b| b.contains("chain.case_id=case-42")),
            "{baggage:?}"
        );

        let process = info_span!(parent: None, "process");
        process
            .set_parent(extract_from_nats(&headers))
            .expect("the span is not entered yet");
        // Baggage reaches spans below the consumer's span too.
        seen = process.in_scope(|| info_span!("apply").in_scope(CaseBaggage::current));
    });
    assert_remote_child(span(&spans, "process"), span(&spans, "publish"));
    assert_eq!(
        seen,
        CaseBaggage {
            case_id: Some("case-42".to_owned()),
            customer_tier: Some("gold".to_owned()),
        }
    );
}

#[test]
fn a_stored_trace_context_is_continued_by_the_consumer_of_the_relayed_message() {
    let spans = traced(|| {
        // The service stores the context with the event...
        let stored = info_span!("append")
            .in_scope(TraceContext::current)
            .expect("inside a traced span");
        // ...the relay reads it back much later and writes it into the message headers...
        let row = TraceContext::new(stored.traceparent.clone(), stored.tracestate.clone());
        let mut headers = async_nats::HeaderMap::new();
        row.write_into(&mut NatsHeaderInjector(&mut headers));
        // ...and the consumer continues it.
        let consume = info_span!(parent: None, "consume");
        consume
            .set_parent(extract_from_nats(&headers))
            .expect("the span is not entered yet");
        consume.in_scope(|| {});
    });
    assert_remote_child(span(&spans, "consume"), span(&spans, "append"));
}

#[test]
fn a_batch_span_links_to_every_message_trace() {
    let spans = traced(|| {
        let first = info_span!("first").in_scope(TraceContext::current);
        let second = info_span!("second").in_scope(TraceContext::current);
        let batch = info_span!(parent: None, "batch");
        for stored in [first, second].into_iter().flatten() {
            batch.add_link(stored.context().span().span_context().clone());
        }
        batch.in_scope(|| {});
    });
    let batch = span(&spans, "batch");
    let ids = |context: &opentelemetry::trace::SpanContext| (context.trace_id(), context.span_id());
    let linked: Vec<_> = batch
        .links
        .iter()
        .map(|link| ids(&link.span_context))
        .collect();
    assert_eq!(
        linked,
        [
            ids(&span(&spans, "first").span_context),
            ids(&span(&spans, "second").span_context),
        ]
    );
    assert_ne!(
        batch.span_context.trace_id(),
        span(&spans, "first").span_context.trace_id(),
        "a batch starts its own trace"
    );
}

#[test]
fn trace_context_is_none_without_a_tracer_or_outside_a_span() {
    let untraced = tracing_subscriber::registry();
    tracing::subscriber::with_default(untraced, || {
        assert_eq!(
            info_span!("no tracer").in_scope(TraceContext::current),
            None
        );
    });
    traced(|| assert_eq!(TraceContext::current(), None));
}

#[test]
fn trace_context_names_the_current_span_and_round_trips() {
    let mut stored = None;
    let spans = traced(|| {
        stored = info_span!("work").in_scope(TraceContext::current);
    });
    let stored = stored.expect("inside a traced span");
    let work = span(&spans, "work");
    assert_eq!(
        stored.traceparent,
        format!(
            "00-{}-{}-01",
            work.span_context.trace_id(),
            work.span_context.span_id()
        )
    );
    assert_eq!(stored.tracestate, "");

    let context = stored.context();
    let restored = context.span().span_context().clone();
    assert!(restored.is_valid() && restored.is_remote() && restored.is_sampled());
    assert_eq!(restored.trace_id(), work.span_context.trace_id());
    assert_eq!(restored.span_id(), work.span_context.span_id());
    assert_eq!(TraceContext::of(&context), Some(stored));

    // Baggage round-trips with it.
    let with_case = chain_telemetry::propagation::with_case_baggage(&context, "case-3", "A");
    let carried = TraceContext::of(&with_case).expect("valid");
    assert!(
        carried.baggage.contains("chain.case_id=case-3"),
        "{carried:?}"
    );
    assert_eq!(
        chain_telemetry::propagation::CaseBaggage::of(&carried.context()),
        chain_telemetry::propagation::CaseBaggage {
            case_id: Some("case-3".into()),
            customer_tier: Some("A".into()),
        }
    );

    let garbage = TraceContext::new("not-a-traceparent", "");
    assert!(!garbage.context().span().span_context().is_valid());
    assert_eq!(TraceContext::of(&garbage.context()), None);
}

#[test]
fn a_grpc_call_continues_the_callers_trace_on_the_server() {
    let spans = traced(|| {
        let request = client_span("chain.v1.Requests", "OpenRequest").in_scope(|| {
            TraceContextInterceptor
                .call(tonic::Request::new(()))
                .expect("the interceptor never rejects")
        });
        assert!(request.metadata().get("traceparent").is_some());

        // What the server's trace_fn sees: the HTTP/2 request with the metadata as headers.
        let mut http_request = http::Request::new(());
        *http_request.uri_mut() = http::Uri::from_static("/chain.v1.Requests/OpenRequest");
        *http_request.headers_mut() = request.metadata().clone().into_headers();
        server_span(&http_request).in_scope(|| {});
    });
    let client = span(&spans, "chain.v1.Requests/OpenRequest");
    let server = spans
        .iter()
        .find(|span| span.span_kind == SpanKind::Server)
        .expect("a server span");
    assert_eq!(client.span_kind, SpanKind::Client);
    assert_eq!(server.name, "chain.v1.Requests/OpenRequest");
    assert_remote_child(server, client);
    let attribute = |key: &str| {
        server
            .attributes
            .iter()
            .find(|kv| kv.key == Key::new(key.to_owned()))
            .map(|kv| kv.value.clone())
    };
    assert_eq!(attribute("rpc.system"), Some(Value::from("grpc")));
    assert_eq!(
        attribute("rpc.service"),
        Some(Value::from("chain.v1.Requests"))
    );
    assert_eq!(attribute("rpc.method"), Some(Value::from("OpenRequest")));
}

#[test]
fn a_server_span_without_incoming_context_starts_a_new_trace() {
    let spans = traced(|| {
        let mut http_request = http::Request::new(());
        *http_request.uri_mut() = http::Uri::from_static("/chain.v1.Tickets/Get");
        server_span(&http_request).in_scope(|| {});
    });
    let server = span(&spans, "chain.v1.Tickets/Get");
    assert!(server.span_context.is_valid());
    assert_eq!(server.parent_span_id, opentelemetry::trace::SpanId::INVALID);
}

#[test]
fn inside_a_span_the_trace_filter_left_out_the_enclosing_traced_span_is_current() {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::LevelFilter;

    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    // Logs see debug spans, traces do not: the split `init` makes with RUST_LOG=debug.
    let subscriber = tracing_subscriber::registry()
        .with(trace_layer(&provider).with_filter(LevelFilter::INFO))
        .with(
            chain_telemetry::log_layer(chain_telemetry::LogFormat::Text, std::io::sink)
                .with_filter(LevelFilter::DEBUG),
        );
    let (outer, inner) = tracing::subscriber::with_default(subscriber, || {
        info_span!("outer").in_scope(|| {
            let outer = TraceContext::current();
            let inner = tracing::debug_span!("inner").in_scope(TraceContext::current);
            (outer, inner)
        })
    });
    assert!(outer.is_some());
    assert_eq!(inner, outer);
}

#[test]
fn messaging_spans_chain_stored_event_publish_and_process() {
    use chain_telemetry::messaging::{link_messages, process_span, publish_span};

    let spans = traced(|| {
        // Stored with the tier the ticket's reaction knew; the relay adds the case.
        let stored = info_span!("append")
            .in_scope(TraceContext::current)
            .map(|trace| trace.with_baggage("chain.customer_tier=B"));
        let mut headers = async_nats::HeaderMap::new();
        publish_span("chain.events.link", "ev-1", stored.as_ref(), "case-9")
            .in_scope(|| inject_into_nats(&mut headers));
        assert!(
            publish_span("chain.events.link", "ev-2", None, "case-9").is_none(),
            "an event stored without a trace starts none"
        );
        process_span("chain.events.link", "ev-1", "impact", Some(&headers)).in_scope(|| {});

        let batch = info_span!(parent: None, "score batch");
        link_messages(&batch, [&headers, &async_nats::HeaderMap::new()]);
        batch.in_scope(|| {});
    });
    let append = span(&spans, "append");
    let publish = span(&spans, "publish chain.events.link");
    let process = span(&spans, "process chain.events.link");
    assert_remote_child(publish, append);
    assert_remote_child(process, publish);
    assert_eq!(publish.span_kind, SpanKind::Producer);
    assert_eq!(process.span_kind, SpanKind::Consumer);
    assert!(process.attributes.iter().any(|kv| {
        kv.key.as_str() == "messaging.consumer.group.name" && kv.value == Value::from("impact")
    }));
    // The publisher's case baggage names the consumer's span.
    assert!(
        process
            .attributes
            .iter()
            .any(|kv| { kv.key.as_str() == "chain.case_id" && kv.value == Value::from("case-9") })
    );
    assert!(
        process
            .attributes
            .iter()
            .any(|kv| { kv.key.as_str() == "chain.customer_tier" && kv.value == Value::from("B") })
    );
    let batch = span(&spans, "score batch");
    assert_eq!(
        batch.links.len(),
        1,
        "only the message with a context is linked"
    );
    assert_eq!(
        batch
            .links
            .iter()
            .next()
            .map(|link| link.span_context.span_id()),
        Some(publish.span_context.span_id())
    );
}
