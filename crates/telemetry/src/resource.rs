//! The OpenTelemetry resource that names the service on every exported span.

use crate::TelemetryConfig;
use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::{
    EnvResourceDetector, ResourceDetector, TelemetryResourceDetector,
};

/// Resource attribute key of the service's version.
pub const SERVICE_VERSION: &str = "service.version";

/// `service.name` and `service.version` from `config`, the SDK's `telemetry.sdk.*` attributes and
/// whatever `OTEL_RESOURCE_ATTRIBUTES` adds (for example `deployment.environment`). Attributes
/// from the environment win over the code's version; the name is decided once, in
/// [`TelemetryConfig::from_env`], so logs and traces agree on it.
pub fn service_resource(config: &TelemetryConfig) -> Resource {
    let detectors: [Box<dyn ResourceDetector>; 2] = [
        Box::new(TelemetryResourceDetector),
        Box::new(EnvResourceDetector::new()),
    ];
    Resource::builder_empty()
        .with_attribute(KeyValue::new(
            SERVICE_VERSION,
            config.service_version.clone(),
        ))
        .with_detectors(&detectors)
        .with_service_name(config.service_name.clone())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::{Key, Value};

    #[test]
    fn names_the_service_and_its_version() {
        let resource = service_resource(&TelemetryConfig::new("chain-relay", "0.4.0"));
        assert_eq!(
            resource.get(&Key::new("service.name")),
            Some(Value::from("chain-relay"))
        );
        assert_eq!(
            resource.get(&Key::new(SERVICE_VERSION)),
            Some(Value::from("0.4.0"))
        );
        assert_eq!(
            resource.get(&Key::new("telemetry.sdk.language")),
            Some(Value::from("rust"))
        );
    }
}
