//! One service's settings, read from the environment: where its database and NATS are, where it
//! listens, and how it shuts down.
//!
//! | variable | default |
//! | --- | --- |
//! | `DATABASE_URL` | required: the service's own PostgreSQL database |
//! | `NATS_URL` | `nats://127.0.0.1:4222` |
//! | `LISTEN_ADDR` | `0.0.0.0:<port>`: 50051 requests, 50052 tickets, 50053 scoring |
//! | `CHAIN_BUS_ROOT` | `chain` (subject root and stream prefix) |
//! | `SHUTDOWN_GRACE_SECONDS` | 1 (NOT_SERVING but still answering, so load balancers notice) |
//! | `SHUTDOWN_DRAIN_SECONDS` | 10 (longest wait for in-flight calls) |
//! | `DATABASE_MAX_CONNECTIONS` | 16 |
//! | `DATABASE_ACQUIRE_TIMEOUT_SECONDS` | 5 |
//! | `GRPC_MAX_MESSAGE_BYTES` | 1 MiB (largest request a service decodes) |
//! | `METRICS_ADDR` | unset (no metrics endpoint); e.g. `0.0.0.0:9464` serves `GET /metrics` |
//! | `IDEMPOTENCY_RETENTION_SECONDS` | 604800 (7 days: how long a retried command gets its first answer) |
//! | `IDEMPOTENCY_SWEEP_SECONDS` | 600 (how often expired idempotency keys are deleted) |
//! | `TLS_CERT_FILE`, `TLS_KEY_FILE`, `TLS_CLIENT_CA_FILE` | unset (plaintext); all three set: mutual TLS, the caller named by its certificate |
//! | `HEALTH_LISTEN_ADDR` | unset; e.g. `0.0.0.0:50061` also serves `grpc.health.v1` alone, in plaintext, for probes that speak no TLS |
//! | `PROJECTOR_PACE_SECONDS` | 0.05 (least time between the starts of two projector transactions that did not fill a batch; 0 = none) |
//!
//! Empty values count as unset. Durations are seconds and may have a fraction (`0.5`).

use crate::endpoint::without_user_info;
use crate::{ChainService, ConfigError, TlsFiles};
use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The variable holding the PostgreSQL URL.
const DATABASE_URL: &str = "DATABASE_URL";
const NATS_URL: &str = "NATS_URL";
const LISTEN_ADDR: &str = "LISTEN_ADDR";
const CHAIN_BUS_ROOT: &str = "CHAIN_BUS_ROOT";
const SHUTDOWN_GRACE_SECONDS: &str = "SHUTDOWN_GRACE_SECONDS";
const SHUTDOWN_DRAIN_SECONDS: &str = "SHUTDOWN_DRAIN_SECONDS";
const DATABASE_MAX_CONNECTIONS: &str = "DATABASE_MAX_CONNECTIONS";
const DATABASE_ACQUIRE_TIMEOUT_SECONDS: &str = "DATABASE_ACQUIRE_TIMEOUT_SECONDS";
const GRPC_MAX_MESSAGE_BYTES: &str = "GRPC_MAX_MESSAGE_BYTES";
const METRICS_ADDR: &str = "METRICS_ADDR";
const IDEMPOTENCY_RETENTION_SECONDS: &str = "IDEMPOTENCY_RETENTION_SECONDS";
const IDEMPOTENCY_SWEEP_SECONDS: &str = "IDEMPOTENCY_SWEEP_SECONDS";
const PROJECTOR_PACE_SECONDS: &str = "PROJECTOR_PACE_SECONDS";
const HEALTH_LISTEN_ADDR: &str = "HEALTH_LISTEN_ADDR";
const TLS_CERT_FILE: &str = "TLS_CERT_FILE";
const TLS_KEY_FILE: &str = "TLS_KEY_FILE";
const TLS_CLIENT_CA_FILE: &str = "TLS_CLIENT_CA_FILE";
/// What the three TLS variables are for, when only some are set.
const TLS_HINT: &str = "mutual TLS needs all three of TLS_CERT_FILE, TLS_KEY_FILE and \
                        TLS_CLIENT_CA_FILE (the service's certificate, its key, the callers' CA)";

