//! `mops export events`: the event log for researchers and process-mining
//! tools, as JSON Lines or as XES (IEEE 1849-2016, read by ProM, Disco and
//! PM4Py).
//!
//! Personal data is pseudonymised unless it is asked for: people and ideas
//! get stable pseudonyms (`person-1`, `idea-1`, … in order of first
//! appearance in the exported log, so they depend on `--call`), registry
//! numbers become `registry-1`, … (they lead to the public register and so
//! to the idea), and every free text a person wrote (titles, summaries,
//! motivations, conditions, plan sections, feedback, reasons) is replaced by
//! `"[redacted]"`. Names, email addresses and languages of applicants are
//! dropped. Organisations, themes, amounts, scores, dates and meeting ids
//! are kept: they are what the process is studied by.

use std::collections::HashMap;

use chrono::SecondsFormat;
use mops_core::call::CallEvent;
use mops_core::domain::{CallId, PersonId, RegistryNumber};
use mops_core::idea::{Applicant, IdeaDetails, Recommendation};
use mops_core::{ActorRef, IdeaEvent, IdeaState, Recorded};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::format::xml;
use super::{Organisations, ReportError, select_call};
use crate::store::{LogEvent, Store};

/// The formats of `mops export events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EventFormat {
    /// JSON Lines: one JSON object per event, calls and ideas.
    #[default]
    Jsonl,
    /// XES (IEEE 1849-2016): one trace per idea, for process mining.
    Xes,
}

/// Whether the export holds personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonalData {
    /// Pseudonyms and `[redacted]` instead of people, ideas and free text.
    Pseudonymised,
    /// Everything as recorded. Only for a process leader.
    Included,
}

/// What replaces free text in a pseudonymised export.
pub const REDACTED: &str = "[redacted]";

/// Stable pseudonyms, numbered in order of first appearance.
#[derive(Debug, Default)]
struct Pseudonyms {
    include: bool,
    people: HashMap<Uuid, String>,
    ideas: HashMap<Uuid, String>,
    registry: HashMap<String, String>,
}

impl Pseudonyms {
    fn name(map: &mut HashMap<String, String>, kind: &str, key: String) -> String {
        let n = map.len() + 1;
        map.entry(key).or_insert_with(|| format!("{kind}-{n}")).clone()
    }

    fn id(map: &mut HashMap<Uuid, String>, kind: &str, id: Uuid) -> String {
        let n = map.len() + 1;
        map.entry(id).or_insert_with(|| format!("{kind}-{n}")).clone()
    }

    fn person(&mut self, id: PersonId) -> String {
        if self.include { id.to_string() } else { Self::id(&mut self.people, "person", *id.as_uuid()) }
    }

    fn idea(&mut self, id: Uuid) -> String {
        if self.include { id.to_string() } else { Self::id(&mut self.ideas, "idea", id) }
    }

    fn registry(&mut self, r: &RegistryNumber) -> String {
        if self.include { r.to_string() } else { Self::name(&mut self.registry, "registry", r.to_string()) }
    }

    fn actor(&mut self, a: ActorRef) -> String {
        match a {
            ActorRef::System => "system".into(),
            ActorRef::Person(p) => self.person(p),
        }
    }
}

fn redacted<T>(value: Option<&T>) -> Value {
    value.map_or(Value::Null, |_| json!(REDACTED))
}

fn applicant(a: &Applicant, p: &mut Pseudonyms) -> Value {
    json!({ "person": p.person(a.person), "organisation": a.organisation })
}

fn details(d: &IdeaDetails, p: &mut Pseudonyms) -> Value {
    let co: Vec<Value> = d.co_applicants.iter().map(|a| applicant(a, p)).collect();
    json!({
        "title": REDACTED,
        "summary": REDACTED,
        "theme": d.theme,
        "organisation": d.organisation,
        "co_applicants": co,
    })
}

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// An idea event as exported. The match is exhaustive on purpose: a new
/// event type does not compile until someone decides what of it is personal.
fn idea_body(e: &IdeaEvent, p: &mut Pseudonyms) -> Value {
    if p.include {
        return to_value(e);
    }
    let key = e.key();
    match e {
        IdeaEvent::Drafted { id, call, lead, details: d } => {
            json!({ "type": key, "id": p.idea(*id.as_uuid()), "call": call, "lead": applicant(lead, p), "details": details(d, p) })
        }
        IdeaEvent::DraftEdited { details: d } => json!({ "type": key, "details": details(d, p) }),
        IdeaEvent::Selected { motivation } => json!({ "type": key, "motivation": redacted(motivation.as_ref()) }),
        IdeaEvent::NotSelected { .. } => json!({ "type": key, "motivation": REDACTED }),
        IdeaEvent::ConflictDeclared { panel_member, .. } => {
            json!({ "type": key, "panel_member": p.person(*panel_member), "reason": REDACTED })
        }
        IdeaEvent::PlanSectionSaved { section, text } => {
            json!({ "type": key, "section": section, "text": redacted(text.as_ref()) })
        }
        IdeaEvent::FeedbackGiven { panel_member, scores, .. } => {
            json!({ "type": key, "panel_member": p.person(*panel_member), "text": REDACTED, "scores": scores })
        }
        IdeaEvent::Prepared { recommendation } => {
            let recommendation = match recommendation {
                Recommendation::Fund { amount, motivation } => {
                    json!({ "kind": "fund", "amount": amount, "motivation": redacted(motivation.as_ref()) })
                }
                Recommendation::NoFunding { .. } => json!({ "kind": "no_funding", "motivation": REDACTED }),
            };
            json!({ "type": key, "recommendation": recommendation })
        }
        IdeaEvent::Granted { amount, conditions, motivation, registry, meeting } => json!({
            "type": key,
            "amount": amount,
            "conditions": redacted(conditions.as_ref()),
            "motivation": redacted(motivation.as_ref()),
            "registry": p.registry(registry),
            "meeting": meeting,
        }),
        IdeaEvent::Declined { registry, meeting, .. } => {
            json!({ "type": key, "motivation": REDACTED, "registry": p.registry(registry), "meeting": meeting })
        }
        IdeaEvent::Withdrawn { reason } => json!({ "type": key, "reason": redacted(reason.as_ref()) }),
        IdeaEvent::Submitted
        | IdeaEvent::AttendanceRecorded { .. }
        | IdeaEvent::PitchScheduled { .. }
        | IdeaEvent::Pitched
        | IdeaEvent::PlanSubmitted { .. }
        | IdeaEvent::ReminderSent { .. }
        | IdeaEvent::Lapsed { .. } => to_value(e),
    }
}

