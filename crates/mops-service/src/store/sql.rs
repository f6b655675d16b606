//! The two storage backends. Their SQL is the same text (both accept `$1`
//! placeholders and `RETURNING`), so one macro writes both implementations;
//! they differ in how a write transaction begins and how rows are locked:
//!
//! | | SQLite | PostgreSQL |
//! | --- | --- | --- |
//! | write transaction | `BEGIN IMMEDIATE`: takes the single write lock up front, so the busy timeout applies and a read-then-write never fails on upgrade | `BEGIN` (read committed) |
//! | durability of a commit | on disk before it returns (`synchronous = FULL`), except the mail worker's claims and records (`NORMAL`, see [`SQLITE_BEGIN_OUTBOX`]) | on disk before it returns (the server's `synchronous_commit`) |
//! | call row for budget and capacity rules | already serialised by the write lock | `SELECT … FOR UPDATE` |
//! | lost updates on an idea | impossible: one writer | `UPDATE … WHERE version = $old`; the loser sees 0 rows, a conflict |

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mops_core::call::StageCounts;
use mops_core::domain::{CallId, IdeaId, PersonId, Sek};
use mops_core::idea::{CallTotals, Context, notifications_for};
use mops_core::{
    CallContext, CallEvent, CallState, IdeaCommand, IdeaEvent, IdeaState, Recorded, Stage, decide, decide_call,
};
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Row, SqlitePool};
use uuid::Uuid;

use super::hash::{self, GENESIS};
use super::verify::{self, Raw, RawCall, RawEvent, RawIdea, VerifyProgress};
use super::{
    Backend, CallRequest, FunnelCounts, IdeaRequest, LogEvent, Outcome, Store, StoreError, StoredEvent, VerifyReport,
    Versioned, idempotency_scope,
};
use super::{OutboxRow, OutboxStatus, OutboxUpdate};
use crate::people::Registration;

/// How long a writer waits for SQLite's write lock before giving up.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How SQLite write transactions begin. Each names its durability, because
/// the one writer connection keeps the last `synchronous` it was given:
/// everything but the mail worker's bookkeeping is on disk before its commit
/// returns.
pub const SQLITE_BEGIN: &str = "PRAGMA synchronous = FULL; BEGIN IMMEDIATE";

/// How the mail worker's claims and records of outcomes begin on SQLite:
/// with `synchronous = NORMAL`, their commits are written to the log but not
/// flushed to the disk one by one. The next flush (a checkpoint, or any
/// other commit, since the log is written in order) makes them durable. A
/// power cut before it can lose the last few: a lost claim or record of a
/// sent mail leaves its row to be sent again, within the at-least-once window
/// the worker already has (the same Message-ID). The flush had cost the
/// worker two `fsync`s per batch, about a tenth of its database time.
pub const SQLITE_BEGIN_OUTBOX: &str = "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE";

/// How the mail worker's claims and records of outcomes begin on
/// PostgreSQL. As on SQLite ([`SQLITE_BEGIN_OUTBOX`]), their commits do not
/// wait for the log to reach the disk (`synchronous_commit = off`): a crash
/// of the server or the machine can lose the last few, within the worker's
/// at-least-once window. And they use the statements' generic plans
/// (`plan_cache_mode = force_generic_plan`): by default the server planned
/// the claim and the record afresh for every batch (their custom plans
/// looked no dearer than the generic one), about a tenth of its CPU in the
/// mail benchmark. The generic plans are the same index scans; the server
/// plans them again when the table's statistics change.
pub const PG_BEGIN_OUTBOX: &str =
    "BEGIN; SET LOCAL synchronous_commit = off; SET LOCAL plan_cache_mode = force_generic_plan";

/// The writer connection's page cache, at most (KiB).
pub const WRITER_CACHE_KIB: u32 = 8 * 1024;
/// Each reading connection's page cache, at most (KiB).
pub const READER_CACHE_KIB: u32 = 16 * 1024;

/// The pipeline in an SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Reads, and the few single-statement writes.
    pool: SqlitePool,
    /// Write transactions: one connection, so writers queue here rather than
    /// in SQLite's busy handler, and its page cache stays valid from one
    /// write to the next (in WAL mode a connection drops its whole cache
    /// when another connection has written since its last transaction).
    writer: SqlitePool,
}

/// The sent rows among `updates`, each with the server's reply.
fn sent_rows(updates: &[OutboxUpdate]) -> impl Iterator<Item = (Uuid, &str)> {
    updates.iter().filter_map(|update| match update {
        OutboxUpdate::Sent { id, reply } => Some((*id, reply.as_str())),
        _ => None,
    })
}

impl SqliteStore {
    /// Records the sent rows among `updates` in one statement: their ids
    /// travel as one blob of 16 bytes each (as SQLite keeps a UUID), their
    /// replies as one JSON array of strings, in the same order. An array of
    /// JSON objects cost SQLite two lookups and a hex decoding per row.
    async fn record_sent(
        tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
        updates: &[OutboxUpdate],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (mut ids, mut replies) = (Vec::with_capacity(16 * updates.len()), Vec::new());
        for (id, reply) in sent_rows(updates) {
            ids.extend_from_slice(id.as_bytes());
            replies.push(reply);
        }
        if replies.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE outbox SET status = 'sent', sent_at = $1, server_reply = u.reply, \
             lease_until = NULL, last_error = NULL \
             FROM (SELECT substr($2, key * 16 + 1, 16) AS id, value AS reply FROM json_each($3)) AS u \
             WHERE outbox.id = u.id",
        )
        .bind(now)
        .bind(ids)
        .bind(serde_json::to_string(&replies).map_err(corrupt)?)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Opens (and creates, if missing) the database at `url`, e.g.
    /// `sqlite://mops.db`.
    ///
    /// WAL lets readers work while one writer writes; foreign keys are on;
    /// writers wait up to `SQLITE_BUSY_TIMEOUT` (10 s) for the lock.
    /// `synchronous = FULL`: every commit is on disk before it is
    /// acknowledged, so a decision once recorded survives a power cut. With
    /// WAL, `NORMAL` would be faster but may lose the last commits; only the
    /// mail worker's claims and records use it (`SQLITE_BEGIN_OUTBOX`).
    /// `temp_store = MEMORY` keeps statement journals (which a multi-row
    /// update inside a transaction writes) off the disk.
    ///
    /// Page caches: up to 8 MiB (`WRITER_CACHE_KIB`) for the writer, which touches
    /// the busiest pages (the outbox, the event log's tail) again and again,
    /// and 16 MiB (`READER_CACHE_KIB`) for each reader. SQLite's default, 2 MiB, is
    /// less than the head of an outbox of 10 000 mails (the mail benchmark's):
    /// the worker read its pages back from the file on every pass. The writer's
    /// is not larger, because SQLite walks its cache's hash table at the end
    /// of many transactions (`pcache1TruncateUnsafe`): at 64 MiB that cost
    /// the worker more than reading pages did. Memory is taken only as pages
    /// are read.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .pragma("temp_store", "MEMORY")
            .busy_timeout(SQLITE_BUSY_TIMEOUT);
        // A negative cache size is in KiB.
        let cache = |kib: u32| format!("-{kib}");
        // A connection to a local file does not go stale as one over a
        // network can, so it is not pinged each time it is taken from the
        // pool: the ping cost a round trip to the connection's thread per
        // transaction.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(SQLITE_BUSY_TIMEOUT)
            .connect_with(options.clone().pragma("cache_size", cache(WRITER_CACHE_KIB)))
            .await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect_with(options.pragma("cache_size", cache(READER_CACHE_KIB)))
            .await?;
        Ok(Self { pool, writer })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The connection write transactions use (see the field).
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// Closes every connection (before the file is deleted, say).
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}

