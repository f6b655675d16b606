//! An idea's life: its events, the commands people give, and [`decide`],
//! the pure function from (state, command, context) to a [`Decision`].

mod state;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

pub use state::{
    Applicant, BoardDecision, Declined, Development, Draft, Feedback, Granted, Idea, IdeaDetails, IdeaState, Lapsed,
    Motivated, NewIdea, NotSelected, Pitched, Plan, PlanSubmitted, Preparation, Prepared, Recommendation, Selected,
    Selection, Submitted, Withdrawn,
};

use crate::call::{Call, SeminarId};
use crate::domain::{
    CallId, CriterionKey, FreeText, IdeaId, MeetingId, Motivation, PersonId, RegistryNumber, Score, SectionKey, Sek,
};
use crate::error::TransitionError;
use crate::event::Recorded;
use crate::notify::{Notice, NotificationIntent, Recipient};
use crate::people::Actor;
use crate::stage::{Action, CallPhase, Stage, Who};
use crate::table;

/// What happened to an idea. Serialised with a `type` tag; see
/// [`crate::EVENT_SCHEMA_VERSION`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum IdeaEvent {
    Drafted {
        id: IdeaId,
        call: CallId,
        lead: Applicant,
        details: IdeaDetails,
    },
    DraftEdited {
        details: IdeaDetails,
    },
    Submitted,
    Selected {
        motivation: Option<Motivation>,
    },
    NotSelected {
        motivation: Motivation,
    },
    AttendanceRecorded {
        seminar: SeminarId,
        attended: bool,
    },
    PitchScheduled {
        at: DateTime<Utc>,
    },
    ConflictDeclared {
        panel_member: PersonId,
        reason: Motivation,
    },
    /// `text: None` clears the section.
    PlanSectionSaved {
        section: SectionKey,
        text: Option<FreeText>,
    },
    Pitched,
    FeedbackGiven {
        panel_member: PersonId,
        text: FreeText,
        scores: BTreeMap<CriterionKey, Score>,
    },
    PlanSubmitted {
        requested: Sek,
    },
    ReminderSent {
        deadline: DateTime<Utc>,
        days_before: u32,
    },
    Lapsed {
        deadline: DateTime<Utc>,
    },
    Prepared {
        recommendation: Recommendation,
    },
    Granted {
        amount: Sek,
        conditions: Option<FreeText>,
        motivation: Option<Motivation>,
        registry: RegistryNumber,
        meeting: MeetingId,
    },
    Declined {
        motivation: Motivation,
        registry: RegistryNumber,
        meeting: MeetingId,
    },
    Withdrawn {
        reason: Option<FreeText>,
    },
}

impl IdeaEvent {
    /// The stable key of the event type, as in the serialised `type` tag.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Drafted { .. } => "drafted",
            Self::DraftEdited { .. } => "draft_edited",
            Self::Submitted => "submitted",
            Self::Selected { .. } => "selected",
            Self::NotSelected { .. } => "not_selected",
            Self::AttendanceRecorded { .. } => "attendance_recorded",
            Self::PitchScheduled { .. } => "pitch_scheduled",
            Self::ConflictDeclared { .. } => "conflict_declared",
            Self::PlanSectionSaved { .. } => "plan_section_saved",
            Self::Pitched => "pitched",
            Self::FeedbackGiven { .. } => "feedback_given",
            Self::PlanSubmitted { .. } => "plan_submitted",
            Self::ReminderSent { .. } => "reminder_sent",
            Self::Lapsed { .. } => "lapsed",
            Self::Prepared { .. } => "prepared",
            Self::Granted { .. } => "granted",
            Self::Declined { .. } => "declined",
            Self::Withdrawn { .. } => "withdrawn",
        }
    }
}

