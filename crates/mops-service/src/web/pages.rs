//! The pages: public calls and the submission form; an applicant's ideas
//! and plan; the sector group's pipeline and selection; the panel's running
//! order and feedback; the board's decision meeting and minutes; the
//! process leader's calls, outbox and audit log.
//!
//! Every change goes through one handler, [`command`], which turns the form
//! into a core command and runs it in one transaction like any other
//! client's (with the version the page showed, so a stale page is refused,
//! and an idempotency key from the form, so a double click does nothing
//! twice). What the page then shows comes back as a flash message.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::Stockholm;
use minijinja::Value;
use mops_core::call::{Call, CallCommand};
use mops_core::domain::{
    CallId, Email, FreeText, IdeaId, Language, MeetingId, Motivation, PersonId, PersonName, RegistryNumber, Score,
    SectionKey, Sek, Theme, Title,
};
use mops_core::idea::{IdeaDetails, NewIdea, Recommendation};
use mops_core::{Actor, IdeaCommand, IdeaState, Stage, table};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use uuid::Uuid;

use super::auth::{ProcessLeader, SignedIn, Viewer, local_path};
use super::view::{Page, stylesheet};
use super::{Lang, WebState};
use crate::api::access;
use crate::people::{PeopleStore, User};
use crate::store::{CallRequest, IdeaRequest, Store, StoreError, Versioned};

const FLASH: &str = "flash";

pub(super) fn routes() -> Router<WebState> {
    Router::new()
        .route("/", get(home))
        .route("/static/style.css", get(style))
        .route("/utlysningar/{id}", get(call_page))
        .route("/utlysningar/{id}/tack", get(thanks))
        .route("/mina-ideer", get(my_ideas))
        .route("/ideer/{id}", get(idea_page))
        .route("/ideer/{id}/kommando", post(command))
        .route("/utlysningar/{id}/pipeline", get(pipeline))
        .route("/utlysningar/{id}/urval", post(selection))
        .route("/utlysningar/{id}/panel", get(panel))
        .route("/utlysningar/{id}/seminarier", get(seminars))
        .route("/utlysningar/{id}/seminarier/{seminar}", post(record_attendance))
        .route("/utlysningar/{id}/beslut", get(board))
        .route("/utlysningar/{id}/fas", post(advance_phase))
        .route("/protokoll/{meeting}", get(minutes))
        .route("/admin", get(leader))
        .route("/admin/utskick/{id}", get(outbox_preview))
        .route("/admin/utskick/{id}/forsok-igen", post(outbox_retry))
        .fallback(not_found)
}

// ---------------------------------------------------------------------------
// Helpers

fn message(lang: Lang, user: Option<&User>, status: StatusCode, title_key: &str, text: String) -> Response {
    Page {
        template: "message.html",
        lang,
        user,
        path: "/",
        title: lang.t(title_key).to_owned(),
        data: minijinja::context! { text => text },
    }
    .render_with(status)
}

async fn not_found(lang: Lang, Viewer(user): Viewer) -> Response {
    not_found_for(lang, user.as_ref())
}

/// The page for what does not exist, or what the user may not see: the same.
pub(super) fn not_found_for(lang: Lang, user: Option<&User>) -> Response {
    message(lang, user, StatusCode::NOT_FOUND, "not_found_title", lang.t("not_found").to_owned())
}

pub(super) fn unavailable(lang: Lang, what: &str, e: impl std::fmt::Display) -> Response {
    // Logged once here; the person sees a plain apology, never the details.
    tracing::error!(error = %e, "{what}");
    message(lang, None, StatusCode::SERVICE_UNAVAILABLE, "error_title", lang.t("error_text").to_owned())
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], stylesheet())
        .into_response()
}

fn actor_of(user: Option<&User>) -> Option<Actor> {
    user.map(User::actor)
}

fn lang_of(lang: Lang) -> Language {
    lang.0
}

/// A flash message for the next page, kept in the session.
pub(super) async fn flash(session: &Session, kind: &str, text: String) {
    let _ = session.insert(FLASH, (kind.to_owned(), text)).await;
}

pub(super) async fn take_flash(session: &Session) -> Option<(String, String)> {
    session.remove::<(String, String)>(FLASH).await.ok().flatten()
}

/// A new key for a form, so that sending it twice does the work once.
fn form_key() -> String {
    Uuid::new_v4().to_string()
}

/// The board meeting that decides a call's ideas: one per call, with an id
/// derived from the call's (so every page and the minutes agree on it).
pub fn decision_meeting(call: CallId) -> MeetingId {
    MeetingId::from_uuid(super::derived_id("decision meeting", &call.to_string()))
}

pub(super) async fn load_call(state: &WebState, id: &str) -> Result<Option<(Call, i64)>, StoreError> {
    let Ok(id) = id.trim().parse::<CallId>() else { return Ok(None) };
    Ok(state.db.call(id).await?.and_then(|c| c.state.call().cloned().map(|call| (call, c.version))))
}

/// Whether the call's public pages show: a draft only to who may see it.
fn publicly_visible(user: Option<&User>, call: &Call) -> bool {
    match user {
        Some(u) => access::may_see_call(&u.actor(), call),
        None => call.phase != mops_core::CallPhase::Draft,
    }
}

/// Whether `actor` may see a call's board page and its minutes: the board,
/// the process leader and the call's own sector group.
fn sees_decisions(actor: &Actor, call: &Call) -> bool {
    actor.is_board_member() || actor.is_process_leader() || actor.is_sector_member(call.definition.sector_group)
}

fn stage_label(stage: Stage, lang: Lang) -> &'static str {
    stage.label(lang_of(lang))
}

// ---------------------------------------------------------------------------
// What the templates see

