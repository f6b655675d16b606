//! A model-based property test of the idea pipeline.
//!
//! Random command sequences drive one call and six ideas held in a
//! [`mops_core::memory::Round`] (the system under test) and, side by side, a
//! deliberately simple reference model: per idea its stage, whether its plan
//! has every mandatory section, the amount it asks for, its reminders and
//! declared conflicts; per call the phase, the clock, the selected count, the
//! granted sum and the number of status mails. For every command the model
//! predicts whether it is accepted and, if not, the code of the refusal
//! ([`mops_core::TransitionError::code`]), following the order of checks
//! that [`mops_core::decide`] documents: final, existence, actor, stage,
//! phase, then the action's own rules.
//!
//! The steps: move the clock (only forward, sometimes to just before, at or
//! after a deadline); run the timers; advance the call; and on an idea
//! submit (new or via a draft), select or not, record attendance, schedule
//! and record the pitch, declare conflicts, give feedback, save or clear plan
//! sections, submit the plan, send reminders or lapse by hand, prepare, grant,
//! decline and withdraw, by the right people or by anyone. Generation favours
//! what moves the round forward in its current phase; a fifth of the steps are
//! random, so mostly wrong.
//!
//! After every step, on the round itself: grants stay within the budget and
//! the ceiling; at most `capacity` ideas are ever selected; a final stage
//! never changes again; each idea's state is the replay of its events, also
//! after a JSON round trip; the call is the replay of its events; the totals
//! and the funnel are folds over all events and the funnel narrows; every
//! accepted command took a row of [`mops_core::table::IDEA_TRANSITIONS`]; and
//! a refused command left the round exactly as it was.
//!
//! The call is the 2010 reference call with a capacity of 3, a budget of
//! 800 000 kr and a ceiling of 400 000 kr, so that the selection fills up and
//! the budget runs out often.
//!
//! `PROPTEST_CASES` overrides the default of 256 cases.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use proptest::strategy::{Union, ValueTree};
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};
use uuid::Uuid;

use mops_core::call::{CallDefinition, SeminarId};
use mops_core::domain::{
    CallId, FreeText, IdeaId, MeetingId, Motivation, PersonId, RegistryNumber, Score, SectionKey, Sek, Theme, Title,
};
use mops_core::idea::{Applicant, IdeaDetails, NewIdea, Recommendation};
use mops_core::memory::{IdeaRecord, Round};
use mops_core::people::Role;
use mops_core::reference::round_2010;
use mops_core::table::{IDEA_TRANSITIONS, Transition};
use mops_core::timers::TimerConfig;
use mops_core::{
    Action, Actor, CallCommand, CallEvent, CallPhase, CallState, CallTotals, Funnel, IdeaCommand, IdeaEvent, IdeaState,
    NotificationIntent, Recorded, Stage, TransitionError,
};

/// How many ideas the round may hold.
const IDEAS: usize = 6;
const CAPACITY: u32 = 3;
const BUDGET_KR: i64 = 800_000;
const CEILING_KR: i64 = 400_000;

// ---------------------------------------------------------------------------
// Fixture: the 2010 call and its people, with tighter limits.
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct Fixture {
    call_id: CallId,
    definition: CallDefinition,
    created_at: DateTime<Utc>,
    process_leader: Actor,
    sector: Vec<Actor>,
    board: Vec<Actor>,
    panel: Vec<Actor>,
    /// The panel's members: the three panelists and the sector group's chair.
    panel_members: Vec<PersonId>,
    /// `leads[i]` leads idea `i`; `leads[IDEAS]` is on no idea at all.
    leads: Vec<Actor>,
    applicants: Vec<Applicant>,
    ideas: Vec<IdeaId>,
    meeting: MeetingId,
    mandatory: Vec<SectionKey>,
    system: Actor,
}

fn kr(kronor: i64) -> Sek {
    Sek::from_kronor(kronor).expect("a non-negative amount")
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let round = round_2010();
        let mut definition = round.definition.clone();
        definition.capacity = CAPACITY;
        definition.budget = kr(BUDGET_KR);
        definition.ceiling = Some(kr(CEILING_KR));
        assert_eq!(definition.problems(), vec![], "the fixture's definition is valid");
        assert!(!definition.timeline.seminars.is_empty(), "selection sends a seminar invitation");

        let roles = |p: &mops_core::people::Person| round.roles.get(&p.id).cloned().unwrap_or_default();
        let (mut sector, mut board, mut panel, mut leads, mut applicants) = (vec![], vec![], vec![], vec![], vec![]);
        let mut process_leader = None;
        for person in &round.people {
            let rs = roles(person);
            let actor = round.actor(person.id);
            if rs.contains(&Role::ProcessLeader) {
                process_leader = Some(actor);
            } else if rs.iter().any(|r| matches!(r, Role::SectorGroupMember { .. })) {
                sector.push(actor);
            } else if rs.contains(&Role::BoardMember) {
                board.push(actor);
            } else if !rs.is_empty() {
                panel.push(actor);
            } else if leads.len() <= IDEAS {
                leads.push(actor);
                applicants.push(Applicant {
                    person: person.id,
                    name: person.name.clone(),
                    email: person.email.clone(),
                    organisation: person.organisation,
                    language: person.language,
                });
            }
        }
        assert_eq!((sector.len(), board.len(), panel.len(), leads.len()), (6, 6, 3, IDEAS + 1));
        let on_panel = |a: &Actor| a.is_panel_member(round.call_id);
        assert!(on_panel(&sector[0]) && !sector[1..].iter().any(on_panel), "the chair alone also sits on the panel");
        let panel_members = panel.iter().chain(&sector[..1]).map(|a| a.id.person().expect("a person")).collect();
        let mandatory: Vec<SectionKey> =
            definition.template.iter().filter(|s| s.mandatory).map(|s| s.key.clone()).collect();
        assert!(mandatory.len() >= 2);
        Fixture {
            call_id: round.call_id,
            created_at: definition.timeline.opens_at - Duration::days(18),
            definition,
            process_leader: process_leader.expect("a process leader"),
            sector,
            board,
            panel,
            panel_members,
            leads,
            applicants,
            ideas: (0..IDEAS as u128).map(|i| IdeaId::from_uuid(Uuid::from_u128(0x5eed_0000 + i))).collect(),
            meeting: round.meeting.id,
            mandatory,
            system: Actor::system(),
        }
    })
}

fn opens_at() -> DateTime<Utc> {
    fixture().definition.timeline.opens_at
}

fn closes_at() -> DateTime<Utc> {
    fixture().definition.timeline.closes_at
}

fn plan_deadline() -> DateTime<Utc> {
    fixture().definition.timeline.plan_deadline
}

// ---------------------------------------------------------------------------
// Transitions.
// ---------------------------------------------------------------------------

/// Who gives a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    ProcessLeader,
    Sector(usize),
    Board(usize),
    Panelist(usize),
    /// The lead of idea `n`; `Lead(IDEAS)` is on no idea.
    Lead(usize),
    System,
}

