//! The process leader's tools: a call's definition (timeline, seminars,
//! template, criteria, capacity and budget), made new or from last year's
//! call, and edited while it is a draft; people and their roles.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::Stockholm;
use mops_core::DefinitionProblem;
use mops_core::call::{CallCommand, CallDefinition, Criterion, Seminar, SeminarId, TemplateSection, Timeline};
use mops_core::domain::{
    CallId, CriterionKey, Email, FreeText, Language, LocalizedText, ParseError, PersonId, PersonName, ScoreScale,
    SectionKey, Sek, Theme, Title,
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
/// back with the errors. Sections, seminars and criteria are rows of their
/// own fields, posted with their index in the name (`section_0_key`,
/// `seminar_1_title_en`, `criterion_2_name`), so an unchecked checkbox,
/// which the browser does not send, cannot shift a row.
#[derive(Debug, Default, Clone, Serialize)]
pub(super) struct CallForm {
    title: String,
    title_en: String,
    description: String,
    description_en: String,
    sector_group: String,
    themes: String,
    opens_at: String,
    closes_at: String,
    panel_at: String,
    plan_deadline: String,
    decision_meeting_at: String,
    seminars: Vec<SeminarRow>,
    capacity: String,
    budget: String,
    ceiling: String,
    criteria: Vec<CriterionRow>,
    scale_min: String,
    scale_max: String,
    sections: Vec<SectionRow>,
    version: Option<i64>,
    form_key: String,
}

/// A section of the plan template as typed.
#[derive(Debug, Default, Clone, Serialize)]
struct SectionRow {
    key: String,
    title: String,
    title_en: String,
    guidance: String,
    guidance_en: String,
    mandatory: bool,
    remove: bool,
}

/// A seminar as typed.
#[derive(Debug, Default, Clone, Serialize)]
struct SeminarRow {
    starts_at: String,
    ends_at: String,
    title: String,
    title_en: String,
    location: String,
    remove: bool,
}

/// An assessment criterion as typed.
#[derive(Debug, Default, Clone, Serialize)]
struct CriterionRow {
    key: String,
    name: String,
    name_en: String,
    remove: bool,
}

/// One row of the form: its fields by name, and whether it is blank.
trait Row: Default {
    /// The prefix of its field names (`section` in `section_0_key`), and
    /// the text key of its name on the page ("Avsnitt").
    const KIND: &'static str;
    fn set(&mut self, field: &str, value: String);
    /// Whether nothing is typed in it (its checkboxes do not count).
    fn is_blank(&self) -> bool;
    fn removed(&self) -> bool;
    /// Whether the row becomes part of the call.
    fn counts(&self) -> bool {
        !self.removed() && !self.is_blank()
    }
}

fn blank(values: &[&str]) -> bool {
    values.iter().all(|v| v.trim().is_empty())
}

impl Row for SectionRow {
    const KIND: &'static str = "section";
    fn set(&mut self, field: &str, value: String) {
        match field {
            "key" => self.key = value,
            "title" => self.title = value,
            "title_en" => self.title_en = value,
            "guidance" => self.guidance = value,
            "guidance_en" => self.guidance_en = value,
            "mandatory" => self.mandatory = true,
            "remove" => self.remove = true,
            _ => {}
        }
    }
    fn is_blank(&self) -> bool {
        blank(&[&self.key, &self.title, &self.title_en, &self.guidance, &self.guidance_en])
    }
    fn removed(&self) -> bool {
        self.remove
    }
}

impl Row for SeminarRow {
    const KIND: &'static str = "seminar";
    fn set(&mut self, field: &str, value: String) {
        match field {
            "starts_at" => self.starts_at = value,
            "ends_at" => self.ends_at = value,
            "title" => self.title = value,
            "title_en" => self.title_en = value,
            "location" => self.location = value,
            "remove" => self.remove = true,
            _ => {}
        }
    }
    fn is_blank(&self) -> bool {
        blank(&[&self.starts_at, &self.ends_at, &self.title, &self.title_en, &self.location])
    }
    fn removed(&self) -> bool {
        self.remove
    }
}

impl Row for CriterionRow {
    const KIND: &'static str = "criterion";
    fn set(&mut self, field: &str, value: String) {
        match field {
            "key" => self.key = value,
            "name" => self.name = value,
            "name_en" => self.name_en = value,
            "remove" => self.remove = true,
            _ => {}
        }
    }
    fn is_blank(&self) -> bool {
        blank(&[&self.key, &self.name, &self.name_en])
    }
    fn removed(&self) -> bool {
        self.remove
    }
}

/// How many empty rows of each kind the page offers to fill in.
const EMPTY_ROWS: usize = 2;

/// Pads `rows` with empty ones until the last [`EMPTY_ROWS`] are empty.
fn pad<R: Row>(rows: &mut Vec<R>) {
    let empty = rows.iter().rev().take_while(|r| r.is_blank() && !r.removed()).count();
    rows.extend((empty..EMPTY_ROWS).map(|_| R::default()));
}

/// `section_2_title_en` → (`section`, 2, `title_en`).
fn row_field(name: &str) -> Option<(&str, usize, &str)> {
    let (kind, rest) = name.split_once('_')?;
    let (index, field) = rest.split_once('_')?;
    Some((kind, index.parse().ok()?, field))
}

/// What is wrong with a posted form: the messages in the page's language,
/// each with the field it is about, if any (the summary links to it), and
/// the names of those fields (shown `aria-invalid`).
#[derive(Debug, Default)]
struct FormErrors {
    messages: Vec<FormError>,
    fields: BTreeSet<String>,
}

#[derive(Debug, Serialize)]
struct FormError {
    text: String,
    field: Option<String>,
}

impl FormErrors {
    fn field(&mut self, name: &str, text: String) {
        self.fields.insert(name.to_owned());
        self.messages.push(FormError { text, field: Some(name.to_owned()) });
    }

    fn form(&mut self, text: String) {
        self.messages.push(FormError { text, field: None });
    }

    fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

impl std::convert::From<String> for FormErrors {
    fn from(text: String) -> Self {
        let mut errors = Self::default();
        errors.form(text);
        errors
    }
}

/// "Rubrik på engelska" → "rubrik på engelska", for a field named inside a
/// sentence.
fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

/// The problems of one row, each naming the row and the field:
/// "Avsnitt 2, nyckel: …".
struct RowCheck<'a> {
    errors: &'a mut FormErrors,
    lang: Lang,
    kind: &'static str,
    index: usize,
}

impl RowCheck<'_> {
    fn fail(&mut self, field: &str, label: &str, message: &str) {
        let lang = self.lang;
        let text = format!("{} {}, {}: {message}", lang.t(self.kind), self.index + 1, lower_first(lang.t(label)));
        self.errors.field(&format!("{}_{}_{field}", self.kind, self.index), text);
    }

    fn parse_error(&self, e: &ParseError) -> String {
        if self.lang.0 == Language::Sv { e.message_sv() } else { e.to_string() }
    }

    fn key<K>(&mut self, value: &str, parse: impl Fn(&str) -> Result<K, ParseError>) -> Option<K> {
        match value.trim() {
            "" => {
                self.fail("key", "row_key", self.lang.t("field_required"));
                None
            }
            v => parse(v).map_err(|e| self.fail("key", "row_key", &self.parse_error(&e))).ok(),
        }
    }

    /// A Swedish text and its optional English, from two fields: `None`
    /// when either is wrong; `Some(None)` when both are empty and the text
    /// is optional.
    fn text(
        &mut self,
        (field, label, sv): (&str, &str, &str),
        (field_en, label_en, en): (&str, &str, &str),
        required: bool,
    ) -> Option<Option<LocalizedText>> {
        let (sv, en) = (sv.trim(), en.trim());
        if sv.is_empty() {
            match (required, en.is_empty()) {
                (true, _) => self.fail(field, label, self.lang.t("field_required")),
                (false, false) => self.fail(field, label, self.lang.t("needs_swedish")),
                (false, true) => return Some(None),
            }
            return None;
        }
        let sv = FreeText::parse(sv).map_err(|e| self.fail(field, label, &self.parse_error(&e))).ok();
        let en = match en {
            "" => Some(None),
            en => FreeText::parse(en).map(Some).map_err(|e| self.fail(field_en, label_en, &self.parse_error(&e))).ok(),
        };
        Some(Some(LocalizedText { sv: sv?, en: en? }))
    }

    fn instant(&mut self, field: &str, label: &str, value: &str) -> Option<DateTime<Utc>> {
        let t = parse_local(value);
        if t.is_none() {
            let message = if value.trim().is_empty() { "field_required" } else { "time_invalid" };
            self.fail(field, label, self.lang.t(message));
        }
        t
    }
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

fn english(text: &LocalizedText) -> String {
    text.en.as_ref().map(ToString::to_string).unwrap_or_default()
}

impl CallForm {
    /// The form as posted. Fields it does not know are ignored; rows come
    /// in the order of their index.
    fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, String> {
        let mut form = Self::default();
        let mut sections = BTreeMap::<usize, SectionRow>::new();
        let mut seminars = BTreeMap::<usize, SeminarRow>::new();
        let mut criteria = BTreeMap::<usize, CriterionRow>::new();
        for (name, value) in pairs {
            match row_field(&name) {
                Some((SectionRow::KIND, i, field)) => sections.entry(i).or_default().set(field, value),
                Some((SeminarRow::KIND, i, field)) => seminars.entry(i).or_default().set(field, value),
                Some((CriterionRow::KIND, i, field)) => criteria.entry(i).or_default().set(field, value),
                _ => {
                    let slot = match name.as_str() {
                        "title" => &mut form.title,
                        "title_en" => &mut form.title_en,
                        "description" => &mut form.description,
                        "description_en" => &mut form.description_en,
                        "sector_group" => &mut form.sector_group,
                        "themes" => &mut form.themes,
                        "opens_at" => &mut form.opens_at,
                        "closes_at" => &mut form.closes_at,
                        "panel_at" => &mut form.panel_at,
                        "plan_deadline" => &mut form.plan_deadline,
                        "decision_meeting_at" => &mut form.decision_meeting_at,
                        "capacity" => &mut form.capacity,
                        "budget" => &mut form.budget,
                        "ceiling" => &mut form.ceiling,
                        "scale_min" => &mut form.scale_min,
                        "scale_max" => &mut form.scale_max,
                        "form_key" => &mut form.form_key,
                        "version" => {
                            form.version = Some(value.trim().parse().map_err(|_| format!("version {value:?}"))?);
                            continue;
                        }
                        _ => continue,
                    };
                    *slot = value;
                }
            }
        }
        form.sections = sections.into_values().collect();
        form.seminars = seminars.into_values().collect();
        form.criteria = criteria.into_values().collect();
        Ok(form)
    }

    fn from_definition(d: &CallDefinition, version: Option<i64>) -> Self {
        let t = &d.timeline;
        Self {
            title: d.title.to_string(),
            title_en: d.title_en.as_ref().map(ToString::to_string).unwrap_or_default(),
            description: d.description.sv.to_string(),
            description_en: english(&d.description),
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
                .map(|s| SeminarRow {
                    starts_at: local(s.starts_at),
                    ends_at: local(s.ends_at),
                    title: s.title.sv.to_string(),
                    title_en: english(&s.title),
                    location: s.location.clone(),
                    remove: false,
                })
                .collect(),
            capacity: d.capacity.to_string(),
            budget: kronor(d.budget),
            ceiling: d.ceiling.map(kronor).unwrap_or_default(),
            criteria: d
                .criteria
                .iter()
                .map(|c| CriterionRow {
                    key: c.key.to_string(),
                    name: c.name.sv.to_string(),
                    name_en: english(&c.name),
                    remove: false,
                })
                .collect(),
            scale_min: d.scale.min().to_string(),
            scale_max: d.scale.max().to_string(),
            sections: d
                .template
                .iter()
                .map(|s| SectionRow {
                    key: s.key.to_string(),
                    title: s.title.sv.to_string(),
                    title_en: english(&s.title),
                    guidance: s.guidance.as_ref().map(|g| g.sv.to_string()).unwrap_or_default(),
                    guidance_en: s.guidance.as_ref().map(english).unwrap_or_default(),
                    mandatory: s.mandatory,
                    remove: false,
                })
                .collect(),
            version,
            form_key: Uuid::new_v4().to_string(),
        }
    }

    /// Last year's call as the start of this year's: the same texts, in
    /// both languages, template and criteria, every date a year later.
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

    /// The form with empty rows to fill in after the filled ones.
    fn with_empty_rows(&self) -> Self {
        let mut form = self.clone();
        pad(&mut form.sections);
        pad(&mut form.seminars);
        pad(&mut form.criteria);
        form
    }

    fn row<'a, R: Row>(errors: &'a mut FormErrors, lang: Lang, index: usize) -> RowCheck<'a> {
        RowCheck { errors, lang, kind: R::KIND, index }
    }

    /// The template's sections, in row order; a blank or removed row is
    /// left out. A key used twice is named at its second row.
    fn template(&self, lang: Lang, errors: &mut FormErrors) -> Vec<TemplateSection> {
        let mut template = Vec::new();
        let mut first = BTreeMap::new();
        for (i, s) in self.sections.iter().enumerate().filter(|(_, s)| s.counts()) {
            let mut row = Self::row::<SectionRow>(errors, lang, i);
            let key = row.key(&s.key, SectionKey::parse);
            if let Some(k) = &key
                && let Some(earlier) = first.insert(k.to_string(), i)
            {
                let message = format!("{} {} {}", lang.t("duplicate_key"), lower_first(lang.t("section")), earlier + 1);
                row.fail("key", "row_key", &message);
            }
            let title =
                row.text(("title", "row_title", &s.title), ("title_en", "row_title_en", &s.title_en), true).flatten();
            let guidance = row.text(
                ("guidance", "row_guidance", &s.guidance),
                ("guidance_en", "row_guidance_en", &s.guidance_en),
                false,
            );
            if let (Some(key), Some(title), Some(guidance)) = (key, title, guidance) {
                template.push(TemplateSection { key, title, guidance, mandatory: s.mandatory });
            }
        }
        template
    }

    /// The seminars, in row order, numbered from 1 as they are kept, and
    /// the row of each (for naming the row in the core's problems).
    fn seminars(&self, lang: Lang, errors: &mut FormErrors) -> (Vec<Seminar>, Vec<usize>) {
        let mut seminars = Vec::new();
        let mut rows = Vec::new();
        for (i, s) in self.seminars.iter().enumerate().filter(|(_, s)| s.counts()) {
            rows.push(i);
            let id = SeminarId(rows.len() as u16);
            let mut row = Self::row::<SeminarRow>(errors, lang, i);
            let starts_at = row.instant("starts_at", "row_starts", &s.starts_at);
            let ends_at = row.instant("ends_at", "row_ends", &s.ends_at);
            let title =
                row.text(("title", "row_title", &s.title), ("title_en", "row_title_en", &s.title_en), true).flatten();
            let location = s.location.trim();
            if location.is_empty() {
                row.fail("location", "row_location", lang.t("field_required"));
            }
            if let (Some(starts_at), Some(ends_at), Some(title), false) =
                (starts_at, ends_at, title, location.is_empty())
            {
                seminars.push(Seminar { id, title, starts_at, ends_at, location: location.to_owned() });
            }
        }
        (seminars, rows)
    }

    /// The assessment criteria, in row order.
    fn criteria(&self, lang: Lang, errors: &mut FormErrors) -> Vec<Criterion> {
        let mut criteria = Vec::new();
        let mut first = BTreeMap::new();
        for (i, c) in self.criteria.iter().enumerate().filter(|(_, c)| c.counts()) {
            let mut row = Self::row::<CriterionRow>(errors, lang, i);
            let key = row.key(&c.key, CriterionKey::parse);
            if let Some(k) = &key
                && let Some(earlier) = first.insert(k.to_string(), i)
            {
                let message =
                    format!("{} {} {}", lang.t("duplicate_key"), lower_first(lang.t("criterion")), earlier + 1);
                row.fail("key", "row_key", &message);
            }
            let name = row.text(("name", "row_name", &c.name), ("name_en", "row_name_en", &c.name_en), true).flatten();
            if let (Some(key), Some(name)) = (key, name) {
                criteria.push(Criterion { key, name });
            }
        }
        criteria
    }

    /// The definition this form describes, or every problem with it, in
    /// the page's language, each naming its field (and row).
    fn definition(&self, lang: Lang) -> Result<CallDefinition, FormErrors> {
        let sv = lang.0 == Language::Sv;
        let mut errors = FormErrors::default();
        let say = |label: &str, e: ParseError| {
            format!("{}: {}", lang.t(label), if sv { e.message_sv() } else { e.to_string() })
        };
        macro_rules! field {
            ($input:expr, $label:expr, $r:expr) => {
                $r.map_err(|e| errors.field($input, say($label, e))).ok()
            };
        }
        let title = field!("title", "call_title", Title::parse(self.title.trim()));
        let title_en = match self.title_en.trim() {
            "" => Some(None),
            t => field!("title_en", "call_title_en", Title::parse(t)).map(Some),
        };
        let description = match self.description_en.trim() {
            "" => field!("description", "call_description", LocalizedText::sv(self.description.trim())),
            en => field!("description", "call_description", LocalizedText::sv_en(self.description.trim(), en)),
        };
        let mut themes = Vec::new();
        for line in self.themes.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(t) = field!("themes", "themes", Theme::parse(line)) {
                themes.push(t);
            }
        }
        let capacity = self
            .capacity
            .trim()
            .parse::<u32>()
            .map_err(|_| errors.field("capacity", lang.t("capacity_invalid").to_owned()))
            .ok();
        let budget = field!("budget", "budget", Sek::parse(&self.budget));
        let ceiling = match self.ceiling.trim() {
            "" => Some(None),
            c => field!("ceiling", "ceiling", Sek::parse(c)).map(Some),
        };
        let scale = match (self.scale_min.trim().parse::<u8>(), self.scale_max.trim().parse::<u8>()) {
            (Ok(min), Ok(max)) => field!("scale_min", "scale", ScoreScale::new(min, max)),
            _ => {
                errors.field("scale_min", lang.t("scale_invalid").to_owned());
                None
            }
        };
        macro_rules! instant {
            ($input:expr, $label:expr, $value:expr) => {{
                let t = parse_local($value);
                if t.is_none() {
                    errors.field($input, format!("{}: {}", lang.t($label), lang.t("time_invalid")));
                }
                t
            }};
        }
        let opens_at = instant!("opens_at", "opens", &self.opens_at);
        let closes_at = instant!("closes_at", "closes", &self.closes_at);
        let panel_at = instant!("panel_at", "panel_day", &self.panel_at);
        let plan_deadline = instant!("plan_deadline", "plan_deadline", &self.plan_deadline);
        let decision_meeting_at = instant!("decision_meeting_at", "decision_meeting", &self.decision_meeting_at);
        let (seminars, seminar_rows) = self.seminars(lang, &mut errors);
        let template = self.template(lang, &mut errors);
        let criteria = self.criteria(lang, &mut errors);
        let sector_group = self.sector_group.trim().parse().ok();
        if sector_group.is_none() {
            errors.field("sector_group", lang.t("sector_group_missing").to_owned());
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
        // The core's problems, each at the field it is about. A seminar's is
        // told at its row: the core numbers only the seminars kept.
        for problem in definition.problems() {
            use DefinitionProblem as P;
            let seminar = match &problem {
                P::SeminarEndsBeforeStart { seminar } => {
                    Some((*seminar, "ends_at", "row_ends", "seminar_ends_before_start"))
                }
                P::SeminarOutsideDevelopment { seminar } => {
                    Some((*seminar, "starts_at", "row_starts", "seminar_outside_development"))
                }
                _ => None,
            };
            if let Some((s, field, label, text)) = seminar
                && let Some(&i) = seminar_rows.get(usize::from(s.0).wrapping_sub(1))
            {
                Self::row::<SeminarRow>(&mut errors, lang, i).fail(field, label, lang.t(text));
                continue;
            }
            let field = match problem {
                P::ClosesBeforeOpens => Some("closes_at"),
                P::PanelBeforeClose => Some("panel_at"),
                P::PlanDeadlineBeforePanel => Some("plan_deadline"),
                P::DecisionBeforePlanDeadline => Some("decision_meeting_at"),
                P::NoThemes => Some("themes"),
                P::NoCapacity => Some("capacity"),
                P::NoBudget => Some("budget"),
                P::CeilingOutsideBudget => Some("ceiling"),
                P::NoCriteria => Some("criterion_0_key"),
                P::NoMandatorySection => Some("section_0_mandatory"),
                _ => None,
            };
            match field {
                Some(field) => errors.field(field, problem.message(lang.0)),
                None => errors.form(problem.message(lang.0)),
            }
        }
        if errors.is_empty() { Ok(definition) } else { Err(errors) }
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
    errors: FormErrors,
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
        data: minijinja::context! {
            form => form.with_empty_rows(),
            groups => groups,
            action => action,
            errors => errors.messages,
            invalid => errors.fields,
        },
    }
    .render_with(status)
}

