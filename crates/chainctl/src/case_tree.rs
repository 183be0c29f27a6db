//! Drawing a case tree: one line per request, indented by depth with box-drawing branches,
//! showing the link (provider serving consumer), state, due and projected times and why it is
//! at risk; the critical path is marked `★` (and bold on a terminal). The root ticket, when
//! known, heads the tree with its promise and risk.

use chain_proto::customerchain::v1 as pb;

use crate::directory::Directory;
use crate::output::time::{relative_wire, span_wire};
use crate::output::{Printer, Tone, text};

/// The case as text.
pub fn draw(
    printer: &Printer,
    case: &pb::Case,
    ticket: Option<&pb::Ticket>,
    directory: &Directory,
) -> String {
    let mut lines = vec![heading(printer, case, ticket, directory)];
    let nodes = &case.nodes;
    for (index, node) in nodes.iter().enumerate() {
        lines.push(node_line(printer, nodes, index, node, case, directory));
    }
    if nodes.is_empty() {
        lines.push(printer.paint("  (no internal request serves this case yet)", Tone::Dim));
    }
    if let Some(link) = &case.critical_link {
        lines.push(format!(
            "critical link: {} (request {}): speed it up to deliver sooner",
            printer.paint(
                directory.link(&link.provider_team_id, &link.consumer_team_id),
                Tone::Strong
            ),
            link.request_id
        ));
    }
    lines.push(trace_line(printer, case));
    lines.join("\n")
}

/// The trace to open in Jaeger: the case's latest breakdown, else its latest event.
fn trace_line(printer: &Printer, case: &pb::Case) -> String {
    if !case.breakdown_trace_id.is_empty() {
        return format!(
            "breakdown trace: {} (open it in Jaeger)",
            printer.paint(&case.breakdown_trace_id, Tone::Strong)
        );
    }
    match case.nodes.iter().find(|n| !n.trace_id.is_empty()) {
        Some(node) => format!("trace of the latest event at the top: {}", node.trace_id),
        None => printer.paint(
            "trace: none recorded (the services ran untraced)",
            Tone::Dim,
        ),
    }
}

fn heading(
    printer: &Printer,
    case: &pb::Case,
    ticket: Option<&pb::Ticket>,
    directory: &Directory,
) -> String {
    let risk = if case.at_risk {
        printer.paint("at risk", Tone::Bad)
    } else {
        printer.paint("on track", Tone::Good)
    };
    let kind = if case.root_ticket_id.is_empty() {
        "request"
    } else {
        "ticket"
    };
    let mut heading = format!(
        "case {} ({kind})  {risk}  projected {}",
        printer.paint(&case.case_id, Tone::Strong),
        relative_wire(case.projected_completion.as_ref())
    );
    if let Some(ticket) = ticket {
        let (state, tone) = text::ticket_state(ticket.state());
        heading.push_str(&format!(
            "\n  ticket: {}  customer {} (tier {}, {})  front line {}",
            printer.paint(state, tone),
            ticket.customer_id,
            text::tier(ticket.tier()),
            text::money(ticket.value_at_stake.as_ref()),
            directory.name(&ticket.front_line_team_id),
        ));
        if let Some(promise) = &ticket.promise {
            heading.push_str(&format!(
                "\n  promise #{}: due {} ({})",
                promise.promise_number,
                relative_wire(promise.due_at.as_ref()),
                text::kind(promise.kind()),
            ));
        }
        if let Some(risk) = &ticket.risk {
            let root = risk.root_cause.as_ref().map_or_else(
                || "-".to_owned(),
                |l| directory.link(&l.provider_team_id, &l.consumer_team_id),
            );
            heading.push_str(&format!(
                "\n  {} root cause {root} ({}), {} late",
                printer.paint("at risk:", Tone::Bad),
                text::trigger(risk.trigger()),
                span_wire(risk.projected_delay.as_ref()),
            ));
        }
    }
    heading
}

fn node_line(
    printer: &Printer,
    nodes: &[pb::CaseNode],
    index: usize,
    node: &pb::CaseNode,
    case: &pb::Case,
    directory: &Directory,
) -> String {
    let Some(request) = &node.request else {
        return String::new();
    };
    let depth = node.depth as usize;
    let mut prefix = String::new();
    for level in 0..depth {
        prefix.push_str(if continues(nodes, index, level) {
            "│  "
        } else {
            "   "
        });
    }
    prefix.push_str(if continues(nodes, index, depth) {
        "├─ "
    } else {
        "└─ "
    });
    let critical =
        node.on_critical_path || case.critical_path_request_ids.contains(&request.request_id);
    let link = directory.link(&request.provider_team_id, &request.consumer_team_id);
    let link = if critical {
        printer.paint(format!("★ {link}"), Tone::Strong)
    } else {
        format!("  {link}")
    };
    let (state, tone) = text::request_state(request.state(), request.at_risk);
    let due = request.commitment.as_ref().map_or_else(
        || "not committed".to_owned(),
        |c| format!("due {}", relative_wire(c.due_at.as_ref())),
    );
    let mut line = format!(
        "{prefix}{link}  {}  {due}  projected {}",
        printer.paint(state, tone),
        relative_wire(request.projected_completion.as_ref()),
    );
    if let Some(risk) = &request.risk {
        line.push_str(&printer.paint(
            format!(
                "  ({}, {} late)",
                text::trigger(risk.trigger()),
                span_wire(risk.projected_delay.as_ref())
            ),
            Tone::Warn,
        ));
    }
    let outstanding = request
        .breakdowns
        .iter()
        .filter(|b| b.resolved_at.is_none())
        .count();
    if outstanding > 0 {
        line.push_str(&printer.paint(format!("  {outstanding} breakdown(s)"), Tone::Bad));
    }
    line.push_str(&printer.paint(format!("  {}", request.request_id), Tone::Dim));
    line
}

/// Whether a later node sits at `level` before the tree climbs above it: then the branch at
/// that level goes on below this line.
fn continues(nodes: &[pb::CaseNode], index: usize, level: usize) -> bool {
    for later in &nodes[index + 1..] {
        let depth = later.depth as usize;
        if depth < level {
            return false;
        }
        if depth == level {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, depth: u32, critical: bool) -> pb::CaseNode {
        pb::CaseNode {
            request: Some(pb::InternalRequest {
                request_id: id.to_owned(),
                provider_team_id: format!("p-{id}"),
                consumer_team_id: format!("c-{id}"),
                state: pb::RequestState::Committed.into(),
                ..Default::default()
            }),
            depth,
            on_critical_path: critical,
            ..Default::default()
        }
    }

    #[test]
    fn branches_follow_the_depths() {
        let case = pb::Case {
            case_id: "case".into(),
            nodes: vec![
                node("a", 0, true),
                node("b", 1, false),
                node("c", 1, true),
                node("d", 2, true),
            ],
            ..Default::default()
        };
        let printer = Printer {
            format: crate::output::Format::Human,
            colour: false,
        };
        let drawn = draw(&printer, &case, None, &Directory::default());
        let lines: Vec<&str> = drawn.lines().collect();
        assert!(lines[1].starts_with("└─ ★ p-a → c-a  committed"), "{drawn}");
        assert!(lines[2].starts_with("   ├─   p-b → c-b"), "{drawn}");
        assert!(lines[3].starts_with("   └─ ★ p-c → c-c"), "{drawn}");
        assert!(lines[4].starts_with("      └─ ★ p-d → c-d"), "{drawn}");
    }
}
