//! Packing a domain event into the envelope's `google.protobuf.Any` payload
//! and unpacking it again, checked against the envelope's `event_type`.

use prost::Name;
use prost_types::Any;

use crate::customerchain::v1::EventEnvelope;

/// Why an envelope's payload could not be read as the asked-for event.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UnpackError {
    /// The envelope has no payload at all.
    #[error("event {event_id} of type {event_type:?} has no payload")]
    MissingPayload {
        /// The envelope's event id.
        event_id: String,
        /// The envelope's event type.
        event_type: String,
    },
    /// The envelope holds another event type (in `event_type` or in the
    /// payload's `type_url`) than the one asked for.
    #[error("event {event_id} holds {actual:?}, not {expected:?}")]
    TypeMismatch {
        /// The envelope's event id.
        event_id: String,
        /// The full name of the message asked for.
        expected: String,
        /// The event type or type URL found.
        actual: String,
    },
    /// The payload bytes are not a valid encoding of the message.
    #[error("event {event_id} of type {event_type} does not decode: {source}")]
    Decode {
        /// The envelope's event id.
        event_id: String,
        /// The envelope's event type.
        event_type: String,
        /// What prost reported.
        #[source]
        source: prost::DecodeError,
    },
}

/// Packs a domain event as an envelope payload: `type_url` is
/// `"type.googleapis.com/" + M::full_name()` and `value` the encoded message.
/// The envelope's `event_type` must then be `M::full_name()`.
pub fn pack_event<M: Name>(event: &M) -> Any {
    Any {
        type_url: M::type_url(),
        value: event.encode_to_vec(),
    }
}

impl EventEnvelope {
    /// True when the envelope holds an event of type `M` (by `event_type`).
    pub fn is<M: Name>(&self) -> bool {
        self.event_type == M::full_name()
    }

    /// Decodes the payload as `M`, after checking that both the envelope's
    /// `event_type` and the payload's `type_url` name `M`. Any URL prefix is
    /// accepted in `type_url`, as the `Any` specification allows; only its
    /// last segment must be the full name.
    pub fn unpack<M: Name + Default>(&self) -> Result<M, UnpackError> {
        let expected = M::full_name();
        if self.event_type != expected {
            return Err(self.mismatch(expected, self.event_type.clone()));
        }
        let Some(payload) = &self.payload else {
            return Err(UnpackError::MissingPayload {
                event_id: self.event_id.clone(),
                event_type: self.event_type.clone(),
            });
        };
        let named = payload
            .type_url
            .rsplit_once('/')
            .map_or(payload.type_url.as_str(), |(_, name)| name);
        if named != expected {
            return Err(self.mismatch(expected, payload.type_url.clone()));
        }
        M::decode(payload.value.as_slice()).map_err(|source| UnpackError::Decode {
            event_id: self.event_id.clone(),
            event_type: self.event_type.clone(),
            source,
        })
    }

    fn mismatch(&self, expected: String, actual: String) -> UnpackError {
        UnpackError::TypeMismatch {
            event_id: self.event_id.clone(),
            expected,
            actual,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customerchain::v1::{CommitmentKind, RequestCommitted, RequestRevised};

    fn committed() -> RequestCommitted {
        RequestCommitted {
            request_id: "0196a1b2-0000-7000-8000-000000000001".to_owned(),
            due_at: Some(prost_types::Timestamp {
                seconds: 1_795_428_930,
                nanos: 5,
            }),
            kind: CommitmentKind::PersonalPromise.into(),
            parent_due_at: None,
            root_ticket_id: String::new(),
        }
    }

    fn envelope_of<M: Name>(event: &M) -> EventEnvelope {
        EventEnvelope {
            event_id: "0196a1b2-0000-7000-8000-0000000000ff".to_owned(),
            event_type: M::full_name(),
            payload: Some(pack_event(event)),
            ..EventEnvelope::default()
        }
    }

    #[test]
    fn packs_with_the_google_type_url() {
        let any = pack_event(&committed());
        assert_eq!(
            any.type_url,
            "type.googleapis.com/customerchain.v1.RequestCommitted"
        );
        assert_eq!(
            RequestCommitted::full_name(),
            "customerchain.v1.RequestCommitted"
        );
    }

    #[test]
    fn unpacks_what_was_packed() {
        let envelope = envelope_of(&committed());
        assert!(envelope.is::<RequestCommitted>());
        assert!(!envelope.is::<RequestRevised>());
        let event: RequestCommitted = envelope.unpack().expect("same type round-trips");
        assert_eq!(event, committed());
        assert_eq!(event.kind(), CommitmentKind::PersonalPromise);
    }

    #[test]
    fn refuses_another_event_type() {
        let envelope = envelope_of(&committed());
        let error = envelope
            .unpack::<RequestRevised>()
            .expect_err("a commitment is not a revision");
        assert_eq!(
            error,
            UnpackError::TypeMismatch {
                event_id: envelope.event_id.clone(),
                expected: "customerchain.v1.RequestRevised".to_owned(),
                actual: "customerchain.v1.RequestCommitted".to_owned(),
            }
        );
    }

    #[test]
    fn refuses_a_type_url_that_disagrees_with_event_type() {
        let mut envelope = envelope_of(&committed());
        if let Some(payload) = envelope.payload.as_mut() {
            payload.type_url = "type.googleapis.com/customerchain.v1.RequestRevised".to_owned();
        }
        let error = envelope
            .unpack::<RequestCommitted>()
            .expect_err("the payload says it is a revision");
        assert!(matches!(
            error,
            UnpackError::TypeMismatch { ref actual, .. } if actual.ends_with("RequestRevised")
        ));
    }

    #[test]
    fn accepts_another_type_url_prefix() {
        let mut envelope = envelope_of(&committed());
        if let Some(payload) = envelope.payload.as_mut() {
            payload.type_url = "example.com/types/customerchain.v1.RequestCommitted".to_owned();
        }
        assert_eq!(envelope.unpack::<RequestCommitted>(), Ok(committed()));
    }

    #[test]
    fn reports_a_missing_payload() {
        let envelope = EventEnvelope {
            payload: None,
            ..envelope_of(&committed())
        };
        assert!(matches!(
            envelope.unpack::<RequestCommitted>(),
            Err(UnpackError::MissingPayload { .. })
        ));
    }

    #[test]
    fn reports_undecodable_bytes() {
        let mut envelope = envelope_of(&committed());
        if let Some(payload) = envelope.payload.as_mut() {
            // Field 1 as a length-delimited string claiming 100 bytes it lacks.
            payload.value = vec![0x0a, 100, b'x'];
        }
        assert!(matches!(
            envelope.unpack::<RequestCommitted>(),
            Err(UnpackError::Decode { .. })
        ));
    }
}
