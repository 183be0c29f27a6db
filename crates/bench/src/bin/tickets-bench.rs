//! `tickets-bench`: how soon a ticket's promise shows at risk after an internal link revises
//! its commitment, through the real system: requests-svc and tickets-svc (release binaries)
//! over gRPC, each on a fresh database of its own, publishing and consuming on NATS JetStream
//! under a unique subject root. Goal (issue 4, on a 2-core machine): from the request event's
//! commit (the `ReviseRequest` RPC's return) to `GetTicket` showing AT_RISK, p99 ≤ 50 ms at 200
//! events/s and ≤ 150 ms at 2,000 events/s.
//!
//! ```text
//! cargo build --release -p requests-svc -p tickets-svc
//! cargo run --release -p chain-bench --bin tickets-bench -- [--rates 200,2000] [--seconds 20] [--tickets 2000]
//! ```
//!
//! Set-up, through the APIs: a ring of three teams (sales, the workshop, transport), customers
//! on a skewed value book, and per ticket a two-link chain (sales → workshop serving the
//! ticket, workshop → transport serving the build) with commitments and a promise all due the
//! same day. Load: per phase, at the target rate of request events (open loop; a revision
//! makes three: itself and requests-svc's two reactions on the parent request), transport
//! revises the delivery of a free ticket three days late (its promise goes at risk) or, for a
//! ticket at risk, back to an hour early (the risk clears). `WatchTickets` tells the bench
//! when a ticket reacted, `GetTicket` confirms it; a ticket has one such turn in flight at a
//! time. It prints per rate the achieved rate, counts, errors, p50/p99/max of the at-risk
//! latency (and of the watch, of clearing, of the RPC, of relay → chain view from the
//! databases' timestamps) and the CPU each process used.
//!
//! `--consumer-lag` also serves each service's `/metrics` and prints, per phase, each
//! consumer's lag from the bus to its applying transaction (`chain_consumer_lag_seconds`), to
//! see which stage was behind.
//!
//! `--extra-watchers N` opens N more live `WatchTickets` streams beside the bench's own, each
//! draining every event: what dashboards watching the same replica cost.
//!
//! Each service logs to a file in the temporary directory, removed when the bench ends unless
//! `BENCH_KEEP_LOGS` is set (for example with `--service-log warn,chain_tickets=debug`).
//! `BENCH_KEEP_DATABASES` keeps both databases (their names are printed) to look into after a
//! run; a turn that never shows its state is printed with its ticket id.
//!
//! It is a benchmark, not a test: it asserts nothing about speed. The bench, both services,
//! PostgreSQL and NATS share the machine's cores; the CPU line says who used what.

#[allow(
    dead_code,
    reason = "the fixture is shared with store-bench, which uses other parts of it"
)]
#[path = "../fixture.rs"]
mod fixture;
#[allow(
    dead_code,
    reason = "tickets-bench runs the requests bench's service process, teams and CPU accounting, not its load or report"
)]
#[path = "../requests/mod.rs"]
mod requests;
#[path = "../tickets/mod.rs"]
mod tickets;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use sqlx::PgPool;
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::fixture::{BenchDatabase, BenchNats, DEFAULT_DATABASE_URL, DEFAULT_NATS_URL};
use crate::requests::cpu::{self, CpuSnapshot};
use crate::requests::service::{
    self as requests_service, ServiceProcess, ServiceSettings, TracingMode, TracingSettings,
};
use crate::requests::teams;
use crate::tickets::cases::{self, Case, Plan, Teams};
use crate::tickets::observe::{self, Board};
use crate::tickets::pace::{self, Schedule};
use crate::tickets::report::{Phase, Report};
use crate::tickets::{lag, pipeline, service as tickets_service};

