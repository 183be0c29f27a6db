//! `store-bench`: the foundation benchmark. It prints what the event store, the outbox relay and
//! JetStream achieve on this machine, each beside its physical limit measured in the same run:
//!
//! - durable single-event `EventStore::append` calls per second at 1, 8 and 32 concurrent
//!   writers (with and without an idempotency key), beside a plain single-row autocommit
//!   `INSERT` into an events-like table at the same writer counts;
//! - `Relay::drain` publishing every stored event to JetStream, at two batch / in-flight
//!   settings, beside raw JetStream async publishing with `Nats-Msg-Id` of as many 128-byte
//!   messages.
//!
//! It makes a database of its own on the server at `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and streams of their own under unique subject
//! roots on `NATS_URL` (default `nats://127.0.0.1:4222`), and removes both at the end.
//!
//! ```text
//! cargo run --release -p chain-bench --bin store-bench -- [--seconds N] [--events N]
//! ```
//!
//! It is a benchmark, not a test: it asserts nothing about speed. Compare the ratios it prints
//! (both sides measured in one run on one machine), not absolute numbers across runs.

mod append;
mod fixture;
mod measure;
mod physical;
mod relay;
mod report;

use std::time::Duration;

use anyhow::Context as _;
use chain_store::EventStore;
use clap::Parser;
use sqlx::PgPool;

use crate::append::AppendWriter;
use crate::fixture::{BenchDatabase, BenchNats, DEFAULT_DATABASE_URL, DEFAULT_NATS_URL};
use crate::measure::{Run, run_writers};
use crate::physical::InsertWriter;
use crate::report::{MoveRow, Report, WriteRow};

/// Bytes of every event payload and raw message.
const PAYLOAD_BYTES: usize = 128;
/// Relay settings tried: events read per round, and publish acks kept in flight.
const RELAY_SETTINGS: [(u32, usize); 2] = [(1_000, 256), (5_000, 1_024)];
/// Events read per round when timing the store's commit-order read on its own.
const READ_BATCH: u32 = 5_000;
/// Events per append when topping up the store before relaying.
const BULK_EVENTS_PER_APPEND: usize = 100;
/// Concurrent appenders when topping up.
const BULK_WRITERS: usize = 4;
/// The issue's goals: append at 8 and 32 writers against INSERT, relay against raw publish.
const APPEND_GOAL: f64 = 0.60;
const RELAY_GOAL: f64 = 0.30;

/// Measures the event store, the relay and their physical limits.
#[derive(Parser, Debug)]
#[command(name = "store-bench", version, about)]
struct Args {
    /// Seconds each write workload runs at each writer count.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Events the store must hold before the relay is timed (topped up with bulk appends).
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Writer counts to measure.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 8, 32])]
    writers: Vec<usize>,
    /// Acks in flight for the raw JetStream publish.
    #[arg(long, default_value_t = 1_000)]
    raw_in_flight: usize,
    /// The PostgreSQL server; the bench creates (and drops) a database of its own on it.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    database_url: String,
    /// The nats-server with JetStream.
    #[arg(long, env = "NATS_URL", default_value = DEFAULT_NATS_URL)]
    nats_url: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.seconds > 0.0, "--seconds must be positive");
    anyhow::ensure!(
        args.writers.iter().all(|&w| w > 0),
        "writer counts must be positive"
    );

    let database = BenchDatabase::create(&args.database_url).await?;
    eprintln!("store-bench: database {}", database.name());
    let mut nats = match BenchNats::connect(&args.nats_url).await {
        Ok(nats) => nats,
        Err(error) => {
            cleanup_database(database).await;
            return Err(error);
        }
    };

    let outcome = run(&args, &database, &mut nats).await;

    if let Err(error) = nats.delete_streams().await {
        eprintln!("store-bench: could not delete its streams: {error:#}");
    }
    cleanup_database(database).await;

    print!("{}", outcome?.render());
    Ok(())
}

async fn cleanup_database(database: BenchDatabase) {
    if let Err(error) = database.drop_database().await {
        eprintln!("store-bench: could not drop its database: {error:#}");
    }
}

