//! How results reach the operator: human-readable text (tables, relative times, colour only on
//! a terminal) or `--output json` (the canonical proto3 JSON of the response).

pub mod json;
pub mod table;
pub mod text;
pub mod time;

use std::io::{IsTerminal as _, Write as _};

use anstyle::{AnsiColor, Style};

use crate::error::Failure;

/// The output format chosen with `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Tables and sentences for people.
    #[default]
    Human,
    /// The response as JSON (one object; one per line for streams).
    Json,
}

/// What a piece of text means, which decides its colour on a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Fine: on track, kept, fulfilled.
    Good,
    /// Needs attention: at risk, revised.
    Warn,
    /// Broken, breached, refused.
    Bad,
    /// Secondary detail: ids, times.
    Dim,
    /// Headings and the critical path.
    Strong,
}

impl Tone {
    fn style(self) -> Style {
        match self {
            Self::Good => Style::new().fg_color(Some(AnsiColor::Green.into())),
            Self::Warn => Style::new().fg_color(Some(AnsiColor::Yellow.into())),
            Self::Bad => Style::new().fg_color(Some(AnsiColor::Red.into())).bold(),
            Self::Dim => Style::new().dimmed(),
            Self::Strong => Style::new().bold(),
        }
    }
}

/// Writes a command's results in the chosen format.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    /// Human or JSON.
    pub format: Format,
    /// Whether ANSI colours are written.
    pub colour: bool,
}

impl Printer {
    /// A printer for `format`; colour only when stdout is a terminal, `plain` is off and
    /// `NO_COLOR` is unset.
    pub fn new(format: Format, plain: bool) -> Self {
        let colour = !plain
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
        Self { format, colour }
    }

    /// Whether the output is JSON.
    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// `text` in the colour of `tone` (plain text without colour).
    pub fn paint(&self, text: impl AsRef<str>, tone: Tone) -> String {
        paint(self.colour, text.as_ref(), tone)
    }

    /// Writes `text` and a newline to stdout.
    pub fn say(&self, text: impl AsRef<str>) -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", text.as_ref())?;
        Ok(())
    }

    /// Writes a message as pretty JSON (the canonical proto3 mapping).
    pub fn message<M: prost::Message + prost::Name>(&self, message: &M) -> Result<(), Failure> {
        let value = json::to_value(message)?;
        self.value(&value)
    }

    /// Writes any JSON value, pretty.
    pub fn value(&self, value: &serde_json::Value) -> Result<(), Failure> {
        let text =
            serde_json::to_string_pretty(value).map_err(|e| Failure::Output(e.to_string()))?;
        self.say(text)
    }

    /// Writes a message as one line of JSON (for streams).
    pub fn json_line<M: prost::Message + prost::Name>(&self, message: &M) -> Result<(), Failure> {
        let value = json::to_value(message)?;
        let text = serde_json::to_string(&value).map_err(|e| Failure::Output(e.to_string()))?;
        self.say(text)
    }
}

/// `text` wrapped in the ANSI codes of `tone` when `colour` is on.
pub fn paint(colour: bool, text: &str, tone: Tone) -> String {
    if colour {
        let style = tone.style();
        format!("{}{text}{}", style.render(), style.render_reset())
    } else {
        text.to_owned()
    }
}
