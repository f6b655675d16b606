//! The conformance suite: the same tests on SQLite and on PostgreSQL.

mod common;

use chrono::Duration;
use common::TestDb;
use mops_core::domain::{IdeaId, RegistryNumber, Sek};
use mops_core::reference::{Fate, Step, round_2010, round_2010_in};
use mops_core::timers::TimerConfig;
use mops_core::{Actor, IdeaCommand, Stage, TransitionError};
use mops_service::replay::replay_round;
use mops_service::scheduler;
use mops_service::store::{IdeaRequest, Store, StoreError};

on_both_backends!(
    the_2010_round_runs_through_storage_as_in_memory,
    a_refused_command_writes_nothing,
    a_stale_version_is_a_conflict,
    an_idempotent_retry_returns_the_first_outcome,
    a_registry_number_is_used_once,
    timers_apply_once,
    the_event_log_refuses_update_and_delete,
    migrations_run_twice,
    the_applicants_index_is_backfilled_and_verified,
    several_commands_commit_together_or_not_at_all,
    a_claim_returns_the_rows_as_stored,
    a_claim_from_a_due_time_leaves_the_rows_due_before_it,
    a_record_and_claim_records_the_outcomes_and_claims_the_next_rows,
    a_claimed_row_is_sending_until_its_outcome_or_its_lease_lapses,
);

async fn replay(db: &TestDb, round: &mops_core::reference::Round2010, upto: usize) {
    let mut partial = round.clone();
    partial.steps.truncate(upto);
    replay_round(&db.db, &partial, &TimerConfig::default(), |_, _, _| {})
        .await
        .unwrap_or_else(|(n, e)| panic!("step {n} ({:?}) failed: {e}", partial.steps[n]));
}

async fn the_2010_round_runs_through_storage_as_in_memory(db: &TestDb) {
    let round = round_2010();
    replay(db, &round, round.steps.len()).await;

    let funnel = db.db.funnel(round.call_id).await.unwrap();
    assert_eq!(funnel.to_string(), "26 → 10 → 9 → 4");
    assert_eq!(funnel.granted_total.to_string(), "1 300 000 kr");

    // Every state equals the one the pure core reaches in memory.
    let memory = mops_core::reference::replay_in_memory(&round, &TimerConfig::default()).unwrap();
    for (id, record) in &memory.ideas {
        let stored = db.db.idea(*id).await.unwrap().expect("the idea is stored");
        assert_eq!(stored.state, record.state);
        assert_eq!(stored.version, record.events.len() as i64);
        let timeline = db.db.idea_events(*id).await.unwrap();
        let recorded: Vec<_> = timeline.iter().map(|e| e.recorded.clone()).collect();
        assert_eq!(recorded, record.events, "the stored timeline is the in-memory one");
        assert!(timeline.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
    }
    assert_eq!(db.db.call(round.call_id).await.unwrap().unwrap().state, memory.call);
    let counts = db.db.stage_counts(round.call_id).await.unwrap();
    assert_eq!(counts, memory.stage_counts());
    assert_eq!(counts.get(Stage::Granted), 4);

    // One outbox row per status mail the core decided.
    assert_eq!(db.db.outbox_unsent().await.unwrap(), memory.outbox.len() as i64);
    let report = db.db.verify().await.unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.ideas, 26);

    // What `mops verify` draws its bar from: one step per call and idea.
    let seen = std::sync::Mutex::new(Vec::new());
    let with_progress = db.db.verify_with(&|checked, total| seen.lock().unwrap().push((checked, total))).await.unwrap();
    assert_eq!(with_progress, report);
    assert_eq!(seen.into_inner().unwrap(), (0..=27).map(|n| (n, 27)).collect::<Vec<_>>());
}

/// Where the 2010 round stands just before the board meeting.
fn before_the_decisions(round: &mops_core::reference::Round2010) -> usize {
    round
        .steps
        .iter()
        .position(|s| matches!(s, Step::Idea { command: IdeaCommand::Grant { .. } | IdeaCommand::Decline { .. }, .. }))
        .expect("the round has decisions")
}

fn a_prepared_idea(round: &mops_core::reference::Round2010) -> IdeaId {
    round.ideas.iter().find(|i| matches!(i.fate, Fate::Granted(_))).unwrap().id
}

fn board_member(round: &mops_core::reference::Round2010) -> Actor {
    let id = round.roles.iter().find(|(_, r)| r.contains(&mops_core::Role::BoardMember)).unwrap().0;
    round.actor(*id)
}

