//! tickets-svc end to end against real PostgreSQL and NATS: the service served in process
//! over gRPC, with its relay, chain view, projector and deadline watch running, and a
//! stand-in for requests-svc publishing request events on the same bus (see [`harness`] and
//! [`chain`]).

mod bad_input;
mod chain;
mod deadlines;
mod feasibility;
mod furniture;
mod harness;
mod impact;
mod ordering;
mod tiers;
mod watch;
