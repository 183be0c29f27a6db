//! Reading request fields: required text within a size limit, ids, times, spans and enums.
//! Every refusal is `INVALID_ARGUMENT` naming the field (a `google.rpc.BadRequest`
//! violation), so a client knows which input to fix. Free text is never quoted back in the
//! message: it may be personal data.

use std::fmt::Debug;
use std::str::FromStr;

use chain_domain::ids::IdParseError;
use chain_proto::{duration, timestamp};
use chrono::{DateTime, TimeDelta, Utc};
use tonic::Status;

use crate::clock::to_micros;
use crate::status::invalid_argument;

/// Trims `value` and requires it non-empty and at most `max_chars` characters long.
pub fn text(field: &str, value: &str, max_chars: usize) -> Result<String, Status> {
    optional_text(field, value, max_chars)?
        .ok_or_else(|| invalid_argument(field, "is required and must not be blank"))
}

/// Like [`text`], but an empty (or blank) value is `None`.
pub fn optional_text(field: &str, value: &str, max_chars: usize) -> Result<Option<String>, Status> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    // Bytes bound characters from above: skip counting for the common short value.
    if trimmed.len() > max_chars {
        let chars = trimmed.chars().count();
        if chars > max_chars {
            return Err(invalid_argument(
                field,
                format!("must be at most {max_chars} characters, got {chars}"),
            ));
        }
    }
    Ok(Some(trimmed.to_owned()))
}

/// A required id of type `T` (a team, request, ticket id …).
pub fn id<T>(field: &str, value: &str) -> Result<T, Status>
where
    T: FromStr<Err = IdParseError>,
{
    optional_id(field, value)?.ok_or_else(|| invalid_argument(field, "is required"))
}

/// An optional id: an empty value is `None`, anything else must parse.
pub fn optional_id<T>(field: &str, value: &str) -> Result<Option<T>, Status>
where
    T: FromStr<Err = IdParseError>,
{
    if value.trim().is_empty() {
        return Ok(None);
    }
    value
        .parse::<T>()
        .map(Some)
        .map_err(|e| invalid_argument(field, format!("{}: {}", e.kind, e.reason)))
}

/// A required point in time, cut to whole microseconds (see [`crate::clock`]).
pub fn timestamp(
    field: &str,
    value: Option<&prost_types::Timestamp>,
) -> Result<DateTime<Utc>, Status> {
    optional_timestamp(field, value)?.ok_or_else(|| invalid_argument(field, "is required"))
}

/// An optional point in time, cut to whole microseconds.
pub fn optional_timestamp(
    field: &str,
    value: Option<&prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>, Status> {
    value
        .map(|ts| {
            timestamp::to_datetime(ts)
                .map(to_micros)
                .map_err(|e| invalid_argument(field, e.to_string()))
        })
        .transpose()
}

/// A required span of time (may be negative; the domain bounds it).
pub fn duration(field: &str, value: Option<&prost_types::Duration>) -> Result<TimeDelta, Status> {
    let value = value.ok_or_else(|| invalid_argument(field, "is required"))?;
    duration::to_chrono(value).map_err(|e| invalid_argument(field, e.to_string()))
}

/// A required enum value: neither unknown nor the `_UNSPECIFIED` zero.
pub fn enumeration<E>(field: &str, value: i32) -> Result<E, Status>
where
    E: TryFrom<i32> + Default + PartialEq + Debug,
{
    optional_enum(field, value)?.ok_or_else(|| invalid_argument(field, "is required"))
}

/// An optional enum value: the `_UNSPECIFIED` zero is `None`, an unknown value is refused.
pub fn optional_enum<E>(field: &str, value: i32) -> Result<Option<E>, Status>
where
    E: TryFrom<i32> + Default + PartialEq + Debug,
{
    let parsed = E::try_from(value)
        .map_err(|_| invalid_argument(field, format!("unknown value {value}")))?;
    Ok((parsed != E::default()).then_some(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chain_domain::ids::{RequestId, TeamId};
    use chain_proto::customerchain::v1::CommitmentKind;
    use tonic::Code;
    use tonic_types::StatusExt;

    fn field_of(status: &Status) -> String {
        assert_eq!(status.code(), Code::InvalidArgument);
        status
            .get_details_bad_request()
            .expect("bad request")
            .field_violations[0]
            .field
            .clone()
    }

    #[test]
    fn text_is_trimmed_required_and_bounded_in_characters() {
        assert_eq!(text("title", "  desk ", 10).expect("fits"), "desk");
        assert_eq!(
            field_of(&text("title", "   ", 10).expect_err("blank")),
            "title"
        );
        assert!(
            text("title", &"é".repeat(10), 10).is_ok(),
            "characters, not bytes"
        );
        let long = text("title", &"é".repeat(11), 10).expect_err("too long");
        assert_eq!(field_of(&long), "title");
        assert!(long.message().contains("at most 10 characters, got 11"));
        assert_eq!(optional_text("reason", "", 10).expect("empty ok"), None);
    }

    #[test]
    fn ids_must_parse_and_name_the_field() {
        let id: TeamId = id("team_id", "0190a5d2-7c3e-7a41-8f00-123456789abc").expect("parses");
        assert_eq!(id.to_string(), "0190a5d2-7c3e-7a41-8f00-123456789abc");
        let missing = self::id::<RequestId>("request_id", "").expect_err("required");
        assert_eq!(field_of(&missing), "request_id");
        let bad = self::id::<RequestId>("request_id", "nope").expect_err("bad");
        assert_eq!(field_of(&bad), "request_id");
        assert!(bad.message().contains("request id"));
        assert_eq!(
            optional_id::<TeamId>("consumer_team_id", " ").expect("empty"),
            None
        );
    }

    #[test]
    fn timestamps_are_required_valid_and_cut_to_microseconds() {
        let ts = prost_types::Timestamp {
            seconds: 1_795_428_930,
            nanos: 123_456_789,
        };
        let at = timestamp("due_at", Some(&ts)).expect("valid");
        assert_eq!(at.timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(
            field_of(&timestamp("due_at", None).expect_err("missing")),
            "due_at"
        );
        let bad = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert_eq!(
            field_of(&timestamp("needed_by", Some(&bad)).expect_err("bad")),
            "needed_by"
        );
        assert_eq!(optional_timestamp("due_at", None).expect("none"), None);
    }

    #[test]
    fn durations_must_be_present_and_well_formed() {
        let ola = prost_types::Duration {
            seconds: 3600,
            nanos: 0,
        };
        assert_eq!(
            duration("ola", Some(&ola)).expect("valid"),
            TimeDelta::hours(1)
        );
        assert_eq!(
            field_of(&duration("ola", None).expect_err("missing")),
            "ola"
        );
        let mixed = prost_types::Duration {
            seconds: 1,
            nanos: -1,
        };
        assert_eq!(
            field_of(&duration("ola", Some(&mixed)).expect_err("bad")),
            "ola"
        );
    }

    #[test]
    fn enums_refuse_unknown_and_unspecified_values() {
        let kind: CommitmentKind = enumeration("kind", 3).expect("known");
        assert_eq!(kind, CommitmentKind::PersonalPromise);
        assert_eq!(
            field_of(&enumeration::<CommitmentKind>("kind", 0).expect_err("unspecified")),
            "kind"
        );
        assert_eq!(
            field_of(&enumeration::<CommitmentKind>("kind", 99).expect_err("unknown")),
            "kind"
        );
        assert_eq!(
            optional_enum::<CommitmentKind>("kind", 0).expect("unspecified is none"),
            None
        );
    }
}
