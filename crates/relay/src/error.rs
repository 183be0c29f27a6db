//! What stops a relay pass.

/// A relay pass failed; the relay retries from its checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Reading events or moving the checkpoint failed.
    #[error(transparent)]
    Store(#[from] chain_store::StoreError),
    /// Publishing failed.
    #[error(transparent)]
    Bus(#[from] chain_bus::BusError),
    /// The leadership connection failed.
    #[error("leadership connection: {0}")]
    Leadership(#[from] sqlx::Error),
}
