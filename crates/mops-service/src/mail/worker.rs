//! The mail worker: claims due outbox rows, renders them, sends them, and
//! records the outcome of each.
//!
//! Delivery is at least once. The window: a mail the server accepted but
//! whose row was not yet marked sent (the worker died in between) is sent
//! again when its lease lapses. Its Message-ID is derived from the outbox
//! row, so the re-sent copy is recognisable as the same message.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use mops_core::IdeaState;
use mops_core::call::Call;
use mops_core::domain::{CallId, IdeaId};
use tokio::task::JoinSet;

use super::render::{Envelope, Rendered, render_mail};
use super::transport::{MailOptions, MailSettings, SendFailure, Transport};
use crate::store::{OutboxRow, OutboxUpdate, Store, StoreError};

/// What a pass (or a drain) of the worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerReport {
    pub sent: usize,
    /// Transient failures, to be tried again later.
    pub retried: usize,
    /// Permanent failures (or given up): a person must look at these.
    pub failed: usize,
}

impl std::ops::AddAssign for WorkerReport {
    fn add_assign(&mut self, o: Self) {
        self.sent += o.sent;
        self.retried += o.retried;
        self.failed += o.failed;
    }
}

impl WorkerReport {
    pub fn handled(&self) -> usize {
        self.sent + self.retried + self.failed
    }
}

/// A row's call and idea, shared by the rows of a batch.
type Context = (Arc<Call>, Arc<IdeaState>);

/// Sends the outbox of one store through one transport.
#[derive(Debug, Clone)]
pub struct MailWorker<S> {
    store: S,
    transport: Transport,
    settings: Arc<MailSettings>,
    /// Whom every mail names for questions, and its `Reply-To`.
    reply_to: Arc<Mailbox>,
    /// Parsed calls, kept across batches. Safe because a call's definition
    /// (all the renderer reads of it) cannot change once it has ideas, and
    /// mail exists only for ideas.
    calls: Arc<std::sync::Mutex<HashMap<CallId, Arc<Call>>>>,
}

/// The Message-ID of an outbox row: stable across re-sends.
pub fn message_id(row: uuid::Uuid, from: &Mailbox) -> String {
    format!("<{row}@{}>", from.email.domain())
}

/// Builds the MIME message: multipart/alternative (text, HTML), inside
/// multipart/mixed with the `.ics` when there is an invitation. Replies go
/// to `reply_to`, the contact the mail names.
pub fn build_message(
    row: uuid::Uuid,
    to: &Mailbox,
    from: &Mailbox,
    reply_to: &Mailbox,
    rendered: &Rendered,
) -> Result<Message, String> {
    let alternative = MultiPart::alternative_plain_html(rendered.text.clone(), rendered.html.clone());
    let builder = Message::builder()
        .from(from.clone())
        .reply_to(reply_to.clone())
        .to(to.clone())
        .subject(rendered.subject.clone())
        .message_id(Some(message_id(row, from)));
    let message = match &rendered.ics {
        None => builder.multipart(alternative),
        Some(ics) => {
            let calendar =
                ContentType::parse("text/calendar; charset=utf-8; method=PUBLISH").map_err(|e| e.to_string())?;
            let attachment: SinglePart = Attachment::new("inbjudan.ics".to_owned()).body(ics.clone(), calendar);
            builder.multipart(MultiPart::mixed().multipart(alternative).singlepart(attachment))
        }
    };
    message.map_err(|e| e.to_string())
}

