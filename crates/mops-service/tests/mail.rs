//! Status mails over SMTP, through lettre, to a real SMTP server on
//! loopback: delivery, faults and retries, on SQLite and PostgreSQL.

mod common;
mod smtp;

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use common::TestDb;
use lettre::message::Mailbox;
use mail_parser::MimeHeaders;
use mops_core::reference::{Step, round_2010};
use mops_core::timers::TimerConfig;
use mops_core::{CallCommand, CallPhase};
use mops_service::mail::{MailSettings, MailWorker, RetryPolicy, TransportSettings};
use mops_service::replay::replay_round;
use mops_service::store::{Db, OutboxStatus, Store};
use smtp::{Mode, SmtpServer};

fn settings(url: String) -> MailSettings {
    MailSettings {
        transport: TransportSettings::Smtp { url },
        from: "Samhällskontraktet <mops@sk.example>".parse::<Mailbox>().unwrap(),
        retry: RetryPolicy::default(),
        batch: 50,
        lease: Duration::from_secs(300),
        concurrency: 4,
    }
}

fn worker(db: &Db, url: String) -> MailWorker<Db> {
    MailWorker::new(db.clone(), settings(url)).expect("a worker")
}

/// The 2010 round up to the end of the selection: 84 mails in the outbox
/// (receipts, selections with seminar invitations, and refusals).
async fn selection_done(db: &TestDb) -> i64 {
    let mut round = round_2010();
    let upto = round
        .steps
        .iter()
        .position(|s| matches!(s, Step::Call { command: CallCommand::Advance { to: CallPhase::Development }, .. }))
        .unwrap();
    round.steps.truncate(upto);
    replay_round(&db.db, &round, &TimerConfig::default(), |_, _, _| {}).await.unwrap();
    let unsent = db.db.outbox_unsent().await.unwrap();
    assert_eq!(unsent, 84);
    unsent
}

async fn status_count(db: &Db, status: OutboxStatus) -> usize {
    db.outbox(Some(status), 10_000).await.unwrap().len()
}

async fn every_mail_arrives_with_its_message_id_and_both_parts(db: &TestDb) {
    let queued = selection_done(db).await;
    let server = SmtpServer::start();
    let report = worker(&db.db, server.url()).drain(Utc::now()).await.unwrap();
    assert_eq!(report.sent as i64, queued);
    assert_eq!(db.db.outbox_unsent().await.unwrap(), 0);

    let received = server.received();
    assert_eq!(received.len() as i64, queued);
    let sent = db.db.outbox(Some(OutboxStatus::Sent), 1000).await.unwrap();
    for row in &sent {
        assert!(row.sent_at.is_some());
        assert!(row.server_reply.as_deref().unwrap_or_default().starts_with("250"), "{:?}", row.server_reply);
    }
    // Each row's mail: to its recipient, with a Message-ID derived from the row.
    for row in &sent {
        let id = format!("{}@sk.example", row.id);
        let mail = received
            .iter()
            .find(|r| r.parsed().message_id() == Some(id.as_str()))
            .unwrap_or_else(|| panic!("no mail with Message-ID <{id}>"));
        assert_eq!(mail.to, vec![row.recipient_email.clone()]);
        let parsed = mail.parsed();
        assert!(parsed.subject().is_some_and(|s| !s.is_empty()));
        let text = parsed.body_text(0).expect("a text part");
        let html = parsed.body_html(0).expect("an HTML part");
        assert!(text.contains(row.intent.to.name.as_str()), "the text greets the recipient");
        assert!(html.contains("<html"), "the HTML part is HTML");
        let calendars: Vec<_> = parsed
            .attachments()
            .filter(|a| a.content_type().is_some_and(|c| c.subtype() == Some("calendar")))
            .collect();
        if row.notice == "seminar_invitation" {
            assert_eq!(calendars.len(), 1, "the invitation carries its calendar");
            let ics = String::from_utf8_lossy(calendars[0].contents()).to_string();
            assert_eq!(ics.matches("BEGIN:VEVENT").count(), 3);
            assert!(ics.contains("DTSTART:20100427T110000Z"), "13:00 Stockholm summer time is 11:00 UTC:\n{ics}");
        } else {
            assert!(calendars.is_empty());
        }
    }
    // The English reader gets English.
    let english = sent.iter().find(|r| r.intent.to.language == mops_core::Language::En).unwrap();
    let mail = received.iter().find(|r| r.to == vec![english.recipient_email.clone()]).unwrap();
    assert!(mail.parsed().body_text(0).unwrap().contains("Kind regards"));
}

