//! Plain-text tables: a header row and aligned columns, coloured per cell on a terminal.
//! Widths count characters, and colour is applied after padding so it never skews alignment.

use crate::output::{Tone, paint};

/// One cell: its text and, optionally, its tone.
#[derive(Debug, Clone)]
pub struct Cell {
    text: String,
    tone: Option<Tone>,
}

impl Cell {
    /// A cell in `tone`.
    pub fn toned(text: impl Into<String>, tone: Tone) -> Self {
        Self {
            text: text.into(),
            tone: Some(tone),
        }
    }
}

impl<T: Into<String>> From<T> for Cell {
    fn from(text: T) -> Self {
        Self {
            text: text.into(),
            tone: None,
        }
    }
}

/// A table being filled.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are blank, extra cells ignored).
    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, indented by `indent` spaces, without a trailing newline.
    pub fn render(&self, colour: bool, indent: usize) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.text.chars().count());
            }
        }
        let pad = " ".repeat(indent);
        let mut lines = Vec::with_capacity(self.rows.len() + 1);
        let header: Vec<Cell> = self
            .headers
            .iter()
            .map(|h| Cell::toned(h.clone(), Tone::Strong))
            .collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = pad.clone();
            for (index, width) in widths.iter().enumerate().take(columns) {
                let cell = row.get(index);
                let text = cell.map_or("", |c| c.text.as_str());
                let last = index + 1 == columns;
                let padded = if last {
                    text.to_owned()
                } else {
                    format!("{text:<width$}  ")
                };
                match cell.and_then(|c| c.tone) {
                    Some(tone) => line.push_str(&paint(colour, &padded, tone)),
                    None => line.push_str(&padded),
                }
            }
            lines.push(line.trim_end().to_owned());
        }
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let mut table = Table::new(&["TEAM", "CASES"]);
        table.row(vec!["Transport".into(), "12".into()]);
        table.row(vec!["IT".into(), Cell::toned("1", Tone::Bad)]);
        assert_eq!(
            table.render(false, 2),
            "  TEAM       CASES\n  Transport  12\n  IT         1"
        );
    }
}
