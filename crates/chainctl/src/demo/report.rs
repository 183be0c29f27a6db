//! How the demo talks: headings and steps on stdout, a progress bar on a terminal (none in
//! plain mode), colour only where the printer allows it.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::Failure;
use crate::output::{Printer, Tone};

/// The demo's voice.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    /// Where text goes.
    pub printer: Printer,
    /// Plain text for CI: no progress bar, no colour.
    pub plain: bool,
}

impl Report {
    /// A section heading.
    pub fn heading(&self, text: &str) -> Result<(), Failure> {
        self.printer.say(format!(
            "\n{}",
            self.printer.paint(format!("== {text} =="), Tone::Strong)
        ))
    }

    /// One line of narrative.
    pub fn step(&self, text: impl AsRef<str>) -> Result<(), Failure> {
        self.printer.say(format!("  {}", text.as_ref()))
    }

    /// A bar counting to `length`; hidden in plain mode.
    pub fn progress(&self, length: usize, what: &str) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(length as u64), ProgressDrawTarget::stderr());
        if self.plain {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        if let Ok(style) =
            ProgressStyle::with_template("  {msg:12} [{bar:40}] {pos}/{len} {elapsed}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_owned());
        bar
    }

    /// `text` in `tone`.
    pub fn paint(&self, text: impl AsRef<str>, tone: Tone) -> String {
        self.printer.paint(text, tone)
    }
}
