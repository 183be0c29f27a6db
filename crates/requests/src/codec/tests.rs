//! Round trips of every event through its stored form: encode, then decode as a stream, and
//! get the very same domain event back (times are whole microseconds, as stored).

use chain_domain::commitment::{Commitment, CommitmentKind};
use chain_domain::ids::{CaseId, RequestId, TeamId, TicketId};
use chain_domain::link::{LinkEvent, LinkKey, RequestLink};
use chain_domain::request::{
    BreakdownKind, ChildCondition, ChildOutlook, Parent, RequestEvent, RequestState, Risk, evolve,
    fold,
};
use chain_domain::team::TeamEvent;
use chain_proto::customerchain::v1 as pb;
use chain_store::NewEvent;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use prost::{Message, Name};
use uuid::Uuid;

use super::*;

const SALES: TeamId = TeamId::from_uuid(Uuid::from_u128(1));
const WORKSHOP: TeamId = TeamId::from_uuid(Uuid::from_u128(2));
const PROCUREMENT: TeamId = TeamId::from_uuid(Uuid::from_u128(3));
const TICKET: TicketId = TicketId::from_uuid(Uuid::from_u128(500));
const ROOT: RequestId = RequestId::from_uuid(Uuid::from_u128(100));
const CHILD: RequestId = RequestId::from_uuid(Uuid::from_u128(101));
const GRANDCHILD: RequestId = RequestId::from_uuid(Uuid::from_u128(102));

/// Hour `h` of the test week, with a microsecond part so precision is exercised.
fn t(h: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0)
        .single()
        .expect("a valid fixed time")
        + TimeDelta::hours(h)
        + TimeDelta::microseconds(123_456)
}

fn stored(event: &NewEvent) -> StoredEvent<'_> {
    StoredEvent {
        event_type: &event.event_type,
        schema_version: event.schema_version,
        occurred_at: event.occurred_at,
        payload: &event.payload,
    }
}

fn link(request_id: RequestId, provider: TeamId, consumer: TeamId) -> RequestLink {
    RequestLink {
        request_id,
        provider,
        consumer,
    }
}

fn opened(parent: Option<Parent>) -> RequestEvent {
    RequestEvent::Opened {
        request_id: ROOT,
        case_id: match parent {
            Some(Parent::Ticket(ticket)) => CaseId::Ticket(ticket),
            Some(Parent::Request(_)) => CaseId::Request(RequestId::from_uuid(Uuid::from_u128(7))),
            None => CaseId::Request(ROOT),
        },
        consumer: SALES,
        provider: WORKSHOP,
        title: "Build the desk".into(),
        needed_by: t(48),
        parent,
        at: t(0),
    }
}

/// Encodes `events` as one stream (after `opened`) and decodes them back.
fn round_trip(opened: &RequestEvent, events: &[RequestEvent]) -> Vec<RequestEvent> {
    let mut state = RequestState::default();
    let mut encoded = Vec::new();
    for event in std::iter::once(opened).chain(events) {
        state = evolve(state, event);
        let request = state.request.as_ref().expect("opened first");
        encoded.push(encode_request(event, request, &Enrichment::default()));
    }
    let mut decoder = RequestStreamDecoder::new();
    let decoded: Vec<RequestEvent> = encoded
        .iter()
        .map(|e| decoder.decode(stored(e)).expect("decodes"))
        .collect();
    assert_eq!(&decoded[0], opened);
    decoded[1..].to_vec()
}

#[test]
fn opened_round_trips_with_each_kind_of_parent() {
    for parent in [
        None,
        Some(Parent::Ticket(TICKET)),
        Some(Parent::Request(RequestId::from_uuid(Uuid::from_u128(9)))),
    ] {
        round_trip(&opened(parent), &[]);
    }
    let event = opened(Some(Parent::Ticket(TICKET)));
    let request = fold([&event]).request.expect("opened");
    let new = encode_request(&event, &request, &Enrichment::default());
    assert_eq!(new.event_type, "customerchain.v1.RequestOpened");
    assert_eq!(new.schema_version, SCHEMA_VERSION);
    let wire = pb::RequestOpened::decode(new.payload.as_slice()).expect("proto");
    assert_eq!(wire.root_ticket_id, TICKET.to_string());
    assert_eq!(wire.case_id, TICKET.to_string());
    assert!(!wire.link_id.is_empty(), "the link is named");
}

#[test]
fn the_lifecycle_events_round_trip() {
    let parent = Some(Parent::Ticket(TICKET));
    let commitment = Commitment {
        due_at: t(40),
        kind: CommitmentKind::PersonalPromise,
        committed_at: t(1),
    };
    let events = vec![
        RequestEvent::Committed {
            request_id: ROOT,
            parent,
            commitment,
        },
        RequestEvent::Revised {
            request_id: ROOT,
            parent,
            previous_due: t(40),
            new_due: t(44),
            reason: "late truck".into(),
            proactive: true,
            at: t(5),
        },
        RequestEvent::BreakdownReported {
            request_id: ROOT,
            parent,
            kind: BreakdownKind::NotServedWell,
            reason: "no answer".into(),
            at: t(6),
        },
        RequestEvent::BreakdownResolved {
            request_id: ROOT,
            parent,
            at: t(7),
        },
        RequestEvent::Fulfilled {
            request_id: ROOT,
            parent,
            due_at: t(44),
            on_time: true,
            at: t(43),
        },
        RequestEvent::BreakdownReported {
            request_id: ROOT,
            parent,
            kind: BreakdownKind::NotUsable,
            reason: "wrong size".into(),
            at: t(45),
        },
    ];
    assert_eq!(round_trip(&opened(parent), &events), events);
}

