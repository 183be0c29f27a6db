//! The time ledger of one request: where its time went, and to which link a delay is
//! charged, so a late delivery is charged to the link that caused it, not to whoever
//! finished last.
//!
//! The request's life runs from `opened` to its *end*: the delivery (`Fulfilled`), the
//! withdrawal (`Cancelled`), or, while it has not delivered (open or `Breached`), `now`.
//! That span is split, without overlap, into four buckets:
//!
//! - **awaiting commitment**: from opened until the provider committed;
//! - **waiting on children**: after the commitment, while at least one child request is
//!   open. A child counts from its opening until it delivers; a delivery reported
//!   `NotUsable` counts only once that breakdown is settled, a breached child never
//!   delivers, and a cancelled child stops counting when cancelled. The time is also
//!   split per child ([`Ledger::waited_on`]): at each instant it goes to the *bottleneck*,
//!   the open child that delivered last;
//! - **hand-off**: after a child delivered and before the provider's next step on the
//!   request (opening another child, reporting or settling a breakdown on a child, or
//!   revising its due time), while no child is open: the work sat between two links.
//!   Delivering the request itself is not such a step: the time before it is work;
//! - **in progress**: the rest of the time after the commitment (the provider's own work).
//!
//! **Delay.** A request is late by `end - needed_by` when positive (not for a cancelled
//! one): lateness is judged against what the consumer needed. The delay is charged first to
//! the children that made the request wait *after their own needed-by time* (a bottleneck
//! child past its needed-by), latest such waiting first, and what remains to the request's
//! own link. [`crate::case::CaseView::delay_attribution`] follows those charges down the tree.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};

use crate::link::RequestLink;
use crate::request::{BreakdownKind, Request, RequestStatus};

/// Some time charged to a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    /// The link (and request) charged.
    pub link: RequestLink,
    /// How much time.
    pub time: TimeDelta,
}

/// How late a request is and who it is charged to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delay {
    /// `end - needed_by`.
    pub late_by: TimeDelta,
    /// The charges, summing to `late_by`: children first (by id), the request's own link last.
    pub charges: Vec<Charge>,
}

/// Where one request's time went (see the module docs for the definitions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    /// The request.
    pub request: RequestLink,
    /// Opened until committed.
    pub awaiting_commitment: TimeDelta,
    /// The provider's own work after committing.
    pub in_progress: TimeDelta,
    /// While at least one child was open, after committing.
    pub waiting_on_children: TimeDelta,
    /// Between a child's delivery and the provider's next step.
    pub hand_off: TimeDelta,
    /// The waiting split per child (as bottleneck), by child id; zero entries left out.
    pub waited_on: Vec<Charge>,
    /// The delay, if the request is late.
    pub delay: Option<Delay>,
}

impl Ledger {
    /// The sum of the four buckets: the request's whole span, opened to end.
    pub fn total(&self) -> TimeDelta {
        self.awaiting_commitment + self.in_progress + self.waiting_on_children + self.hand_off
    }
}

