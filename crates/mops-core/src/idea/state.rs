//! An idea's stages as types. Each stage carries exactly the data that exists
//! at that stage; a later stage wraps the one before it, so nothing recorded
//! is ever dropped. Consuming methods move an idea forward (a `Submitted` can
//! be selected, a `Draft` cannot).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::call::SeminarId;
use crate::domain::{
    CallId, CriterionKey, Email, FreeText, IdeaId, Language, MeetingId, Motivation, OrganisationId, PersonId,
    PersonName, RegistryNumber, Score, SectionKey, Sek, Theme, Title,
};
use crate::people::ActorRef;
use crate::stage::Stage;

/// A person named on an idea, as they were when named: mails go to this
/// address in this language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applicant {
    pub person: PersonId,
    pub name: PersonName,
    pub email: Email,
    pub organisation: OrganisationId,
    #[serde(default)]
    pub language: Language,
}

/// What the applicant writes about an idea; editable while it is a draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdeaDetails {
    pub title: Title,
    pub summary: FreeText,
    pub theme: Theme,
    /// The organisation the idea comes from (usually the lead's).
    pub organisation: OrganisationId,
    #[serde(default)]
    pub co_applicants: Vec<Applicant>,
}

/// The command data that creates an idea.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewIdea {
    pub id: IdeaId,
    pub call: CallId,
    pub lead: Applicant,
    pub details: IdeaDetails,
}

/// What every idea has from its first event on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Idea {
    pub id: IdeaId,
    pub call: CallId,
    pub lead: Applicant,
    pub details: IdeaDetails,
    pub created_at: DateTime<Utc>,
}

impl Idea {
    /// The lead and every co-applicant: whom status mails go to.
    pub fn applicants(&self) -> impl Iterator<Item = &Applicant> {
        std::iter::once(&self.lead).chain(self.details.co_applicants.iter())
    }

    pub fn is_applicant(&self, person: PersonId) -> bool {
        self.applicants().any(|a| a.person == person)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    pub idea: Idea,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    pub idea: Idea,
    pub submitted_at: DateTime<Utc>,
}

/// A decision with its reason, when the reason is required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Motivated {
    pub at: DateTime<Utc>,
    pub by: ActorRef,
    pub motivation: Motivation,
}

/// The selection of an idea for the seminar series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    pub at: DateTime<Utc>,
    pub by: ActorRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub motivation: Option<Motivation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotSelected {
    pub submitted: Submitted,
    pub outcome: Motivated,
}

/// One panel member's written feedback and scores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    pub text: FreeText,
    pub scores: BTreeMap<CriterionKey, Score>,
    pub at: DateTime<Utc>,
}

/// What accumulates during the seminar series and the panel.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Development {
    /// Seminar attendance as recorded: `true` attended, `false` absent.
    pub attendance: BTreeMap<SeminarId, bool>,
    /// The plan as drafted so far, section by section.
    pub plan_draft: BTreeMap<SectionKey, FreeText>,
    /// The idea's slot in the panel's running order.
    pub pitch_slot: Option<DateTime<Utc>>,
    /// Panel members with a declared conflict of interest, and why.
    pub conflicts: BTreeMap<PersonId, Motivation>,
    /// Feedback per panel member; a member may revise theirs.
    pub feedback: BTreeMap<PersonId, Feedback>,
    /// Plan-deadline reminders already sent, by days before the deadline.
    pub reminders_sent: BTreeSet<u32>,
}

