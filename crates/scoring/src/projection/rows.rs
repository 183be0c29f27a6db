//! The projections as table rows: one struct per table, exactly the columns stored, and the
//! canonical byte encoding of each row that the digest hashes. The same rows come out of the
//! state in memory ([`ProjectionRows::of_state`]) and out of the tables
//! (`super::tables::Tables::rows`), so a digest of either is comparable.

use chain_domain::link::LinkKey;
use chain_domain::scoring::{Signal, Subject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::derive::{Derived, ProjectionConfig, derive};
use super::state::ProjectionState;

/// The text key of a subject: `customer:<id>` or `link:<provider>:<consumer>` (also the
/// aggregate id of its score stream).
pub fn subject_key(subject: &Subject) -> String {
    match subject {
        Subject::Customer(customer) => format!("customer:{customer}"),
        Subject::Link(link) => format!("link:{}:{}", link.provider, link.consumer),
    }
}

/// A row of `scoring_requests`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RequestRow {
    /// The request.
    pub request_id: Uuid,
    /// Its case.
    pub case_id: Uuid,
    /// Its provider.
    pub provider_team_id: Uuid,
    /// Its consumer.
    pub consumer_team_id: Uuid,
    /// Its facts (JSON).
    pub facts: Vec<u8>,
}

/// A row of `scoring_links`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LinkRow {
    /// The provider.
    pub provider_team_id: Uuid,
    /// The consumer.
    pub consumer_team_id: Uuid,
    /// Its facts (JSON).
    pub facts: Vec<u8>,
}

/// A row of `scoring_tickets`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TicketRow {
    /// The ticket.
    pub ticket_id: Uuid,
    /// Its customer, when known.
    pub customer_id: Option<Uuid>,
    /// Its facts (JSON).
    pub facts: Vec<u8>,
}

/// A row of `scoring_customers`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CustomerRow {
    /// The customer.
    pub customer_id: Uuid,
    /// Its facts (JSON).
    pub facts: Vec<u8>,
}

/// A row of `scoring_signals`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SignalRow {
    /// The subject's key.
    pub subject: String,
    /// The event time.
    pub at: DateTime<Utc>,
    /// The event id.
    pub event_id: Uuid,
    /// The signal (JSON).
    pub signal: Vec<u8>,
}

impl SignalRow {
    /// The row of a signal.
    pub fn of(signal: &Signal) -> Self {
        Self {
            subject: subject_key(&signal.subject),
            at: signal.at,
            event_id: signal.id.as_uuid(),
            signal: serde_json::to_vec(signal).unwrap_or_default(),
        }
    }
}

/// A row of `scoring_scores`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScoreRow {
    /// The subject's key.
    pub subject: String,
    /// The customer, for a customer score.
    pub customer_id: Option<Uuid>,
    /// The provider, for a link score.
    pub provider_team_id: Option<Uuid>,
    /// The consumer, for a link score.
    pub consumer_team_id: Option<Uuid>,
    /// The score in hundredths of a point.
    pub score_hundredths: i32,
    /// The confidence in ten-thousandths.
    pub confidence_e4: i32,
    /// Signals counted.
    pub signal_count: i32,
    /// The event time the score is as of.
    pub as_of: DateTime<Utc>,
    /// The lifecycle (snake_case); empty for a link.
    pub lifecycle: String,
    /// Open impacts of the customer.
    pub open_impacts: i32,
    /// The customer's tier ("A", "B", "C" or empty).
    pub tier: String,
    /// The customer's value.
    pub value_minor: i64,
    /// Its currency.
    pub currency: String,
    /// The risk of losing the customer, in ten-thousandths.
    pub risk_e4: i32,
    /// value × risk.
    pub value_at_risk_minor: i64,
}

/// A row of `scoring_link_health`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HealthRow {
    /// The provider.
    pub provider_team_id: Uuid,
    /// The consumer.
    pub consumer_team_id: Uuid,
    /// The health score in hundredths.
    pub health_hundredths: i32,
    /// Its confidence in ten-thousandths.
    pub confidence_e4: i32,
    /// Requests delivered or breached.
    pub completed: i32,
    /// Of those, on time.
    pub on_time: i32,
    /// The on-time rate in ten-thousandths.
    pub on_time_rate_e4: i32,
    /// Its Wilson lower bound in ten-thousandths.
    pub lower_bound_e4: i32,
    /// Mean lateness per completed request, ms.
    pub mean_lateness_ms: i64,
    /// Breakdowns reported.
    pub breakdowns: i32,
    /// Distinct customers whose impact path runs through the link.
    pub customers_hurt: i32,
    /// Their value at stake (each counted once, at its largest).
    pub value_at_risk_minor: i64,
    /// Its currency.
    pub currency: String,
}

