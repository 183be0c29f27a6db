//! `requests-bench`: drives the real `requests-svc` over gRPC with concurrent clients, each
//! looping through a request's lifecycle (OpenRequest → CommitRequest → FulfilRequest), and
//! prints commands/s, p50/p99/max latency overall and per command, errors by code, the
//! service's peak RSS, where the CPU went, and how long the projector took to catch up, beside
//! the goals of issue 3 (on a 2-core machine: ≥ 3,000 commands/s, p99 ≤ 25 ms, ≤ 100 MiB RSS).
//!
//! ```text
//! cargo build --release -p requests-svc
//! cargo run --release -p chain-bench --bin requests-bench -- [--seconds 20] [--clients 32] [--channels 1,32]
//! cargo run --release -p chain-bench --bin requests-bench -- --tracing disabled,exported
//! ```
//!
//! `--tracing` runs every phase once per tracing mode, each against a fresh service process on
//! the same database: `disabled` (`OTEL_SDK_DISABLED=true`), `unexported` (the default: trace
//! contexts but no collector) and `exported` (OTLP/gRPC to a receiver in the bench that counts
//! the spans; the service's `/metrics` then says how many spans its batch queue dropped). The
//! report compares each mode with the first untraced one measured, against the goal of issue 6
//! (exported: ≥ 90 % of the untraced throughput and no span dropped).
//!
//! It builds nothing: it runs the `requests-svc` binary next to its own executable (so build
//! both in release first; a stale service binary would measure old code) or the one given with
//! `--service-bin`. It makes a database of its own on the server at `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and a stream under a unique subject root on
//! `NATS_URL` (default `nats://127.0.0.1:4222`), starts the service on a free loopback port,
//! waits for gRPC health SERVING, declares a ring of teams and links, and measures one phase per
//! `--channels` value (the clients share that many HTTP/2 connections). At the end it stops the
//! service with SIGTERM, drops the database and deletes the stream.
//!
//! It is a benchmark, not a test: it asserts nothing about speed. The bench's clients run on
//! the same cores as the service, PostgreSQL and NATS; the CPU line of each phase says who used
//! what.

#[allow(
    dead_code,
    reason = "the fixture is shared with store-bench, which uses other parts of it"
)]
#[path = "../fixture.rs"]
mod fixture;
#[path = "../requests/mod.rs"]
mod requests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use sqlx::PgPool;
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::fixture::{BenchDatabase, BenchNats, DEFAULT_DATABASE_URL, DEFAULT_NATS_URL};
use crate::requests::cpu::{self, CpuSnapshot};
use crate::requests::load::{self, Window};
use crate::requests::memory::{self, RssSampler};
use crate::requests::report::{Phase, PhaseMeasures, Report};
use crate::requests::service::{
    self, ServiceProcess, ServiceSettings, TracingMode, TracingSettings,
};
use crate::requests::teams::{self, LinkUnderTest};
use crate::requests::traced::{self, SpanReceiver, SpanTally, TracingComparison, TracingRow};
use crate::requests::{postgres, projector};

/// The stream the service publishes into, named by its service token.
const SERVICE_TOKEN: &str = "requests";
/// The longest wait for the service to become SERVING (it migrates its database first).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest wait for the service to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Service log lines shown in the report.
const LOG_LINES_SHOWN: usize = 15;
/// The exporter has emptied its queue once no span arrived for this long (the batch
/// processor exports at least every 5 s while it holds spans).
const SPANS_QUIET: Duration = Duration::from_secs(6);
/// The longest wait for the exporter to empty its queue after a phase.
const SPANS_LIMIT: Duration = Duration::from_secs(120);

/// Drives requests-svc over gRPC and measures it.
#[derive(Parser, Debug)]
#[command(name = "requests-bench", version, about)]
struct Args {
    /// Seconds each phase is measured (after its warm-up).
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Seconds of load before each phase is measured.
    #[arg(long, default_value_t = 3.0)]
    warm_up: f64,
    /// Concurrent clients (tokio tasks), each looping open → commit → fulfil.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// HTTP/2 connections the clients share, one phase per value (e.g. `1,32`).
    #[arg(long, value_delimiter = ',', default_values_t = [1])]
    channels: Vec<usize>,
    /// Teams in the ring (each serves the one before it); client c works on link c % teams.
    #[arg(long, default_value_t = 8)]
    teams: usize,
    /// The service's PostgreSQL pool size (`DATABASE_MAX_CONNECTIONS`).
    #[arg(long, default_value_t = 16)]
    db_connections: u32,
    /// The service binary; default: `requests-svc` next to this executable.
    #[arg(long)]
    service_bin: Option<PathBuf>,
    /// The service's `RUST_LOG`.
    #[arg(long, default_value = "warn")]
    service_log: String,
    /// The service's tracing, one service process and one pass of every phase per mode, in
    /// this order (e.g. `disabled,exported`): `disabled`, `unexported` or `exported`.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [TracingMode::Unexported])]
    tracing: Vec<TracingMode>,
    /// Seconds to wait for the projector to catch up after each phase.
    #[arg(long, default_value_t = 120.0)]
    catch_up_limit: f64,
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
    anyhow::ensure!(args.warm_up >= 0.0, "--warm-up must not be negative");
    anyhow::ensure!(args.clients > 0, "--clients must be positive");
    anyhow::ensure!(
        !args.channels.is_empty() && args.channels.iter().all(|&c| c > 0),
        "--channels must be positive"
    );
    anyhow::ensure!(!args.tracing.is_empty(), "--tracing needs a mode");
    let binary = service::locate(args.service_bin.as_deref())?;

