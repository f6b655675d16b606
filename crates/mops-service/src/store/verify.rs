//! `mops verify`: rebuild every call and idea from its events alone, compare
//! with what is stored, check the hash chains and the invariants, and report
//! every discrepancy precisely.

use std::collections::{BTreeMap, BTreeSet};

use mops_core::call::Call;
use mops_core::idea::notifications_for;
use mops_core::{CallEvent, CallState, IdeaEvent, IdeaState, Recorded};
use serde::Serialize;
use uuid::Uuid;

use super::hash::{self, GENESIS};

pub(crate) struct RawCall {
    pub id: Uuid,
    pub state: String,
    pub version: i64,
    pub head_hash: Vec<u8>,
    pub selected_count: i64,
    pub granted_ore: i64,
    pub budget_ore: i64,
    pub capacity: i64,
}

pub(crate) struct RawIdea {
    pub id: Uuid,
    pub call_id: Uuid,
    pub state: String,
    pub stage: String,
    pub furthest: i64,
    pub version: i64,
    pub head_hash: Vec<u8>,
    pub granted_ore: Option<i64>,
    pub registry: Option<String>,
}

pub(crate) struct RawEvent {
    pub id: i64,
    pub stream_kind: String,
    pub stream_id: Uuid,
    pub call_id: Uuid,
    pub seq: i64,
    pub event_type: String,
    pub body: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

pub(crate) struct Raw {
    pub calls: Vec<RawCall>,
    pub ideas: Vec<RawIdea>,
    /// Ordered by stream, then sequence number.
    pub events: Vec<RawEvent>,
    /// Outbox rows per event id.
    pub outbox: BTreeMap<i64, i64>,
    /// The `idea_applicants` index: the people per idea id.
    pub applicants: BTreeMap<Uuid, BTreeSet<Uuid>>,
}

/// One thing that is not as it should be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discrepancy {
    /// What it is about, e.g. `idea 0000…05` or `event 1234`.
    pub subject: String,
    pub problem: String,
}

impl std::fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.subject, self.problem)
    }
}

/// What `verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub calls: usize,
    pub ideas: usize,
    pub events: usize,
    pub outbox_rows: i64,
    pub discrepancies: Vec<Discrepancy>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.discrepancies.is_empty()
    }
}

impl std::fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Checked {} calls, {} ideas, {} events and {} outbox rows.",
            self.calls, self.ideas, self.events, self.outbox_rows
        )?;
        if self.is_ok() {
            writeln!(
                f,
                "Everything matches: every state replays from its events, every hash chain is intact, and the invariants hold."
            )
        } else {
            writeln!(f, "{} discrepancies:", self.discrepancies.len())?;
            for d in &self.discrepancies {
                writeln!(f, "- {d}")?;
            }
            Ok(())
        }
    }
}

struct Findings(Vec<Discrepancy>);

impl Findings {
    fn add(&mut self, subject: impl Into<String>, problem: impl Into<String>) {
        self.0.push(Discrepancy { subject: subject.into(), problem: problem.into() });
    }
}

/// Checks the hash chain of one stream's events; returns the head hash.
fn check_chain(stream: Uuid, events: &[&RawEvent], found: &mut Findings) -> Vec<u8> {
    let mut prev = GENESIS.to_vec();
    for (i, e) in events.iter().enumerate() {
        let expected_seq = i as i64 + 1;
        let subject = format!("event {} ({} {stream}, seq {})", e.id, e.stream_kind, e.seq);
        if e.seq != expected_seq {
            found.add(&subject, format!("expected seq {expected_seq}: an event is missing before it"));
        }
        if e.prev_hash != prev {
            found.add(
                &subject,
                "its prev_hash does not match the hash of the event before it (an event was removed or changed)",
            );
        }
        let recomputed = hash::chain(&e.prev_hash, stream, e.seq, &e.body);
        if recomputed != e.hash {
            found.add(
                &subject,
                format!(
                    "its content does not match its hash (stored {}, content hashes to {}): the row was edited",
                    &hash::hex(&e.hash)[..16],
                    &hash::hex(&recomputed)[..16]
                ),
            );
        }
        prev = e.hash.clone();
    }
    prev
}

/// Told how far `verify` has come: `progress(checked, total)` before the
/// first call, between calls and ideas, and once all are checked, with
/// `checked` counting up by one from 0 to `total` (the calls and ideas
/// together). The `mops` command draws a bar with it; this module
/// knows nothing of terminals. `Sync` because the store's future holds it
/// across awaits.
pub type VerifyProgress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// A [`VerifyProgress`] that ignores what it is told.
pub fn no_progress(_checked: usize, _total: usize) {}

