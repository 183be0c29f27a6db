//! Domain refusals as statuses: [`chain_rpc::status`]'s mapping, with the domain's field
//! names turned into the request's, and an infeasible promise refused with the details
//! `tickets.proto` documents for `MakePromise`.

use std::collections::HashMap;

use chain_domain::DomainError;
use chain_domain::link::RequestLink;
use chain_rpc::IntoStatus;
use chain_rpc::status::{ERROR_DOMAIN, invalid_argument, reason};
use chrono::{DateTime, SecondsFormat, Utc};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// A domain refusal as a status.
pub fn refusal(error: DomainError) -> Status {
    match error {
        DomainError::InvalidField { field, reason } => {
            let field = match field {
                "remedy" => "remedy.kind",
                "value" => "value.value_minor",
                "currency" => "value.currency_code",
                other => other,
            };
            invalid_argument(field, reason)
        }
        DomainError::PromiseNotFeasible {
            due_at,
            earliest,
            link,
        } => promise_not_feasible(due_at, earliest, link),
        other => other.into_status(),
    }
}

/// `FAILED_PRECONDITION` for a promise due before the chain can deliver: the message names
/// the critical link and the earliest feasible time; a `PreconditionFailure` names the
/// bounding request; an `ErrorInfo` with reason `PROMISE_NOT_FEASIBLE` carries
/// `earliest_feasible_at` (RFC 3339), `critical_request_id`, `critical_provider_team_id`,
/// `critical_consumer_team_id` and `due_at`.
pub fn promise_not_feasible(
    due_at: DateTime<Utc>,
    earliest: DateTime<Utc>,
    link: RequestLink,
) -> Status {
    let earliest_text = earliest.to_rfc3339_opts(SecondsFormat::Micros, true);
    let due_text = due_at.to_rfc3339_opts(SecondsFormat::Micros, true);
    let request = link.request_id.to_string();
    let provider = link.provider.to_string();
    let consumer = link.consumer.to_string();
    let message = format!(
        "a promise due {due_text} is not feasible: the chain behind the ticket can deliver at \
         {earliest_text} at the earliest, bounded by request {request} on link \
         {provider}->{consumer}; promise a later time, or set acknowledge_risk"
    );
    let mut details = ErrorDetails::with_precondition_failure_violation(
        "FEASIBILITY",
        request.clone(),
        format!("the chain can deliver at {earliest_text} at the earliest"),
    );
    let metadata: HashMap<String, String> = [
        ("earliest_feasible_at", earliest_text),
        ("critical_request_id", request),
        ("critical_provider_team_id", provider),
        ("critical_consumer_team_id", consumer),
        ("due_at", due_text),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    details.set_error_info(reason::PROMISE_NOT_FEASIBLE, ERROR_DOMAIN, metadata);
    Status::with_error_details(Code::FailedPrecondition, message, details)
}
