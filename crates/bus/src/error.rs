//! What can go wrong on the bus.

/// A bus failure. Everything here is transient from the relay's point of view: it retries from
/// its last checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// NATS could not be reached.
    #[error("cannot connect to NATS: {0}")]
    Connect(String),
    /// The stream could not be created or updated.
    #[error("cannot set up stream {stream}: {reason}")]
    Stream {
        /// Stream name.
        stream: String,
        /// What the server said.
        reason: String,
    },
    /// A publish was not acknowledged.
    #[error("publish to {subject} failed: {reason}")]
    Publish {
        /// The subject.
        subject: String,
        /// What the client or server said.
        reason: String,
    },
    /// A message body is not a valid envelope.
    #[error("undecodable envelope: {0}")]
    Decode(#[from] prost::DecodeError),
}
