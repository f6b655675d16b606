//! Storage: the pipeline persisted in SQLite (the embedded default) or
//! PostgreSQL, behind one [`Store`] trait.
//!
//! Every command runs as one transaction: load the state with its version,
//! let `mops-core` decide, write the new state guarded by the version, append
//! the events to their hash chain, and write one outbox row per status mail.
//! Either all of it commits or none of it does.

mod any;
pub(crate) mod hash;
mod sql;
mod verify;

use std::future::Future;

use chrono::{DateTime, Utc};
use mops_core::call::StageCounts;
use mops_core::domain::{CallId, IdeaId, PersonId, Sek};
use mops_core::{
    Actor, CallCommand, CallState, IdeaCommand, IdeaEvent, IdeaState, NotificationIntent, Recorded, TransitionError,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::people::{PeopleError, Registration};

pub use any::{Db, connect};
pub use sql::{PgStore, SQLITE_BEGIN, SQLITE_BEGIN_OUTBOX, SqliteStore};
pub use verify::{Discrepancy, VerifyProgress, VerifyReport, no_progress};

/// Why a command did not go through.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The core refused the command: a user error that says what to do.
    #[error(transparent)]
    Rejected(#[from] TransitionError),
    /// Someone changed the idea or call first. Reload and try again.
    #[error(
        "the {what} was changed by someone else (now at version {actual}{}); reload it and try again",
        expected.map(|e| format!(", you had version {e}")).unwrap_or_default()
    )]
    Conflict { what: &'static str, expected: Option<i64>, actual: i64 },
    /// The database was busy for longer than the busy timeout. Try again.
    #[error("the database is busy; try again in a moment")]
    Busy,
    /// The idempotency key was used before for a different command.
    #[error("the idempotency key {key:?} was already used for a different command; use a new key")]
    IdempotencyMismatch { key: String },
    /// The registry number is already used by another decision.
    #[error("the registry number {registry} is already used for another decision; use the next free number")]
    DuplicateRegistry { registry: String },
    /// One command of several executed together failed, so none of them
    /// was written. `index` is its place in the list, from 0.
    #[error("command {} of the batch: {source}; nothing in the batch was written", index + 1)]
    InBatch { index: usize, source: Box<StoreError> },
    /// A person a submission registers has an address that is taken: a
    /// concurrent request registered it first. Nothing was written; look the
    /// people up again ([`crate::people::resolve_applicants`]) and retry.
    #[error("somebody registered {email} at the same moment; try again")]
    EmailTaken { email: String },
    /// A person a submission registers cannot be added (their organisation
    /// does not exist, …). Nothing was written.
    #[error("{0}")]
    Registration(Box<PeopleError>),
    #[error("there is no {what} with id {id}")]
    NotFound { what: &'static str, id: Uuid },
    /// Stored data that cannot be read back: never the user's fault.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether the same request may succeed if simply tried again.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::InBatch { source, .. } => source.is_retryable(),
            e => matches!(e, Self::Conflict { .. } | Self::Busy | Self::EmailTaken { .. }),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            // SQLITE_BUSY (5) and SQLITE_LOCKED (6), PostgreSQL's
            // serialization_failure and deadlock_detected.
            if let Some("5" | "6" | "517" | "40001" | "40P01") = db.code().as_deref() {
                return Self::Busy;
            }
        }
        Self::Database(e)
    }
}

impl From<PeopleError> for StoreError {
    /// A registration that failed, as the store reports it.
    fn from(e: PeopleError) -> Self {
        match e {
            PeopleError::Database(e) => e.into(),
            PeopleError::Busy => Self::Busy,
            PeopleError::DuplicateEmail { email } => Self::EmailTaken { email },
            e => Self::Registration(Box::new(e)),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        Self::Corrupt(format!("JSON: {e}"))
    }
}

/// One command on an idea, with everything the executor needs.
#[derive(Debug, Clone, Copy)]
pub struct IdeaRequest<'a> {
    pub call: CallId,
    pub idea: IdeaId,
    pub command: &'a IdeaCommand,
    pub actor: &'a Actor,
    pub now: DateTime<Utc>,
    /// The version the caller saw (HTTP `If-Match`); a different current
    /// version is a conflict.
    pub expected_version: Option<i64>,
    /// A retry with the same key returns the first outcome.
    pub idempotency_key: Option<&'a str>,
}

/// One command on a call.
#[derive(Debug, Clone, Copy)]
pub struct CallRequest<'a> {
    pub call: CallId,
    pub command: &'a CallCommand,
    pub actor: &'a Actor,
    pub now: DateTime<Utc>,
    pub expected_version: Option<i64>,
    pub idempotency_key: Option<&'a str>,
}

