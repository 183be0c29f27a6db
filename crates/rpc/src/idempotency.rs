//! Idempotency keys: every mutating RPC takes a client-chosen `idempotency_key`, so a retry
//! returns the first result and appends nothing.
//!
//! - The **scope** is `"<rpc>/<caller>"`: two callers (or two RPCs) never share keys.
//! - The **fingerprint** is the SHA-256 of the protobuf encoding of the request *with the
//!   key taken out*, so the same key with a different request is told apart from an honest
//!   retry (`INVALID_ARGUMENT` on `idempotency_key`).
//! - The event store keeps the record (scope, key, fingerprint, encoded response) in the
//!   same statement as the events ([`chain_store::Idempotency`]).
//!
//! A retry usually does not reach the append: re-deciding the command on the state the first
//! attempt produced is refused (committing twice is `FAILED_PRECONDITION`), or the expected
//! version no longer matches. So before reporting such a refusal a service asks
//! [`IdempotentCommand::replay`] whether the key already has a response.

use chain_store::Idempotency;
use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::{PgExecutor, Row};
use tonic::Status;

use crate::Caller;
use crate::status::{database_error, invalid_argument};

/// Longest idempotency key accepted, in characters.
pub const MAX_KEY_CHARS: usize = 128;

/// The scope of a key: the RPC and the caller.
pub fn scope(rpc: &str, caller: &Caller) -> String {
    format!("{rpc}/{caller}")
}

/// The SHA-256 of `request`'s protobuf encoding (pass it with its key taken out).
pub fn fingerprint<M: Message>(request: &M) -> Vec<u8> {
    Sha256::digest(request.encode_to_vec()).to_vec()
}

/// One mutating call's key, scope and fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentCommand {
    scope: String,
    key: String,
    fingerprint: Vec<u8>,
}

impl IdempotentCommand {
    /// The command of `rpc` by `caller` with `key`, for `request_without_key`: the request
    /// whose `idempotency_key` was taken out (`std::mem::take(&mut request.idempotency_key)`).
    /// The key is required, 1 to 128 characters.
    pub fn new<M: Message>(
        rpc: &str,
        caller: &Caller,
        key: String,
        request_without_key: &M,
    ) -> Result<Self, Status> {
        if key.trim().is_empty() {
            return Err(invalid_argument(
                "idempotency_key",
                "is required (for example a UUID chosen by the client)",
            ));
        }
        let chars = key.chars().count();
        if chars > MAX_KEY_CHARS {
            return Err(invalid_argument(
                "idempotency_key",
                format!("must be at most {MAX_KEY_CHARS} characters, got {chars}"),
            ));
        }
        Ok(Self {
            scope: scope(rpc, caller),
            key,
            fingerprint: fingerprint(request_without_key),
        })
    }

    /// `"<rpc>/<caller>"`.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The client's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The request's fingerprint.
    pub fn fingerprint(&self) -> &[u8] {
        &self.fingerprint
    }

    /// The record to append with the command's events: `response` is what the first attempt
    /// returns and every retry gets back.
    pub fn record<R: Message>(&self, response: &R) -> Idempotency {
        Idempotency {
            scope: self.scope.clone(),
            key: self.key.clone(),
            fingerprint: self.fingerprint.clone(),
            response: response.encode_to_vec(),
        }
    }

    /// The response recorded for this key, if an earlier attempt succeeded; `INVALID_ARGUMENT`
    /// on `idempotency_key` when the key was used for a different request.
    ///
    /// Reads the event store's `idempotency_keys` table.
    pub async fn replay<'e, R>(&self, executor: impl PgExecutor<'e>) -> Result<Option<R>, Status>
    where
        R: Message + Default,
    {
        let row = sqlx::query(
            "SELECT fingerprint, response FROM idempotency_keys WHERE scope = $1 AND key = $2",
        )
        .bind(&self.scope)
        .bind(&self.key)
        .fetch_optional(executor)
        .await
        .map_err(|e| database_error(&e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let stored: Vec<u8> = row.try_get("fingerprint").map_err(|e| database_error(&e))?;
        if stored != self.fingerprint {
            return Err(invalid_argument(
                "idempotency_key",
                "this key was already used for a different request",
            ));
        }
        let response: Vec<u8> = row.try_get("response").map_err(|e| database_error(&e))?;
        Self::decode(&response).map(Some)
    }

    /// Decodes a recorded response (from [`chain_store::AppendOutcome::Replayed`]).
    pub fn decode<R: Message + Default>(response: &[u8]) -> Result<R, Status> {
        R::decode(response).map_err(|error| {
            tracing::error!(%error, "a recorded response does not decode");
            crate::status::internal()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chain_domain::ids::TeamId;
    use chain_proto::customerchain::v1::{CreateTeamRequest, Team};
    use chain_store::{EventMetadata, EventStore, NewEvent, StreamId};
    use chain_testkit::TestDatabase;
    use tonic::Code;
    use uuid::Uuid;

    fn caller() -> Caller {
        Caller::Team(TeamId::from_uuid(Uuid::from_u128(9)))
    }

    fn request(name: &str, key: &str) -> CreateTeamRequest {
        CreateTeamRequest {
            idempotency_key: key.to_owned(),
            name: name.to_owned(),
            front_line: false,
        }
    }

    fn command(mut request: CreateTeamRequest) -> Result<IdempotentCommand, Status> {
        let key = std::mem::take(&mut request.idempotency_key);
        IdempotentCommand::new("CreateTeam", &caller(), key, &request)
    }

    #[test]
    fn the_fingerprint_ignores_the_key_but_not_the_request() {
        let a = command(request("Sales", "k1")).expect("valid");
        let b = command(request("Sales", "k2")).expect("valid");
        let c = command(request("Workshop", "k1")).expect("valid");
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_eq!(a.fingerprint().len(), 32);
        assert_eq!(a.scope(), format!("CreateTeam/{}", caller()));
        assert_eq!(a.key(), "k1");
    }

    #[test]
    fn the_key_is_required_and_bounded() {
        let missing = command(request("Sales", "")).expect_err("required");
        assert_eq!(missing.code(), Code::InvalidArgument);
        assert!(missing.message().contains("idempotency_key"));
        let long = command(request("Sales", &"k".repeat(129))).expect_err("too long");
        assert_eq!(long.code(), Code::InvalidArgument);
        assert!(command(request("Sales", &"k".repeat(128))).is_ok());
    }

    #[tokio::test]
    async fn replay_finds_the_first_response_and_refuses_a_reused_key() {
        let db = TestDatabase::create().await;
        let store = EventStore::new(db.pool());
        store.migrate().await.expect("migrations");
        let first = command(request("Sales", "k1")).expect("valid");
        assert_eq!(
            first.replay::<Team>(store.pool()).await.expect("lookup"),
            None
        );
        let response = Team {
            name: "Sales".into(),
            version: 1,
            ..Team::default()
        };
        store
            .append(
                &StreamId::new("team", "t1"),
                0,
                &[NewEvent::new(
                    "test.TeamCreated",
                    1,
                    chrono::Utc::now(),
                    vec![],
                )],
                &EventMetadata::default(),
                Some(&first.record(&response)),
            )
            .await
            .expect("append");
        let retried = command(request("Sales", "k1")).expect("valid");
        assert_eq!(
            retried.replay::<Team>(store.pool()).await.expect("lookup"),
            Some(response)
        );
        let reused = command(request("Workshop", "k1")).expect("valid");
        let err = reused
            .replay::<Team>(store.pool())
            .await
            .expect_err("another request");
        assert_eq!(err.code(), Code::InvalidArgument);
    }
}
