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

/// For `mops serve --demo`: a call open now, made from the 2010 call with
/// every date moved so that it opened yesterday, so a visitor can submit an
/// idea on the public form and follow it through. The 2010 round's panel
/// members sit on its panel too. Returns its id, or `None` when a call is
/// already open (nothing is added then).
pub async fn open_demo_call<S: Store + crate::people::PeopleStore>(
    store: &S,
    round: &Round2010,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<mops_core::domain::CallId>, String> {
    use mops_core::{CallCommand, CallPhase, Role};
    let calls = store.calls().await.map_err(|e| e.to_string())?;
    if calls.iter().filter_map(|c| c.state.call()).any(|c| c.phase == CallPhase::Open) {
        return Ok(None);
    }
    let mut definition = round.definition.clone();
    let shift = now - chrono::Duration::days(1) - definition.timeline.opens_at;
    definition.timeline.shift(shift);
    let year = chrono::Datelike::year(&definition.timeline.opens_at.with_timezone(&chrono_tz::Europe::Stockholm));
    definition.title =
        mops_core::domain::Title::parse(&format!("Samhällskontraktet {year}")).map_err(|e| e.to_string())?;
    definition.title_en = None;
    let id = mops_core::domain::CallId::from_uuid(uuid::Uuid::new_v4());
    let actor = round.actor(round.process_leader);
    for command in
        [CallCommand::Create { id, definition: Box::new(definition) }, CallCommand::Advance { to: CallPhase::Open }]
    {
        store
            .execute_call(CallRequest {
                call: id,
                command: &command,
                actor: &actor,
                now,
                expected_version: None,
                idempotency_key: None,
            })
            .await
            .map_err(|e| format!("cannot open the demo call: {e}"))?;
    }
    for (person, roles) in &round.roles {
        if roles.iter().any(|r| matches!(r, Role::PanelMember { .. })) {
            store
                .grant_role(*person, Role::PanelMember { call: id }, crate::people::ChangedBy::Seed)
                .await
                .map_err(|e| format!("cannot seat the demo panel: {e}"))?;
        }
    }
    Ok(Some(id))
}