fn grant(amount: i64, registry: &str, meeting: mops_core::domain::MeetingId) -> IdeaCommand {
    IdeaCommand::Grant {
        amount: Sek::from_kronor(amount).unwrap(),
        conditions: None,
        motivation: None,
        registry: RegistryNumber::parse(registry).unwrap(),
        meeting,
    }
}

async fn a_refused_command_writes_nothing(db: &TestDb) {
    let round = round_2010();
    let upto = before_the_decisions(&round);
    replay(db, &round, upto).await;
    let idea = a_prepared_idea(&round);
    let before = db.db.idea(idea).await.unwrap().unwrap();
    let events_before = db.db.idea_events(idea).await.unwrap().len();
    let outbox_before = db.db.outbox_unsent().await.unwrap();

    let board = board_member(&round);
    let at = round.meeting.at;
    let err = db
        .db
        .execute_idea(IdeaRequest {
            call: round.call_id,
            idea,
            command: &grant(2_000_000, "SK 2010/99", round.meeting.id),
            actor: &board,
            now: at,
            expected_version: None,
            idempotency_key: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected(TransitionError::ExceedsRequest { .. })), "{err}");

    assert_eq!(db.db.idea(idea).await.unwrap().unwrap(), before);
    assert_eq!(db.db.idea_events(idea).await.unwrap().len(), events_before);
    assert_eq!(db.db.outbox_unsent().await.unwrap(), outbox_before);
    assert!(db.db.verify().await.unwrap().is_ok());
}

async fn a_stale_version_is_a_conflict(db: &TestDb) {
    let round = round_2010();
    replay(db, &round, before_the_decisions(&round)).await;
    let idea = a_prepared_idea(&round);
    let current = db.db.idea(idea).await.unwrap().unwrap().version;
    let board = board_member(&round);
    let command = grant(350_000, "SK 2010/31", round.meeting.id);
    let req = |expected| IdeaRequest {
        call: round.call_id,
        idea,
        command: &command,
        actor: &board,
        now: round.meeting.at,
        expected_version: Some(expected),
        idempotency_key: None,
    };
    let err = db.db.execute_idea(req(current - 1)).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { expected: Some(e), actual, .. } if e == current - 1 && actual == current)
    );
    assert!(err.is_retryable());
    let done = db.db.execute_idea(req(current)).await.unwrap();
    assert_eq!(done.version, current + 1);
    assert_eq!(done.stage, "granted");
}

async fn an_idempotent_retry_returns_the_first_outcome(db: &TestDb) {
    let round = round_2010();
    replay(db, &round, before_the_decisions(&round)).await;
    let idea = a_prepared_idea(&round);
    let board = board_member(&round);
    let command = grant(350_000, "SK 2010/31", round.meeting.id);
    let req = |command, key| IdeaRequest {
        call: round.call_id,
        idea,
        command,
        actor: &board,
        now: round.meeting.at,
        expected_version: None,
        idempotency_key: Some(key),
    };
    let first = db.db.execute_idea(req(&command, "grant-1")).await.unwrap();
    assert!(!first.replayed);
    let events = db.db.idea_events(idea).await.unwrap().len();
    let outbox = db.db.outbox_unsent().await.unwrap();

    let again = db.db.execute_idea(req(&command, "grant-1")).await.unwrap();
    assert!(again.replayed);
    assert_eq!(
        (again.version, &again.events, again.notifications),
        (first.version, &first.events, first.notifications)
    );
    assert_eq!(db.db.idea_events(idea).await.unwrap().len(), events, "no second transition");
    assert_eq!(db.db.outbox_unsent().await.unwrap(), outbox, "no second mail");

    let other = grant(300_000, "SK 2010/31", round.meeting.id);
    let err = db.db.execute_idea(req(&other, "grant-1")).await.unwrap_err();
    assert!(matches!(err, StoreError::IdempotencyMismatch { .. }), "{err}");
    // Without the key, the same command is a new request, refused by the core.
    let err = db.db.execute_idea(IdeaRequest { idempotency_key: None, ..req(&command, "x") }).await.unwrap_err();
    assert!(matches!(err, StoreError::Rejected(TransitionError::Final { .. })), "{err}");
}

