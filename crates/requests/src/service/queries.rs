//! Queries on requests: `GetRequest` folds the request's stream (strongly consistent);
//! `ListRequests` reads the read model (keyset pages: at risk first, then by due time, then
//! by id); `GetCase` finds the case's requests in the read model and folds each of their
//! streams into a [`CaseView`] for projections, risk and the critical path.

use std::collections::BTreeMap;

use chain_domain::case::CaseView;
use chain_domain::ids::{RequestId, TeamId};
use chain_domain::request::RequestState;
use chain_proto::customerchain::v1 as pb;
use chain_rpc::page::PageRequest;
use chain_rpc::status::database_error;
use chain_rpc::{IdempotentCommand, clock, field, status};
use chrono::{DateTime, Utc};
use futures::future::try_join_all;
use sqlx::Row;
use tonic::{Request as Call, Status};
use uuid::Uuid;

use super::RequestService;
use super::case_traces::CaseTraces;
use crate::codec::{cause_link, ts};
use crate::streams::{LoadError, load_request};
use crate::view;

/// The most requests `GetCase` folds: a bigger tree is refused rather than slowing the
/// service down.
const MAX_CASE_REQUESTS: i64 = 1_000;

/// A `ListRequests` cursor: (at risk, due time in microseconds, request id).
type RequestCursor = (bool, i64, Uuid);

impl RequestService {
    pub(super) async fn get_request(
        &self,
        call: Call<pb::GetRequestRequest>,
    ) -> Result<pb::InternalRequest, Status> {
        let id: RequestId = field::id("request_id", &call.get_ref().request_id)?;
        let loaded = load_request(&self.store, id)
            .await
            .map_err(LoadError::into_status)?;
        if loaded.state.request.is_none() {
            return Err(status::not_found("request_id", "request", &id.to_string()));
        }
        self.present(&loaded.state, loaded.trigger).await
    }

