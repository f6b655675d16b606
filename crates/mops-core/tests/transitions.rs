//! Every transition of an idea and of a call, allowed and refused, as
//! given/when/then cases through the one helper in `common`.

mod common;

use common::*;

use mops_core::call::SeminarId;
use mops_core::domain::{Motivation, ParseError};
use mops_core::idea::{Recommendation, allowed_phases};
use mops_core::table::{self, CALL_TRANSITIONS, IDEA_TRANSITIONS};
use mops_core::timers::{DueTimer, TimerConfig, due, next_wakeup};
use mops_core::{
    Action, Actor, CallPhase, Context, DefinitionProblem, IdeaCommand, IdeaEvent, IdeaState, Language, Notice, Stage,
    TransitionError, Who, decide,
};

// ---------------------------------------------------------------------------
// The table, row by row

/// How to try `action` on the idea of `g` the way its rules allow: the
/// phase and time it needs, who may do it, and the command. `None` for the
/// actions on calls.
fn attempt(g: Given, action: Action) -> Option<(Given, Actor, IdeaCommand)> {
    use Action as A;
    let (actor, cmd) = match action {
        A::Draft => (lead(), draft()),
        A::SubmitNew => (lead(), submit_new()),
        A::EditDraft => (lead(), edit_draft(|d| d.title = title("Hundar och katter i demensvården"))),
        A::Submit => (lead(), submit()),
        A::Select => (sector_member(), select()),
        A::NotSelect => (sector_member(), not_select("Idén passar inte utlysningen.")),
        A::RecordAttendance => (process_leader(), attend(1, true)),
        A::SchedulePitch => (process_leader(), schedule_pitch(panel_at())),
        A::DeclareConflict => (panel_member(), declare_conflict(PANEL_MEMBER, "Jag är chef för enheten.")),
        A::SavePlanSection => (lead(), save_section("bakgrund", Some("Bakgrunden."))),
        A::RecordPitch => (process_leader(), record_pitch()),
        A::GiveFeedback => (panel_member(), feedback_all(4)),
        A::SubmitPlan => (lead(), submit_plan(REQUESTED_KR)),
        A::SendReminder => (system(), remind(14)),
        A::Lapse => (system(), lapse()),
        A::Prepare => (sector_member(), prepare_fund(REQUESTED_KR)),
        A::Grant => (board_member(), grant(REQUESTED_KR)),
        A::Decline => (board_member(), decline("Andra planer ger större nytta.")),
        A::Withdraw => (lead(), withdraw()),
        A::CreateCall | A::EditCall | A::AdvancePhase => return None,
    };
    let phases = allowed_phases(action);
    let g = if phases.contains(&g.phase()) { g } else { g.in_phase(phases[0]) };
    let g = match action {
        A::SendReminder => g.at(plan_deadline() - days(10)),
        A::Lapse => g.at(plan_deadline() + minutes(1)),
        A::SubmitPlan if g.stage() == Stage::Pitched => g.with_sections(&MANDATORY),
        _ => g,
    };
    Some((g, actor, cmd))
}

/// The actions on ideas.
fn idea_actions() -> Vec<Action> {
    Action::ALL.iter().copied().filter(|a| attempt(given(), *a).is_some()).collect()
}

/// The events an accepted action records, and the notices each applicant gets.
fn expected(action: Action, from: Stage) -> (&'static [&'static str], &'static [&'static str]) {
    use Action as A;
    match action {
        A::Draft => (&["drafted"], &[]),
        A::SubmitNew => (&["drafted", "submitted"], &["idea_received"]),
        A::EditDraft => (&["draft_edited"], &[]),
        A::Submit => (&["submitted"], &["idea_received"]),
        A::Select => (&["selected"], &["selected", "seminar_invitation"]),
        A::NotSelect => (&["not_selected"], &["not_selected"]),
        A::RecordAttendance => (&["attendance_recorded"], &[]),
        A::SchedulePitch => (&["pitch_scheduled"], &["panel_invitation"]),
        A::DeclareConflict => (&["conflict_declared"], &[]),
        A::SavePlanSection => (&["plan_section_saved"], &[]),
        A::RecordPitch => (&["pitched"], &[]),
        A::GiveFeedback => (&["feedback_given"], &[]),
        A::SubmitPlan => (&["plan_submitted"], &["plan_received"]),
        A::SendReminder => (&["reminder_sent"], &["plan_deadline_reminder"]),
        A::Lapse => (&["lapsed"], &["lapsed"]),
        A::Prepare => (&["prepared"], &["prepared_for_decision"]),
        A::Grant => (&["granted"], &["granted"]),
        A::Decline => (&["declined"], &["declined"]),
        // Withdrawing a draft just discards it: nobody gets a letter.
        A::Withdraw if from == Stage::Draft => (&["withdrawn"], &[]),
        A::Withdraw => (&["withdrawn"], &["withdrawn"]),
        A::CreateCall | A::EditCall | A::AdvancePhase => unreachable!("not an idea action"),
    }
}

/// Who in the cast may take an action (as `attempt` builds it).
fn may(action: Action) -> &'static [&'static str] {
    use Action as A;
    match action {
        A::Draft | A::SubmitNew | A::EditDraft | A::Submit | A::SubmitPlan | A::Withdraw => &["process_leader", "lead"],
        A::Select | A::NotSelect | A::Prepare => &["sector_member"],
        A::RecordAttendance => &["process_leader", "sector_member"],
        A::SchedulePitch | A::RecordPitch => &["process_leader"],
        // A panel member declares their own conflicts; `attempt` declares
        // panel_member's, so panel_member_2 may not.
        A::DeclareConflict => &["process_leader", "panel_member"],
        A::SavePlanSection => &["lead", "co_applicant"],
        A::GiveFeedback => &["panel_member", "panel_member_2"],
        A::SendReminder | A::Lapse => &["system"],
        A::Grant | A::Decline => &["board_member"],
        A::CreateCall | A::EditCall | A::AdvancePhase => &["process_leader"],
    }
}

#[test]
fn every_row_of_the_table_succeeds_from_its_stage() {
    for row in IDEA_TRANSITIONS {
        let (g, actor, cmd) = attempt(Given::at_stage(row.from), row.action).expect("an idea action");
        let (events, notices) = expected(row.action, row.from);
        g.when(&actor, cmd).then_events(events).then_stage(row.to).then_notices(notices);
    }
}

