//! `chainctl`, the operator's command line for customer-chain: every RPC of requests-svc,
//! tickets-svc and scoring-svc as a subcommand, with readable tables or `--output json`; the
//! case tree of a ticket (`case`), the blast radius of a team (`impact`), live events (`watch`)
//! and a demo that seeds an organisation, plays the furniture story and breaks one team's links
//! on purpose (`demo`).
//!
//! Exit codes: 0 success, 1 a service refused or failed the call, 2 bad usage or input,
//! 3 a service is not reachable.

mod case_tree;
mod cli;
mod client;
mod commands;
mod demo;
mod directory;
mod error;
mod input;
mod output;
mod telemetry;
mod views;

use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let telemetry = telemetry::start();
    let outcome = commands::run(cli).await;
    telemetry::finish(telemetry).await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("chainctl: error: {failure}");
            if let Some(hint) = failure.hint() {
                eprintln!("chainctl: hint: {hint}");
            }
            ExitCode::from(failure.exit_code())
        }
    }
}
