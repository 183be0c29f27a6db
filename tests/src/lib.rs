//! End-to-end tests of customer-chain: they start the services against real PostgreSQL and NATS.
//!
//! The support code the tests share:
//!
//! - [`chain`]: the three services started together, clients acting as a team, the spans;
//! - [`otlp`]: an in-process OTLP/gRPC trace receiver (the collector's `TraceService`) that keeps
//!   every span it is sent, with the `service.name` of the process that sent it;
//! - [`services`]: the three services started in this process, each as its binary wires it,
//!   on a database of its own and one shared NATS subject root, and each with a telemetry
//!   pipeline of its own (its own `service.name`, exporter and batch queue);
//! - [`trace`]: one trace among the spans received, and the lines of ancestors in it.

pub mod chain;
pub mod otlp;
pub mod services;
pub mod trace;