impl Development {
    /// The mean score per criterion over every panel member who scored it.
    pub fn mean_scores(&self) -> BTreeMap<CriterionKey, f64> {
        let mut sums: BTreeMap<&CriterionKey, (u32, u32)> = BTreeMap::new();
        for f in self.feedback.values() {
            for (k, s) in &f.scores {
                let e = sums.entry(k).or_default();
                e.0 += u32::from(s.value());
                e.1 += 1;
            }
        }
        sums.into_iter().map(|(k, (sum, n))| (k.clone(), f64::from(sum) / f64::from(n))).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selected {
    pub submitted: Submitted,
    pub selection: Selection,
    pub dev: Development,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pitched {
    pub selected: Selected,
    pub pitched_at: DateTime<Utc>,
}

/// A submitted project plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub sections: BTreeMap<SectionKey, FreeText>,
    pub requested: Sek,
    pub submitted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSubmitted {
    pub pitched: Pitched,
    pub plan: Plan,
}

/// The sector group's recommendation to the board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Recommendation {
    Fund {
        amount: Sek,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        motivation: Option<Motivation>,
    },
    NoFunding {
        motivation: Motivation,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preparation {
    pub recommendation: Recommendation,
    pub at: DateTime<Utc>,
    pub by: ActorRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prepared {
    pub plan: PlanSubmitted,
    pub preparation: Preparation,
}

/// The board's decision, registered and tied to the meeting it was taken at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardDecision {
    pub registry: RegistryNumber,
    pub meeting: MeetingId,
    pub at: DateTime<Utc>,
    pub by: ActorRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Granted {
    pub prepared: Prepared,
    pub amount: Sek,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<FreeText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub motivation: Option<Motivation>,
    pub decision: BoardDecision,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declined {
    pub prepared: Prepared,
    pub motivation: Motivation,
    pub decision: BoardDecision,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lapsed {
    pub previous: Box<IdeaState>,
    pub deadline: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawn {
    pub previous: Box<IdeaState>,
    pub at: DateTime<Utc>,
    pub by: ActorRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<FreeText>,
}

/// Where an idea stands, with the data of that stage: a fold over its events.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum IdeaState {
    /// Before the first event.
    #[default]
    New,
    Draft(Draft),
    Submitted(Submitted),
    Selected(Selected),
    NotSelected(NotSelected),
    Pitched(Pitched),
    PlanSubmitted(PlanSubmitted),
    Lapsed(Lapsed),
    Prepared(Prepared),
    Granted(Granted),
    Declined(Declined),
    Withdrawn(Withdrawn),
}

impl IdeaState {
    pub fn stage(&self) -> Stage {
        match self {
            Self::New => Stage::New,
            Self::Draft(_) => Stage::Draft,
            Self::Submitted(_) => Stage::Submitted,
            Self::Selected(_) => Stage::Selected,
            Self::NotSelected(_) => Stage::NotSelected,
            Self::Pitched(_) => Stage::Pitched,
            Self::PlanSubmitted(_) => Stage::PlanSubmitted,
            Self::Lapsed(_) => Stage::Lapsed,
            Self::Prepared(_) => Stage::Prepared,
            Self::Granted(_) => Stage::Granted,
            Self::Declined(_) => Stage::Declined,
            Self::Withdrawn(_) => Stage::Withdrawn,
        }
    }

    /// The idea's identity and details, at every stage but [`IdeaState::New`].
    pub fn idea(&self) -> Option<&Idea> {
        Some(match self {
            Self::New => return None,
            Self::Draft(d) => &d.idea,
            Self::Submitted(s) => &s.idea,
            Self::Selected(s) => &s.submitted.idea,
            Self::NotSelected(n) => &n.submitted.idea,
            Self::Pitched(p) => &p.selected.submitted.idea,
            Self::PlanSubmitted(p) => &p.pitched.selected.submitted.idea,
            Self::Prepared(p) => &p.plan.pitched.selected.submitted.idea,
            Self::Granted(g) => &g.prepared.plan.pitched.selected.submitted.idea,
            Self::Declined(d) => &d.prepared.plan.pitched.selected.submitted.idea,
            Self::Lapsed(l) => return l.previous.idea(),
            Self::Withdrawn(w) => return w.previous.idea(),
        })
    }

    /// The seminar-series data, from selection on.
    pub fn development(&self) -> Option<&Development> {
        Some(match self {
            Self::Selected(s) => &s.dev,
            Self::Pitched(p) => &p.selected.dev,
            Self::PlanSubmitted(p) => &p.pitched.selected.dev,
            Self::Prepared(p) => &p.plan.pitched.selected.dev,
            Self::Granted(g) => &g.prepared.plan.pitched.selected.dev,
            Self::Declined(d) => &d.prepared.plan.pitched.selected.dev,
            Self::Lapsed(l) => return l.previous.development(),
            Self::Withdrawn(w) => return w.previous.development(),
            Self::New | Self::Draft(_) | Self::Submitted(_) | Self::NotSelected(_) => return None,
        })
    }

    fn development_mut(&mut self) -> Option<&mut Development> {
        match self {
            Self::Selected(s) => Some(&mut s.dev),
            Self::Pitched(p) => Some(&mut p.selected.dev),
            _ => None,
        }
    }

    /// The submitted plan, from plan submission on.
    pub fn plan(&self) -> Option<&Plan> {
        match self {
            Self::PlanSubmitted(p) => Some(&p.plan),
            Self::Prepared(p) => Some(&p.plan.plan),
            Self::Granted(g) => Some(&g.prepared.plan.plan),
            Self::Declined(d) => Some(&d.prepared.plan.plan),
            Self::Withdrawn(w) => w.previous.plan(),
            _ => None,
        }
    }

    /// The granted amount, if the idea was granted.
    pub fn granted_amount(&self) -> Option<Sek> {
        match self {
            Self::Granted(g) => Some(g.amount),
            _ => None,
        }
    }
}

impl Draft {
    pub fn submit(self, at: DateTime<Utc>) -> Submitted {
        Submitted { idea: self.idea, submitted_at: at }
    }
}

impl Submitted {
    pub fn select(self, selection: Selection) -> Selected {
        Selected { submitted: self, selection, dev: Development::default() }
    }

    pub fn reject(self, outcome: Motivated) -> NotSelected {
        NotSelected { submitted: self, outcome }
    }
}

impl Selected {
    pub fn pitch(self, at: DateTime<Utc>) -> Pitched {
        Pitched { selected: self, pitched_at: at }
    }
}

impl Pitched {
    pub fn submit_plan(self, requested: Sek, at: DateTime<Utc>) -> PlanSubmitted {
        let sections = self.selected.dev.plan_draft.clone();
        PlanSubmitted { pitched: self, plan: Plan { sections, requested, submitted_at: at } }
    }
}

impl PlanSubmitted {
    pub fn prepare(self, preparation: Preparation) -> Prepared {
        Prepared { plan: self, preparation }
    }
}

impl Prepared {
    pub fn grant(
        self,
        amount: Sek,
        conditions: Option<FreeText>,
        motivation: Option<Motivation>,
        decision: BoardDecision,
    ) -> Granted {
        Granted { prepared: self, amount, conditions, motivation, decision }
    }

    pub fn decline(self, motivation: Motivation, decision: BoardDecision) -> Declined {
        Declined { prepared: self, motivation, decision }
    }

    /// The amount the plan asks for.
    pub fn requested(&self) -> Sek {
        self.plan.plan.requested
    }
}

pub(crate) use apply::apply;

mod apply {
    use super::*;
    use crate::error::TransitionError;
    use crate::event::Recorded;
    use crate::idea::IdeaEvent as E;

    /// Applies one recorded event to a state. This is the only place state
    /// changes, so replaying the events reproduces the state exactly.
    pub(crate) fn apply(state: IdeaState, recorded: &Recorded<E>) -> Result<IdeaState, TransitionError> {
        let at = recorded.at;
        let by = recorded.actor;
        let stage = state.stage();
        let misfit = |event: &E| TransitionError::Replay {
            detail: format!("event {} does not apply to an idea that is {stage:?}", event.key()),
        };
        let next = match (state, &recorded.event) {
            (IdeaState::New, E::Drafted { id, call, lead, details }) => IdeaState::Draft(Draft {
                idea: Idea { id: *id, call: *call, lead: lead.clone(), details: details.clone(), created_at: at },
            }),
            (IdeaState::Draft(mut d), E::DraftEdited { details }) => {
                d.idea.details = details.clone();
                IdeaState::Draft(d)
            }
            (IdeaState::Draft(d), E::Submitted) => IdeaState::Submitted(d.submit(at)),
            (IdeaState::Submitted(s), E::Selected { motivation }) => {
                IdeaState::Selected(s.select(Selection { at, by, motivation: motivation.clone() }))
            }
            (IdeaState::Submitted(s), E::NotSelected { motivation }) => {
                IdeaState::NotSelected(s.reject(Motivated { at, by, motivation: motivation.clone() }))
            }
            (IdeaState::Selected(s), E::Pitched) => IdeaState::Pitched(s.pitch(at)),
            (IdeaState::Pitched(p), E::PlanSubmitted { requested }) => {
                IdeaState::PlanSubmitted(p.submit_plan(*requested, at))
            }
            (IdeaState::PlanSubmitted(p), E::Prepared { recommendation }) => {
                IdeaState::Prepared(p.prepare(Preparation { recommendation: recommendation.clone(), at, by }))
            }
            (IdeaState::Prepared(p), E::Granted { amount, conditions, motivation, registry, meeting }) => {
                let decision = BoardDecision { registry: registry.clone(), meeting: *meeting, at, by };
                IdeaState::Granted(p.grant(*amount, conditions.clone(), motivation.clone(), decision))
            }
            (IdeaState::Prepared(p), E::Declined { motivation, registry, meeting }) => {
                let decision = BoardDecision { registry: registry.clone(), meeting: *meeting, at, by };
                IdeaState::Declined(p.decline(motivation.clone(), decision))
            }
            (s @ (IdeaState::Selected(_) | IdeaState::Pitched(_)), E::Lapsed { deadline }) => {
                IdeaState::Lapsed(Lapsed { previous: Box::new(s), deadline: *deadline, at })
            }
            (s, E::Withdrawn { reason }) if !s.stage().is_final() && s.stage() != Stage::New => {
                IdeaState::Withdrawn(Withdrawn { previous: Box::new(s), at, by, reason: reason.clone() })
            }
            (mut s @ (IdeaState::Selected(_) | IdeaState::Pitched(_)), event) => {
                let pitched = matches!(s, IdeaState::Pitched(_));
                let Some(dev) = s.development_mut() else { return Err(misfit(event)) };
                match event {
                    E::AttendanceRecorded { seminar, attended } => {
                        dev.attendance.insert(*seminar, *attended);
                    }
                    E::PitchScheduled { at } => dev.pitch_slot = Some(*at),
                    E::ConflictDeclared { panel_member, reason } => {
                        dev.conflicts.insert(*panel_member, reason.clone());
                    }
                    E::PlanSectionSaved { section, text } => match text {
                        Some(t) => {
                            dev.plan_draft.insert(section.clone(), t.clone());
                        }
                        None => {
                            dev.plan_draft.remove(section);
                        }
                    },
                    E::FeedbackGiven { panel_member, text, scores } if pitched => {
                        dev.feedback.insert(*panel_member, Feedback { text: text.clone(), scores: scores.clone(), at });
                    }
                    E::ReminderSent { days_before, .. } => {
                        dev.reminders_sent.insert(*days_before);
                    }
                    other => return Err(misfit(other)),
                }
                s
            }
            (_, event) => return Err(misfit(event)),
        };
        Ok(next)
    }
}
