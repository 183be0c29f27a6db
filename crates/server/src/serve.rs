//! The gRPC server of a service: the caller's services beside `grpc.health.v1` and server
//! reflection, a trace span per call, and the shutdown sequence that lets load balancers move
//! away before in-flight calls are drained.

use crate::rpc_metrics::RpcMetricsLayer;
use crate::{MutualTls, ServeError, ServiceConfig, Shutdown};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};
use tracing::{info, warn};

/// How [`serve_grpc`] reports readiness and shuts down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeOptions {
    /// Names reported SERVING in `grpc.health.v1` while ready, besides the overall `""`
    /// (typically the service's gRPC name, e.g. `customerchain.v1.InternalRequestService`).
    pub health_names: Vec<String>,
    /// How long health says NOT_SERVING while calls are still accepted.
    pub unready_grace: Duration,
    /// The longest wait for in-flight calls once the listener closed.
    pub drain_timeout: Duration,
    /// Mutual TLS, required of every connection; `None` serves plaintext.
    pub tls: Option<MutualTls>,
    /// Where `grpc.health.v1` alone is also served, in plaintext: for probes that speak no TLS
    /// (Kubernetes' gRPC probes) when the service port requires mutual TLS. `None`: no such port.
    pub health_addr: Option<SocketAddr>,
}

impl ServeOptions {
    /// The options of the service `config` describes, without TLS (its files are read at
    /// start: [`crate::ServiceRuntime::start`]).
    pub fn for_config(config: &ServiceConfig) -> Self {
        Self {
            health_names: vec![config.service.grpc_service_name().to_owned()],
            unready_grace: config.unready_grace,
            drain_timeout: config.drain_timeout,
            tls: None,
            health_addr: config.health_addr,
        }
    }
}

/// Serves `routes` on `listener` until `shutdown` is requested, then drains.
///
/// Beside `routes` it serves `grpc.health.v1` (`""` and every name of
/// [`ServeOptions::health_names`] SERVING) and server reflection v1 and v1alpha over the
/// `customerchain.v1` contracts and the health service. Paths nobody serves answer
/// `UNIMPLEMENTED`. With [`ServeOptions::tls`] every connection must present a client
/// certificate the configured CA issued; [`ServeOptions::health_addr`] serves health alone
/// beside, in plaintext. Each call runs in a span continuing the caller's W3C trace (health
/// and reflection calls are not traced: probes would flood the traces).
///
/// When `shutdown` is requested: every health name turns NOT_SERVING; calls are still accepted
/// for [`ServeOptions::unready_grace`]; then the listener closes and in-flight calls get up to
/// [`ServeOptions::drain_timeout`] to finish, after which they are abandoned and this returns.
pub async fn serve_grpc(
    listener: TcpListener,
    routes: Routes,
    options: ServeOptions,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    let reporter = HealthReporter::new();
    let routes = routes
        .add_service(HealthServer::new(HealthService::from_health_reporter(
            reporter.clone(),
        )))
        .add_service(reflection().build_v1().map_err(ServeError::Reflection)?)
        .add_service(
            reflection()
                .build_v1alpha()
                .map_err(ServeError::Reflection)?,
        );

    let ServeOptions {
        health_names,
        unready_grace,
        drain_timeout,
        tls,
        health_addr,
    } = options;
    let health_only = match health_addr {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::HealthBind { addr, source })?,
        ),
        None => None,
    };
    // The listener closes when `closing` completes; `draining` marks that moment, from which the
    // drain timeout runs.
    let draining = CancellationToken::new();
    let closing = {
        let reporter = reporter.clone();
        let health_names = health_names.clone();
        let draining = draining.clone();
        async move {
            shutdown.requested().await;
            report(&reporter, &health_names, ServingStatus::NotServing).await;
            info!(
                grace = ?unready_grace,
                "health is NOT_SERVING; closing the listener after the grace"
            );
            tokio::time::sleep(unready_grace).await;
            info!(timeout = ?drain_timeout, "listener closed; draining in-flight calls");
            draining.cancel();
        }
    };

    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "serving gRPC");
    }
    report(&reporter, &health_names, ServingStatus::Serving).await;
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let mut builder = Server::builder();
    if let Some(tls) = &tls {
        builder = builder
            .tls_config(tls.server_config())
            .map_err(ServeError::Transport)?;
    }
    let server = builder
        .trace_fn(call_span)
        .layer(RpcMetricsLayer)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, closing);
    tokio::pin!(server);
    // The health port closes with the service port, and is abandoned once this returns.
    let _health_server = health_only.map(|listener| {
        let health = HealthServer::new(HealthService::from_health_reporter(reporter.clone()));
        let closed = draining.clone().cancelled_owned();
        AbortOnDropHandle::new(tokio::spawn(
            Server::builder()
                .add_service(health)
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), closed),
        ))
    });
    let drain_deadline = async {
        draining.cancelled().await;
        tokio::time::sleep(drain_timeout).await;
    };
    tokio::select! {
        result = &mut server => {
            result.map_err(ServeError::Transport)?;
            info!("gRPC server drained");
            Ok(())
        }
        () = drain_deadline => {
            warn!(timeout = ?drain_timeout, "in-flight calls outlived the drain timeout; abandoning them");
            Ok(())
        }
    }
}

/// The reflection service's contents: our contracts (with the well-known types they import) and
/// the health service, so generic clients can call both. The reflection service adds its own.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(chain_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// Sets the overall status `""` and every name in `names` to `status`.
async fn report(reporter: &HealthReporter, names: &[String], status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for name in names {
        reporter.set_service_status(name, status).await;
    }
}

/// The span of one call: the telemetry crate's server span, except for the infrastructure
/// services (`grpc.health.v1`, `grpc.reflection.*`), which are called by probes and tools.
fn call_span(request: &http::Request<()>) -> tracing::Span {
    if request.uri().path().starts_with("/grpc.") {
        tracing::Span::none()
    } else {
        chain_telemetry::grpc::server_span(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infrastructure_calls_are_not_traced_and_domain_calls_are() {
        let call = |path: &str| {
            http::Request::builder()
                .uri(path)
                .body(())
                .expect("a valid request")
        };
        assert!(call_span(&call("/grpc.health.v1.Health/Check")).is_none());
        assert!(
            call_span(&call(
                "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
            ))
            .is_none()
        );
        // Without a subscriber every span is disabled, so check the opposite with one installed.
        let subscriber = tracing_subscriber_for_test();
        tracing::subscriber::with_default(subscriber, || {
            assert!(
                !call_span(&call("/customerchain.v1.TicketService/GetTicket")).is_none(),
                "domain calls get a span"
            );
        });
    }

    /// The smallest subscriber that enables every span.
    fn tracing_subscriber_for_test() -> impl tracing::Subscriber + Send + Sync {
        struct EnableAll(std::sync::atomic::AtomicU64);
        impl tracing::Subscriber for EnableAll {
            fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
                true
            }
            fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
                let id = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::span::Id::from_u64(id + 1)
            }
            fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
            fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
            fn event(&self, _: &tracing::Event<'_>) {}
            fn enter(&self, _: &tracing::span::Id) {}
            fn exit(&self, _: &tracing::span::Id) {}
        }
        EnableAll(std::sync::atomic::AtomicU64::new(0))
    }
}
