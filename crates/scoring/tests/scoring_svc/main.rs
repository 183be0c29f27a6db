//! scoring-svc end to end, in process, against real PostgreSQL and NATS.

mod chain;
mod feedback;
mod harness;
mod queries;
mod story;
