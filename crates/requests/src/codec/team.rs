//! Team events: `TeamCreated`, `TeamRenamed`.

use chain_domain::team::TeamEvent;
use chain_proto::customerchain::v1 as pb;
use chain_store::NewEvent;

use super::{CodecError, StoredEvent, id_of, new_event};

/// The stored event of a team event.
pub fn encode_team(event: &TeamEvent) -> NewEvent {
    match event {
        TeamEvent::Created {
            team_id,
            name,
            front_line,
            at,
        } => new_event(
            &pb::TeamCreated {
                team_id: team_id.to_string(),
                name: name.clone(),
                front_line: *front_line,
            },
            *at,
        ),
        TeamEvent::Renamed {
            team_id,
            previous_name,
            name,
            at,
        } => new_event(
            &pb::TeamRenamed {
                team_id: team_id.to_string(),
                previous_name: previous_name.clone(),
                new_name: name.clone(),
            },
            *at,
        ),
    }
}

/// The team event a stored event holds.
pub fn decode_team(stored: StoredEvent<'_>) -> Result<TeamEvent, CodecError> {
    let at = stored.occurred_at;
    if stored.is::<pb::TeamCreated>() {
        let m: pb::TeamCreated = stored.message()?;
        Ok(TeamEvent::Created {
            team_id: id_of::<pb::TeamCreated, _>("team_id", &m.team_id)?,
            name: m.name,
            front_line: m.front_line,
            at,
        })
    } else if stored.is::<pb::TeamRenamed>() {
        let m: pb::TeamRenamed = stored.message()?;
        Ok(TeamEvent::Renamed {
            team_id: id_of::<pb::TeamRenamed, _>("team_id", &m.team_id)?,
            previous_name: m.previous_name,
            name: m.new_name,
            at,
        })
    } else {
        Err(CodecError::UnknownType(stored.event_type.to_owned()))
    }
}