impl By {
    fn actor(self) -> &'static Actor {
        let f = fixture();
        match self {
            By::ProcessLeader => &f.process_leader,
            By::Sector(i) => &f.sector[i],
            By::Board(i) => &f.board[i],
            By::Panelist(i) => &f.panel[i],
            By::Lead(i) => &f.leads[i],
            By::System => &f.system,
        }
    }

    fn is_lead_of(self, slot: usize) -> bool {
        self == By::Lead(slot)
    }

    /// Which of the call's panel members this is: the three panelists, and
    /// the sector group's chair (`Sector(0)`), who also sits on the panel.
    fn panel_member(self) -> Option<usize> {
        match self {
            By::Panelist(i) => Some(i),
            By::Sector(0) => Some(3),
            _ => None,
        }
    }

    /// Even ideas have the next idea's lead as co-applicant.
    fn is_applicant_of(self, slot: usize) -> bool {
        self.is_lead_of(slot) || (slot.is_multiple_of(2) && self == By::Lead(slot + 1))
    }
}

/// A point of the call's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Opens,
    Closes,
    Reminder14,
    Reminder3,
    PlanDeadline,
}

impl Mark {
    fn at(self) -> DateTime<Utc> {
        match self {
            Mark::Opens => opens_at(),
            Mark::Closes => closes_at(),
            Mark::Reminder14 => plan_deadline() - Duration::days(14),
            Mark::Reminder3 => plan_deadline() - Duration::days(3),
            Mark::PlanDeadline => plan_deadline(),
        }
    }
}

/// A move of the clock, which only ever goes forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Jump {
    Minutes(i64),
    Days(i64),
    /// To `minutes` after (or before) a mark, unless that is in the past.
    To(Mark, i64),
}

impl Jump {
    fn from(self, now: DateTime<Utc>) -> DateTime<Utc> {
        let target = match self {
            Jump::Minutes(m) => now + Duration::minutes(m),
            Jump::Days(d) => now + Duration::days(d),
            Jump::To(mark, m) => mark.at() + Duration::minutes(m),
        };
        target.max(now)
    }
}

/// What is done to an idea. Amounts are in whole kronor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    /// Drafts and submits in one step; `bad_theme` names a theme the call
    /// does not have.
    SubmitNew {
        bad_theme: bool,
    },
    Draft {
        bad_theme: bool,
    },
    EditDraft {
        bad_theme: bool,
    },
    Submit,
    Select,
    NotSelect,
    RecordPitch,
    /// Saves every mandatory section of the plan, one command each.
    SavePlan,
    /// Clears one mandatory section.
    ClearSection,
    SubmitPlan {
        kr: i64,
    },
    /// `None` recommends no funding.
    Prepare {
        fund: Option<i64>,
    },
    Grant {
        kr: i64,
    },
    Decline,
    Withdraw,
    Lapse,
    Remind {
        days: u32,
    },
    /// Seminar 4 does not exist.
    Attend {
        seminar: u16,
        attended: bool,
    },
    /// A slot at the panel, or (`late`) one at the plan deadline.
    SchedulePitch {
        late: bool,
    },
    /// Panel member `member` (see [`By::panel_member`]) has a conflict.
    Conflict {
        member: usize,
    },
    /// The same score on every criterion; `missing` leaves the last one out.
    Feedback {
        score: u8,
        missing: bool,
    },
}

impl Cmd {
    fn action(self) -> Action {
        match self {
            Cmd::SubmitNew { .. } => Action::SubmitNew,
            Cmd::Draft { .. } => Action::Draft,
            Cmd::EditDraft { .. } => Action::EditDraft,
            Cmd::Submit => Action::Submit,
            Cmd::Select => Action::Select,
            Cmd::NotSelect => Action::NotSelect,
            Cmd::RecordPitch => Action::RecordPitch,
            Cmd::SavePlan | Cmd::ClearSection => Action::SavePlanSection,
            Cmd::SubmitPlan { .. } => Action::SubmitPlan,
            Cmd::Prepare { .. } => Action::Prepare,
            Cmd::Grant { .. } => Action::Grant,
            Cmd::Decline => Action::Decline,
            Cmd::Withdraw => Action::Withdraw,
            Cmd::Lapse => Action::Lapse,
            Cmd::Remind { .. } => Action::SendReminder,
            Cmd::Attend { .. } => Action::RecordAttendance,
            Cmd::SchedulePitch { .. } => Action::SchedulePitch,
            Cmd::Conflict { .. } => Action::DeclareConflict,
            Cmd::Feedback { .. } => Action::GiveFeedback,
        }
    }

    /// How many core commands this stands for.
    fn commands(self) -> usize {
        match self {
            Cmd::SavePlan => fixture().mandatory.len(),
            _ => 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Move the clock.
    Clock(Jump),
    /// Move the clock, then run the timers that are due.
    Timers(Jump),
    /// Ask to move the call to a phase.
    Advance {
        to: CallPhase,
        by: By,
    },
    Idea {
        slot: usize,
        by: By,
        cmd: Cmd,
    },
}

/// The predicted outcome of one command given to the round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    /// Timers ran; this many commands.
    Ran(usize),
    /// Refused, with this [`TransitionError::code`].
    Refused(&'static str),
}

// ---------------------------------------------------------------------------
// The reference model.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct ModelIdea {
    stage: Stage,
    plan_complete: bool,
    requested_kr: i64,
    reminders: BTreeSet<u32>,
    /// Panel members (see [`By::panel_member`]) with a declared conflict.
    conflicts: BTreeSet<usize>,
}

#[derive(Debug, Clone)]
struct Model {
    phase: CallPhase,
    now: DateTime<Utc>,
    ideas: Vec<ModelIdea>,
    selected: u32,
    granted_kr: i64,
    /// How many status mails have been decided.
    outbox: usize,
    /// The outcomes of the last step, one per core command (or timer run).
    last: Vec<Outcome>,
}

/// One mail per applicant; even ideas have two applicants.
fn applicants(slot: usize) -> usize {
    if slot.is_multiple_of(2) { 2 } else { 1 }
}

/// The phases in which a command is allowed (the model's own list).
fn phases(cmd: Cmd) -> &'static [CallPhase] {
    use CallPhase as P;
    match cmd {
        Cmd::SubmitNew { .. } | Cmd::Draft { .. } | Cmd::EditDraft { .. } | Cmd::Submit => &[P::Open],
        Cmd::Select | Cmd::NotSelect => &[P::Selection],
        Cmd::SavePlan | Cmd::ClearSection | Cmd::Remind { .. } | Cmd::Lapse => &[P::Development, P::Panel, P::PlansDue],
        Cmd::RecordPitch => &[P::Panel],
        Cmd::SubmitPlan { .. } => &[P::Panel, P::PlansDue],
        Cmd::Prepare { .. } => &[P::Preparation],
        Cmd::Grant { .. } | Cmd::Decline => &[P::Decision],
        Cmd::Withdraw => &[P::Open, P::Selection, P::Development, P::Panel, P::PlansDue, P::Preparation, P::Decision],
        Cmd::Attend { .. } | Cmd::SchedulePitch { .. } => &[P::Development, P::Panel],
        Cmd::Conflict { .. } => &[P::Development, P::Panel, P::PlansDue],
        Cmd::Feedback { .. } => &[P::Panel, P::PlansDue],
    }
}