async fn a_registry_number_is_used_once(db: &TestDb) {
    let round = round_2010();
    replay(db, &round, before_the_decisions(&round)).await;
    let board = board_member(&round);
    let granted: Vec<IdeaId> =
        round.ideas.iter().filter(|i| matches!(i.fate, Fate::Granted(_))).map(|i| i.id).collect();
    let run = |idea, registry: &'static str| {
        let command = grant(300_000, registry, round.meeting.id);
        let board = board.clone();
        let db = &db.db;
        async move {
            db.execute_idea(IdeaRequest {
                call: round.call_id,
                idea,
                command: &command,
                actor: &board,
                now: round.meeting.at,
                expected_version: None,
                idempotency_key: None,
            })
            .await
        }
    };
    run(granted[0], "SK 2010/31").await.unwrap();
    let err = run(granted[1], "SK 2010/31").await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateRegistry { ref registry } if registry == "SK 2010/31"), "{err}");
    assert_eq!(db.db.idea(granted[1]).await.unwrap().unwrap().state.stage(), Stage::Prepared);
    assert_eq!(db.db.funnel(round.call_id).await.unwrap().granted_total, Sek::from_kronor(300_000).unwrap());
    assert!(db.db.verify().await.unwrap().is_ok());
}

async fn timers_apply_once(db: &TestDb) {
    let round = round_2010();
    // Up to the first timer run; then run the deadline's timers twice.
    let first_timer = round.steps.iter().position(|s| matches!(s, Step::Timers { .. })).unwrap();
    replay(db, &round, first_timer).await;
    let call = db.db.call(round.call_id).await.unwrap().unwrap();
    let call = call.state.call().unwrap();
    let deadline = call.definition.timeline.plan_deadline;
    let config = TimerConfig::default();

    let reminders = scheduler::run_for_call(&db.db, call, deadline - Duration::days(14), &config).await.unwrap();
    assert!(reminders.applied > 0);
    let again = scheduler::run_for_call(&db.db, call, deadline - Duration::days(14), &config).await.unwrap();
    assert_eq!(again.applied, 0, "a reminder goes out once");

    let lapses = scheduler::run_for_call(&db.db, call, deadline, &config).await.unwrap();
    let waiting = db.db.ideas(round.call_id, Some(Stage::Lapsed)).await.unwrap();
    assert_eq!(lapses.applied, waiting.len());
    assert_eq!(waiting.len(), 6, "the ideas without a plan at that point lapse");
    let again = scheduler::run_due(&db.db, deadline + Duration::hours(1), &config).await.unwrap();
    assert_eq!(again.applied, 0);
    for idea in waiting {
        let events = db.db.idea_events(idea.state.idea().unwrap().id).await.unwrap();
        assert_eq!(events.iter().filter(|e| e.recorded.event.key() == "lapsed").count(), 1);
    }
    assert!(db.db.verify().await.unwrap().is_ok());
}

async fn the_event_log_refuses_update_and_delete(db: &TestDb) {
    let round = round_2010_in(7);
    replay(db, &round, 5).await;
    let (update, delete) = match &db.db {
        mops_service::Db::Sqlite(s) => (
            sqlx::query("UPDATE events SET body = 'x'").execute(s.pool()).await.map(|_| ()),
            sqlx::query("DELETE FROM events").execute(s.pool()).await.map(|_| ()),
        ),
        mops_service::Db::Postgres(s) => (
            sqlx::query("UPDATE events SET body = 'x'").execute(s.pool()).await.map(|_| ()),
            sqlx::query("DELETE FROM events").execute(s.pool()).await.map(|_| ()),
        ),
    };
    for (what, result) in [("UPDATE", update), ("DELETE", delete)] {
        let err = result.expect_err("the database refuses to change the log");
        assert!(err.to_string().contains("append-only"), "{what}: {err}");
    }
    assert!(db.db.verify().await.unwrap().is_ok());
}

async fn migrations_run_twice(db: &TestDb) {
    db.db.migrate().await.unwrap();
    db.db.migrate().await.unwrap();
    assert!(db.db.verify().await.unwrap().is_ok());
}

/// What "my ideas" listed before the index: every call's ideas, scanned.
async fn scanned(db: &TestDb, person: mops_core::domain::PersonId) -> Vec<IdeaId> {
    let mut ids = Vec::new();
    for call in db.db.calls().await.unwrap() {
        for idea in db.db.ideas(call.state.call().unwrap().id, None).await.unwrap() {
            ids.extend(idea.state.idea().filter(|i| i.is_applicant(person)).map(|i| i.id));
        }
    }
    ids
}

