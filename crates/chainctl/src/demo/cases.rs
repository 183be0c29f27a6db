//! The demo's cases: each one a ticket for a customer, a promise, and a chain of internal
//! requests two to four links deep, every request committed in time for the one it serves.
//! Then, by plan, the case is delivered and resolved, stays in flight, or one of its links is
//! broken (see [`crate::demo::faults`]). Every case runs under a root span of its own, so it has
//! one trace id, which the record keeps.

use chain_proto::customerchain::v1 as pb;
use chrono::{DateTime, TimeDelta, Utc};
use futures::{StreamExt as _, TryStreamExt as _};
use rand::Rng;
use rand::seq::IndexedRandom as _;
use tracing::Instrument as _;

use crate::demo::chain::Chain;
use crate::demo::customers::Customer;
use crate::demo::faults::{Fault, FaultPlan};
use crate::demo::org::{Org, Team};
use crate::error::Failure;

const PRODUCTS: [&str; 6] = [
    "Oak desk",
    "Bookcase",
    "Sofa",
    "Dining table",
    "Wardrobe",
    "Office chairs",
];

/// What one case will do, drawn up front so that a seed always plays the same cases.
#[derive(Debug, Clone)]
pub struct CasePlan {
    front: Team,
    providers: Vec<Team>,
    customer: Customer,
    promise_in: TimeDelta,
    product: &'static str,
    fault: Option<Fault>,
    deliver: bool,
}

/// What one case did.
#[derive(Debug, Clone)]
pub struct CaseRecord {
    /// The ticket (and case) id.
    pub ticket_id: String,
    /// The trace the case ran under.
    pub trace_id: Option<String>,
    /// The customer's value in cents.
    pub value_minor: i64,
    /// The fault injected, and the team whose link it broke.
    pub fault: Option<(Fault, Team)>,
    /// Whether the case was delivered and its ticket resolved.
    pub delivered: bool,
}

/// Draws `count` cases.
pub fn plan(
    org: &Org,
    customers: &[Customer],
    faults: &FaultPlan,
    count: usize,
    rng: &mut impl Rng,
) -> Vec<CasePlan> {
    let fronts = org.front_line();
    let mut plans = Vec::with_capacity(count);
    for _ in 0..count {
        let (Some(front), Some(customer)) = (fronts.choose(rng), customers.choose(rng)) else {
            break;
        };
        let depth = rng.random_range(2..=4);
        let mut providers: Vec<Team> = Vec::new();
        let mut consumer = (*front).clone();
        while providers.len() < depth {
            let Some(provider) = org.providers.get(&consumer.id).and_then(|p| p.choose(rng)) else {
                break;
            };
            providers.push(provider.clone());
            consumer = provider.clone();
        }
        let refs: Vec<&Team> = providers.iter().collect();
        let fault = faults.choose(&refs, rng);
        plans.push(CasePlan {
            front: (*front).clone(),
            providers,
            customer: customer.clone(),
            promise_in: TimeDelta::days(rng.random_range(7..=21)),
            product: PRODUCTS.choose(rng).copied().unwrap_or("Desk"),
            fault,
            deliver: fault.is_none() && rng.random_bool(0.5),
        });
    }
    plans
}

/// Plays the cases, `concurrency` at a time, calling `tick` after each.
pub async fn play(
    chain: &Chain,
    faults: &FaultPlan,
    plans: Vec<CasePlan>,
    concurrency: usize,
    tick: impl Fn() + Sync,
) -> Result<Vec<CaseRecord>, Failure> {
    futures::stream::iter(plans)
        .map(|plan| {
            let tick = &tick;
            async move {
                let record = play_one(chain, faults, plan).await;
                tick();
                record
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await
}

async fn play_one(
    chain: &Chain,
    faults: &FaultPlan,
    plan: CasePlan,
) -> Result<CaseRecord, Failure> {
    let faulty_team = plan
        .fault
        .and_then(|f| plan.providers.get(f.hop))
        .map(|t| t.name.clone());
    let span = tracing::info_span!(
        parent: None,
        "chainctl.demo.case",
        otel.name = "demo case",
        chain.case_id = tracing::field::Empty,
        chain.team = %plan.front.name,
        chain.fault.injected = plan.fault.is_some_and(|f| f.injected),
        chain.fault.kind = plan.fault.map_or("none", |f| f.kind.name()),
        chain.fault.team = faulty_team.as_deref().unwrap_or(""),
    );
    let ticket_id = steps(chain, faults, &plan, &span)
        .instrument(span.clone())
        .await?;
    Ok(CaseRecord {
        ticket_id,
        trace_id: crate::telemetry::trace_id(&span),
        value_minor: plan.customer.value_minor,
        fault: plan
            .fault
            .and_then(|f| plan.providers.get(f.hop).map(|t| (f, t.clone()))),
        delivered: plan.deliver,
    })
}

async fn steps(
    chain: &Chain,
    faults: &FaultPlan,
    plan: &CasePlan,
    span: &tracing::Span,
) -> Result<String, Failure> {
    let subject = format!("{} to order", plan.product);
    let ticket = chain
        .open_ticket(&plan.front.id, &plan.customer.id, &subject)
        .await?;
    span.record("chain.case_id", ticket.ticket_id.as_str());
    let customer_due = Utc::now() + plan.promise_in;
    let days = plan.promise_in.num_days();
    chain
        .promise(
            &plan.front.id,
            &ticket.ticket_id,
            customer_due,
            &format!("Delivered within {days} days"),
        )
        .await?;
    let hops = open_chain(chain, plan, &ticket.ticket_id, customer_due).await?;
    if let Some(fault) = plan.fault {
        let consumer = if fault.hop == 0 {
            &plan.front
        } else {
            &plan.providers[fault.hop - 1]
        };
        let provider = &plan.providers[fault.hop];
        faults
            .inject(
                chain,
                fault,
                provider,
                consumer,
                &hops[fault.hop],
                customer_due,
            )
            .await?;
    } else if plan.deliver {
        for (provider, request_id) in plan.providers.iter().zip(&hops).rev() {
            chain.fulfil(&provider.id, request_id).await?;
        }
        chain
            .resolve(&plan.front.id, &ticket.ticket_id, true)
            .await?;
    }
    Ok(ticket.ticket_id)
}

/// Opens and commits the chain top-down: each deeper request is due a day before the one it
/// serves. Returns the request ids in chain order.
async fn open_chain(
    chain: &Chain,
    plan: &CasePlan,
    ticket_id: &str,
    customer_due: DateTime<Utc>,
) -> Result<Vec<String>, Failure> {
    let mut parent = pb::open_request_request::Parent::ParentTicketId(ticket_id.to_owned());
    let mut consumer = &plan.front;
    let mut ids = Vec::with_capacity(plan.providers.len());
    for (depth, provider) in plan.providers.iter().enumerate() {
        let due = customer_due - TimeDelta::days(i64::try_from(depth).unwrap_or(0));
        let title = format!("{}: part {}", plan.product, depth + 1);
        let request = chain
            .open_request(&consumer.id, &provider.id, parent, due, &title)
            .await?;
        chain.commit(&provider.id, &request.request_id, due).await?;
        parent = pb::open_request_request::Parent::ParentRequestId(request.request_id.clone());
        ids.push(request.request_id);
        consumer = provider;
    }
    Ok(ids)
}
