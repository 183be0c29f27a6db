//! Pagination (AIP-158): `page_size` (0 means 50, more than 500 is lowered to 500, negative
//! is refused) and opaque `page_token`s.
//!
//! A token is the keyset cursor of the last item returned (for example `(name, id)`), with a
//! digest of the list's filter, as base64url of a small JSON document. Keyset pagination
//! stays correct and fast while items are added, unlike offsets. The filter digest makes a
//! token from one query unusable with another (the other fields of the request must not
//! change between pages): such a token, or a corrupted one, is `INVALID_ARGUMENT` on
//! `page_token`. Tokens are opaque to clients, not secret.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tonic::Status;

use crate::status::invalid_argument;

/// Items per page when the request says 0.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The most items a page holds; larger requests are lowered to it.
pub const MAX_PAGE_SIZE: u32 = 500;
/// Longest token accepted, so a huge one is refused before decoding.
const MAX_TOKEN_CHARS: usize = 2048;

/// What a token holds.
#[derive(Serialize, Deserialize)]
struct Token<F, C> {
    /// The filter digest.
    f: F,
    /// The cursor of the last item of the previous page.
    c: C,
}

/// A validated page request: its size and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest<C> {
    size: u32,
    after: Option<C>,
    filter: String,
}

impl<C: Serialize + DeserializeOwned> PageRequest<C> {
    /// Reads `page_size` and `page_token` of a list whose other request fields are
    /// summarised by `filter` (any bytes that change when the filter changes).
    pub fn parse(page_size: i32, page_token: &str, filter: &[u8]) -> Result<Self, Status> {
        let size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n < 0 => {
                return Err(invalid_argument(
                    "page_size",
                    format!("must not be negative, got {n}"),
                ));
            }
            n => u32::try_from(n).unwrap_or(MAX_PAGE_SIZE).min(MAX_PAGE_SIZE),
        };
        let filter = filter_digest(filter);
        let after = if page_token.is_empty() {
            None
        } else {
            Some(decode_token(page_token, &filter)?)
        };
        Ok(Self {
            size,
            after,
            filter,
        })
    }

    /// Items on this page.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The cursor to continue after; `None` on the first page.
    pub fn after(&self) -> Option<&C> {
        self.after.as_ref()
    }

    /// How many rows to fetch: one more than the page, to know whether another page follows.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.size) + 1
    }

    /// Cuts `rows` (fetched with [`Self::fetch_limit`], in cursor order) to the page and
    /// returns them with the next page's token: empty on the last page.
    pub fn finish<T>(&self, mut rows: Vec<T>, cursor: impl Fn(&T) -> C) -> (Vec<T>, String) {
        let size = usize::try_from(self.size).unwrap_or(usize::MAX);
        if rows.len() <= size {
            return (rows, String::new());
        }
        rows.truncate(size);
        let token = rows
            .last()
            .map(|last| self.token_after(&cursor(last)))
            .unwrap_or_default();
        (rows, token)
    }

    /// The token of the page that starts after `cursor`.
    pub fn token_after(&self, cursor: &C) -> String {
        let token = Token {
            f: self.filter.as_str(),
            c: cursor,
        };
        // Serializing plain cursors (strings, numbers, tuples) cannot fail; an empty token
        // would only end the listing early.
        serde_json::to_vec(&token)
            .map(|json| URL_SAFE_NO_PAD.encode(json))
            .unwrap_or_default()
    }
}

fn decode_token<C: DeserializeOwned>(token: &str, filter: &str) -> Result<C, Status> {
    let bad = || invalid_argument("page_token", "is not a token this list returned");
    if token.len() > MAX_TOKEN_CHARS {
        return Err(bad());
    }
    let json = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let token: Token<String, C> = serde_json::from_slice(&json).map_err(|_| bad())?;
    if token.f != filter {
        return Err(invalid_argument(
            "page_token",
            "belongs to a listing with other filters: keep the other fields unchanged between pages",
        ));
    }
    Ok(token.c)
}

fn filter_digest(filter: &[u8]) -> String {
    Sha256::digest(filter)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    type Cursor = (String, i64);

    fn first(size: i32) -> PageRequest<Cursor> {
        PageRequest::parse(size, "", b"front_line=false").expect("valid")
    }

    #[test]
    fn sizes_default_cap_and_refuse_negatives() {
        assert_eq!(first(0).size(), DEFAULT_PAGE_SIZE);
        assert_eq!(first(7).size(), 7);
        assert_eq!(first(100_000).size(), MAX_PAGE_SIZE);
        assert_eq!(first(7).fetch_limit(), 8);
        let err = PageRequest::<Cursor>::parse(-1, "", b"").expect_err("negative");
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains("page_size"));
    }

    #[test]
    fn a_page_with_more_rows_returns_a_token_that_resumes_after_its_last_row() {
        let page = first(2);
        let rows: Vec<Cursor> = vec![("a".into(), 1), ("b".into(), 2), ("c".into(), 3)];
        let (kept, token) = page.finish(rows, Clone::clone);
        assert_eq!(kept.len(), 2);
        assert!(!token.is_empty());
        let next = PageRequest::<Cursor>::parse(2, &token, b"front_line=false").expect("resumes");
        assert_eq!(next.after(), Some(&("b".to_owned(), 2)));
        let (last, end) = next.finish(vec![("c".to_owned(), 3)], Clone::clone);
        assert_eq!(last.len(), 1);
        assert_eq!(end, "", "the last page has no token");
    }

    #[test]
    fn foreign_or_corrupt_tokens_are_invalid_page_tokens() {
        let token = first(1).token_after(&("b".to_owned(), 2));
        let other = PageRequest::<Cursor>::parse(1, &token, b"front_line=true")
            .expect_err("another filter");
        assert_eq!(other.code(), Code::InvalidArgument);
        assert!(other.message().contains("page_token"));
        for bad in ["!!!", "eyJmIjoxfQ", &"A".repeat(3000)] {
            let err = PageRequest::<Cursor>::parse(1, bad, b"front_line=false").expect_err(bad);
            assert_eq!(err.code(), Code::InvalidArgument, "{bad}");
        }
    }
}
