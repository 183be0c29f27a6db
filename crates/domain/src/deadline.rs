//! The one time-based event a request can be waiting for, so a deadline watch can schedule
//! exactly one firing per request. Only a breach is time-driven: a request goes at risk as
//! soon as a projection exceeds its due time, which is event-driven (see
//! [`crate::propagation`]), never at a fixed share of the window.

use chrono::{DateTime, Utc};

use crate::request::{RequestCommand, RequestState};

/// What fires at a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadlineKind {
    /// The due time (or, never committed, the needed-by time) passes unfulfilled: send
    /// [`RequestCommand::MarkBreached`].
    Breach,
}

impl DeadlineKind {
    /// The command to decide when the deadline fires.
    pub const fn command(self) -> RequestCommand {
        match self {
            Self::Breach => RequestCommand::MarkBreached,
        }
    }
}

/// The next deadline of a request: its expected time while it is open (the committed due
/// time, or the needed-by time before any commitment); `None` once it is closed or before it
/// is opened. Recompute it after every event: a revision moves it, a terminal event removes it.
pub fn next_deadline(state: &RequestState) -> Option<(DateTime<Utc>, DeadlineKind)> {
    let request = state.request.as_ref().filter(|r| r.is_open())?;
    Some((request.expected_by(), DeadlineKind::Breach))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone, Utc};
    use uuid::Uuid;

    use super::*;
    use crate::commitment::CommitmentKind;
    use crate::ids::{CaseId, RequestId, TeamId};
    use crate::request::{OpenRequest, decide, evolve};

    #[test]
    fn the_deadline_follows_the_lifecycle() {
        let t = |h| {
            Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0)
                .single()
                .expect("a valid fixed time")
                + TimeDelta::hours(h)
        };
        let (consumer, provider) = (
            TeamId::from_uuid(Uuid::from_u128(1)),
            TeamId::from_uuid(Uuid::from_u128(2)),
        );
        let id = RequestId::from_uuid(Uuid::from_u128(3));
        let step = |state: RequestState, command: RequestCommand, h| {
            decide(&command, &state, t(h))
                .expect("accepted")
                .iter()
                .fold(state, evolve)
        };
        let state = RequestState::default();
        assert_eq!(next_deadline(&state), None);
        let state = step(
            state,
            RequestCommand::Open(OpenRequest {
                request_id: id,
                case_id: CaseId::Request(id),
                consumer,
                provider,
                title: "parts".into(),
                needed_by: t(48),
                parent: None,
            }),
            0,
        );
        assert_eq!(next_deadline(&state), Some((t(48), DeadlineKind::Breach)));
        let state = step(
            state,
            RequestCommand::Commit {
                actor: provider,
                due_at: t(24),
                kind: CommitmentKind::GeneralExpectation,
            },
            1,
        );
        assert_eq!(next_deadline(&state), Some((t(24), DeadlineKind::Breach)));
        let state = step(
            state,
            RequestCommand::Revise {
                actor: provider,
                new_due_at: t(30),
                reason: "late truck".into(),
            },
            2,
        );
        let (at, kind) = next_deadline(&state).expect("still open");
        assert_eq!(at, t(30));
        let state = step(state, kind.command(), 30);
        assert_eq!(state.state_name(), "Breached");
        assert_eq!(next_deadline(&state), None, "fires exactly once");
    }
}
