//! The demo in plain mode with a small case count: the story ends kept after renegotiation, the
//! summary names the failing team as the worst link and prints a trace id, and a second run on
//! the same services reuses the organisation instead of failing on existing team names.

use crate::harness::{Services, assert_success};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_names_the_failing_team_as_the_worst_link() {
    let services = Services::start().await;
    let args = [
        "demo",
        "--non-interactive",
        "--cases",
        "40",
        "--customers",
        "40",
        "--failing-team",
        "Transport",
        "--failure-rate",
        "0.8",
        "--noise-rate",
        "0.02",
        "--seed",
        "5",
        "--wait",
        "90s",
    ];
    let output = services.chainctl(&args).await;
    assert_success(&output, &args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("kept after renegotiation"),
        "the story ends well:\n{stdout}"
    );
    assert!(
        stdout.contains("root cause Transport → Workshop"),
        "the story names transport:\n{stdout}"
    );
    assert!(
        stdout.contains("all "),
        "the projections caught up:\n{stdout}"
    );
    assert!(
        stdout.contains("worst link: Transport — root cause of"),
        "{stdout}"
    );
    let trace = stdout
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("trace id of the worst breakdown: ")
        })
        .unwrap_or_else(|| panic!("no trace id:\n{stdout}"));
    assert_eq!(trace.len(), 32, "a W3C trace id: {trace}");
    assert!(trace.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(!stdout.contains('\u{1b}'), "no colour in plain mode");

    let again = [
        "demo",
        "--non-interactive",
        "--cases",
        "5",
        "--customers",
        "40",
        "--skip-story",
        "--seed",
        "6",
    ];
    let output = services.chainctl(&again).await;
    assert_success(&output, &again);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("(0 teams and 0 links created now)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("customers: 41 (0 registered now)"),
        "{stdout}"
    );
}
