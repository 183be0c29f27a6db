//! What a service's telemetry looks like, read from the environment: `RUST_LOG`, `LOG_FORMAT`,
//! `OTEL_TRACES_FILTER` (ours) and the standard `OTEL_SDK_DISABLED`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_BSP_MAX_QUEUE_SIZE`.
//!
//! The SDK itself still reads the variables it owns when the pipeline is built
//! (`OTEL_TRACES_SAMPLER`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`,
//! `OTEL_EXPORTER_OTLP_COMPRESSION`, `OTEL_BSP_*` other than the queue size, the rest of
//! `OTEL_RESOURCE_ATTRIBUTES`); this module only decides what the SDK cannot decide for us.

use crate::TelemetryError;

/// Log filter used when `RUST_LOG` is unset or empty.
pub const DEFAULT_LOG_FILTER: &str = "info";

/// Trace filter used when `OTEL_TRACES_FILTER` is unset or empty.
pub const DEFAULT_TRACE_FILTER: &str = "info";

/// Span queue of the batch processor when `OTEL_BSP_MAX_QUEUE_SIZE` is unset.
///
/// The SDK default (2,048) drops spans silently under a burst of requests; 65,536 spans hold a
/// few seconds of our peak load while the exporter catches up. The SDK allocates the queue up
/// front: about 350 bytes a slot, so roughly 23 MiB per process (plus each queued span's
/// attributes on the heap).
pub const DEFAULT_SPAN_QUEUE_SIZE: usize = 65_536;

/// How log lines are written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One human-readable line per event (`LOG_FORMAT=text`, the default).
    #[default]
    Text,
    /// One JSON object per event (`LOG_FORMAT=json`), for log shippers.
    Json,
}

/// Everything [`crate::init`] needs to set up logs and traces for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// `service.name` of the resource: `OTEL_SERVICE_NAME`, else `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`, else the name the service passed in.
    pub service_name: String,
    /// `service.version` of the resource (usually `env!("CARGO_PKG_VERSION")`).
    pub service_version: String,
    /// An `EnvFilter` directive string (`RUST_LOG`), default [`DEFAULT_LOG_FILTER`].
    pub log_filter: String,
    /// An `EnvFilter` directive string choosing the spans (and span events) that are traced
    /// (`OTEL_TRACES_FILTER`), default [`DEFAULT_TRACE_FILTER`]. Separate from
    /// [`TelemetryConfig::log_filter`] so that quieting the logs (`RUST_LOG=warn`) does not empty
    /// the traces.
    pub trace_filter: String,
    /// Text or JSON log lines (`LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Where to send spans over OTLP/gRPC; `None` exports nothing (and logs no errors about it).
    ///
    /// A value without a scheme gets `http://`: this build has no TLS support for the exporter,
    /// and the SDK would otherwise assume `https://` and fail.
    pub otlp_endpoint: Option<String>,
    /// Capacity of the batch span processor's queue (`OTEL_BSP_MAX_QUEUE_SIZE`).
    pub span_queue_size: usize,
    /// `OTEL_SDK_DISABLED=true`: no OpenTelemetry layer at all, so no span contexts are created,
    /// propagated or exported, and log lines carry no trace ids. Logging still works.
    pub sdk_disabled: bool,
}

impl TelemetryConfig {
    /// The defaults for a service, ignoring the environment: `info` text logs, no exporter.
    pub fn new(service_name: impl Into<String>, service_version: impl Into<String>) -> Self {
        Self {
            service_name: service_name.into(),
            service_version: service_version.into(),
            log_filter: DEFAULT_LOG_FILTER.to_owned(),
            trace_filter: DEFAULT_TRACE_FILTER.to_owned(),
            log_format: LogFormat::Text,
            otlp_endpoint: None,
            span_queue_size: DEFAULT_SPAN_QUEUE_SIZE,
            sdk_disabled: false,
        }
    }

    /// Reads the configuration from the process environment (see the module documentation).
    pub fn from_env(
        service_name: impl Into<String>,
        service_version: impl Into<String>,
    ) -> Result<Self, TelemetryError> {
        Self::from_lookup(service_name, service_version, |name| {
            std::env::var(name).ok()
        })
    }

    /// Like [`TelemetryConfig::from_env`], but reads variables through `lookup`, so that tests
    /// and command-line front ends can supply them without touching the process environment.
    /// Empty values count as unset, as the OpenTelemetry specification asks.
    pub fn from_lookup(
        service_name: impl Into<String>,
        service_version: impl Into<String>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, TelemetryError> {
        let var = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut config = Self::new(service_name, service_version);

        if let Some(name) = var("OTEL_SERVICE_NAME")
            .or_else(|| var("OTEL_RESOURCE_ATTRIBUTES").and_then(|attrs| service_name_in(&attrs)))
        {
            config.service_name = name;
        }
        if let Some(filter) = var("RUST_LOG") {
            config.log_filter = filter;
        }
        if let Some(filter) = var("OTEL_TRACES_FILTER") {
            config.trace_filter = filter;
        }
        if let Some(format) = var("LOG_FORMAT") {
            config.log_format = parse_log_format(&format)?;
        }
        config.otlp_endpoint = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT"))
            .map(|endpoint| with_scheme(&endpoint));
        if let Some(size) = var("OTEL_BSP_MAX_QUEUE_SIZE") {
            config.span_queue_size = match size.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(TelemetryError::InvalidSetting {
                        name: "OTEL_BSP_MAX_QUEUE_SIZE",
                        value: size,
                        reason: "expected a positive integer",
                    });
                }
            };
        }
        if let Some(disabled) = var("OTEL_SDK_DISABLED") {
            config.sdk_disabled = disabled.eq_ignore_ascii_case("true");
        }
        Ok(config)
    }
}