/// Everything one service process needs to know about its surroundings.
///
/// `Debug` masks the database password.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Which service this process is.
    pub service: ChainService,
    /// Where gRPC listens (`LISTEN_ADDR`).
    pub listen_addr: SocketAddr,
    /// The service's own database (`DATABASE_URL`); may hold a password, so never log it.
    pub database_url: String,
    /// The NATS server(s) (`NATS_URL`).
    pub nats_url: String,
    /// Subject root and stream-name prefix on the bus (`CHAIN_BUS_ROOT`).
    pub bus_root: String,
    /// How long health says NOT_SERVING while calls are still accepted, so load balancers stop
    /// sending before the listener closes (`SHUTDOWN_GRACE_SECONDS`).
    pub unready_grace: Duration,
    /// The longest wait for in-flight calls once the listener closed (`SHUTDOWN_DRAIN_SECONDS`).
    pub drain_timeout: Duration,
    /// Size of the PostgreSQL pool (`DATABASE_MAX_CONNECTIONS`).
    pub db_max_connections: u32,
    /// How long a caller waits for a pooled connection, and how long start-up waits for the
    /// first one (`DATABASE_ACQUIRE_TIMEOUT_SECONDS`).
    pub db_acquire_timeout: Duration,
    /// The largest gRPC message a service decodes (`GRPC_MAX_MESSAGE_BYTES`); pass it to each
    /// generated server's `max_decoding_message_size`.
    pub max_message_bytes: usize,
    /// Where `GET /metrics` (Prometheus text format) is served (`METRICS_ADDR`); unset serves
    /// no metrics, so several services and tests on one host never compete for a port.
    pub metrics_addr: Option<SocketAddr>,
    /// How long a command's idempotency key is kept (`IDEMPOTENCY_RETENTION_SECONDS`): a retry
    /// within it gets the first answer; after it the same key is a new command.
    pub idempotency_retention: Duration,
    /// How often expired idempotency keys are deleted (`IDEMPOTENCY_SWEEP_SECONDS`).
    pub idempotency_sweep_every: Duration,
    /// How the service's projector paces its transactions (`PROJECTOR_PACE_SECONDS`; see
    /// `chain_consumer::ConsumerConfig::pace`): no caller waits on a read model, so under load
    /// it applies what arrives meanwhile together, in fewer transactions.
    pub projector_pace: Duration,
    /// Mutual TLS on the gRPC port (`TLS_CERT_FILE`, `TLS_KEY_FILE`, `TLS_CLIENT_CA_FILE`);
    /// `None` serves plaintext.
    pub tls: Option<TlsFiles>,
    /// Where `grpc.health.v1` alone is also served in plaintext (`HEALTH_LISTEN_ADDR`), for
    /// probes that speak no TLS; unset serves health only on `listen_addr`.
    pub health_addr: Option<SocketAddr>,
}