#[test]
fn every_request_event_of_a_ticket_case_names_the_ticket() {
    let parent = Some(Parent::Ticket(TICKET));
    let opened = opened(parent);
    let state = fold([&opened]);
    let request = state.request.expect("opened");
    let events = [
        RequestEvent::Fulfilled {
            request_id: ROOT,
            parent,
            due_at: t(44),
            on_time: true,
            at: t(43),
        },
        RequestEvent::BreakdownResolved {
            request_id: ROOT,
            parent,
            at: t(7),
        },
    ];
    let fulfilled = encode_request(&events[0], &request, &Enrichment::default());
    let wire = pb::RequestFulfilled::decode(fulfilled.payload.as_slice()).expect("proto");
    assert_eq!(wire.root_ticket_id, TICKET.to_string());
    let resolved = encode_request(&events[1], &request, &Enrichment::default());
    let wire = pb::RequestBreakdownResolved::decode(resolved.payload.as_slice()).expect("proto");
    assert_eq!(wire.root_ticket_id, TICKET.to_string());
    let root = fold([&self::opened(None)]).request.expect("opened");
    let free = encode_request(&events[0], &root, &Enrichment::default());
    let wire = pb::RequestFulfilled::decode(free.payload.as_slice()).expect("proto");
    assert_eq!(wire.root_ticket_id, "", "no ticket, no id");
}

#[test]
fn terminal_events_round_trip() {
    let cancelled = vec![RequestEvent::Cancelled {
        request_id: ROOT,
        parent: None,
        reason: "not needed".into(),
        at: t(2),
    }];
    assert_eq!(round_trip(&opened(None), &cancelled), cancelled);
    for cause_path in [vec![], vec![link(GRANDCHILD, PROCUREMENT, WORKSHOP)]] {
        let breached = vec![RequestEvent::Breached {
            request_id: ROOT,
            parent: None,
            due_at: t(48),
            committed: false,
            cause_path,
            at: t(48),
        }];
        assert_eq!(round_trip(&opened(None), &breached), breached);
    }
}

#[test]
fn risk_events_round_trip_and_put_the_request_last_on_the_wire_path() {
    let parent = Some(Parent::Ticket(TICKET));
    let path = vec![
        link(GRANDCHILD, PROCUREMENT, WORKSHOP),
        link(CHILD, WORKSHOP, SALES),
    ];
    let events = vec![
        RequestEvent::AtRisk {
            request_id: ROOT,
            parent,
            risk: Risk {
                cause_path: path.clone(),
                projected_completion: Some(t(66)),
                projected_delay: Some(TimeDelta::hours(18)),
            },
            at: t(10),
        },
        RequestEvent::AtRisk {
            request_id: ROOT,
            parent,
            risk: Risk {
                cause_path: path.clone(),
                projected_completion: None,
                projected_delay: None,
            },
            at: t(11),
        },
        RequestEvent::RiskCleared {
            request_id: ROOT,
            parent,
            projected_completion: t(48),
            at: t(12),
        },
    ];
    assert_eq!(round_trip(&opened(parent), &events), events);

    let state = fold([&opened(parent), &events[0]]);
    let request = state.request.expect("opened");
    let extra = Enrichment {
        trigger: pb::RiskTrigger::Revised,
        ..Enrichment::default()
    };
    let new = encode_request(&events[0], &request, &extra);
    let wire = pb::RequestAtRisk::decode(new.payload.as_slice()).expect("proto");
    let ids: Vec<String> = wire
        .cause_path
        .as_ref()
        .expect("a path")
        .links
        .iter()
        .map(|l| l.request_id.clone())
        .collect();
    assert_eq!(
        ids,
        [GRANDCHILD, CHILD, ROOT].map(|id| id.to_string()).to_vec()
    );
    assert_eq!(wire.root_ticket_id, TICKET.to_string());
    assert_eq!(wire.trigger(), pb::RiskTrigger::Revised);
    assert_eq!(wire.due_at, ts(t(48)));
    let mut decoder = RequestStreamDecoder::new();
    let first = encode_request(&opened(parent), &request, &Enrichment::default());
    decoder.decode(stored(&first)).expect("opened");
    decoder.decode(stored(&new)).expect("at risk");
    assert_eq!(decoder.last_trigger(), Some(pb::RiskTrigger::Revised));
}

