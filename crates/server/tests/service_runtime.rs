//! A service runtime and its gRPC server against real PostgreSQL and real NATS: readiness over
//! `grpc.health.v1`, the contracts over reflection, the relay publishing, the shutdown sequence,
//! start-up errors that name the dependency out of reach, and mutual TLS.

use chain_server::{ChainService, ServiceConfig, ServiceRuntime, Shutdown, StartError};
use chain_store::{EventMetadata, Idempotency, NewEvent, StreamId};
use chain_testkit::{
    NatsRoot, TestDatabase, TestPki, free_port, nats_url, tls_channel, wait_until,
};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::Code;
use tonic::service::Routes;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const REQUESTS: &str = "customerchain.v1.InternalRequestService";

fn config(db: &TestDatabase, root: &str, extra: &[(&str, &str)]) -> ServiceConfig {
    let nats = nats_url();
    let mut vars = vec![
        ("DATABASE_URL", db.url()),
        ("NATS_URL", nats.as_str()),
        ("CHAIN_BUS_ROOT", root),
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("SHUTDOWN_GRACE_SECONDS", "0.5"),
        ("SHUTDOWN_DRAIN_SECONDS", "3"),
        ("DATABASE_MAX_CONNECTIONS", "4"),
    ];
    vars.extend_from_slice(extra);
    ServiceConfig::from_vars(ChainService::Requests, vars).expect("a valid test configuration")
}

/// A runtime serving no domain service on 127.0.0.1:0.
struct Served {
    addr: SocketAddr,
    shutdown: Shutdown,
    serving: JoinHandle<Result<(), chain_server::ServeError>>,
    background_stopped: Arc<AtomicBool>,
}

async fn serve(runtime: ServiceRuntime) -> Served {
    let background_stopped = Arc::new(AtomicBool::new(false));
    let stopped = background_stopped.clone();
    runtime.spawn_background("probe", |stop| async move {
        stop.cancelled().await;
        stopped.store(true, Ordering::SeqCst);
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().expect("bound address");
    let shutdown = Shutdown::new();
    let serving = tokio::spawn(runtime.serve(listener, Routes::default(), shutdown.clone()));
    Served {
        addr,
        shutdown,
        serving,
        background_stopped,
    }
}

async fn channel(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("a valid endpoint")
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await
        .expect("connect to the server")
}

async fn health(
    client: &mut HealthClient<Channel>,
    service: &str,
) -> Result<ServingStatus, tonic::Status> {
    let response = client
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await?;
    Ok(response.into_inner().status())
}

async fn reflected_services(channel: Channel) -> BTreeSet<String> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection answers")
        .into_inner();
    let response = responses
        .message()
        .await
        .expect("a reflection response")
        .expect("one message");
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("expected a service list, got {other:?}"),
    }
}

async fn v1alpha_reflected_services(channel: Channel) -> BTreeSet<String> {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("v1alpha reflection answers")
        .into_inner();
    match responses
        .message()
        .await
        .expect("a reflection response")
        .and_then(|r| r.message_response)
    {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("expected a service list, got {other:?}"),
    }
}

