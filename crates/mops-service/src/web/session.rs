//! Sign-in state in the database: server-side sessions for
//! [`tower_sessions`], the applicants' one-time sign-in links and the
//! staff's one-time password-reset links (one table, `sign_in_links`, told
//! apart by their [`LinkPurpose`]).
//!
//! Both live in the pipeline's own database (`migrations/*/0003_web.sql`,
//! `0005_passwords.sql`),
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

/// The session key that holds the signed-in user's [`PersonId`]. The store
/// also writes it to `web_sessions.user_id`, so a new password can end
/// every session of that person.
pub(crate) const USER_KEY: &str = "user";

/// Whose session a record is, if anybody has signed in with it.
fn user_of(record: &Record) -> Option<Uuid> {
    record.data.get(USER_KEY).and_then(|v| serde_json::from_value(v.clone()).ok())
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
            let user = user_of(record);
            let inserted = on_pool!(&self.db, pool => {
                sqlx::query(
                    "INSERT INTO web_sessions (id, data, expires_at, user_id) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(&id)
                .bind(&data)
                .bind(expires)
                .bind(user)
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
        let user = user_of(record);
        on_pool!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO web_sessions (id, data, expires_at, user_id) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at, \
                 user_id = excluded.user_id",
            )
            .bind(&id)
            .bind(&data)
            .bind(expires)
            .bind(user)
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

/// How long a sign-in or password-reset link works.
pub const LINK_LIFETIME: Duration = Duration::minutes(30);

/// What a one-time link is for (`sign_in_links.purpose`). A link is only
/// ever looked up with its purpose: a sign-in link cannot reset a password,
/// a reset link cannot sign anybody in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// An applicant signs in (`/lank/…`).
    SignIn,
    /// A staff member who forgot their password chooses a new one
    /// (`/nytt-losenord/…`).
    PasswordReset,
}

impl LinkPurpose {
    pub fn key(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::PasswordReset => "password_reset",
        }
    }
}

/// The SHA-256 of a link's secret: what `sign_in_links.token_hash` holds.
pub fn link_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.trim().as_bytes()).into()
}

/// Stores a new one-time link for `user` and returns its secret (64 hex
/// digits), which goes into the mail and nowhere else.
pub async fn create_link(
    db: &Db,
    user: PersonId,
    purpose: LinkPurpose,
    now: DateTime<Utc>,
) -> Result<String, sqlx::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| sqlx::Error::Protocol(format!("no randomness: {e}")))?;
    let secret = hex::encode(bytes);
    let hash = link_hash(&secret).to_vec();
    let now = now.trunc_subsecs(6);
    let user: Uuid = *user.as_uuid();
    on_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO sign_in_links (token_hash, user_id, created_at, expires_at, purpose) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&hash)
        .bind(user)
        .bind(now)
        .bind(now + LINK_LIFETIME)
        .bind(purpose.key())
        .execute(pool)
        .await?;
    });
    Ok(secret)
}

/// Whether a link's secret is live for `purpose` (known, made for that
/// purpose, unused, not expired, its user enabled; a reset link also only
/// while the user has a password), without using it: the page a link
/// opens asks before it does anything.
pub async fn link_is_live(
    db: &Db,
    secret: &str,
    purpose: LinkPurpose,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let hash = link_hash(secret).to_vec();
    let now = now.trunc_subsecs(6);
    let n: i64 = on_pool!(db, pool => {
        sqlx::query_scalar(
            "SELECT count(*) FROM sign_in_links AS l JOIN users AS u ON u.id = l.user_id \
             WHERE l.token_hash = $1 AND l.purpose = $2 AND l.used_at IS NULL AND l.expires_at > $3 \
             AND u.disabled_at IS NULL AND (l.purpose = 'sign_in' OR u.password_hash IS NOT NULL)",
        )
        .bind(&hash)
        .bind(purpose.key())
        .bind(now)
        .fetch_one(pool)
        .await?
    });
    Ok(n > 0)
}

/// Uses a sign-in link: marks it used and returns its user, if it was
/// live. Two requests racing for one link: one wins, the other gets
/// `None`. (A reset link is used by [`crate::people::PeopleStore::reset_password`],
/// in the transaction that sets the new password.)
pub async fn consume_link(db: &Db, secret: &str, now: DateTime<Utc>) -> Result<Option<PersonId>, sqlx::Error> {
    let hash = link_hash(secret).to_vec();
    let now = now.trunc_subsecs(6);
    let user: Option<Uuid> = on_pool!(db, pool => {
        sqlx::query_scalar(
            "UPDATE sign_in_links SET used_at = $2 \
             WHERE token_hash = $1 AND purpose = 'sign_in' AND used_at IS NULL AND expires_at > $2 \
             RETURNING user_id",
        )
        .bind(&hash)
        .bind(now)
        .fetch_optional(pool)
        .await?
    });
    Ok(user.map(PersonId::from_uuid))
}
