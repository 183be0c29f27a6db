//! A service that is down: the error names it and the address tried, the exit code is 3, and
//! nothing panics.

use chain_testkit::free_port;

use crate::harness::chainctl;

#[tokio::test]
async fn a_service_that_is_down_is_named_with_its_address() {
    for (args, variable, service) in [
        (
            ["requests", "list-teams"],
            "CHAIN_REQUESTS_ADDR",
            "requests-svc",
        ),
        (
            ["tickets", "list-customers"],
            "CHAIN_TICKETS_ADDR",
            "tickets-svc",
        ),
        (
            ["scoring", "list-link-health"],
            "CHAIN_SCORING_ADDR",
            "scoring-svc",
        ),
    ] {
        let addr = format!("http://127.0.0.1:{}", free_port());
        let output = chainctl(&args, &[(variable, addr.clone())]).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "chainctl: error: {service} is not reachable at {addr}"
            )),
            "{stderr}"
        );
        assert!(
            stderr.contains(variable),
            "the hint names the setting: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(output.stdout.is_empty());
    }
}

#[tokio::test]
async fn the_demo_checks_every_service_before_it_seeds_anything() {
    let addr = format!("http://127.0.0.1:{}", free_port());
    let output = chainctl(
        &["demo", "--cases", "1"],
        &[("CHAIN_REQUESTS_ADDR", addr.clone())],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("requests-svc is not reachable at {addr}")),
        "{stderr}"
    );
}
