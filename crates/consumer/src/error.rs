//! What stops a consumer.

/// A consumer failure outside the handling of one message (those are parked or retried).
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// The database refused or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The inbox migrations failed.
    #[error("inbox migration failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// JetStream refused to create the consumer or to deliver.
    #[error("jetstream: {0}")]
    JetStream(String),
}