async fn indexed(db: &TestDb, person: mops_core::domain::PersonId) -> Vec<IdeaId> {
    db.db.ideas_of_applicant(person).await.unwrap().iter().map(|i| i.state.idea().unwrap().id).collect()
}

/// The index is written with every idea; `verify` notices when it is not;
/// migration 0004's backfill rebuilds it from the stored states (lapsed and
/// withdrawn ideas wrap theirs at other depths).
async fn the_applicants_index_is_backfilled_and_verified(db: &TestDb) {
    let round = round_2010();
    replay(db, &round, round.steps.len()).await;
    let people: Vec<_> = round.people.iter().map(|p| p.id).collect();
    let mut expected = Vec::new();
    for &p in &people {
        let ids = scanned(db, p).await;
        assert_eq!(indexed(db, p).await, ids, "person {p}");
        expected.push(ids);
    }
    assert!(expected.iter().any(|ids| ids.len() > 1), "someone applies with more than one idea");
    assert!(db.db.verify().await.unwrap().is_ok());

    let migration = match &db.db {
        mops_service::Db::Sqlite(_) => include_str!("../../../migrations/sqlite/0004_idea_applicants.sql"),
        mops_service::Db::Postgres(_) => include_str!("../../../migrations/postgres/0004_idea_applicants.sql"),
    };
    let backfill = &migration[migration.find("INSERT INTO idea_applicants").expect("the backfill")..];
    let emptied = "DELETE FROM idea_applicants";
    match &db.db {
        mops_service::Db::Sqlite(s) => sqlx::query(emptied).execute(s.pool()).await.map(|_| ()),
        mops_service::Db::Postgres(s) => sqlx::query(emptied).execute(s.pool()).await.map(|_| ()),
    }
    .unwrap();
    let report = db.db.verify().await.unwrap();
    assert_eq!(report.discrepancies.len(), round.ideas.len(), "{report}");
    assert!(report.discrepancies.iter().all(|d| d.problem.contains("idea_applicants")), "{report}");

    match &db.db {
        mops_service::Db::Sqlite(s) => sqlx::raw_sql(backfill).execute(s.pool()).await.map(|_| ()),
        mops_service::Db::Postgres(s) => sqlx::raw_sql(backfill).execute(s.pool()).await.map(|_| ()),
    }
    .unwrap();
    let report = db.db.verify().await.unwrap();
    assert!(report.is_ok(), "{report}");
    for (&p, ids) in people.iter().zip(&expected) {
        assert_eq!(&indexed(db, p).await, ids, "person {p} after the backfill");
    }
}

