//! Reports and exports for people outside the engine: the funnel, the
//! budget and the board's decisions of a call (text, CSV for Swedish Excel,
//! JSON, an SVG chart), the minutes of a board meeting, the event log for
//! process mining (JSONL, XES), and a call's definition as a file.
//!
//! Everything here reads through [`Store`] and returns text or bytes; the
//! `mops` command only prints or writes them.

pub mod budget;
pub mod call_file;
pub mod decisions;
pub mod events;
pub mod format;
pub mod funnel;
pub mod minutes;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use mops_core::call::Call;
use mops_core::domain::{CallId, IdeaId, MeetingId, OrganisationId, Sek};
use mops_core::{IdeaState, Stage};
use serde::Serialize;

use crate::store::{Store, StoreError};

/// Why a report could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The command must be given differently: an unknown id, a call that
    /// must be named, a format the report does not have. Exit status 2.
    #[error("{0}")]
    Usage(String),
    /// The command could not run: the database or a file. Exit status 3.
    #[error("{0}")]
    CannotRun(String),
}

impl ReportError {
    /// The exit status of the `mops` command for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            Self::CannotRun(_) => 3,
        }
    }
}

impl From<StoreError> for ReportError {
    fn from(e: StoreError) -> Self {
        Self::CannotRun(e.to_string())
    }
}

/// The formats of `mops report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReportFormat {
    /// A table to read in a terminal (Swedish labels).
    #[default]
    Text,
    /// For Excel with Swedish settings: UTF-8 with BOM, `;`, CRLF, amounts in kronor.
    Csv,
    /// For programs: stable English field names, amounts in öre.
    Json,
    /// A chart for the annual report (the funnel only).
    Svg,
}

/// The call a report is about, as reports name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallSummary {
    pub id: CallId,
    pub title: String,
    /// The phase key, e.g. `finished`.
    pub phase: String,
}

impl CallSummary {
    pub fn of(call: &Call) -> Self {
        Self { id: call.id, title: call.definition.title.to_string(), phase: call.phase.key().to_owned() }
    }
}

/// The call named by `--call`, or the only call there is. Several calls and
/// none named is a usage error that lists them.
pub async fn select_call<S: Store>(store: &S, id: Option<CallId>) -> Result<Call, ReportError> {
    let calls: Vec<Call> = store.calls().await?.into_iter().filter_map(|v| v.state.call().cloned()).collect();
    match id {
        Some(id) => calls.iter().find(|c| c.id == id).cloned().ok_or_else(|| {
            ReportError::Usage(format!("there is no call {id}.{}", list_calls(&calls, "The calls there are")))
        }),
        None => match calls.len() {
            0 => Err(ReportError::Usage(
                "there is no call yet: run `mops demo` for the 2010 round, or `mops call import FILE` to create one"
                    .into(),
            )),
            1 => Ok(calls.into_iter().next().expect("one call")),
            n => Err(ReportError::Usage(format!(
                "there are {n} calls; name one with --call ID.{}",
                list_calls(&calls, "The calls")
            ))),
        },
    }
}

/// `\n<heading>:\n  <id>  <title> (<phase>, created <date>)` per call.
pub fn list_calls(calls: &[Call], heading: &str) -> String {
    if calls.is_empty() {
        return " There are no calls yet.".into();
    }
    let mut out = format!("\n{heading}:");
    for c in calls {
        out.push_str(&format!(
            "\n  {}  {} ({}, created {})",
            c.id,
            c.definition.title,
            c.phase.key(),
            local_date(c.created_at)
        ));
    }
    out
}

/// The date in Stockholm, `2010-10-05`.
pub fn local_date(t: DateTime<Utc>) -> String {
    local_naive_date(t).format("%Y-%m-%d").to_string()
}

pub fn local_naive_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&chrono_tz::Europe::Stockholm).date_naive()
}

/// Date and time in Stockholm, `2010-10-05 13:00`.
pub fn local_datetime(t: DateTime<Utc>) -> String {
    mops_core::time::stockholm(t)
}

/// The names of the organisations this installation knows.
///
/// There is no organisations table yet: the only names known are those of
/// the three parties of the reference round (Mälardalens högskola,
/// Eskilstuna kommun, Västerås stad). Any other organisation is shown by id.
#[derive(Debug, Clone)]
pub struct Organisations(BTreeMap<OrganisationId, String>);

impl Organisations {
    pub fn known() -> Self {
        Self(mops_core::reference::round_2010().organisations.into_iter().map(|o| (o.id, o.name.to_string())).collect())
    }

