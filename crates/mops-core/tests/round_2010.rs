//! The 2010 reference round, replayed through the core end to end.

use mops_core::reference::{Fate, round_2010};
use mops_core::timers::TimerConfig;
use mops_core::{CallPhase, CallState, IdeaState, Language, Notice, Stage};

use mops_core::domain::Sek;

#[test]
fn the_2010_round_runs_end_to_end() {
    let round = round_2010();
    let memory = mops_core::reference::replay_in_memory(&round, &TimerConfig::default())
        .unwrap_or_else(|(n, e)| panic!("step {n} ({:?}) was refused: {e}", round.steps[n]));

    let funnel = memory.funnel();
    assert_eq!(funnel.to_string(), "26 → 10 → 9 → 4");
    assert_eq!(funnel.granted_total, Sek::from_kronor(1_300_000).unwrap());
    assert_eq!(funnel.granted_total.to_string(), "1 300 000 kr");
    assert_eq!((funnel.not_selected, funnel.lapsed, funnel.declined), (16, 1, 5));
    assert_eq!(memory.call().unwrap().phase, CallPhase::Finished);

    // Every idea ends where the annual report says it did.
    for idea in &round.ideas {
        let state = memory.idea(idea.id).unwrap();
        let expected = match idea.fate {
            Fate::NotSelected => Stage::NotSelected,
            Fate::Lapses => Stage::Lapsed,
            Fate::Declined => Stage::Declined,
            Fate::Granted(_) => Stage::Granted,
        };
        assert_eq!(state.stage(), expected, "{}", idea.title);
    }
    let granted: Vec<String> = memory
        .ideas
        .values()
        .filter_map(|r| r.state.granted_amount().map(|a| (r.state.idea().unwrap().details.title.to_string(), a)))
        .map(|(t, a)| format!("{t}: {a}"))
        .collect();
    assert_eq!(granted.len(), 4);
    assert!(granted.contains(&"Grön omsorg: 300 000 kr".to_string()), "{granted:?}");
}

#[test]
fn replaying_the_events_reproduces_every_state() {
    let round = round_2010();
    let memory = mops_core::reference::replay_in_memory(&round, &TimerConfig::default()).unwrap();
    for record in memory.ideas.values() {
        assert_eq!(IdeaState::replay(&record.events).unwrap(), record.state);
        // And through JSON, as storage keeps them.
        let json = serde_json::to_string(&record.events).unwrap();
        let back: Vec<mops_core::Recorded<mops_core::IdeaEvent>> = serde_json::from_str(&json).unwrap();
        assert_eq!(IdeaState::replay(&back).unwrap(), record.state);
        // States are stored as JSON too, and must read back unchanged.
        let state: IdeaState = serde_json::from_str(&serde_json::to_string(&record.state).unwrap()).unwrap();
        assert_eq!(state, record.state);
    }
    let call: CallState = serde_json::from_str(&serde_json::to_string(&memory.call).unwrap()).unwrap();
    assert_eq!(call, memory.call);
    assert_eq!(CallState::replay(&memory.call_events).unwrap(), memory.call);
}

#[test]
fn applicants_get_a_status_mail_at_every_step() {
    let round = round_2010();
    let memory = mops_core::reference::replay_in_memory(&round, &TimerConfig::default()).unwrap();
    let count = |key: &str| memory.outbox.iter().filter(|n| n.notice.key() == key).count();
    // Every third idea has one co-applicant: 9 of 26 ideas, 3 of the 10 selected.
    assert_eq!(count("idea_received"), 26 + 9);
    assert_eq!(count("selected"), 10 + 4);
    assert_eq!(count("seminar_invitation"), 10 + 4);
    assert_eq!(count("not_selected"), 16 + 5);
    assert_eq!(count("panel_invitation"), 10 + 4);
    // The lapsing idea (the tenth) has a lead and a co-applicant.
    assert_eq!(count("lapsed"), 2);
    assert_eq!(count("plan_received"), 9 + 3);
    assert_eq!(count("granted") + count("declined"), 9 + 3);
    // Reminders go only to those without a plan: at 14 days the five late
    // ideas and the lapsing one; at 3 days only the lapsing one is left.
    let lapsing = round.ideas.iter().find(|i| i.fate == Fate::Lapses).unwrap().id;
    let reminded = |days: u32| -> Vec<_> {
        memory
            .outbox
            .iter()
            .filter(|n| matches!(n.notice, Notice::PlanDeadlineReminder { days_before, .. } if days_before == days))
            .map(|n| n.idea)
            .collect()
    };
    let mut at_14 = reminded(14);
    at_14.dedup();
    assert_eq!(at_14.len(), 6, "{at_14:?}");
    assert!(reminded(3).iter().all(|i| *i == lapsing));
    assert_eq!(reminded(3).len(), 2, "lead and co-applicant of the lapsing idea");
    // Every "no" carries its motivation into the mail.
    for n in &memory.outbox {
        if let Notice::NotSelected { motivation } | Notice::Declined { motivation, .. } = &n.notice {
            assert!(!motivation.as_str().is_empty());
        }
    }
    // The applicant who reads English gets mail in English.
    assert!(memory.outbox.iter().any(|n| n.to.language == Language::En));
}
