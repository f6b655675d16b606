//! The JSON API under `/api/v1`, for integrations that authenticate with an
//! API token (`Authorization: Bearer mops_…`), described by the OpenAPI 3.1
//! document at `GET /api/openapi.json` (also committed as docs/openapi.json;
//! docs/api.md is the short guide).
//!
//! - calls: `GET|POST /calls`, `GET|PUT /calls/{id}`, `POST /calls/{id}/phase`,
//!   `GET /calls/{id}/funnel`, `GET /calls/{id}/decisions`, `GET /calls/{id}/meetings`;
//! - ideas: `GET|POST /calls/{id}/ideas`, `GET /ideas/{id}`,
//!   `GET /ideas/{id}/events`, `POST /ideas/{id}/commands`;
//! - the status mails (process leader): `GET /outbox`, `GET /outbox/{id}`,
//!   `GET /outbox/{id}/preview`, `POST /outbox/{id}/retry`.
//!
//! Writes to an existing call or idea need `If-Match: "<version>"` (428
//! without, 412 when stale) and may carry an `Idempotency-Key`; each write
//! is one store command, authorised by the core (`mops_core::authorize`).
//! Errors are `application/problem+json` ([`ApiError`]). An id that is
//! unknown and one the caller may not see answer the same 404, so the API
//! does not tell what exists; refusals are logged with the user's and the
//! object's ids. Who may see what is in [`access`].

pub mod access;
mod auth;
mod body;
mod calls;
mod commands;
mod definition;
mod doc;
mod error;
mod outbox;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use mops_core::domain::{CallId, IdeaId, PersonId};
use mops_core::{ActorRef, Call, IdeaState};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

pub use auth::Authenticated;
pub use doc::openapi;
pub use error::{ApiError, PROBLEM_JSON, Problem};

use crate::people::User;
use crate::store::{Db, Outcome, Store, Versioned};

/// The API's routes, under `/api/v1`, with their state, and its OpenAPI
/// document at `/api/openapi.json`.
pub fn router(db: Db) -> Router {
    let v1 = Router::new()
        .route("/calls", get(calls).post(calls::create_call))
        .route("/calls/{id}", get(calls::get_call).put(calls::edit_call))
        .route("/calls/{id}/phase", post(calls::advance_phase))
        .route("/calls/{id}/funnel", get(funnel))
        .route("/calls/{id}/ideas", get(calls::list_ideas).post(calls::submit_idea))
        .route("/calls/{id}/decisions", get(calls::decisions))
        .route("/calls/{id}/meetings", get(calls::meetings))
        .route("/ideas/{id}", get(idea))
        .route("/ideas/{id}/events", get(idea_events))
        .route("/ideas/{id}/commands", post(commands::command))
        .route("/outbox", get(outbox::list))
        .route("/outbox/{id}", get(outbox::get_row))
        .route("/outbox/{id}/preview", get(outbox::preview))
        .route("/outbox/{id}/retry", post(outbox::retry))
        .fallback(no_such_endpoint)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(db);
    Router::new().route("/api/openapi.json", get(openapi_json)).nest("/api/v1", v1)
}

async fn no_such_endpoint() -> ApiError {
    ApiError::not_found("there is no such endpoint; GET /api/openapi.json lists the API's endpoints, all under /api/v1")
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The OpenAPI 3.1 document; no token needed.
async fn openapi_json() -> Response {
    match openapi().to_pretty_json() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => ApiError::Internal(format!("the OpenAPI document: {e}")).into_response(),
    }
}

// ---------------------------------------------------------------------------
// Bodies

/// A call as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallBody {
    #[schema(value_type = String, format = Uuid)]
    pub id: CallId,
    pub title: String,
    pub title_en: Option<String>,
    /// The phase's key: `draft`, `open`, `selection`, …
    #[schema(example = "open")]
    pub phase: &'static str,
    pub phase_since: DateTime<Utc>,
    /// How many ideas may be selected.
    pub capacity: u32,
    /// The budget in integer öre (1 kr = 100 öre).
    pub budget_ore: i64,
    /// The most one idea may be granted, in integer öre; null for no ceiling.
    pub ceiling_ore: Option<i64>,
    /// The number of its events; also its `ETag`.
    pub version: i64,
    pub timeline: TimelineBody,
}

/// A call's dates, RFC 3339 in UTC.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineBody {
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub seminars: Vec<SeminarBody>,
    pub panel_at: DateTime<Utc>,
    pub plan_deadline: DateTime<Utc>,
    pub decision_meeting_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
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
#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelBody {
    #[schema(value_type = String, format = Uuid)]
    pub call: CallId,
    pub submitted: u32,
    pub selected: u32,
    pub plans_submitted: u32,
    pub granted: u32,
    /// The sum of the grants, in integer öre (1 kr = 100 öre).
    pub granted_total_ore: i64,
}

/// An idea as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdeaBody {
    #[schema(value_type = String, format = Uuid)]
    pub id: IdeaId,
    #[schema(value_type = String, format = Uuid)]
    pub call: CallId,
    pub title: String,
    /// The stage's key: `submitted`, `selected`, `granted`, …
    #[schema(example = "submitted")]
    pub stage: &'static str,
    /// The number of its events; also its `ETag`.
    pub version: i64,
    pub lead_name: String,
    /// The co-applicants' names, in the order they were named; empty when
    /// there are none.
    pub co_applicant_names: Vec<String>,
}

