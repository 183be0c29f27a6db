//! The stories the tests feed: the producers' events of a three-link chain behind a ticket
//! whose first link breaks down (as a surprise, or announced in time), and of business going
//! well elsewhere.

use chain_proto::customerchain::v1 as pb;
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::harness::Harness;

/// When the stories start.
pub fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_772_442_000, 0).expect("a valid time")
}

fn ts(at: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(chain_proto::timestamp::from_datetime(at))
}

fn span(delta: TimeDelta) -> Option<prost_types::Duration> {
    chain_proto::duration::from_chrono(delta).ok()
}

/// The value of the customers in the stories, in cents.
pub const VALUE: i64 = 1_200_000;

fn money(minor: i64) -> Option<pb::Money> {
    Some(pb::Money {
        currency_code: "EUR".into(),
        value_minor: minor,
    })
}

/// A chain A → B → C → F (front line) → customer, with one request per link.
#[derive(Debug, Clone)]
pub struct Chain {
    pub a: Uuid,
    pub b: Uuid,
    pub c: Uuid,
    pub f: Uuid,
    pub customer: Uuid,
    pub ticket: Uuid,
    /// A → B, the first link (root cause).
    pub r1: Uuid,
    /// B → C.
    pub r2: Uuid,
    /// C → F, serving the ticket.
    pub r3: Uuid,
}

impl Chain {
    pub fn new() -> Self {
        Self {
            a: Uuid::now_v7(),
            b: Uuid::now_v7(),
            c: Uuid::now_v7(),
            f: Uuid::now_v7(),
            customer: Uuid::now_v7(),
            ticket: Uuid::now_v7(),
            r1: Uuid::now_v7(),
            r2: Uuid::now_v7(),
            r3: Uuid::now_v7(),
        }
    }

    pub fn link(provider: Uuid, consumer: Uuid, request: Uuid) -> pb::CauseLink {
        pb::CauseLink {
            provider_team_id: provider.to_string(),
            consumer_team_id: consumer.to_string(),
            request_id: request.to_string(),
        }
    }

    /// The path from the root cause to the request serving the ticket.
    pub fn path(&self) -> Vec<pb::CauseLink> {
        vec![
            Self::link(self.a, self.b, self.r1),
            Self::link(self.b, self.c, self.r2),
            Self::link(self.c, self.f, self.r3),
        ]
    }
}

/// Registers a customer worth [`VALUE`], opens a ticket and makes the promise (due
/// `t0 + 4 days`).
pub async fn open_ticket(h: &mut Harness, customer: Uuid, ticket: Uuid, front_line: Uuid) {
    open_ticket_worth(h, customer, ticket, front_line, VALUE).await;
}

/// [`open_ticket`] for a customer worth `value`.
pub async fn open_ticket_worth(
    h: &mut Harness,
    customer: Uuid,
    ticket: Uuid,
    front_line: Uuid,
    value: i64,
) {
    let (id, case) = (customer.to_string(), ticket.to_string());
    h.tickets
        .emit(
            "customer",
            &id,
            &id,
            t0() - TimeDelta::days(30),
            &pb::CustomerRegistered {
                customer_id: id.clone(),
                value: money(value),
                ..Default::default()
            },
        )
        .await;
    h.tickets
        .emit(
            "customer",
            &id,
            &id,
            t0() - TimeDelta::days(30),
            &pb::CustomerTierChanged {
                customer_id: id.clone(),
                previous_tier: pb::CustomerTier::Unspecified.into(),
                new_tier: pb::CustomerTier::A.into(),
            },
        )
        .await;
    h.tickets
        .emit(
            "ticket",
            &case,
            &case,
            t0(),
            &pb::TicketOpened {
                ticket_id: case.clone(),
                customer_id: id.clone(),
                front_line_team_id: front_line.to_string(),
                ..Default::default()
            },
        )
        .await;
    h.tickets
        .emit(
            "ticket",
            &case,
            &case,
            t0() + TimeDelta::minutes(5),
            &pb::PromiseMade {
                ticket_id: case.clone(),
                promise_number: 1,
                due_at: ts(due()),
                kind: pb::CommitmentKind::PersonalPromise.into(),
                customer_id: id,
                ..Default::default()
            },
        )
        .await;
}

/// The promise's due time.
pub fn due() -> DateTime<Utc> {
    t0() + TimeDelta::days(4)
}