async fn a_server_that_is_down_gets_the_mail_when_it_returns(db: &TestDb) {
    let queued = selection_done(db).await;
    let port = SmtpServer::unused_port();
    let w = worker(&db.db, format!("smtp://127.0.0.1:{port}"));
    let now = Utc::now();
    let report = w.run_once(now).await.unwrap();
    assert_eq!((report.sent, report.failed), (0, 0));
    assert_eq!(report.retried, 50, "a refused connection is transient");
    // Retried rows wait five minutes; nothing is due meanwhile.
    let rest = w.drain(now).await.unwrap();
    assert_eq!(rest.retried as i64, queued - 50);
    assert_eq!(w.drain(now + chrono::Duration::minutes(4)).await.unwrap().handled(), 0);
    let row = &db.db.outbox(Some(OutboxStatus::Pending), 1).await.unwrap()[0];
    assert_eq!(row.attempts, 1);
    assert!(row.last_error.is_some());

    let server = SmtpServer::start_at(port);
    let report = w.drain(now + chrono::Duration::minutes(6)).await.unwrap();
    assert_eq!(report.sent as i64, queued);
    assert_eq!(server.received().len() as i64, queued);
    assert_eq!(db.db.outbox_unsent().await.unwrap(), 0);
}

async fn a_451_is_retried_with_backoff(db: &TestDb) {
    let queued = selection_done(db).await;
    let server = SmtpServer::start();
    server.set_mode(Mode::TryLater);
    let w = worker(&db.db, server.url());
    let now = Utc::now();
    let report = w.drain(now).await.unwrap();
    assert_eq!(report.retried as i64, queued);
    let rows = db.db.outbox(Some(OutboxStatus::Pending), 1000).await.unwrap();
    assert!(rows.iter().all(|r| r.last_error.as_deref().unwrap_or_default().contains("451")));
    // PostgreSQL keeps microseconds; `now` has nanoseconds.
    let about = |d: chrono::Duration| now + d - chrono::Duration::milliseconds(1);
    assert!(rows.iter().all(|r| r.next_attempt_at >= about(chrono::Duration::minutes(5))));
    // The second failure waits twice as long.
    let report = w.drain(now + chrono::Duration::minutes(5)).await.unwrap();
    assert_eq!(report.retried as i64, queued);
    let rows = db.db.outbox(Some(OutboxStatus::Pending), 1000).await.unwrap();
    assert!(rows.iter().all(|r| r.attempts == 2 && r.next_attempt_at >= about(chrono::Duration::minutes(15))));

    server.set_mode(Mode::Accept);
    let report = w.drain(now + chrono::Duration::minutes(16)).await.unwrap();
    assert_eq!(report.sent as i64, queued);
    assert_eq!(server.received().len() as i64, queued);
}

