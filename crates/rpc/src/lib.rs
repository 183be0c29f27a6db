//! The gRPC conventions every customer-chain service follows, in one place so the three
//! services answer alike:
//!
//! - [`actor`]: who is calling ([`Caller`]), read from the `x-chain-actor` metadata entry;
//! - [`status`]: the one mapping from domain refusals and event-store failures to
//!   `tonic::Status` with rich details (`google.rpc.BadRequest`, `PreconditionFailure`,
//!   `ErrorInfo`, `ResourceInfo`);
//! - [`idempotency`]: scopes and fingerprints of idempotency keys, and finding the first
//!   response of a retried command;
//! - [`page`]: page sizes and opaque keyset page tokens (AIP-158);
//! - [`field`]: reading request fields (required text, ids, times, enums) with
//!   `INVALID_ARGUMENT` naming the field;
//! - [`clock`]: the current time at the precision the event store keeps;
//! - [`history`]: `ReadEvents`, a page of the service's own event store;
//! - [`watch`]: the loop of the `Watch*` streams, from the service's log to the client.

pub mod access;
pub mod actor;
pub mod certificate;
pub mod clock;
pub mod field;
pub mod history;
pub mod idempotency;
pub mod page;
pub mod status;
pub mod watch;

pub use access::{Access, Authorised};
pub use actor::Caller;
pub use idempotency::IdempotentCommand;
pub use page::PageRequest;
pub use status::IntoStatus;
