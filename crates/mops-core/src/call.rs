//! A call for ideas (idéefterlysning): its definition, its phases, and the
//! pure transition function for phase changes.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{CallId, CriterionKey, LocalizedText, ScoreScale, SectionKey, SectorGroupId, Sek, Theme, Title};
use crate::error::{DefinitionProblem, TransitionError};
use crate::event::Recorded;
use crate::people::Actor;
use crate::stage::{Action, CallPhase, Stage, Who};

/// A seminar in the series, numbered within its call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SeminarId(pub u16);

/// Accepts a number or a string of digits: as a JSON map key (attendance per
/// seminar) inside an internally tagged enum, serde hands over a string.
impl<'de> Deserialize<'de> for SeminarId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SeminarId;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a seminar number")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SeminarId, E> {
                u16::try_from(v).map(SeminarId).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SeminarId, E> {
                u16::try_from(v).map(SeminarId).map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SeminarId, E> {
                v.parse().map(SeminarId).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl std::fmt::Display for SeminarId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seminar {
    pub id: SeminarId,
    pub title: LocalizedText,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub location: String,
}

/// When things happen in a call. All instants are UTC and shown in
/// Europe/Stockholm time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    pub opens_at: DateTime<Utc>,
    /// Ideas must be submitted before this instant.
    pub closes_at: DateTime<Utc>,
    pub seminars: Vec<Seminar>,
    /// The pitch panel (Draknästet).
    pub panel_at: DateTime<Utc>,
    /// Project plans must be submitted before this instant; selected ideas
    /// without a plan then lapse.
    pub plan_deadline: DateTime<Utc>,
    /// The board meeting planned for the decisions.
    pub decision_meeting_at: DateTime<Utc>,
}

impl Timeline {
    /// Moves every date by `by`, keeping the gaps between them: last year's
    /// timeline as this year's, or a call that opens now for a demo.
    pub fn shift(&mut self, by: chrono::TimeDelta) {
        for at in [
            &mut self.opens_at,
            &mut self.closes_at,
            &mut self.panel_at,
            &mut self.plan_deadline,
            &mut self.decision_meeting_at,
        ] {
            *at += by;
        }
        for s in &mut self.seminars {
            s.starts_at += by;
            s.ends_at += by;
        }
    }
}

/// One of the panel's criteria, scored on the call's scale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Criterion {
    pub key: CriterionKey,
    pub name: LocalizedText,
}

/// A section of the project-plan template (mall).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSection {
    pub key: SectionKey,
    pub title: LocalizedText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<LocalizedText>,
    pub mandatory: bool,
}

/// Everything the process leader sets up for a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallDefinition {
    pub title: Title,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_en: Option<Title>,
    pub description: LocalizedText,
    pub sector_group: SectorGroupId,
    pub themes: Vec<Theme>,
    pub timeline: Timeline,
    /// How many ideas may be selected for the seminar series.
    pub capacity: u32,
    /// The total that may be granted to the call's ideas.
    pub budget: Sek,
    /// The most one idea may be granted, if there is such a ceiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<Sek>,
    pub criteria: Vec<Criterion>,
    #[serde(default)]
    pub scale: ScoreScale,
    pub template: Vec<TemplateSection>,
}

impl Timeline {
    /// Whether an idea may be submitted at `now`: from the opening until
    /// (not at) the closing.
    pub fn submission_window(&self, now: DateTime<Utc>) -> Result<(), TransitionError> {
        if now < self.opens_at {
            Err(TransitionError::NotOpenYet { opens_at: self.opens_at })
        } else if now >= self.closes_at {
            Err(TransitionError::DeadlinePassed { deadline: self.closes_at })
        } else {
            Ok(())
        }
    }
}

impl Call {
    /// Whether the call takes new ideas at `now`, with the refusal a
    /// submission would get if it does not: the call is not open, or `now`
    /// is outside its submission window. Lets a caller refuse before it
    /// registers the people a submission names.
    pub fn takes_ideas(&self, now: DateTime<Utc>) -> Result<(), TransitionError> {
        if self.phase != CallPhase::Open {
            return Err(TransitionError::WrongPhase {
                action: Action::SubmitNew,
                phase: self.phase,
                allowed: vec![CallPhase::Open],
            });
        }
        self.definition.timeline.submission_window(now)
    }
}

