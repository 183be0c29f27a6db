//! The requests benchmark's output: tables for people, the goals with met / NOT met, and
//! one `bench: name=value unit` line per figure for scripts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::cpu::CpuUse;
use super::load::{Step, Tally};
use super::projector::CatchUp;

/// The goals on a 2-core machine.
pub const GOAL_COMMANDS_PER_S: f64 = 3_000.0;
/// p99 latency over all commands, ms.
pub const GOAL_P99_MS: f64 = 25.0;
/// The service's peak resident set, MiB.
pub const GOAL_RSS_MIB: f64 = 100.0;

/// Median, 99th percentile and maximum of a latency histogram, in milliseconds.
#[derive(Clone, Copy)]
pub struct Latency {
    /// Commands recorded.
    pub count: u64,
    /// Median, ms.
    pub p50: f64,
    /// 99th percentile, ms.
    pub p99: f64,
    /// Maximum, ms.
    pub max: f64,
}

impl Latency {
    /// Summarises microsecond latencies.
    pub fn of(histogram: &Histogram<u64>) -> Self {
        let ms = |micros: u64| micros as f64 / 1_000.0;
        Self {
            count: histogram.len(),
            p50: ms(histogram.value_at_quantile(0.5)),
            p99: ms(histogram.value_at_quantile(0.99)),
            max: ms(histogram.max()),
        }
    }
}

/// One measured phase: the clients over one channel setting.
pub struct Phase {
    /// Concurrent clients.
    pub clients: usize,
    /// HTTP/2 connections the clients share.
    pub channels: usize,
    /// From the end of the warm-up until the last recorded command finished, seconds.
    pub seconds: f64,
    /// Every successful command.
    pub overall: Latency,
    /// Each step's successful commands.
    pub steps: Vec<(Step, Latency)>,
    /// Failed commands by step and code.
    pub errors: BTreeMap<(Step, String), u64>,
    /// Failed commands during the warm-up.
    pub warm_up_errors: u64,
    /// Lifecycles completed.
    pub fulfilled: u64,
    /// The highest resident-set sample of the service during the phase (warm-up included), MiB.
    pub rss_peak_mib: f64,
    /// Where the CPU went during the measured window.
    pub cpu: CpuUse,
    /// PostgreSQL transactions per successful command (service, relay and projector).
    pub transactions_per_command: Option<f64>,
    /// The projector's backlog at the end and how long it took to clear.
    pub catch_up: CatchUp,
    /// Where the CPU went while the projector caught up (no load).
    pub catch_up_cpu: CpuUse,
    /// The service's tracing mode, when the run compares modes (`--tracing`).
    pub tracing: Option<&'static str>,
}

impl Phase {
    /// Builds a phase from what the clients tallied.
    pub fn new(
        clients: usize,
        channels: usize,
        seconds: f64,
        tally: &Tally,
        measured: PhaseMeasures,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            clients,
            channels,
            seconds,
            overall: Latency::of(&tally.overall()?),
            steps: Step::ALL
                .iter()
                .map(|&step| (step, Latency::of(tally.step(step))))
                .collect(),
            errors: tally.errors.clone(),
            warm_up_errors: tally.warm_up_errors,
            fulfilled: tally.fulfilled,
            rss_peak_mib: measured.rss_peak_mib,
            cpu: measured.cpu,
            transactions_per_command: measured
                .transactions
                .map(|tx| tx as f64 / (tally.commands().max(1)) as f64),
            catch_up: measured.catch_up,
            catch_up_cpu: measured.catch_up_cpu,
            tracing: None,
        })
    }

    /// The commands/s `cores` would reach doing nothing but this phase's work at its cost per
    /// command (with or without the bench's own clients), ignoring latency limits.
    pub fn ceiling(&self, cores: usize, with_bench: bool) -> f64 {
        let work = if with_bench {
            self.cpu.work()
        } else {
            self.cpu.work() - self.cpu.bench
        };
        cores as f64 * self.rate() / work.max(f64::EPSILON)
    }

    /// Successful commands per second.
    pub fn rate(&self) -> f64 {
        self.overall.count as f64 / self.seconds.max(f64::EPSILON)
    }

    fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    fn label(&self) -> String {
        let channels = if self.channels == 1 {
            "1 shared channel".to_owned()
        } else {
            format!("{} channels", self.channels)
        };
        match self.tracing {
            Some(mode) => format!("{channels}, tracing {mode}"),
            None => channels,
        }
    }

    fn key(&self) -> String {
        match self.tracing {
            Some(mode) => format!("ch{}_tracing_{mode}", self.channels),
            None => format!("ch{}", self.channels),
        }
    }
}