#[test]
fn every_child_condition_round_trips() {
    let child = link(CHILD, PROCUREMENT, WORKSHOP);
    let below = vec![link(GRANDCHILD, PAINT, PROCUREMENT)];
    let conditions = vec![
        ChildCondition::AwaitingCommitment,
        ChildCondition::Projected {
            completion: t(30),
            cause_path: vec![],
        },
        ChildCondition::Projected {
            completion: t(60),
            cause_path: below.clone(),
        },
        ChildCondition::Unprojectable {
            cause_path: below.clone(),
        },
        ChildCondition::Breached {
            at: t(20),
            cause_path: vec![],
        },
        ChildCondition::BrokenDown {
            kind: BreakdownKind::NotUsable,
            cause_path: below,
        },
        ChildCondition::Fulfilled { at: t(21) },
        ChildCondition::Cancelled { at: t(22) },
    ];
    let events: Vec<RequestEvent> = conditions
        .into_iter()
        .enumerate()
        .map(|(i, condition)| RequestEvent::ChildObserved {
            request_id: ROOT,
            outlook: ChildOutlook {
                child,
                version: i as u64 + 1,
                condition,
            },
            at: t(3),
        })
        .collect();
    let mut opened = opened(None);
    if let RequestEvent::Opened { provider, .. } = &mut opened {
        *provider = PROCUREMENT;
    }
    assert_eq!(round_trip(&opened, &events), events);
}

const PAINT: TeamId = TeamId::from_uuid(Uuid::from_u128(4));

#[test]
fn a_request_stream_must_start_with_its_opening() {
    let event = RequestEvent::Cancelled {
        request_id: ROOT,
        parent: None,
        reason: "x".into(),
        at: t(1),
    };
    let request = fold([&opened(None)]).request.expect("opened");
    let new = encode_request(&event, &request, &Enrichment::default());
    let err = RequestStreamDecoder::new()
        .decode(stored(&new))
        .expect_err("no opening");
    assert!(matches!(err, CodecError::BeforeOpened(_)));
}

#[test]
fn unknown_types_versions_and_bytes_are_refused() {
    let request = fold([&opened(None)]).request.expect("opened");
    let good = encode_request(&opened(None), &request, &Enrichment::default());
    let mut unknown = good.clone();
    unknown.event_type = "customerchain.v1.Nonsense".into();
    let mut decoder = RequestStreamDecoder::new();
    decoder.decode(stored(&good)).expect("the opening");
    assert!(matches!(
        decoder.decode(stored(&unknown)),
        Err(CodecError::UnknownType(_))
    ));
    let mut future = good.clone();
    future.schema_version = 2;
    assert!(matches!(
        RequestStreamDecoder::new().decode(stored(&future)),
        Err(CodecError::UnsupportedSchema { version: 2, .. })
    ));
    let mut garbage = good;
    garbage.payload = vec![0xff, 0xff, 0xff];
    let result = RequestStreamDecoder::new().decode(stored(&garbage));
    assert!(
        matches!(result, Err(CodecError::Decode { .. })),
        "{result:?}"
    );
}

#[test]
fn team_events_round_trip() {
    let events = [
        TeamEvent::Created {
            team_id: SALES,
            name: "Sales".into(),
            front_line: true,
            at: t(0),
        },
        TeamEvent::Renamed {
            team_id: SALES,
            previous_name: "Sales".into(),
            name: "Field Sales".into(),
            at: t(1),
        },
    ];
    for event in events {
        let new = encode_team(&event);
        assert_eq!(decode_team(stored(&new)).expect("decodes"), event);
    }
    let created = encode_team(&TeamEvent::Created {
        team_id: SALES,
        name: "Sales".into(),
        front_line: false,
        at: t(0),
    });
    assert_eq!(created.event_type, pb::TeamCreated::full_name());
}

#[test]
fn link_events_round_trip_as_one_wire_type() {
    let key = LinkKey {
        provider: WORKSHOP,
        consumer: SALES,
    };
    let events = [
        LinkEvent::Declared {
            link: key,
            ola: TimeDelta::hours(48),
            at: t(0),
        },
        LinkEvent::OlaChanged {
            link: key,
            previous_ola: TimeDelta::hours(48),
            ola: TimeDelta::hours(24),
            at: t(1),
        },
    ];
    for event in events {
        let new = encode_link(&event);
        assert_eq!(new.event_type, pb::LinkDeclared::full_name());
        assert_eq!(decode_link(stored(&new)).expect("decodes"), event);
    }
}

#[test]
fn envelopes_decode_like_stored_events() {
    let team = TeamEvent::Created {
        team_id: SALES,
        name: "Sales".into(),
        front_line: true,
        at: t(0),
    };
    let new = encode_team(&team);
    let envelope = pb::EventEnvelope {
        event_id: new.event_id.to_string(),
        event_type: new.event_type.clone(),
        schema_version: new.schema_version,
        occurred_at: ts(new.occurred_at),
        payload: Some(prost_types::Any {
            type_url: format!("type.googleapis.com/{}", new.event_type),
            value: new.payload.clone(),
        }),
        ..pb::EventEnvelope::default()
    };
    let stored = StoredEvent::from_envelope(&envelope).expect("complete");
    assert_eq!(decode_team(stored).expect("decodes"), team);
    let empty = pb::EventEnvelope::default();
    assert!(StoredEvent::from_envelope(&empty).is_err());
}
