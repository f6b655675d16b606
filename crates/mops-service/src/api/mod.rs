//! The JSON API under `/api/v1`: read-only for now, for integrations that
//! authenticate with an API token (`Authorization: Bearer mops_…`).
//!
//! - `GET /api/v1/calls`: the calls the caller may see.
//! - `GET /api/v1/calls/{id}/funnel`: a call's funnel.
//! - `GET /api/v1/ideas/{id}`: an idea, with `ETag: "<version>"`.
//! - `GET /api/v1/ideas/{id}/events`: an idea's timeline.
//!
//! Errors are `application/problem+json` ([`ApiError`]). An id that is
//! unknown and one the caller may not see answer the same 404, so the API
//! does not tell what exists; refusals are logged with the user's and the
//! object's ids. Who may see what is in [`access`].

pub mod access;
mod auth;
mod error;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use mops_core::domain::{CallId, IdeaId, PersonId};
use mops_core::{ActorRef, Call, IdeaState};
use serde::Serialize;

pub use auth::Authenticated;
pub use error::{ApiError, PROBLEM_JSON};

use crate::people::User;
use crate::store::{Db, Store, Versioned};

/// The API's routes, under `/api/v1`, with their state.
pub fn router(db: Db) -> Router {
    let v1 = Router::new()
        .route("/calls", get(calls))
        .route("/calls/{id}/funnel", get(funnel))
        .route("/ideas/{id}", get(idea))
        .route("/ideas/{id}/events", get(idea_events))
        .fallback(no_such_endpoint)
        .method_not_allowed_fallback(read_only)
        .with_state(db);
    Router::new().nest("/api/v1", v1)
}

async fn no_such_endpoint() -> ApiError {
    ApiError::not_found(
        "there is no such endpoint; the API offers GET /api/v1/calls, /api/v1/calls/{id}/funnel, \
         /api/v1/ideas/{id} and /api/v1/ideas/{id}/events",
    )
}

async fn read_only() -> ApiError {
    ApiError::MethodNotAllowed
}

// ---------------------------------------------------------------------------
// Bodies

/// A call as the API shows it.
#[derive(Debug, Serialize)]
pub struct CallBody {
    pub id: CallId,
    pub title: String,
    pub title_en: Option<String>,
    /// The phase's key: `draft`, `open`, `selection`, …
    pub phase: &'static str,
    pub phase_since: DateTime<Utc>,
    /// How many ideas may be selected.
    pub capacity: u32,
    pub budget_ore: i64,
    pub ceiling_ore: Option<i64>,
    pub version: i64,
    pub timeline: TimelineBody,
}

