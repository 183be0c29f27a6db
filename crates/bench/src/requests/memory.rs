//! The service's memory: its resident set (`VmRSS` in `/proc/<pid>/status`) sampled every
//! 100 ms by a task of its own, keeping the peak of the whole run and of the current phase,
//! and the kernel's own high-water mark (`VmHWM`) read on demand.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;

/// How often the resident set is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Samples one process's resident set until dropped.
pub struct RssSampler {
    peaks: Arc<Peaks>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct Peaks {
    run_kib: AtomicU64,
    phase_kib: AtomicU64,
    samples: AtomicU64,
}

impl RssSampler {
    /// Starts sampling process `pid`.
    pub fn spawn(pid: u32) -> Self {
        let peaks = Arc::new(Peaks::default());
        let task = tokio::spawn({
            let peaks = Arc::clone(&peaks);
            async move {
                let mut tick = tokio::time::interval(SAMPLE_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    // A process that is gone has nothing more to sample.
                    let Some(kib) = status_kib(pid, "VmRSS:") else {
                        return;
                    };
                    peaks.run_kib.fetch_max(kib, Ordering::Relaxed);
                    peaks.phase_kib.fetch_max(kib, Ordering::Relaxed);
                    peaks.samples.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Self { peaks, task }
    }

    /// The highest sample since the start, MiB.
    pub fn run_peak_mib(&self) -> f64 {
        kib_to_mib(self.peaks.run_kib.load(Ordering::Relaxed))
    }

    /// The highest sample since the last call (or the start), MiB; starts a new phase.
    pub fn take_phase_peak_mib(&self) -> f64 {
        kib_to_mib(self.peaks.phase_kib.swap(0, Ordering::Relaxed))
    }

    /// Samples taken.
    pub fn samples(&self) -> u64 {
        self.peaks.samples.load(Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The kernel's high-water mark of the process's resident set, MiB.
pub fn high_water_mib(pid: u32) -> Option<f64> {
    status_kib(pid, "VmHWM:").map(kib_to_mib)
}

/// The resident set of the process right now, MiB.
pub fn resident_mib(pid: u32) -> Option<f64> {
    status_kib(pid, "VmRSS:").map(kib_to_mib)
}

/// The value of `field` (a `kB` line such as `VmRSS:   12345 kB`) in `/proc/<pid>/status`.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    kib_field(&status, field)
}

fn kib_field(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_in_kib() {
        let status = "Name:\trequests-svc\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n";
        assert_eq!(kib_field(status, "VmRSS:"), Some(40_960));
        assert_eq!(kib_field(status, "VmHWM:"), Some(51_200));
        assert_eq!(kib_field(status, "VmSwap:"), None);
        assert!((kib_to_mib(51_200) - 50.0).abs() < f64::EPSILON);
    }

    #[test]
    fn this_process_has_a_resident_set() {
        let me = std::process::id();
        let rss = resident_mib(me).expect("our own VmRSS");
        let hwm = high_water_mib(me).expect("our own VmHWM");
        assert!(rss > 0.0 && hwm >= rss, "rss {rss}, hwm {hwm}");
    }
}
