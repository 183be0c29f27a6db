//! The API's enums and money in the operator's words, each with the tone it is shown in.

use chain_proto::customerchain::v1 as pb;

use crate::output::Tone;

/// Money as "EUR 2,500.00"; "-" when unset.
pub fn money(value: Option<&pb::Money>) -> String {
    value.map_or_else(
        || "-".to_owned(),
        |m| amount(&m.currency_code, m.value_minor),
    )
}

/// An amount in minor units as "EUR 2,500.00".
pub fn amount(currency: &str, minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let minor = minor.unsigned_abs();
    let whole = (minor / 100).to_string();
    let mut grouped = String::new();
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let currency = if currency.is_empty() { "EUR" } else { currency };
    format!("{currency} {sign}{grouped}.{:02}", minor % 100)
}

/// A request state and its tone.
pub fn request_state(state: pb::RequestState, at_risk: bool) -> (String, Tone) {
    let (word, tone) = match state {
        pb::RequestState::Unspecified => ("unknown", Tone::Dim),
        pb::RequestState::Opened => ("opened", Tone::Dim),
        pb::RequestState::Committed => ("committed", Tone::Good),
        pb::RequestState::Revised => ("revised", Tone::Warn),
        pb::RequestState::Fulfilled => ("fulfilled", Tone::Good),
        pb::RequestState::Breached => ("breached", Tone::Bad),
        pb::RequestState::Cancelled => ("cancelled", Tone::Dim),
    };
    if at_risk {
        (format!("{word}, at risk"), Tone::Bad)
    } else {
        (word.to_owned(), tone)
    }
}

/// A ticket state and its tone.
pub fn ticket_state(state: pb::TicketState) -> (&'static str, Tone) {
    match state {
        pb::TicketState::Unspecified => ("unknown", Tone::Dim),
        pb::TicketState::Open => ("open", Tone::Dim),
        pb::TicketState::Promised => ("promised", Tone::Good),
        pb::TicketState::AtRisk => ("at risk", Tone::Warn),
        pb::TicketState::Broken => ("broken", Tone::Bad),
        pb::TicketState::Resolved => ("resolved", Tone::Good),
    }
}

/// A customer tier: "A", "B", "C" or "-".
pub fn tier(tier: pb::CustomerTier) -> &'static str {
    match tier {
        pb::CustomerTier::Unspecified => "-",
        pb::CustomerTier::A => "A",
        pb::CustomerTier::B => "B",
        pb::CustomerTier::C => "C",
    }
}

/// What put something at risk.
pub fn trigger(trigger: pb::RiskTrigger) -> &'static str {
    match trigger {
        pb::RiskTrigger::Unspecified => "unknown",
        pb::RiskTrigger::Revised => "revised",
        pb::RiskTrigger::CommitmentLate => "committed late",
        pb::RiskTrigger::Breached => "breached",
        pb::RiskTrigger::Breakdown => "breakdown",
        pb::RiskTrigger::ProjectionLate => "projected late",
    }
}

/// How a promise ended, and its tone.
pub fn outcome(outcome: pb::PromiseOutcome) -> (&'static str, Tone) {
    match outcome {
        pb::PromiseOutcome::Unspecified => ("-", Tone::Dim),
        pb::PromiseOutcome::Kept => ("kept", Tone::Good),
        pb::PromiseOutcome::KeptLate => ("kept late", Tone::Warn),
        pb::PromiseOutcome::KeptAfterRenegotiation => ("kept after renegotiation", Tone::Good),
        pb::PromiseOutcome::Broken => ("broken", Tone::Bad),
    }
}

/// A commitment kind.
pub fn kind(kind: pb::CommitmentKind) -> &'static str {
    match kind {
        pb::CommitmentKind::Unspecified => "-",
        pb::CommitmentKind::OrganisationalCommitment => "organisational commitment",
        pb::CommitmentKind::GeneralExpectation => "general expectation",
        pb::CommitmentKind::PersonalPromise => "personal promise",
    }
}

/// A remedy kind.
pub fn remedy(kind: pb::RemedyKind) -> &'static str {
    match kind {
        pb::RemedyKind::Unspecified => "-",
        pb::RemedyKind::None => "apology and a new time",
        pb::RemedyKind::LoanOrSubstitute => "loan or substitute",
        pb::RemedyKind::Credit => "credit",
        pb::RemedyKind::PartialDelivery => "partial delivery",
    }
}

/// A customer lifecycle.
pub fn lifecycle(lifecycle: pb::CustomerLifecycle) -> &'static str {
    match lifecycle {
        pb::CustomerLifecycle::Unspecified => "-",
        pb::CustomerLifecycle::New => "new",
        pb::CustomerLifecycle::Retained => "retained",
        pb::CustomerLifecycle::AtRisk => "at risk",
        pb::CustomerLifecycle::Dissatisfied => "dissatisfied",
        pb::CustomerLifecycle::WonBack => "won back",
    }
}

/// The short name of an event type: "RequestRevised" for "customerchain.v1.RequestRevised".
pub fn short_type(event_type: &str) -> &str {
    event_type.rsplit('.').next().unwrap_or(event_type)
}

/// A score 0..100 with its tone.
pub fn score_tone(score: f64) -> Tone {
    if score < 40.0 {
        Tone::Bad
    } else if score < 70.0 {
        Tone::Warn
    } else {
        Tone::Good
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_grouped_with_two_decimals() {
        assert_eq!(amount("EUR", 250_000_050), "EUR 2,500,000.50");
        assert_eq!(amount("EUR", 5), "EUR 0.05");
        assert_eq!(amount("VND", -123_456), "VND -1,234.56");
        assert_eq!(money(None), "-");
    }
}