/// `execute_ideas`: one transaction for several commands. A refusal or a
/// conflict anywhere writes nothing; the capacity counts the batch's own
/// selections; a retry with the same keys replays every outcome.
async fn several_commands_commit_together_or_not_at_all(db: &TestDb) {
    let round = round_2010_in(9);
    let upto = round
        .steps
        .iter()
        .position(|s| {
            matches!(
                s,
                Step::Call { command: mops_core::CallCommand::Advance { to: mops_core::CallPhase::Selection }, .. }
            )
        })
        .expect("the round reaches its Selection phase");
    replay(db, &round, upto + 1).await;
    let Step::Call { at, .. } = &round.steps[upto] else { unreachable!() };
    let now = *at + Duration::hours(1);
    let member = round
        .roles
        .iter()
        .find(|(_, r)| r.iter().any(|r| matches!(r, mops_core::Role::SectorGroupMember { .. })))
        .unwrap()
        .0;
    let actor = round.actor(*member);
    let select = IdeaCommand::Select { motivation: None };
    let ids: Vec<IdeaId> = round.ideas.iter().map(|i| i.id).collect();
    let mut versions = Vec::new();
    for id in &ids {
        versions.push(db.db.idea(*id).await.unwrap().unwrap().version);
    }
    let keys: Vec<String> = (0..ids.len()).map(|n| format!("batch-{n}")).collect();
    let request = |n: usize, version: i64| IdeaRequest {
        call: round.call_id,
        idea: ids[n],
        command: &select,
        actor: &actor,
        now,
        expected_version: Some(version),
        idempotency_key: Some(&keys[n]),
    };
    let snapshot = || async {
        let mut out = Vec::new();
        for id in &ids {
            out.push(db.db.idea(*id).await.unwrap().unwrap());
        }
        (out, db.db.outbox_unsent().await.unwrap(), db.db.funnel(round.call_id).await.unwrap())
    };
    let before = snapshot().await;

    // The third is stale: nothing of the first two is written.
    let reqs = [request(0, versions[0]), request(1, versions[1]), request(2, versions[2] - 1)];
    let err = db.db.execute_ideas(&reqs).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::InBatch { index: 2, source } if matches!(**source, StoreError::Conflict { .. })),
        "{err}"
    );
    assert!(err.is_retryable());
    assert!(snapshot().await == before, "nothing written");

    // Eleven selections on a capacity of ten: the eleventh is refused,
    // counting the ten before it in the same transaction.
    let reqs: Vec<_> = (0..11).map(|n| request(n, versions[n])).collect();
    let err = db.db.execute_ideas(&reqs).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::InBatch { index: 10, source } if matches!(**source, StoreError::Rejected(TransitionError::SelectionFull { .. }))),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert!(snapshot().await == before, "nothing written");

    // Two that fit: both, with their mails; a retry replays both.
    let reqs = [request(0, versions[0]), request(1, versions[1])];
    let outcomes = db.db.execute_ideas(&reqs).await.unwrap();
    assert_eq!(
        outcomes.iter().map(|o| (o.stream, o.replayed)).collect::<Vec<_>>(),
        [(*ids[0].as_uuid(), false), (*ids[1].as_uuid(), false)]
    );
    assert!(outcomes.iter().all(|o| o.stage == "selected" && o.notifications > 0));
    let after = snapshot().await;
    assert_eq!(after.2.selected, before.2.selected + 2);
    assert!(after.1 > before.1, "mails queued");
    let again = db.db.execute_ideas(&reqs).await.unwrap();
    assert!(again.iter().all(|o| o.replayed));
    assert_eq!(
        again.iter().map(|o| o.version).collect::<Vec<_>>(),
        outcomes.iter().map(|o| o.version).collect::<Vec<_>>()
    );
    assert!(snapshot().await == after, "a replay writes nothing");
    assert!(db.db.verify().await.unwrap().is_ok());
}

/// On SQLite every commit is flushed to the disk before it returns, except
/// the mail worker's claims and records (`SQLITE_BEGIN_OUTBOX`). The one
/// writer connection keeps the last `synchronous` it was given, so each
/// kind of transaction must set its own: a pipeline write after a claim is
/// durable again.
#[tokio::test]
async fn sqlite_commits_are_durable_except_the_mail_workers_bookkeeping() {
    let db = common::sqlite().await;
    let mops_service::store::Db::Sqlite(store) = &db.db else { unreachable!("a SQLite test database") };
    let synchronous = || async {
        sqlx::query_scalar::<_, i64>("PRAGMA synchronous").fetch_one(store.writer()).await.expect("PRAGMA synchronous")
    };
    const NORMAL: i64 = 1;
    const FULL: i64 = 2;
    let now = chrono::Utc::now();
    assert_eq!(synchronous().await, FULL, "a new connection");
    store.claim_outbox(now, std::time::Duration::from_secs(60), 10).await.unwrap();
    assert_eq!(synchronous().await, NORMAL, "after a claim");
    store.requeue_outbox(None, now).await.unwrap();
    assert_eq!(synchronous().await, FULL, "after a person's retry");
    store.record_outbox(&[], now).await.unwrap();
    store.release_outbox(&[uuid::Uuid::new_v4()]).await.unwrap();
    assert_eq!(synchronous().await, NORMAL, "after giving a claimed row back");
    replay(&db, &round_2010(), 3).await;
    assert_eq!(synchronous().await, FULL, "after pipeline commands");
}

