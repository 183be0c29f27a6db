//! The read RPCs: scores, link health (worst first), impacts (newest first, filtered),
//! impact summaries, customers at risk (by value × risk), and the projection digest. All
//! lists use keyset page tokens from `chain_rpc::page`.

use chain_domain::ids::{CustomerId, TeamId};
use chain_domain::link::LinkKey;
use chain_domain::scoring::Subject;
use chain_proto::customerchain::v1 as pb;
use chain_rpc::{PageRequest, field, status};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, Row};
use tonic::Status;
use uuid::Uuid;

use super::ScoringService;
use crate::codec::SCORE_AGGREGATE;
use crate::projection::rows::{
    HealthRow, ImpactLinkRow, ImpactRow, ScoreRow, ShareRow, subject_key,
};
use crate::projection::tables::attach;
use crate::projection::{ALGORITHM, TablesError};
use crate::rebuild::live_digest;
use crate::view;

/// The cursor of `ListLinkHealth`: its sort key.
type HealthCursor = (i32, i32, i32, Uuid, Uuid);
/// The cursor of `ListImpacts`: recorded_at (µs) and id.
type ImpactCursor = (i64, Uuid);
/// The cursor of `ListAtRiskCustomers`: value at risk and customer id.
type AtRiskCursor = (i64, Uuid);

fn db(error: sqlx::Error) -> Status {
    status::database_error(&error)
}

/// The subject a score request names.
fn subject(subject: Option<&pb::ScoreSubject>) -> Result<Subject, Status> {
    match subject.and_then(|s| s.subject.as_ref()) {
        None => Err(status::invalid_argument(
            "subject",
            "is required: a customer_id or a link",
        )),
        Some(pb::score_subject::Subject::CustomerId(id)) => {
            Ok(Subject::Customer(field::id("subject.customer_id", id)?))
        }
        Some(pb::score_subject::Subject::Link(link)) => {
            Ok(Subject::Link(link_key("subject.link", link)?))
        }
    }
}

fn link_key(field_name: &str, link: &pb::LinkRef) -> Result<LinkKey, Status> {
    Ok(LinkKey {
        provider: field::id(
            &format!("{field_name}.provider_team_id"),
            &link.provider_team_id,
        )?,
        consumer: field::id(
            &format!("{field_name}.consumer_team_id"),
            &link.consumer_team_id,
        )?,
    })
}

impl ScoringService {
    pub(super) async fn get_score(
        &self,
        message: pb::GetScoreRequest,
    ) -> Result<pb::Score, Status> {
        let subject = subject(message.subject.as_ref())?;
        let key = subject_key(&subject);
        let pool = self.store.pool();
        let row: Option<ScoreRow> =
            sqlx::query_as("SELECT * FROM scoring_scores WHERE subject = $1")
                .bind(&key)
                .fetch_optional(pool)
                .await
                .map_err(db)?;
        let Some(row) = row.filter(|r| r.signal_count > 0) else {
            let (field_name, kind) = match subject {
                Subject::Customer(_) => ("subject.customer_id", "customer score"),
                Subject::Link(_) => ("subject.link", "link score"),
            };
            return Err(status::not_found(field_name, kind, &key));
        };
        let version: Option<i64> = sqlx::query_scalar(
            "SELECT max(aggregate_version) FROM events WHERE aggregate_type = $1 AND aggregate_id = $2",
        )
        .bind(SCORE_AGGREGATE)
        .bind(&key)
        .fetch_one(pool)
        .await
        .map_err(db)?;
        Ok(view::score(
            &row,
            u64::try_from(version.unwrap_or(0)).unwrap_or(0),
        ))
    }