/// What a committed command did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The idea or call the command was about.
    pub stream: Uuid,
    /// Its version after the command: the number of its events.
    pub version: i64,
    /// Its stage (idea) or phase (call) after the command, as a key.
    pub stage: String,
    /// The ids of the events written.
    pub events: Vec<i64>,
    /// How many status mails were queued.
    pub notifications: u32,
    /// True when this is the stored outcome of an earlier request with the
    /// same idempotency key, and nothing new was written.
    #[serde(default)]
    pub replayed: bool,
}

/// A state as stored, with its version.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub state: T,
    pub version: i64,
}

/// An event as stored: its place in the log and the recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent<E> {
    pub id: i64,
    pub seq: i64,
    pub recorded: Recorded<E>,
}

/// One row of the event log as stored, for exports: the stream it belongs
/// to, its place in it, and the recorded event as JSON text (exactly as
/// hashed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// The row id: the order in which events were appended.
    pub id: i64,
    /// `call` or `idea`.
    pub stream_kind: String,
    pub stream_id: Uuid,
    pub call_id: CallId,
    pub seq: i64,
    pub event_type: String,
    pub at: DateTime<Utc>,
    /// The `Recorded<CallEvent>` or `Recorded<IdeaEvent>`, as JSON.
    pub body: String,
}

/// The funnel of a call, read from indexed columns (not from the event log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct FunnelCounts {
    pub submitted: u32,
    pub selected: u32,
    pub plans_submitted: u32,
    pub granted: u32,
    pub granted_total: Sek,
}

impl std::fmt::Display for FunnelCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} → {} → {} → {}", self.submitted, self.selected, self.plans_submitted, self.granted)
    }
}

/// Where a status mail stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// Claimed by a worker; the claim lapses at `lease_until`. Stored as
    /// `pending` with a lease: a claim changes no indexed column.
    Sending,
    Sent,
    /// Refused for good (or given up); a person can retry it.
    Failed,
}

impl OutboxStatus {
    pub fn key(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    pub fn parse(key: &str) -> Option<Self> {
        [Self::Pending, Self::Sending, Self::Sent, Self::Failed].into_iter().find(|s| s.key() == key)
    }
}

/// One status mail in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxRow {
    pub id: Uuid,
    pub event_id: i64,
    pub call_id: CallId,
    pub idea_id: IdeaId,
    pub recipient_email: String,
    pub notice: String,
    pub intent: NotificationIntent,
    pub status: OutboxStatus,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub server_reply: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// What became of a claimed row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxUpdate {
    Sent { id: Uuid, reply: String },
    Retry { id: Uuid, at: DateTime<Utc>, error: String },
    Failed { id: Uuid, error: String },
}

/// Which database a store writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        })
    }
}

/// The pipeline's storage. One implementation per backend; one conformance
/// suite (`tests/store.rs`) runs against both.
pub trait Store: Send + Sync {
    fn backend(&self) -> Backend;