#[tokio::test]
async fn serves_health_and_reflection_then_drains_on_shutdown() {
    let db = TestDatabase::create().await;
    let root = NatsRoot::unique();
    let config = config(&db, &root, &[]);
    let (grace, drain) = (config.unready_grace, config.drain_timeout);
    let runtime = ServiceRuntime::start(config)
        .await
        .expect("the runtime starts");
    let served = serve(runtime).await;
    let channel = channel(served.addr).await;
    let mut health_client = HealthClient::new(channel.clone());

    assert_eq!(
        health(&mut health_client, "")
            .await
            .expect("overall health"),
        ServingStatus::Serving
    );
    assert_eq!(
        health(&mut health_client, REQUESTS)
            .await
            .expect("named health"),
        ServingStatus::Serving
    );
    let unknown = health(&mut health_client, "customerchain.v1.Nothing").await;
    assert_eq!(unknown.map_err(|s| s.code()), Err(Code::NotFound));

    let services = reflected_services(channel.clone()).await;
    for expected in [
        "customerchain.v1.InternalRequestService",
        "customerchain.v1.TicketService",
        "customerchain.v1.SatisfactionService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(
            services.contains(expected),
            "{expected} missing from {services:?}"
        );
    }
    let alpha = v1alpha_reflected_services(channel.clone()).await;
    assert!(alpha.contains(REQUESTS), "{alpha:?}");

    // No domain service is registered: its calls reach the server and are refused as such.
    let mut requests = chain_proto::customerchain::v1::internal_request_service_client::InternalRequestServiceClient::new(channel.clone());
    let refused = requests
        .get_team(chain_proto::customerchain::v1::GetTeamRequest::default())
        .await
        .expect_err("no handler is registered");
    assert_eq!(refused.code(), Code::Unimplemented, "{refused:?}");

    let asked = Instant::now();
    served.shutdown.trigger();
    // During the grace the server still answers, and says it is going away.
    let mut saw = Vec::new();
    let turned = wait_until(
        Duration::from_secs(2),
        Duration::from_millis(20),
        async || {
            let overall = health(&mut health_client, "").await;
            let named = health(&mut health_client, REQUESTS).await;
            saw.push((
                overall.clone().map_err(|s| s.code()),
                named.clone().map_err(|s| s.code()),
            ));
            overall.ok() == Some(ServingStatus::NotServing)
                && named.ok() == Some(ServingStatus::NotServing)
        },
    )
    .await;
    assert!(turned, "health never turned NOT_SERVING: {saw:?}");
    assert!(
        asked.elapsed() < grace,
        "NOT_SERVING should be visible within the grace"
    );

    let returned = tokio::time::timeout(grace + drain, served.serving)
        .await
        .expect("serve returns within the grace plus the drain timeout")
        .expect("serve does not panic");
    returned.expect("serve ends without error");
    assert!(
        asked.elapsed() < grace + drain,
        "took {:?}, an idle connection should not hold up the drain",
        asked.elapsed()
    );
    assert!(
        served.background_stopped.load(Ordering::SeqCst),
        "background tasks are cancelled and awaited"
    );

    let refused = tokio::net::TcpStream::connect(served.addr).await;
    assert!(refused.is_err(), "the listener is closed after shutdown");
}

#[tokio::test]
async fn a_call_outliving_the_drain_timeout_is_abandoned_on_time() {
    let db = TestDatabase::create().await;
    let root = NatsRoot::unique();
    let config = config(
        &db,
        &root,
        &[
            ("SHUTDOWN_GRACE_SECONDS", "0.2"),
            ("SHUTDOWN_DRAIN_SECONDS", "1"),
        ],
    );
    let (grace, drain) = (config.unready_grace, config.drain_timeout);
    let runtime = ServiceRuntime::start(config)
        .await
        .expect("the runtime starts");
    let served = serve(runtime).await;

    // A health watch is a call that never ends by itself.
    let mut watch = HealthClient::new(channel(served.addr).await)
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch starts")
        .into_inner();
    let first = watch
        .message()
        .await
        .expect("a status")
        .expect("one message");
    assert_eq!(first.status(), ServingStatus::Serving);

    let asked = Instant::now();
    served.shutdown.trigger();
    let next = tokio::time::timeout(Duration::from_secs(2), watch.message())
        .await
        .expect("the watcher hears about the shutdown")
        .expect("a status")
        .expect("one message");
    assert_eq!(next.status(), ServingStatus::NotServing);

    tokio::time::timeout(grace + drain + Duration::from_secs(2), served.serving)
        .await
        .expect("serve gives up on the call at the drain timeout")
        .expect("serve does not panic")
        .expect("serve ends without error");
    let took = asked.elapsed();
    assert!(
        took >= grace + drain,
        "serve waited for the call ({took:?})"
    );
    assert!(served.background_stopped.load(Ordering::SeqCst));
}

