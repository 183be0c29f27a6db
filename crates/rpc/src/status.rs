//! The one place where refusals and failures become `tonic::Status`: domain refusals
//! ([`DomainError`]), event-store failures ([`StoreError`]) and the service's own checks (a
//! bad field, a missing resource, a caller not allowed). Every status carries rich details
//! (`google.rpc.*` through `tonic-types`) so a client can react to the field, state or role
//! at fault without parsing the message, and an `ErrorInfo` with a stable `reason`.
//!
//! | refusal | code | details |
//! | --- | --- | --- |
//! | `InvalidField` | `INVALID_ARGUMENT` | `BadRequest` naming the field |
//! | `InvalidTransition` | `FAILED_PRECONDITION` | `PreconditionFailure` naming the state |
//! | `DeadlineNotReached` | `FAILED_PRECONDITION` | `PreconditionFailure` naming the deadline |
//! | `PromiseNotFeasible` | `FAILED_PRECONDITION` | `PreconditionFailure` naming the bounding request; `ErrorInfo` with the critical link and earliest feasible time |
//! | `WrongActor` | `PERMISSION_DENIED` | `ErrorInfo` with the role required |
//! | `AlreadyExists` | `ALREADY_EXISTS` | `ResourceInfo` |
//! | store `Conflict` | `ABORTED` | `ErrorInfo` naming the stream |
//! | store `IdempotencyKeyReused` | `INVALID_ARGUMENT` | `BadRequest` on `idempotency_key` |
//! | database unreachable | `UNAVAILABLE` | `RetryInfo` |
//! | any other database failure | `INTERNAL` | nothing: SQL never leaves the service |

use std::collections::HashMap;
use std::time::Duration;

use chain_domain::DomainError;
use chain_domain::link::RequestLink;
use chain_store::StoreError;
use chrono::{DateTime, SecondsFormat, Utc};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every status the services return.
pub const ERROR_DOMAIN: &str = "customerchain.v1";

/// How long a client should wait before retrying after `UNAVAILABLE`.
const RETRY_AFTER_UNAVAILABLE: Duration = Duration::from_secs(1);

/// Stable `ErrorInfo.reason` values.
pub mod reason {
    /// A request field is missing, malformed or out of range.
    pub const INVALID_FIELD: &str = "INVALID_FIELD";
    /// The command is not allowed in the resource's current state.
    pub const INVALID_TRANSITION: &str = "INVALID_TRANSITION";
    /// A promise is due before the chain behind it can deliver.
    pub const PROMISE_NOT_FEASIBLE: &str = "PROMISE_NOT_FEASIBLE";
    /// A time-based command came before its deadline.
    pub const DEADLINE_NOT_REACHED: &str = "DEADLINE_NOT_REACHED";
    /// The caller does not play the role the command needs.
    pub const WRONG_ACTOR: &str = "WRONG_ACTOR";
    /// The resource to create exists already.
    pub const ALREADY_EXISTS: &str = "ALREADY_EXISTS";
    /// The resource asked for does not exist.
    pub const NOT_FOUND: &str = "NOT_FOUND";
    /// The resource changed since the caller read it (or a concurrent writer won).
    pub const VERSION_CONFLICT: &str = "VERSION_CONFLICT";
    /// The idempotency key was used before for another request.
    pub const IDEMPOTENCY_KEY_REUSED: &str = "IDEMPOTENCY_KEY_REUSED";
    /// The caller's identity is missing or malformed.
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    /// The caller is known but not allowed to do this.
    pub const PERMISSION_DENIED: &str = "PERMISSION_DENIED";
    /// The database cannot be reached.
    pub const UNAVAILABLE: &str = "UNAVAILABLE";
    /// Something failed inside the service.
    pub const INTERNAL: &str = "INTERNAL";
}

/// Turns a refusal or failure into the status the API documents.
pub trait IntoStatus {
    /// The status for this error.
    fn into_status(self) -> Status;
}

impl IntoStatus for DomainError {
    fn into_status(self) -> Status {
        domain_error(&self)
    }
}

impl IntoStatus for &DomainError {
    fn into_status(self) -> Status {
        domain_error(self)
    }
}

impl IntoStatus for StoreError {
    fn into_status(self) -> Status {
        store_error(&self)
    }
}

impl IntoStatus for &StoreError {
    fn into_status(self) -> Status {
        store_error(self)
    }
}