pub(crate) fn check(raw: Raw, progress: VerifyProgress<'_>) -> VerifyReport {
    let total = raw.calls.len() + raw.ideas.len();
    // Each call and idea is counted when the next one starts (or the
    // call-wide checks do), whichever way its loop goes on.
    let mut started = 0;
    let mut next = || {
        progress(started, total);
        started += 1;
    };
    let mut found = Findings(Vec::new());
    let mut streams: BTreeMap<Uuid, Vec<&RawEvent>> = BTreeMap::new();
    for e in &raw.events {
        streams.entry(e.stream_id).or_default().push(e);
    }
    let known: BTreeSet<Uuid> = raw.calls.iter().map(|c| c.id).chain(raw.ideas.iter().map(|i| i.id)).collect();
    for (stream, events) in &streams {
        if !known.contains(stream) {
            found.add(format!("stream {stream}"), format!("{} events belong to no stored call or idea", events.len()));
        }
    }

    // Calls: replay, chain, version.
    let mut calls: BTreeMap<Uuid, Call> = BTreeMap::new();
    for c in &raw.calls {
        next();
        let subject = format!("call {}", c.id);
        let events = streams.get(&c.id).cloned().unwrap_or_default();
        let head = check_chain(c.id, &events, &mut found);
        if head != c.head_hash {
            found.add(
                &subject,
                "the stored head hash is not the hash of its last event (events are missing at the end)",
            );
        }
        if c.version != events.len() as i64 {
            found.add(&subject, format!("version {} but {} events", c.version, events.len()));
        }
        let parsed: Result<Vec<Recorded<CallEvent>>, _> =
            events.iter().map(|e| serde_json::from_str(&e.body)).collect();
        let replayed = match parsed {
            Ok(recorded) => match CallState::replay(&recorded) {
                Ok(s) => Some(s),
                Err(e) => {
                    found.add(&subject, format!("its events do not replay: {e}"));
                    None
                }
            },
            Err(e) => {
                found.add(&subject, format!("an event cannot be read: {e}"));
                None
            }
        };
        match serde_json::from_str::<CallState>(&c.state) {
            Ok(stored) => {
                if let Some(r) = &replayed
                    && *r != stored
                {
                    found.add(&subject, "the stored state differs from the state its events replay to");
                }
                if let Some(call) = stored.call() {
                    calls.insert(c.id, call.clone());
                }
            }
            Err(e) => found.add(&subject, format!("the stored state cannot be read: {e}")),
        }
    }

    // Ideas: replay, chain, version, columns, outbox, one decision.
    let mut selected: BTreeMap<Uuid, i64> = BTreeMap::new();
    let mut granted: BTreeMap<Uuid, i64> = BTreeMap::new();
    let mut outbox_expected = 0i64;
    for i in &raw.ideas {
        next();
        let subject = format!("idea {}", i.id);
        let events = streams.get(&i.id).cloned().unwrap_or_default();
        let head = check_chain(i.id, &events, &mut found);
        if head != i.head_hash {
            found.add(
                &subject,
                "the stored head hash is not the hash of its last event (events are missing at the end)",
            );
        }
        if i.version != events.len() as i64 {
            found.add(&subject, format!("version {} but {} events", i.version, events.len()));
        }
        let Some(call) = calls.get(&i.call_id) else {
            found.add(&subject, format!("its call {} does not exist", i.call_id));
            continue;
        };
        let mut state = IdeaState::New;
        let mut decisions = 0;
        let mut replay_ok = true;
        for e in &events {
            let recorded: Recorded<IdeaEvent> = match serde_json::from_str(&e.body) {
                Ok(r) => r,
                Err(err) => {
                    found.add(format!("event {}", e.id), format!("cannot be read: {err}"));
                    replay_ok = false;
                    break;
                }
            };
            if recorded.event.key() != e.event_type {
                found.add(
                    format!("event {}", e.id),
                    format!("its type column says {} but it is {}", e.event_type, recorded.event.key()),
                );
            }
            if e.call_id != i.call_id {
                found.add(format!("event {}", e.id), "it names another call than its idea");
            }
            state = match state.clone().apply(&recorded) {
                Ok(s) => s,
                Err(err) => {
                    found.add(&subject, format!("event seq {} does not replay: {err}", e.seq));
                    replay_ok = false;
                    break;
                }
            };
            match &recorded.event {
                IdeaEvent::Selected { .. } => *selected.entry(i.call_id).or_default() += 1,
                IdeaEvent::Granted { amount, .. } => {
                    *granted.entry(i.call_id).or_default() += amount.ore();
                    decisions += 1;
                }
                IdeaEvent::Declined { .. } => decisions += 1,
                _ => {}
            }
            let expected = notifications_for(&state, &recorded.event, call).len() as i64;
            outbox_expected += expected;
            let actual = raw.outbox.get(&e.id).copied().unwrap_or(0);
            if expected != actual {
                found.add(
                    format!("event {}", e.id),
                    format!(
                        "{} ({}) should have {expected} outbox rows but has {actual}",
                        recorded.event.key(),
                        subject
                    ),
                );
            }
        }
        if decisions > 1 {
            found.add(&subject, format!("{decisions} board decisions; an idea gets one"));
        }
        let stored = match serde_json::from_str::<IdeaState>(&i.state) {
            Ok(s) => s,
            Err(e) => {
                found.add(&subject, format!("the stored state cannot be read: {e}"));
                continue;
            }
        };
        if replay_ok && stored != state {
            found.add(&subject, "the stored state differs from the state its events replay to");
        }
        if i.stage != stored.stage().key() {
            found.add(&subject, format!("the stage column says {} but the state is {}", i.stage, stored.stage().key()));
        }
        if i.granted_ore != stored.granted_amount().map(|a| a.ore()) {
            found.add(&subject, "the granted amount column differs from the state");
        }
        let registry = match &stored {
            IdeaState::Granted(g) => Some(g.decision.registry.to_string()),
            IdeaState::Declined(d) => Some(d.decision.registry.to_string()),
            _ => None,
        };
        if i.registry != registry {
            found.add(&subject, "the registry number column differs from the state");
        }
        if i.furthest < 0 || i.furthest > 4 {
            found.add(&subject, format!("furthest step {} is out of range", i.furthest));
        }
        let indexed = raw.applicants.get(&i.id).cloned().unwrap_or_default();
        let expected = super::sql::applicants(if replay_ok { &state } else { &stored });
        if indexed != expected {
            let list = |s: &BTreeSet<Uuid>| s.iter().map(Uuid::to_string).collect::<Vec<_>>().join(", ");
            found.add(
                &subject,
                format!(
                    "the applicants index (idea_applicants) lists [{}] but its applicants are [{}]",
                    list(&indexed),
                    list(&expected)
                ),
            );
        }
    }
    let ideas: BTreeSet<Uuid> = raw.ideas.iter().map(|i| i.id).collect();
    for (idea, people) in &raw.applicants {
        if !ideas.contains(idea) {
            found.add(format!("idea {idea}"), format!("{} rows in idea_applicants but no such idea", people.len()));
        }
    }

    progress(total, total);

    // Call-wide invariants.
    for c in &raw.calls {
        let subject = format!("call {}", c.id);
        let sel = selected.get(&c.id).copied().unwrap_or(0);
        let sum = granted.get(&c.id).copied().unwrap_or(0);
        if c.selected_count != sel {
            found.add(&subject, format!("selected count {} but {sel} ideas were selected", c.selected_count));
        }
        if c.granted_ore != sum {
            found.add(&subject, format!("granted total {} öre but the grants sum to {sum} öre", c.granted_ore));
        }
        if sum > c.budget_ore {
            found.add(&subject, format!("the grants ({sum} öre) exceed the budget ({} öre)", c.budget_ore));
        }
        if sel > c.capacity {
            found.add(&subject, format!("{sel} ideas selected but the call allows {}", c.capacity));
        }
    }

    let outbox_rows: i64 = raw.outbox.values().sum();
    if outbox_rows != outbox_expected {
        found.add("outbox", format!("{outbox_rows} rows, but the events call for {outbox_expected}"));
    }
    VerifyReport {
        calls: raw.calls.len(),
        ideas: raw.ideas.len(),
        events: raw.events.len(),
        outbox_rows,
        discrepancies: found.0,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn call(n: u128) -> RawCall {
        RawCall {
            id: Uuid::from_u128(n),
            state: "not a state".into(),
            version: 0,
            head_hash: GENESIS.to_vec(),
            selected_count: 0,
            granted_ore: 0,
            budget_ore: 0,
            capacity: 0,
        }
    }

    fn idea(n: u128, call: u128) -> RawIdea {
        RawIdea {
            id: Uuid::from_u128(n),
            call_id: Uuid::from_u128(call),
            state: "not a state".into(),
            stage: "submitted".into(),
            furthest: 0,
            version: 0,
            head_hash: GENESIS.to_vec(),
            granted_ore: None,
            registry: None,
        }
    }

    /// What `check` told its progress callback.
    fn progress_of(raw: Raw) -> (Vec<(usize, usize)>, VerifyReport) {
        let seen = Mutex::new(Vec::new());
        let report = check(raw, &|checked, total| seen.lock().unwrap().push((checked, total)));
        (seen.into_inner().unwrap(), report)
    }

    #[test]
    fn progress_counts_every_call_and_idea_up_to_the_total() {
        // Unreadable states, and ideas of a call that does not exist: every
        // path through the loops still counts.
        let raw = Raw {
            calls: vec![call(1), call(2)],
            ideas: vec![idea(10, 1), idea(11, 99), idea(12, 2)],
            events: Vec::new(),
            outbox: BTreeMap::new(),
            applicants: BTreeMap::new(),
        };
        let (seen, report) = progress_of(raw);
        assert!(!report.is_ok());
        assert_eq!(seen, (0..=5).map(|n| (n, 5)).collect::<Vec<_>>());
    }

    #[test]
    fn progress_of_an_empty_database_is_done_at_once() {
        let raw = Raw {
            calls: Vec::new(),
            ideas: Vec::new(),
            events: Vec::new(),
            outbox: BTreeMap::new(),
            applicants: BTreeMap::new(),
        };
        let (seen, report) = progress_of(raw);
        assert!(report.is_ok());
        assert_eq!(seen, [(0, 0)]);
    }
}
