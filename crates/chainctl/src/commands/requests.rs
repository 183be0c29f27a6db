//! `chainctl requests …`: every RPC of requests-svc (InternalRequestService).

use chain_proto::customerchain::v1 as pb;
use clap::Subcommand;

use crate::client::{RequestsClient, Service, call};
use crate::commands::{Ctx, more_pages, parsed};
use crate::error::Failure;
use crate::input::{self, Breakdown, Kind, RequestState, Role};
use crate::views::requests as view;

/// The RPCs of requests-svc.
#[derive(Debug, Subcommand)]
pub enum RequestsCommand {
    /// CreateTeam: create a team.
    CreateTeam {
        /// The team's name, unique among teams.
        name: String,
        /// The team serves external customers directly.
        #[arg(long)]
        front_line: bool,
        /// Idempotency key (default: a fresh one).
        #[arg(long)]
        key: Option<String>,
    },
    /// RenameTeam: rename a team (acting as that team).
    RenameTeam {
        /// The team to rename.
        team_id: String,
        /// The new name.
        name: String,
        /// Expected version (0 = don't check).
        #[arg(long, default_value_t = 0)]
        expected_version: u64,
        /// Idempotency key (default: a fresh one).
        #[arg(long)]
        key: Option<String>,
    },
    /// GetTeam: one team.
    GetTeam {
        /// The team.
        team_id: String,
    },
    /// ListTeams: teams by name.
    ListTeams {
        /// Only front-line teams.
        #[arg(long)]
        front_line_only: bool,
        #[command(flatten)]
        page: Page,
    },
    /// DeclareLink: the acting team (provider) declares it serves a consumer, with an OLA.
    DeclareLink {
        /// The team served.
        consumer_team_id: String,
        /// The operational level agreement, e.g. 5d.
        #[arg(long)]
        ola: String,
        /// Expected version when declaring again (0 = don't check).
        #[arg(long, default_value_t = 0)]
        expected_version: u64,
        /// Idempotency key (default: a fresh one).
        #[arg(long)]
        key: Option<String>,
    },
    /// ListLinks: links, optionally of one provider or consumer.
    ListLinks {
        /// Only links this team provides on.
        #[arg(long)]
        provider: Option<String>,
        /// Only links this team consumes on.
        #[arg(long)]
        consumer: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// OpenRequest: the acting team (consumer) asks a provider for something.
    OpenRequest {
        /// The team asked to serve.
        provider_team_id: String,
        /// What is asked.
        #[arg(long)]
        title: String,
        /// When it is needed: RFC 3339 or a span from now (e.g. 10d).
        #[arg(long)]
        needed_by: String,
        /// The internal request this one serves.
        #[arg(long, conflicts_with = "ticket")]
        parent: Option<String>,
        /// The external ticket this one serves.
        #[arg(long)]
        ticket: Option<String>,
        /// Idempotency key (default: a fresh one).
        #[arg(long)]
        key: Option<String>,
    },
    /// CommitRequest: the provider commits to a due time (default: now + the link's OLA).
    CommitRequest {
        /// The request.
        request_id: String,
        /// The due time: RFC 3339 or a span from now.
        #[arg(long)]
        due: Option<String>,
        /// What kind of commitment.
        #[arg(long, value_enum, default_value = "organisational")]
        kind: Kind,
        #[command(flatten)]
        write: Write,
    },
    /// ReviseRequest: the provider announces a new due time.
    ReviseRequest {
        /// The request.
        request_id: String,
        /// The new due time: RFC 3339 or a span from now.
        #[arg(long)]
        due: String,
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        write: Write,
    },
    /// FulfilRequest: the provider marks the request fulfilled.
    FulfilRequest {
        /// The request.
        request_id: String,
        #[command(flatten)]
        write: Write,
    },
    /// CancelRequest: the consumer cancels the request.
    CancelRequest {
        /// The request.
        request_id: String,
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        write: Write,
    },
    /// ReportBreakdown: the consumer reports a breakdown.
    ReportBreakdown {
        /// The request.
        request_id: String,
        /// What kind of breakdown.
        #[arg(long, value_enum, default_value = "not-served-well")]
        kind: Breakdown,
        /// What went wrong.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        write: Write,
    },
    /// ResolveBreakdown: the consumer declares the breakdowns settled.
    ResolveBreakdown {
        /// The request.
        request_id: String,
        #[command(flatten)]
        write: Write,
    },
    /// GetRequest: one request.
    GetRequest {
        /// The request.
        request_id: String,
    },
    /// ListRequests: a team's requests, at risk first.
    ListRequests {
        /// The team.
        team_id: String,
        /// Which side the team is on.
        #[arg(long, value_enum)]
        role: Option<Role>,
        /// Only these states (repeatable).
        #[arg(long = "state", value_enum)]
        states: Vec<RequestState>,
        /// Only requests at risk.
        #[arg(long)]
        at_risk_only: bool,
        #[command(flatten)]
        page: Page,
    },
    /// GetCase: the case tree under a ticket or root request (see also `chainctl case`).
    GetCase {
        /// A ticket id or a root request id.
        case_id: String,
    },
    /// WatchRequests: a team's request events, then live ones (see also `chainctl watch`).
    WatchRequests {
        /// The team.
        team_id: String,
        #[command(flatten)]
        stream: crate::commands::watch::StreamArgs,
    },
    /// ReadEvents: requests-svc's event store in commit order.
    ReadEvents {
        #[command(flatten)]
        read: crate::commands::watch::ReadArgs,
    },
}

/// Paging of a List call.
#[derive(Debug, Clone, clap::Args)]
pub struct Page {
    /// Entries per page (0 = the service's default of 50, at most 500).
    #[arg(long, default_value_t = 0)]
    pub page_size: i32,
    /// The next_page_token of the previous page.
    #[arg(long, default_value = "")]
    pub page_token: String,
}

/// What every command on an existing request takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Write {
    /// Expected version (0 = don't check).
    #[arg(long, default_value_t = 0)]
    pub expected_version: u64,
    /// Idempotency key (default: a fresh one).
    #[arg(long)]
    pub key: Option<String>,
}

