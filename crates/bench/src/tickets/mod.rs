//! The parts of `tickets-bench`: the tickets-svc process beside requests-svc, the cases set up
//! through both APIs (a customer's ticket with a promise, and a two-link request chain behind
//! it), the paced load of request events that put tickets at risk and back, how each ticket's
//! turn is observed (WatchTickets, confirmed by GetTicket), where the time goes, and the report.

pub mod cases;
pub mod lag;
pub mod observe;
pub mod pace;
pub mod pipeline;
pub mod report;
pub mod service;

use tonic::metadata::AsciiMetadataValue;

/// `message` as a call made by `actor` (a team id as the `x-chain-actor` metadata value).
pub fn acting<M>(actor: &AsciiMetadataValue, message: M) -> tonic::Request<M> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert(chain_rpc::actor::ACTOR_METADATA_KEY, actor.clone());
    request
}

/// `message` as a read made by the bench itself, a service (every call names its caller).
pub fn as_bench<M>(message: M) -> tonic::Request<M> {
    acting(&AsciiMetadataValue::from_static("tickets-bench"), message)
}

/// A fresh idempotency key.
pub fn fresh_key() -> String {
    uuid::Uuid::now_v7().to_string()
}
