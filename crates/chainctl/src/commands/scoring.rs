//! `chainctl scoring …`: every RPC of scoring-svc (SatisfactionService).

use chain_proto::customerchain::v1 as pb;
use clap::Subcommand;

use crate::client::{Service, call};
use crate::commands::requests::Page;
use crate::commands::{Ctx, more_pages, parsed};
use crate::error::Failure;
use crate::input::{self, Tier};
use crate::views::scoring as view;

/// The RPCs of scoring-svc.
#[derive(Debug, Subcommand)]
pub enum ScoringCommand {
    /// RecordFeedback: from a customer about a ticket, or from the acting team about a request
    /// it received.
    RecordFeedback {
        /// About this ticket (customer feedback).
        #[arg(long, required_unless_present = "request", conflicts_with = "request")]
        ticket: Option<String>,
        /// The customer giving feedback about the ticket.
        #[arg(long, requires = "ticket")]
        customer: Option<String>,
        /// About this request (team feedback; the acting team must be its consumer).
        #[arg(long)]
        request: Option<String>,
        /// CSAT, 1 to 5.
        #[arg(long)]
        csat: Option<u32>,
        /// NPS answer, 0 to 10.
        #[arg(long)]
        nps: Option<u32>,
        /// A comment (stored, never traced).
        #[arg(long, default_value = "")]
        comment: String,
        /// Idempotency key (default: a fresh one).
        #[arg(long)]
        key: Option<String>,
    },
    /// GetScore: the score of a customer or of a link.
    GetScore {
        #[command(flatten)]
        subject: Subject,
    },
    /// ListLinkHealth: link health, worst first.
    ListLinkHealth {
        /// Only links this team provides on.
        #[arg(long)]
        provider: Option<String>,
        /// Only links this team consumes on.
        #[arg(long)]
        consumer: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// ListImpacts: impact records, newest first.
    ListImpacts {
        /// Only impacts rooted in a link this team provides.
        #[arg(long)]
        root_team: Option<String>,
        /// Only this customer's impacts.
        #[arg(long, default_value = "")]
        customer: String,
        /// Only impacts recorded since this time (RFC 3339 or a span from now, e.g. -1d).
        #[arg(long)]
        since: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// GetImpactSummary: totals of the impacts of a root team (or of everything).
    GetImpactSummary {
        /// Only impacts rooted in a link this team provides.
        #[arg(long)]
        root_team: Option<String>,
        /// Only impacts recorded since this time.
        #[arg(long)]
        since: Option<String>,
    },
    /// ListAtRiskCustomers: customers at risk of leaving, by value × risk.
    ListAtRiskCustomers {
        /// Only these tiers (repeatable).
        #[arg(long = "tier", value_enum)]
        tiers: Vec<Tier>,
        #[command(flatten)]
        page: Page,
    },
    /// WatchScores: score and impact events, then live ones (see also `chainctl watch`).
    WatchScores {
        #[command(flatten)]
        stream: crate::commands::watch::StreamArgs,
    },
    /// GetProjectionDigest: the digest of every scoring projection.
    GetProjectionDigest,
    /// ReadEvents: scoring-svc's event store in commit order.
    ReadEvents {
        #[command(flatten)]
        read: crate::commands::watch::ReadArgs,
    },
}

/// A customer or a link.
#[derive(Debug, Clone, clap::Args)]
pub struct Subject {
    /// The customer.
    #[arg(long, required_unless_present = "provider", conflicts_with_all = ["provider", "consumer"])]
    pub customer: Option<String>,
    /// The link's provider team.
    #[arg(long, requires = "consumer")]
    pub provider: Option<String>,
    /// The link's consumer team.
    #[arg(long, requires = "provider")]
    pub consumer: Option<String>,
}

/// Runs one scoring-svc command.
pub async fn run(ctx: &Ctx, command: ScoringCommand) -> Result<(), Failure> {
    let client = ctx.connection.scoring().await?;
    match command {
        ScoringCommand::RecordFeedback {
            ticket,
            customer,
            request,
            csat,
            nps,
            comment,
            key,
        } => {
            let subject = match (ticket, request) {
                (Some(ticket_id), _) => {
                    pb::feedback_subject::Subject::Customer(pb::CustomerFeedbackSubject {
                        customer_id: customer.unwrap_or_default(),
                        ticket_id,
                    })
                }
                (None, Some(request_id)) => {
                    pb::feedback_subject::Subject::Team(pb::TeamFeedbackSubject {
                        consumer_team_id: ctx.connection.actor.clone().ok_or_else(|| {
                            Failure::Usage(
                                "feedback about a request comes from its consumer team: \
                                 give --as <team-id>"
                                    .to_owned(),
                            )
                        })?,
                        request_id,
                        ..Default::default()
                    })
                }
                (None, None) => {
                    return Err(Failure::Usage("give --ticket or --request".to_owned()));
                }
            };
            let message = pb::RecordFeedbackRequest {
                idempotency_key: input::key(key.as_ref()),
                subject: Some(pb::FeedbackSubject {
                    subject: Some(subject),
                }),
                csat,
                nps,
                comment,
            };
            let feedback = call(Service::Scoring, "RecordFeedback", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.record_feedback(request).await }
            })
            .await?;
            if ctx.printer.json() {
                return ctx.printer.message(&feedback);
            }
            ctx.printer.say(view::feedback(&feedback))
        }
        ScoringCommand::GetScore { subject } => {
            let directory = ctx.directory(None).await;
            let subject = match (subject.customer, subject.provider, subject.consumer) {
                (Some(customer_id), _, _) => pb::score_subject::Subject::CustomerId(customer_id),
                (None, Some(provider), Some(consumer)) => {
                    pb::score_subject::Subject::Link(pb::LinkRef {
                        provider_team_id: directory.resolve(&provider)?,
                        consumer_team_id: directory.resolve(&consumer)?,
                    })
                }
                _ => {
                    return Err(Failure::Usage(
                        "give --customer, or --provider and --consumer".to_owned(),
                    ));
                }
            };
            let message = pb::GetScoreRequest {
                subject: Some(pb::ScoreSubject {
                    subject: Some(subject),
                }),
            };
            let score = call(Service::Scoring, "GetScore", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.get_score(request).await }
            })
            .await?;
            if ctx.printer.json() {
                return ctx.printer.message(&score);
            }
            ctx.printer
                .say(view::score(&ctx.printer, &score, &directory))
        }
        ScoringCommand::ListLinkHealth {
            provider,
            consumer,
            page,
        } => {
            let directory = ctx.directory(None).await;
            let message = pb::ListLinkHealthRequest {
                page_size: page.page_size,
                page_token: page.page_token,
                provider_team_id: directory.resolve_optional(provider.as_deref())?,
                consumer_team_id: directory.resolve_optional(consumer.as_deref())?,
            };
            let reply = call(Service::Scoring, "ListLinkHealth", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.list_link_health(request).await }
            })
            .await?;
            if ctx.printer.json() {
                return ctx.printer.message(&reply);
            }
            ctx.printer
                .say(view::link_health(&ctx.printer, &reply.links, &directory))?;
            more_pages(ctx, &reply.next_page_token)
        }
        ScoringCommand::ListImpacts {
            root_team,
            customer,
            since,
            page,
        } => {
            let directory = ctx.directory(None).await;
            let since = since
                .map(|s| parsed("--since", &s, input::parse_time))
                .transpose()?;
            let message = pb::ListImpactsRequest {
                page_size: page.page_size,
                page_token: page.page_token,
                root_team_id: directory.resolve_optional(root_team.as_deref())?,
                link: None,
                customer_id: customer,
                start_time: since.and_then(input::stamp),
                end_time: None,
            };
            let reply = call(Service::Scoring, "ListImpacts", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.list_impacts(request).await }
            })
            .await?;
            if ctx.printer.json() {
                return ctx.printer.message(&reply);
            }
            ctx.printer
                .say(view::impacts(&ctx.printer, &reply.impacts, &directory))?;
            more_pages(ctx, &reply.next_page_token)
        }
        ScoringCommand::GetImpactSummary { root_team, since } => {
            let directory = ctx.directory(None).await;
            let since = since
                .map(|s| parsed("--since", &s, input::parse_time))
                .transpose()?;
            let message = pb::GetImpactSummaryRequest {
                root_team_id: directory.resolve_optional(root_team.as_deref())?,
                link: None,
                start_time: since.and_then(input::stamp),
                end_time: None,
            };
            let summary = call(Service::Scoring, "GetImpactSummary", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.get_impact_summary(request).await }
            })
            .await?;
            if ctx.printer.json() {
                return ctx.printer.message(&summary);
            }
            ctx.printer.say(view::impact_summary(&summary, &directory))
        }
        ScoringCommand::ListAtRiskCustomers { tiers, page } => {
            let message = pb::ListAtRiskCustomersRequest {
                page_size: page.page_size,
                page_token: page.page_token,
                tiers: tiers
                    .into_iter()
                    .map(|t| pb::CustomerTier::from(t).into())
                    .collect(),
            };
            let reply = call(Service::Scoring, "ListAtRiskCustomers", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(message.clone());
                async move { client.list_at_risk_customers(request).await }
            })
            .await?;
            if ctx.printer.json() {
                return ctx.printer.message(&reply);
            }
            ctx.printer
                .say(view::at_risk_customers(&ctx.printer, &reply.customers))?;
            more_pages(ctx, &reply.next_page_token)
        }
        ScoringCommand::WatchScores { stream } => {
            let message = pb::WatchScoresRequest {
                subject: None,
                after_position: stream.after.clone(),
                live_only: stream.live_only(),
            };
            crate::commands::watch::scores_only(ctx, &client, message, stream).await
        }
        ScoringCommand::GetProjectionDigest => {
            let digest = call(Service::Scoring, "GetProjectionDigest", || {
                let mut client = client.clone();
                let request = ctx.actor.unary(pb::GetProjectionDigestRequest {});
                async move { client.get_projection_digest(request).await }
            })
            .await?;
            if ctx.printer.json() {
                return ctx.printer.message(&digest);
            }
            ctx.printer.say(view::digest(&digest))
        }
        ScoringCommand::ReadEvents { read } => {
            crate::commands::watch::read_events(ctx, Service::Scoring, read).await
        }
    }
}
