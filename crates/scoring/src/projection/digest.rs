//! The digest of the projections: SHA-256 over every table in a fixed order, each table's
//! rows in their canonical encoding ([`CanonicalRow`]) sorted bytewise, so neither the order
//! rows were written in nor the database's collation matters. Equal digests mean equal
//! projections, column by column.

use sha2::{Digest, Sha256};

use super::rows::{CanonicalRow, ProjectionRows};

/// The digest algorithm's name, as `ProjectionDigest.algorithm` reports it.
pub const ALGORITHM: &str = "sha256";

/// The digest of `rows`, lower-case hex.
pub fn digest(rows: &ProjectionRows) -> String {
    let mut hash = Sha256::new();
    table(&mut hash, "scoring_requests", &rows.requests);
    table(&mut hash, "scoring_links", &rows.links);
    table(&mut hash, "scoring_tickets", &rows.tickets);
    table(&mut hash, "scoring_customers", &rows.customers);
    table(&mut hash, "scoring_signals", &rows.signals);
    table(&mut hash, "scoring_scores", &rows.scores);
    table(&mut hash, "scoring_link_health", &rows.health);
    table(&mut hash, "scoring_impacts", &rows.impacts);
    let links: Vec<_> = rows.impacts.iter().flat_map(|i| i.links.iter()).collect();
    table(&mut hash, "scoring_impact_links", &links);
    let shares: Vec<_> = rows.impacts.iter().flat_map(|i| i.shares.iter()).collect();
    table(&mut hash, "scoring_impact_shares", &shares);
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl<T: CanonicalRow> CanonicalRow for &T {
    fn canonical(&self) -> Vec<u8> {
        (*self).canonical()
    }
}

fn table<R: CanonicalRow>(hash: &mut Sha256, name: &str, rows: &[R]) {
    let mut encoded: Vec<Vec<u8>> = rows.iter().map(CanonicalRow::canonical).collect();
    encoded.sort_unstable();
    hash.update(name.as_bytes());
    hash.update((encoded.len() as u64).to_be_bytes());
    for row in encoded {
        hash.update((row.len() as u64).to_be_bytes());
        hash.update(&row);
    }
}