#[tokio::test]
async fn the_relay_publishes_what_the_store_appends() {
    let db = TestDatabase::create().await;
    let root = NatsRoot::unique();
    let runtime = ServiceRuntime::start(config(&db, &root, &[]))
        .await
        .expect("the runtime starts");
    let event = NewEvent::new(
        "customerchain.v1.TeamCreated",
        1,
        chrono::Utc::now(),
        vec![1, 2, 3],
    );
    runtime
        .store()
        .append(
            &StreamId::new("team", "t-1"),
            0,
            &[event],
            &EventMetadata::default(),
            None,
        )
        .await
        .expect("append");

    let stream_name = runtime.layout().stream_name("requests");
    assert_eq!(stream_name, format!("{}_REQUESTS", root.to_uppercase()));
    let js = runtime.jetstream().clone();
    let published = wait_until(
        Duration::from_secs(10),
        Duration::from_millis(50),
        async || match js.get_stream(&stream_name).await {
            Ok(mut stream) => stream
                .info()
                .await
                .is_ok_and(|info| info.state.messages == 1),
            Err(_) => false,
        },
    )
    .await;
    assert!(
        published,
        "the relay publishes the appended event to {stream_name}"
    );
    assert!(
        runtime.stop_background(Duration::from_secs(5)).await,
        "the relay stops when cancelled"
    );
}

