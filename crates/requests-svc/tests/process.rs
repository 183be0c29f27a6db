//! The `requests-svc` binary as an operator runs it, against real PostgreSQL and real NATS:
//! `serve` becomes ready, reports its consumers' transactions on `/metrics` and exits cleanly on
//! SIGTERM, `migrate` and `relay rewind` do their job and exit, and a missing `DATABASE_URL` is
//! reported by name.

use chain_proto::customerchain::v1 as pb;
use chain_proto::customerchain::v1::internal_request_service_client::InternalRequestServiceClient;
use chain_rpc::actor::ACTOR_METADATA_KEY;
use chain_store::{Position, load_checkpoint};
use chain_testkit::{NatsRoot, TestDatabase, free_port, nats_url, wait_until};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tempfile::NamedTempFile;
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const BINARY: &str = env!("CARGO_BIN_EXE_requests-svc");

/// A `requests-svc` process whose output goes to a file (read back for failure messages). It is
/// killed if the test ends before it exited.
struct Process {
    child: Child,
    log: NamedTempFile,
}

impl Process {
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> Process {
        let log = NamedTempFile::new().expect("a temporary log file");
        let mut command = Command::new(BINARY);
        command
            .args(args)
            .env_remove("DATABASE_URL")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.reopen().expect("reopen the log"))
            .stderr(log.reopen().expect("reopen the log"));
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("spawn requests-svc");
        Process { child, log }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("poll the child")
    }

    async fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn health(addr: &str, service: &str) -> Option<ServingStatus> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .ok()?
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await
        .ok()?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .ok()?;
    Some(response.into_inner().status())
}

/// `GET /metrics` over a plain socket.
async fn scrape(addr: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("metrics endpoint");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let mut body = String::new();
    stream.read_to_string(&mut body).await.expect("response");
    body
}

#[tokio::test]
async fn serves_until_sigterm_and_exits_cleanly() {
    let db = TestDatabase::create().await;
    let root = NatsRoot::unique();
    let nats = nats_url();
    let addr = format!("127.0.0.1:{}", free_port());
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let mut process = Process::spawn(
        &[],
        &[
            ("DATABASE_URL", db.url()),
            ("NATS_URL", &nats),
            ("CHAIN_BUS_ROOT", &root),
            ("LISTEN_ADDR", &addr),
            ("METRICS_ADDR", &metrics_addr),
            ("SHUTDOWN_GRACE_SECONDS", "0.5"),
            ("SHUTDOWN_DRAIN_SECONDS", "5"),
        ],
    );

    let mut exited_early = None;
    let ready = wait_until(
        Duration::from_secs(60),
        Duration::from_millis(100),
        async || {
            if let Some(status) = process.exited() {
                exited_early = Some(status);
                return true;
            }
            health(&addr, "").await == Some(ServingStatus::Serving)
                && health(&addr, "customerchain.v1.InternalRequestService").await
                    == Some(ServingStatus::Serving)
        },
    )
    .await;
    assert!(
        ready && exited_early.is_none(),
        "requests-svc did not become ready (exit: {exited_early:?}); output:\n{}",
        process.output()
    );

    // The health checks above went through the RPC metrics layer.
    let metrics = scrape(&metrics_addr).await;
    assert!(
        metrics.contains(
            r#"chain_rpc_requests_total{method="/grpc.health.v1.Health/Check",code="OK"}"#
        ),
        "RPC metrics on /metrics:\n{metrics}"
    );

    // A team created over gRPC reaches the projector through the relay and the bus; the
    // projector's transaction reports its size, length and lag.
    create_team(&addr).await;
    let projector = r#"consumer="requests-projector""#;
    let mut metrics = String::new();
    let reported = wait_until(
        Duration::from_secs(30),
        Duration::from_millis(100),
        async || {
            metrics = scrape(&metrics_addr).await;
            [
                "chain_consumer_transaction_messages_count",
                "chain_consumer_transaction_seconds_count",
                "chain_consumer_lag_seconds_count",
            ]
            .iter()
            .all(|name| metrics.contains(&format!("{name}{{{projector}}} 1")))
        },
    )
    .await;
    assert!(
        reported,
        "the projector's transaction on /metrics:\n{metrics}"
    );

    let asked = Instant::now();
    process.terminate();
    let status = process.wait(Duration::from_secs(15)).await;
    let output = process.output();
    assert!(
        status.is_some_and(|s| s.success()),
        "requests-svc should exit 0 within 15 s of SIGTERM, got {status:?} after {:?}; output:\n{output}",
        asked.elapsed()
    );
}

/// Creates a team through the process's gRPC API, as an operator tool.
async fn create_team(addr: &str) {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut request = tonic::Request::new(pb::CreateTeamRequest {
        idempotency_key: "process-test-team".to_owned(),
        name: "Workshop".to_owned(),
        front_line: false,
    });
    request
        .metadata_mut()
        .insert(ACTOR_METADATA_KEY, "process-test".parse().expect("ascii"));
    InternalRequestServiceClient::new(channel)
        .create_team(request)
        .await
        .expect("CreateTeam");
}

#[tokio::test]
async fn migrate_and_rewind_do_their_job_and_exit() {
    let db = TestDatabase::create().await;
    let mut migrate = Process::spawn(&["migrate"], &[("DATABASE_URL", db.url())]);
    let status = migrate.wait(Duration::from_secs(30)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "migrate: {status:?}\n{}",
        migrate.output()
    );
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_name IN ('events', 'relay_checkpoints', 'inbox_stream_versions', \
         'dead_letters', 'inbox_processed') \
         ORDER BY table_name",
    )
    .fetch_all(&db.pool())
    .await
    .expect("list tables");
    assert_eq!(
        tables,
        [
            "dead_letters",
            "events",
            "inbox_stream_versions",
            "relay_checkpoints"
        ]
    );

    let mut rewind = Process::spawn(
        &["relay", "rewind", "--to", "5:7"],
        &[("DATABASE_URL", db.url())],
    );
    let status = rewind.wait(Duration::from_secs(30)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "rewind: {status:?}\n{}",
        rewind.output()
    );
    let checkpoint = load_checkpoint(&db.pool(), "requests")
        .await
        .expect("read the checkpoint");
    assert_eq!(
        checkpoint,
        Position {
            tx_id: 5,
            position: 7
        }
    );
}

#[tokio::test]
async fn a_missing_database_url_is_named() {
    let mut process = Process::spawn(&["migrate"], &[]);
    let status = process.wait(Duration::from_secs(30)).await;
    let output = process.output();
    assert!(
        status.is_some_and(|s| !s.success()),
        "expected a failure, got {status:?}\n{output}"
    );
    assert!(output.contains("DATABASE_URL"), "{output}");
}
