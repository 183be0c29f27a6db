//! Domain refusals as statuses: [`chain_rpc::status`]'s mapping (which also refuses an
//! infeasible promise with the details `tickets.proto` documents for `MakePromise`), with the
//! domain's field names turned into the request's.

use chain_domain::DomainError;
use chain_rpc::IntoStatus;
use chain_rpc::status::invalid_argument;
use tonic::Status;

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
        other => other.into_status(),
    }
}