fn parse_log_format(value: &str) -> Result<LogFormat, TelemetryError> {
    if value.eq_ignore_ascii_case("text") {
        Ok(LogFormat::Text)
    } else if value.eq_ignore_ascii_case("json") {
        Ok(LogFormat::Json)
    } else {
        Err(TelemetryError::InvalidSetting {
            name: "LOG_FORMAT",
            value: value.to_owned(),
            reason: "expected `text` or `json`",
        })
    }
}

/// `service.name` from a `key=value,key=value` resource attribute list, split the way the SDK's
/// `EnvResourceDetector` splits it.
fn service_name_in(attributes: &str) -> Option<String> {
    attributes
        .split_terminator(',')
        .filter_map(|entry| entry.split_once('='))
        .filter(|(key, _)| key.trim() == "service.name")
        .map(|(_, value)| value.trim().to_owned())
        .rfind(|value| !value.is_empty())
}

fn with_scheme(endpoint: &str) -> String {
    if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("http://{endpoint}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config_from(vars: &[(&str, &str)]) -> Result<TelemetryConfig, TelemetryError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        TelemetryConfig::from_lookup("chain-server", "1.2.3", |name| vars.get(name).cloned())
    }

    #[test]
    fn nothing_set_gives_info_text_logs_and_no_exporter() {
        let config = config_from(&[]).expect("an empty environment is valid");
        assert_eq!(config, TelemetryConfig::new("chain-server", "1.2.3"));
        assert_eq!(config.log_filter, "info");
        assert_eq!(config.trace_filter, "info");
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.otlp_endpoint, None);
        assert_eq!(config.span_queue_size, 65_536);
        assert!(!config.sdk_disabled);
    }

    #[test]
    fn reads_filter_format_and_endpoint() {
        let config = config_from(&[
            ("RUST_LOG", "chain_server=debug,warn"),
            ("OTEL_TRACES_FILTER", "chain=trace"),
            ("LOG_FORMAT", "JSON"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger:4317"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "4096"),
        ])
        .expect("valid settings");
        assert_eq!(config.log_filter, "chain_server=debug,warn");
        assert_eq!(config.trace_filter, "chain=trace");
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.otlp_endpoint.as_deref(), Some("http://jaeger:4317"));
        assert_eq!(config.span_queue_size, 4096);
    }

    #[test]
    fn empty_endpoint_means_no_exporter() {
        let config = config_from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "  ")]).expect("valid");
        assert_eq!(config.otlp_endpoint, None);
    }

    #[test]
    fn traces_endpoint_wins_and_a_missing_scheme_becomes_http() {
        let config = config_from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "jaeger:4317"),
        ])
        .expect("valid");
        assert_eq!(config.otlp_endpoint.as_deref(), Some("http://jaeger:4317"));
    }

    #[test]
    fn otel_service_name_beats_resource_attributes_which_beat_the_code() {
        let both = config_from(&[
            ("OTEL_SERVICE_NAME", "from-env"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod,service.name=from-attrs",
            ),
        ])
        .expect("valid");
        assert_eq!(both.service_name, "from-env");

        let attrs_only = config_from(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=prod, service.name = from-attrs",
        )])
        .expect("valid");
        assert_eq!(attrs_only.service_name, "from-attrs");

        let other_attrs = config_from(&[("OTEL_RESOURCE_ATTRIBUTES", "team=ops")]).expect("valid");
        assert_eq!(other_attrs.service_name, "chain-server");
    }

    #[test]
    fn rejects_unknown_log_format_and_bad_queue_size() {
        let format = config_from(&[("LOG_FORMAT", "xml")]).expect_err("xml is not a log format");
        assert!(
            matches!(
                format,
                TelemetryError::InvalidSetting {
                    name: "LOG_FORMAT",
                    ..
                }
            ),
            "{format}"
        );
        for size in ["0", "lots"] {
            let queue = config_from(&[("OTEL_BSP_MAX_QUEUE_SIZE", size)])
                .expect_err("queue size must be a positive integer");
            assert!(
                matches!(
                    queue,
                    TelemetryError::InvalidSetting {
                        name: "OTEL_BSP_MAX_QUEUE_SIZE",
                        ..
                    }
                ),
                "{queue}"
            );
        }
    }

    #[test]
    fn sdk_disabled_only_for_true() {
        assert!(
            config_from(&[("OTEL_SDK_DISABLED", "TRUE")])
                .expect("valid")
                .sdk_disabled
        );
        assert!(
            !config_from(&[("OTEL_SDK_DISABLED", "no")])
                .expect("valid")
                .sdk_disabled
        );
    }
}
