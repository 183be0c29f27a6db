//! An amount of money as the domain stores it: whole minor units (cents, đồng) of one
//! currency, never a float, so sums and comparisons are exact.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::DomainError;

/// An ISO 4217 currency code: three upper-case ASCII letters, e.g. `EUR` or `VND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only upper-case ASCII letters are ever stored (see `FromStr`), so this never fails.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads a three-letter code; lower case is accepted and stored upper case. The error names
/// the `currency` field.
impl FromStr for Currency {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let code = s.trim().to_ascii_uppercase();
        match code.as_bytes() {
            [a, b, c] if code.bytes().all(|x| x.is_ascii_uppercase()) => Ok(Self([*a, *b, *c])),
            _ => Err(DomainError::invalid_field(
                "currency",
                format!(
                    "expected a three-letter ISO 4217 code, got {:?}",
                    s.chars().take(16).collect::<String>()
                ),
            )),
        }
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A non-negative amount of one currency, in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount in the currency's minor units (cents for EUR; đồng for VND).
    pub minor_units: u64,
    /// The currency.
    pub currency: Currency,
}

impl Money {
    /// Checks an amount as a caller sends it (a signed integer and a code): negative amounts
    /// are refused naming the `value` field, a bad code naming `currency`.
    pub fn new(minor_units: i64, currency: &str) -> Result<Self, DomainError> {
        let currency = currency.parse()?;
        let minor_units = u64::try_from(minor_units).map_err(|_| {
            DomainError::invalid_field("value", format!("must not be negative, got {minor_units}"))
        })?;
        Ok(Self {
            minor_units,
            currency,
        })
    }
}

/// Written as `12345 EUR` (minor units, then the code).
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.minor_units, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_codes_are_three_letters() {
        let eur: Currency = "eur".parse().expect("lower case is accepted");
        assert_eq!(eur.as_str(), "EUR");
        for bad in ["", "EU", "EURO", "E1R", "ÉUR"] {
            let err = bad.parse::<Currency>().expect_err("bad code");
            assert!(
                matches!(
                    err,
                    DomainError::InvalidField {
                        field: "currency",
                        ..
                    }
                ),
                "{bad:?}"
            );
        }
        let json = serde_json::to_string(&eur).expect("serializes");
        assert_eq!(json, "\"EUR\"");
        assert!(serde_json::from_str::<Currency>("\"X\"").is_err());
    }

    #[test]
    fn money_refuses_negative_amounts() {
        let money = Money::new(12_345, "VND").expect("valid");
        assert_eq!(money.to_string(), "12345 VND");
        let err = Money::new(-1, "VND").expect_err("negative");
        assert!(matches!(
            err,
            DomainError::InvalidField { field: "value", .. }
        ));
    }
}
