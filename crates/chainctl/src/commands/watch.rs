//! `chainctl watch`: live events of the three services merged into one feed (the Watch*
//! streaming RPCs), and the single-service streams (`… watch-requests`, `… read-events`).

use std::pin::Pin;
use std::time::Duration;

use chain_proto::customerchain::v1 as pb;
use futures::{Stream, StreamExt as _};
use tonic::Status;

use crate::client::{RequestsClient, ScoringClient, Service, TicketsClient, call};
use crate::commands::Ctx;
use crate::directory::Directory;
use crate::error::Failure;
use crate::views::events;

/// Where a stream starts and when it stops.
#[derive(Debug, Clone, clap::Args)]
pub struct StreamArgs {
    /// Resume after this position (an event's `position`).
    #[arg(long, default_value = "")]
    pub after: String,
    /// Replay the history first (default: only events committed from now on).
    #[arg(long)]
    pub from_start: bool,
    /// Stop after this many events.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Stop after this long (e.g. 30s); default: until interrupted.
    #[arg(long = "for", value_name = "SPAN")]
    pub duration: Option<String>,
}

impl StreamArgs {
    /// Whether only events committed after the call are wanted.
    pub fn live_only(&self) -> bool {
        self.after.is_empty() && !self.from_start
    }
}

/// Paging of ReadEvents.
#[derive(Debug, Clone, clap::Args)]
pub struct ReadArgs {
    /// Read after this position; default: from the beginning.
    #[arg(long, default_value = "")]
    pub after: String,
    /// At most this many events (0 = the service's default of 1,000).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
}

/// Arguments of `chainctl watch`.
#[derive(Debug, Clone, clap::Args)]
pub struct WatchArgs {
    /// Also follow this team's requests (name or id); WatchRequests needs a team.
    #[arg(long)]
    pub team: Option<String>,
    /// Leave tickets-svc out.
    #[arg(long)]
    pub no_tickets: bool,
    /// Leave scoring-svc out.
    #[arg(long)]
    pub no_scores: bool,
    #[command(flatten)]
    pub stream: StreamArgs,
}

type EventStream = Pin<Box<dyn Stream<Item = (Service, Result<pb::EventEnvelope, Status>)> + Send>>;

/// Runs `chainctl watch`.
pub async fn run(ctx: &Ctx, args: WatchArgs) -> Result<(), Failure> {
    let mut streams: Vec<EventStream> = Vec::new();
    let directory = ctx.directory(None).await;
    if let Some(team) = &args.team {
        let client = ctx.connection.requests().await?;
        let team_id = directory.resolve(team)?;
        streams.push(requests_stream(ctx, &client, team_id, &args.stream).await?);
    }
    if !args.no_tickets {
        let client = ctx.connection.tickets().await?;
        let message = pb::WatchTicketsRequest {
            after_position: args.stream.after.clone(),
            live_only: args.stream.live_only(),
            ..Default::default()
        };
        streams.push(tickets_stream(ctx, &client, message).await?);
    }
    if !args.no_scores {
        let client = ctx.connection.scoring().await?;
        let message = pb::WatchScoresRequest {
            subject: None,
            after_position: args.stream.after.clone(),
            live_only: args.stream.live_only(),
        };
        streams.push(scores_stream(ctx, &client, message).await?);
    }
    if streams.is_empty() {
        return Err(Failure::Usage(
            "nothing to watch: give --team, or leave tickets or scores in".to_owned(),
        ));
    }
    if !ctx.printer.json() {
        ctx.printer.say(
            ctx.printer
                .paint("watching; Ctrl-C to stop", crate::output::Tone::Dim),
        )?;
    }
    follow(
        ctx,
        futures::stream::select_all(streams).boxed(),
        &args.stream,
        &directory,
    )
    .await
}

/// `chainctl requests watch-requests`.
pub async fn requests_only(
    ctx: &Ctx,
    client: &RequestsClient,
    team: String,
    args: StreamArgs,
) -> Result<(), Failure> {
    let directory = ctx.directory(Some(client)).await;
    let team_id = directory.resolve(&team)?;
    let stream = requests_stream(ctx, client, team_id, &args).await?;
    follow(ctx, stream, &args, &directory).await
}

/// `chainctl tickets watch-tickets`.
pub async fn tickets_only(
    ctx: &Ctx,
    client: &TicketsClient,
    message: pb::WatchTicketsRequest,
    args: StreamArgs,
) -> Result<(), Failure> {
    let stream = tickets_stream(ctx, client, message).await?;
    follow(ctx, stream, &args, &ctx.directory(None).await).await
}

