//! The chain view: what the internal chain behind each ticket can do, from the requests
//! service's events, and the ticket's reaction when it changes.
//!
//! [`ChainView`] is a [`Handler`] on requests-svc's stream (`<ROOT>_REQUESTS`, filter
//! `<root>.v1.requests.request.>`). In the consumer's inbox transaction (so exactly once, and
//! in order within each request):
//!
//! 1. first, for all the transaction's events together: a request of a case rooted at a
//!    ticket is followed from its `RequestOpened` on (`chain_requests`), its events are kept
//!    (`chain_request_events`) and its case's versions read, in one statement, which also
//!    carries the consumer's admission of the batch and reads the cases' customers' standings;
//!    requests of cases rooted at an internal request are none of this service's business and
//!    are skipped;
//!
//! then for each event:
//!
//! 2. the event is folded onto the case as the chain view left it (`memory`; the whole case
//!    is read and folded again when the remembered one disagrees with the versions the
//!    database holds), the domain's `CaseView` is computed over the whole tree
//!    ([`case::TicketCase`]), and what the tree says is written back: each request's
//!    projection and risk, the ticket's projected completion, earliest feasible time and
//!    critical link (`ticket_chains`), at the transaction's end for all its cases in one
//!    statement;
//! 3. when the outlook of a request serving the ticket changed (it went at risk, was revised
//!    past the promise, breached, broke down, or recovered), `ObserveChain` is decided on the
//!    ticket and its events (a `TicketChainObserved`, then any `PromiseAtRisk` or
//!    `PromiseRiskCleared`) appended in the same transaction, with causation id = the request
//!    event's id, correlation id = the ticket id and actor `tickets-svc`. A ticket changed
//!    concurrently is a version conflict: the transaction rolls back and the consumer retries.
//!
//! Events of different requests may arrive in any order, and an event may arrive twice: the
//! inbox drops the repeat, and since the outlook is computed from the whole tree as known so
//! far (its version growing with every event below it), the ticket ends in the same state.

pub mod case;
pub(crate) mod memory;
pub(crate) mod tables;

use chain_consumer::{BatchAdmission, ConsumerConfig, Handler, HandlerError, PendingCounts};
use std::sync::Arc;

use chain_domain::customer::CustomerStanding;
use chain_domain::ids::{CustomerId, RequestId, TicketId};
use chain_domain::request::RequestEvent;
use chain_domain::ticket::{TicketEvent, TicketState};
use chain_proto::customerchain::v1 as pb;
use chain_proto::customerchain::v1::EventEnvelope;
use chain_requests::codec::{RequestStreamDecoder, StoredEvent};
use chain_rpc::clock;
use chain_store::{EventMetadata, EventStore, PendingAppends, StoreError};
use prost::Name;
use sqlx::PgConnection;
use uuid::Uuid;

pub use tables::{ChainSummary, chain_and_standing};

use crate::record::{Context, encode_batch, observe_chain};
use crate::streams::{LoadError, load_ticket, ticket_stream};
use crate::{SERVICE_ACTOR, tiers};
use case::{CaseError, TicketCase};
use memory::{FoldedCase, Memory};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tables::{CaseRows, CaseVersions, StreamMark};

/// The durable consumer name of the chain view (also the key of its inbox rows).
pub const CHAIN_VIEW_NAME: &str = "tickets-chain-view";

/// The consumer settings of the chain view on requests-svc's stream under `layout`: every
/// event of every request stream (whole streams, as the consumer's ordering needs).
///
/// One lane: on 2 cores, four lanes (split by case, the ticket) ran more, smaller transactions
/// for the same events and cost latency (`tickets-bench` at 1,000 request events/s: p99
/// 32–53 ms with one lane, 144–149 ms with four). Raise it where the database has cores to
/// spare for transactions side by side.
pub fn chain_view_config(layout: &chain_bus::BusLayout) -> ConsumerConfig {
    ConsumerConfig::new(
        CHAIN_VIEW_NAME,
        layout.stream_name(crate::REQUESTS_SERVICE),
        format!("{}.v1.{}.request.>", layout.root(), crate::REQUESTS_SERVICE),
    )
    .with_lanes(CHAIN_VIEW_LANES)
}

