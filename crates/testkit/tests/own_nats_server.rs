//! A private nats-server can be killed, restarted on the same port, and have its store wiped.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use chain_testkit::{NatsRoot, OwnNatsServer, nats_url};

async fn connect(url: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    // A client that gives up at once, so "the server is down" shows as an error, not a hang.
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .connect(url)
        .await
}

async fn stream_exists(url: &str, name: &str) -> anyhow::Result<bool> {
    let client = connect(url).await?;
    let js = jetstream::new(client);
    match js.get_stream(name).await {
        Ok(_) => Ok(true),
        Err(error)
            if matches!(
                error.kind(),
                jetstream::context::GetStreamErrorKind::JetStream(ref js)
                    if js.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
            ) =>
        {
            Ok(false)
        }
        Err(error) => Err(error.into()),
    }
}

#[tokio::test]
async fn kill_restart_and_wipe_store() -> anyhow::Result<()> {
    let mut server = OwnNatsServer::start().await;
    let url = server.url();
    assert_ne!(server.port(), 4222, "must not use the shared server's port");
    assert!(server.is_running());

    // JetStream works: make a stream and publish into it.
    let name = NatsRoot::unique();
    let js = jetstream::new(connect(&url).await?);
    js.create_stream(stream::Config {
        name: name.clone(),
        subjects: vec![format!("{name}.>")],
        ..Default::default()
    })
    .await?;
    let ack = js
        .publish(format!("{name}.hello"), "hi".into())
        .await?
        .await?;
    assert_eq!(ack.sequence, 1);
    assert!(server.store_dir().join("jetstream").is_dir());

    server.kill()?;
    assert!(!server.is_running());
    assert!(
        connect(&url).await.is_err(),
        "a killed server still accepts connections"
    );

    server.restart().await?;
    assert_eq!(server.url(), url, "restart must keep the port");
    assert!(
        stream_exists(&url, &name).await?,
        "the stream is lost although the store was kept"
    );

    server.kill()?;
    server.wipe_store()?;
    assert_eq!(std::fs::read_dir(server.store_dir())?.count(), 0);
    server.restart().await?;
    assert!(
        !stream_exists(&url, &name).await?,
        "the stream survived a wiped store"
    );
    Ok(())
}

#[tokio::test]
async fn dropping_the_fixture_stops_the_server() -> anyhow::Result<()> {
    let server = OwnNatsServer::start().await;
    let url = server.url();
    let store = server.store_dir().to_path_buf();
    connect(&url).await?;
    drop(server);
    assert!(
        connect(&url).await.is_err(),
        "the server outlived its fixture"
    );
    assert!(!store.exists(), "the store directory outlived its fixture");
    Ok(())
}

#[tokio::test]
async fn servers_of_concurrent_tests_get_their_own_ports() {
    let (a, b) = tokio::join!(OwnNatsServer::start(), OwnNatsServer::start());
    assert_ne!(a.port(), b.port());
    assert_ne!(a.store_dir(), b.store_dir());
}

#[tokio::test]
async fn the_shared_server_has_jetstream_and_unique_roots_keep_tests_apart() -> anyhow::Result<()> {
    let client = connect(&nats_url()).await?;
    let js = jetstream::new(client.clone());
    let root = NatsRoot::unique();
    let mut subscriber = client.subscribe(format!("{root}.>")).await?;
    let other_root = NatsRoot::unique();
    client
        .publish(format!("{other_root}.x"), "other".into())
        .await?;
    client.publish(format!("{root}.x"), "mine".into()).await?;
    client.flush().await?;
    let message = tokio::time::timeout(
        Duration::from_secs(5),
        futures::StreamExt::next(&mut subscriber),
    )
    .await?
    .expect("the subscription is open");
    assert_eq!(message.payload.as_ref(), b"mine");
    assert_eq!(message.subject.as_str(), format!("{root}.x"));

    // Both were published on one connection, "other" first: had the root not kept it out, it
    // would have arrived before "mine".
    let next = tokio::time::timeout(
        Duration::from_millis(200),
        futures::StreamExt::next(&mut subscriber),
    )
    .await;
    assert!(next.is_err(), "a further message arrived: {next:?}");

    // JetStream is on: a stream named after the root can be made, used and removed again.
    // (`query_account` cannot be used here: async-nats 0.51 fails to parse 2.9.10's answer.)
    js.create_stream(stream::Config {
        name: root.clone(),
        subjects: vec![format!("{root}.js.>")],
        ..Default::default()
    })
    .await?;
    let ack = js
        .publish(format!("{root}.js.x"), "stored".into())
        .await?
        .await?;
    assert_eq!(ack.stream, root);
    assert!(js.delete_stream(&root).await?.success);
    Ok(())
}
