//! The process leader's tools: a call's definition (timeline, seminars,
//! template, criteria, capacity and budget), made new or from last year's
//! call, and edited while it is a draft; people and their roles.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::Stockholm;
use mops_core::call::{CallCommand, CallDefinition, Criterion, Seminar, SeminarId, TemplateSection, Timeline};
use mops_core::domain::{
    CallId, CriterionKey, Email, Language, LocalizedText, ParseError, PersonId, PersonName, ScoreScale, SectionKey,
    Sek, Theme, Title,
};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use uuid::Uuid;

use super::auth::ProcessLeader;
use super::pages::{flash, load_call, not_found_for, unavailable};
use super::view::Page;
use super::{Lang, WebState};
use crate::people::{ChangedBy, NewUser, Password, PeopleStore, RoleKind, User};
use crate::store::{CallRequest, Store, StoreError};

pub(super) fn routes() -> Router<WebState> {
    Router::new()
        .route("/admin/utlysningar/ny", get(new_call).post(create_call))
        .route("/admin/utlysningar/{id}/andra", get(edit_call).post(save_call))
        .route("/admin/personer", post(add_person))
        .route("/admin/personer/{id}/{action}", post(set_disabled))
        .route("/admin/roller", post(grant_role))
        .route("/admin/roller/ta-bort", post(revoke_role))
        .route("/admin/nycklar", post(create_token))
        .route("/admin/nycklar/{id}/aterkalla", post(revoke_token))
}

// ---------------------------------------------------------------------------
// The call form

/// The call form as typed: every field a string, so what was typed comes
/// back with the errors.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(super) struct CallForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    title_en: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    description_en: String,
    #[serde(default)]
    sector_group: String,
    #[serde(default)]
    themes: String,
    #[serde(default)]
    opens_at: String,
    #[serde(default)]
    closes_at: String,
    #[serde(default)]
    panel_at: String,
    #[serde(default)]
    plan_deadline: String,
    #[serde(default)]
    decision_meeting_at: String,
    #[serde(default)]
    seminars: String,
    #[serde(default)]
    capacity: String,
    #[serde(default)]
    budget: String,
    #[serde(default)]
    ceiling: String,
    #[serde(default)]
    criteria: String,
    #[serde(default)]
    scale_min: String,
    #[serde(default)]
    scale_max: String,
    #[serde(default)]
    sections: String,
    #[serde(default)]
    version: Option<i64>,
    #[serde(default)]
    form_key: String,
    /// The call this one was copied from, whose English texts are kept.
    #[serde(default)]
    fran: String,
}

/// `2027-03-01T13:00`, Stockholm time, as a `datetime-local` field shows it.
fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Stockholm).format("%Y-%m-%dT%H:%M").to_string()
}

fn parse_local(value: &str) -> Option<DateTime<Utc>> {
    let v = value.trim();
    let naive = NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M"))
        .ok()?;
    Stockholm.from_local_datetime(&naive).earliest().map(|t| t.with_timezone(&Utc))
}

fn kronor(s: Sek) -> String {
    s.number(' ')
}