/// The whole benchmark, in order: set-up, writes at each writer count, then getting events out.
async fn run(
    args: &Args,
    database: &BenchDatabase,
    nats: &mut BenchNats,
) -> anyhow::Result<Report> {
    let duration = Duration::from_secs_f64(args.seconds);
    let payload = vec![0x42; PAYLOAD_BYTES];
    let mut report = Report::default();

    let admin = database.pool(2).await?;
    EventStore::new(admin.clone()).migrate().await?;
    physical::create_table(&admin).await?;
    describe_machine(&mut report, &admin, nats, args).await?;

    for &writers in &args.writers {
        let pool = database.pool(u32::try_from(writers)?).await?;
        measure_writes(&mut report, &pool, writers, duration, &payload).await?;
        pool.close().await;
    }

    let store = EventStore::new(database.pool(4).await?);
    measure_relay(&mut report, &store, nats, args, &payload).await?;
    Ok(report)
}

async fn describe_machine(
    report: &mut Report,
    admin: &PgPool,
    nats: &BenchNats,
    args: &Args,
) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let postgres: String = sqlx::query_scalar("SELECT version()")
        .fetch_one(admin)
        .await?;
    let synchronous_commit: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(admin)
        .await?;
    report.machine("nproc", cores);
    report.machine("postgresql", postgres);
    report.machine("synchronous_commit", synchronous_commit);
    report.machine("nats-server", nats.server_version());
    report.machine("seconds per workload", args.seconds);
    report.machine("payload bytes", PAYLOAD_BYTES);
    report.figure("nproc", cores, "cores");
    report.figure("seconds_per_workload", args.seconds, "s");
    Ok(())
}

/// One kind of event-store append, measured at every writer count.
struct AppendWorkload {
    label: &'static str,
    key: &'static str,
    idempotent: bool,
}

/// The appends measured, in order.
const APPEND_WORKLOADS: [AppendWorkload; 2] = [
    AppendWorkload {
        label: "append",
        key: "append",
        idempotent: false,
    },
    AppendWorkload {
        label: "append + idem key",
        key: "append_idem",
        idempotent: true,
    },
];

/// At one writer count: the plain INSERT, then every [`APPEND_WORKLOADS`] entry.
async fn measure_writes(
    report: &mut Report,
    pool: &PgPool,
    writers: usize,
    duration: Duration,
    payload: &[u8],
) -> anyhow::Result<()> {
    progress("plain INSERT", writers, duration);
    let inserters = (0..writers)
        .map(|w| InsertWriter::new(pool.clone(), &format!("w{writers}"), w, payload.to_vec()))
        .collect();
    let insert = run_writers(inserters, duration)
        .await
        .context("plain INSERT")?;
    let limit = insert.rate();
    report.write(row(
        "plain INSERT",
        "insert",
        "inserts/s",
        writers,
        &insert,
        limit,
    ));

    let store = EventStore::new(pool.clone());
    for workload in &APPEND_WORKLOADS {
        progress(workload.label, writers, duration);
        let run = appends(
            &store,
            workload.key,
            writers,
            duration,
            payload,
            workload.idempotent,
        )
        .await?;
        report.write(row(
            workload.label,
            workload.key,
            "appends/s",
            writers,
            &run,
            limit,
        ));
        if !workload.idempotent && (writers == 8 || writers == 32) {
            let ratio = run.rate() / limit;
            report.goal(format!(
                "append at {writers:>2} writers = {ratio:.2} of plain INSERT (goal >= {APPEND_GOAL:.2}: {})",
                verdict(ratio >= APPEND_GOAL)
            ));
        }
    }
    Ok(())
}

async fn appends(
    store: &EventStore,
    label: &str,
    writers: usize,
    duration: Duration,
    payload: &[u8],
    idempotent: bool,
) -> anyhow::Result<Run> {
    let mut opened = Vec::with_capacity(writers);
    for w in 0..writers {
        let label = format!("{label}-w{writers}");
        opened.push(
            AppendWriter::open(store.clone(), &label, w, payload.to_vec(), idempotent).await?,
        );
    }
    run_writers(opened, duration)
        .await
        .with_context(|| format!("appends ({label}, {writers} writers)"))
}

