//! Who is calling: the [`Caller`] of an RPC, a team (by its id) or a service (by its name:
//! `requests-svc`, `tickets-svc`, `scoring-svc`, …).
//!
//! Over mutual TLS the caller is who the verified client certificate names (its SPIFFE ID, see
//! [`crate::certificate`]); a metadata entry `x-chain-actor` may only repeat it. Over plaintext
//! (development, or a mesh that terminates TLS in a sidecar) the caller is what that entry
//! claims, which any client can fake. Services only ever ask [`Caller::of`] for the caller.
//!
//! A missing or malformed actor is `UNAUTHENTICATED`; a well-formed actor that may not do
//! what it asks (a service where a team must act, a team that is not the provider) is
//! `PERMISSION_DENIED`, decided by the RPC's rule ([`crate::access`]), then by the service and
//! the domain.

use std::fmt;

use chain_domain::ids::TeamId;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Request, Status};

use crate::{certificate, status};

/// The metadata entry holding the caller's identity.
pub const ACTOR_METADATA_KEY: &str = "x-chain-actor";

/// Longest service name accepted.
const MAX_SERVICE_NAME: usize = 64;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    /// A team, acting for itself (a consumer asking, a provider committing).
    Team(TeamId),
    /// Another service of the chain (or an operator tool), acting on its own behalf.
    Service(String),
}

impl Caller {
    /// The caller of `request`: the one its client certificate names when it came over TLS,
    /// else the one its metadata names.
    pub fn of<T>(request: &Request<T>) -> Result<Self, Status> {
        match request.peer_certs() {
            Some(chain) => {
                Self::certified(chain.first().map(|der| der.as_ref()), request.metadata())
            }
            None => Self::from_metadata(request.metadata()),
        }
    }

    /// The caller the client certificate `der` names (the chain's leaf, verified by the TLS
    /// handshake); `UNAUTHENTICATED` when there is none, it names nobody, or `metadata` claims
    /// someone else.
    pub fn certified(der: Option<&[u8]>, metadata: &MetadataMap) -> Result<Self, Status> {
        let der = der.ok_or_else(|| status::unauthenticated("no client certificate"))?;
        let caller = certificate::caller_in(der)?;
        if metadata.contains_key(ACTOR_METADATA_KEY) {
            let claimed = Self::from_metadata(metadata)?;
            if claimed != caller {
                return Err(status::unauthenticated(format!(
                    "{ACTOR_METADATA_KEY} names {claimed}, but the client certificate names {caller}"
                )));
            }
        }
        Ok(caller)
    }

    /// The caller named in `metadata`; `UNAUTHENTICATED` when the entry is missing or
    /// malformed.
    pub fn from_metadata(metadata: &MetadataMap) -> Result<Self, Status> {
        let value = metadata.get(ACTOR_METADATA_KEY).ok_or_else(|| {
            status::unauthenticated(format!(
                "no caller identity: set the {ACTOR_METADATA_KEY} metadata entry to a team id \
                 or a service name"
            ))
        })?;
        let text = value.to_str().map_err(|_| {
            status::unauthenticated(format!("{ACTOR_METADATA_KEY} is not ASCII text"))
        })?;
        Self::parse(text)
    }

    /// Reads an identity: a UUID is a team, a lower-case name (`[a-z][a-z0-9-]*`, at most 64
    /// characters) is a service.
    pub fn parse(text: &str) -> Result<Self, Status> {
        let text = text.trim();
        if let Ok(team) = text.parse::<TeamId>() {
            return Ok(Self::Team(team));
        }
        let well_formed = text.len() <= MAX_SERVICE_NAME
            && text.starts_with(|c: char| c.is_ascii_lowercase())
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if well_formed {
            Ok(Self::Service(text.to_owned()))
        } else {
            Err(status::unauthenticated(format!(
                "{ACTOR_METADATA_KEY} must be a team id (UUID) or a service name"
            )))
        }
    }

