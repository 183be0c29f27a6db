//! Identifiers of the chain's things: teams, internal requests, external tickets, cases,
//! events, external customers and feedback sources.
//!
//! Each id is a newtype over a [`Uuid`] so a team id can never be passed where a request id is
//! expected. The domain never generates ids: the service creates them (UUIDv7, so they sort by
//! creation time) and hands them in through `from_uuid`, which keeps every decision
//! deterministic and replayable.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest piece of rejected input quoted back in an [`IdParseError`], so a huge bad value
/// cannot blow up an error message.
const QUOTED_INPUT_CHARS: usize = 64;

/// An id could not be parsed from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {input:?}: {reason}")]
pub struct IdParseError {
    /// Which kind of id was expected, e.g. `"team id"`.
    pub kind: &'static str,
    /// The rejected input (cut to 64 characters).
    pub input: String,
    /// Why it was rejected.
    pub reason: String,
}

impl IdParseError {
    fn new(kind: &'static str, input: &str, reason: impl Into<String>) -> Self {
        Self {
            kind,
            input: input.chars().take(QUOTED_INPUT_CHARS).collect(),
            reason: reason.into(),
        }
    }
}

/// Parses a UUID in any of the forms `uuid` accepts, refusing the nil UUID (never a real id).
fn parse_uuid(kind: &'static str, input: &str) -> Result<Uuid, IdParseError> {
    let uuid = Uuid::parse_str(input.trim())
        .map_err(|e| IdParseError::new(kind, input, format!("expected a UUID ({e})")))?;
    if uuid.is_nil() {
        return Err(IdParseError::new(kind, input, "the nil UUID is not an id"));
    }
    Ok(uuid)
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a UUID made by the caller (UUIDv7 for new ids).
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID behind this id.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_uuid($kind, s).map(Self)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

uuid_id!(
    /// A team: an internal provider and/or consumer of the chain.
    TeamId,
    "team id"
);
uuid_id!(
    /// An internal request from a consumer team to a provider team.
    RequestId,
    "request id"
);
uuid_id!(
    /// An external customer's ticket (owned by the tickets service).
    TicketId,
    "ticket id"
);
uuid_id!(
    /// One stored event; the service generates it when it appends the event.
    EventId,
    "event id"
);
uuid_id!(
    /// An external customer (a person or a company the business sells to).
    CustomerId,
    "customer id"
);
uuid_id!(
    /// Who gave some feedback: one of a customer's contacts, or an internal team. Opaque to
    /// the domain (the service derives it); scoring caps how loud one source can be.
    SourceId,
    "source id"
);

/// The root of a case tree: the external ticket the chain ultimately serves, or the root
/// internal request when no ticket is involved. Every event in the tree is correlated by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum CaseId {
    /// The case is rooted at an external ticket.
    Ticket(TicketId),
    /// The case is rooted at an internal request that serves no ticket.
    Request(RequestId),
}

impl CaseId {
    /// The UUID of the root (the correlation id on the wire).
    pub const fn as_uuid(&self) -> Uuid {
        match self {
            Self::Ticket(id) => id.as_uuid(),
            Self::Request(id) => id.as_uuid(),
        }
    }

    /// The ticket at the root, if the case is rooted at one.
    pub const fn ticket(&self) -> Option<TicketId> {
        match self {
            Self::Ticket(id) => Some(*id),
            Self::Request(_) => None,
        }
    }
}

impl From<TicketId> for CaseId {
    fn from(id: TicketId) -> Self {
        Self::Ticket(id)
    }
}

impl From<RequestId> for CaseId {
    fn from(id: RequestId) -> Self {
        Self::Request(id)
    }
}

/// Written as `ticket:<uuid>` or `request:<uuid>`.
impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ticket(id) => write!(f, "ticket:{id}"),
            Self::Request(id) => write!(f, "request:{id}"),
        }
    }
}

/// Reads `ticket:<uuid>` or `request:<uuid>`, the form [`CaseId`]'s `Display` writes.
impl FromStr for CaseId {
    type Err = IdParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const KIND: &str = "case id";
        match s.trim().split_once(':') {
            Some(("ticket", rest)) => parse_uuid(KIND, rest).map(|u| Self::Ticket(TicketId(u))),
            Some(("request", rest)) => parse_uuid(KIND, rest).map(|u| Self::Request(RequestId(u))),
            _ => Err(IdParseError::new(
                KIND,
                s,
                "expected `ticket:<uuid>` or `request:<uuid>`",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "0190a5d2-7c3e-7a41-8f00-123456789abc";

    #[test]
    fn team_id_round_trips_through_text() {
        let id: TeamId = TEXT.parse().expect("a valid uuid parses");
        assert_eq!(id.to_string(), TEXT);
        assert_eq!(TeamId::from_uuid(id.as_uuid()), id);
    }

    #[test]
    fn bad_id_error_names_the_kind_and_input() {
        let err = "not-a-uuid"
            .parse::<RequestId>()
            .expect_err("garbage must not parse");
        assert_eq!(err.kind, "request id");
        assert_eq!(err.input, "not-a-uuid");
        assert!(
            err.to_string()
                .starts_with("invalid request id \"not-a-uuid\"")
        );
    }

    #[test]
    fn nil_uuid_is_not_an_id() {
        let err = Uuid::nil()
            .to_string()
            .parse::<TicketId>()
            .expect_err("nil is refused");
        assert!(err.reason.contains("nil"));
    }

    #[test]
    fn long_bad_input_is_cut_in_the_error() {
        let input = "x".repeat(1000);
        let err = input.parse::<TeamId>().expect_err("garbage must not parse");
        assert_eq!(err.input.chars().count(), QUOTED_INPUT_CHARS);
    }

    #[test]
    fn case_id_round_trips_both_kinds() {
        let ticket: CaseId = format!("ticket:{TEXT}")
            .parse()
            .expect("ticket case parses");
        assert_eq!(
            ticket.ticket().map(|t| t.to_string()),
            Some(TEXT.to_owned())
        );
        assert_eq!(ticket.to_string(), format!("ticket:{TEXT}"));
        let request: CaseId = format!("request:{TEXT}")
            .parse()
            .expect("request case parses");
        assert_eq!(request.ticket(), None);
        assert_eq!(request.as_uuid().to_string(), TEXT);
        assert!(TEXT.parse::<CaseId>().is_err(), "a bare uuid is ambiguous");
        assert!(format!("team:{TEXT}").parse::<CaseId>().is_err());
    }

    #[test]
    fn ids_serialize_as_bare_uuids() {
        let id: TeamId = TEXT.parse().expect("a valid uuid parses");
        let json = serde_json::to_string(&id).expect("serializes");
        assert_eq!(json, format!("\"{TEXT}\""));
    }
}
