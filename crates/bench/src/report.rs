//! The benchmark's output: a plain-text table for people, and one `bench: name=value unit` line
//! per figure for scripts.

use std::fmt::Write as _;

/// One measured write workload at one writer count.
pub struct WriteRow {
    /// What was measured, for people.
    pub label: &'static str,
    /// The figure-name stem, for scripts.
    pub key: &'static str,
    /// Concurrent writers.
    pub writers: usize,
    /// Operations per second.
    pub rate: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Rate divided by the plain INSERT rate at the same writer count.
    pub vs_insert: f64,
    /// The unit of `rate`.
    pub unit: &'static str,
}

/// One measured bulk movement of events or messages.
pub struct MoveRow {
    /// What was measured, for people.
    pub label: String,
    /// The figure name, for scripts.
    pub key: String,
    /// Items moved.
    pub count: u64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Items per second.
    pub rate: f64,
    /// Rate divided by raw JetStream publishing, where that comparison means something.
    pub vs_raw: Option<f64>,
    /// The unit of `rate`.
    pub unit: &'static str,
}

/// Everything the run found, printed at the end.
#[derive(Default)]
pub struct Report {
    machine: Vec<(String, String)>,
    writes: Vec<WriteRow>,
    moves: Vec<MoveRow>,
    goals: Vec<String>,
    figures: Vec<(String, String, String)>,
}

impl Report {
    /// Notes a fact about the machine or the run.
    pub fn machine(&mut self, name: &str, value: impl ToString) {
        self.machine.push((name.to_owned(), value.to_string()));
    }

    /// Adds a figure that appears only in the greppable lines.
    pub fn figure(&mut self, name: impl Into<String>, value: impl ToString, unit: &str) {
        self.figures
            .push((name.into(), value.to_string(), unit.to_owned()));
    }

    /// Adds a write measurement and its figures.
    pub fn write(&mut self, row: WriteRow) {
        let stem = format!("{}_w{}", row.key, row.writers);
        self.figure(&stem, format!("{:.0}", row.rate), row.unit);
        self.figure(format!("{stem}_p50"), format!("{:.3}", row.p50_ms), "ms");
        self.figure(format!("{stem}_p99"), format!("{:.3}", row.p99_ms), "ms");
        if row.key != "insert" {
            self.figure(
                format!("{stem}_vs_insert"),
                format!("{:.2}", row.vs_insert),
                "x",
            );
        }
        self.writes.push(row);
    }

    /// Adds a bulk movement and its figures.
    pub fn movement(&mut self, row: MoveRow) {
        self.figure(&row.key, format!("{:.0}", row.rate), row.unit);
        if let Some(ratio) = row.vs_raw {
            self.figure(format!("{}_vs_raw", row.key), format!("{ratio:.2}"), "x");
        }
        self.moves.push(row);
    }

    /// Adds a line to the goals section.
    pub fn goal(&mut self, line: String) {
        self.goals.push(line);
    }

    /// The whole report as text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("\n== machine ==\n");
        for (name, value) in &self.machine {
            let _ = writeln!(out, "{name:<22} {value}");
        }

        out.push_str(
            "\n== durable writes (single-row INSERT vs EventStore::append of one event) ==\n",
        );
        let _ = writeln!(
            out,
            "{:<30} {:>7} {:>12} {:>9} {:>9} {:>10}",
            "workload", "writers", "ops/s", "p50 ms", "p99 ms", "vs INSERT"
        );
        let mut writers = None;
        for row in &self.writes {
            if writers.is_some_and(|w| w != row.writers) {
                out.push('\n');
            }
            writers = Some(row.writers);
            let _ = writeln!(
                out,
                "{:<30} {:>7} {:>12} {:>9.2} {:>9.2} {:>10.2}",
                row.label,
                row.writers,
                grouped(row.rate),
                row.p50_ms,
                row.p99_ms,
                row.vs_insert
            );
        }

        out.push_str(
            "\n== getting events out (commit-order read, relay drain, raw JetStream) ==\n",
        );
        let _ = writeln!(
            out,
            "{:<60} {:>9} {:>8} {:>12} {:>7}",
            "workload", "items", "seconds", "items/s", "vs raw"
        );
        for row in &self.moves {
            let ratio = row
                .vs_raw
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"));
            let _ = writeln!(
                out,
                "{:<60} {:>9} {:>8.2} {:>12} {:>7}",
                row.label,
                grouped(row.count as f64),
                row.seconds,
                grouped(row.rate),
                ratio
            );
        }

        if !self.goals.is_empty() {
            out.push_str("\n== goals (issue 2) ==\n");
            for line in &self.goals {
                let _ = writeln!(out, "{line}");
            }
        }

        out.push('\n');
        for (name, value, unit) in &self.figures {
            let _ = writeln!(out, "bench: {name}={value} {unit}");
        }
        out
    }
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
        assert_eq!(grouped(0.4), "0");
        assert_eq!(grouped(999.0), "999");
        assert_eq!(grouped(1_000.0), "1,000");
        assert_eq!(grouped(123_456_789.0), "123,456,789");
    }

    #[test]
    fn every_write_yields_greppable_figures() {
        let mut report = Report::default();
        report.write(WriteRow {
            label: "append (notify)",
            key: "append_notify",
            writers: 8,
            rate: 4_321.4,
            p50_ms: 1.5,
            p99_ms: 4.25,
            vs_insert: 0.66,
            unit: "appends/s",
        });
        let text = report.render();
        assert!(
            text.contains("bench: append_notify_w8=4321 appends/s\n"),
            "{text}"
        );
        assert!(
            text.contains("bench: append_notify_w8_p99=4.250 ms\n"),
            "{text}"
        );
        assert!(
            text.contains("bench: append_notify_w8_vs_insert=0.66 x\n"),
            "{text}"
        );
    }
}
