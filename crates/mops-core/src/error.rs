//! The one error type of the core. Every variant is a domain fact that says
//! what is wrong and what would be allowed, in English and in Swedish.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::call::SeminarId;
use crate::domain::{CriterionKey, Language, PersonId, SectionKey, Sek, Theme};
use crate::stage::{Action, CallPhase, Stage, Who, join_labels};
use crate::time::stockholm;

/// Why a call definition cannot be used as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum DefinitionProblem {
    ClosesBeforeOpens,
    DuplicateSeminar { seminar: SeminarId },
    SeminarEndsBeforeStart { seminar: SeminarId },
    SeminarOutsideDevelopment { seminar: SeminarId },
    PanelBeforeClose,
    PlanDeadlineBeforePanel,
    DecisionBeforePlanDeadline,
    NoThemes,
    NoCapacity,
    NoBudget,
    CeilingOutsideBudget,
    NoCriteria,
    DuplicateCriterion { key: CriterionKey },
    NoMandatorySection,
    DuplicateSection { key: SectionKey },
}

impl DefinitionProblem {
    pub fn message(&self, lang: Language) -> String {
        use DefinitionProblem as P;
        let sv = lang == Language::Sv;
        match self {
            P::ClosesBeforeOpens if sv => "sista dag för idéer måste ligga efter öppningsdagen".into(),
            P::ClosesBeforeOpens => "the closing date must come after the opening date".into(),
            P::DuplicateSeminar { seminar } if sv => format!("seminarium {seminar} finns två gånger"),
            P::DuplicateSeminar { seminar } => format!("seminar {seminar} appears twice"),
            P::SeminarEndsBeforeStart { seminar } if sv => format!("seminarium {seminar} slutar innan det börjar"),
            P::SeminarEndsBeforeStart { seminar } => format!("seminar {seminar} ends before it starts"),
            P::SeminarOutsideDevelopment { seminar } if sv => format!(
                "seminarium {seminar} måste ligga efter sista dag för idéer och före sista dag för projektplaner"
            ),
            P::SeminarOutsideDevelopment { seminar } => {
                format!("seminar {seminar} must lie after the closing date and before the plan deadline")
            }
            P::PanelBeforeClose if sv => "Draknästet måste ligga efter sista dag för idéer".into(),
            P::PanelBeforeClose => "the pitch panel must come after the closing date".into(),
            P::PlanDeadlineBeforePanel if sv => "sista dag för projektplaner måste ligga efter Draknästet".into(),
            P::PlanDeadlineBeforePanel => "the plan deadline must come after the pitch panel".into(),
            P::DecisionBeforePlanDeadline if sv => "beslutsmötet måste ligga efter sista dag för projektplaner".into(),
            P::DecisionBeforePlanDeadline => "the decision meeting must come after the plan deadline".into(),
            P::NoThemes if sv => "ange minst ett tema".into(),
            P::NoThemes => "name at least one theme".into(),
            P::NoCapacity if sv => "antalet idéer som kan väljas ut måste vara minst 1".into(),
            P::NoCapacity => "the number of ideas that may be selected must be at least 1".into(),
            P::NoBudget if sv => "budgeten måste vara större än 0 kr".into(),
            P::NoBudget => "the budget must be more than 0 kr".into(),
            P::CeilingOutsideBudget if sv => "taket per projekt måste vara större än 0 kr och högst budgeten".into(),
            P::CeilingOutsideBudget => "the ceiling per project must be more than 0 kr and at most the budget".into(),
            P::NoCriteria if sv => "ange minst ett bedömningskriterium för panelen".into(),
            P::NoCriteria => "name at least one criterion for the panel".into(),
            P::DuplicateCriterion { key } if sv => format!("kriteriet {key} finns två gånger"),
            P::DuplicateCriterion { key } => format!("criterion {key} appears twice"),
            P::NoMandatorySection if sv => "mallen behöver minst ett obligatoriskt avsnitt".into(),
            P::NoMandatorySection => "the template needs at least one mandatory section".into(),
            P::DuplicateSection { key } if sv => format!("avsnittet {key} finns två gånger i mallen"),
            P::DuplicateSection { key } => format!("section {key} appears twice in the template"),
        }
    }
}