/// Transactions the chain view runs at once; see [`chain_view_config`].
pub const CHAIN_VIEW_LANES: usize = 1;

/// Follows the cases rooted at tickets and tells each ticket what its chain can do; run it
/// with [`chain_consumer::EventConsumer`] and [`chain_view_config`].
#[derive(Clone, Debug)]
pub struct ChainView {
    store: EventStore,
    memory: Arc<Memory>,
    counts: Arc<PendingCounts>,
}

impl ChainView {
    /// A chain view appending to `store` (the tickets service's own).
    pub fn new(store: EventStore) -> Self {
        Self {
            store,
            memory: Arc::default(),
            counts: Arc::default(),
        }
    }

    /// The case with the event of `request` at `version` folded in: the remembered case when
    /// it agrees with the database (`versions`, as the transaction holds them), else the case
    /// read again up to the event (kept at [`Handler::prepare`]).
    async fn fold(
        &self,
        tx: &mut PgConnection,
        versions: &CaseVersions,
        (request, version): (RequestId, u64),
        stored: StoredEvent<'_>,
    ) -> Result<FoldedCase, HandlerError> {
        let (ticket, committed) = (versions.ticket, &versions.requests);
        if i64::try_from(committed.len()).unwrap_or(i64::MAX) > case::MAX_CASE_REQUESTS {
            return Err(HandlerError::Poison(
                CaseError::TooLarge(ticket).to_string(),
            ));
        }
        if let Some(mut folded) = self.memory.case(ticket, committed) {
            folded.apply(request, stored).map_err(poison)?;
            return Ok(folded);
        }
        tracing::debug!(%ticket, ?committed, remembered = ?self.memory.versions(ticket), "chain view memory miss");
        let mut upto = committed.clone();
        upto.insert(request, version);
        case::fold_case(tx, ticket, Some(&upto))
            .await
            .map_err(|error| match error {
                CaseError::Database(error) => HandlerError::from(error),
                other => HandlerError::Poison(other.to_string()),
            })
    }

    /// Folds the event into its case, writes what the tree says and tells the ticket;
    /// remembers the case and the ticket as they are after it.
    async fn react(
        &self,
        tx: &mut PgConnection,
        versions: &CaseVersions,
        request: RequestId,
        stored: StoredEvent<'_>,
        cause: &EventEnvelope,
        pending: &mut PendingCases,
    ) -> Result<(), HandlerError> {
        let ticket = versions.ticket;
        let event = (request, cause.aggregate_version);
        let FoldedCase { states, decoders } = self.fold(tx, versions, event, stored).await?;
        let now = clock::now();
        let case = TicketCase::from_states(ticket, states, now);
        pending.cases.insert(ticket, CaseRows::of(&case, now));
        let ticket_at = self.ticket_state(ticket, versions.ticket_at).await?;
        let told = self
            .tell_ticket(tx, &case, ticket_at, cause, pending)
            .await?;
        self.memory.remember_case(
            ticket,
            FoldedCase {
                states: case.states,
                decoders,
            },
        );
        if let Some((state, last_event)) = told {
            let at = StreamMark {
                version: state.version,
                last_event,
            };
            pending.tickets.insert(ticket, at);
            self.memory.remember_ticket(ticket, state, last_event);
        }
        Ok(())
    }

    /// The ticket as its stream stands (`at`), with its last event id: remembered, else folded
    /// from its stream.
    async fn ticket_state(
        &self,
        ticket: TicketId,
        at: StreamMark,
    ) -> Result<(TicketState, Option<Uuid>), HandlerError> {
        if let Some(state) = self.memory.ticket(ticket, at) {
            return Ok((state, at.last_event));
        }
        let loaded = load_ticket(&self.store, ticket).await.map_err(load_error)?;
        let last_event = loaded.recorded.last().map(|event| event.event_id);
        Ok((loaded.state, last_event))
    }