/// What was measured beside the clients' own tally.
pub struct PhaseMeasures {
    /// See [`Phase::rss_peak_mib`].
    pub rss_peak_mib: f64,
    /// See [`Phase::cpu`].
    pub cpu: CpuUse,
    /// Transactions in the window, if they could be read.
    pub transactions: Option<u64>,
    /// See [`Phase::catch_up`].
    pub catch_up: CatchUp,
    /// See [`Phase::catch_up_cpu`].
    pub catch_up_cpu: CpuUse,
}

/// Everything the run found.
#[derive(Default)]
pub struct Report {
    machine: Vec<(String, String)>,
    phases: Vec<Phase>,
    /// The highest resident-set sample over the whole run, MiB.
    pub rss_peak_mib: f64,
    /// The kernel's high-water mark at the end, MiB.
    pub rss_hwm_mib: Option<f64>,
    /// Resident set right after start-up (idle, teams declared), MiB.
    pub rss_idle_mib: Option<f64>,
    /// Resident-set samples taken.
    pub rss_samples: u64,
    /// Cores of the machine.
    pub cores: usize,
    /// How the service ended.
    pub exit: String,
    /// Lines the service logged (at the bench's log filter).
    pub service_log: Vec<String>,
    /// The tracing modes compared, when the run was asked to (`--tracing`).
    pub tracing: Option<super::traced::TracingComparison>,
}

impl Report {
    /// Notes a fact about the machine or the run.
    pub fn machine(&mut self, name: &str, value: impl ToString) {
        self.machine.push((name.to_owned(), value.to_string()));
    }

    /// Adds a measured phase.
    pub fn phase(&mut self, phase: Phase) {
        self.phases.push(phase);
    }

    /// The peak RSS judged against the goal: the kernel's high-water mark when known (it sees
    /// between samples), else the highest sample.
    fn rss_for_goal(&self) -> f64 {
        self.rss_hwm_mib
            .map_or(self.rss_peak_mib, |hwm| hwm.max(self.rss_peak_mib))
    }

    /// The whole report as text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("\n== machine and run ==\n");
        for (name, value) in &self.machine {
            let _ = writeln!(out, "{name:<26} {value}");
        }

        out.push_str("\n== requests-svc over gRPC: open, commit, fulfil ==\n");
        let _ = writeln!(
            out,
            "{:<18} {:>7} {:>9} {:>12} {:>8} {:>8} {:>8} {:>7} {:>9}",
            "clients over",
            "clients",
            "commands",
            "commands/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "errors",
            "RSS MiB"
        );
        for phase in &self.phases {
            let _ = writeln!(
                out,
                "{:<18} {:>7} {:>9} {:>12} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>9.1}",
                phase.label(),
                phase.clients,
                grouped(phase.overall.count as f64),
                grouped(phase.rate()),
                phase.overall.p50,
                phase.overall.p99,
                phase.overall.max,
                phase.error_count(),
                phase.rss_peak_mib
            );
        }