/// The status of a domain refusal.
pub fn domain_error(error: &DomainError) -> Status {
    match error {
        DomainError::InvalidField { field, reason } => invalid_argument(field, reason),
        DomainError::InvalidTransition { command, state } => {
            let mut details = ErrorDetails::with_precondition_failure_violation(
                "STATE",
                *state,
                format!("{command} is not allowed in state {state}"),
            );
            details.set_error_info(
                reason::INVALID_TRANSITION,
                ERROR_DOMAIN,
                metadata([("command", *command), ("state", *state)]),
            );
            Status::with_error_details(Code::FailedPrecondition, error.to_string(), details)
        }
        DomainError::DeadlineNotReached {
            command, deadline, ..
        } => {
            let deadline = deadline.to_rfc3339();
            let mut details = ErrorDetails::with_precondition_failure_violation(
                "DEADLINE",
                deadline.clone(),
                format!("{command} is early: the deadline has not passed"),
            );
            details.set_error_info(
                reason::DEADLINE_NOT_REACHED,
                ERROR_DOMAIN,
                metadata([("command", *command), ("deadline", deadline.as_str())]),
            );
            Status::with_error_details(Code::FailedPrecondition, error.to_string(), details)
        }
        DomainError::PromiseNotFeasible {
            due_at,
            earliest,
            link,
        } => promise_not_feasible(*due_at, *earliest, link),
        DomainError::WrongActor {
            command,
            expected,
            actor,
        } => {
            let expected = expected.to_string();
            let actor = actor.to_string();
            let details = ErrorDetails::with_error_info(
                reason::WRONG_ACTOR,
                ERROR_DOMAIN,
                metadata([
                    ("command", *command),
                    ("expected_role", expected.as_str()),
                    ("actor", actor.as_str()),
                ]),
            );
            Status::with_error_details(Code::PermissionDenied, error.to_string(), details)
        }
        DomainError::AlreadyExists { kind, id } => {
            let mut details = ErrorDetails::with_resource_info(
                *kind,
                id.clone(),
                "",
                format!("{kind} {id} already exists"),
            );
            details.set_error_info(
                reason::ALREADY_EXISTS,
                ERROR_DOMAIN,
                metadata([("kind", *kind), ("id", id.as_str())]),
            );
            Status::with_error_details(Code::AlreadyExists, error.to_string(), details)
        }
    }
}

/// `FAILED_PRECONDITION` for a promise due before the chain behind it can deliver, as
/// `tickets.proto` documents for `MakePromise`: the message names the critical link and the
/// earliest feasible time; a `PreconditionFailure` names the bounding request; an `ErrorInfo`
/// with reason [`reason::PROMISE_NOT_FEASIBLE`] carries `earliest_feasible_at` (RFC 3339),
/// `critical_request_id`, `critical_provider_team_id` and `critical_consumer_team_id`, plus
/// the refused `due_at`.
pub fn promise_not_feasible(
    due_at: DateTime<Utc>,
    earliest: DateTime<Utc>,
    link: &RequestLink,
) -> Status {
    let earliest = earliest.to_rfc3339_opts(SecondsFormat::Micros, true);
    let due_at = due_at.to_rfc3339_opts(SecondsFormat::Micros, true);
    let request = link.request_id.to_string();
    let provider = link.provider.to_string();
    let consumer = link.consumer.to_string();
    let message = format!(
        "a promise due {due_at} is not feasible: the chain behind the ticket can deliver at \
         {earliest} at the earliest, bounded by request {request} on link \
         {provider}->{consumer}; promise a later time, or set acknowledge_risk"
    );
    let mut details = ErrorDetails::with_precondition_failure_violation(
        "FEASIBILITY",
        request.clone(),
        format!("the chain can deliver at {earliest} at the earliest"),
    );
    details.set_error_info(
        reason::PROMISE_NOT_FEASIBLE,
        ERROR_DOMAIN,
        metadata([
            ("earliest_feasible_at", earliest.as_str()),
            ("critical_request_id", request.as_str()),
            ("critical_provider_team_id", provider.as_str()),
            ("critical_consumer_team_id", consumer.as_str()),
            ("due_at", due_at.as_str()),
        ]),
    );
    Status::with_error_details(Code::FailedPrecondition, message, details)
}