    /// The acting team; `PERMISSION_DENIED` when a service calls what only a team may do.
    pub fn team(&self) -> Result<TeamId, Status> {
        match self {
            Self::Team(team) => Ok(*team),
            Self::Service(name) => Err(status::permission_denied(format!(
                "only a team may do this; the caller is the service {name}"
            ))),
        }
    }

    /// Writes this identity into outgoing metadata (clients, tests, other services).
    pub fn insert_into(&self, metadata: &mut MetadataMap) {
        // Both forms are plain ASCII, so the value always parses.
        if let Ok(value) = MetadataValue::try_from(self.to_string()) {
            metadata.insert(ACTOR_METADATA_KEY, value);
        }
    }
}

/// The identity as it is stored in an event's `actor`: the team id or the service name.
impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Team(team) => fmt::Display::fmt(team, f),
            Self::Service(name) => f.write_str(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;
    use uuid::Uuid;

    const TEAM: &str = "0190a5d2-7c3e-7a41-8f00-123456789abc";

    fn with_actor(value: &str) -> MetadataMap {
        let mut metadata = MetadataMap::new();
        metadata.insert(
            ACTOR_METADATA_KEY,
            MetadataValue::try_from(value).expect("ascii"),
        );
        metadata
    }

    #[test]
    fn a_uuid_is_a_team_and_a_name_is_a_service() {
        let team = Caller::from_metadata(&with_actor(TEAM)).expect("team");
        assert_eq!(team.team().expect("a team").to_string(), TEAM);
        assert_eq!(team.to_string(), TEAM);
        let service = Caller::from_metadata(&with_actor("tickets-svc")).expect("service");
        assert_eq!(service, Caller::Service("tickets-svc".into()));
        let denied = service.team().expect_err("a service is not a team");
        assert_eq!(denied.code(), Code::PermissionDenied);
    }

    #[test]
    fn missing_or_malformed_identities_are_unauthenticated() {
        let missing = Caller::from_metadata(&MetadataMap::new()).expect_err("missing");
        assert_eq!(missing.code(), Code::Unauthenticated);
        assert!(missing.message().contains(ACTOR_METADATA_KEY));
        for bad in [
            "",
            "Sales Team",
            "-svc",
            "x".repeat(65).as_str(),
            "00000000-0000-0000-0000-000000000000",
        ] {
            let err = Caller::from_metadata(&with_actor(bad)).expect_err(bad);
            assert_eq!(err.code(), Code::Unauthenticated, "{bad:?}");
        }
    }

    #[test]
    fn an_identity_round_trips_through_metadata() {
        let caller = Caller::Team(TeamId::from_uuid(Uuid::from_u128(42)));
        let mut metadata = MetadataMap::new();
        caller.insert_into(&mut metadata);
        assert_eq!(Caller::from_metadata(&metadata).expect("parses"), caller);
        let request = Request::from_parts(metadata, tonic::Extensions::default(), ());
        assert_eq!(Caller::of(&request).expect("parses"), caller);
    }

    #[test]
    fn over_tls_the_certificate_names_the_caller_and_the_metadata_may_only_repeat_it() {
        let pki = chain_testkit::TestPki::new();
        let certificate = pki.client("spiffe://chain.test/service/tickets-svc").der;
        let service = Caller::Service("tickets-svc".to_owned());
        let certified = |metadata: &MetadataMap| Caller::certified(Some(&certificate), metadata);
        assert_eq!(certified(&MetadataMap::new()).expect("no claim"), service);
        assert_eq!(
            certified(&with_actor("tickets-svc")).expect("the same claim"),
            service
        );
        for other in [TEAM, "requests-svc", "Not An Actor"] {
            let refused = certified(&with_actor(other)).expect_err(other);
            assert_eq!(refused.code(), Code::Unauthenticated, "{other}");
        }
        let anonymous = Caller::certified(None, &with_actor("tickets-svc")).expect_err("none");
        assert_eq!(anonymous.code(), Code::Unauthenticated);
    }
}