#[derive(Debug, Serialize)]
struct CallView {
    id: String,
    title: String,
    description: String,
    phase: &'static str,
    phase_label: &'static str,
    open: bool,
    opens_at: String,
    closes_at: String,
    panel_at: String,
    plan_deadline: String,
    decision_meeting_at: String,
    capacity: u32,
    budget_ore: i64,
    ceiling_ore: Option<i64>,
    themes: Vec<String>,
    seminars: Vec<SeminarView>,
    sections: Vec<SectionView>,
    criteria: Vec<CriterionView>,
    scale_min: u8,
    scale_max: u8,
    version: i64,
    next_phase: Option<&'static str>,
    next_phase_label: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct SeminarView {
    id: u16,
    title: String,
    starts_at: String,
    location: String,
}

#[derive(Debug, Serialize)]
struct SectionView {
    key: String,
    title: String,
    guidance: Option<String>,
    mandatory: bool,
    text: String,
}

#[derive(Debug, Serialize)]
struct CriterionView {
    key: String,
    name: String,
}

impl CallView {
    fn new(call: &Call, version: i64, lang: Lang) -> Self {
        let l = lang_of(lang);
        let d = &call.definition;
        let t = &d.timeline;
        let title = match (l, &d.title_en) {
            (Language::En, Some(en)) => en.to_string(),
            _ => d.title.to_string(),
        };
        Self {
            id: call.id.to_string(),
            title,
            description: d.description.get(l).to_owned(),
            phase: call.phase.key(),
            phase_label: call.phase.label(l),
            open: call.phase == mops_core::CallPhase::Open,
            opens_at: t.opens_at.to_rfc3339(),
            closes_at: t.closes_at.to_rfc3339(),
            panel_at: t.panel_at.to_rfc3339(),
            plan_deadline: t.plan_deadline.to_rfc3339(),
            decision_meeting_at: t.decision_meeting_at.to_rfc3339(),
            capacity: d.capacity,
            budget_ore: d.budget.ore(),
            ceiling_ore: d.ceiling.map(Sek::ore),
            themes: d.themes.iter().map(ToString::to_string).collect(),
            seminars: t
                .seminars
                .iter()
                .map(|s| SeminarView {
                    id: s.id.0,
                    title: s.title.get(l).to_owned(),
                    starts_at: s.starts_at.to_rfc3339(),
                    location: s.location.clone(),
                })
                .collect(),
            sections: d
                .template
                .iter()
                .map(|s| SectionView {
                    key: s.key.to_string(),
                    title: s.title.get(l).to_owned(),
                    guidance: s.guidance.as_ref().map(|g| g.get(l).to_owned()),
                    mandatory: s.mandatory,
                    text: String::new(),
                })
                .collect(),
            criteria: d
                .criteria
                .iter()
                .map(|c| CriterionView { key: c.key.to_string(), name: c.name.get(l).to_owned() })
                .collect(),
            scale_min: d.scale.min(),
            scale_max: d.scale.max(),
            version,
            next_phase: call.phase.next().map(|p| p.key()),
            next_phase_label: call.phase.next().map(|p| p.label(l)),
        }
    }
}

#[derive(Debug, Serialize)]
struct IdeaRow {
    id: String,
    title: String,
    lead: String,
    organisation: String,
    theme: String,
    stage: &'static str,
    stage_label: &'static str,
    version: i64,
    summary: String,
    pitch_slot: Option<String>,
    requested_ore: Option<i64>,
    recommendation: Option<RecommendationView>,
    granted_ore: Option<i64>,
    recused: bool,
    my_feedback: bool,
}

#[derive(Debug, Serialize)]
struct RecommendationView {
    fund: bool,
    amount_ore: Option<i64>,
    motivation: Option<String>,
}

fn recommendation_of(state: &IdeaState) -> Option<RecommendationView> {
    let prepared = match state {
        IdeaState::Prepared(p) => Some(p),
        IdeaState::Granted(g) => Some(&g.prepared),
        IdeaState::Declined(d) => Some(&d.prepared),
        _ => None,
    }?;
    Some(match &prepared.preparation.recommendation {
        Recommendation::Fund { amount, motivation } => RecommendationView {
            fund: true,
            amount_ore: Some(amount.ore()),
            motivation: motivation.as_ref().map(ToString::to_string),
        },
        Recommendation::NoFunding { motivation } => {
            RecommendationView { fund: false, amount_ore: None, motivation: Some(motivation.to_string()) }
        }
    })
}

fn idea_row(stored: &Versioned<IdeaState>, lang: Lang, me: Option<PersonId>) -> Option<IdeaRow> {
    let idea = stored.state.idea()?;
    let stage = stored.state.stage();
    let dev = stored.state.development();
    Some(IdeaRow {
        id: idea.id.to_string(),
        title: idea.details.title.to_string(),
        lead: idea.lead.name.to_string(),
        organisation: String::new(),
        theme: idea.details.theme.to_string(),
        stage: stage.key(),
        stage_label: stage_label(stage, lang),
        version: stored.version,
        summary: idea.details.summary.to_string(),
        pitch_slot: dev.and_then(|d| d.pitch_slot).map(|t| t.to_rfc3339()),
        requested_ore: stored.state.plan().map(|p| p.requested.ore()),
        recommendation: recommendation_of(&stored.state),
        granted_ore: stored.state.granted_amount().map(Sek::ore),
        recused: me.is_some_and(|p| dev.is_some_and(|d| d.conflicts.contains_key(&p))),
        my_feedback: me.is_some_and(|p| dev.is_some_and(|d| d.feedback.contains_key(&p))),
    })
}

// ---------------------------------------------------------------------------
// Public

async fn home(State(state): State<WebState>, lang: Lang, Viewer(user): Viewer) -> Response {
    let calls = match state.db.calls().await {
        Ok(c) => c,
        Err(e) => return unavailable(lang, "could not list the calls", e),
    };
    let actor = actor_of(user.as_ref());
    let visible: Vec<CallView> = calls
        .iter()
        .filter_map(|c| c.state.call().map(|call| (call, c.version)))
        .filter(|(call, _)| match &actor {
            Some(a) => access::may_see_call(a, call),
            None => call.phase != mops_core::CallPhase::Draft,
        })
        .map(|(call, v)| CallView::new(call, v, lang))
        .collect();
    Page {
        template: "home.html",
        lang,
        user: user.as_ref(),
        path: "/",
        title: lang.t("home_title").to_owned(),
        data: minijinja::context! { calls => visible },
    }
    .render()
}

#[derive(Debug, Serialize)]
struct OrganisationView {
    id: String,
    name: String,
}

async fn call_page(
    State(state): State<WebState>,
    lang: Lang,
    Viewer(user): Viewer,
    Path(id): Path<String>,
) -> Response {
    let (call, version) = match load_call(&state, &id).await {
        Ok(Some(c)) => c,
        Ok(None) => return not_found(lang, Viewer(user)).await,
        Err(e) => return unavailable(lang, "could not load a call", e),
    };
    let visible = match actor_of(user.as_ref()) {
        Some(a) => access::may_see_call(&a, &call),
        None => call.phase != mops_core::CallPhase::Draft,
    };
    if !visible {
        return not_found(lang, Viewer(user)).await;
    }
    let organisations = match state.db.organisations().await {
        Ok(o) => o.into_iter().map(|o| OrganisationView { id: o.id.to_string(), name: o.name.to_string() }).collect(),
        Err(e) => return unavailable(lang, "could not list organisations", e),
    };
    render_call_page(lang, user.as_ref(), &call, version, organisations, SubmitForm::default(), Vec::new())
}

fn render_call_page(
    lang: Lang,
    user: Option<&User>,
    call: &Call,
    version: i64,
    organisations: Vec<OrganisationView>,
    form: SubmitForm,
    errors: Vec<String>,
) -> Response {
    let path = format!("/utlysningar/{}", call.id);
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let view = CallView::new(call, version, lang);
    Page {
        template: "call.html",
        lang,
        user,
        path: &path,
        title: view.title.clone(),
        data: minijinja::context! {
            call => view,
            organisations => organisations,
            form => form,
            errors => errors,
            form_key => form_key(),
        },
    }
    .render_with(status)
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct SubmitForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    theme: String,
    #[serde(default)]
    co_applicants: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    form_key: String,
}

/// The public submission form: the applicant is found by email address, or
/// registered (without a password: they sign in by link), and submits.
pub(super) async fn submit(
    State(state): State<WebState>,
    lang: Lang,
    Viewer(viewer): Viewer,
    Path(id): Path<String>,
    Form(form): Form<SubmitForm>,
) -> Response {
    let (call, version) = match load_call(&state, &id).await {
        Ok(Some(c)) if c.0.phase != mops_core::CallPhase::Draft => c,
        Ok(_) => return not_found(lang, Viewer(viewer)).await,
        Err(e) => return unavailable(lang, "could not load a call", e),
    };
    let organisations = match state.db.organisations().await {
        Ok(o) => o,
        Err(e) => return unavailable(lang, "could not list organisations", e),
    };
    let sv = lang.0 == Language::Sv;
    let parse_err = |e: mops_core::domain::ParseError| if sv { e.message_sv() } else { e.to_string() };
    let mut errors = Vec::new();
    let name = PersonName::parse(form.name.trim())
        .map_err(|e| errors.push(format!("{}: {}", lang.t("field_name"), parse_err(e))))
        .ok();
    let email = Email::parse(form.email.trim())
        .map_err(|e| errors.push(format!("{}: {}", lang.t("field_email"), parse_err(e))))
        .ok();
    let title = Title::parse(form.title.trim())
        .map_err(|e| errors.push(format!("{}: {}", lang.t("field_title"), parse_err(e))))
        .ok();
    let summary = FreeText::parse(form.summary.trim())
        .map_err(|e| errors.push(format!("{}: {}", lang.t("field_summary"), parse_err(e))))
        .ok();
    let theme = Theme::parse(form.theme.trim())
        .map_err(|e| errors.push(format!("{}: {}", lang.t("field_theme"), parse_err(e))))
        .ok();
    let organisation = organisations.iter().find(|o| o.id.to_string() == form.organisation.trim()).map(|o| o.id);
    if organisation.is_none() {
        errors.push(lang.t("organisation_missing").to_owned());
    }
    let mut co_applicants = Vec::new();
    for line in form.co_applicants.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match parse_co_applicant(line) {
            Some((n, e)) => co_applicants.push((n, e)),
            None => errors.push(format!("{}: {line:?}", lang.t("co_applicant_invalid"))),
        }
    }
    let language = if form.language == "en" { Language::En } else { Language::Sv };
    let org_views =
        || organisations.iter().map(|o| OrganisationView { id: o.id.to_string(), name: o.name.to_string() }).collect();
    let (Some(name), Some(email), Some(title), Some(summary), Some(theme), Some(organisation), true) =
        (name, email, title, summary, theme, organisation, errors.is_empty())
    else {
        return render_call_page(lang, viewer.as_ref(), &call, version, org_views(), form, errors);
    };
    // Refused at once: a call that takes no ideas now.
    if let Err(e) = call.takes_ideas(Utc::now()) {
        return render_call_page(lang, viewer.as_ref(), &call, version, org_views(), form, vec![e.message(lang.0)]);
    }
    let key = if form.form_key.trim().is_empty() { form_key() } else { form.form_key.trim().to_owned() };
    let mut wanted = vec![(email, name)];
    wanted.extend(co_applicants.into_iter().map(|(n, e)| (e, n)));
    // The lead and co-applicants who are not users yet are registered in
    // the idea's own transaction, a new lead by themself and new
    // co-applicants by the lead who named them: if the submission is
    // refused, nobody is registered. If a concurrent request registers one
    // of them first (a double click), once more: they are known now.
    let mut retried = false;
    loop {
        let (mut applicants, mut new) =
            match crate::people::resolve_applicants(&state.db, &wanted, organisation, language, None).await {
                Ok(found) => found,
                Err(e) => return unavailable(lang, "could not look up the applicants", e),
            };
        let lead = applicants.remove(0);
        for r in new.iter_mut().filter(|r| r.user.id != lead.person) {
            r.by = crate::people::ChangedBy::User(lead.person);
        }
        // The idea's id comes from the form's key: sending the form twice
        // submits one idea.
        let idea_id = IdeaId::from_uuid(super::derived_id("idea", &format!("{key} {}", lead.person)));
        let actor = Actor::person(lead.person, []);
        let command = IdeaCommand::SubmitNew(Box::new(NewIdea {
            id: idea_id,
            call: call.id,
            lead,
            details: IdeaDetails {
                title: title.clone(),
                summary: summary.clone(),
                theme: theme.clone(),
                organisation,
                co_applicants: applicants,
            },
        }));
        let request = IdeaRequest {
            call: call.id,
            idea: idea_id,
            command: &command,
            actor: &actor,
            now: Utc::now(),
            expected_version: None,
            idempotency_key: Some(&key),
        };
        return match state.db.execute_idea_registering(&new, request).await {
            Ok(_) => Redirect::to(&format!("/utlysningar/{}/tack", call.id)).into_response(),
            Err(StoreError::EmailTaken { .. }) if !retried => {
                retried = true;
                continue;
            }
            Err(StoreError::Rejected(e)) => {
                render_call_page(lang, viewer.as_ref(), &call, version, org_views(), form, vec![e.message(lang.0)])
            }
            Err(e) => unavailable(lang, "could not submit an idea", e),
        };
    }
}