/// What someone (or the timer) asks to do with an idea.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum IdeaCommand {
    /// Start a draft that the applicant can finish later.
    Draft(Box<NewIdea>),
    EditDraft(Box<IdeaDetails>),
    Submit,
    /// Draft and submit in one step, as the public form does.
    SubmitNew(Box<NewIdea>),
    Select {
        motivation: Option<Motivation>,
    },
    /// A "no" always carries its motivation.
    NotSelect {
        motivation: Motivation,
    },
    RecordAttendance {
        seminar: SeminarId,
        attended: bool,
    },
    SchedulePitch {
        at: DateTime<Utc>,
    },
    DeclareConflict {
        panel_member: PersonId,
        reason: Motivation,
    },
    SavePlanSection {
        section: SectionKey,
        text: Option<FreeText>,
    },
    RecordPitch,
    GiveFeedback {
        text: FreeText,
        scores: BTreeMap<CriterionKey, Score>,
    },
    SubmitPlan {
        requested: Sek,
    },
    SendReminder {
        days_before: u32,
    },
    Lapse,
    Prepare {
        recommendation: Recommendation,
    },
    Grant {
        amount: Sek,
        conditions: Option<FreeText>,
        motivation: Option<Motivation>,
        registry: RegistryNumber,
        meeting: MeetingId,
    },
    Decline {
        motivation: Motivation,
        registry: RegistryNumber,
        meeting: MeetingId,
    },
    Withdraw {
        reason: Option<FreeText>,
    },
}

impl IdeaCommand {
    pub fn action(&self) -> Action {
        match self {
            Self::Draft(_) => Action::Draft,
            Self::EditDraft(_) => Action::EditDraft,
            Self::Submit => Action::Submit,
            Self::SubmitNew(_) => Action::SubmitNew,
            Self::Select { .. } => Action::Select,
            Self::NotSelect { .. } => Action::NotSelect,
            Self::RecordAttendance { .. } => Action::RecordAttendance,
            Self::SchedulePitch { .. } => Action::SchedulePitch,
            Self::DeclareConflict { .. } => Action::DeclareConflict,
            Self::SavePlanSection { .. } => Action::SavePlanSection,
            Self::RecordPitch => Action::RecordPitch,
            Self::GiveFeedback { .. } => Action::GiveFeedback,
            Self::SubmitPlan { .. } => Action::SubmitPlan,
            Self::SendReminder { .. } => Action::SendReminder,
            Self::Lapse => Action::Lapse,
            Self::Prepare { .. } => Action::Prepare,
            Self::Grant { .. } => Action::Grant,
            Self::Decline { .. } => Action::Decline,
            Self::Withdraw { .. } => Action::Withdraw,
        }
    }
}

/// Figures over all of a call's ideas that single-idea rules depend on.
/// A fold over the call's idea events, like everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CallTotals {
    /// Ideas ever selected for the seminar series.
    pub selected: u32,
    /// The sum of all grants.
    pub granted: Sek,
}

impl CallTotals {
    pub fn apply(&mut self, event: &IdeaEvent) {
        match event {
            IdeaEvent::Selected { .. } => self.selected += 1,
            IdeaEvent::Granted { amount, .. } => {
                self.granted = self.granted.checked_add(*amount).unwrap_or(self.granted);
            }
            _ => {}
        }
    }

    /// What remains of `budget` after the grants so far.
    pub fn remaining(&self, budget: Sek) -> Sek {
        budget.saturating_sub(self.granted)
    }
}

/// What an idea command is decided against: the time, who asks, the call as
/// it stands, and the call-wide totals (read in the same transaction).
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub now: DateTime<Utc>,
    pub actor: &'a Actor,
    pub call: &'a Call,
    pub totals: CallTotals,
}

/// The outcome of an accepted command: the new state, the events that lead
/// there from the old one, and the status mails to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub state: IdeaState,
    pub events: Vec<Recorded<IdeaEvent>>,
    pub notifications: Vec<NotificationIntent>,
}

impl IdeaState {
    /// Applies one recorded event. Replaying an idea's events from
    /// [`IdeaState::New`] reproduces its state exactly.
    pub fn apply(self, recorded: &Recorded<IdeaEvent>) -> Result<IdeaState, TransitionError> {
        state::apply(self, recorded)
    }

    /// Rebuilds an idea from its events alone.
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a Recorded<IdeaEvent>>) -> Result<IdeaState, TransitionError> {
        events.into_iter().try_fold(IdeaState::New, |s, e| s.apply(e))
    }
}

