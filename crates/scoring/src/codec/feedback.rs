//! Scoring's own input: `FeedbackRecorded`, written by `RecordFeedback` and read back by the
//! projection like any other event. The comment never travels in it (`has_comment` only).

use chain_domain::scoring::Feedback;
use chain_proto::customerchain::v1 as pb;
use chain_store::NewEvent;
use chrono::{DateTime, Utc};
use prost::{Message, Name};
use uuid::Uuid;

use super::{CodecError, Fact, FeedbackAbout, Payload, SCHEMA_VERSION, id, invalid};

pub(super) fn decode(payload: &Payload<'_>) -> Result<Fact, CodecError> {
    if !payload.is::<pb::FeedbackRecorded>() {
        return Ok(Fact::Ignored);
    }
    type M = pb::FeedbackRecorded;
    let m: M = payload.message()?;
    let feedback =
        Uuid::parse_str(&m.feedback_id).map_err(|e| invalid::<M>("feedback_id", e.to_string()))?;
    let about = match m.subject.as_ref().and_then(|s| s.subject.as_ref()) {
        None => return Err(invalid::<M>("subject", "missing")),
        Some(pb::feedback_subject::Subject::Customer(c)) => FeedbackAbout::Ticket {
            customer: id::<M, _>("subject.customer.customer_id", &c.customer_id)?,
            ticket: id::<M, _>("subject.customer.ticket_id", &c.ticket_id)?,
        },
        Some(pb::feedback_subject::Subject::Team(t)) => FeedbackAbout::Request {
            consumer: id::<M, _>("subject.team.consumer_team_id", &t.consumer_team_id)?,
            provider: id::<M, _>("subject.team.provider_team_id", &t.provider_team_id)?,
            request: id::<M, _>("subject.team.request_id", &t.request_id)?,
        },
    };
    let rating = |field, value: Option<u32>| {
        value
            .map(|v| {
                u8::try_from(v).map_err(|_| invalid::<M>(field, format!("{v} is out of range")))
            })
            .transpose()
    };
    let ratings = Feedback::new(rating("csat", m.csat)?, rating("nps", m.nps)?)
        .map_err(|e| invalid::<M>("csat", e.to_string()))?;
    Ok(Fact::Feedback {
        feedback,
        about,
        ratings,
    })
}

/// Who about what, on the wire.
pub fn feedback_subject_to_proto(about: &FeedbackAbout) -> pb::FeedbackSubject {
    let subject = match about {
        FeedbackAbout::Ticket { customer, ticket } => {
            pb::feedback_subject::Subject::Customer(pb::CustomerFeedbackSubject {
                customer_id: customer.to_string(),
                ticket_id: ticket.to_string(),
            })
        }
        FeedbackAbout::Request {
            consumer,
            provider,
            request,
        } => pb::feedback_subject::Subject::Team(pb::TeamFeedbackSubject {
            consumer_team_id: consumer.to_string(),
            request_id: request.to_string(),
            provider_team_id: provider.to_string(),
        }),
    };
    pb::FeedbackSubject {
        subject: Some(subject),
    }
}

/// The stored `FeedbackRecorded` event of feedback `feedback_id`, at `at`.
pub fn encode_feedback(
    feedback_id: Uuid,
    about: &FeedbackAbout,
    ratings: &Feedback,
    has_comment: bool,
    at: DateTime<Utc>,
) -> NewEvent {
    let message = pb::FeedbackRecorded {
        feedback_id: feedback_id.to_string(),
        subject: Some(feedback_subject_to_proto(about)),
        csat: ratings.csat().map(u32::from),
        nps: ratings.nps().map(u32::from),
        has_comment,
    };
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: pb::FeedbackRecorded::full_name(),
        schema_version: SCHEMA_VERSION,
        occurred_at: at,
        payload: message.encode_to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{InputStore, decode as decode_input};
    use chain_domain::ids::{CustomerId, TicketId};

    #[test]
    fn feedback_round_trips_through_an_envelope_without_its_comment() {
        let about = FeedbackAbout::Ticket {
            customer: CustomerId::from_uuid(Uuid::from_u128(1)),
            ticket: TicketId::from_uuid(Uuid::from_u128(2)),
        };
        let ratings = Feedback::new(Some(2), Some(3)).expect("valid ratings");
        let at = DateTime::from_timestamp(1_800_000_000, 123_000).expect("valid time");
        let id = Uuid::from_u128(3);
        let event = encode_feedback(id, &about, &ratings, true, at);
        let envelope = pb::EventEnvelope {
            event_id: event.event_id.to_string(),
            aggregate_type: "feedback".into(),
            aggregate_id: id.to_string(),
            aggregate_version: 1,
            event_type: event.event_type.clone(),
            schema_version: 1,
            occurred_at: Some(chain_proto::timestamp::from_datetime(at)),
            payload: Some(prost_types::Any {
                type_url: pb::FeedbackRecorded::type_url(),
                value: event.payload.clone(),
            }),
            ..pb::EventEnvelope::default()
        };
        let input = decode_input(InputStore::Scoring, &envelope).expect("decodes");
        assert_eq!(input.at, at);
        assert_eq!(
            input.fact,
            Fact::Feedback {
                feedback: id,
                about,
                ratings
            }
        );
        let recorded = pb::FeedbackRecorded::decode(event.payload.as_slice()).expect("decodes");
        assert!(recorded.has_comment);
    }
}
