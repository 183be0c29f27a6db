//! `chainctl impact --team X`: the blast radius of a team (or one request): every customer whose
//! open ticket depends on it, the value at risk, and scoring-svc's impact totals for the team.

use chain_proto::customerchain::v1 as pb;

use crate::client::{Service, call};
use crate::commands::requests::Page;
use crate::commands::{Ctx, more_pages};
use crate::error::Failure;
use crate::output::Tone;
use crate::views::{scoring as scoring_view, tickets as view};

/// Arguments of `chainctl impact`.
#[derive(Debug, Clone, clap::Args)]
pub struct ImpactArgs {
    /// The team (name or id) whose breakdown to trace.
    #[arg(long, required_unless_present = "request", conflicts_with = "request")]
    pub team: Option<String>,
    /// The request whose breakdown to trace.
    #[arg(long)]
    pub request: Option<String>,
    /// Only tickets already at risk or broken.
    #[arg(long)]
    pub at_risk_only: bool,
    #[command(flatten)]
    pub page: Page,
}

/// Runs `chainctl impact`.
pub async fn run(ctx: &Ctx, args: ImpactArgs) -> Result<(), Failure> {
    list(ctx, args.team, args.request, args.at_risk_only, args.page).await
}

/// ListImpactedCustomers for a team or request, with scoring's totals for a team.
pub async fn list(
    ctx: &Ctx,
    team: Option<String>,
    request: Option<String>,
    at_risk_only: bool,
    page: Page,
) -> Result<(), Failure> {
    let client = ctx.connection.tickets().await?;
    let needs_names = team
        .as_deref()
        .is_some_and(|t| uuid::Uuid::parse_str(t).is_err());
    let directory = if needs_names || !ctx.printer.json() {
        let requests = ctx.connection.requests().await?;
        crate::directory::Directory::load(&requests, &ctx.actor).await?
    } else {
        crate::directory::Directory::default()
    };
    let scope = match (team, request) {
        (Some(team), _) => {
            pb::list_impacted_customers_request::Scope::TeamId(directory.resolve(&team)?)
        }
        (None, Some(request)) => pb::list_impacted_customers_request::Scope::RequestId(request),
        (None, None) => return Err(Failure::Usage("give --team or --request".to_owned())),
    };
    let message = pb::ListImpactedCustomersRequest {
        page_size: page.page_size,
        page_token: page.page_token,
        scope: Some(scope.clone()),
        at_risk_only,
    };
    let reply = call(Service::Tickets, "ListImpactedCustomers", || {
        let mut client = client.clone();
        let request = ctx.actor.unary(message.clone());
        async move { client.list_impacted_customers(request).await }
    })
    .await?;
    if ctx.printer.json() {
        return ctx.printer.message(&reply);
    }
    let subject = match &scope {
        pb::list_impacted_customers_request::Scope::TeamId(team) => directory.name(team),
        pb::list_impacted_customers_request::Scope::RequestId(request) => {
            format!("request {request}")
        }
    };
    ctx.printer.say(format!(
        "blast radius of {}: {} customer(s), {} at stake",
        ctx.printer.paint(&subject, Tone::Strong),
        reply.total_customers,
        ctx.printer.paint(
            crate::output::text::money(reply.total_value_at_stake.as_ref()),
            Tone::Warn
        ),
    ))?;
    ctx.printer
        .say(view::impacted(&ctx.printer, &reply.customers, &directory))?;
    more_pages(ctx, &reply.next_page_token)?;
    if let pb::list_impacted_customers_request::Scope::TeamId(team) = scope
        && let Some(summary) = scoring_summary(ctx, &team).await
    {
        ctx.printer
            .say(scoring_view::impact_summary(&summary, &directory))?;
    }
    Ok(())
}

/// scoring-svc's totals for impacts rooted at `team`; `None` when scoring-svc is not there.
async fn scoring_summary(ctx: &Ctx, team: &str) -> Option<pb::ImpactSummary> {
    let client = ctx.connection.scoring().await.ok()?;
    let message = pb::GetImpactSummaryRequest {
        root_team_id: team.to_owned(),
        ..Default::default()
    };
    call(Service::Scoring, "GetImpactSummary", || {
        let mut client = client.clone();
        let request = ctx.actor.unary(message.clone());
        async move { client.get_impact_summary(request).await }
    })
    .await
    .ok()
}
