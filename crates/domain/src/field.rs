//! Validation of free-text command fields (names, titles, reasons), shared by the aggregates
//! so every text field is trimmed, required and bounded the same way.

use crate::error::DomainError;

/// Longest team name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest request title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest reason (revision, cancellation, breakdown), in characters.
pub const MAX_REASON_CHARS: usize = 2000;

/// Trims `value` and checks it is non-empty and at most `max_chars` characters long.
pub(crate) fn required_text(
    field: &'static str,
    value: &str,
    max_chars: usize,
) -> Result<String, DomainError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(DomainError::invalid_field(field, "must not be empty"));
    }
    let chars = trimmed.chars().count();
    if chars > max_chars {
        return Err(DomainError::invalid_field(
            field,
            format!("must be at most {max_chars} characters, got {chars}"),
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_bounds() {
        assert_eq!(
            required_text("name", "  Sales ", 10),
            Ok("Sales".to_owned())
        );
        assert_eq!(
            required_text("name", "   ", 10),
            Err(DomainError::invalid_field("name", "must not be empty"))
        );
        // Characters, not bytes: ten two-byte letters fit in ten.
        assert!(required_text("name", &"é".repeat(10), 10).is_ok());
        let err = required_text("name", &"é".repeat(11), 10).expect_err("too long");
        assert_eq!(
            err,
            DomainError::invalid_field("name", "must be at most 10 characters, got 11")
        );
    }
}
