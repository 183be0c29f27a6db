//! The Decider pattern every aggregate follows, as traits a service can be generic over:
//! `decide` turns a command and the current state into new events (or a refusal), `evolve`
//! applies one event, and `fold` rebuilds a state from its history. Time comes in as `now`.

use chrono::{DateTime, Utc};

use crate::error::DomainError;

/// An aggregate's pure decision and evolution functions.
pub trait Decider {
    /// What a caller asks for.
    type Command;
    /// What happened.
    type Event: DomainEvent;
    /// What is known after some events; `Default` is the state before the first event.
    type State: Default;

    /// Decides what a command means in the current state, at time `now`.
    fn decide(
        command: &Self::Command,
        state: &Self::State,
        now: DateTime<Utc>,
    ) -> Result<Vec<Self::Event>, DomainError>;

    /// Applies one event to a state.
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;

    /// Rebuilds a state from its events, oldest first.
    fn fold<'a, I>(events: I) -> Self::State
    where
        I: IntoIterator<Item = &'a Self::Event>,
        Self::Event: 'a,
    {
        events
            .into_iter()
            .fold(Self::State::default(), |state, event| {
                Self::evolve(state, event)
            })
    }
}

/// What every stored and published event tells about itself.
pub trait DomainEvent {
    /// A stable name, e.g. `"RequestCommitted"`; never changes once published.
    fn event_type(&self) -> &'static str;
    /// The version of this event's payload shape; bumped on an incompatible change.
    fn schema_version(&self) -> u16;
    /// When it happened (the `now` of the command that caused it).
    fn occurred_at(&self) -> DateTime<Utc>;
}
