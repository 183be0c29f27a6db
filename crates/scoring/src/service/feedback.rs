//! `RecordFeedback`: feedback from an external customer about a ticket, or from an internal
//! consumer team about a request it received.
//!
//! The comment is personal data: it goes into `scoring_feedback_comments` in the transaction
//! that appends `FeedbackRecorded` (which only says `has_comment`), and the response kept for
//! idempotent retries is stored without it; a retry gets it back from the comments table.

use chain_domain::ids::{CustomerId, RequestId, TeamId, TicketId};
use chain_domain::scoring::Feedback;
use chain_proto::customerchain::v1 as pb;
use chain_rpc::{Caller, IdempotentCommand, IntoStatus, clock, field, status};
use chain_store::{AppendOutcome, EventMetadata, StreamId, append_in};
use tonic::{Request, Status};
use uuid::Uuid;

use super::{MAX_COMMENT_CHARS, ScoringService};
use crate::codec::{FEEDBACK_AGGREGATE, FeedbackAbout, encode_feedback, feedback_subject_to_proto};
use crate::projection::facts::RequestFacts;

/// What the subject of a request names, before it is checked against the projections.
enum Asked {
    Ticket {
        customer: CustomerId,
        ticket: TicketId,
    },
    Request {
        consumer: TeamId,
        provider: Option<TeamId>,
        request: RequestId,
    },
}

