//! Concurrency with real parallelism: many connections, several stores (as
//! several service processes would have), on PostgreSQL and on SQLite.

mod common;

use std::sync::Arc;

use common::TestDb;
use mops_core::domain::{IdeaId, RegistryNumber, Sek};
use mops_core::reference::{Fate, Round2010, Step, round_2010};
use mops_core::timers::TimerConfig;
use mops_core::{Actor, IdeaCommand, Role, Stage, TransitionError};
use mops_service::replay::replay_round;
use mops_service::scheduler;
use mops_service::store::{Db, IdeaRequest, Store, StoreError};

async fn replay_until(db: &TestDb, round: &Round2010, stop: impl Fn(&Step) -> bool) {
    let mut partial = round.clone();
    let upto = round.steps.iter().position(stop).expect("the step exists");
    partial.steps.truncate(upto);
    replay_round(&db.db, &partial, &TimerConfig::default(), |_, _, _| {})
        .await
        .unwrap_or_else(|(n, e)| panic!("step {n} failed: {e}"));
}

fn board_members(round: &Round2010) -> Vec<Actor> {
    round.roles.iter().filter(|(_, r)| r.contains(&Role::BoardMember)).map(|(p, _)| round.actor(*p)).collect()
}

/// Retries what a person would retry: conflicts and a busy database.
async fn with_retries(db: &Db, req: IdeaRequest<'_>) -> Result<mops_service::store::Outcome, StoreError> {
    loop {
        match db.execute_idea(req).await {
            Err(e) if e.is_retryable() => tokio::task::yield_now().await,
            other => return other,
        }
    }
}

/// Nine prepared plans, 300 000 kr asked for each, 1 300 000 kr of budget:
/// every board member grants at once, each on a store of their own.
async fn the_budget_holds_when_everyone_grants_at_once(db: &TestDb) {
    let round = round_2010();
    replay_until(db, &round, |s| {
        matches!(s, Step::Idea { command: IdeaCommand::Grant { .. } | IdeaCommand::Decline { .. }, .. })
    })
    .await;
    let prepared: Vec<IdeaId> =
        round.ideas.iter().filter(|i| matches!(i.fate, Fate::Granted(_) | Fate::Declined)).map(|i| i.id).collect();
    assert_eq!(prepared.len(), 9);
    let board = board_members(&round);
    let round = Arc::new(round);
    let mut tasks = Vec::new();
    for (n, idea) in prepared.into_iter().enumerate() {
        let store = db.another_store(2).await;
        let actor = board[n % board.len()].clone();
        let round = round.clone();
        tasks.push(tokio::spawn(async move {
            let command = IdeaCommand::Grant {
                amount: Sek::from_kronor(300_000).unwrap(),
                conditions: None,
                motivation: None,
                registry: RegistryNumber::parse(&format!("SK 2010/{}", 50 + n)).unwrap(),
                meeting: round.meeting.id,
            };
            let req = IdeaRequest {
                call: round.call_id,
                idea,
                command: &command,
                actor: &actor,
                now: round.meeting.at,
                expected_version: None,
                idempotency_key: None,
            };
            with_retries(&store, req).await
        }));
    }
    let mut granted = 0;
    let mut refused = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(o) => {
                assert_eq!(o.stage, "granted");
                granted += 1;
            }
            Err(StoreError::Rejected(TransitionError::BudgetExceeded { remaining, asked })) => {
                refused.push((remaining, asked))
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    // 4 × 300 000 = 1 200 000 fits; a fifth would overspend.
    assert_eq!(granted, 4);
    assert_eq!(refused.len(), 5);
    for (remaining, asked) in refused {
        assert_eq!(remaining, Sek::from_kronor(100_000).unwrap(), "every refusal says what remains");
        assert_eq!(asked, Sek::from_kronor(300_000).unwrap());
    }
    let funnel = db.db.funnel(round.call_id).await.unwrap();
    assert_eq!(funnel.granted_total, Sek::from_kronor(1_200_000).unwrap());
    let report = db.db.verify().await.unwrap();
    assert!(report.is_ok(), "{report}");
}

/// Two people act on one idea at the same moment: one wins, the other is
/// told (a conflict to retry, or the core's refusal after the winner), and
/// nothing is lost or doubled.
async fn two_commands_on_one_idea_do_not_both_win(db: &TestDb) {
    let round = round_2010();
    replay_until(db, &round, |s| {
        matches!(s, Step::Idea { command: IdeaCommand::Select { .. } | IdeaCommand::NotSelect { .. }, .. })
    })
    .await;
    let idea = round.ideas[0].id;
    let sector =
        round.roles.iter().find(|(_, r)| r.iter().any(|r| matches!(r, Role::SectorGroupMember { .. }))).unwrap().0;
    let actor = round.actor(*sector);
    let version = db.db.idea(idea).await.unwrap().unwrap().version;
    let at = round.definition.timeline.closes_at + chrono::Duration::days(5);

    {
        let a = db.another_store(2).await;
        let b = db.another_store(2).await;
        let select = IdeaCommand::Select { motivation: None };
        let reject = IdeaCommand::NotSelect {
            motivation: mops_core::domain::Motivation::parse("Ligger utanför utlysningen.").unwrap(),
        };
        let req = |command| IdeaRequest {
            call: round.call_id,
            idea,
            command,
            actor: &actor,
            now: at,
            expected_version: Some(version),
            idempotency_key: None,
        };
        let (ra, rb) = tokio::join!(a.execute_idea(req(&select)), b.execute_idea(req(&reject)));
        let wins = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "exactly one wins: {ra:?} / {rb:?}");
        let loser = if ra.is_ok() { rb } else { ra };
        assert!(matches!(loser, Err(StoreError::Conflict { .. })), "the loser is told to reload: {loser:?}");
        let stored = db.db.idea(idea).await.unwrap().unwrap();
        assert_eq!(stored.version, version + 1);
        assert!(matches!(stored.state.stage(), Stage::Selected | Stage::NotSelected));
    }
    let report = db.db.verify().await.unwrap();
    assert!(report.is_ok(), "{report}");
}

