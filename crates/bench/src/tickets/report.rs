//! What `tickets-bench` prints: the machine and the run's settings, then per phase (target
//! rate) the achieved rate, counts and errors, the latency of a turn (commit → GetTicket shows
//! the new state; p50, p99, max) beside the goal, what the watch and the databases
//! say about where the time went, and the CPU each process used.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::lag::ConsumerLag;
use super::observe::Tally;
use crate::requests::cpu::CpuUse;

/// One phase's figures.
pub struct Phase {
    /// The target rate, request events per second.
    pub rate: f64,
    /// The measured window, seconds.
    pub seconds: f64,
    /// What the board counted.
    pub tally: Tally,
    /// Turns still in flight when the drain gave up.
    pub unfinished: usize,
    /// Request event written → ticket reaction written (databases' clocks), µs.
    pub relay_to_chain_view: Option<Histogram<u64>>,
    /// Request events written by requests-svc, and applied by the chain view, per second.
    pub flow: Option<(f64, f64)>,
    /// Each consumer's lag (bus → applied) over the window, from the services' metrics.
    pub consumer_lag: Vec<ConsumerLag>,
    /// CPU with requests-svc as "the service".
    pub cpu_requests: CpuUse,
    /// CPU with tickets-svc as "the service".
    pub cpu_tickets: CpuUse,
    /// The p99 goal at this rate, ms (none beyond the two rates).
    pub goal_p99_ms: Option<f64>,
}

/// The whole report.
#[derive(Default)]
pub struct Report {
    machine: Vec<(String, String)>,
    phases: Vec<Phase>,
    /// The last lines each service logged, when it logged anything.
    pub logs: Vec<(String, Vec<String>)>,
}

impl Report {
    /// A line about the machine or the run.
    pub fn machine(&mut self, key: &str, value: impl std::fmt::Display) {
        self.machine.push((key.to_owned(), value.to_string()));
    }

    /// A measured phase.
    pub fn phase(&mut self, phase: Phase) {
        self.phases.push(phase);
    }

    /// The report as text.
    pub fn render(&self) -> String {
        let mut out =
            String::from("\ntickets-bench: request event committed → ticket AT_RISK readable\n\n");
        for (key, value) in &self.machine {
            let _ = writeln!(out, "  {key:<32} {value}");
        }
        out.push('\n');
        let _ = writeln!(
            out,
            "| target events/s | events written/s | revisions/s | turns measured | errors | starved | p50 | p99 | max | goal p99 | met |"
        );
        let _ = writeln!(
            out,
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
        );
        for phase in &self.phases {
            let _ = writeln!(out, "{}", phase.row());
        }
        for phase in &self.phases {
            out.push('\n');
            phase.details(&mut out);
        }
        for (service, lines) in &self.logs {
            let _ = writeln!(out, "\n{service} logged (last lines):");
            for line in lines {
                let _ = writeln!(out, "  {line}");
            }
        }
        out
    }
}

impl Phase {
    fn errors(&self) -> u64 {
        self.tally.errors.values().sum::<u64>() + self.unfinished as u64
    }

    #[allow(clippy::cast_precision_loss, reason = "counts stay far below 2^52")]
    fn achieved(&self) -> f64 {
        self.tally.committed as f64 / self.seconds
    }

    fn row(&self) -> String {
        let t = &self.tally.at_risk;
        let (goal, met) = match self.goal_p99_ms {
            Some(goal) if !t.is_empty() => (
                format!("{goal:.0} ms"),
                if ms(t, 0.99) <= goal { "yes" } else { "no" }.to_owned(),
            ),
            Some(goal) => (format!("{goal:.0} ms"), "no data".to_owned()),
            None => ("-".to_owned(), "-".to_owned()),
        };
        format!(
            "| {:.0} | {} | {:.0} | {} at risk + {} cleared | {} | {} | {} | {} | {} | {goal} | {met} |",
            self.rate,
            self.flow
                .map_or_else(|| "-".to_owned(), |(written, _)| format!("{written:.0}")),
            self.achieved(),
            t.len(),
            self.tally.cleared.len(),
            self.errors(),
            self.tally.starved,
            quantile(t, 0.5),
            quantile(t, 0.99),
            quantile(t, 1.0),
        )
    }

    fn details(&self, out: &mut String) {
        let tally = &self.tally;
        let _ = writeln!(
            out,
            "phase {:.0} events/s ({:.1} s measured): {} revisions sent, {} committed ({:.0}/s), {} turns confirmed, {} missed by the watch (polled), {} unfinished",
            self.rate,
            self.seconds,
            tally.sent,
            tally.committed,
            self.achieved(),
            tally.confirmed(),
            tally.missed_by_watch,
            self.unfinished,
        );
        for (cause, count) in &tally.errors {
            let _ = writeln!(out, "  error  {cause}: {count}");
        }
        let lines = [
            ("commit → GetTicket AT_RISK", Some(&tally.at_risk)),
            (
                "commit → WatchTickets PromiseAtRisk",
                Some(&tally.at_risk_watched),
            ),
            (
                "commit → GetTicket PROMISED (cleared)",
                Some(&tally.cleared),
            ),
            ("ReviseRequest round trip", Some(&tally.rpc)),
            (
                "request written → reaction written (db)",
                self.relay_to_chain_view.as_ref(),
            ),
        ];
        for (what, histogram) in lines {
            if let Some(h) = histogram {
                let _ = writeln!(
                    out,
                    "  {what:<42} n={:<6} p50 {:>9} p99 {:>9} max {:>9}",
                    h.len(),
                    quantile(h, 0.5),
                    quantile(h, 0.99),
                    quantile(h, 1.0)
                );
            }
        }
        if let Some((written, applied)) = self.flow {
            let _ = writeln!(
                out,
                "  request events: written {written:.0}/s (commands and requests-svc's reactions), applied by the chain view {applied:.0}/s"
            );
        }
        for lag in &self.consumer_lag {
            let p99 = lag
                .p99_at_most_ms
                .map_or("beyond the last bucket".to_owned(), |ms| {
                    format!("≤ {ms:.0} ms")
                });
            let _ = writeln!(
                out,
                "  lag bus → applied, {:<19} n={:<6} mean {:>6.1} ms, p99 {p99} (per transaction); \
                 {:.0} events a transaction, {:.1} ms each, busy {:.0} %",
                lag.consumer,
                lag.transactions,
                lag.mean_ms,
                lag.messages_per_transaction,
                lag.transaction_ms,
                lag.busy * 100.0
            );
        }
        let (r, t) = (&self.cpu_requests, &self.cpu_tickets);
        let _ = writeln!(
            out,
            "  cpu (cores): requests-svc {:.2}, tickets-svc {:.2}, postgres {:.2}, nats {:.2}, bench {:.2}, other {:.2}; machine busy {:.2}, steal {:.1}%",
            r.service,
            t.service,
            r.postgres,
            r.nats,
            r.bench,
            (r.other - t.service).max(0.0),
            r.machine,
            r.steal_share * 100.0,
        );
    }
}

/// Quantile `q` of `histogram` (µs) in ms, as "12.3 ms", or "-" when empty.
fn quantile(histogram: &Histogram<u64>, q: f64) -> String {
    if histogram.is_empty() {
        "-".to_owned()
    } else {
        format!("{:.1} ms", ms(histogram, q))
    }
}

#[allow(
    clippy::cast_precision_loss,
    reason = "latencies stay far below 2^52 µs"
)]
fn ms(histogram: &Histogram<u64>, q: f64) -> f64 {
    histogram.value_at_quantile(q) as f64 / 1_000.0
}
