//! `requests-svc` owns the inside of the customer chain: the teams, the links between them (who
//! serves whom), the internal requests that travel along those links and the commitments teams
//! make on them. Its events (`chain.v1.requests.>`) are what the other services trace a
//! breakdown through.
//!
//! Commands: `serve` (the default), `migrate`, `relay rewind --to <tx:pos|start>`; configuration
//! comes from the environment (see `chain_server::ServiceConfig`). Beside the gRPC service it
//! runs the outbox relay, the projector (read model and propagation up the case tree), the
//! deadline watch and the change feed behind `WatchRequests`.

use chain_requests::RequestsSetup;
use chain_server::{ChainService, cli};
use clap::Parser;

/// The requests service of customer-chain: teams, links, internal requests and their commitments.
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
    cli::run(ChainService::Requests, args.command, RequestsSetup).await?;
    Ok(())
}
