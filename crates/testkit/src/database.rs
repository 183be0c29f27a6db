//! A fresh PostgreSQL database per test, dropped again when the test is done.

use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection};

use crate::FixtureError;

/// Where the shared PostgreSQL server is when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Connections in the pool that [`TestDatabase::pool`] hands out.
const DEFAULT_POOL_SIZE: u32 = 8;

/// How often `CREATE DATABASE` is tried when PostgreSQL says the template is busy.
const CREATE_ATTEMPTS: u32 = 5;

/// The server the test databases are made on: `DATABASE_URL`, or [`DEFAULT_DATABASE_URL`].
///
/// Its user must be allowed to create and drop databases.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
}

/// A database of its own for one test, named `cc_test_<32 hex digits>`.
///
/// Dropping it drops the database (`WITH (FORCE)`, so connections still open do not stop it),
/// unless [`TestDatabase::keep`] was called or `KEEP_TEST_DB=1` is set, in which case its URL is
/// printed so it can be inspected after the test.
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
    pool: PgPool,
    keep: bool,
}

impl TestDatabase {
    /// Creates a fresh database on the server at [`database_url`] and connects a pool to it.
    ///
    /// # Panics
    ///
    /// When PostgreSQL cannot be reached or refuses to create the database: the test cannot run
    /// without it, and the message says why. Use [`TestDatabase::try_create`] to handle that.
    pub async fn create() -> TestDatabase {
        match Self::try_create().await {
            Ok(database) => database,
            Err(error) => panic!(
                "could not create a test database on {} (is PostgreSQL running? try scripts/infra.sh): {error}",
                redacted(&database_url())
            ),
        }
    }

    /// Like [`TestDatabase::create`], but returns the error instead of panicking.
    pub async fn try_create() -> Result<TestDatabase, FixtureError> {
        let admin_url = database_url();
        let name = format!("cc_test_{}", uuid::Uuid::new_v4().simple());
        let url = with_database(&admin_url, &name);

        let mut admin = PgConnection::connect(&admin_url).await.map_err(|e| {
            FixtureError::database(format!("connecting to {}", redacted(&admin_url)), e)
        })?;
        create_database(&mut admin, &name).await?;
        // The admin connection is not needed any more; a failed close changes nothing.
        let _ = admin.close().await;

        let pool = match connect(&url, &name, DEFAULT_POOL_SIZE).await {
            Ok(pool) => pool,
            Err(error) => {
                // Best effort: the database is useless without a pool, so it should not linger.
                let _ = drop_database(&admin_url, &name).await;
                return Err(error);
            }
        };
        Ok(TestDatabase {
            name,
            url,
            admin_url,
            pool,
            keep: std::env::var("KEEP_TEST_DB").is_ok_and(|value| value == "1"),
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL that connects to this database, for code under test that takes a `DATABASE_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A pool of up to 8 connections to this database (a cheap clone of the fixture's pool).
    pub fn pool(&self) -> PgPool {
        self.pool.clone()
    }

    /// A new pool of up to `max_connections` connections to this database, for tests that need
    /// more (or fewer) connections than [`TestDatabase::pool`] has.
    pub async fn connect_pool(&self, max_connections: u32) -> Result<PgPool, FixtureError> {
        connect(&self.url, &self.name, max_connections).await
    }

    /// Keeps the database after the test, and prints its URL when the fixture is dropped.
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.keep {
            eprintln!(
                "chain-testkit: kept test database {} at {}",
                self.name,
                redacted(&self.url)
            );
            return;
        }
        // Drop may run inside a tokio runtime (where blocking on a future panics) or outside any
        // runtime, so the drop runs on a thread of its own with a small runtime of its own. The
        // thread is joined because a test process may exit right after the test returns.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropper = std::thread::Builder::new()
            .name(format!("drop-{name}"))
            .spawn(move || drop_database_blocking(&admin_url, &name));
        match dropper.map(std::thread::JoinHandle::join) {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => {
                eprintln!(
                    "chain-testkit: could not drop test database {}: {error}",
                    self.name
                );
            }
            Ok(Err(_)) | Err(_) => {
                eprintln!(
                    "chain-testkit: the thread dropping test database {} failed",
                    self.name
                );
            }
        }
    }
}

/// `CREATE DATABASE`, retried while PostgreSQL reports the template as in use: that happens when
/// another session is connected to `template1` at the moment, and passes quickly.
async fn create_database(admin: &mut PgConnection, name: &str) -> Result<(), FixtureError> {
    let statement = format!("CREATE DATABASE {}", quoted(name));
    let mut attempt = 1;
    loop {
        match sqlx::query(AssertSqlSafe(statement.as_str()))
            .execute(&mut *admin)
            .await
        {
            Ok(_) => return Ok(()),
            Err(error) if attempt < CREATE_ATTEMPTS && is_object_in_use(&error) => {
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(error) => {
                return Err(FixtureError::database(
                    format!("creating database {name}"),
                    error,
                ));
            }
        }
    }
}

async fn connect(url: &str, name: &str, max_connections: u32) -> Result<PgPool, FixtureError> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(30))
        .connect(url)
        .await
        .map_err(|e| FixtureError::database(format!("connecting a pool to {name}"), e))
}

fn drop_database_blocking(admin_url: &str, name: &str) -> Result<(), FixtureError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| FixtureError::io("building a runtime to drop the database", e))?
        .block_on(drop_database(admin_url, name))
}

async fn drop_database(admin_url: &str, name: &str) -> Result<(), FixtureError> {
    let mut admin = PgConnection::connect(admin_url)
        .await
        .map_err(|e| FixtureError::database(format!("connecting to {}", redacted(admin_url)), e))?;
    let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quoted(name));
    sqlx::query(AssertSqlSafe(statement))
        .execute(&mut admin)
        .await
        .map_err(|e| FixtureError::database(format!("dropping database {name}"), e))?;
    // The statement is done; a failed close changes nothing.
    let _ = admin.close().await;
    Ok(())
}

fn is_object_in_use(error: &sqlx::Error) -> bool {
    // SQLSTATE 55006 object_in_use: "source database "template1" is being accessed by other users".
    error
        .as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == "55006")
}

/// A double-quoted SQL identifier.
fn quoted(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
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
    let mut result = format!("{}/{}", &base[..authority_end], database);
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    result
}

/// `url` without its password, fit for messages.
fn redacted(url: &str) -> String {
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
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "cc_test_x"),
            "postgres://postgres@127.0.0.1:5432/cc_test_x"
        );
        assert_eq!(
            with_database("postgresql://u:p@db:5433/app?sslmode=disable", "cc_test_x"),
            "postgresql://u:p@db:5433/cc_test_x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://localhost", "cc_test_x"),
            "postgres://localhost/cc_test_x"
        );
        assert_eq!(
            with_database("postgres://localhost?application_name=t", "cc_test_x"),
            "postgres://localhost/cc_test_x?application_name=t"
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

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quoted("cc_test_1"), "\"cc_test_1\"");
        assert_eq!(quoted("a\"b"), "\"a\"\"b\"");
    }
}
