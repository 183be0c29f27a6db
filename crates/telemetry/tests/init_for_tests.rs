//! `init_for_tests` may be called by every test, and gives spans W3C contexts.

use chain_telemetry::{TelemetryConfig, TelemetryError, TraceContext, init, init_for_tests};

#[test]
fn can_be_called_repeatedly_and_traces_spans() {
    init_for_tests();
    init_for_tests();
    let context = tracing::info_span!("test span").in_scope(TraceContext::current);
    let traceparent = context.expect("spans are traced").traceparent;
    assert!(
        traceparent.starts_with("00-") && traceparent.len() == 55,
        "{traceparent}"
    );
    assert!(matches!(
        init(TelemetryConfig::new("late", "0")),
        Err(TelemetryError::AlreadyInitialised)
    ));
}
