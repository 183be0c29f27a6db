//! Creating (or updating) a service's stream with explicit settings rather than server defaults.

use crate::{BusError, BusLayout};
use async_nats::jetstream::{self, stream};
use std::time::Duration;

/// How long the server remembers message ids to drop republished duplicates. Set explicitly
/// (the server default is 2 minutes) and long enough to cover a relay restart and a republish
/// from its last checkpoint; consumers also deduplicate by event id for anything older.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Makes sure `service`'s stream exists with the layout's subjects and our settings.
pub async fn ensure_stream(
    js: &jetstream::Context,
    layout: &BusLayout,
    service: &str,
) -> Result<stream::Info, BusError> {
    let name = layout.stream_name(service);
    let config = stream::Config {
        name: name.clone(),
        subjects: vec![layout.service_subjects(service)],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::Old,
        duplicate_window: DUPLICATE_WINDOW,
        ..Default::default()
    };
    js.create_or_update_stream(config)
        .await
        .map_err(|e| BusError::Stream {
            stream: name,
            reason: e.to_string(),
        })
}