/// Why a command was refused. Nothing was changed.
///
/// `Display` gives the English message; [`TransitionError::message`] gives
/// it in the reader's language. The text is written once per language here
/// rather than in `#[error]` attributes, so both languages sit side by side.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum TransitionError {
    NotAllowed {
        action: Action,
        allowed: Vec<Who>,
    },
    WrongStage {
        action: Action,
        stage: Stage,
        allowed: Vec<Stage>,
    },
    Final {
        stage: Stage,
    },
    WrongPhase {
        action: Action,
        phase: CallPhase,
        allowed: Vec<CallPhase>,
    },
    NotOpenYet {
        opens_at: DateTime<Utc>,
    },
    DeadlinePassed {
        deadline: DateTime<Utc>,
    },
    DeadlineNotReached {
        deadline: DateTime<Utc>,
    },
    TooEarly {
        not_before: DateTime<Utc>,
    },
    SelectionFull {
        capacity: u32,
    },
    ConflictOfInterest {
        panel_member: PersonId,
    },
    MissingSections {
        sections: Vec<SectionKey>,
    },
    UnknownSection {
        section: SectionKey,
    },
    UnknownSeminar {
        seminar: SeminarId,
    },
    UnknownTheme {
        theme: Theme,
        allowed: Vec<Theme>,
    },
    UnknownCriterion {
        criterion: CriterionKey,
    },
    MissingScore {
        criterion: CriterionKey,
    },
    ScoreOutOfScale {
        criterion: CriterionKey,
        score: u8,
        min: u8,
        max: u8,
    },
    AmountNotPositive,
    ExceedsRequest {
        requested: Sek,
        asked: Sek,
    },
    ExceedsCeiling {
        ceiling: Sek,
        asked: Sek,
    },
    BudgetExceeded {
        remaining: Sek,
        asked: Sek,
    },
    DuplicateApplicant {
        person: PersonId,
    },
    ReminderNotDue {
        due_at: DateTime<Utc>,
    },
    ReminderAlreadySent {
        days_before: u32,
    },
    AlreadyExists,
    IdeaNotFound,
    CallNotFound,
    WrongCall,
    InvalidDefinition {
        problems: Vec<DefinitionProblem>,
    },
    PhaseOrder {
        from: CallPhase,
        to: CallPhase,
        next: Option<CallPhase>,
    },
    IdeasPending {
        to: CallPhase,
        stage: Stage,
        count: u32,
    },
    /// A stored event does not fit the state it is applied to: the log is
    /// corrupt. Never the user's fault.
    Replay {
        detail: String,
    },
}

impl TransitionError {
    pub(crate) fn not_allowed(action: Action, allowed: &[Who]) -> Self {
        Self::NotAllowed { action, allowed: allowed.to_vec() }
    }

