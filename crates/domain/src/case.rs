//! A whole case at once: given the events of every request in a case tree (under a ticket
//! or a root request), compute each request's projected completion and risk from the tree
//! itself, the critical path, and the earliest feasible time of the root with the link that
//! bounds it. This is what a service answers `GetCase` and feasibility questions from.
//!
//! Definitions (all recomputed from the requests' own facts, so they hold even when a
//! propagation step has not been applied yet):
//!
//! - **projected completion** of an open request: `max(expected_by, children's projected
//!   completions)`, with the same rule as [`crate::request::assess`] (a breach or breakdown
//!   below makes it unknowable: `None`);
//! - **earliest feasible** time of a request: for a delivered one, its delivery; for a
//!   cancelled one, none; otherwise the latest of its own expected time, `now` (nothing
//!   undelivered completes in the past) and its children's earliest feasible times;
//! - the **critical path** of a request: starting from it, step to the child whose earliest
//!   feasible time exceeds the request's own bound (latest such child), until a request is
//!   bounded by itself; it is listed **bounding link first**, ending with the request, like
//!   a cause path. For a ticket with several root requests, the root that is feasible
//!   latest gives the case's critical path.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};

use crate::ids::RequestId;
use crate::ledger::{Charge, Ledger, ledger};
use crate::link::RequestLink;
use crate::request::{
    ChildCondition, Parent, Request, RequestEvent, RequestState, RequestStatus, Risk, assess,
    condition_of, evolve,
};

/// One request of a case, with what the tree says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseNode {
    /// The request as folded from its events.
    pub request: Request,
    /// Its stream version.
    pub version: u64,
    /// Its children in the case, by id.
    pub children: Vec<RequestId>,
    /// Projected completion (open requests only; `None` when unknowable or closed).
    pub projected_completion: Option<DateTime<Utc>>,
    /// Its risk as computed from the tree (open requests only).
    pub risk: Option<Risk>,
    /// Earliest feasible completion (`None` for a cancelled request).
    pub earliest_feasible: Option<DateTime<Utc>>,
    /// Whether it is on the case's critical path.
    pub on_critical_path: bool,
}

/// The earliest a request (or the case) can complete, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feasibility {
    /// The earliest feasible completion.
    pub earliest: DateTime<Utc>,
    /// The link that bounds it: the first entry of the critical path.
    pub bound_by: RequestLink,
    /// The critical path, bounding link first, ending with the request asked about.
    pub critical_path: Vec<RequestLink>,
}

/// A case tree with projections, risks and the critical path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaseView {
    /// Every request of the case, by id.
    pub nodes: BTreeMap<RequestId, CaseNode>,
    /// The requests with no parent in the case (serving the ticket, or the root request), by id.
    pub roots: Vec<RequestId>,
    /// The case's feasibility: the latest-feasible root's; `None` when every root is cancelled.
    pub feasibility: Option<Feasibility>,
    /// The bounding child of each request, if a child bounds it.
    bounding_child: BTreeMap<RequestId, RequestId>,
    /// The risk computed for closed requests, kept only to explain a breach to its parent.
    closed_risk: BTreeMap<RequestId, Risk>,
}

