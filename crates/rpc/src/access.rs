//! Deny-by-default authorisation at a service's door: every RPC of a gRPC service has a rule
//! saying who may call it, and a call is let through to the handler only when its caller is
//! authenticated ([`Caller::of`]) and the method's rule allows that caller. A method without a
//! rule is refused, so a new RPC stays closed until someone writes its rule; the services'
//! rules are checked against their contracts by the end-to-end tests ([`missing_rules`]).
//!
//! The rules are coarse (a team, a service, or either); the handlers still decide what only
//! the domain knows (the provider of this request, the front line of that ticket).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use prost::Message as _;
use tonic::Status;
use tonic::body::Body;
use tonic::metadata::MetadataMap;
use tonic::server::NamedService;
use tower::Service;

use crate::{Caller, status};

/// Who may call an RPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Any authenticated caller, team or service.
    Anyone,
    /// Teams only, acting for themselves.
    Teams,
    /// Services only (other services of the chain, operator tools): reading the log, checks.
    Services,
}

/// A gRPC service's rules: each method (by its name, e.g. `OpenRequest`) and who may call it.
pub type Rules = &'static [(&'static str, Access)];

impl Access {
    /// Whether `caller` may call `method` under this rule; `PERMISSION_DENIED` naming both
    /// otherwise.
    pub fn check(self, caller: &Caller, method: &str) -> Result<(), Status> {
        let only = match (self, caller) {
            (Self::Anyone, _) | (Self::Teams, Caller::Team(_)) => return Ok(()),
            (Self::Services, Caller::Service(_)) => return Ok(()),
            (Self::Teams, _) => "teams",
            (Self::Services, _) => "services",
        };
        Err(status::permission_denied(format!(
            "{method} is for {only}; the caller is {}",
            describe(caller)
        )))
    }
}

fn describe(caller: &Caller) -> String {
    match caller {
        Caller::Team(team) => format!("the team {team}"),
        Caller::Service(name) => format!("the service {name}"),
    }
}

/// A generated gRPC server behind its rules; serve it wherever the server itself would go.
#[derive(Clone, Debug)]
pub struct Authorised<S> {
    inner: S,
    rules: Rules,
}

impl<S> Authorised<S> {
    /// `inner` (a generated `…Server`), letting through only what `rules` allow.
    pub fn new(inner: S, rules: Rules) -> Self {
        Self { inner, rules }
    }

    /// Whether a call of `method` by the caller of `call` may go through: the method has a
    /// rule, the caller is authenticated, and the rule allows the caller.
    fn admit(&self, method: &str, call: &tonic::Request<()>) -> Result<(), Status> {
        let Some((_, access)) = self.rules.iter().find(|(name, _)| *name == method) else {
            return Err(status::permission_denied(format!(
                "no rule allows calling {method}; calls are refused unless a rule allows them"
            )));
        };
        access.check(&Caller::of(call)?, method)
    }
}

impl<S: NamedService> NamedService for Authorised<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<B>> for Authorised<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // The caller as a handler would see it (the metadata, and over TLS the peer's
        // certificates in the extensions): the request's parts are lent, not copied.
        let (mut parts, body) = request.into_parts();
        let method = parts.uri.path().rsplit('/').next().unwrap_or_default();
        let call = tonic::Request::from_parts(
            MetadataMap::from_headers(std::mem::take(&mut parts.headers)),
            std::mem::take(&mut parts.extensions),
            (),
        );
        let admitted = self.admit(method, &call);
        let (metadata, extensions, ()) = call.into_parts();
        parts.headers = metadata.into_headers();
        parts.extensions = extensions;
        match admitted {
            Ok(()) => Box::pin(self.inner.call(http::Request::from_parts(parts, body))),
            Err(status) => Box::pin(std::future::ready(Ok(status.into_http()))),
        }
    }
}

/// The methods of the gRPC service `service` (its full name, e.g.
/// `customerchain.v1.TicketService`) that `rules` leave out, and the rules that name no method
/// of it; both empty when the rules cover the contract exactly.
pub fn missing_rules(service: &str, rules: Rules) -> (Vec<String>, Vec<String>) {
    let descriptors = prost_types::FileDescriptorSet::decode(chain_proto::FILE_DESCRIPTOR_SET)
        .unwrap_or_default();
    let methods: Vec<String> = descriptors
        .file
        .iter()
        .flat_map(|file| {
            let package = file.package().to_owned();
            file.service
                .iter()
                .filter(move |found| format!("{package}.{}", found.name()) == service)
                .flat_map(|found| found.method.iter().map(|method| method.name().to_owned()))
        })
        .collect();
    let unruled = methods
        .iter()
        .filter(|method| !rules.iter().any(|(name, _)| name == method))
        .cloned()
        .collect();
    let stray = rules
        .iter()
        .filter(|(name, _)| !methods.iter().any(|method| method == name))
        .map(|(name, _)| (*name).to_owned())
        .collect();
    (unruled, stray)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::ACTOR_METADATA_KEY;
    use tonic::Code;

    const TEAM: &str = "0190a5d2-7c3e-7a41-8f00-123456789abc";
    const RULES: Rules = &[
        ("Open", Access::Teams),
        ("Read", Access::Services),
        ("Get", Access::Anyone),
    ];

    /// A server that answers every call it is handed with an empty OK.
    fn server() -> Authorised<
        impl Service<
            http::Request<Body>,
            Response = http::Response<Body>,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone,
    > {
        let inner = tower::service_fn(|_: http::Request<Body>| async {
            Ok::<_, Infallible>(http::Response::new(Body::empty()))
        });
        Authorised::new(inner, RULES)
    }

    async fn call(method: &str, actor: Option<&str>) -> Option<Code> {
        let mut request = http::Request::builder().uri(format!("/pkg.Svc/{method}"));
        if let Some(actor) = actor {
            request = request.header(ACTOR_METADATA_KEY, actor);
        }
        let request = request.body(Body::empty()).expect("a request");
        let response = server().call(request).await.expect("infallible");
        Status::from_header_map(response.headers()).map(|status| status.code())
    }

    #[tokio::test]
    async fn only_what_a_rule_allows_reaches_the_handler() {
        assert_eq!(call("Open", Some(TEAM)).await, None);
        assert_eq!(call("Read", Some("scoring-svc")).await, None);
        assert_eq!(call("Get", Some(TEAM)).await, None);
        assert_eq!(call("Get", Some("chainctl")).await, None);
        assert_eq!(
            call("Open", Some("chainctl")).await,
            Some(Code::PermissionDenied)
        );
        assert_eq!(call("Read", Some(TEAM)).await, Some(Code::PermissionDenied));
        assert_eq!(call("Get", None).await, Some(Code::Unauthenticated));
        assert_eq!(
            call("Unlisted", Some("chainctl")).await,
            Some(Code::PermissionDenied),
            "a method without a rule is refused"
        );
    }

    #[test]
    fn the_rules_are_checked_against_the_contract() {
        let (unruled, stray) = missing_rules(
            "grpc.health.v1.Health",
            &[("Check", Access::Anyone), ("Nope", Access::Anyone)],
        );
        assert_eq!(
            unruled,
            Vec::<String>::new(),
            "health is not in our contracts"
        );
        assert_eq!(stray, ["Check", "Nope"]);
        let (unruled, _) = missing_rules("customerchain.v1.SatisfactionService", &[]);
        assert!(
            unruled.contains(&"RecordFeedback".to_owned()),
            "{unruled:?}"
        );
    }
}