/// The phases of the call in which an action on an idea may be taken.
pub fn allowed_phases(action: Action) -> &'static [CallPhase] {
    use CallPhase as P;
    match action {
        Action::Draft | Action::EditDraft | Action::Submit | Action::SubmitNew => &[P::Open],
        Action::Select | Action::NotSelect => &[P::Selection],
        Action::RecordAttendance | Action::SchedulePitch => &[P::Development, P::Panel],
        Action::DeclareConflict | Action::SavePlanSection | Action::SendReminder | Action::Lapse => {
            &[P::Development, P::Panel, P::PlansDue]
        }
        Action::RecordPitch => &[P::Panel],
        Action::GiveFeedback | Action::SubmitPlan => &[P::Panel, P::PlansDue],
        Action::Prepare => &[P::Preparation],
        Action::Grant | Action::Decline => &[P::Decision],
        Action::Withdraw => {
            &[P::Open, P::Selection, P::Development, P::Panel, P::PlansDue, P::Preparation, P::Decision]
        }
        Action::CreateCall | Action::EditCall | Action::AdvancePhase => &[],
    }
}

/// Whether `actor` may take `action` on this idea at all (whatever its stage).
/// The UI uses this to decide which buttons to show; [`decide`] enforces it.
pub fn authorize(state: &IdeaState, action: Action, actor: &Actor, call: &Call) -> Result<(), TransitionError> {
    let group = call.definition.sector_group;
    let idea = state.idea();
    let is_lead = idea.is_some_and(|i| actor.is(i.lead.person));
    let is_applicant = idea.is_some_and(|i| actor.id.person().is_some_and(|p| i.is_applicant(p)));
    let (ok, who): (bool, &[Who]) = match action {
        // Creating: `decide` checks that the actor is the named lead.
        Action::Draft | Action::SubmitNew => (true, &[Who::Lead, Who::ProcessLeader]),
        Action::EditDraft | Action::Submit | Action::SubmitPlan | Action::Withdraw => {
            (is_lead || actor.is_process_leader(), &[Who::Lead, Who::ProcessLeader])
        }
        Action::Select | Action::NotSelect | Action::Prepare => (actor.is_sector_member(group), &[Who::SectorGroup]),
        Action::RecordAttendance => {
            (actor.is_process_leader() || actor.is_sector_member(group), &[Who::ProcessLeader, Who::SectorGroup])
        }
        Action::SchedulePitch | Action::RecordPitch => (actor.is_process_leader(), &[Who::ProcessLeader]),
        Action::DeclareConflict => {
            (actor.is_process_leader() || actor.is_panel_member(call.id), &[Who::ProcessLeader, Who::Panel])
        }
        Action::SavePlanSection => (is_applicant, &[Who::Applicant]),
        Action::GiveFeedback => (actor.is_panel_member(call.id), &[Who::Panel]),
        Action::SendReminder | Action::Lapse => (actor.is_system(), &[Who::System]),
        Action::Grant | Action::Decline => (actor.is_board_member(), &[Who::Board]),
        Action::CreateCall | Action::EditCall | Action::AdvancePhase => (false, &[Who::ProcessLeader]),
    };
    if ok { Ok(()) } else { Err(TransitionError::not_allowed(action, who)) }
}

/// Decides an idea command. Pure: no clock, no ids, no I/O; the same inputs
/// always give the same outcome.
///
/// Checks run in this order: the idea is not final; it belongs to this call;
/// the actor may take the action; the idea's stage allows it; the call's
/// phase allows it; then the rules of the action itself.
pub fn decide(state: &IdeaState, cmd: &IdeaCommand, ctx: &Context<'_>) -> Result<Decision, TransitionError> {
    let action = cmd.action();
    let stage = state.stage();
    if stage.is_final() {
        return Err(TransitionError::Final { stage });
    }
    match (state.idea(), cmd) {
        (Some(idea), _) if idea.call != ctx.call.id => return Err(TransitionError::WrongCall),
        (None, IdeaCommand::Draft(new) | IdeaCommand::SubmitNew(new)) if new.call != ctx.call.id => {
            return Err(TransitionError::WrongCall);
        }
        (Some(_), IdeaCommand::Draft(_) | IdeaCommand::SubmitNew(_)) => return Err(TransitionError::AlreadyExists),
        (None, c) if !matches!(c, IdeaCommand::Draft(_) | IdeaCommand::SubmitNew(_)) => {
            return Err(TransitionError::IdeaNotFound);
        }
        _ => {}
    }
    authorize(state, action, ctx.actor, ctx.call)?;
    if table::target(stage, action).is_none() {
        return Err(TransitionError::WrongStage { action, stage, allowed: table::stages_allowing(action) });
    }
    let phase = ctx.call.phase;
    let phases = allowed_phases(action);
    if !phases.contains(&phase) {
        return Err(TransitionError::WrongPhase { action, phase, allowed: phases.to_vec() });
    }

    let events = rules(state, cmd, ctx)?;
    let recorded: Vec<Recorded<IdeaEvent>> =
        events.into_iter().map(|e| Recorded::new(ctx.now, ctx.actor.id, e)).collect();
    let mut next = state.clone();
    for r in &recorded {
        next = next.apply(r)?;
    }
    let notifications = recorded.iter().flat_map(|r| notifications_for(&next, &r.event, ctx.call)).collect();
    Ok(Decision { state: next, events: recorded, notifications })
}

