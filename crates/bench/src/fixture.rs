//! What the benchmark runs against and cleans up after: a database of its own on the PostgreSQL
//! server at `DATABASE_URL`, and streams of its own, under unique subject roots, on the
//! nats-server at `NATS_URL`.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;
use chain_bus::BusLayout;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection};

/// The PostgreSQL server when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The nats-server when `NATS_URL` is not set.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// A database created for this run, dropped by [`BenchDatabase::drop_database`].
pub struct BenchDatabase {
    name: String,
    url: String,
    admin_url: String,
}

impl BenchDatabase {
    /// Creates `cc_bench_<32 hex digits>` through the admin URL (its user must be allowed to
    /// create databases).
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("cc_bench_{}", uuid::Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .with_context(|| format!("connecting to {}", redacted(admin_url)))?;
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .with_context(|| format!("creating database {name}"))?;
        // The statement is done; a failed close changes nothing.
        let _ = admin.close().await;
        Ok(Self {
            url: with_database(admin_url, &name),
            name,
            admin_url: admin_url.to_owned(),
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database's URL (it may hold a password: never print it), for a process of its own.
    #[allow(
        dead_code,
        reason = "store-bench connects through pool(); requests-bench hands the URL to the service"
    )]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A pool of exactly `connections` connections, all opened before it is returned, so no
    /// measured operation pays for a connect.
    pub async fn pool(&self, connections: u32) -> anyhow::Result<PgPool> {
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .min_connections(connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&self.url)
            .await
            .with_context(|| format!("connecting a pool to {}", self.name))?;
        let mut opened = Vec::new();
        for _ in 0..connections {
            opened.push(pool.acquire().await.context("opening pool connections")?);
        }
        drop(opened);
        Ok(pool)
    }

    /// Drops the database, even with connections still open; keeps it when
    /// `BENCH_KEEP_DATABASES` is set, to look into after a run.
    pub async fn drop_database(self) -> anyhow::Result<()> {
        if std::env::var_os("BENCH_KEEP_DATABASES").is_some() {
            eprintln!("kept database {}", self.name);
            return Ok(());
        }
        let mut admin = PgConnection::connect(&self.admin_url)
            .await
            .with_context(|| format!("connecting to {}", redacted(&self.admin_url)))?;
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut admin)
        .await
        .with_context(|| format!("dropping database {}", self.name))?;
        let _ = admin.close().await;
        Ok(())
    }
}

/// The JetStream context and every stream this run created, so they can all be deleted.
pub struct BenchNats {
    js: jetstream::Context,
    streams: Vec<String>,
}

impl BenchNats {
    /// Connects to the nats-server at `url`.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let js = chain_bus::connect(url)
            .await
            .with_context(|| format!("connecting to NATS at {url}"))?;
        Ok(Self {
            js,
            streams: Vec::new(),
        })
    }

    /// The JetStream context.
    pub fn js(&self) -> &jetstream::Context {
        &self.js
    }

    /// The server's version, as it announced itself.
    pub fn server_version(&self) -> String {
        self.js.client().server_info().version
    }

    /// Creates `service`'s stream under a fresh subject root of its own and remembers it for
    /// deletion.
    pub async fn fresh_stream(&mut self, service: &str) -> anyhow::Result<BusLayout> {
        let layout = BusLayout::new(format!(
            "b{}",
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        ));
        let name = layout.stream_name(service);
        self.streams.push(name.clone());
        chain_bus::ensure_stream(&self.js, &layout, service)
            .await
            .with_context(|| format!("creating stream {name}"))?;
        Ok(layout)
    }

    /// How many messages stream `name` holds.
    pub async fn stream_messages(&self, name: &str) -> anyhow::Result<u64> {
        let mut stream = self
            .js
            .get_stream(name)
            .await
            .with_context(|| format!("looking up stream {name}"))?;
        let info = stream
            .info()
            .await
            .with_context(|| format!("reading stream {name}"))?;
        Ok(info.state.messages)
    }

    /// Deletes every stream this run created, trying each even when one fails.
    pub async fn delete_streams(self) -> anyhow::Result<()> {
        let mut failed = Vec::new();
        for name in &self.streams {
            if let Err(error) = self.js.delete_stream(name).await {
                failed.push(format!("{name}: {error}"));
            }
        }
        anyhow::ensure!(failed.is_empty(), "deleting streams: {}", failed.join("; "));
        Ok(())
    }
}

/// `url` with its database (the path) replaced by `database`, keeping user, host, port and query.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    match query {
        Some(query) => format!("{}/{database}?{query}", &base[..authority_end]),
        None => format!("{}/{database}", &base[..authority_end]),
    }
}

/// `url` without its password, fit for messages.
pub fn redacted(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{}{user}:***{}", &url[..scheme_end], &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_only_the_path() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "cc_bench_x"),
            "postgres://postgres@127.0.0.1:5432/cc_bench_x"
        );
        assert_eq!(
            with_database("postgresql://u:p@db:5433/app?sslmode=disable", "cc_bench_x"),
            "postgresql://u:p@db:5433/cc_bench_x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://localhost", "cc_bench_x"),
            "postgres://localhost/cc_bench_x"
        );
    }

    #[test]
    fn redacted_hides_only_the_password() {
        assert_eq!(
            redacted("postgres://u:secret@db:5432/app"),
            "postgres://u:***@db:5432/app"
        );
        assert_eq!(
            redacted("postgres://postgres@127.0.0.1:5432/postgres"),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
    }
}
