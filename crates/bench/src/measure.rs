//! The timing harness: N writers, each looping on one operation for a fixed time, with every
//! operation's latency recorded.

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use hdrhistogram::Histogram;
use tokio::time::Instant;

/// Latencies are recorded in microseconds, from 1 µs up to a minute, to 3 significant digits.
const LATENCY_MAX_US: u64 = 60_000_000;

/// How long the harness waits after spawning the writers before the clock starts, so every
/// writer is parked at the start line rather than the first ones getting a head start.
const START_LINE: Duration = Duration::from_millis(100);

/// One writer of a run: something that performs the measured operation once per call.
pub trait Writer: Send + 'static {
    /// Performs the operation once. An error ends the whole run.
    fn step(&mut self) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// What a run of several writers achieved.
pub struct Run {
    /// Operations completed before the deadline (each writer's last one may end after it).
    pub ops: u64,
    /// From the start line until the last writer finished its last operation.
    pub elapsed: Duration,
    /// Every operation's latency, in microseconds.
    pub latency: Histogram<u64>,
}

impl Run {
    /// Operations per second.
    pub fn rate(&self) -> f64 {
        per_second(self.ops, self.elapsed)
    }

    /// Latency at `quantile` (0.5 for the median), in milliseconds.
    pub fn latency_ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1_000.0
    }
}

/// `count` per second over `elapsed`.
pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
}

/// Runs every writer concurrently, each on its own task, for `duration`, and merges what they
/// measured.
pub async fn run_writers<W: Writer>(writers: Vec<W>, duration: Duration) -> anyhow::Result<Run> {
    let start = Instant::now() + START_LINE;
    let deadline = start + duration;
    let tasks: Vec<_> = writers
        .into_iter()
        .map(|writer| tokio::spawn(drive(writer, start, deadline)))
        .collect();

    let mut run = Run {
        ops: 0,
        elapsed: Duration::ZERO,
        latency: new_histogram()?,
    };
    for task in tasks {
        let (ops, finished, latency) = task.await.context("a writer task panicked")??;
        run.ops += ops;
        run.elapsed = run.elapsed.max(finished.duration_since(start));
        run.latency
            .add(&latency)
            .context("merging latency histograms")?;
    }
    Ok(run)
}

/// One writer's loop: wait for the start line, then step until the deadline.
async fn drive<W: Writer>(
    mut writer: W,
    start: Instant,
    deadline: Instant,
) -> anyhow::Result<(u64, Instant, Histogram<u64>)> {
    let mut latency = new_histogram()?;
    let mut ops = 0;
    tokio::time::sleep_until(start).await;
    let mut now = Instant::now();
    while now < deadline {
        writer.step().await?;
        let done = Instant::now();
        let micros = u64::try_from(done.duration_since(now).as_micros()).unwrap_or(u64::MAX);
        latency.saturating_record(micros.max(1));
        ops += 1;
        now = done;
    }
    Ok((ops, now, latency))
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).context("creating a latency histogram")
}
