//! Test databases: a fresh SQLite file or a fresh PostgreSQL schema per test.
//!
//! PostgreSQL is found through `MOPS_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`, as on this project's machines).
//! A missing PostgreSQL fails the test: nothing is skipped.

#![allow(dead_code)]

pub mod http;

use std::str::FromStr;

use mops_service::store::{Db, PgStore, SqliteStore, Store};
use sqlx::postgres::PgConnectOptions;

pub fn postgres_url() -> String {
    std::env::var("MOPS_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database that lives as long as the test.
pub struct TestDb {
    pub db: Db,
    /// The SQLite file's folder, or the PostgreSQL schema.
    pub place: Place,
}

pub enum Place {
    Sqlite(tempfile::TempDir),
    Postgres { schema: String },
}

impl TestDb {
    pub fn url(&self) -> String {
        match &self.place {
            Place::Sqlite(dir) => format!("sqlite://{}", dir.path().join("mops.db").display()),
            Place::Postgres { schema } => {
                // libpq-style options carry the search_path for the CLI.
                format!("{}?options=-c%20search_path%3D{schema}", postgres_url())
            }
        }
    }

    /// Another store on the same database: a second "process".
    pub async fn another_store(&self, max_connections: u32) -> Db {
        match &self.place {
            Place::Sqlite(_) => Db::Sqlite(SqliteStore::connect(&self.url()).await.expect("open SQLite")),
            Place::Postgres { schema } => Db::Postgres(
                PgStore::connect_options(pg_options(schema), max_connections).await.expect("connect to PostgreSQL"),
            ),
        }
    }
}

fn pg_options(schema: &str) -> PgConnectOptions {
    PgConnectOptions::from_str(&postgres_url())
        .expect("MOPS_TEST_DATABASE_URL is a PostgreSQL URL")
        .options([("search_path", schema)])
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}", dir.path().join("mops.db").display());
    let db = Db::Sqlite(SqliteStore::connect(&url).await.expect("open SQLite"));
    db.migrate().await.expect("migrate SQLite");
    TestDb { db, place: Place::Sqlite(dir) }
}

pub async fn postgres() -> TestDb {
    postgres_with(10).await
}

pub async fn postgres_with(max_connections: u32) -> TestDb {
    let schema = format!("mops_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&postgres_url()).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is required for this test and is not reachable at {}: {e}. Run scripts/test, which starts it.",
            postgres_url()
        )
    });
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin).await.expect("create a test schema");
    admin.close().await;
    let db = Db::Postgres(PgStore::connect_options(pg_options(&schema), max_connections).await.expect("connect"));
    db.migrate().await.expect("migrate PostgreSQL");
    TestDb { db, place: Place::Postgres { schema } }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Place::Postgres { schema } = &self.place {
            // Drop the schema from a thread of its own: Drop cannot await.
            let schema = schema.clone();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                rt.block_on(async {
                    let admin = sqlx::PgPool::connect(&postgres_url()).await.ok()?;
                    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&admin).await.ok()?;
                    admin.close().await;
                    Some(())
                })
            })
            .join();
        }
    }
}

/// Runs an async test body against both backends, as two tests.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let db = $crate::common::sqlite().await;
                    super::$name(&db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let db = $crate::common::postgres().await;
                    super::$name(&db).await;
                }
            }
        )+
    };
}

/// A copy of `round`'s call named `title`, open now: it opened yesterday and
/// every date after that moves with it.
pub async fn open_copy_now(db: &Db, round: &mops_core::reference::Round2010, title: &str) -> mops_core::domain::CallId {
    use mops_core::{CallCommand, CallPhase};
    let mut definition = round.definition.clone();
    let shift = chrono::Utc::now() - chrono::Duration::days(1) - definition.timeline.opens_at;
    definition.timeline.shift(shift);
    definition.title = mops_core::domain::Title::parse(title).expect("a title");
    let id = mops_core::domain::CallId::from_uuid(uuid::Uuid::new_v4());
    for command in
        [CallCommand::Create { id, definition: Box::new(definition) }, CallCommand::Advance { to: CallPhase::Open }]
    {
        db.execute_call(mops_service::store::CallRequest {
            call: id,
            command: &command,
            actor: &round.actor(round.process_leader),
            now: chrono::Utc::now(),
            expected_version: None,
            idempotency_key: None,
        })
        .await
        .expect("an open call");
    }
    id
}

/// `application/x-www-form-urlencoded`, every byte but the unreserved ones
/// escaped.
pub fn form_body(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}
