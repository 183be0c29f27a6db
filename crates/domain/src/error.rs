//! The one error type of the domain: every refusal names the field, state or role at fault so
//! the service can turn it into a precise status (`INVALID_ARGUMENT`, `FAILED_PRECONDITION`,
//! `PERMISSION_DENIED`, `ALREADY_EXISTS`). Absence (`NOT_FOUND`) is the service's business.

use chrono::{DateTime, Utc};

use crate::ids::TeamId;
use crate::link::{RequestLink, Role};

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A field of the command is missing, malformed or out of range.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The command field at fault, e.g. `"title"` or `"due_at"`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The command is not allowed in the aggregate's current state.
    #[error("{command} is not allowed in state {state}")]
    InvalidTransition {
        /// The refused command, e.g. `"CommitRequest"`.
        command: &'static str,
        /// The current state, e.g. `"Fulfilled"`.
        state: &'static str,
    },
    /// The acting team does not play the role this command needs.
    #[error("only the {expected} may {command}; team {actor} is not it")]
    WrongActor {
        /// The refused command.
        command: &'static str,
        /// The role the actor must play.
        expected: Role,
        /// The team that tried.
        actor: TeamId,
    },
    /// A creating command hit an aggregate that already exists.
    #[error("{kind} {id} already exists")]
    AlreadyExists {
        /// What kind of thing, e.g. `"team"`.
        kind: &'static str,
        /// Its id as text.
        id: String,
    },
    /// A promise to an external customer is due before the internal chain behind it can
    /// deliver, and the risk was not acknowledged (`FAILED_PRECONDITION`).
    #[error(
        "a promise due {due_at} is not feasible: the chain can deliver at {earliest} at the \
         earliest, bounded by request {} on link {}",
        link.request_id,
        link.key()
    )]
    PromiseNotFeasible {
        /// The refused due time.
        due_at: DateTime<Utc>,
        /// The earliest time the chain can deliver.
        earliest: DateTime<Utc>,
        /// The link (and request) that bounds it: the first link of the critical path.
        link: RequestLink,
    },
    /// A time-based command arrived before its time (e.g. a breach before the due time).
    #[error("{command} is early: its deadline {deadline} has not passed at {now}")]
    DeadlineNotReached {
        /// The refused command.
        command: &'static str,
        /// The deadline that has not passed yet.
        deadline: DateTime<Utc>,
        /// The time the command was decided at.
        now: DateTime<Utc>,
    },
}

impl DomainError {
    /// Shorthand for [`DomainError::InvalidField`].
    pub fn invalid_field(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidField {
            field,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn messages_name_the_field_state_and_role() {
        let field = DomainError::invalid_field("title", "must not be empty");
        assert_eq!(field.to_string(), "invalid title: must not be empty");
        let transition = DomainError::InvalidTransition {
            command: "CommitRequest",
            state: "Fulfilled",
        };
        assert_eq!(
            transition.to_string(),
            "CommitRequest is not allowed in state Fulfilled"
        );
        let actor = DomainError::WrongActor {
            command: "CommitRequest",
            expected: Role::Provider,
            actor: TeamId::from_uuid(Uuid::from_u128(7)),
        };
        assert!(
            actor
                .to_string()
                .starts_with("only the provider may CommitRequest")
        );
    }
}