impl HealthRow {
    /// The link.
    pub fn link(&self) -> LinkKey {
        LinkKey {
            provider: chain_domain::ids::TeamId::from_uuid(self.provider_team_id),
            consumer: chain_domain::ids::TeamId::from_uuid(self.consumer_team_id),
        }
    }
}

/// A row of `scoring_impacts`, with its path and shares.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ImpactRow {
    /// The impact's id.
    pub impact_id: Uuid,
    /// The ticket.
    pub ticket_id: Uuid,
    /// The promise.
    pub promise_number: i32,
    /// The customer.
    pub customer_id: Uuid,
    /// How it started (`at_risk`, `broken`).
    pub kind: String,
    /// The customer's tier then.
    pub tier: String,
    /// The value at stake.
    pub value_minor: i64,
    /// Its currency.
    pub currency: String,
    /// The root cause's provider.
    pub root_provider_id: Option<Uuid>,
    /// The root cause's consumer.
    pub root_consumer_id: Option<Uuid>,
    /// The root cause's request.
    pub root_request_id: Option<Uuid>,
    /// When recorded.
    pub recorded_at: DateTime<Utc>,
    /// The promise's due time.
    pub due_at: DateTime<Utc>,
    /// The projected delay when recorded, ms.
    pub projected_delay_ms: i64,
    /// Whether the customer was told before the due time.
    pub notified: bool,
    /// Whether the ticket was resolved.
    pub resolved: bool,
    /// How the promise ended (snake_case; empty while open).
    pub outcome: String,
    /// How late, ms.
    pub late_by_ms: Option<i64>,
    /// Its facts (JSON).
    pub facts: Vec<u8>,
    /// Its shares (JSON), as listed.
    pub attribution: Vec<u8>,
    /// Its path.
    #[sqlx(skip)]
    pub links: Vec<ImpactLinkRow>,
    /// Its shares.
    #[sqlx(skip)]
    pub shares: Vec<ShareRow>,
}

/// A row of `scoring_impact_links`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, Default)]
pub struct ImpactLinkRow {
    /// The impact.
    pub impact_id: Uuid,
    /// Its place on the path, root cause first (0).
    pub hop: i32,
    /// The provider.
    pub provider_team_id: Uuid,
    /// The consumer.
    pub consumer_team_id: Uuid,
    /// The request.
    pub request_id: Uuid,
}

/// A row of `scoring_impact_shares`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, Default, serde::Serialize)]
pub struct ShareRow {
    /// The impact.
    pub impact_id: Uuid,
    /// The provider charged.
    pub provider_team_id: Uuid,
    /// The consumer.
    pub consumer_team_id: Uuid,
    /// The request on the link.
    pub request_id: Uuid,
    /// The delay charged, ms.
    pub delay_ms: i64,
    /// The share of the loss, in millionths.
    pub share_e6: i32,
    /// The value charged.
    pub value_minor: i64,
}

/// Every row of every projection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectionRows {
    /// `scoring_requests`.
    pub requests: Vec<RequestRow>,
    /// `scoring_links`.
    pub links: Vec<LinkRow>,
    /// `scoring_tickets`.
    pub tickets: Vec<TicketRow>,
    /// `scoring_customers`.
    pub customers: Vec<CustomerRow>,
    /// `scoring_signals`.
    pub signals: Vec<SignalRow>,
    /// `scoring_scores`.
    pub scores: Vec<ScoreRow>,
    /// `scoring_link_health`.
    pub health: Vec<HealthRow>,
    /// `scoring_impacts` (with the links and shares tables inside).
    pub impacts: Vec<ImpactRow>,
}

impl ProjectionRows {
    /// The rows of a whole state: its facts and everything derived from them.
    pub fn of_state(state: &ProjectionState, config: &ProjectionConfig) -> Self {
        let derived = derive(state, &state.everything(), config);
        let mut rows = Self::facts_of(state, &state.everything());
        rows.add_derived(derived);
        rows
    }

