//! Runs a scripted round (such as the 2010 reference round) through storage,
//! step by step, with real transitions and timers.

use mops_core::reference::{Round2010, Step};
use mops_core::timers::TimerConfig;

use crate::scheduler;
use crate::store::{CallRequest, IdeaRequest, Outcome, Store, StoreError};

/// What happened at one step.
#[derive(Debug)]
pub enum StepOutcome {
    Command(Outcome),
    Timers(scheduler::TimerReport),
}

/// Replays `round` through `store`. `on_step` sees each step once it has
/// committed. Stops at the first refused step and says which.
pub async fn replay_round<S: Store>(
    store: &S,
    round: &Round2010,
    timers: &TimerConfig,
    mut on_step: impl FnMut(usize, &Step, &StepOutcome),
) -> Result<(), (usize, StoreError)> {
    for (n, step) in round.steps.iter().enumerate() {
        let outcome = match step {
            Step::Call { at, actor, command } => store
                .execute_call(CallRequest {
                    call: round.call_id,
                    command,
                    actor: &round.actor(*actor),
                    now: *at,
                    expected_version: None,
                    idempotency_key: None,
                })
                .await
                .map(StepOutcome::Command),
            Step::Idea { at, actor, idea, command } => store
                .execute_idea(IdeaRequest {
                    call: round.call_id,
                    idea: *idea,
                    command,
                    actor: &round.actor(*actor),
                    now: *at,
                    expected_version: None,
                    idempotency_key: None,
                })
                .await
                .map(StepOutcome::Command),
            Step::Timers { at } => {
                let call = store.call(round.call_id).await.map_err(|e| (n, e))?;
                match call.as_ref().and_then(|c| c.state.call()) {
                    Some(call) => scheduler::run_for_call(store, call, *at, timers).await.map(StepOutcome::Timers),
                    None => Err(StoreError::NotFound { what: "call", id: *round.call_id.as_uuid() }),
                }
            }
        };
        let outcome = outcome.map_err(|e| (n, e))?;
        on_step(n, step, &outcome);
    }
    Ok(())
}