/// Where a command takes an idea at `stage` (the model's own diagram).
fn target(stage: Stage, cmd: Cmd) -> Option<Stage> {
    use Stage as S;
    Some(match (stage, cmd) {
        (S::New, Cmd::SubmitNew { .. }) => S::Submitted,
        (S::New, Cmd::Draft { .. }) => S::Draft,
        (S::Draft, Cmd::EditDraft { .. }) => S::Draft,
        (S::Draft, Cmd::Submit) => S::Submitted,
        (S::Submitted, Cmd::Select) => S::Selected,
        (S::Submitted, Cmd::NotSelect) => S::NotSelected,
        (S::Selected | S::Pitched, Cmd::SavePlan | Cmd::ClearSection | Cmd::Remind { .. } | Cmd::Conflict { .. }) => {
            stage
        }
        (S::Selected, Cmd::Attend { .. } | Cmd::SchedulePitch { .. }) => S::Selected,
        (S::Pitched, Cmd::Feedback { .. }) => S::Pitched,
        (S::Selected, Cmd::RecordPitch) => S::Pitched,
        (S::Selected | S::Pitched, Cmd::Lapse) => S::Lapsed,
        (S::Pitched, Cmd::SubmitPlan { .. }) => S::PlanSubmitted,
        (S::PlanSubmitted, Cmd::Prepare { .. }) => S::Prepared,
        (S::Prepared, Cmd::Grant { .. }) => S::Granted,
        (S::Prepared, Cmd::Decline) => S::Declined,
        (S::Draft | S::Submitted | S::Selected | S::Pitched | S::PlanSubmitted | S::Prepared, Cmd::Withdraw) => {
            S::Withdrawn
        }
        _ => return None,
    })
}

/// The checks on an amount the sector group recommends or the board grants.
fn amount_rules(asked: i64, requested: i64) -> Result<(), &'static str> {
    if asked == 0 {
        Err("amount_not_positive")
    } else if asked > requested {
        Err("exceeds_request")
    } else if asked > CEILING_KR {
        Err("exceeds_ceiling")
    } else {
        Ok(())
    }
}

impl Model {
    fn initial() -> Self {
        let idea = ModelIdea {
            stage: Stage::New,
            plan_complete: false,
            requested_kr: 0,
            reminders: BTreeSet::new(),
            conflicts: BTreeSet::new(),
        };
        Model {
            phase: CallPhase::Draft,
            now: fixture().created_at,
            ideas: vec![idea; IDEAS],
            selected: 0,
            granted_kr: 0,
            outbox: 0,
            last: vec![],
        }
    }

    fn count(&self, stage: Stage) -> usize {
        self.ideas.iter().filter(|i| i.stage == stage).count()
    }

    /// Whether the call may move to `to` now.
    fn advance(&self, to: CallPhase, by: By) -> Result<(), &'static str> {
        if !matches!(by, By::ProcessLeader | By::Sector(_)) {
            return Err("not_allowed");
        }
        if self.phase.next() != Some(to) {
            return Err("phase_order");
        }
        let pending = |stages: &[Stage]| {
            if stages.iter().any(|s| self.count(*s) > 0) { Err("ideas_pending") } else { Ok(()) }
        };
        match to {
            CallPhase::Open if self.now >= closes_at() => Err("deadline_passed"),
            CallPhase::Selection if self.now < closes_at() => Err("too_early"),
            CallPhase::Development => pending(&[Stage::Submitted]),
            CallPhase::Preparation if self.now < plan_deadline() => Err("too_early"),
            CallPhase::Preparation => pending(&[Stage::Selected, Stage::Pitched]),
            CallPhase::Decision => pending(&[Stage::PlanSubmitted]),
            CallPhase::Finished => {
                pending(&[Stage::Submitted, Stage::Selected, Stage::Pitched, Stage::PlanSubmitted, Stage::Prepared])
            }
            _ => Ok(()),
        }
    }

    /// Whether a command on an idea is accepted, in the order `decide`
    /// documents: final, existence, actor, stage, phase, then the rules.
    fn check(&self, slot: usize, by: By, cmd: Cmd) -> Result<Stage, &'static str> {
        let idea = &self.ideas[slot];
        let stage = idea.stage;
        if stage.is_final() {
            return Err("final");
        }
        match (stage == Stage::New, matches!(cmd, Cmd::SubmitNew { .. } | Cmd::Draft { .. })) {
            (false, true) => return Err("already_exists"),
            (true, false) => return Err("idea_not_found"),
            _ => {}
        }
        let may = match cmd {
            Cmd::SubmitNew { .. } | Cmd::Draft { .. } => true,
            Cmd::EditDraft { .. } | Cmd::Submit | Cmd::Withdraw | Cmd::SubmitPlan { .. } => {
                by.is_lead_of(slot) || by == By::ProcessLeader
            }
            Cmd::Select | Cmd::NotSelect | Cmd::Prepare { .. } => matches!(by, By::Sector(_)),
            Cmd::RecordPitch => by == By::ProcessLeader,
            Cmd::SavePlan | Cmd::ClearSection => by.is_applicant_of(slot),
            Cmd::Lapse | Cmd::Remind { .. } => by == By::System,
            Cmd::Grant { .. } | Cmd::Decline => matches!(by, By::Board(_)),
            Cmd::Attend { .. } => matches!(by, By::ProcessLeader | By::Sector(_)),
            Cmd::SchedulePitch { .. } => by == By::ProcessLeader,
            Cmd::Conflict { .. } => by == By::ProcessLeader || by.panel_member().is_some(),
            Cmd::Feedback { .. } => by.panel_member().is_some(),
        };
        if !may {
            return Err("not_allowed");
        }
        let to = target(stage, cmd).ok_or("wrong_stage")?;
        if !phases(cmd).contains(&self.phase) {
            return Err("wrong_phase");
        }
        let now = self.now;
        let deadline = plan_deadline();
        let submission_window = || {
            if now < opens_at() {
                Err("not_open_yet")
            } else if now >= closes_at() {
                Err("deadline_passed")
            } else {
                Ok(())
            }
        };
        match cmd {
            Cmd::SubmitNew { bad_theme } | Cmd::Draft { bad_theme } | Cmd::EditDraft { bad_theme } => {
                // Only the named lead (or the process leader) creates.
                if !(by.is_lead_of(slot) || by == By::ProcessLeader) {
                    return Err("not_allowed");
                }
                if bad_theme {
                    return Err("unknown_theme");
                }
                submission_window()?;
            }
            Cmd::Submit => submission_window()?,
            Cmd::Select if self.selected >= CAPACITY => return Err("selection_full"),
            Cmd::SavePlan | Cmd::ClearSection if now >= deadline => return Err("deadline_passed"),
            Cmd::SubmitPlan { kr } => {
                if now >= deadline {
                    return Err("deadline_passed");
                }
                if !idea.plan_complete {
                    return Err("missing_sections");
                }
                if kr == 0 {
                    return Err("amount_not_positive");
                }
                if kr > CEILING_KR {
                    return Err("exceeds_ceiling");
                }
            }
            Cmd::Remind { days } => {
                if now < deadline - Duration::days(i64::from(days)) {
                    return Err("reminder_not_due");
                }
                if now >= deadline {
                    return Err("deadline_passed");
                }
                if idea.reminders.iter().any(|s| *s <= days) {
                    return Err("reminder_already_sent");
                }
            }
            Cmd::Lapse if now < deadline => return Err("deadline_not_reached"),
            Cmd::Attend { seminar, .. } if seminar > 3 => return Err("unknown_seminar"),
            Cmd::SchedulePitch { late: true } => return Err("deadline_passed"),
            Cmd::Conflict { member } if by != By::ProcessLeader && by.panel_member() != Some(member) => {
                return Err("not_allowed");
            }
            Cmd::Feedback { score, missing } => {
                if by.panel_member().is_some_and(|m| idea.conflicts.contains(&m)) {
                    return Err("conflict_of_interest");
                }
                if !(1..=5).contains(&score) {
                    return Err("score_out_of_scale");
                }
                if missing {
                    return Err("missing_score");
                }
            }
            Cmd::Prepare { fund: Some(amount) } => amount_rules(amount, idea.requested_kr)?,
            Cmd::Grant { kr } => {
                amount_rules(kr, idea.requested_kr)?;
                if kr > BUDGET_KR - self.granted_kr {
                    return Err("budget_exceeded");
                }
            }
            _ => {}
        }
        Ok(to)
    }

    /// Applies an accepted command to the model.
    fn accept(&mut self, slot: usize, cmd: Cmd, to: Stage) {
        let mails = match cmd {
            Cmd::Select => 2,
            Cmd::Withdraw if self.ideas[slot].stage == Stage::Draft => 0,
            Cmd::Draft { .. }
            | Cmd::EditDraft { .. }
            | Cmd::RecordPitch
            | Cmd::SavePlan
            | Cmd::ClearSection
            | Cmd::Attend { .. }
            | Cmd::Conflict { .. }
            | Cmd::Feedback { .. } => 0,
            _ => 1,
        };
        self.outbox += mails * applicants(slot);
        let idea = &mut self.ideas[slot];
        idea.stage = to;
        match cmd {
            Cmd::Select => self.selected += 1,
            Cmd::SavePlan => idea.plan_complete = true,
            Cmd::ClearSection => idea.plan_complete = false,
            Cmd::SubmitPlan { kr } => idea.requested_kr = kr,
            Cmd::Grant { kr } => self.granted_kr += kr,
            Cmd::Remind { days } => {
                idea.reminders.insert(days);
            }
            Cmd::Conflict { member } => {
                idea.conflicts.insert(member);
            }
            _ => {}
        }
    }

    /// Runs the due timers as the system; returns how many ran.
    fn run_timers(&mut self) -> usize {
        if !phases(Cmd::Lapse).contains(&self.phase) {
            return 0;
        }
        let deadline = plan_deadline();
        let mut ran = 0;
        for slot in 0..IDEAS {
            if !matches!(self.ideas[slot].stage, Stage::Selected | Stage::Pitched) {
                continue;
            }
            let cmd = if self.now >= deadline {
                Cmd::Lapse
            } else {
                let nearest = TimerConfig::default()
                    .plan_reminder_days
                    .into_iter()
                    .filter(|d| self.now >= deadline - Duration::days(i64::from(*d)))
                    .min();
                match nearest {
                    Some(days) if !self.ideas[slot].reminders.iter().any(|s| *s <= days) => Cmd::Remind { days },
                    _ => continue,
                }
            };
            let to = self.check(slot, By::System, cmd).expect("a due timer is accepted");
            self.accept(slot, cmd, to);
            ran += 1;
        }
        ran
    }
}

