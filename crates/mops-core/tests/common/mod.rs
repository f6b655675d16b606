//! Fixtures for the core's tests: one call for ideas with its people, and a
//! given/when/then helper that drives one idea (and the call it belongs to)
//! through [`decide`] and [`decide_call`].
//!
//! ```text
//! given().submitted().when(&sector_member(), select()).then_events(&["selected"]).then_stage(Stage::Selected);
//! ```
//!
//! Every `given()` chain is built by running real commands in order, and
//! every accepted command is checked against a replay of the whole log.
//! Times are arguments, chosen relative to the fixture's timeline.

#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use mops_core::call::{Call, CallDefinition, Criterion, Seminar, SeminarId, StageCounts, TemplateSection, Timeline};
use mops_core::domain::{
    CallId, CriterionKey, Email, FreeText, IdeaId, Language, LocalizedText, MeetingId, Motivation, OrganisationId,
    PersonId, PersonName, RegistryNumber, Score, ScoreScale, SectionKey, SectorGroupId, Sek, Theme, Title,
};
use mops_core::idea::{Applicant, Development, IdeaDetails, NewIdea, Recommendation};
use mops_core::people::ActorRef;
use mops_core::time::from_stockholm;
use mops_core::{
    Actor, CallCommand, CallContext, CallDecision, CallEvent, CallPhase, CallState, CallTotals, Context, Decision,
    IdeaCommand, IdeaEvent, IdeaState, Language as Lang, Recorded, Role, Stage, TransitionError, decide, decide_call,
};

// ---------------------------------------------------------------------------
// Ids

const fn uuid(kind: u128, n: u128) -> Uuid {
    Uuid::from_u128((0x7e57_u128 << 112) | (kind << 32) | n)
}

pub const CALL: CallId = CallId::from_uuid(uuid(1, 1));
pub const OTHER_CALL: CallId = CallId::from_uuid(uuid(1, 2));
pub const SECTOR_GROUP: SectorGroupId = SectorGroupId::from_uuid(uuid(2, 1));
pub const OTHER_SECTOR_GROUP: SectorGroupId = SectorGroupId::from_uuid(uuid(2, 2));
pub const IDEA: IdeaId = IdeaId::from_uuid(uuid(3, 1));
pub const MEETING: MeetingId = MeetingId::from_uuid(uuid(4, 1));
pub const UNIVERSITY: OrganisationId = OrganisationId::from_uuid(uuid(5, 1));
pub const MUNICIPALITY: OrganisationId = OrganisationId::from_uuid(uuid(5, 2));

pub const PROCESS_LEADER: PersonId = PersonId::from_uuid(uuid(6, 1));
pub const SECTOR_MEMBER: PersonId = PersonId::from_uuid(uuid(6, 2));
pub const PANEL_MEMBER: PersonId = PersonId::from_uuid(uuid(6, 3));
pub const PANEL_MEMBER_2: PersonId = PersonId::from_uuid(uuid(6, 4));
pub const BOARD_MEMBER: PersonId = PersonId::from_uuid(uuid(6, 5));
pub const LEAD: PersonId = PersonId::from_uuid(uuid(6, 6));
pub const CO_APPLICANT: PersonId = PersonId::from_uuid(uuid(6, 7));
pub const OUTSIDER: PersonId = PersonId::from_uuid(uuid(6, 8));

// ---------------------------------------------------------------------------
// Values

pub fn kr(kronor: i64) -> Sek {
    Sek::from_kronor(kronor).expect("a non-negative amount")
}

pub fn motivation(s: &str) -> Motivation {
    Motivation::parse(s).expect("a valid motivation")
}

pub fn text(s: &str) -> FreeText {
    FreeText::parse(s).expect("a valid text")
}

pub fn title(s: &str) -> Title {
    Title::parse(s).expect("a valid title")
}

pub fn theme(s: &str) -> Theme {
    Theme::parse(s).expect("a valid theme")
}

pub fn section(key: &str) -> SectionKey {
    SectionKey::parse(key).expect("a valid section key")
}