impl CallDefinition {
    /// The rules a definition must meet before the call can be created or
    /// opened. Returns every problem, not just the first.
    pub fn problems(&self) -> Vec<DefinitionProblem> {
        use DefinitionProblem as P;
        let t = &self.timeline;
        let mut problems = Vec::new();
        if t.closes_at <= t.opens_at {
            problems.push(P::ClosesBeforeOpens);
        }
        let mut seen = BTreeSet::new();
        for s in &t.seminars {
            if !seen.insert(s.id) {
                problems.push(P::DuplicateSeminar { seminar: s.id });
            }
            if s.ends_at <= s.starts_at {
                problems.push(P::SeminarEndsBeforeStart { seminar: s.id });
            }
            if s.starts_at < t.closes_at || s.ends_at > t.plan_deadline {
                problems.push(P::SeminarOutsideDevelopment { seminar: s.id });
            }
        }
        if t.panel_at < t.closes_at {
            problems.push(P::PanelBeforeClose);
        }
        if t.plan_deadline <= t.panel_at {
            problems.push(P::PlanDeadlineBeforePanel);
        }
        if t.decision_meeting_at < t.plan_deadline {
            problems.push(P::DecisionBeforePlanDeadline);
        }
        if self.themes.is_empty() {
            problems.push(P::NoThemes);
        }
        if self.capacity == 0 {
            problems.push(P::NoCapacity);
        }
        if self.budget.is_zero() {
            problems.push(P::NoBudget);
        }
        match self.ceiling {
            Some(c) if c.is_zero() || c > self.budget => problems.push(P::CeilingOutsideBudget),
            _ => {}
        }
        if self.criteria.is_empty() {
            problems.push(P::NoCriteria);
        }
        let mut keys = BTreeSet::new();
        for c in &self.criteria {
            if !keys.insert(c.key.as_str()) {
                problems.push(P::DuplicateCriterion { key: c.key.clone() });
            }
        }
        if !self.template.iter().any(|s| s.mandatory) {
            problems.push(P::NoMandatorySection);
        }
        let mut keys = BTreeSet::new();
        for s in &self.template {
            if !keys.insert(s.key.as_str()) {
                problems.push(P::DuplicateSection { key: s.key.clone() });
            }
        }
        problems
    }

    pub fn seminar(&self, id: SeminarId) -> Option<&Seminar> {
        self.timeline.seminars.iter().find(|s| s.id == id)
    }

    pub fn section(&self, key: &SectionKey) -> Option<&TemplateSection> {
        self.template.iter().find(|s| &s.key == key)
    }

    pub fn criterion(&self, key: &CriterionKey) -> Option<&Criterion> {
        self.criteria.iter().find(|c| &c.key == key)
    }
}

/// A call that exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    pub id: CallId,
    pub definition: CallDefinition,
    pub phase: CallPhase,
    pub created_at: DateTime<Utc>,
    /// When the call entered its current phase.
    pub phase_since: DateTime<Utc>,
}

/// The state of a call: a fold over its [`CallEvent`]s.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CallState {
    /// Before the first event.
    #[default]
    New,
    Exists(Box<Call>),
}

