//! The demo's last word: which team's links broke the most promises this run (counted from the
//! at-risk tickets' root causes), the customers they hurt and the value at risk; the services'
//! own view (scoring-svc's link health and impact ledger, tickets-svc's blast radius); and the
//! trace of the worst breakdown.

use std::collections::{BTreeMap, HashMap, HashSet};

use chain_proto::customerchain::v1 as pb;

use crate::client::{Service, call};
use crate::demo::cases::CaseRecord;
use crate::demo::chain::Chain;
use crate::demo::org::{Org, Team};
use crate::demo::report::Report;
use crate::demo::settle::Settled;
use crate::error::Failure;
use crate::output::table::{Cell, Table};
use crate::output::{Tone, text};
use crate::views::{scoring as scoring_view, tickets as tickets_view};

/// How many rows the summary's tables show.
const TOP: usize = 5;

/// The at-risk cases of one root-cause team.
#[derive(Debug, Default)]
struct Blame {
    cases: usize,
    customers: HashSet<String>,
    value_minor: i64,
    links: BTreeMap<String, usize>,
}

/// Prints the summary.
pub async fn print(
    chain: &Chain,
    org: &Org,
    failing: &Team,
    records: &[CaseRecord],
    settled: &Settled,
    report: &Report,
) -> Result<(), Failure> {
    report.heading("Impact summary")?;
    let blame = blame(org, &settled.at_risk);
    let mut ranked: Vec<(&String, &Blame)> = blame.iter().collect();
    ranked.sort_by(|a, b| {
        b.1.cases
            .cmp(&a.1.cases)
            .then(b.1.value_minor.cmp(&a.1.value_minor))
            .then(a.0.cmp(b.0))
    });
    match ranked.first() {
        Some((team, worst)) => {
            let links: Vec<String> = worst
                .links
                .iter()
                .map(|(link, n)| format!("{link} ({n})"))
                .collect();
            report.step(format!(
                "worst link: {} — root cause of {} of {} at-risk cases, {} customers, {} at risk; links {}",
                report.paint(team.as_str(), Tone::Bad),
                worst.cases,
                settled.at_risk.len(),
                worst.customers.len(),
                text::amount("EUR", worst.value_minor),
                links.join(", "),
            ))?;
        }
        None => report.step("worst link: none (no case went at risk)")?,
    }
    let mut table = Table::new(&[
        "ROOT-CAUSE TEAM",
        "AT-RISK CASES",
        "CUSTOMERS",
        "VALUE AT RISK",
        "LINKS",
    ]);
    for (team, blame) in ranked.iter().take(TOP) {
        let tone = if **team == failing.name {
            Tone::Bad
        } else {
            Tone::Warn
        };
        table.row(vec![
            Cell::toned(team.as_str(), tone),
            blame.cases.to_string().into(),
            blame.customers.len().to_string().into(),
            text::amount("EUR", blame.value_minor).into(),
            blame
                .links
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
                .into(),
        ]);
    }
    if !table.is_empty() {
        report.printer.say(table.render(report.printer.colour, 2))?;
    }
    services_view(chain, org, failing, report).await?;
    worst_breakdown(records, settled, report)
}

/// Root causes of the at-risk tickets, by provider team name.
fn blame(org: &Org, at_risk: &HashMap<String, pb::Ticket>) -> HashMap<String, Blame> {
    let mut by_team: HashMap<String, Blame> = HashMap::new();
    for ticket in at_risk.values() {
        let Some(root) = ticket.risk.as_ref().and_then(|r| r.root_cause.as_ref()) else {
            continue;
        };
        let entry = by_team
            .entry(org.directory.name(&root.provider_team_id))
            .or_default();
        entry.cases += 1;
        if entry.customers.insert(ticket.customer_id.clone()) {
            entry.value_minor += ticket.value_at_stake.as_ref().map_or(0, |m| m.value_minor);
        }
        *entry
            .links
            .entry(
                org.directory
                    .link(&root.provider_team_id, &root.consumer_team_id),
            )
            .or_default() += 1;
    }
    by_team
}

/// scoring-svc's worst links and impact ledger, and tickets-svc's blast radius of the failing
/// team.
async fn services_view(
    chain: &Chain,
    org: &Org,
    failing: &Team,
    report: &Report,
) -> Result<(), Failure> {
    let message = pb::ListLinkHealthRequest {
        page_size: i32::try_from(TOP).unwrap_or(5),
        ..Default::default()
    };
    let health = call(Service::Scoring, "ListLinkHealth", || {
        let mut client = chain.scoring.clone();
        let request = chain.operator.unary(message.clone());
        async move { client.list_link_health(request).await }
    })
    .await?;
    report.step("link health (scoring-svc, all runs, worst first):")?;
    report.printer.say(indent(&scoring_view::link_health(
        &report.printer,
        &health.links,
        &org.directory,
    )))?;

    let message = pb::ListImpactedCustomersRequest {
        page_size: i32::try_from(TOP).unwrap_or(5),
        page_token: String::new(),
        scope: Some(pb::list_impacted_customers_request::Scope::TeamId(
            failing.id.clone(),
        )),
        at_risk_only: true,
    };
    let impacted = call(Service::Tickets, "ListImpactedCustomers", || {
        let mut client = chain.tickets.clone();
        let request = chain.operator.unary(message.clone());
        async move { client.list_impacted_customers(request).await }
    })
    .await?;
    report.step(format!(
        "customers hurt by {} (tickets-svc, open tickets at risk): {}, {} at stake; the most valuable:",
        failing.name,
        impacted.total_customers,
        text::money(impacted.total_value_at_stake.as_ref()),
    ))?;
    report.printer.say(indent(&tickets_view::impacted(
        &report.printer,
        &impacted.customers,
        &org.directory,
    )))?;

    let ledger = chain.impact_summary(&failing.id).await?;
    report.printer.say(indent(&scoring_view::impact_summary(
        &ledger,
        &org.directory,
    )))
}

/// The broken case with the most value at stake, and its trace.
fn worst_breakdown(
    records: &[CaseRecord],
    settled: &Settled,
    report: &Report,
) -> Result<(), Failure> {
    let worst = records
        .iter()
        .filter(|r| settled.at_risk.contains_key(&r.ticket_id))
        .max_by_key(|r| r.value_minor);
    let Some(worst) = worst else {
        return Ok(());
    };
    let (fault, team) = worst
        .fault
        .as_ref()
        .map_or(("-", "-".to_owned()), |(f, t)| {
            (f.kind.name(), t.name.clone())
        });
    let tier = settled
        .at_risk
        .get(&worst.ticket_id)
        .map_or("-", |t| text::tier(t.tier()));
    report.step(format!(
        "worst breakdown: ticket {} (tier {tier}, {} at stake), {fault} injected at {team}",
        worst.ticket_id,
        text::amount("EUR", worst.value_minor),
    ))?;
    match &worst.trace_id {
        Some(trace) => report.step(format!(
            "trace id of the worst breakdown: {}{}",
            report.paint(trace, Tone::Strong),
            crate::demo::story::jaeger_suffix(trace)
        )),
        None => report.step("trace id of the worst breakdown: - (tracing is not installed)"),
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}
