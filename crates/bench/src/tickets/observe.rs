//! Which ticket is in which turn, and how each turn is seen through: the [`Board`] hands out
//! free tickets to the pacer, learns when the revision committed (the RPC's return), when
//! `WatchTickets` showed the ticket's reaction, and when `GetTicket` confirmed the new state;
//! the latency of a turn runs from its commit to that confirmation.
//!
//! A ticket has one turn in flight at a time: it goes back on the free list only once its
//! new state is confirmed (or its revision failed), so every watch event names one turn. A
//! sweep polls any turn the watch has not shown after [`SWEEP_AFTER`] (counted as missed by
//! the watch, its latency taken at the poll), so a lost event shows in the figures instead of
//! silently stalling a ticket.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use chain_proto::customerchain::v1 as pb;
use chain_proto::customerchain::v1::ticket_service_client::TicketServiceClient;
use hdrhistogram::Histogram;
use tokio::time::Instant;
use tonic::transport::Channel;

use super::as_bench;

/// The event types that end a turn.
const PROMISE_AT_RISK: &str = "customerchain.v1.PromiseAtRisk";
const PROMISE_RISK_CLEARED: &str = "customerchain.v1.PromiseRiskCleared";
/// A turn the watch has not shown after this long is confirmed by polling.
pub const SWEEP_AFTER: Duration = Duration::from_secs(15);
/// How long a confirmation polls `GetTicket` before it gives up.
const CONFIRM_LIMIT: Duration = Duration::from_secs(30);
/// Pause between `GetTicket` reads after the watch showed the reaction (the first read
/// should already see it: the reaction is committed before the watch can show it).
const WATCHED_PAUSE: Duration = Duration::from_millis(5);
/// Pause between `GetTicket` reads of a turn the watch did not show: slow, so that polling
/// does not become the load.
const SWEPT_PAUSE: Duration = Duration::from_millis(200);
/// The largest latency the histograms hold, in microseconds (2 minutes).
const LATENCY_MAX_US: u64 = 120_000_000;

/// What a turn does to its ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    /// A late revision: the promise goes at risk.
    AtRisk,
    /// An early revision: the risk clears.
    Cleared,
}

impl Turn {
    /// The ticket's state once the turn is through.
    fn state(self) -> pb::TicketState {
        match self {
            Self::AtRisk => pb::TicketState::AtRisk,
            Self::Cleared => pb::TicketState::Promised,
        }
    }

    fn of_event(event_type: &str) -> Option<Self> {
        match event_type {
            PROMISE_AT_RISK => Some(Self::AtRisk),
            PROMISE_RISK_CLEARED => Some(Self::Cleared),
            _ => None,
        }
    }
}

/// What one phase measured.
pub struct Tally {
    /// Revisions sent in the measured window.
    pub sent: u64,
    /// Of those, revisions committed.
    pub committed: u64,
    /// Scheduled sends with no free ticket (every ticket still had a turn in flight).
    pub starved: u64,
    /// Failed revisions and confirmations, by gRPC code or cause (measured window).
    pub errors: BTreeMap<String, u64>,
    /// Turns the watch never showed, confirmed by the sweep.
    pub missed_by_watch: u64,
    /// `ReviseRequest` round trips, µs.
    pub rpc: Histogram<u64>,
    /// Commit → `GetTicket` shows AT_RISK, µs.
    pub at_risk: Histogram<u64>,
    /// Commit → `WatchTickets` delivers the `PromiseAtRisk`, µs.
    pub at_risk_watched: Histogram<u64>,
    /// Commit → `GetTicket` shows PROMISED again, µs.
    pub cleared: Histogram<u64>,
}

impl Tally {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            sent: 0,
            committed: 0,
            starved: 0,
            errors: BTreeMap::new(),
            missed_by_watch: 0,
            rpc: histogram()?,
            at_risk: histogram()?,
            at_risk_watched: histogram()?,
            cleared: histogram()?,
        })
    }

    /// Turns confirmed in the measured window.
    pub fn confirmed(&self) -> u64 {
        self.at_risk.len() + self.cleared.len()
    }
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).context("creating a latency histogram")
}

/// One turn in flight.
struct Flight {
    case: usize,
    turn: Turn,
    measured: bool,
    committed: Option<Instant>,
    watched: Option<Instant>,
    confirmed: Option<Instant>,
}

struct State {
    free: VecDeque<usize>,
    at_risk: Vec<bool>,
    tickets: Vec<String>,
    flights: HashMap<String, Flight>,
    tally: Tally,
}

