//! Reading what the operator types: spans of time (`3d`, `1d12h`, `90m`), points in time
//! (RFC 3339, or a span from now such as `14d`), amounts of money (`2500.00`), and the enum
//! values of the API in kebab-case.

use chain_proto::customerchain::v1 as pb;
use chrono::{DateTime, TimeDelta, Utc};

/// A span of time such as `3d`, `12h`, `1d12h`, `90m`, `30s` or `2w`.
pub fn parse_span(text: &str) -> Result<TimeDelta, String> {
    let text = text.trim();
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if body.is_empty() {
        return Err("empty span of time".to_owned());
    }
    let mut total = TimeDelta::zero();
    let mut digits = String::new();
    let mut rest = body.chars().peekable();
    while let Some(c) = rest.next() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(next) = rest.peek().copied().filter(char::is_ascii_alphabetic) {
            unit.push(next);
            rest.next();
        }
        let amount: i64 = digits
            .parse()
            .map_err(|_| format!("{text:?}: a number must come before {unit:?}"))?;
        digits.clear();
        let part = match unit.as_str() {
            "w" => TimeDelta::try_weeks(amount),
            "d" => TimeDelta::try_days(amount),
            "h" => TimeDelta::try_hours(amount),
            "m" | "min" => TimeDelta::try_minutes(amount),
            "s" => TimeDelta::try_seconds(amount),
            "ms" => TimeDelta::try_milliseconds(amount),
            other => {
                return Err(format!(
                    "{text:?}: unknown unit {other:?} (use w, d, h, m, s, ms)"
                ));
            }
        }
        .ok_or_else(|| format!("{text:?} is too long"))?;
        total += part;
    }
    if !digits.is_empty() {
        return Err(format!(
            "{text:?}: the number {digits} needs a unit (w, d, h, m, s)"
        ));
    }
    Ok(if negative { -total } else { total })
}

/// A point in time: RFC 3339 (`2026-12-01T09:00:00Z`) or a span from now (`14d`, `-2h`).
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(at.with_timezone(&Utc));
    }
    parse_span(text)
        .map(|span| Utc::now() + span)
        .map_err(|error| format!("{error}; or give an RFC 3339 time such as 2026-12-01T09:00:00Z"))
}

/// An amount in major units with at most two decimals (`2500`, `2500.5`, `2500.50`), as minor
/// units (cents).
pub fn parse_amount(text: &str) -> Result<i64, String> {
    let text = text.trim().replace(['_', ','], "");
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    if fraction.len() > 2 || whole.is_empty() && fraction.is_empty() {
        return Err(format!("{text:?}: give an amount such as 2500 or 2500.50"));
    }
    let whole: i64 = whole
        .parse()
        .map_err(|_| format!("{text:?} is not an amount"))?;
    let cents: i64 = format!("{fraction:0<2}")
        .parse()
        .map_err(|_| format!("{text:?} is not an amount"))?;
    whole
        .checked_mul(100)
        .and_then(|minor| minor.checked_add(cents))
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// A time on the wire.
pub fn stamp(at: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(chain_proto::timestamp::from_datetime(at))
}

/// A span of time on the wire.
pub fn wire_span(span: TimeDelta) -> Option<prost_types::Duration> {
    chain_proto::duration::from_chrono(span).ok()
}

/// A fresh idempotency key, unless the operator gave one (to retry a command safely).
pub fn key(given: Option<&String>) -> String {
    given
        .cloned()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// What kind of commitment a due time is.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Kind {
    /// What the organisation promises (an OLA, a policy).
    Organisational,
    /// What the customer assumes from experience.
    Expectation,
    /// A promise one person made to another.
    Personal,
}

impl From<Kind> for pb::CommitmentKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Organisational => Self::OrganisationalCommitment,
            Kind::Expectation => Self::GeneralExpectation,
            Kind::Personal => Self::PersonalPromise,
        }
    }
}

/// What kind of breakdown a consumer reports.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Breakdown {
    /// Delivered but not usable (needs a fulfilled request).
    NotUsable,
    /// Not served well.
    NotServedWell,
}

impl From<Breakdown> for pb::BreakdownKind {
    fn from(kind: Breakdown) -> Self {
        match kind {
            Breakdown::NotUsable => Self::NotUsable,
            Breakdown::NotServedWell => Self::NotServedWell,
        }
    }
}