/// The status of an event-store failure. Database details are logged here, never returned.
pub fn store_error(error: &StoreError) -> Status {
    match error {
        StoreError::Conflict { stream, .. } => {
            let stream = stream.to_string();
            aborted(
                format!("{stream} changed concurrently: read it again and retry"),
                &stream,
            )
        }
        StoreError::IdempotencyKeyReused { .. } => invalid_argument(
            "idempotency_key",
            "this key was already used for a different request",
        ),
        StoreError::Database(sqlx::Error::PoolTimedOut) => pool_exhausted(),
        other if other.is_unavailable() => {
            tracing::warn!(error = %other, "database unavailable");
            unavailable("the database is unavailable; retry shortly")
        }
        other => {
            tracing::error!(error = %other, "event store failure");
            internal()
        }
    }
}

/// The status of a database failure outside the event store (a projection query).
pub fn database_error(error: &sqlx::Error) -> Status {
    match error {
        sqlx::Error::PoolTimedOut => pool_exhausted(),
        sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
            tracing::warn!(%error, "database unavailable");
            unavailable("the database is unavailable; retry shortly")
        }
        other => {
            tracing::error!(error = %other, "database failure");
            internal()
        }
    }
}

/// `UNAVAILABLE` for a call that waited for a database connection longer than the pool's
/// acquire timeout: the database answers, the service has more calls in flight than
/// connections (`DATABASE_MAX_CONNECTIONS`), so the caller should back off, and the operator
/// should not look for a database outage.
fn pool_exhausted() -> Status {
    tracing::warn!("no database connection came free in time");
    unavailable(
        "the service is overloaded: no database connection came free in time; retry shortly",
    )
}

/// `INVALID_ARGUMENT` naming `field` (a `BadRequest` field violation).
pub fn invalid_argument(field: &str, description: impl Into<String>) -> Status {
    let description = description.into();
    let mut details = ErrorDetails::with_bad_request_violation(field, description.clone());
    details.set_error_info(
        reason::INVALID_FIELD,
        ERROR_DOMAIN,
        metadata([("field", field)]),
    );
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid {field}: {description}"),
        details,
    )
}

/// `NOT_FOUND`: no `kind` with id `id`, given in request field `field`.
pub fn not_found(field: &str, kind: &str, id: &str) -> Status {
    let mut details = ErrorDetails::with_resource_info(kind, id, "", format!("no {kind} {id}"));
    details.set_error_info(
        reason::NOT_FOUND,
        ERROR_DOMAIN,
        metadata([("field", field), ("kind", kind), ("id", id)]),
    );
    Status::with_error_details(
        Code::NotFound,
        format!("{kind} {id} not found ({field})"),
        details,
    )
}

/// `ALREADY_EXISTS`: another `kind` holds `value` in field `field` (a uniqueness rule).
pub fn already_exists(field: &str, kind: &str, value: &str) -> Status {
    let mut details =
        ErrorDetails::with_resource_info(kind, value, "", format!("{field} is already taken"));
    details.set_error_info(
        reason::ALREADY_EXISTS,
        ERROR_DOMAIN,
        metadata([("field", field), ("kind", kind)]),
    );
    Status::with_error_details(
        Code::AlreadyExists,
        format!("another {kind} already has this {field}"),
        details,
    )
}

/// `FAILED_PRECONDITION` naming the current `state` of `subject`.
pub fn failed_precondition(state: &str, subject: &str, description: impl Into<String>) -> Status {
    let description = description.into();
    let mut details =
        ErrorDetails::with_precondition_failure_violation("STATE", state, description.clone());
    details.set_error_info(
        reason::INVALID_TRANSITION,
        ERROR_DOMAIN,
        metadata([("state", state), ("subject", subject)]),
    );
    Status::with_error_details(Code::FailedPrecondition, description, details)
}

/// `PERMISSION_DENIED`: the caller is known but may not do this.
pub fn permission_denied(description: impl Into<String>) -> Status {
    let details = ErrorDetails::with_error_info(
        reason::PERMISSION_DENIED,
        ERROR_DOMAIN,
        HashMap::<String, String>::new(),
    );
    Status::with_error_details(Code::PermissionDenied, description, details)
}

/// `UNAUTHENTICATED`: the caller's identity is missing or malformed.
pub fn unauthenticated(description: impl Into<String>) -> Status {
    let details = ErrorDetails::with_error_info(
        reason::UNAUTHENTICATED,
        ERROR_DOMAIN,
        HashMap::<String, String>::new(),
    );
    Status::with_error_details(Code::Unauthenticated, description, details)
}

