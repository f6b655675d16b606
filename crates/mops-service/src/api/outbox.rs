//! The status mails, for the process leader: list, read, preview as
//! rendered, and retry. Everybody else gets 403 before any row is read, so
//! the answer says nothing about which mails exist.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ApiError, Authenticated, Problem};
use crate::people::User;
use crate::store::{Db, OutboxRow, OutboxStatus, Store};

/// One status mail.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxRowBody {
    pub id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    pub call_id: mops_core::domain::CallId,
    #[schema(value_type = String, format = Uuid)]
    pub idea_id: mops_core::domain::IdeaId,
    pub recipient_email: String,
    /// The notice's key, e.g. `selected`.
    pub notice: String,
    /// `pending`, `sending`, `sent` or `failed`.
    #[schema(example = "pending")]
    pub status: &'static str,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub server_reply: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl OutboxRowBody {
    fn new(r: OutboxRow) -> Self {
        Self {
            id: r.id,
            call_id: r.call_id,
            idea_id: r.idea_id,
            recipient_email: r.recipient_email,
            notice: r.notice,
            status: r.status.key(),
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error,
            server_reply: r.server_reply,
            sent_at: r.sent_at,
            created_at: r.created_at,
        }
    }
}

/// A mail as it is (or would be) sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewBody {
    pub id: Uuid,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The iCalendar invitation, for seminars and the panel.
    pub ics: Option<String>,
}

/// Filters for the outbox.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxFilter {
    /// Only mails with this status: `pending`, `sending`, `sent`, `failed`.
    pub status: Option<String>,
    /// At most this many, newest first; defaults to 100, at most 1000.
    pub limit: Option<u32>,
}

fn require_process_leader(user: &User) -> Result<(), ApiError> {
    if user.actor().is_process_leader() {
        return Ok(());
    }
    tracing::warn!(user = %user.id, "API: refused the outbox to someone who is not the process leader");
    Err(ApiError::Forbidden { detail: "only the process leader may see and retry the status mails".into() })
}

async fn row(db: &Db, id: &str) -> Result<OutboxRow, ApiError> {
    let not_found = || ApiError::not_found(format!("there is no mail {id}; GET /api/v1/outbox lists them"));
    let id: Uuid = id.trim().parse().map_err(|_| not_found())?;
    db.outbox_row(id).await?.ok_or_else(not_found)
}

/// The status mails, newest first.
#[utoipa::path(
    get, path = "/api/v1/outbox", tag = "outbox", params(OutboxFilter),
    responses(
        (status = 200, description = "The mails", body = Vec<OutboxRowBody>),
        (status = 400, description = "An unknown status or query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only the process leader sees the outbox", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn list(
    State(db): State<Db>,
    Authenticated(user): Authenticated,
    filter: Result<Query<OutboxFilter>, QueryRejection>,
) -> Result<Json<Vec<OutboxRowBody>>, ApiError> {
    require_process_leader(&user)?;
    let Query(filter) = filter
        .map_err(|e| ApiError::bad_request(format!("{}; the filters are `status` and `limit`", e.body_text())))?;
    let status = match filter.status.as_deref() {
        None => None,
        Some(s) => Some(OutboxStatus::parse(s.trim()).ok_or_else(|| {
            ApiError::bad_request(format!("`status`: {s:?} is not a status; use pending, sending, sent or failed"))
        })?),
    };
    let limit = filter.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(db.outbox(status, i64::from(limit)).await?.into_iter().map(OutboxRowBody::new).collect()))
}

/// One status mail.
#[utoipa::path(
    get, path = "/api/v1/outbox/{id}", tag = "outbox",
    params(("id" = String, Path, format = Uuid, description = "The mail's id")),
    responses(
        (status = 200, description = "The mail", body = OutboxRowBody),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only the process leader sees the outbox", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such mail", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn get_row(
    State(db): State<Db>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<OutboxRowBody>, ApiError> {
    require_process_leader(&user)?;
    Ok(Json(OutboxRowBody::new(row(&db, &id).await?)))
}

/// A status mail rendered as it is sent: subject, text and HTML.
#[utoipa::path(
    get, path = "/api/v1/outbox/{id}/preview", tag = "outbox",
    params(("id" = String, Path, format = Uuid, description = "The mail's id")),
    responses(
        (status = 200, description = "The rendered mail", body = PreviewBody),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only the process leader sees the outbox", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such mail", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn preview(
    State(db): State<Db>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<PreviewBody>, ApiError> {
    require_process_leader(&user)?;
    let row = row(&db, &id).await?;
    let idea = db.idea(row.idea_id).await?.ok_or_else(|| ApiError::Internal(format!("mail {}: no idea", row.id)))?;
    let call = db
        .call(row.call_id)
        .await?
        .and_then(|c| c.state.call().cloned())
        .ok_or_else(|| ApiError::Internal(format!("mail {}: no call", row.id)))?;
    // The same uid as the worker gives it, so the invitation matches.
    // As the worker renders it: its uid, its queue time, the configured contact.
    let contact = crate::mail::configured_contact().map_err(ApiError::Internal)?;
    let rendered =
        crate::mail::render_row(&row, &idea.state, &call, &contact).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(PreviewBody {
        id: row.id,
        to: format!("{} <{}>", row.intent.to.name, row.recipient_email),
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        ics: rendered.ics,
    }))
}

/// Queues a failed or waiting mail to be sent now.
#[utoipa::path(
    post, path = "/api/v1/outbox/{id}/retry", tag = "outbox",
    params(("id" = String, Path, format = Uuid, description = "The mail's id")),
    responses(
        (status = 200, description = "Queued; the mail worker sends it on its next round", body = OutboxRowBody),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only the process leader retries mails", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such mail", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The mail was sent already, or is being sent", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn retry(
    State(db): State<Db>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<OutboxRowBody>, ApiError> {
    require_process_leader(&user)?;
    let row = row(&db, &id).await?;
    if matches!(row.status, OutboxStatus::Sent | OutboxStatus::Sending) {
        return Err(ApiError::Conflict {
            detail: format!(
                "mail {} is {}; only a failed or waiting mail can be retried",
                row.id,
                if row.status == OutboxStatus::Sent { "sent already" } else { "being sent right now" }
            ),
        });
    }
    db.requeue_outbox(Some(&[row.id]), Utc::now()).await?;
    let row = db.outbox_row(row.id).await?.ok_or_else(|| ApiError::Internal("a mail vanished".into()))?;
    tracing::info!(user = %user.id, mail = %row.id, "API: a status mail was queued again");
    Ok(Json(OutboxRowBody::new(row)))
}
