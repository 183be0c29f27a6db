//! The Link aggregate: a provider team serves a consumer team under an operational level
//! agreement (OLA), the default time the provider commits to for that consumer. A link is
//! identified by its (provider, consumer) pair. Also the small types that name links and the
//! two roles a team plays on one: [`LinkKey`], [`RequestLink`], [`Role`].

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::decider::{Decider, DomainEvent};
use crate::error::DomainError;
use crate::ids::{RequestId, TeamId};

/// Longest OLA accepted: a year. Anything longer is a typo, and bounding it keeps
/// `now + ola` far from chrono's limits.
pub const MAX_OLA: TimeDelta = TimeDelta::days(365);

/// The part a team plays on a link or a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The team that serves.
    Provider,
    /// The team that is served.
    Consumer,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Provider => "provider",
            Self::Consumer => "consumer",
        })
    }
}

/// The identity of a link: who serves whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LinkKey {
    /// The team that serves.
    pub provider: TeamId,
    /// The team that is served.
    pub consumer: TeamId,
}

/// Written as `provider->consumer`.
impl fmt::Display for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}->{}", self.provider, self.consumer)
    }
}

/// One link of the chain as crossed by one request: provider → consumer, with the request.
/// Cause paths and critical paths are lists of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestLink {
    /// The request that crosses the link.
    pub request_id: RequestId,
    /// The team that serves it.
    pub provider: TeamId,
    /// The team that asked for it.
    pub consumer: TeamId,
}

impl RequestLink {
    /// The link this request crosses.
    pub const fn key(&self) -> LinkKey {
        LinkKey {
            provider: self.provider,
            consumer: self.consumer,
        }
    }
}

/// What a caller can ask of a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkCommand {
    /// Declare the link, or change its OLA if it is already declared.
    Declare {
        /// The team that serves.
        provider: TeamId,
        /// The team that is served.
        consumer: TeamId,
        /// The default commitment duration: more than zero, at most [`MAX_OLA`].
        ola: TimeDelta,
    },
}

impl LinkCommand {
    /// The command's name as used in errors.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Declare { .. } => "DeclareLink",
        }
    }
}

/// What happened to a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum LinkEvent {
    /// The link was declared.
    #[serde(rename = "LinkDeclared")]
    Declared {
        /// Who serves whom.
        link: LinkKey,
        /// The default commitment duration.
        #[serde(with = "crate::duration_ms", rename = "ola_ms")]
        ola: TimeDelta,
        /// When.
        at: DateTime<Utc>,
    },
    /// The link's OLA was changed by declaring it again.
    #[serde(rename = "LinkOlaChanged")]
    OlaChanged {
        /// Who serves whom.
        link: LinkKey,
        /// The OLA it had.
        #[serde(with = "crate::duration_ms", rename = "previous_ola_ms")]
        previous_ola: TimeDelta,
        /// The OLA it has now.
        #[serde(with = "crate::duration_ms", rename = "ola_ms")]
        ola: TimeDelta,
        /// When.
        at: DateTime<Utc>,
    },
}

impl LinkEvent {
    /// The link the event is about.
    pub const fn link(&self) -> LinkKey {
        match self {
            Self::Declared { link, .. } | Self::OlaChanged { link, .. } => *link,
        }
    }
}

impl DomainEvent for LinkEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Declared { .. } => "LinkDeclared",
            Self::OlaChanged { .. } => "LinkOlaChanged",
        }
    }

    fn schema_version(&self) -> u16 {
        1
    }

    fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            Self::Declared { at, .. } | Self::OlaChanged { at, .. } => *at,
        }
    }
}

/// A link as known after its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Who serves whom.
    pub key: LinkKey,
    /// The default commitment duration.
    pub ola: TimeDelta,
    /// When it was first declared.
    pub declared_at: DateTime<Utc>,
}

impl Link {
    /// The due time the OLA suggests for a commitment made at `committed_at`, or `None` if
    /// that would fall outside chrono's range.
    pub fn default_due_at(&self, committed_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        committed_at.checked_add_signed(self.ola)
    }
}

/// A link's state: `link` is `None` before it is declared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkState {
    /// The link, once declared.
    pub link: Option<Link>,
    /// How many events have been applied (the stream version).
    pub version: u64,
}

