//! Views of customers, tickets and the blast radius of a breakdown.

use chain_proto::customerchain::v1 as pb;

use crate::directory::Directory;
use crate::output::table::{Cell, Table};
use crate::output::time::{absolute_wire, relative_wire, span_wire};
use crate::output::{Printer, Tone, text};
use crate::views::block;

/// One customer.
pub fn customer(printer: &Printer, customer: &pb::Customer) -> String {
    block(
        format!(
            "customer {}",
            printer.paint(&customer.customer_id, Tone::Strong)
        ),
        &[
            ("name", customer.display_name.clone()),
            ("value", text::money(customer.value.as_ref())),
            ("tier", text::tier(customer.tier()).to_owned()),
            ("rank by value", customer.value_rank.to_string()),
            ("registered", absolute_wire(customer.registered_at.as_ref())),
            ("version", customer.version.to_string()),
        ],
    )
}

/// Customers as a table.
pub fn customers(printer: &Printer, customers: &[pb::Customer]) -> String {
    let mut table = Table::new(&["RANK", "TIER", "VALUE", "NAME", "CUSTOMER"]);
    for customer in customers {
        table.row(vec![
            customer.value_rank.to_string().into(),
            text::tier(customer.tier()).into(),
            text::money(customer.value.as_ref()).into(),
            customer.display_name.clone().into(),
            Cell::toned(customer.customer_id.clone(), Tone::Dim),
        ]);
    }
    table.render(printer.colour, 0)
}

/// One ticket with its promise, risk and notices.
pub fn ticket(printer: &Printer, ticket: &pb::Ticket, directory: &Directory) -> String {
    let (state, tone) = text::ticket_state(ticket.state());
    let mut fields = vec![
        ("state", printer.paint(state, tone)),
        (
            "customer",
            format!(
                "{} (tier {}, {} at stake)",
                ticket.customer_id,
                text::tier(ticket.tier()),
                text::money(ticket.value_at_stake.as_ref())
            ),
        ),
        ("front line", directory.name(&ticket.front_line_team_id)),
        ("subject", ticket.subject.clone()),
    ];
    if let Some(promise) = &ticket.promise {
        fields.push((
            "promise",
            format!(
                "#{} due {} ({}){}",
                promise.promise_number,
                relative_wire(promise.due_at.as_ref()),
                text::kind(promise.kind()),
                if promise.risk_acknowledged {
                    ", risk acknowledged"
                } else {
                    ""
                },
            ),
        ));
    }
    fields.push((
        "chain projected",
        relative_wire(ticket.chain_projected_completion.as_ref()),
    ));
    if let Some(link) = &ticket.critical_link {
        fields.push((
            "critical link",
            directory.link(&link.provider_team_id, &link.consumer_team_id),
        ));
    }
    if let Some(risk) = &ticket.risk {
        fields.push((
            "risk",
            printer.paint(promise_risk(risk, directory), Tone::Bad),
        ));
    }
    for notice in &ticket.notices {
        fields.push((
            "notice",
            format!(
                "{} {}: new time {}, remedy {}, answer {}",
                relative_wire(notice.notified_at.as_ref()),
                if notice.before_due {
                    "before the due time"
                } else {
                    "after the due time"
                },
                relative_wire(notice.new_expected_at.as_ref()),
                notice
                    .remedy
                    .as_ref()
                    .map_or("-", |r| text::remedy(r.kind())),
                match notice.response() {
                    pb::NoticeResponse::Unspecified => "pending",
                    pb::NoticeResponse::Accepted => "accepted",
                    pb::NoticeResponse::Declined => "declined",
                },
            ),
        ));
    }
    let (outcome, outcome_tone) = text::outcome(ticket.outcome());
    fields.push(("outcome", printer.paint(outcome, outcome_tone)));
    fields.push(("opened", relative_wire(ticket.opened_at.as_ref())));
    fields.push(("version", ticket.version.to_string()));
    block(
        format!("ticket {}", printer.paint(&ticket.ticket_id, Tone::Strong)),
        &fields,
    )
}

/// Tickets as a table.
pub fn tickets(printer: &Printer, tickets: &[pb::Ticket], directory: &Directory) -> String {
    let mut table = Table::new(&[
        "STATE",
        "TIER",
        "AT STAKE",
        "PROMISED",
        "PROJECTED",
        "ROOT CAUSE",
        "TICKET",
    ]);
    for ticket in tickets {
        let (state, tone) = text::ticket_state(ticket.state());
        table.row(vec![
            Cell::toned(state, tone),
            text::tier(ticket.tier()).into(),
            text::money(ticket.value_at_stake.as_ref()).into(),
            ticket
                .promise
                .as_ref()
                .map_or_else(|| "-".to_owned(), |p| relative_wire(p.due_at.as_ref()))
                .into(),
            relative_wire(ticket.chain_projected_completion.as_ref()).into(),
            ticket
                .risk
                .as_ref()
                .and_then(|r| r.root_cause.as_ref())
                .map_or_else(String::new, |l| {
                    directory.link(&l.provider_team_id, &l.consumer_team_id)
                })
                .into(),
            Cell::toned(ticket.ticket_id.clone(), Tone::Dim),
        ]);
    }
    table.render(printer.colour, 0)
}

/// The customers in the blast radius.
pub fn impacted(
    printer: &Printer,
    customers: &[pb::ImpactedCustomer],
    directory: &Directory,
) -> String {
    let mut table = Table::new(&[
        "STATE",
        "TIER",
        "AT STAKE",
        "CUSTOMER",
        "PROMISED",
        "PROJECTED",
        "PATH",
        "TICKET",
    ]);
    for customer in customers {
        let (state, tone) = text::ticket_state(customer.state());
        let path = customer
            .path
            .as_ref()
            .map(|p| path_text(p, directory))
            .unwrap_or_default();
        table.row(vec![
            Cell::toned(state, tone),
            text::tier(customer.tier()).into(),
            text::money(customer.value_at_stake.as_ref()).into(),
            customer.display_name.clone().into(),
            relative_wire(customer.promise_due_at.as_ref()).into(),
            relative_wire(customer.projected_completion.as_ref()).into(),
            path.into(),
            Cell::toned(customer.ticket_id.clone(), Tone::Dim),
        ]);
    }
    table.render(printer.colour, 0)
}

/// A cause path as team names, root cause first: "Warehouse → Transport → Workshop → Sales".
pub fn path_text(path: &pb::CausePath, directory: &Directory) -> String {
    let mut names: Vec<String> = Vec::new();
    for link in &path.links {
        if names.is_empty() {
            names.push(directory.name(&link.provider_team_id));
        }
        names.push(directory.name(&link.consumer_team_id));
    }
    names.join(" → ")
}

/// Why a promise is at risk.
pub fn promise_risk(risk: &pb::PromiseRisk, directory: &Directory) -> String {
    let root = risk.root_cause.as_ref().map_or_else(
        || "-".to_owned(),
        |l| directory.link(&l.provider_team_id, &l.consumer_team_id),
    );
    format!(
        "root cause {root} ({}), projected {}, {} late",
        text::trigger(risk.trigger()),
        relative_wire(risk.projected_completion.as_ref()),
        span_wire(risk.projected_delay.as_ref()),
    )
}
