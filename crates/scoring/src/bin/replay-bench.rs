//! The replay benchmark: generates a realistic history of at least a million events in memory
//! (`chain_scoring::synthetic`: teams, links, customers, tickets with the chains of requests
//! behind them, risks, notices, breaches, resolutions, feedback), replays it through the
//! projection core (decode, `apply`, then `derive` of every row once), and prints the rate in
//! events per second and the projections' digest. With `--persist` (and `DATABASE_URL`
//! pointing at a server where it may create a database) it also writes the rows into a fresh
//! database and reads them back, printing that rate and checking the digest is unchanged.
//!
//! ```text
//! cargo run --release -p chain-scoring --bin replay-bench -- --events 1000000
//! ```

use std::time::Instant;

use chain_scoring::codec::InputStore;
use chain_scoring::projection::{
    ProjectionConfig, ProjectionRows, ProjectionState, Tables, digest,
};
use chain_scoring::rebuild::{Replayed, replay};
use chain_scoring::synthetic::{Shape, generate};
use clap::Parser;

/// Replays a synthetic history through the scoring projection and prints events/s.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// How many events to generate (at least).
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// The generator's seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Also write the rows into a fresh database (created on `DATABASE_URL`'s server) and
    /// read them back.
    #[arg(long)]
    persist: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let history = generate(Shape::with_events(args.seed, args.events));
    println!(
        "generated {} events ({} requests-svc, {} tickets-svc, {} scoring-svc) in {:.2?}",
        history.len(),
        history.requests.len(),
        history.tickets.len(),
        history.scoring.len(),
        started.elapsed()
    );

    let config = ProjectionConfig::default();
    let started = Instant::now();
    let mut state = ProjectionState::new();
    let mut replayed = Replayed::default();
    for store in InputStore::ALL {
        replay(&mut state, store, history.of(store), &mut replayed);
    }
    let applied_in = started.elapsed();
    let rows = ProjectionRows::of_state(&state, &config);
    let replay_time = started.elapsed();
    let events = state.events_applied();
    let rate = events as f64 / replay_time.as_secs_f64();
    let hash = digest(&rows);
    println!(
        "replayed {events} events through the projection core in {replay_time:.2?} \
         (decode + apply {applied_in:.2?}, derive {:.2?}): {rate:.0} events/s",
        replay_time - applied_in
    );
    println!(
        "skipped {} undecodable events; {} rows ({} scores, {} links, {} impacts)",
        replayed.skipped.values().sum::<u64>(),
        rows.len(),
        rows.scores.len(),
        rows.health.len(),
        rows.impacts.len()
    );
    println!("digest sha256 {hash}");
    if args.persist {
        persist(&rows, &hash, events, replay_time).await?;
    }
    Ok(())
}

/// Writes `rows` into a fresh database, reads them back and checks the digest; drops the
/// database again.
async fn persist(
    rows: &ProjectionRows,
    expected: &str,
    events: u64,
    replay_time: std::time::Duration,
) -> anyhow::Result<()> {
    use sqlx::{AssertSqlSafe, Connection, PgConnection};
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = format!("cc_bench_{}", uuid::Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(&admin_url).await?;
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    let url = match admin_url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => anyhow::bail!("DATABASE_URL has no database part"),
    };
    let outcome = async {
        let pool = sqlx::PgPool::connect(&url).await?;
        chain_scoring::projection::migrate(&pool).await?;
        let tables = Tables::live();
        let started = Instant::now();
        let mut tx = pool.begin().await?;
        tables.write(&mut tx, rows).await?;
        tx.commit().await?;
        let written = started.elapsed();
        let mut conn = pool.acquire().await?;
        let read = tables.rows(&mut conn).await?;
        let hash = digest(&read);
        println!(
            "persisted {} rows in {written:.2?} (replay + persist: {:.0} events/s); \
             read back in {:.2?}; digest {}",
            rows.len(),
            events as f64 / (replay_time + written).as_secs_f64(),
            started.elapsed() - written,
            if hash == expected {
                "unchanged"
            } else {
                "DIFFERS"
            }
        );
        drop(conn);
        pool.close().await;
        anyhow::ensure!(hash == expected, "the persisted rows hash differently");
        anyhow::Ok(())
    }
    .await;
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    outcome
}
