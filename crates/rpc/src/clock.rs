//! The current time at the precision the event store keeps. PostgreSQL stores times to the
//! microsecond, so a time the domain decided with (an event's `occurred_at`, a due time) is
//! cut to whole microseconds first: what is read back is then exactly what was decided, and
//! replaying a stream reproduces the same state.

use chrono::{DateTime, SubsecRound, Utc};

/// Now, cut to whole microseconds.
pub fn now() -> DateTime<Utc> {
    to_micros(Utc::now())
}

/// `at` cut (towards the past) to whole microseconds.
pub fn to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;

    #[test]
    fn times_are_cut_to_microseconds() {
        let at = DateTime::from_timestamp(1_795_428_930, 123_456_789).expect("valid");
        let cut = to_micros(at);
        assert_eq!(cut.nanosecond(), 123_456_000);
        assert!(cut <= at);
        assert_eq!(now().nanosecond() % 1_000, 0);
    }
}
