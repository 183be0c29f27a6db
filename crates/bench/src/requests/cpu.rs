//! Where the CPU went during a phase: the service, the bench's own clients, PostgreSQL (every
//! `postgres` process), the nats-server, and everything else on the machine (other builds), from
//! `/proc/<pid>/stat` and `/proc/stat` snapshots taken before and after.

use tokio::time::Instant;

/// Clock ticks per second in `/proc` (`USER_HZ`): fixed at 100 by the kernel's ABI on the
/// architectures this runs on, whatever the kernel's internal tick rate.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU tick counters at one moment.
#[derive(Clone, Copy)]
pub struct CpuSnapshot {
    at: Instant,
    service: u64,
    bench: u64,
    postgres: u64,
    nats: u64,
    machine: MachineTicks,
}

/// The machine-wide counters of `/proc/stat`'s `cpu` line.
#[derive(Clone, Copy, Default)]
struct MachineTicks {
    busy: u64,
    steal: u64,
    total: u64,
}

/// CPU used between two snapshots, in cores (CPU seconds per wall second).
pub struct CpuUse {
    /// Wall time between the snapshots, seconds.
    pub seconds: f64,
    /// The service process.
    pub service: f64,
    /// This bench (its gRPC clients).
    pub bench: f64,
    /// Every `postgres` process (the service's connections and the server's own workers).
    pub postgres: f64,
    /// The nats-server.
    pub nats: f64,
    /// Everything else busy on the machine (other builds, the kernel's own threads).
    pub other: f64,
    /// The machine's busy cores in all.
    pub machine: f64,
    /// The share of time the hypervisor took away (steal), of all CPU time.
    pub steal_share: f64,
}

impl CpuSnapshot {
    /// Reads the counters now.
    pub fn take(service_pid: u32) -> Self {
        let mut postgres = 0;
        let mut nats = 0;
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                    continue;
                };
                match process_ticks(pid) {
                    Some((comm, ticks)) if comm == "postgres" => postgres += ticks,
                    Some((comm, ticks)) if comm == "nats-server" => nats += ticks,
                    _ => {}
                }
            }
        }
        Self {
            at: Instant::now(),
            service: process_ticks(service_pid).map_or(0, |(_, ticks)| ticks),
            bench: process_ticks(std::process::id()).map_or(0, |(_, ticks)| ticks),
            postgres,
            nats,
            machine: machine_ticks().unwrap_or_default(),
        }
    }

    /// What was used from `earlier` until this snapshot.
    pub fn since(&self, earlier: &Self) -> CpuUse {
        let wall = self.at.duration_since(earlier.at);
        let seconds = wall.as_secs_f64().max(f64::EPSILON);
        let cores =
            |now: u64, then: u64| now.saturating_sub(then) as f64 / TICKS_PER_SECOND / seconds;
        let service = cores(self.service, earlier.service);
        let bench = cores(self.bench, earlier.bench);
        let postgres = cores(self.postgres, earlier.postgres);
        let nats = cores(self.nats, earlier.nats);
        let machine = cores(self.machine.busy, earlier.machine.busy);
        let total = self
            .machine
            .total
            .saturating_sub(earlier.machine.total)
            .max(1);
        CpuUse {
            seconds,
            service,
            bench,
            postgres,
            nats,
            other: (machine - service - bench - postgres - nats).max(0.0),
            machine,
            steal_share: self.machine.steal.saturating_sub(earlier.machine.steal) as f64
                / total as f64,
        }
    }
}

/// A process's command name and user + system ticks, from `/proc/<pid>/stat`.
fn process_ticks(pid: u32) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_process_stat(&stat)
}

fn parse_process_stat(stat: &str) -> Option<(String, u64)> {
    // The command name sits in parentheses and may itself hold spaces and parentheses: the
    // fields resume after the last `)`.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // After the name: state is field 3 of the man page, utime 14 and stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

fn machine_ticks() -> Option<MachineTicks> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_machine_stat(&stat)
}

fn parse_machine_stat(stat: &str) -> Option<MachineTicks> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
    let at = |i: usize| values.get(i).copied().unwrap_or(0);
    let busy = at(0) + at(1) + at(2) + at(5) + at(6);
    let steal = at(7);
    Some(MachineTicks {
        busy,
        steal,
        total: busy + at(3) + at(4) + steal,
    })
}

impl CpuUse {
    /// The CPU time one of `items` (commands, events) cost, in microseconds, at `cores`.
    pub fn micros_per(&self, cores: f64, items: u64) -> f64 {
        cores * self.seconds * 1e6 / items.max(1) as f64
    }

    /// Cores the service, the bench, PostgreSQL and NATS used together: the work itself.
    pub fn work(&self) -> f64 {
        self.service + self.bench + self.postgres + self.nats
    }
}

/// The machine's load averages, as `/proc/loadavg` has them (1, 5 and 15 minutes).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_stat_line_yields_its_name_and_ticks() {
        let stat = "4242 (postgres: x (y)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 \
                    100 1000 100 18446744073709551615";
        assert_eq!(
            parse_process_stat(stat),
            Some(("postgres: x (y)".to_owned(), 300))
        );
    }

    #[test]
    fn the_machine_line_splits_busy_idle_and_steal() {
        let stat = "cpu  100 10 50 800 20 5 5 10 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        let ticks = parse_machine_stat(stat).expect("a cpu line");
        assert_eq!(ticks.busy, 170);
        assert_eq!(ticks.steal, 10);
        assert_eq!(ticks.total, 1_000);
    }

    #[test]
    fn this_process_is_found() {
        let (_, ticks) = process_ticks(std::process::id()).expect("our own stat");
        let snapshot = CpuSnapshot::take(std::process::id());
        assert!(snapshot.service >= ticks && snapshot.bench >= ticks);
        assert!(snapshot.machine.total > 0);
    }
}
