//! scoring-svc's part of the shared process ([`ScoringSetup`], a `chain_server::ServiceSetup`)
//! and its `rebuild` command ([`RebuildArgs`], [`run_rebuild`]).
//!
//! Serving: the projections' migrations; the requests and tickets streams made sure of (the
//! same settings their producers use, so either side may start first); the change feed; one
//! durable consumer per input store; the `SatisfactionService`.

use chain_bus::ensure_stream;
use chain_consumer::EventConsumer;
use chain_server::{BoxError, ChainService, ServiceConfig, ServiceRuntime, ServiceSetup};
use chain_store::ChangeFeed;
use sqlx::PgPool;
use tonic::service::Routes;

use crate::codec::InputStore;
use crate::projection::{ProjectionConfig, ScoringProjector, Tables, consumer_config, migrate};
use crate::rebuild::{EventSource, live_digest, rebuild};
use crate::service::ScoringService;

/// What scoring-svc adds to the shared process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScoringSetup {
    /// The model and thresholds the projections use.
    pub config: ProjectionConfig,
}

impl ServiceSetup for ScoringSetup {
    async fn migrate(&self, pool: &PgPool) -> Result<(), BoxError> {
        migrate(pool).await?;
        Ok(())
    }

    async fn routes(self, runtime: &ServiceRuntime) -> Result<Routes, BoxError> {
        let (js, layout, pool) = (runtime.jetstream(), runtime.layout(), runtime.pool());
        for store in [InputStore::Requests, InputStore::Tickets] {
            ensure_stream(js, layout, store.token()).await?;
        }
        let feed = ChangeFeed::new();
        let (follower, followed) = (feed.clone(), runtime.store().clone());
        runtime.spawn_background("scoring-feed", move |stop| follower.run(followed, stop));
        for store in InputStore::ALL {
            let consumer = EventConsumer::new(
                pool.clone(),
                js.clone(),
                consumer_config(layout, store).with_pace(runtime.config().projector_pace),
                ScoringProjector::new(store, self.config).waking(runtime.store().clone()),
            );
            let name = match store {
                InputStore::Requests => "scoring-requests-consumer",
                InputStore::Tickets => "scoring-tickets-consumer",
                InputStore::Scoring => "scoring-feedback-consumer",
            };
            runtime.spawn_background(name, move |stop| consumer.run(stop));
        }
        Ok(Routes::new(
            ScoringService::new(runtime.store().clone(), feed).into_server(),
        ))
    }
}

/// `scoring-svc rebuild`: recompute every projection from the producers' histories into a
/// fresh schema and compare its digest with the live one.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct RebuildArgs {
    /// requests-svc's gRPC address (its `ReadEvents` is read).
    #[arg(
        long,
        env = "REQUESTS_SVC_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub requests_url: String,
    /// tickets-svc's gRPC address (its `ReadEvents` is read).
    #[arg(
        long,
        env = "TICKETS_SVC_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    pub tickets_url: String,
    /// The schema to rebuild into (must not exist); default `scoring_rebuild_<unix seconds>`.
    #[arg(long)]
    pub schema: Option<String>,
    /// Drop the rebuilt schema once its digest is compared.
    #[arg(long)]
    pub drop: bool,
}

/// Runs the rebuild command with scoring-svc's configuration from the environment
/// (`DATABASE_URL`, …); prints the rebuilt and live digests. Feedback is read from scoring's
/// own store directly (it is the database at hand).
pub async fn run_rebuild(args: RebuildArgs) -> anyhow::Result<()> {
    let config = ServiceConfig::from_env(ChainService::Scoring)?;
    let (store, at) = chain_server::migrate(&config).await?;
    migrate(store.pool()).await?;
    let schema = args
        .schema
        .clone()
        .unwrap_or_else(|| format!("scoring_rebuild_{}", chrono::Utc::now().timestamp()));
    let sources = [
        (
            InputStore::Requests,
            EventSource::connect(InputStore::Requests, &args.requests_url).await?,
        ),
        (
            InputStore::Tickets,
            EventSource::connect(InputStore::Tickets, &args.tickets_url).await?,
        ),
        (InputStore::Scoring, EventSource::Store(store.clone())),
    ];
    let report = rebuild(store.pool(), sources, &ProjectionConfig::default(), &schema).await?;
    let (live, positions) = live_digest(store.pool()).await?;
    println!("database      {at}");
    println!("rebuilt into  {} ({} rows)", report.schema, report.rows);
    for (input, count) in &report.replayed.applied {
        let live_count = positions.get(input.name()).copied().unwrap_or(0);
        println!(
            "{:<13} {count} events replayed, {live_count} applied live",
            input.name()
        );
    }
    println!("rebuilt       sha256 {}", report.digest);
    println!("live          sha256 {live}");
    println!(
        "{}",
        if report.digest == live {
            "equal"
        } else {
            "DIFFERENT (compare only at equal input positions)"
        }
    );
    if args.drop {
        Tables::in_schema(&schema)?.drop(store.pool()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chain_server::cli;
    use clap::Parser;

    /// The command line the scoring-svc binary declares: the shared commands plus `rebuild`.
    #[derive(Debug, Parser)]
    struct Args {
        #[command(subcommand)]
        command: Option<Command>,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Command {
        #[command(flatten)]
        Common(cli::Command),
        /// Recompute every projection from the event history into a fresh schema.
        Rebuild(RebuildArgs),
    }

    fn parse(args: &[&str]) -> Option<Command> {
        Args::try_parse_from(std::iter::once("scoring-svc").chain(args.iter().copied()))
            .expect("parses")
            .command
    }

    #[test]
    fn the_binary_offers_rebuild_beside_the_shared_commands() {
        assert!(matches!(
            parse(&["migrate"]),
            Some(Command::Common(cli::Command::Migrate))
        ));
        assert!(parse(&[]).is_none());
        match parse(&[
            "rebuild",
            "--tickets-url",
            "http://t:1",
            "--schema",
            "rb",
            "--drop",
        ]) {
            Some(Command::Rebuild(args)) => {
                assert_eq!(args.tickets_url, "http://t:1");
                assert_eq!(args.schema.as_deref(), Some("rb"));
                assert!(args.drop);
            }
            other => panic!("rebuild expected, got {other:?}"),
        }
    }
}