/// The shared record of turns; cheap to clone.
#[derive(Clone)]
pub struct Board {
    state: Arc<Mutex<State>>,
}

impl Board {
    /// A board for `tickets` (case order), all promised and free.
    pub fn new(tickets: Vec<String>) -> anyhow::Result<Self> {
        Ok(Self {
            state: Arc::new(Mutex::new(State {
                free: (0..tickets.len()).collect(),
                at_risk: vec![false; tickets.len()],
                tickets,
                flights: HashMap::new(),
                tally: Tally::new()?,
            })),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicked holder leaves consistent counters: keep measuring.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A free ticket's case and its next turn, now in flight; `None` (counted as starved when
    /// `measured`) when every ticket is busy.
    pub fn take(&self, measured: bool) -> Option<(usize, Turn)> {
        let mut state = self.lock();
        let Some(case) = state.free.pop_front() else {
            if measured {
                state.tally.starved += 1;
            }
            return None;
        };
        let turn = if state.at_risk[case] {
            Turn::Cleared
        } else {
            Turn::AtRisk
        };
        if measured {
            state.tally.sent += 1;
        }
        let ticket = state.tickets[case].clone();
        state.flights.insert(
            ticket,
            Flight {
                case,
                turn,
                measured,
                committed: None,
                watched: None,
                confirmed: None,
            },
        );
        Some((case, turn))
    }

    /// The revision of `case` returned after `rpc`: committed, or failed with `error`.
    pub fn committed(&self, case: usize, rpc: Duration, error: Option<String>) {
        let now = Instant::now();
        let mut state = self.lock();
        let ticket = state.tickets[case].clone();
        let Some(flight) = state.flights.get_mut(&ticket) else {
            return;
        };
        let measured = flight.measured;
        match error {
            None => {
                flight.committed = Some(now);
                if measured {
                    state.tally.committed += 1;
                    record(&mut state.tally.rpc, rpc);
                }
                state.finish_if_done(&ticket);
            }
            Some(code) => {
                state.flights.remove(&ticket);
                state.free.push_back(case);
                if measured {
                    *state.tally.errors.entry(code).or_default() += 1;
                }
            }
        }
    }

    /// The watch showed `ticket`'s event of `event_type`: whether it ends a turn in flight
    /// (then confirm it).
    fn watched(&self, ticket: &str, event_type: &str) -> Option<Turn> {
        let turn = Turn::of_event(event_type)?;
        let mut state = self.lock();
        let flight = state.flights.get_mut(ticket)?;
        if flight.turn != turn || flight.watched.is_some() {
            return None;
        }
        flight.watched = Some(Instant::now());
        Some(turn)
    }

    /// `GetTicket` showed `ticket` in its turn's state.
    fn confirmed(&self, ticket: &str) {
        let mut state = self.lock();
        if let Some(flight) = state.flights.get_mut(ticket) {
            flight.confirmed = Some(Instant::now());
            state.finish_if_done(ticket);
        }
    }

    /// A confirmation gave up: the ticket is freed as it is, the turn counted as an error.
    fn unconfirmed(&self, ticket: &str, why: &str) {
        let mut state = self.lock();
        if let Some(flight) = state.flights.remove(ticket) {
            state.free.push_back(flight.case);
            if flight.measured {
                *state.tally.errors.entry(why.to_owned()).or_default() += 1;
            }
        }
    }

    /// Committed turns the watch has not shown after [`SWEEP_AFTER`]; marked as watched, so
    /// the caller confirms each once.
    fn overdue(&self) -> Vec<(String, Turn)> {
        let now = Instant::now();
        let mut state = self.lock();
        let mut overdue = Vec::new();
        let mut missed = 0;
        for (ticket, flight) in &mut state.flights {
            let late = flight
                .committed
                .is_some_and(|at| now.duration_since(at) > SWEEP_AFTER);
            if late && flight.watched.is_none() {
                flight.watched = Some(now);
                overdue.push((ticket.clone(), flight.turn));
                if flight.measured {
                    missed += 1;
                }
            }
        }
        state.tally.missed_by_watch += missed;
        overdue
    }

    /// Turns still in flight.
    pub fn in_flight(&self) -> usize {
        self.lock().flights.len()
    }

    /// The phase's tally, leaving a fresh one for the next phase.
    pub fn take_tally(&self) -> anyhow::Result<Tally> {
        Ok(std::mem::replace(&mut self.lock().tally, Tally::new()?))
    }
}

impl State {
    /// Records and frees a turn once both its commit and its confirmation are known (the
    /// confirmation may come first when the RPC's response is slower than the pipeline).
    fn finish_if_done(&mut self, ticket: &str) {
        let Some(flight) = self.flights.get(ticket) else {
            return;
        };
        let (Some(committed), Some(confirmed)) = (flight.committed, flight.confirmed) else {
            return;
        };
        let Some(flight) = self.flights.remove(ticket) else {
            return;
        };
        if flight.measured {
            let latency = confirmed.saturating_duration_since(committed);
            match flight.turn {
                Turn::AtRisk => {
                    record(&mut self.tally.at_risk, latency);
                    if let Some(watched) = flight.watched {
                        record(
                            &mut self.tally.at_risk_watched,
                            watched.saturating_duration_since(committed),
                        );
                    }
                }
                Turn::Cleared => record(&mut self.tally.cleared, latency),
            }
        }
        self.at_risk[flight.case] = flight.turn == Turn::AtRisk;
        self.free.push_back(flight.case);
    }
}

fn record(histogram: &mut Histogram<u64>, latency: Duration) {
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.clamp(1, LATENCY_MAX_US));
}

/// Follows `WatchTickets` (live events only) and confirms each turn it shows; subscribes
/// again when the stream ends or fails (the sweep covers the gap). Runs until aborted.
pub async fn watch(tickets: Channel, board: Board) {
    let client = TicketServiceClient::new(tickets);
    loop {
        match follow(&client, &board).await {
            Ok(()) => eprintln!("tickets-bench: the watch ended; subscribing again"),
            Err(error) => {
                eprintln!("tickets-bench: the watch failed ({error:#}); subscribing again")
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Follows `WatchTickets` (live events only) and drops what it shows, as a dashboard beside the
/// bench would read it; subscribes again when the stream ends. Runs until aborted.
pub async fn drain(tickets: Channel) {
    let mut client = TicketServiceClient::new(tickets);
    loop {
        let watch = client
            .watch_tickets(as_bench(pb::WatchTicketsRequest {
                live_only: true,
                ..pb::WatchTicketsRequest::default()
            }))
            .await;
        if let Ok(stream) = watch {
            let mut stream = stream.into_inner();
            while let Ok(Some(_)) = stream.message().await {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn follow(client: &TicketServiceClient<Channel>, board: &Board) -> anyhow::Result<()> {
    let mut stream = client
        .clone()
        .watch_tickets(as_bench(pb::WatchTicketsRequest {
            live_only: true,
            ..pb::WatchTicketsRequest::default()
        }))
        .await
        .context("WatchTickets")?
        .into_inner();
    while let Some(message) = stream.message().await.context("the watch stream")? {
        let Some(event) = message.event else {
            continue;
        };
        if let Some(turn) = board.watched(&event.aggregate_id, &event.event_type) {
            tokio::spawn(confirm(
                client.clone(),
                board.clone(),
                event.aggregate_id,
                turn,
                WATCHED_PAUSE,
            ));
        }
    }
    Ok(())
}

/// Polls every turn the watch has not shown in time (see [`SWEEP_AFTER`]).
pub async fn sweep(tickets: Channel, board: Board) {
    let client = TicketServiceClient::new(tickets);
    loop {
        tokio::time::sleep(SWEEP_AFTER / 4).await;
        for (ticket, turn) in board.overdue() {
            tokio::spawn(confirm(
                client.clone(),
                board.clone(),
                ticket,
                turn,
                SWEPT_PAUSE,
            ));
        }
    }
}

/// Reads the ticket until it shows the turn's state, `pause` between reads.
async fn confirm(
    mut client: TicketServiceClient<Channel>,
    board: Board,
    ticket_id: String,
    turn: Turn,
    pause: Duration,
) {
    let start = Instant::now();
    loop {
        match client
            .get_ticket(as_bench(pb::GetTicketRequest {
                ticket_id: ticket_id.clone(),
            }))
            .await
        {
            Ok(ticket) if ticket.get_ref().state() == turn.state() => {
                board.confirmed(&ticket_id);
                return;
            }
            Ok(_) => {}
            Err(status) => {
                board.unconfirmed(&ticket_id, &format!("GetTicket {:?}", status.code()));
                return;
            }
        }
        if start.elapsed() > CONFIRM_LIMIT {
            eprintln!(
                "tickets-bench: ticket {ticket_id} never showed {:?}",
                turn.state()
            );
            board.unconfirmed(&ticket_id, "GetTicket never showed the new state");
            return;
        }
        tokio::time::sleep(pause).await;
    }
}
