//! The funnel of a call: how many ideas reached each stage, and the total
//! granted. Computed from events, so it counts what happened, not just where
//! ideas stand now (an idea selected and later withdrawn still counts as
//! selected).

use serde::{Deserialize, Serialize};

use crate::domain::{Language, Sek};
use crate::idea::IdeaEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Funnel {
    pub submitted: u32,
    pub selected: u32,
    pub not_selected: u32,
    pub plans_submitted: u32,
    pub lapsed: u32,
    pub prepared: u32,
    pub granted: u32,
    pub declined: u32,
    pub withdrawn: u32,
    pub granted_total: Sek,
}

impl Funnel {
    pub fn apply(&mut self, event: &IdeaEvent) {
        match event {
            IdeaEvent::Submitted => self.submitted += 1,
            IdeaEvent::Selected { .. } => self.selected += 1,
            IdeaEvent::NotSelected { .. } => self.not_selected += 1,
            IdeaEvent::PlanSubmitted { .. } => self.plans_submitted += 1,
            IdeaEvent::Lapsed { .. } => self.lapsed += 1,
            IdeaEvent::Prepared { .. } => self.prepared += 1,
            IdeaEvent::Granted { amount, .. } => {
                self.granted += 1;
                self.granted_total = self.granted_total.checked_add(*amount).unwrap_or(self.granted_total);
            }
            IdeaEvent::Declined { .. } => self.declined += 1,
            IdeaEvent::Withdrawn { .. } => self.withdrawn += 1,
            _ => {}
        }
    }

    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a IdeaEvent>) -> Self {
        let mut f = Self::default();
        for e in events {
            f.apply(e);
        }
        f
    }

    /// The four main steps with their labels: submitted, selected, plans, granted.
    pub fn steps(&self, lang: Language) -> [(&'static str, u32); 4] {
        let labels = match lang {
            Language::Sv => ["Inskickade idéer", "Utvalda", "Projektplaner", "Beviljade"],
            Language::En => ["Ideas submitted", "Selected", "Project plans", "Granted"],
        };
        [
            (labels[0], self.submitted),
            (labels[1], self.selected),
            (labels[2], self.plans_submitted),
            (labels[3], self.granted),
        ]
    }
}

/// `26 → 10 → 9 → 4`.
impl std::fmt::Display for Funnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} → {} → {} → {}", self.submitted, self.selected, self.plans_submitted, self.granted)
    }
}