/// Two service processes run the scheduler at the same moment: each due
/// timer is applied exactly once.
async fn two_schedulers_apply_each_timer_once(db: &TestDb) {
    let round = round_2010();
    replay_until(db, &round, |s| matches!(s, Step::Timers { .. })).await;
    let call = db.db.call(round.call_id).await.unwrap().unwrap();
    let deadline = call.state.call().unwrap().definition.timeline.plan_deadline;
    let waiting = db.db.ideas(round.call_id, Some(Stage::Pitched)).await.unwrap().len()
        + db.db.ideas(round.call_id, Some(Stage::Selected)).await.unwrap().len();
    assert!(waiting > 0);

    let one = db.another_store(3).await;
    let two = db.another_store(3).await;
    let config = TimerConfig::default();
    let (a, b) = tokio::join!(scheduler::run_due(&one, deadline, &config), scheduler::run_due(&two, deadline, &config));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.applied + b.applied, waiting, "{a:?} {b:?}");
    let lapsed = db.db.ideas(round.call_id, Some(Stage::Lapsed)).await.unwrap();
    assert_eq!(lapsed.len(), waiting);
    for idea in lapsed {
        let events = db.db.idea_events(idea.state.idea().unwrap().id).await.unwrap();
        assert_eq!(events.iter().filter(|e| e.recorded.event.key() == "lapsed").count(), 1);
    }
    let report = db.db.verify().await.unwrap();
    assert!(report.is_ok(), "{report}");
}

on_both_backends!(
    the_budget_holds_when_everyone_grants_at_once,
    two_commands_on_one_idea_do_not_both_win,
    two_schedulers_apply_each_timer_once,
);
