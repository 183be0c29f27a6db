//! Views of teams, links and internal requests.

use chain_proto::customerchain::v1 as pb;

use crate::directory::Directory;
use crate::output::table::{Cell, Table};
use crate::output::time::{absolute_wire, relative_wire, span_wire};
use crate::output::{Printer, Tone, text};
use crate::views::block;

/// One team.
pub fn team(printer: &Printer, team: &pb::Team) -> String {
    block(
        format!("team {}", printer.paint(&team.name, Tone::Strong)),
        &[
            ("id", team.team_id.clone()),
            ("front line", yes_no(team.front_line)),
            ("created", absolute_wire(team.created_at.as_ref())),
            ("version", team.version.to_string()),
        ],
    )
}

/// Teams as a table.
pub fn teams(printer: &Printer, teams: &[pb::Team]) -> String {
    let mut table = Table::new(&["NAME", "FRONT LINE", "CREATED", "ID"]);
    for team in teams {
        table.row(vec![
            team.name.clone().into(),
            yes_no(team.front_line).into(),
            relative_wire(team.created_at.as_ref()).into(),
            Cell::toned(team.team_id.clone(), Tone::Dim),
        ]);
    }
    table.render(printer.colour, 0)
}

/// Links as a table.
pub fn links(printer: &Printer, links: &[pb::Link], directory: &Directory) -> String {
    let mut table = Table::new(&["PROVIDER → CONSUMER", "OLA", "DECLARED", "LINK"]);
    for link in links {
        table.row(vec![
            directory
                .link(&link.provider_team_id, &link.consumer_team_id)
                .into(),
            span_wire(link.ola.as_ref()).into(),
            relative_wire(link.declared_at.as_ref()).into(),
            Cell::toned(link.link_id.clone(), Tone::Dim),
        ]);
    }
    table.render(printer.colour, 0)
}

/// One request.
pub fn request(printer: &Printer, request: &pb::InternalRequest, directory: &Directory) -> String {
    let (state, tone) = text::request_state(request.state(), request.at_risk);
    let mut fields = vec![
        (
            "link",
            directory.link(&request.provider_team_id, &request.consumer_team_id),
        ),
        ("state", printer.paint(state, tone)),
        ("needed by", relative_wire(request.needed_by.as_ref())),
    ];
    if let Some(commitment) = &request.commitment {
        fields.push((
            "due",
            format!(
                "{} ({}; first promised {})",
                relative_wire(commitment.due_at.as_ref()),
                text::kind(commitment.kind()),
                relative_wire(commitment.original_due_at.as_ref()),
            ),
        ));
    }
    fields.push((
        "projected",
        relative_wire(request.projected_completion.as_ref()),
    ));
    if let Some(risk) = &request.risk {
        fields.push(("risk", printer.paint(risk_text(risk, directory), Tone::Bad)));
    }
    fields.push(("revisions", request.revisions.len().to_string()));
    let outstanding = request
        .breakdowns
        .iter()
        .filter(|b| b.resolved_at.is_none())
        .count();
    fields.push((
        "breakdowns",
        format!("{} ({outstanding} outstanding)", request.breakdowns.len()),
    ));
    fields.push(("parent", parent(request)));
    fields.push(("case", request.case_id.clone()));
    fields.push(("children", request.child_request_ids.len().to_string()));
    if let Some(ledger) = &request.time_ledger {
        fields.push(("time ledger", format!(
            "waiting for commitment {}, in progress {}, waiting on children {}, hand-off {}, late by {} (own {})",
            span_wire(ledger.waiting_for_commitment.as_ref()),
            span_wire(ledger.in_progress.as_ref()),
            span_wire(ledger.waiting_on_children.as_ref()),
            span_wire(ledger.handoff.as_ref()),
            span_wire(ledger.late_by.as_ref()),
            span_wire(ledger.own_delay.as_ref()),
        )));
    }
    fields.push(("opened", relative_wire(request.opened_at.as_ref())));
    fields.push(("version", request.version.to_string()));
    block(
        format!(
            "request {}",
            printer.paint(&request.request_id, Tone::Strong)
        ),
        &fields,
    )
}

/// Requests as a table.
pub fn requests(
    printer: &Printer,
    requests: &[pb::InternalRequest],
    directory: &Directory,
) -> String {
    let mut table = Table::new(&[
        "PROVIDER → CONSUMER",
        "STATE",
        "DUE",
        "PROJECTED",
        "RISK",
        "REQUEST",
    ]);
    for request in requests {
        let (state, tone) = text::request_state(request.state(), request.at_risk);
        table.row(vec![
            directory
                .link(&request.provider_team_id, &request.consumer_team_id)
                .into(),
            Cell::toned(state, tone),
            request
                .commitment
                .as_ref()
                .map_or_else(|| "-".to_owned(), |c| relative_wire(c.due_at.as_ref()))
                .into(),
            relative_wire(request.projected_completion.as_ref()).into(),
            request
                .risk
                .as_ref()
                .map_or_else(String::new, |r| text::trigger(r.trigger()).to_owned())
                .into(),
            Cell::toned(request.request_id.clone(), Tone::Dim),
        ]);
    }
    table.render(printer.colour, 0)
}

/// Why a request is at risk: the trigger, the root cause and how late.
pub fn risk_text(risk: &pb::Risk, directory: &Directory) -> String {
    let root = risk
        .cause_path
        .as_ref()
        .and_then(|path| path.links.first())
        .map_or_else(
            || "-".to_owned(),
            |l| directory.link(&l.provider_team_id, &l.consumer_team_id),
        );
    format!(
        "{} at {root}, {} late",
        text::trigger(risk.trigger()),
        span_wire(risk.projected_delay.as_ref())
    )
}

fn parent(request: &pb::InternalRequest) -> String {
    match &request.parent {
        Some(pb::internal_request::Parent::ParentRequestId(id)) => format!("request {id}"),
        Some(pb::internal_request::Parent::ParentTicketId(id)) => format!("ticket {id}"),
        None => "- (case root)".to_owned(),
    }
}

fn yes_no(flag: bool) -> String {
    if flag { "yes" } else { "no" }.to_owned()
}