#[test]
fn every_stage_and_action_outside_the_table_is_refused() {
    let actions = idea_actions();
    assert_eq!(actions.len(), 19);
    let mut tried = 0;
    for &stage in Stage::ALL {
        for &action in &actions {
            let (g, actor, cmd) = attempt(Given::at_stage(stage), action).expect("an idea action");
            assert_eq!(g.stage(), stage);
            tried += 1;
            if table::target(stage, action).is_some() {
                continue;
            }
            let code = if stage.is_final() {
                "final"
            } else if stage == Stage::New {
                "idea_not_found"
            } else if matches!(action, Action::Draft | Action::SubmitNew) {
                "already_exists"
            } else {
                "wrong_stage"
            };
            let err = g.when(&actor, cmd).then_error(code);
            if code == "wrong_stage" {
                assert_eq!(
                    err,
                    TransitionError::WrongStage { action, stage, allowed: table::stages_allowing(action) },
                    "{action:?} at {stage:?}"
                );
            }
        }
    }
    assert_eq!(tried, Stage::ALL.len() * actions.len());
}

#[test]
fn final_stages_refuse_every_command_from_anyone() {
    let finals: Vec<Stage> = Stage::ALL.iter().copied().filter(|s| s.is_final()).collect();
    assert_eq!(finals, [Stage::NotSelected, Stage::Lapsed, Stage::Granted, Stage::Declined, Stage::Withdrawn]);
    for stage in finals {
        for action in idea_actions() {
            for (_, someone) in cast() {
                let (g, _, cmd) = attempt(Given::at_stage(stage), action).expect("an idea action");
                let err = g.when(&someone, cmd).then_error("final");
                assert_eq!(err, TransitionError::Final { stage });
            }
        }
    }
}

#[test]
fn only_the_right_people_may_take_each_action() {
    for row in IDEA_TRANSITIONS {
        for (name, actor) in cast() {
            let (g, _, cmd) = attempt(Given::at_stage(row.from), row.action).expect("an idea action");
            let then = g.when(&actor, cmd);
            if may(row.action).contains(&name) {
                then.then_stage(row.to);
            } else {
                let err = then.then_error("not_allowed");
                assert!(matches!(err, TransitionError::NotAllowed { action, .. } if action == row.action), "{err:?}");
            }
        }
    }
}

/// The call phases in which an action on an idea may be taken.
fn phases(action: Action) -> &'static [CallPhase] {
    use Action as A;
    use CallPhase as P;
    match action {
        A::Draft | A::EditDraft | A::Submit | A::SubmitNew => &[P::Open],
        A::Select | A::NotSelect => &[P::Selection],
        A::RecordAttendance | A::SchedulePitch => &[P::Development, P::Panel],
        A::DeclareConflict | A::SavePlanSection | A::SendReminder | A::Lapse => {
            &[P::Development, P::Panel, P::PlansDue]
        }
        A::RecordPitch => &[P::Panel],
        A::GiveFeedback | A::SubmitPlan => &[P::Panel, P::PlansDue],
        A::Prepare => &[P::Preparation],
        A::Grant | A::Decline => &[P::Decision],
        A::Withdraw => &[P::Open, P::Selection, P::Development, P::Panel, P::PlansDue, P::Preparation, P::Decision],
        A::CreateCall | A::EditCall | A::AdvancePhase => &[],
    }
}