/// A call's dates, RFC 3339 in UTC.
#[derive(Debug, Serialize)]
pub struct TimelineBody {
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub seminars: Vec<SeminarBody>,
    pub panel_at: DateTime<Utc>,
    pub plan_deadline: DateTime<Utc>,
    pub decision_meeting_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct SeminarBody {
    pub id: u16,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl CallBody {
    fn new(call: &Call, version: i64) -> Self {
        let d = &call.definition;
        let t = &d.timeline;
        Self {
            id: call.id,
            title: d.title.to_string(),
            title_en: d.title_en.as_ref().map(ToString::to_string),
            phase: call.phase.key(),
            phase_since: call.phase_since,
            capacity: d.capacity,
            budget_ore: d.budget.ore(),
            ceiling_ore: d.ceiling.map(|c| c.ore()),
            version,
            timeline: TimelineBody {
                opens_at: t.opens_at,
                closes_at: t.closes_at,
                seminars: t
                    .seminars
                    .iter()
                    .map(|s| SeminarBody { id: s.id.0, starts_at: s.starts_at, ends_at: s.ends_at })
                    .collect(),
                panel_at: t.panel_at,
                plan_deadline: t.plan_deadline,
                decision_meeting_at: t.decision_meeting_at,
            },
        }
    }
}

/// A call's funnel: how many ideas reached each step.
#[derive(Debug, Serialize)]
pub struct FunnelBody {
    pub call: CallId,
    pub submitted: u32,
    pub selected: u32,
    pub plans_submitted: u32,
    pub granted: u32,
    pub granted_total_ore: i64,
}

/// An idea as the API shows it.
#[derive(Debug, Serialize)]
pub struct IdeaBody {
    pub id: IdeaId,
    pub call: CallId,
    pub title: String,
    /// The stage's key: `submitted`, `selected`, `granted`, …
    pub stage: &'static str,
    /// The number of its events; also its `ETag`.
    pub version: i64,
    pub lead_name: String,
}

/// One event of an idea's timeline.
#[derive(Debug, Serialize)]
pub struct EventBody {
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// `"system"` or `{"person": "<id>"}`; `null` when the caller may not
    /// know who it was (a panel member's or staff member's id, for an applicant).
    pub actor: Option<ActorRef>,
    pub r#type: &'static str,
    /// The event as recorded, with its `type` tag.
    pub body: serde_json::Value,
}

// ---------------------------------------------------------------------------
// Handlers

async fn calls(State(db): State<Db>, Authenticated(user): Authenticated) -> Result<Json<Vec<CallBody>>, ApiError> {
    let actor = user.actor();
    let calls = db.calls().await?;
    Ok(Json(
        calls
            .iter()
            .filter_map(|c| c.state.call().map(|call| (call, c.version)))
            .filter(|(call, _)| access::may_see_call(&actor, call))
            .map(|(call, version)| CallBody::new(call, version))
            .collect(),
    ))
}

async fn funnel(
    State(db): State<Db>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<FunnelBody>, ApiError> {
    let not_found = || {
        ApiError::not_found(format!(
            "there is no call {id} that you may see; GET /api/v1/calls lists the calls you may see"
        ))
    };
    let call_id: CallId = id.trim().parse().map_err(|_| not_found())?;
    let stored = db.call(call_id).await?;
    let Some(call) = stored.as_ref().and_then(|c| c.state.call()) else { return Err(not_found()) };
    if !access::may_see_call(&user.actor(), call) {
        tracing::warn!(user = %user.id, call = %call_id, "API: refused to show a call's funnel");
        return Err(not_found());
    }
    let f = db.funnel(call_id).await?;
    Ok(Json(FunnelBody {
        call: call_id,
        submitted: f.submitted,
        selected: f.selected,
        plans_submitted: f.plans_submitted,
        granted: f.granted,
        granted_total_ore: f.granted_total.ore(),
    }))
}

async fn idea(
    State(db): State<Db>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (id, stored) = visible_idea(&db, &user, &id).await?;
    let Some(idea) = stored.state.idea() else { return Err(ApiError::Internal(format!("idea {id} has no data"))) };
    let etag = etag(stored.version);
    if not_modified(&headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let body = IdeaBody {
        id,
        call: idea.call,
        title: idea.details.title.to_string(),
        stage: stored.state.stage().key(),
        version: stored.version,
        lead_name: idea.lead.name.to_string(),
    };
    Ok(([(header::ETAG, etag)], Json(body)).into_response())
}

async fn idea_events(
    State(db): State<Db>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Vec<EventBody>>, ApiError> {
    let (id, _) = visible_idea(&db, &user, &id).await?;
    let call = load_call_of(&db, id).await?;
    let viewer = user.actor();
    let events = db
        .idea_events(id)
        .await?
        .into_iter()
        .filter_map(|e| {
            let (actor, body) = access::event_for(&viewer, &call, &e.recorded)?;
            Some(EventBody { seq: e.seq, at: e.recorded.at, actor, r#type: e.recorded.event.key(), body })
        })
        .collect::<Vec<_>>();
    Ok(Json(events))
}

/// The call an idea belongs to.
async fn load_call_of(db: &Db, idea: IdeaId) -> Result<mops_core::Call, ApiError> {
    let state = db.idea(idea).await?.ok_or_else(|| ApiError::Internal(format!("idea {idea} vanished")))?.state;
    let call = state.idea().map(|i| i.call).ok_or_else(|| ApiError::Internal(format!("idea {idea} has no call")))?;
    db.call(call)
        .await?
        .and_then(|c| c.state.call().cloned())
        .ok_or_else(|| ApiError::Internal(format!("the call of idea {idea} is missing")))
}

/// The idea with this id if `user` may see it; otherwise the same 404 as for
/// an unknown id, and a refusal is logged (ids only, no personal data).
async fn visible_idea(db: &Db, user: &User, id: &str) -> Result<(IdeaId, Versioned<IdeaState>), ApiError> {
    let not_found = || {
        ApiError::not_found(format!(
            "there is no idea {id} that you may see; check the id, or ask the process leader for access"
        ))
    };
    let idea_id: IdeaId = id.trim().parse().map_err(|_| not_found())?;
    let Some(stored) = db.idea(idea_id).await? else { return Err(not_found()) };
    let Some(call_id) = stored.state.idea().map(|i| i.call) else { return Err(not_found()) };
    let call = db.call(call_id).await?;
    let Some(call) = call.as_ref().and_then(|c| c.state.call()) else {
        return Err(ApiError::Internal(format!("idea {idea_id} belongs to call {call_id}, which is not stored")));
    };
    if !access::may_see_idea(&user.actor(), &stored.state, call) {
        refused(user.id, idea_id);
        return Err(not_found());
    }
    Ok((idea_id, stored))
}

fn refused(user: PersonId, idea: IdeaId) {
    tracing::warn!(user = %user, idea = %idea, "API: refused to show an idea");
}

fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// Whether `If-None-Match` names this ETag (or `*`).
fn not_modified(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Some(wanted) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) else { return false };
    let ours = etag.to_str().unwrap_or_default();
    wanted.split(',').map(str::trim).any(|t| t == "*" || t == ours || t.strip_prefix("W/") == Some(ours))
}