    /// Tells the ticket of `case`, as it is (`state`, after its event `last_event`), what
    /// changed, on `tx`; `cause` is the request event. Returns the ticket's state and last
    /// event after it (`None` while the ticket is unknown here).
    async fn tell_ticket(
        &self,
        tx: &mut PgConnection,
        case: &TicketCase,
        (state, last_event): (TicketState, Option<Uuid>),
        cause: &EventEnvelope,
        pending: &mut PendingCases,
    ) -> Result<Option<(TicketState, Option<Uuid>)>, HandlerError> {
        let Some(ticket) = state.ticket.as_ref() else {
            // The ticket is not (yet) known here: MakePromise catches up with the chain.
            return Ok(None);
        };
        let span = tracing::Span::current();
        span.record("chain.ticket_id", tracing::field::display(case.ticket_id));
        span.record("chain.case_id", tracing::field::display(case.ticket_id));
        let now = clock::now();
        // Most request events change nothing the ticket knows (requests-svc's own reactions,
        // for one): decided first with the standing the ticket holds, which only fills the
        // events in, the customer's current standing is read only when there is something to
        // record.
        let (events, _) = observe(&state, case, ticket.standing, now)?;
        if events.is_empty() {
            span.record("chain.customer_tier", ticket.standing.tier.as_str());
            return Ok(Some((state, last_event)));
        }
        let standing = match pending.standings.get(&ticket.customer_id) {
            Some(standing) => *standing,
            None => {
                let read = tiers::standing(tx, ticket.customer_id)
                    .await?
                    .unwrap_or(ticket.standing);
                pending.standings.insert(ticket.customer_id, read);
                read
            }
        };
        span.record("chain.customer_tier", standing.tier.as_str());
        let events = if standing == ticket.standing {
            events
        } else {
            observe(&state, case, standing, now)?.0
        };
        let context = Context {
            case: Some(case),
            source_event_id: cause.event_id.clone(),
            ..Context::default()
        };
        let batch = encode_batch(&state, &events, &context);
        // The ticket's reaction continues the trace under the span that handles the request
        // event (itself a child of the event's trace), so the trace shows each hop; its baggage
        // adds the customer's tier to the case, for every service downstream.
        let ticket_id = case.ticket_id.to_string();
        let trace =
            chain_telemetry::TraceContext::of(&chain_telemetry::propagation::with_case_baggage(
                &chain_telemetry::propagation::current_context(),
                &ticket_id,
                standing.tier.as_str(),
            ))
            .or_else(|| chain_bus::stored_trace(cause))
            .unwrap_or_default();
        let metadata = EventMetadata::new(&ticket_id, &cause.event_id, SERVICE_ACTOR).traced(
            &trace.traceparent,
            &trace.tracestate,
            &trace.baggage,
        );
        // Written with the transaction's other reactions at its end (`flush`).
        pending
            .appends
            .push(
                &ticket_stream(case.ticket_id),
                state.version,
                &batch.events,
                &metadata,
            )
            .map_err(conflict)?;
        for event in &events {
            if let TicketEvent::PromiseAtRisk { standing, .. } = event {
                tracing::info!(chain.ticket_id = %case.ticket_id, chain.customer_tier = standing.tier.as_str(), "promise at risk");
                self.counts.add("chain_promises_at_risk_total", 1);
            }
        }
        tracing::debug!(ticket_id = %case.ticket_id, events = batch.events.len(), "ticket observed its chain");
        let last_event = batch.events.last().map(|event| event.event_id);
        Ok(Some((batch.state, last_event)))
    }
}

/// A ticket that moved since the chain view read it: the transaction rolls back and the
/// consumer retries.
fn conflict(error: StoreError) -> HandlerError {
    match error {
        StoreError::Conflict { stream, .. } => HandlerError::Transient(format!(
            "{stream} changed while observing its chain; retrying"
        )),
        other => HandlerError::Transient(other.to_string()),
    }
}

/// What the chain view holds over one transaction. Read as it began ([`ChainView::prepare`]):
/// which of its requests are followed, and what the database held of their cases. Gathered as
/// its events are handled: the latest rows of each case, in ticket order (so two transactions
/// lock rows in the same order), written at its end and seen by its later events instead of
/// the tables; the tickets' reactions, appended at its end, and where they leave the tickets'
/// streams; the customers' standings read (the several reactions of one turn read their
/// customer once).
#[derive(Debug, Default)]
pub struct PendingCases {
    followed: HashMap<RequestId, TicketId>,
    read: HashMap<TicketId, CaseVersions>,
    cases: BTreeMap<TicketId, CaseRows>,
    appends: PendingAppends,
    tickets: HashMap<TicketId, StreamMark>,
    standings: HashMap<CustomerId, CustomerStanding>,
}