impl ServiceConfig {
    /// Defaults for `service` with the given database; everything else as documented above.
    pub fn new(service: ChainService, database_url: impl Into<String>) -> Self {
        Self {
            service,
            listen_addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, service.default_port())),
            database_url: database_url.into(),
            nats_url: "nats://127.0.0.1:4222".to_owned(),
            bus_root: "chain".to_owned(),
            unready_grace: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(10),
            db_max_connections: 16,
            db_acquire_timeout: Duration::from_secs(5),
            max_message_bytes: 1024 * 1024,
            metrics_addr: None,
            idempotency_retention: Duration::from_secs(7 * 24 * 60 * 60),
            idempotency_sweep_every: Duration::from_secs(10 * 60),
            projector_pace: Duration::from_millis(50),
            tls: None,
            health_addr: None,
        }
    }

    /// Reads the configuration of `service` from the process environment.
    pub fn from_env(service: ChainService) -> Result<Self, ConfigError> {
        Self::from_vars(
            service,
            std::env::vars_os().filter_map(|(key, value)| {
                Some((key.into_string().ok()?, value.into_string().ok()?))
            }),
        )
    }

    /// Reads the configuration of `service` from `(name, value)` pairs, so that tests and front
    /// ends can supply variables without touching the process environment.
    pub fn from_vars<I, K, V>(service: ChainService, vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars: HashMap<String, String> = vars
            .into_iter()
            .map(|(key, value)| (key.into(), value.into()))
            .filter(|(_, value)| !value.trim().is_empty())
            .collect();
        let var = |name: &str| vars.get(name).map(|value| value.trim());

        let database_url = var(DATABASE_URL).ok_or(ConfigError::Missing {
            name: DATABASE_URL,
            hint: "the URL of this service's own PostgreSQL database, \
                   e.g. postgres://user:password@host:5432/requests",
        })?;
        let mut config = Self::new(service, database_url);
        if let Some(addr) = var(LISTEN_ADDR) {
            config.listen_addr = address(
                LISTEN_ADDR,
                addr,
                "expected <ip>:<port>, e.g. 0.0.0.0:50051",
            )?;
        }
        if let Some(url) = var(NATS_URL) {
            config.nats_url = url.to_owned();
        }
        if let Some(root) = var(CHAIN_BUS_ROOT) {
            config.bus_root = subject_token(CHAIN_BUS_ROOT, root)?;
        }
        if let Some(seconds) = var(SHUTDOWN_GRACE_SECONDS) {
            config.unready_grace = seconds_setting(SHUTDOWN_GRACE_SECONDS, seconds)?;
        }
        if let Some(seconds) = var(SHUTDOWN_DRAIN_SECONDS) {
            config.drain_timeout = seconds_setting(SHUTDOWN_DRAIN_SECONDS, seconds)?;
        }
        if let Some(count) = var(DATABASE_MAX_CONNECTIONS) {
            config.db_max_connections = positive(DATABASE_MAX_CONNECTIONS, count)?;
        }
        if let Some(seconds) = var(DATABASE_ACQUIRE_TIMEOUT_SECONDS) {
            config.db_acquire_timeout = seconds_setting(DATABASE_ACQUIRE_TIMEOUT_SECONDS, seconds)?;
        }
        if let Some(addr) = var(METRICS_ADDR) {
            config.metrics_addr = Some(address(
                METRICS_ADDR,
                addr,
                "expected <ip>:<port>, e.g. 0.0.0.0:9464",
            )?);
        }
        if let Some(seconds) = var(IDEMPOTENCY_RETENTION_SECONDS) {
            config.idempotency_retention = seconds_setting(IDEMPOTENCY_RETENTION_SECONDS, seconds)?;
        }
        if let Some(seconds) = var(IDEMPOTENCY_SWEEP_SECONDS) {
            config.idempotency_sweep_every = positive_seconds(IDEMPOTENCY_SWEEP_SECONDS, seconds)?;
        }
        if let Some(seconds) = var(PROJECTOR_PACE_SECONDS) {
            config.projector_pace = seconds_setting(PROJECTOR_PACE_SECONDS, seconds)?;
        }
        if let Some(addr) = var(HEALTH_LISTEN_ADDR) {
            config.health_addr = Some(address(
                HEALTH_LISTEN_ADDR,
                addr,
                "expected <ip>:<port>, e.g. 0.0.0.0:50061",
            )?);
        }
        config.tls = tls_files(
            var(TLS_CERT_FILE),
            var(TLS_KEY_FILE),
            var(TLS_CLIENT_CA_FILE),
        )?;
        if let Some(bytes) = var(GRPC_MAX_MESSAGE_BYTES) {
            config.max_message_bytes = positive(GRPC_MAX_MESSAGE_BYTES, bytes)?;
        }
        Ok(config)
    }
}

impl fmt::Debug for ServiceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceConfig")
            .field("service", &self.service)
            .field("listen_addr", &self.listen_addr)
            .field("database_url", &without_user_info(&self.database_url))
            .field("nats_url", &without_user_info(&self.nats_url))
            .field("bus_root", &self.bus_root)
            .field("unready_grace", &self.unready_grace)
            .field("drain_timeout", &self.drain_timeout)
            .field("db_max_connections", &self.db_max_connections)
            .field("db_acquire_timeout", &self.db_acquire_timeout)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("metrics_addr", &self.metrics_addr)
            .field("idempotency_retention", &self.idempotency_retention)
            .field("idempotency_sweep_every", &self.idempotency_sweep_every)
            .field("projector_pace", &self.projector_pace)
            .field("tls", &self.tls)
            .field("health_addr", &self.health_addr)
            .finish()
    }
}

/// The socket address in `value` of the variable `name`; `reason` says what was expected.
fn address(
    name: &'static str,
    value: &str,
    reason: &'static str,
) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| ConfigError::Invalid {
        name,
        value: value.to_owned(),
        reason,
    })
}