    /// Applies pending migrations. Safe to run at every start.
    fn migrate(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn execute_call(&self, req: CallRequest<'_>) -> impl Future<Output = Result<Outcome, StoreError>> + Send;

    fn execute_idea(&self, req: IdeaRequest<'_>) -> impl Future<Output = Result<Outcome, StoreError>> + Send;

    /// [`Store::execute_idea`] for a submission that names people who are
    /// not users yet: `new` are added (each user's row and `user_added` row
    /// in `people_log`) in the same transaction as the idea's events,
    /// outbox rows and index rows, before them. If the command is refused
    /// or fails, nobody is registered. A replay (the same idempotency key
    /// and command) or a key used for another command registers nobody.
    /// An address taken meanwhile is [`StoreError::EmailTaken`]; a person
    /// who cannot be added otherwise is [`StoreError::Registration`].
    fn execute_idea_registering(
        &self,
        new: &[Registration],
        req: IdeaRequest<'_>,
    ) -> impl Future<Output = Result<Outcome, StoreError>> + Send;

    /// Several commands on ideas in ONE transaction: each is checked and
    /// written exactly as by [`Store::execute_idea`] (its events, outbox
    /// rows, call totals and idempotency record), and each sees the ones
    /// before it (a second selection counts the first against the
    /// capacity). If any fails, nothing at all is written, and the error is
    /// [`StoreError::InBatch`] with its index. The outcomes are in the order
    /// of the requests.
    fn execute_ideas(&self, reqs: &[IdeaRequest<'_>]) -> impl Future<Output = Result<Vec<Outcome>, StoreError>> + Send;

    fn call(&self, id: CallId) -> impl Future<Output = Result<Option<Versioned<CallState>>, StoreError>> + Send;

    fn idea(&self, id: IdeaId) -> impl Future<Output = Result<Option<Versioned<IdeaState>>, StoreError>> + Send;

    /// Every call, oldest first.
    fn calls(&self) -> impl Future<Output = Result<Vec<Versioned<CallState>>, StoreError>> + Send;

    /// The ideas of a call, optionally only those at one stage.
    fn ideas(
        &self,
        call: CallId,
        stage: Option<mops_core::Stage>,
    ) -> impl Future<Output = Result<Vec<Versioned<IdeaState>>, StoreError>> + Send;

    /// The ideas this person applies with, as lead or co-applicant, in the
    /// order of their calls (oldest first) and, within a call, oldest first.
    /// Read through the `idea_applicants` index, not by scanning calls.
    fn ideas_of_applicant(
        &self,
        person: PersonId,
    ) -> impl Future<Output = Result<Vec<Versioned<IdeaState>>, StoreError>> + Send;

    /// An idea's events in order: its timeline.
    fn idea_events(&self, id: IdeaId) -> impl Future<Output = Result<Vec<StoredEvent<IdeaEvent>>, StoreError>> + Send;

    /// How many of a call's ideas are at each stage.
    fn stage_counts(&self, call: CallId) -> impl Future<Output = Result<StageCounts, StoreError>> + Send;

    fn funnel(&self, call: CallId) -> impl Future<Output = Result<FunnelCounts, StoreError>> + Send;

    /// The event log, calls and ideas together, in the order it was
    /// appended; only one call's events if `call` is given. For exports: it
    /// reads the whole log (of the call), so dashboards must not use it.
    fn event_log(&self, call: Option<CallId>) -> impl Future<Output = Result<Vec<LogEvent>, StoreError>> + Send;

    /// Outbox rows not yet sent (pending or being sent).
    fn outbox_unsent(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Claims up to `limit` rows that are due at `now` (or whose claim has
    /// lapsed) for `lease`. Two workers never claim the same row while its
    /// lease holds: `FOR UPDATE SKIP LOCKED` on PostgreSQL, the single
    /// writer on SQLite.
    fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease: std::time::Duration,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<OutboxRow>, StoreError>> + Send {
        self.claim_outbox_from(now, None, lease, limit)
    }

    /// [`claim_outbox`](Self::claim_outbox), among the rows due no earlier
    /// than `from` (all of them if `None`). A worker draining the queue
    /// claims from where its last claim ended: the search need not pass the
    /// rows it still has in flight. A row that becomes claimable behind that
    /// point (its lease lapsed, another worker gave it back) waits for the
    /// worker's next pass.
    fn claim_outbox_from(
        &self,
        now: DateTime<Utc>,
        from: Option<DateTime<Utc>>,
        lease: std::time::Duration,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<OutboxRow>, StoreError>> + Send {
        self.record_and_claim_outbox(&[], now, now, from, lease, limit)
    }

    /// Records what became of claimed rows, in one transaction.
    fn record_outbox(
        &self,
        updates: &[OutboxUpdate],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// [`record_outbox`](Self::record_outbox) at `recorded_at`, then
    /// [`claim_outbox_from`](Self::claim_outbox_from), in one transaction:
    /// a draining worker records what it has sent with the claim of its next
    /// batch, one commit where there were two. Both happen or neither.
    #[allow(clippy::too_many_arguments)]
    fn record_and_claim_outbox(
        &self,
        updates: &[OutboxUpdate],
        recorded_at: DateTime<Utc>,
        now: DateTime<Utc>,
        from: Option<DateTime<Utc>>,
        lease: std::time::Duration,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<OutboxRow>, StoreError>> + Send;

    /// Gives claimed rows back unsent: due again at once, with their
    /// attempt not counted. For a worker that claimed rows it will not send
    /// (a drain stopped by an error); rows no longer `sending` are left as
    /// they are. Returns how many were released.
    fn release_outbox(&self, ids: &[Uuid]) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Makes failed or waiting rows due now: the given ones, or all of them.
    /// Sent rows are never re-sent this way. Returns how many were requeued.
    fn requeue_outbox(
        &self,
        ids: Option<&[Uuid]>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Outbox rows, newest first, optionally of one status.
    fn outbox(
        &self,
        status: Option<OutboxStatus>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<OutboxRow>, StoreError>> + Send;

    fn outbox_row(&self, id: Uuid) -> impl Future<Output = Result<Option<OutboxRow>, StoreError>> + Send;

    /// Rebuilds every call and idea from its events, checks the hash chains
    /// and the invariants, and reports every discrepancy.
    fn verify(&self) -> impl Future<Output = Result<VerifyReport, StoreError>> + Send {
        self.verify_with(&no_progress)
    }

    /// [`Store::verify`], telling `progress` how many of the calls and ideas
    /// are checked (see [`VerifyProgress`]). Reading the rows comes first
    /// and is not counted.
    fn verify_with(
        &self,
        progress: VerifyProgress<'_>,
    ) -> impl Future<Output = Result<VerifyReport, StoreError>> + Send;
}

/// The scope of an idempotency key: keys are per actor.
pub(crate) fn idempotency_scope(actor: &Actor) -> String {
    match actor.id.person() {
        Some(p) => p.to_string(),
        None => "system".to_owned(),
    }
}
