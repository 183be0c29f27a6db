//! Round trips of every event through its proto message: a ticket's whole life (chain
//! observed, promise made against the chain with the risk acknowledged, at risk, notice,
//! renegotiation, recovery, resolution; and a broken one), customers with tiers and details,
//! and the requests service's events as requests-svc's codec writes and reads them (the chain
//! view's input).

use chain_domain::DomainEvent;
use chain_domain::case::CaseView;
use chain_domain::commitment::CommitmentKind;
use chain_domain::customer::{CustomerEvent, CustomerStanding, Money, Tier};
use chain_domain::ids::{CaseId, CustomerId, RequestId, TeamId, TicketId};
use chain_domain::request::{self, BreakdownKind, OpenRequest, Parent, RequestCommand};
use chain_domain::ticket::{
    self, MakePromise, OpenTicket, Remedy, TicketCommand, TicketEvent, TicketState,
};
use chain_proto::customerchain::v1 as pb;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use prost::Message;
use uuid::Uuid;

use chain_requests::codec::{
    Enrichment as RequestEnrichment, RequestStreamDecoder, encode_request,
};

use super::*;

/// A request event as requests-svc's codec reads it back.
fn request_record(event: &NewEvent) -> chain_requests::codec::StoredEvent<'_> {
    chain_requests::codec::StoredEvent {
        event_type: &event.event_type,
        schema_version: event.schema_version,
        occurred_at: event.occurred_at,
        payload: &event.payload,
    }
}

const SALES: TeamId = TeamId::from_uuid(Uuid::from_u128(1));
const WORKSHOP: TeamId = TeamId::from_uuid(Uuid::from_u128(2));
const TRANSPORT: TeamId = TeamId::from_uuid(Uuid::from_u128(3));
const TICKET: TicketId = TicketId::from_uuid(Uuid::from_u128(50));
const JANE: CustomerId = CustomerId::from_uuid(Uuid::from_u128(60));

fn t(hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
        .single()
        .expect("a valid fixed time")
        + TimeDelta::hours(hours)
}

fn standing() -> CustomerStanding {
    CustomerStanding {
        tier: Tier::A,
        value: Money::new(25_000_000, "EUR").expect("valid money"),
    }
}

/// Requests of one case, run through the domain; their events are also encoded and decoded.
#[derive(Default)]
struct Requests {
    states: std::collections::BTreeMap<RequestId, request::RequestState>,
    decoders: std::collections::BTreeMap<RequestId, RequestStreamDecoder>,
    events: Vec<request::RequestEvent>,
}

impl Requests {
    fn run(&mut self, id: RequestId, command: RequestCommand, at: i64) {
        let mut state = self.states.remove(&id).unwrap_or_default();
        let events = request::decide(&command, &state, t(at)).expect("request command accepted");
        let decoder = self.decoders.entry(id).or_default();
        for event in &events {
            state = request::evolve(state, event);
            let stored = encode_request(
                event,
                state.request.as_ref().expect("opened"),
                &RequestEnrichment::default(),
            );
            let back = decoder.decode(request_record(&stored)).expect("decodes");
            assert_eq!(&back, event, "{} round-trips", event.event_type());
        }
        self.events.extend(events);
        self.states.insert(id, state);
    }
}

fn request_id(n: u128) -> RequestId {
    RequestId::from_uuid(Uuid::from_u128(100 + n))
}

fn open(id: RequestId, consumer: TeamId, provider: TeamId, parent: Parent) -> RequestCommand {
    RequestCommand::Open(OpenRequest {
        request_id: id,
        case_id: CaseId::Ticket(TICKET),
        consumer,
        provider,
        title: "desk".into(),
        needed_by: t(336),
        parent: Some(parent),
    })
}

/// Runs ticket commands, encoding each event with the state after it and decoding it back.
struct Desk {
    state: TicketState,
    encoded: Vec<chain_store::NewEvent>,
}

