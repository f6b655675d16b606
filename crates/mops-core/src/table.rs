//! The transition tables: which action moves an idea (or a call) from which
//! stage to which. [`crate::decide`] refuses any action the table does not
//! list for the idea's stage, and `docs/pipeline.md` draws these tables; a
//! test fails when the drawing and the tables disagree.

use crate::stage::{Action, CallPhase, Stage};

/// One edge of a state diagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Transition<S> {
    pub from: S,
    pub action: Action,
    pub to: S,
}

const fn t(from: Stage, action: Action, to: Stage) -> Transition<Stage> {
    Transition { from, action, to }
}

/// Every transition of an idea. An edge from a stage to itself records data
/// without changing the stage.
pub const IDEA_TRANSITIONS: &[Transition<Stage>] = {
    use Action as A;
    use Stage as S;
    &[
        t(S::New, A::Draft, S::Draft),
        t(S::New, A::SubmitNew, S::Submitted),
        t(S::Draft, A::EditDraft, S::Draft),
        t(S::Draft, A::Submit, S::Submitted),
        t(S::Draft, A::Withdraw, S::Withdrawn),
        t(S::Submitted, A::Select, S::Selected),
        t(S::Submitted, A::NotSelect, S::NotSelected),
        t(S::Submitted, A::Withdraw, S::Withdrawn),
        t(S::Selected, A::RecordAttendance, S::Selected),
        t(S::Selected, A::SchedulePitch, S::Selected),
        t(S::Selected, A::DeclareConflict, S::Selected),
        t(S::Selected, A::SavePlanSection, S::Selected),
        t(S::Selected, A::SendReminder, S::Selected),
        t(S::Selected, A::RecordPitch, S::Pitched),
        t(S::Selected, A::Lapse, S::Lapsed),
        t(S::Selected, A::Withdraw, S::Withdrawn),
        t(S::Pitched, A::DeclareConflict, S::Pitched),
        t(S::Pitched, A::GiveFeedback, S::Pitched),
        t(S::Pitched, A::SavePlanSection, S::Pitched),
        t(S::Pitched, A::SendReminder, S::Pitched),
        t(S::Pitched, A::SubmitPlan, S::PlanSubmitted),
        t(S::Pitched, A::Lapse, S::Lapsed),
        t(S::Pitched, A::Withdraw, S::Withdrawn),
        t(S::PlanSubmitted, A::Prepare, S::Prepared),
        t(S::PlanSubmitted, A::Withdraw, S::Withdrawn),
        t(S::Prepared, A::Grant, S::Granted),
        t(S::Prepared, A::Decline, S::Declined),
        t(S::Prepared, A::Withdraw, S::Withdrawn),
    ]
};

const fn c(from: CallPhase, action: Action, to: CallPhase) -> Transition<CallPhase> {
    Transition { from, action, to }
}

/// Every transition of a call. Creation comes from nothing (`[*]` in the
/// diagram) into [`CallPhase::Draft`].
pub const CALL_TRANSITIONS: &[Transition<CallPhase>] = {
    use Action as A;
    use CallPhase as P;
    &[
        c(P::Draft, A::EditCall, P::Draft),
        c(P::Draft, A::AdvancePhase, P::Open),
        c(P::Open, A::AdvancePhase, P::Selection),
        c(P::Selection, A::AdvancePhase, P::Development),
        c(P::Development, A::AdvancePhase, P::Panel),
        c(P::Panel, A::AdvancePhase, P::PlansDue),
        c(P::PlansDue, A::AdvancePhase, P::Preparation),
        c(P::Preparation, A::AdvancePhase, P::Decision),
        c(P::Decision, A::AdvancePhase, P::Finished),
    ]
};

/// Where `action` takes an idea that is at `from`, if the table allows it.
pub fn target(from: Stage, action: Action) -> Option<Stage> {
    IDEA_TRANSITIONS.iter().find(|t| t.from == from && t.action == action).map(|t| t.to)
}

/// The stages from which `action` is possible.
pub fn stages_allowing(action: Action) -> Vec<Stage> {
    IDEA_TRANSITIONS.iter().filter(|t| t.action == action).map(|t| t.from).collect()
}

/// The actions possible at `stage`, in table order.
pub fn actions_at(stage: Stage) -> Vec<Action> {
    IDEA_TRANSITIONS.iter().filter(|t| t.from == stage).map(|t| t.action).collect()
}

/// The idea diagram as Mermaid `stateDiagram-v2` source, the way
/// `docs/pipeline.md` draws it. [`Stage::New`] is drawn as `[*]`, and so is
/// the end after each final stage.
pub fn idea_mermaid() -> String {
    let name = |s: Stage| if s == Stage::New { "[*]" } else { s.ident() };
    let mut out = String::from("stateDiagram-v2\n");
    for t in IDEA_TRANSITIONS {
        out.push_str(&format!("    {} --> {} : {}\n", name(t.from), name(t.to), t.action.key()));
    }
    for s in Stage::ALL.iter().filter(|s| s.is_final()) {
        out.push_str(&format!("    {} --> [*]\n", s.ident()));
    }
    out
}

/// The call diagram as Mermaid `stateDiagram-v2` source.
pub fn call_mermaid() -> String {
    let mut out = String::from("stateDiagram-v2\n");
    out.push_str(&format!("    [*] --> {} : {}\n", CallPhase::Draft.ident(), Action::CreateCall.key()));
    for t in CALL_TRANSITIONS {
        out.push_str(&format!("    {} --> {} : {}\n", t.from.ident(), t.to.ident(), t.action.key()));
    }
    out.push_str(&format!("    {} --> [*]\n", CallPhase::Finished.ident()));
    out
}
