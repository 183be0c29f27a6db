//! Waiting for the services' projections: events travel from requests-svc over NATS to
//! tickets-svc and scoring-svc, so the broken cases show as at-risk tickets, and then as impact
//! records, a moment after the demo broke them. The wait is bounded and says what it waits for.

use std::collections::HashMap;
use std::time::Duration;

use chain_proto::customerchain::v1 as pb;
use futures::{StreamExt as _, TryStreamExt as _};
use tokio::time::Instant;

use crate::demo::cases::CaseRecord;
use crate::demo::chain::Chain;
use crate::error::Failure;

/// How often the projections are read again.
const POLL: Duration = Duration::from_millis(250);

/// What the projections showed by the end of the wait.
#[derive(Debug, Default)]
pub struct Settled {
    /// The broken cases' tickets seen at risk (or broken), by ticket id.
    pub at_risk: HashMap<String, pb::Ticket>,
    /// How many broken cases there were.
    pub broken: usize,
    /// Whether scoring-svc recorded the impacts too.
    pub scored: bool,
}

/// Waits until every broken case's ticket is at risk and scoring-svc holds `impacts_before`
/// plus one impact per such ticket (and `extra` more), or until `deadline`.
pub async fn wait(
    chain: &Chain,
    records: &[CaseRecord],
    impacts_before: u32,
    extra: u32,
    deadline: Instant,
    concurrency: usize,
) -> Result<Settled, Failure> {
    let broken: Vec<&CaseRecord> = records.iter().filter(|r| r.fault.is_some()).collect();
    let mut settled = Settled {
        broken: broken.len(),
        ..Settled::default()
    };
    loop {
        let pending: Vec<&str> = broken
            .iter()
            .map(|r| r.ticket_id.as_str())
            .filter(|id| !settled.at_risk.contains_key(*id))
            .collect();
        let seen: Vec<pb::Ticket> = futures::stream::iter(pending)
            .map(|id| chain.ticket(id))
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await?;
        for ticket in seen {
            if matches!(
                ticket.state(),
                pb::TicketState::AtRisk | pb::TicketState::Broken
            ) {
                settled.at_risk.insert(ticket.ticket_id.clone(), ticket);
            }
        }
        if settled.at_risk.len() == settled.broken {
            break;
        }
        if Instant::now() >= deadline {
            return Ok(settled);
        }
        tokio::time::sleep(POLL).await;
    }
    let wanted = impacts_before + u32::try_from(settled.at_risk.len()).unwrap_or(u32::MAX) + extra;
    loop {
        let summary = chain.impact_summary("").await?;
        if summary.impacts >= wanted {
            settled.scored = true;
            return Ok(settled);
        }
        if Instant::now() >= deadline {
            return Ok(settled);
        }
        tokio::time::sleep(POLL).await;
    }
}