impl Desk {
    fn run(&mut self, command: TicketCommand, at: i64, extra: &Enrichment) -> Vec<TicketEvent> {
        let events = ticket::decide(&command, &self.state, t(at)).expect("ticket command accepted");
        for event in &events {
            self.state = ticket::evolve(self.state.clone(), event);
            let after = self.state.ticket.as_ref().expect("opened");
            let stored = encode_ticket(event, after, extra);
            assert_eq!(stored.occurred_at, event.occurred_at());
            let back = decode_ticket(StoredEvent::from(&stored)).expect("decodes");
            assert_eq!(&back, event, "{} round-trips", event.event_type());
            self.encoded.push(stored);
        }
        events
    }

    fn message<M: prost::Message + prost::Name + Default>(&self) -> M {
        let stored = self
            .encoded
            .iter()
            .rev()
            .find(|e| e.event_type == M::full_name())
            .expect("such an event was recorded");
        M::decode(stored.payload.as_slice()).expect("decodes")
    }
}

#[test]
fn a_whole_ticket_life_round_trips() {
    let (sales_ws, ws_transport) = (request_id(1), request_id(2));
    let mut chain = Requests::default();
    chain.run(
        sales_ws,
        open(sales_ws, SALES, WORKSHOP, Parent::Ticket(TICKET)),
        0,
    );
    chain.run(
        sales_ws,
        RequestCommand::Commit {
            actor: WORKSHOP,
            due_at: t(336),
            kind: CommitmentKind::OrganisationalCommitment,
        },
        1,
    );
    chain.run(
        ws_transport,
        open(ws_transport, WORKSHOP, TRANSPORT, Parent::Request(sales_ws)),
        2,
    );
    chain.run(
        ws_transport,
        RequestCommand::Commit {
            actor: TRANSPORT,
            due_at: t(408),
            kind: CommitmentKind::PersonalPromise,
        },
        3,
    );
    let case = CaseView::from_events(&chain.events, t(4));
    let feasibility = case.feasibility.clone().expect("the chain can deliver");
    assert_eq!(feasibility.earliest, t(408));

    let mut desk = Desk {
        state: TicketState::default(),
        encoded: Vec::new(),
    };
    let none = Enrichment::default();
    desk.run(
        TicketCommand::Open(OpenTicket {
            ticket_id: TICKET,
            customer_id: JANE,
            subject: "Made-to-order desk".into(),
            front_line: SALES,
            standing: standing(),
        }),
        0,
        &none,
    );
    // The ticket learns its chain: the workshop is late because of transport.
    let root = case.node(sales_ws).expect("in the case");
    let mut root_state = chain.states[&sales_ws].clone();
    if let Some(r) = root_state.request.as_mut() {
        r.risk = root.risk.clone();
    }
    let outlook = chain_domain::propagation::outlook(&root_state).expect("opened");
    let observed = Enrichment {
        source_event_id: "0190a5d2-7c3e-7a41-8f00-123456789abc".into(),
        trigger: pb::RiskTrigger::CommitmentLate,
        ..Enrichment::default()
    };
    desk.run(
        TicketCommand::ObserveChain {
            outlook,
            standing: standing(),
        },
        5,
        &observed,
    );
    // Promised in two weeks anyway, knowing the chain needs 72 hours more.
    let events = desk.run(
        TicketCommand::MakePromise(MakePromise {
            due_at: t(336),
            kind: CommitmentKind::PersonalPromise,
            wording: "Your desk in two weeks".into(),
            acknowledge_risk: true,
            feasibility: Some(feasibility.clone()),
        }),
        6,
        &observed,
    );
    assert_eq!(
        events
            .iter()
            .map(DomainEvent::event_type)
            .collect::<Vec<_>>(),
        vec!["PromiseMade", "PromiseAtRisk"]
    );
    let made: pb::PromiseMade = desk.message();
    assert_eq!(made.promise_number, 1);
    assert!(made.risk_acknowledged);
    assert_eq!(
        made.critical_link.map(|l| l.request_id),
        Some(ws_transport.to_string())
    );
    let at_risk: pb::PromiseAtRisk = desk.message();
    assert_eq!(at_risk.trigger(), pb::RiskTrigger::CommitmentLate);
    assert_eq!(at_risk.source_event_id, observed.source_event_id);
    assert_eq!(
        at_risk.path.map(|p| p.links.len()),
        Some(2),
        "transport, then the workshop request serving the ticket"
    );

    // Told in time, with a loan desk; she accepts; the risk clears.
    let notice = Enrichment {
        notice_message: "Your desk will be three days late; here is a loan desk".into(),
        remedy: Some(pb::Remedy {
            description: "A loan desk until Friday".into(),
            ..pb::Remedy::default()
        }),
        ..Enrichment::default()
    };
    desk.run(
        TicketCommand::NotifyCustomer {
            new_expected_at: t(408),
            remedy: Remedy::LoanOrSubstitute,
        },
        7,
        &notice,
    );
    let notified: pb::CustomerNotified = desk.message();
    assert_eq!(notified.message, notice.notice_message);
    assert_eq!(
        notified.remedy.as_ref().map(pb::Remedy::kind),
        Some(pb::RemedyKind::LoanOrSubstitute)
    );
    let answer = Enrichment {
        note: "Fine, thanks for calling".into(),
        projected_completion: Some(t(408)),
        ..Enrichment::default()
    };
    let events = desk.run(
        TicketCommand::RecordCustomerResponse { accepted: true },
        8,
        &answer,
    );
    assert_eq!(
        events
            .iter()
            .map(DomainEvent::event_type)
            .collect::<Vec<_>>(),
        vec![
            "CustomerResponded",
            "PromiseRenegotiated",
            "PromiseRiskCleared"
        ]
    );
    let renegotiated: pb::PromiseRenegotiated = desk.message();
    assert_eq!(
        (
            renegotiated.previous_promise_number,
            renegotiated.promise_number
        ),
        (1, 2)
    );
    let cleared: pb::PromiseRiskCleared = desk.message();
    assert_eq!(cleared.promise_number, 2);
    desk.run(TicketCommand::Resolve { delivered: true }, 400, &none);
    let resolved: pb::TicketResolved = desk.message();
    assert_eq!(
        resolved.outcome(),
        pb::PromiseOutcome::KeptAfterRenegotiation
    );
    assert!(resolved.delivered);

    // What the API reads beyond the domain events.
    let extras = TicketExtras::of(desk.encoded.iter().map(StoredEvent::from)).expect("reads");
    assert_eq!(extras.trigger, pb::RiskTrigger::CommitmentLate);
    assert_eq!(extras.notices.len(), 1);
    assert_eq!(extras.notes, vec![(0, answer.note.clone())]);
    assert!(extras.earliest_feasible_at.is_some());
}

