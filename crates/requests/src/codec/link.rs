//! Link events: both the first declaration and an OLA change are a `LinkDeclared` on the
//! wire, told apart by `previous_ola` (unset on the first declaration).

use chain_domain::link::{LinkEvent, LinkKey};
use chain_proto::customerchain::v1 as pb;
use chain_store::NewEvent;

use super::{CodecError, StoredEvent, id_of, new_event, span, span_of};
use crate::streams::link_id;

/// The stored event of a link event.
pub fn encode_link(event: &LinkEvent) -> NewEvent {
    let (link, ola, previous_ola, at) = match event {
        LinkEvent::Declared { link, ola, at } => (link, ola, None, at),
        LinkEvent::OlaChanged {
            link,
            previous_ola,
            ola,
            at,
        } => (link, ola, Some(previous_ola), at),
    };
    new_event(
        &pb::LinkDeclared {
            link_id: link_id(link).to_string(),
            provider_team_id: link.provider.to_string(),
            consumer_team_id: link.consumer.to_string(),
            ola: span(*ola),
            previous_ola: previous_ola.and_then(|p| span(*p)),
        },
        *at,
    )
}

/// The link event a stored event holds.
pub fn decode_link(stored: StoredEvent<'_>) -> Result<LinkEvent, CodecError> {
    if !stored.is::<pb::LinkDeclared>() {
        return Err(CodecError::UnknownType(stored.event_type.to_owned()));
    }
    let m: pb::LinkDeclared = stored.message()?;
    let link = LinkKey {
        provider: id_of::<pb::LinkDeclared, _>("provider_team_id", &m.provider_team_id)?,
        consumer: id_of::<pb::LinkDeclared, _>("consumer_team_id", &m.consumer_team_id)?,
    };
    let ola = span_of::<pb::LinkDeclared>("ola", m.ola.as_ref())?;
    let at = stored.occurred_at;
    Ok(match m.previous_ola {
        None => LinkEvent::Declared { link, ola, at },
        Some(previous) => LinkEvent::OlaChanged {
            link,
            previous_ola: span_of::<pb::LinkDeclared>("previous_ola", Some(&previous))?,
            ola,
            at,
        },
    })
}
