//! Notification intents: which status mail goes to whom, in which language.
//! The core only decides them; the service renders and sends them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{
    CallId, Email, FreeText, IdeaId, Language, MeetingId, Motivation, PersonId, PersonName, RegistryNumber, Sek, Title,
};
use crate::idea::Applicant;

/// The person a notification goes to, with the language they read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub person: PersonId,
    pub name: PersonName,
    pub email: Email,
    pub language: Language,
}

impl From<&Applicant> for Recipient {
    fn from(a: &Applicant) -> Self {
        Self { person: a.person, name: a.name.clone(), email: a.email.clone(), language: a.language }
    }
}

/// Which status mail, with the facts it must state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    /// Receipt of a submitted idea.
    IdeaReceived {
        /// When it was submitted. (Missing in rows written before this field.)
        #[serde(default, skip_serializing_if = "Option::is_none")]
        submitted_at: Option<DateTime<Utc>>,
    },
    Selected {
        /// The sector group's reason, if it gave one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        motivation: Option<Motivation>,
    },
    NotSelected {
        motivation: Motivation,
    },
    /// Invitation to the call's seminar series (every seminar, as a calendar).
    SeminarInvitation,
    /// Invitation to pitch to the panel at the given slot.
    PanelInvitation {
        at: DateTime<Utc>,
    },
    PlanReceived {
        requested: Sek,
    },
    PlanDeadlineReminder {
        deadline: DateTime<Utc>,
        days_before: u32,
    },
    Lapsed {
        deadline: DateTime<Utc>,
    },
    /// The case goes to the board; the recommendation itself is not told.
    PreparedForDecision {
        meeting_at: DateTime<Utc>,
    },
    Granted {
        amount: Sek,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conditions: Option<FreeText>,
        registry: RegistryNumber,
        meeting: MeetingId,
    },
    Declined {
        motivation: Motivation,
        registry: RegistryNumber,
        meeting: MeetingId,
    },
    Withdrawn,
}

impl Notice {
    /// The stable key, also the name of the template folder.
    pub fn key(&self) -> &'static str {
        match self {
            Self::IdeaReceived { .. } => "idea_received",
            Self::Selected { .. } => "selected",
            Self::NotSelected { .. } => "not_selected",
            Self::SeminarInvitation => "seminar_invitation",
            Self::PanelInvitation { .. } => "panel_invitation",
            Self::PlanReceived { .. } => "plan_received",
            Self::PlanDeadlineReminder { .. } => "plan_deadline_reminder",
            Self::Lapsed { .. } => "lapsed",
            Self::PreparedForDecision { .. } => "prepared_for_decision",
            Self::Granted { .. } => "granted",
            Self::Declined { .. } => "declined",
            Self::Withdrawn => "withdrawn",
        }
    }

    pub const KEYS: &'static [&'static str] = &[
        "idea_received",
        "selected",
        "not_selected",
        "seminar_invitation",
        "panel_invitation",
        "plan_received",
        "plan_deadline_reminder",
        "lapsed",
        "prepared_for_decision",
        "granted",
        "declined",
        "withdrawn",
    ];
}

/// One status mail to one person about one idea. It carries every fact the
/// mail states, as they were when the mail was decided, so a mail sent later
/// says what was true then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationIntent {
    pub call: CallId,
    pub idea: IdeaId,
    /// The idea's title. (Missing in rows written before this field.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idea_title: Option<Title>,
    pub to: Recipient,
    pub notice: Notice,
}
