//! Times and spans as people say them: "in 3 h", "2 d ago", "3 d 4 h".

use chrono::{DateTime, TimeDelta, Utc};

/// `at` relative to `now`: "in 3 h", "2 d ago", "just now".
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let delta = at - now;
    if delta.num_seconds().abs() < 60 {
        return "just now".to_owned();
    }
    let amount = coarse(delta.abs());
    if delta > TimeDelta::zero() {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// A wire time relative to now; "-" when unset.
pub fn relative_wire(at: Option<&prost_types::Timestamp>) -> String {
    from_wire(at).map_or_else(|| "-".to_owned(), |at| relative(at, Utc::now()))
}

/// A wire time as a chrono time.
pub fn from_wire(at: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    at.and_then(|ts| chain_proto::timestamp::to_datetime(ts).ok())
}

/// A wire time as RFC 3339 to the second, "-" when unset.
pub fn absolute_wire(at: Option<&prost_types::Timestamp>) -> String {
    from_wire(at).map_or_else(
        || "-".to_owned(),
        |at| at.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// A wire span as "3 d 4 h"; "-" when unset.
pub fn span_wire(wire: Option<&prost_types::Duration>) -> String {
    wire.and_then(|d| chain_proto::duration::to_chrono(d).ok())
        .map_or_else(|| "-".to_owned(), span)
}

/// A span in at most two units: "3 d 4 h", "5 h 20 min", "42 s".
pub fn span(delta: TimeDelta) -> String {
    let sign = if delta < TimeDelta::zero() { "-" } else { "" };
    let seconds = delta.num_seconds().abs();
    let (days, hours, minutes) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
    );
    let text = match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    };
    format!("{sign}{text}")
}

/// A span rounded to its largest unit: "3 d", "5 h", "12 min".
fn coarse(delta: TimeDelta) -> String {
    let seconds = delta.num_seconds();
    if seconds >= 2 * 86_400 {
        format!("{} d", (seconds + 43_200) / 86_400)
    } else if seconds >= 3_600 {
        format!("{} h", (seconds + 1_800) / 3_600)
    } else {
        format!("{} min", (seconds + 30) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_naturally() {
        let now = Utc::now();
        assert_eq!(relative(now + TimeDelta::hours(3), now), "in 3 h");
        assert_eq!(relative(now - TimeDelta::days(2), now), "2 d ago");
        assert_eq!(relative(now + TimeDelta::days(14), now), "in 14 d");
        assert_eq!(relative(now + TimeDelta::seconds(5), now), "just now");
        assert_eq!(relative(now - TimeDelta::minutes(12), now), "12 min ago");
        assert_eq!(relative(now + TimeDelta::hours(30), now), "in 30 h");
    }

    #[test]
    fn spans_use_two_units_at_most() {
        assert_eq!(span(TimeDelta::days(3)), "3 d");
        assert_eq!(span(TimeDelta::hours(76)), "3 d 4 h");
        assert_eq!(span(TimeDelta::minutes(320)), "5 h 20 min");
        assert_eq!(span(TimeDelta::seconds(42)), "42 s");
        assert_eq!(span(TimeDelta::hours(-2)), "-2 h");
    }
}