/// The longest wait for a service to become SERVING (it migrates its database first).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest wait for a service to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Service log lines shown in the report.
const LOG_LINES_SHOWN: usize = 10;
/// Request events one turn writes in requests-svc: the revision, then the parent's
/// `RequestChildObserved` and its `RequestAtRisk` (or `RequestRiskCleared`). The rates are in
/// request events, as the issue's goals are; the pacer sends a third as many revisions, and
/// the report shows the rate of request events actually written beside it.
const REQUEST_EVENTS_PER_TURN: f64 = 3.0;
/// The issue's goals: (request events/s, p99 ms).
const GOALS: [(f64, f64); 2] = [(200.0, 50.0), (2_000.0, 150.0)];

/// Measures request event → ticket at risk through requests-svc and tickets-svc.
#[derive(Parser, Debug)]
#[command(name = "tickets-bench", version, about)]
struct Args {
    /// Target rates, request events per second (a revision and requests-svc's two reactions to
    /// it are three), one phase each.
    #[arg(long, value_delimiter = ',', default_values_t = [200.0, 2_000.0])]
    rates: Vec<f64>,
    /// Seconds each phase is measured (after its warm-up).
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Seconds of paced load before each phase is measured.
    #[arg(long, default_value_t = 3.0)]
    warm_up: f64,
    /// Tickets, each with its chain (one turn in flight per ticket at a time).
    #[arg(long, default_value_t = 2_000)]
    tickets: usize,
    /// Customers the tickets are spread over.
    #[arg(long, default_value_t = 200)]
    customers: usize,
    /// Concurrent set-up workers.
    #[arg(long, default_value_t = 16)]
    setup_workers: usize,
    /// Seconds to wait for the turns still in flight after a phase.
    #[arg(long, default_value_t = 60.0)]
    drain_limit: f64,
    /// Each service's PostgreSQL pool size (`DATABASE_MAX_CONNECTIONS`).
    #[arg(long, default_value_t = 16)]
    db_connections: u32,
    /// The requests-svc binary; default: next to this executable.
    #[arg(long)]
    requests_bin: Option<PathBuf>,
    /// The tickets-svc binary; default: next to this executable.
    #[arg(long)]
    tickets_bin: Option<PathBuf>,
    /// The services' `RUST_LOG`.
    #[arg(long, default_value = "warn")]
    service_log: String,
    /// The services' tracing: `unexported` (every span gets a W3C context, nothing is sent:
    /// what a deployment without a collector does) or `disabled` (`OTEL_SDK_DISABLED=true`).
    #[arg(long, value_enum, default_value_t = TracingMode::Unexported)]
    tracing: TracingMode,
    /// Serve each service's `/metrics` and print each consumer's lag (bus → applied) per phase,
    /// to see which stage was behind. Off by default: with a recorder installed the services
    /// record every metric, which costs them CPU the figures without it never included.
    #[arg(long)]
    consumer_lag: bool,
    /// More live `WatchTickets` streams beside the bench's own, each draining every event (what
    /// dashboards watching the same replica cost).
    #[arg(long, default_value_t = 0)]
    extra_watchers: usize,
    /// The PostgreSQL server; the bench creates (and drops) two databases of its own on it.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    database_url: String,
    /// The nats-server with JetStream.
    #[arg(long, env = "NATS_URL", default_value = DEFAULT_NATS_URL)]
    nats_url: String,
}