#[test]
fn every_action_is_taken_in_its_phases_and_refused_in_the_others() {
    for action in idea_actions() {
        assert_eq!(allowed_phases(action), phases(action), "{action:?}");
    }
    for row in IDEA_TRANSITIONS {
        let allowed = phases(row.action);
        for &phase in CallPhase::ALL {
            let (g, actor, cmd) = attempt(Given::at_stage(row.from), row.action).expect("an idea action");
            let then = g.in_phase(phase).when(&actor, cmd);
            if allowed.contains(&phase) {
                then.then_stage(row.to);
            } else {
                let err = then.then_error("wrong_phase");
                assert_eq!(err, TransitionError::WrongPhase { action: row.action, phase, allowed: allowed.to_vec() });
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Roles

#[test]
fn an_applicant_cannot_select_nor_a_member_of_another_sector_group() {
    let g = given().submitted().advance_to(CallPhase::Selection, select_time());
    for who in [lead(), co_applicant(), other_sector_member(), process_leader()] {
        let err = g.clone().when(&who, select()).then_error("not_allowed");
        assert_eq!(err, TransitionError::NotAllowed { action: Action::Select, allowed: vec![Who::SectorGroup] });
    }
    g.when(&sector_member(), select()).then_stage(Stage::Selected);
}

#[test]
fn a_board_member_cannot_prepare() {
    let err = given()
        .plan_submitted()
        .advance_to(CallPhase::Preparation, prepare_time())
        .when(&board_member(), prepare_fund(REQUESTED_KR))
        .then_error("not_allowed");
    assert_eq!(err, TransitionError::NotAllowed { action: Action::Prepare, allowed: vec![Who::SectorGroup] });
}

#[test]
fn a_panel_member_cannot_grant() {
    let err = given()
        .prepared()
        .advance_to(CallPhase::Decision, decide_time())
        .when(&panel_member(), grant(REQUESTED_KR))
        .then_error("not_allowed");
    assert_eq!(err, TransitionError::NotAllowed { action: Action::Grant, allowed: vec![Who::Board] });
}

#[test]
fn nobody_submits_with_someone_else_as_lead_but_the_process_leader() {
    for who in [outsider(), co_applicant(), sector_member()] {
        let err = given().when(&who, submit_new()).then_error("not_allowed");
        assert_eq!(
            err,
            TransitionError::NotAllowed { action: Action::SubmitNew, allowed: vec![Who::Lead, Who::ProcessLeader] }
        );
        given().when(&who, draft()).then_error("not_allowed");
    }
    // The process leader may register an idea on the lead's behalf.
    let then = given().when(&process_leader(), submit_new()).then_stage(Stage::Submitted);
    assert_eq!(then.state().idea().unwrap().lead.person, LEAD);
}

#[test]
fn only_the_lead_or_the_process_leader_may_withdraw() {
    let err = given().submitted().when(&co_applicant(), withdraw()).then_error("not_allowed");
    assert_eq!(
        err,
        TransitionError::NotAllowed { action: Action::Withdraw, allowed: vec![Who::Lead, Who::ProcessLeader] }
    );
    given().submitted().when(&process_leader(), withdraw()).then_stage(Stage::Withdrawn).then_notices(&["withdrawn"]);
    given().selected().when(&lead(), withdraw()).then_stage(Stage::Withdrawn);
}

#[test]
fn timer_actions_are_the_systems_alone() {
    let g = given().selected().advance_to(CallPhase::Development, plan_deadline() + minutes(1));
    for cmd in [lapse(), remind(14)] {
        let action = cmd.action();
        let err = g.clone().when(&process_leader(), cmd).then_error("not_allowed");
        assert_eq!(err, TransitionError::NotAllowed { action, allowed: vec![Who::System] });
    }
    g.when(&system(), lapse()).then_stage(Stage::Lapsed);
}

// ---------------------------------------------------------------------------
// Phases

#[test]
fn selecting_while_the_call_is_open_is_refused() {
    let g = given().submitted();
    assert_eq!(g.phase(), CallPhase::Open);
    let err = g.when(&sector_member(), select()).then_error("wrong_phase");
    assert_eq!(
        err,
        TransitionError::WrongPhase {
            action: Action::Select,
            phase: CallPhase::Open,
            allowed: vec![CallPhase::Selection]
        }
    );
}

#[test]
fn granting_during_preparation_is_refused() {
    let g = given().prepared();
    assert_eq!(g.phase(), CallPhase::Preparation);
    let err = g.when(&board_member(), grant(REQUESTED_KR)).then_error("wrong_phase");
    assert_eq!(
        err,
        TransitionError::WrongPhase {
            action: Action::Grant,
            phase: CallPhase::Preparation,
            allowed: vec![CallPhase::Decision]
        }
    );
}

// ---------------------------------------------------------------------------
// Submission

#[test]
fn submissions_only_inside_the_window() {
    let err = given().at(opens_at() - minutes(1)).when(&lead(), submit_new()).then_error("not_open_yet");
    assert_eq!(err, TransitionError::NotOpenYet { opens_at: opens_at() });
    given().at(opens_at()).when(&lead(), submit_new()).then_stage(Stage::Submitted);
    given().at(closes_at() - minutes(1)).when(&lead(), submit_new()).then_stage(Stage::Submitted);
    for late in [closes_at(), closes_at() + days(1)] {
        let err = given().at(late).when(&lead(), submit_new()).then_error("deadline_passed");
        assert_eq!(err, TransitionError::DeadlinePassed { deadline: closes_at() });
        given().at(late).when(&lead(), draft()).then_error("deadline_passed");
    }
}

#[test]
fn a_draft_can_be_edited_and_submitted_only_before_the_call_closes() {
    let g = given().drafted();
    let then = g
        .clone()
        .when(&lead(), edit_draft(|d| d.title = title("Ny titel")))
        .then_events(&["draft_edited"])
        .then_stage(Stage::Draft);
    assert_eq!(then.state().idea().unwrap().details.title.as_str(), "Ny titel");
    then.ok().when(&lead(), submit()).then_events(&["submitted"]).then_notices(&["idea_received"]);

    let late = g.at(closes_at());
    late.clone().when(&lead(), submit()).then_error("deadline_passed");
    late.when(&lead(), edit_draft(|_| {})).then_error("deadline_passed");
}

#[test]
fn the_theme_must_be_one_of_the_calls() {
    let err = given().when(&lead(), submit_new_with(|i| i.details.theme = theme("skola"))).then_error("unknown_theme");
    assert_eq!(
        err,
        TransitionError::UnknownTheme { theme: theme("skola"), allowed: THEMES.iter().map(|t| theme(t)).collect() }
    );
    given().drafted().when(&lead(), edit_draft(|d| d.theme = theme("skola"))).then_error("unknown_theme");
    given().when(&lead(), submit_new_with(|i| i.details.theme = theme(THEMES[1]))).then_stage(Stage::Submitted);
}

#[test]
fn nobody_is_named_twice_among_the_applicants() {
    let err = given()
        .when(&lead(), submit_new_with(|i| i.details.co_applicants.push(applicant(LEAD))))
        .then_error("duplicate_applicant");
    assert_eq!(err, TransitionError::DuplicateApplicant { person: LEAD });
    let err = given()
        .when(&lead(), submit_new_with(|i| i.details.co_applicants.push(applicant(CO_APPLICANT))))
        .then_error("duplicate_applicant");
    assert_eq!(err, TransitionError::DuplicateApplicant { person: CO_APPLICANT });
    given()
        .drafted()
        .when(&lead(), edit_draft(|d| d.co_applicants = vec![applicant(LEAD)]))
        .then_error("duplicate_applicant");
}

#[test]
fn an_idea_belongs_to_its_call() {
    given().when(&lead(), submit_new_with(|i| i.call = OTHER_CALL)).then_error("wrong_call");
    let g = given().submitted();
    let mut other = g.call().clone();
    other.id = OTHER_CALL;
    let ctx = Context { now: g.now, actor: &lead(), call: &other, totals: g.totals };
    assert_eq!(decide(&g.idea, &withdraw(), &ctx), Err(TransitionError::WrongCall));
}

// ---------------------------------------------------------------------------
// Selection

#[test]
fn selection_stops_at_capacity() {
    let g = given().submitted().advance_to(CallPhase::Selection, select_time());
    let err = g.clone().with_selected(CAPACITY).when(&sector_member(), select()).then_error("selection_full");
    assert_eq!(err, TransitionError::SelectionFull { capacity: CAPACITY });
    g.clone().with_selected(CAPACITY - 1).when(&sector_member(), select()).then_stage(Stage::Selected);
    // A full selection still lets the group say no, with a motivation.
    g.with_selected(CAPACITY).when(&sector_member(), not_select("Urvalet är fullt.")).then_stage(Stage::NotSelected);
    // Selecting counts towards the capacity.
    assert_eq!(given().selected().totals.selected, 1);
}

#[test]
fn a_call_without_seminars_sends_no_seminar_invitation() {
    given()
        .submitted()
        .advance_to(CallPhase::Selection, select_time())
        .with_definition(|d| d.timeline.seminars.clear())
        .when(&sector_member(), select())
        .then_notices(&["selected"]);
}

// ---------------------------------------------------------------------------
// Every "no" carries a motivation

#[test]
fn a_motivation_cannot_be_blank() {
    assert_eq!(Motivation::parse("  "), Err(ParseError::Empty { field: "motivation" }));
    assert_eq!(Motivation::parse(""), Err(ParseError::Empty { field: "motivation" }));
    let json = |m: &str| format!(r#"{{"command":"not_select","motivation":"{m}"}}"#);
    assert!(serde_json::from_str::<IdeaCommand>(&json("  ")).is_err());
    assert!(serde_json::from_str::<IdeaCommand>(&json("Utanför temat.")).is_ok());
}

#[test]
fn not_selected_carries_its_motivation_into_event_state_and_mail() {
    const WHY: &str = "Idén ligger utanför utlysningens teman.";
    let then = given()
        .submitted()
        .advance_to(CallPhase::Selection, select_time())
        .when(&sector_member(), not_select(WHY))
        .then_events(&["not_selected"])
        .then_stage(Stage::NotSelected)
        .then_notices(&["not_selected"]);
    let d = then.decision();
    assert_eq!(d.events[0].event, IdeaEvent::NotSelected { motivation: motivation(WHY) });
    let IdeaState::NotSelected(n) = &d.state else { panic!("not selected") };
    assert_eq!(n.outcome.motivation.as_str(), WHY);
    assert_eq!(n.outcome.by, sector_member().id);
    for n in &d.notifications {
        assert_eq!(n.notice, Notice::NotSelected { motivation: motivation(WHY) });
    }
    // The English-reading co-applicant gets it in English.
    assert!(d.notifications.iter().any(|n| n.to.person == CO_APPLICANT && n.to.language == Language::En));
}

#[test]
fn declined_carries_its_motivation_into_event_state_and_mail() {
    const WHY: &str = "Budgeten räcker inte och andra planer ger större nytta.";
    let then = given()
        .prepared()
        .advance_to(CallPhase::Decision, decide_time())
        .when(&board_member(), decline(WHY))
        .then_events(&["declined"])
        .then_stage(Stage::Declined)
        .then_notices(&["declined"]);
    let d = then.decision();
    assert_eq!(
        d.events[0].event,
        IdeaEvent::Declined { motivation: motivation(WHY), registry: registry(32), meeting: MEETING }
    );
    let IdeaState::Declined(s) = &d.state else { panic!("declined") };
    assert_eq!(s.motivation.as_str(), WHY);
    assert_eq!(s.decision.registry, registry(32));
    for n in &d.notifications {
        assert_eq!(
            n.notice,
            Notice::Declined { motivation: motivation(WHY), registry: registry(32), meeting: MEETING }
        );
    }
}

#[test]
fn recommending_no_funding_carries_its_motivation() {
    const WHY: &str = "Planen är inte genomförbar med den budgeten.";
    let then = given()
        .plan_submitted()
        .advance_to(CallPhase::Preparation, prepare_time())
        .when(&sector_member(), prepare_no(WHY))
        .then_stage(Stage::Prepared);
    let IdeaState::Prepared(p) = then.state() else { panic!("prepared") };
    assert_eq!(p.preparation.recommendation, Recommendation::NoFunding { motivation: motivation(WHY) });
}

// ---------------------------------------------------------------------------
// Development: attendance and the pitch

#[test]
fn attendance_is_recorded_per_seminar_and_can_be_corrected() {
    let g = given().selected().advance_to(CallPhase::Development, at(2010, 5, 4, 16, 30));
    let err = g.clone().when(&process_leader(), attend(9, true)).then_error("unknown_seminar");
    assert_eq!(err, TransitionError::UnknownSeminar { seminar: SeminarId(9) });
    let g = g.when(&process_leader(), attend(1, true)).ok().when(&sector_member(), attend(1, false)).ok();
    assert_eq!(g.dev().attendance.get(&SeminarId(1)), Some(&false));
    assert_eq!(g.dev().attendance.len(), 1);
}

#[test]
fn a_pitch_is_scheduled_before_the_plan_deadline() {
    let g = given().selected().advance_to(CallPhase::Development, select_time() + days(6));
    let err = g.clone().when(&process_leader(), schedule_pitch(plan_deadline())).then_error("deadline_passed");
    assert_eq!(err, TransitionError::DeadlinePassed { deadline: plan_deadline() });
    let then = g.when(&process_leader(), schedule_pitch(pitch_time())).then_notices(&["panel_invitation"]);
    assert_eq!(then.state().development().unwrap().pitch_slot, Some(pitch_time()));
    for n in &then.decision().notifications {
        assert_eq!(n.notice, Notice::PanelInvitation { at: pitch_time() });
    }
}

// ---------------------------------------------------------------------------
// The panel: conflicts of interest and scores

#[test]
fn applicants_on_the_panel_have_a_conflict_of_interest() {
    for person in [LEAD, CO_APPLICANT] {
        let err = given().pitched().when(&as_panel(person), feedback_all(4)).then_error("conflict_of_interest");
        assert_eq!(err, TransitionError::ConflictOfInterest { panel_member: person });
    }
}

#[test]
fn a_declared_conflict_stops_that_members_feedback_only() {
    let g = given()
        .pitched()
        .when(&panel_member(), declare_conflict(PANEL_MEMBER, "Jag är chef för enheten."))
        .then_events(&["conflict_declared"])
        .ok();
    assert_eq!(g.dev().conflicts.get(&PANEL_MEMBER), Some(&motivation("Jag är chef för enheten.")));
    let err = g.clone().when(&panel_member(), feedback_all(4)).then_error("conflict_of_interest");
    assert_eq!(err, TransitionError::ConflictOfInterest { panel_member: PANEL_MEMBER });
    g.when(&panel_member_2(), feedback_all(4)).then_events(&["feedback_given"]);
}

#[test]
fn a_conflict_recorded_by_the_process_leader_before_the_pitch_still_holds_after_it() {
    let err = given()
        .selected()
        .advance_to(CallPhase::Development, select_time() + days(6))
        .when(&process_leader(), declare_conflict(PANEL_MEMBER, "Anmält per telefon."))
        .ok()
        .step(CallPhase::Panel, pitch_time(), &process_leader(), record_pitch())
        .when(&panel_member(), feedback_all(3))
        .then_error("conflict_of_interest");
    assert_eq!(err, TransitionError::ConflictOfInterest { panel_member: PANEL_MEMBER });
}

#[test]
fn a_panel_member_declares_only_their_own_conflicts() {
    let err = given()
        .pitched()
        .when(&panel_member_2(), declare_conflict(PANEL_MEMBER, "Hen är jävig."))
        .then_error("not_allowed");
    assert_eq!(err, TransitionError::NotAllowed { action: Action::DeclareConflict, allowed: vec![Who::ProcessLeader] });
    let err =
        given().pitched().when(&outsider(), declare_conflict(OUTSIDER, "Jag är jävig.")).then_error("not_allowed");
    assert_eq!(
        err,
        TransitionError::NotAllowed { action: Action::DeclareConflict, allowed: vec![Who::ProcessLeader, Who::Panel] }
    );
}

#[test]
fn feedback_scores_every_criterion_on_the_scale() {
    let g = given().pitched();
    let err =
        g.clone().when(&panel_member(), feedback(&[("relevans", 3), ("samverkan", 3)])).then_error("missing_score");
    assert_eq!(err, TransitionError::MissingScore { criterion: criterion("genomforbarhet") });

    let err = g
        .clone()
        .when(&panel_member(), feedback(&[("relevans", 3), ("genomforbarhet", 3), ("samverkan", 3), ("budget", 3)]))
        .then_error("unknown_criterion");
    assert_eq!(err, TransitionError::UnknownCriterion { criterion: criterion("budget") });

    for bad in [0, 6] {
        let err = g
            .clone()
            .when(&panel_member(), feedback(&[("relevans", bad), ("genomforbarhet", 3), ("samverkan", 3)]))
            .then_error("score_out_of_scale");
        assert_eq!(
            err,
            TransitionError::ScoreOutOfScale { criterion: criterion("relevans"), score: bad, min: 1, max: 5 }
        );
    }
    for edge in [1, 5] {
        g.clone().when(&panel_member(), feedback_all(edge)).then_events(&["feedback_given"]).then_stage(Stage::Pitched);
    }
}

#[test]
fn a_revised_feedback_replaces_the_members_earlier_one() {
    let revised = IdeaCommand::GiveFeedback {
        text: text("Reviderad bedömning."),
        scores: CRITERIA.iter().map(|k| (criterion(k), mops_core::domain::Score::new(5))).collect(),
    };
    let g = given().pitched().when(&panel_member(), feedback_all(2)).ok();
    let g = g.at(pitch_time() + minutes(30)).when(&panel_member(), revised).ok();
    let fb = &g.dev().feedback;
    assert_eq!(fb.len(), 1);
    let mine = &fb[&PANEL_MEMBER];
    assert_eq!(mine.text.as_str(), "Reviderad bedömning.");
    assert_eq!(mine.at, pitch_time() + minutes(30));
    assert!(mine.scores.values().all(|s| s.value() == 5));
}

#[test]
fn mean_scores_are_per_criterion_over_members() {
    let g = given().pitched();
    assert!(g.dev().mean_scores().is_empty());
    let g = g
        .when(&panel_member(), feedback(&[("relevans", 5), ("genomforbarhet", 3), ("samverkan", 4)]))
        .ok()
        .when(&panel_member_2(), feedback(&[("relevans", 2), ("genomforbarhet", 4), ("samverkan", 4)]))
        .ok();
    let means = g.dev().mean_scores();
    assert_eq!(means[&criterion("relevans")], 3.5);
    assert_eq!(means[&criterion("genomforbarhet")], 3.5);
    assert_eq!(means[&criterion("samverkan")], 4.0);
    assert_eq!(means.len(), 3);
    // A revision counts once, with its new scores.
    let g = g.when(&panel_member(), feedback(&[("relevans", 1), ("genomforbarhet", 3), ("samverkan", 4)])).ok();
    assert_eq!(g.dev().mean_scores()[&criterion("relevans")], 1.5);
}

// ---------------------------------------------------------------------------
// The project plan

#[test]
fn a_plan_needs_every_mandatory_section_and_lists_the_missing_ones() {
    let err = given().pitched().when(&lead(), submit_plan(REQUESTED_KR)).then_error("missing_sections");
    assert_eq!(err, TransitionError::MissingSections { sections: MANDATORY.iter().map(|k| section(k)).collect() });
    let err = given()
        .pitched()
        .with_sections(&["syfte", "spridning"])
        .when(&lead(), submit_plan(REQUESTED_KR))
        .then_error("missing_sections");
    assert_eq!(err, TransitionError::MissingSections { sections: vec![section("bakgrund"), section("budget")] });
}

#[test]
fn an_optional_section_may_be_missing() {
    let then = given()
        .pitched()
        .with_sections(&MANDATORY)
        .when(&lead(), submit_plan(REQUESTED_KR))
        .then_events(&["plan_submitted"])
        .then_stage(Stage::PlanSubmitted)
        .then_notices(&["plan_received"]);
    let plan = then.state().plan().unwrap();
    assert_eq!(
        plan.sections.keys().cloned().collect::<Vec<_>>(),
        vec![section("bakgrund"), section("budget"), section("syfte")]
    );
    assert_eq!(plan.requested, kr(REQUESTED_KR));
    for n in &then.decision().notifications {
        assert_eq!(n.notice, Notice::PlanReceived { requested: kr(REQUESTED_KR) });
    }
}

#[test]
fn a_plan_requests_a_positive_amount_within_the_ceiling() {
    let g = given().pitched().with_sections(&MANDATORY);
    g.clone().when(&lead(), submit_plan(0)).then_error("amount_not_positive");
    let err = g.clone().when(&lead(), submit_plan(CEILING_KR + 1)).then_error("exceeds_ceiling");
    assert_eq!(err, TransitionError::ExceedsCeiling { ceiling: kr(CEILING_KR), asked: kr(CEILING_KR + 1) });
    g.when(&lead(), submit_plan(CEILING_KR)).then_stage(Stage::PlanSubmitted);
}

#[test]
fn plans_and_sections_only_before_the_plan_deadline() {
    let g = given().pitched().with_sections(&MANDATORY).advance_to(CallPhase::PlansDue, plan_time());
    for late in [plan_deadline(), plan_deadline() + days(1)] {
        let err = g.clone().at(late).when(&lead(), submit_plan(REQUESTED_KR)).then_error("deadline_passed");
        assert_eq!(err, TransitionError::DeadlinePassed { deadline: plan_deadline() });
        g.clone().at(late).when(&lead(), save_section("spridning", Some("Sent."))).then_error("deadline_passed");
    }
    g.at(plan_deadline() - minutes(1)).when(&lead(), submit_plan(REQUESTED_KR)).then_stage(Stage::PlanSubmitted);
}

#[test]
fn sections_must_be_in_the_template_and_can_be_cleared() {
    let g = given().pitched();
    let err = g.clone().when(&lead(), save_section("ekonomi", Some("Text."))).then_error("unknown_section");
    assert_eq!(err, TransitionError::UnknownSection { section: section("ekonomi") });

    let g = g.with_sections(&MANDATORY);
    let g = g.when(&co_applicant(), save_section("budget", None)).then_events(&["plan_section_saved"]).ok();
    assert!(!g.dev().plan_draft.contains_key(&section("budget")));
    assert!(g.dev().plan_draft.contains_key(&section("syfte")));
    let err = g.when(&lead(), submit_plan(REQUESTED_KR)).then_error("missing_sections");
    assert_eq!(err, TransitionError::MissingSections { sections: vec![section("budget")] });
}

// ---------------------------------------------------------------------------
// Reminders, lapse and the timers

#[test]
fn a_reminder_goes_out_once_when_due() {
    let g = given().pitched();
    let due_at = plan_deadline() - days(14);
    let err = g.clone().at(due_at - minutes(1)).when(&system(), remind(14)).then_error("reminder_not_due");
    assert_eq!(err, TransitionError::ReminderNotDue { due_at });

    let then = g
        .at(due_at)
        .when(&system(), remind(14))
        .then_events(&["reminder_sent"])
        .then_notices(&["plan_deadline_reminder"]);
    for n in &then.decision().notifications {
        assert_eq!(n.notice, Notice::PlanDeadlineReminder { deadline: plan_deadline(), days_before: 14 });
    }
    let err = then.ok().at(due_at + days(1)).when(&system(), remind(14)).then_error("reminder_already_sent");
    assert_eq!(err, TransitionError::ReminderAlreadySent { days_before: 14 });
}

#[test]
fn a_nearer_reminder_follows_a_farther_one_but_not_the_other_way_round() {
    let after_14 = given().pitched().at(plan_deadline() - days(14)).when(&system(), remind(14)).ok();
    let after_3 =
        after_14.at(plan_deadline() - days(3)).when(&system(), remind(3)).then_events(&["reminder_sent"]).ok();
    assert_eq!(after_3.dev().reminders_sent.iter().copied().collect::<Vec<_>>(), vec![3, 14]);

    let only_3 = given().selected().advance_to(CallPhase::Development, plan_deadline() - days(2));
    let only_3 = only_3.when(&system(), remind(3)).ok();
    let err = only_3.when(&system(), remind(14)).then_error("reminder_already_sent");
    assert_eq!(err, TransitionError::ReminderAlreadySent { days_before: 14 });
}

#[test]
fn no_reminder_after_the_deadline() {
    let err = given().pitched().at(plan_deadline()).when(&system(), remind(3)).then_error("deadline_passed");
    assert_eq!(err, TransitionError::DeadlinePassed { deadline: plan_deadline() });
}

#[test]
fn an_idea_lapses_only_once_the_plan_deadline_has_passed() {
    for g in [given().selected().advance_to(CallPhase::Development, select_time()), given().pitched()] {
        let err =
            g.clone().at(plan_deadline() - minutes(1)).when(&system(), lapse()).then_error("deadline_not_reached");
        assert_eq!(err, TransitionError::DeadlineNotReached { deadline: plan_deadline() });
        let then = g.at(plan_deadline()).when(&system(), lapse()).then_stage(Stage::Lapsed).then_notices(&["lapsed"]);
        for n in &then.decision().notifications {
            assert_eq!(n.notice, Notice::Lapsed { deadline: plan_deadline() });
        }
    }
}

#[test]
fn a_reminder_threshold_further_back_than_time_goes_is_due_not_a_panic() {
    given().pitched().when(&system(), remind(u32::MAX)).then_events(&["reminder_sent"]);
    let g = given().pitched();
    let config = TimerConfig { plan_reminder_days: vec![u32::MAX, 14] };
    let timers = due(g.call(), [&g.idea], pitch_time(), &config);
    assert_eq!(timers, [DueTimer { idea: IDEA, command: remind(u32::MAX) }]);
    assert_eq!(next_wakeup(g.call(), [&g.idea], pitch_time(), &config), Some(plan_deadline() - days(14)));
}

fn due_now(g: &Given, now: chrono::DateTime<chrono::Utc>) -> Vec<IdeaCommand> {
    let timers: Vec<DueTimer> = due(g.call(), [&g.idea], now, &TimerConfig::default());
    assert!(timers.iter().all(|t| t.idea == IDEA));
    timers.into_iter().map(|t| t.command).collect()
}

#[test]
fn timers_list_reminders_at_their_thresholds_and_the_lapse_after_the_deadline() {
    let d = plan_deadline();
    for g in [given().selected().advance_to(CallPhase::Development, select_time()), given().pitched()] {
        assert_eq!(due_now(&g, d - days(14) - minutes(1)), []);
        assert_eq!(due_now(&g, d - days(14)), [remind(14)]);
        // Only the nearest threshold reached: a missed 14-day reminder is not sent late.
        assert_eq!(due_now(&g, d - days(2)), [remind(3)]);
        assert_eq!(due_now(&g, d - minutes(1)), [remind(3)]);
        assert_eq!(due_now(&g, d), [lapse()]);
        assert_eq!(due_now(&g, d + days(3)), [lapse()]);

        // What the timers list, the system may do; then it is no longer due.
        let g = g.at(d - days(14)).when(&system(), remind(14)).ok();
        assert_eq!(due_now(&g, d - days(10)), []);
        assert_eq!(due_now(&g, d - days(3)), [remind(3)]);
        let g = g.at(d - days(3)).when(&system(), remind(3)).ok();
        assert_eq!(due_now(&g, d - minutes(1)), []);
        let timer = due_now(&g, d).remove(0);
        let lapsed = g.at(d).when(&system(), timer).then_stage(Stage::Lapsed).ok();
        assert_eq!(due_now(&lapsed, d + days(1)), []);
    }
}

#[test]
fn timers_skip_ideas_with_a_plan_and_calls_in_other_phases() {
    let d = plan_deadline();
    let planned = given().plan_submitted();
    assert_eq!(planned.phase(), CallPhase::PlansDue);
    assert_eq!(due_now(&planned, d - days(2)), []);
    assert_eq!(due_now(&planned, d + days(1)), []);

    let selected = given().selected();
    assert_eq!(selected.phase(), CallPhase::Selection);
    assert_eq!(due_now(&selected, d - days(2)), []);
    assert_eq!(due_now(&selected, d + days(1)), []);
    for phase in CallPhase::ALL.iter().copied().filter(|p| !allowed_phases(Action::Lapse).contains(p)) {
        assert_eq!(due_now(&given().pitched().in_phase(phase), d + days(1)), [], "{phase:?}");
    }
}

// ---------------------------------------------------------------------------
// Amounts: preparation and grants

#[test]
fn a_grant_is_positive_within_the_request_the_ceiling_and_the_budget() {
    let g = given().prepared().advance_to(CallPhase::Decision, decide_time());
    g.clone().when(&board_member(), grant(0)).then_error("amount_not_positive");

    let err = g.clone().when(&board_member(), grant(REQUESTED_KR + 1)).then_error("exceeds_request");
    assert_eq!(err, TransitionError::ExceedsRequest { requested: kr(REQUESTED_KR), asked: kr(REQUESTED_KR + 1) });

    // The plan cannot request more than the ceiling, so only a ceiling
    // lowered after the plan came in can be exceeded by a grant.
    let err = g
        .clone()
        .with_definition(|d| d.ceiling = Some(kr(250_000)))
        .when(&board_member(), grant(REQUESTED_KR))
        .then_error("exceeds_ceiling");
    assert_eq!(err, TransitionError::ExceedsCeiling { ceiling: kr(250_000), asked: kr(REQUESTED_KR) });

    let err = g.clone().with_granted(800_000).when(&board_member(), grant(REQUESTED_KR)).then_error("budget_exceeded");
    assert_eq!(err, TransitionError::BudgetExceeded { remaining: kr(200_000), asked: kr(REQUESTED_KR) });

    // Exactly what remains of the budget is fine.
    let then = g.clone().with_granted(BUDGET_KR - REQUESTED_KR).when(&board_member(), grant(REQUESTED_KR));
    let after = then.then_events(&["granted"]).then_stage(Stage::Granted).then_notices(&["granted"]).ok();
    assert_eq!(after.totals.granted, kr(BUDGET_KR));
    assert_eq!(after.idea.granted_amount(), Some(kr(REQUESTED_KR)));

    // Less than requested is a grant too.
    g.when(&board_member(), grant(250_000)).then_stage(Stage::Granted);
}

#[test]
fn the_granted_notice_states_amount_conditions_and_registry() {
    let then =
        given().prepared().advance_to(CallPhase::Decision, decide_time()).when(&board_member(), grant(REQUESTED_KR));
    for n in &then.decision().notifications {
        assert_eq!(
            n.notice,
            Notice::Granted {
                amount: kr(REQUESTED_KR),
                conditions: Some(text("Projektet redovisar halvårsvis.")),
                registry: registry(31),
                meeting: MEETING,
            }
        );
    }
}

#[test]
fn a_recommended_amount_follows_the_same_rules_as_a_grant() {
    let g = given().plan_submitted().advance_to(CallPhase::Preparation, prepare_time());
    g.clone().when(&sector_member(), prepare_fund(0)).then_error("amount_not_positive");
    let err = g.clone().when(&sector_member(), prepare_fund(REQUESTED_KR + 1)).then_error("exceeds_request");
    assert_eq!(err, TransitionError::ExceedsRequest { requested: kr(REQUESTED_KR), asked: kr(REQUESTED_KR + 1) });
    let err = g
        .clone()
        .with_definition(|d| d.ceiling = Some(kr(250_000)))
        .when(&sector_member(), prepare_fund(REQUESTED_KR))
        .then_error("exceeds_ceiling");
    assert_eq!(err, TransitionError::ExceedsCeiling { ceiling: kr(250_000), asked: kr(REQUESTED_KR) });
    let then = g
        .when(&sector_member(), prepare_fund(REQUESTED_KR))
        .then_events(&["prepared"])
        .then_notices(&["prepared_for_decision"]);
    for n in &then.decision().notifications {
        assert_eq!(n.notice, Notice::PreparedForDecision { meeting_at: decision_meeting_at() });
    }
}

// ---------------------------------------------------------------------------
// The call's phases

#[test]
fn only_the_process_leader_creates_a_call() {
    for who in [sector_member(), board_member(), outsider(), system()] {
        let err = nothing().when(&who, create_call(definition())).then_error("not_allowed");
        assert_eq!(err, TransitionError::NotAllowed { action: Action::CreateCall, allowed: vec![Who::ProcessLeader] });
    }
    let g = nothing()
        .when(&process_leader(), create_call(definition()))
        .then_events(&["created"])
        .then_phase(CallPhase::Draft)
        .ok();
    assert_eq!(g.call().id, CALL);
    g.when(&process_leader(), create_call(definition())).then_error("already_exists");
    nothing().when(&process_leader(), advance(CallPhase::Open)).then_error("call_not_found");
    nothing().when(&process_leader(), edit_call(definition())).then_error("call_not_found");
}

#[test]
fn an_invalid_definition_is_refused_with_every_problem() {
    let mut bad = definition();
    bad.timeline.closes_at = bad.timeline.opens_at - days(1);
    bad.criteria.clear();
    bad.ceiling = Some(kr(BUDGET_KR + 1));
    let problems = vec![
        DefinitionProblem::ClosesBeforeOpens,
        DefinitionProblem::CeilingOutsideBudget,
        DefinitionProblem::NoCriteria,
    ];
    let err = nothing().when(&process_leader(), create_call(bad.clone())).then_error("invalid_definition");
    assert_eq!(err, TransitionError::InvalidDefinition { problems: problems.clone() });
    let err = draft_call().when(&process_leader(), edit_call(bad)).then_error("invalid_definition");
    assert_eq!(err, TransitionError::InvalidDefinition { problems });
}

#[test]
fn a_call_is_edited_only_as_a_draft_and_by_the_process_leader() {
    let mut changed = definition();
    changed.capacity = 5;
    let then = draft_call()
        .when(&process_leader(), edit_call(changed.clone()))
        .then_events(&["edited"])
        .then_phase(CallPhase::Draft);
    assert_eq!(then.ok().call().definition.capacity, 5);
    draft_call().when(&sector_member(), edit_call(changed.clone())).then_error("not_allowed");
    let err = given().when(&process_leader(), edit_call(changed)).then_error("wrong_phase");
    assert_eq!(
        err,
        TransitionError::WrongPhase {
            action: Action::EditCall,
            phase: CallPhase::Open,
            allowed: vec![CallPhase::Draft]
        }
    );
}

/// A call with no ideas in `phase`, at a time every move out of it allows.
fn call_in(phase: CallPhase) -> Given {
    let g = draft_call().in_phase(phase);
    if phase == CallPhase::Draft { g.at(opens_at()) } else { g.at(decide_time()) }
}

#[test]
fn a_call_moves_one_phase_at_a_time_along_its_table() {
    for row in CALL_TRANSITIONS {
        let cmd = match row.action {
            Action::EditCall => edit_call(definition()),
            Action::AdvancePhase => advance(row.to),
            other => panic!("{other:?} is not a call action"),
        };
        let key = if row.action == Action::EditCall { "edited" } else { "phase_changed" };
        call_in(row.from).when(&process_leader(), cmd).then_events(&[key]).then_phase(row.to);
    }
    for &from in CallPhase::ALL {
        for &to in CallPhase::ALL.iter().filter(|to| Some(**to) != from.next()) {
            let err = call_in(from).when(&process_leader(), advance(to)).then_error("phase_order");
            assert_eq!(err, TransitionError::PhaseOrder { from, to, next: from.next() });
        }
    }
    // The whole way, by the rules, from draft to finished.
    let mut g = draft_call().at(opens_at());
    while let Some(next) = g.phase().next() {
        g = g.when(&process_leader(), advance(next)).then_phase(next).ok().at(decide_time());
    }
    assert_eq!(g.phase(), CallPhase::Finished);
}

#[test]
fn who_may_move_a_call() {
    let err = call_in(CallPhase::Development).when(&outsider(), advance(CallPhase::Panel)).then_error("not_allowed");
    assert_eq!(
        err,
        TransitionError::NotAllowed {
            action: Action::AdvancePhase,
            allowed: vec![Who::ProcessLeader, Who::SectorGroup]
        }
    );
    for who in [board_member(), panel_member(), lead(), other_sector_member(), system()] {
        call_in(CallPhase::Development).when(&who, advance(CallPhase::Panel)).then_error("not_allowed");
    }
    call_in(CallPhase::Development).when(&sector_member(), advance(CallPhase::Panel)).then_phase(CallPhase::Panel);
}

#[test]
fn a_call_opens_only_before_it_closes() {
    let err =
        draft_call().at(closes_at()).when(&process_leader(), advance(CallPhase::Open)).then_error("deadline_passed");
    assert_eq!(err, TransitionError::DeadlinePassed { deadline: closes_at() });
}

#[test]
fn selection_starts_only_when_the_call_has_closed() {
    let err = given()
        .at(closes_at() - minutes(1))
        .when(&process_leader(), advance(CallPhase::Selection))
        .then_error("too_early");
    assert_eq!(err, TransitionError::TooEarly { not_before: closes_at() });
    given().at(closes_at()).when(&process_leader(), advance(CallPhase::Selection)).then_phase(CallPhase::Selection);
}

#[test]
fn development_starts_only_when_every_idea_is_selected_or_not() {
    let g = given().submitted().advance_to(CallPhase::Selection, select_time());
    let err = g.clone().when(&process_leader(), advance(CallPhase::Development)).then_error("ideas_pending");
    assert_eq!(err, TransitionError::IdeasPending { to: CallPhase::Development, stage: Stage::Submitted, count: 1 });

    let g = g.when(&sector_member(), select()).ok();
    let err = g
        .clone()
        .with_other_ideas(Stage::Submitted, 2)
        .when(&process_leader(), advance(CallPhase::Development))
        .then_error("ideas_pending");
    assert_eq!(err, TransitionError::IdeasPending { to: CallPhase::Development, stage: Stage::Submitted, count: 2 });
    g.with_other_ideas(Stage::Draft, 1)
        .when(&process_leader(), advance(CallPhase::Development))
        .then_phase(CallPhase::Development);
}

#[test]
fn preparation_starts_after_the_plan_deadline_once_no_plan_is_awaited() {
    let g = given().pitched().advance_to(CallPhase::PlansDue, plan_time());
    let err = g
        .clone()
        .at(plan_deadline() - minutes(1))
        .when(&process_leader(), advance(CallPhase::Preparation))
        .then_error("too_early");
    assert_eq!(err, TransitionError::TooEarly { not_before: plan_deadline() });

    let err = g
        .clone()
        .at(plan_deadline())
        .when(&process_leader(), advance(CallPhase::Preparation))
        .then_error("ideas_pending");
    assert_eq!(err, TransitionError::IdeasPending { to: CallPhase::Preparation, stage: Stage::Pitched, count: 1 });

    let selected = given().selected().advance_to(CallPhase::PlansDue, plan_time()).at(plan_deadline());
    let err = selected.clone().when(&process_leader(), advance(CallPhase::Preparation)).then_error("ideas_pending");
    assert_eq!(err, TransitionError::IdeasPending { to: CallPhase::Preparation, stage: Stage::Selected, count: 1 });

    // Once the idea has lapsed, preparation may start.
    selected
        .when(&system(), lapse())
        .ok()
        .when(&process_leader(), advance(CallPhase::Preparation))
        .then_phase(CallPhase::Preparation);
}

#[test]
fn the_decision_phase_waits_for_every_plan_to_be_prepared() {
    let err = given()
        .plan_submitted()
        .advance_to(CallPhase::Preparation, prepare_time())
        .when(&process_leader(), advance(CallPhase::Decision))
        .then_error("ideas_pending");
    assert_eq!(err, TransitionError::IdeasPending { to: CallPhase::Decision, stage: Stage::PlanSubmitted, count: 1 });
}

#[test]
fn a_call_finishes_only_when_every_prepared_idea_is_decided() {
    let g = given().prepared().advance_to(CallPhase::Decision, decide_time());
    let err = g.clone().when(&process_leader(), advance(CallPhase::Finished)).then_error("ideas_pending");
    assert_eq!(err, TransitionError::IdeasPending { to: CallPhase::Finished, stage: Stage::Prepared, count: 1 });
    g.when(&board_member(), grant(REQUESTED_KR))
        .ok()
        .with_other_ideas(Stage::Draft, 1)
        .with_other_ideas(Stage::NotSelected, 3)
        .when(&process_leader(), advance(CallPhase::Finished))
        .then_phase(CallPhase::Finished);
}

// ---------------------------------------------------------------------------
// Messages

fn messages(err: &TransitionError) -> (String, String) {
    let (sv, en) = (err.message(Language::Sv), err.message(Language::En));
    assert!(!sv.is_empty() && !en.is_empty());
    assert_ne!(sv, en);
    assert_eq!(err.to_string(), en, "Display is the English message");
    (sv, en)
}

#[test]
fn a_budget_refusal_says_what_remains() {
    let err = given()
        .prepared()
        .advance_to(CallPhase::Decision, decide_time())
        .with_granted(800_000)
        .when(&board_member(), grant(REQUESTED_KR))
        .then_error("budget_exceeded");
    let (sv, en) = messages(&err);
    assert!(sv.contains("återstår") && sv.contains("200 000 kr") && sv.contains("300 000 kr"), "{sv}");
    assert!(en.contains("remains") && en.contains("200 000 kr") && en.contains("300 000 kr"), "{en}");
}

#[test]
fn deadlines_are_shown_in_stockholm_time() {
    let err = given()
        .pitched()
        .with_sections(&MANDATORY)
        .at(plan_deadline())
        .when(&lead(), submit_plan(REQUESTED_KR))
        .then_error("deadline_passed");
    let (sv, en) = messages(&err);
    assert!(sv.contains("2010-08-31 23:59") && sv.contains("svensk tid"), "{sv}");
    assert!(en.contains("2010-08-31 23:59") && en.contains("Stockholm time"), "{en}");
    // In winter too (CET, not CEST).
    let err = given().at(opens_at() - days(1)).when(&lead(), submit_new()).then_error("not_open_yet");
    let (sv, en) = messages(&err);
    assert!(sv.contains("2010-02-19 09:00") && en.contains("2010-02-19 09:00"), "{sv} / {en}");
}

#[test]
fn refusals_say_who_may_and_what_is_missing() {
    let err = given()
        .prepared()
        .advance_to(CallPhase::Decision, decide_time())
        .when(&panel_member(), grant(REQUESTED_KR))
        .then_error("not_allowed");
    let (sv, en) = messages(&err);
    assert!(sv.contains("bevilja medel") && sv.contains("styrelseledamot"), "{sv}");
    assert!(en.contains("grant funding") && en.contains("board member"), "{en}");

    let err = given()
        .pitched()
        .with_sections(&["syfte"])
        .when(&lead(), submit_plan(REQUESTED_KR))
        .then_error("missing_sections");
    let (sv, en) = messages(&err);
    for m in [&sv, &en] {
        assert!(m.contains("bakgrund, budget") && !m.contains("syfte"), "{m}");
    }

    let err = given().submitted().when(&sector_member(), select()).then_error("wrong_phase");
    let (sv, en) = messages(&err);
    assert!(sv.contains("urval") && en.contains("selection"), "{sv} / {en}");

    let err = given()
        .submitted()
        .advance_to(CallPhase::Selection, select_time())
        .with_selected(CAPACITY)
        .when(&sector_member(), select())
        .then_error("selection_full");
    let (sv, en) = messages(&err);
    assert!(sv.contains(&CAPACITY.to_string()) && en.contains(&CAPACITY.to_string()));
}