pub fn criterion(key: &str) -> CriterionKey {
    CriterionKey::parse(key).expect("a valid criterion key")
}

pub fn registry(n: u32) -> RegistryNumber {
    RegistryNumber::parse(&format!("SK 2010/{n}")).expect("a valid registry number")
}

fn sv_en(sv: &str, en: &str) -> LocalizedText {
    LocalizedText::sv_en(sv, en).expect("a valid text")
}

// ---------------------------------------------------------------------------
// Time: the fixture call runs through 2010, in Stockholm time.

/// A Stockholm wall-clock time as an instant.
pub fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    let local = NaiveDate::from_ymd_opt(y, m, d).and_then(|d| d.and_hms_opt(h, min, 0)).expect("a valid date");
    from_stockholm(local).expect("a Stockholm time")
}

pub fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

pub fn days(n: i64) -> Duration {
    Duration::days(n)
}

pub fn created_at() -> DateTime<Utc> {
    at(2010, 2, 1, 10, 0)
}
pub fn opens_at() -> DateTime<Utc> {
    at(2010, 2, 19, 9, 0)
}
pub fn closes_at() -> DateTime<Utc> {
    at(2010, 4, 9, 16, 0)
}
pub fn panel_at() -> DateTime<Utc> {
    at(2010, 6, 10, 13, 0)
}
pub fn plan_deadline() -> DateTime<Utc> {
    at(2010, 8, 31, 23, 59)
}
pub fn decision_meeting_at() -> DateTime<Utc> {
    at(2010, 10, 5, 13, 0)
}

/// When the fixture idea is submitted: inside the submission window.
pub fn submit_time() -> DateTime<Utc> {
    at(2010, 3, 1, 10, 0)
}
/// The sector group's selection meeting, after the call has closed.
pub fn select_time() -> DateTime<Utc> {
    at(2010, 4, 14, 10, 0)
}
/// The idea's slot at the panel, and when its pitch is recorded.
pub fn pitch_time() -> DateTime<Utc> {
    panel_at() + minutes(15)
}
/// When the plan is submitted: three weeks before the plan deadline.
pub fn plan_time() -> DateTime<Utc> {
    at(2010, 8, 10, 14, 0)
}
/// The sector group prepares the cases, after the plan deadline.
pub fn prepare_time() -> DateTime<Utc> {
    at(2010, 9, 20, 10, 0)
}
/// The board decides at its meeting.
pub fn decide_time() -> DateTime<Utc> {
    decision_meeting_at() + minutes(5)
}

// ---------------------------------------------------------------------------
// The call

pub const THEMES: [&str; 2] = ["äldreomsorg", "socialt arbete"];
pub const CRITERIA: [&str; 3] = ["relevans", "genomforbarhet", "samverkan"];
/// The template's sections and whether each is mandatory.
pub const TEMPLATE: [(&str, bool); 4] = [("bakgrund", true), ("syfte", true), ("budget", true), ("spridning", false)];
pub const MANDATORY: [&str; 3] = ["bakgrund", "syfte", "budget"];
pub const CAPACITY: u32 = 3;
pub const BUDGET_KR: i64 = 1_000_000;
pub const CEILING_KR: i64 = 400_000;
/// What the fixture plan requests, and what is prepared and granted.
pub const REQUESTED_KR: i64 = 300_000;

