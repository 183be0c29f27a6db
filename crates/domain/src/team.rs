//! The Team aggregate: a team inside the company that serves and is served along the chain.
//! A front-line team is one that serves external customers directly.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::decider::{Decider, DomainEvent};
use crate::error::DomainError;
use crate::field::{MAX_NAME_CHARS, required_text};
use crate::ids::TeamId;

/// What a caller can ask of a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamCommand {
    /// Create the team.
    Create {
        /// The new team's id (made by the service).
        team_id: TeamId,
        /// Its name: required, at most 200 characters, trimmed.
        name: String,
        /// Whether it serves external customers directly.
        front_line: bool,
    },
    /// Give the team a new name.
    Rename {
        /// The new name: required, at most 200 characters, trimmed.
        name: String,
    },
}

impl TeamCommand {
    /// The command's name as used in errors.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Create { .. } => "CreateTeam",
            Self::Rename { .. } => "RenameTeam",
        }
    }
}

/// What happened to a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TeamEvent {
    /// The team was created.
    #[serde(rename = "TeamCreated")]
    Created {
        /// The team.
        team_id: TeamId,
        /// Its name.
        name: String,
        /// Whether it serves external customers directly.
        front_line: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// The team was renamed.
    #[serde(rename = "TeamRenamed")]
    Renamed {
        /// The team.
        team_id: TeamId,
        /// The name it had.
        previous_name: String,
        /// The name it has now.
        name: String,
        /// When.
        at: DateTime<Utc>,
    },
}

impl TeamEvent {
    /// The team the event is about.
    pub const fn team_id(&self) -> TeamId {
        match self {
            Self::Created { team_id, .. } | Self::Renamed { team_id, .. } => *team_id,
        }
    }
}

impl DomainEvent for TeamEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Created { .. } => "TeamCreated",
            Self::Renamed { .. } => "TeamRenamed",
        }
    }

    fn schema_version(&self) -> u16 {
        1
    }

    fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            Self::Created { at, .. } | Self::Renamed { at, .. } => *at,
        }
    }
}

/// A team as known after its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    /// Its id.
    pub id: TeamId,
    /// Its current name.
    pub name: String,
    /// Whether it serves external customers directly.
    pub front_line: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A team's state: `team` is `None` before it is created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeamState {
    /// The team, once created.
    pub team: Option<Team>,
    /// How many events have been applied (the stream version).
    pub version: u64,
}

/// Decides a team command.
pub fn decide(
    command: &TeamCommand,
    state: &TeamState,
    now: DateTime<Utc>,
) -> Result<Vec<TeamEvent>, DomainError> {
    match (command, &state.team) {
        (
            TeamCommand::Create {
                team_id,
                name,
                front_line,
            },
            None,
        ) => Ok(vec![TeamEvent::Created {
            team_id: *team_id,
            name: required_text("name", name, MAX_NAME_CHARS)?,
            front_line: *front_line,
            at: now,
        }]),
        (TeamCommand::Create { .. }, Some(team)) => Err(DomainError::AlreadyExists {
            kind: "team",
            id: team.id.to_string(),
        }),
        (TeamCommand::Rename { name }, Some(team)) => {
            let name = required_text("name", name, MAX_NAME_CHARS)?;
            if name == team.name {
                // Renaming to the current name changes nothing: idempotent, no event.
                return Ok(Vec::new());
            }
            Ok(vec![TeamEvent::Renamed {
                team_id: team.id,
                previous_name: team.name.clone(),
                name,
                at: now,
            }])
        }
        (TeamCommand::Rename { .. }, None) => Err(DomainError::InvalidTransition {
            command: command.name(),
            state: "NotCreated",
        }),
    }
}

/// Applies one team event.
pub fn evolve(mut state: TeamState, event: &TeamEvent) -> TeamState {
    state.version += 1;
    match event {
        TeamEvent::Created {
            team_id,
            name,
            front_line,
            at,
        } => {
            state.team = Some(Team {
                id: *team_id,
                name: name.clone(),
                front_line: *front_line,
                created_at: *at,
            });
        }
        TeamEvent::Renamed { name, .. } => {
            if let Some(team) = state.team.as_mut() {
                team.name = name.clone();
            }
        }
    }
    state
}