    pub(super) async fn list_link_health(
        &self,
        message: pb::ListLinkHealthRequest,
    ) -> Result<pb::ListLinkHealthResponse, Status> {
        let provider: Option<TeamId> =
            field::optional_id("provider_team_id", &message.provider_team_id)?;
        let consumer: Option<TeamId> =
            field::optional_id("consumer_team_id", &message.consumer_team_id)?;
        let filter = format!("{provider:?}|{consumer:?}");
        let page = PageRequest::<HealthCursor>::parse(
            message.page_size,
            &message.page_token,
            filter.as_bytes(),
        )?;
        let after = page.after();
        let rows = sqlx::query(
            "SELECT h.*, (SELECT COALESCE(sum(s.value_minor), 0)::bigint
                          FROM scoring_impact_shares s
                          WHERE s.provider_team_id = h.provider_team_id
                            AND s.consumer_team_id = h.consumer_team_id) AS attributed_loss
             FROM scoring_link_health h
             WHERE ($1::uuid IS NULL OR h.provider_team_id = $1)
               AND ($2::uuid IS NULL OR h.consumer_team_id = $2)
               AND ($3::int IS NULL OR (h.health_hundredths, h.lower_bound_e4, -h.customers_hurt,
                                        h.provider_team_id, h.consumer_team_id)
                                       > ($3, $4, $5, $6, $7))
             ORDER BY h.health_hundredths, h.lower_bound_e4, h.customers_hurt DESC,
                      h.provider_team_id, h.consumer_team_id
             LIMIT $8",
        )
        .bind(provider.map(|p| p.as_uuid()))
        .bind(consumer.map(|c| c.as_uuid()))
        .bind(after.map(|c| c.0))
        .bind(after.map(|c| c.1))
        .bind(after.map(|c| c.2))
        .bind(after.map(|c| c.3))
        .bind(after.map(|c| c.4))
        .bind(page.fetch_limit())
        .fetch_all(self.store.pool())
        .await
        .map_err(db)?;
        let mut listed = Vec::with_capacity(rows.len());
        for row in &rows {
            let health = HealthRow::from_row(row).map_err(db)?;
            let loss: i64 = row.try_get("attributed_loss").map_err(db)?;
            listed.push((health, loss));
        }
        let (listed, next_page_token) = page.finish(listed, |(h, _)| {
            (
                h.health_hundredths,
                h.lower_bound_e4,
                -h.customers_hurt,
                h.provider_team_id,
                h.consumer_team_id,
            )
        });
        Ok(pb::ListLinkHealthResponse {
            links: listed
                .iter()
                .map(|(h, loss)| view::link_health(h, *loss))
                .collect(),
            next_page_token,
        })
    }

    pub(super) async fn list_impacts(
        &self,
        message: pb::ListImpactsRequest,
    ) -> Result<pb::ListImpactsResponse, Status> {
        let root: Option<TeamId> = field::optional_id("root_team_id", &message.root_team_id)?;
        let link = message
            .link
            .as_ref()
            .map(|l| link_key("link", l))
            .transpose()?;
        let customer: Option<CustomerId> = field::optional_id("customer_id", &message.customer_id)?;
        let start = field::optional_timestamp("start_time", message.start_time.as_ref())?;
        let end = field::optional_timestamp("end_time", message.end_time.as_ref())?;
        let filter = format!("{root:?}|{link:?}|{customer:?}|{start:?}|{end:?}");
        let page = PageRequest::<ImpactCursor>::parse(
            message.page_size,
            &message.page_token,
            filter.as_bytes(),
        )?;
        let after_time: Option<DateTime<Utc>> = page
            .after()
            .and_then(|c| DateTime::from_timestamp_micros(c.0));
        let impacts: Vec<ImpactRow> = sqlx::query_as(
            "SELECT * FROM scoring_impacts i
             WHERE ($1::uuid IS NULL OR i.root_provider_id = $1)
               AND ($2::uuid IS NULL OR EXISTS (
                       SELECT 1 FROM scoring_impact_links l
                       WHERE l.impact_id = i.impact_id
                         AND l.provider_team_id = $2 AND l.consumer_team_id = $3))
               AND ($4::uuid IS NULL OR i.customer_id = $4)
               AND ($5::timestamptz IS NULL OR i.recorded_at >= $5)
               AND ($6::timestamptz IS NULL OR i.recorded_at < $6)
               AND ($7::timestamptz IS NULL OR (i.recorded_at, i.impact_id) < ($7, $8))
             ORDER BY i.recorded_at DESC, i.impact_id DESC
             LIMIT $9",
        )
        .bind(root.map(|r| r.as_uuid()))
        .bind(link.map(|l| l.provider.as_uuid()))
        .bind(link.map(|l| l.consumer.as_uuid()))
        .bind(customer.map(|c| c.as_uuid()))
        .bind(start)
        .bind(end)
        .bind(after_time)
        .bind(page.after().map(|c| c.1))
        .bind(page.fetch_limit())
        .fetch_all(self.store.pool())
        .await
        .map_err(db)?;
        let (mut impacts, next_page_token) =
            page.finish(impacts, |i| (i.recorded_at.timestamp_micros(), i.impact_id));
        self.attach_paths(&mut impacts).await?;
        Ok(pb::ListImpactsResponse {
            impacts: impacts.iter().map(view::impact).collect(),
            next_page_token,
        })
    }

    /// Loads the paths and shares of `impacts`.
    async fn attach_paths(&self, impacts: &mut [ImpactRow]) -> Result<(), Status> {
        let ids: Vec<Uuid> = impacts.iter().map(|i| i.impact_id).collect();
        let pool = self.store.pool();
        let links: Vec<ImpactLinkRow> =
            sqlx::query_as("SELECT * FROM scoring_impact_links WHERE impact_id = ANY($1)")
                .bind(&ids)
                .fetch_all(pool)
                .await
                .map_err(db)?;
        let shares: Vec<ShareRow> =
            sqlx::query_as("SELECT * FROM scoring_impact_shares WHERE impact_id = ANY($1)")
                .bind(&ids)
                .fetch_all(pool)
                .await
                .map_err(db)?;
        attach(impacts, links, shares);
        Ok(())
    }

    pub(super) async fn get_impact_summary(
        &self,
        message: pb::GetImpactSummaryRequest,
    ) -> Result<pb::ImpactSummary, Status> {
        let root: Option<TeamId> = field::optional_id("root_team_id", &message.root_team_id)?;
        let link = message
            .link
            .as_ref()
            .map(|l| link_key("link", l))
            .transpose()?;
        if root.is_some() && link.is_some() {
            return Err(status::invalid_argument(
                "link",
                "set at most one of root_team_id and link",
            ));
        }
        let start = field::optional_timestamp("start_time", message.start_time.as_ref())?;
        let end = field::optional_timestamp("end_time", message.end_time.as_ref())?;
        let row = sqlx::query(
            "WITH chosen AS (
                 SELECT * FROM scoring_impacts i
                 WHERE ($1::uuid IS NULL OR i.root_provider_id = $1)
                   AND ($2::uuid IS NULL OR EXISTS (
                           SELECT 1 FROM scoring_impact_links l
                           WHERE l.impact_id = i.impact_id
                             AND l.provider_team_id = $2 AND l.consumer_team_id = $3))
                   AND ($4::timestamptz IS NULL OR i.recorded_at >= $4)
                   AND ($5::timestamptz IS NULL OR i.recorded_at < $5))
             SELECT count(*) AS impacts,
                    count(DISTINCT customer_id) AS customers,
                    (SELECT COALESCE(sum(v), 0)::bigint FROM
                        (SELECT max(value_minor) AS v FROM chosen GROUP BY customer_id) AS per) AS value,
                    COALESCE(max(currency), '') AS currency,
                    count(*) FILTER (WHERE NOT resolved) AS open,
                    count(*) FILTER (WHERE outcome = 'kept') AS kept,
                    count(*) FILTER (WHERE outcome = 'kept_after_renegotiation') AS kept_after_notice,
                    count(*) FILTER (WHERE outcome = 'kept_late') AS kept_late,
                    count(*) FILTER (WHERE outcome = 'broken' AND notified) AS broken_after_notice,
                    count(*) FILTER (WHERE outcome = 'broken' AND NOT notified) AS broken_surprise
             FROM chosen",
        )
        .bind(root.map(|r| r.as_uuid()))
        .bind(link.map(|l| l.provider.as_uuid()))
        .bind(link.map(|l| l.consumer.as_uuid()))
        .bind(start)
        .bind(end)
        .fetch_one(self.store.pool())
        .await
        .map_err(db)?;
        let count = |name: &str| -> Result<u32, Status> {
            let n: i64 = row.try_get(name).map_err(db)?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        };
        let currency: String = row.try_get("currency").map_err(db)?;
        Ok(pb::ImpactSummary {
            root_team_id: root.map(|r| r.to_string()).unwrap_or_default(),
            link: link.as_ref().map(crate::codec::link_ref),
            impacts: count("impacts")?,
            customers_hurt: count("customers")?,
            value_at_risk: view::money(row.try_get("value").map_err(db)?, &currency),
            open: count("open")?,
            kept: count("kept")?,
            kept_after_notice: count("kept_after_notice")?,
            kept_late: count("kept_late")?,
            broken_after_notice: count("broken_after_notice")?,
            broken_surprise: count("broken_surprise")?,
            start_time: message.start_time,
            end_time: message.end_time,
        })
    }

    pub(super) async fn list_at_risk_customers(
        &self,
        message: pb::ListAtRiskCustomersRequest,
    ) -> Result<pb::ListAtRiskCustomersResponse, Status> {
        let mut tiers: Vec<String> = Vec::new();
        for value in &message.tiers {
            let tier: pb::CustomerTier = field::enumeration("tiers", *value)?;
            tiers.push(
                match tier {
                    pb::CustomerTier::A => "A",
                    pb::CustomerTier::B => "B",
                    _ => "C",
                }
                .to_owned(),
            );
        }
        tiers.sort();
        tiers.dedup();
        let page = PageRequest::<AtRiskCursor>::parse(
            message.page_size,
            &message.page_token,
            tiers.join(",").as_bytes(),
        )?;
        let after = page.after();
        let rows: Vec<ScoreRow> = sqlx::query_as(
            "SELECT * FROM scoring_scores
             WHERE lifecycle IN ('at_risk', 'dissatisfied') AND customer_id IS NOT NULL
               AND (cardinality($1::text[]) = 0 OR tier = ANY($1))
               AND ($2::bigint IS NULL OR value_at_risk_minor < $2
                    OR (value_at_risk_minor = $2 AND customer_id > $3))
             ORDER BY value_at_risk_minor DESC, customer_id
             LIMIT $4",
        )
        .bind(&tiers)
        .bind(after.map(|c| c.0))
        .bind(after.map(|c| c.1))
        .bind(page.fetch_limit())
        .fetch_all(self.store.pool())
        .await
        .map_err(db)?;
        let (rows, next_page_token) = page.finish(rows, |r| {
            (r.value_at_risk_minor, r.customer_id.unwrap_or_default())
        });
        Ok(pb::ListAtRiskCustomersResponse {
            customers: rows
                .iter()
                .map(|r| pb::AtRiskCustomer {
                    customer_id: view::optional_id(r.customer_id),
                    tier: view::tier(&r.tier).into(),
                    value: view::money(r.value_minor, &r.currency),
                    score: f64::from(r.score_hundredths) / 100.0,
                    confidence: f64::from(r.confidence_e4) / 10_000.0,
                    lifecycle: view::lifecycle(&r.lifecycle).into(),
                    risk: f64::from(r.risk_e4) / 10_000.0,
                    value_at_risk: view::money(r.value_at_risk_minor, &r.currency),
                    open_impacts: u32::try_from(r.open_impacts).unwrap_or(0),
                })
                .collect(),
            next_page_token,
        })
    }

    pub(super) async fn get_projection_digest(&self) -> Result<pb::ProjectionDigest, Status> {
        let (digest, positions) = live_digest(self.store.pool()).await.map_err(|e| match e {
            TablesError::Database(e) => db(e),
            other => {
                tracing::error!(error = %other, "projection digest failed");
                status::internal()
            }
        })?;
        Ok(pb::ProjectionDigest {
            algorithm: ALGORITHM.to_owned(),
            digest,
            events_applied: positions.values().sum(),
            input_positions: positions.into_iter().collect(),
        })
    }
}
