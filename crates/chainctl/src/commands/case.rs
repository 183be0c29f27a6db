//! `chainctl case <ticket-or-request-id>`: the case tree with states, due and projected times
//! and the critical path, and the ticket at its root.

use chain_proto::customerchain::v1 as pb;
use tonic::Code;

use crate::client::{RequestsClient, Service, call};
use crate::commands::Ctx;
use crate::error::Failure;

/// Arguments of `chainctl case`.
#[derive(Debug, Clone, clap::Args)]
pub struct CaseArgs {
    /// A ticket id, a root request id, or any request of the case.
    pub id: String,
}

/// Runs `chainctl case`.
pub async fn run(ctx: &Ctx, args: CaseArgs) -> Result<(), Failure> {
    let client = ctx.connection.requests().await?;
    show(ctx, &client, &args.id, true).await
}

/// Prints the case `id` names. With `follow`, a request id inside a case is taken to mean its
/// case, and the root ticket is shown too (best effort: tickets-svc may be down).
pub async fn show(
    ctx: &Ctx,
    client: &RequestsClient,
    id: &str,
    follow: bool,
) -> Result<(), Failure> {
    let case = match get_case(ctx, client, id).await {
        Err(failure) if follow && is_not_found(&failure) => {
            let case_id = case_of_request(ctx, client, id).await.ok_or(failure)?;
            get_case(ctx, client, &case_id).await?
        }
        other => other?,
    };
    if ctx.printer.json() {
        return ctx.printer.message(&case);
    }
    let directory = ctx.directory(Some(client)).await;
    let ticket = if follow && !case.root_ticket_id.is_empty() {
        root_ticket(ctx, &case.root_ticket_id).await
    } else {
        None
    };
    ctx.printer.say(crate::case_tree::draw(
        &ctx.printer,
        &case,
        ticket.as_ref(),
        &directory,
    ))
}

async fn get_case(ctx: &Ctx, client: &RequestsClient, case_id: &str) -> Result<pb::Case, Failure> {
    let message = pb::GetCaseRequest {
        case_id: case_id.to_owned(),
    };
    call(Service::Requests, "GetCase", || {
        let mut client = client.clone();
        let request = ctx.actor.unary(message.clone());
        async move { client.get_case(request).await }
    })
    .await
}

/// The case of a request inside a case (GetCase answers only for roots).
async fn case_of_request(ctx: &Ctx, client: &RequestsClient, request_id: &str) -> Option<String> {
    let message = pb::GetRequestRequest {
        request_id: request_id.to_owned(),
    };
    call(Service::Requests, "GetRequest", || {
        let mut client = client.clone();
        let request = ctx.actor.unary(message.clone());
        async move { client.get_request(request).await }
    })
    .await
    .ok()
    .map(|request| request.case_id)
    .filter(|case_id| case_id != request_id)
}

async fn root_ticket(ctx: &Ctx, ticket_id: &str) -> Option<pb::Ticket> {
    let client = ctx.connection.tickets().await.ok()?;
    crate::commands::tickets::get_ticket(ctx, &client, ticket_id)
        .await
        .ok()
}

fn is_not_found(failure: &Failure) -> bool {
    failure.status().is_some_and(|s| s.code() == Code::NotFound)
}