/// The pipeline in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Records the sent rows among `updates` in one statement, their ids and
    /// replies bound as two arrays (one round trip for the batch, no text to
    /// take apart on the server).
    async fn record_sent(
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        updates: &[OutboxUpdate],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (ids, replies): (Vec<Uuid>, Vec<&str>) = sent_rows(updates).unzip();
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE outbox SET status = 'sent', sent_at = $1, server_reply = u.reply, \
             lease_until = NULL, last_error = NULL \
             FROM unnest($2::uuid[], $3::text[]) AS u(id, reply) \
             WHERE outbox.id = u.id",
        )
        .bind(now)
        .bind(ids)
        .bind(replies)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Connects to `url`, e.g. `postgres://postgres@127.0.0.1:5432/test`,
    /// with up to `max_connections` connections (default 10 in `connect`).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, 10).await
    }

    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        Self::connect_options(options, max_connections).await
    }

    /// Connects with explicit options (tests use a schema per test through
    /// `search_path`).
    pub async fn connect_options(options: PgConnectOptions, max_connections: u32) -> Result<Self, StoreError> {
        let options = options.application_name("mops");
        // One direct connection first: an unreachable server or a wrong
        // password is reported at once and as itself, not as a pool timeout.
        sqlx::Connection::close(sqlx::ConnectOptions::connect(&options).await?).await?;
        let pool = PgPoolOptions::new().max_connections(max_connections).connect_with(options).await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Write transactions use the one pool.
    pub fn writer(&self) -> &PgPool {
        &self.pool
    }
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// The name of the unique constraint a database error violated, if any.
fn unique_violation(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Some(db.constraint().map(str::to_owned).unwrap_or_else(|| db.message().to_owned()))
        }
        _ => None,
    }
}

/// The furthest funnel step an idea reached: 0 draft, 1 submitted,
/// 2 selected, 3 plan submitted, 4 granted.
fn furthest(state: &IdeaState) -> i64 {
    match state {
        IdeaState::New | IdeaState::Draft(_) => 0,
        IdeaState::Submitted(_) | IdeaState::NotSelected(_) => 1,
        IdeaState::Selected(_) | IdeaState::Pitched(_) => 2,
        IdeaState::PlanSubmitted(_) | IdeaState::Prepared(_) | IdeaState::Declined(_) => 3,
        IdeaState::Granted(_) => 4,
        IdeaState::Lapsed(l) => furthest(&l.previous),
        IdeaState::Withdrawn(w) => furthest(&w.previous),
    }
}

fn registry(state: &IdeaState) -> Option<String> {
    match state {
        IdeaState::Granted(g) => Some(g.decision.registry.to_string()),
        IdeaState::Declined(d) => Some(d.decision.registry.to_string()),
        _ => None,
    }
}

/// The people who apply with an idea (the lead and every co-applicant), as
/// `idea_applicants` stores them.
pub(crate) fn applicants(state: &IdeaState) -> std::collections::BTreeSet<Uuid> {
    state.idea().map(|i| i.applicants().map(|a| *a.person.as_uuid()).collect()).unwrap_or_default()
}

fn call_event_key(e: &CallEvent) -> &'static str {
    match e {
        CallEvent::Created { .. } => "created",
        CallEvent::Edited { .. } => "edited",
        CallEvent::PhaseChanged { .. } => "phase_changed",
    }
}

/// An outbox row's status as readers see it. A claim leaves the stored
/// status `pending` and sets a lease: a pending row with a lease is being
/// sent (or its worker died and the lease will lapse). Claims so change no
/// indexed column: SQLite need not move the row in the queue's index, and
/// PostgreSQL can update it in place (a HOT update).
macro_rules! outbox_status_sql {
    () => {
        "CASE WHEN status = 'pending' AND lease_until IS NOT NULL THEN 'sending' ELSE status END"
    };
}

const OUTBOX_COLUMNS: &str = concat!(
    "id, event_id, call_id, idea_id, recipient_email, notice, intent, ",
    outbox_status_sql!(),
    " AS status, attempts, next_attempt_at, last_error, server_reply, sent_at, created_at"
);

/// Reads an outbox row (same columns on both backends).
pub(crate) fn outbox_from_row<R: Row>(row: &R) -> Result<OutboxRow, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    Uuid: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    DateTime<Utc>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let status: String = row.try_get("status")?;
    Ok(OutboxRow {
        id: row.try_get("id")?,
        event_id: row.try_get("event_id")?,
        call_id: CallId::from_uuid(row.try_get("call_id")?),
        idea_id: IdeaId::from_uuid(row.try_get("idea_id")?),
        recipient_email: row.try_get("recipient_email")?,
        notice: row.try_get("notice")?,
        intent: serde_json::from_str(&row.try_get::<String, _>("intent")?)?,
        status: outbox_status(&status)?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        server_reply: row.try_get("server_reply")?,
        sent_at: row.try_get("sent_at")?,
        created_at: row.try_get("created_at")?,
    })
}

/// What separates the fields of a claimed row in SQLite's answer to a claim
/// ([`CLAIMED_ROW_SQL`]), and what separates the rows. No field holds either
/// byte: free text goes quoted as JSON, which escapes control characters;
/// the intent, last, is JSON as serde writes it, which escapes them too.
const FIELD: char = '\u{1f}';
const ROW: char = '\u{1e}';

/// A claimable row as SQLite writes it in `claim_outbox`, fields separated by
/// [`FIELD`], as it is once leased, after its rowid (`claimed_rowid`): UUIDs in hex, times as stored, free text
/// (and what may be NULL) quoted as JSON, the intent's JSON last as it is
/// stored. JSON objects (`json_object`) cost SQLite an escaped copy of each
/// intent, and serde an unescaped one.
const CLAIMED_ROW_SQL: &str = "concat_ws(char(31), claimed_rowid, hex(id), event_id, hex(call_id), hex(idea_id), \
     json_quote(recipient_email), notice, attempts + 1, next_attempt_at, json_quote(last_error), \
     json_quote(server_reply), json_quote(sent_at), created_at, intent)";