    /// The fact rows `dirty` names.
    pub fn facts_of(state: &ProjectionState, dirty: &super::state::Dirty) -> Self {
        Self {
            requests: dirty
                .requests
                .iter()
                .filter_map(|id| state.requests.get(id))
                .map(|r| RequestRow {
                    request_id: r.id.as_uuid(),
                    case_id: r.case,
                    provider_team_id: r.provider.as_uuid(),
                    consumer_team_id: r.consumer.as_uuid(),
                    facts: json(r),
                })
                .collect(),
            links: dirty
                .links
                .iter()
                .filter_map(|l| state.links.get(l).map(|f| (l, f)))
                .map(|(l, f)| LinkRow {
                    provider_team_id: l.provider.as_uuid(),
                    consumer_team_id: l.consumer.as_uuid(),
                    facts: json(f),
                })
                .collect(),
            tickets: dirty
                .tickets
                .iter()
                .filter_map(|t| state.tickets.get(t).map(|f| (t, f)))
                .map(|(t, f)| TicketRow {
                    ticket_id: t.as_uuid(),
                    customer_id: f.customer.map(|c| c.as_uuid()),
                    facts: json(f),
                })
                .collect(),
            customers: dirty
                .customers
                .iter()
                .filter_map(|c| state.customers.get(c).map(|f| (c, f)))
                .map(|(c, f)| CustomerRow {
                    customer_id: c.as_uuid(),
                    facts: json(f),
                })
                .collect(),
            signals: dirty
                .signals
                .iter()
                .filter_map(|(subject, key)| state.signals.get(subject)?.get(key))
                .map(SignalRow::of)
                .collect(),
            ..Self::default()
        }
    }

    /// Adds derived rows.
    pub fn add_derived(&mut self, derived: Derived) {
        self.scores.extend(derived.scores.into_values());
        self.health.extend(derived.health.into_values());
        self.impacts.extend(derived.impacts.into_values());
    }

    /// How many rows, all tables together.
    pub fn len(&self) -> usize {
        self.requests.len()
            + self.links.len()
            + self.tickets.len()
            + self.customers.len()
            + self.signals.len()
            + self.scores.len()
            + self.health.len()
            + self
                .impacts
                .iter()
                .map(|i| 1 + i.links.len() + i.shares.len())
                .sum::<usize>()
    }

    /// Whether there is no row at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A fact as stored: JSON. These types serialize plain data only, so it cannot fail.
fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// The canonical encoding of a row: every column, fixed width or length-prefixed, so two
/// rows encode alike exactly when their columns are equal.
#[derive(Debug, Default)]
pub struct Canon(Vec<u8>);

impl Canon {
    /// The bytes written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    fn uuid(&mut self, value: Uuid) -> &mut Self {
        self.0.extend_from_slice(value.as_bytes());
        self
    }

    fn opt_uuid(&mut self, value: Option<Uuid>) -> &mut Self {
        match value {
            None => self.0.push(0),
            Some(v) => {
                self.0.push(1);
                self.uuid(v);
            }
        }
        self
    }

    fn i64(&mut self, value: i64) -> &mut Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    fn opt_i64(&mut self, value: Option<i64>) -> &mut Self {
        match value {
            None => self.0.push(0),
            Some(v) => {
                self.0.push(1);
                self.i64(v);
            }
        }
        self
    }

    fn i32(&mut self, value: i32) -> &mut Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    fn bool(&mut self, value: bool) -> &mut Self {
        self.0.push(u8::from(value));
        self
    }

    fn bytes(&mut self, value: &[u8]) -> &mut Self {
        let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(value);
        self
    }

    fn str(&mut self, value: &str) -> &mut Self {
        self.bytes(value.as_bytes())
    }

    fn time(&mut self, value: DateTime<Utc>) -> &mut Self {
        self.i64(value.timestamp_micros())
    }
}

/// A row with a canonical encoding.
pub trait CanonicalRow {
    /// Its encoding.
    fn canonical(&self) -> Vec<u8>;
}

impl CanonicalRow for RequestRow {
    fn canonical(&self) -> Vec<u8> {
        let mut c = Canon::default();
        c.uuid(self.request_id)
            .uuid(self.case_id)
            .uuid(self.provider_team_id)
            .uuid(self.consumer_team_id)
            .bytes(&self.facts);
        c.into_bytes()
    }
}