    let database = BenchDatabase::create(&args.database_url).await?;
    eprintln!("requests-bench: database {}", database.name());
    let mut nats = match BenchNats::connect(&args.nats_url).await {
        Ok(nats) => nats,
        Err(error) => {
            cleanup_database(database).await;
            return Err(error);
        }
    };

    let outcome = run(&args, &binary, &database, &mut nats).await;

    if let Err(error) = nats.delete_streams().await {
        eprintln!("requests-bench: could not delete its stream: {error:#}");
    }
    cleanup_database(database).await;

    print!("{}", outcome?.render());
    Ok(())
}

async fn cleanup_database(database: BenchDatabase) {
    if let Err(error) = database.drop_database().await {
        eprintln!("requests-bench: could not drop its database: {error:#}");
    }
}

/// The whole benchmark: for each tracing mode, start the service, declare the teams (once),
/// measure each phase, stop it.
async fn run(
    args: &Args,
    binary: &Path,
    database: &BenchDatabase,
    nats: &mut BenchNats,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let layout = nats.fresh_stream(SERVICE_TOKEN).await?;
    let pool = database.pool(2).await?;
    describe(&mut report, args, binary, &pool, nats).await?;
    let comparing = args.tracing.len() > 1 || args.tracing[0] != TracingMode::Unexported;
    let receiver = if args.tracing.contains(&TracingMode::Exported) {
        Some(SpanReceiver::start().await?)
    } else {
        None
    };
    let mut comparison = TracingComparison::default();
    let mut links = None;

    for &mode in &args.tracing {
        let metrics_addr = match mode {
            TracingMode::Exported => Some(service::free_addr()?),
            TracingMode::Disabled | TracingMode::Unexported => None,
        };
        let endpoint = receiver.as_ref().map(SpanReceiver::endpoint);
        eprintln!(
            "requests-bench: starting {} (tracing {})",
            binary.display(),
            mode.name()
        );
        let mut service = ServiceProcess::spawn_traced(
            binary,
            &ServiceSettings {
                database_url: database.url(),
                nats_url: &args.nats_url,
                bus_root: layout.root(),
                db_connections: args.db_connections,
                rust_log: &args.service_log,
            },
            &TracingSettings {
                mode,
                otlp_endpoint: endpoint.as_deref(),
                metrics_addr,
            },
        )?;
        let ready_after = service.wait_ready(READY_TIMEOUT).await?;
        report.machine(
            &format!("service ready after ({})", mode.name()),
            format!(
                "{:.2} s (listening on {})",
                ready_after.as_secs_f64(),
                service.addr()
            ),
        );
        let sampler = RssSampler::spawn(service.pid());
        if links.is_none() {
            let setup = service.endpoint()?.connect().await?;
            links = Some(teams::declare_ring(setup, args.teams).await?);
            projector::wait_until_caught_up(&pool, Duration::from_secs(10)).await?;
            report.rss_idle_mib = memory::resident_mib(service.pid());
        }
        let ring = links.as_deref().unwrap_or_default();

        let mut rows = Vec::new();
        for &channels in &args.channels {
            eprintln!(
                "requests-bench: {} clients over {channels} channel(s), tracing {}: {:.1} s warm-up, {:.1} s measured",
                args.clients,
                mode.name(),
                args.warm_up,
                args.seconds
            );
            let mut phase = measure(args, &mut service, &sampler, &pool, ring, channels).await?;
            if comparing {
                phase.tracing = Some(mode.name());
            }
            rows.push(TracingRow {
                mode: mode.name(),
                channels,
                rate: phase.rate(),
                p50: phase.overall.p50,
                p99: phase.overall.p99,
                spans: None,
            });
            report.phase(phase);
        }
        if let (Some(receiver), Some(metrics)) = (&receiver, metrics_addr) {
            // Spans still queued in the service are exported within the batch delay; once
            // none arrives, what the service did not export was dropped.
            let received = receiver.wait_quiet(SPANS_QUIET, SPANS_LIMIT).await;
            let spans: SpanTally = traced::scrape(metrics, received).await?;
            // The counts cover the whole process, so they go on the mode's last row.
            if let Some(last) = rows.last_mut() {
                last.spans = Some(spans);
            }
        }
        comparison.rows.extend(rows);

        report.rss_hwm_mib = memory::high_water_mib(service.pid());
        report.rss_peak_mib = report.rss_peak_mib.max(sampler.run_peak_mib());
        report.rss_samples += sampler.samples();
        drop(sampler);
        let stopped = service.stop(STOP_TIMEOUT).await;
        report.exit = match &stopped {
            Ok(status) => format!("{status} after SIGTERM"),
            Err(error) => format!("{error:#}"),
        };
        if service.log_lines() > 0 {
            report.service_log = service
                .log_tail(LOG_LINES_SHOWN)
                .lines()
                .map(str::to_owned)
                .collect();
        }
    }
    if comparing {
        report.tracing = Some(comparison);
    }
    pool.close().await;
    Ok(report)
}