/// `Namn Efternamn <namn@example.se>` or `Namn Efternamn, namn@example.se`.
fn parse_co_applicant(line: &str) -> Option<(PersonName, Email)> {
    let (name, email) = if let Some((n, rest)) = line.split_once('<') {
        (n.trim(), rest.trim_end_matches('>').trim())
    } else {
        let (n, e) = line.rsplit_once([',', ';'])?;
        (n.trim(), e.trim())
    };
    Some((PersonName::parse(name).ok()?, Email::parse(email).ok()?))
}

async fn thanks(State(state): State<WebState>, lang: Lang, Viewer(user): Viewer, Path(id): Path<String>) -> Response {
    let (call, version) = match load_call(&state, &id).await {
        Ok(Some(c)) if publicly_visible(user.as_ref(), &c.0) => c,
        Ok(_) => return not_found(lang, Viewer(user)).await,
        Err(e) => return unavailable(lang, "could not load a call", e),
    };
    Page {
        template: "submitted.html",
        lang,
        user: user.as_ref(),
        path: "/",
        title: lang.t("submitted_title").to_owned(),
        data: minijinja::context! { call => CallView::new(&call, version, lang) },
    }
    .render()
}

// ---------------------------------------------------------------------------
// Applicant

async fn my_ideas(State(state): State<WebState>, lang: Lang, session: Session, SignedIn(user): SignedIn) -> Response {
    // The applicants index names the ideas (as lead or co-applicant), in
    // the order of their calls; each call is read once, for its title.
    let ideas = match state.db.ideas_of_applicant(user.id).await {
        Ok(i) => i,
        Err(e) => return unavailable(lang, "could not list ideas", e),
    };
    let mut titles: std::collections::HashMap<CallId, String> = std::collections::HashMap::new();
    let mut rows = Vec::new();
    for idea in &ideas {
        let Some(call_id) = idea.state.idea().map(|i| i.call) else { continue };
        let title = match titles.get(&call_id) {
            Some(title) => title.clone(),
            None => {
                let title = match state.db.call(call_id).await {
                    Ok(Some(c)) => c.state.call().map(|c| CallView::new(c, 0, lang).title).unwrap_or_default(),
                    Ok(None) => String::new(),
                    Err(e) => return unavailable(lang, "could not load a call", e),
                };
                titles.insert(call_id, title.clone());
                title
            }
        };
        if let Some(mut row) = idea_row(idea, lang, Some(user.id)) {
            row.organisation = title;
            rows.push(row);
        }
    }
    let flash = take_flash(&session).await;
    Page {
        template: "my_ideas.html",
        lang,
        user: Some(&user),
        path: "/mina-ideer",
        title: lang.t("my_ideas").to_owned(),
        data: minijinja::context! { ideas => rows, flash => flash },
    }
    .render()
}

#[derive(Debug, Serialize)]
struct EventView {
    at: String,
    text: String,
}

/// What happened to an idea, in words, as the viewer may see it.
fn timeline(
    events: &[crate::store::StoredEvent<mops_core::IdeaEvent>],
    actor: &Actor,
    call: &Call,
    lang: Lang,
) -> Vec<EventView> {
    events
        .iter()
        .filter(|e| access::event_for(actor, call, &e.recorded).is_some())
        .map(|e| {
            let key = format!("event_{}", e.recorded.event.key());
            let text = lang.texts().get(&key).cloned().unwrap_or_else(|| e.recorded.event.key().replace('_', " "));
            EventView { at: e.recorded.at.to_rfc3339(), text }
        })
        .collect()
}

#[derive(Debug, Serialize)]
struct FeedbackView {
    text: String,
    scores: Vec<(String, u8)>,
    mine: bool,
}

