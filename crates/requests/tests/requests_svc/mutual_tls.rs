//! requests-svc served over mutual TLS as its binary serves it (the `TLS_*` settings): the
//! caller of a command is who its client certificate names, and a metadata entry cannot claim
//! anyone else.

use std::net::SocketAddr;

use chain_proto::customerchain::v1 as pb;
use chain_proto::customerchain::v1::internal_request_service_client::InternalRequestServiceClient;
use chain_requests::RequestsSetup;
use chain_rpc::actor::ACTOR_METADATA_KEY;
use chain_server::{ChainService, ServiceConfig, ServiceRuntime, ServiceSetup, Shutdown};
use chain_testkit::{NatsRoot, TestDatabase, TestPki, nats_url, tls_channel};
use tokio::net::TcpListener;
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::harness::key;

/// requests-svc with its setup, on `db`, over mutual TLS with `pki`'s server certificate.
async fn serve_over_tls(db: &TestDatabase, pki: &TestPki) -> (SocketAddr, Shutdown) {
    let (nats, root) = (nats_url(), NatsRoot::unique());
    let tls = pki.server_settings();
    let mut vars = vec![
        ("DATABASE_URL", db.url()),
        ("NATS_URL", nats.as_str()),
        ("CHAIN_BUS_ROOT", root.as_str()),
    ];
    vars.extend(tls.iter().map(|(name, value)| (*name, value.as_str())));
    let config = ServiceConfig::from_vars(ChainService::Requests, vars).expect("valid settings");
    let runtime = ServiceRuntime::start(config).await.expect("starts");
    RequestsSetup
        .migrate(runtime.pool())
        .await
        .expect("migrations");
    let routes = RequestsSetup.routes(&runtime).await.expect("routes");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let addr = listener.local_addr().expect("its address");
    let shutdown = Shutdown::new();
    tokio::spawn(runtime.serve(listener, routes, shutdown.clone()));
    (addr, shutdown)
}

/// A client presenting a certificate that names `spiffe_id`.
async fn client_as(
    addr: SocketAddr,
    pki: &TestPki,
    spiffe_id: &str,
) -> InternalRequestServiceClient<Channel> {
    let identity = pki.client(spiffe_id);
    let channel = tls_channel(addr, pki.client_tls(Some(&identity)))
        .await
        .expect("a certified client connects");
    InternalRequestServiceClient::new(channel)
}

fn rename(team_id: &str, name: &str) -> pb::RenameTeamRequest {
    pb::RenameTeamRequest {
        idempotency_key: key(),
        team_id: team_id.to_owned(),
        expected_version: 0,
        name: name.to_owned(),
    }
}

#[tokio::test]
async fn over_mutual_tls_the_certificate_is_the_caller() {
    let db = TestDatabase::create().await;
    let pki = TestPki::new();
    let (addr, shutdown) = serve_over_tls(&db, &pki).await;

    let mut onboarding = client_as(addr, &pki, "spiffe://chain.test/service/onboarding").await;
    let team = onboarding
        .create_team(pb::CreateTeamRequest {
            idempotency_key: key(),
            name: format!("workshop {}", Uuid::new_v4()),
            ..Default::default()
        })
        .await
        .expect("a service may create a team")
        .into_inner();
    let team_id = team.team_id;

    // Only the team itself may rename it: its certificate says so.
    let mut workshop = client_as(addr, &pki, &format!("spiffe://chain.test/team/{team_id}")).await;
    workshop
        .rename_team(rename(
            &team_id,
            &format!("the workshop {}", Uuid::new_v4()),
        ))
        .await
        .expect("the team renames itself");
    let other_team = Uuid::now_v7();
    let mut other = client_as(
        addr,
        &pki,
        &format!("spiffe://chain.test/team/{other_team}"),
    )
    .await;
    let denied = other
        .rename_team(rename(&team_id, "taken over"))
        .await
        .expect_err("another team may not");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");

    // The service's certificate with the team's id in the metadata is still the service.
    let mut claim = tonic::Request::new(rename(&team_id, "claimed"));
    claim
        .metadata_mut()
        .insert(ACTOR_METADATA_KEY, team_id.parse().expect("an ASCII value"));
    let refused = onboarding
        .rename_team(claim)
        .await
        .expect_err("a claim beside a certificate");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert!(
        refused.message().contains("client certificate"),
        "{refused:?}"
    );
    shutdown.trigger();
}