/// What the run works on.
struct Bench {
    args: Args,
    requests_db: BenchDatabase,
    tickets_db: BenchDatabase,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.seconds > 0.0, "--seconds must be positive");
    anyhow::ensure!(args.warm_up >= 0.0, "--warm-up must not be negative");
    anyhow::ensure!(
        !args.rates.is_empty() && args.rates.iter().all(|&r| r > 0.0),
        "--rates must be positive"
    );
    anyhow::ensure!(args.tickets > 0 && args.customers > 0, "nothing to measure");
    let requests_bin = requests_service::locate(args.requests_bin.as_deref())?;
    let tickets_bin = tickets_service::locate(args.tickets_bin.as_deref())?;

    let requests_db = BenchDatabase::create(&args.database_url).await?;
    let tickets_db = match BenchDatabase::create(&args.database_url).await {
        Ok(db) => db,
        Err(error) => {
            cleanup_database(requests_db).await;
            return Err(error);
        }
    };
    eprintln!(
        "tickets-bench: databases {} (requests) and {} (tickets)",
        requests_db.name(),
        tickets_db.name()
    );
    let bench = Bench {
        args,
        requests_db,
        tickets_db,
    };
    let outcome = match BenchNats::connect(&bench.args.nats_url).await {
        Ok(mut nats) => {
            let outcome = run(&bench, &requests_bin, &tickets_bin, &mut nats).await;
            if let Err(error) = nats.delete_streams().await {
                eprintln!("tickets-bench: could not delete its streams: {error:#}");
            }
            outcome
        }
        Err(error) => Err(error),
    };
    cleanup_database(bench.requests_db).await;
    cleanup_database(bench.tickets_db).await;
    print!("{}", outcome?.render());
    Ok(())
}

async fn cleanup_database(database: BenchDatabase) {
    if let Err(error) = database.drop_database().await {
        eprintln!("tickets-bench: could not drop its database: {error:#}");
    }
}

/// The two services under test.
struct Services {
    requests: ServiceProcess,
    tickets: ServiceProcess,
    /// Where each serves `/metrics` (requests-svc, tickets-svc), with `--consumer-lag`.
    metrics: Option<[SocketAddr; 2]>,
}

/// The whole benchmark: start both services, set the cases up, measure each rate, stop.
async fn run(
    bench: &Bench,
    requests_bin: &std::path::Path,
    tickets_bin: &std::path::Path,
    nats: &mut BenchNats,
) -> anyhow::Result<Report> {
    let args = &bench.args;
    let mut report = Report::default();
    let layout = nats.fresh_stream("requests").await?;
    // tickets-svc makes its own stream at start; remove it with the rest.
    let tickets_stream = layout.stream_name("tickets");
    let requests_pool = bench.requests_db.pool(2).await?;
    let tickets_pool = bench.tickets_db.pool(2).await?;
    let (postgres_version, synchronous_commit) =
        requests::postgres::describe(&requests_pool).await?;
    describe(
        &mut report,
        args,
        &postgres_version,
        &synchronous_commit,
        nats,
    );

    let settings = |url| ServiceSettings {
        database_url: url,
        nats_url: &args.nats_url,
        bus_root: layout.root(),
        db_connections: args.db_connections,
        rust_log: &args.service_log,
    };
    anyhow::ensure!(
        args.tracing != TracingMode::Exported,
        "tickets-bench has no span receiver: --tracing unexported or disabled"
    );
    let metrics = if args.consumer_lag {
        Some([
            requests_service::free_addr()?,
            requests_service::free_addr()?,
        ])
    } else {
        None
    };
    let spawn = |binary, url, metrics_addr| {
        let tracing = TracingSettings {
            mode: args.tracing,
            metrics_addr,
            ..TracingSettings::default()
        };
        ServiceProcess::spawn_traced(binary, &settings(url), &tracing)
    };
    let mut services = Services {
        requests: spawn(requests_bin, bench.requests_db.url(), metrics.map(|m| m[0]))?,
        tickets: spawn(tickets_bin, bench.tickets_db.url(), metrics.map(|m| m[1]))?,
        metrics,
    };
    let outcome = measure_all(
        args,
        &mut services,
        &mut report,
        &requests_pool,
        &tickets_pool,
    )
    .await;
    for (name, service) in [
        ("requests-svc", &mut services.requests),
        ("tickets-svc", &mut services.tickets),
    ] {
        let stopped = service.stop(STOP_TIMEOUT).await;
        report.machine(
            &format!("{name} exit"),
            match &stopped {
                Ok(status) => format!("{status} after SIGTERM"),
                Err(error) => format!("{error:#}"),
            },
        );
        if service.log_lines() > 0 {
            let lines = service.log_tail(LOG_LINES_SHOWN);
            report
                .logs
                .push((name.to_owned(), lines.lines().map(str::to_owned).collect()));
        }
    }
    if let Err(error) = nats.js().delete_stream(&tickets_stream).await {
        eprintln!("tickets-bench: could not delete stream {tickets_stream}: {error}");
    }
    requests_pool.close().await;
    tickets_pool.close().await;
    outcome?;
    Ok(report)
}