async fn idea_page(
    State(state): State<WebState>,
    lang: Lang,
    session: Session,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
) -> Response {
    let actor = user.actor();
    let found = match visible_idea(&state, &actor, &user, &id).await {
        Ok(v) => v,
        Err(e) => return unavailable(lang, "could not load an idea", e),
    };
    let Some((idea_id, stored, call, call_version)) = found else {
        return not_found(lang, Viewer(Some(user))).await;
    };
    let events = match state.db.idea_events(idea_id).await {
        Ok(e) => e,
        Err(e) => return unavailable(lang, "could not load an idea's events", e),
    };
    let Some(idea) = stored.state.idea() else { return not_found(lang, Viewer(Some(user))).await };
    let stage = stored.state.stage();
    // The actions this person may take now: the table allows them at this
    // stage, the call's phase allows them, and the person may take them.
    let actions: Vec<&'static str> = table::actions_at(stage)
        .into_iter()
        .filter(|a| mops_core::idea::allowed_phases(*a).contains(&call.phase))
        .filter(|a| mops_core::idea::authorize(&stored.state, *a, &actor, &call).is_ok())
        .map(|a| a.key())
        .collect();
    let mut view = CallView::new(&call, call_version, lang);
    let dev = stored.state.development();
    let texts: BTreeMap<SectionKey, FreeText> = match stored.state.plan() {
        Some(plan) => plan.sections.clone(),
        None => dev.map(|d| d.plan_draft.clone()).unwrap_or_default(),
    };
    for s in &mut view.sections {
        if let Some(t) = texts.iter().find(|(k, _)| k.to_string() == s.key).map(|(_, t)| t.to_string()) {
            s.text = t;
        }
    }
    let sees_feedback = actor.is_process_leader()
        || actor.is_board_member()
        || actor.is_sector_member(call.definition.sector_group)
        || idea.is_applicant(user.id);
    let feedback: Vec<FeedbackView> = dev
        .map(|d| {
            d.feedback
                .iter()
                .filter(|(by, _)| sees_feedback || **by == user.id)
                .map(|(by, f)| FeedbackView {
                    text: f.text.to_string(),
                    scores: f.scores.iter().map(|(k, s)| (k.to_string(), s.value())).collect(),
                    mine: *by == user.id,
                })
                .collect()
        })
        .unwrap_or_default();
    let attendance: Vec<(u16, bool)> =
        dev.map(|d| d.attendance.iter().map(|(s, a)| (s.0, *a)).collect()).unwrap_or_default();
    let remaining_ore = match state.db.funnel(call.id).await {
        Ok(f) => call.definition.budget.saturating_sub(f.granted_total).ore(),
        Err(e) => return unavailable(lang, "could not load the funnel", e),
    };
    let path = format!("/ideer/{idea_id}");
    let row = idea_row(&stored, lang, Some(user.id));
    let suggested_registry = format!("SK {}/{}", call.definition.timeline.decision_meeting_at.format("%Y"), 1);
    let flash = take_flash(&session).await;
    Page {
        template: "idea.html",
        lang,
        user: Some(&user),
        path: &path,
        title: idea.details.title.to_string(),
        data: minijinja::context! {
            idea => row,
            call => view,
            co_applicants => idea.details.co_applicants.iter().map(|a| a.name.to_string()).collect::<Vec<_>>(),
            events => timeline(&events, &actor, &call, lang),
            has_actions => actions.iter().any(|a| !matches!(*a, "save_plan_section" | "submit_plan" | "send_reminder" | "lapse")),
            actions => actions,
            feedback => feedback,
            attendance => attendance,
            remaining_ore => remaining_ore,
            registry => suggested_registry,
            flash => flash,
            form_key => form_key(),
            is_lead => idea.lead.person == user.id,
        },
    }
    .render()
}

/// The idea with this id if `actor` may see it, with its call; `None` for
/// an unknown id and for one the user may not see (logged).
async fn visible_idea(
    state: &WebState,
    actor: &Actor,
    user: &User,
    id: &str,
) -> Result<Option<(IdeaId, Versioned<IdeaState>, Call, i64)>, StoreError> {
    let Ok(idea_id) = id.trim().parse::<IdeaId>() else { return Ok(None) };
    let Some(stored) = state.db.idea(idea_id).await? else { return Ok(None) };
    let Some(call_id) = stored.state.idea().map(|i| i.call) else { return Ok(None) };
    let Some(c) = state.db.call(call_id).await? else { return Ok(None) };
    let Some(call) = c.state.call().cloned() else { return Ok(None) };
    if !access::may_see_idea(actor, &stored.state, &call) {
        tracing::warn!(user = %user.id, idea = %idea_id, "web: refused to show an idea");
        return Ok(None);
    }
    Ok(Some((idea_id, stored, call, c.version)))
}

/// A command from a form on the idea page (or the pipeline, panel and
/// board pages, which post here too).
#[derive(Debug, Deserialize)]
pub(super) struct CommandForm {
    action: String,
    version: i64,
    form_key: String,
    #[serde(default)]
    tillbaka: Option<String>,
    #[serde(flatten)]
    fields: BTreeMap<String, String>,
}

async fn command(
    State(state): State<WebState>,
    lang: Lang,
    session: Session,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CommandForm>,
) -> Response {
    let actor = user.actor();
    let found = match visible_idea(&state, &actor, &user, &id).await {
        Ok(v) => v,
        Err(e) => return unavailable(lang, "could not load an idea", e),
    };
    let Some((idea_id, stored, call, _)) = found else {
        return not_found(lang, Viewer(Some(user))).await;
    };
    let back = form.tillbaka.as_deref().map(|p| local_path(Some(p))).unwrap_or_else(|| format!("/ideer/{idea_id}"));
    let command = match command_from_form(&form, &call, &user, lang) {
        Ok(c) => c,
        Err(problem) => {
            flash(&session, "error", problem).await;
            return Redirect::to(&back).into_response();
        }
    };
    // A plan's sections are saved one command each, then submitted.
    let mut commands = Vec::new();
    if form.action == "submit_plan" || form.action == "save_plan" {
        commands.extend(plan_sections(&form, &call, &stored.state));
    }
    if let Some(c) = command {
        commands.push(c);
    }
    let mut version = form.version;
    let total = commands.len();
    for (i, c) in commands.iter().enumerate() {
        let key = format!("{}:{i}", form.form_key);
        let request = IdeaRequest {
            call: call.id,
            idea: idea_id,
            command: c,
            actor: &actor,
            now: Utc::now(),
            expected_version: Some(version),
            idempotency_key: Some(&key),
        };
        match state.db.execute_idea(request).await {
            Ok(outcome) => version = outcome.version,
            Err(StoreError::Rejected(e)) => {
                flash(&session, "error", e.message(lang.0)).await;
                return Redirect::to(&back).into_response();
            }
            Err(StoreError::Conflict { .. }) => {
                flash(&session, "error", lang.t("stale_page").to_owned()).await;
                return Redirect::to(&back).into_response();
            }
            Err(StoreError::DuplicateRegistry { registry }) => {
                flash(&session, "error", format!("{} {registry}", lang.t("registry_taken"))).await;
                return Redirect::to(&back).into_response();
            }
            Err(e) => return unavailable(lang, "could not run a command", e),
        }
    }
    if total > 0 {
        flash(&session, "ok", lang.t(&format!("done_{}", form.action)).to_owned()).await;
    }
    Redirect::to(&back).into_response()
}

/// The plan sections the form changed, one save command each.
fn plan_sections(form: &CommandForm, call: &Call, state: &IdeaState) -> Vec<IdeaCommand> {
    let saved = state.development().map(|d| d.plan_draft.clone()).unwrap_or_default();
    call.definition
        .template
        .iter()
        .filter_map(|s| {
            let typed = form.fields.get(&format!("section_{}", s.key))?.trim();
            let text = if typed.is_empty() { None } else { FreeText::parse(typed).ok() };
            (saved.get(&s.key) != text.as_ref()).then(|| IdeaCommand::SavePlanSection { section: s.key.clone(), text })
        })
        .collect()
}