        for phase in &self.phases {
            let _ = writeln!(
                out,
                "\n-- {}: {:.1} s measured, {} lifecycles completed --",
                phase.label(),
                phase.seconds,
                grouped(phase.fulfilled as f64)
            );
            let _ = writeln!(
                out,
                "{:<16} {:>9} {:>12} {:>8} {:>8} {:>8}",
                "command", "count", "commands/s", "p50 ms", "p99 ms", "max ms"
            );
            for (step, latency) in &phase.steps {
                let _ = writeln!(
                    out,
                    "{:<16} {:>9} {:>12} {:>8.2} {:>8.2} {:>8.2}",
                    step.rpc(),
                    grouped(latency.count as f64),
                    grouped(latency.count as f64 / phase.seconds.max(f64::EPSILON)),
                    latency.p50,
                    latency.p99,
                    latency.max
                );
            }
            if phase.errors.is_empty() {
                let _ = writeln!(out, "errors: none");
            } else {
                let listed: Vec<String> = phase
                    .errors
                    .iter()
                    .map(|((step, code), count)| format!("{} {code} × {count}", step.rpc()))
                    .collect();
                let _ = writeln!(out, "errors: {}", listed.join(", "));
            }
            if phase.warm_up_errors > 0 {
                let _ = writeln!(out, "errors during warm-up: {}", phase.warm_up_errors);
            }
            let cpu = &phase.cpu;
            let _ = writeln!(
                out,
                "cpu (cores busy, window): service {:.2}, bench clients {:.2}, postgres {:.2}, \
                 nats {:.2}, other {:.2}; machine {:.2}, steal {:.1} %",
                cpu.service,
                cpu.bench,
                cpu.postgres,
                cpu.nats,
                cpu.other,
                cpu.machine,
                cpu.steal_share * 100.0
            );
            let _ = writeln!(
                out,
                "cpu per command: service {:.0} µs, postgres {:.0} µs, nats {:.0} µs, bench client \
                 {:.0} µs; ceiling if the {} cores did only this: {} commands/s ({} without the \
                 bench client)",
                cpu.micros_per(cpu.service, phase.overall.count),
                cpu.micros_per(cpu.postgres, phase.overall.count),
                cpu.micros_per(cpu.nats, phase.overall.count),
                cpu.micros_per(cpu.bench, phase.overall.count),
                self.cores,
                grouped(phase.ceiling(self.cores, true)),
                grouped(phase.ceiling(self.cores, false))
            );
            if let Some(tx) = phase.transactions_per_command {
                let _ = writeln!(
                    out,
                    "postgres transactions per command (service + relay + projector): {tx:.1}"
                );
            }
            let catch_up = &phase.catch_up;
            let _ = match catch_up.caught_up_after {
                Some(after) => writeln!(
                    out,
                    "projector: {} of {} events behind at the end of the load; caught up {:.2} s later",
                    grouped(catch_up.at_stop.behind() as f64),
                    grouped(catch_up.at_stop.events as f64),
                    after.as_secs_f64()
                ),
                None => writeln!(
                    out,
                    "projector: {} of {} events behind at the end of the load; still {} behind when the bench gave up",
                    grouped(catch_up.at_stop.behind() as f64),
                    grouped(catch_up.at_stop.events as f64),
                    grouped(catch_up.at_end.behind() as f64)
                ),
            };
            let cpu = &phase.catch_up_cpu;
            let projected = catch_up
                .at_end
                .processed
                .saturating_sub(catch_up.at_stop.processed);
            let _ = writeln!(
                out,
                "cpu while catching up (cores busy): service {:.2}, postgres {:.2}, nats {:.2}, \
                 other {:.2}; machine {:.2}; {} events/s, per event: service {:.0} µs, \
                 postgres {:.0} µs",
                cpu.service,
                cpu.postgres,
                cpu.nats,
                cpu.other,
                cpu.machine,
                grouped(projected as f64 / cpu.seconds.max(f64::EPSILON)),
                cpu.micros_per(cpu.service, projected),
                cpu.micros_per(cpu.postgres, projected)
            );
        }

        out.push_str("\n== service memory ==\n");
        if let Some(idle) = self.rss_idle_mib {
            let _ = writeln!(out, "RSS after start-up           {idle:.1} MiB");
        }
        let _ = writeln!(
            out,
            "peak RSS (sampled every 100 ms, {} samples) {:.1} MiB",
            self.rss_samples, self.rss_peak_mib
        );
        if let Some(hwm) = self.rss_hwm_mib {
            let _ = writeln!(out, "VmHWM at the end             {hwm:.1} MiB");
        }
        let _ = writeln!(out, "service exit                 {}", self.exit);
        if !self.service_log.is_empty() {
            let _ = writeln!(out, "service log (last {} lines):", self.service_log.len());
            for line in &self.service_log {
                let _ = writeln!(out, "  {line}");
            }
        }

        out.push_str("\n== goals (issue 3, on a 2-core machine) ==\n");
        let rss = self.rss_for_goal();
        for phase in &self.phases {
            let _ = writeln!(
                out,
                "{:<18} {:>8.0} commands/s (goal >= {GOAL_COMMANDS_PER_S:.0}: {}), \
                 p99 {:.2} ms (goal <= {GOAL_P99_MS:.0}: {}), errors {} ({})",
                phase.label(),
                phase.rate(),
                verdict(phase.rate() >= GOAL_COMMANDS_PER_S),
                phase.overall.p99,
                verdict(phase.overall.p99 <= GOAL_P99_MS),
                phase.error_count(),
                verdict(phase.error_count() == 0)
            );
        }
        let _ = writeln!(
            out,
            "service peak RSS {rss:.1} MiB (goal <= {GOAL_RSS_MIB:.0}: {})",
            verdict(rss <= GOAL_RSS_MIB)
        );

        if let Some(tracing) = &self.tracing {
            out.push_str(&tracing.render());
        }

