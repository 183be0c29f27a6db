//! The caller a verified client certificate names: its URI subject alternative name, a SPIFFE
//! ID, `spiffe://<trust domain>/team/<team id>` or `spiffe://<trust domain>/service/<name>`.
//!
//! The TLS handshake has already checked that the service's client CA issued the certificate;
//! this module only reads who it was issued to.

use chain_domain::ids::TeamId;
use tonic::Status;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::Caller;
use crate::status;

/// What a certificate must carry to name a caller, for errors.
const EXPECTED: &str = "a URI subject alternative name spiffe://<trust domain>/team/<team id> \
                        or spiffe://<trust domain>/service/<name>";

/// The caller certificate `der` names; `UNAUTHENTICATED` when it names none.
pub(crate) fn caller_in(der: &[u8]) -> Result<Caller, Status> {
    let (_, certificate) = X509Certificate::from_der(der)
        .map_err(|_| status::unauthenticated("the client certificate cannot be read"))?;
    let names = certificate
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|extension| extension.value.general_names.clone())
        .unwrap_or_default();
    names
        .iter()
        .find_map(|name| match name {
            GeneralName::URI(uri) => spiffe_caller(uri),
            _ => None,
        })
        .ok_or_else(|| {
            status::unauthenticated(format!(
                "the client certificate names no caller: it needs {EXPECTED}"
            ))
        })
}

/// The caller a SPIFFE ID names, if it is one of ours.
fn spiffe_caller(uri: &str) -> Option<Caller> {
    let (_trust_domain, path) = uri.strip_prefix("spiffe://")?.split_once('/')?;
    match path.split_once('/')? {
        ("team", id) => id.parse::<TeamId>().ok().map(Caller::Team),
        ("service", name) => match Caller::parse(name).ok()? {
            service @ Caller::Service(_) => Some(service),
            Caller::Team(_) => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chain_testkit::TestPki;
    use tonic::Code;

    const TEAM: &str = "0190a5d2-7c3e-7a41-8f00-123456789abc";

    #[test]
    fn a_spiffe_id_names_a_team_or_a_service() {
        let pki = TestPki::new();
        let team = caller_in(&pki.client(&format!("spiffe://chain.test/team/{TEAM}")).der);
        assert_eq!(
            team.expect("a team"),
            Caller::Team(TEAM.parse().expect("id"))
        );
        let service = caller_in(&pki.client("spiffe://chain.test/service/tickets-svc").der);
        assert_eq!(
            service.expect("a service"),
            Caller::Service("tickets-svc".to_owned())
        );
    }

    #[test]
    fn a_certificate_naming_no_caller_is_unauthenticated() {
        let pki = TestPki::new();
        let no_uri = pki.server().der;
        let others = [
            "spiffe://chain.test/team/not-a-uuid",
            &format!("spiffe://chain.test/service/{TEAM}"),
            "spiffe://chain.test/operator/alice",
            "https://chain.test/service/tickets-svc",
        ]
        .map(|uri| pki.client(uri).der);
        for der in std::iter::once(no_uri).chain(others) {
            let error = caller_in(&der).expect_err("no caller");
            assert_eq!(error.code(), Code::Unauthenticated);
            assert!(error.message().contains("spiffe://"), "{}", error.message());
        }
        let unreadable = caller_in(b"not a certificate").expect_err("unreadable");
        assert_eq!(unreadable.code(), Code::Unauthenticated);
    }
}