impl CaseView {
    /// Builds the view from the events of every request in the case, in any interleaving
    /// (each request's own events in order). Events of a request never opened are ignored.
    pub fn from_events<'a>(
        events: impl IntoIterator<Item = &'a RequestEvent>,
        now: DateTime<Utc>,
    ) -> Self {
        let mut states: BTreeMap<RequestId, RequestState> = BTreeMap::new();
        for event in events {
            let state = states.remove(&event.request_id()).unwrap_or_default();
            states.insert(event.request_id(), evolve(state, event));
        }
        Self::from_states(states.into_values(), now)
    }

    /// Builds the view from already folded request states.
    pub fn from_states(states: impl IntoIterator<Item = RequestState>, now: DateTime<Utc>) -> Self {
        let mut nodes: BTreeMap<RequestId, CaseNode> = BTreeMap::new();
        for state in states {
            if let Some(request) = state.request {
                nodes.insert(
                    request.id,
                    CaseNode {
                        request,
                        version: state.version,
                        children: Vec::new(),
                        projected_completion: None,
                        risk: None,
                        earliest_feasible: None,
                        on_critical_path: false,
                    },
                );
            }
        }
        let mut roots = Vec::new();
        let links: Vec<(RequestId, Option<RequestId>)> = nodes
            .values()
            .map(|n| match n.request.parent {
                Some(Parent::Request(p)) if p != n.request.id && nodes.contains_key(&p) => {
                    (n.request.id, Some(p))
                }
                _ => (n.request.id, None),
            })
            .collect();
        for (id, parent) in links {
            match parent.and_then(|p| nodes.get_mut(&p)) {
                Some(parent) => parent.children.push(id),
                None => roots.push(id),
            }
        }
        let mut view = Self {
            nodes,
            roots,
            feasibility: None,
            bounding_child: BTreeMap::new(),
            closed_risk: BTreeMap::new(),
        };
        let mut done = BTreeSet::new();
        let mut visiting = BTreeSet::new();
        let ids: Vec<RequestId> = view.nodes.keys().copied().collect();
        for id in ids {
            view.compute(id, now, &mut done, &mut visiting);
        }
        view.feasibility = view
            .roots
            .iter()
            .filter_map(|root| view.feasibility_of(*root))
            .fold(None, |best: Option<Feasibility>, f| match best {
                Some(b) if b.earliest >= f.earliest => Some(b),
                _ => Some(f),
            });
        let on_path: Vec<RequestId> = view
            .feasibility
            .iter()
            .flat_map(|f| f.critical_path.iter().map(|l| l.request_id))
            .collect();
        for id in on_path {
            if let Some(node) = view.nodes.get_mut(&id) {
                node.on_critical_path = true;
            }
        }
        view
    }

    /// One request of the case.
    pub fn node(&self, id: RequestId) -> Option<&CaseNode> {
        self.nodes.get(&id)
    }

    /// The case's critical path (empty when nothing is feasible).
    pub fn critical_path(&self) -> &[RequestLink] {
        self.feasibility
            .as_ref()
            .map_or(&[], |f| f.critical_path.as_slice())
    }

    /// The feasibility of one request's subtree; `None` for an unknown or cancelled request.
    pub fn feasibility_of(&self, id: RequestId) -> Option<Feasibility> {
        let earliest = self.nodes.get(&id)?.earliest_feasible?;
        let mut path = vec![id];
        let mut current = id;
        while let Some(child) = self.bounding_child.get(&current) {
            if path.contains(child) {
                break;
            }
            path.push(*child);
            current = *child;
        }
        let critical_path: Vec<RequestLink> = path
            .iter()
            .rev()
            .filter_map(|id| self.nodes.get(id).map(|n| n.request.link()))
            .collect();
        Some(Feasibility {
            earliest,
            bound_by: *critical_path.first()?,
            critical_path,
        })
    }

    /// The time ledger of one request of the case, as of `now`.
    pub fn ledger(&self, id: RequestId, now: DateTime<Utc>) -> Option<Ledger> {
        let node = self.nodes.get(&id)?;
        let children: Vec<&Request> = node
            .children
            .iter()
            .filter_map(|c| self.nodes.get(c).map(|n| &n.request))
            .collect();
        Some(ledger(&node.request, &children, now))
    }

    /// The delay of one request charged down the tree: each charge its ledger makes to a
    /// child is split again by that child's own ledger (its children first, then itself),
    /// so the time ends up on the links that caused it. Deepest causes first; empty when the
    /// request is not late.
    pub fn delay_attribution(&self, id: RequestId, now: DateTime<Utc>) -> Vec<Charge> {
        let Some(delay) = self.ledger(id, now).and_then(|l| l.delay) else {
            return Vec::new();
        };
        let mut charges = Vec::new();
        self.attribute(id, delay.late_by, now, &mut charges, &mut BTreeSet::new());
        charges
    }

    fn attribute(
        &self,
        id: RequestId,
        amount: TimeDelta,
        now: DateTime<Utc>,
        out: &mut Vec<Charge>,
        visiting: &mut BTreeSet<RequestId>,
    ) {
        let Some(own) = self.ledger(id, now) else {
            return;
        };
        let mut remaining = amount;
        if visiting.insert(id) {
            for charge in own.delay.iter().flat_map(|d| d.charges.iter()) {
                if remaining <= TimeDelta::zero() || charge.link == own.request {
                    continue;
                }
                let take = charge.time.min(remaining);
                self.attribute(charge.link.request_id, take, now, out, visiting);
                remaining -= take;
            }
            visiting.remove(&id);
        }
        if remaining > TimeDelta::zero() {
            match out.iter_mut().find(|c| c.link == own.request) {
                Some(existing) => existing.time += remaining,
                None => out.push(Charge {
                    link: own.request,
                    time: remaining,
                }),
            }
        }
    }

    /// Computes one node after its children (post-order); a cycle edge is ignored.
    fn compute(
        &mut self,
        id: RequestId,
        now: DateTime<Utc>,
        done: &mut BTreeSet<RequestId>,
        visiting: &mut BTreeSet<RequestId>,
    ) {
        if done.contains(&id) || !visiting.insert(id) {
            return;
        }
        let children = self
            .nodes
            .get(&id)
            .map(|n| n.children.clone())
            .unwrap_or_default();
        for child in &children {
            self.compute(*child, now, done, visiting);
        }
        let child_facts: Vec<(RequestLink, ChildCondition, Option<DateTime<Utc>>)> = children
            .iter()
            .filter(|c| done.contains(*c))
            .filter_map(|c| self.nodes.get(c))
            .map(|n| {
                let risk = n
                    .risk
                    .as_ref()
                    .or_else(|| self.closed_risk.get(&n.request.id));
                (
                    n.request.link(),
                    condition_of(&n.request, risk),
                    n.earliest_feasible,
                )
            })
            .collect();
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        let request = &node.request;
        let risk = assess(
            request.expected_by(),
            child_facts
                .iter()
                .map(|(link, condition, _)| (link, condition)),
        );
        let delivered = match request.status {
            RequestStatus::Fulfilled { at, .. } if request.outstanding_breakdown().is_none() => {
                Some(at)
            }
            _ => None,
        };
        let (earliest, bound) = match (&request.status, delivered) {
            (RequestStatus::Cancelled { .. }, _) => (None, None),
            (_, Some(at)) => (Some(at), None),
            (status, None) => {
                let own = if status.is_open() {
                    request.expected_by().max(now)
                } else {
                    now
                };
                let latest_child = child_facts
                    .iter()
                    .filter_map(|(link, _, feasible)| feasible.map(|f| (f, link.request_id)))
                    .fold(
                        None,
                        |best: Option<(DateTime<Utc>, RequestId)>, (f, c)| match best {
                            Some((b, _)) if b >= f => best,
                            _ => Some((f, c)),
                        },
                    );
                match latest_child {
                    Some((f, child)) if f > own => (Some(f), Some(child)),
                    _ => (Some(own), None),
                }
            }
        };
        if request.is_open() {
            node.projected_completion = match &risk {
                None => Some(request.expected_by()),
                Some(r) => r.projected_completion,
            };
            node.risk = risk;
        } else if let Some(risk) = risk {
            self.closed_risk.insert(id, risk);
        }
        node.earliest_feasible = earliest;
        if let Some(child) = bound {
            self.bounding_child.insert(id, child);
        }
        visiting.remove(&id);
        done.insert(id);
    }
}