/// Call events hold the call's definition (a public text) and no person but
/// the actor, who is pseudonymised in the envelope.
fn call_body(e: &CallEvent) -> Value {
    to_value(e)
}

/// One exported event.
#[derive(Debug, Serialize)]
struct Line {
    /// The order in which events were appended.
    id: i64,
    stream_kind: String,
    stream_id: String,
    call_id: CallId,
    seq: i64,
    #[serde(rename = "type")]
    event_type: String,
    at: String,
    actor: String,
    /// The event's schema version.
    v: u16,
    body: Value,
}

enum Decoded {
    Call,
    Idea(Box<Recorded<IdeaEvent>>),
}

/// The log decoded and pseudonymised, in the order it was appended.
struct Prepared {
    lines: Vec<(Line, Decoded)>,
}

/// Told how far an export has come: `progress(exported, total)` before the
/// first event and after each one, with `exported` counting up by one from
/// 0 to `total` (the events read from the log). An event counts once it is
/// decoded and pseudonymised and, in JSON Lines, written; the XES document
/// is written from all of them at the end, which is quick. The `mops`
/// command draws a bar with it; this module knows nothing of terminals.
pub type ExportProgress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Decodes and pseudonymises each event of `log` in order and hands it to
/// `each`.
fn prepare(
    log: Vec<LogEvent>,
    personal: PersonalData,
    progress: ExportProgress<'_>,
    mut each: impl FnMut(Line, Decoded) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    let mut p = Pseudonyms { include: personal == PersonalData::Included, ..Pseudonyms::default() };
    let corrupt = |e: &LogEvent, err: serde_json::Error| {
        ReportError::CannotRun(format!("the stored event {} cannot be read ({err}); run `mops verify`", e.id))
    };
    let total = log.len();
    progress(0, total);
    for (n, e) in log.into_iter().enumerate() {
        let (stream_id, actor, v, at, body, decoded) = match e.stream_kind.as_str() {
            "idea" => {
                let r: Recorded<IdeaEvent> = serde_json::from_str(&e.body).map_err(|err| corrupt(&e, err))?;
                let actor = p.actor(r.actor);
                let stream = p.idea(e.stream_id);
                let body = idea_body(&r.event, &mut p);
                (stream, actor, r.v, r.at, body, Decoded::Idea(Box::new(r)))
            }
            _ => {
                let r: Recorded<CallEvent> = serde_json::from_str(&e.body).map_err(|err| corrupt(&e, err))?;
                let actor = p.actor(r.actor);
                (e.stream_id.to_string(), actor, r.v, r.at, call_body(&r.event), Decoded::Call)
            }
        };
        each(
            Line {
                id: e.id,
                stream_kind: e.stream_kind,
                stream_id,
                call_id: e.call_id,
                seq: e.seq,
                event_type: e.event_type,
                at: at.to_rfc3339_opts(SecondsFormat::Secs, true),
                actor,
                v,
                body,
            },
            decoded,
        )?;
        progress(n + 1, total);
    }
    Ok(())
}