impl ScoringService {
    pub(super) async fn record_feedback(
        &self,
        call: Request<pb::RecordFeedbackRequest>,
    ) -> Result<pb::Feedback, Status> {
        let caller = Caller::of(&call)?;
        let mut message = call.into_inner();
        let key = std::mem::take(&mut message.idempotency_key);
        let command = IdempotentCommand::new("RecordFeedback", &caller, key, &message)?;
        let asked = asked(message.subject.as_ref())?;
        let ratings = Feedback::new(rating("csat", message.csat)?, rating("nps", message.nps)?)
            .map_err(|e| e.into_status())?;
        let comment = field::optional_text("comment", &message.comment, MAX_COMMENT_CHARS)?;
        let (about, correlation) = self.check(&caller, asked).await?;

        let feedback_id = Uuid::now_v7();
        let at = clock::now();
        let event = encode_feedback(feedback_id, &about, &ratings, comment.is_some(), at);
        let recorded = pb::Feedback {
            feedback_id: feedback_id.to_string(),
            subject: Some(feedback_subject_to_proto(&about)),
            csat: ratings.csat().map(u32::from),
            nps: ratings.nps().map(u32::from),
            comment: String::new(),
            recorded_at: Some(chain_proto::timestamp::from_datetime(at)),
        };
        let trace = chain_telemetry::TraceContext::current().unwrap_or_default();
        let metadata = EventMetadata::new(correlation, command.key(), caller.to_string()).traced(
            &trace.traceparent,
            &trace.tracestate,
            &trace.baggage,
        );
        let pool = self.store.pool();
        let mut tx = pool.begin().await.map_err(|e| status::database_error(&e))?;
        let outcome = append_in(
            &mut *tx,
            &StreamId::new(FEEDBACK_AGGREGATE, feedback_id.to_string()),
            0,
            &[event],
            &metadata,
            Some(&command.record(&recorded)),
        )
        .await
        .map_err(|e| e.into_status())?;
        match outcome {
            AppendOutcome::Appended { .. } => {
                if let Some(text) = &comment {
                    sqlx::query(
                        "INSERT INTO scoring_feedback_comments (feedback_id, comment, recorded_at)
                         VALUES ($1, $2, $3)",
                    )
                    .bind(feedback_id)
                    .bind(text)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| status::database_error(&e))?;
                }
                tx.commit().await.map_err(|e| status::database_error(&e))?;
                Ok(pb::Feedback {
                    comment: comment.unwrap_or_default(),
                    ..recorded
                })
            }
            AppendOutcome::Replayed { response } => {
                drop(tx);
                let first: pb::Feedback = IdempotentCommand::decode(&response)?;
                let id = Uuid::parse_str(&first.feedback_id).map_err(|_| status::internal())?;
                let comment: Option<String> = sqlx::query_scalar(
                    "SELECT comment FROM scoring_feedback_comments WHERE feedback_id = $1",
                )
                .bind(id)
                .fetch_optional(pool)
                .await
                .map_err(|e| status::database_error(&e))?;
                Ok(pb::Feedback {
                    comment: comment.unwrap_or_default(),
                    ..first
                })
            }
        }
    }

    /// Checks the subject against what the projections know; returns it complete, with the
    /// correlation id of its case.
    async fn check(
        &self,
        caller: &Caller,
        asked: Asked,
    ) -> Result<(FeedbackAbout, String), Status> {
        let pool = self.store.pool();
        match asked {
            Asked::Ticket { customer, ticket } => {
                let owner: Option<Option<Uuid>> = sqlx::query_scalar(
                    "SELECT customer_id FROM scoring_tickets WHERE ticket_id = $1",
                )
                .bind(ticket.as_uuid())
                .fetch_optional(pool)
                .await
                .map_err(|e| status::database_error(&e))?;
                match owner {
                    None => Err(status::not_found(
                        "subject.customer.ticket_id",
                        "ticket",
                        &ticket.to_string(),
                    )),
                    Some(Some(owner)) if owner != customer.as_uuid() => {
                        Err(status::invalid_argument(
                            "subject.customer.customer_id",
                            "the ticket belongs to another customer",
                        ))
                    }
                    Some(_) => Ok((
                        FeedbackAbout::Ticket { customer, ticket },
                        ticket.to_string(),
                    )),
                }
            }
            Asked::Request {
                consumer,
                provider,
                request,
            } => {
                let team = caller.team()?;
                if team != consumer {
                    return Err(status::permission_denied(
                        "feedback about a request must come from its consumer team",
                    ));
                }
                let facts: Option<Vec<u8>> =
                    sqlx::query_scalar("SELECT facts FROM scoring_requests WHERE request_id = $1")
                        .bind(request.as_uuid())
                        .fetch_optional(pool)
                        .await
                        .map_err(|e| status::database_error(&e))?;
                let Some(facts) = facts else {
                    return Err(status::not_found(
                        "subject.team.request_id",
                        "request",
                        &request.to_string(),
                    ));
                };
                let facts: RequestFacts = serde_json::from_slice(&facts).map_err(|error| {
                    tracing::error!(%error, "a stored request does not decode");
                    status::internal()
                })?;
                if facts.consumer != consumer {
                    return Err(status::permission_denied(
                        "feedback about a request must come from its consumer team",
                    ));
                }
                if provider.is_some_and(|p| p != facts.provider) {
                    return Err(status::invalid_argument(
                        "subject.team.provider_team_id",
                        "is not the request's provider (leave it empty to have it filled in)",
                    ));
                }
                Ok((
                    FeedbackAbout::Request {
                        consumer,
                        provider: facts.provider,
                        request,
                    },
                    facts.case.to_string(),
                ))
            }
        }
    }
}

/// Reads the subject's fields.
fn asked(subject: Option<&pb::FeedbackSubject>) -> Result<Asked, Status> {
    match subject.and_then(|s| s.subject.as_ref()) {
        None => Err(status::invalid_argument(
            "subject",
            "is required: a customer about a ticket, or a team about a request",
        )),
        Some(pb::feedback_subject::Subject::Customer(c)) => Ok(Asked::Ticket {
            customer: field::id("subject.customer.customer_id", &c.customer_id)?,
            ticket: field::id("subject.customer.ticket_id", &c.ticket_id)?,
        }),
        Some(pb::feedback_subject::Subject::Team(t)) => Ok(Asked::Request {
            consumer: field::id("subject.team.consumer_team_id", &t.consumer_team_id)?,
            provider: field::optional_id("subject.team.provider_team_id", &t.provider_team_id)?,
            request: field::id("subject.team.request_id", &t.request_id)?,
        }),
    }
}

/// A rating as the domain takes it; one that does not even fit a byte is refused here.
fn rating(name: &'static str, value: Option<u32>) -> Result<Option<u8>, Status> {
    value
        .map(|v| {
            u8::try_from(v)
                .map_err(|_| status::invalid_argument(name, format!("{v} is out of range")))
        })
        .transpose()
}