/// The rules of each action, given that the actor, stage and phase allow it.
fn rules(state: &IdeaState, cmd: &IdeaCommand, ctx: &Context<'_>) -> Result<Vec<IdeaEvent>, TransitionError> {
    let call = ctx.call;
    let def = &call.definition;
    let t = &def.timeline;
    let now = ctx.now;
    let submission_window = || t.submission_window(now);
    let before_plan_deadline = || {
        if now >= t.plan_deadline { Err(TransitionError::DeadlinePassed { deadline: t.plan_deadline }) } else { Ok(()) }
    };
    let amount_rules = |asked: Sek, requested: Sek| {
        if asked.is_zero() {
            return Err(TransitionError::AmountNotPositive);
        }
        if asked > requested {
            return Err(TransitionError::ExceedsRequest { requested, asked });
        }
        match def.ceiling {
            Some(ceiling) if asked > ceiling => Err(TransitionError::ExceedsCeiling { ceiling, asked }),
            _ => Ok(()),
        }
    };
    let requested = || match state {
        IdeaState::PlanSubmitted(p) => p.plan.requested,
        IdeaState::Prepared(p) => p.requested(),
        _ => Sek::ZERO,
    };

    Ok(match cmd {
        IdeaCommand::Draft(new) | IdeaCommand::SubmitNew(new) => {
            if !(ctx.actor.is(new.lead.person) || ctx.actor.is_process_leader()) {
                return Err(TransitionError::not_allowed(cmd.action(), &[Who::Lead, Who::ProcessLeader]));
            }
            check_details(&new.details, new.lead.person, ctx)?;
            submission_window()?;
            let drafted =
                IdeaEvent::Drafted { id: new.id, call: new.call, lead: new.lead.clone(), details: new.details.clone() };
            if matches!(cmd, IdeaCommand::SubmitNew(_)) { vec![drafted, IdeaEvent::Submitted] } else { vec![drafted] }
        }
        IdeaCommand::EditDraft(details) => {
            let lead = state.idea().map(|i| i.lead.person).ok_or(TransitionError::IdeaNotFound)?;
            check_details(details, lead, ctx)?;
            submission_window()?;
            vec![IdeaEvent::DraftEdited { details: (**details).clone() }]
        }
        IdeaCommand::Submit => {
            submission_window()?;
            vec![IdeaEvent::Submitted]
        }
        IdeaCommand::Select { motivation } => {
            if ctx.totals.selected >= def.capacity {
                return Err(TransitionError::SelectionFull { capacity: def.capacity });
            }
            vec![IdeaEvent::Selected { motivation: motivation.clone() }]
        }
        IdeaCommand::NotSelect { motivation } => vec![IdeaEvent::NotSelected { motivation: motivation.clone() }],
        IdeaCommand::RecordAttendance { seminar, attended } => {
            if def.seminar(*seminar).is_none() {
                return Err(TransitionError::UnknownSeminar { seminar: *seminar });
            }
            vec![IdeaEvent::AttendanceRecorded { seminar: *seminar, attended: *attended }]
        }
        IdeaCommand::SchedulePitch { at } => {
            if *at >= t.plan_deadline {
                return Err(TransitionError::DeadlinePassed { deadline: t.plan_deadline });
            }
            vec![IdeaEvent::PitchScheduled { at: *at }]
        }
        IdeaCommand::DeclareConflict { panel_member, reason } => {
            if !ctx.actor.is_process_leader() && !ctx.actor.is(*panel_member) {
                // A panel member declares their own conflicts; the process
                // leader may record anyone's.
                return Err(TransitionError::not_allowed(Action::DeclareConflict, &[Who::ProcessLeader]));
            }
            vec![IdeaEvent::ConflictDeclared { panel_member: *panel_member, reason: reason.clone() }]
        }
        IdeaCommand::SavePlanSection { section, text } => {
            if def.section(section).is_none() {
                return Err(TransitionError::UnknownSection { section: section.clone() });
            }
            before_plan_deadline()?;
            vec![IdeaEvent::PlanSectionSaved { section: section.clone(), text: text.clone() }]
        }
        IdeaCommand::RecordPitch => vec![IdeaEvent::Pitched],
        IdeaCommand::GiveFeedback { text, scores } => {
            let member =
                ctx.actor.id.person().ok_or(TransitionError::not_allowed(Action::GiveFeedback, &[Who::Panel]))?;
            let idea = state.idea().ok_or(TransitionError::IdeaNotFound)?;
            let declared = state.development().is_some_and(|d| d.conflicts.contains_key(&member));
            if idea.is_applicant(member) || declared {
                return Err(TransitionError::ConflictOfInterest { panel_member: member });
            }
            for key in scores.keys() {
                if def.criterion(key).is_none() {
                    return Err(TransitionError::UnknownCriterion { criterion: key.clone() });
                }
            }
            for c in &def.criteria {
                let score =
                    scores.get(&c.key).ok_or_else(|| TransitionError::MissingScore { criterion: c.key.clone() })?;
                if !def.scale.contains(*score) {
                    return Err(TransitionError::ScoreOutOfScale {
                        criterion: c.key.clone(),
                        score: score.value(),
                        min: def.scale.min(),
                        max: def.scale.max(),
                    });
                }
            }
            vec![IdeaEvent::FeedbackGiven { panel_member: member, text: text.clone(), scores: scores.clone() }]
        }
        IdeaCommand::SubmitPlan { requested } => {
            before_plan_deadline()?;
            let draft = state.development().map(|d| &d.plan_draft);
            let missing: Vec<SectionKey> = def
                .template
                .iter()
                .filter(|s| s.mandatory && !draft.is_some_and(|d| d.contains_key(&s.key)))
                .map(|s| s.key.clone())
                .collect();
            if !missing.is_empty() {
                return Err(TransitionError::MissingSections { sections: missing });
            }
            if requested.is_zero() {
                return Err(TransitionError::AmountNotPositive);
            }
            if let Some(ceiling) = def.ceiling.filter(|c| requested > c) {
                return Err(TransitionError::ExceedsCeiling { ceiling, asked: *requested });
            }
            vec![IdeaEvent::PlanSubmitted { requested: *requested }]
        }
        IdeaCommand::SendReminder { days_before } => {
            // A threshold further back than time goes is simply due (and
            // must not panic on overflow).
            let due_at = t
                .plan_deadline
                .checked_sub_signed(Duration::days(i64::from(*days_before)))
                .unwrap_or(DateTime::<Utc>::MIN_UTC);
            if now < due_at {
                return Err(TransitionError::ReminderNotDue { due_at });
            }
            before_plan_deadline()?;
            let sent = state.development().is_some_and(|d| d.reminders_sent.iter().any(|s| s <= days_before));
            if sent {
                return Err(TransitionError::ReminderAlreadySent { days_before: *days_before });
            }
            vec![IdeaEvent::ReminderSent { deadline: t.plan_deadline, days_before: *days_before }]
        }
        IdeaCommand::Lapse => {
            if now < t.plan_deadline {
                return Err(TransitionError::DeadlineNotReached { deadline: t.plan_deadline });
            }
            vec![IdeaEvent::Lapsed { deadline: t.plan_deadline }]
        }
        IdeaCommand::Prepare { recommendation } => {
            if let Recommendation::Fund { amount, .. } = recommendation {
                amount_rules(*amount, requested())?;
            }
            vec![IdeaEvent::Prepared { recommendation: recommendation.clone() }]
        }
        IdeaCommand::Grant { amount, conditions, motivation, registry, meeting } => {
            amount_rules(*amount, requested())?;
            let remaining = ctx.totals.remaining(def.budget);
            if *amount > remaining {
                return Err(TransitionError::BudgetExceeded { remaining, asked: *amount });
            }
            vec![IdeaEvent::Granted {
                amount: *amount,
                conditions: conditions.clone(),
                motivation: motivation.clone(),
                registry: registry.clone(),
                meeting: *meeting,
            }]
        }
        IdeaCommand::Decline { motivation, registry, meeting } => {
            vec![IdeaEvent::Declined { motivation: motivation.clone(), registry: registry.clone(), meeting: *meeting }]
        }
        IdeaCommand::Withdraw { reason } => vec![IdeaEvent::Withdrawn { reason: reason.clone() }],
    })
}

