//! Calls and what hangs off them: create, read, edit while a draft, move to
//! the next phase; submit and list ideas; the board's decisions and meetings.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use mops_core::domain::{CallId, Email, FreeText, IdeaId, OrganisationId, PersonName, Theme, Title};
use mops_core::idea::{Applicant, IdeaDetails, NewIdea};
use mops_core::{CallCommand, CallPhase, IdeaCommand, Stage};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::body::{Body, idempotency_key, if_match, invalid, language};
use super::definition::CallDefinitionBody;
use super::{
    ApiError, Authenticated, CallBody, IdeaBody, OutcomeBody, Problem, access, etag, new_id, visible_call, written,
};
use crate::people::{PeopleStore, User, resolve_applicants};
use crate::report::{self, DecisionRow, Verdict};
use crate::store::{CallRequest, Db, IdeaRequest, Store, StoreError};

/// A call with its full definition.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallDetailBody {
    #[serde(flatten)]
    pub call: CallBody,
    pub definition: CallDefinitionBody,
}

/// The phase to move a call to: the next one (naming it guards against a
/// double click moving the call two phases).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseBody {
    /// `open`, `selection`, `development`, `panel`, `planning`, `decision`
    /// or `closed`: the phase after the current one.
    #[schema(example = "open")]
    pub to: String,
}

/// A new idea, submitted by the caller as its lead applicant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIdeaBody {
    /// One line, at most 200 characters.
    pub title: String,
    /// What the idea is about; at most 20 000 characters.
    pub summary: String,
    /// One of the call's themes.
    pub theme: String,
    /// The organisation the idea comes from; defaults to the caller's.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub organisation: Option<Uuid>,
    /// The other applicants, besides the caller; none by default. Each gets
    /// the idea's status mails. Someone not yet known is registered (without
    /// a password; they sign in by a link sent to their address) with the
    /// idea's organisation and the caller's language.
    #[serde(default)]
    pub co_applicants: Vec<CoApplicantBody>,
}

/// A co-applicant of a new idea, found by email address.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CoApplicantBody {
    /// Their name, as on the public form; an existing user keeps the name
    /// they have.
    #[schema(example = "Karin Berg")]
    pub name: String,
    #[schema(example = "karin.berg@example.se")]
    pub email: String,
}

/// The most co-applicants an idea may name in one request.
const MAX_CO_APPLICANTS: usize = 20;

/// Parses the co-applicants into names and addresses, refusing a bad value,
/// the caller's own address or an address named twice, each with the field
/// it is in (`co_applicants[1].email`). Nobody is registered before every
/// one of them parses.
fn parse_co_applicants(body: &[CoApplicantBody], lead: &Email) -> Result<Vec<(PersonName, Email)>, ApiError> {
    if body.len() > MAX_CO_APPLICANTS {
        return Err(ApiError::unprocessable(format!(
            "`co_applicants`: at most {MAX_CO_APPLICANTS} co-applicants; you named {}",
            body.len()
        )));
    }
    let mut seen = BTreeSet::from([lead.as_str().to_lowercase()]);
    let mut parsed = Vec::with_capacity(body.len());
    for (i, c) in body.iter().enumerate() {
        let name = PersonName::parse(c.name.trim()).map_err(|e| invalid(&format!("co_applicants[{i}].name"), e))?;
        let email = Email::parse(c.email.trim()).map_err(|e| invalid(&format!("co_applicants[{i}].email"), e))?;
        if !seen.insert(email.as_str().to_lowercase()) {
            return Err(ApiError::unprocessable(format!(
                "`co_applicants[{i}].email`: {email} is already an applicant of this idea \
                 (you, or an earlier co-applicant); name each person once"
            )));
        }
        parsed.push((name, email));
    }
    Ok(parsed)
}

/// Filters for a call's ideas.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IdeaFilter {
    /// Only ideas at this stage: `draft`, `submitted`, `selected`,
    /// `not_selected`, `pitched`, `plan_submitted`, `lapsed`, `prepared`,
    /// `granted`, `declined`, `withdrawn`.
    pub stage: Option<String>,
}