#[tokio::test]
async fn a_running_service_forgets_idempotency_keys_older_than_its_retention() {
    let db = TestDatabase::create().await;
    let root = NatsRoot::unique();
    let runtime = ServiceRuntime::start(config(
        &db,
        &root,
        &[
            ("IDEMPOTENCY_RETENTION_SECONDS", "3600"),
            ("IDEMPOTENCY_SWEEP_SECONDS", "0.1"),
        ],
    ))
    .await
    .expect("the runtime starts");
    for key in ["expired", "recent"] {
        let idempotency = Idempotency {
            scope: "CreateTeam/team-a".into(),
            key: key.into(),
            fingerprint: key.as_bytes().to_vec(),
            response: Vec::new(),
        };
        let event = NewEvent::new(
            "customerchain.v1.TeamCreated",
            1,
            chrono::Utc::now(),
            vec![],
        );
        runtime
            .store()
            .append(
                &StreamId::new("team", key),
                0,
                &[event],
                &EventMetadata::default(),
                Some(&idempotency),
            )
            .await
            .expect("a keyed append");
    }
    sqlx::query(
        "UPDATE idempotency_keys SET created_at = now() - interval '2 hours' WHERE key = 'expired'",
    )
    .execute(runtime.pool())
    .await
    .expect("backdate a key past the retention");

    let pool = runtime.pool().clone();
    let keys = async || -> Vec<String> {
        sqlx::query_scalar("SELECT key FROM idempotency_keys ORDER BY key")
            .fetch_all(&pool)
            .await
            .expect("keys")
    };
    let swept = wait_until(
        Duration::from_secs(10),
        Duration::from_millis(50),
        async || keys().await == ["recent"],
    )
    .await;
    assert!(swept, "left: {:?}", keys().await);
    assert!(runtime.stop_background(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn start_names_nats_when_it_is_out_of_reach() {
    let db = TestDatabase::create().await;
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let config = config(&db, &NatsRoot::unique(), &[("NATS_URL", url.as_str())]);
    let started = Instant::now();
    let error = ServiceRuntime::start(config)
        .await
        .expect_err("nothing listens there");
    assert!(matches!(error, StartError::Nats { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("NATS"), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "fails fast, took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn start_names_postgres_when_it_is_out_of_reach() {
    let port = free_port();
    let url = format!("postgres://app:s3cret@127.0.0.1:{port}/requests");
    let config = ServiceConfig::from_vars(
        ChainService::Requests,
        [
            ("DATABASE_URL", url.as_str()),
            ("DATABASE_ACQUIRE_TIMEOUT_SECONDS", "1"),
        ],
    )
    .expect("a valid configuration");
    let error = ServiceRuntime::start(config)
        .await
        .expect_err("nothing listens there");
    assert!(matches!(error, StartError::Postgres { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("PostgreSQL"), "{message}");
    assert!(
        message.contains(&format!("127.0.0.1:{port}/requests")),
        "{message}"
    );
    assert!(!format!("{error:?}").contains("s3cret"), "{error:?}");
}

/// The health of the whole server over `channel`.
async fn overall_health(channel: Channel) -> Result<ServingStatus, tonic::Status> {
    health(&mut HealthClient::new(channel), "").await
}

#[tokio::test]
async fn over_mutual_tls_only_a_client_the_ca_certified_is_served() {
    let db = TestDatabase::create().await;
    let root = NatsRoot::unique();
    let pki = TestPki::new();
    let health_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut settings = pki.server_settings();
    settings.push(("HEALTH_LISTEN_ADDR", health_addr.to_string()));
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let runtime = ServiceRuntime::start(config(&db, &root, &settings))
        .await
        .expect("the runtime starts with its TLS files");
    let served = serve(runtime).await;

    let certified = pki.client("spiffe://chain.test/service/chainctl");
    let over_tls = tls_channel(served.addr, pki.client_tls(Some(&certified)))
        .await
        .expect("a certified client connects");
    assert_eq!(
        overall_health(over_tls).await.expect("answered"),
        ServingStatus::Serving
    );

    // Refused at the handshake, which a client may only notice at its first call.
    let foreign = TestPki::new().client("spiffe://chain.test/service/chainctl");
    for (who, tls) in [
        ("no client certificate", pki.client_tls(None)),
        ("another CA's certificate", pki.client_tls(Some(&foreign))),
    ] {
        let answered = match tls_channel(served.addr, tls).await {
            Ok(channel) => overall_health(channel).await.is_ok(),
            Err(_) => false,
        };
        assert!(!answered, "{who} is refused");
    }
    let plaintext = match Endpoint::from_shared(format!("http://{}", served.addr))
        .expect("a valid endpoint")
        .connect()
        .await
    {
        Ok(channel) => overall_health(channel).await.is_ok(),
        Err(_) => false,
    };
    assert!(!plaintext, "plaintext is refused");

    // Probes that speak no TLS ask the health port, which serves health and nothing else.
    let probe = channel(health_addr).await;
    assert_eq!(
        overall_health(probe.clone()).await.expect("answered"),
        ServingStatus::Serving
    );
    assert_eq!(
        health(&mut HealthClient::new(probe.clone()), REQUESTS)
            .await
            .expect("answered"),
        ServingStatus::Serving
    );
    let reflection =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(
            probe.clone(),
        )
        .server_reflection_info(tokio_stream::iter([
            tonic_reflection::pb::v1::ServerReflectionRequest::default(),
        ]))
        .await;
    assert_eq!(
        reflection.expect_err("not served there").code(),
        Code::Unimplemented
    );
    served.shutdown.trigger();
    let going_away = wait_until(
        Duration::from_secs(5),
        Duration::from_millis(20),
        async || overall_health(probe.clone()).await.ok() == Some(ServingStatus::NotServing),
    )
    .await;
    assert!(
        going_away,
        "the health port says NOT_SERVING after shutdown"
    );
}

#[tokio::test]
async fn an_unreadable_tls_file_is_named_at_start() {
    let db = TestDatabase::create().await;
    let root = NatsRoot::unique();
    let pki = TestPki::new();
    let mut settings = pki.server_settings();
    settings[1].1 = "/nonexistent/server.key".to_owned();
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let error = ServiceRuntime::start(config(&db, &root, &settings))
        .await
        .expect_err("the key is missing");
    assert!(
        matches!(&error, StartError::TlsFile { path, .. } if path.ends_with("server.key")),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("/nonexistent/server.key"),
        "{error}"
    );
}