/// The TLS files: all three or none.
fn tls_files(
    cert: Option<&str>,
    key: Option<&str>,
    client_ca: Option<&str>,
) -> Result<Option<TlsFiles>, ConfigError> {
    match (cert, key, client_ca) {
        (None, None, None) => Ok(None),
        (Some(cert), Some(key), Some(client_ca)) => Ok(Some(TlsFiles {
            cert: cert.into(),
            key: key.into(),
            client_ca: client_ca.into(),
        })),
        (cert, key, _) => Err(ConfigError::Missing {
            name: if cert.is_none() {
                TLS_CERT_FILE
            } else if key.is_none() {
                TLS_KEY_FILE
            } else {
                TLS_CLIENT_CA_FILE
            },
            hint: TLS_HINT,
        }),
    }
}

fn seconds_setting(name: &'static str, value: &str) -> Result<Duration, ConfigError> {
    value
        .parse::<f64>()
        .ok()
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .ok_or_else(|| ConfigError::Invalid {
            name,
            value: value.to_owned(),
            reason: "expected a non-negative number of seconds",
        })
}

/// A sweep interval: zero would spin.
fn positive_seconds(name: &'static str, value: &str) -> Result<Duration, ConfigError> {
    match seconds_setting(name, value)? {
        Duration::ZERO => Err(ConfigError::Invalid {
            name,
            value: value.to_owned(),
            reason: "expected a positive number of seconds",
        }),
        every => Ok(every),
    }
}