/// One board decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionBody {
    /// E.g. `SK 2010/31`.
    pub registry: String,
    #[schema(value_type = String, format = Uuid)]
    pub idea_id: IdeaId,
    pub title: String,
    /// The lead applicant's organisation.
    pub organisation: String,
    /// `granted` or `declined`.
    #[schema(example = "granted")]
    pub decision: &'static str,
    /// The granted amount in integer öre (1 kr = 100 öre); null when declined.
    pub amount_ore: Option<i64>,
    /// What the project plan asked for, in integer öre.
    pub requested_ore: i64,
    pub conditions: Option<String>,
    pub motivation: Option<String>,
    #[schema(value_type = String, format = Uuid)]
    pub meeting_id: mops_core::domain::MeetingId,
    /// The day of the meeting (Stockholm), `YYYY-MM-DD`.
    pub meeting_date: String,
    pub decided_at: DateTime<Utc>,
}

/// A board meeting: the decisions taken with the same meeting id.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeetingBody {
    #[schema(value_type = String, format = Uuid)]
    pub meeting_id: mops_core::domain::MeetingId,
    /// The day of the meeting (Stockholm): the day of its first decision.
    pub date: String,
    pub granted: u32,
    pub declined: u32,
    /// The sum of the grants shown, in integer öre.
    pub granted_total_ore: i64,
    /// In the order they were taken.
    pub decisions: Vec<DecisionBody>,
}

impl DecisionBody {
    fn new(r: DecisionRow) -> Self {
        Self {
            registry: r.registry,
            idea_id: r.idea_id,
            title: r.title,
            organisation: r.organisation,
            decision: match r.decision {
                Verdict::Granted => "granted",
                Verdict::Declined => "declined",
            },
            amount_ore: r.amount_ore,
            requested_ore: r.requested_ore,
            conditions: r.conditions,
            motivation: r.motivation,
            meeting_id: r.meeting_id,
            meeting_date: r.meeting_date,
            decided_at: r.decided_at,
        }
    }
}

fn require_process_leader(user: &User, what: &str) -> Result<(), ApiError> {
    if user.actor().is_process_leader() {
        return Ok(());
    }
    tracing::warn!(user = %user.id, "API: refused {what} to someone who is not the process leader");
    Err(ApiError::Forbidden { detail: format!("only the process leader may {what}") })
}

