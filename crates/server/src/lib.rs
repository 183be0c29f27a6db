//! How a customer-chain service process starts, serves gRPC with health and reflection, and drains
//! on shutdown. No service logic lives here: the three service binaries (`requests-svc`,
//! `tickets-svc`, `scoring-svc`) share this start-up and shut-down path and add their own gRPC
//! services, migrations and background tasks through [`ServiceSetup`].
//!
//! The path of one process:
//!
//! 1. [`ServiceConfig::from_env`] reads `DATABASE_URL`, `NATS_URL`, `LISTEN_ADDR`, ….
//! 2. [`ServiceRuntime::start`] connects PostgreSQL and runs the event store's and the consumer
//!    inbox's migrations, connects NATS, makes sure the service's stream exists, and starts the
//!    outbox relay.
//! 3. [`ServiceRuntime::serve`] serves the caller's [`Routes`](tonic::service::Routes) beside
//!    `grpc.health.v1` and server reflection (v1 and v1alpha), with a trace span per request,
//!    over mutual TLS when the TLS files are configured ([`MutualTls`]).
//! 4. On SIGTERM or SIGINT ([`Shutdown`]) health turns NOT_SERVING, the server keeps answering for
//!    a short grace so load balancers notice, then stops accepting and drains in-flight calls up
//!    to the drain timeout; last, the background tasks (the relay, consumers) are cancelled and
//!    awaited.
//!
//! [`cli`] wraps all of this into the `serve` / `migrate` / `relay rewind` commands every binary
//! offers.

mod chain_service;
pub mod cli;
mod config;
mod endpoint;
mod error;
mod key_retention;
mod rpc_metrics;
mod runtime;
mod serve;
mod setup;
mod shutdown;
mod tls;

pub use chain_service::ChainService;
pub use config::ServiceConfig;
pub use error::{BoxError, ConfigError, ServeError, StartError};
pub use runtime::{BACKGROUND_STOP_TIMEOUT, ServiceRuntime, connect_store, migrate};
pub use serve::{ServeOptions, serve_grpc};
pub use setup::{NoDomainService, ServiceSetup};
pub use shutdown::Shutdown;
pub use tls::{MutualTls, TlsFiles};