impl CanonicalRow for LinkRow {
    fn canonical(&self) -> Vec<u8> {
        let mut c = Canon::default();
        c.uuid(self.provider_team_id)
            .uuid(self.consumer_team_id)
            .bytes(&self.facts);
        c.into_bytes()
    }
}

impl CanonicalRow for TicketRow {
    fn canonical(&self) -> Vec<u8> {
        let mut c = Canon::default();
        c.uuid(self.ticket_id)
            .opt_uuid(self.customer_id)
            .bytes(&self.facts);
        c.into_bytes()
    }
}

impl CanonicalRow for CustomerRow {
    fn canonical(&self) -> Vec<u8> {
        let mut c = Canon::default();
        c.uuid(self.customer_id).bytes(&self.facts);
        c.into_bytes()
    }
}

impl CanonicalRow for SignalRow {
    fn canonical(&self) -> Vec<u8> {
        let mut c = Canon::default();
        c.str(&self.subject)
            .time(self.at)
            .uuid(self.event_id)
            .bytes(&self.signal);
        c.into_bytes()
    }
}

impl CanonicalRow for ScoreRow {
    fn canonical(&self) -> Vec<u8> {
        let mut c = Canon::default();
        c.str(&self.subject)
            .opt_uuid(self.customer_id)
            .opt_uuid(self.provider_team_id)
            .opt_uuid(self.consumer_team_id)
            .i32(self.score_hundredths)
            .i32(self.confidence_e4)
            .i32(self.signal_count)
            .time(self.as_of)
            .str(&self.lifecycle)
            .i32(self.open_impacts)
            .str(&self.tier)
            .i64(self.value_minor)
            .str(&self.currency)
            .i32(self.risk_e4)
            .i64(self.value_at_risk_minor);
        c.into_bytes()
    }
}

impl CanonicalRow for HealthRow {
    fn canonical(&self) -> Vec<u8> {
        let mut c = Canon::default();
        c.uuid(self.provider_team_id)
            .uuid(self.consumer_team_id)
            .i32(self.health_hundredths)
            .i32(self.confidence_e4)
            .i32(self.completed)
            .i32(self.on_time)
            .i32(self.on_time_rate_e4)
            .i32(self.lower_bound_e4)
            .i64(self.mean_lateness_ms)
            .i32(self.breakdowns)
            .i32(self.customers_hurt)
            .i64(self.value_at_risk_minor)
            .str(&self.currency);
        c.into_bytes()
    }
}

impl CanonicalRow for ImpactRow {
    /// The impact's columns; its links and shares are rows of their own tables.
    fn canonical(&self) -> Vec<u8> {
        let mut c = Canon::default();
        c.uuid(self.impact_id)
            .uuid(self.ticket_id)
            .i32(self.promise_number)
            .uuid(self.customer_id)
            .str(&self.kind)
            .str(&self.tier)
            .i64(self.value_minor)
            .str(&self.currency)
            .opt_uuid(self.root_provider_id)
            .opt_uuid(self.root_consumer_id)
            .opt_uuid(self.root_request_id)
            .time(self.recorded_at)
            .time(self.due_at)
            .i64(self.projected_delay_ms)
            .bool(self.notified)
            .bool(self.resolved)
            .str(&self.outcome)
            .opt_i64(self.late_by_ms)
            .bytes(&self.facts)
            .bytes(&self.attribution);
        c.into_bytes()
    }
}

impl CanonicalRow for ImpactLinkRow {
    fn canonical(&self) -> Vec<u8> {
        let mut c = Canon::default();
        c.uuid(self.impact_id)
            .i32(self.hop)
            .uuid(self.provider_team_id)
            .uuid(self.consumer_team_id)
            .uuid(self.request_id);
        c.into_bytes()
    }
}

impl CanonicalRow for ShareRow {
    fn canonical(&self) -> Vec<u8> {
        let mut c = Canon::default();
        c.uuid(self.impact_id)
            .uuid(self.provider_team_id)
            .uuid(self.consumer_team_id)
            .uuid(self.request_id)
            .i64(self.delay_ms)
            .i32(self.share_e6)
            .i64(self.value_minor);
        c.into_bytes()
    }
}
