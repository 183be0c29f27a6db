//! `scoring-svc` owns what the customer chain's work is worth to the customers: satisfaction
//! scores, the health of each internal link, and the impact ledger that ties a breakdown to the
//! external customers it hurt. It consumes the events of `requests-svc` and `tickets-svc`.
//!
//! Commands: `serve` (the default), `migrate`, `relay rewind --to <tx:pos|start>`; configuration
//! comes from the environment (see `chain_server::ServiceConfig`). For now it serves only
//! health, reflection and its outbox relay: `customerchain.v1.SatisfactionService` answers
//! `UNIMPLEMENTED` until its handlers are registered here.

use chain_server::{ChainService, NoDomainService, cli};
use clap::Parser;

/// The scoring service of customer-chain: satisfaction scores, link health and the impact ledger.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    command: Option<cli::Command>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    cli::run(ChainService::Scoring, args.command, NoDomainService).await?;
    Ok(())
}
