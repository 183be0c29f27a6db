//! What a provider promises: a due time and the kind of promise it is (the three parts of a
//! service commitment: organisational commitment, general expectation, personal promise).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::DomainError;

/// The kind of a commitment, which tells how it was made and how it is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitmentKind {
    /// What the company promises in contracts, policies or advertising.
    OrganisationalCommitment,
    /// What the customer assumes from past experience and competitors.
    GeneralExpectation,
    /// A person's own promise ("I'll call you back with that").
    PersonalPromise,
}

impl CommitmentKind {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 3] = [
        Self::OrganisationalCommitment,
        Self::GeneralExpectation,
        Self::PersonalPromise,
    ];

    /// A stable snake_case name, e.g. `"personal_promise"`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::OrganisationalCommitment => "organisational_commitment",
            Self::GeneralExpectation => "general_expectation",
            Self::PersonalPromise => "personal_promise",
        }
    }
}

impl fmt::Display for CommitmentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads the names [`CommitmentKind::as_str`] writes; the error names the `kind` field.
impl FromStr for CommitmentKind {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| {
                DomainError::invalid_field(
                    "kind",
                    format!(
                        "unknown commitment kind {s:?}; expected organisational_commitment, \
                         general_expectation or personal_promise"
                    ),
                )
            })
    }
}

/// A provider's promise on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commitment {
    /// When the provider promises to have fulfilled the request (moved by a revision).
    pub due_at: DateTime<Utc>,
    /// What kind of promise it is.
    pub kind: CommitmentKind,
    /// When the provider first committed (kept through revisions).
    pub committed_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_by_name() {
        for kind in CommitmentKind::ALL {
            assert_eq!(kind.as_str().parse::<CommitmentKind>(), Ok(kind));
        }
        let err = "promise"
            .parse::<CommitmentKind>()
            .expect_err("unknown kind");
        assert!(matches!(
            err,
            DomainError::InvalidField { field: "kind", .. }
        ));
    }
}
