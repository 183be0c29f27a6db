//! The thin SQL layer under the projection core: load the slice of the state an event needs,
//! write the rows it changed, read every row back for the digest. Every statement names its
//! tables through [`Tables`], so the same code writes the live projections (schema `public`)
//! and a rebuild's fresh schema.

use std::collections::{BTreeMap, BTreeSet};

use chain_domain::ids::{CustomerId, TeamId, TicketId};
use chain_domain::link::LinkKey;
use chain_domain::scoring::{Signal, Subject};
use serde::de::DeserializeOwned;
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Row};
use uuid::Uuid;

use super::facts::{CustomerFacts, ImpactFacts, LinkFacts, TicketFacts};
use super::rows::{
    CustomerRow, HealthRow, ImpactLinkRow, ImpactRow, LinkRow, ProjectionRows, RequestRow,
    ScoreRow, ShareRow, SignalRow, TicketRow, subject_key,
};
use super::state::{Dirty, ProjectionState};
use crate::codec::{Fact, InputStore};

/// Rows written per statement.
const WRITE_BATCH: usize = 2_000;

/// Every projection table, in the order a fresh schema creates them.
pub const TABLES: [&str; 11] = [
    "scoring_requests",
    "scoring_links",
    "scoring_tickets",
    "scoring_customers",
    "scoring_signals",
    "scoring_scores",
    "scoring_link_health",
    "scoring_impacts",
    "scoring_impact_links",
    "scoring_impact_shares",
    "scoring_progress",
];

/// Why the tables could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TablesError {
    /// The database refused or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored fact does not decode (corrupt row or schema drift).
    #[error("stored {table} row does not decode: {reason}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A schema name that is not a plain identifier.
    #[error("invalid schema name {0:?}: use lower-case letters, digits and underscores")]
    SchemaName(String),
}

/// The projection tables of one schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    schema: String,
}

impl Tables {
    /// The live projections (schema `public`, where the migrations create them).
    pub fn live() -> Self {
        Self {
            schema: "public".to_owned(),
        }
    }

    /// The projections in `schema`: lower-case letters, digits and underscores only, since
    /// the name is written into SQL.
    pub fn in_schema(schema: &str) -> Result<Self, TablesError> {
        let plain = !schema.is_empty()
            && schema.len() <= 63
            && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if plain {
            Ok(Self {
                schema: schema.to_owned(),
            })
        } else {
            Err(TablesError::SchemaName(schema.to_owned()))
        }
    }

    /// The schema.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// A table's qualified name.
    pub fn t(&self, table: &str) -> String {
        format!("{}.{table}", self.schema)
    }

