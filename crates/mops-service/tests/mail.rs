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
use mops_core::reference::{Step, round_2010_in};
use mops_core::timers::TimerConfig;
use mops_core::{CallCommand, CallPhase};
use mops_service::bench_mail::SmtpSink;
use mops_service::mail::{MailSettings, MailWorker, RetryPolicy, TransportSettings};
use mops_service::replay::replay_round;
use mops_service::store::{Db, OutboxStatus, Store};
use smtp::{Mode, SmtpServer, TestCert};

/// The contact the workers of these tests are configured with (`MOPS_MAIL_REPLY_TO`).
const CONTACT: &str = "karin.lindqvist@sk.example";

fn settings(url: String) -> MailSettings {
    MailSettings {
        transport: TransportSettings::Smtp { url },
        from: "Samhällskontraktet <mops@sk.example>".parse::<Mailbox>().unwrap(),
        retry: RetryPolicy::default(),
        batch: 50,
        lease: Duration::from_secs(300),
        concurrency: 4,
        reply_to: None,
        ca_file: None,
    }
}

fn worker(db: &Db, url: String) -> MailWorker<Db> {
    tls_worker(db, url, None)
}

/// A worker that also trusts the certificates in `ca_file` (`MOPS_SMTP_CA_FILE`).
fn tls_worker(db: &Db, url: String, ca_file: Option<std::path::PathBuf>) -> MailWorker<Db> {
    let reply_to = format!("Karin Lindqvist <{CONTACT}>").parse::<Mailbox>().unwrap();
    MailWorker::new(db.clone(), MailSettings { reply_to: Some(reply_to), ca_file, ..settings(url) }).expect("a worker")
}

/// The 2010 round up to the end of the selection: 84 mails in the outbox
/// (receipts, selections with seminar invitations, and refusals).
async fn selection_done(db: &TestDb) -> i64 {
    queue_selection(db, 0).await;
    let unsent = db.db.outbox_unsent().await.unwrap();
    assert_eq!(unsent, 84);
    unsent
}