fn field<'a>(form: &'a CommandForm, name: &str) -> &'a str {
    form.fields.get(name).map(|s| s.trim()).unwrap_or("")
}

/// The core command a form asks for; `Ok(None)` when the form only saves
/// plan sections. A problem with the input is a message for the person.
fn command_from_form(form: &CommandForm, call: &Call, user: &User, lang: Lang) -> Result<Option<IdeaCommand>, String> {
    let sv = lang.0 == Language::Sv;
    let say = |e: mops_core::domain::ParseError| if sv { e.message_sv() } else { e.to_string() };
    let optional = || -> Result<Option<Motivation>, String> {
        match field(form, "motivation") {
            "" => Ok(None),
            m => Motivation::parse(m).map(Some).map_err(say),
        }
    };
    let required = || -> Result<Motivation, String> {
        match field(form, "motivation") {
            "" => Err(lang.t("motivation_required").to_owned()),
            m => Motivation::parse(m).map_err(say),
        }
    };
    let amount =
        |name: &str| Sek::parse(field(form, name)).map_err(|e| format!("{}: {}", lang.t("field_amount"), say(e)));
    Ok(Some(match form.action.as_str() {
        "save_plan" => return Ok(None),
        "select" => IdeaCommand::Select { motivation: optional()? },
        "not_select" => IdeaCommand::NotSelect { motivation: required()? },
        "record_attendance" => IdeaCommand::RecordAttendance {
            seminar: mops_core::call::SeminarId(
                field(form, "seminar").parse().map_err(|_| lang.t("seminar_missing").to_owned())?,
            ),
            attended: field(form, "attended") == "yes",
        },
        "schedule_pitch" => IdeaCommand::SchedulePitch {
            at: local_time(field(form, "at")).ok_or_else(|| lang.t("time_invalid").to_owned())?,
        },
        "record_pitch" => IdeaCommand::RecordPitch,
        "declare_conflict" => IdeaCommand::DeclareConflict { panel_member: user.id, reason: required()? },
        "give_feedback" => {
            let text = FreeText::parse(field(form, "feedback"))
                .map_err(|e| format!("{}: {}", lang.t("field_feedback"), say(e)))?;
            let mut scores = BTreeMap::new();
            for c in &call.definition.criteria {
                let value: u8 = field(form, &format!("score_{}", c.key))
                    .parse()
                    .map_err(|_| format!("{}: {}", c.name.get(lang.0), lang.t("score_missing")))?;
                scores.insert(c.key.clone(), Score::new(value));
            }
            IdeaCommand::GiveFeedback { text, scores }
        }
        "submit_plan" => IdeaCommand::SubmitPlan { requested: amount("requested")? },
        "prepare" => IdeaCommand::Prepare {
            recommendation: if field(form, "recommend") == "fund" {
                Recommendation::Fund { amount: amount("amount")?, motivation: optional()? }
            } else {
                Recommendation::NoFunding { motivation: required()? }
            },
        },
        "grant" => IdeaCommand::Grant {
            amount: amount("amount")?,
            conditions: match field(form, "conditions") {
                "" => None,
                c => Some(FreeText::parse(c).map_err(say)?),
            },
            motivation: optional()?,
            registry: RegistryNumber::parse(field(form, "registry"))
                .map_err(|e| format!("{}: {}", lang.t("field_registry"), say(e)))?,
            meeting: decision_meeting(call.id),
        },
        "decline" => IdeaCommand::Decline {
            motivation: required()?,
            registry: RegistryNumber::parse(field(form, "registry"))
                .map_err(|e| format!("{}: {}", lang.t("field_registry"), say(e)))?,
            meeting: decision_meeting(call.id),
        },
        "withdraw" => IdeaCommand::Withdraw {
            reason: match field(form, "reason") {
                "" => None,
                r => Some(FreeText::parse(r).map_err(say)?),
            },
        },
        other => return Err(format!("{} {other:?}", lang.t("unknown_action"))),
    }))
}

/// `2010-09-14T10:00` as typed into a `datetime-local` field, in Swedish time.
fn local_time(value: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M").ok()?;
    Stockholm.from_local_datetime(&naive).earliest().map(|t| t.with_timezone(&Utc))
}

// ---------------------------------------------------------------------------
// Sector group: the pipeline and the selection

#[derive(Debug, Serialize)]
struct StageGroup {
    stage: &'static str,
    label: &'static str,
    ideas: Vec<IdeaRow>,
}

async fn staff_call(
    state: &WebState,
    lang: Lang,
    user: &User,
    id: &str,
    may: impl Fn(&Actor, &Call) -> bool,
) -> Result<(Call, i64), Response> {
    match load_call(state, id).await {
        Ok(Some((call, v))) if may(&user.actor(), &call) => Ok((call, v)),
        Ok(Some((call, _))) => {
            tracing::warn!(user = %user.id, call = %call.id, "web: refused a staff page of a call");
            Err(not_found(lang, Viewer(Some(user.clone()))).await)
        }
        Ok(None) => Err(not_found(lang, Viewer(Some(user.clone()))).await),
        Err(e) => Err(unavailable(lang, "could not load a call", e)),
    }
}

/// A call's ideas and its funnel, for the staff pages.
async fn ideas_and_funnel(
    state: &WebState,
    lang: Lang,
    call: CallId,
) -> Result<(Vec<Versioned<IdeaState>>, crate::store::FunnelCounts), Response> {
    let ideas = state.db.ideas(call, None).await.map_err(|e| unavailable(lang, "could not list ideas", e))?;
    let funnel = state.db.funnel(call).await.map_err(|e| unavailable(lang, "could not load the funnel", e))?;
    Ok((ideas, funnel))
}

fn is_sector_or_leader(actor: &Actor, call: &Call) -> bool {
    actor.is_process_leader() || actor.is_sector_member(call.definition.sector_group)
}

