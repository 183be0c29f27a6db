//! tickets-svc's part of the shared process ([`TicketsSetup`], a `chain_server::ServiceSetup`):
//! the service's migrations; requests-svc's stream made sure of (the same settings its owner
//! uses, so either may start first); the change feed behind `WatchTickets`; the chain view (a
//! consumer of requests-svc's stream); the projector of its own events; the promise deadline
//! watch; the `chain_tickets_at_risk` gauge; the `TicketService`.

use chain_consumer::EventConsumer;
use chain_server::{BoxError, ServiceRuntime, ServiceSetup};
use chain_store::ChangeFeed;
use sqlx::PgPool;
use tonic::service::Routes;

use crate::projection::AT_RISK_GAUGE_PERIOD;
use crate::{
    ChainView, DeadlineWatch, PromiseDeadlines, REQUESTS_SERVICE, TicketService, TicketsProjector,
    chain_view_config, migrate, projector_config, run_at_risk_gauge,
};

/// What tickets-svc adds to the shared process.
#[derive(Debug, Clone, Copy, Default)]
pub struct TicketsSetup;

impl ServiceSetup for TicketsSetup {
    async fn migrate(&self, pool: &PgPool) -> Result<(), BoxError> {
        migrate(pool).await?;
        Ok(())
    }

    async fn routes(self, runtime: &ServiceRuntime) -> Result<Routes, BoxError> {
        let store = runtime.store().clone();
        chain_bus::ensure_stream(runtime.jetstream(), runtime.layout(), REQUESTS_SERVICE).await?;
        let feed = ChangeFeed::new();
        let (follow, followed) = (feed.clone(), store.clone());
        runtime.spawn_background("change-feed", move |stop| follow.run(followed, stop));
        let chain_view = EventConsumer::new(
            runtime.pool().clone(),
            runtime.jetstream().clone(),
            chain_view_config(runtime.layout()),
            ChainView::new(store.clone()),
        );
        runtime.spawn_background("chain-view", move |stop| chain_view.run(stop));
        let projector = EventConsumer::new(
            runtime.pool().clone(),
            runtime.jetstream().clone(),
            projector_config(runtime.layout()).with_pace(runtime.config().projector_pace),
            TicketsProjector::new(store.clone()),
        );
        runtime.spawn_background("projector", move |stop| projector.run(stop));
        let watch = DeadlineWatch::new(store.clone(), PromiseDeadlines);
        runtime.spawn_background("deadline-watch", move |stop| watch.run(stop));
        let pool = runtime.pool().clone();
        runtime.spawn_background("at-risk-gauge", move |stop| {
            run_at_risk_gauge(pool, AT_RISK_GAUGE_PERIOD, stop)
        });
        Ok(Routes::new(TicketService::new(store, feed).into_server()))
    }
}