    /// A short stable code for the API and logs, e.g. `budget_exceeded`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotAllowed { .. } => "not_allowed",
            Self::WrongStage { .. } => "wrong_stage",
            Self::Final { .. } => "final",
            Self::WrongPhase { .. } => "wrong_phase",
            Self::NotOpenYet { .. } => "not_open_yet",
            Self::DeadlinePassed { .. } => "deadline_passed",
            Self::DeadlineNotReached { .. } => "deadline_not_reached",
            Self::TooEarly { .. } => "too_early",
            Self::SelectionFull { .. } => "selection_full",
            Self::ConflictOfInterest { .. } => "conflict_of_interest",
            Self::MissingSections { .. } => "missing_sections",
            Self::UnknownSection { .. } => "unknown_section",
            Self::UnknownSeminar { .. } => "unknown_seminar",
            Self::UnknownTheme { .. } => "unknown_theme",
            Self::UnknownCriterion { .. } => "unknown_criterion",
            Self::MissingScore { .. } => "missing_score",
            Self::ScoreOutOfScale { .. } => "score_out_of_scale",
            Self::AmountNotPositive => "amount_not_positive",
            Self::ExceedsRequest { .. } => "exceeds_request",
            Self::ExceedsCeiling { .. } => "exceeds_ceiling",
            Self::BudgetExceeded { .. } => "budget_exceeded",
            Self::DuplicateApplicant { .. } => "duplicate_applicant",
            Self::ReminderNotDue { .. } => "reminder_not_due",
            Self::ReminderAlreadySent { .. } => "reminder_already_sent",
            Self::AlreadyExists => "already_exists",
            Self::IdeaNotFound => "idea_not_found",
            Self::CallNotFound => "call_not_found",
            Self::WrongCall => "wrong_call",
            Self::InvalidDefinition { .. } => "invalid_definition",
            Self::PhaseOrder { .. } => "phase_order",
            Self::IdeasPending { .. } => "ideas_pending",
            Self::Replay { .. } => "replay",
        }
    }

    /// The message in the reader's language.
    pub fn message(&self, lang: Language) -> String {
        let sv = lang == Language::Sv;
        let time = |t: &DateTime<Utc>| {
            if sv { format!("{} (svensk tid)", stockholm(*t)) } else { format!("{} (Stockholm time)", stockholm(*t)) }
        };
        let stages = |s: &[Stage]| join_labels(s, lang, Stage::label);
        let phases = |p: &[CallPhase]| join_labels(p, lang, CallPhase::label);
        match self {
            Self::NotAllowed { action, allowed } if sv => {
                format!("Du får inte {}. Det får bara {}.", action.label(lang), join_labels(allowed, lang, Who::label))
            }
            Self::NotAllowed { action, allowed } => {
                format!("You may not {}. Only {} may.", action.label(lang), join_labels(allowed, lang, Who::label))
            }
            Self::WrongStage { action, stage, allowed } if sv => format!(
                "Det går inte att {} när idén är {}. Det går när idén är {}.",
                action.label(lang),
                stage.label(lang),
                stages(allowed)
            ),
            Self::WrongStage { action, stage, allowed } => format!(
                "Cannot {} while the idea is {}. This is possible when it is {}.",
                action.label(lang),
                stage.label(lang),
                stages(allowed)
            ),
            Self::Final { stage } if sv => {
                format!("Idén är {} och ärendet är avslutat; inget mer kan göras med den.", stage.label(lang))
            }
            Self::Final { stage } => {
                format!("The idea is {}, which is final; nothing more can be done with it.", stage.label(lang))
            }
            Self::WrongPhase { action, phase, allowed } if sv => format!(
                "Det går inte att {} när utlysningen är i fasen {}. Det går i fasen {}.",
                action.label(lang),
                phase.label(lang),
                phases(allowed)
            ),
            Self::WrongPhase { action, phase, allowed } => format!(
                "Cannot {} while the call is in its {} phase. This is possible in the {} phase.",
                action.label(lang),
                phase.label(lang),
                phases(allowed)
            ),
            Self::NotOpenYet { opens_at } if sv => format!("Utlysningen öppnar {}.", time(opens_at)),
            Self::NotOpenYet { opens_at } => format!("The call opens at {}.", time(opens_at)),
            Self::DeadlinePassed { deadline } if sv => format!("Sista dag har passerat: {}.", time(deadline)),
            Self::DeadlinePassed { deadline } => format!("The deadline has passed: {}.", time(deadline)),
            Self::DeadlineNotReached { deadline } if sv => {
                format!("Sista dag har inte passerat ännu; den är {}.", time(deadline))
            }
            Self::DeadlineNotReached { deadline } => {
                format!("The deadline has not passed yet; it is {}.", time(deadline))
            }
            Self::TooEarly { not_before } if sv => format!("Det går tidigast {}.", time(not_before)),
            Self::TooEarly { not_before } => format!("This is possible from {} on.", time(not_before)),
            Self::SelectionFull { capacity } if sv => format!(
                "Utlysningen tillåter högst {capacity} utvalda idéer, och så många är redan utvalda. Välj bort en idé med motivering i stället."
            ),
            Self::SelectionFull { capacity } => format!(
                "The call allows at most {capacity} selected ideas, and that many are selected already. Decide not to select this one, with a motivation."
            ),
            Self::ConflictOfInterest { .. } if sv => {
                "Du är jävig för den här idén och kan inte lämna återkoppling eller poäng på den.".into()
            }
            Self::ConflictOfInterest { .. } => {
                "You have a conflict of interest with this idea and cannot give feedback or scores on it.".into()
            }
            Self::MissingSections { sections } if sv => format!(
                "Projektplanen kan inte lämnas in förrän alla obligatoriska avsnitt är ifyllda. Fyll i: {}.",
                keys(sections)
            ),
            Self::MissingSections { sections } => format!(
                "The plan cannot be submitted until every mandatory section is filled in. Fill in: {}.",
                keys(sections)
            ),
            Self::UnknownSection { section } if sv => format!("Mallen har inget avsnitt som heter {section}."),
            Self::UnknownSection { section } => format!("The template has no section called {section}."),
            Self::UnknownSeminar { seminar } if sv => format!("Utlysningen har inget seminarium {seminar}."),
            Self::UnknownSeminar { seminar } => format!("The call has no seminar {seminar}."),
            Self::UnknownTheme { theme, allowed } if sv => {
                format!("Temat {theme} hör inte till utlysningen. Välj ett av: {}.", keys(allowed))
            }
            Self::UnknownTheme { theme, allowed } => {
                format!("The theme {theme} is not one of the call's. Choose one of: {}.", keys(allowed))
            }
            Self::UnknownCriterion { criterion } if sv => format!("Utlysningen har inget kriterium {criterion}."),
            Self::UnknownCriterion { criterion } => format!("The call has no criterion {criterion}."),
            Self::MissingScore { criterion } if sv => format!("Ange poäng för kriteriet {criterion}."),
            Self::MissingScore { criterion } => format!("Give a score for the criterion {criterion}."),
            Self::ScoreOutOfScale { criterion, score, min, max } if sv => {
                format!("Poängen {score} för {criterion} ligger utanför skalan {min}–{max}.")
            }
            Self::ScoreOutOfScale { criterion, score, min, max } => {
                format!("The score {score} for {criterion} is outside the scale {min}–{max}.")
            }
            Self::AmountNotPositive if sv => "Beloppet måste vara större än 0 kr.".into(),
            Self::AmountNotPositive => "The amount must be more than 0 kr.".into(),
            Self::ExceedsRequest { requested, asked } if sv => {
                format!("{asked} är mer än de {requested} som projektplanen söker. Ange högst {requested}.")
            }
            Self::ExceedsRequest { requested, asked } => {
                format!("{asked} is more than the {requested} the plan requests. Give at most {requested}.")
            }
            Self::ExceedsCeiling { ceiling, asked } if sv => {
                format!("{asked} är mer än utlysningens tak på {ceiling} per projekt.")
            }
            Self::ExceedsCeiling { ceiling, asked } => {
                format!("{asked} is more than the call's ceiling of {ceiling} per project.")
            }
            Self::BudgetExceeded { remaining, asked } if sv => {
                format!("{asked} ryms inte i budgeten: {remaining} återstår. Bevilja högst {remaining}.")
            }
            Self::BudgetExceeded { remaining, asked } => {
                format!("{asked} does not fit the budget: {remaining} remains. Grant at most {remaining}.")
            }
            Self::DuplicateApplicant { .. } if sv => "Samma person står med två gånger bland sökande.".into(),
            Self::DuplicateApplicant { .. } => "The same person is named twice among the applicants.".into(),
            Self::ReminderNotDue { due_at } if sv => format!("Påminnelsen ska gå ut tidigast {}.", time(due_at)),
            Self::ReminderNotDue { due_at } => format!("The reminder is due at {} at the earliest.", time(due_at)),
            Self::ReminderAlreadySent { days_before } if sv => {
                format!("Påminnelsen {days_before} dagar före sista dag har redan skickats.")
            }
            Self::ReminderAlreadySent { days_before } => {
                format!("The reminder {days_before} days before the deadline has been sent already.")
            }
            Self::AlreadyExists if sv => "Den finns redan.".into(),
            Self::AlreadyExists => "It exists already.".into(),
            Self::IdeaNotFound if sv => "Idén finns inte.".into(),
            Self::IdeaNotFound => "There is no such idea.".into(),
            Self::CallNotFound if sv => "Utlysningen finns inte.".into(),
            Self::CallNotFound => "There is no such call.".into(),
            Self::WrongCall if sv => "Idén hör till en annan utlysning.".into(),
            Self::WrongCall => "The idea belongs to another call.".into(),
            Self::InvalidDefinition { problems } => {
                let list: Vec<String> = problems.iter().map(|p| p.message(lang)).collect();
                if sv {
                    format!("Utlysningen behöver rättas: {}.", list.join("; "))
                } else {
                    format!("The call needs correcting: {}.", list.join("; "))
                }
            }
            Self::PhaseOrder { from, to, next } => match (next, sv) {
                (Some(n), true) => format!(
                    "Utlysningen är i fasen {} och kan inte gå till {}; nästa fas är {}.",
                    from.label(lang),
                    to.label(lang),
                    n.label(lang)
                ),
                (Some(n), false) => format!(
                    "The call is in its {} phase and cannot move to {}; the next phase is {}.",
                    from.label(lang),
                    to.label(lang),
                    n.label(lang)
                ),
                (None, true) => format!("Utlysningen är {} och har ingen nästa fas.", from.label(lang)),
                (None, false) => format!("The call is {} and has no next phase.", from.label(lang)),
            },
            Self::IdeasPending { to, stage, count } if sv => format!(
                "Utlysningen kan inte gå till fasen {} så länge {count} idé(er) är {}. Avgör dem först.",
                to.label(lang),
                stage.label(lang)
            ),
            Self::IdeasPending { to, stage, count } => format!(
                "The call cannot move to its {} phase while {count} idea(s) are {}. Settle them first.",
                to.label(lang),
                stage.label(lang)
            ),
            Self::Replay { detail } if sv => format!("Händelseloggen är inkonsekvent: {detail}"),
            Self::Replay { detail } => format!("The event log is inconsistent: {detail}"),
        }
    }
}

fn keys<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

impl std::fmt::Display for TransitionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message(Language::En))
    }
}

impl std::error::Error for TransitionError {}