async fn pipeline(
    State(state): State<WebState>,
    lang: Lang,
    session: Session,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
) -> Response {
    let (call, version) = match staff_call(&state, lang, &user, &id, is_sector_or_leader).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (ideas, funnel) = match ideas_and_funnel(&state, lang, call.id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut groups: Vec<StageGroup> = Vec::new();
    for stage in Stage::ALL.iter().copied().filter(|s| *s != Stage::New) {
        let rows: Vec<IdeaRow> = ideas
            .iter()
            .filter(|i| i.state.stage() == stage)
            .filter_map(|i| idea_row(i, lang, Some(user.id)))
            .collect();
        if !rows.is_empty() {
            groups.push(StageGroup { stage: stage.key(), label: stage_label(stage, lang), ideas: rows });
        }
    }
    let max = funnel.submitted.max(1);
    let steps: Vec<(String, u32, u32)> = [
        (lang.t("funnel_submitted"), funnel.submitted),
        (lang.t("funnel_selected"), funnel.selected),
        (lang.t("funnel_plans"), funnel.plans_submitted),
        (lang.t("funnel_granted"), funnel.granted),
    ]
    .into_iter()
    .map(|(label, n)| (label.to_owned(), n, n * 100 / max))
    .collect();
    let selectable: Vec<IdeaRow> = ideas
        .iter()
        .filter(|i| i.state.stage() == Stage::Submitted)
        .filter_map(|i| idea_row(i, lang, Some(user.id)))
        .collect();
    let selection_open =
        call.phase == mops_core::CallPhase::Selection && user.actor().is_sector_member(call.definition.sector_group);
    let path = format!("/utlysningar/{}/pipeline", call.id);
    let flash = take_flash(&session).await;
    Page {
        template: "pipeline.html",
        lang,
        user: Some(&user),
        path: &path,
        title: format!("{} – {}", lang.t("pipeline"), CallView::new(&call, version, lang).title),
        data: minijinja::context! {
            call => CallView::new(&call, version, lang),
            groups => groups,
            steps => steps,
            selected => funnel.selected,
            granted_ore => funnel.granted_total.ore(),
            selectable => selectable,
            selection_open => selection_open,
            confirm => Value::UNDEFINED,
            flash => flash,
            form_key => form_key(),
        },
    }
    .render()
}

#[derive(Debug, Deserialize)]
pub(super) struct SelectionForm {
    #[serde(default)]
    confirm: Option<String>,
    form_key: String,
    #[serde(flatten)]
    fields: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
struct SelectionChoice {
    id: String,
    title: String,
    version: i64,
    select: bool,
    motivation: String,
}

/// The selection screen's form: first a summary to confirm, then every
/// choice is made in one transaction, all or nothing, and the mails go out.
/// Each choice carries the version of the idea the page showed, so a change
/// made meanwhile (an idea withdrawn, or chosen by someone else) refuses the
/// whole confirmation and says which idea and why.
async fn selection(
    State(state): State<WebState>,
    lang: Lang,
    session: Session,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
    Form(form): Form<SelectionForm>,
) -> Response {
    let (call, version) =
        match staff_call(&state, lang, &user, &id, |a, c| a.is_sector_member(c.definition.sector_group)).await {
            Ok(c) => c,
            Err(r) => return r,
        };
    let back = format!("/utlysningar/{}/pipeline", call.id);
    // Every idea of the call, not only the submitted ones: an idea chosen on
    // the page and withdrawn since stays in the choices, and the store
    // refuses it with a reason, instead of it silently dropping out.
    let ideas = match state.db.ideas(call.id, None).await {
        Ok(i) => i,
        Err(e) => return unavailable(lang, "could not list ideas", e),
    };
    let mut choices = Vec::new();
    for idea in &ideas {
        let Some(i) = idea.state.idea() else { continue };
        let choice = form.fields.get(&format!("choice_{}", i.id)).map(String::as_str).unwrap_or("");
        if choice != "select" && choice != "not_select" {
            continue;
        }
        // The version the page showed; the current one for a form from
        // before pages carried it.
        let version = form.fields.get(&format!("version_{}", i.id)).and_then(|v| v.trim().parse().ok());
        choices.push(SelectionChoice {
            id: i.id.to_string(),
            title: i.details.title.to_string(),
            version: version.unwrap_or(idea.version),
            select: choice == "select",
            motivation: form
                .fields
                .get(&format!("motivation_{}", i.id))
                .map(|m| m.trim().to_owned())
                .unwrap_or_default(),
        });
    }
    let already = match state.db.funnel(call.id).await {
        Ok(f) => f.selected,
        Err(e) => return unavailable(lang, "could not load the funnel", e),
    };
    let selecting = choices.iter().filter(|c| c.select).count() as u32;
    let mut problems = Vec::new();
    if choices.is_empty() {
        problems.push(lang.t("selection_empty").to_owned());
    }
    if already + selecting > call.definition.capacity {
        problems.push(format!(
            "{} {} ({} {})",
            lang.t("selection_over_capacity"),
            call.definition.capacity,
            lang.t("selection_already"),
            already
        ));
    }
    for c in choices.iter().filter(|c| !c.select && c.motivation.is_empty()) {
        problems.push(format!("{}: {}", c.title, lang.t("motivation_required")));
    }
    for c in choices.iter().filter(|c| !c.motivation.is_empty()) {
        if let Err(e) = Motivation::parse(&c.motivation) {
            let reason = if lang.0 == Language::Sv { e.message_sv() } else { e.to_string() };
            problems.push(format!("{}: {reason}", c.title));
        }
    }
    if !problems.is_empty() {
        flash(&session, "error", problems.join(" ")).await;
        return Redirect::to(&back).into_response();
    }
    if form.confirm.as_deref() != Some("yes") {
        return Page {
            template: "pipeline.html",
            lang,
            user: Some(&user),
            path: &back,
            title: lang.t("selection_confirm_title").to_owned(),
            data: minijinja::context! {
                call => CallView::new(&call, version, lang),
                confirm => choices,
                form_key => form.form_key,
                groups => Vec::<StageGroup>::new(),
                steps => Vec::<(String, u32, u32)>::new(),
                selected => already,
                granted_ore => 0,
                selectable => Vec::<IdeaRow>::new(),
                selection_open => false,
                flash => Value::UNDEFINED,
            },
        }
        .render();
    }
    // The commands first (parsed above, so nothing is skipped here), then
    // one request each, all executed in one transaction.
    let actor = user.actor();
    let mut commands = Vec::with_capacity(choices.len());
    for c in &choices {
        let Ok(idea_id) = c.id.parse::<IdeaId>() else { return not_found(lang, Viewer(Some(user))).await };
        let motivation = Motivation::parse(&c.motivation).ok();
        let command = match (c.select, motivation) {
            (true, m) => IdeaCommand::Select { motivation: m },
            (false, Some(m)) => IdeaCommand::NotSelect { motivation: m },
            // Refused above already; kept as a refusal, not a panic.
            (false, None) => {
                flash(&session, "error", format!("{}: {}", c.title, lang.t("motivation_required"))).await;
                return Redirect::to(&back).into_response();
            }
        };
        commands.push((idea_id, command, format!("{}:{}", form.form_key, c.id)));
    }
    let now = Utc::now();
    let requests: Vec<IdeaRequest<'_>> = commands
        .iter()
        .zip(&choices)
        .map(|((idea, command, key), c)| IdeaRequest {
            call: call.id,
            idea: *idea,
            command,
            actor: &actor,
            now,
            expected_version: Some(c.version),
            idempotency_key: Some(key),
        })
        .collect();
    match state.db.execute_ideas(&requests).await {
        Ok(outcomes) => {
            flash(&session, "ok", format!("{} {}", lang.t("selection_done"), outcomes.len())).await;
        }
        Err(StoreError::InBatch { index, source }) => {
            let title = &choices[index].title;
            let reason = match *source {
                StoreError::Rejected(e) => e.message(lang.0),
                StoreError::Conflict { .. } => lang.t("stale_page").to_owned(),
                e => return unavailable(lang, "could not record the selection", e),
            };
            flash(&session, "error", format!("{} {title}: {reason}", lang.t("selection_nothing_done"))).await;
        }
        Err(e) => return unavailable(lang, "could not record the selection", e),
    }
    Redirect::to(&back).into_response()
}

// ---------------------------------------------------------------------------
// Seminars: the schedule and who attended

#[derive(Debug, Serialize)]
struct AttendanceRow {
    id: String,
    title: String,
    lead: String,
    version: i64,
    /// Withdrawn or lapsed: attendance can no longer be recorded.
    closed: bool,
    /// Per seminar of the call, in order: `yes`, `no` or `` (not recorded).
    marks: Vec<&'static str>,
}

async fn seminars(
    State(state): State<WebState>,
    lang: Lang,
    session: Session,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
) -> Response {
    let (call, version) = match staff_call(&state, lang, &user, &id, is_sector_or_leader).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let ideas = match state.db.ideas(call.id, None).await {
        Ok(i) => i,
        Err(e) => return unavailable(lang, "could not list ideas", e),
    };
    let rows: Vec<AttendanceRow> = ideas
        .iter()
        // Every idea that was selected, also after it was decided or lapsed.
        .filter(|i| i.state.development().is_some())
        .filter_map(|i| {
            let idea = i.state.idea()?;
            let dev = i.state.development()?;
            Some(AttendanceRow {
                id: idea.id.to_string(),
                title: idea.details.title.to_string(),
                lead: idea.lead.name.to_string(),
                version: i.version,
                closed: i.state.stage().is_final(),
                marks: call
                    .definition
                    .timeline
                    .seminars
                    .iter()
                    .map(|s| match dev.attendance.get(&s.id) {
                        Some(true) => "yes",
                        Some(false) => "no",
                        None => "",
                    })
                    .collect(),
            })
        })
        .collect();
    let may_record = matches!(call.phase, mops_core::CallPhase::Development | mops_core::CallPhase::Panel);
    let path = format!("/utlysningar/{}/seminarier", call.id);
    let flash = take_flash(&session).await;
    Page {
        template: "seminars.html",
        lang,
        user: Some(&user),
        path: &path,
        title: format!("{} – {}", lang.t("seminars"), CallView::new(&call, version, lang).title),
        data: minijinja::context! {
            call => CallView::new(&call, version, lang),
            ideas => rows,
            may_record => may_record,
            flash => flash,
            form_key => form_key(),
        },
    }
    .render()
}

/// Records one seminar's attendance for every idea the form marks, one
/// transaction per idea; ideas left unmarked are left as they are.
async fn record_attendance(
    State(state): State<WebState>,
    lang: Lang,
    session: Session,
    SignedIn(user): SignedIn,
    Path((id, seminar)): Path<(String, u16)>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let (call, _) = match staff_call(&state, lang, &user, &id, is_sector_or_leader).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let back = format!("/utlysningar/{}/seminarier", call.id);
    let actor = user.actor();
    let key = form.get("form_key").cloned().unwrap_or_else(form_key);
    let (mut done, mut errors) = (0, Vec::new());
    for (name, mark) in form.iter().filter(|(n, _)| n.starts_with("mark_")) {
        let Ok(idea) = name.trim_start_matches("mark_").parse::<IdeaId>() else { continue };
        let attended = match mark.as_str() {
            "yes" => true,
            "no" => false,
            _ => continue,
        };
        let version = form.get(&format!("version_{idea}")).and_then(|v| v.parse().ok());
        let command = IdeaCommand::RecordAttendance { seminar: mops_core::call::SeminarId(seminar), attended };
        let request = IdeaRequest {
            call: call.id,
            idea,
            command: &command,
            actor: &actor,
            now: Utc::now(),
            expected_version: version,
            idempotency_key: Some(&format!("{key}:{idea}")),
        };
        match state.db.execute_idea(request).await {
            Ok(_) => done += 1,
            Err(StoreError::Rejected(e)) => errors.push(e.message(lang.0)),
            Err(StoreError::Conflict { .. }) => errors.push(lang.t("stale_page").to_owned()),
            Err(e) => return unavailable(lang, "could not record attendance", e),
        }
    }
    if errors.is_empty() {
        flash(&session, "ok", format!("{} {done}", lang.t("attendance_saved"))).await;
    } else {
        errors.dedup();
        flash(&session, "error", format!("{} {done}. {}", lang.t("attendance_saved"), errors.join(" "))).await;
    }
    Redirect::to(&back).into_response()
}

// ---------------------------------------------------------------------------
// Panel

async fn panel(
    State(state): State<WebState>,
    lang: Lang,
    session: Session,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
) -> Response {
    let may = |a: &Actor, c: &Call| {
        a.is_panel_member(c.id) || a.is_process_leader() || a.is_sector_member(c.definition.sector_group)
    };
    let (call, version) = match staff_call(&state, lang, &user, &id, may).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let ideas = match state.db.ideas(call.id, None).await {
        Ok(i) => i,
        Err(e) => return unavailable(lang, "could not list ideas", e),
    };
    let actor = user.actor();
    let mut order: Vec<IdeaRow> = ideas
        .iter()
        // Every idea that was selected, also after it was decided or lapsed.
        .filter(|i| i.state.development().is_some())
        .filter_map(|i| {
            let mut row = idea_row(i, lang, Some(user.id))?;
            // A recused member sees only that they are recused.
            if row.recused {
                row.title = lang.t("recused_idea").to_owned();
                row.summary = String::new();
                row.lead = String::new();
            } else if !access::may_see_idea(&actor, &i.state, &call) {
                return None;
            }
            Some(row)
        })
        .collect();
    order.sort_by(|a, b| a.pitch_slot.cmp(&b.pitch_slot).then(a.title.cmp(&b.title)));
    let path = format!("/utlysningar/{}/panel", call.id);
    let flash = take_flash(&session).await;
    Page {
        template: "panel.html",
        lang,
        user: Some(&user),
        path: &path,
        title: format!("{} – {}", lang.t("panel"), CallView::new(&call, version, lang).title),
        data: minijinja::context! {
            call => CallView::new(&call, version, lang),
            ideas => order,
            is_panel => actor.is_panel_member(call.id),
            flash => flash,
            form_key => form_key(),
        },
    }
    .render()
}

// ---------------------------------------------------------------------------
// Board

async fn board(
    State(state): State<WebState>,
    lang: Lang,
    session: Session,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
) -> Response {
    let (call, version) = match staff_call(&state, lang, &user, &id, sees_decisions).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (ideas, funnel) = match ideas_and_funnel(&state, lang, call.id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let rows: Vec<IdeaRow> = ideas
        .iter()
        .filter(|i| matches!(i.state.stage(), Stage::Prepared | Stage::Granted | Stage::Declined))
        .filter_map(|i| idea_row(i, lang, Some(user.id)))
        .collect();
    let remaining = call.definition.budget.saturating_sub(funnel.granted_total);
    // The meetings at which this call's ideas were decided, for their minutes.
    let mut meetings: Vec<String> = ideas
        .iter()
        .filter_map(|i| match &i.state {
            IdeaState::Granted(g) => Some(g.decision.meeting.to_string()),
            IdeaState::Declined(d) => Some(d.decision.meeting.to_string()),
            _ => None,
        })
        .collect();
    meetings.sort();
    meetings.dedup();
    let decided = rows.iter().filter(|r| r.stage != "prepared").count();
    let path = format!("/utlysningar/{}/beslut", call.id);
    let flash = take_flash(&session).await;
    let year = call.definition.timeline.decision_meeting_at.format("%Y").to_string();
    Page {
        template: "board.html",
        lang,
        user: Some(&user),
        path: &path,
        title: format!("{} – {}", lang.t("board_meeting"), CallView::new(&call, version, lang).title),
        data: minijinja::context! {
            call => CallView::new(&call, version, lang),
            ideas => rows,
            granted_ore => funnel.granted_total.ore(),
            remaining_ore => remaining.ore(),
            may_decide => user.actor().is_board_member() && call.phase == mops_core::CallPhase::Decision,
            meetings => meetings,
            registry_prefix => format!("SK {year}/"),
            next_registry => decided + 1,
            flash => flash,
            form_key => form_key(),
        },
    }
    .render()
}

async fn minutes(
    State(state): State<WebState>,
    lang: Lang,
    SignedIn(user): SignedIn,
    Path(meeting): Path<String>,
) -> Response {
    let actor = user.actor();
    let Ok(meeting) = meeting.trim().parse::<MeetingId>() else { return not_found(lang, Viewer(Some(user))).await };
    let minutes = match crate::report::minutes::load(&state.db, meeting).await {
        Ok(m) => m,
        Err(crate::report::ReportError::Usage(_)) => return not_found(lang, Viewer(Some(user))).await,
        Err(e) => return unavailable(lang, "could not load the minutes", e),
    };
    // Every call the meeting decided on must be one whose board page the
    // user may see.
    for line in &minutes.calls {
        let visible = match state.db.call(line.id).await {
            Ok(c) => c.as_ref().and_then(|c| c.state.call()).is_some_and(|c| sees_decisions(&actor, c)),
            Err(e) => return unavailable(lang, "could not load a call of the minutes", e),
        };
        if !visible {
            tracing::warn!(user = %user.id, meeting = %meeting, "web: refused the minutes of a meeting");
            return not_found(lang, Viewer(Some(user))).await;
        }
    }
    Html(crate::report::minutes::html_document(&minutes)).into_response()
}

// ---------------------------------------------------------------------------
// Process leader

#[derive(Debug, Serialize)]
struct OutboxView {
    id: String,
    recipient: String,
    notice: String,
    status: &'static str,
    attempts: i64,
    last_error: Option<String>,
    created_at: String,
}

#[derive(Debug, Serialize)]
struct LogView {
    at: String,
    kind: String,
    what: String,
}

async fn leader(
    State(state): State<WebState>,
    lang: Lang,
    session: Session,
    ProcessLeader(user): ProcessLeader,
) -> Response {
    let calls = match state.db.calls().await {
        Ok(c) => c,
        Err(e) => return unavailable(lang, "could not list calls", e),
    };
    let calls: Vec<CallView> =
        calls.iter().filter_map(|c| c.state.call().map(|call| CallView::new(call, c.version, lang))).collect();
    let outbox = match state.db.outbox(None, 200).await {
        Ok(rows) => rows,
        Err(e) => return unavailable(lang, "could not list the outbox", e),
    };
    let outbox: Vec<OutboxView> = outbox
        .into_iter()
        .map(|r| OutboxView {
            id: r.id.to_string(),
            recipient: r.recipient_email,
            notice: r.notice,
            status: r.status.key(),
            attempts: r.attempts,
            last_error: r.last_error,
            created_at: r.created_at.to_rfc3339(),
        })
        .collect();
    let people = match state.db.users().await {
        Ok(u) => u,
        Err(e) => return unavailable(lang, "could not list people", e),
    };
    let (groups, organisations) = match (state.db.sector_groups().await, state.db.organisations().await) {
        (Ok(g), Ok(o)) => (g, o),
        (Err(e), _) | (_, Err(e)) => return unavailable(lang, "could not list groups and organisations", e),
    };
    let mut names: BTreeMap<String, String> = groups.iter().map(|g| (g.id.to_string(), g.name.to_string())).collect();
    names.extend(calls.iter().map(|c| (c.id.clone(), c.title.clone())));
    let people = super::admin::person_rows(&people, lang, &names);
    let tokens = match state.db.tokens(None).await {
        Ok(t) => super::admin::token_rows(&t),
        Err(e) => return unavailable(lang, "could not list API tokens", e),
    };
    let groups: Vec<OrganisationView> =
        groups.iter().map(|g| OrganisationView { id: g.id.to_string(), name: g.name.to_string() }).collect();
    let organisations: Vec<OrganisationView> =
        organisations.iter().map(|o| OrganisationView { id: o.id.to_string(), name: o.name.to_string() }).collect();
    let log = match state.db.event_log(None).await {
        Ok(l) => l,
        Err(e) => return unavailable(lang, "could not read the event log", e),
    };
    let log: Vec<LogView> = log
        .iter()
        .rev()
        .take(100)
        .map(|e| LogView {
            at: e.at.to_rfc3339(),
            kind: e.stream_kind.clone(),
            what: lang
                .texts()
                .get(&format!("event_{}", e.event_type))
                .cloned()
                .unwrap_or_else(|| e.event_type.replace('_', " ")),
        })
        .collect();
    let flash = take_flash(&session).await;
    Page {
        template: "leader.html",
        lang,
        user: Some(&user),
        path: "/admin",
        title: lang.t("leader_title").to_owned(),
        data: minijinja::context! {
            calls => calls,
            outbox => outbox,
            people => people,
            tokens => tokens,
            groups => groups,
            organisations => organisations,
            log => log,
            flash => flash,
            form_key => form_key(),
        },
    }
    .render()
}

#[derive(Debug, Deserialize)]
pub(super) struct PhaseForm {
    to: String,
    version: i64,
    form_key: String,
}

async fn advance_phase(
    State(state): State<WebState>,
    lang: Lang,
    session: Session,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
    Form(form): Form<PhaseForm>,
) -> Response {
    let (call, _) = match staff_call(&state, lang, &user, &id, |a, _| a.is_process_leader()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(to) = mops_core::CallPhase::from_key(form.to.trim()) else {
        flash(&session, "error", lang.t("unknown_action").to_owned()).await;
        return Redirect::to("/admin").into_response();
    };
    let command = CallCommand::Advance { to };
    let actor = user.actor();
    let request = CallRequest {
        call: call.id,
        command: &command,
        actor: &actor,
        now: Utc::now(),
        expected_version: Some(form.version),
        idempotency_key: Some(&form.form_key),
    };
    match state.db.execute_call(request).await {
        Ok(_) => flash(&session, "ok", format!("{} {}", lang.t("phase_changed"), to.label(lang.0))).await,
        Err(StoreError::Rejected(e)) => flash(&session, "error", e.message(lang.0)).await,
        Err(StoreError::Conflict { .. }) => flash(&session, "error", lang.t("stale_page").to_owned()).await,
        Err(e) => return unavailable(lang, "could not change a call's phase", e),
    }
    Redirect::to("/admin").into_response()
}

async fn outbox_preview(
    State(state): State<WebState>,
    lang: Lang,
    ProcessLeader(user): ProcessLeader,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<Uuid>() else { return not_found(lang, Viewer(Some(user))).await };
    let row = match state.db.outbox_row(id).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(lang, Viewer(Some(user))).await,
        Err(e) => return unavailable(lang, "could not load an outbox row", e),
    };
    let context = async {
        let call = state.db.call(row.call_id).await?.and_then(|c| c.state.call().cloned());
        let idea = state.db.idea(row.idea_id).await?.map(|i| i.state);
        Ok::<_, StoreError>(call.zip(idea))
    };
    let (call, idea) = match context.await {
        Ok(Some(c)) => c,
        Ok(None) => return not_found(lang, Viewer(Some(user))).await,
        Err(e) => return unavailable(lang, "could not load an outbox row's idea", e),
    };
    // As the worker renders it: its uid, its queue time, the configured contact.
    match crate::mail::render_row(&row, &idea, &call, &state.config.reply_to) {
        Ok(rendered) => message(
            lang,
            Some(&user),
            StatusCode::OK,
            "outbox_preview",
            format!(
                "{}: {}\n{}: {}\n\n{}",
                lang.t("mail_to"),
                row.recipient_email,
                lang.t("mail_subject"),
                rendered.subject,
                rendered.text
            ),
        ),
        Err(e) => unavailable(lang, "could not render an outbox row", e),
    }
}

async fn outbox_retry(
    State(state): State<WebState>,
    lang: Lang,
    session: Session,
    ProcessLeader(user): ProcessLeader,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<Uuid>() else { return not_found(lang, Viewer(Some(user))).await };
    match state.db.requeue_outbox(Some(&[id]), Utc::now()).await {
        Ok(n) if n > 0 => flash(&session, "ok", lang.t("outbox_requeued").to_owned()).await,
        Ok(_) => flash(&session, "error", lang.t("outbox_not_requeued").to_owned()).await,
        Err(e) => return unavailable(lang, "could not requeue a mail", e),
    }
    Redirect::to("/admin").into_response()
}