    /// Creates the schema with empty tables like the live ones (run the migrations first).
    pub async fn create(&self, pool: &PgPool) -> Result<(), TablesError> {
        let mut tx = pool.begin().await?;
        let sql = format!("CREATE SCHEMA {}", self.schema);
        sqlx::query(AssertSqlSafe(sql)).execute(&mut *tx).await?;
        for table in TABLES {
            let sql = format!(
                "CREATE TABLE {} (LIKE public.{table} INCLUDING ALL)",
                self.t(table)
            );
            sqlx::query(AssertSqlSafe(sql)).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Drops the schema and its tables (never `public`).
    pub async fn drop(&self, pool: &PgPool) -> Result<(), TablesError> {
        if self.schema == "public" {
            return Err(TablesError::SchemaName(self.schema.clone()));
        }
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        sqlx::query(AssertSqlSafe(sql)).execute(pool).await?;
        Ok(())
    }

    // ---- loading a slice -------------------------------------------------------------------

    /// Loads what [`ProjectionState::apply`] reads for `fact`.
    pub async fn load_for_apply(
        &self,
        conn: &mut PgConnection,
        state: &mut ProjectionState,
        fact: &Fact,
    ) -> Result<(), TablesError> {
        match fact {
            Fact::RequestCommitted { request, .. }
            | Fact::RequestRevised { request, .. }
            | Fact::RequestFulfilled { request, .. }
            | Fact::RequestBreached { request, .. }
            | Fact::RequestCancelled { request, .. }
            | Fact::BreakdownReported { request, .. }
            | Fact::BreakdownResolved { request }
            | Fact::RequestOpened { request, .. } => {
                self.load_requests(conn, state, "request_id = ANY($1)", &[request.as_uuid()])
                    .await?;
            }
            Fact::LinkDeclared { link } => self.load_links(conn, state, &[*link]).await?,
            Fact::CustomerRegistered { customer, .. }
            | Fact::CustomerValueChanged { customer, .. }
            | Fact::CustomerTierChanged { customer, .. } => {
                self.load_customers(conn, state, &[*customer]).await?;
            }
            Fact::TicketOpened { ticket, .. } | Fact::CustomerNotified { ticket, .. } => {
                self.load_tickets(conn, state, &[*ticket]).await?;
            }
            Fact::PromiseAtRisk { hurt, .. } | Fact::PromiseBroken { hurt, .. } => {
                self.load_tickets(conn, state, &[hurt.ticket]).await?;
                self.load_impacts(conn, state, "ticket_id = ANY($1)", &[hurt.ticket.as_uuid()])
                    .await?;
            }
            Fact::TicketResolved { ticket, .. } => {
                self.load_tickets(conn, state, &[*ticket]).await?;
                self.load_impacts(conn, state, "ticket_id = ANY($1)", &[ticket.as_uuid()])
                    .await?;
            }
            Fact::Feedback { .. } | Fact::Ignored => {}
        }
        Ok(())
    }

    /// Loads what deriving `dirty` reads: the impacts of its cases, links and customers with
    /// their tickets, the requests of its cases and links, the signals of its subjects.
    pub async fn load_for_derive(
        &self,
        conn: &mut PgConnection,
        state: &mut ProjectionState,
        dirty: &Dirty,
    ) -> Result<(), TablesError> {
        let customers: Vec<CustomerId> = dirty
            .subjects
            .iter()
            .filter_map(|s| match s {
                Subject::Customer(c) => Some(*c),
                Subject::Link(_) => None,
            })
            .collect();
        let cases: Vec<Uuid> = dirty
            .cases
            .iter()
            .copied()
            .chain(dirty.impacts.iter().map(|k| k.0.as_uuid()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let links: Vec<LinkKey> = dirty.health.iter().copied().collect();
        let (providers, consumers) = pairs(&links);

        self.load_impacts(conn, state, "ticket_id = ANY($1)", &cases)
            .await?;
        let customer_ids: Vec<Uuid> = customers.iter().map(|c| c.as_uuid()).collect();
        self.load_impacts(conn, state, "customer_id = ANY($1)", &customer_ids)
            .await?;
        if !links.is_empty() {
            let filter = format!(
                "impact_id IN (SELECT impact_id FROM {} WHERE (provider_team_id, consumer_team_id)
                     IN (SELECT * FROM UNNEST($1::uuid[], $2::uuid[])))",
                self.t("scoring_impact_links")
            );
            let sql = format!(
                "SELECT ticket_id, promise_number, facts FROM {} WHERE {filter}",
                self.t("scoring_impacts")
            );
            let rows = sqlx::query(AssertSqlSafe(sql))
                .bind(&providers)
                .bind(&consumers)
                .fetch_all(&mut *conn)
                .await?;
            add_impacts(state, rows)?;
        }
        let tickets: Vec<TicketId> = state
            .impacts
            .keys()
            .map(|k| k.0)
            .chain(cases.iter().map(|c| TicketId::from_uuid(*c)))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        self.load_tickets(conn, state, &tickets).await?;
        self.load_requests(conn, state, "case_id = ANY($1)", &cases)
            .await?;
        if !links.is_empty() {
            let sql = format!(
                "SELECT facts FROM {} WHERE (provider_team_id, consumer_team_id)
                     IN (SELECT * FROM UNNEST($1::uuid[], $2::uuid[]))",
                self.t("scoring_requests")
            );
            let rows = sqlx::query(AssertSqlSafe(sql))
                .bind(&providers)
                .bind(&consumers)
                .fetch_all(&mut *conn)
                .await?;
            for row in rows {
                state.load_request(facts("scoring_requests", &row)?);
            }
            self.load_links(conn, state, &links).await?;
        }
        self.load_customers(conn, state, &customers).await?;
        let subjects: Vec<String> = dirty.score_subjects().iter().map(subject_key).collect();
        if !subjects.is_empty() {
            let sql = format!(
                "SELECT signal FROM {} WHERE subject = ANY($1)",
                self.t("scoring_signals")
            );
            let rows = sqlx::query(AssertSqlSafe(sql))
                .bind(&subjects)
                .fetch_all(&mut *conn)
                .await?;
            for row in rows {
                let signal: Signal =
                    json("scoring_signals", &row.try_get::<Vec<u8>, _>("signal")?)?;
                state.load_signal(signal);
            }
        }
        Ok(())
    }

    async fn load_requests(
        &self,
        conn: &mut PgConnection,
        state: &mut ProjectionState,
        filter: &str,
        ids: &[Uuid],
    ) -> Result<(), TablesError> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "SELECT facts FROM {} WHERE {filter}",
            self.t("scoring_requests")
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(ids)
            .fetch_all(&mut *conn)
            .await?;
        for row in rows {
            state.load_request(facts("scoring_requests", &row)?);
        }
        Ok(())
    }

    async fn load_links(
        &self,
        conn: &mut PgConnection,
        state: &mut ProjectionState,
        links: &[LinkKey],
    ) -> Result<(), TablesError> {
        let (providers, consumers) = pairs(links);
        let sql = format!(
            "SELECT provider_team_id, consumer_team_id, facts FROM {}
             WHERE (provider_team_id, consumer_team_id)
                 IN (SELECT * FROM UNNEST($1::uuid[], $2::uuid[]))",
            self.t("scoring_links")
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(&providers)
            .bind(&consumers)
            .fetch_all(&mut *conn)
            .await?;
        for row in rows {
            let link = LinkKey {
                provider: TeamId::from_uuid(row.try_get("provider_team_id")?),
                consumer: TeamId::from_uuid(row.try_get("consumer_team_id")?),
            };
            let facts: LinkFacts = facts("scoring_links", &row)?;
            state.load_link(link, facts);
        }
        Ok(())
    }

    async fn load_tickets(
        &self,
        conn: &mut PgConnection,
        state: &mut ProjectionState,
        tickets: &[TicketId],
    ) -> Result<(), TablesError> {
        if tickets.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = tickets.iter().map(|t| t.as_uuid()).collect();
        let sql = format!(
            "SELECT ticket_id, facts FROM {} WHERE ticket_id = ANY($1)",
            self.t("scoring_tickets")
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await?;
        for row in rows {
            let ticket = TicketId::from_uuid(row.try_get("ticket_id")?);
            let facts: TicketFacts = facts("scoring_tickets", &row)?;
            state.load_ticket(ticket, facts);
        }
        Ok(())
    }

    async fn load_customers(
        &self,
        conn: &mut PgConnection,
        state: &mut ProjectionState,
        customers: &[CustomerId],
    ) -> Result<(), TablesError> {
        if customers.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = customers.iter().map(|c| c.as_uuid()).collect();
        let sql = format!(
            "SELECT customer_id, facts FROM {} WHERE customer_id = ANY($1)",
            self.t("scoring_customers")
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await?;
        for row in rows {
            let customer = CustomerId::from_uuid(row.try_get("customer_id")?);
            let facts: CustomerFacts = facts("scoring_customers", &row)?;
            state.load_customer(customer, facts);
        }
        Ok(())
    }

    async fn load_impacts(
        &self,
        conn: &mut PgConnection,
        state: &mut ProjectionState,
        filter: &str,
        ids: &[Uuid],
    ) -> Result<(), TablesError> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "SELECT ticket_id, promise_number, facts FROM {} WHERE {filter}",
            self.t("scoring_impacts")
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(ids)
            .fetch_all(&mut *conn)
            .await?;
        add_impacts(state, rows)
    }

    /// The stored score rows of `subjects`, by subject key.
    pub async fn load_scores(
        &self,
        conn: &mut PgConnection,
        subjects: &BTreeSet<Subject>,
    ) -> Result<BTreeMap<String, ScoreRow>, TablesError> {
        if subjects.is_empty() {
            return Ok(BTreeMap::new());
        }
        let keys: Vec<String> = subjects.iter().map(subject_key).collect();
        let sql = format!(
            "SELECT * FROM {} WHERE subject = ANY($1)",
            self.t("scoring_scores")
        );
        let rows: Vec<ScoreRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(&keys)
            .fetch_all(&mut *conn)
            .await?;
        Ok(rows.into_iter().map(|r| (r.subject.clone(), r)).collect())
    }

    // ---- writing ---------------------------------------------------------------------------

    /// Writes `rows` (inserting or replacing each by its key; an impact's links and shares
    /// are replaced as a whole).
    pub async fn write(
        &self,
        conn: &mut PgConnection,
        rows: &ProjectionRows,
    ) -> Result<(), TablesError> {
        for chunk in rows.requests.chunks(WRITE_BATCH) {
            self.write_requests(conn, chunk).await?;
        }
        for chunk in rows.links.chunks(WRITE_BATCH) {
            self.write_links(conn, chunk).await?;
        }
        for chunk in rows.tickets.chunks(WRITE_BATCH) {
            self.write_tickets(conn, chunk).await?;
        }
        for chunk in rows.customers.chunks(WRITE_BATCH) {
            self.write_customers(conn, chunk).await?;
        }
        for chunk in rows.signals.chunks(WRITE_BATCH) {
            self.write_signals(conn, chunk).await?;
        }
        for chunk in rows.scores.chunks(WRITE_BATCH) {
            self.write_scores(conn, chunk).await?;
        }
        for chunk in rows.health.chunks(WRITE_BATCH) {
            self.write_health(conn, chunk).await?;
        }
        for chunk in rows.impacts.chunks(WRITE_BATCH) {
            self.write_impacts(conn, chunk).await?;
        }
        Ok(())
    }

    async fn write_requests(
        &self,
        conn: &mut PgConnection,
        rows: &[RequestRow],
    ) -> Result<(), TablesError> {
        let sql = format!(
            "INSERT INTO {} (request_id, case_id, provider_team_id, consumer_team_id, facts)
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::bytea[])
             ON CONFLICT (request_id) DO UPDATE SET facts = EXCLUDED.facts",
            self.t("scoring_requests")
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(rows.iter().map(|r| r.request_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.case_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.provider_team_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.consumer_team_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.facts.clone()).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn write_links(
        &self,
        conn: &mut PgConnection,
        rows: &[LinkRow],
    ) -> Result<(), TablesError> {
        let sql = format!(
            "INSERT INTO {} (provider_team_id, consumer_team_id, facts)
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::bytea[])
             ON CONFLICT (provider_team_id, consumer_team_id) DO UPDATE SET facts = EXCLUDED.facts",
            self.t("scoring_links")
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(rows.iter().map(|r| r.provider_team_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.consumer_team_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.facts.clone()).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn write_tickets(
        &self,
        conn: &mut PgConnection,
        rows: &[TicketRow],
    ) -> Result<(), TablesError> {
        let sql = format!(
            "INSERT INTO {} (ticket_id, customer_id, facts)
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::bytea[])
             ON CONFLICT (ticket_id) DO UPDATE
             SET customer_id = EXCLUDED.customer_id, facts = EXCLUDED.facts",
            self.t("scoring_tickets")
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(rows.iter().map(|r| r.ticket_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.customer_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.facts.clone()).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn write_customers(
        &self,
        conn: &mut PgConnection,
        rows: &[CustomerRow],
    ) -> Result<(), TablesError> {
        let sql = format!(
            "INSERT INTO {} (customer_id, facts)
             SELECT * FROM UNNEST($1::uuid[], $2::bytea[])
             ON CONFLICT (customer_id) DO UPDATE SET facts = EXCLUDED.facts",
            self.t("scoring_customers")
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(rows.iter().map(|r| r.customer_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.facts.clone()).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn write_signals(
        &self,
        conn: &mut PgConnection,
        rows: &[SignalRow],
    ) -> Result<(), TablesError> {
        let sql = format!(
            "INSERT INTO {} (subject, at, event_id, signal)
             SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::uuid[], $4::bytea[])
             ON CONFLICT DO NOTHING",
            self.t("scoring_signals")
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(rows.iter().map(|r| r.subject.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.at).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.event_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.signal.clone()).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn write_scores(
        &self,
        conn: &mut PgConnection,
        rows: &[ScoreRow],
    ) -> Result<(), TablesError> {
        let sql = format!(
            "INSERT INTO {} AS s (subject, customer_id, provider_team_id, consumer_team_id,
                 score_hundredths, confidence_e4, signal_count, as_of, lifecycle, open_impacts,
                 tier, value_minor, currency, risk_e4, value_at_risk_minor)
             SELECT * FROM UNNEST($1::text[], $2::uuid[], $3::uuid[], $4::uuid[], $5::int[],
                 $6::int[], $7::int[], $8::timestamptz[], $9::text[], $10::int[], $11::text[],
                 $12::bigint[], $13::text[], $14::int[], $15::bigint[])
             ON CONFLICT (subject) DO UPDATE SET
                 score_hundredths = EXCLUDED.score_hundredths,
                 confidence_e4 = EXCLUDED.confidence_e4, signal_count = EXCLUDED.signal_count,
                 as_of = EXCLUDED.as_of, lifecycle = EXCLUDED.lifecycle,
                 open_impacts = EXCLUDED.open_impacts, tier = EXCLUDED.tier,
                 value_minor = EXCLUDED.value_minor, currency = EXCLUDED.currency,
                 risk_e4 = EXCLUDED.risk_e4, value_at_risk_minor = EXCLUDED.value_at_risk_minor",
            self.t("scoring_scores")
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(rows.iter().map(|r| r.subject.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.customer_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.provider_team_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.consumer_team_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.score_hundredths).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.confidence_e4).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.signal_count).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.as_of).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.lifecycle.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.open_impacts).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.tier.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.value_minor).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.currency.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.risk_e4).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.value_at_risk_minor)
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn write_health(
        &self,
        conn: &mut PgConnection,
        rows: &[HealthRow],
    ) -> Result<(), TablesError> {
        let sql = format!(
            "INSERT INTO {} (provider_team_id, consumer_team_id, health_hundredths,
                 confidence_e4, completed, on_time, on_time_rate_e4, lower_bound_e4,
                 mean_lateness_ms, breakdowns, customers_hurt, value_at_risk_minor, currency)
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::int[], $4::int[], $5::int[],
                 $6::int[], $7::int[], $8::int[], $9::bigint[], $10::int[], $11::int[],
                 $12::bigint[], $13::text[])
             ON CONFLICT (provider_team_id, consumer_team_id) DO UPDATE SET
                 health_hundredths = EXCLUDED.health_hundredths,
                 confidence_e4 = EXCLUDED.confidence_e4, completed = EXCLUDED.completed,
                 on_time = EXCLUDED.on_time, on_time_rate_e4 = EXCLUDED.on_time_rate_e4,
                 lower_bound_e4 = EXCLUDED.lower_bound_e4,
                 mean_lateness_ms = EXCLUDED.mean_lateness_ms, breakdowns = EXCLUDED.breakdowns,
                 customers_hurt = EXCLUDED.customers_hurt,
                 value_at_risk_minor = EXCLUDED.value_at_risk_minor, currency = EXCLUDED.currency",
            self.t("scoring_link_health")
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(rows.iter().map(|r| r.provider_team_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.consumer_team_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.health_hundredths).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.confidence_e4).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.completed).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.on_time).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.on_time_rate_e4).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.lower_bound_e4).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.mean_lateness_ms).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.breakdowns).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.customers_hurt).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.value_at_risk_minor)
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.currency.clone()).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn write_impacts(
        &self,
        conn: &mut PgConnection,
        rows: &[ImpactRow],
    ) -> Result<(), TablesError> {
        let sql = format!(
            "INSERT INTO {} (impact_id, ticket_id, promise_number, customer_id, kind, tier,
                 value_minor, currency, root_provider_id, root_consumer_id, root_request_id,
                 recorded_at, due_at, projected_delay_ms, notified, resolved, outcome,
                 late_by_ms, facts, attribution)
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::int[], $4::uuid[], $5::text[],
                 $6::text[], $7::bigint[], $8::text[], $9::uuid[], $10::uuid[], $11::uuid[],
                 $12::timestamptz[], $13::timestamptz[], $14::bigint[], $15::bool[],
                 $16::bool[], $17::text[], $18::bigint[], $19::bytea[], $20::bytea[])
             ON CONFLICT (impact_id) DO UPDATE SET
                 notified = EXCLUDED.notified, resolved = EXCLUDED.resolved,
                 outcome = EXCLUDED.outcome, late_by_ms = EXCLUDED.late_by_ms,
                 facts = EXCLUDED.facts, attribution = EXCLUDED.attribution",
            self.t("scoring_impacts")
        );
        let ids: Vec<Uuid> = rows.iter().map(|r| r.impact_id).collect();
        sqlx::query(AssertSqlSafe(sql))
            .bind(&ids)
            .bind(rows.iter().map(|r| r.ticket_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.promise_number).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.customer_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.kind.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.tier.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.value_minor).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.currency.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.root_provider_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.root_consumer_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.root_request_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.recorded_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.due_at).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.projected_delay_ms)
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.notified).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.resolved).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.outcome.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.late_by_ms).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.facts.clone()).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.attribution.clone())
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *conn)
            .await?;
        for table in ["scoring_impact_links", "scoring_impact_shares"] {
            let sql = format!("DELETE FROM {} WHERE impact_id = ANY($1)", self.t(table));
            sqlx::query(AssertSqlSafe(sql))
                .bind(&ids)
                .execute(&mut *conn)
                .await?;
        }
        let links: Vec<&ImpactLinkRow> = rows.iter().flat_map(|r| r.links.iter()).collect();
        if !links.is_empty() {
            let sql = format!(
                "INSERT INTO {} (impact_id, hop, provider_team_id, consumer_team_id, request_id)
                 SELECT * FROM UNNEST($1::uuid[], $2::int[], $3::uuid[], $4::uuid[], $5::uuid[])",
                self.t("scoring_impact_links")
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(links.iter().map(|r| r.impact_id).collect::<Vec<_>>())
                .bind(links.iter().map(|r| r.hop).collect::<Vec<_>>())
                .bind(links.iter().map(|r| r.provider_team_id).collect::<Vec<_>>())
                .bind(links.iter().map(|r| r.consumer_team_id).collect::<Vec<_>>())
                .bind(links.iter().map(|r| r.request_id).collect::<Vec<_>>())
                .execute(&mut *conn)
                .await?;
        }
        let shares: Vec<&ShareRow> = rows.iter().flat_map(|r| r.shares.iter()).collect();
        if !shares.is_empty() {
            let sql = format!(
                "INSERT INTO {} (impact_id, provider_team_id, consumer_team_id, request_id,
                     delay_ms, share_e6, value_minor)
                 SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[],
                     $5::bigint[], $6::int[], $7::bigint[])",
                self.t("scoring_impact_shares")
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(shares.iter().map(|r| r.impact_id).collect::<Vec<_>>())
                .bind(
                    shares
                        .iter()
                        .map(|r| r.provider_team_id)
                        .collect::<Vec<_>>(),
                )
                .bind(
                    shares
                        .iter()
                        .map(|r| r.consumer_team_id)
                        .collect::<Vec<_>>(),
                )
                .bind(shares.iter().map(|r| r.request_id).collect::<Vec<_>>())
                .bind(shares.iter().map(|r| r.delay_ms).collect::<Vec<_>>())
                .bind(shares.iter().map(|r| r.share_e6).collect::<Vec<_>>())
                .bind(shares.iter().map(|r| r.value_minor).collect::<Vec<_>>())
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    // ---- progress --------------------------------------------------------------------------

    /// Counts `n` more events of `store` applied.
    pub async fn add_progress(
        &self,
        conn: &mut PgConnection,
        store: InputStore,
        n: u64,
    ) -> Result<(), TablesError> {
        let sql = format!(
            "INSERT INTO {} AS p (store, events_applied) VALUES ($1, $2)
             ON CONFLICT (store) DO UPDATE SET events_applied = p.events_applied + EXCLUDED.events_applied",
            self.t("scoring_progress")
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(store.name())
            .bind(i64::try_from(n).unwrap_or(i64::MAX))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Events applied per input store (by service name).
    pub async fn progress(
        &self,
        conn: &mut PgConnection,
    ) -> Result<BTreeMap<String, u64>, TablesError> {
        let sql = format!(
            "SELECT store, events_applied FROM {}",
            self.t("scoring_progress")
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await?;
        let mut progress = BTreeMap::new();
        for row in rows {
            let count: i64 = row.try_get("events_applied")?;
            progress.insert(row.try_get("store")?, u64::try_from(count).unwrap_or(0));
        }
        Ok(progress)
    }

    // ---- reading everything ----------------------------------------------------------------

    /// Every row of every projection (for the digest).
    pub async fn rows(&self, conn: &mut PgConnection) -> Result<ProjectionRows, TablesError> {
        let all = |table: &str| format!("SELECT * FROM {}", self.t(table));
        let mut impacts: Vec<ImpactRow> = sqlx::query_as(AssertSqlSafe(all("scoring_impacts")))
            .fetch_all(&mut *conn)
            .await?;
        let links: Vec<ImpactLinkRow> = sqlx::query_as(AssertSqlSafe(all("scoring_impact_links")))
            .fetch_all(&mut *conn)
            .await?;
        let shares: Vec<ShareRow> = sqlx::query_as(AssertSqlSafe(all("scoring_impact_shares")))
            .fetch_all(&mut *conn)
            .await?;
        attach(&mut impacts, links, shares);
        Ok(ProjectionRows {
            requests: sqlx::query_as(AssertSqlSafe(all("scoring_requests")))
                .fetch_all(&mut *conn)
                .await?,
            links: sqlx::query_as(AssertSqlSafe(all("scoring_links")))
                .fetch_all(&mut *conn)
                .await?,
            tickets: sqlx::query_as(AssertSqlSafe(all("scoring_tickets")))
                .fetch_all(&mut *conn)
                .await?,
            customers: sqlx::query_as(AssertSqlSafe(all("scoring_customers")))
                .fetch_all(&mut *conn)
                .await?,
            signals: sqlx::query_as(AssertSqlSafe(all("scoring_signals")))
                .fetch_all(&mut *conn)
                .await?,
            scores: sqlx::query_as(AssertSqlSafe(all("scoring_scores")))
                .fetch_all(&mut *conn)
                .await?,
            health: sqlx::query_as(AssertSqlSafe(all("scoring_link_health")))
                .fetch_all(&mut *conn)
                .await?,
            impacts,
        })
    }
}

/// Puts each link and share row under its impact.
pub fn attach(impacts: &mut [ImpactRow], links: Vec<ImpactLinkRow>, shares: Vec<ShareRow>) {
    let index: BTreeMap<Uuid, usize> = impacts
        .iter()
        .enumerate()
        .map(|(i, row)| (row.impact_id, i))
        .collect();
    for link in links {
        if let Some(i) = index.get(&link.impact_id) {
            impacts[*i].links.push(link);
        }
    }
    for share in shares {
        if let Some(i) = index.get(&share.impact_id) {
            impacts[*i].shares.push(share);
        }
    }
    for impact in impacts.iter_mut() {
        impact.links.sort_by_key(|l| l.hop);
        impact.shares.sort_by(|a, b| {
            (a.provider_team_id, a.consumer_team_id, a.request_id).cmp(&(
                b.provider_team_id,
                b.consumer_team_id,
                b.request_id,
            ))
        });
    }
}

fn pairs(links: &[LinkKey]) -> (Vec<Uuid>, Vec<Uuid>) {
    links
        .iter()
        .map(|l| (l.provider.as_uuid(), l.consumer.as_uuid()))
        .unzip()
}

fn add_impacts(
    state: &mut ProjectionState,
    rows: Vec<sqlx::postgres::PgRow>,
) -> Result<(), TablesError> {
    for row in rows {
        let ticket = TicketId::from_uuid(row.try_get("ticket_id")?);
        let promise: i32 = row.try_get("promise_number")?;
        let facts: ImpactFacts = facts("scoring_impacts", &row)?;
        state.load_impact((ticket, u32::try_from(promise).unwrap_or(0)), facts);
    }
    Ok(())
}

fn facts<T: DeserializeOwned>(
    table: &'static str,
    row: &sqlx::postgres::PgRow,
) -> Result<T, TablesError> {
    json(table, &row.try_get::<Vec<u8>, _>("facts")?)
}

fn json<T: DeserializeOwned>(table: &'static str, bytes: &[u8]) -> Result<T, TablesError> {
    serde_json::from_slice(bytes).map_err(|e| TablesError::Corrupt {
        table,
        reason: e.to_string(),
    })
}
