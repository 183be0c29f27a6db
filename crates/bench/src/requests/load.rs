//! The load: concurrent clients, each looping through one request's lifecycle after another
//! (OpenRequest as the consumer, then CommitRequest and FulfilRequest as the provider, each with
//! a fresh idempotency key and the version the previous response returned), recording every
//! command's latency and counting refusals by status code.
//!
//! Commands started during the warm-up are not recorded; no command starts after the end of the
//! window, so a lifecycle cut off there is simply left open.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use chain_proto::customerchain::v1 as pb;
use chain_proto::customerchain::v1::internal_request_service_client::InternalRequestServiceClient;
use chain_rpc::actor::ACTOR_METADATA_KEY;
use chrono::{TimeDelta, Utc};
use hdrhistogram::Histogram;
use tokio::time::Instant;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::Channel;

use super::teams::LinkUnderTest;

/// Latencies are recorded in microseconds, from 1 µs up to a minute, to 3 significant digits.
const LATENCY_MAX_US: u64 = 60_000_000;
/// How long a client waits after a refused command before it opens the next request, so a
/// failing service is not hammered in a tight loop.
const PAUSE_AFTER_ERROR: Duration = Duration::from_millis(10);
/// When the requests are needed, and when the provider promises them, from now.
const NEEDED_IN: TimeDelta = TimeDelta::days(3);
const DUE_IN: TimeDelta = TimeDelta::days(2);

/// One command of the lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// OpenRequest, by the consumer.
    Open,
    /// CommitRequest, by the provider.
    Commit,
    /// FulfilRequest, by the provider.
    Fulfil,
}

impl Step {
    /// Every step, in lifecycle order.
    pub const ALL: [Step; 3] = [Step::Open, Step::Commit, Step::Fulfil];

    /// The RPC's name.
    pub fn rpc(self) -> &'static str {
        match self {
            Step::Open => "OpenRequest",
            Step::Commit => "CommitRequest",
            Step::Fulfil => "FulfilRequest",
        }
    }

    /// The figure-name stem, for scripts.
    pub fn key(self) -> &'static str {
        match self {
            Step::Open => "open",
            Step::Commit => "commit",
            Step::Fulfil => "fulfil",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// When commands are recorded: from `measure_from` (after the warm-up) until `until`, when
/// clients stop starting commands.
#[derive(Clone, Copy)]
pub struct Window {
    /// The end of the warm-up.
    pub measure_from: Instant,
    /// The end of the run.
    pub until: Instant,
}

/// What the clients measured.
pub struct Tally {
    /// Latency of each step's successful commands, in microseconds (indexed like
    /// [`Step::ALL`]).
    latency: [Histogram<u64>; 3],
    /// Refused or failed commands in the window, by step and status code (or
    /// `unexpected-response`).
    pub errors: BTreeMap<(Step, String), u64>,
    /// Failed commands during the warm-up.
    pub warm_up_errors: u64,
    /// Lifecycles completed (fulfilled) in the window.
    pub fulfilled: u64,
    /// When the last recorded command finished.
    pub last_finish: Option<Instant>,
}

impl Tally {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            latency: [new_histogram()?, new_histogram()?, new_histogram()?],
            errors: BTreeMap::new(),
            warm_up_errors: 0,
            fulfilled: 0,
            last_finish: None,
        })
    }

    fn merge(&mut self, other: Self) -> anyhow::Result<()> {
        for (mine, theirs) in self.latency.iter_mut().zip(&other.latency) {
            mine.add(theirs).context("merging latency histograms")?;
        }
        for (key, count) in other.errors {
            *self.errors.entry(key).or_default() += count;
        }
        self.warm_up_errors += other.warm_up_errors;
        self.fulfilled += other.fulfilled;
        self.last_finish = self.last_finish.max(other.last_finish);
        Ok(())
    }

    /// The latencies of one step's successful commands.
    pub fn step(&self, step: Step) -> &Histogram<u64> {
        &self.latency[step.index()]
    }

    /// The latencies of every successful command.
    pub fn overall(&self) -> anyhow::Result<Histogram<u64>> {
        let mut all = new_histogram()?;
        for histogram in &self.latency {
            all.add(histogram).context("merging latency histograms")?;
        }
        Ok(all)
    }

    /// Successful commands in the window.
    pub fn commands(&self) -> u64 {
        self.latency.iter().map(Histogram::len).sum()
    }

    fn record(&mut self, step: Step, started: Instant, finished: Instant) {
        let micros =
            u64::try_from(finished.duration_since(started).as_micros()).unwrap_or(u64::MAX);
        self.latency[step.index()].saturating_record(micros.max(1));
        self.last_finish = self.last_finish.max(Some(finished));
    }

    fn fail(&mut self, step: Step, what: String, measured: bool) {
        if measured {
            *self.errors.entry((step, what)).or_default() += 1;
        } else {
            self.warm_up_errors += 1;
        }
    }
}

