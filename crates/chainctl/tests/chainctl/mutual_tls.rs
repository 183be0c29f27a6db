//! chainctl against requests-svc over mutual TLS: the client certificate names who acts, `--as`
//! may only repeat it, and plaintext is refused.

use chain_server::{ChainService, Shutdown, TlsFiles};
use chain_testkit::{NatsRoot, SERVER_NAME, TestPki};

use crate::harness::{assert_success, chainctl, start, text};

/// The `CHAIN_TLS_*` settings of a chainctl whose certificate names `spiffe_id`.
fn client_settings(pki: &TestPki, name: &str, spiffe_id: &str) -> Vec<(&'static str, String)> {
    let issued = pki.client(spiffe_id);
    vec![
        ("CHAIN_TLS_CA_FILE", pki.write("ca.pem", &pki.ca_pem())),
        (
            "CHAIN_TLS_CERT_FILE",
            pki.write(&format!("{name}.pem"), &issued.cert),
        ),
        (
            "CHAIN_TLS_KEY_FILE",
            pki.write(&format!("{name}.key"), &issued.key),
        ),
        ("CHAIN_TLS_SERVER_NAME", SERVER_NAME.to_owned()),
    ]
}

#[tokio::test]
async fn over_mutual_tls_the_certificate_acts() {
    let pki = TestPki::new();
    let settings = pki.server_settings();
    let tls = TlsFiles {
        cert: settings[0].1.clone().into(),
        key: settings[1].1.clone().into(),
        client_ca: settings[2].1.clone().into(),
    };
    let shutdown = Shutdown::new();
    let (_database, addr) = start(
        ChainService::Requests,
        chain_requests::RequestsSetup,
        &NatsRoot::unique(),
        &shutdown,
        Some(tls),
    )
    .await;
    let address = ("CHAIN_REQUESTS_ADDR", format!("https://{addr}"));

    let mut operator = client_settings(&pki, "operator", "spiffe://chain.test/service/chainctl");
    operator.push(address.clone());
    let args = ["-o", "json", "requests", "create-team", "Workshop"];
    let created = chainctl(&args, &operator).await;
    assert_success(&created, &args);
    let team: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let team_id = text(&team, "team_id");

    let mut workshop = client_settings(
        &pki,
        "workshop",
        &format!("spiffe://chain.test/team/{team_id}"),
    );
    workshop.push(address.clone());
    let args = ["requests", "rename-team", &team_id, "The workshop"];
    assert_success(&chainctl(&args, &workshop).await, &args);

    // The operator's certificate with --as naming the team is still the operator.
    let args = [
        "--as",
        &team_id,
        "requests",
        "rename-team",
        &team_id,
        "Taken over",
    ];
    let claimed = chainctl(&args, &operator).await;
    let stderr = String::from_utf8_lossy(&claimed.stderr);
    assert_eq!(claimed.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("UNAUTHENTICATED"), "{stderr}");

    let plaintext = chainctl(
        &["requests", "list-teams"],
        &[("CHAIN_REQUESTS_ADDR", format!("http://{addr}"))],
    )
    .await;
    assert!(!plaintext.status.success(), "plaintext is refused");
    shutdown.trigger();
}
