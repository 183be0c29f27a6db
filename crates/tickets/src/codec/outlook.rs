//! A request's outlook as a ticket records it (`TicketChainObserved.outlook`): the
//! `customerchain.v1.ChildOutlook` requests-svc also writes on a parent request, with its
//! cause path ending at the child as on any request's path.
//!
//! This is the same mapping as chain-requests' own (private) one: it can go once that crate
//! exports it.

use chain_domain::link::RequestLink;
use chain_domain::request::{BreakdownKind, ChildCondition, ChildOutlook};
use chain_proto::customerchain::v1 as pb;
use prost::Name;

use super::{CodecError, cause_link, invalid, link_from, time_of, ts};

/// A breakdown kind on the wire.
pub fn breakdown_kind(kind: BreakdownKind) -> pb::BreakdownKind {
    match kind {
        BreakdownKind::NotUsable => pb::BreakdownKind::NotUsable,
        BreakdownKind::NotServedWell => pb::BreakdownKind::NotServedWell,
    }
}

fn breakdown_kind_from<M: Name>(
    field: &'static str,
    kind: pb::BreakdownKind,
) -> Result<BreakdownKind, CodecError> {
    match kind {
        pb::BreakdownKind::NotUsable => Ok(BreakdownKind::NotUsable),
        pb::BreakdownKind::NotServedWell => Ok(BreakdownKind::NotServedWell),
        pb::BreakdownKind::Unspecified => Err(invalid::<M>(field, "unspecified")),
    }
}

/// A domain cause path (which leaves out the request it belongs to) on the wire, ending with
/// `this`, the request it was computed for.
pub fn path_to(path: &[RequestLink], this: RequestLink) -> pb::CausePath {
    pb::CausePath {
        links: path
            .iter()
            .copied()
            .chain(std::iter::once(this))
            .map(cause_link)
            .collect(),
    }
}

/// A wire cause path back into the domain's form: without its last link.
fn path_from<M: Name>(path: Option<&pb::CausePath>) -> Result<Vec<RequestLink>, CodecError> {
    let links = path.map_or(&[][..], |p| p.links.as_slice());
    let Some((_, before_last)) = links.split_last() else {
        return Ok(Vec::new());
    };
    before_last.iter().map(link_from::<M>).collect()
}

/// A child's outlook on the wire.
pub fn outlook_to_proto(outlook: &ChildOutlook) -> pb::ChildOutlook {
    let mut message = pb::ChildOutlook {
        child: Some(cause_link(outlook.child)),
        child_version: outlook.version,
        cause_path: Some(path_to(outlook.condition.cause_path(), outlook.child)),
        ..pb::ChildOutlook::default()
    };
    let condition = match &outlook.condition {
        ChildCondition::AwaitingCommitment => pb::ChildCondition::AwaitingCommitment,
        ChildCondition::Projected { completion, .. } => {
            message.projected_completion = ts(*completion);
            pb::ChildCondition::Projected
        }
        ChildCondition::Unprojectable { .. } => pb::ChildCondition::Unprojectable,
        ChildCondition::Breached { at, .. } => {
            message.at = ts(*at);
            pb::ChildCondition::Breached
        }
        ChildCondition::BrokenDown { kind, .. } => {
            message.set_breakdown_kind(breakdown_kind(*kind));
            pb::ChildCondition::BrokenDown
        }
        ChildCondition::Fulfilled { at } => {
            message.at = ts(*at);
            pb::ChildCondition::Fulfilled
        }
        ChildCondition::Cancelled { at } => {
            message.at = ts(*at);
            pb::ChildCondition::Cancelled
        }
    };
    message.set_condition(condition);
    message
}

/// A child's outlook of payload `M`, back in the domain.
pub fn outlook_from_proto<M: Name>(outlook: &pb::ChildOutlook) -> Result<ChildOutlook, CodecError> {
    let child = outlook
        .child
        .as_ref()
        .ok_or_else(|| invalid::<M>("outlook.child", "missing"))?;
    let cause_path = path_from::<M>(outlook.cause_path.as_ref())?;
    let at = || time_of::<M>("outlook.at", outlook.at.as_ref());
    let condition = match outlook.condition() {
        pb::ChildCondition::Unspecified => {
            return Err(invalid::<M>("outlook.condition", "unspecified"));
        }
        pb::ChildCondition::AwaitingCommitment => ChildCondition::AwaitingCommitment,
        pb::ChildCondition::Projected => ChildCondition::Projected {
            completion: time_of::<M>(
                "outlook.projected_completion",
                outlook.projected_completion.as_ref(),
            )?,
            cause_path,
        },
        pb::ChildCondition::Unprojectable => ChildCondition::Unprojectable { cause_path },
        pb::ChildCondition::Breached => ChildCondition::Breached {
            at: at()?,
            cause_path,
        },
        pb::ChildCondition::BrokenDown => ChildCondition::BrokenDown {
            kind: breakdown_kind_from::<M>("outlook.breakdown_kind", outlook.breakdown_kind())?,
            cause_path,
        },
        pb::ChildCondition::Fulfilled => ChildCondition::Fulfilled { at: at()? },
        pb::ChildCondition::Cancelled => ChildCondition::Cancelled { at: at()? },
    };
    Ok(ChildOutlook {
        child: link_from::<M>(child)?,
        version: outlook.child_version,
        condition,
    })
}
