//! Previews of status mails that have not been queued yet: what would the
//! mail of a given notice say for this idea, in this language? The process
//! leader uses this before a decision goes out. Facts the idea already has
//! (a motivation, an amount, a registry number) are used; facts it does not
//! have yet are shown as a bracketed placeholder.

use mops_core::call::Call;
use mops_core::domain::{FreeText, Language, MeetingId, Motivation, RegistryNumber, Sek};
use mops_core::{IdeaState, Notice, NotificationIntent, Recipient};

fn placeholder_motivation(lang: Language) -> Motivation {
    Motivation::parse(match lang {
        Language::Sv => "[Motiveringen skrivs här.]",
        Language::En => "[The motivation goes here.]",
    })
    .expect("a placeholder is a valid motivation")
}

/// The intent a notice would have for `idea`, sent to its lead in `lang`.
/// `None` when `notice` is not a notice key or the idea has no lead yet.
pub fn intent_for(idea: &IdeaState, call: &Call, notice: &str, lang: Language) -> Option<NotificationIntent> {
    let data = idea.idea()?;
    let t = &call.definition.timeline;
    let registry = || match idea {
        IdeaState::Granted(g) => g.decision.registry.clone(),
        IdeaState::Declined(d) => d.decision.registry.clone(),
        _ => RegistryNumber::parse("SK 2010/1").expect("a valid number"),
    };
    let meeting = || match idea {
        IdeaState::Granted(g) => g.decision.meeting,
        IdeaState::Declined(d) => d.decision.meeting,
        _ => MeetingId::from_uuid(uuid::Uuid::nil()),
    };
    let requested = idea.plan().map(|p| p.requested).unwrap_or(Sek::ZERO);
    let notice = match notice {
        "idea_received" => Notice::IdeaReceived {
            submitted_at: match idea {
                IdeaState::Submitted(s) => Some(s.submitted_at),
                _ => None,
            },
        },
        "selected" => Notice::Selected {
            motivation: match idea {
                IdeaState::Selected(s) => s.selection.motivation.clone(),
                _ => None,
            },
        },
        "not_selected" => Notice::NotSelected {
            motivation: match idea {
                IdeaState::NotSelected(n) => n.outcome.motivation.clone(),
                _ => placeholder_motivation(lang),
            },
        },
        "seminar_invitation" => Notice::SeminarInvitation,
        "panel_invitation" => {
            Notice::PanelInvitation { at: idea.development().and_then(|d| d.pitch_slot).unwrap_or(t.panel_at) }
        }
        "plan_received" => Notice::PlanReceived { requested },
        "plan_deadline_reminder" => Notice::PlanDeadlineReminder { deadline: t.plan_deadline, days_before: 14 },
        "lapsed" => Notice::Lapsed { deadline: t.plan_deadline },
        "prepared_for_decision" => Notice::PreparedForDecision { meeting_at: t.decision_meeting_at },
        "granted" => Notice::Granted {
            amount: match idea {
                IdeaState::Granted(g) => g.amount,
                IdeaState::Prepared(p) => match &p.preparation.recommendation {
                    mops_core::idea::Recommendation::Fund { amount, .. } => *amount,
                    mops_core::idea::Recommendation::NoFunding { .. } => requested,
                },
                _ => requested,
            },
            conditions: match idea {
                IdeaState::Granted(g) => g.conditions.clone(),
                _ => FreeText::parse(match lang {
                    Language::Sv => "[Eventuella villkor skrivs här.]",
                    Language::En => "[Any conditions go here.]",
                })
                .ok(),
            },
            registry: registry(),
            meeting: meeting(),
        },
        "declined" => Notice::Declined {
            motivation: match idea {
                IdeaState::Declined(d) => d.motivation.clone(),
                _ => placeholder_motivation(lang),
            },
            registry: registry(),
            meeting: meeting(),
        },
        "withdrawn" => Notice::Withdrawn,
        _ => return None,
    };
    let mut to = Recipient::from(&data.lead);
    to.language = lang;
    Some(NotificationIntent {
        call: data.call,
        idea: data.id,
        idea_title: Some(data.details.title.clone()),
        to,
        notice,
    })
}