/// Runs one requests-svc command.
pub async fn run(ctx: &Ctx, command: RequestsCommand) -> Result<(), Failure> {
    let client = ctx.connection.requests().await?;
    match command {
        RequestsCommand::CreateTeam {
            name,
            front_line,
            key,
        } => {
            let message = pb::CreateTeamRequest {
                idempotency_key: input::key(key.as_ref()),
                name,
                front_line,
            };
            let team = call(Service::Requests, "CreateTeam", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.create_team(request).await }
            })
            .await?;
            show_team(ctx, &team)
        }
        RequestsCommand::RenameTeam {
            team_id,
            name,
            expected_version,
            key,
        } => {
            let message = pb::RenameTeamRequest {
                idempotency_key: input::key(key.as_ref()),
                team_id,
                expected_version,
                name,
            };
            let team = call(Service::Requests, "RenameTeam", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.rename_team(request).await }
            })
            .await?;
            show_team(ctx, &team)
        }
        RequestsCommand::GetTeam { team_id } => {
            let message = pb::GetTeamRequest { team_id };
            let team = call(Service::Requests, "GetTeam", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.get_team(request).await }
            })
            .await?;
            show_team(ctx, &team)
        }
        RequestsCommand::ListTeams {
            front_line_only,
            page,
        } => {
            let message = pb::ListTeamsRequest {
                page_size: page.page_size,
                page_token: page.page_token,
                front_line_only,
            };
            let reply = call(Service::Requests, "ListTeams", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.list_teams(request).await }
            })
            .await?;
            if ctx.printer.json() {
                return ctx.printer.message(&reply);
            }
            ctx.printer.say(view::teams(&ctx.printer, &reply.teams))?;
            more_pages(ctx, &reply.next_page_token)
        }
        RequestsCommand::DeclareLink {
            consumer_team_id,
            ola,
            expected_version,
            key,
        } => {
            let ola = parsed("--ola", &ola, input::parse_span)?;
            let message = pb::DeclareLinkRequest {
                idempotency_key: input::key(key.as_ref()),
                consumer_team_id,
                ola: input::wire_span(ola),
                expected_version,
            };
            let link = call(Service::Requests, "DeclareLink", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.declare_link(request).await }
            })
            .await?;
            if ctx.printer.json() {
                return ctx.printer.message(&link);
            }
            let directory = ctx.directory(Some(&client)).await;
            ctx.printer
                .say(view::links(&ctx.printer, &[link], &directory))
        }
        RequestsCommand::ListLinks {
            provider,
            consumer,
            page,
        } => {
            let directory = ctx.directory(Some(&client)).await;
            let message = pb::ListLinksRequest {
                page_size: page.page_size,
                page_token: page.page_token,
                provider_team_id: directory.resolve_optional(provider.as_deref())?,
                consumer_team_id: directory.resolve_optional(consumer.as_deref())?,
            };
            let reply = call(Service::Requests, "ListLinks", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.list_links(request).await }
            })
            .await?;
            if ctx.printer.json() {
                return ctx.printer.message(&reply);
            }
            ctx.printer
                .say(view::links(&ctx.printer, &reply.links, &directory))?;
            more_pages(ctx, &reply.next_page_token)
        }
        RequestsCommand::OpenRequest {
            provider_team_id,
            title,
            needed_by,
            parent,
            ticket,
            key,
        } => {
            let needed_by = parsed("--needed-by", &needed_by, input::parse_time)?;
            let parent = match (parent, ticket) {
                (Some(request), _) => {
                    Some(pb::open_request_request::Parent::ParentRequestId(request))
                }
                (None, Some(ticket)) => {
                    Some(pb::open_request_request::Parent::ParentTicketId(ticket))
                }
                (None, None) => None,
            };
            let message = pb::OpenRequestRequest {
                idempotency_key: input::key(key.as_ref()),
                provider_team_id,
                title,
                needed_by: input::stamp(needed_by),
                parent,
            };
            let request = call(Service::Requests, "OpenRequest", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.open_request(request).await }
            })
            .await?;
            show_request(ctx, &client, &request).await
        }
        RequestsCommand::CommitRequest {
            request_id,
            due,
            kind,
            write,
        } => {
            let due_at = due
                .map(|due| parsed("--due", &due, input::parse_time))
                .transpose()?;
            let message = pb::CommitRequestRequest {
                idempotency_key: input::key(write.key.as_ref()),
                request_id,
                expected_version: write.expected_version,
                due_at: due_at.and_then(input::stamp),
                kind: pb::CommitmentKind::from(kind).into(),
            };
            let request = call(Service::Requests, "CommitRequest", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.commit_request(request).await }
            })
            .await?;
            show_request(ctx, &client, &request).await
        }
        RequestsCommand::ReviseRequest {
            request_id,
            due,
            reason,
            write,
        } => {
            let due = parsed("--due", &due, input::parse_time)?;
            let message = pb::ReviseRequestRequest {
                idempotency_key: input::key(write.key.as_ref()),
                request_id,
                expected_version: write.expected_version,
                new_due_at: input::stamp(due),
                reason,
            };
            let request = call(Service::Requests, "ReviseRequest", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.revise_request(request).await }
            })
            .await?;
            show_request(ctx, &client, &request).await
        }
        RequestsCommand::FulfilRequest { request_id, write } => {
            let message = pb::FulfilRequestRequest {
                idempotency_key: input::key(write.key.as_ref()),
                request_id,
                expected_version: write.expected_version,
            };
            let request = call(Service::Requests, "FulfilRequest", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.fulfil_request(request).await }
            })
            .await?;
            show_request(ctx, &client, &request).await
        }
        RequestsCommand::CancelRequest {
            request_id,
            reason,
            write,
        } => {
            let message = pb::CancelRequestRequest {
                idempotency_key: input::key(write.key.as_ref()),
                request_id,
                expected_version: write.expected_version,
                reason,
            };
            let request = call(Service::Requests, "CancelRequest", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.cancel_request(request).await }
            })
            .await?;
            show_request(ctx, &client, &request).await
        }
        RequestsCommand::ReportBreakdown {
            request_id,
            kind,
            reason,
            write,
        } => {
            let message = pb::ReportBreakdownRequest {
                idempotency_key: input::key(write.key.as_ref()),
                request_id,
                expected_version: write.expected_version,
                kind: pb::BreakdownKind::from(kind).into(),
                reason,
            };
            let request = call(Service::Requests, "ReportBreakdown", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.report_breakdown(request).await }
            })
            .await?;
            show_request(ctx, &client, &request).await
        }
        RequestsCommand::ResolveBreakdown { request_id, write } => {
            let message = pb::ResolveBreakdownRequest {
                idempotency_key: input::key(write.key.as_ref()),
                request_id,
                expected_version: write.expected_version,
            };
            let request = call(Service::Requests, "ResolveBreakdown", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.resolve_breakdown(request).await }
            })
            .await?;
            show_request(ctx, &client, &request).await
        }
        RequestsCommand::GetRequest { request_id } => {
            let message = pb::GetRequestRequest { request_id };
            let request = call(Service::Requests, "GetRequest", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.get_request(request).await }
            })
            .await?;
            show_request(ctx, &client, &request).await
        }
        RequestsCommand::ListRequests {
            team_id,
            role,
            states,
            at_risk_only,
            page,
        } => {
            let directory = ctx.directory(Some(&client)).await;
            let message = pb::ListRequestsRequest {
                page_size: page.page_size,
                page_token: page.page_token,
                team_id: directory.resolve(&team_id)?,
                role: role
                    .map_or(pb::TeamRole::Unspecified, pb::TeamRole::from)
                    .into(),
                states: states
                    .into_iter()
                    .map(|s| pb::RequestState::from(s).into())
                    .collect(),
                at_risk_only,
            };
            let reply = call(Service::Requests, "ListRequests", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.list_requests(request).await }
            })
            .await?;
            if ctx.printer.json() {
                return ctx.printer.message(&reply);
            }
            ctx.printer
                .say(view::requests(&ctx.printer, &reply.requests, &directory))?;
            more_pages(ctx, &reply.next_page_token)
        }
        RequestsCommand::GetCase { case_id } => {
            crate::commands::case::show(ctx, &client, &case_id, false).await
        }
        RequestsCommand::WatchRequests { team_id, stream } => {
            crate::commands::watch::requests_only(ctx, &client, team_id, stream).await
        }
        RequestsCommand::ReadEvents { read } => {
            crate::commands::watch::read_events(ctx, Service::Requests, read).await
        }
    }
}

fn show_team(ctx: &Ctx, team: &pb::Team) -> Result<(), Failure> {
    if ctx.printer.json() {
        return ctx.printer.message(team);
    }
    ctx.printer.say(view::team(&ctx.printer, team))
}

async fn show_request(
    ctx: &Ctx,
    client: &RequestsClient,
    request: &pb::InternalRequest,
) -> Result<(), Failure> {
    if ctx.printer.json() {
        return ctx.printer.message(request);
    }
    let directory = ctx.directory(Some(client)).await;
    ctx.printer
        .say(view::request(&ctx.printer, request, &directory))
}