struct ModelMachine;

fn any_by() -> BoxedStrategy<By> {
    thread_local! {
        static CACHED: BoxedStrategy<By> = build_any_by();
    }
    CACHED.with(Clone::clone)
}

fn build_any_by() -> BoxedStrategy<By> {
    prop_oneof![
        Just(By::ProcessLeader),
        (0..6usize).prop_map(By::Sector),
        (0..6usize).prop_map(By::Board),
        (0..3usize).prop_map(By::Panelist),
        (0..=IDEAS).prop_map(By::Lead),
        Just(By::System),
    ]
    .boxed()
}

fn panel_member() -> BoxedStrategy<By> {
    thread_local! {
        static CACHED: BoxedStrategy<By> = build_panel_member();
    }
    CACHED.with(Clone::clone)
}

fn build_panel_member() -> BoxedStrategy<By> {
    prop_oneof![3 => (0..3usize).prop_map(By::Panelist), 1 => Just(By::Sector(0))].boxed()
}

fn feedback() -> BoxedStrategy<Cmd> {
    thread_local! {
        static CACHED: BoxedStrategy<Cmd> = build_feedback();
    }
    CACHED.with(Clone::clone)
}

fn build_feedback() -> BoxedStrategy<Cmd> {
    let score = prop_oneof![8 => 1..=5u8, 1 => Just(0u8), 1 => Just(6u8)];
    let missing = prop_oneof![8 => Just(false), 1 => Just(true)];
    (score, missing).prop_map(|(score, missing)| Cmd::Feedback { score, missing }).boxed()
}

fn sector_member() -> BoxedStrategy<By> {
    thread_local! {
        static CACHED: BoxedStrategy<By> = build_sector_member();
    }
    CACHED.with(Clone::clone)
}

fn build_sector_member() -> BoxedStrategy<By> {
    (0..6usize).prop_map(By::Sector).boxed()
}

/// An amount asked for in a plan: mostly fine, sometimes zero or above the
/// ceiling.
fn plan_amount() -> BoxedStrategy<i64> {
    thread_local! {
        static CACHED: BoxedStrategy<i64> = build_plan_amount();
    }
    CACHED.with(Clone::clone)
}

fn build_plan_amount() -> BoxedStrategy<i64> {
    prop_oneof![
        6 => 200_000..=CEILING_KR,
        1 => Just(CEILING_KR),
        1 => Just(0i64),
        1 => (CEILING_KR + 1)..=CEILING_KR + 300_000,
    ]
    .boxed()
}

/// An amount recommended or granted against a request: the request, part of
/// it, nothing, or more.
fn amount_against(requested: i64) -> BoxedStrategy<i64> {
    let requested = requested.max(1);
    prop_oneof![
        5 => Just(requested),
        2 => 1..=requested,
        1 => Just(0i64),
        1 => (requested + 1)..=requested + 50_000,
    ]
    .boxed()
}

fn any_cmd() -> BoxedStrategy<Cmd> {
    thread_local! {
        static CACHED: BoxedStrategy<Cmd> = build_any_cmd();
    }
    CACHED.with(Clone::clone)
}