/// `chainctl scoring watch-scores`.
pub async fn scores_only(
    ctx: &Ctx,
    client: &ScoringClient,
    message: pb::WatchScoresRequest,
    args: StreamArgs,
) -> Result<(), Failure> {
    let stream = scores_stream(ctx, client, message).await?;
    follow(ctx, stream, &args, &ctx.directory(None).await).await
}

/// `… read-events` of one service: its event store in commit order, one page.
pub async fn read_events(ctx: &Ctx, service: Service, args: ReadArgs) -> Result<(), Failure> {
    let message = pb::ReadEventsRequest {
        after_position: args.after,
        limit: args.limit,
    };
    let stream: EventStream = match service {
        Service::Requests => {
            let client = ctx.connection.requests().await?;
            let inner = call(service, "ReadEvents", || {
                let mut client = client.clone();
                let request = ctx.actor.stream(message.clone());
                async move { client.read_events(request).await }
            })
            .await?;
            inner.map(move |item| (service, item)).boxed()
        }
        Service::Tickets => {
            let client = ctx.connection.tickets().await?;
            let inner = call(service, "ReadEvents", || {
                let mut client = client.clone();
                let request = ctx.actor.stream(message.clone());
                async move { client.read_events(request).await }
            })
            .await?;
            inner.map(move |item| (service, item)).boxed()
        }
        Service::Scoring => {
            let client = ctx.connection.scoring().await?;
            let inner = call(service, "ReadEvents", || {
                let mut client = client.clone();
                let request = ctx.actor.stream(message.clone());
                async move { client.read_events(request).await }
            })
            .await?;
            inner.map(move |item| (service, item)).boxed()
        }
    };
    let args = StreamArgs {
        after: String::new(),
        from_start: true,
        limit: None,
        duration: None,
    };
    follow(ctx, stream, &args, &ctx.directory(None).await).await
}

async fn requests_stream(
    ctx: &Ctx,
    client: &RequestsClient,
    team_id: String,
    args: &StreamArgs,
) -> Result<EventStream, Failure> {
    let message = pb::WatchRequestsRequest {
        team_id,
        after_position: args.after.clone(),
        live_only: args.live_only(),
    };
    let inner = call(Service::Requests, "WatchRequests", || {
        let mut client = client.clone();
        let request = ctx.actor.stream(message.clone());
        async move { client.watch_requests(request).await }
    })
    .await?;
    Ok(inner
        .map(|item| (Service::Requests, item.map(|r| r.event.unwrap_or_default())))
        .boxed())
}

async fn tickets_stream(
    ctx: &Ctx,
    client: &TicketsClient,
    message: pb::WatchTicketsRequest,
) -> Result<EventStream, Failure> {
    let inner = call(Service::Tickets, "WatchTickets", || {
        let mut client = client.clone();
        let request = ctx.actor.stream(message.clone());
        async move { client.watch_tickets(request).await }
    })
    .await?;
    Ok(inner
        .map(|item| (Service::Tickets, item.map(|r| r.event.unwrap_or_default())))
        .boxed())
}

async fn scores_stream(
    ctx: &Ctx,
    client: &ScoringClient,
    message: pb::WatchScoresRequest,
) -> Result<EventStream, Failure> {
    let inner = call(Service::Scoring, "WatchScores", || {
        let mut client = client.clone();
        let request = ctx.actor.stream(message.clone());
        async move { client.watch_scores(request).await }
    })
    .await?;
    Ok(inner
        .map(|item| (Service::Scoring, item.map(|r| r.event.unwrap_or_default())))
        .boxed())
}

/// Prints events as they come until the limit, the time span, the end of the streams, or a
/// stream error.
async fn follow(
    ctx: &Ctx,
    mut stream: EventStream,
    args: &StreamArgs,
    directory: &Directory,
) -> Result<(), Failure> {
    let span = args
        .duration
        .as_deref()
        .map(|d| crate::commands::parsed("--for", d, crate::input::parse_span))
        .transpose()?
        .and_then(|d| d.to_std().ok())
        .unwrap_or(Duration::MAX);
    let stop = tokio::time::sleep(span.min(Duration::from_secs(100 * 365 * 86_400)));
    tokio::pin!(stop);
    let mut seen = 0usize;
    while args.limit.is_none_or(|limit| seen < limit) {
        let next = tokio::select! {
            next = stream.next() => next,
            () = &mut stop => None,
        };
        let Some((service, item)) = next else { break };
        let envelope = item.map_err(|status| Failure::Refused {
            service,
            method: "stream",
            status,
        })?;
        if ctx.printer.json() {
            ctx.printer.json_line(&envelope)?;
        } else {
            ctx.printer
                .say(events::line(&ctx.printer, service, &envelope, directory))?;
        }
        seen += 1;
    }
    Ok(())
}