async fn a_550_fails_for_good_until_a_person_retries(db: &TestDb) {
    let queued = selection_done(db).await;
    let server = SmtpServer::start();
    server.set_mode(Mode::Refuse);
    let w = worker(&db.db, server.url());
    let now = Utc::now();
    let report = w.drain(now).await.unwrap();
    assert_eq!(report.failed as i64, queued);
    assert_eq!(status_count(&db.db, OutboxStatus::Failed).await as i64, queued);
    let failed = db.db.outbox(Some(OutboxStatus::Failed), 1).await.unwrap();
    assert!(failed[0].last_error.as_deref().unwrap_or_default().contains("550"));
    // Not retried, however long we wait.
    assert_eq!(w.drain(now + chrono::Duration::days(6)).await.unwrap().handled(), 0);

    server.set_mode(Mode::Accept);
    let requeued = db.db.requeue_outbox(Some(&[failed[0].id]), now).await.unwrap();
    assert_eq!(requeued, 1);
    let report = w.drain(now).await.unwrap();
    assert_eq!(report.sent, 1);
    assert_eq!(db.db.outbox_row(failed[0].id).await.unwrap().unwrap().status, OutboxStatus::Sent);
    // A sent mail is never requeued.
    assert_eq!(db.db.requeue_outbox(Some(&[failed[0].id]), now).await.unwrap(), 0);
    assert_eq!(db.db.requeue_outbox(None, now).await.unwrap() as i64, queued - 1);
}

async fn a_transient_failure_gives_up_after_five_days(db: &TestDb) {
    selection_done(db).await;
    let server = SmtpServer::start();
    server.set_mode(Mode::TryLater);
    let w = worker(&db.db, server.url());
    let report = w.drain(Utc::now() + chrono::Duration::days(5) + chrono::Duration::minutes(1)).await.unwrap();
    assert_eq!(report.retried, 0);
    assert_eq!(report.failed, 84);
    let row = &db.db.outbox(Some(OutboxStatus::Failed), 1).await.unwrap()[0];
    assert!(row.last_error.as_deref().unwrap_or_default().starts_with("gave up"), "{:?}", row.last_error);
}

async fn a_worker_killed_mid_batch_loses_nothing(db: &TestDb) {
    let queued = selection_done(db).await;
    let now = Utc::now();
    // A worker claims a batch and dies before sending or recording anything.
    let claimed = db.db.claim_outbox(now, Duration::from_secs(300), 50).await.unwrap();
    assert_eq!(claimed.len(), 50);
    let server = SmtpServer::start();
    let w = worker(&db.db, server.url());
    // While the dead worker's lease holds, its rows are left alone...
    let report = w.drain(now).await.unwrap();
    assert_eq!(report.sent as i64, queued - 50);
    // ...and once it lapses, they are sent.
    let report = w.drain(now + chrono::Duration::minutes(6)).await.unwrap();
    assert_eq!(report.sent, 50);
    let ids: BTreeSet<String> =
        server.received().iter().map(|r| r.parsed().message_id().unwrap_or_default().to_owned()).collect();
    assert_eq!(ids.len() as i64, queued, "every mail once");
    assert_eq!(db.db.outbox_unsent().await.unwrap(), 0);
}

async fn two_workers_never_send_a_row_twice(db: &TestDb) {
    let queued = selection_done(db).await;
    let server = SmtpServer::start();
    let (one, two) = (db.another_store(4).await, db.another_store(4).await);
    let mut s = settings(server.url());
    s.batch = 10;
    let (w1, w2) = (MailWorker::new(one, s.clone()).unwrap(), MailWorker::new(two, s).unwrap());
    let now = Utc::now();
    let (a, b) = tokio::join!(w1.drain(now), w2.drain(now));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.sent + b.sent) as i64, queued, "{a:?} {b:?}");
    let received = server.received();
    let ids: BTreeSet<String> =
        received.iter().map(|r| r.parsed().message_id().unwrap_or_default().to_owned()).collect();
    assert_eq!(received.len() as i64, queued, "no mail sent twice");
    assert_eq!(ids.len() as i64, queued);
}

on_both_backends!(
    every_mail_arrives_with_its_message_id_and_both_parts,
    a_server_that_is_down_gets_the_mail_when_it_returns,
    a_451_is_retried_with_backoff,
    a_550_fails_for_good_until_a_person_retries,
    a_transient_failure_gives_up_after_five_days,
    a_worker_killed_mid_batch_loses_nothing,
    two_workers_never_send_a_row_twice,
);
