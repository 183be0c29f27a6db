//! Recording a request's new events: every writer (the RPCs, propagation, the deadline
//! watch) turns the events `decide` produced into stored events here, so they all carry the
//! same facts beyond the domain event: the time ledger on a terminal event, the parent's due
//! time on a commitment, and the trigger of a risk (what happened at its root cause).

use chain_domain::DomainEvent;
use chain_domain::ids::RequestId;
use chain_domain::ledger::ledger;
use chain_domain::request::{
    Parent, Request, RequestEvent, RequestState, RequestStatus, Risk, evolve,
};
use chain_proto::customerchain::v1 as pb;
use chain_store::{EventStore, NewEvent};
use futures::future::try_join_all;
use std::collections::BTreeMap;

use crate::codec::{Enrichment, encode_request};
use crate::streams::{LoadError, LoadedRequest, load_request};
use crate::view;

/// A decision's events ready to append.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The stored events, in order.
    pub events: Vec<NewEvent>,
    /// The request's state after them.
    pub state: RequestState,
    /// The trigger of the last `RequestAtRisk` among them, if any.
    pub trigger: Option<pb::RiskTrigger>,
}

/// Requests a writer already holds up to date, so recording need not read them again.
pub type Known = BTreeMap<RequestId, LoadedRequest>;

/// The stored events of `events`, decided on `before`, and the state after them.
pub async fn encode_batch(
    store: &EventStore,
    before: &RequestState,
    events: &[RequestEvent],
) -> Result<Batch, LoadError> {
    encode_batch_knowing(store, &Known::new(), before, events).await
}

/// As [`encode_batch`], reading from `store` only the requests `known` does not hold.
pub async fn encode_batch_knowing(
    store: &EventStore,
    known: &Known,
    before: &RequestState,
    events: &[RequestEvent],
) -> Result<Batch, LoadError> {
    let mut state = before.clone();
    let mut children: Option<Vec<Request>> = None;
    let mut trigger = None;
    let mut encoded = Vec::with_capacity(events.len());
    for event in events {
        state = evolve(state, event);
        let Some(request) = state.request.as_ref() else {
            continue;
        };
        let mut extra = Enrichment::default();
        match event {
            RequestEvent::Fulfilled { .. }
            | RequestEvent::Cancelled { .. }
            | RequestEvent::Breached { .. } => {
                if children.is_none() {
                    children = Some(load_children(store, request).await?);
                }
                let kids: Vec<&Request> = children.iter().flatten().collect();
                let spent = ledger(request, &kids, event.occurred_at());
                extra.time_ledger = Some(view::time_ledger(&spent));
            }
            RequestEvent::Committed {
                parent: Some(Parent::Request(parent)),
                ..
            } => {
                let parent = load_request(store, *parent).await?;
                extra.parent_due_at = parent.request().and_then(Request::due_at);
            }
            RequestEvent::AtRisk { risk, .. } => {
                extra.trigger = trigger_of(store, known, risk).await?;
                trigger = Some(extra.trigger);
            }
            _ => {}
        }
        encoded.push(encode_request(event, request, &extra));
    }
    Ok(Batch {
        events: encoded,
        state,
        trigger,
    })
}

/// The requests opened to serve `request` that it knows of.
pub async fn load_children(
    store: &EventStore,
    request: &Request,
) -> Result<Vec<Request>, LoadError> {
    let loaded = try_join_all(request.children.keys().map(|id| load_request(store, *id))).await?;
    Ok(loaded.into_iter().filter_map(|l| l.state.request).collect())
}

/// What happened at the root cause of `risk`, read from its direct child (the last link of
/// the domain's cause path).
async fn trigger_of(
    store: &EventStore,
    known: &Known,
    risk: &Risk,
) -> Result<pb::RiskTrigger, LoadError> {
    let Some(direct) = risk.cause_path.last() else {
        return Ok(pb::RiskTrigger::ProjectionLate);
    };
    if let Some(child) = known.get(&direct.request_id) {
        return Ok(root_trigger(child));
    }
    let child = load_request(store, direct.request_id).await?;
    Ok(root_trigger(&child))
}

/// What a child's condition says happened at the root of the trouble it passes up: its own
/// risk's trigger when it is at risk itself (the trouble is further down), otherwise what
/// it did: breached, broke down, revised its due time, or committed late.
pub fn root_trigger(child: &LoadedRequest) -> pb::RiskTrigger {
    let Some(request) = child.request() else {
        return pb::RiskTrigger::ProjectionLate;
    };
    if request.risk.is_some() {
        return child.trigger.unwrap_or(pb::RiskTrigger::ProjectionLate);
    }
    if let RequestStatus::Breached { cause_path, .. } = &request.status {
        return if cause_path.is_empty() {
            pb::RiskTrigger::Breached
        } else {
            child.trigger.unwrap_or(pb::RiskTrigger::Breached)
        };
    }
    if request.outstanding_breakdown().is_some() {
        pb::RiskTrigger::Breakdown
    } else if !request.revisions.is_empty() {
        pb::RiskTrigger::Revised
    } else if request.commitment.is_some() {
        pb::RiskTrigger::CommitmentLate
    } else {
        pb::RiskTrigger::ProjectionLate
    }
}