/// `ABORTED`: `stream` changed since it was read; read again and retry.
pub fn aborted(description: impl Into<String>, stream: &str) -> Status {
    let details = ErrorDetails::with_error_info(
        reason::VERSION_CONFLICT,
        ERROR_DOMAIN,
        metadata([("stream", stream)]),
    );
    Status::with_error_details(Code::Aborted, description, details)
}

/// `UNAVAILABLE`, with a hint to retry after a second.
pub fn unavailable(description: impl Into<String>) -> Status {
    let mut details = ErrorDetails::with_retry_info(Some(RETRY_AFTER_UNAVAILABLE));
    details.set_error_info(
        reason::UNAVAILABLE,
        ERROR_DOMAIN,
        HashMap::<String, String>::new(),
    );
    Status::with_error_details(Code::Unavailable, description, details)
}

/// `INTERNAL`, saying nothing about the cause (which is logged where it happened).
pub fn internal() -> Status {
    let details = ErrorDetails::with_error_info(
        reason::INTERNAL,
        ERROR_DOMAIN,
        HashMap::<String, String>::new(),
    );
    Status::with_error_details(Code::Internal, "internal error", details)
}

fn metadata<const N: usize>(pairs: [(&str, &str); N]) -> HashMap<String, String> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chain_domain::ids::TeamId;
    use chain_domain::link::Role;
    use chain_store::StreamId;
    use uuid::Uuid;

    fn field_of(status: &Status) -> String {
        let details = status.get_error_details();
        let bad = details.bad_request().expect("a BadRequest detail");
        bad.field_violations[0].field.clone()
    }

    #[test]
    fn an_invalid_field_is_invalid_argument_naming_it() {
        let status = DomainError::invalid_field("title", "must not be empty").into_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(field_of(&status), "title");
        assert_eq!(status.message(), "invalid title: must not be empty");
        let info = status.get_details_error_info().expect("error info");
        assert_eq!(info.reason, reason::INVALID_FIELD);
        assert_eq!(info.domain, ERROR_DOMAIN);
    }

    #[test]
    fn an_invalid_transition_names_the_state() {
        let status = DomainError::InvalidTransition {
            command: "CommitRequest",
            state: "Fulfilled",
        }
        .into_status();
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert!(status.message().contains("state Fulfilled"));
        let failure = status
            .get_details_precondition_failure()
            .expect("a precondition failure");
        assert_eq!(failure.violations[0].r#type, "STATE");
        assert_eq!(failure.violations[0].subject, "Fulfilled");
        let info = status.get_details_error_info().expect("error info");
        assert_eq!(info.metadata["state"], "Fulfilled");
    }

    #[test]
    fn a_wrong_actor_is_permission_denied_naming_the_role() {
        let actor = TeamId::from_uuid(Uuid::from_u128(7));
        let status = DomainError::WrongActor {
            command: "CommitRequest",
            expected: Role::Provider,
            actor,
        }
        .into_status();
        assert_eq!(status.code(), Code::PermissionDenied);
        let info = status.get_details_error_info().expect("error info");
        assert_eq!(info.reason, reason::WRONG_ACTOR);
        assert_eq!(info.metadata["expected_role"], "provider");
        assert_eq!(info.metadata["actor"], actor.to_string());
    }

    #[test]
    fn an_infeasible_promise_carries_the_keys_tickets_proto_documents() {
        let link = RequestLink {
            request_id: chain_domain::ids::RequestId::from_uuid(Uuid::from_u128(1)),
            provider: TeamId::from_uuid(Uuid::from_u128(2)),
            consumer: TeamId::from_uuid(Uuid::from_u128(3)),
        };
        let earliest = DateTime::parse_from_rfc3339("2030-01-17T09:00:00Z")
            .expect("a time")
            .with_timezone(&Utc);
        let due_at = earliest - chrono::TimeDelta::days(3);
        let status = DomainError::PromiseNotFeasible {
            due_at,
            earliest,
            link,
        }
        .into_status();
        assert_eq!(status.code(), Code::FailedPrecondition);
        let info = status.get_details_error_info().expect("error info");
        assert_eq!(info.reason, reason::PROMISE_NOT_FEASIBLE);
        assert_eq!(info.domain, ERROR_DOMAIN);
        let earliest_text = "2030-01-17T09:00:00.000000Z";
        assert_eq!(info.metadata["earliest_feasible_at"], earliest_text);
        assert_eq!(
            info.metadata["critical_request_id"],
            link.request_id.to_string()
        );
        assert_eq!(
            info.metadata["critical_provider_team_id"],
            link.provider.to_string()
        );
        assert_eq!(
            info.metadata["critical_consumer_team_id"],
            link.consumer.to_string()
        );
        assert_eq!(info.metadata["due_at"], "2030-01-14T09:00:00.000000Z");
        for named in [
            earliest_text.to_owned(),
            link.request_id.to_string(),
            link.provider.to_string(),
            link.consumer.to_string(),
        ] {
            assert!(status.message().contains(&named), "{status:?}");
        }
        let failure = status
            .get_details_precondition_failure()
            .expect("a precondition failure");
        assert_eq!(failure.violations[0].subject, link.request_id.to_string());
    }

    #[test]
    fn already_exists_and_deadlines_map_to_their_codes() {
        let exists = DomainError::AlreadyExists {
            kind: "team",
            id: "x".into(),
        }
        .into_status();
        assert_eq!(exists.code(), Code::AlreadyExists);
        assert_eq!(
            exists
                .get_details_resource_info()
                .expect("resource info")
                .resource_type,
            "team"
        );
        let now = chrono::Utc::now();
        let early = DomainError::DeadlineNotReached {
            command: "MarkBreached",
            deadline: now,
            now,
        }
        .into_status();
        assert_eq!(early.code(), Code::FailedPrecondition);
    }

    #[test]
    fn store_conflicts_abort_and_reused_keys_name_the_key() {
        let conflict = StoreError::Conflict {
            stream: StreamId::new("request", "r1"),
            detail: "stream request/r1 is at version 3, expected 2".into(),
        }
        .into_status();
        assert_eq!(conflict.code(), Code::Aborted);
        assert_eq!(
            conflict.get_details_error_info().expect("info").metadata["stream"],
            "request/r1"
        );
        let reused = StoreError::IdempotencyKeyReused { key: "k".into() }.into_status();
        assert_eq!(reused.code(), Code::InvalidArgument);
        assert_eq!(field_of(&reused), "idempotency_key");
    }

    #[test]
    fn database_failures_are_unavailable_or_internal_without_sql() {
        let busy = StoreError::Database(sqlx::Error::PoolTimedOut).into_status();
        assert_eq!(busy.code(), Code::Unavailable);
        assert!(busy.get_details_retry_info().is_some());
        assert!(busy.message().contains("overloaded"), "{}", busy.message());
        assert!(
            database_error(&sqlx::Error::PoolTimedOut)
                .message()
                .contains("overloaded")
        );
        let down = StoreError::Database(sqlx::Error::PoolClosed).into_status();
        assert_eq!(down.code(), Code::Unavailable);
        assert_eq!(down.message(), "the database is unavailable; retry shortly");
        let refused = StoreError::Database(sqlx::Error::Protocol(
            "SELECT secret FROM events WHERE x".into(),
        ))
        .into_status();
        assert_eq!(refused.code(), Code::Internal);
        assert!(!refused.message().contains("SELECT"));
        assert_eq!(refused.message(), "internal error");
        let projection = database_error(&sqlx::Error::RowNotFound);
        assert_eq!(projection.code(), Code::Internal);
        assert_eq!(
            database_error(&sqlx::Error::PoolClosed).code(),
            Code::Unavailable
        );
    }

    #[test]
    fn service_checks_carry_their_details() {
        let missing = not_found("parent_request_id", "request", "abc");
        assert_eq!(missing.code(), Code::NotFound);
        assert!(missing.message().contains("parent_request_id"));
        assert_eq!(
            missing
                .get_details_resource_info()
                .expect("resource")
                .resource_name,
            "abc"
        );
        let state = failed_precondition("Cancelled", "request abc", "the parent is closed");
        assert_eq!(state.code(), Code::FailedPrecondition);
        assert_eq!(
            state
                .get_details_precondition_failure()
                .expect("precondition")
                .violations[0]
                .subject,
            "Cancelled"
        );
        assert_eq!(
            already_exists("name", "team", "Sales").code(),
            Code::AlreadyExists
        );
        assert_eq!(unauthenticated("who?").code(), Code::Unauthenticated);
        assert_eq!(permission_denied("no").code(), Code::PermissionDenied);
    }
}
