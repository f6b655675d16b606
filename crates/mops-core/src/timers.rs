//! Timers as a pure function: given the call, its ideas and `now`, what is
//! due. The service runs what this lists, each as an ordinary command from
//! the system actor, so a timer is recorded like any other transition.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::call::Call;
use crate::domain::IdeaId;
use crate::idea::{IdeaCommand, IdeaState, allowed_phases};
use crate::stage::{Action, Stage};

/// When reminders go out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerConfig {
    /// Days before the plan deadline to remind applicants who have not
    /// submitted their plan. Defaults to 14 and 3 days.
    pub plan_reminder_days: Vec<u32>,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self { plan_reminder_days: vec![14, 3] }
    }
}

/// A timer transition that is due now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTimer {
    pub idea: IdeaId,
    pub command: IdeaCommand,
}

/// Everything due at `now` for the ideas of `call`.
///
/// - An idea that is selected or pitched lapses once the plan deadline has
///   passed without a plan.
/// - Before the deadline it gets the reminder of the nearest threshold that
///   has been reached, unless that one or a later one was sent. A reminder
///   that was missed (say, the service was down) is not sent late when a
///   nearer one is due.
pub fn due<'a>(
    call: &Call,
    ideas: impl IntoIterator<Item = &'a IdeaState>,
    now: DateTime<Utc>,
    config: &TimerConfig,
) -> Vec<DueTimer> {
    if !allowed_phases(Action::Lapse).contains(&call.phase) {
        return Vec::new();
    }
    let deadline = call.definition.timeline.plan_deadline;
    let mut due = Vec::new();
    for state in ideas {
        if !matches!(state.stage(), Stage::Selected | Stage::Pitched) {
            continue;
        }
        let (Some(idea), Some(dev)) = (state.idea(), state.development()) else { continue };
        if now >= deadline {
            due.push(DueTimer { idea: idea.id, command: IdeaCommand::Lapse });
            continue;
        }
        // A threshold further back than time goes has been reached.
        let reached = |d: u32| deadline.checked_sub_signed(Duration::days(i64::from(d))).is_none_or(|t| now >= t);
        let nearest = config.plan_reminder_days.iter().copied().filter(|d| reached(*d)).min();
        if let Some(days_before) = nearest
            && !dev.reminders_sent.iter().any(|s| *s <= days_before)
        {
            due.push(DueTimer { idea: idea.id, command: IdeaCommand::SendReminder { days_before } });
        }
    }
    due
}

/// The next instant at which something may become due, so a scheduler can
/// sleep until then. `None` when nothing is pending.
pub fn next_wakeup<'a>(
    call: &Call,
    ideas: impl IntoIterator<Item = &'a IdeaState>,
    now: DateTime<Utc>,
    config: &TimerConfig,
) -> Option<DateTime<Utc>> {
    let deadline = call.definition.timeline.plan_deadline;
    let pending = ideas.into_iter().any(|s| matches!(s.stage(), Stage::Selected | Stage::Pitched));
    if !pending {
        return None;
    }
    config
        .plan_reminder_days
        .iter()
        .filter_map(|d| deadline.checked_sub_signed(Duration::days(i64::from(*d))))
        .chain([deadline])
        .filter(|t| *t > now)
        .min()
}