fn build_any_cmd() -> BoxedStrategy<Cmd> {
    prop_oneof![
        any::<bool>().prop_map(|bad_theme| Cmd::SubmitNew { bad_theme }),
        any::<bool>().prop_map(|bad_theme| Cmd::Draft { bad_theme }),
        any::<bool>().prop_map(|bad_theme| Cmd::EditDraft { bad_theme }),
        Just(Cmd::Submit),
        Just(Cmd::Select),
        Just(Cmd::NotSelect),
        Just(Cmd::RecordPitch),
        Just(Cmd::SavePlan),
        Just(Cmd::ClearSection),
        plan_amount().prop_map(|kr| Cmd::SubmitPlan { kr }),
        proptest::option::of(plan_amount()).prop_map(|fund| Cmd::Prepare { fund }),
        plan_amount().prop_map(|kr| Cmd::Grant { kr }),
        Just(Cmd::Decline),
        Just(Cmd::Withdraw),
        Just(Cmd::Lapse),
        prop::sample::select(vec![14u32, 7, 3, 1]).prop_map(|days| Cmd::Remind { days }),
        (1..=4u16, any::<bool>()).prop_map(|(seminar, attended)| Cmd::Attend { seminar, attended }),
        any::<bool>().prop_map(|late| Cmd::SchedulePitch { late }),
        (0..4usize).prop_map(|member| Cmd::Conflict { member }),
        feedback(),
    ]
    .boxed()
}

/// A random move of the clock: a little, or to around the next mark of the
/// timeline (never further, so a random jump does not skip whole phases).
fn any_jump(now: DateTime<Utc>) -> BoxedStrategy<Jump> {
    let marks = [Mark::Opens, Mark::Closes, Mark::Reminder14, Mark::Reminder3, Mark::PlanDeadline];
    let next = marks.into_iter().find(|m| m.at() >= now).unwrap_or(Mark::PlanDeadline);
    prop_oneof![
        3 => (0..600i64).prop_map(Jump::Minutes),
        2 => (1..5i64).prop_map(Jump::Days),
        1 => (-1..=1i64).prop_map(move |off| Jump::To(next, off)),
    ]
    .boxed()
}

fn any_phase() -> BoxedStrategy<CallPhase> {
    thread_local! {
        static CACHED: BoxedStrategy<CallPhase> = build_any_phase();
    }
    CACHED.with(Clone::clone)
}

fn build_any_phase() -> BoxedStrategy<CallPhase> {
    prop::sample::select(CallPhase::ALL.to_vec()).boxed()
}

/// The weight of a command that moves an idea forward.
const W: u32 = 10;

/// Steps that move the round forward in its current phase, mostly by the
/// right people, with their weights: commands on ideas first, then the clock
/// and the phase.
fn directed(m: &Model) -> Vec<(u32, BoxedStrategy<Step>)> {
    use CallPhase as P;
    let mut ideas = Vec::new();
    // Now and then the right command comes from anyone at all.
    let idea = |slot: usize, by: BoxedStrategy<By>, cmd: BoxedStrategy<Cmd>| {
        let by = prop_oneof![6 => by, 1 => any_by()];
        (by, cmd).prop_map(move |(by, cmd)| Step::Idea { slot, by, cmd }).boxed()
    };
    let open = m.now >= opens_at() && m.now < closes_at();
    for (slot, i) in m.ideas.iter().enumerate() {
        let (phase, stage) = (m.phase, i.stage);
        if phase == P::Open && stage == Stage::New {
            let by = prop_oneof![4 => Just(By::Lead(slot)), 1 => Just(By::ProcessLeader)].boxed();
            let weight = if open { W } else { 1 };
            let cmd = prop_oneof![
                6 => Just(Cmd::SubmitNew { bad_theme: false }),
                2 => Just(Cmd::Draft { bad_theme: false }),
                1 => any::<bool>().prop_map(|bad_theme| Cmd::SubmitNew { bad_theme }),
            ];
            ideas.push((weight, idea(slot, by, cmd.boxed())));
        }
        if phase == P::Open && stage == Stage::Draft {
            let by = prop_oneof![4 => Just(By::Lead(slot)), 1 => Just(By::ProcessLeader)].boxed();
            let weight = if open { W } else { 1 };
            let cmd = prop_oneof![
                4 => Just(Cmd::Submit),
                1 => any::<bool>().prop_map(|bad_theme| Cmd::EditDraft { bad_theme }),
                1 => Just(Cmd::Withdraw),
            ];
            ideas.push((weight, idea(slot, by, cmd.boxed())));
        }
        if phase == P::Selection && stage == Stage::Submitted {
            let (yes, no) = if m.selected < CAPACITY { (3, 1) } else { (1, 3) };
            let cmd = prop_oneof![yes => Just(Cmd::Select), no => Just(Cmd::NotSelect)].boxed();
            ideas.push((W, idea(slot, sector_member(), cmd)));
        }
        let developing = matches!(phase, P::Development | P::Panel | P::PlansDue) && m.now < plan_deadline();
        if developing && matches!(stage, Stage::Selected | Stage::Pitched) && !i.plan_complete {
            let co = if slot.is_multiple_of(2) { slot + 1 } else { slot };
            let by = prop_oneof![Just(By::Lead(slot)), Just(By::Lead(co))].boxed();
            ideas.push((W, idea(slot, by, Just(Cmd::SavePlan).boxed())));
        }
        if matches!(phase, P::Development | P::Panel | P::PlansDue) && matches!(stage, Stage::Selected | Stage::Pitched)
        {
            // What the timers do, asked for by hand, due or not.
            let cmd = prop_oneof![
                Just(Cmd::Lapse),
                prop::sample::select(vec![14u32, 7, 3]).prop_map(|days| Cmd::Remind { days }),
            ];
            ideas.push((1, idea(slot, Just(By::System).boxed(), cmd.boxed())));
        }
        if matches!(phase, P::Development | P::Panel) && stage == Stage::Selected {
            let by = prop_oneof![Just(By::ProcessLeader), sector_member()].boxed();
            let attend = (1..=4u16, any::<bool>()).prop_map(|(seminar, attended)| Cmd::Attend { seminar, attended });
            ideas.push((2, idea(slot, by, attend.boxed())));
            let late = prop_oneof![6 => Just(false), 1 => Just(true)];
            let pitch = late.prop_map(|late| Cmd::SchedulePitch { late }).boxed();
            ideas.push((2, idea(slot, Just(By::ProcessLeader).boxed(), pitch)));
        }
        if developing && matches!(stage, Stage::Selected | Stage::Pitched) {
            // A panel member declares their own conflict, or the process
            // leader records someone's.
            let conflict = (prop_oneof![3 => panel_member(), 1 => Just(By::ProcessLeader)], 0..4usize).prop_map(
                move |(by, member)| {
                    let member = by.panel_member().unwrap_or(member);
                    Step::Idea { slot, by, cmd: Cmd::Conflict { member } }
                },
            );
            ideas.push((1, conflict.boxed()));
        }
        if developing && phase != P::Development && stage == Stage::Pitched {
            ideas.push((3, idea(slot, panel_member(), feedback())));
        }
        if phase == P::Panel && stage == Stage::Selected {
            ideas.push((W, idea(slot, Just(By::ProcessLeader).boxed(), Just(Cmd::RecordPitch).boxed())));
        }
        if developing && matches!(stage, Stage::Selected | Stage::Pitched) && i.plan_complete {
            // Second thoughts: a mandatory section is emptied again.
            let by = Just(By::Lead(slot)).boxed();
            ideas.push((1, idea(slot, by, Just(Cmd::ClearSection).boxed())));
        }
        if developing && phase != P::Development && stage == Stage::Pitched {
            let by = prop_oneof![4 => Just(By::Lead(slot)), 1 => Just(By::ProcessLeader)].boxed();
            let weight = if i.plan_complete { W } else { 1 };
            ideas.push((weight, idea(slot, by, plan_amount().prop_map(|kr| Cmd::SubmitPlan { kr }).boxed())));
        }
        if phase == P::Preparation && stage == Stage::PlanSubmitted {
            let fund = prop_oneof![4 => amount_against(i.requested_kr).prop_map(Some), 1 => Just(None)];
            ideas.push((W, idea(slot, sector_member(), fund.prop_map(|fund| Cmd::Prepare { fund }).boxed())));
        }
        if phase == P::Decision && stage == Stage::Prepared {
            let cmd = prop_oneof![
                3 => amount_against(i.requested_kr).prop_map(|kr| Cmd::Grant { kr }),
                1 => Just(Cmd::Decline),
            ];
            ideas.push((W, idea(slot, (0..6usize).prop_map(By::Board).boxed(), cmd.boxed())));
        }
    }
    // Moving on is likelier once nothing is left that moves an idea forward.
    let busy = ideas.iter().any(|(weight, _)| *weight == W);
    let (advance, clock) = if busy { (1, 1) } else { (4, 4) };
    let mut out = ideas;
    if let Some(to) = m.phase.next() {
        let by = prop_oneof![3 => Just(By::ProcessLeader), 1 => sector_member()];
        out.push((advance, by.prop_map(move |by| Step::Advance { to, by }).boxed()));
    }
    let mark = |marks: Vec<Mark>, offsets: std::ops::RangeInclusive<i64>| {
        (prop::sample::select(marks), offsets).prop_map(|(mark, off)| Jump::To(mark, off))
    };
    match m.phase {
        P::Draft | P::Open if m.now < opens_at() => {
            out.push((clock, mark(vec![Mark::Opens], 0..=120).prop_map(Step::Clock).boxed()));
        }
        P::Open => out.push((clock, mark(vec![Mark::Closes], -1..=1).prop_map(Step::Clock).boxed())),
        P::Development | P::Panel => {
            // The seminars and the panel take their time; the reminders and
            // the deadline come later.
            out.push((clock, (1..8i64).prop_map(|d| Step::Timers(Jump::Days(d))).boxed()));
        }
        P::PlansDue => {
            // The deadline passes mostly once the plans that can come are in.
            let marks = if busy {
                vec![Mark::Reminder14, Mark::Reminder3, Mark::PlanDeadline]
            } else {
                vec![Mark::PlanDeadline]
            };
            out.push((clock, mark(marks, -1..=1).prop_map(Step::Timers).boxed()));
        }
        _ => {}
    }
    out
}