impl CallState {
    pub fn call(&self) -> Option<&Call> {
        match self {
            Self::New => None,
            Self::Exists(c) => Some(c.as_ref()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum CallCommand {
    Create {
        id: CallId,
        definition: Box<CallDefinition>,
    },
    /// Replace the definition; only while the call is a draft.
    Edit {
        definition: Box<CallDefinition>,
    },
    /// Move to the next phase. Naming the target guards against a double
    /// click moving the call two phases.
    Advance {
        to: CallPhase,
    },
}

impl CallCommand {
    pub fn action(&self) -> Action {
        match self {
            Self::Create { .. } => Action::CreateCall,
            Self::Edit { .. } => Action::EditCall,
            Self::Advance { .. } => Action::AdvancePhase,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CallEvent {
    Created { id: CallId, definition: Box<CallDefinition> },
    Edited { definition: Box<CallDefinition> },
    PhaseChanged { from: CallPhase, to: CallPhase },
}

/// How many of a call's ideas are in each stage; what phase changes check.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StageCounts(pub BTreeMap<Stage, u32>);

impl StageCounts {
    pub fn get(&self, stage: Stage) -> u32 {
        self.0.get(&stage).copied().unwrap_or(0)
    }

    pub fn add(&mut self, stage: Stage, n: i64) {
        let entry = self.0.entry(stage).or_insert(0);
        *entry = (i64::from(*entry) + n).max(0) as u32;
    }
}

impl FromIterator<Stage> for StageCounts {
    fn from_iter<I: IntoIterator<Item = Stage>>(iter: I) -> Self {
        let mut counts = Self::default();
        for s in iter {
            counts.add(s, 1);
        }
        counts
    }
}

/// What a call command is decided against.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    pub now: DateTime<Utc>,
    pub actor: &'a Actor,
    pub ideas: &'a StageCounts,
}

/// The outcome of a call command: the new state and the events that lead there.
#[derive(Debug, Clone, PartialEq)]
pub struct CallDecision {
    pub state: CallState,
    pub events: Vec<Recorded<CallEvent>>,
}

/// Decides a call command. Pure: the same inputs give the same outcome.
pub fn decide_call(
    state: &CallState,
    cmd: &CallCommand,
    ctx: &CallContext<'_>,
) -> Result<CallDecision, TransitionError> {
    let action = cmd.action();
    let event = match (state, cmd) {
        (CallState::New, CallCommand::Create { id, definition }) => {
            if !ctx.actor.is_process_leader() {
                return Err(TransitionError::not_allowed(action, &[Who::ProcessLeader]));
            }
            check_definition(definition)?;
            CallEvent::Created { id: *id, definition: definition.clone() }
        }
        (CallState::New, _) => return Err(TransitionError::CallNotFound),
        (CallState::Exists(_), CallCommand::Create { .. }) => return Err(TransitionError::AlreadyExists),
        (CallState::Exists(call), CallCommand::Edit { definition }) => {
            if !ctx.actor.is_process_leader() {
                return Err(TransitionError::not_allowed(action, &[Who::ProcessLeader]));
            }
            if call.phase != CallPhase::Draft {
                return Err(TransitionError::WrongPhase { action, phase: call.phase, allowed: vec![CallPhase::Draft] });
            }
            check_definition(definition)?;
            CallEvent::Edited { definition: definition.clone() }
        }
        (CallState::Exists(call), CallCommand::Advance { to }) => {
            let group = call.definition.sector_group;
            if !(ctx.actor.is_process_leader() || ctx.actor.is_sector_member(group)) {
                return Err(TransitionError::not_allowed(action, &[Who::ProcessLeader, Who::SectorGroup]));
            }
            check_advance(call, *to, ctx)?;
            CallEvent::PhaseChanged { from: call.phase, to: *to }
        }
    };
    let recorded = Recorded::new(ctx.now, ctx.actor.id, event);
    let state = state.clone().apply(&recorded)?;
    Ok(CallDecision { state, events: vec![recorded] })
}

fn check_definition(definition: &CallDefinition) -> Result<(), TransitionError> {
    let problems = definition.problems();
    if problems.is_empty() { Ok(()) } else { Err(TransitionError::InvalidDefinition { problems }) }
}

fn check_advance(call: &Call, to: CallPhase, ctx: &CallContext<'_>) -> Result<(), TransitionError> {
    let t = &call.definition.timeline;
    let next = call.phase.next();
    if next != Some(to) {
        return Err(TransitionError::PhaseOrder { from: call.phase, to, next });
    }
    let pending = |stage: Stage| {
        let count = ctx.ideas.get(stage);
        if count > 0 { Err(TransitionError::IdeasPending { to, stage, count }) } else { Ok(()) }
    };
    match to {
        CallPhase::Open => {
            check_definition(&call.definition)?;
            if ctx.now >= t.closes_at {
                return Err(TransitionError::DeadlinePassed { deadline: t.closes_at });
            }
        }
        CallPhase::Selection => {
            // Closing before the announced deadline would turn away people
            // who trusted it.
            if ctx.now < t.closes_at {
                return Err(TransitionError::TooEarly { not_before: t.closes_at });
            }
        }
        CallPhase::Development => pending(Stage::Submitted)?,
        CallPhase::Panel | CallPhase::PlansDue => {}
        CallPhase::Preparation => {
            if ctx.now < t.plan_deadline {
                return Err(TransitionError::TooEarly { not_before: t.plan_deadline });
            }
            pending(Stage::Selected)?;
            pending(Stage::Pitched)?;
        }
        CallPhase::Decision => pending(Stage::PlanSubmitted)?,
        CallPhase::Finished => {
            for stage in Stage::ALL.iter().copied().filter(|s| !s.is_final() && *s != Stage::New) {
                // Drafts that were never submitted are not undecided ideas.
                if stage != Stage::Draft {
                    pending(stage)?;
                }
            }
        }
        CallPhase::Draft => unreachable!("no phase precedes draft"),
    }
    Ok(())
}

impl CallState {
    /// Applies one recorded event. Replaying a call's events from
    /// [`CallState::New`] reproduces its state exactly.
    pub fn apply(self, recorded: &Recorded<CallEvent>) -> Result<CallState, TransitionError> {
        let at = recorded.at;
        match (self, &recorded.event) {
            (CallState::New, CallEvent::Created { id, definition }) => Ok(CallState::Exists(Box::new(Call {
                id: *id,
                definition: (**definition).clone(),
                phase: CallPhase::Draft,
                created_at: at,
                phase_since: at,
            }))),
            (CallState::Exists(mut call), CallEvent::Edited { definition }) => {
                call.definition = (**definition).clone();
                Ok(CallState::Exists(call))
            }
            (CallState::Exists(mut call), CallEvent::PhaseChanged { from, to }) if call.phase == *from => {
                call.phase = *to;
                call.phase_since = at;
                Ok(CallState::Exists(call))
            }
            (_, event) => {
                Err(TransitionError::Replay { detail: format!("call event {event:?} does not fit the state") })
            }
        }
    }

    /// Rebuilds a call from its events alone.
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a Recorded<CallEvent>>) -> Result<CallState, TransitionError> {
        events.into_iter().try_fold(CallState::New, |s, e| s.apply(e))
    }
}
