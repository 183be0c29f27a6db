//! Case baggage: the case id and the customer tier travel with the trace (W3C `baggage`), so a
//! service three hops away knows which case and which tier of customer a request serves without
//! looking them up.
//!
//! Never put personal data in baggage: it is sent in clear text to every downstream service and
//! to any third party those call. A case id and a tier name (`gold`, `standard`) are fine; a
//! customer's name, e-mail or feedback comment is not.

use crate::TelemetryError;
use crate::attributes::{CASE_ID, CUSTOMER_TIER};
use opentelemetry::baggage::{Baggage, BaggageExt as _};
use opentelemetry::{Context, Key};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// `context` with `chain.case_id` and `chain.customer_tier` baggage added (replacing earlier
/// values of those two; other entries are kept).
pub fn with_case_baggage(context: &Context, case_id: &str, customer_tier: &str) -> Context {
    with_entries(
        context,
        &[(CASE_ID, case_id), (CUSTOMER_TIER, customer_tier)],
    )
}

/// `context` with `chain.case_id` baggage added (replacing an earlier value; a tier and other
/// entries are kept). The relay uses it: it knows every event's case (its correlation id), not
/// the customer's tier.
pub fn with_case_id(context: &Context, case_id: &str) -> Context {
    with_entries(context, &[(CASE_ID, case_id)])
}

fn with_entries(context: &Context, entries: &[(&'static str, &str)]) -> Context {
    let ours: Vec<(Key, &str)> = entries
        .iter()
        .map(|(key, value)| (Key::from_static_str(key), *value))
        .collect();
    let kept = context
        .baggage()
        .into_iter()
        .filter(|(key, _)| !ours.iter().any(|(ours, _)| ours == *key))
        .map(|(key, entry)| (key.clone(), entry.clone()));
    let added = ours.iter().map(|(key, value)| {
        (
            key.clone(),
            ((*value).to_owned().into(), Default::default()),
        )
    });
    context.with_baggage(kept.chain(added).collect::<Baggage>())
}

/// Makes `span` (and the spans and messages under it) carry case baggage. Call it right after
/// creating the span and before entering it: the span becomes a child of the current context
/// plus the baggage, which is what it was about to be anyway for a span created in place. Fails
/// if the span was already entered or no OpenTelemetry layer is installed.
pub fn set_case_baggage(
    span: &tracing::Span,
    case_id: &str,
    customer_tier: &str,
) -> Result<(), TelemetryError> {
    let parent = with_case_baggage(&Context::current(), case_id, customer_tier);
    span.set_parent(parent)?;
    Ok(())
}

/// The case baggage found in a context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseBaggage {
    /// `chain.case_id`, if present.
    pub case_id: Option<String>,
    /// `chain.customer_tier`, if present.
    pub customer_tier: Option<String>,
}

impl CaseBaggage {
    /// The case baggage of `context` (for example one extracted from message headers).
    pub fn of(context: &Context) -> Self {
        let baggage = context.baggage();
        let value = |key: &str| baggage.get(key).map(|value| value.as_str().to_owned());
        Self {
            case_id: value(CASE_ID),
            customer_tier: value(CUSTOMER_TIER),
        }
    }

    /// The case baggage of the current `tracing` span.
    pub fn current() -> Self {
        Self::of(&super::current_context())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::KeyValue;

    #[test]
    fn adds_case_entries_and_keeps_the_others() {
        let start = Context::new().with_baggage([
            KeyValue::new("deployment", "eu-1"),
            KeyValue::new(CASE_ID, "old-case"),
        ]);
        let context = with_case_baggage(&start, "case-42", "gold");
        assert_eq!(
            CaseBaggage::of(&context),
            CaseBaggage {
                case_id: Some("case-42".to_owned()),
                customer_tier: Some("gold".to_owned()),
            }
        );
        assert_eq!(
            context
                .baggage()
                .get("deployment")
                .map(|v| v.as_str().to_owned()),
            Some("eu-1".to_owned())
        );
        assert_eq!(context.baggage().len(), 3);
    }

    #[test]
    fn the_case_id_alone_keeps_the_tier() {
        let start = with_case_baggage(&Context::new(), "old-case", "B");
        let context = with_case_id(&start, "case-7");
        assert_eq!(
            CaseBaggage::of(&context),
            CaseBaggage {
                case_id: Some("case-7".to_owned()),
                customer_tier: Some("B".to_owned()),
            }
        );
    }

    #[test]
    fn an_empty_context_has_no_case() {
        assert_eq!(CaseBaggage::of(&Context::new()), CaseBaggage::default());
    }
}