impl CallForm {
    fn from_definition(d: &CallDefinition, version: Option<i64>) -> Self {
        let t = &d.timeline;
        Self {
            title: d.title.to_string(),
            title_en: d.title_en.as_ref().map(ToString::to_string).unwrap_or_default(),
            description: d.description.sv.to_string(),
            description_en: d.description.en.as_ref().map(ToString::to_string).unwrap_or_default(),
            sector_group: d.sector_group.to_string(),
            themes: d.themes.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"),
            opens_at: local(t.opens_at),
            closes_at: local(t.closes_at),
            panel_at: local(t.panel_at),
            plan_deadline: local(t.plan_deadline),
            decision_meeting_at: local(t.decision_meeting_at),
            seminars: t
                .seminars
                .iter()
                .map(|s| {
                    format!(
                        "{} | {} | {} | {}",
                        local(s.starts_at).replace('T', " "),
                        local(s.ends_at).replace('T', " "),
                        s.title.sv,
                        s.location
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
            capacity: d.capacity.to_string(),
            budget: kronor(d.budget),
            ceiling: d.ceiling.map(kronor).unwrap_or_default(),
            criteria: d.criteria.iter().map(|c| format!("{} | {}", c.key, c.name.sv)).collect::<Vec<_>>().join("\n"),
            scale_min: d.scale.min().to_string(),
            scale_max: d.scale.max().to_string(),
            sections: d
                .template
                .iter()
                .map(|s| {
                    let kind = if s.mandatory { "obligatorisk" } else { "valfri" };
                    match &s.guidance {
                        Some(g) => format!("{} | {} | {kind} | {}", s.key, s.title.sv, g.sv),
                        None => format!("{} | {} | {kind}", s.key, s.title.sv),
                    }
                })
                .collect::<Vec<_>>()
                .join("\n"),
            version,
            form_key: Uuid::new_v4().to_string(),
            fran: String::new(),
        }
    }

    /// Last year's call as the start of this year's: the same text,
    /// template and criteria, every date a year later.
    fn next_year(d: &CallDefinition) -> Self {
        let later = |t: DateTime<Utc>| {
            let s = t.with_timezone(&Stockholm);
            let naive = s.naive_local();
            naive
                .with_year(naive.year() + 1)
                .and_then(|n| Stockholm.from_local_datetime(&n).earliest())
                .map(|n| n.with_timezone(&Utc))
                .unwrap_or(t + chrono::Duration::days(365))
        };
        let mut next = d.clone();
        let t = &mut next.timeline;
        for at in [&mut t.opens_at, &mut t.closes_at, &mut t.panel_at, &mut t.plan_deadline, &mut t.decision_meeting_at]
        {
            *at = later(*at);
        }
        for s in &mut t.seminars {
            s.starts_at = later(s.starts_at);
            s.ends_at = later(s.ends_at);
        }
        Self::from_definition(&next, None)
    }

    /// The definition this form describes, or every problem with it, in
    /// the page's language. English texts of `previous` are kept where the
    /// Swedish text is unchanged.
    fn definition(&self, lang: Lang, previous: Option<&CallDefinition>) -> Result<CallDefinition, Vec<String>> {
        let sv = lang.0 == Language::Sv;
        let mut errors = Vec::new();
        let say =
            |field: &str, e: ParseError| format!("{}: {}", field, if sv { e.message_sv() } else { e.to_string() });
        macro_rules! field {
            ($name:expr, $r:expr) => {
                $r.map_err(|e| errors.push(say(lang.t($name), e))).ok()
            };
        }
        let title = field!("call_title", Title::parse(self.title.trim()));
        let title_en = match self.title_en.trim() {
            "" => Some(None),
            t => field!("call_title_en", Title::parse(t)).map(Some),
        };
        let description = match self.description_en.trim() {
            "" => field!("call_description", LocalizedText::sv(self.description.trim())),
            en => field!("call_description", LocalizedText::sv_en(self.description.trim(), en)),
        };
        let mut themes = Vec::new();
        for line in lines(&self.themes) {
            if let Some(t) = field!("themes", Theme::parse(line)) {
                themes.push(t);
            }
        }
        let capacity =
            self.capacity.trim().parse::<u32>().map_err(|_| errors.push(lang.t("capacity_invalid").to_owned())).ok();
        let budget = Sek::parse(&self.budget).map_err(|e| errors.push(say(lang.t("budget"), e))).ok();
        let ceiling = match self.ceiling.trim() {
            "" => Some(None),
            c => Sek::parse(c).map(Some).map_err(|e| errors.push(say(lang.t("ceiling"), e))).ok(),
        };
        let scale = match (self.scale_min.trim().parse::<u8>(), self.scale_max.trim().parse::<u8>()) {
            (Ok(min), Ok(max)) => ScoreScale::new(min, max).map_err(|e| errors.push(say(lang.t("scale"), e))).ok(),
            _ => {
                errors.push(lang.t("scale_invalid").to_owned());
                None
            }
        };
        let mut instant = |key: &str, value: &str| {
            let t = parse_local(value);
            if t.is_none() {
                errors.push(format!("{}: {}", lang.t(key), lang.t("time_invalid")));
            }
            t
        };
        let opens_at = instant("opens", &self.opens_at);
        let closes_at = instant("closes", &self.closes_at);
        let panel_at = instant("panel_day", &self.panel_at);
        let plan_deadline = instant("plan_deadline", &self.plan_deadline);
        let decision_meeting_at = instant("decision_meeting", &self.decision_meeting_at);

        let mut seminars = Vec::new();
        for (n, line) in lines(&self.seminars).enumerate() {
            let cols: Vec<&str> = line.split('|').map(str::trim).collect();
            let id = SeminarId(n as u16 + 1);
            let parsed = match cols.as_slice() {
                [start, end, title, location] => parse_local(start)
                    .zip(parse_local(end))
                    .zip(LocalizedText::sv(title).ok())
                    .map(|((s, e), t)| (s, e, t, (*location).to_owned())),
                _ => None,
            };
            match parsed {
                Some((starts_at, ends_at, mut title, location)) => {
                    keep_english(
                        &mut title,
                        previous.and_then(|p| p.timeline.seminars.iter().find(|s| s.id == id)).map(|s| &s.title),
                    );
                    seminars.push(Seminar { id, title, starts_at, ends_at, location });
                }
                None => {
                    errors.push(format!("{} {}: {line:?} – {}", lang.t("seminar"), n + 1, lang.t("seminar_line_help")))
                }
            }
        }
        let mut template = Vec::new();
        for line in lines(&self.sections) {
            let cols: Vec<&str> = line.split('|').map(str::trim).collect();
            let parsed = match cols.as_slice() {
                [key, title, kind, rest @ ..] if rest.len() <= 1 => SectionKey::parse(key)
                    .ok()
                    .zip(LocalizedText::sv(title).ok())
                    .zip(match kind.to_lowercase().as_str() {
                        "obligatorisk" | "mandatory" | "ja" | "yes" => Some(true),
                        "valfri" | "optional" | "nej" | "no" => Some(false),
                        _ => None,
                    })
                    .map(|((k, t), m)| (k, t, m, rest.first().and_then(|g| LocalizedText::sv(g).ok()))),
                _ => None,
            };
            match parsed {
                Some((key, mut title, mandatory, mut guidance)) => {
                    let old = previous.and_then(|p| p.template.iter().find(|s| s.key == key));
                    keep_english(&mut title, old.map(|s| &s.title));
                    if let Some(g) = guidance.as_mut() {
                        keep_english(g, old.and_then(|s| s.guidance.as_ref()));
                    }
                    template.push(TemplateSection { key, title, guidance, mandatory });
                }
                None => errors.push(format!("{}: {line:?} – {}", lang.t("template"), lang.t("section_line_help"))),
            }
        }
        let mut criteria = Vec::new();
        for line in lines(&self.criteria) {
            let parsed = line
                .split_once('|')
                .and_then(|(k, n)| CriterionKey::parse(k.trim()).ok().zip(LocalizedText::sv(n.trim()).ok()));
            match parsed {
                Some((key, mut name)) => {
                    keep_english(
                        &mut name,
                        previous.and_then(|p| p.criteria.iter().find(|c| c.key == key)).map(|c| &c.name),
                    );
                    criteria.push(Criterion { key, name });
                }
                None => errors.push(format!("{}: {line:?} – {}", lang.t("criteria"), lang.t("criterion_line_help"))),
            }
        }
        let sector_group = self.sector_group.trim().parse().ok();
        if sector_group.is_none() {
            errors.push(lang.t("sector_group_missing").to_owned());
        }
        let (
            Some(title),
            Some(title_en),
            Some(description),
            Some(capacity),
            Some(budget),
            Some(ceiling),
            Some(scale),
            Some(opens_at),
            Some(closes_at),
            Some(panel_at),
            Some(plan_deadline),
            Some(decision_meeting_at),
            Some(sector_group),
            true,
        ) = (
            title,
            title_en,
            description,
            capacity,
            budget,
            ceiling,
            scale,
            opens_at,
            closes_at,
            panel_at,
            plan_deadline,
            decision_meeting_at,
            sector_group,
            errors.is_empty(),
        )
        else {
            return Err(errors);
        };
        let definition = CallDefinition {
            title,
            title_en,
            description,
            sector_group,
            themes,
            timeline: Timeline { opens_at, closes_at, seminars, panel_at, plan_deadline, decision_meeting_at },
            capacity,
            budget,
            ceiling,
            criteria,
            scale,
            template,
        };
        let problems = definition.problems();
        if problems.is_empty() { Ok(definition) } else { Err(problems.iter().map(|p| p.message(lang.0)).collect()) }
    }
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty())
}

/// Keeps the English of `old` when the Swedish text did not change.
fn keep_english(text: &mut LocalizedText, old: Option<&LocalizedText>) {
    if let Some(old) = old
        && old.sv == text.sv
    {
        text.en.clone_from(&old.en);
    }
}

#[derive(Debug, Serialize)]
struct Choice {
    id: String,
    name: String,
}

async fn render_form(
    state: &WebState,
    lang: Lang,
    user: &User,
    form: &CallForm,
    action: &str,
    errors: Vec<String>,
) -> Response {
    let groups: Vec<Choice> = match state.db.sector_groups().await {
        Ok(g) => g.into_iter().map(|g| Choice { id: g.id.to_string(), name: g.name.to_string() }).collect(),
        Err(e) => return unavailable(lang, "could not list sector groups", e),
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Page {
        template: "call_form.html",
        lang,
        user: Some(user),
        path: action,
        title: lang.t(if form.version.is_some() { "edit_call" } else { "new_call" }).to_owned(),
        data: minijinja::context! { form => form, groups => groups, action => action, errors => errors },
    }
    .render_with(status)
}

#[derive(Debug, Deserialize)]
pub(super) struct From {
    fran: Option<String>,
}

async fn new_call(
    State(state): State<WebState>,
    lang: Lang,
    ProcessLeader(user): ProcessLeader,
    Query(q): Query<From>,
) -> Response {
    let form = match q.fran.as_deref() {
        Some(id) => match load_call(&state, id).await {
            Ok(Some((call, _))) => CallForm { fran: call.id.to_string(), ..CallForm::next_year(&call.definition) },
            Ok(None) => CallForm::default(),
            Err(e) => return unavailable(lang, "could not load a call", e),
        },
        None => CallForm {
            scale_min: "1".into(),
            scale_max: "5".into(),
            form_key: Uuid::new_v4().to_string(),
            ..CallForm::default()
        },
    };
    render_form(&state, lang, &user, &form, "/admin/utlysningar/ny", Vec::new()).await
}

async fn create_call(
    State(state): State<WebState>,
    lang: Lang,
    session: Session,
    ProcessLeader(user): ProcessLeader,
    Form(form): Form<CallForm>,
) -> Response {
    let source = match load_call(&state, &form.fran).await {
        Ok(source) => source.map(|(call, _)| call.definition),
        Err(e) => return unavailable(lang, "could not load a call", e),
    };
    let definition = match form.definition(lang, source.as_ref()) {
        Ok(d) => d,
        Err(errors) => return render_form(&state, lang, &user, &form, "/admin/utlysningar/ny", errors).await,
    };
    // The call's id comes from the form's key: sending it twice makes one call.
    let key =
        if form.form_key.trim().is_empty() { Uuid::new_v4().to_string() } else { form.form_key.trim().to_owned() };
    let id = CallId::from_uuid(super::derived_id("call", &key));
    run(
        &state,
        lang,
        &session,
        &user,
        &form,
        "/admin/utlysningar/ny",
        id,
        CallCommand::Create { id, definition: Box::new(definition) },
        &key,
    )
    .await
}

async fn edit_call(
    State(state): State<WebState>,
    lang: Lang,
    session: Session,
    ProcessLeader(user): ProcessLeader,
    Path(id): Path<String>,
) -> Response {
    match load_call(&state, &id).await {
        Ok(Some((call, version))) if call.phase == mops_core::CallPhase::Draft => {
            let form = CallForm::from_definition(&call.definition, Some(version));
            render_form(&state, lang, &user, &form, &format!("/admin/utlysningar/{}/andra", call.id), Vec::new()).await
        }
        Ok(Some(_)) => {
            flash(&session, "error", lang.t("call_not_draft").to_owned()).await;
            Redirect::to("/admin").into_response()
        }
        Ok(None) => not_found_for(lang, Some(&user)),
        Err(e) => unavailable(lang, "could not load a call", e),
    }
}

async fn save_call(
    State(state): State<WebState>,
    lang: Lang,
    session: Session,
    ProcessLeader(user): ProcessLeader,
    Path(id): Path<String>,
    Form(form): Form<CallForm>,
) -> Response {
    let (call, _) = match load_call(&state, &id).await {
        Ok(Some(c)) => c,
        Ok(None) => return not_found_for(lang, Some(&user)),
        Err(e) => return unavailable(lang, "could not load a call", e),
    };
    let action = format!("/admin/utlysningar/{}/andra", call.id);
    let definition = match form.definition(lang, Some(&call.definition)) {
        Ok(d) => d,
        Err(errors) => return render_form(&state, lang, &user, &form, &action, errors).await,
    };
    let key = form.form_key.clone();
    run(
        &state,
        lang,
        &session,
        &user,
        &form,
        &action,
        call.id,
        CallCommand::Edit { definition: Box::new(definition) },
        &key,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn run(
    state: &WebState,
    lang: Lang,
    session: &Session,
    user: &User,
    form: &CallForm,
    action: &str,
    call: CallId,
    command: CallCommand,
    key: &str,
) -> Response {
    let actor = user.actor();
    let request = CallRequest {
        call,
        command: &command,
        actor: &actor,
        now: Utc::now(),
        expected_version: form.version,
        idempotency_key: (!key.is_empty()).then_some(key),
    };
    match state.db.execute_call(request).await {
        Ok(_) => {
            flash(session, "ok", lang.t("call_saved").to_owned()).await;
            Redirect::to("/admin").into_response()
        }
        Err(StoreError::Rejected(e)) => render_form(state, lang, user, form, action, vec![e.message(lang.0)]).await,
        Err(StoreError::Conflict { .. }) => {
            render_form(state, lang, user, form, action, vec![lang.t("stale_call").to_owned()]).await
        }
        Err(e) => unavailable(lang, "could not save a call", e),
    }
}

// ---------------------------------------------------------------------------
// People and roles

#[derive(Debug, Deserialize)]
pub(super) struct PersonForm {
    name: String,
    email: String,
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    password: String,
}

async fn add_person(
    State(state): State<WebState>,
    lang: Lang,
    session: Session,
    ProcessLeader(user): ProcessLeader,
    Form(form): Form<PersonForm>,
) -> Response {
    let sv = lang.0 == Language::Sv;
    let say = |e: ParseError| if sv { e.message_sv() } else { e.to_string() };
    let parsed = (|| -> Result<NewUser, String> {
        let password = match form.password.trim() {
            "" => None,
            p => Some(Password::new(p).map_err(|e| e.message(lang.0))?),
        };
        Ok(NewUser {
            id: PersonId::from_uuid(Uuid::new_v4()),
            email: Email::parse(form.email.trim()).map_err(say)?,
            name: PersonName::parse(form.name.trim()).map_err(say)?,
            organisation: form.organisation.trim().parse().ok(),
            language: if form.language == "en" { Language::En } else { Language::Sv },
            password,
        })
    })();
    match parsed {
        Err(problem) => flash(&session, "error", problem).await,
        Ok(new) => match state.db.add_user(new, ChangedBy::User(user.id)).await {
            Ok(added) => flash(&session, "ok", format!("{} {}", lang.t("person_added"), added.email)).await,
            Err(e) if e.is_user_error() => flash(&session, "error", e.message(lang.0)).await,
            Err(e) => return unavailable(lang, "could not add a person", e),
        },
    }
    Redirect::to("/admin#people-heading").into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct RoleForm {
    person: String,
    role: String,
    #[serde(default)]
    scope: String,
}

fn role_from(form: &RoleForm) -> Result<(PersonId, mops_core::Role), crate::people::PeopleError> {
    let person = form
        .person
        .trim()
        .parse()
        .map_err(|_| crate::people::PeopleError::Internal("the form named no person".into()))?;
    let kind = RoleKind::parse(&form.role)?;
    let scope = match form.scope.trim() {
        "" => None,
        s => s.split_once(':').map_or(s, |(_, id)| id).parse::<Uuid>().ok(),
    };
    // A scope the role does not take (the same select serves all roles) is dropped.
    let scope = match kind {
        RoleKind::SectorGroup | RoleKind::Panel => scope,
        RoleKind::ProcessLeader | RoleKind::Board => None,
    };
    Ok((person, kind.with_scope(scope)?))
}

async fn grant_role(
    State(state): State<WebState>,
    lang: Lang,
    session: Session,
    ProcessLeader(user): ProcessLeader,
    Form(form): Form<RoleForm>,
) -> Response {
    match role_from(&form) {
        Err(e) => flash(&session, "error", e.message(lang.0)).await,
        Ok((person, role)) => match state.db.grant_role(person, role, ChangedBy::User(user.id)).await {
            Ok(true) => flash(&session, "ok", lang.t("role_granted").to_owned()).await,
            Ok(false) => flash(&session, "ok", lang.t("role_already").to_owned()).await,
            Err(e) if e.is_user_error() => flash(&session, "error", e.message(lang.0)).await,
            Err(e) => return unavailable(lang, "could not grant a role", e),
        },
    }
    Redirect::to("/admin#people-heading").into_response()
}

async fn revoke_role(
    State(state): State<WebState>,
    lang: Lang,
    session: Session,
    ProcessLeader(user): ProcessLeader,
    Form(form): Form<RoleForm>,
) -> Response {
    match role_from(&form) {
        Err(e) => flash(&session, "error", e.message(lang.0)).await,
        Ok((person, role)) => match state.db.revoke_role(person, role, ChangedBy::User(user.id)).await {
            Ok(()) => flash(&session, "ok", lang.t("role_revoked").to_owned()).await,
            Err(e) if e.is_user_error() => flash(&session, "error", e.message(lang.0)).await,
            Err(e) => return unavailable(lang, "could not revoke a role", e),
        },
    }
    Redirect::to("/admin#people-heading").into_response()
}

/// Disables (`stang-av`) or enables (`aktivera`) a person's account. A
/// process leader cannot disable their own: nobody might be left to enable it.
async fn set_disabled(
    State(state): State<WebState>,
    lang: Lang,
    session: Session,
    ProcessLeader(user): ProcessLeader,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let disable = match action.as_str() {
        "stang-av" => true,
        "aktivera" => false,
        _ => return not_found_for(lang, Some(&user)),
    };
    let Ok(person) = id.trim().parse::<Uuid>().map(PersonId::from_uuid) else {
        return not_found_for(lang, Some(&user));
    };
    let by = ChangedBy::User(user.id);
    let done = if disable && person == user.id {
        flash(&session, "error", lang.t("disable_self").to_owned()).await;
        return Redirect::to("/admin#people-heading").into_response();
    } else if disable {
        state.db.disable_user(person, by).await
    } else {
        state.db.enable_user(person, by).await
    };
    match done {
        Ok(true) => {
            let key = if disable { "person_disabled" } else { "person_enabled" };
            flash(&session, "ok", lang.t(key).to_owned()).await
        }
        Ok(false) => flash(&session, "ok", lang.t("nothing_changed").to_owned()).await,
        Err(e) if e.is_user_error() => flash(&session, "error", e.message(lang.0)).await,
        Err(e) => return unavailable(lang, "could not disable or enable a person", e),
    }
    Redirect::to("/admin#people-heading").into_response()
}

/// The people table's data for the process leader's page.
#[derive(Debug, Serialize)]
pub(super) struct PersonRow {
    id: String,
    name: String,
    email: String,
    roles: Vec<RoleRow>,
    disabled: bool,
}

#[derive(Debug, Serialize)]
pub(super) struct RoleRow {
    label: String,
    kind: &'static str,
    scope: String,
}

pub(super) fn person_rows(users: &[User], lang: Lang, names: &BTreeMap<String, String>) -> Vec<PersonRow> {
    users
        .iter()
        .map(|u| PersonRow {
            id: u.id.to_string(),
            name: u.name.to_string(),
            email: u.email.to_string(),
            roles: u
                .roles
                .iter()
                .map(|r| {
                    let kind = RoleKind::of(r);
                    let scope = match r {
                        mops_core::Role::SectorGroupMember { group } => group.to_string(),
                        mops_core::Role::PanelMember { call } => call.to_string(),
                        _ => String::new(),
                    };
                    let label = match names.get(&scope) {
                        Some(name) => format!("{} ({name})", kind.label(lang.0)),
                        None => kind.label(lang.0).to_owned(),
                    };
                    RoleRow { label, kind: kind.name(), scope }
                })
                .collect(),
            disabled: u.disabled,
        })
        .collect()
}

// ---------------------------------------------------------------------------
// API tokens for integrations

#[derive(Debug, Deserialize)]
pub(super) struct TokenForm {
    person: String,
    name: String,
}

/// Makes a token for a user and shows its secret, once: only its SHA-256
/// is stored.
async fn create_token(
    State(state): State<WebState>,
    lang: Lang,
    session: Session,
    ProcessLeader(user): ProcessLeader,
    Form(form): Form<TokenForm>,
) -> Response {
    let Ok(person) = form.person.trim().parse::<PersonId>() else {
        flash(&session, "error", lang.t("token_person_missing").to_owned()).await;
        return Redirect::to("/admin#tokens-heading").into_response();
    };
    match state.db.create_token(person, form.name.trim(), ChangedBy::User(user.id)).await {
        Ok((_, secret)) => Page {
            template: "token_created.html",
            lang,
            user: Some(&user),
            path: "/admin",
            title: lang.t("token_created_title").to_owned(),
            data: minijinja::context! { secret => secret, name => form.name.trim() },
        }
        .render(),
        Err(e) if e.is_user_error() => {
            flash(&session, "error", e.message(lang.0)).await;
            Redirect::to("/admin#tokens-heading").into_response()
        }
        Err(e) => unavailable(lang, "could not create a token", e),
    }
}

async fn revoke_token(
    State(state): State<WebState>,
    lang: Lang,
    session: Session,
    ProcessLeader(user): ProcessLeader,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.trim().parse::<crate::people::TokenId>() else { return not_found_for(lang, Some(&user)) };
    match state.db.revoke_token(id, ChangedBy::User(user.id)).await {
        Ok(_) => flash(&session, "ok", lang.t("token_revoked").to_owned()).await,
        Err(e) if e.is_user_error() => flash(&session, "error", e.message(lang.0)).await,
        Err(e) => return unavailable(lang, "could not revoke a token", e),
    }
    Redirect::to("/admin#tokens-heading").into_response()
}

/// The tokens table's rows: never a secret.
#[derive(Debug, Serialize)]
pub(super) struct TokenRow {
    id: String,
    name: String,
    email: String,
    created_at: String,
    last_used_at: Option<String>,
    revoked: bool,
}

pub(super) fn token_rows(tokens: &[crate::people::ApiToken]) -> Vec<TokenRow> {
    tokens
        .iter()
        .map(|t| TokenRow {
            id: t.id.to_string(),
            name: t.name.clone(),
            email: t.email.to_string(),
            created_at: t.created_at.to_rfc3339(),
            last_used_at: t.last_used_at.map(|t| t.to_rfc3339()),
            revoked: t.revoked_at.is_some(),
        })
        .collect()
}