impl ReferenceStateMachine for ModelMachine {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::initial()).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Step> {
        let noise = prop_oneof![
            6 => (0..IDEAS, any_by(), any_cmd()).prop_map(|(slot, by, cmd)| Step::Idea { slot, by, cmd }),
            1 => (any_phase(), any_by()).prop_map(|(to, by)| Step::Advance { to, by }),
            1 => any_jump(state.now).prop_map(Step::Clock),
            1 => any_jump(state.now).prop_map(Step::Timers),
        ]
        .boxed();
        let directed = directed(state);
        if directed.is_empty() {
            noise
        } else {
            Union::new_weighted(vec![(1, noise), (4, Union::new_weighted(directed).boxed())]).boxed()
        }
    }

    fn apply(mut m: Model, step: &Step) -> Model {
        m.last = match *step {
            Step::Clock(jump) => {
                m.now = jump.from(m.now);
                vec![]
            }
            Step::Timers(jump) => {
                m.now = jump.from(m.now);
                vec![Outcome::Ran(m.run_timers())]
            }
            Step::Advance { to, by } => match m.advance(to, by) {
                Ok(()) => {
                    m.phase = to;
                    vec![Outcome::Accepted]
                }
                Err(code) => vec![Outcome::Refused(code)],
            },
            Step::Idea { slot, by, cmd } => {
                let outcome = match m.check(slot, by, cmd) {
                    Ok(to) => {
                        m.accept(slot, cmd, to);
                        Outcome::Accepted
                    }
                    Err(code) => Outcome::Refused(code),
                };
                // The plan's sections are saved one by one, and the checks
                // do not depend on which sections are saved already.
                vec![outcome; cmd.commands()]
            }
        };
        m
    }
}

// ---------------------------------------------------------------------------
// The system under test.
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct Sut {
    round: Round,
    now: DateTime<Utc>,
    /// Each idea's record as it was when it reached a final stage.
    finals: BTreeMap<IdeaId, IdeaRecord>,
    /// The ideas whose events the last step changed.
    changed: BTreeSet<IdeaId>,
}

/// Everything in a round that a command could change.
#[derive(Debug, Clone, PartialEq)]
struct Snapshot {
    call: CallState,
    call_events: Vec<Recorded<CallEvent>>,
    ideas: BTreeMap<IdeaId, IdeaRecord>,
    totals: CallTotals,
    outbox: Vec<NotificationIntent>,
}

impl Snapshot {
    fn of(round: &Round) -> Self {
        Snapshot {
            call: round.call.clone(),
            call_events: round.call_events.clone(),
            ideas: round.ideas.clone(),
            totals: round.totals,
            outbox: round.outbox.clone(),
        }
    }
}

fn stage_of(round: &Round, id: IdeaId) -> Stage {
    round.idea(id).map_or(Stage::New, IdeaState::stage)
}

fn text(s: &str) -> FreeText {
    FreeText::parse(s).expect("a valid text")
}

fn motivation(s: &str) -> Motivation {
    Motivation::parse(s).expect("a valid motivation")
}

fn new_idea(slot: usize, bad_theme: bool) -> NewIdea {
    let f = fixture();
    let theme = if bad_theme {
        Theme::parse("rymdfart").expect("a theme")
    } else {
        f.definition.themes[slot % f.definition.themes.len()].clone()
    };
    NewIdea {
        id: f.ideas[slot],
        call: f.call_id,
        lead: f.applicants[slot].clone(),
        details: IdeaDetails {
            title: Title::parse(&format!("Idé nummer {slot}")).expect("a title"),
            summary: text("En idé om att pröva ett nytt arbetssätt tillsammans med högskolan."),
            theme,
            organisation: f.applicants[slot].organisation,
            co_applicants: if slot.is_multiple_of(2) { vec![f.applicants[slot + 1].clone()] } else { vec![] },
        },
    }
}