fn check_details(details: &IdeaDetails, lead: PersonId, ctx: &Context<'_>) -> Result<(), TransitionError> {
    let themes = &ctx.call.definition.themes;
    if !themes.contains(&details.theme) {
        return Err(TransitionError::UnknownTheme { theme: details.theme.clone(), allowed: themes.clone() });
    }
    let mut seen = std::collections::BTreeSet::from([lead]);
    for a in &details.co_applicants {
        if !seen.insert(a.person) {
            return Err(TransitionError::DuplicateApplicant { person: a.person });
        }
    }
    Ok(())
}

/// The status mails an event causes: one per applicant, in their language.
/// `state` is the idea's state after the transition the event belongs to.
/// [`decide`] uses this; storage uses it to tie each mail to its event, and
/// `verify` to check that every event has its mails.
pub fn notifications_for(state: &IdeaState, event: &IdeaEvent, call: &Call) -> Vec<NotificationIntent> {
    let t = &call.definition.timeline;
    let notices: Vec<Notice> = match event {
        IdeaEvent::Submitted => vec![Notice::IdeaReceived {
            submitted_at: match state {
                IdeaState::Submitted(s) => Some(s.submitted_at),
                _ => None,
            },
        }],
        IdeaEvent::Selected { motivation } if t.seminars.is_empty() => {
            vec![Notice::Selected { motivation: motivation.clone() }]
        }
        IdeaEvent::Selected { motivation } => {
            vec![Notice::Selected { motivation: motivation.clone() }, Notice::SeminarInvitation]
        }
        IdeaEvent::NotSelected { motivation } => vec![Notice::NotSelected { motivation: motivation.clone() }],
        IdeaEvent::PitchScheduled { at } => vec![Notice::PanelInvitation { at: *at }],
        IdeaEvent::PlanSubmitted { requested } => vec![Notice::PlanReceived { requested: *requested }],
        IdeaEvent::ReminderSent { deadline, days_before } => {
            vec![Notice::PlanDeadlineReminder { deadline: *deadline, days_before: *days_before }]
        }
        IdeaEvent::Lapsed { deadline } => vec![Notice::Lapsed { deadline: *deadline }],
        IdeaEvent::Prepared { .. } => vec![Notice::PreparedForDecision { meeting_at: t.decision_meeting_at }],
        IdeaEvent::Granted { amount, conditions, registry, meeting, .. } => vec![Notice::Granted {
            amount: *amount,
            conditions: conditions.clone(),
            registry: registry.clone(),
            meeting: *meeting,
        }],
        IdeaEvent::Declined { motivation, registry, meeting } => {
            vec![Notice::Declined { motivation: motivation.clone(), registry: registry.clone(), meeting: *meeting }]
        }
        // Withdrawing a draft is just discarding it; nobody needs a letter.
        IdeaEvent::Withdrawn { .. } if matches!(state, IdeaState::Withdrawn(w) if w.previous.stage() == Stage::Draft) =>
        {
            vec![]
        }
        IdeaEvent::Withdrawn { .. } => vec![Notice::Withdrawn],
        IdeaEvent::Drafted { .. }
        | IdeaEvent::DraftEdited { .. }
        | IdeaEvent::AttendanceRecorded { .. }
        | IdeaEvent::ConflictDeclared { .. }
        | IdeaEvent::PlanSectionSaved { .. }
        | IdeaEvent::Pitched
        | IdeaEvent::FeedbackGiven { .. } => vec![],
    };
    let Some(idea) = state.idea() else { return vec![] };
    notices
        .into_iter()
        .flat_map(|notice| {
            idea.applicants().map(move |a| NotificationIntent {
                call: idea.call,
                idea: idea.id,
                idea_title: Some(idea.details.title.clone()),
                to: Recipient::from(a),
                notice: notice.clone(),
            })
        })
        .collect()
}
