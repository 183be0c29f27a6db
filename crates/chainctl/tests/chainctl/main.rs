//! chainctl against the three services started in-process on real PostgreSQL and NATS (each
//! test with its own databases and subject root), driven as the operator drives it: the built
//! `chainctl` binary, its exit code, stdout and stderr.

#![allow(clippy::unwrap_used)]

mod demo;
mod harness;
mod json_output;
mod mutual_tls;
mod unreachable;
