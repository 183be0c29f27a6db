//! Connections to the three services (plaintext, or mutual TLS with `--tls-ca`, `--tls-cert`
//! and `--tls-key`) and how every call is made: the acting team in `x-chain-actor` (over TLS,
//! the certificate's), the caller's trace context in `traceparent`, a client span per call, a
//! retry of calls the services ask to retry (`ABORTED` after a lost race), and errors that name
//! the service and its address.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use chain_proto::customerchain::v1::internal_request_service_client::InternalRequestServiceClient;
use chain_proto::customerchain::v1::satisfaction_service_client::SatisfactionServiceClient;
use chain_proto::customerchain::v1::ticket_service_client::TicketServiceClient;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Status};
use tracing::Instrument as _;

use crate::error::Failure;

/// The metadata entry the services read the caller from (see `chain_rpc::actor`).
pub const ACTOR_METADATA_KEY: &str = "x-chain-actor";

/// How long one unary call may take before chainctl gives up on it.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How many times a call refused with a retryable status is tried in all.
const ATTEMPTS: u32 = 6;

/// One of the three services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// requests-svc: teams, links, internal requests.
    Requests,
    /// tickets-svc: customers, tickets, promises.
    Tickets,
    /// scoring-svc: scores, link health, impacts.
    Scoring,
}

impl Service {
    /// The gRPC service name, as client spans name it.
    pub fn grpc_name(self) -> &'static str {
        match self {
            Self::Requests => "customerchain.v1.InternalRequestService",
            Self::Tickets => "customerchain.v1.TicketService",
            Self::Scoring => "customerchain.v1.SatisfactionService",
        }
    }

    /// The environment variable holding the service's address.
    pub fn address_env(self) -> &'static str {
        match self {
            Self::Requests => "CHAIN_REQUESTS_ADDR",
            Self::Tickets => "CHAIN_TICKETS_ADDR",
            Self::Scoring => "CHAIN_SCORING_ADDR",
        }
    }

    /// The command-line flag holding the service's address.
    pub fn address_flag(self) -> &'static str {
        match self {
            Self::Requests => "--requests-addr",
            Self::Tickets => "--tickets-addr",
            Self::Scoring => "--scoring-addr",
        }
    }
}

/// The binary name, which is how operators know the services.
impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Requests => "requests-svc",
            Self::Tickets => "tickets-svc",
            Self::Scoring => "scoring-svc",
        })
    }
}

/// Where the services listen and who acts.
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// requests-svc's gRPC address.
    #[arg(
        long,
        global = true,
        env = "CHAIN_REQUESTS_ADDR",
        default_value = "http://127.0.0.1:50051"
    )]
    pub requests_addr: String,
    /// tickets-svc's gRPC address.
    #[arg(
        long,
        global = true,
        env = "CHAIN_TICKETS_ADDR",
        default_value = "http://127.0.0.1:50052"
    )]
    pub tickets_addr: String,
    /// scoring-svc's gRPC address.
    #[arg(
        long,
        global = true,
        env = "CHAIN_SCORING_ADDR",
        default_value = "http://127.0.0.1:50053"
    )]
    pub scoring_addr: String,
    /// Who acts: a team id (UUID), or a service name for reads and team creation [default:
    /// chainctl]. Over TLS the client certificate names who acts; this may only repeat it.
    #[arg(
        long = "as",
        global = true,
        env = "CHAIN_ACTOR",
        value_name = "TEAM_ID"
    )]
    pub actor: Option<String>,
    /// The CA (PEM) that issued the services' certificates: speak mutual TLS to them, with
    /// --tls-cert and --tls-key. The addresses then start with https://.
    #[arg(long, global = true, env = "CHAIN_TLS_CA_FILE", value_name = "FILE", requires_all = ["tls_cert", "tls_key"])]
    pub tls_ca: Option<PathBuf>,
    /// chainctl's client certificate (PEM); its SPIFFE ID names who acts.
    #[arg(long, global = true, env = "CHAIN_TLS_CERT_FILE", value_name = "FILE", requires_all = ["tls_ca", "tls_key"])]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, global = true, env = "CHAIN_TLS_KEY_FILE", value_name = "FILE", requires_all = ["tls_ca", "tls_cert"])]
    pub tls_key: Option<PathBuf>,
    /// The name the services' certificates must carry [default: each address's host].
    #[arg(
        long,
        global = true,
        env = "CHAIN_TLS_SERVER_NAME",
        value_name = "NAME"
    )]
    pub tls_server_name: Option<String>,
}

impl Connection {
    /// The address of `service`.
    pub fn addr(&self, service: Service) -> &str {
        match service {
            Service::Requests => &self.requests_addr,
            Service::Tickets => &self.tickets_addr,
            Service::Scoring => &self.scoring_addr,
        }
    }

    /// Who acts: `--as` when given; else, over TLS, whoever the certificate names (no
    /// `x-chain-actor` entry), and over plaintext the service name `chainctl`.
    pub fn actor(&self) -> Actor {
        match (&self.actor, &self.tls_cert) {
            (Some(actor), _) => Actor::new(actor.clone()),
            (None, Some(_)) => Actor::certified(),
            (None, None) => Actor::new("chainctl"),
        }
    }