impl PendingCases {
    /// Takes what the database holds of `cases` (read at [`ChainView::prepare`]).
    fn read(&mut self, cases: Vec<CaseVersions>) {
        for case in cases {
            for request in case.requests.keys() {
                self.followed.insert(*request, case.ticket);
            }
            self.read.insert(case.ticket, case);
        }
    }

    /// The case `request` belongs to as it stands in this transaction: the versions read, with
    /// those of rows still waiting here and of the ticket's reactions written over them.
    /// `None` when the chain view does not follow `request`.
    fn case_of(&self, request: RequestId) -> Option<CaseVersions> {
        let ticket = self.followed.get(&request)?;
        let mut versions = self.read.get(ticket)?.clone();
        if let Some(rows) = self.cases.get(ticket) {
            for (request, version) in rows.versions() {
                if let Some(held) = versions.requests.get_mut(&request) {
                    *held = version;
                }
            }
        }
        if let Some(at) = self.tickets.get(ticket) {
            versions.ticket_at = *at;
        }
        Some(versions)
    }
}

impl Handler for ChainView {
    type Pending = PendingCases;

    /// Records the requests the events open in cases rooted at tickets, then keeps the events
    /// of every followed request and reads their cases, in one statement for them all.
    async fn prepare(
        &self,
        tx: &mut PgConnection,
        events: &[&EventEnvelope],
        pending: &mut PendingCases,
    ) -> Result<(), HandlerError> {
        let kept = open_and_list(tx, events).await?;
        if !kept.is_empty() {
            pending.read(tables::keep_events(tx, &kept).await?);
        }
        // Several cases: their customers' standings in one read, where each reaction would
        // read its own (one case reads it only if it reacts).
        let customers: BTreeSet<CustomerId> = pending
            .read
            .keys()
            .filter_map(|ticket| self.memory.customer_of(*ticket))
            .collect();
        if customers.len() > 1 {
            let customers: Vec<CustomerId> = customers.into_iter().collect();
            pending
                .standings
                .extend(tiers::standings(tx, &customers).await?);
        }
        Ok(())
    }

    /// [`Handler::prepare`] with the batch's admission and the cases' standings carried in
    /// the statement keeping the events: at 2,000 request events a second each statement of
    /// the transaction waited about 1.7 ms for a loaded machine's turn, and these were three.
    async fn admit_and_prepare(
        &self,
        tx: &mut PgConnection,
        events: &[&EventEnvelope],
        admission: BatchAdmission<'_>,
        pending: &mut PendingCases,
    ) -> Result<bool, HandlerError> {
        let kept = open_and_list(tx, events).await?;
        if kept.is_empty() {
            return Ok(admission.run(tx).await?);
        }
        let Some(read) = tables::admit_and_keep(tx, admission, &kept).await? else {
            return Ok(false);
        };
        pending.read(read.cases);
        pending.standings.extend(read.standings);
        Ok(true)
    }

    async fn handle(
        &self,
        tx: &mut PgConnection,
        envelope: &EventEnvelope,
        pending: &mut PendingCases,
    ) -> Result<(), HandlerError> {
        let Some((request_id, _, stored)) = request_event(envelope)? else {
            return Ok(());
        };
        tracing::Span::current().record("chain.request_id", tracing::field::display(request_id));
        let Some(versions) = pending.case_of(request_id) else {
            // A request of a case rooted at an internal request: none of this view's business.
            return Ok(());
        };
        let reacted = self
            .react(tx, &versions, request_id, stored, envelope, pending)
            .await;
        if reacted.is_err() {
            // The transaction rolls back: what was remembered of this ticket may be ahead.
            self.memory.forget(versions.ticket);
        }
        reacted
    }