impl<S: Store + Clone + 'static> MailWorker<S> {
    /// A worker with the transport `settings` name; `MOPS_MAIL_REPLY_TO`
    /// and `MOPS_SMTP_CA_FILE` come from the environment ([`MailOptions`]).
    pub fn new(store: S, settings: MailSettings) -> Result<Self, String> {
        Self::with_options(store, settings, MailOptions::from_env()?)
    }

    /// As [`MailWorker::new`], with the options given.
    pub fn with_options(store: S, settings: MailSettings, options: MailOptions) -> Result<Self, String> {
        let transport = Transport::with_options(&settings.transport, settings.concurrency as u32, &options)?;
        let mut worker = Self::with_transport(store, transport, settings);
        if let Some(reply_to) = options.reply_to {
            worker.reply_to = Arc::new(reply_to);
        }
        Ok(worker)
    }

    /// A worker sending through `transport`; replies go to the From address.
    pub fn with_transport(store: S, transport: Transport, settings: MailSettings) -> Self {
        let reply_to = Arc::new(settings.from.clone());
        Self { store, transport, settings: Arc::new(settings), reply_to, calls: Arc::default() }
    }

    /// Whom the mails name for questions, and their `Reply-To`.
    pub fn reply_to(&self) -> &Mailbox {
        &self.reply_to
    }

    pub fn settings(&self) -> &MailSettings {
        &self.settings
    }

    /// Renders one row as it would be sent (the preview).
    pub async fn render_row(&self, row: &OutboxRow) -> Result<Rendered, String> {
        let (call, idea) = self.context(row.call_id, row.idea_id).await.map_err(|e| e.to_string())?;
        render_row(row, &idea, &call, &self.reply_to).map_err(|e| e.to_string())
    }

    async fn context(&self, call: CallId, idea: IdeaId) -> Result<(Call, IdeaState), StoreError> {
        Ok((self.load_call(call).await?, self.load_idea(idea).await?))
    }

    async fn load_call(&self, call: CallId) -> Result<Call, StoreError> {
        let call_state =
            self.store.call(call).await?.ok_or(StoreError::NotFound { what: "call", id: *call.as_uuid() })?;
        call_state.state.call().cloned().ok_or_else(|| StoreError::Corrupt("a call row without a call".into()))
    }

    async fn load_idea(&self, idea: IdeaId) -> Result<IdeaState, StoreError> {
        Ok(self.store.idea(idea).await?.ok_or(StoreError::NotFound { what: "idea", id: *idea.as_uuid() })?.state)
    }

    /// A row's call and idea, each read at most once per batch.
    async fn cached_context(
        &self,
        calls: &mut HashMap<CallId, Arc<Call>>,
        ideas: &mut HashMap<IdeaId, Arc<IdeaState>>,
        call: CallId,
        idea: Option<IdeaId>,
    ) -> Result<Context, StoreError> {
        let call = match calls.get(&call) {
            Some(c) => c.clone(),
            None => {
                let loaded = Arc::new(self.load_call(call).await?);
                calls.insert(call, loaded.clone());
                loaded
            }
        };
        let Some(idea) = idea else {
            // The intent carries every fact the mail states.
            return Ok((call, Arc::new(IdeaState::New)));
        };
        let idea = match ideas.get(&idea) {
            Some(i) => i.clone(),
            None => {
                let loaded = Arc::new(self.load_idea(idea).await?);
                ideas.insert(idea, loaded.clone());
                loaded
            }
        };
        Ok((call, idea))
    }

    /// One pass: claim a batch of due rows, send them concurrently, record
    /// the outcomes. Returns what happened to the batch.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<WorkerReport, StoreError> {
        match self.send_batch(now).await? {
            None => Ok(WorkerReport::default()),
            Some((report, updates)) => {
                self.store.record_outbox(&updates, Utc::now()).await?;
                Ok(report)
            }
        }
    }

    /// Claims a batch and sends it; returns what to record, or `None` when
    /// nothing was due.
    async fn send_batch(&self, now: DateTime<Utc>) -> Result<Option<(WorkerReport, Vec<OutboxUpdate>)>, StoreError> {
        let rows = self.store.claim_outbox(now, self.settings.lease, self.settings.batch).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        self.send_rows(rows, now).await.map(Some)
    }

    /// Sends claimed rows; returns what to record.
    async fn send_rows(
        &self,
        rows: Vec<OutboxRow>,
        now: DateTime<Utc>,
    ) -> Result<(WorkerReport, Vec<OutboxUpdate>), StoreError> {
        // The call and the idea of each row, each read once per batch: a
        // batch holds many ideas of a few calls, and a call is the larger read.
        let mut calls: HashMap<CallId, Arc<Call>> = self.calls.lock().map(|c| c.clone()).unwrap_or_default();
        let mut ideas: HashMap<IdeaId, Arc<IdeaState>> = HashMap::new();
        let mut jobs = Vec::with_capacity(rows.len());
        for row in rows {
            // Rows written before intents carried the idea's title need the
            // idea itself; newer rows carry all they state.
            let idea = row.intent.idea_title.is_none().then_some(row.idea_id);
            let ctx = match self.cached_context(&mut calls, &mut ideas, row.call_id, idea).await {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::error!(outbox.id = %row.id, error = %e, "cannot load the idea of a mail");
                    None
                }
            };
            jobs.push((row, ctx));
        }

        if let Ok(mut cache) = self.calls.lock() {
            cache.extend(calls);
        }

        let mut set = JoinSet::new();
        let mut updates = Vec::new();
        let mut report = WorkerReport::default();
        let mut pending = jobs.into_iter();
        loop {
            while set.len() < self.settings.concurrency.max(1) {
                let Some((row, ctx)) = pending.next() else { break };
                let transport = self.transport.clone();
                let settings = self.settings.clone();
                let reply_to = self.reply_to.clone();
                set.spawn(async move { deliver(&transport, &settings, &reply_to, row, ctx, now).await });
            }
            let Some(done) = set.join_next().await else { break };
            let update = done.map_err(|e| StoreError::Corrupt(format!("a mail task panicked: {e}")))?;
            match &update {
                OutboxUpdate::Sent { .. } => report.sent += 1,
                OutboxUpdate::Retry { .. } => report.retried += 1,
                OutboxUpdate::Failed { .. } => report.failed += 1,
            }
            updates.push(update);
        }
        Ok((report, updates))
    }

    /// Passes until nothing is due at `now`: every mail that can go out now
    /// has gone out; what failed transiently waits for its next attempt.
    pub async fn drain(&self, now: DateTime<Utc>) -> Result<WorkerReport, StoreError> {
        // While a batch is sent, the database claims the next batch and
        // records the previous one's outcomes, so its work overlaps the
        // network's instead of stalling the sends between batches. A row
        // stays claimed (leased) until its outcome is recorded, so no claim
        // picks up a row still in flight. If the drain stops on an error, a
        // batch claimed ahead waits for its lease to lapse, as after a crash.
        type Task<T> = tokio::task::JoinHandle<Result<T, StoreError>>;
        async fn join<T>(task: Task<T>, what: &str) -> Result<T, StoreError> {
            task.await.map_err(|e| StoreError::Corrupt(format!("{what} panicked: {e}")))?
        }
        let claim = || -> Task<Vec<OutboxRow>> {
            let (store, settings) = (self.store.clone(), self.settings.clone());
            tokio::spawn(async move { store.claim_outbox(now, settings.lease, settings.batch).await })
        };
        let mut total = WorkerReport::default();
        let mut recording: Option<Task<()>> = None;
        let mut claiming = claim();
        let outcome = loop {
            let rows = match join(claiming, "claiming mail").await {
                Ok(rows) => rows,
                Err(e) => break Err(e),
            };
            if rows.is_empty() {
                break Ok(());
            }
            claiming = claim();
            let sent = self.send_rows(rows, now).await;
            if let Some(task) = recording.take()
                && let Err(e) = join(task, "recording mail outcomes").await
            {
                break Err(e);
            }
            match sent {
                Err(e) => break Err(e),
                Ok((report, updates)) => {
                    total += report;
                    let store = self.store.clone();
                    recording = Some(tokio::spawn(async move { store.record_outbox(&updates, Utc::now()).await }));
                }
            }
        };
        if let Some(task) = recording.take() {
            join(task, "recording mail outcomes").await?;
        }
        outcome.map(|()| total)
    }
}