#[test]
fn a_broken_promise_and_a_late_delivery_round_trip() {
    let mut desk = Desk {
        state: TicketState::default(),
        encoded: Vec::new(),
    };
    let none = Enrichment::default();
    desk.run(
        TicketCommand::Open(OpenTicket {
            ticket_id: TICKET,
            customer_id: JANE,
            subject: "Chairs".into(),
            front_line: SALES,
            standing: standing(),
        }),
        0,
        &none,
    );
    desk.run(
        TicketCommand::MakePromise(MakePromise {
            due_at: t(10),
            kind: CommitmentKind::GeneralExpectation,
            wording: "Tomorrow".into(),
            acknowledge_risk: false,
            feasibility: None,
        }),
        1,
        &none,
    );
    desk.run(TicketCommand::MarkBroken, 10, &none);
    let broken: pb::PromiseBroken = desk.message();
    assert_eq!(broken.tier(), pb::CustomerTier::A, "the standing at stake");
    desk.run(
        TicketCommand::NotifyCustomer {
            new_expected_at: t(20),
            remedy: Remedy::Credit,
        },
        11,
        &none,
    );
    desk.run(
        TicketCommand::RecordCustomerResponse { accepted: false },
        12,
        &none,
    );
    desk.run(TicketCommand::Resolve { delivered: true }, 30, &none);
    let resolved: pb::TicketResolved = desk.message();
    assert_eq!(resolved.outcome(), pb::PromiseOutcome::KeptLate);
    assert!(resolved.late_by.is_some());
}