/// A child's open span as the parent waits on it.
struct ChildSpan {
    link: RequestLink,
    needed_by: DateTime<Utc>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// Computes the ledger of `request` from its own state and its children's states (any
/// child of another request is ignored), as of `now`.
pub fn ledger(request: &Request, children: &[&Request], now: DateTime<Utc>) -> Ledger {
    let opened = request.opened_at;
    let end = match request.status {
        RequestStatus::Fulfilled { at, .. } | RequestStatus::Cancelled { at } => at,
        RequestStatus::Opened | RequestStatus::Committed | RequestStatus::Breached { .. } => now,
    }
    .max(opened);
    let committed = request
        .commitment
        .map(|c| c.committed_at.clamp(opened, end));
    let clip = |t: DateTime<Utc>| t.clamp(opened, end);

    let children: Vec<&Request> = children
        .iter()
        .copied()
        .filter(|c| c.parent == Some(crate::request::Parent::Request(request.id)))
        .collect();
    let spans: Vec<ChildSpan> = children
        .iter()
        .map(|child| ChildSpan {
            link: child.link(),
            needed_by: child.needed_by,
            start: clip(child.opened_at),
            end: clip(delivered_at(child).unwrap_or(end)),
        })
        .collect();
    let hand_offs = hand_offs(request, &children, end);

    let mut cuts: Vec<DateTime<Utc>> = vec![opened, end];
    cuts.extend(committed);
    for span in &spans {
        cuts.extend([span.start, span.end, clip(span.needed_by)]);
    }
    for (from, to) in &hand_offs {
        cuts.extend([*from, *to]);
    }
    cuts.sort();
    cuts.dedup();

    let zero = TimeDelta::zero();
    let (mut awaiting, mut working, mut waiting, mut hand_off) = (zero, zero, zero, zero);
    let mut waited_on: BTreeMap<RequestLink, TimeDelta> = BTreeMap::new();
    // (segment start, length, bottleneck) for waiting past the bottleneck's needed-by.
    let mut late_waits: Vec<(DateTime<Utc>, TimeDelta, RequestLink)> = Vec::new();
    for pair in cuts.windows(2) {
        let (from, to) = (pair[0], pair[1]);
        let length = to - from;
        if committed.is_none_or(|c| from < c) {
            awaiting += length;
            continue;
        }
        let bottleneck = spans
            .iter()
            .filter(|s| s.start <= from && from < s.end)
            .max_by(|a, b| a.end.cmp(&b.end).then(b.link.cmp(&a.link)));
        if let Some(span) = bottleneck {
            waiting += length;
            *waited_on.entry(span.link).or_insert(zero) += length;
            if from >= span.needed_by {
                late_waits.push((from, length, span.link));
            }
        } else if hand_offs.iter().any(|(a, b)| *a <= from && from < *b) {
            hand_off += length;
        } else {
            working += length;
        }
    }

    let delay = delay(request, end, late_waits);
    Ledger {
        request: request.link(),
        awaiting_commitment: awaiting,
        in_progress: working,
        waiting_on_children: waiting,
        hand_off,
        waited_on: waited_on
            .into_iter()
            .filter(|(_, time)| *time > zero)
            .map(|(link, time)| Charge { link, time })
            .collect(),
        delay,
    }
}

/// When a child delivered something usable: its fulfilment, or, when a `NotUsable`
/// breakdown was reported on it, when the last such breakdown was settled.
fn delivered_at(child: &Request) -> Option<DateTime<Utc>> {
    match child.status {
        RequestStatus::Fulfilled { at, .. } => {
            let not_usable = child
                .breakdowns
                .iter()
                .filter(|b| b.kind == BreakdownKind::NotUsable);
            let mut settled = Some(at);
            for breakdown in not_usable {
                settled = match (settled, breakdown.resolved_at) {
                    (Some(s), Some(r)) => Some(s.max(r)),
                    _ => None,
                };
            }
            settled
        }
        RequestStatus::Cancelled { at } => Some(at),
        RequestStatus::Opened | RequestStatus::Committed | RequestStatus::Breached { .. } => None,
    }
}

/// The hand-off spans: from each child's usable delivery to the provider's next step.
fn hand_offs(
    request: &Request,
    children: &[&Request],
    end: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut steps: Vec<DateTime<Utc>> = request.revisions.iter().map(|r| r.at).collect();
    for child in children {
        steps.push(child.opened_at);
        for breakdown in &child.breakdowns {
            steps.push(breakdown.reported_at);
            steps.extend(breakdown.resolved_at);
        }
    }
    children
        .iter()
        .filter(|c| !matches!(c.status, RequestStatus::Cancelled { .. }))
        .filter_map(|c| delivered_at(c))
        .filter_map(|delivered| {
            steps
                .iter()
                .copied()
                .filter(|s| *s > delivered && *s <= end)
                .min()
                .map(|next| (delivered, next))
        })
        .collect()
}

fn delay(
    request: &Request,
    end: DateTime<Utc>,
    mut late_waits: Vec<(DateTime<Utc>, TimeDelta, RequestLink)>,
) -> Option<Delay> {
    if matches!(request.status, RequestStatus::Cancelled { .. }) {
        return None;
    }
    let late_by = end - request.needed_by;
    if late_by <= TimeDelta::zero() {
        return None;
    }
    // Slack is used up first: the waiting closest to the end is what pushed it over.
    late_waits.sort_by_key(|w| std::cmp::Reverse(w.0));
    let mut remaining = late_by;
    let mut per_child: BTreeMap<RequestLink, TimeDelta> = BTreeMap::new();
    for (_, length, link) in late_waits {
        if remaining <= TimeDelta::zero() {
            break;
        }
        let take = length.min(remaining);
        *per_child.entry(link).or_insert(TimeDelta::zero()) += take;
        remaining -= take;
    }
    let mut charges: Vec<Charge> = per_child
        .into_iter()
        .map(|(link, time)| Charge { link, time })
        .collect();
    if remaining > TimeDelta::zero() {
        charges.push(Charge {
            link: request.link(),
            time: remaining,
        });
    }
    Some(Delay { late_by, charges })
}