/// A claim hands out each row exactly as a read of it afterwards finds it, in the
/// order they fell due, including a row that failed, was retried by a
/// person and carries its last error and the server's reply. (SQLite
/// writes the claimed rows in a format of its store's own.)
async fn a_claim_returns_the_rows_as_stored(db: &TestDb) {
    use mops_service::store::{OutboxStatus, OutboxUpdate};
    let round = round_2010();
    replay(db, &round, 20).await;
    let now = chrono::Utc::now();
    let lease = std::time::Duration::from_secs(60);
    let first = db.db.claim_outbox(now, lease, 3).await.unwrap();
    assert_eq!(first.len(), 3);
    let failed = first[0].id;
    let refusal = "550 5.1.1 No such user".to_owned();
    db.db.record_outbox(&[OutboxUpdate::Failed { id: failed, error: refusal.clone() }], now).await.unwrap();
    db.db.release_outbox(&[first[1].id, first[2].id]).await.unwrap();
    assert_eq!(db.db.requeue_outbox(Some(&[failed]), now).await.unwrap(), 1);

    let unsent = db.db.outbox_unsent().await.unwrap();
    let claimed = db.db.claim_outbox(now, lease, unsent + 10).await.unwrap();
    assert_eq!(claimed.len() as i64, unsent, "every unsent row, once");
    assert!(claimed.windows(2).all(|w| w[0].next_attempt_at <= w[1].next_attempt_at), "in the order they fell due");
    for row in &claimed {
        let stored = db.db.outbox_row(row.id).await.unwrap().expect("the claimed row is stored");
        assert_eq!(*row, stored);
        assert_eq!(row.status, OutboxStatus::Sending);
    }
    let retried = claimed.iter().find(|r| r.id == failed).expect("the retried row is claimed again");
    assert_eq!(retried.last_error.as_deref(), Some(refusal.as_str()));
    assert_eq!(retried.server_reply.as_deref(), Some(refusal.as_str()));
    assert_eq!(retried.attempts, 2);
    assert!(db.db.claim_outbox(now, lease, 10).await.unwrap().is_empty(), "nothing left to claim");
}

/// A claim from a due time (as a draining worker claims after its first
/// batch) takes the claimable rows due from then on, the ones due at that
/// very time included, and leaves those due before it to a claim from the
/// start.
async fn a_claim_from_a_due_time_leaves_the_rows_due_before_it(db: &TestDb) {
    use std::collections::BTreeSet;
    replay(db, &round_2010(), 20).await;
    let now = chrono::Utc::now();
    let lease = std::time::Duration::from_secs(60);
    let unsent = db.db.outbox_unsent().await.unwrap();
    let all = db.db.claim_outbox(now, lease, unsent + 10).await.unwrap();
    db.db.release_outbox(&all.iter().map(|r| r.id).collect::<Vec<_>>()).await.unwrap();
    let from = all[all.len() / 2].next_attempt_at;
    let ids = |rows: &[mops_service::store::OutboxRow]| rows.iter().map(|r| r.id).collect::<BTreeSet<_>>();
    let (before, after): (Vec<_>, Vec<_>) = all.iter().cloned().partition(|r| r.next_attempt_at < from);
    assert!(!before.is_empty() && after.iter().any(|r| r.next_attempt_at == from));

    let claimed = db.db.claim_outbox_from(now, Some(from), lease, unsent + 10).await.unwrap();
    assert_eq!(ids(&claimed), ids(&after));
    assert!(claimed.windows(2).all(|w| w[0].next_attempt_at <= w[1].next_attempt_at), "in the order they fell due");
    assert!(db.db.claim_outbox_from(now, Some(from), lease, unsent + 10).await.unwrap().is_empty());
    let rest = db.db.claim_outbox(now, lease, unsent + 10).await.unwrap();
    assert_eq!(ids(&rest), ids(&before), "the rows due before it wait for a claim from the start");
}

