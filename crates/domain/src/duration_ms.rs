//! How durations are written in stored events: whole milliseconds as an integer, so the
//! stored form is plain and stable (chrono's `TimeDelta` has no serde form of its own).

use chrono::TimeDelta;
use serde::{Deserialize, Deserializer, Serializer};

pub(crate) fn serialize<S: Serializer>(
    value: &TimeDelta,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_i64(value.num_milliseconds())
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<TimeDelta, D::Error> {
    let millis = i64::deserialize(deserializer)?;
    TimeDelta::try_milliseconds(millis)
        .ok_or_else(|| serde::de::Error::custom(format!("duration out of range: {millis} ms")))
}

/// The same for an optional duration (`null` when absent).
pub(crate) mod option {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<TimeDelta>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(delta) => serializer.serialize_some(&delta.num_milliseconds()),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<TimeDelta>, D::Error> {
        Option::<i64>::deserialize(deserializer)?
            .map(|millis| {
                TimeDelta::try_milliseconds(millis).ok_or_else(|| {
                    serde::de::Error::custom(format!("duration out of range: {millis} ms"))
                })
            })
            .transpose()
    }
}
