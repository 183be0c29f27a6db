//! Log lines that name the trace they belong to: wraps a `tracing-subscriber` event format
//! (text or JSON) and adds `trace_id` and `span_id` of the active OpenTelemetry span, so an
//! operator can jump from a log line to its trace in Jaeger and back.
//!
//! The ids come from the OpenTelemetry context that `tracing-opentelemetry` attaches while a
//! span is entered (its "context activation"), not from the `tracing` dispatcher: a formatter
//! runs inside the dispatcher's event call, where the dispatcher cannot be reached again.

use crate::LogFormat;
use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use std::cell::RefCell;
use std::fmt::{self, Write as _};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// An event format that appends the active span's `trace_id` and `span_id` to what `inner`
/// writes: ` trace_id=… span_id=…` at the end of a text line, two more members of a JSON object.
/// Lines written outside any sampled-or-not valid span context are left as they are.
#[derive(Debug, Clone)]
pub struct TraceIdFormat<F> {
    inner: F,
    style: LogFormat,
}

impl<F> TraceIdFormat<F> {
    /// Wraps `inner`, which must write text lines if `style` is [`LogFormat::Text`] and one JSON
    /// object per line if it is [`LogFormat::Json`].
    pub fn new(inner: F, style: LogFormat) -> Self {
        Self { inner, style }
    }
}

thread_local! {
    // Reused per thread so a log line costs no allocation once the buffer has grown.
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

impl<S, N, F> FormatEvent<S, N> for TraceIdFormat<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Some((trace_id, span_id)) = active_span_ids() else {
            return self.inner.format_event(ctx, writer, event);
        };
        LINE.with(|line| {
            // A nested event (logged while formatting) finds the buffer borrowed: give it its own.
            let mut own;
            let mut borrowed;
            let line: &mut String = match line.try_borrow_mut() {
                Ok(buffer) => {
                    borrowed = buffer;
                    &mut borrowed
                }
                Err(_) => {
                    own = String::new();
                    &mut own
                }
            };
            line.clear();
            self.inner.format_event(ctx, Writer::new(line), event)?;
            let result =
                stamp(line, self.style, trace_id, span_id).and_then(|()| writer.write_str(line));
            line.clear();
            result
        })
    }
}

/// Trace and span id of the OpenTelemetry span attached to this thread, if it is valid.
fn active_span_ids() -> Option<(TraceId, SpanId)> {
    opentelemetry::Context::map_current(|cx| {
        let span = cx.span();
        let context = span.span_context();
        context
            .is_valid()
            .then(|| (context.trace_id(), context.span_id()))
    })
}

/// Adds the ids to one formatted line: before the newline of a text line, before the closing
/// brace of a JSON object. A line of any other shape is left alone.
fn stamp(line: &mut String, style: LogFormat, trace_id: TraceId, span_id: SpanId) -> fmt::Result {
    let body_end = line.trim_end_matches(['\n', '\r']).len();
    let ending = line.split_off(body_end);
    match style {
        LogFormat::Text => write!(line, " trace_id={trace_id} span_id={span_id}")?,
        LogFormat::Json => {
            if line.ends_with('}') {
                line.pop();
                let separator = if line.ends_with('{') { "" } else { "," };
                write!(
                    line,
                    r#"{separator}"trace_id":"{trace_id}","span_id":"{span_id}"}}"#
                )?;
            }
        }
    }
    line.push_str(&ending);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    fn ids() -> (TraceId, SpanId) {
        (
            TraceId::from_hex(TRACE).expect("valid trace id"),
            SpanId::from_hex(SPAN).expect("valid span id"),
        )
    }

    #[test]
    fn text_lines_get_the_ids_before_the_newline() {
        let (trace_id, span_id) = ids();
        let mut line = "2026-01-01T00:00:00Z  INFO chain: opened request\n".to_owned();
        stamp(&mut line, LogFormat::Text, trace_id, span_id).expect("stamps");
        assert_eq!(
            line,
            format!(
                "2026-01-01T00:00:00Z  INFO chain: opened request trace_id={TRACE} span_id={SPAN}\n"
            )
        );
    }

    #[test]
    fn json_objects_get_two_more_members() {
        let (trace_id, span_id) = ids();
        let mut line = r#"{"level":"INFO","fields":{"message":"hi"}}"#.to_owned() + "\n";
        stamp(&mut line, LogFormat::Json, trace_id, span_id).expect("stamps");
        assert_eq!(
            line,
            format!(
                r#"{{"level":"INFO","fields":{{"message":"hi"}},"trace_id":"{TRACE}","span_id":"{SPAN}"}}"#
            ) + "\n"
        );

        let mut empty = "{}\n".to_owned();
        stamp(&mut empty, LogFormat::Json, trace_id, span_id).expect("stamps");
        assert_eq!(
            empty,
            format!(r#"{{"trace_id":"{TRACE}","span_id":"{SPAN}"}}"#) + "\n"
        );
    }

    #[test]
    fn a_line_that_is_not_an_object_is_left_alone_in_json_mode() {
        let (trace_id, span_id) = ids();
        let mut line = "not json\n".to_owned();
        stamp(&mut line, LogFormat::Json, trace_id, span_id).expect("stamps");
        assert_eq!(line, "not json\n");
    }
}
