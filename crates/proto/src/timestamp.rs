//! Conversions between `chrono::DateTime<Utc>` (the domain's time) and
//! `google.protobuf.Timestamp` (the wire's time).

use chrono::{DateTime, Utc};
use prost_types::Timestamp;

/// The earliest second a `google.protobuf.Timestamp` may hold
/// (0001-01-01T00:00:00Z).
const MIN_SECONDS: i64 = -62_135_596_800;
/// The latest second a `google.protobuf.Timestamp` may hold
/// (9999-12-31T23:59:59Z).
const MAX_SECONDS: i64 = 253_402_300_799;

/// Why a `google.protobuf.Timestamp` is not a valid point in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// `nanos` must lie in `0..=999_999_999`, even before 1970.
    #[error("timestamp nanos {nanos} outside 0..=999999999")]
    NanosOutOfRange {
        /// The offending value.
        nanos: i32,
    },
    /// `seconds` must lie between 0001-01-01 and 9999-12-31 (the range the
    /// protobuf specification allows).
    #[error("timestamp seconds {seconds} outside years 0001..=9999")]
    SecondsOutOfRange {
        /// The offending value.
        seconds: i64,
    },
}

/// Converts a UTC time into a protobuf timestamp.
///
/// Times outside years 0001..=9999 convert too, but produce a timestamp that
/// [`to_datetime`] and other protobuf runtimes reject.
pub fn from_datetime(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        // chrono keeps the sub-second part non-negative, as protobuf does.
        // chrono marks a leap second with nanos >= 1e9, which protobuf cannot
        // hold: clamp it to the last nanosecond of its second.
        nanos: i32::try_from(at.timestamp_subsec_nanos().min(999_999_999)).unwrap_or(999_999_999),
    }
}

/// Converts a protobuf timestamp into a UTC time, refusing one the protobuf
/// specification calls invalid rather than normalising it, so that a bad
/// client value surfaces as an error naming the field.
pub fn to_datetime(timestamp: &Timestamp) -> Result<DateTime<Utc>, TimestampError> {
    let Timestamp { seconds, nanos } = *timestamp;
    if !(0..=999_999_999).contains(&nanos) {
        return Err(TimestampError::NanosOutOfRange { nanos });
    }
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds) {
        return Err(TimestampError::SecondsOutOfRange { seconds });
    }
    let nanos = u32::try_from(nanos).map_err(|_| TimestampError::NanosOutOfRange { nanos })?;
    DateTime::from_timestamp(seconds, nanos).ok_or(TimestampError::SecondsOutOfRange { seconds })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("test times are valid RFC 3339")
            .with_timezone(&Utc)
    }

    #[test]
    fn round_trips_with_nanoseconds() {
        let at = utc("2026-11-23T10:15:30.123456789Z");
        let timestamp = from_datetime(at);
        assert_eq!(timestamp.seconds, 1_795_428_930);
        assert_eq!(timestamp.nanos, 123_456_789);
        assert_eq!(to_datetime(&timestamp), Ok(at));
    }

    #[test]
    fn keeps_nanos_positive_before_1970() {
        let at = utc("1969-12-31T23:59:59.5Z");
        let timestamp = from_datetime(at);
        assert_eq!(
            timestamp,
            Timestamp {
                seconds: -1,
                nanos: 500_000_000
            }
        );
        assert_eq!(to_datetime(&timestamp), Ok(at));
    }

    #[test]
    fn accepts_the_ends_of_the_protobuf_range() {
        let first = Timestamp {
            seconds: MIN_SECONDS,
            nanos: 0,
        };
        let last = Timestamp {
            seconds: MAX_SECONDS,
            nanos: 999_999_999,
        };
        assert_eq!(to_datetime(&first), Ok(utc("0001-01-01T00:00:00Z")));
        assert_eq!(
            to_datetime(&last),
            Ok(utc("9999-12-31T23:59:59.999999999Z"))
        );
    }

    #[test]
    fn refuses_negative_or_overflowing_nanos() {
        for nanos in [-1, 1_000_000_000] {
            let timestamp = Timestamp { seconds: 0, nanos };
            assert_eq!(
                to_datetime(&timestamp),
                Err(TimestampError::NanosOutOfRange { nanos })
            );
        }
    }

    #[test]
    fn refuses_seconds_outside_years_1_to_9999() {
        for seconds in [MIN_SECONDS - 1, MAX_SECONDS + 1] {
            let timestamp = Timestamp { seconds, nanos: 0 };
            assert_eq!(
                to_datetime(&timestamp),
                Err(TimestampError::SecondsOutOfRange { seconds })
            );
        }
    }
}