/// The core commands a step on an idea stands for.
fn idea_commands(slot: usize, cmd: Cmd, serial: usize) -> Vec<IdeaCommand> {
    let f = fixture();
    let registry = || RegistryNumber::parse(&format!("SK 2010/{}", serial + 1)).expect("a registry number");
    match cmd {
        Cmd::SubmitNew { bad_theme } => vec![IdeaCommand::SubmitNew(Box::new(new_idea(slot, bad_theme)))],
        Cmd::Draft { bad_theme } => vec![IdeaCommand::Draft(Box::new(new_idea(slot, bad_theme)))],
        Cmd::EditDraft { bad_theme } => {
            let mut details = new_idea(slot, bad_theme).details;
            details.summary = text("Omskriven sammanfattning av idén.");
            vec![IdeaCommand::EditDraft(Box::new(details))]
        }
        Cmd::Submit => vec![IdeaCommand::Submit],
        Cmd::Select => vec![IdeaCommand::Select { motivation: None }],
        Cmd::NotSelect => vec![IdeaCommand::NotSelect { motivation: motivation("Idén passar inte utlysningen.") }],
        Cmd::RecordPitch => vec![IdeaCommand::RecordPitch],
        Cmd::SavePlan => f
            .mandatory
            .iter()
            .map(|section| IdeaCommand::SavePlanSection {
                section: section.clone(),
                text: Some(text(&format!("Avsnittet {section} för idé {slot}."))),
            })
            .collect(),
        Cmd::ClearSection => {
            vec![IdeaCommand::SavePlanSection { section: f.mandatory[f.mandatory.len() - 1].clone(), text: None }]
        }
        Cmd::SubmitPlan { kr: amount } => vec![IdeaCommand::SubmitPlan { requested: kr(amount) }],
        Cmd::Prepare { fund } => vec![IdeaCommand::Prepare {
            recommendation: match fund {
                Some(amount) => Recommendation::Fund { amount: kr(amount), motivation: None },
                None => Recommendation::NoFunding { motivation: motivation("Andra planer ger större nytta.") },
            },
        }],
        Cmd::Grant { kr: amount } => vec![IdeaCommand::Grant {
            amount: kr(amount),
            conditions: None,
            motivation: None,
            registry: registry(),
            meeting: f.meeting,
        }],
        Cmd::Decline => vec![IdeaCommand::Decline {
            motivation: motivation("Budgeten räcker inte."),
            registry: registry(),
            meeting: f.meeting,
        }],
        Cmd::Withdraw => vec![IdeaCommand::Withdraw { reason: None }],
        Cmd::Lapse => vec![IdeaCommand::Lapse],
        Cmd::Remind { days } => vec![IdeaCommand::SendReminder { days_before: days }],
        Cmd::Attend { seminar, attended } => {
            vec![IdeaCommand::RecordAttendance { seminar: SeminarId(seminar), attended }]
        }
        Cmd::SchedulePitch { late } => {
            let t = &f.definition.timeline;
            let at = if late { t.plan_deadline } else { t.panel_at + Duration::minutes(20 * slot as i64) };
            vec![IdeaCommand::SchedulePitch { at }]
        }
        Cmd::Conflict { member } => vec![IdeaCommand::DeclareConflict {
            panel_member: f.panel_members[member],
            reason: motivation("Jag arbetar i den verksamhet där idén ska genomföras."),
        }],
        Cmd::Feedback { score, missing } => {
            let criteria = &f.definition.criteria;
            let scored = if missing { &criteria[..criteria.len() - 1] } else { &criteria[..] };
            vec![IdeaCommand::GiveFeedback {
                text: text("Tydlig presentation; förtydliga spridningen."),
                scores: scored.iter().map(|c| (c.key.clone(), Score::new(score))).collect(),
            }]
        }
    }
}

fn outcome_of<T>(result: &Result<T, TransitionError>, ran: impl Fn(&T) -> Option<usize>) -> Outcome {
    match result {
        Ok(t) => ran(t).map_or(Outcome::Accepted, Outcome::Ran),
        Err(e) => Outcome::Refused(e.code()),
    }
}

/// Asserts that an edge an idea took is a row of the transition table.
fn took(from: Stage, action: Action, to: Stage) {
    let edge = Transition { from, action, to };
    assert!(IDEA_TRANSITIONS.contains(&edge), "an accepted command took an edge not in the table: {edge:?}");
}

impl Sut {
    fn idea_step(&mut self, slot: usize, by: By, cmd: Cmd) -> Vec<Outcome> {
        let id = fixture().ideas[slot];
        let actor = by.actor();
        let mut outcomes = Vec::new();
        for command in idea_commands(slot, cmd, self.round.idea_events().count()) {
            let before = Snapshot::of(&self.round);
            let from = stage_of(&self.round, id);
            assert_eq!(command.action(), cmd.action());
            let result = self.round.idea_command(id, &command, actor, self.now);
            match &result {
                Ok(decision) => {
                    let to = decision.state.stage();
                    took(from, command.action(), to);
                    assert_eq!(self.round.idea(id), Some(&decision.state), "the round holds the decided state");
                    assert!(!decision.events.is_empty(), "an accepted command records events");
                    for e in &decision.events {
                        assert_eq!((e.at, e.actor), (self.now, actor.id), "events say when and who");
                    }
                    let record = &self.round.ideas[&id];
                    let kept = &record.events[..record.events.len() - decision.events.len()];
                    assert_eq!(kept, before.ideas.get(&id).map_or(&[][..], |r| &r.events[..]), "events are appended");
                    assert_eq!(self.round.outbox[before.outbox.len()..], decision.notifications[..]);
                    for n in &decision.notifications {
                        assert_eq!((n.call, n.idea), (fixture().call_id, id));
                    }
                }
                Err(_) => assert_eq!(Snapshot::of(&self.round), before, "a refused {command:?} changed the round"),
            }
            outcomes.push(outcome_of(&result, |_| None));
        }
        outcomes
    }

    fn timers(&mut self) -> Vec<Outcome> {
        let before = Snapshot::of(&self.round);
        let result = self.round.run_timers(self.now, &TimerConfig::default());
        for (id, record) in &self.round.ideas {
            let old = before.ideas.get(id).cloned().unwrap_or_default();
            let new_events = &record.events[old.events.len()..];
            assert_eq!(&record.events[..old.events.len()], &old.events[..], "timer events are appended");
            match new_events {
                [] => assert_eq!(record, &old),
                [one] => {
                    assert_eq!((one.at, one.actor), (self.now, fixture().system.id));
                    let action = match &one.event {
                        IdeaEvent::Lapsed { .. } => Action::Lapse,
                        IdeaEvent::ReminderSent { .. } => Action::SendReminder,
                        other => panic!("a timer recorded {other:?}"),
                    };
                    took(old.state.stage(), action, record.state.stage());
                }
                more => panic!("one timer run recorded {} events for one idea", more.len()),
            }
        }
        if result.is_err() {
            assert_eq!(Snapshot::of(&self.round), before);
        }
        vec![outcome_of(&result, |n| Some(*n))]
    }
}

struct ModelTest;

impl StateMachineTest for ModelTest {
    type SystemUnderTest = Sut;
    type Reference = ModelMachine;

    fn init_test(model: &Model) -> Sut {
        let f = fixture();
        let mut round = Round::new();
        let create = CallCommand::Create { id: f.call_id, definition: Box::new(f.definition.clone()) };
        round.call_command(&create, &f.process_leader, model.now).expect("the call is created");
        Sut { round, now: model.now, finals: BTreeMap::new(), changed: BTreeSet::new() }
    }