        out.push('\n');
        for (name, value, unit) in self.figures() {
            let _ = writeln!(out, "bench: {name}={value} {unit}");
        }
        out
    }

    /// The greppable figures.
    fn figures(&self) -> Vec<(String, String, &'static str)> {
        let mut figures = Vec::new();
        for phase in &self.phases {
            let stem = format!("requests_{}", phase.key());
            let mut add = |name: String, value: String, unit: &'static str| {
                figures.push((name, value, unit));
            };
            add(
                format!("{stem}_clients"),
                phase.clients.to_string(),
                "clients",
            );
            add(
                format!("{stem}_commands_per_s"),
                format!("{:.0}", phase.rate()),
                "commands/s",
            );
            add(
                format!("{stem}_p50"),
                format!("{:.3}", phase.overall.p50),
                "ms",
            );
            add(
                format!("{stem}_p99"),
                format!("{:.3}", phase.overall.p99),
                "ms",
            );
            add(
                format!("{stem}_max"),
                format!("{:.3}", phase.overall.max),
                "ms",
            );
            for (step, latency) in &phase.steps {
                let key = step.key();
                add(
                    format!("{stem}_{key}_p50"),
                    format!("{:.3}", latency.p50),
                    "ms",
                );
                add(
                    format!("{stem}_{key}_p99"),
                    format!("{:.3}", latency.p99),
                    "ms",
                );
                add(
                    format!("{stem}_{key}_max"),
                    format!("{:.3}", latency.max),
                    "ms",
                );
            }
            add(
                format!("{stem}_errors"),
                phase.error_count().to_string(),
                "errors",
            );
            add(
                format!("{stem}_rss_peak"),
                format!("{:.1}", phase.rss_peak_mib),
                "MiB",
            );
            add(
                format!("{stem}_service_cpu"),
                format!("{:.2}", phase.cpu.service),
                "cores",
            );
            add(
                format!("{stem}_bench_cpu"),
                format!("{:.2}", phase.cpu.bench),
                "cores",
            );
            add(
                format!("{stem}_postgres_cpu"),
                format!("{:.2}", phase.cpu.postgres),
                "cores",
            );
            add(
                format!("{stem}_ceiling"),
                format!("{:.0}", phase.ceiling(self.cores, true)),
                "commands/s",
            );
            add(
                format!("{stem}_other_cpu"),
                format!("{:.2}", phase.cpu.other),
                "cores",
            );
            if let Some(tx) = phase.transactions_per_command {
                add(
                    format!("{stem}_pg_tx_per_command"),
                    format!("{tx:.2}"),
                    "tx",
                );
            }
            add(
                format!("{stem}_projector_backlog"),
                phase.catch_up.at_stop.behind().to_string(),
                "events",
            );
            if let Some(after) = phase.catch_up.caught_up_after {
                add(
                    format!("{stem}_projector_catch_up"),
                    format!("{:.3}", after.as_secs_f64()),
                    "s",
                );
            }
        }
        figures.push((
            "service_rss_peak".to_owned(),
            format!("{:.1}", self.rss_peak_mib),
            "MiB",
        ));
        if let Some(hwm) = self.rss_hwm_mib {
            figures.push(("service_rss_hwm".to_owned(), format!("{hwm:.1}"), "MiB"));
        }
        figures
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// `value` rounded, with thousands separated by commas.
fn grouped(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(grouped(999.4), "999");
        assert_eq!(grouped(3_000.0), "3,000");
        assert_eq!(grouped(1_234_567.0), "1,234,567");
    }

    #[test]
    fn latency_is_summarised_in_milliseconds() {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
        for micros in 1..=100 {
            histogram.record(micros * 1_000).expect("in range");
        }
        let latency = Latency::of(&histogram);
        assert_eq!(latency.count, 100);
        assert!((latency.p50 - 50.0).abs() < 0.1, "{}", latency.p50);
        assert!((latency.p99 - 99.0).abs() < 0.1, "{}", latency.p99);
        assert!((latency.max - 100.0).abs() < 0.1, "{}", latency.max);
    }

    #[test]
    fn the_goal_uses_the_high_water_mark_when_it_is_higher() {
        let report = Report {
            rss_peak_mib: 90.0,
            rss_hwm_mib: Some(101.0),
            ..Report::default()
        };
        assert!((report.rss_for_goal() - 101.0).abs() < f64::EPSILON);
        let text = report.render();
        assert!(text.contains("goal <= 100: NOT met"), "{text}");
        assert!(
            text.contains("bench: service_rss_hwm=101.0 MiB\n"),
            "{text}"
        );
    }
}
