//! Carrying W3C trace context (and baggage) through things that are not a live HTTP call: an
//! event row that remembers the context it was created under, NATS message headers, any
//! key-value carrier.
//!
//! The helpers here use a fixed propagator (W3C `traceparent`/`tracestate` plus `baggage`), not
//! the global one, so they behave the same whether or not [`crate::init`] ran.

mod baggage;
mod nats;

pub use baggage::{CaseBaggage, set_case_baggage, with_case_baggage, with_case_id};
pub use nats::{
    NatsHeaderExtractor, NatsHeaderInjector, extract_from_nats, inject_into_nats,
    span_context_from_nats,
};

use opentelemetry::Context;
use opentelemetry::propagation::{
    Extractor, Injector, TextMapCompositePropagator, TextMapPropagator,
};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use std::sync::LazyLock;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Header (and carrier key) of the W3C trace parent.
pub const TRACEPARENT: &str = "traceparent";
/// Header (and carrier key) of the W3C trace state.
pub const TRACESTATE: &str = "tracestate";
/// Header (and carrier key) of the W3C baggage.
pub const BAGGAGE: &str = "baggage";

static PROPAGATOR: LazyLock<TextMapCompositePropagator> = LazyLock::new(propagator);

/// A new W3C trace context + baggage propagator; [`crate::init`] installs one globally.
pub fn propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ])
}

/// The OpenTelemetry context of the current `tracing` span (its trace, span and baggage). Empty
/// when no span is entered or no OpenTelemetry layer is installed.
///
/// When the current span is one the trace filter left out (a `debug` span under
/// `OTEL_TRACES_FILTER=info`), this is the context of the nearest traced span around it, which
/// the OpenTelemetry layer attached when that span was entered.
pub fn current_context() -> Context {
    let of_span = tracing::Span::current().context();
    if of_span.span().span_context().is_valid() {
        of_span
    } else {
        Context::current()
    }
}

/// Writes the current span's trace context and baggage into `carrier`.
pub fn inject_into(carrier: &mut impl Injector) {
    inject_context_into(&current_context(), carrier);
}

/// Writes `context`'s trace context and baggage into `carrier`.
pub fn inject_context_into(context: &Context, carrier: &mut impl Injector) {
    PROPAGATOR.inject_context(context, carrier);
}

/// Reads a trace context and baggage from `carrier`. Make a span continue it with
/// `span.set_parent(context)` *before* the span is first entered, or add it as a link
/// (`span.add_link(context.span().span_context().clone())`) when one span handles a batch.
pub fn extract_from(carrier: &impl Extractor) -> Context {
    PROPAGATOR.extract(carrier)
}

/// The W3C trace context an event was created under, as the three header values, so it can be
/// stored with the event and written into the message headers much later by the relay.
///
/// `baggage` is the W3C baggage of that context: the case id and the customer's tier
/// ([`with_case_baggage`]), never personal data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TraceContext {
    /// The `traceparent` value: `00-{trace id}-{parent span id}-{flags}`.
    pub traceparent: String,
    /// The `tracestate` value; often empty.
    pub tracestate: String,
    /// The `baggage` value; empty when the context carries none.
    pub baggage: String,
}

impl TraceContext {
    /// A stored context, as read back from the event store.
    pub fn new(traceparent: impl Into<String>, tracestate: impl Into<String>) -> Self {
        Self {
            traceparent: traceparent.into(),
            tracestate: tracestate.into(),
            baggage: String::new(),
        }
    }

    /// This context with `baggage` (a W3C `baggage` header value) as its baggage.
    #[must_use]
    pub fn with_baggage(mut self, baggage: impl Into<String>) -> Self {
        self.baggage = baggage.into();
        self
    }

    /// The trace context (and baggage) of the current `tracing` span; `None` outside a span or
    /// when no OpenTelemetry layer is installed.
    pub fn current() -> Option<Self> {
        Self::of(&current_context())
    }

    /// The trace context (and baggage) of `context`; `None` if it has no valid span context.
    pub fn of(context: &Context) -> Option<Self> {
        if !context.span().span_context().is_valid() {
            return None;
        }
        let mut trace_context = Self::default();
        PROPAGATOR.inject_context(context, &mut trace_context);
        (!trace_context.traceparent.is_empty()).then_some(trace_context)
    }

    /// The OpenTelemetry context this stands for, with its baggage: a remote parent to continue
    /// or link to. Its span context is invalid if `traceparent` does not parse.
    pub fn context(&self) -> Context {
        PROPAGATOR.extract(self)
    }

    /// Writes `traceparent` (and `tracestate` and `baggage` if not empty) into `carrier`, for
    /// example the NATS headers of the message that carries the event.
    pub fn write_into(&self, carrier: &mut impl Injector) {
        carrier.set(TRACEPARENT, self.traceparent.clone());
        for (key, value) in [(TRACESTATE, &self.tracestate), (BAGGAGE, &self.baggage)] {
            if !value.is_empty() {
                carrier.set(key, value.clone());
            }
        }
    }
}

impl Injector for TraceContext {
    fn set(&mut self, key: &str, value: String) {
        if key.eq_ignore_ascii_case(TRACEPARENT) {
            self.traceparent = value;
        } else if key.eq_ignore_ascii_case(TRACESTATE) {
            self.tracestate = value;
        } else if key.eq_ignore_ascii_case(BAGGAGE) {
            self.baggage = value;
        }
    }
}

impl Extractor for TraceContext {
    fn get(&self, key: &str) -> Option<&str> {
        let value = if key.eq_ignore_ascii_case(TRACEPARENT) {
            &self.traceparent
        } else if key.eq_ignore_ascii_case(TRACESTATE) {
            &self.tracestate
        } else if key.eq_ignore_ascii_case(BAGGAGE) {
            &self.baggage
        } else {
            return None;
        };
        (!value.is_empty()).then_some(value.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        [TRACEPARENT, TRACESTATE, BAGGAGE]
            .into_iter()
            .filter(|key| self.get(key).is_some())
            .collect()
    }
}
