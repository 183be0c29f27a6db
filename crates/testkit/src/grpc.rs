//! A gRPC server a test starts in-process (the service under test on a free loopback port),
//! and a channel to it.

use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::Channel;
use tonic::transport::server::TcpIncoming;

/// Serves `routes` (say `Routes::new(service.into_server())`) on a free port of 127.0.0.1
/// until `shutdown` is cancelled, and returns the address it listens on.
///
/// # Panics
///
/// When no loopback port can be bound, or the server fails while it runs: a test has nothing
/// to talk to either way.
pub async fn serve(routes: Routes, shutdown: &CancellationToken) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("bound");
    let server = tonic::transport::Server::builder()
        .add_routes(routes)
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener),
            shutdown.clone().cancelled_owned(),
        );
    tokio::spawn(async move {
        server.await.expect("the server runs");
    });
    addr
}

/// A channel connected to the server at `addr` (plain HTTP/2 on loopback).
///
/// # Panics
///
/// When the server does not accept the connection.
pub async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("a valid uri")
        .connect()
        .await
        .expect("the service accepts connections")
}