/// The remedy offered to a customer.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Remedy {
    /// An apology and a new time.
    None,
    /// A loan or a substitute while the customer waits.
    Loan,
    /// A credit, refund or discount.
    Credit,
    /// Part now, the rest later.
    Partial,
}

impl From<Remedy> for pb::RemedyKind {
    fn from(kind: Remedy) -> Self {
        match kind {
            Remedy::None => Self::None,
            Remedy::Loan => Self::LoanOrSubstitute,
            Remedy::Credit => Self::Credit,
            Remedy::Partial => Self::PartialDelivery,
        }
    }
}

/// A customer value tier.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Tier {
    /// The few customers carrying 80% of the value.
    A,
    /// The next band.
    B,
    /// Everybody else.
    C,
}

impl From<Tier> for pb::CustomerTier {
    fn from(tier: Tier) -> Self {
        match tier {
            Tier::A => Self::A,
            Tier::B => Self::B,
            Tier::C => Self::C,
        }
    }
}

/// A request's lifecycle state, as a filter.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RequestState {
    /// Waiting for a commitment.
    Opened,
    /// Committed.
    Committed,
    /// Committed and revised.
    Revised,
    /// Fulfilled.
    Fulfilled,
    /// Due time passed unfulfilled.
    Breached,
    /// Cancelled.
    Cancelled,
}

impl From<RequestState> for pb::RequestState {
    fn from(state: RequestState) -> Self {
        match state {
            RequestState::Opened => Self::Opened,
            RequestState::Committed => Self::Committed,
            RequestState::Revised => Self::Revised,
            RequestState::Fulfilled => Self::Fulfilled,
            RequestState::Breached => Self::Breached,
            RequestState::Cancelled => Self::Cancelled,
        }
    }
}

/// A ticket's state, as a filter.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TicketState {
    /// No promise yet.
    Open,
    /// Promised and on track.
    Promised,
    /// The chain is projected to miss the promise.
    AtRisk,
    /// The promise's due time passed.
    Broken,
    /// Resolved.
    Resolved,
}

impl From<TicketState> for pb::TicketState {
    fn from(state: TicketState) -> Self {
        match state {
            TicketState::Open => Self::Open,
            TicketState::Promised => Self::Promised,
            TicketState::AtRisk => Self::AtRisk,
            TicketState::Broken => Self::Broken,
            TicketState::Resolved => Self::Resolved,
        }
    }
}

/// Which side of a request a team is on.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Role {
    /// The team serves.
    Provider,
    /// The team is served.
    Consumer,
}

impl From<Role> for pb::TeamRole {
    fn from(role: Role) -> Self {
        match role {
            Role::Provider => Self::Provider,
            Role::Consumer => Self::Consumer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_like_people_write_them() {
        assert_eq!(parse_span("3d"), Ok(TimeDelta::days(3)));
        assert_eq!(parse_span("1d12h"), Ok(TimeDelta::hours(36)));
        assert_eq!(parse_span("90m"), Ok(TimeDelta::minutes(90)));
        assert_eq!(parse_span("-2h"), Ok(TimeDelta::hours(-2)));
        assert_eq!(parse_span("2w"), Ok(TimeDelta::days(14)));
        assert!(parse_span("3").is_err());
        assert!(parse_span("3y").is_err());
        assert!(parse_span("").is_err());
    }

    #[test]
    fn times_are_rfc3339_or_from_now() {
        let at = parse_time("2026-12-01T09:00:00Z").expect("rfc 3339");
        assert_eq!(at.to_rfc3339(), "2026-12-01T09:00:00+00:00");
        let soon = parse_time("1h").expect("a span");
        assert!(soon > Utc::now() + TimeDelta::minutes(59));
    }

    #[test]
    fn amounts_become_minor_units() {
        assert_eq!(parse_amount("2500"), Ok(250_000));
        assert_eq!(parse_amount("2500.5"), Ok(250_050));
        assert_eq!(parse_amount("2,500.05"), Ok(250_005));
        assert!(parse_amount("1.234").is_err());
        assert!(parse_amount("abc").is_err());
    }
}
