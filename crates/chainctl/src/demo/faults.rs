//! Breaking links on purpose, client-side: the failing team's links slip (a revision past the
//! customer's due time) or break down (its consumer reports it was not served well), at the
//! rate the flags ask, plus a little noise on the other teams. Each fault runs in a span that
//! carries `chain.team`, `chain.fault.injected = true` and `chain.fault.kind`, so the trace
//! shows which hop was broken and how; `--fault-latency` also makes that hop slow.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;
use tracing::Instrument as _;

use crate::demo::chain::Chain;
use crate::demo::org::Team;
use crate::error::Failure;

/// How a link is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The provider revises its due time past the customer's due time.
    Delay,
    /// The consumer reports the provider did not serve it well.
    Breakdown,
}

impl FaultKind {
    /// The value of `chain.fault.kind`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Delay => "delay",
            Self::Breakdown => "breakdown",
        }
    }
}

/// Which faults to inject, from the demo's flags.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    /// The team whose links fail.
    pub failing_team: Team,
    /// The share of its requests that fail.
    pub failure_rate: f64,
    /// The share of other teams' requests that fail (background noise).
    pub noise_rate: f64,
    /// How late a slipped link delivers after the customer's due time.
    pub delay: TimeDelta,
    /// Extra time the faulty call takes, so the slow hop stands out in the trace.
    pub latency: Duration,
}

/// One fault chosen for a case: which hop, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The index of the broken hop in the case's chain.
    pub hop: usize,
    /// How it breaks.
    pub kind: FaultKind,
    /// Whether it is the failing team's (or background noise).
    pub injected: bool,
}

impl FaultPlan {
    /// The fault of a case whose hops are served by `providers` (in chain order), if any: the
    /// deepest hop of the failing team fails at the failure rate; otherwise, rarely, a random
    /// other hop.
    pub fn choose(&self, providers: &[&Team], rng: &mut impl Rng) -> Option<Fault> {
        let kind = |rng: &mut dyn rand::RngCore| {
            if rng.random_bool(0.75) {
                FaultKind::Delay
            } else {
                FaultKind::Breakdown
            }
        };
        if let Some(hop) = providers.iter().rposition(|t| t.id == self.failing_team.id) {
            if rng.random_bool(self.failure_rate.clamp(0.0, 1.0)) {
                return Some(Fault {
                    hop,
                    kind: kind(rng),
                    injected: true,
                });
            }
            return None;
        }
        if !providers.is_empty() && rng.random_bool(self.noise_rate.clamp(0.0, 1.0)) {
            let hop = rng.random_range(0..providers.len());
            return Some(Fault {
                hop,
                kind: kind(rng),
                injected: false,
            });
        }
        None
    }

    /// Breaks the hop `request_id` served by `provider` for `consumer`, as `fault` says.
    pub async fn inject(
        &self,
        chain: &Chain,
        fault: Fault,
        provider: &Team,
        consumer: &Team,
        request_id: &str,
        customer_due: DateTime<Utc>,
    ) -> Result<(), Failure> {
        let span = tracing::info_span!(
            "chainctl.fault",
            otel.name = format!("fault: {} {}", provider.name, fault.kind.name()),
            chain.team = %provider.name,
            chain.link = %format!("{} -> {}", provider.name, consumer.name),
            chain.request_id = %request_id,
            chain.fault.injected = true,
            chain.fault.kind = fault.kind.name(),
            chain.fault.planned = fault.injected,
        );
        async {
            if fault.injected && !self.latency.is_zero() {
                tokio::time::sleep(self.latency).await;
            }
            match fault.kind {
                FaultKind::Delay => {
                    let late = customer_due + self.delay;
                    chain
                        .revise(
                            &provider.id,
                            request_id,
                            late,
                            "Capacity shortfall: the work slips",
                        )
                        .await
                }
                FaultKind::Breakdown => {
                    chain
                        .report_breakdown(
                            &consumer.id,
                            request_id,
                            "Delivered damaged; has to be redone",
                        )
                        .await
                }
            }
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng as _;

    fn team(id: &str) -> Team {
        Team {
            id: id.to_owned(),
            name: id.to_owned(),
            front_line: false,
        }
    }

    #[test]
    fn the_failing_team_fails_at_its_rate_and_others_rarely() {
        let plan = FaultPlan {
            failing_team: team("transport"),
            failure_rate: 1.0,
            noise_rate: 0.0,
            delay: TimeDelta::days(3),
            latency: Duration::ZERO,
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (workshop, transport, warehouse) =
            (team("workshop"), team("transport"), team("warehouse"));
        let fault = plan
            .choose(&[&workshop, &transport, &warehouse], &mut rng)
            .expect("a fault");
        assert_eq!(fault.hop, 1);
        assert!(fault.injected);
        assert_eq!(plan.choose(&[&workshop, &warehouse], &mut rng), None);
    }
}
