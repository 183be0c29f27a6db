//! `requests-svc` owns the inside of the customer chain: the teams, the links between them (who
//! serves whom), the internal requests that travel along those links and the commitments teams
//! make on them. Its events (`chain.v1.requests.>`) are what the other services trace a
//! breakdown through.
//!
//! Commands: `serve` (the default), `migrate`, `relay rewind --to <tx:pos|start>`; configuration
//! comes from the environment (see `chain_server::ServiceConfig`). Beside the gRPC service it
//! runs the outbox relay, the projector (read model and propagation up the case tree), the
//! deadline watch and the change feed behind `WatchRequests`.

use chain_consumer::EventConsumer;
use chain_requests::{
    ChangeFeed, DeadlineWatch, RequestService, RequestsProjector, projector_config,
};
use chain_server::{BoxError, ChainService, ServiceRuntime, ServiceSetup, cli};
use clap::Parser;
use sqlx::PgPool;
use tonic::service::Routes;

/// The requests service of customer-chain: teams, links, internal requests and their commitments.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    command: Option<cli::Command>,
}

/// Wires the requests crate into the service runtime.
struct Requests;

impl ServiceSetup for Requests {
    async fn migrate(&self, pool: &PgPool) -> Result<(), BoxError> {
        chain_requests::migrate(pool).await?;
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
            projector_config(runtime.layout()),
            RequestsProjector::new(store.clone()),
        );
        runtime.spawn_background("projector", move |stop| projector.run(stop));
        let watch = DeadlineWatch::new(store.clone());
        runtime.spawn_background("deadline-watch", move |stop| watch.run(stop));
        Ok(Routes::new(RequestService::new(store, feed).into_server()))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    cli::run(ChainService::Requests, args.command, Requests).await?;
    Ok(())
}