#[allow(clippy::too_many_arguments)]
async fn request(
    h: &mut Harness,
    case: &str,
    id: Uuid,
    consumer: Uuid,
    provider: Uuid,
    parent: pb::request_opened::Parent,
    needed_by: DateTime<Utc>,
    opened: DateTime<Utc>,
) {
    let text = id.to_string();
    h.requests
        .emit(
            "request",
            &text,
            case,
            opened,
            &pb::RequestOpened {
                request_id: text.clone(),
                consumer_team_id: consumer.to_string(),
                provider_team_id: provider.to_string(),
                needed_by: ts(needed_by),
                parent: Some(parent),
                case_id: case.to_owned(),
                root_ticket_id: case.to_owned(),
                ..Default::default()
            },
        )
        .await;
    h.requests
        .emit(
            "request",
            &text,
            case,
            t0() + TimeDelta::hours(1),
            &pb::RequestCommitted {
                request_id: text.clone(),
                due_at: ts(needed_by),
                kind: pb::CommitmentKind::OrganisationalCommitment.into(),
                ..Default::default()
            },
        )
        .await;
}

async fn fulfil(
    h: &mut Harness,
    case: &str,
    id: Uuid,
    due_at: DateTime<Utc>,
    at: DateTime<Utc>,
    late: TimeDelta,
    own: TimeDelta,
) {
    let text = id.to_string();
    h.requests
        .emit(
            "request",
            &text,
            case,
            at,
            &pb::RequestFulfilled {
                request_id: text.clone(),
                due_at: ts(due_at),
                on_time: at <= due_at,
                time_ledger: Some(pb::TimeLedger {
                    late_by: span(late),
                    own_delay: span(own),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await;
}

/// The chain's story: A is 46 hours late on the first link (r1, needed 36 h before the
/// promise's due time), which makes B, C and the ticket late; the ticket is resolved 30 hours
/// after its due time. With `notice`, A announces the new time before its due time, and the
/// customer is told before the promise's due time; without, nobody is told.
pub async fn breakdown(h: &mut Harness, chain: &Chain, notice: bool) {
    let case = chain.ticket.to_string();
    let d = due();
    let (n1, n2, n3) = (
        d - TimeDelta::hours(36),
        d - TimeDelta::hours(24),
        d - TimeDelta::hours(12),
    );
    open_ticket(h, chain.customer, chain.ticket, chain.f).await;
    request(
        h,
        &case,
        chain.r3,
        chain.f,
        chain.c,
        pb::request_opened::Parent::ParentTicketId(case.clone()),
        n3,
        t0() + TimeDelta::minutes(10),
    )
    .await;
    request(
        h,
        &case,
        chain.r2,
        chain.c,
        chain.b,
        pb::request_opened::Parent::ParentRequestId(chain.r3.to_string()),
        n2,
        t0() + TimeDelta::minutes(20),
    )
    .await;
    request(
        h,
        &case,
        chain.r1,
        chain.b,
        chain.a,
        pb::request_opened::Parent::ParentRequestId(chain.r2.to_string()),
        n1,
        t0() + TimeDelta::minutes(30),
    )
    .await;
    let r1 = chain.r1.to_string();
    let delivered = d + TimeDelta::hours(10);
    if notice {
        h.requests
            .emit(
                "request",
                &r1,
                &case,
                d - TimeDelta::hours(40),
                &pb::RequestRevised {
                    request_id: r1.clone(),
                    previous_due_at: ts(n1),
                    new_due_at: ts(delivered),
                    proactive: true,
                    ..Default::default()
                },
            )
            .await;
    }
    h.requests
        .emit(
            "request",
            &r1,
            &case,
            d - TimeDelta::hours(32),
            &pb::BreakdownReported {
                request_id: r1.clone(),
                kind: pb::BreakdownKind::NotServedWell.into(),
                ..Default::default()
            },
        )
        .await;
    h.tickets
        .emit(
            "ticket",
            &case,
            &case,
            d - TimeDelta::hours(30),
            &pb::PromiseAtRisk {
                ticket_id: case.clone(),
                promise_number: 1,
                root_cause: Some(Chain::link(chain.a, chain.b, chain.r1)),
                path: Some(pb::CausePath {
                    links: chain.path(),
                }),
                projected_completion: ts(d + TimeDelta::hours(30)),
                projected_delay: span(TimeDelta::hours(30)),
                due_at: ts(d),
                customer_id: chain.customer.to_string(),
                tier: pb::CustomerTier::A.into(),
                value_at_stake: money(VALUE),
                trigger: pb::RiskTrigger::Breakdown.into(),
                ..Default::default()
            },
        )
        .await;
    if notice {
        h.tickets
            .emit(
                "ticket",
                &case,
                &case,
                d - TimeDelta::hours(28),
                &pb::CustomerNotified {
                    ticket_id: case.clone(),
                    promise_number: 1,
                    new_expected_at: ts(d + TimeDelta::hours(30)),
                    before_due: true,
                    ..Default::default()
                },
            )
            .await;
    }
    let r1_due = if notice { delivered } else { n1 };
    fulfil(
        h,
        &case,
        chain.r1,
        r1_due,
        delivered,
        TimeDelta::hours(46),
        TimeDelta::hours(46),
    )
    .await;
    fulfil(
        h,
        &case,
        chain.r2,
        n2,
        d + TimeDelta::hours(16),
        TimeDelta::hours(40),
        TimeDelta::zero(),
    )
    .await;
    fulfil(
        h,
        &case,
        chain.r3,
        n3,
        d + TimeDelta::hours(24),
        TimeDelta::hours(36),
        TimeDelta::hours(2),
    )
    .await;
    h.tickets
        .emit(
            "ticket",
            &case,
            &case,
            d,
            &pb::PromiseBroken {
                ticket_id: case.clone(),
                promise_number: 1,
                due_at: ts(d),
                notified_before_due: notice,
                customer_id: chain.customer.to_string(),
                tier: pb::CustomerTier::A.into(),
                value_at_stake: money(VALUE),
                root_cause: Some(Chain::link(chain.a, chain.b, chain.r1)),
                path: Some(pb::CausePath {
                    links: chain.path(),
                }),
            },
        )
        .await;
    h.tickets
        .emit(
            "ticket",
            &case,
            &case,
            d + TimeDelta::hours(30),
            &pb::TicketResolved {
                ticket_id: case.clone(),
                outcome: pb::PromiseOutcome::KeptLate.into(),
                customer_id: chain.customer.to_string(),
                promise_number: 1,
                promised_at: ts(t0() + TimeDelta::minutes(5)),
                due_at: ts(d),
                original_due_at: ts(d),
                late_by: span(TimeDelta::hours(30)),
                notified_before_due: notice,
                ..Default::default()
            },
        )
        .await;
}

/// Business going well elsewhere: a link X → Y delivering on time (a free-standing request)
/// and another customer's ticket kept.
pub struct Elsewhere {
    pub x: Uuid,
    pub y: Uuid,
    pub customer: Uuid,
}

pub async fn elsewhere(h: &mut Harness) -> Elsewhere {
    let (x, y, request) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let case = request.to_string();
    let needed = t0() + TimeDelta::days(2);
    h.requests
        .emit(
            "request",
            &case,
            &case,
            t0(),
            &pb::RequestOpened {
                request_id: case.clone(),
                consumer_team_id: y.to_string(),
                provider_team_id: x.to_string(),
                needed_by: ts(needed),
                case_id: case.clone(),
                ..Default::default()
            },
        )
        .await;
    h.requests
        .emit(
            "request",
            &case,
            &case,
            t0() + TimeDelta::hours(1),
            &pb::RequestCommitted {
                request_id: case.clone(),
                due_at: ts(needed),
                kind: pb::CommitmentKind::OrganisationalCommitment.into(),
                ..Default::default()
            },
        )
        .await;
    fulfil(
        h,
        &case,
        request,
        needed,
        needed - TimeDelta::hours(3),
        TimeDelta::zero(),
        TimeDelta::zero(),
    )
    .await;
    let (customer, ticket) = (Uuid::now_v7(), Uuid::now_v7());
    open_ticket(h, customer, ticket, y).await;
    let case = ticket.to_string();
    h.tickets
        .emit(
            "ticket",
            &case,
            &case,
            due() - TimeDelta::hours(5),
            &pb::TicketResolved {
                ticket_id: case.clone(),
                outcome: pb::PromiseOutcome::Kept.into(),
                customer_id: customer.to_string(),
                promise_number: 1,
                promised_at: ts(t0() + TimeDelta::minutes(5)),
                due_at: ts(due()),
                original_due_at: ts(due()),
                ..Default::default()
            },
        )
        .await;
    Elsewhere { x, y, customer }
}

/// A customer worth `value` whose promise went at risk (at `at`) because of the chain's first
/// link, and is not resolved yet.
pub async fn at_risk(h: &mut Harness, chain: &Chain, value: i64, at: DateTime<Utc>) {
    open_ticket_worth(h, chain.customer, chain.ticket, chain.f, value).await;
    let case = chain.ticket.to_string();
    h.tickets
        .emit(
            "ticket",
            &case,
            &case,
            at,
            &pb::PromiseAtRisk {
                ticket_id: case.clone(),
                promise_number: 1,
                root_cause: Some(Chain::link(chain.a, chain.b, chain.r1)),
                path: Some(pb::CausePath {
                    links: chain.path(),
                }),
                projected_delay: span(TimeDelta::hours(5)),
                due_at: ts(due()),
                customer_id: chain.customer.to_string(),
                tier: pb::CustomerTier::B.into(),
                value_at_stake: money(value),
                ..Default::default()
            },
        )
        .await;
}
