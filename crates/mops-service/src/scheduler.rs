//! Runs the core's timers against storage: lapses at the plan deadline and
//! reminders before it. Each due timer is an ordinary command from the system
//! actor with an idempotency key naming the timer, so it is applied exactly
//! once even when several service processes run the scheduler on one
//! database: the loser of a race gets the stored outcome, a version conflict,
//! or the core's refusal (already sent, already final), and does nothing.

use chrono::{DateTime, Utc};
use mops_core::call::Call;
use mops_core::idea::allowed_phases;
use mops_core::timers::{TimerConfig, due};
use mops_core::{Action, Actor, IdeaCommand, Stage};

use crate::store::{IdeaRequest, Store, StoreError};

/// What one scheduler pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimerReport {
    /// Timers this pass applied.
    pub applied: usize,
    /// Timers found done by someone else (another process, an earlier pass).
    pub already_done: usize,
}

impl std::ops::AddAssign for TimerReport {
    fn add_assign(&mut self, other: Self) {
        self.applied += other.applied;
        self.already_done += other.already_done;
    }
}

/// The idempotency key of a timer: one per idea and timer.
fn timer_key(command: &IdeaCommand, idea: mops_core::domain::IdeaId) -> String {
    match command {
        IdeaCommand::SendReminder { days_before } => format!("timer/reminder-{days_before}d/{idea}"),
        other => format!("timer/{}/{idea}", other.action().key()),
    }
}

/// Applies every timer due at `now` for one call.
pub async fn run_for_call<S: Store>(
    store: &S,
    call: &Call,
    now: DateTime<Utc>,
    config: &TimerConfig,
) -> Result<TimerReport, StoreError> {
    let mut report = TimerReport::default();
    if !allowed_phases(Action::Lapse).contains(&call.phase) {
        return Ok(report);
    }
    let mut ideas = store.ideas(call.id, Some(Stage::Selected)).await?;
    ideas.extend(store.ideas(call.id, Some(Stage::Pitched)).await?);
    let system = Actor::system();
    for timer in due(call, ideas.iter().map(|v| &v.state), now, config) {
        let key = timer_key(&timer.command, timer.idea);
        let req = IdeaRequest {
            call: call.id,
            idea: timer.idea,
            command: &timer.command,
            actor: &system,
            now,
            expected_version: None,
            idempotency_key: Some(&key),
        };
        match store.execute_idea(req).await {
            Ok(outcome) if outcome.replayed => report.already_done += 1,
            Ok(_) => {
                tracing::info!(idea.id = %timer.idea, timer = %key, "timer applied");
                report.applied += 1;
            }
            // Another process got there first; the next pass re-reads.
            Err(e) if e.is_retryable() => report.already_done += 1,
            Err(StoreError::Rejected(e)) => {
                tracing::debug!(idea.id = %timer.idea, timer = %key, reason = %e, "timer no longer applies");
                report.already_done += 1;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

/// Applies every timer due at `now` for every call.
pub async fn run_due<S: Store>(store: &S, now: DateTime<Utc>, config: &TimerConfig) -> Result<TimerReport, StoreError> {
    let mut report = TimerReport::default();
    for call in store.calls().await? {
        if let Some(call) = call.state.call() {
            report += run_for_call(store, call, now, config).await?;
        }
    }
    Ok(report)
}