impl IdeaBody {
    fn new(state: &IdeaState, version: i64) -> Option<Self> {
        let idea = state.idea()?;
        Some(Self {
            id: idea.id,
            call: idea.call,
            title: idea.details.title.to_string(),
            stage: state.stage().key(),
            version,
            lead_name: idea.lead.name.to_string(),
            co_applicant_names: idea.details.co_applicants.iter().map(|a| a.name.to_string()).collect(),
        })
    }
}

/// One event of an idea's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventBody {
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// `"system"` or `{"person": "<id>"}`; `null` when the caller may not
    /// know who it was (a panel member's or staff member's id, for an applicant).
    #[schema(value_type = Option<Object>)]
    pub actor: Option<ActorRef>,
    #[serde(rename = "type")]
    #[schema(example = "selected")]
    pub kind: &'static str,
    /// The event as recorded, with its `type` tag.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

/// What a write did.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomeBody {
    /// The call or idea written.
    pub id: Uuid,
    /// Its version after the write; also the `ETag` header.
    pub version: i64,
    /// Its stage (idea) or phase (call) after the write.
    #[schema(example = "selected")]
    pub stage: String,
    /// The ids of the events written.
    pub events: Vec<i64>,
    /// How many status mails were queued.
    pub notifications: u32,
    /// True when this is the stored outcome of an earlier request with the
    /// same `Idempotency-Key`: nothing new was written.
    pub replayed: bool,
}

/// The answer to a write: `status`, `ETag`, `Location` for a new object,
/// `Idempotency-Replayed: true` when the outcome was stored before.
fn written(status: StatusCode, outcome: Outcome, location: Option<String>) -> Response {
    let mut response = (
        status,
        [(header::ETAG, etag(outcome.version))],
        Json(OutcomeBody {
            id: outcome.stream,
            version: outcome.version,
            stage: outcome.stage,
            events: outcome.events,
            notifications: outcome.notifications,
            replayed: outcome.replayed,
        }),
    )
        .into_response();
    let headers = response.headers_mut();
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(header::LOCATION, location);
    }
    if outcome.replayed {
        headers.insert("idempotency-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// The id of a new call or idea. With an idempotency key it is derived from
/// the caller and the key, so a retry names the same object and the store
/// recognises it as the same request; without one it is random.
fn new_id(kind: &str, user: &User, key: Option<&str>) -> Uuid {
    let Some(key) = key else { return Uuid::new_v4() };
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update(user.id.as_uuid().as_bytes());
    h.update(key.as_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

// ---------------------------------------------------------------------------
// Handlers

/// The calls the caller may see.
#[utoipa::path(
    get, path = "/api/v1/calls", tag = "calls",
    responses(
        (status = 200, description = "The calls the caller may see, oldest first", body = Vec<CallBody>),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
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

/// A call's funnel.
#[utoipa::path(
    get, path = "/api/v1/calls/{id}/funnel", tag = "calls",
    params(("id" = String, Path, format = Uuid, description = "The call's id")),
    responses(
        (status = 200, description = "How many ideas reached each step", body = FunnelBody),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such call, or one the caller may not see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn funnel(
    State(db): State<Db>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<FunnelBody>, ApiError> {
    let (call, _) = visible_call(&db, &user, &id).await?;
    let f = db.funnel(call.id).await?;
    Ok(Json(FunnelBody {
        call: call.id,
        submitted: f.submitted,
        selected: f.selected,
        plans_submitted: f.plans_submitted,
        granted: f.granted,
        granted_total_ore: f.granted_total.ore(),
    }))
}

/// An idea; `ETag` is its version (and `If-None-Match` answers 304).
#[utoipa::path(
    get, path = "/api/v1/ideas/{id}", tag = "ideas",
    params(
        ("id" = String, Path, format = Uuid, description = "The idea's id"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag the caller has; 304 when it is current"),
    ),
    responses(
        (status = 200, description = "The idea", body = IdeaBody, headers(("ETag" = String, description = "Its version"))),
        (status = 304, description = "Not modified since the ETag given"),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such idea, or one the caller may not see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn idea(
    State(db): State<Db>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (id, stored) = visible_idea(&db, &user, &id).await?;
    let etag = etag(stored.version);
    if not_modified(&headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let body = IdeaBody::new(&stored.state, stored.version)
        .ok_or_else(|| ApiError::Internal(format!("idea {id} has no data")))?;
    Ok(([(header::ETAG, etag)], Json(body)).into_response())
}

/// An idea's timeline as the caller may see it.
#[utoipa::path(
    get, path = "/api/v1/ideas/{id}/events", tag = "ideas",
    params(("id" = String, Path, format = Uuid, description = "The idea's id")),
    responses(
        (status = 200, description = "Its events in order; applicants and panel members do not see others' conflicts, who gave which feedback, or which staff member acted", body = Vec<EventBody>),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such idea, or one the caller may not see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
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
            Some(EventBody { seq: e.seq, at: e.recorded.at, actor, kind: e.recorded.event.key(), body })
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

/// The call with this id and its version if `user` may see it; otherwise
/// the same 404 as for an unknown id, and a refusal is logged.
async fn visible_call(db: &Db, user: &User, id: &str) -> Result<(Call, i64), ApiError> {
    let not_found = || {
        ApiError::not_found(format!(
            "there is no call {id} that you may see; GET /api/v1/calls lists the calls you may see"
        ))
    };
    let call_id: CallId = id.trim().parse().map_err(|_| not_found())?;
    let Some(stored) = db.call(call_id).await? else { return Err(not_found()) };
    let Some(call) = stored.state.call() else { return Err(not_found()) };
    if !access::may_see_call(&user.actor(), call) {
        tracing::warn!(user = %user.id, call = %call_id, "API: refused to show a call");
        return Err(not_found());
    }
    Ok((call.clone(), stored.version))
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
