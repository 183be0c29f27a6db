//! `--output json` prints the canonical proto3 JSON of the response, with proto field names;
//! `case` draws the tree a ticket's requests form.

use crate::harness::{Services, assert_success, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_is_the_response_and_the_case_tree_draws_it() {
    let services = Services::start().await;

    let sales = services
        .json(&["requests", "create-team", "Sales", "--front-line"])
        .await;
    assert_eq!(sales["name"], "Sales");
    assert_eq!(sales["front_line"], true);
    let sales_id = text(&sales, "team_id");
    let workshop = services
        .json(&["requests", "create-team", "Workshop"])
        .await;
    assert_eq!(workshop["front_line"], false, "defaults are printed too");
    let workshop_id = text(&workshop, "team_id");

    // ListTeams reads a projection, which follows the events a moment later.
    let mut names = Vec::new();
    for _ in 0..100 {
        let teams = services.json(&["requests", "list-teams"]).await;
        names = teams["teams"]
            .as_array()
            .expect("a list of teams")
            .iter()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect();
        if names.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(names, ["Sales", "Workshop"], "by name");

    let link = services
        .json(&[
            "requests",
            "declare-link",
            &sales_id,
            "--ola",
            "5d",
            "--as",
            &workshop_id,
        ])
        .await;
    assert_eq!(text(&link, "provider_team_id"), workshop_id);
    assert_eq!(link["ola"], "432000s");

    let jane = services
        .json(&[
            "tickets",
            "register-customer",
            "Jane Dowe",
            "--value",
            "25000",
            "--as",
            &sales_id,
        ])
        .await;
    assert_eq!(jane["value"]["value_minor"], "2500000");
    assert_eq!(jane["value"]["currency_code"], "EUR");
    let ticket = services
        .json(&[
            "tickets",
            "open-ticket",
            &text(&jane, "customer_id"),
            "--subject",
            "Desk",
            "--as",
            &sales_id,
        ])
        .await;
    assert_eq!(ticket["state"], "TICKET_STATE_OPEN");
    let ticket_id = text(&ticket, "ticket_id");

    let request = services
        .json(&[
            "requests",
            "open-request",
            &workshop_id,
            "--title",
            "Build the desk",
            "--needed-by",
            "14d",
            "--ticket",
            &ticket_id,
            "--as",
            &sales_id,
        ])
        .await;
    assert_eq!(request["state"], "REQUEST_STATE_OPENED");
    assert_eq!(text(&request, "parent_ticket_id"), ticket_id);
    let request_id = text(&request, "request_id");
    let committed = services
        .json(&[
            "requests",
            "commit-request",
            &request_id,
            "--due",
            "10d",
            "--as",
            &workshop_id,
        ])
        .await;
    assert_eq!(committed["state"], "REQUEST_STATE_COMMITTED");
    assert!(
        committed["commitment"]["due_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    // GetCase finds a case's requests through a projection too.
    let mut case = serde_json::Value::Null;
    for _ in 0..100 {
        let output = services.chainctl(&["-o", "json", "case", &ticket_id]).await;
        if output.status.success() {
            case = serde_json::from_slice(&output.stdout).expect("the case as JSON");
            if case["nodes"].as_array().is_some_and(|n| !n.is_empty()) {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(text(&case, "root_ticket_id"), ticket_id);
    assert_eq!(case["nodes"].as_array().map(Vec::len), Some(1));
    assert_eq!(text(&case["nodes"][0]["request"], "request_id"), request_id);

    let args = ["case", request_id.as_str()];
    let drawn = services.chainctl(&args).await;
    assert_success(&drawn, &args);
    let drawn = String::from_utf8_lossy(&drawn.stdout);
    assert!(
        drawn.contains(&format!("case {ticket_id} (ticket)")),
        "a request id leads to its case:\n{drawn}"
    );
    assert!(
        drawn.contains("★ Workshop → Sales  committed  due in 10 d"),
        "{drawn}"
    );

    let digest = services.json(&["scoring", "get-projection-digest"]).await;
    assert!(!text(&digest, "digest").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_call_names_the_service_the_method_and_the_code() {
    let services = Services::start().await;
    let args = [
        "requests",
        "get-team",
        "0190a5d2-7c3e-7a41-8f00-123456789abc",
    ];
    let output = services.chainctl(&args).await;
    assert_eq!(output.status.code(), Some(1), "a refused call exits with 1");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("requests-svc refused GetTeam: NOT_FOUND"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}
