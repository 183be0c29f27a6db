//! Human-readable views of the API's resources: a block of labelled lines for one resource, a
//! table for a list. Team ids are shown as names where the directory knows them.

pub mod events;
pub mod requests;
pub mod scoring;
pub mod tickets;

/// Labelled lines, labels aligned.
pub fn block(title: String, fields: &[(&str, String)]) -> String {
    let width = fields
        .iter()
        .map(|(label, _)| label.len())
        .max()
        .unwrap_or(0);
    let mut lines = vec![title];
    for (label, value) in fields {
        lines.push(format!("  {label:<width$}  {value}"));
    }
    lines.join("\n")
}