/// The event log of `call` (or of every call) in `format`, telling
/// `progress` how far it has come (see [`ExportProgress`]; reading the log
/// comes first and is not counted).
pub async fn export<S: Store>(
    store: &S,
    call: Option<CallId>,
    format: EventFormat,
    personal: PersonalData,
    progress: ExportProgress<'_>,
) -> Result<String, ReportError> {
    let title = match call {
        Some(id) => Some(select_call(store, Some(id)).await?.definition.title.to_string()),
        None => None,
    };
    let log = store.event_log(call).await?;
    match format {
        EventFormat::Jsonl => {
            let mut out = String::new();
            prepare(log, personal, progress, |line, _| {
                out.push_str(&serde_json::to_string(&line).map_err(|e| ReportError::CannotRun(e.to_string()))?);
                out.push('\n');
                Ok(())
            })?;
            Ok(out)
        }
        EventFormat::Xes => {
            let mut lines = Vec::with_capacity(log.len());
            prepare(log, personal, progress, |line, decoded| {
                lines.push((line, decoded));
                Ok(())
            })?;
            Ok(xes(&Prepared { lines }, title.as_deref(), personal))
        }
    }
}

fn xes(p: &Prepared, call_title: Option<&str>, personal: PersonalData) -> String {
    // Traces in order of each idea's first event; events by seq.
    let mut order: Vec<&str> = Vec::new();
    let mut traces: HashMap<&str, Vec<(&Line, &Recorded<IdeaEvent>)>> = HashMap::new();
    for (line, decoded) in &p.lines {
        if let Decoded::Idea(r) = decoded {
            let events = traces.entry(&line.stream_id).or_insert_with(|| {
                order.push(&line.stream_id);
                Vec::new()
            });
            events.push((line, r.as_ref()));
        }
    }
    let orgs = Organisations::known();
    let name = match call_title {
        Some(t) => format!("MOPS händelselogg: {t}"),
        None => "MOPS händelselogg".to_owned(),
    };
    let personal_key = match personal {
        PersonalData::Included => "included",
        PersonalData::Pseudonymised => "pseudonymised",
    };
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<log xes.version=\"1849-2016\" xes.features=\"\" xmlns=\"http://www.xes-standard.org/\">\n");
    for (name, prefix) in
        [("Concept", "concept"), ("Time", "time"), ("Organizational", "org"), ("Lifecycle", "lifecycle")]
    {
        out.push_str(&format!(
            "  <extension name=\"{name}\" prefix=\"{prefix}\" uri=\"http://www.xes-standard.org/{prefix}.xesext\"/>\n"
        ));
    }
    out.push_str("  <global scope=\"trace\">\n    <string key=\"concept:name\" value=\"__INVALID__\"/>\n  </global>\n");
    out.push_str(
        "  <global scope=\"event\">\n    <string key=\"concept:name\" value=\"__INVALID__\"/>\n    \
         <date key=\"time:timestamp\" value=\"1970-01-01T00:00:00.000+00:00\"/>\n    \
         <string key=\"org:resource\" value=\"__INVALID__\"/>\n    \
         <string key=\"lifecycle:transition\" value=\"complete\"/>\n  </global>\n",
    );
    out.push_str("  <classifier name=\"Activity\" keys=\"concept:name\"/>\n");
    out.push_str("  <classifier name=\"Resource\" keys=\"org:resource\"/>\n");
    out.push_str(&format!("  <string key=\"concept:name\" value=\"{}\"/>\n", xml(&name)));
    out.push_str(&format!("  <string key=\"personal_data\" value=\"{personal_key}\"/>\n"));
    for id in order {
        let mut events = traces.remove(id).unwrap_or_default();
        events.sort_by_key(|(line, _)| line.seq);
        let state = IdeaState::replay(events.iter().map(|(_, r)| *r)).ok();
        let idea = state.as_ref().and_then(IdeaState::idea);
        out.push_str("  <trace>\n");
        out.push_str(&format!("    <string key=\"concept:name\" value=\"{}\"/>\n", xml(id)));
        if let Some((line, _)) = events.first() {
            out.push_str(&format!("    <string key=\"call\" value=\"{}\"/>\n", line.call_id));
        }
        if let Some(state) = &state {
            out.push_str(&format!("    <string key=\"stage\" value=\"{}\"/>\n", state.stage().key()));
        }
        if let Some(idea) = idea {
            out.push_str(&format!(
                "    <string key=\"organisation\" value=\"{}\"/>\n",
                xml(&orgs.name(idea.lead.organisation))
            ));
            if personal == PersonalData::Included {
                out.push_str(&format!("    <string key=\"title\" value=\"{}\"/>\n", xml(idea.details.title.as_str())));
                out.push_str(&format!("    <string key=\"lead\" value=\"{}\"/>\n", xml(idea.lead.name.as_str())));
            }
        }
        for (line, r) in &events {
            out.push_str("    <event>\n");
            out.push_str(&format!("      <string key=\"concept:name\" value=\"{}\"/>\n", xml(&line.event_type)));
            out.push_str(&format!(
                "      <date key=\"time:timestamp\" value=\"{}\"/>\n",
                r.at.to_rfc3339_opts(SecondsFormat::Millis, false)
            ));
            out.push_str(&format!("      <string key=\"org:resource\" value=\"{}\"/>\n", xml(&line.actor)));
            out.push_str("      <string key=\"lifecycle:transition\" value=\"complete\"/>\n");
            out.push_str(&format!("      <int key=\"seq\" value=\"{}\"/>\n", line.seq));
            out.push_str("    </event>\n");
        }
        out.push_str("  </trace>\n");
    }
    out.push_str("</log>\n");
    out
}
