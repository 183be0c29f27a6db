//! The load: at a fixed rate, open loop (a slow system does not slow the schedule), take a
//! free ticket and have transport revise the delivery behind it — past the promise when the
//! ticket is promised, back before it when the ticket is at risk — through requests-svc's
//! `ReviseRequest`. The [`Board`] hears of the commit; the watch and GetTicket do the rest.

use std::sync::Arc;
use std::time::Duration;

use chain_proto::customerchain::v1 as pb;
use chain_proto::customerchain::v1::internal_request_service_client::InternalRequestServiceClient;
use chrono::TimeDelta;
use tokio::time::Instant;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::Channel;

use super::cases::Case;
use super::observe::{Board, Turn};
use super::{acting, fresh_key};

/// How late a late revision is: the furniture story's three days.
const LATE_BY: TimeDelta = TimeDelta::days(3);
/// How early an early revision is, before the promise.
const EARLY_BY: TimeDelta = TimeDelta::hours(1);

/// One phase's schedule.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// Revisions per second.
    pub rate: f64,
    /// Paced but not measured, first.
    pub warm_up: Duration,
    /// Measured, after the warm-up.
    pub measured: Duration,
}

/// When the measured window ran, on the bench's clock and the wall clock.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// Its start.
    pub from: Instant,
    /// Its start on the wall clock (to compare with the databases' timestamps).
    pub from_wall: chrono::DateTime<chrono::Utc>,
    /// When the last measured send was scheduled.
    pub until: Instant,
}

/// Paces revisions by `transport` on `cases` for the whole schedule; returns the window.
pub async fn run(
    schedule: Schedule,
    board: &Board,
    cases: &Arc<Vec<Case>>,
    requests: &Channel,
    transport: &AsciiMetadataValue,
) -> Window {
    let client = InternalRequestServiceClient::new(requests.clone());
    let start = Instant::now();
    let from = start + schedule.warm_up;
    let until = from + schedule.measured;
    let mut from_wall = None;
    for i in 0_u64.. {
        #[allow(
            clippy::cast_precision_loss,
            reason = "send numbers stay far below 2^52"
        )]
        let at = start + Duration::from_secs_f64(i as f64 / schedule.rate);
        if at >= until {
            break;
        }
        tokio::time::sleep_until(at).await;
        let measured = at >= from;
        if measured && from_wall.is_none() {
            from_wall = Some(chrono::Utc::now());
        }
        if let Some((case, turn)) = board.take(measured) {
            let revise = revision(&cases[case], turn);
            tokio::spawn(send(
                client.clone(),
                board.clone(),
                case,
                acting(transport, revise),
            ));
        }
    }
    Window {
        from,
        from_wall: from_wall.unwrap_or_else(chrono::Utc::now),
        until,
    }
}

/// The revision that makes `turn` happen on `case`.
fn revision(case: &Case, turn: Turn) -> pb::ReviseRequestRequest {
    let new_due = match turn {
        Turn::AtRisk => case.due_at + LATE_BY,
        Turn::Cleared => case.due_at - EARLY_BY,
    };
    pb::ReviseRequestRequest {
        idempotency_key: fresh_key(),
        request_id: case.delivery_id.clone(),
        expected_version: 0,
        new_due_at: Some(chain_proto::timestamp::from_datetime(new_due)),
        reason: "Bench revision".to_owned(),
    }
}

async fn send(
    mut client: InternalRequestServiceClient<Channel>,
    board: Board,
    case: usize,
    revise: tonic::Request<pb::ReviseRequestRequest>,
) {
    let start = Instant::now();
    let result = client.revise_request(revise).await;
    let error = result
        .err()
        .map(|status| format!("ReviseRequest {:?}", status.code()));
    board.committed(case, start.elapsed(), error);
}

/// Waits until no turn is in flight, at most `limit`; returns how many still are.
pub async fn drain(board: &Board, limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let left = board.in_flight();
        if left == 0 || Instant::now() >= deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
