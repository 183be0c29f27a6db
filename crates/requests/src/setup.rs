//! requests-svc's part of the shared process ([`RequestsSetup`], a `chain_server::ServiceSetup`):
//! the service's migrations; the change feed behind `WatchRequests`; the projector (read model
//! and propagation up the case tree); the deadline watch; the `InternalRequestService`.

use chain_consumer::EventConsumer;
use chain_server::{BoxError, ServiceRuntime, ServiceSetup};
use chain_store::ChangeFeed;
use sqlx::PgPool;
use tonic::service::Routes;

use crate::{
    DeadlineWatch, RequestDeadlines, RequestService, RequestsProjector, migrate, projector_config,
};

/// What requests-svc adds to the shared process.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestsSetup;

impl ServiceSetup for RequestsSetup {
    async fn migrate(&self, pool: &PgPool) -> Result<(), BoxError> {
        migrate(pool).await?;
        Ok(())
    }

    async fn routes(self, runtime: &ServiceRuntime) -> Result<Routes, BoxError> {
        let store = runtime.store().clone();
        let feed = ChangeFeed::new();
        let (follow, followed) = (feed.clone(), store.clone());
        runtime.spawn_background("change-feed", move |stop| follow.run(followed, stop));
        let projector = EventConsumer::new(
            runtime.pool().clone(),
            runtime.jetstream().clone(),
            projector_config(runtime.layout()).with_pace(runtime.config().projector_pace),
            RequestsProjector::new(store.clone()),
        );
        runtime.spawn_background("projector", move |stop| projector.run(stop));
        let watch = DeadlineWatch::new(store.clone(), RequestDeadlines);
        runtime.spawn_background("deadline-watch", move |stop| watch.run(stop));
        Ok(Routes::new(RequestService::new(store, feed).into_server()))
    }
}
