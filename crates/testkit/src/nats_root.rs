//! Unique NATS subject roots and stream-name prefixes, so tests can share one nats-server.

/// Where the shared nats-server listens when `NATS_URL` is not set.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// The shared nats-server's URL: `NATS_URL`, or [`DEFAULT_NATS_URL`].
pub fn nats_url() -> String {
    std::env::var("NATS_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_NATS_URL.to_owned())
}

/// Names that keep one test's subjects and streams apart from every other test's.
pub struct NatsRoot;

impl NatsRoot {
    /// A fresh name such as `t3f9c2a71b0de`: a `t` and 12 random hex digits.
    ///
    /// It is a valid single subject token and a valid stream name (no `.`, `*`, `>` or
    /// whitespace), so a test can use it as its subject root (`<root>.chain.v1.>`) and as the
    /// prefix of its stream and consumer names.
    pub fn unique() -> String {
        let random = uuid::Uuid::new_v4().simple().to_string();
        format!("t{}", &random[..12])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_roots_differ_and_are_valid_tokens() {
        let a = NatsRoot::unique();
        let b = NatsRoot::unique();
        assert_ne!(a, b);
        for root in [a, b] {
            assert_eq!(root.len(), 13, "{root}");
            assert!(root.starts_with('t'), "{root}");
            assert!(
                root[1..]
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
                "{root}"
            );
        }
    }
}