/// Creates a call as a draft.
#[utoipa::path(
    post, path = "/api/v1/calls", tag = "calls",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body return the first outcome and create nothing new")),
    request_body(content = CallDefinitionBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created as a draft", body = OutcomeBody,
            headers(("Location" = String, description = "The new call"), ("ETag" = String, description = "Its version"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only the process leader creates calls", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value does not parse, or the definition breaks a rule (e.g. closes before it opens)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is busy; retry (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn create_call(
    State(db): State<Db>,
    Authenticated(user): Authenticated,
    headers: HeaderMap,
    Body(body): Body<CallDefinitionBody>,
) -> Result<Response, ApiError> {
    require_process_leader(&user, "create a call")?;
    let key = idempotency_key(&headers)?;
    let definition = body.parse()?;
    let id = CallId::from_uuid(new_id("call", &user, key.as_deref()));
    let actor = user.actor();
    let outcome = db
        .execute_call(CallRequest {
            call: id,
            command: &CallCommand::Create { id, definition: Box::new(definition) },
            actor: &actor,
            now: Utc::now(),
            expected_version: None,
            idempotency_key: key.as_deref(),
        })
        .await
        .map_err(|e| ApiError::from_store(e, language(&headers)))?;
    Ok(written(StatusCode::CREATED, outcome, Some(format!("/api/v1/calls/{id}"))))
}

/// A call with its definition; `ETag` is its version.
#[utoipa::path(
    get, path = "/api/v1/calls/{id}", tag = "calls",
    params(("id" = String, Path, format = Uuid, description = "The call's id")),
    responses(
        (status = 200, description = "The call", body = CallDetailBody, headers(("ETag" = String, description = "Its version"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such call, or one the caller may not see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn get_call(
    State(db): State<Db>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (call, version) = visible_call(&db, &user, &id).await?;
    let body =
        CallDetailBody { call: CallBody::new(&call, version), definition: CallDefinitionBody::show(&call.definition) };
    Ok(([(header::ETAG, etag(version))], Json(body)).into_response())
}

/// Replaces a call's definition while it is a draft.
#[utoipa::path(
    put, path = "/api/v1/calls/{id}", tag = "calls",
    params(
        ("id" = String, Path, format = Uuid, description = "The call's id"),
        ("If-Match" = String, Header, description = "The call's ETag as last read (required)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe"),
        ("Accept-Language" = Option<String>, Header, description = "`sv` or `en` (default)"),
    ),
    request_body(content = CallDefinitionBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced", body = OutcomeBody, headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "Malformed JSON or header", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only the process leader edits calls", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such call, or one the caller may not see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The call is no longer a draft", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value does not parse, or the definition breaks a rule", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is busy; retry (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn edit_call(
    State(db): State<Db>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<CallDefinitionBody>,
) -> Result<Response, ApiError> {
    let (call, _) = visible_call(&db, &user, &id).await?;
    let expected = if_match(&headers, "call")?;
    let key = idempotency_key(&headers)?;
    let definition = body.parse()?;
    call_command(&db, &user, &headers, call.id, CallCommand::Edit { definition: Box::new(definition) }, expected, key)
        .await
}

/// Moves a call to its next phase.
#[utoipa::path(
    post, path = "/api/v1/calls/{id}/phase", tag = "calls",
    params(
        ("id" = String, Path, format = Uuid, description = "The call's id"),
        ("If-Match" = String, Header, description = "The call's ETag as last read (required)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe"),
        ("Accept-Language" = Option<String>, Header, description = "`sv` or `en` (default)"),
    ),
    request_body(content = PhaseBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Moved", body = OutcomeBody, headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "Malformed JSON or header", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only the process leader or the call's sector group moves calls", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such call, or one the caller may not see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not the next phase, or ideas still pending", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown phase", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is busy; retry (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn advance_phase(
    State(db): State<Db>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<PhaseBody>,
) -> Result<Response, ApiError> {
    let (call, _) = visible_call(&db, &user, &id).await?;
    let expected = if_match(&headers, "call")?;
    let key = idempotency_key(&headers)?;
    let to = CallPhase::from_key(body.to.trim()).ok_or_else(|| {
        let keys: Vec<_> = CallPhase::ALL.iter().map(|p| p.key()).collect();
        ApiError::unprocessable(format!("`to`: {:?} is not a phase; use one of {}", body.to, keys.join(", ")))
    })?;
    call_command(&db, &user, &headers, call.id, CallCommand::Advance { to }, expected, key).await
}

async fn call_command(
    db: &Db,
    user: &User,
    headers: &HeaderMap,
    call: CallId,
    command: CallCommand,
    expected: Option<i64>,
    key: Option<String>,
) -> Result<Response, ApiError> {
    let actor = user.actor();
    let outcome = db
        .execute_call(CallRequest {
            call,
            command: &command,
            actor: &actor,
            now: Utc::now(),
            expected_version: expected,
            idempotency_key: key.as_deref(),
        })
        .await
        .map_err(|e| ApiError::from_store(e, language(headers)))?;
    Ok(written(StatusCode::OK, outcome, None))
}

/// Submits a new idea to a call, with the caller as its lead applicant.
#[utoipa::path(
    post, path = "/api/v1/calls/{id}/ideas", tag = "ideas",
    params(
        ("id" = String, Path, format = Uuid, description = "The call's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body return the first outcome and submit nothing new"),
        ("Accept-Language" = Option<String>, Header, description = "`sv` or `en` (default)"),
    ),
    request_body(content = NewIdeaBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Submitted", body = OutcomeBody,
            headers(("Location" = String, description = "The new idea"), ("ETag" = String, description = "Its version"))),
        (status = 400, description = "Malformed JSON or header", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such call, or one the caller may not see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The call does not take ideas now (not open, deadline passed), or the theme is not the call's", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value is not acceptable (a co-applicant's name or address included, or an address named twice), or the caller has no organisation and gave none, or named one that does not exist", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is busy; retry (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn submit_idea(
    State(db): State<Db>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<NewIdeaBody>,
) -> Result<Response, ApiError> {
    let (call, _) = visible_call(&db, &user, &id).await?;
    let key = idempotency_key(&headers)?;
    let organisation = body.organisation.map(OrganisationId::from_uuid).or(user.organisation).ok_or_else(|| {
        ApiError::unprocessable(
            "`organisation`: you belong to no organisation, so name the one the idea comes from \
             (its id); the process leader can add you to yours",
        )
    })?;
    // An organisation named in the body must exist: the idea would
    // otherwise be stored with one nobody can name.
    if body.organisation.is_some() && !db.organisations().await?.iter().any(|o| o.id == organisation) {
        return Err(ApiError::unprocessable(format!(
            "`organisation`: no organisation has the id {organisation}; name one of the organisations the \
             process leader has registered, or leave it out to use your own"
        )));
    }
    let title = Title::parse(&body.title).map_err(|e| invalid("title", e))?;
    let summary = FreeText::parse(&body.summary).map_err(|e| invalid("summary", e))?;
    let theme = Theme::parse(&body.theme).map_err(|e| invalid("theme", e))?;
    let wanted: Vec<(Email, PersonName)> =
        parse_co_applicants(&body.co_applicants, &user.email)?.into_iter().map(|(n, e)| (e, n)).collect();
    let idea = IdeaId::from_uuid(new_id("idea", &user, key.as_deref()));
    let lead = Applicant {
        person: user.id,
        name: user.name.clone(),
        email: user.email.clone(),
        organisation,
        language: user.language,
    };
    let actor = user.actor();
    let lang = language(&headers);
    // Co-applicants who are not users yet are registered in the idea's own
    // transaction: if the submission is refused, nobody is. If a concurrent
    // request registers one of them first, once more: they are known now.
    let mut retried = false;
    let outcome = loop {
        let (co_applicants, new) = resolve_applicants(&db, &wanted, organisation, user.language, Some(user.id)).await?;
        // A call that takes no ideas now registers nobody. The command
        // still goes to the store when everyone named is known: it may be
        // the replay of a submission made while the call was open.
        if !new.is_empty()
            && let Err(refusal) = call.takes_ideas(Utc::now())
        {
            return Err(ApiError::Refused { error: refusal, lang });
        }
        let command = IdeaCommand::SubmitNew(Box::new(NewIdea {
            id: idea,
            call: call.id,
            lead: lead.clone(),
            details: IdeaDetails {
                title: title.clone(),
                summary: summary.clone(),
                theme: theme.clone(),
                organisation,
                co_applicants,
            },
        }));
        let request = IdeaRequest {
            call: call.id,
            idea,
            command: &command,
            actor: &actor,
            now: Utc::now(),
            expected_version: None,
            idempotency_key: key.as_deref(),
        };
        match db.execute_idea_registering(&new, request).await {
            Ok(outcome) => break outcome,
            Err(StoreError::EmailTaken { .. }) if !retried => retried = true,
            // Twice in a row: as busy, to be retried.
            Err(StoreError::EmailTaken { .. }) => return Err(ApiError::Busy),
            Err(StoreError::Registration(e)) if e.is_user_error() => {
                return Err(ApiError::unprocessable(e.to_string()));
            }
            Err(e) => return Err(ApiError::from_store(e, lang)),
        }
    };
    Ok(written(StatusCode::CREATED, outcome, Some(format!("/api/v1/ideas/{idea}"))))
}

/// A call's ideas that the caller may see, optionally at one stage.
#[utoipa::path(
    get, path = "/api/v1/calls/{id}/ideas", tag = "ideas",
    params(("id" = String, Path, format = Uuid, description = "The call's id"), IdeaFilter),
    responses(
        (status = 200, description = "The ideas the caller may see; others are left out", body = Vec<IdeaBody>),
        (status = 400, description = "An unknown stage or query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such call, or one the caller may not see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn list_ideas(
    State(db): State<Db>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    filter: Result<Query<IdeaFilter>, QueryRejection>,
) -> Result<Json<Vec<IdeaBody>>, ApiError> {
    let Query(filter) =
        filter.map_err(|e| ApiError::bad_request(format!("{}; the one filter is `stage`", e.body_text())))?;
    let (call, _) = visible_call(&db, &user, &id).await?;
    let stage = match filter.stage.as_deref() {
        None => None,
        Some(key) => Some(Stage::from_key(key.trim()).filter(|s| *s != Stage::New).ok_or_else(|| {
            let keys: Vec<_> = Stage::ALL.iter().filter(|s| **s != Stage::New).map(|s| s.key()).collect();
            ApiError::bad_request(format!("`stage`: {key:?} is not a stage; use one of {}", keys.join(", ")))
        })?),
    };
    let actor = user.actor();
    Ok(Json(
        db.ideas(call.id, stage)
            .await?
            .iter()
            .filter(|i| access::may_see_idea(&actor, &i.state, &call))
            .filter_map(|i| IdeaBody::new(&i.state, i.version))
            .collect(),
    ))
}

/// The board's decisions on a call's ideas (those the caller may see).
async fn decision_rows(db: &Db, user: &User, id: &str) -> Result<Vec<DecisionRow>, ApiError> {
    let (call, _) = visible_call(db, user, id).await?;
    let actor = user.actor();
    let mut visible = BTreeSet::new();
    for stage in [Stage::Granted, Stage::Declined] {
        for idea in db.ideas(call.id, Some(stage)).await? {
            if access::may_see_idea(&actor, &idea.state, &call)
                && let Some(i) = idea.state.idea()
            {
                visible.insert(i.id);
            }
        }
    }
    // The report's rows (and its meeting dates, over all decisions), shown
    // for the ideas the caller may see.
    let rows = report::call_decisions(db, call.id).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(rows.into_iter().filter(|r| visible.contains(&r.idea_id)).collect())
}

/// The board's decisions on a call, in the order they were taken.
#[utoipa::path(
    get, path = "/api/v1/calls/{id}/decisions", tag = "decisions",
    params(("id" = String, Path, format = Uuid, description = "The call's id")),
    responses(
        (status = 200, description = "The decisions on ideas the caller may see", body = Vec<DecisionBody>),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such call, or one the caller may not see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn decisions(
    State(db): State<Db>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Vec<DecisionBody>>, ApiError> {
    Ok(Json(decision_rows(&db, &user, &id).await?.into_iter().map(DecisionBody::new).collect()))
}

/// The board meetings that decided on a call's ideas, each with its decisions.
#[utoipa::path(
    get, path = "/api/v1/calls/{id}/meetings", tag = "decisions",
    params(("id" = String, Path, format = Uuid, description = "The call's id")),
    responses(
        (status = 200, description = "Meetings in the order they were held", body = Vec<MeetingBody>),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such call, or one the caller may not see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn meetings(
    State(db): State<Db>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Vec<MeetingBody>>, ApiError> {
    let mut meetings: Vec<MeetingBody> = Vec::new();
    for row in decision_rows(&db, &user, &id).await? {
        let decision = DecisionBody::new(row);
        let meeting = match meetings.iter_mut().find(|m| m.meeting_id == decision.meeting_id) {
            Some(m) => m,
            None => {
                meetings.push(MeetingBody {
                    meeting_id: decision.meeting_id,
                    date: decision.meeting_date.clone(),
                    granted: 0,
                    declined: 0,
                    granted_total_ore: 0,
                    decisions: Vec::new(),
                });
                meetings.last_mut().ok_or_else(|| ApiError::Internal("a meeting vanished".into()))?
            }
        };
        if decision.decision == "granted" {
            meeting.granted += 1;
            meeting.granted_total_ore += decision.amount_ore.unwrap_or(0);
        } else {
            meeting.declined += 1;
        }
        meeting.decisions.push(decision);
    }
    Ok(Json(meetings))
}
