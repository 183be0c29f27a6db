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
    assert!(
        chain_telemetry::metrics::serve_prometheus(addr).is_err(),
        "a second recorder is refused"
    );
}
