//! Names of streams and subjects, derived from one root so tests can isolate themselves.

/// The bus's naming scheme under one subject root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusLayout {
    root: String,
}

impl Default for BusLayout {
    fn default() -> Self {
        Self::new("chain")
    }
}

impl BusLayout {
    /// A layout under `root` (`chain` in production). The root must be a single subject token.
    pub fn new(root: impl Into<String>) -> Self {
        Self { root: root.into() }
    }

    /// The subject root.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The stream a service publishes into, e.g. `CHAIN_REQUESTS`.
    pub fn stream_name(&self, service: &str) -> String {
        format!("{}_{}", self.root, service).to_uppercase()
    }

    /// The wildcard covering every subject of a service's stream.
    pub fn service_subjects(&self, service: &str) -> String {
        format!("{}.v1.{service}.>", self.root)
    }

    /// The subject of one event: `<root>.v1.<service>.<aggregate>.<event>`, where `<event>` is
    /// the snake-case name of the payload message (`customerchain.v1.RequestCommitted` →
    /// `request_committed`).
    pub fn subject(&self, service: &str, aggregate_type: &str, event_type: &str) -> String {
        format!(
            "{}.v1.{service}.{aggregate_type}.{}",
            self.root,
            event_token(event_type)
        )
    }
}

fn event_token(event_type: &str) -> String {
    let name = event_type.rsplit('.').next().unwrap_or(event_type);
    let mut token = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                token.push('_');
            }
            token.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() || c == '_' {
            token.push(c);
        } else {
            token.push('_');
        }
    }
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_layout() {
        let layout = BusLayout::default();
        assert_eq!(layout.stream_name("requests"), "CHAIN_REQUESTS");
        assert_eq!(layout.service_subjects("requests"), "chain.v1.requests.>");
        assert_eq!(
            layout.subject("requests", "request", "customerchain.v1.RequestCommitted"),
            "chain.v1.requests.request.request_committed"
        );
    }

    #[test]
    fn event_tokens_never_contain_subject_separators() {
        assert_eq!(event_token("a.b.Weird Name*>"), "weird__name__");
        assert_eq!(event_token("TicketAtRisk"), "ticket_at_risk");
    }
}
