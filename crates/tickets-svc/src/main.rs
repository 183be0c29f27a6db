//! `tickets-svc` owns the outside of the customer chain: the external customers, their tickets
//! and the promises made to them. It learns of internal breakdowns from `requests-svc`'s events
//! and tells which customers a breakdown reaches.
//!
//! Commands: `serve` (the default), `migrate`, `relay rewind --to <tx:pos|start>`; configuration
//! comes from the environment (see `chain_server::ServiceConfig`). For now it serves only
//! health, reflection and its outbox relay: `customerchain.v1.TicketService` answers
//! `UNIMPLEMENTED` until its handlers are registered here.

use chain_server::{ChainService, NoDomainService, cli};
use clap::Parser;

/// The tickets service of customer-chain: external customers, tickets and promises.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    command: Option<cli::Command>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    cli::run(ChainService::Tickets, args.command, NoDomainService).await?;
    Ok(())
}
