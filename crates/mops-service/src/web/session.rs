//! Sign-in state in the database: server-side sessions for
//! [`tower_sessions`] and the applicants' one-time sign-in links.
//!
//! Both live in the pipeline's own database (`migrations/*/0003_web.sql`),
//! so `mops migrate` prepares them, several `mops serve` instances on one
//! PostgreSQL share them, and a backup holds them.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use mops_core::domain::PersonId;
use sha2::{Digest, Sha256};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use uuid::Uuid;

use crate::Db;

/// Runs the same SQL on either backend's pool; `$pool` is bound to it.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite(s) => {
                let $pool = s.pool();
                $body
            }
            Db::Postgres(s) => {
                let $pool = s.pool();
                $body
            }
        }
    };
}

/// Sessions stored in `web_sessions`.
#[derive(Debug, Clone)]
pub struct DbSessionStore {
    db: Db,
}

impl DbSessionStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Deletes expired sessions and used or expired sign-in links; returns
    /// how many rows went.
    pub async fn delete_expired(&self, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
        let now = now.trunc_subsecs(6);
        on_pool!(&self.db, pool => {
            let a = sqlx::query("DELETE FROM web_sessions WHERE expires_at < $1").bind(now).execute(pool).await?;
            let b = sqlx::query("DELETE FROM sign_in_links WHERE expires_at < $1 OR used_at IS NOT NULL")
                .bind(now)
                .execute(pool)
                .await?;
            Ok(a.rows_affected() + b.rows_affected())
        })
    }
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn expiry(record: &Record) -> DateTime<Utc> {
    DateTime::from_timestamp(record.expiry_date.unix_timestamp(), 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn encode(record: &Record) -> session_store::Result<String> {
    serde_json::to_string(record).map_err(|e| session_store::Error::Encode(e.to_string()))
}

#[async_trait::async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A new id until one is free: ids are 128 random bits, so a second
        // round is all but impossible, but a collision must never join two
        // people's sessions.
        loop {
            let data = encode(record)?;
            let expires = expiry(record);
            let id = record.id.to_string();
            let inserted = on_pool!(&self.db, pool => {
                sqlx::query(
                    "INSERT INTO web_sessions (id, data, expires_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                )
                .bind(&id)
                .bind(&data)
                .bind(expires)
                .execute(pool)
                .await
                .map_err(backend)?
                .rows_affected()
            });
            if inserted == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = encode(record)?;
        let expires = expiry(record);
        let id = record.id.to_string();
        on_pool!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO web_sessions (id, data, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
            )
            .bind(&id)
            .bind(&data)
            .bind(expires)
            .execute(pool)
            .await
            .map_err(backend)?;
        });
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let id = id.to_string();
        let now = Utc::now().trunc_subsecs(6);
        let data: Option<String> = on_pool!(&self.db, pool => {
            sqlx::query_scalar("SELECT data FROM web_sessions WHERE id = $1 AND expires_at > $2")
                .bind(&id)
                .bind(now)
                .fetch_optional(pool)
                .await
                .map_err(backend)?
        });
        data.map(|d| serde_json::from_str(&d).map_err(|e| session_store::Error::Decode(e.to_string()))).transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let id = id.to_string();
        on_pool!(&self.db, pool => {
            sqlx::query("DELETE FROM web_sessions WHERE id = $1").bind(&id).execute(pool).await.map_err(backend)?;
        });
        Ok(())
    }
}

/// How long a sign-in link works.
pub const LINK_LIFETIME: Duration = Duration::minutes(30);

/// Stores a new one-time sign-in link for `user` and returns its secret
/// (64 hex digits), which goes into the mail and nowhere else.
pub async fn create_link(db: &Db, user: PersonId, now: DateTime<Utc>) -> Result<String, sqlx::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| sqlx::Error::Protocol(format!("no randomness: {e}")))?;
    let secret = hex::encode(bytes);
    let hash = Sha256::digest(secret.as_bytes()).to_vec();
    let now = now.trunc_subsecs(6);
    let user: Uuid = *user.as_uuid();
    on_pool!(db, pool => {
        sqlx::query("INSERT INTO sign_in_links (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(&hash)
            .bind(user)
            .bind(now)
            .bind(now + LINK_LIFETIME)
            .execute(pool)
            .await?;
    });
    Ok(secret)
}

/// Whether a link's secret is live (known, unused, not expired), without
/// using it: the confirmation page asks before it signs in.
pub async fn link_is_live(db: &Db, secret: &str, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let hash = Sha256::digest(secret.trim().as_bytes()).to_vec();
    let now = now.trunc_subsecs(6);
    let n: i64 = on_pool!(db, pool => {
        sqlx::query_scalar(
            "SELECT count(*) FROM sign_in_links WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(&hash)
        .bind(now)
        .fetch_one(pool)
        .await?
    });
    Ok(n > 0)
}

/// Uses a link: marks it used and returns its user, if it was live. Two
/// requests racing for one link: one wins, the other gets `None`.
pub async fn consume_link(db: &Db, secret: &str, now: DateTime<Utc>) -> Result<Option<PersonId>, sqlx::Error> {
    let hash = Sha256::digest(secret.trim().as_bytes()).to_vec();
    let now = now.trunc_subsecs(6);
    let user: Option<Uuid> = on_pool!(db, pool => {
        sqlx::query_scalar(
            "UPDATE sign_in_links SET used_at = $2 \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
        )
        .bind(&hash)
        .bind(now)
        .fetch_optional(pool)
        .await?
    });
    Ok(user.map(PersonId::from_uuid))
}