/// The answer to a call form no page of ours sends (a version that is not
/// a number).
fn bad_form(error: &str) -> Response {
    tracing::info!(error, "a call form that does not parse");
    (StatusCode::BAD_REQUEST, "bad form").into_response()
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
            Ok(Some((call, _))) => CallForm::next_year(&call.definition),
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
    render_form(&state, lang, &user, &form, "/admin/utlysningar/ny", FormErrors::default()).await
}

async fn create_call(
    State(state): State<WebState>,
    lang: Lang,
    session: Session,
    ProcessLeader(user): ProcessLeader,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let form = match CallForm::from_pairs(pairs) {
        Ok(form) => form,
        Err(e) => return bad_form(&e),
    };
    let definition = match form.definition(lang) {
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
            let action = format!("/admin/utlysningar/{}/andra", call.id);
            render_form(&state, lang, &user, &form, &action, FormErrors::default()).await
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
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (call, _) = match load_call(&state, &id).await {
        Ok(Some(c)) => c,
        Ok(None) => return not_found_for(lang, Some(&user)),
        Err(e) => return unavailable(lang, "could not load a call", e),
    };
    let form = match CallForm::from_pairs(pairs) {
        Ok(form) => form,
        Err(e) => return bad_form(&e),
    };
    let action = format!("/admin/utlysningar/{}/andra", call.id);
    let definition = match form.definition(lang) {
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
        Err(StoreError::Rejected(e)) => render_form(state, lang, user, form, action, e.message(lang.0).into()).await,
        Err(StoreError::Conflict { .. }) => {
            render_form(state, lang, user, form, action, lang.t("stale_call").to_owned().into()).await
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