#[test]
fn customer_events_round_trip_without_personal_data() {
    let value = Money::new(1_000, "EUR").expect("valid");
    let registered = CustomerEvent::Registered {
        customer_id: JANE,
        value,
        at: t(0),
    };
    let stored = encode_customer(&registered);
    let message = pb::CustomerRegistered::decode(stored.payload.as_slice()).expect("decodes");
    assert_eq!(message.display_name, "");
    assert_eq!(message.email, "");
    assert_eq!(
        decode_customer(StoredEvent::from(&stored)).expect("decodes"),
        CustomerStreamEvent::Domain(registered)
    );
    let changed = CustomerEvent::ValueChanged {
        customer_id: JANE,
        previous: value,
        value: Money::new(5_000, "EUR").expect("valid"),
        at: t(1),
    };
    let stored = encode_customer(&changed);
    assert_eq!(
        decode_customer(StoredEvent::from(&stored)).expect("decodes"),
        CustomerStreamEvent::Domain(changed)
    );
    let tier_changed = encode_tier_changed(JANE, None, Tier::B, t(2));
    assert_eq!(
        decode_customer(StoredEvent::from(&tier_changed)).expect("decodes"),
        CustomerStreamEvent::TierChanged {
            customer_id: JANE,
            previous: None,
            tier: Tier::B,
            at: t(2),
        }
    );
    let details = encode_details_changed(JANE, t(3));
    let message = pb::CustomerDetailsChanged::decode(details.payload.as_slice()).expect("decodes");
    assert_eq!(
        (message.display_name.as_str(), message.email.as_str()),
        ("", "")
    );
    assert!(matches!(
        decode_customer(StoredEvent::from(&details)),
        Ok(CustomerStreamEvent::DetailsChanged { .. })
    ));
}

#[test]
fn every_request_event_round_trips() {
    let (root, child) = (request_id(1), request_id(2));
    let mut chain = Requests::default();
    chain.run(root, open(root, SALES, WORKSHOP, Parent::Ticket(TICKET)), 0);
    chain.run(
        root,
        RequestCommand::Commit {
            actor: WORKSHOP,
            due_at: t(100),
            kind: CommitmentKind::PersonalPromise,
        },
        1,
    );
    chain.run(
        child,
        open(child, WORKSHOP, TRANSPORT, Parent::Request(root)),
        2,
    );
    chain.run(
        child,
        RequestCommand::Commit {
            actor: TRANSPORT,
            due_at: t(90),
            kind: CommitmentKind::PersonalPromise,
        },
        3,
    );
    chain.run(
        child,
        RequestCommand::Revise {
            actor: TRANSPORT,
            new_due_at: t(120),
            reason: "truck".into(),
        },
        4,
    );
    let outlook = chain_domain::propagation::outlook(&chain.states[&child]).expect("opened");
    chain.run(root, RequestCommand::ObserveChild(outlook), 5);
    chain.run(child, RequestCommand::Fulfil { actor: TRANSPORT }, 6);
    chain.run(
        child,
        RequestCommand::ReportBreakdown {
            actor: WORKSHOP,
            kind: BreakdownKind::NotUsable,
            reason: "scratched".into(),
        },
        7,
    );
    chain.run(
        child,
        RequestCommand::ResolveBreakdown { actor: WORKSHOP },
        8,
    );
    chain.run(root, RequestCommand::MarkBreached, 100);
    let types: Vec<&str> = chain.events.iter().map(DomainEvent::event_type).collect();
    for expected in [
        "RequestOpened",
        "RequestCommitted",
        "RequestRevised",
        "RequestChildObserved",
        "RequestAtRisk",
        "RequestFulfilled",
        "RequestBreakdownReported",
        "RequestBreakdownResolved",
        "RequestBreached",
    ] {
        assert!(types.contains(&expected), "{expected} in {types:?}");
    }
}

#[test]
fn unknown_types_and_future_schemas_are_refused() {
    let unknown = chain_store::NewEvent::new("customerchain.v1.Nope", 1, t(0), vec![]);
    assert!(matches!(
        decode_ticket(StoredEvent::from(&unknown)),
        Err(CodecError::UnknownType(_))
    ));
    let future = chain_store::NewEvent {
        schema_version: 2,
        ..encode_tier_changed(JANE, None, Tier::A, t(0))
    };
    assert!(matches!(
        decode_customer(StoredEvent::from(&future)),
        Err(CodecError::UnsupportedSchema { .. })
    ));
}