/// Rebuilds a team's state from its events, oldest first.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a TeamEvent>) -> TeamState {
    events.into_iter().fold(TeamState::default(), evolve)
}

/// The team aggregate as a [`Decider`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TeamDecider;

impl Decider for TeamDecider {
    type Command = TeamCommand;
    type Event = TeamEvent;
    type State = TeamState;

    fn decide(
        command: &TeamCommand,
        state: &TeamState,
        now: DateTime<Utc>,
    ) -> Result<Vec<TeamEvent>, DomainError> {
        decide(command, state, now)
    }

    fn evolve(state: TeamState, event: &TeamEvent) -> TeamState {
        evolve(state, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use uuid::Uuid;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
            .single()
            .expect("a valid fixed time")
    }

    fn team_id() -> TeamId {
        TeamId::from_uuid(Uuid::from_u128(1))
    }

    fn create(name: &str) -> TeamCommand {
        TeamCommand::Create {
            team_id: team_id(),
            name: name.to_owned(),
            front_line: true,
        }
    }

    fn created() -> TeamState {
        let events = decide(&create("Sales"), &TeamState::default(), now()).expect("creates");
        fold(&events)
    }

    #[test]
    fn create_then_rename() {
        let state = created();
        let team = state.team.as_ref().expect("created");
        assert_eq!(team.name, "Sales");
        assert!(team.front_line);
        let events = decide(
            &TeamCommand::Rename {
                name: " Field Sales ".into(),
            },
            &state,
            now(),
        )
        .expect("renames");
        assert_eq!(
            events,
            vec![TeamEvent::Renamed {
                team_id: team_id(),
                previous_name: "Sales".into(),
                name: "Field Sales".into(),
                at: now(),
            }]
        );
        assert_eq!(events[0].event_type(), "TeamRenamed");
        let state = events.iter().fold(state, evolve);
        assert_eq!(state.team.map(|t| t.name), Some("Field Sales".into()));
        assert_eq!(state.version, 2);
    }

    #[test]
    fn creating_twice_is_already_exists() {
        let err = decide(&create("Sales"), &created(), now()).expect_err("exists");
        assert!(matches!(
            err,
            DomainError::AlreadyExists { kind: "team", .. }
        ));
    }

    #[test]
    fn name_is_required_and_bounded() {
        let empty = decide(&create("  "), &TeamState::default(), now()).expect_err("empty");
        assert!(matches!(
            empty,
            DomainError::InvalidField { field: "name", .. }
        ));
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        let too_long = decide(&create(&long), &TeamState::default(), now()).expect_err("long");
        assert!(matches!(
            too_long,
            DomainError::InvalidField { field: "name", .. }
        ));
        let rename_empty = decide(&TeamCommand::Rename { name: "".into() }, &created(), now())
            .expect_err("empty rename");
        assert!(matches!(
            rename_empty,
            DomainError::InvalidField { field: "name", .. }
        ));
    }

    #[test]
    fn renaming_an_absent_team_names_the_state() {
        let err = decide(
            &TeamCommand::Rename { name: "X".into() },
            &TeamState::default(),
            now(),
        )
        .expect_err("absent");
        assert_eq!(
            err,
            DomainError::InvalidTransition {
                command: "RenameTeam",
                state: "NotCreated"
            }
        );
    }

    #[test]
    fn renaming_to_the_same_name_is_a_no_op() {
        let events = decide(
            &TeamCommand::Rename {
                name: "Sales".into(),
            },
            &created(),
            now(),
        )
        .expect("no-op");
        assert!(events.is_empty());
    }

    #[test]
    fn events_serialize_with_their_type() {
        let events = decide(&create("Sales"), &TeamState::default(), now()).expect("creates");
        let json = serde_json::to_value(&events[0]).expect("serializes");
        assert_eq!(json["type"], "TeamCreated");
        let back: TeamEvent = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, events[0]);
    }
}
