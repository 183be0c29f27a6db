//! `scoring-svc` owns what the customer chain's work is worth to the customers: satisfaction
//! scores, the health of each internal link, and the impact ledger that ties a breakdown to the
//! external customers it hurt. It consumes the events of `requests-svc` and `tickets-svc`.
//!
//! Commands: `serve` (the default), `migrate`, `relay rewind --to <tx:pos|start>`, and
//! `rebuild` (recompute every projection from the producers' histories into a fresh schema and
//! print its digest); configuration comes from the environment (see
//! `chain_server::ServiceConfig`).

use chain_scoring::{RebuildArgs, ScoringSetup, run_rebuild};
use chain_server::{ChainService, cli};
use clap::Parser;

/// The scoring service of customer-chain: satisfaction scores, link health and the impact ledger.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

/// The commands every service has, plus `rebuild`.
#[derive(clap::Subcommand)]
enum Command {
    #[command(flatten)]
    Common(cli::Command),
    /// Recompute every projection from the producers' histories into a fresh schema.
    Rebuild(RebuildArgs),
}

/// mimalloc rather than glibc's malloc: a service allocates small, short-lived buffers on every
/// event and call (decoded rows, protobuf messages, spans), and glibc's malloc took about a
/// fifth of the services' CPU at saturation (`perf record`, tickets-bench at 2,000 events/s).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.command {
        Some(Command::Rebuild(rebuild)) => run_rebuild(rebuild).await?,
        Some(Command::Common(command)) => {
            cli::run(
                ChainService::Scoring,
                Some(command),
                ScoringSetup::default(),
            )
            .await?;
        }
        None => cli::run(ChainService::Scoring, None, ScoringSetup::default()).await?,
    }
    Ok(())
}
