//! Running a parsed command line: the context every command gets, and the dispatch.

pub mod case;
pub mod impact;
pub mod requests;
pub mod scoring;
pub mod tickets;
pub mod watch;

use crate::cli::{Cli, Command};
use crate::client::{Actor, Connection, RequestsClient};
use crate::directory::Directory;
use crate::error::Failure;
use crate::output::Printer;

/// What every command works with.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Where the services are.
    pub connection: Connection,
    /// Who acts (`--as`).
    pub actor: Actor,
    /// Where results go.
    pub printer: Printer,
}

impl Ctx {
    /// Team names for human output; empty (ids shown) when requests-svc cannot list them or
    /// the output is JSON.
    pub async fn directory(&self, client: Option<&RequestsClient>) -> Directory {
        if self.printer.json() {
            return Directory::default();
        }
        let client = match client {
            Some(client) => client.clone(),
            None => match self.connection.requests().await {
                Ok(client) => client,
                Err(_) => return Directory::default(),
            },
        };
        Directory::load(&client, &self.actor)
            .await
            .unwrap_or_default()
    }
}

/// Runs the command `cli` names.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    let ctx = Ctx {
        actor: cli.connection.actor(),
        connection: cli.connection,
        printer: Printer::new(cli.output, cli.plain),
    };
    match cli.command {
        Command::Requests(command) => requests::run(&ctx, command).await,
        Command::Tickets(command) => tickets::run(&ctx, command).await,
        Command::Scoring(command) => scoring::run(&ctx, command).await,
        Command::Case(args) => case::run(&ctx, args).await,
        Command::Impact(args) => impact::run(&ctx, args).await,
        Command::Watch(args) => watch::run(&ctx, args).await,
        Command::Demo(args) => crate::demo::run(&ctx, args, cli.plain).await,
    }
}

/// The hint under a list page that has more.
pub fn more_pages(ctx: &Ctx, token: &str) -> Result<(), Failure> {
    if token.is_empty() {
        return Ok(());
    }
    ctx.printer.say(ctx.printer.paint(
        format!("(more: repeat with --page-token {token})"),
        crate::output::Tone::Dim,
    ))
}

/// Parses an operator value, turning the parser's complaint into a usage error naming `flag`.
pub fn parsed<T>(
    flag: &str,
    value: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, Failure> {
    parse(value).map_err(|why| Failure::Usage(format!("{flag}: {why}")))
}