/// Renders `row` as the worker sends it: its invitation stamped with the
/// time the row was queued, and `reply_to` named as the contact.
pub fn render_row(
    row: &OutboxRow,
    idea: &IdeaState,
    call: &Call,
    reply_to: &Mailbox,
) -> Result<Rendered, super::RenderError> {
    let uid = row.id.to_string();
    let contact = reply_to.email.to_string();
    render_mail(&row.intent, idea, call, &Envelope { uid: &uid, queued_at: row.created_at, contact: Some(&contact) })
}

/// Renders and sends one row; says what to record.
async fn deliver(
    transport: &Transport,
    settings: &MailSettings,
    reply_to: &Mailbox,
    row: OutboxRow,
    ctx: Option<Context>,
    now: DateTime<Utc>,
) -> OutboxUpdate {
    let Some(ctx) = ctx else {
        return OutboxUpdate::Retry {
            id: row.id,
            at: now + chrono::Duration::from_std(settings.retry.delay(row.attempts)).unwrap_or_default(),
            error: "the idea or call could not be read".into(),
        };
    };
    let (call, idea) = &ctx;
    let to = match row.intent.to.email.as_str().parse::<lettre::Address>() {
        Ok(address) => Mailbox::new(Some(row.intent.to.name.to_string()), address),
        Err(e) => return OutboxUpdate::Failed { id: row.id, error: format!("invalid recipient address: {e}") },
    };
    let message = render_row(&row, idea, call, reply_to)
        .map_err(|e| e.to_string())
        .and_then(|rendered| build_message(row.id, &to, &settings.from, reply_to, &rendered));
    let message = match message {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(outbox.id = %row.id, error = %e, "cannot build a mail");
            return OutboxUpdate::Failed { id: row.id, error: format!("cannot build the mail: {e}") };
        }
    };
    match transport.send(&row.id.to_string(), message).await {
        Ok(reply) => OutboxUpdate::Sent { id: row.id, reply },
        Err(SendFailure { transient: true, message }) => {
            let waited = now - row.created_at;
            let give_up = chrono::Duration::from_std(settings.retry.give_up).unwrap_or(chrono::Duration::MAX);
            if waited >= give_up {
                tracing::warn!(outbox.id = %row.id, attempts = row.attempts, "giving up on a mail");
                OutboxUpdate::Failed {
                    id: row.id,
                    error: format!("gave up after {} attempts: {message}", row.attempts),
                }
            } else {
                let delay = chrono::Duration::from_std(settings.retry.delay(row.attempts)).unwrap_or_default();
                tracing::info!(outbox.id = %row.id, attempts = row.attempts, error = %message, "mail will be retried");
                OutboxUpdate::Retry { id: row.id, at: now + delay, error: message }
            }
        }
        Err(SendFailure { transient: false, message }) => {
            tracing::warn!(outbox.id = %row.id, error = %message, "mail refused for good");
            OutboxUpdate::Failed { id: row.id, error: message }
        }
    }
}