/// One phase: the clients over `channels` connections, warm-up then the measured window, then
/// the projector's catch-up.
async fn measure(
    args: &Args,
    service: &mut ServiceProcess,
    sampler: &RssSampler,
    pool: &PgPool,
    links: &[LinkUnderTest],
    channels: usize,
) -> anyhow::Result<Phase> {
    let endpoint = service.endpoint()?;
    let mut connected: Vec<Channel> = Vec::with_capacity(channels);
    for _ in 0..channels {
        connected.push(endpoint.connect().await.context("connecting a channel")?);
    }
    let pid = service.pid();
    sampler.take_phase_peak_mib();
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warm_up);
    let window = Window {
        measure_from,
        until: measure_from + Duration::from_secs_f64(args.seconds),
    };
    let clients = args.clients;
    let owned_links = links.to_vec();
    let load =
        tokio::spawn(async move { load::run(clients, &connected, &owned_links, window).await });

    tokio::time::sleep_until(window.measure_from).await;
    let cpu_before = CpuSnapshot::take(pid);
    let tx_before = postgres::transactions(pool).await.ok();
    tokio::time::sleep_until(window.until).await;
    let cpu_after = CpuSnapshot::take(pid);
    let tx_after = postgres::transactions(pool).await.ok();
    let tally = load.await.context("the load task panicked")??;

    if let Some(status) = service.exited()? {
        anyhow::bail!(
            "requests-svc exited during the load ({status}); its output:\n{}",
            service.log_tail(40)
        );
    }
    eprintln!("requests-bench: waiting for the projector to catch up");
    let catch_up_from = CpuSnapshot::take(pid);
    let catch_up =
        projector::wait_until_caught_up(pool, Duration::from_secs_f64(args.catch_up_limit)).await?;
    let catch_up_cpu = CpuSnapshot::take(pid).since(&catch_up_from);
    let seconds = tally.last_finish.map_or(args.seconds, |last| {
        last.duration_since(measure_from).as_secs_f64()
    });
    Phase::new(
        clients,
        channels,
        seconds,
        &tally,
        PhaseMeasures {
            rss_peak_mib: sampler.take_phase_peak_mib(),
            cpu: cpu_after.since(&cpu_before),
            transactions: tx_before.zip(tx_after).map(|(b, a)| a.saturating_sub(b)),
            catch_up,
            catch_up_cpu,
        },
    )
}

/// The machine, the servers and the run's settings.
async fn describe(
    report: &mut Report,
    args: &Args,
    binary: &Path,
    pool: &PgPool,
    nats: &BenchNats,
) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let (postgres_version, synchronous_commit) = postgres::describe(pool).await?;
    let built = std::fs::metadata(binary)
        .and_then(|meta| meta.modified())
        .map(|at| {
            chrono::DateTime::<chrono::Utc>::from(at)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        })
        .unwrap_or_else(|_| "unknown".to_owned());
    report.cores = cores;
    report.machine("nproc", cores);
    report.machine("load average at start", cpu::load_average());
    report.machine("postgresql", postgres_version);
    report.machine("synchronous_commit", synchronous_commit);
    report.machine("nats-server", nats.server_version());
    report.machine(
        "service binary",
        format!("{} (built {built})", binary.display()),
    );
    report.machine("service RUST_LOG", &args.service_log);
    let modes: Vec<&str> = args.tracing.iter().map(|mode| mode.name()).collect();
    report.machine("service tracing", modes.join(", "));
    report.machine("service db connections", args.db_connections);
    report.machine("clients", args.clients);
    report.machine("teams / links", format!("{0} / {0} (a ring)", args.teams));
    report.machine(
        "per phase",
        format!(
            "{:.1} s warm-up + {:.1} s measured",
            args.warm_up, args.seconds
        ),
    );
    Ok(())
}
