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

use chain_server::{ChainService, cli};
use chain_tickets::TicketsSetup;
use clap::Parser;

/// The tickets service of customer-chain: external customers, tickets and promises.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    command: Option<cli::Command>,
}

/// mimalloc rather than glibc's malloc: a service allocates small, short-lived buffers on every
/// event and call (decoded rows, protobuf messages, spans), and glibc's malloc took about a
/// fifth of the services' CPU at saturation (`perf record`, tickets-bench at 2,000 events/s).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    cli::run(ChainService::Tickets, args.command, TicketsSetup).await?;
    Ok(())
}