pub fn definition() -> CallDefinition {
    let seminar = |n: u16, d: u32| Seminar {
        id: SeminarId(n),
        title: sv_en(&format!("Seminarium {n}"), &format!("Seminar {n}")),
        starts_at: at(2010, 5, d, 13, 0),
        ends_at: at(2010, 5, d, 16, 0),
        location: "Mälardalens högskola, Västerås".into(),
    };
    CallDefinition {
        title: title("Framtidens omsorg"),
        title_en: Some(title("The future of care")),
        description: sv_en("En utlysning för tester.", "A call for tests."),
        sector_group: SECTOR_GROUP,
        themes: THEMES.iter().map(|t| theme(t)).collect(),
        timeline: Timeline {
            opens_at: opens_at(),
            closes_at: closes_at(),
            seminars: vec![seminar(1, 4), seminar(2, 18)],
            panel_at: panel_at(),
            plan_deadline: plan_deadline(),
            decision_meeting_at: decision_meeting_at(),
        },
        capacity: CAPACITY,
        budget: kr(BUDGET_KR),
        ceiling: Some(kr(CEILING_KR)),
        criteria: CRITERIA.iter().map(|k| Criterion { key: criterion(k), name: sv_en(k, k) }).collect(),
        scale: ScoreScale::default(),
        template: TEMPLATE
            .iter()
            .map(|(k, mandatory)| TemplateSection {
                key: section(k),
                title: sv_en(k, k),
                guidance: None,
                mandatory: *mandatory,
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------
// People

pub fn panel_role() -> Role {
    Role::PanelMember { call: CALL }
}

pub fn process_leader() -> Actor {
    Actor::person(PROCESS_LEADER, [Role::ProcessLeader])
}
pub fn sector_member() -> Actor {
    Actor::person(SECTOR_MEMBER, [Role::SectorGroupMember { group: SECTOR_GROUP }])
}
/// A member of another sector group: not this call's.
pub fn other_sector_member() -> Actor {
    Actor::person(OUTSIDER, [Role::SectorGroupMember { group: OTHER_SECTOR_GROUP }])
}
pub fn panel_member() -> Actor {
    Actor::person(PANEL_MEMBER, [panel_role()])
}
pub fn panel_member_2() -> Actor {
    Actor::person(PANEL_MEMBER_2, [panel_role()])
}
pub fn board_member() -> Actor {
    Actor::person(BOARD_MEMBER, [Role::BoardMember])
}
pub fn lead() -> Actor {
    Actor::person(LEAD, Vec::new())
}
pub fn co_applicant() -> Actor {
    Actor::person(CO_APPLICANT, Vec::new())
}
pub fn outsider() -> Actor {
    Actor::person(OUTSIDER, Vec::new())
}
pub fn system() -> Actor {
    Actor::system()
}
/// `person` sitting on the fixture call's panel.
pub fn as_panel(person: PersonId) -> Actor {
    Actor::person(person, [panel_role()])
}

/// Everyone who may try something, by name.
pub fn cast() -> Vec<(&'static str, Actor)> {
    vec![
        ("process_leader", process_leader()),
        ("sector_member", sector_member()),
        ("panel_member", panel_member()),
        ("panel_member_2", panel_member_2()),
        ("board_member", board_member()),
        ("lead", lead()),
        ("co_applicant", co_applicant()),
        ("outsider", outsider()),
        ("system", system()),
    ]
}

pub fn applicant(person: PersonId) -> Applicant {
    let (name, email, organisation, language) = match person {
        p if p == LEAD => ("Anna Andersson", "anna.andersson@mdh.example", UNIVERSITY, Language::Sv),
        p if p == CO_APPLICANT => ("Erik Johansson", "erik.johansson@eskilstuna.example", MUNICIPALITY, Language::En),
        _ => ("Olle Utanför", "olle.utanfor@vasteras.example", MUNICIPALITY, Language::Sv),
    };
    Applicant {
        person,
        name: PersonName::parse(name).expect("a name"),
        email: Email::parse(email).expect("an address"),
        organisation,
        language,
    }
}

// ---------------------------------------------------------------------------
// Commands

pub fn details() -> IdeaDetails {
    IdeaDetails {
        title: title("Hundar i demensvården"),
        summary: text("Besökshundar som främjar aktivitet i demensvården."),
        theme: theme(THEMES[0]),
        organisation: UNIVERSITY,
        co_applicants: vec![applicant(CO_APPLICANT)],
    }
}

/// The fixture idea, led by [`LEAD`] with [`CO_APPLICANT`].
pub fn new_idea() -> NewIdea {
    NewIdea { id: IDEA, call: CALL, lead: applicant(LEAD), details: details() }
}

pub fn draft() -> IdeaCommand {
    IdeaCommand::Draft(Box::new(new_idea()))
}
pub fn submit_new() -> IdeaCommand {
    IdeaCommand::SubmitNew(Box::new(new_idea()))
}
pub fn submit_new_with(f: impl FnOnce(&mut NewIdea)) -> IdeaCommand {
    let mut idea = new_idea();
    f(&mut idea);
    IdeaCommand::SubmitNew(Box::new(idea))
}
pub fn edit_draft(f: impl FnOnce(&mut IdeaDetails)) -> IdeaCommand {
    let mut d = details();
    f(&mut d);
    IdeaCommand::EditDraft(Box::new(d))
}
pub fn submit() -> IdeaCommand {
    IdeaCommand::Submit
}
pub fn select() -> IdeaCommand {
    IdeaCommand::Select { motivation: Some(motivation("Idén svarar väl mot utlysningen.")) }
}
pub fn not_select(why: &str) -> IdeaCommand {
    IdeaCommand::NotSelect { motivation: motivation(why) }
}
pub fn attend(seminar: u16, attended: bool) -> IdeaCommand {
    IdeaCommand::RecordAttendance { seminar: SeminarId(seminar), attended }
}
pub fn schedule_pitch(at: DateTime<Utc>) -> IdeaCommand {
    IdeaCommand::SchedulePitch { at }
}
pub fn declare_conflict(panel_member: PersonId, why: &str) -> IdeaCommand {
    IdeaCommand::DeclareConflict { panel_member, reason: motivation(why) }
}
pub fn save_section(key: &str, content: Option<&str>) -> IdeaCommand {
    IdeaCommand::SavePlanSection { section: section(key), text: content.map(text) }
}
pub fn record_pitch() -> IdeaCommand {
    IdeaCommand::RecordPitch
}
/// Feedback with exactly these scores.
pub fn feedback(scores: &[(&str, u8)]) -> IdeaCommand {
    IdeaCommand::GiveFeedback {
        text: text("Tydlig presentation."),
        scores: scores.iter().map(|(k, s)| (criterion(k), Score::new(*s))).collect::<BTreeMap<_, _>>(),
    }
}
/// Feedback scoring every criterion `score`.
pub fn feedback_all(score: u8) -> IdeaCommand {
    let scores: Vec<(&str, u8)> = CRITERIA.iter().map(|k| (*k, score)).collect();
    feedback(&scores)
}
pub fn submit_plan(kronor: i64) -> IdeaCommand {
    IdeaCommand::SubmitPlan { requested: kr(kronor) }
}
pub fn remind(days_before: u32) -> IdeaCommand {
    IdeaCommand::SendReminder { days_before }
}
pub fn lapse() -> IdeaCommand {
    IdeaCommand::Lapse
}
pub fn prepare_fund(kronor: i64) -> IdeaCommand {
    IdeaCommand::Prepare {
        recommendation: Recommendation::Fund {
            amount: kr(kronor),
            motivation: Some(motivation("Planen är genomförbar.")),
        },
    }
}
pub fn prepare_no(why: &str) -> IdeaCommand {
    IdeaCommand::Prepare { recommendation: Recommendation::NoFunding { motivation: motivation(why) } }
}
pub fn grant(kronor: i64) -> IdeaCommand {
    IdeaCommand::Grant {
        amount: kr(kronor),
        conditions: Some(text("Projektet redovisar halvårsvis.")),
        motivation: Some(motivation("Enligt sektorsgruppens förslag.")),
        registry: registry(31),
        meeting: MEETING,
    }
}
pub fn decline(why: &str) -> IdeaCommand {
    IdeaCommand::Decline { motivation: motivation(why), registry: registry(32), meeting: MEETING }
}
pub fn withdraw() -> IdeaCommand {
    IdeaCommand::Withdraw { reason: Some(text("Vi hinner inte.")) }
}

pub fn create_call(definition: CallDefinition) -> CallCommand {
    CallCommand::Create { id: CALL, definition: Box::new(definition) }
}
pub fn edit_call(definition: CallDefinition) -> CallCommand {
    CallCommand::Edit { definition: Box::new(definition) }
}
pub fn advance(to: CallPhase) -> CallCommand {
    CallCommand::Advance { to }
}

/// A command to the idea or to its call.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Idea(IdeaCommand),
    Call(CallCommand),
}

impl From<IdeaCommand> for Command {
    fn from(c: IdeaCommand) -> Self {
        Self::Idea(c)
    }
}

impl From<CallCommand> for Command {
    fn from(c: CallCommand) -> Self {
        Self::Call(c)
    }
}

/// The stable key of a call event, like [`IdeaEvent::key`].
pub fn call_event_key(e: &CallEvent) -> &'static str {
    match e {
        CallEvent::Created { .. } => "created",
        CallEvent::Edited { .. } => "edited",
        CallEvent::PhaseChanged { .. } => "phase_changed",
    }
}

// ---------------------------------------------------------------------------
// Given

/// A call and one idea of it, each with the events that made it, the
/// call-wide totals, and the time it is now.
#[derive(Debug, Clone)]
pub struct Given {
    pub call: CallState,
    pub call_events: Vec<Recorded<CallEvent>>,
    pub idea: IdeaState,
    pub events: Vec<Recorded<IdeaEvent>>,
    pub totals: CallTotals,
    /// The call's other ideas, by stage (the fixture idea is counted apart).
    pub others: StageCounts,
    pub now: DateTime<Utc>,
}

/// No call, no idea; the process leader is about to create the call.
pub fn nothing() -> Given {
    Given {
        call: CallState::New,
        call_events: Vec::new(),
        idea: IdeaState::New,
        events: Vec::new(),
        totals: CallTotals::default(),
        others: StageCounts::default(),
        now: created_at(),
    }
}

/// The fixture call, created by the process leader and still a draft.
pub fn draft_call() -> Given {
    nothing().when(&process_leader(), create_call(definition())).ok()
}

/// The fixture call, open for ideas; it is [`submit_time`], inside the
/// submission window, and the idea does not exist yet.
pub fn given() -> Given {
    draft_call().at(opens_at()).when(&process_leader(), advance(CallPhase::Open)).ok().at(submit_time())
}

impl Given {
    pub fn at(mut self, now: DateTime<Utc>) -> Self {
        self.now = now;
        self
    }

    pub fn call(&self) -> &Call {
        self.call.call().expect("the given has a call")
    }

    pub fn phase(&self) -> CallPhase {
        self.call().phase
    }

    pub fn stage(&self) -> Stage {
        self.idea.stage()
    }

    pub fn dev(&self) -> &Development {
        self.idea.development().expect("the idea has development data")
    }

    /// The stage of every idea of the call, this one included.
    pub fn stage_counts(&self) -> StageCounts {
        let mut counts = self.others.clone();
        if self.stage() != Stage::New {
            counts.add(self.stage(), 1);
        }
        counts
    }

    fn record_call_event(mut self, event: CallEvent) -> Self {
        let recorded = Recorded::new(self.now, ActorRef::Person(PROCESS_LEADER), event);
        self.call = self.call.apply(&recorded).expect("the call event applies");
        self.call_events.push(recorded);
        self
    }

    /// Puts the call in `phase` whatever the rules of moving there (a
    /// recorded phase change, so the call's log still replays). Use it to
    /// test an idea command in a phase; use [`Given::advance_to`] to move a
    /// call by its rules.
    pub fn in_phase(self, phase: CallPhase) -> Self {
        let from = self.phase();
        if from == phase { self } else { self.record_call_event(CallEvent::PhaseChanged { from, to: phase }) }
    }

    /// Changes the call's definition behind the rules' back (a recorded edit).
    pub fn with_definition(self, f: impl FnOnce(&mut CallDefinition)) -> Self {
        let mut definition = self.call().definition.clone();
        f(&mut definition);
        self.record_call_event(CallEvent::Edited { definition: Box::new(definition) })
    }

    /// Moves the call forward to `phase` at `now`, one `Advance` at a time,
    /// by the process leader.
    pub fn advance_to(self, phase: CallPhase, now: DateTime<Utc>) -> Self {
        let mut g = self.at(now);
        while g.phase() < phase {
            let next = g.phase().next().expect("a later phase");
            g = g.when(&process_leader(), advance(next)).ok();
        }
        g
    }

    pub fn with_selected(mut self, selected: u32) -> Self {
        self.totals.selected = selected;
        self
    }

    pub fn with_granted(mut self, kronor: i64) -> Self {
        self.totals.granted = kr(kronor);
        self
    }

    pub fn with_other_ideas(mut self, stage: Stage, n: u32) -> Self {
        self.others.add(stage, i64::from(n));
        self
    }

    /// Runs one command that must succeed, moving the call to `phase` first.
    pub fn step(self, phase: CallPhase, now: DateTime<Utc>, actor: &Actor, cmd: impl Into<Command>) -> Self {
        self.advance_to(phase, now).when(actor, cmd).ok()
    }

    // The idea's stages, each reached by running real commands in order.

    pub fn drafted(self) -> Self {
        self.step(CallPhase::Open, submit_time(), &lead(), draft())
    }
    pub fn submitted(self) -> Self {
        self.step(CallPhase::Open, submit_time(), &lead(), submit_new())
    }
    pub fn selected(self) -> Self {
        self.submitted().step(CallPhase::Selection, select_time(), &sector_member(), select())
    }
    pub fn not_selected(self) -> Self {
        self.submitted().step(
            CallPhase::Selection,
            select_time(),
            &sector_member(),
            not_select("Idén ligger utanför utlysningens teman."),
        )
    }
    pub fn pitched(self) -> Self {
        self.selected().step(CallPhase::Panel, pitch_time(), &process_leader(), record_pitch())
    }
    /// Saves these plan sections, as the lead, in the current phase.
    pub fn with_sections(self, keys: &[&str]) -> Self {
        keys.iter().fold(self, |g, k| {
            let content = format!("Avsnittet {k}.");
            g.when(&lead(), save_section(k, Some(&content))).ok()
        })
    }
    /// Pitched, every mandatory section saved (the optional one is not),
    /// and a plan requesting [`REQUESTED_KR`] submitted.
    pub fn plan_submitted(self) -> Self {
        self.pitched().with_sections(&MANDATORY).step(
            CallPhase::PlansDue,
            plan_time(),
            &lead(),
            submit_plan(REQUESTED_KR),
        )
    }
    pub fn prepared(self) -> Self {
        self.plan_submitted().step(CallPhase::Preparation, prepare_time(), &sector_member(), prepare_fund(REQUESTED_KR))
    }
    pub fn granted(self) -> Self {
        self.prepared().step(CallPhase::Decision, decide_time(), &board_member(), grant(REQUESTED_KR))
    }
    pub fn declined(self) -> Self {
        self.prepared().step(CallPhase::Decision, decide_time(), &board_member(), decline("Budgeten räcker inte."))
    }
    pub fn lapsed(self) -> Self {
        self.selected().step(CallPhase::Development, plan_deadline() + minutes(1), &system(), lapse())
    }
    /// Withdrawn by the lead, from wherever the idea is.
    pub fn withdrawn(self) -> Self {
        self.when(&lead(), withdraw()).ok()
    }

    /// An idea brought to `stage` from a fresh call.
    pub fn at_stage(stage: Stage) -> Self {
        let g = given();
        match stage {
            Stage::New => g,
            Stage::Draft => g.drafted(),
            Stage::Submitted => g.submitted(),
            Stage::Selected => g.selected(),
            Stage::NotSelected => g.not_selected(),
            Stage::Pitched => g.pitched(),
            Stage::PlanSubmitted => g.plan_submitted(),
            Stage::Lapsed => g.lapsed(),
            Stage::Prepared => g.prepared(),
            Stage::Granted => g.granted(),
            Stage::Declined => g.declined(),
            Stage::Withdrawn => g.submitted().withdrawn(),
        }
    }

    /// Decides `cmd` by `actor` now. An accepted command is checked on the
    /// spot: its events replay (also through JSON) to the state it returns,
    /// and are stamped with now and the actor. A refusal is checked to say
    /// why in Swedish and in English.
    pub fn when(self, actor: &Actor, cmd: impl Into<Command>) -> Then {
        let cmd = cmd.into();
        let result = match &cmd {
            Command::Idea(c) => {
                let ctx = Context { now: self.now, actor, call: self.call(), totals: self.totals };
                decide(&self.idea, c, &ctx).map(|d| Outcome::Idea(Box::new(d)))
            }
            Command::Call(c) => {
                let counts = self.stage_counts();
                let ctx = CallContext { now: self.now, actor, ideas: &counts };
                decide_call(&self.call, c, &ctx).map(Outcome::Call)
            }
        };
        let label = format!("{cmd:?} by {:?} at {} in {:?}", actor.id, self.now, self.call.call().map(|c| c.phase));
        match &result {
            Ok(outcome) => self.check_accepted(outcome, actor, &label),
            Err(e) => {
                let (sv, en) = (e.message(Lang::Sv), e.message(Lang::En));
                assert!(!sv.is_empty() && !en.is_empty(), "{label}: empty message for {e:?}");
                assert_ne!(sv, en, "{label}: the same message in both languages for {e:?}");
            }
        }
        Then { given: self, actor: actor.clone(), label, result }
    }

    fn check_accepted(&self, outcome: &Outcome, actor: &Actor, label: &str) {
        match outcome {
            Outcome::Idea(d) => {
                assert!(!d.events.is_empty(), "{label}: accepted without an event");
                for e in &d.events {
                    assert_eq!((e.at, e.actor), (self.now, actor.id), "{label}: event stamped wrongly");
                }
                let all: Vec<Recorded<IdeaEvent>> = self.events.iter().chain(&d.events).cloned().collect();
                let replayed = IdeaState::replay(&all).unwrap_or_else(|e| panic!("{label}: replay failed: {e}"));
                assert_eq!(replayed, d.state, "{label}: replaying the events does not give the decided state");
                if d.state.stage() != self.idea.stage() {
                    let (at, by) = stamp(&d.state);
                    assert_eq!(at, self.now, "{label}: the new stage is stamped with another time");
                    if let Some(by) = by {
                        assert_eq!(by, actor.id, "{label}: the new stage is recorded as by someone else");
                    }
                }
                let json = serde_json::to_string(&all).expect("events serialise");
                let back: Vec<Recorded<IdeaEvent>> = serde_json::from_str(&json).expect("events deserialise");
                assert_eq!(back, all, "{label}: events change through JSON");
                let json = serde_json::to_string(&d.state).expect("the state serialises");
                let back: IdeaState = serde_json::from_str(&json).expect("the state deserialises");
                assert_eq!(back, d.state, "{label}: the state changes through JSON");
            }
            Outcome::Call(d) => {
                let all: Vec<Recorded<CallEvent>> = self.call_events.iter().chain(&d.events).cloned().collect();
                let replayed = CallState::replay(&all).unwrap_or_else(|e| panic!("{label}: call replay failed: {e}"));
                assert_eq!(replayed, d.state, "{label}: replaying the call events does not give the decided state");
            }
        }
    }
}

/// When an idea reached its stage and, where the stage records it, by whom.
pub fn stamp(state: &IdeaState) -> (DateTime<Utc>, Option<ActorRef>) {
    match state {
        IdeaState::New => panic!("a new idea has no stamp"),
        IdeaState::Draft(d) => (d.idea.created_at, None),
        IdeaState::Submitted(s) => (s.submitted_at, None),
        IdeaState::Selected(s) => (s.selection.at, Some(s.selection.by)),
        IdeaState::NotSelected(n) => (n.outcome.at, Some(n.outcome.by)),
        IdeaState::Pitched(p) => (p.pitched_at, None),
        IdeaState::PlanSubmitted(p) => (p.plan.submitted_at, None),
        IdeaState::Lapsed(l) => (l.at, None),
        IdeaState::Prepared(p) => (p.preparation.at, Some(p.preparation.by)),
        IdeaState::Granted(g) => (g.decision.at, Some(g.decision.by)),
        IdeaState::Declined(d) => (d.decision.at, Some(d.decision.by)),
        IdeaState::Withdrawn(w) => (w.at, Some(w.by)),
    }
}

// ---------------------------------------------------------------------------
// When / then

#[derive(Debug, Clone)]
pub enum Outcome {
    Idea(Box<Decision>),
    Call(CallDecision),
}

/// The outcome of one command, to assert on.
#[derive(Debug)]
pub struct Then {
    /// The situation before the command.
    pub given: Given,
    pub actor: Actor,
    pub label: String,
    pub result: Result<Outcome, TransitionError>,
}

impl Then {
    fn outcome(&self) -> &Outcome {
        match &self.result {
            Ok(o) => o,
            Err(e) => panic!("{}: expected success, refused with {}: {}", self.label, e.code(), e.message(Lang::En)),
        }
    }

    /// The idea decision; panics unless an idea command was accepted.
    pub fn decision(&self) -> &Decision {
        match self.outcome() {
            Outcome::Idea(d) => d,
            Outcome::Call(_) => panic!("{}: a call decision, not an idea decision", self.label),
        }
    }

    /// The idea's state after the command.
    pub fn state(&self) -> &IdeaState {
        &self.decision().state
    }

    /// The command was accepted and recorded exactly these events, in order.
    pub fn then_events(self, keys: &[&str]) -> Self {
        let got: Vec<&str> = match self.outcome() {
            Outcome::Idea(d) => d.events.iter().map(|e| e.event.key()).collect(),
            Outcome::Call(d) => d.events.iter().map(|e| call_event_key(&e.event)).collect(),
        };
        assert_eq!(got, keys, "{}: events", self.label);
        self
    }

    /// The command was accepted and the idea is now at `stage`.
    pub fn then_stage(self, stage: Stage) -> Self {
        assert_eq!(self.state().stage(), stage, "{}: stage", self.label);
        self
    }

    /// The call command was accepted and the call is now in `phase`.
    pub fn then_phase(self, phase: CallPhase) -> Self {
        match self.outcome() {
            Outcome::Call(d) => {
                assert_eq!(d.state.call().map(|c| c.phase), Some(phase), "{}: phase", self.label)
            }
            Outcome::Idea(_) => panic!("{}: an idea decision, not a call decision", self.label),
        }
        self
    }

    /// The command was accepted and every applicant of the idea (and nobody
    /// else) gets exactly these notices, in order.
    pub fn then_notices(self, keys: &[&str]) -> Self {
        let d = self.decision();
        let idea = d.state.idea().expect("an idea");
        let applicants: Vec<PersonId> = idea.applicants().map(|a| a.person).collect();
        for n in &d.notifications {
            assert!(applicants.contains(&n.to.person), "{}: notice to a non-applicant: {n:?}", self.label);
            assert_eq!((n.call, n.idea), (idea.call, idea.id), "{}: notice about the wrong idea", self.label);
        }
        for person in applicants {
            let got: Vec<&str> =
                d.notifications.iter().filter(|n| n.to.person == person).map(|n| n.notice.key()).collect();
            assert_eq!(got, keys, "{}: notices to {person}", self.label);
        }
        self
    }

    /// The command was refused with this code; returns the error to look
    /// at its fields.
    pub fn then_error(self, code: &str) -> TransitionError {
        match self.result {
            Ok(_) => panic!("{}: expected refusal with {code}, but it was accepted", self.label),
            Err(e) => {
                assert_eq!(e.code(), code, "{}: refused, but with {e:?}", self.label);
                e
            }
        }
    }

    /// The command was accepted; the situation after it.
    pub fn ok(self) -> Given {
        let outcome = self.outcome().clone();
        let mut g = self.given;
        match outcome {
            Outcome::Idea(d) => {
                let d = *d;
                for e in &d.events {
                    g.totals.apply(&e.event);
                }
                g.events.extend(d.events);
                g.idea = d.state;
            }
            Outcome::Call(d) => {
                g.call_events.extend(d.events);
                g.call = d.state;
            }
        }
        g
    }
}
