//! requests-svc end to end against real PostgreSQL and NATS: the service served in process
//! over gRPC, with its relay, projector and deadline watch running (see [`harness`]).

mod bad_input;
mod deadlines;
mod harness;
mod lifecycle;
mod mutual_tls;
mod propagation;
mod replicas;