    fn apply(mut sut: Sut, model: &Model, step: Step) -> Sut {
        let lengths: BTreeMap<IdeaId, usize> = sut.round.ideas.iter().map(|(id, r)| (*id, r.events.len())).collect();
        let outcomes = match step {
            Step::Clock(jump) => {
                sut.now = jump.from(sut.now);
                vec![]
            }
            Step::Timers(jump) => {
                sut.now = jump.from(sut.now);
                sut.timers()
            }
            Step::Advance { to, by } => {
                let before = Snapshot::of(&sut.round);
                let result = sut.round.call_command(&CallCommand::Advance { to }, by.actor(), sut.now);
                if result.is_err() {
                    assert_eq!(Snapshot::of(&sut.round), before, "a refused advance changed the round");
                }
                vec![outcome_of(&result, |_| None)]
            }
            Step::Idea { slot, by, cmd } => sut.idea_step(slot, by, cmd),
        };
        assert_eq!(outcomes, model.last, "{step:?} at {} in {:?}", sut.now, model.phase);
        for (id, record) in &sut.round.ideas {
            if record.state.stage().is_final() {
                sut.finals.entry(*id).or_insert_with(|| record.clone());
            }
        }
        sut.changed = sut
            .round
            .ideas
            .iter()
            .filter(|(id, r)| lengths.get(id) != Some(&r.events.len()))
            .map(|(id, _)| *id)
            .collect();
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        let f = fixture();
        let round = &sut.round;
        let def = &f.definition;

        // The round agrees with the model.
        assert_eq!(sut.now, model.now);
        assert_eq!(round.call().map(|c| c.phase), Some(model.phase), "the phase");
        for (slot, idea) in model.ideas.iter().enumerate() {
            assert_eq!(stage_of(round, f.ideas[slot]), idea.stage, "the stage of idea {slot}");
        }
        assert_eq!(round.totals.selected, model.selected);
        assert_eq!(round.totals.granted, kr(model.granted_kr));
        assert_eq!(round.outbox.len(), model.outbox, "the number of status mails");
        assert!(round.ideas.keys().all(|id| f.ideas.contains(id)), "no idea appears from nowhere");

        // Limits.
        let granted: Vec<Sek> = round.ideas.values().filter_map(|r| r.state.granted_amount()).collect();
        let sum = granted.iter().try_fold(Sek::ZERO, |a, b| a.checked_add(*b)).expect("no overflow");
        assert!(sum <= def.budget, "grants of {sum} exceed the budget of {}", def.budget);
        assert!(granted.iter().all(|g| !g.is_zero() && Some(*g) <= def.ceiling), "{granted:?}");
        let ever_selected = round
            .ideas
            .values()
            .filter(|r| r.events.iter().any(|e| matches!(e.event, IdeaEvent::Selected { .. })))
            .count();
        assert!(ever_selected <= def.capacity as usize, "{ever_selected} ideas selected");

        // Final stages are absorbing.
        for (id, record) in &sut.finals {
            assert_eq!(round.ideas.get(id), Some(record), "an idea changed after reaching a final stage");
        }

        // States are folds over events, also through JSON as storage keeps
        // them. (The JSON round trip is redone only for the ideas the last
        // step changed: the others hold the very events checked before.)
        for (id, record) in &round.ideas {
            assert_eq!(IdeaState::replay(&record.events).as_ref(), Ok(&record.state));
            assert!(record.events.windows(2).all(|w| w[0].at <= w[1].at), "events are in time order");
            if sut.changed.contains(id) {
                let json = serde_json::to_string(&record.events).expect("events serialise");
                let back: Vec<Recorded<IdeaEvent>> = serde_json::from_str(&json).expect("events deserialise");
                assert_eq!(back, record.events);
                assert_eq!(IdeaState::replay(&back).as_ref(), Ok(&record.state));
            }
        }
        assert_eq!(CallState::replay(&round.call_events).as_ref(), Ok(&round.call));

        // The totals and the funnel count what happened.
        let mut totals = CallTotals::default();
        round.idea_events().for_each(|e| totals.apply(&e.event));
        assert_eq!(round.totals, totals);
        assert_eq!((totals.selected, totals.granted), (ever_selected as u32, sum));
        let funnel: Funnel = round.funnel();
        assert!(
            funnel.submitted >= funnel.selected + funnel.not_selected
                && funnel.selected >= funnel.plans_submitted
                && funnel.plans_submitted >= funnel.prepared
                && funnel.prepared >= funnel.granted + funnel.declined,
            "the funnel is not monotone: {funnel:?}"
        );
        assert_eq!((funnel.granted as usize, funnel.granted_total), (granted.len(), sum));
    }
}

fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 256;
    }
    config
}

/// Up to this many steps per case.
const STEPS: std::ops::Range<usize> = 10..120;

prop_state_machine! {
    #![proptest_config(config())]

    #[test]
    fn the_round_behaves_like_the_model(sequential STEPS => ModelTest);
}

/// The generator is what makes the model test meaningful: within the
/// configured cases it must reach every stage and phase, fill the selection,
/// exhaust the budget and provoke every kind of refusal the model predicts.
/// Checked on the model alone, with a fixed seed.
#[test]
fn the_generator_reaches_every_stage_and_refusal() {
    let mut runner = TestRunner::deterministic();
    let strategy = ModelMachine::sequential_strategy(STEPS);
    let (mut stages, mut codes, mut phases) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let (mut timer_runs, mut granting_cases, mut full_rounds) = (0, 0, 0);
    for _ in 0..256 {
        let (mut model, steps, _) = strategy.new_tree(&mut runner).expect("a sequence").current();
        for step in &steps {
            model = ModelMachine::apply(model, step);
            stages.extend(model.ideas.iter().map(|i| i.stage));
            phases.insert(model.phase);
            for outcome in &model.last {
                match outcome {
                    Outcome::Refused(code) => {
                        codes.insert(*code);
                    }
                    Outcome::Ran(n) if *n > 0 => timer_runs += 1,
                    _ => {}
                }
            }
        }
        granting_cases += usize::from(model.granted_kr > 0);
        full_rounds += usize::from(model.selected == CAPACITY && model.phase == CallPhase::Finished);
    }
    let all_stages: BTreeSet<Stage> = Stage::ALL.iter().copied().collect();
    assert_eq!(stages, all_stages, "stages reached");
    assert_eq!(phases, CallPhase::ALL.iter().copied().collect(), "phases reached");
    let all_codes = [
        "final",
        "already_exists",
        "idea_not_found",
        "not_allowed",
        "wrong_stage",
        "wrong_phase",
        "not_open_yet",
        "deadline_passed",
        "deadline_not_reached",
        "selection_full",
        "missing_sections",
        "amount_not_positive",
        "exceeds_request",
        "exceeds_ceiling",
        "budget_exceeded",
        "unknown_theme",
        "reminder_not_due",
        "reminder_already_sent",
        "phase_order",
        "ideas_pending",
        "too_early",
        "unknown_seminar",
        "conflict_of_interest",
        "score_out_of_scale",
        "missing_score",
    ];
    assert_eq!(codes, all_codes.into_iter().collect(), "refusals provoked");
    assert!(timer_runs >= 25, "timers ran something in only {timer_runs} steps");
    assert!(granting_cases >= 50, "only {granting_cases} of 256 cases granted anything");
    assert!(full_rounds >= 25, "only {full_rounds} of 256 cases selected {CAPACITY} ideas and finished");
}
