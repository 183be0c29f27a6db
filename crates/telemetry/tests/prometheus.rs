//! The Prometheus endpoint serves what the `metrics` facade recorded. Its own test binary,
//! because the recorder is process-wide.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn recorded_counters_are_served_on_slash_metrics() {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    chain_telemetry::metrics::serve_prometheus(addr).expect("install");
    metrics::counter!("chain_relay_published_total", "relay" => "requests").increment(3);
    let consumer = [("consumer", "chain-view")];
    metrics::histogram!("chain_consumer_transaction_messages", &consumer).record(100.0);
    metrics::histogram!("chain_consumer_lag_seconds", &consumer).record(45.0);

    let mut body = String::new();
    for _ in 0..50 {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await {
            stream
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .await
                .expect("request");
            stream.read_to_string(&mut body).await.expect("response");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        body.contains(r#"chain_relay_published_total{relay="requests"} 3"#),
        "{body}"
    );
    // A batch's size and a consumer's lag have buckets of their own: counts up to 512, and
    // lags up to minutes, where latencies stop at 5 s.
    for line in [
        r#"chain_consumer_transaction_messages_bucket{consumer="chain-view",le="64"} 0"#,
        r#"chain_consumer_transaction_messages_bucket{consumer="chain-view",le="128"} 1"#,
        r#"chain_consumer_lag_seconds_bucket{consumer="chain-view",le="30"} 0"#,
        r#"chain_consumer_lag_seconds_bucket{consumer="chain-view",le="60"} 1"#,
    ] {
        assert!(body.contains(line), "{line} in\n{body}");
    }
    assert!(
        chain_telemetry::metrics::serve_prometheus(addr).is_err(),
        "a second recorder is refused"
    );
}
