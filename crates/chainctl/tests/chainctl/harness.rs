//! The three services in this process: for each, a fresh database, the shared runtime of
//! `chain-server` (migrations, stream, outbox relay) and the service's own routes and background
//! tasks, wired as its binary wires them, all on one unique NATS subject root and on loopback
//! ports. `chainctl` runs as a child process pointed at them.

use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use chain_server::{ChainService, ServiceConfig, ServiceRuntime, ServiceSetup, Shutdown, TlsFiles};
use chain_testkit::{NatsRoot, TestDatabase, nats_url};

/// The three running services; dropping it shuts them down and drops their databases.
pub struct Services {
    shutdown: Shutdown,
    _databases: Vec<TestDatabase>,
    requests: SocketAddr,
    tickets: SocketAddr,
    scoring: SocketAddr,
}

impl Drop for Services {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

impl Services {
    /// Starts requests-svc, tickets-svc and scoring-svc on one fresh subject root.
    pub async fn start() -> Self {
        chain_telemetry::init_for_tests();
        let root = NatsRoot::unique();
        let shutdown = Shutdown::new();
        let (requests_db, requests) = start(
            ChainService::Requests,
            chain_requests::RequestsSetup,
            &root,
            &shutdown,
            None,
        )
        .await;
        let (tickets_db, tickets) = start(
            ChainService::Tickets,
            chain_tickets::TicketsSetup,
            &root,
            &shutdown,
            None,
        )
        .await;
        let (scoring_db, scoring) = start(
            ChainService::Scoring,
            chain_scoring::ScoringSetup::default(),
            &root,
            &shutdown,
            None,
        )
        .await;
        Self {
            shutdown,
            _databases: vec![requests_db, tickets_db, scoring_db],
            requests,
            tickets,
            scoring,
        }
    }

    /// Runs `chainctl` with `args`, pointed at these services.
    pub async fn chainctl(&self, args: &[&str]) -> Output {
        chainctl(
            args,
            &[
                ("CHAIN_REQUESTS_ADDR", format!("http://{}", self.requests)),
                ("CHAIN_TICKETS_ADDR", format!("http://{}", self.tickets)),
                ("CHAIN_SCORING_ADDR", format!("http://{}", self.scoring)),
            ],
        )
        .await
    }

    /// Runs `chainctl -o json` with `args` and parses its stdout; asserts it succeeded.
    pub async fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["-o", "json"];
        all.extend_from_slice(args);
        let output = self.chainctl(&all).await;
        assert_success(&output, &all);
        serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
            panic!(
                "{all:?} printed no JSON ({error}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }
}

/// Starts `service` with `setup` on a fresh database, served until `shutdown`; over mutual TLS
/// with `tls` when given.
pub async fn start(
    service: ChainService,
    setup: impl ServiceSetup,
    root: &str,
    shutdown: &Shutdown,
    tls: Option<TlsFiles>,
) -> (TestDatabase, SocketAddr) {
    let database = TestDatabase::create().await;
    let mut config = ServiceConfig::new(service, database.url());
    config.tls = tls;
    config.nats_url = nats_url();
    config.bus_root = root.to_owned();
    config.unready_grace = Duration::ZERO;
    config.drain_timeout = Duration::from_secs(1);
    let runtime = ServiceRuntime::start(config)
        .await
        .expect("the service runtime starts");
    setup
        .migrate(runtime.pool())
        .await
        .expect("the service's migrations");
    let routes = setup.routes(&runtime).await.expect("the service's routes");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("bound");
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        // A serve error after the test is over has nobody to tell.
        let _ = runtime.serve(listener, routes, shutdown).await;
    });
    (database, addr)
}

/// Runs the built `chainctl` with `args` and extra environment, without colour.
pub async fn chainctl(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_chainctl"));
    command
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("CHAIN_ACTOR")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("RUST_BACKTRACE");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().await.expect("chainctl runs")
}

/// Asserts `output` is a success, showing what it printed otherwise.
pub fn assert_success(output: &Output, args: &[&str]) {
    assert!(
        output.status.success(),
        "chainctl {args:?} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}

/// A JSON string field.
pub fn text(value: &serde_json::Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no string {field:?} in {value}"))
        .to_owned()
}
