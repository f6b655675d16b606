//! One call and its ideas held in memory, driven through [`decide`] and
//! [`decide_call`] exactly as the service drives them through a database.
//! Pure (no clock, no I/O): the reference against which the storage
//! backends are tested, and the engine of the core's own scenario tests.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::call::{Call, CallCommand, CallContext, CallEvent, CallState, StageCounts, decide_call};
use crate::domain::IdeaId;
use crate::error::TransitionError;
use crate::event::Recorded;
use crate::funnel::Funnel;
use crate::idea::{CallTotals, Context, Decision, IdeaCommand, IdeaEvent, IdeaState, decide};
use crate::notify::NotificationIntent;
use crate::people::Actor;
use crate::timers::{TimerConfig, due};

/// An idea's current state and every event that led there.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdeaRecord {
    pub state: IdeaState,
    pub events: Vec<Recorded<IdeaEvent>>,
}

/// A call with its ideas, their events and the notification outbox.
#[derive(Debug, Clone, Default)]
pub struct Round {
    pub call: CallState,
    pub call_events: Vec<Recorded<CallEvent>>,
    pub ideas: BTreeMap<IdeaId, IdeaRecord>,
    pub totals: CallTotals,
    pub outbox: Vec<NotificationIntent>,
}

impl Round {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn call(&self) -> Option<&Call> {
        self.call.call()
    }

    pub fn stage_counts(&self) -> StageCounts {
        self.ideas.values().map(|r| r.state.stage()).collect()
    }

    pub fn idea(&self, id: IdeaId) -> Option<&IdeaState> {
        self.ideas.get(&id).map(|r| &r.state)
    }

    /// Every idea event of the call, idea by idea.
    pub fn idea_events(&self) -> impl Iterator<Item = &Recorded<IdeaEvent>> {
        self.ideas.values().flat_map(|r| r.events.iter())
    }

    pub fn funnel(&self) -> Funnel {
        Funnel::from_events(self.idea_events().map(|r| &r.event))
    }

    pub fn call_command(
        &mut self,
        cmd: &CallCommand,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(), TransitionError> {
        let counts = self.stage_counts();
        let decision = decide_call(&self.call, cmd, &CallContext { now, actor, ideas: &counts })?;
        self.call = decision.state;
        self.call_events.extend(decision.events);
        Ok(())
    }

    /// Decides and applies one idea command; on error nothing changes.
    pub fn idea_command(
        &mut self,
        idea: IdeaId,
        cmd: &IdeaCommand,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Decision, TransitionError> {
        let call = self.call.call().ok_or(TransitionError::CallNotFound)?;
        let record = self.ideas.get(&idea).cloned().unwrap_or_default();
        let ctx = Context { now, actor, call, totals: self.totals };
        let decision = decide(&record.state, cmd, &ctx)?;
        let entry = self.ideas.entry(idea).or_default();
        entry.state = decision.state.clone();
        entry.events.extend(decision.events.iter().cloned());
        for e in &decision.events {
            self.totals.apply(&e.event);
        }
        self.outbox.extend(decision.notifications.iter().cloned());
        Ok(decision)
    }

    /// Runs every timer due at `now`, as the system. Returns how many ran.
    pub fn run_timers(&mut self, now: DateTime<Utc>, config: &TimerConfig) -> Result<usize, TransitionError> {
        let Some(call) = self.call.call() else { return Ok(0) };
        let timers = due(call, self.ideas.values().map(|r| &r.state), now, config);
        let system = Actor::system();
        for t in &timers {
            self.idea_command(t.idea, &t.command, &system, now)?;
        }
        Ok(timers.len())
    }
}