/// Recording with the next claim (as a draining worker does): the outcomes
/// are written as `record_outbox` writes them, and the claim takes the next
/// rows, not the ones just recorded, in the same transaction.
async fn a_record_and_claim_records_the_outcomes_and_claims_the_next_rows(db: &TestDb) {
    use mops_service::store::{OutboxStatus, OutboxUpdate};
    replay(db, &round_2010(), 20).await;
    let now = chrono::Utc::now();
    let lease = std::time::Duration::from_secs(60);
    let unsent = db.db.outbox_unsent().await.unwrap();
    let first = db.db.claim_outbox(now, lease, 3).await.unwrap();
    // In whole seconds: PostgreSQL keeps microseconds.
    let later = chrono::DateTime::from_timestamp(now.timestamp() + 3600, 0).unwrap();
    let updates = [
        OutboxUpdate::Sent { id: first[0].id, reply: "250 2.0.0 queued".into() },
        OutboxUpdate::Retry { id: first[1].id, at: later, error: "451 try later".into() },
        OutboxUpdate::Failed { id: first[2].id, error: "550 no such user".into() },
    ];
    let last = first[2].next_attempt_at;
    let next = db.db.record_and_claim_outbox(&updates, now, now, Some(last), lease, 5).await.unwrap();
    assert_eq!(next.len(), 5.min(unsent as usize - 3));
    assert!(next.iter().all(|r| first.iter().all(|f| f.id != r.id)), "the recorded rows are not claimed again");
    assert!(next.iter().all(|r| r.status == OutboxStatus::Sending && r.attempts == 1));
    let row = |id| async move { db.db.outbox_row(id).await.unwrap().unwrap() };
    let sent = row(first[0].id).await;
    assert_eq!((sent.status, sent.server_reply.as_deref()), (OutboxStatus::Sent, Some("250 2.0.0 queued")));
    let retried = row(first[1].id).await;
    assert_eq!((retried.status, retried.next_attempt_at), (OutboxStatus::Pending, later));
    assert_eq!(row(first[2].id).await.status, OutboxStatus::Failed);
    assert_eq!(db.db.outbox_unsent().await.unwrap(), unsent - 2, "one sent, one failed; the retried one waits");
    // With nothing to record, it is a claim.
    let more = db.db.record_and_claim_outbox(&[], now, now, None, lease, 2).await.unwrap();
    assert_eq!(more.len(), 2);
    assert!(more.iter().all(|r| next.iter().all(|n| n.id != r.id)), "rows in flight are not claimed");
}

/// A claim keeps the stored status and sets a lease; readers see the row as
/// sending. While the lease holds, no other claim takes it and a person's
/// "retry all" leaves it alone (it is being sent); once the lease lapses
/// (its worker died), the next claim takes it. Its outcome ends the lease.
async fn a_claimed_row_is_sending_until_its_outcome_or_its_lease_lapses(db: &TestDb) {
    use mops_service::store::{OutboxStatus, OutboxUpdate};
    let round = round_2010();
    replay(db, &round, 20).await;
    let unsent = db.db.outbox_unsent().await.unwrap();
    assert!(unsent >= 2);
    let now = chrono::Utc::now();
    let lease = std::time::Duration::from_secs(60);
    let claimed = db.db.claim_outbox(now, lease, 2).await.unwrap();
    let ids: Vec<_> = claimed.iter().map(|r| r.id).collect();
    let listed = |status| async move {
        let rows = db.db.outbox(Some(status), 10_000).await.unwrap();
        rows.into_iter().map(|r| r.id).collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(listed(OutboxStatus::Sending).await, ids.iter().copied().collect());
    assert!(listed(OutboxStatus::Pending).await.is_disjoint(&ids.iter().copied().collect()));
    assert_eq!(listed(OutboxStatus::Pending).await.len() as i64, unsent - 2);
    assert_eq!(db.db.outbox_unsent().await.unwrap(), unsent, "claimed rows are still unsent");

    // Retrying everything now moves the waiting rows, not the two in flight.
    assert_eq!(db.db.requeue_outbox(None, now).await.unwrap() as i64, unsent - 2);
    assert_eq!(db.db.requeue_outbox(Some(&ids), now).await.unwrap(), 0);
    let others = db.db.claim_outbox(now, lease, unsent + 10).await.unwrap();
    assert_eq!(others.len() as i64, unsent - 2);
    assert!(others.iter().all(|r| !ids.contains(&r.id)), "no row is claimed twice while its lease holds");
    db.db.release_outbox(&others.iter().map(|r| r.id).collect::<Vec<_>>()).await.unwrap();

    // One is sent; the other's worker dies. After the lease, only the
    // other is claimed again, its second attempt.
    db.db.record_outbox(&[OutboxUpdate::Sent { id: ids[0], reply: "250 OK".into() }], now).await.unwrap();
    assert_eq!(db.db.outbox_row(ids[0]).await.unwrap().unwrap().status, OutboxStatus::Sent);
    assert_eq!(db.db.outbox_row(ids[1]).await.unwrap().unwrap().status, OutboxStatus::Sending);
    let later = now + chrono::Duration::seconds(61);
    let again = db.db.claim_outbox(later, lease, unsent + 10).await.unwrap();
    let lapsed = again.iter().find(|r| r.id == ids[1]).expect("the lapsed row is claimed again");
    assert_eq!(lapsed.attempts, 2);
    assert!(again.iter().all(|r| r.id != ids[0]), "a sent row is never claimed");
    assert_eq!(again.len() as i64, unsent - 1);
}
