//! Each `TestDatabase` is a real, separate PostgreSQL database that is gone after the drop.

use anyhow::Context as _;
use chain_testkit::{TestDatabase, database_url};
use sqlx::{Connection as _, PgConnection};

async fn database_exists(name: &str) -> anyhow::Result<bool> {
    let mut admin = PgConnection::connect(&database_url()).await?;
    let found: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_one(&mut admin)
        .await?;
    Ok(found == 1)
}

#[tokio::test]
async fn two_concurrent_databases_are_separate_and_usable() -> anyhow::Result<()> {
    let (a, b) = tokio::join!(TestDatabase::create(), TestDatabase::create());
    assert_ne!(a.name(), b.name());
    assert_ne!(a.url(), b.url());
    assert!(a.name().starts_with("cc_test_"), "{}", a.name());

    // Each pool really is connected to its own database.
    for db in [&a, &b] {
        let current: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&db.pool())
            .await?;
        assert_eq!(current, db.name());
    }

    // A table made in one is not visible in the other.
    sqlx::query("CREATE TABLE marker (value int NOT NULL)")
        .execute(&a.pool())
        .await?;
    sqlx::query("INSERT INTO marker VALUES (42)")
        .execute(&a.pool())
        .await?;
    let value: i32 = sqlx::query_scalar("SELECT value FROM marker")
        .fetch_one(&a.pool())
        .await?;
    assert_eq!(value, 42);
    let in_b: Option<String> = sqlx::query_scalar("SELECT to_regclass('marker')::text")
        .fetch_one(&b.pool())
        .await?;
    assert_eq!(in_b, None, "the table leaked into the other database");
    Ok(())
}

#[tokio::test]
async fn dropping_the_fixture_drops_the_database_even_with_open_connections() -> anyhow::Result<()>
{
    let db = TestDatabase::create().await;
    let name = db.name().to_owned();
    assert!(database_exists(&name).await?);

    // A connection still open (as a leaked pool in a test would be) must not stop the drop.
    let mut held = PgConnection::connect(db.url()).await?;
    sqlx::query("SELECT 1").execute(&mut held).await?;
    drop(db);

    assert!(!database_exists(&name).await?, "{name} still exists");
    Ok(())
}

#[tokio::test]
async fn connect_pool_opens_as_many_connections_as_asked() -> anyhow::Result<()> {
    let db = TestDatabase::create().await;
    let pool = db.connect_pool(3).await?;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(pool.acquire().await.context("acquiring a connection")?);
    }
    assert_eq!(pool.size(), 3);
    let backends: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()",
    )
    .fetch_one(&mut *held[0])
    .await?;
    // The three held connections, plus whatever the fixture's own pool has open.
    assert!(backends >= 3, "only {backends} backends on the database");
    Ok(())
}

#[tokio::test]
async fn a_kept_database_survives_the_drop() -> anyhow::Result<()> {
    let mut db = TestDatabase::create().await;
    db.keep();
    let name = db.name().to_owned();
    drop(db);
    let survived = database_exists(&name).await?;

    // Clean up by hand, since the fixture was told not to.
    let mut admin = PgConnection::connect(&database_url()).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    assert!(survived, "{name} was dropped although it was kept");
    Ok(())
}
