//! `tickets-svc` owns what the business promised its external customers: the customers with
//! their value and Pareto tier, their tickets, and the promises made on them. It follows the
//! requests service's events to know the internal chain behind each ticket, refuses promises the
//! chain cannot keep, and puts a promise at risk as soon as the chain behind it is late.
//!
//! Commands: `serve` (the default), `migrate`, `relay rewind --to <tx:pos|start>`; configuration
//! comes from the environment (see `chain_server::ServiceConfig`). Beside the gRPC service it
//! runs the outbox relay, the chain view (a consumer of requests-svc's stream), the projector of
//! its own events, the promise deadline watch, the change feed behind `WatchTickets` and the
//! `chain_tickets_at_risk` gauge.

use chain_consumer::EventConsumer;
use chain_server::{BoxError, ChainService, ServiceRuntime, ServiceSetup, cli};
use chain_tickets::projection::AT_RISK_GAUGE_PERIOD;
use chain_tickets::{
    ChainView, ChangeFeed, DeadlineWatch, TicketService, TicketsProjector, chain_view_config,
    projector_config, run_at_risk_gauge,
};
use clap::Parser;
use sqlx::PgPool;
use tonic::service::Routes;

/// The tickets service of customer-chain: external customers, tickets and promises.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    command: Option<cli::Command>,
}

/// Wires the tickets crate into the service runtime.
struct Tickets;

impl ServiceSetup for Tickets {
    async fn migrate(&self, pool: &PgPool) -> Result<(), BoxError> {
        chain_tickets::migrate(pool).await?;
        Ok(())
    }

    async fn routes(self, runtime: &ServiceRuntime) -> Result<Routes, BoxError> {
        let store = runtime.store().clone();
        // requests-svc's stream, which the chain view reads; same settings as its owner's.
        chain_bus::ensure_stream(
            runtime.jetstream(),
            runtime.layout(),
            chain_tickets::REQUESTS_SERVICE,
        )
        .await?;
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
            projector_config(runtime.layout()),
            TicketsProjector::new(store.clone()),
        );
        runtime.spawn_background("projector", move |stop| projector.run(stop));
        let watch = DeadlineWatch::new(store.clone());
        runtime.spawn_background("deadline-watch", move |stop| watch.run(stop));
        let pool = runtime.pool().clone();
        runtime.spawn_background("at-risk-gauge", move |stop| {
            run_at_risk_gauge(pool, AT_RISK_GAUGE_PERIOD, stop)
        });
        Ok(Routes::new(TicketService::new(store, feed).into_server()))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    cli::run(ChainService::Tickets, args.command, Tickets).await?;
    Ok(())
}
