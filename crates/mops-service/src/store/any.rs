//! The store the configuration names: SQLite or PostgreSQL by URL scheme.

use mops_core::call::StageCounts;
use mops_core::domain::{CallId, IdeaId, PersonId};
use mops_core::{CallState, IdeaEvent, IdeaState, Stage};

use super::{
    Backend, CallRequest, FunnelCounts, IdeaRequest, LogEvent, OutboxRow, OutboxStatus, OutboxUpdate, Outcome, PgStore,
    SqliteStore, Store, StoreError, StoredEvent, VerifyReport, Versioned,
};

/// Either backend, chosen at run time from the database URL.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Connects to `url`: `sqlite://…` (created if missing) or `postgres://…`.
pub async fn connect(url: &str) -> Result<Db, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Db::Sqlite(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Db::Postgres(PgStore::connect(url).await?))
    } else {
        Err(StoreError::Database(sqlx::Error::Configuration(
            format!(
                "unsupported database URL {:?}: use sqlite://FILE or postgres://USER@HOST/DB",
                crate::config::redact(url)
            )
            .into(),
        )))
    }
}

impl Db {
    /// How many migrations are not applied yet (0 when ready). An
    /// unreachable database is an error.
    pub async fn migrations_pending(&self) -> Result<usize, StoreError> {
        match self {
            Db::Sqlite(s) => s.migrations_pending().await,
            Db::Postgres(s) => s.migrations_pending().await,
        }
    }
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Db::Sqlite($s) => $e,
            Db::Postgres($s) => $e,
        }
    };
}

impl Store for Db {
    fn backend(&self) -> Backend {
        each!(self, s => s.backend())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        each!(self, s => s.migrate().await)
    }

    async fn execute_call(&self, req: CallRequest<'_>) -> Result<Outcome, StoreError> {
        each!(self, s => s.execute_call(req).await)
    }

    async fn execute_idea(&self, req: IdeaRequest<'_>) -> Result<Outcome, StoreError> {
        each!(self, s => s.execute_idea(req).await)
    }

    async fn execute_idea_registering(
        &self,
        new: &[crate::people::Registration],
        req: IdeaRequest<'_>,
    ) -> Result<Outcome, StoreError> {
        each!(self, s => s.execute_idea_registering(new, req).await)
    }

    async fn execute_ideas(&self, reqs: &[IdeaRequest<'_>]) -> Result<Vec<Outcome>, StoreError> {
        each!(self, s => s.execute_ideas(reqs).await)
    }

    async fn ideas_of_applicant(&self, person: PersonId) -> Result<Vec<Versioned<IdeaState>>, StoreError> {
        each!(self, s => s.ideas_of_applicant(person).await)
    }

    async fn call(&self, id: CallId) -> Result<Option<Versioned<CallState>>, StoreError> {
        each!(self, s => s.call(id).await)
    }

    async fn idea(&self, id: IdeaId) -> Result<Option<Versioned<IdeaState>>, StoreError> {
        each!(self, s => s.idea(id).await)
    }

    async fn calls(&self) -> Result<Vec<Versioned<CallState>>, StoreError> {
        each!(self, s => s.calls().await)
    }

    async fn ideas(&self, call: CallId, stage: Option<Stage>) -> Result<Vec<Versioned<IdeaState>>, StoreError> {
        each!(self, s => s.ideas(call, stage).await)
    }

    async fn idea_events(&self, id: IdeaId) -> Result<Vec<StoredEvent<IdeaEvent>>, StoreError> {
        each!(self, s => s.idea_events(id).await)
    }

    async fn stage_counts(&self, call: CallId) -> Result<StageCounts, StoreError> {
        each!(self, s => s.stage_counts(call).await)
    }

    async fn funnel(&self, call: CallId) -> Result<FunnelCounts, StoreError> {
        each!(self, s => s.funnel(call).await)
    }

    async fn event_log(&self, call: Option<CallId>) -> Result<Vec<LogEvent>, StoreError> {
        each!(self, s => s.event_log(call).await)
    }

    async fn outbox_unsent(&self) -> Result<i64, StoreError> {
        each!(self, s => s.outbox_unsent().await)
    }

    async fn record_and_claim_outbox(
        &self,
        updates: &[OutboxUpdate],
        recorded_at: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
        from: Option<chrono::DateTime<chrono::Utc>>,
        lease: std::time::Duration,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        each!(self, s => s.record_and_claim_outbox(updates, recorded_at, now, from, lease, limit).await)
    }

    async fn record_outbox(
        &self,
        updates: &[OutboxUpdate],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        each!(self, s => s.record_outbox(updates, now).await)
    }

    async fn release_outbox(&self, ids: &[uuid::Uuid]) -> Result<u64, StoreError> {
        each!(self, s => s.release_outbox(ids).await)
    }

    async fn requeue_outbox(
        &self,
        ids: Option<&[uuid::Uuid]>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        each!(self, s => s.requeue_outbox(ids, now).await)
    }

    async fn outbox(&self, status: Option<OutboxStatus>, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
        each!(self, s => s.outbox(status, limit).await)
    }

    async fn outbox_row(&self, id: uuid::Uuid) -> Result<Option<OutboxRow>, StoreError> {
        each!(self, s => s.outbox_row(id).await)
    }

    async fn verify_with(&self, progress: super::VerifyProgress<'_>) -> Result<VerifyReport, StoreError> {
        each!(self, s => s.verify_with(progress).await)
    }
}