/// Runs `clients` clients until `window.until`: client `c` talks over `channels[c % len]` on
/// `links[c % len]`.
pub async fn run(
    clients: usize,
    channels: &[Channel],
    links: &[LinkUnderTest],
    window: Window,
) -> anyhow::Result<Tally> {
    anyhow::ensure!(
        !channels.is_empty() && !links.is_empty(),
        "no channel or link"
    );
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let channel = channels[c % channels.len()].clone();
            let link = links[c % links.len()].clone();
            tokio::spawn(client(channel, link, window))
        })
        .collect();
    let mut tally = Tally::new()?;
    for task in tasks {
        tally.merge(task.await.context("a client task panicked")??)?;
    }
    Ok(tally)
}

/// What became of one command.
enum Outcome<T> {
    Done(T),
    Failed,
    Stop,
}

/// One client: lifecycle after lifecycle until the window ends.
async fn client(channel: Channel, link: LinkUnderTest, window: Window) -> anyhow::Result<Tally> {
    let mut api = InternalRequestServiceClient::new(channel);
    let mut tally = Tally::new()?;
    loop {
        let now = Utc::now();
        let open = pb::OpenRequestRequest {
            idempotency_key: fresh_key(),
            provider_team_id: link.provider_team_id.clone(),
            title: "Bench request".to_owned(),
            needed_by: Some(chain_proto::timestamp::from_datetime(now + NEEDED_IN)),
            parent: None,
        };
        let opened = match timed(
            &mut tally,
            window,
            Step::Open,
            api.open_request(acting(&link.consumer, open)),
            |r| r.state() == pb::RequestState::Opened,
        )
        .await
        {
            Outcome::Done(opened) => opened,
            Outcome::Failed => {
                tokio::time::sleep(PAUSE_AFTER_ERROR).await;
                continue;
            }
            Outcome::Stop => break,
        };

        let commit = pb::CommitRequestRequest {
            idempotency_key: fresh_key(),
            request_id: opened.request_id.clone(),
            expected_version: opened.version,
            due_at: Some(chain_proto::timestamp::from_datetime(now + DUE_IN)),
            kind: pb::CommitmentKind::OrganisationalCommitment.into(),
        };
        let committed = match timed(
            &mut tally,
            window,
            Step::Commit,
            api.commit_request(acting(&link.provider, commit)),
            |r| r.state() == pb::RequestState::Committed,
        )
        .await
        {
            Outcome::Done(committed) => committed,
            Outcome::Failed => {
                tokio::time::sleep(PAUSE_AFTER_ERROR).await;
                continue;
            }
            Outcome::Stop => break,
        };

        let fulfil = pb::FulfilRequestRequest {
            idempotency_key: fresh_key(),
            request_id: opened.request_id,
            expected_version: committed.version,
        };
        let started = Instant::now();
        match timed(
            &mut tally,
            window,
            Step::Fulfil,
            api.fulfil_request(acting(&link.provider, fulfil)),
            |r| r.state() == pb::RequestState::Fulfilled,
        )
        .await
        {
            Outcome::Done(_) => {
                if started >= window.measure_from {
                    tally.fulfilled += 1;
                }
            }
            Outcome::Failed => tokio::time::sleep(PAUSE_AFTER_ERROR).await,
            Outcome::Stop => break,
        }
    }
    Ok(tally)
}

/// Runs one command unless the window is over, records its latency (once the warm-up is
/// over), and checks the response with `expected`.
async fn timed<F>(
    tally: &mut Tally,
    window: Window,
    step: Step,
    call: F,
    expected: impl Fn(&pb::InternalRequest) -> bool,
) -> Outcome<pb::InternalRequest>
where
    F: Future<Output = Result<tonic::Response<pb::InternalRequest>, tonic::Status>>,
{
    let started = Instant::now();
    if started >= window.until {
        return Outcome::Stop;
    }
    let result = call.await;
    let finished = Instant::now();
    let measured = started >= window.measure_from;
    match result {
        Ok(response) => {
            let request = response.into_inner();
            if !expected(&request) {
                tally.fail(step, "unexpected-response".to_owned(), measured);
                return Outcome::Failed;
            }
            if measured {
                tally.record(step, started, finished);
            }
            Outcome::Done(request)
        }
        Err(status) => {
            tally.fail(step, format!("{:?}", status.code()), measured);
            Outcome::Failed
        }
    }
}

/// `message` as a call made by the team `actor`.
fn acting<M>(actor: &AsciiMetadataValue, message: M) -> tonic::Request<M> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert(ACTOR_METADATA_KEY, actor.clone());
    request
}

fn fresh_key() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).context("creating a latency histogram")
}