/// Reads the rows of SQLite's answer to a claim (`group_concat` of
/// [`CLAIMED_ROW_SQL`] with [`ROW`]), each with the status `sending`, and
/// their rowids as a JSON array.
fn claimed_rows(text: &str) -> Result<(Vec<OutboxRow>, String), StoreError> {
    let mut rowids = String::from("[");
    let rows = text
        .split(ROW)
        .map(|row| {
            let (rowid, row) = claimed_row(row)?;
            if rowids.len() > 1 {
                rowids.push(',');
            }
            rowids.push_str(rowid);
            Ok(row)
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    rowids.push(']');
    Ok((rows, rowids))
}

fn claimed_row(text: &str) -> Result<(&str, OutboxRow), StoreError> {
    let bad = |what: &str| corrupt(format!("a claimed outbox row with {what}: {text:?}"));
    let mut fields = text.splitn(14, FIELD);
    let mut next = || fields.next().ok_or_else(|| bad("too few fields"));
    let uuid = |hex: &str| Uuid::try_parse(hex).map_err(|e| bad(&format!("a bad id ({e})")));
    let int = |digits: &str| digits.parse::<i64>().map_err(|e| bad(&format!("a bad number ({e})")));
    let quoted = |json: &str| serde_json::from_str::<Option<String>>(json).map_err(|e| bad(&format!("bad text ({e})")));
    let rowid = next()?;
    int(rowid)?;
    let id = uuid(next()?)?;
    let event_id = int(next()?)?;
    let call_id = CallId::from_uuid(uuid(next()?)?);
    let idea_id = IdeaId::from_uuid(uuid(next()?)?);
    let recipient_email = quoted(next()?)?.ok_or_else(|| bad("no recipient"))?;
    let notice = next()?.to_owned();
    let attempts = int(next()?)?;
    let next_attempt_at = sqlite_time(next()?)?;
    let last_error = quoted(next()?)?;
    let server_reply = quoted(next()?)?;
    let sent_at = quoted(next()?)?.as_deref().map(sqlite_time).transpose()?;
    let created_at = sqlite_time(next()?)?;
    let intent = serde_json::from_str(next()?)?;
    let row = OutboxRow {
        id,
        event_id,
        call_id,
        idea_id,
        recipient_email,
        notice,
        intent,
        status: OutboxStatus::Sending,
        attempts,
        next_attempt_at,
        last_error,
        server_reply,
        sent_at,
        created_at,
    };
    Ok((rowid, row))
}

fn outbox_status(key: &str) -> Result<OutboxStatus, StoreError> {
    OutboxStatus::parse(key).ok_or_else(|| corrupt(format!("unknown outbox status {key}")))
}

/// A time as SQLite stores it: RFC 3339, as sqlx writes a `DateTime`, or
/// SQLite's own `YYYY-MM-DD HH:MM:SS`, in UTC.
fn sqlite_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%F %T%.f").map(|t| t.and_utc()))
        .map_err(|e| corrupt(format!("an outbox time that cannot be read: {text:?}: {e}")))
}

macro_rules! impl_store {
    ($store:ident, $db:ty, people = $people:ident, backend = $backend:expr, begin = $begin:expr, begin_outbox = $begin_outbox:expr, lock = $lock:literal, skip_locked = $skip:literal, snapshot = $snapshot:literal, migrations = $migrations:literal) => {
        impl $store {
            /// How many of the compiled-in migrations the database has not applied.
            pub async fn migrations_pending(&self) -> Result<usize, StoreError> {
                let migrator = sqlx::migrate!($migrations);
                // A trivial query first: an unreachable database is an error,
                // while a database never migrated has every migration pending.
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                    .fetch_all(&self.pool)
                    .await
                    .unwrap_or_default();
                Ok(migrator.iter().filter(|m| !applied.contains(&m.version)).count())
            }

            async fn begin_write(&self) -> Result<sqlx::Transaction<'static, $db>, StoreError> {
                Ok(self.writer().begin_with($begin).await?)
            }

            /// Claims as [`Store::claim_outbox_from`] does, within `tx`.
            async fn claim_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                now: DateTime<Utc>,
                from: Option<DateTime<Utc>>,
                lease: Duration,
                limit: i64,
            ) -> Result<Vec<OutboxRow>, StoreError> {
                let lease_until = now + chrono::Duration::from_std(lease).map_err(corrupt)?;
                // Due rows not leased, or whose lease lapsed, in due order.
                // `status IN ('pending', 'sending')` is the condition of the
                // partial index `outbox_unsent_by_due`: SQLite uses a partial
                // index only for a query that states its condition. The
                // search walks the index in order and stops at `limit`;
                // rows leased and still in flight are passed over, each
                // looked up in the table for its lease. From `from` on, the
                // search starts there instead of at the oldest row.
                let claimable = |columns: &str, now: &str, limit: &str, from_param: &str| {
                    format!(
                        "SELECT {columns} FROM outbox \
                         WHERE status IN ('pending', 'sending') AND status = 'pending' \
                           AND next_attempt_at <= {now} AND (lease_until IS NULL OR lease_until < {now}){from} \
                         ORDER BY next_attempt_at LIMIT {limit}{skip}",
                        from = if from.is_some() { format!(" AND next_attempt_at >= {from_param}") } else { String::new() },
                        skip = $skip
                    )
                };
                let mut rows = match $backend {
                    // On SQLite every row a statement returns is a message
                    // from the connection's thread to this task, with a
                    // wake-up each. So the claimed rows come back in one
                    // text, in one row, as they are once leased
                    // ([`CLAIMED_ROW_SQL`]); then they are leased: two
                    // statements.
                    Backend::Sqlite => {
                        let sql = format!(
                            "SELECT group_concat({CLAIMED_ROW_SQL}, char(30)) FROM ({})",
                            claimable("rowid AS claimed_rowid, *", "$1", "$2", "$3")
                        );
                        let mut query = sqlx::query_scalar(&sql).bind(now).bind(limit);
                        if let Some(from) = from {
                            query = query.bind(from);
                        }
                        let claimed: Option<String> = query.fetch_one(&mut **tx).await?;
                        let Some(claimed) = claimed else { return Ok(Vec::new()) };
                        let (rows, rowids) = claimed_rows(&claimed)?;
                        // By rowid, within the transaction that read them:
                        // one lookup per row instead of two (the id's index,
                        // then the table).
                        sqlx::query(
                            "UPDATE outbox SET lease_until = $1, attempts = attempts + 1 \
                             WHERE rowid IN (SELECT value FROM json_each($2))",
                        )
                        .bind(lease_until)
                        .bind(rowids)
                        .execute(&mut **tx)
                        .await?;
                        rows
                    }
                    Backend::Postgres => {
                        // The rows found are locked by this transaction, so
                        // their places (`ctid`) hold until it ends: the
                        // update goes to each place directly instead of
                        // looking every id up in the primary key.
                        let sql = format!(
                            "UPDATE outbox SET lease_until = $1, attempts = attempts + 1 \
                             WHERE ctid = ANY(ARRAY({})) RETURNING {OUTBOX_COLUMNS}",
                            claimable("ctid", "$2", "$3", "$4")
                        );
                        let mut query = sqlx::query(&sql).bind(lease_until).bind(now).bind(limit);
                        if let Some(from) = from {
                            query = query.bind(from);
                        }
                        let rows = query.fetch_all(&mut **tx).await?;
                        rows.iter().map(outbox_from_row).collect::<Result<Vec<_>, _>>()?
                    }
                };
                rows.sort_by_key(|r| r.next_attempt_at);
                Ok(rows)
            }

            /// Records as [`Store::record_outbox`] does, within `tx`.
            async fn record_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                updates: &[OutboxUpdate],
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                // Sent rows, nearly all of a batch, take one statement.
                Self::record_sent(tx, updates, now).await?;
                for update in updates {
                    match update {
                        OutboxUpdate::Sent { .. } => continue,
                        OutboxUpdate::Retry { id, at, error } => sqlx::query(
                            "UPDATE outbox SET status = 'pending', next_attempt_at = $2, last_error = $3, \
                             lease_until = NULL WHERE id = $1 AND status = 'pending' AND lease_until IS NOT NULL",
                        )
                        .bind(id)
                        .bind(*at)
                        .bind(error),
                        OutboxUpdate::Failed { id, error } => sqlx::query(
                            "UPDATE outbox SET status = 'failed', last_error = $2, server_reply = $2, \
                             lease_until = NULL WHERE id = $1 AND status = 'pending' AND lease_until IS NOT NULL",
                        )
                        .bind(id)
                        .bind(error),
                    }
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(())
            }

            /// A write transaction of the mail worker's bookkeeping (see
            /// [`SQLITE_BEGIN_OUTBOX`]).
            async fn begin_outbox_write(&self) -> Result<sqlx::Transaction<'static, $db>, StoreError> {
                Ok(self.writer().begin_with($begin_outbox).await?)
            }

            /// The stored outcome of an earlier request with this key, or
            /// an error if the key was used for another command.
            async fn stored_outcome(
                tx: &mut sqlx::Transaction<'static, $db>,
                scope: &str,
                key: &str,
                fingerprint: &[u8],
            ) -> Result<Option<Outcome>, StoreError> {
                let row = sqlx::query("SELECT request_hash, response FROM idempotency WHERE scope = $1 AND key = $2")
                    .bind(scope)
                    .bind(key)
                    .fetch_optional(&mut **tx)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                let stored: Vec<u8> = row.try_get("request_hash")?;
                if stored != fingerprint {
                    return Err(StoreError::IdempotencyMismatch { key: key.to_owned() });
                }
                let mut outcome: Outcome = serde_json::from_str(&row.try_get::<String, _>("response")?)?;
                outcome.replayed = true;
                Ok(Some(outcome))
            }

            /// After a unique violation on the idempotency key (a concurrent
            /// request with the same key won), the winner's outcome.
            async fn outcome_after_race(
                &self,
                scope: &str,
                key: &str,
                fingerprint: &[u8],
            ) -> Result<Outcome, StoreError> {
                let mut tx = self.pool.begin().await?;
                Self::stored_outcome(&mut tx, scope, key, fingerprint)
                    .await?
                    .ok_or_else(|| corrupt("an idempotency key vanished"))
            }

            async fn remember(
                tx: &mut sqlx::Transaction<'static, $db>,
                scope: &str,
                key: Option<&str>,
                fingerprint: &[u8],
                outcome: &Outcome,
            ) -> Result<(), StoreError> {
                let Some(key) = key else { return Ok(()) };
                sqlx::query(
                    "INSERT INTO idempotency (scope, key, request_hash, response, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(scope)
                .bind(key)
                .bind(fingerprint)
                .bind(serde_json::to_string(outcome)?)
                .bind(Utc::now())
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// Appends events to a stream's hash chain; returns their ids and
            /// the new head hash.
            #[allow(clippy::too_many_arguments)]
            async fn append<E: Serialize>(
                tx: &mut sqlx::Transaction<'static, $db>,
                kind: &str,
                stream: Uuid,
                call: Uuid,
                version: i64,
                head: &[u8],
                events: &[Recorded<E>],
                key: impl Fn(&E) -> &'static str,
            ) -> Result<(Vec<i64>, Vec<u8>), StoreError> {
                let mut prev = head.to_vec();
                let mut ids = Vec::with_capacity(events.len());
                let recorded_at = Utc::now();
                for (i, r) in events.iter().enumerate() {
                    let seq = version + 1 + i as i64;
                    let body = serde_json::to_string(r)?;
                    let hash = hash::chain(&prev, stream, seq, &body);
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO events (stream_kind, stream_id, call_id, seq, event_type, at, actor, body, \
                         prev_hash, hash, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                         RETURNING id",
                    )
                    .bind(kind)
                    .bind(stream)
                    .bind(call)
                    .bind(seq)
                    .bind(key(&r.event))
                    .bind(r.at)
                    .bind(r.actor.person().map(|p| *p.as_uuid()))
                    .bind(&body)
                    .bind(&prev)
                    .bind(&hash)
                    .bind(recorded_at)
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(|e| match unique_violation(&e) {
                        // Another transaction appended this seq first.
                        Some(_) => StoreError::Conflict {
                            what: if kind == "call" { "call" } else { "idea" },
                            expected: Some(version),
                            actual: version + 1,
                        },
                        None => e.into(),
                    })?;
                    ids.push(id);
                    prev = hash;
                }
                Ok((ids, prev))
            }

            async fn counts_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                call: Uuid,
            ) -> Result<StageCounts, StoreError> {
                let rows = sqlx::query("SELECT stage, COUNT(*) AS n FROM ideas WHERE call_id = $1 GROUP BY stage")
                    .bind(call)
                    .fetch_all(&mut **tx)
                    .await?;
                let mut counts = StageCounts::default();
                for row in rows {
                    let key: String = row.try_get("stage")?;
                    let stage = Stage::from_key(&key).ok_or_else(|| corrupt(format!("unknown stage {key}")))?;
                    counts.add(stage, row.try_get::<i64, _>("n")?);
                }
                Ok(counts)
            }

            /// One command on an idea in its own transaction, after the
            /// people it registers (`new`, with their password hashes).
            async fn execute_idea_once(
                &self,
                new: &[(&Registration, Option<String>)],
                req: &IdeaRequest<'_>,
                fingerprint: &[u8],
                scope: &str,
            ) -> Result<Outcome, StoreError> {
                let mut tx = self.begin_write().await?;
                if !new.is_empty() {
                    // A replay registers nobody (and a key used for another
                    // command is refused before anybody is).
                    if let Some(key) = req.idempotency_key
                        && let Some(outcome) = Self::stored_outcome(&mut tx, scope, key, fingerprint).await?
                    {
                        return Ok(outcome);
                    }
                    for (r, hash) in new {
                        crate::people::$people::insert_user(&mut tx, &r.user, hash.as_deref(), r.by).await?;
                    }
                }
                let outcome = Self::execute_idea_in(&mut tx, req, fingerprint, scope).await?;
                tx.commit().await?;
                Ok(outcome)
            }

            /// Every request in one transaction; the first error (with the
            /// request's index) rolls all of them back.
            async fn execute_ideas_once(&self, reqs: &[IdeaRequest<'_>]) -> Result<Vec<Outcome>, StoreError> {
                let mut tx = self.begin_write().await?;
                // A batch that selects or grants locks its calls' rows before
                // any idea row: it would lock them later anyway, and taking
                // them first keeps two batches from waiting on each other
                // (one holding an idea, the other the call).
                let mut calls: Vec<Uuid> = reqs
                    .iter()
                    .filter(|r| matches!(r.command, IdeaCommand::Select { .. } | IdeaCommand::Grant { .. }))
                    .map(|r| *r.call.as_uuid())
                    .collect();
                calls.sort();
                calls.dedup();
                for call in calls {
                    sqlx::query(concat!("SELECT id FROM calls WHERE id = $1", $lock))
                        .bind(call)
                        .fetch_optional(&mut *tx)
                        .await?;
                }
                let mut outcomes = Vec::with_capacity(reqs.len());
                for (index, req) in reqs.iter().enumerate() {
                    let in_batch = |e: StoreError| StoreError::InBatch { index, source: Box::new(e) };
                    let scope = idempotency_scope(req.actor);
                    let fingerprint = hash::request(*req.idea.as_uuid(), req.command).map_err(|e| in_batch(e.into()))?;
                    let outcome = Self::execute_idea_in(&mut tx, req, &fingerprint, &scope).await.map_err(in_batch)?;
                    outcomes.push(outcome);
                }
                tx.commit().await?;
                Ok(outcomes)
            }

            /// One command on an idea inside `tx`, which the caller commits.
            /// Writes nothing when it fails, but a failure may leave `tx`
            /// unusable (PostgreSQL aborts it), so the caller rolls back.
            async fn execute_idea_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                req: &IdeaRequest<'_>,
                fingerprint: &[u8],
                scope: &str,
            ) -> Result<Outcome, StoreError> {
                let idea_id = *req.idea.as_uuid();
                let call_id = *req.call.as_uuid();
                if let Some(key) = req.idempotency_key
                    && let Some(outcome) = Self::stored_outcome(tx, scope, key, fingerprint).await?
                {
                    return Ok(outcome);
                }
                // Rules that span ideas (capacity, budget) read the call's
                // totals; the commands that change them lock the call row so
                // two of them cannot both pass on the same totals.
                let changes_totals = matches!(req.command, IdeaCommand::Select { .. } | IdeaCommand::Grant { .. });
                let lock = if changes_totals { $lock } else { "" };
                let row = sqlx::query(&format!(
                    "SELECT state, selected_count, granted_ore FROM calls WHERE id = $1{lock}"
                ))
                .bind(call_id)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(StoreError::NotFound { what: "call", id: call_id })?;
                let call_state: CallState = serde_json::from_str(&row.try_get::<String, _>("state")?)?;
                let call = call_state.call().ok_or_else(|| corrupt("a call row without a call"))?;
                let totals = CallTotals {
                    selected: u32::try_from(row.try_get::<i64, _>("selected_count")?).map_err(corrupt)?,
                    granted: Sek::from_ore(row.try_get("granted_ore")?).map_err(corrupt)?,
                };

                let row = sqlx::query("SELECT state, version, head_hash FROM ideas WHERE id = $1")
                    .bind(idea_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                let (state, version, head) = match row {
                    Some(row) => (
                        serde_json::from_str::<IdeaState>(&row.try_get::<String, _>("state")?)?,
                        row.try_get::<i64, _>("version")?,
                        row.try_get::<Vec<u8>, _>("head_hash")?,
                    ),
                    None => (IdeaState::New, 0, GENESIS.to_vec()),
                };
                if let Some(expected) = req.expected_version
                    && expected != version
                {
                    return Err(StoreError::Conflict { what: "idea", expected: Some(expected), actual: version });
                }

                let ctx = Context { now: req.now, actor: req.actor, call, totals };
                let decision = decide(&state, req.command, &ctx)?;

                let (event_ids, head) =
                    Self::append(tx, "idea", idea_id, call_id, version, &head, &decision.events, IdeaEvent::key)
                        .await?;
                let mut queued = 0u32;
                let created_at = Utc::now();
                for (recorded, event_id) in decision.events.iter().zip(&event_ids) {
                    for intent in notifications_for(&decision.state, &recorded.event, call) {
                        sqlx::query(
                            "INSERT INTO outbox (id, event_id, call_id, idea_id, recipient_person, recipient_email, \
                             language, notice, intent, status, attempts, next_attempt_at, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $10)",
                        )
                        .bind(Uuid::new_v4())
                        .bind(*event_id)
                        .bind(call_id)
                        .bind(idea_id)
                        .bind(*intent.to.person.as_uuid())
                        .bind(intent.to.email.as_str())
                        .bind(intent.to.language.tag())
                        .bind(intent.notice.key())
                        .bind(serde_json::to_string(&intent)?)
                        .bind(created_at)
                        .execute(&mut **tx)
                        .await?;
                        queued += 1;
                    }
                }

                let new_version = version + decision.events.len() as i64;
                let idea = decision.state.idea().ok_or_else(|| corrupt("a decided idea without data"))?;
                let state_json = serde_json::to_string(&decision.state)?;
                let stage = decision.state.stage().key();
                let granted = decision.state.granted_amount().map(Sek::ore);
                let written = if version == 0 {
                    sqlx::query(
                        "INSERT INTO ideas (id, call_id, state, stage, furthest, title, lead_person, granted_ore, \
                         registry, version, head_hash, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
                    )
                    .bind(idea_id)
                    .bind(call_id)
                    .bind(&state_json)
                    .bind(stage)
                    .bind(furthest(&decision.state))
                    .bind(idea.details.title.as_str())
                    .bind(*idea.lead.person.as_uuid())
                    .bind(granted)
                    .bind(registry(&decision.state))
                    .bind(new_version)
                    .bind(&head)
                    .bind(req.now)
                    .execute(&mut **tx)
                    .await
                } else {
                    sqlx::query(
                        "UPDATE ideas SET state = $2, stage = $3, furthest = $4, title = $5, granted_ore = $6, \
                         registry = $7, version = $8, head_hash = $9, updated_at = $10 \
                         WHERE id = $1 AND version = $11",
                    )
                    .bind(idea_id)
                    .bind(&state_json)
                    .bind(stage)
                    .bind(furthest(&decision.state))
                    .bind(idea.details.title.as_str())
                    .bind(granted)
                    .bind(registry(&decision.state))
                    .bind(new_version)
                    .bind(&head)
                    .bind(req.now)
                    .bind(version)
                    .execute(&mut **tx)
                    .await
                };
                match written {
                    Ok(done) if done.rows_affected() == 1 => {}
                    Ok(_) => return Err(StoreError::Conflict { what: "idea", expected: Some(version), actual: version + 1 }),
                    Err(e) => match unique_violation(&e) {
                        Some(c) if c.contains("registry") => {
                            return Err(StoreError::DuplicateRegistry {
                                registry: registry(&decision.state).unwrap_or_default(),
                            });
                        }
                        Some(_) => return Err(StoreError::Conflict { what: "idea", expected: Some(0), actual: 1 }),
                        None => return Err(e.into()),
                    },
                }

                // The applicants index ("my ideas"): written with the idea,
                // and only when the applicants change (a submission, or an
                // edit of a draft's co-applicants).
                let before = applicants(&state);
                let after = applicants(&decision.state);
                if before != after {
                    if !before.is_empty() {
                        sqlx::query("DELETE FROM idea_applicants WHERE idea_id = $1")
                            .bind(idea_id)
                            .execute(&mut **tx)
                            .await?;
                    }
                    for person in &after {
                        sqlx::query("INSERT INTO idea_applicants (idea_id, person_id) VALUES ($1, $2)")
                            .bind(idea_id)
                            .bind(*person)
                            .execute(&mut **tx)
                            .await?;
                    }
                }

                let mut delta = CallTotals::default();
                for r in &decision.events {
                    delta.apply(&r.event);
                }
                if delta != CallTotals::default() {
                    sqlx::query(
                        "UPDATE calls SET selected_count = selected_count + $2, granted_ore = granted_ore + $3, \
                         updated_at = $4 WHERE id = $1",
                    )
                    .bind(call_id)
                    .bind(i64::from(delta.selected))
                    .bind(delta.granted.ore())
                    .bind(Utc::now())
                    .execute(&mut **tx)
                    .await?;
                }

                let outcome = Outcome {
                    stream: idea_id,
                    version: new_version,
                    stage: stage.to_owned(),
                    events: event_ids,
                    notifications: queued,
                    replayed: false,
                };
                Self::remember(tx, scope, req.idempotency_key, fingerprint, &outcome).await?;
                Ok(outcome)
            }

            async fn execute_call_once(&self, req: &CallRequest<'_>, fingerprint: &[u8], scope: &str) -> Result<Outcome, StoreError> {
                let call_id = *req.call.as_uuid();
                if let mops_core::CallCommand::Create { id, .. } = req.command
                    && *id != req.call
                {
                    return Err(mops_core::TransitionError::WrongCall.into());
                }
                let mut tx = self.begin_write().await?;
                if let Some(key) = req.idempotency_key
                    && let Some(outcome) = Self::stored_outcome(&mut tx, scope, key, fingerprint).await?
                {
                    return Ok(outcome);
                }
                let row = sqlx::query(concat!("SELECT state, version, head_hash FROM calls WHERE id = $1", $lock))
                    .bind(call_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let (state, version, head) = match row {
                    Some(row) => (
                        serde_json::from_str::<CallState>(&row.try_get::<String, _>("state")?)?,
                        row.try_get::<i64, _>("version")?,
                        row.try_get::<Vec<u8>, _>("head_hash")?,
                    ),
                    None => (CallState::New, 0, GENESIS.to_vec()),
                };
                if let Some(expected) = req.expected_version
                    && expected != version
                {
                    return Err(StoreError::Conflict { what: "call", expected: Some(expected), actual: version });
                }
                let counts = if version == 0 { StageCounts::default() } else { Self::counts_in(&mut tx, call_id).await? };
                let decision = decide_call(&state, req.command, &CallContext { now: req.now, actor: req.actor, ideas: &counts })?;
                let (event_ids, head) =
                    Self::append(&mut tx, "call", call_id, call_id, version, &head, &decision.events, call_event_key).await?;
                let call = decision.state.call().ok_or_else(|| corrupt("a decided call without data"))?;
                let new_version = version + decision.events.len() as i64;
                let state_json = serde_json::to_string(&decision.state)?;
                let written = if version == 0 {
                    sqlx::query(
                        "INSERT INTO calls (id, state, phase, title, version, head_hash, budget_ore, capacity, \
                         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
                    )
                    .bind(call_id)
                    .bind(&state_json)
                    .bind(call.phase.key())
                    .bind(call.definition.title.as_str())
                    .bind(new_version)
                    .bind(&head)
                    .bind(call.definition.budget.ore())
                    .bind(i64::from(call.definition.capacity))
                    .bind(req.now)
                    .execute(&mut *tx)
                    .await
                } else {
                    sqlx::query(
                        "UPDATE calls SET state = $2, phase = $3, title = $4, version = $5, head_hash = $6, \
                         budget_ore = $7, capacity = $8, updated_at = $9 WHERE id = $1 AND version = $10",
                    )
                    .bind(call_id)
                    .bind(&state_json)
                    .bind(call.phase.key())
                    .bind(call.definition.title.as_str())
                    .bind(new_version)
                    .bind(&head)
                    .bind(call.definition.budget.ore())
                    .bind(i64::from(call.definition.capacity))
                    .bind(req.now)
                    .bind(version)
                    .execute(&mut *tx)
                    .await
                };
                match written {
                    Ok(done) if done.rows_affected() == 1 => {}
                    Ok(_) => return Err(StoreError::Conflict { what: "call", expected: Some(version), actual: version + 1 }),
                    Err(e) if unique_violation(&e).is_some() => {
                        return Err(StoreError::Conflict { what: "call", expected: Some(0), actual: 1 });
                    }
                    Err(e) => return Err(e.into()),
                }
                let outcome = Outcome {
                    stream: call_id,
                    version: new_version,
                    stage: call.phase.key().to_owned(),
                    events: event_ids,
                    notifications: 0,
                    replayed: false,
                };
                Self::remember(&mut tx, scope, req.idempotency_key, fingerprint, &outcome).await?;
                tx.commit().await?;
                Ok(outcome)
            }

            fn map_rows<T: serde::de::DeserializeOwned>(rows: Vec<<$db as sqlx::Database>::Row>) -> Result<Vec<Versioned<T>>, StoreError> {
                rows.into_iter()
                    .map(|row| {
                        Ok(Versioned {
                            state: serde_json::from_str(&row.try_get::<String, _>("state")?)?,
                            version: row.try_get("version")?,
                        })
                    })
                    .collect()
            }
        }

        impl Store for $store {
            fn backend(&self) -> Backend {
                $backend
            }

            async fn migrate(&self) -> Result<(), StoreError> {
                sqlx::migrate!($migrations).run(&self.pool).await?;
                Ok(())
            }

            async fn execute_idea(&self, req: IdeaRequest<'_>) -> Result<Outcome, StoreError> {
                self.execute_idea_registering(&[], req).await
            }

            #[tracing::instrument(
                skip_all,
                fields(idea.id = %req.idea, action = req.command.action().key(), registering = new.len())
            )]
            async fn execute_idea_registering(
                &self,
                new: &[Registration],
                req: IdeaRequest<'_>,
            ) -> Result<Outcome, StoreError> {
                let scope = idempotency_scope(req.actor);
                let fingerprint = hash::request(*req.idea.as_uuid(), req.command)?;
                // Hashed before the transaction: argon2 is slow, the write
                // lock is not to be held for it. Applicants have none.
                let mut users = Vec::with_capacity(new.len());
                for r in new {
                    let hash = match &r.user.password {
                        Some(p) => Some(p.hash_blocking().await?),
                        None => None,
                    };
                    users.push((r, hash));
                }
                match self.execute_idea_once(&users, &req, &fingerprint, &scope).await {
                    Err(StoreError::Database(e)) if unique_violation(&e).is_some_and(|c| c.contains("idempotency")) => {
                        let key = req.idempotency_key.unwrap_or_default();
                        self.outcome_after_race(&scope, key, &fingerprint).await
                    }
                    other => other,
                }
            }

            #[tracing::instrument(skip_all, fields(commands = reqs.len()))]
            async fn execute_ideas(&self, reqs: &[IdeaRequest<'_>]) -> Result<Vec<Outcome>, StoreError> {
                match self.execute_ideas_once(reqs).await {
                    // A concurrent request with one of the same idempotency
                    // keys committed first, and this transaction was rolled
                    // back. Once more: what the winner did now replays (or
                    // its other command is refused as a mismatch).
                    Err(StoreError::InBatch { source, .. })
                        if matches!(&*source, StoreError::Database(e)
                            if unique_violation(e).is_some_and(|c| c.contains("idempotency"))) =>
                    {
                        self.execute_ideas_once(reqs).await
                    }
                    other => other,
                }
            }

            async fn ideas_of_applicant(&self, person: PersonId) -> Result<Vec<Versioned<IdeaState>>, StoreError> {
                let rows = sqlx::query(
                    "SELECT i.state, i.version FROM idea_applicants AS a \
                     JOIN ideas AS i ON i.id = a.idea_id JOIN calls AS c ON c.id = i.call_id \
                     WHERE a.person_id = $1 ORDER BY c.created_at, c.id, i.created_at, i.id",
                )
                .bind(*person.as_uuid())
                .fetch_all(&self.pool)
                .await?;
                Self::map_rows(rows)
            }

            #[tracing::instrument(skip_all, fields(call.id = %req.call, action = req.command.action().key()))]
            async fn execute_call(&self, req: CallRequest<'_>) -> Result<Outcome, StoreError> {
                let scope = idempotency_scope(req.actor);
                let fingerprint = hash::request(*req.call.as_uuid(), req.command)?;
                match self.execute_call_once(&req, &fingerprint, &scope).await {
                    Err(StoreError::Database(e)) if unique_violation(&e).is_some_and(|c| c.contains("idempotency")) => {
                        let key = req.idempotency_key.unwrap_or_default();
                        self.outcome_after_race(&scope, key, &fingerprint).await
                    }
                    other => other,
                }
            }

            async fn call(&self, id: CallId) -> Result<Option<Versioned<CallState>>, StoreError> {
                let rows = sqlx::query("SELECT state, version FROM calls WHERE id = $1")
                    .bind(*id.as_uuid())
                    .fetch_all(&self.pool)
                    .await?;
                Ok(Self::map_rows(rows)?.pop())
            }

            async fn idea(&self, id: IdeaId) -> Result<Option<Versioned<IdeaState>>, StoreError> {
                let rows = sqlx::query("SELECT state, version FROM ideas WHERE id = $1")
                    .bind(*id.as_uuid())
                    .fetch_all(&self.pool)
                    .await?;
                Ok(Self::map_rows(rows)?.pop())
            }

            async fn calls(&self) -> Result<Vec<Versioned<CallState>>, StoreError> {
                let rows = sqlx::query("SELECT state, version FROM calls ORDER BY created_at, id")
                    .fetch_all(&self.pool)
                    .await?;
                Self::map_rows(rows)
            }

            async fn ideas(&self, call: CallId, stage: Option<Stage>) -> Result<Vec<Versioned<IdeaState>>, StoreError> {
                let rows = match stage {
                    Some(stage) => {
                        sqlx::query(
                            "SELECT state, version FROM ideas WHERE call_id = $1 AND stage = $2 ORDER BY created_at, id",
                        )
                        .bind(*call.as_uuid())
                        .bind(stage.key())
                        .fetch_all(&self.pool)
                        .await?
                    }
                    None => {
                        sqlx::query("SELECT state, version FROM ideas WHERE call_id = $1 ORDER BY created_at, id")
                            .bind(*call.as_uuid())
                            .fetch_all(&self.pool)
                            .await?
                    }
                };
                Self::map_rows(rows)
            }

            async fn idea_events(&self, id: IdeaId) -> Result<Vec<StoredEvent<IdeaEvent>>, StoreError> {
                let rows = sqlx::query("SELECT id, seq, body FROM events WHERE stream_id = $1 ORDER BY seq")
                    .bind(*id.as_uuid())
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter()
                    .map(|row| {
                        Ok(StoredEvent {
                            id: row.try_get("id")?,
                            seq: row.try_get("seq")?,
                            recorded: serde_json::from_str(&row.try_get::<String, _>("body")?)?,
                        })
                    })
                    .collect()
            }

            async fn stage_counts(&self, call: CallId) -> Result<StageCounts, StoreError> {
                let mut tx = self.pool.begin().await?;
                Self::counts_in(&mut tx, *call.as_uuid()).await
            }

            async fn funnel(&self, call: CallId) -> Result<FunnelCounts, StoreError> {
                let rows = sqlx::query("SELECT furthest, COUNT(*) AS n FROM ideas WHERE call_id = $1 GROUP BY furthest")
                    .bind(*call.as_uuid())
                    .fetch_all(&self.pool)
                    .await?;
                let mut reached = [0u32; 5];
                for row in rows {
                    let step = row.try_get::<i64, _>("furthest")?.clamp(0, 4) as usize;
                    let n = u32::try_from(row.try_get::<i64, _>("n")?).map_err(corrupt)?;
                    // Reaching a step means reaching every step before it.
                    for r in reached.iter_mut().take(step + 1) {
                        *r += n;
                    }
                }
                let granted: Option<i64> = sqlx::query_scalar("SELECT granted_ore FROM calls WHERE id = $1")
                    .bind(*call.as_uuid())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(FunnelCounts {
                    submitted: reached[1],
                    selected: reached[2],
                    plans_submitted: reached[3],
                    granted: reached[4],
                    granted_total: Sek::from_ore(granted.unwrap_or(0)).map_err(corrupt)?,
                })
            }

            async fn event_log(&self, call: Option<CallId>) -> Result<Vec<LogEvent>, StoreError> {
                const COLUMNS: &str = "id, stream_kind, stream_id, call_id, seq, event_type, at, body";
                let rows = match call {
                    Some(call) => sqlx::query(&format!("SELECT {COLUMNS} FROM events WHERE call_id = $1 ORDER BY id"))
                        .bind(*call.as_uuid())
                        .fetch_all(&self.pool)
                        .await?,
                    None => sqlx::query(&format!("SELECT {COLUMNS} FROM events ORDER BY id")).fetch_all(&self.pool).await?,
                };
                rows.into_iter()
                    .map(|r| {
                        Ok(LogEvent {
                            id: r.try_get("id")?,
                            stream_kind: r.try_get("stream_kind")?,
                            stream_id: r.try_get("stream_id")?,
                            call_id: CallId::from_uuid(r.try_get("call_id")?),
                            seq: r.try_get("seq")?,
                            event_type: r.try_get("event_type")?,
                            at: r.try_get("at")?,
                            body: r.try_get("body")?,
                        })
                    })
                    .collect()
            }

            async fn outbox_unsent(&self) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')")
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn record_outbox(&self, updates: &[OutboxUpdate], now: DateTime<Utc>) -> Result<(), StoreError> {
                if updates.is_empty() {
                    return Ok(());
                }
                let mut tx = self.begin_outbox_write().await?;
                Self::record_in(&mut tx, updates, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn record_and_claim_outbox(
                &self,
                updates: &[OutboxUpdate],
                recorded_at: DateTime<Utc>,
                now: DateTime<Utc>,
                from: Option<DateTime<Utc>>,
                lease: Duration,
                limit: i64,
            ) -> Result<Vec<OutboxRow>, StoreError> {
                let mut tx = self.begin_outbox_write().await?;
                if !updates.is_empty() {
                    Self::record_in(&mut tx, updates, recorded_at).await?;
                }
                let rows = Self::claim_in(&mut tx, now, from, lease, limit).await?;
                tx.commit().await?;
                Ok(rows)
            }

            async fn release_outbox(&self, ids: &[Uuid]) -> Result<u64, StoreError> {
                let mut tx = self.begin_outbox_write().await?;
                let mut n = 0;
                for id in ids {
                    n += sqlx::query(
                        "UPDATE outbox SET status = 'pending', lease_until = NULL, \
                         attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END \
                         WHERE id = $1 AND status = 'pending' AND lease_until IS NOT NULL",
                    )
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
                tx.commit().await?;
                Ok(n)
            }

            async fn requeue_outbox(&self, ids: Option<&[Uuid]>, now: DateTime<Utc>) -> Result<u64, StoreError> {
                let mut tx = self.begin_write().await?;
                let mut n = 0;
                match ids {
                    None => {
                        n += sqlx::query(
                            "UPDATE outbox SET status = 'pending', next_attempt_at = $1, lease_until = NULL \
                             WHERE status IN ('pending', 'failed') AND lease_until IS NULL",
                        )
                        .bind(now)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    }
                    Some(ids) => {
                        for id in ids {
                            n += sqlx::query(
                                "UPDATE outbox SET status = 'pending', next_attempt_at = $2, lease_until = NULL \
                                 WHERE id = $1 AND status IN ('pending', 'failed') AND lease_until IS NULL",
                            )
                            .bind(id)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        }
                    }
                }
                tx.commit().await?;
                Ok(n)
            }

            async fn outbox(&self, status: Option<OutboxStatus>, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
                let rows = match status {
                    Some(status) => sqlx::query(&format!(
                        "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE {} = $1 ORDER BY created_at DESC, id LIMIT $2",
                        outbox_status_sql!()
                    ))
                    .bind(status.key())
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?,
                    None => sqlx::query(&format!("SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY created_at DESC, id LIMIT $1"))
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?,
                };
                rows.iter().map(outbox_from_row).collect()
            }

            async fn outbox_row(&self, id: Uuid) -> Result<Option<OutboxRow>, StoreError> {
                let row = sqlx::query(&format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(outbox_from_row).transpose()
            }

            async fn verify_with(&self, progress: VerifyProgress<'_>) -> Result<VerifyReport, StoreError> {
                // One snapshot for all five reads, so a database that is being
                // written to is still checked consistently.
                let mut tx = self.pool.begin_with($snapshot).await?;
                let calls = sqlx::query(
                    "SELECT id, state, version, head_hash, selected_count, granted_ore, budget_ore, capacity FROM calls",
                )
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|r| {
                    Ok(RawCall {
                        id: r.try_get("id")?,
                        state: r.try_get("state")?,
                        version: r.try_get("version")?,
                        head_hash: r.try_get("head_hash")?,
                        selected_count: r.try_get("selected_count")?,
                        granted_ore: r.try_get("granted_ore")?,
                        budget_ore: r.try_get("budget_ore")?,
                        capacity: r.try_get("capacity")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
                let ideas = sqlx::query(
                    "SELECT id, call_id, state, stage, furthest, version, head_hash, granted_ore, registry FROM ideas",
                )
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|r| {
                    Ok(RawIdea {
                        id: r.try_get("id")?,
                        call_id: r.try_get("call_id")?,
                        state: r.try_get("state")?,
                        stage: r.try_get("stage")?,
                        furthest: r.try_get("furthest")?,
                        version: r.try_get("version")?,
                        head_hash: r.try_get("head_hash")?,
                        granted_ore: r.try_get("granted_ore")?,
                        registry: r.try_get("registry")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
                let events = sqlx::query(
                    "SELECT id, stream_kind, stream_id, call_id, seq, event_type, body, prev_hash, hash \
                     FROM events ORDER BY stream_id, seq",
                )
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|r| {
                    Ok(RawEvent {
                        id: r.try_get("id")?,
                        stream_kind: r.try_get("stream_kind")?,
                        stream_id: r.try_get("stream_id")?,
                        call_id: r.try_get("call_id")?,
                        seq: r.try_get("seq")?,
                        event_type: r.try_get("event_type")?,
                        body: r.try_get("body")?,
                        prev_hash: r.try_get("prev_hash")?,
                        hash: r.try_get("hash")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
                let outbox = sqlx::query("SELECT event_id, COUNT(*) AS n FROM outbox GROUP BY event_id")
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .map(|r| Ok((r.try_get::<i64, _>("event_id")?, r.try_get::<i64, _>("n")?)))
                    .collect::<Result<_, sqlx::Error>>()?;
                let mut applicants: std::collections::BTreeMap<Uuid, std::collections::BTreeSet<Uuid>> =
                    std::collections::BTreeMap::new();
                for r in sqlx::query("SELECT idea_id, person_id FROM idea_applicants").fetch_all(&mut *tx).await? {
                    applicants.entry(r.try_get("idea_id")?).or_default().insert(r.try_get("person_id")?);
                }
                Ok(verify::check(Raw { calls, ideas, events, outbox, applicants }, progress))
            }
        }
    };
}

impl_store!(
    SqliteStore,
    sqlx::Sqlite,
    people = sqlite,
    backend = Backend::Sqlite,
    begin = SQLITE_BEGIN,
    begin_outbox = SQLITE_BEGIN_OUTBOX,
    lock = "",
    skip_locked = "",
    snapshot = "BEGIN",
    migrations = "../../migrations/sqlite"
);
impl_store!(
    PgStore,
    sqlx::Postgres,
    people = postgres,
    backend = Backend::Postgres,
    begin = "BEGIN",
    begin_outbox = PG_BEGIN_OUTBOX,
    lock = " FOR UPDATE",
    skip_locked = " FOR UPDATE SKIP LOCKED",
    snapshot = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    migrations = "../../migrations/postgres"
);
