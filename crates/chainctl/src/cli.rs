//! The command line: global options (addresses, acting team, output format) and one
//! subcommand per service holding every RPC of that service, plus the operator's views (`case`,
//! `impact`, `watch`) and the `demo`.

use clap::{Parser, Subcommand};

use crate::client::Connection;
use crate::commands::{
    case::CaseArgs, impact::ImpactArgs, requests::RequestsCommand, scoring::ScoringCommand,
    tickets::TicketsCommand, watch::WatchArgs,
};
use crate::demo::DemoArgs;
use crate::output::Format;

/// Operate customer-chain: call any RPC of the three services, draw a case tree, show the
/// blast radius of a team, follow live events, or run the demo.
#[derive(Debug, Parser)]
#[command(name = "chainctl", version, propagate_version = true)]
pub struct Cli {
    /// Where the services are and who acts.
    #[command(flatten)]
    pub connection: Connection,
    /// How results are written: tables for people, or the response as JSON.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t)]
    pub output: Format,
    /// No colour and no progress bar (also when stdout is not a terminal or NO_COLOR is set).
    #[arg(long, global = true)]
    pub plain: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// chainctl's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// requests-svc: teams, links, internal requests, case trees.
    #[command(subcommand, visible_alias = "rq")]
    Requests(RequestsCommand),
    /// tickets-svc: customers, tickets, promises, impacted customers.
    #[command(subcommand, visible_alias = "tk")]
    Tickets(TicketsCommand),
    /// scoring-svc: feedback, scores, link health, impacts.
    #[command(subcommand, visible_alias = "sc")]
    Scoring(ScoringCommand),
    /// Draw the case tree of a ticket or request: states, due and projected times, the
    /// critical path.
    Case(CaseArgs),
    /// The blast radius of a team: the customers whose open tickets depend on it, and the value
    /// at risk.
    Impact(ImpactArgs),
    /// Follow live events of the three services.
    Watch(WatchArgs),
    /// Seed an organisation, play the furniture story, run cases with a failing team, and
    /// summarise the impact.
    Demo(DemoArgs),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
