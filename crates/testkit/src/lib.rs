//! Test fixtures that give each test its own PostgreSQL database, its own NATS subject root, or its own nats-server.
//!
//! Tests in this workspace talk to real PostgreSQL and real NATS (`scripts/infra.sh` starts both on
//! loopback). To stay independent when they run in parallel, each test takes:
//!
//! - a [`TestDatabase`]: a fresh database, dropped again when the fixture is dropped;
//! - a [`NatsRoot::unique`] name: a subject root and stream-name prefix no other test uses, on the
//!   shared server at [`nats_url`];
//! - an [`OwnNatsServer`] when the test kills, restarts or wipes NATS, so the shared server is never
//!   disturbed;
//! - [`wait_until`] for "eventually" assertions, [`free_port`] for anything that must listen,
//!   [`serve`] for the gRPC service under test, and a [`TestPki`] for one served over mutual TLS.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use chain_testkit::{NatsRoot, OwnNatsServer, TestDatabase, wait_until};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let db = TestDatabase::create().await; // dropped again at the end of the test
//! sqlx::query("CREATE TABLE seen (id int)").execute(&db.pool()).await?;
//!
//! let root = NatsRoot::unique(); // e.g. subjects "<root>.chain.v1.>", stream "<root>_EVENTS"
//!
//! let mut nats = OwnNatsServer::start().await; // only for tests that kill or wipe NATS
//! nats.kill()?;
//! nats.wipe_store()?;
//! nats.restart().await?;
//!
//! let pool = db.pool();
//! let arrived = wait_until(Duration::from_secs(5), Duration::from_millis(20), async || {
//!     sqlx::query_scalar::<_, i64>("SELECT count(*) FROM seen")
//!         .fetch_one(&pool)
//!         .await
//!         .is_ok_and(|n| n > 0)
//! })
//! .await;
//! assert!(!arrived, "nothing writes into `seen` in this example");
//! # let _ = (root, nats.url());
//! # Ok(())
//! # }
//! ```

mod database;
mod error;
mod eventually;
mod grpc;
mod nats_root;
mod nats_server;
mod pki;
mod ports;

pub use database::{DEFAULT_DATABASE_URL, TestDatabase, database_url};
pub use error::FixtureError;
pub use eventually::wait_until;
pub use grpc::{channel, serve};
pub use nats_root::{DEFAULT_NATS_URL, NatsRoot, nats_url};
pub use nats_server::OwnNatsServer;
pub use pki::{IssuedPem, SERVER_NAME, TestPki, tls_channel};
pub use ports::free_port;
