//! Conversions between Rust spans of time (`std::time::Duration` for
//! non-negative spans such as an OLA, `chrono::TimeDelta` for signed ones such
//! as a delay) and `google.protobuf.Duration`.

use prost_types::Duration;

/// The largest number of seconds a `google.protobuf.Duration` may hold (about
/// 10,000 years), in either direction.
const MAX_SECONDS: i64 = 315_576_000_000;

/// Why a span of time cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// `nanos` must lie in `-999_999_999..=999_999_999`.
    #[error("duration nanos {nanos} outside -999999999..=999999999")]
    NanosOutOfRange {
        /// The offending value.
        nanos: i32,
    },
    /// `seconds` and `nanos` must not have opposite signs.
    #[error("duration seconds {seconds} and nanos {nanos} have opposite signs")]
    MixedSigns {
        /// The seconds given.
        seconds: i64,
        /// The nanos given.
        nanos: i32,
    },
    /// More than the protobuf limit of 315,576,000,000 seconds either way.
    #[error("duration of {seconds} seconds beyond the protobuf limit of 315576000000")]
    OutOfRange {
        /// The seconds given (saturated for a `std::time::Duration`).
        seconds: i64,
    },
    /// A negative duration where only a non-negative one makes sense.
    #[error("duration of {seconds} s {nanos} ns is negative")]
    Negative {
        /// The seconds given.
        seconds: i64,
        /// The nanos given.
        nanos: i32,
    },
}

/// Converts a non-negative Rust duration into a protobuf duration.
pub fn from_std(span: std::time::Duration) -> Result<Duration, DurationError> {
    let seconds = i64::try_from(span.as_secs()).unwrap_or(i64::MAX);
    if seconds > MAX_SECONDS {
        return Err(DurationError::OutOfRange { seconds });
    }
    // subsec_nanos is below 1e9, so it always fits an i32.
    let nanos = i32::try_from(span.subsec_nanos())
        .map_err(|_| DurationError::NanosOutOfRange { nanos: i32::MAX })?;
    Ok(Duration { seconds, nanos })
}

/// Converts a protobuf duration into a non-negative Rust duration, refusing a
/// negative or malformed one.
pub fn to_std(duration: &Duration) -> Result<std::time::Duration, DurationError> {
    let Duration { seconds, nanos } = checked(duration)?;
    match (u64::try_from(seconds), u32::try_from(nanos)) {
        (Ok(seconds), Ok(nanos)) => Ok(std::time::Duration::new(seconds, nanos)),
        _ => Err(DurationError::Negative { seconds, nanos }),
    }
}

/// Converts a signed chrono span into a protobuf duration.
///
/// A `TimeDelta` holds at most about 292 million years, beyond the protobuf
/// limit of about 10,000 years, so this can fail.
pub fn from_chrono(span: chrono::TimeDelta) -> Result<Duration, DurationError> {
    // num_seconds truncates toward zero and subsec_nanos carries the sign of
    // the span: exactly protobuf's shape.
    let seconds = span.num_seconds();
    if seconds.abs() > MAX_SECONDS {
        return Err(DurationError::OutOfRange { seconds });
    }
    Ok(Duration {
        seconds,
        nanos: span.subsec_nanos(),
    })
}

/// Converts a protobuf duration into a signed chrono span, refusing a
/// malformed one.
pub fn to_chrono(duration: &Duration) -> Result<chrono::TimeDelta, DurationError> {
    let Duration { seconds, nanos } = checked(duration)?;
    // A TimeDelta spans about ±292 million years, so any valid protobuf
    // duration fits; the checked calls only guard that reasoning.
    chrono::TimeDelta::try_seconds(seconds)
        .and_then(|whole| whole.checked_add(&chrono::TimeDelta::nanoseconds(i64::from(nanos))))
        .ok_or(DurationError::OutOfRange { seconds })
}

/// Checks a protobuf duration against the specification's rules.
fn checked(duration: &Duration) -> Result<Duration, DurationError> {
    let Duration { seconds, nanos } = *duration;
    if !(-999_999_999..=999_999_999).contains(&nanos) {
        return Err(DurationError::NanosOutOfRange { nanos });
    }
    if (seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0) {
        return Err(DurationError::MixedSigns { seconds, nanos });
    }
    if seconds.abs() > MAX_SECONDS {
        return Err(DurationError::OutOfRange { seconds });
    }
    Ok(*duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_round_trips_with_nanoseconds() {
        let span = std::time::Duration::new(3 * 86_400, 250_000_001);
        let duration = from_std(span).expect("three days fit");
        assert_eq!(
            duration,
            Duration {
                seconds: 259_200,
                nanos: 250_000_001
            }
        );
        assert_eq!(to_std(&duration), Ok(span));
    }

    #[test]
    fn std_refuses_spans_beyond_ten_thousand_years() {
        let span = std::time::Duration::from_secs(315_576_000_001);
        assert_eq!(
            from_std(span),
            Err(DurationError::OutOfRange {
                seconds: 315_576_000_001
            })
        );
        assert!(from_std(std::time::Duration::from_secs(u64::MAX)).is_err());
    }

    #[test]
    fn std_refuses_negative_durations() {
        let duration = Duration {
            seconds: -5,
            nanos: 0,
        };
        assert_eq!(
            to_std(&duration),
            Err(DurationError::Negative {
                seconds: -5,
                nanos: 0
            })
        );
        let below_a_second = Duration {
            seconds: 0,
            nanos: -1,
        };
        assert!(matches!(
            to_std(&below_a_second),
            Err(DurationError::Negative { .. })
        ));
    }

    #[test]
    fn chrono_round_trips_negative_spans_in_protobuf_shape() {
        let span = chrono::TimeDelta::milliseconds(-1_500);
        let duration = from_chrono(span).expect("a second and a half fits");
        assert_eq!(
            duration,
            Duration {
                seconds: -1,
                nanos: -500_000_000
            }
        );
        assert_eq!(to_chrono(&duration), Ok(span));
    }

    #[test]
    fn chrono_round_trips_positive_spans() {
        let span = chrono::TimeDelta::days(3) + chrono::TimeDelta::nanoseconds(7);
        let duration = from_chrono(span).expect("three days fit");
        assert_eq!(duration.seconds, 259_200);
        assert_eq!(duration.nanos, 7);
        assert_eq!(to_chrono(&duration), Ok(span));
    }

    #[test]
    fn chrono_refuses_spans_beyond_ten_thousand_years() {
        let span = chrono::TimeDelta::seconds(MAX_SECONDS + 1);
        assert_eq!(
            from_chrono(span),
            Err(DurationError::OutOfRange {
                seconds: MAX_SECONDS + 1
            })
        );
    }

    #[test]
    fn refuses_malformed_durations() {
        let mixed = Duration {
            seconds: 1,
            nanos: -1,
        };
        assert_eq!(
            to_chrono(&mixed),
            Err(DurationError::MixedSigns {
                seconds: 1,
                nanos: -1
            })
        );
        let too_many_nanos = Duration {
            seconds: 0,
            nanos: 1_000_000_000,
        };
        assert_eq!(
            to_std(&too_many_nanos),
            Err(DurationError::NanosOutOfRange {
                nanos: 1_000_000_000
            })
        );
        let too_long = Duration {
            seconds: -MAX_SECONDS - 1,
            nanos: 0,
        };
        assert!(matches!(
            to_chrono(&too_long),
            Err(DurationError::OutOfRange { .. })
        ));
    }
}
