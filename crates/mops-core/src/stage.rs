//! The names of things that rules and messages talk about: an idea's stage, a
//! call's phase, the actions people take, and who may take them. Each has an
//! English and a Swedish name.

use serde::{Deserialize, Serialize};

use crate::domain::Language;

macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident => ($key:literal, $en:literal, $sv:literal) ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $( $(#[$vmeta])* $variant ),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable snake_case key, as in events, the API and the docs.
            pub fn key(self) -> &'static str {
                match self { $($name::$variant => $key),+ }
            }

            /// The Mermaid/Rust identifier, e.g. `PlanSubmitted`.
            pub fn ident(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant)),+ }
            }

            /// What a person reads, in their language.
            pub fn label(self, lang: Language) -> &'static str {
                match (self, lang) {
                    $(($name::$variant, Language::En) => $en,
                      ($name::$variant, Language::Sv) => $sv),+
                }
            }

            pub fn from_key(key: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.key() == key)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.label(Language::En))
            }
        }
    };
}

named_enum! {
    /// Where an idea stands. The data of each stage lives in [`crate::IdeaState`].
    pub enum Stage {
        /// Before the first event: the idea does not exist yet.
        New => ("new", "new", "ny"),
        Draft => ("draft", "a draft", "ett utkast"),
        Submitted => ("submitted", "submitted", "inskickad"),
        Selected => ("selected", "selected", "utvald"),
        NotSelected => ("not_selected", "not selected", "inte utvald"),
        Pitched => ("pitched", "pitched to the panel", "presenterad för panelen"),
        PlanSubmitted => ("plan_submitted", "plan submitted", "projektplan inlämnad"),
        Lapsed => ("lapsed", "lapsed (no plan by the deadline)", "förfallen (ingen projektplan i tid)"),
        Prepared => ("prepared", "prepared for decision", "beredd för beslut"),
        Granted => ("granted", "granted", "beviljad"),
        Declined => ("declined", "declined", "avslagen"),
        Withdrawn => ("withdrawn", "withdrawn", "återkallad"),
    }
}

impl Stage {
    /// Final stages accept no command at all.
    pub fn is_final(self) -> bool {
        matches!(self, Stage::NotSelected | Stage::Lapsed | Stage::Granted | Stage::Declined | Stage::Withdrawn)
    }
}

named_enum! {
    /// The phase of a call for ideas. Phases only move forward, one at a time.
    pub enum CallPhase {
        Draft => ("draft", "draft", "utkast"),
        Open => ("open", "open for ideas", "öppen för idéer"),
        Selection => ("selection", "selection", "urval"),
        Development => ("development", "development (seminar series)", "idéutveckling (seminarieserie)"),
        Panel => ("panel", "pitch panel", "Draknästet"),
        PlansDue => ("plans_due", "project plans due", "inlämning av projektplaner"),
        Preparation => ("preparation", "preparation", "beredning"),
        Decision => ("decision", "decision", "beslut"),
        Finished => ("finished", "finished", "avslutad"),
    }
}

impl CallPhase {
    /// The phase after this one, if any.
    pub fn next(self) -> Option<CallPhase> {
        let all = Self::ALL;
        let i = all.iter().position(|p| *p == self)?;
        all.get(i + 1).copied()
    }
}

named_enum! {
    /// Everything a person (or the timer) can do. Used in the transition
    /// table, in errors, and in the audit log.
    pub enum Action {
        Draft => ("draft", "start a draft idea", "påbörja ett utkast till idé"),
        EditDraft => ("edit_draft", "edit the draft", "ändra utkastet"),
        Submit => ("submit", "submit the idea", "skicka in idén"),
        SubmitNew => ("submit_new", "submit a new idea", "skicka in en ny idé"),
        Select => ("select", "select the idea", "välja ut idén"),
        NotSelect => ("not_select", "decide not to select the idea", "besluta att inte välja ut idén"),
        RecordAttendance => ("record_attendance", "record seminar attendance", "registrera närvaro vid seminarium"),
        SchedulePitch => ("schedule_pitch", "schedule the pitch", "boka tid i Draknästet"),
        DeclareConflict => ("declare_conflict", "declare a conflict of interest", "anmäla jäv"),
        SavePlanSection => ("save_plan_section", "save a section of the project plan", "spara ett avsnitt i projektplanen"),
        RecordPitch => ("record_pitch", "record that the idea was pitched", "registrera att idén presenterats"),
        GiveFeedback => ("give_feedback", "give panel feedback", "lämna återkoppling från panelen"),
        SubmitPlan => ("submit_plan", "submit the project plan", "lämna in projektplanen"),
        SendReminder => ("send_reminder", "send a plan-deadline reminder", "skicka påminnelse om sista dag för projektplan"),
        Lapse => ("lapse", "let the idea lapse", "låta idén förfalla"),
        Prepare => ("prepare", "prepare the case for the board", "bereda ärendet till styrelsen"),
        Grant => ("grant", "grant funding", "bevilja medel"),
        Decline => ("decline", "decline funding", "avslå ansökan"),
        Withdraw => ("withdraw", "withdraw the idea", "återkalla idén"),
        CreateCall => ("create_call", "create a call", "skapa en utlysning"),
        EditCall => ("edit_call", "edit the call", "ändra utlysningen"),
        AdvancePhase => ("advance_phase", "move the call to its next phase", "flytta utlysningen till nästa fas"),
    }
}

named_enum! {
    /// Who may take an action, as told to someone who may not.
    pub enum Who {
        ProcessLeader => ("process_leader", "the process leader", "processledaren"),
        SectorGroup => ("sector_group", "a member of the call's sector group", "en ledamot i utlysningens sektorsgrupp"),
        Panel => ("panel", "a member of the call's pitch panel", "en ledamot i utlysningens panel"),
        Board => ("board", "a board member", "en styrelseledamot"),
        Lead => ("lead", "the idea's lead applicant", "idéns projektledare"),
        Applicant => ("applicant", "the lead applicant or a co-applicant", "projektledaren eller en medsökande"),
        System => ("system", "the system's timer", "systemets tidsstyrning"),
    }
}

/// Joins labels the way a sentence does: "a, b or c" / "a, b eller c".
pub fn join_labels<T: Copy>(items: &[T], lang: Language, label: impl Fn(T, Language) -> &'static str) -> String {
    let or = match lang {
        Language::Sv => "eller",
        Language::En => "or",
    };
    let labels: Vec<&str> = items.iter().map(|i| label(*i, lang)).collect();
    match labels.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} {or} {last}", rest.join(", ")),
    }
}