    pub(super) async fn list_requests(
        &self,
        call: Call<pb::ListRequestsRequest>,
    ) -> Result<pb::ListRequestsResponse, Status> {
        let message = call.into_inner();
        let team: TeamId = field::id("team_id", &message.team_id)?;
        let role = field::optional_enum::<pb::TeamRole>("role", message.role)?;
        let mut states = Vec::with_capacity(message.states.len());
        for value in &message.states {
            let state: pb::RequestState = field::enumeration("states", *value)?;
            states.push(state.as_str_name().to_owned());
        }
        states.sort();
        states.dedup();
        let filter = format!(
            "team={team};role={role:?};states={states:?};at_risk_only={}",
            message.at_risk_only
        );
        let page: PageRequest<RequestCursor> =
            PageRequest::parse(message.page_size, &message.page_token, filter.as_bytes())?;
        let (as_provider, as_consumer) = match role {
            Some(pb::TeamRole::Provider) => (true, false),
            Some(pb::TeamRole::Consumer) => (false, true),
            Some(pb::TeamRole::Unspecified) | None => (true, true),
        };
        let after = page.after().copied();
        let after_due = after
            .map(|(_, micros, _)| {
                DateTime::<Utc>::from_timestamp_micros(micros)
                    .ok_or_else(|| status::invalid_argument("page_token", "is corrupt"))
            })
            .transpose()?;
        let rows = sqlx::query(
            "SELECT request_id, at_risk, due_at, view FROM requests
             WHERE (($2 AND provider_team_id = $1) OR ($3 AND consumer_team_id = $1))
               AND (cardinality($4::text[]) = 0 OR state = ANY($4))
               AND (NOT $5 OR at_risk)
               AND ($6::boolean IS NULL
                    OR at_risk < $6
                    OR (at_risk = $6 AND (due_at, request_id) > ($7, $8)))
             ORDER BY at_risk DESC, due_at, request_id
             LIMIT $9",
        )
        .bind(team.as_uuid())
        .bind(as_provider)
        .bind(as_consumer)
        .bind(&states)
        .bind(message.at_risk_only)
        .bind(after.map(|(at_risk, _, _)| at_risk))
        .bind(after_due)
        .bind(after.map(|(_, _, id)| id))
        .bind(page.fetch_limit())
        .fetch_all(self.store.pool())
        .await
        .map_err(|e| database_error(&e))?;
        let rows = rows
            .iter()
            .map(|row| {
                let id: Uuid = row.try_get("request_id")?;
                let at_risk: bool = row.try_get("at_risk")?;
                let due_at: DateTime<Utc> = row.try_get("due_at")?;
                let view: Vec<u8> = row.try_get("view")?;
                Ok(((at_risk, due_at.timestamp_micros(), id), view))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(|e| database_error(&e))?;
        let (rows, next_page_token) = page.finish(rows, |(cursor, _)| *cursor);
        let requests = rows
            .iter()
            .map(|(_, bytes)| IdempotentCommand::decode::<pb::InternalRequest>(bytes))
            .collect::<Result<_, _>>()?;
        Ok(pb::ListRequestsResponse {
            requests,
            next_page_token,
        })
    }

    pub(super) async fn get_case(
        &self,
        call: Call<pb::GetCaseRequest>,
    ) -> Result<pb::Case, Status> {
        let case_id = Uuid::parse_str(call.get_ref().case_id.trim())
            .ok()
            .filter(|id| !id.is_nil())
            .ok_or_else(|| {
                status::invalid_argument("case_id", "must be a ticket id or a root request id")
            })?;
        let members: Vec<Uuid> = sqlx::query_scalar(
            "SELECT request_id FROM requests WHERE case_id = $1 ORDER BY opened_at LIMIT $2",
        )
        .bind(case_id)
        .bind(MAX_CASE_REQUESTS + 1)
        .fetch_all(self.store.pool())
        .await
        .map_err(|e| database_error(&e))?;
        if members.is_empty() {
            return Err(status::not_found("case_id", "case", &case_id.to_string()));
        }
        if members.len() > usize::try_from(MAX_CASE_REQUESTS).unwrap_or(usize::MAX) {
            return Err(status::failed_precondition(
                "TooLarge",
                &format!("case {case_id}"),
                format!("the case has more than {MAX_CASE_REQUESTS} requests"),
            ));
        }
        let loaded = try_join_all(
            members
                .iter()
                .map(|id| load_request(&self.store, RequestId::from_uuid(*id))),
        )
        .await
        .map_err(LoadError::into_status)?;
        let triggers: BTreeMap<RequestId, Option<pb::RiskTrigger>> = loaded
            .iter()
            .filter_map(|l| l.request().map(|r| (r.id, l.trigger)))
            .collect();
        let traces = CaseTraces::of(self.store.pool(), &members).await?;
        let states: Vec<RequestState> = loaded.into_iter().map(|l| l.state).collect();
        let now = clock::now();
        let case = CaseView::from_states(states, now);
        Ok(case_view(&case, &triggers, &traces, now))
    }
}

/// The API's `Case` from a folded case tree.
fn case_view(
    case: &CaseView,
    triggers: &BTreeMap<RequestId, Option<pb::RiskTrigger>>,
    traces: &CaseTraces,
    now: DateTime<Utc>,
) -> pb::Case {
    let mut roots: Vec<RequestId> = case.roots.clone();
    let opened = |id: &RequestId| case.node(*id).map(|n| (n.request.opened_at, *id));
    roots.sort_by_key(opened);
    let mut nodes = Vec::with_capacity(case.nodes.len());
    // Depth first: a parent before its children, siblings by opening time.
    let mut stack: Vec<(RequestId, u32)> = roots.iter().rev().map(|id| (*id, 0)).collect();
    while let Some((id, depth)) = stack.pop() {
        let Some(node) = case.node(id) else {
            continue;
        };
        let ledger = case.ledger(id, now);
        let mut request = view::request(
            &node.request,
            node.version,
            triggers.get(&id).copied().flatten(),
            ledger.as_ref(),
        );
        if node.request.is_open() {
            // The tree's own projection: it holds even before propagation caught up.
            request.projected_completion = node.projected_completion.and_then(ts);
        }
        nodes.push(pb::CaseNode {
            request: Some(request),
            depth,
            on_critical_path: node.on_critical_path,
            trace_id: traces
                .latest
                .get(&id.as_uuid())
                .cloned()
                .unwrap_or_default(),
        });
        let mut children = node.children.clone();
        children.sort_by_key(opened);
        stack.extend(children.iter().rev().map(|child| (*child, depth + 1)));
    }
    let first = case.roots.first().and_then(|id| case.node(*id));
    let root_ticket_id = first
        .and_then(|n| n.request.case_id.ticket())
        .map(|t| t.to_string())
        .unwrap_or_default();
    let case_id = first
        .map(|n| n.request.case_id.as_uuid().to_string())
        .unwrap_or_default();
    let projected_completion = case
        .roots
        .iter()
        .filter_map(|id| case.node(*id).and_then(|n| n.projected_completion))
        .max();
    let critical_path = case.critical_path();
    pb::Case {
        case_id,
        root_ticket_id,
        nodes,
        projected_completion: projected_completion.and_then(ts),
        // The domain lists the bounding link first; the API goes from depth 0 down.
        critical_path_request_ids: critical_path
            .iter()
            .rev()
            .map(|link| link.request_id.to_string())
            .collect(),
        critical_link: case.feasibility.as_ref().map(|f| cause_link(f.bound_by)),
        at_risk: case
            .nodes
            .values()
            .any(|n| n.risk.is_some() || n.request.is_at_risk()),
        breakdown_trace_id: traces.breakdown.clone().unwrap_or_default(),
    }
}