/// Decides a link command. Re-declaring with the same OLA changes nothing (no event);
/// with another OLA it records [`LinkEvent::OlaChanged`].
pub fn decide(
    command: &LinkCommand,
    state: &LinkState,
    now: DateTime<Utc>,
) -> Result<Vec<LinkEvent>, DomainError> {
    let LinkCommand::Declare {
        provider,
        consumer,
        ola,
    } = command;
    if provider == consumer {
        return Err(DomainError::invalid_field(
            "consumer",
            "a team cannot be its own provider",
        ));
    }
    if *ola <= TimeDelta::zero() {
        return Err(DomainError::invalid_field("ola", "must be more than zero"));
    }
    if *ola > MAX_OLA {
        return Err(DomainError::invalid_field(
            "ola",
            format!("must be at most {} days", MAX_OLA.num_days()),
        ));
    }
    let key = LinkKey {
        provider: *provider,
        consumer: *consumer,
    };
    match &state.link {
        None => Ok(vec![LinkEvent::Declared {
            link: key,
            ola: *ola,
            at: now,
        }]),
        Some(link) if link.key != key => Err(DomainError::invalid_field(
            "provider",
            format!("this stream holds link {}, not {key}", link.key),
        )),
        Some(link) if link.ola == *ola => Ok(Vec::new()),
        Some(link) => Ok(vec![LinkEvent::OlaChanged {
            link: key,
            previous_ola: link.ola,
            ola: *ola,
            at: now,
        }]),
    }
}

/// Applies one link event.
pub fn evolve(mut state: LinkState, event: &LinkEvent) -> LinkState {
    state.version += 1;
    match event {
        LinkEvent::Declared { link, ola, at } => {
            state.link = Some(Link {
                key: *link,
                ola: *ola,
                declared_at: *at,
            });
        }
        LinkEvent::OlaChanged { ola, .. } => {
            if let Some(link) = state.link.as_mut() {
                link.ola = *ola;
            }
        }
    }
    state
}

/// Rebuilds a link's state from its events, oldest first.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a LinkEvent>) -> LinkState {
    events.into_iter().fold(LinkState::default(), evolve)
}

/// The link aggregate as a [`Decider`].
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkDecider;

impl Decider for LinkDecider {
    type Command = LinkCommand;
    type Event = LinkEvent;
    type State = LinkState;

    fn decide(
        command: &LinkCommand,
        state: &LinkState,
        now: DateTime<Utc>,
    ) -> Result<Vec<LinkEvent>, DomainError> {
        decide(command, state, now)
    }

    fn evolve(state: LinkState, event: &LinkEvent) -> LinkState {
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

    fn team(n: u128) -> TeamId {
        TeamId::from_uuid(Uuid::from_u128(n))
    }

    fn declare(provider: u128, consumer: u128, hours: i64) -> LinkCommand {
        LinkCommand::Declare {
            provider: team(provider),
            consumer: team(consumer),
            ola: TimeDelta::hours(hours),
        }
    }

    fn declared() -> LinkState {
        fold(&decide(&declare(1, 2, 48), &LinkState::default(), now()).expect("declares"))
    }

    #[test]
    fn declaring_records_the_ola() {
        let state = declared();
        let link = state.link.expect("declared");
        assert_eq!(link.ola, TimeDelta::hours(48));
        assert_eq!(link.key.to_string(), format!("{}->{}", team(1), team(2)));
        assert_eq!(
            link.default_due_at(now()),
            Some(now() + TimeDelta::hours(48))
        );
    }

    #[test]
    fn redeclaring_changes_the_ola_or_nothing() {
        let state = declared();
        let same = decide(&declare(1, 2, 48), &state, now()).expect("same ola");
        assert!(same.is_empty());
        let changed = decide(&declare(1, 2, 24), &state, now()).expect("new ola");
        assert_eq!(
            changed,
            vec![LinkEvent::OlaChanged {
                link: LinkKey {
                    provider: team(1),
                    consumer: team(2)
                },
                previous_ola: TimeDelta::hours(48),
                ola: TimeDelta::hours(24),
                at: now(),
            }]
        );
        assert_eq!(changed[0].event_type(), "LinkOlaChanged");
        let state = changed.iter().fold(state, evolve);
        assert_eq!(state.link.map(|l| l.ola), Some(TimeDelta::hours(24)));
    }

    #[test]
    fn provider_must_differ_from_consumer() {
        let err = decide(&declare(1, 1, 1), &LinkState::default(), now()).expect_err("self");
        assert!(matches!(
            err,
            DomainError::InvalidField {
                field: "consumer",
                ..
            }
        ));
    }

    #[test]
    fn ola_must_be_positive_and_bounded() {
        for bad in [0, -1, 365 * 24 + 1] {
            let err =
                decide(&declare(1, 2, bad), &LinkState::default(), now()).expect_err("bad ola");
            assert!(
                matches!(err, DomainError::InvalidField { field: "ola", .. }),
                "{bad} h: {err}"
            );
        }
    }

    #[test]
    fn another_pair_on_this_stream_is_refused() {
        let err = decide(&declare(2, 1, 1), &declared(), now()).expect_err("other pair");
        assert!(matches!(
            err,
            DomainError::InvalidField {
                field: "provider",
                ..
            }
        ));
    }

    #[test]
    fn ola_is_stored_in_milliseconds() {
        let events = decide(&declare(1, 2, 1), &LinkState::default(), now()).expect("declares");
        let json = serde_json::to_value(&events[0]).expect("serializes");
        assert_eq!(json["type"], "LinkDeclared");
        assert_eq!(json["ola_ms"], 3_600_000);
        let back: LinkEvent = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, events[0]);
    }
}
