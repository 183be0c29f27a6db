//! One line per event of a Watch or ReadEvents stream: when, which service, what happened, to
//! which stream, in which case, who acted, and the trace it belongs to.

use chain_proto::customerchain::v1 as pb;

use crate::client::Service;
use crate::directory::Directory;
use crate::output::time::from_wire;
use crate::output::{Printer, Tone, text};

/// The event as one line.
pub fn line(
    printer: &Printer,
    service: Service,
    event: &pb::EventEnvelope,
    directory: &Directory,
) -> String {
    let at = from_wire(event.occurred_at.as_ref()).map_or_else(
        || "-".to_owned(),
        |at| at.format("%H:%M:%S%.3f").to_string(),
    );
    let kind = text::short_type(&event.event_type);
    let tone = if kind.contains("AtRisk") || kind.contains("Breakdown") || kind.contains("Revised")
    {
        Tone::Warn
    } else if kind.contains("Breached") || kind.contains("Broken") {
        Tone::Bad
    } else {
        Tone::Strong
    };
    let trace = event.traceparent.split('-').nth(1).unwrap_or("-");
    format!(
        "{at}  {service:<12}  {}  {} {} v{}  case {}  by {}  {}",
        printer.paint(format!("{kind:<26}"), tone),
        event.aggregate_type,
        event.aggregate_id,
        event.aggregate_version,
        event.correlation_id,
        directory.name(&event.actor),
        printer.paint(format!("trace {trace}  at {}", event.position), Tone::Dim),
    )
}