    /// The mutual TLS configuration for the services, when asked for; a file that cannot be
    /// read is a usage error naming it.
    fn client_tls(&self) -> Result<Option<ClientTlsConfig>, Failure> {
        let (Some(ca), Some(cert), Some(key)) = (&self.tls_ca, &self.tls_cert, &self.tls_key)
        else {
            return Ok(None);
        };
        let read = |flag: &str, path: &PathBuf| {
            std::fs::read(path).map_err(|error| {
                Failure::Usage(format!("cannot read {flag} {}: {error}", path.display()))
            })
        };
        let config = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read("--tls-ca", ca)?))
            .identity(Identity::from_pem(
                read("--tls-cert", cert)?,
                read("--tls-key", key)?,
            ));
        Ok(Some(match &self.tls_server_name {
            Some(name) => config.domain_name(name.clone()),
            None => config,
        }))
    }

    /// Opens a channel to `service`, failing with [`Failure::Unreachable`] naming it.
    pub async fn channel(&self, service: Service) -> Result<Channel, Failure> {
        let addr = self.addr(service).to_owned();
        let unreachable = |reason: String| Failure::Unreachable {
            service,
            addr: addr.clone(),
            reason,
        };
        let mut endpoint = Endpoint::from_shared(addr.clone())
            .map_err(|error| unreachable(format!("not a valid address ({error})")))?
            .connect_timeout(Duration::from_secs(3));
        if let Some(tls) = self.client_tls()? {
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|error| unreachable(error_chain(&error)))?;
        }
        endpoint
            .connect()
            .await
            .map_err(|error| unreachable(error_chain(&error)))
    }

    /// A requests-svc client.
    pub async fn requests(&self) -> Result<RequestsClient, Failure> {
        let channel = self.channel(Service::Requests).await?;
        Ok(InternalRequestServiceClient::with_interceptor(
            channel, Propagate,
        ))
    }

    /// A tickets-svc client.
    pub async fn tickets(&self) -> Result<TicketsClient, Failure> {
        let channel = self.channel(Service::Tickets).await?;
        Ok(TicketServiceClient::with_interceptor(channel, Propagate))
    }

    /// A scoring-svc client.
    pub async fn scoring(&self) -> Result<ScoringClient, Failure> {
        let channel = self.channel(Service::Scoring).await?;
        Ok(SatisfactionServiceClient::with_interceptor(
            channel, Propagate,
        ))
    }
}

/// requests-svc's client as chainctl uses it.
pub type RequestsClient = InternalRequestServiceClient<InterceptedService<Channel, Propagate>>;
/// tickets-svc's client as chainctl uses it.
pub type TicketsClient = TicketServiceClient<InterceptedService<Channel, Propagate>>;
/// scoring-svc's client as chainctl uses it.
pub type ScoringClient = SatisfactionServiceClient<InterceptedService<Channel, Propagate>>;

/// Writes the current span's W3C trace context into each call, so the service's span is the
/// child of chainctl's client span.
#[derive(Debug, Clone, Copy, Default)]
pub struct Propagate;

impl Interceptor for Propagate {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        chain_telemetry::grpc::inject_into_metadata(request.metadata_mut());
        Ok(request)
    }
}

/// Who a call acts as: a team id or a service name, sent as `x-chain-actor`; or, over mutual
/// TLS, nothing sent, since the client certificate names who acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(Option<String>);

impl Actor {
    /// Acting as `id` (a team id or a service name).
    pub fn new(id: impl Into<String>) -> Self {
        Self(Some(id.into()))
    }

    /// Acting as whoever the client certificate names.
    pub fn certified() -> Self {
        Self(None)
    }

    /// `message` as a unary request from this actor, with chainctl's call timeout.
    pub fn unary<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = self.stream(message);
        request.set_timeout(CALL_TIMEOUT);
        request
    }

    /// `message` as a request from this actor without a timeout, for server streams.
    pub fn stream<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(Ok(value)) = self.0.as_deref().map(MetadataValue::try_from) {
            request.metadata_mut().insert(ACTOR_METADATA_KEY, value);
        }
        request
    }
}

/// Makes one RPC inside a client span (so it is traced and the trace context travels), retries
/// it while the service answers `ABORTED` or `UNAVAILABLE` (a lost race or a dependency down:
/// mutating calls carry an idempotency key, so a retry never acts twice), and maps a final
/// error to [`Failure::Refused`] naming the service and method.
pub async fn call<T, Fut>(
    service: Service,
    method: &'static str,
    mut attempt: impl FnMut() -> Fut,
) -> Result<T, Failure>
where
    Fut: Future<Output = Result<tonic::Response<T>, Status>>,
{
    let mut tried = 1;
    loop {
        let span = chain_telemetry::grpc::client_span(service.grpc_name(), method);
        let outcome = attempt().instrument(span.clone()).await;
        match outcome {
            Ok(response) => {
                span.record("rpc.grpc.status_code", 0);
                return Ok(response.into_inner());
            }
            Err(status) => {
                span.record("rpc.grpc.status_code", i32::from(status.code()));
                if tried < ATTEMPTS && retryable(status.code()) {
                    tokio::time::sleep(Duration::from_millis(25 << tried)).await;
                    tried += 1;
                    continue;
                }
                return Err(Failure::Refused {
                    service,
                    method,
                    status,
                });
            }
        }
    }
}

fn retryable(code: Code) -> bool {
    matches!(code, Code::Aborted | Code::Unavailable)
}

/// An error and its sources, `outer: inner: innermost`, so "connection refused" shows.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_actor_goes_into_the_metadata() {
        let request = Actor::new("chainctl").unary(());
        assert_eq!(
            request
                .metadata()
                .get(ACTOR_METADATA_KEY)
                .and_then(|v| v.to_str().ok()),
            Some("chainctl")
        );
    }

    #[test]
    fn a_certified_actor_sends_no_claim() {
        let request = Actor::certified().unary(());
        assert!(request.metadata().get(ACTOR_METADATA_KEY).is_none());
    }

    #[test]
    fn only_races_and_outages_are_retried() {
        assert!(retryable(Code::Aborted));
        assert!(retryable(Code::Unavailable));
        assert!(!retryable(Code::NotFound));
        assert!(!retryable(Code::InvalidArgument));
    }
}