/// Waits for both services, sets the cases up and measures every rate.
async fn measure_all(
    args: &Args,
    services: &mut Services,
    report: &mut Report,
    requests_pool: &PgPool,
    tickets_pool: &PgPool,
) -> anyhow::Result<()> {
    let ready = services.requests.wait_ready(READY_TIMEOUT).await?;
    report.machine(
        "requests-svc ready after",
        format!("{:.2} s", ready.as_secs_f64()),
    );
    let ready = tickets_service::wait_ready(&mut services.tickets, READY_TIMEOUT).await?;
    report.machine(
        "tickets-svc ready after",
        format!("{:.2} s", ready.as_secs_f64()),
    );
    let requests = services.requests.endpoint()?.connect().await?;
    let tickets = services.tickets.endpoint()?.connect().await?;

    let links = teams::declare_ring(requests.clone(), 3).await?;
    let teams = Teams::from_ring(&links)?;
    eprintln!(
        "tickets-bench: setting up {} tickets with their chains",
        args.tickets
    );
    let start = Instant::now();
    let cases = cases::set_up(
        requests.clone(),
        tickets.clone(),
        &teams,
        &Plan {
            tickets: args.tickets,
            customers: args.customers,
            workers: args.setup_workers,
        },
    )
    .await?;
    let quiet = cases::wait_quiet(requests_pool, tickets_pool, Duration::from_secs(300)).await?;
    report.machine(
        "set-up",
        format!(
            "{} tickets, {} customers in {:.1} s (chain view caught up: {})",
            cases.len(),
            args.customers,
            start.elapsed().as_secs_f64(),
            quiet.map_or("no".to_owned(), |d| format!(
                "after {:.1} s more",
                d.as_secs_f64()
            ))
        ),
    );

    let board = Board::new(cases.iter().map(|c| c.ticket_id.clone()).collect())?;
    let watcher = tokio::spawn(observe::watch(tickets.clone(), board.clone()));
    let sweeper = tokio::spawn(observe::sweep(tickets.clone(), board.clone()));
    let onlookers: Vec<_> = (0..args.extra_watchers)
        .map(|_| tokio::spawn(observe::drain(tickets.clone())))
        .collect();
    // Let the watch subscribe before anything moves.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cases = Arc::new(cases);
    let mut outcome = Ok(());
    for &rate in &args.rates {
        eprintln!(
            "tickets-bench: {rate:.0} events/s: {:.1} s warm-up, {:.1} s measured",
            args.warm_up, args.seconds
        );
        match phase(
            args,
            rate,
            services,
            &board,
            &cases,
            (&requests, &teams),
            (requests_pool, tickets_pool),
        )
        .await
        {
            Ok(phase) => report.phase(phase),
            Err(error) => {
                outcome = Err(error);
                break;
            }
        }
    }
    watcher.abort();
    sweeper.abort();
    for onlooker in onlookers {
        onlooker.abort();
    }
    outcome
}