/// Replays the 2010 round, its ids in `namespace`, up to the end of the
/// selection: 84 more mails in the outbox.
async fn queue_selection(db: &TestDb, namespace: u32) {
    let mut round = round_2010_in(namespace);
    let upto = round
        .steps
        .iter()
        .position(|s| matches!(s, Step::Call { command: CallCommand::Advance { to: CallPhase::Development }, .. }))
        .unwrap();
    round.steps.truncate(upto);
    replay_round(&db.db, &round, &TimerConfig::default(), |_, _, _| {}).await.unwrap();
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
        let reply_to = parsed.reply_to().and_then(|a| a.first()).and_then(|a| a.address());
        assert_eq!(reply_to, Some(CONTACT), "replies go to the contact the mail names");
        assert!(parsed.subject().is_some_and(|s| !s.is_empty()));
        let text = parsed.body_text(0).expect("a text part");
        let html = parsed.body_html(0).expect("an HTML part");
        assert!(text.contains(row.intent.to.name.as_str()), "the text greets the recipient");
        assert!(html.contains("<html"), "the HTML part is HTML");
        let ask = match row.intent.to.language {
            mops_core::Language::Sv => format!("Har du frågor? Kontakta processledaren på {CONTACT}."),
            mops_core::Language::En => format!("Any questions? Contact the process leader at {CONTACT}."),
        };
        assert!(text.contains(&ask), "the text names the contact:\n{text}");
        assert!(html.contains(&format!("href=\"mailto:{CONTACT}\"")), "the HTML links the contact:\n{html}");
        let calendars: Vec<_> = parsed
            .attachments()
            .filter(|a| a.content_type().is_some_and(|c| c.subtype() == Some("calendar")))
            .collect();
        if row.notice == "seminar_invitation" {
            assert_eq!(calendars.len(), 1, "the invitation carries its calendar");
            let ics = String::from_utf8_lossy(calendars[0].contents()).to_string();
            assert_eq!(ics.matches("BEGIN:VEVENT").count(), 3);
            assert!(ics.contains("DTSTART:20100427T110000Z"), "13:00 Stockholm summer time is 11:00 UTC:\n{ics}");
            // Stamped when the mail was queued, not when the seminar starts.
            let stamp = format!("DTSTAMP:{}\r\n", row.created_at.format("%Y%m%dT%H%M%SZ"));
            assert_eq!(ics.matches(&stamp).count(), 3, "{stamp:?} in every VEVENT:\n{ics}");
            let unfolded = icalendar::parser::unfold(&ics);
            icalendar::parser::read_calendar(&unfolded).unwrap_or_else(|e| panic!("the .ics parses: {e}\n{ics}"));
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

/// Makes every attempt to mark a mail sent fail, as a database refusing
/// writes would: a trigger raises an error.
async fn refuse_to_record_sent_mail(db: &Db) {
    match db {
        Db::Sqlite(s) => sqlx::query(
            "CREATE TRIGGER refuse_sent BEFORE UPDATE OF status ON outbox WHEN NEW.status = 'sent' \
             BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
        )
        .execute(s.pool())
        .await
        .map(drop),
        Db::Postgres(s) => {
            sqlx::query(
                "CREATE FUNCTION refuse_sent() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$",
            )
            .execute(s.pool())
            .await
            .unwrap();
            sqlx::query(
                "CREATE TRIGGER refuse_sent BEFORE UPDATE ON outbox FOR EACH ROW \
                 WHEN (NEW.status = 'sent') EXECUTE FUNCTION refuse_sent()",
            )
            .execute(s.pool())
            .await
            .map(drop)
        }
    }
    .expect("the fault is in place");
}

async fn allow_recording_sent_mail(db: &Db) {
    match db {
        Db::Sqlite(s) => sqlx::query("DROP TRIGGER refuse_sent").execute(s.pool()).await.map(drop),
        Db::Postgres(s) => sqlx::query("DROP TRIGGER refuse_sent ON outbox").execute(s.pool()).await.map(drop),
    }
    .expect("the fault is gone");
}

async fn a_drain_stopped_by_an_error_gives_back_what_it_claimed_ahead(db: &TestDb) {
    let queued = selection_done(db).await as usize;
    // A server that takes its time (it delays its ACKs, about 40 ms a
    // mail), so the drain has claimed and built more than it has sent when
    // recording fails.
    let server = SmtpSink::start_with(false).await.unwrap();
    let mut s = settings(server.url());
    s.batch = 10;
    s.concurrency = 2;
    let w = MailWorker::new(db.db.clone(), s).unwrap();
    refuse_to_record_sent_mail(&db.db).await;
    let now = Utc::now();
    let error = w.drain(now).await.expect_err("the drain stops when it cannot record");
    assert!(error.to_string().contains("injected fault"), "{error}");
    // What was sent could not be recorded: it stays leased.
    let sent = server.received();
    assert!(sent > 0);
    assert_eq!(status_count(&db.db, OutboxStatus::Sending).await, sent);
    assert_eq!(status_count(&db.db, OutboxStatus::Sent).await, 0);
    // What was claimed ahead and never sent is due again at once, its
    // attempt not counted.
    let pending = db.db.outbox(Some(OutboxStatus::Pending), 10_000).await.unwrap();
    assert_eq!(pending.len(), queued - sent);
    assert!(sent < 20, "the drain stopped soon after the first failure, not after {sent} mails");
    assert!(pending.iter().all(|r| r.attempts == 0), "released rows look never tried");

    allow_recording_sent_mail(&db.db).await;
    let report = w.drain(now).await.unwrap();
    assert_eq!(report.sent, queued - sent, "the released rows go out without waiting for a lease");
    // The unrecorded mails are the at-least-once window: sent again once
    // their lease lapses, under the same Message-IDs.
    let report = w.drain(now + chrono::Duration::minutes(6)).await.unwrap();
    assert_eq!(report.sent, sent);
    let counts = server.take();
    assert_eq!(counts.received, queued + sent);
    assert_eq!(counts.distinct, queued, "a re-sent mail keeps its Message-ID");
    assert_eq!(counts.duplicates, sent);
    assert_eq!(db.db.outbox_unsent().await.unwrap(), 0);
}

/// The outbox row a received message came from, by its Message-ID
/// (`<row@domain>`).
fn row_of(received: &smtp::Received) -> uuid::Uuid {
    let id = received.parsed().message_id().expect("a Message-ID").to_owned();
    let row = id.split('@').next().unwrap_or_default();
    row.parse().unwrap_or_else(|_| panic!("a Message-ID made from an outbox row: {id}"))
}

/// A real service process (`mops serve`) is killed (SIGKILL) while it drains
/// the outbox into a server that answers slowly: some mails are sent and
/// recorded, some are with the server but not answered yet. A worker started
/// afterwards sends, once the dead one's leases lapse, every mail not
/// recorded as sent: none is lost, and the ones the server gets twice are
/// exactly those it had but the dead service never heard back about, under
/// the same Message-ID (the at-least-once window).
async fn a_service_killed_mid_drain_loses_nothing(db: &TestDb) {
    selection_done(db).await;
    let server = SmtpServer::start();
    server.set_mode(Mode::Slow(Duration::from_millis(300)));
    let mut service = start_service(db, &server, "mops@one.example");
    // Killed as the tenth mail reaches the server: it and those beside it
    // wait for their answer.
    let started = std::time::Instant::now();
    while server.received().len() < 10 {
        assert!(started.elapsed() < Duration::from_secs(60), "the service sent no mail");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    service.kill().expect("the service is killed");
    service.wait().unwrap();
    // What had fully arrived when the connections dropped is in by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before: BTreeSet<uuid::Uuid> = server.received().iter().map(row_of).collect();
    assert_eq!(before.len(), server.received().len(), "the service sent no mail twice");
    // Every row queued, with any the service's timers added before it died.
    let queued = db.db.outbox(None, 10_000).await.unwrap().len();
    assert!(before.len() < queued, "killed mid-drain: {} of {queued} sent", before.len());
    let recorded: BTreeSet<uuid::Uuid> =
        db.db.outbox(Some(OutboxStatus::Sent), 10_000).await.unwrap().iter().map(|r| r.id).collect();
    assert!(recorded.is_subset(&before), "a row recorded as sent that the server never got");
    assert!(recorded.len() < before.len(), "the kill caught mails the server had but had not answered");

    server.set_mode(Mode::Accept);
    let report = worker(&db.db, server.url()).drain(Utc::now() + chrono::Duration::minutes(6)).await.unwrap();
    assert_eq!(report.sent, queued - recorded.len(), "every row not recorded is sent once more");
    assert_eq!(db.db.outbox_unsent().await.unwrap(), 0);
    let mut rows = BTreeSet::new();
    let twice: BTreeSet<uuid::Uuid> = server.received().iter().map(row_of).filter(|row| !rows.insert(*row)).collect();
    assert_eq!(rows.len(), queued, "every mail arrived");
    let window: BTreeSet<uuid::Uuid> = before.difference(&recorded).copied().collect();
    assert_eq!(twice, window, "sent twice: only the unanswered");
}

/// `mops serve` on `db`, sending to `smtp` from `from`; returns once it
/// listens. Its timers run once at its start and then not for an hour, so
/// they leave a test's outbox alone.
fn start_service(db: &TestDb, smtp: &SmtpServer, from: &str) -> std::process::Child {
    use std::io::BufRead;
    let mut service = std::process::Command::new(env!("CARGO_BIN_EXE_mops"))
        .arg("serve")
        .env("MOPS_DATABASE_URL", db.url())
        .env("MOPS_BIND", "127.0.0.1:0")
        .env("MOPS_SMTP_URL", smtp.url())
        .env("MOPS_MAIL_FROM", from)
        .env("MOPS_MAIL_INTERVAL_SECS", "1")
        .env("MOPS_TIMER_INTERVAL_SECS", "3600")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("mops serve starts");
    let stdout = service.stdout.take().expect("the service's output");
    let mut lines = std::io::BufReader::new(stdout).lines();
    loop {
        let line = lines.next().expect("serve prints where it listens").expect("a line of output");
        if line.contains("http://") {
            break;
        }
    }
    // The rest of its output is read and dropped, so it never blocks.
    std::thread::spawn(move || lines.for_each(drop));
    service
}

/// Two service processes on one database drain one outbox at once: each
/// sends some of the mails, and no mail goes out twice. Each sends from its
/// own domain, so the Message-IDs tell who sent what.
async fn two_services_never_send_a_row_twice(db: &TestDb) {
    let server = SmtpServer::start();
    // A drain holds two batches (100 mails) at a time. Slow enough that the
    // first service to look is still on its first batch when the other looks
    // (each looks every second), and more mail than two batches.
    server.set_mode(Mode::Slow(Duration::from_millis(300)));
    let mut services = [start_service(db, &server, "mops@one.example"), start_service(db, &server, "mops@two.example")];
    queue_selection(db, 0).await;
    queue_selection(db, 1).await;
    let queued = db.db.outbox(None, 10_000).await.unwrap().len();
    assert_eq!(queued, 2 * 84);
    let started = std::time::Instant::now();
    while db.db.outbox_unsent().await.unwrap() > 0 || server.received().len() < queued {
        assert!(started.elapsed() < Duration::from_secs(60), "the services did not send the mail");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for service in &mut services {
        service.kill().unwrap();
        service.wait().unwrap();
    }
    let received = server.received();
    let rows: BTreeSet<uuid::Uuid> = received.iter().map(row_of).collect();
    assert_eq!(rows.len(), queued, "every mail arrived");
    assert_eq!(received.len(), queued, "no mail was sent twice");
    let by = |domain: &str| {
        received.iter().filter(|r| r.parsed().message_id().is_some_and(|id| id.ends_with(domain))).count()
    };
    let (one, two) = (by("@one.example"), by("@two.example"));
    assert_eq!(one + two, queued);
    assert!(one > 0 && two > 0, "both services sent mail: {one} and {two}");
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
    a_service_killed_mid_drain_loses_nothing,
    two_workers_never_send_a_row_twice,
    two_services_never_send_a_row_twice,
    a_drain_stopped_by_an_error_gives_back_what_it_claimed_ahead,
);

// TLS. The transport does not depend on the database, so these run on SQLite only.

/// `html` with each decimal character reference (`&#228;`) replaced by its
/// character, as a mail client shows it.
fn decimal_references_decoded(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(at) = rest.find("&#") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        match (after[digits..].starts_with(';'), after[..digits].parse::<u32>().ok().and_then(char::from_u32)) {
            (true, Some(c)) if digits > 0 => {
                out.push(c);
                rest = &after[digits + 1..];
            }
            _ => {
                out.push_str("&#");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every queued mail arrived once, exactly as the worker renders it.
async fn assert_arrived_intact(db: &Db, w: &MailWorker<Db>, server: &SmtpServer, queued: i64) {
    let received = server.received();
    assert_eq!(received.len() as i64, queued);
    let lines = |s: &str| s.replace("\r\n", "\n").trim_end().to_owned();
    for row in db.outbox(Some(OutboxStatus::Sent), 1000).await.unwrap() {
        let id = format!("{}@sk.example", row.id);
        let mail = received
            .iter()
            .find(|r| r.parsed().message_id() == Some(id.as_str()))
            .unwrap_or_else(|| panic!("no mail with Message-ID <{id}>"));
        let expected = w.render_row(&row).await.unwrap();
        let parsed = mail.parsed();
        assert_eq!(mail.to, vec![row.recipient_email.clone()]);
        assert_eq!(parsed.subject(), Some(expected.subject.as_str()));
        assert_eq!(lines(&parsed.body_text(0).unwrap()), lines(&expected.text));
        // The HTML part goes as ASCII, each other character a reference:
        // read back, it is what was rendered.
        let html = parsed.body_html(0).unwrap();
        assert!(html.is_ascii(), "{html}");
        assert_eq!(lines(&decimal_references_decoded(&html)), lines(&expected.html));
        let ics = parsed
            .attachments()
            .find(|a| a.content_type().is_some_and(|c| c.subtype() == Some("calendar")))
            .map(|a| String::from_utf8_lossy(a.contents()).to_string());
        assert_eq!(ics, expected.ics);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_delivers_to_a_server_the_ca_file_trusts() {
    let db = common::sqlite().await;
    let queued = selection_done(&db).await;
    let cert = TestCert::new();
    let server = SmtpServer::start_implicit_tls(&cert);
    let w = tls_worker(&db.db, format!("smtps://127.0.0.1:{}", server.port), Some(cert.cert_path()));
    let report = w.drain(Utc::now()).await.unwrap();
    assert_eq!((report.sent as i64, report.retried, report.failed), (queued, 0, 0));
    assert_arrived_intact(&db.db, &w, &server, queued).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_delivers_to_a_server_the_ca_file_trusts() {
    let db = common::sqlite().await;
    let queued = selection_done(&db).await;
    let cert = TestCert::new();
    let server = SmtpServer::start_starttls(&cert);
    // `tls=starttls` makes STARTTLS required: lettre sends nothing unless the
    // upgrade succeeds.
    let w = tls_worker(&db.db, format!("smtp://127.0.0.1:{}?tls=starttls", server.port), Some(cert.cert_path()));
    let report = w.drain(Utc::now()).await.unwrap();
    assert_eq!((report.sent as i64, report.retried, report.failed), (queued, 0, 0));
    assert_arrived_intact(&db.db, &w, &server, queued).await;
}

/// A server whose certificate the worker does not trust gets nothing; the
/// rows wait (transient) with an error that says what is wrong.
async fn an_untrusted_certificate_is_retried_and_explained(url: impl Fn(u16) -> String, server: SmtpServer) {
    let db = common::sqlite().await;
    let queued = selection_done(&db).await;
    // The worker trusts a different self-signed certificate.
    let other = TestCert::new();
    let w = tls_worker(&db.db, url(server.port), Some(other.cert_path()));
    let now = Utc::now();
    let report = w.drain(now).await.unwrap();
    assert_eq!((report.sent, report.retried as i64, report.failed), (0, queued, 0));
    assert!(server.received().is_empty());
    let rows = db.db.outbox(Some(OutboxStatus::Pending), 1000).await.unwrap();
    assert_eq!(rows.len() as i64, queued);
    for row in &rows {
        assert_eq!(row.attempts, 1);
        let error = row.last_error.as_deref().unwrap_or_default();
        assert!(error.contains("TLS certificate is not trusted") && error.contains("MOPS_SMTP_CA_FILE"), "{error}");
    }
    // Without the extra roots (the built-in ones only) it is no better.
    let w = tls_worker(&db.db, url(server.port), None);
    let report = w.drain(now + chrono::Duration::minutes(6)).await.unwrap();
    assert_eq!((report.sent, report.retried as i64), (0, queued));
    assert!(server.received().is_empty());
    let row = &db.db.outbox(Some(OutboxStatus::Pending), 1).await.unwrap()[0];
    assert_eq!(row.attempts, 2);
    let error = row.last_error.as_deref().unwrap_or_default();
    assert!(error.contains("TLS certificate is not trusted") && error.contains("UnknownIssuer"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_to_an_untrusted_certificate_is_retried_and_explained() {
    let server = SmtpServer::start_implicit_tls(&TestCert::new());
    an_untrusted_certificate_is_retried_and_explained(|port| format!("smtps://127.0.0.1:{port}"), server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_to_an_untrusted_certificate_is_retried_and_explained() {
    let cert = TestCert::new();
    let server = SmtpServer::start_starttls(&cert);
    an_untrusted_certificate_is_retried_and_explained(|port| format!("smtp://127.0.0.1:{port}?tls=starttls"), server)
        .await;
}