    pub fn name(&self, id: OrganisationId) -> String {
        self.0.get(&id).cloned().unwrap_or_else(|| id.to_string())
    }
}

/// What the board decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Granted,
    Declined,
}

impl Verdict {
    /// `beviljad` or `avslagen`, as in the register.
    pub fn sv(self) -> &'static str {
        match self {
            Self::Granted => "beviljad",
            Self::Declined => "avslagen",
        }
    }
}

/// One board decision on an idea, as reports show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionRow {
    pub registry: String,
    pub call_id: CallId,
    pub idea_id: IdeaId,
    pub title: String,
    pub organisation_id: OrganisationId,
    /// The lead applicant's organisation.
    pub organisation: String,
    pub decision: Verdict,
    /// The granted amount in öre; none when declined.
    pub amount_ore: Option<i64>,
    /// What the project plan asked for, in öre.
    pub requested_ore: i64,
    pub conditions: Option<String>,
    pub motivation: Option<String>,
    pub meeting_id: MeetingId,
    /// The day of the meeting (Stockholm): the day of its first decision.
    pub meeting_date: String,
    pub decided_at: DateTime<Utc>,
}

impl DecisionRow {
    /// The decision recorded in `state`, if it is granted or declined.
    pub fn from_state(state: &IdeaState, orgs: &Organisations) -> Option<Self> {
        let (prepared, verdict, amount, conditions, motivation, decision) = match state {
            IdeaState::Granted(g) => (
                &g.prepared,
                Verdict::Granted,
                Some(g.amount.ore()),
                g.conditions.as_ref().map(ToString::to_string),
                g.motivation.as_ref().map(ToString::to_string),
                &g.decision,
            ),
            IdeaState::Declined(d) => {
                (&d.prepared, Verdict::Declined, None, None, Some(d.motivation.to_string()), &d.decision)
            }
            _ => return None,
        };
        let idea = &prepared.plan.pitched.selected.submitted.idea;
        Some(Self {
            registry: decision.registry.to_string(),
            call_id: idea.call,
            idea_id: idea.id,
            title: idea.details.title.to_string(),
            organisation_id: idea.lead.organisation,
            organisation: orgs.name(idea.lead.organisation),
            decision: verdict,
            amount_ore: amount,
            requested_ore: prepared.requested().ore(),
            conditions,
            motivation,
            meeting_id: decision.meeting,
            meeting_date: local_date(decision.at),
            decided_at: decision.at,
        })
    }

    pub fn amount(&self) -> Option<Sek> {
        self.amount_ore.and_then(|o| Sek::from_ore(o).ok())
    }
}

/// Every board decision on a call's ideas, in the order they were taken,
/// each with the date of its meeting (the day of the meeting's first
/// decision: there is no meetings table yet).
pub async fn call_decisions<S: Store>(store: &S, call: CallId) -> Result<Vec<DecisionRow>, ReportError> {
    let orgs = Organisations::known();
    let mut rows = Vec::new();
    for stage in [Stage::Granted, Stage::Declined] {
        for idea in store.ideas(call, Some(stage)).await? {
            rows.extend(DecisionRow::from_state(&idea.state, &orgs));
        }
    }
    Ok(order_decisions(rows))
}

/// Sorts decisions by time, then registry number, and dates each meeting by
/// its first decision.
pub fn order_decisions(mut rows: Vec<DecisionRow>) -> Vec<DecisionRow> {
    rows.sort_by(|a, b| {
        a.decided_at.cmp(&b.decided_at).then_with(|| registry_key(&a.registry).cmp(&registry_key(&b.registry)))
    });
    let mut first: BTreeMap<MeetingId, DateTime<Utc>> = BTreeMap::new();
    for r in &rows {
        first.entry(r.meeting_id).and_modify(|t| *t = (*t).min(r.decided_at)).or_insert(r.decided_at);
    }
    for r in &mut rows {
        r.meeting_date = local_date(first[&r.meeting_id]);
    }
    rows
}

/// `SK 2010/31` sorts as (`SK`, 2010, 31), so `/9` comes before `/10`.
fn registry_key(registry: &str) -> (String, u32, u32) {
    let (series, rest) = registry.split_once(' ').unwrap_or((registry, ""));
    let (year, number) = rest.split_once('/').unwrap_or((rest, ""));
    (series.to_owned(), year.parse().unwrap_or(0), number.parse().unwrap_or(0))
}