/// One rate: pace, drain, read the databases, let the chain view settle.
async fn phase(
    args: &Args,
    rate: f64,
    services: &mut Services,
    board: &Board,
    cases: &Arc<Vec<Case>>,
    (requests, teams): (&Channel, &Teams),
    (requests_pool, tickets_pool): (&PgPool, &PgPool),
) -> anyhow::Result<Phase> {
    let schedule = Schedule {
        rate: rate / REQUEST_EVENTS_PER_TURN,
        warm_up: Duration::from_secs_f64(args.warm_up),
        measured: Duration::from_secs_f64(args.seconds),
    };
    let (requests_pid, tickets_pid) = (services.requests.pid(), services.tickets.pid());
    let pacer = {
        let (board, cases, requests, transport) = (
            board.clone(),
            Arc::clone(cases),
            requests.clone(),
            teams.transport.clone(),
        );
        tokio::spawn(
            async move { pace::run(schedule, &board, &cases, &requests, &transport).await },
        )
    };
    tokio::time::sleep(schedule.warm_up).await;
    let before = (
        CpuSnapshot::take(requests_pid),
        CpuSnapshot::take(tickets_pid),
    );
    let applied_before = (
        pipeline::chain_view_applied(tickets_pool).await?,
        Instant::now(),
    );
    let lags_before = consumer_lags(services).await?;
    let window = pacer.await.context("the pacer panicked")?;
    let after = (
        CpuSnapshot::take(requests_pid),
        CpuSnapshot::take(tickets_pid),
    );
    let lags_after = consumer_lags(services).await?;
    let applied = (
        pipeline::chain_view_applied(tickets_pool).await? - applied_before.0,
        applied_before.1.elapsed(),
    );
    let unfinished = pace::drain(board, Duration::from_secs_f64(args.drain_limit)).await;
    for (name, service) in [
        ("requests-svc", &mut services.requests),
        ("tickets-svc", &mut services.tickets),
    ] {
        if let Some(status) = service.exited()? {
            anyhow::bail!(
                "{name} exited during the load ({status}); its output:\n{}",
                service.log_tail(40)
            );
        }
    }
    let relay_to_chain_view =
        pipeline::relay_to_chain_view(requests_pool, tickets_pool, window.from_wall)
            .await
            .map_err(|error| eprintln!("tickets-bench: {error:#}"))
            .ok();
    let flow = pipeline::rates(
        requests_pool,
        (window.from_wall, window.until.duration_since(window.from)),
        applied,
    )
    .await
    .map_err(|error| eprintln!("tickets-bench: {error:#}"))
    .ok();
    let tally = board.take_tally()?;
    cases::wait_quiet(requests_pool, tickets_pool, Duration::from_secs(120)).await?;
    Ok(Phase {
        rate,
        seconds: window.until.duration_since(window.from).as_secs_f64(),
        tally,
        unfinished,
        relay_to_chain_view,
        flow,
        consumer_lag: lag::between(
            &lags_before,
            &lags_after,
            window.until.duration_since(window.from).as_secs_f64(),
        ),
        cpu_requests: after.0.since(&before.0),
        cpu_tickets: after.1.since(&before.1),
        goal_p99_ms: GOALS
            .iter()
            .find(|(goal_rate, _)| (goal_rate - rate).abs() < 0.5)
            .map(|(_, p99)| *p99),
    })
}

/// Both services' consumer lag histograms, by consumer (their names differ); none without
/// `--consumer-lag`.
async fn consumer_lags(services: &Services) -> anyhow::Result<lag::Lags> {
    let mut lags = lag::Lags::new();
    for addr in services.metrics.into_iter().flatten() {
        lags.extend(lag::scrape(addr).await?);
    }
    Ok(lags)
}

/// The machine, the servers and the run's settings.
fn describe(
    report: &mut Report,
    args: &Args,
    postgres_version: &str,
    synchronous_commit: &str,
    nats: &BenchNats,
) {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    report.machine("nproc", cores);
    report.machine("load average at start", cpu::load_average());
    report.machine("postgresql", postgres_version);
    report.machine("synchronous_commit", synchronous_commit);
    report.machine("nats-server", nats.server_version());
    report.machine("services RUST_LOG", &args.service_log);
    report.machine("services tracing", args.tracing.name());
    report.machine("service db connections", args.db_connections);
    report.machine("extra WatchTickets streams", args.extra_watchers);
    report.machine(
        "per phase",
        format!(
            "{:.1} s warm-up + {:.1} s measured",
            args.warm_up, args.seconds
        ),
    );
}