/// Tops the store up, then times the commit-order read, each relay setting, and raw publishing
/// of as many messages.
async fn measure_relay(
    report: &mut Report,
    store: &EventStore,
    nats: &mut BenchNats,
    args: &Args,
    payload: &[u8],
) -> anyhow::Result<()> {
    let appended = count_events(store).await?;
    if appended < args.events {
        eprintln!(
            "store-bench: topping the store up from {appended} to {} events with {BULK_EVENTS_PER_APPEND}-event appends",
            args.events
        );
        append::bulk_fill(
            store,
            args.events - appended,
            BULK_WRITERS,
            BULK_EVENTS_PER_APPEND,
            payload,
        )
        .await?;
    }
    let events = count_events(store).await?;
    let envelope = relay::envelope_bytes(store).await?;
    report.figure("events_in_store", events, "events");
    report.figure("relay_envelope_bytes", envelope, "bytes");
    report.machine("events relayed", events);
    report.machine("envelope bytes", envelope);

    let waited = relay::wait_for_horizon(store, events).await?;
    report.machine(
        "wait for read horizon",
        format!("{:.3} s", waited.as_secs_f64()),
    );

    eprintln!("store-bench: reading {events} events in commit order");
    let read = relay::read_everything(store, READ_BATCH, events).await?;
    anyhow::ensure!(
        read.count == events,
        "read {} events in commit order, but the store holds {events}",
        read.count
    );

    let mut drains = Vec::new();
    for (batch, in_flight) in RELAY_SETTINGS {
        eprintln!("store-bench: relay drain, batch {batch}, {in_flight} in flight");
        drains.push((
            batch,
            in_flight,
            relay::drain(store, nats, events, batch, in_flight).await?,
        ));
    }

    eprintln!(
        "store-bench: raw JetStream publish of {events} messages, {} in flight",
        args.raw_in_flight
    );
    let raw = relay::raw_publish(nats, events, PAYLOAD_BYTES, args.raw_in_flight).await?;
    let raw_rate = raw.rate();

    report.movement(MoveRow {
        label: format!("store read_all, {READ_BATCH} per read (no publish)"),
        key: "store_read_all".to_owned(),
        count: read.count,
        seconds: read.elapsed.as_secs_f64(),
        rate: read.rate(),
        vs_raw: None,
        unit: "events/s",
    });
    for (batch, in_flight, drained) in drains {
        let ratio = drained.rate() / raw_rate;
        report.movement(MoveRow {
            label: format!("Relay::drain, batch {batch}, {in_flight} acks in flight"),
            key: format!("relay_b{batch}_f{in_flight}"),
            count: drained.count,
            seconds: drained.elapsed.as_secs_f64(),
            rate: drained.rate(),
            vs_raw: Some(ratio),
            unit: "events/s",
        });
        report.goal(format!(
            "relay batch {batch}/{in_flight} = {ratio:.2} of raw JetStream publish (goal >= {RELAY_GOAL:.2}: {})",
            verdict(ratio >= RELAY_GOAL)
        ));
    }
    report.movement(MoveRow {
        label: format!(
            "raw JetStream publish, Nats-Msg-Id, {PAYLOAD_BYTES} B, {} in flight",
            args.raw_in_flight
        ),
        key: "raw_publish".to_owned(),
        count: raw.count,
        seconds: raw.elapsed.as_secs_f64(),
        rate: raw_rate,
        vs_raw: Some(1.0),
        unit: "msg/s",
    });
    Ok(())
}

async fn count_events(store: &EventStore) -> anyhow::Result<u64> {
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(store.pool())
        .await?;
    Ok(u64::try_from(count)?)
}

fn row(
    label: &'static str,
    key: &'static str,
    unit: &'static str,
    writers: usize,
    run: &Run,
    insert_rate: f64,
) -> WriteRow {
    WriteRow {
        label,
        key,
        writers,
        rate: run.rate(),
        p50_ms: run.latency_ms(0.5),
        p99_ms: run.latency_ms(0.99),
        vs_insert: run.rate() / insert_rate,
        unit,
    }
}

fn progress(workload: &str, writers: usize, duration: Duration) {
    eprintln!(
        "store-bench: {workload} at {writers} writers for {:.1} s",
        duration.as_secs_f64()
    );
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}