fn positive<T>(name: &'static str, value: &str) -> Result<T, ConfigError>
where
    T: std::str::FromStr + Default + PartialOrd,
{
    match value.parse::<T>() {
        Ok(n) if n > T::default() => Ok(n),
        _ => Err(ConfigError::Invalid {
            name,
            value: value.to_owned(),
            reason: "expected a positive integer",
        }),
    }
}

/// The bus root becomes one subject token and the prefix of stream names, so it may not contain
/// the subject separator, wildcards or whitespace.
fn subject_token(name: &'static str, value: &str) -> Result<String, ConfigError> {
    let valid = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(value.to_owned())
    } else {
        Err(ConfigError::Invalid {
            name,
            value: value.to_owned(),
            reason: "expected one subject token: letters, digits, `_` or `-`",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB: &str = "postgres://app:s3cret@db:5432/requests";

    fn config(service: ChainService, vars: &[(&str, &str)]) -> Result<ServiceConfig, ConfigError> {
        ServiceConfig::from_vars(service, vars.iter().copied())
    }

    #[test]
    fn a_missing_database_url_names_the_variable() {
        for vars in [&[][..], &[("DATABASE_URL", "  ")][..]] {
            let error = config(ChainService::Tickets, vars).expect_err("DATABASE_URL is required");
            assert!(
                matches!(
                    error,
                    ConfigError::Missing {
                        name: "DATABASE_URL",
                        ..
                    }
                ),
                "{error:?}"
            );
            assert!(error.to_string().contains("DATABASE_URL"), "{error}");
        }
    }

    #[test]
    fn defaults_follow_the_service() {
        for (service, port) in [
            (ChainService::Requests, 50051),
            (ChainService::Tickets, 50052),
            (ChainService::Scoring, 50053),
        ] {
            let config =
                config(service, &[("DATABASE_URL", DB)]).expect("only the URL is required");
            assert_eq!(config.service, service);
            assert_eq!(config.listen_addr, SocketAddr::from(([0, 0, 0, 0], port)));
            assert_eq!(config.database_url, DB);
            assert_eq!(config.nats_url, "nats://127.0.0.1:4222");
            assert_eq!(config.bus_root, "chain");
            assert_eq!(config.unready_grace, Duration::from_secs(1));
            assert_eq!(config.drain_timeout, Duration::from_secs(10));
            assert_eq!(config.db_max_connections, 16);
            assert_eq!(config.db_acquire_timeout, Duration::from_secs(5));
            assert_eq!(config.max_message_bytes, 1_048_576);
            assert_eq!(
                config.idempotency_retention,
                Duration::from_secs(7 * 24 * 3600)
            );
            assert_eq!(config.idempotency_sweep_every, Duration::from_secs(600));
            assert_eq!(config.projector_pace, Duration::from_millis(50));
        }
    }

    #[test]
    fn every_variable_is_read() {
        let config = config(
            ChainService::Scoring,
            &[
                ("DATABASE_URL", DB),
                ("LISTEN_ADDR", "127.0.0.1:6000"),
                ("NATS_URL", "nats://nats:4222"),
                ("CHAIN_BUS_ROOT", "t0123"),
                ("SHUTDOWN_GRACE_SECONDS", "0.25"),
                ("SHUTDOWN_DRAIN_SECONDS", "3"),
                ("DATABASE_MAX_CONNECTIONS", "4"),
                ("DATABASE_ACQUIRE_TIMEOUT_SECONDS", "2"),
                ("GRPC_MAX_MESSAGE_BYTES", "65536"),
                ("IDEMPOTENCY_RETENTION_SECONDS", "86400"),
                ("IDEMPOTENCY_SWEEP_SECONDS", "30"),
                ("PROJECTOR_PACE_SECONDS", "0"),
                ("HEALTH_LISTEN_ADDR", "0.0.0.0:50061"),
                ("UNRELATED", "ignored"),
            ],
        )
        .expect("valid settings");
        assert_eq!(config.listen_addr, SocketAddr::from(([127, 0, 0, 1], 6000)));
        assert_eq!(config.nats_url, "nats://nats:4222");
        assert_eq!(config.bus_root, "t0123");
        assert_eq!(config.unready_grace, Duration::from_millis(250));
        assert_eq!(config.drain_timeout, Duration::from_secs(3));
        assert_eq!(config.db_max_connections, 4);
        assert_eq!(config.db_acquire_timeout, Duration::from_secs(2));
        assert_eq!(config.max_message_bytes, 65_536);
        assert_eq!(config.idempotency_retention, Duration::from_secs(86_400));
        assert_eq!(config.idempotency_sweep_every, Duration::from_secs(30));
        assert_eq!(config.projector_pace, Duration::ZERO);
        assert_eq!(
            config.health_addr,
            Some(SocketAddr::from(([0, 0, 0, 0], 50061)))
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("LISTEN_ADDR", "localhost"),
            ("CHAIN_BUS_ROOT", "chain.v1"),
            ("CHAIN_BUS_ROOT", "a>"),
            ("SHUTDOWN_DRAIN_SECONDS", "-1"),
            ("SHUTDOWN_GRACE_SECONDS", "soon"),
            ("DATABASE_MAX_CONNECTIONS", "0"),
            ("GRPC_MAX_MESSAGE_BYTES", "1MiB"),
            ("IDEMPOTENCY_RETENTION_SECONDS", "a week"),
            ("IDEMPOTENCY_SWEEP_SECONDS", "0"),
            ("PROJECTOR_PACE_SECONDS", "-0.05"),
            ("HEALTH_LISTEN_ADDR", "localhost:50061"),
        ] {
            let error = config(
                ChainService::Requests,
                &[("DATABASE_URL", DB), (name, value)],
            )
            .expect_err("an invalid value");
            assert!(
                matches!(&error, ConfigError::Invalid { name: n, value: v, .. } if *n == name && v == value),
                "{name}={value}: {error:?}"
            );
        }
    }

    #[test]
    fn mutual_tls_takes_all_three_files_or_none() {
        let files = [
            ("TLS_CERT_FILE", "/tls/tls.crt"),
            ("TLS_KEY_FILE", "/tls/tls.key"),
            ("TLS_CLIENT_CA_FILE", "/tls/ca.crt"),
        ];
        let with = |set: &[(&'static str, &'static str)]| {
            let mut vars = vec![("DATABASE_URL", DB)];
            vars.extend_from_slice(set);
            config(ChainService::Tickets, &vars)
        };
        assert_eq!(with(&[]).expect("plaintext").tls, None);
        assert_eq!(
            with(&files).expect("mutual TLS").tls,
            Some(TlsFiles {
                cert: "/tls/tls.crt".into(),
                key: "/tls/tls.key".into(),
                client_ca: "/tls/ca.crt".into(),
            })
        );
        for missing in 0..files.len() {
            let mut set = files.to_vec();
            let (name, _) = set.remove(missing);
            let error = with(&set).expect_err("two of three");
            assert!(
                matches!(&error, ConfigError::Missing { name: n, .. } if *n == name),
                "{error:?}"
            );
        }
    }

    #[test]
    fn debug_output_hides_the_password() {
        let config = config(ChainService::Requests, &[("DATABASE_URL", DB)]).expect("valid");
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("db:5432/requests"), "{debug}");
    }
}