    async fn flush(
        &self,
        tx: &mut PgConnection,
        pending: PendingCases,
    ) -> Result<(), HandlerError> {
        let cases: Vec<&CaseRows> = pending.cases.values().collect();
        if pending.appends.is_empty() {
            tables::save_cases(tx, &cases).await?;
            return Ok(());
        }
        // The cases' rows ride on the reactions' statement: one round trip for both.
        let rider = tables::cases_rider(&cases);
        if let Err(error) = pending.appends.write_with(&mut *tx, rider).await {
            // The transaction rolls back: what was remembered of these tickets is ahead.
            for ticket in pending.tickets.keys() {
                self.memory.forget(*ticket);
            }
            return Err(conflict(error));
        }
        Ok(())
    }

    fn after_commit(&self) {
        // The ticket's reaction was appended in the consumer's transaction: wake the relay.
        self.store.signal_appended();
        self.counts.publish();
    }

    fn after_rollback(&self) {
        self.counts.discard();
    }
}

/// A request event's request, event id and stored form; `None` for an event of another
/// aggregate.
fn request_event(
    envelope: &EventEnvelope,
) -> Result<Option<(RequestId, Uuid, StoredEvent<'_>)>, HandlerError> {
    if envelope.aggregate_type != "request" {
        return Ok(None);
    }
    let stored = StoredEvent::from_envelope(envelope).map_err(poison)?;
    let request: RequestId = envelope
        .aggregate_id
        .parse()
        .map_err(|e| HandlerError::Poison(format!("bad request id: {e}")))?;
    let event_id = Uuid::parse_str(&envelope.event_id)
        .map_err(|e| HandlerError::Poison(format!("bad event id: {e}")))?;
    Ok(Some((request, event_id, stored)))
}

/// The request events among `events`, ready to keep, after recording the requests they open
/// in cases rooted at tickets (so that their events are kept with the rest).
async fn open_and_list<'e>(
    tx: &mut PgConnection,
    events: &[&'e EventEnvelope],
) -> Result<Vec<tables::Kept<'e>>, HandlerError> {
    let mut kept = Vec::with_capacity(events.len());
    for envelope in events {
        let Some((request, event_id, stored)) = request_event(envelope)? else {
            continue;
        };
        if stored.event_type == pb::RequestOpened::full_name() {
            insert_opened(tx, request, stored).await?;
        }
        kept.push(tables::Kept {
            request,
            version: envelope.aggregate_version,
            event_id,
            stored,
        });
    }
    Ok(kept)
}

/// Records `request`, opened by `stored`, when its case is rooted at a ticket; a case rooted at
/// an internal request is none of this view's business.
async fn insert_opened(
    tx: &mut PgConnection,
    request: RequestId,
    stored: StoredEvent<'_>,
) -> Result<(), HandlerError> {
    let event = RequestStreamDecoder::new().decode(stored).map_err(poison)?;
    let RequestEvent::Opened {
        case_id,
        consumer,
        provider,
        needed_by,
        parent,
        ..
    } = event
    else {
        return Err(HandlerError::Poison(
            "RequestOpened decoded as another event".into(),
        ));
    };
    let Some(ticket) = case_id.ticket() else {
        return Ok(());
    };
    let opened = tables::Opened {
        request_id: request,
        ticket_id: ticket,
        parent,
        consumer: consumer.as_uuid(),
        provider: provider.as_uuid(),
        needed_by,
    };
    tables::insert_request(tx, &opened).await?;
    Ok(())
}

/// [`observe_chain`], a refusal being poison (only a corrupt ticket refuses its own chain).
fn observe(
    state: &TicketState,
    case: &TicketCase,
    standing: CustomerStanding,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Vec<TicketEvent>, TicketState), HandlerError> {
    observe_chain(state, case, standing, now)
        .map_err(|refusal| HandlerError::Poison(format!("ObserveChain refused: {refusal}")))
}

fn poison(error: impl std::fmt::Display) -> HandlerError {
    HandlerError::Poison(error.to_string())
}

/// A store failure is worth retrying; undecodable history never gets better.
pub(crate) fn load_error(error: LoadError) -> HandlerError {
    match error {
        LoadError::Store(error) => HandlerError::Transient(error.to_string()),
        LoadError::Codec { .. } => HandlerError::Poison(error.to_string()),
    }
}
