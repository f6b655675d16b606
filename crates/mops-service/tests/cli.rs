//! The `mops` command line: help, `migrate`, `verify` on a sound and on a
//! tampered database, the exit statuses (0 ok, 1 discrepancies, 2 usage,
//! 3 cannot run), and `--as EMAIL`, the process leader proving who they are.

mod common;

use std::process::{Command, Output};

use common::TestDb;
use mops_core::call::CallEvent;
use mops_core::domain::{CallId, Email, IdeaId, Language, PersonId, PersonName};
use mops_core::reference::{Fate, Round2010, round_2010};
use mops_core::timers::TimerConfig;
use mops_core::{ActorRef, IdeaEvent, Recorded, Role};
use mops_service::Db;
use mops_service::people::{ChangedBy, NewUser, Password, PeopleStore};
use mops_service::replay::replay_round;
use mops_service::report::call_file::{self, CallFileFormat};
use mops_service::store::Store;

/// Runs `mops` with `args`, ignoring any `MOPS_DATABASE_URL` of the caller.
fn mops(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mops"))
        .args(args)
        .env_remove("MOPS_DATABASE_URL")
        .env("MOPS_LOG", "warn")
        .output()
        .expect("run mops")
}

async fn mops_async(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || mops(&args.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .expect("mops runs")
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `mops verify` (text and JSON) against `db`: the exit status, the text
/// report and the JSON report.
async fn verify(db: &TestDb) -> (Option<i32>, String, serde_json::Value) {
    let url = db.url();
    let out = mops_async(&["verify", "--database-url", &url]).await;
    let (stdout, stderr) = text(&out);
    let json_out = mops_async(&["verify", "--json", "--database-url", &url]).await;
    let (json_stdout, json_stderr) = text(&json_out);
    assert_eq!(out.status.code(), json_out.status.code(), "text and JSON verify disagree:\n{stdout}\n{json_stdout}");
    assert!(matches!(out.status.code(), Some(0 | 1)), "verify could not run: {stdout}\n{stderr}\n{json_stderr}");
    let report = serde_json::from_str(&json_stdout)
        .unwrap_or_else(|e| panic!("`mops verify --json` printed no JSON ({e}):\n{json_stdout}\n{json_stderr}"));
    (out.status.code(), stdout, report)
}

/// The 2010 round, replayed through the library into `db`.
async fn populate(db: &TestDb) -> Round2010 {
    let round = round_2010();
    replay_round(&db.db, &round, &TimerConfig::default(), |_, _, _| {})
        .await
        .unwrap_or_else(|(n, e)| panic!("step {n} of the 2010 round failed: {e}"));
    round
}

/// The first granted idea of the round, its amount in öre, and the id of
/// its `granted` event.
async fn a_grant(db: &TestDb, round: &Round2010) -> (IdeaId, i64, i64) {
    let idea = round.ideas.iter().find(|i| matches!(i.fate, Fate::Granted(_))).expect("a granted idea");
    let events = db.db.idea_events(idea.id).await.expect("read the timeline");
    let (event, amount) = events
        .iter()
        .find_map(|e| match &e.recorded.event {
            IdeaEvent::Granted { amount, .. } => Some((e.id, amount.ore())),
            _ => None,
        })
        .expect("a granted event");
    (idea.id, amount, event)
}

/// Runs one statement on whichever backend `db` is; the rows it changed or
/// the database's error.
macro_rules! execute {
    ($db:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        match &$db.db {
            Db::Sqlite(s) => sqlx::query($sql)$(.bind($bind))*.execute(s.pool()).await.map(|r| r.rows_affected()),
            Db::Postgres(s) => sqlx::query($sql)$(.bind($bind))*.execute(s.pool()).await.map(|r| r.rows_affected()),
        }
    };
}

async fn event_body(db: &TestDb, event: i64) -> String {
    let sql = "SELECT body FROM events WHERE id = $1";
    match &db.db {
        Db::Sqlite(s) => sqlx::query_scalar(sql).bind(event).fetch_one(s.pool()).await,
        Db::Postgres(s) => sqlx::query_scalar(sql).bind(event).fetch_one(s.pool()).await,
    }
    .expect("read an event body")
}

/// Edits an event behind the service's back: on SQLite by dropping the
/// trigger that refuses it, on PostgreSQL as a superuser with triggers off
/// for the transaction.
async fn tamper_with_event(db: &TestDb, event: i64, body: &str) {
    let update = "UPDATE events SET body = $1 WHERE id = $2";
    let changed = match &db.db {
        Db::Sqlite(s) => {
            let mut conn = s.pool().acquire().await.expect("a connection");
            sqlx::query("DROP TRIGGER events_are_append_only_update").execute(&mut *conn).await.expect("drop trigger");
            sqlx::query(update)
                .bind(body)
                .bind(event)
                .execute(&mut *conn)
                .await
                .expect("edit the event")
                .rows_affected()
        }
        Db::Postgres(s) => {
            let mut tx = s.pool().begin().await.expect("a transaction");
            sqlx::query("SET LOCAL session_replication_role = replica")
                .execute(&mut *tx)
                .await
                .expect("switch triggers off (needs a superuser)");
            let n = sqlx::query(update)
                .bind(body)
                .bind(event)
                .execute(&mut *tx)
                .await
                .expect("edit the event")
                .rows_affected();
            tx.commit().await.expect("commit the edit");
            n
        }
    };
    assert_eq!(changed, 1, "event {event} was not edited");
}

#[test]
fn help_describes_the_command_and_its_exit_statuses() {
    let out = mops(&["--help"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // Help is wrapped to the terminal's width: compare with single spaces.
    let stdout = stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "Usage: mops",
        "migrate",
        "verify",
        "Exit status",
        "0 when all went well",
        "1 when `verify` found discrepancies",
        "2 for a usage error",
        "3 when the command could not run",
        "MOPS_DATABASE_URL",
        "--database-url",
    ] {
        assert!(stdout.contains(needle), "`mops --help` does not mention {needle:?}:\n{stdout}");
    }
    assert!(!stdout.contains("crash-child"), "the crash test's child is not for users:\n{stdout}");

    for args in [&["verify", "--help"][..], &["help", "verify"][..]] {
        let out = mops(args);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "mops {args:?}: {stdout}\n{stderr}");
        for needle in
            ["Usage: mops verify", "Rebuild every call and idea from its events", "--json", "MOPS_DATABASE_URL"]
        {
            assert!(stdout.contains(needle), "`mops {args:?}` does not mention {needle:?}:\n{stdout}");
        }
    }

    let out = mops(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).0.starts_with("mops "), "{:?}", text(&out));
}

#[test]
fn a_usage_error_is_exit_status_2() {
    for args in [&["frobnicate"][..], &[][..], &["verify", "--no-such-flag"][..]] {
        let out = mops(args);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "mops {args:?}: {stdout}\n{stderr}");
        assert!(stderr.contains("Usage: mops"), "mops {args:?}: {stderr}");
    }
}

#[test]
fn migrate_creates_a_new_sqlite_database_and_may_run_again() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = dir.path().join("new.db");
    let url = format!("sqlite://{}", file.display());
    assert!(!file.exists());
    for run in 1..=2 {
        let out = mops(&["migrate", "--database-url", &url]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "run {run}: {stdout}\n{stderr}");
        assert!(stdout.contains("SQLite") && stdout.contains("is migrated"), "run {run}: {stdout}");
        assert!(stdout.contains(&file.display().to_string()), "run {run} does not name the file: {stdout}");
        assert!(file.is_file(), "run {run}: {} was not created", file.display());
    }

    // The URL may also come from the environment; an empty database verifies.
    let out = Command::new(env!("CARGO_BIN_EXE_mops"))
        .arg("verify")
        .env("MOPS_DATABASE_URL", &url)
        .env("MOPS_LOG", "warn")
        .output()
        .expect("run mops");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("Checked 0 calls, 0 ideas, 0 events and 0 outbox rows."), "{stdout}");
    assert!(stdout.contains("Everything matches"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_uses_the_schema_the_postgres_url_names() {
    // The URL's `options=-c search_path=…` must reach the server: `verify`
    // then sees the test schema's round, not whatever `public` holds.
    let db = common::postgres().await;
    let out = mops_async(&["migrate", "--database-url", &db.url()]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("PostgreSQL") && stdout.contains("is migrated"), "{stdout}");
    populate(&db).await;
    let (code, stdout, report) = verify(&db).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!((report["calls"].as_u64(), report["ideas"].as_u64()), (Some(1), Some(26)), "{report:#}");
}

/// The events table refuses UPDATE and DELETE; an event edited anyway
/// (behind the service's back) is named by `verify`, which then exits 1.
async fn an_edited_event_is_found(db: &TestDb) {
    let round = populate(db).await;
    let (code, stdout, report) = verify(db).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("Checked 1 calls, 26 ideas"), "{stdout}");
    assert!(stdout.contains("Everything matches"), "{stdout}");
    assert_eq!(report["discrepancies"], serde_json::json!([]), "{report:#}");
    let events = report["events"].as_u64().expect("an event count");
    assert!(events > 26, "{report:#}");

    let (_, amount, event) = a_grant(db, &round).await;
    let body = event_body(db, event).await;

    // The database itself refuses to change or remove the record.
    let refused = execute!(db, "UPDATE events SET body = $1 WHERE id = $2", "{}", event);
    let message = refused.expect_err("an UPDATE on events must be refused").to_string();
    assert!(message.contains("append-only") && message.contains("refused"), "{message}");
    let refused = execute!(db, "DELETE FROM events WHERE id = $1", event);
    let message = refused.expect_err("a DELETE on events must be refused").to_string();
    assert!(message.contains("append-only") && message.contains("refused"), "{message}");
    assert_eq!(event_body(db, event).await, body, "a refused UPDATE changed the event");
    let (code, stdout, _) = verify(db).await;
    assert_eq!(code, Some(0), "refused changes left a mark:\n{stdout}");

    // 100 öre more in the grant, written behind the service's back.
    let from = format!("\"amount\":{amount}");
    assert!(body.contains(&from), "{body}");
    let edited = body.replace(&from, &format!("\"amount\":{}", amount + 100));
    tamper_with_event(db, event, &edited).await;

    let (code, stdout, report) = verify(db).await;
    assert_eq!(code, Some(1), "verify missed an edited event:\n{stdout}");
    assert!(stdout.contains("discrepancies:"), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("- event {event} ")))
        .unwrap_or_else(|| panic!("verify does not name event {event}:\n{stdout}"));
    assert!(line.contains("hash") && line.contains("edited"), "{line}");
    let found = report["discrepancies"].as_array().expect("a list of discrepancies");
    assert!(
        found.iter().any(|d| d["subject"].as_str().is_some_and(|s| s.starts_with(&format!("event {event} ")))
            && d["problem"].as_str().is_some_and(|p| p.contains("edited"))),
        "{report:#}"
    );
}

/// A stored state or a stored total edited directly is reported, by the
/// idea or call it belongs to.
async fn an_edited_state_or_total_is_found(db: &TestDb) {
    let round = populate(db).await;
    let (idea, amount, _) = a_grant(db, &round).await;

    let changed = execute!(
        db,
        "UPDATE ideas SET state = REPLACE(state, $1, $2) WHERE id = $3",
        format!("\"amount\":{amount}"),
        format!("\"amount\":{}", amount + 100),
        *idea.as_uuid(),
    )
    .expect("edit an idea's state");
    assert_eq!(changed, 1);
    let (code, stdout, report) = verify(db).await;
    assert_eq!(code, Some(1), "verify missed an edited idea state:\n{stdout}");
    assert!(
        stdout.contains(&format!("- idea {idea}: the stored state differs from the state its events replay to")),
        "{stdout}"
    );
    // Every finding is about that idea: its state, and its granted column
    // that no longer matches the state.
    let subjects = |report: &serde_json::Value| -> Vec<String> {
        let found = report["discrepancies"].as_array().expect("a list of discrepancies");
        found.iter().map(|d| d["subject"].as_str().expect("a subject").to_owned()).collect()
    };
    let about_idea = format!("idea {idea}");
    assert!(subjects(&report).iter().all(|s| *s == about_idea), "{report:#}");

    let changed =
        execute!(db, "UPDATE calls SET granted_ore = granted_ore - 100 WHERE id = $1", *round.call_id.as_uuid())
            .expect("edit a call's total");
    assert_eq!(changed, 1);
    let (code, stdout, report) = verify(db).await;
    assert_eq!(code, Some(1), "{stdout}");
    let total = format!("- call {}: granted total ", round.call_id);
    assert!(stdout.lines().any(|l| l.starts_with(&total) && l.contains("the grants sum to")), "{stdout}");
    let found = subjects(&report);
    let about_call = format!("call {}", round.call_id);
    assert_eq!(found.iter().filter(|s| **s == about_call).count(), 1, "{report:#}");
    assert!(found.iter().all(|s| *s == about_call || *s == about_idea), "{report:#}");
}

/// `mops ARGS --database-url URL` with `password` in `MOPS_PASSWORD` (or
/// none set) and `stdin` as standard input.
async fn mops_as(db: &TestDb, args: &[&str], password: Option<&str>, stdin: &str) -> Output {
    use std::io::Write as _;
    let mut command = Command::new(env!("CARGO_BIN_EXE_mops"));
    command
        .args(args)
        .args(["--database-url", &db.url()])
        .env_remove("MOPS_DATABASE_URL")
        .env_remove("MOPS_PASSWORD")
        .env("MOPS_LOG", "info")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(p) = password {
        command.env("MOPS_PASSWORD", p);
    }
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("run mops");
        // mops may exit before it reads: a broken pipe is no failure here.
        let _ = child.stdin.take().expect("a pipe").write_all(stdin.as_bytes());
        child.wait_with_output().expect("mops runs")
    })
    .await
    .expect("mops runs")
}

const PASSWORD: &str = "a long pass phrase";

async fn add_user(db: &TestDb, email: &str, password: Option<&str>, roles: &[Role]) -> PersonId {
    let new = NewUser {
        id: PersonId::from_uuid(uuid::Uuid::new_v4()),
        email: Email::parse(email).unwrap(),
        name: PersonName::parse("Test Person").unwrap(),
        organisation: None,
        language: Language::Sv,
        password: password.map(|p| Password::new(p).unwrap()),
    };
    let user = db.db.add_user(new, ChangedBy::CommandLine).await.unwrap();
    for role in roles {
        db.db.grant_role(user.id, *role, ChangedBy::CommandLine).await.unwrap();
    }
    user.id
}

async fn only_a_process_leader_with_their_password_may_act_as_one(db: &TestDb) {
    let leader = add_user(db, "leader@example.org", Some(PASSWORD), &[Role::ProcessLeader]).await;
    add_user(db, "board@example.org", Some(PASSWORD), &[Role::BoardMember]).await;
    let former = add_user(db, "former@example.org", Some(PASSWORD), &[Role::ProcessLeader]).await;
    db.db.disable_user(former, ChangedBy::CommandLine).await.unwrap();
    add_user(db, "nopassword@example.org", None, &[Role::ProcessLeader]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("call.toml");
    let definition = call_file::to_string(&round_2010().definition, CallFileFormat::Toml, None).unwrap();
    std::fs::write(&file, definition).unwrap();
    let file = file.to_str().unwrap();

    // Refused: exit status 2, the reason, and no call.
    for (email, password, reason) in [
        ("leader@example.org", Some("not the password"), "the password for leader@example.org is wrong"),
        ("LEADER@example.org", Some("a long pass phrase "), "is wrong"),
        ("board@example.org", Some(PASSWORD), "does not hold the role process-leader; their roles: board"),
        ("former@example.org", Some(PASSWORD), "former@example.org is disabled"),
        ("nopassword@example.org", Some(PASSWORD), "has no password"),
        ("nobody@example.org", Some(PASSWORD), "there is no user nobody@example.org"),
        // No MOPS_PASSWORD and no terminal: standard input, here empty.
        ("leader@example.org", None, "no password was given"),
    ] {
        let out = mops_as(db, &["call", "import", file, "--as", email], password, "").await;
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "--as {email}: {stdout}\n{stderr}");
        assert!(stderr.contains(reason), "--as {email}: {stderr}");
        assert!(stdout.is_empty(), "--as {email}: {stdout}");
        assert!(db.db.calls().await.unwrap().is_empty(), "--as {email} created a call");
    }

    // The right password, from MOPS_PASSWORD or from standard input: the
    // call is created, and its creation names the process leader.
    for (password, stdin) in [(Some(PASSWORD), ""), (None, "a long pass phrase\n")] {
        let out = mops_as(db, &["call", "import", file, "--as", "Leader@Example.org"], password, stdin).await;
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
        let id: CallId = stdout.trim().parse().unwrap_or_else(|_| panic!("the new id is printed: {stdout:?}"));
        let log = db.db.event_log(Some(id)).await.unwrap();
        assert_eq!(log.len(), 1);
        let created: Recorded<CallEvent> = serde_json::from_str(&log[0].body).unwrap();
        assert!(matches!(created.event, CallEvent::Created { .. }), "{created:?}");
        assert_eq!(created.actor, ActorRef::Person(leader));
    }

    // The event log with personal data: only with --as, and only for the
    // process leader with their password; a refusal writes no file.
    let output = dir.path().join("log.jsonl");
    let output = output.to_str().unwrap();
    for (args, password, reason) in [
        (&["export", "events", "--with-personal-data"][..], Some(PASSWORD), "--as EMAIL"),
        (&["export", "events", "--with-personal-data", "--as", "leader@example.org"][..], Some("wrong"), "wrong"),
        (
            &["export", "events", "--with-personal-data", "--as", "board@example.org"][..],
            Some(PASSWORD),
            "process-leader",
        ),
        (&["export", "events", "--as", "leader@example.org"][..], Some(PASSWORD), "only for --with-personal-data"),
    ] {
        let args = [args, &["--output", output]].concat();
        let out = mops_as(db, &args, password, "").await;
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "mops {args:?}: {stdout}\n{stderr}");
        assert!(stderr.contains(reason), "mops {args:?}: {stderr}");
        assert!(!std::path::Path::new(output).exists(), "mops {args:?} wrote the export");
    }
    let out =
        mops_as(db, &["export", "events", "--with-personal-data", "--as", "leader@example.org"], Some(PASSWORD), "")
            .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.contains(&leader.to_string()), "the actor as recorded: {stdout}");
    // The trace of who exported personal data: their id, at info level.
    assert!(
        stderr.contains("the event log is exported with personal data") && stderr.contains(&leader.to_string()),
        "{stderr}"
    );
}

on_both_backends!(
    an_edited_event_is_found,
    an_edited_state_or_total_is_found,
    only_a_process_leader_with_their_password_may_act_as_one
);

/// `mops outbox retry --all` sends batch after batch (its progress bar moves
/// per batch) until every due mail is out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_all_sends_every_due_mail_in_batches() {
    let db = common::sqlite().await;
    populate(&db).await;
    let due = db.db.outbox_unsent().await.unwrap();
    assert!(due > 100, "more than one batch: {due}");
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_mops"));
    command
        .args(["outbox", "retry", "--all", "--database-url", &db.url()])
        .env_remove("MOPS_DATABASE_URL")
        .env_remove("MOPS_SMTP_URL")
        .env("MOPS_MAIL_DIR", dir.path());
    let out = tokio::task::spawn_blocking(move || command.output().expect("run mops")).await.unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("Sent {due}, failed 0, to be retried later 0")), "{stdout}");
    assert_eq!(db.db.outbox_unsent().await.unwrap(), 0);
    let emls = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "eml"))
        .count();
    assert_eq!(emls as i64, due);
}

fn assert_cannot_run(args: &[&str], about: &str) {
    let out = mops(args);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "mops {args:?}:\n{stdout}\n{stderr}");
    assert!(stderr.starts_with("mops: "), "mops {args:?}: {stderr}");
    assert!(stderr.contains(about), "mops {args:?}: {stderr}");
    assert!(stdout.is_empty(), "mops {args:?} printed a report: {stdout}");
}

#[test]
fn an_unreachable_postgres_is_exit_status_3() {
    // Nothing listens on port 1. (sqlx retries until its pool's acquire
    // timeout, 30 s, before giving up.)
    assert_cannot_run(
        &["verify", "--database-url", "postgres://postgres@127.0.0.1:1/nope"],
        "cannot open the database postgres://postgres@127.0.0.1:1/nope",
    );
}

#[test]
fn an_unopenable_database_is_exit_status_3() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let missing = format!("sqlite://{}", dir.path().join("no/such/folder/mops.db").display());
    assert_cannot_run(&["verify", "--database-url", &missing], "cannot open the database");
    assert_cannot_run(&["migrate", "--database-url", &missing], "cannot open the database");
    assert_cannot_run(&["verify", "--database-url", "mysql://root@localhost/mops"], "unsupported database URL");
}

#[test]
fn passwords_stay_out_of_error_messages() {
    // The role does not exist: the server refuses at once (trust
    // authentication accepts any password, so the password is never checked).
    let url = format!("postgres://no_such_role:s3cret@{}", common::postgres_url().rsplit('@').next().expect("a host"));
    let out = mops(&["verify", "--database-url", &url]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(stderr.starts_with("mops: cannot open the database postgres://no_such_role:***@"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "the password leaked: {stderr}");
}

/// `mops demo` on the zero-config default: SQLite, mail as `.eml` files.
#[test]
fn the_demo_runs_the_2010_round_and_writes_every_mail() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_mops"))
            .arg("demo")
            .current_dir(dir.path())
            .env_remove("MOPS_DATABASE_URL")
            .env_remove("MOPS_SMTP_URL")
            .env_remove("MOPS_MAIL_DIR")
            .output()
            .expect("mops runs")
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Funnel: 26 → 10 → 9 → 4"), "{stdout}");
    assert!(stdout.contains("Granted: 1 300 000 kr to 4 projects"), "{stdout}");
    assert!(stdout.contains("Grön omsorg: 300 000 kr (SK 2010/32)"), "{stdout}");
    assert!(dir.path().join("mops.db").exists(), "the default database is ./mops.db");

    // Every status mail of the round is a .eml file in ./mail/.
    let emls: Vec<_> = std::fs::read_dir(dir.path().join("mail")).unwrap().map(|e| e.unwrap().path()).collect();
    let sent: usize = stdout
        .split("Status mails: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the demo says how many mails it sent");
    assert_eq!(emls.len(), sent);
    let memory = mops_core::reference::replay_in_memory(&round_2010(), &TimerConfig::default()).unwrap();
    assert_eq!(sent, memory.outbox.len(), "one mail per notification the core decided");
    let eml = std::fs::read_to_string(&emls[0]).unwrap();
    assert!(eml.contains("Message-ID: <") && eml.contains("multipart/alternative"), "{eml}");

    // verify passes after the demo; a second run finds the round and sends nothing new.
    let verify = Command::new(env!("CARGO_BIN_EXE_mops")).arg("verify").current_dir(dir.path()).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    let again = run();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("already"), "{stdout}");
    assert!(stdout.contains("Status mails: 0 sent"), "{stdout}");
}

/// The process leader previews a mail that has not been queued: facts the
/// idea has are used, in the language asked for.
#[test]
fn a_mail_can_be_previewed_for_any_idea_before_it_exists() {
    let dir = tempfile::tempdir().unwrap();
    let mops = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_mops"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("MOPS_DATABASE_URL")
            .env_remove("MOPS_SMTP_URL")
            .env_remove("MOPS_MAIL_DIR")
            .output()
            .unwrap()
    };
    assert!(mops(&["demo"]).status.success());
    let round = round_2010();
    let green = round.ideas.iter().find(|i| i.title == "Grön omsorg").unwrap().id.to_string();
    let out = mops(&["outbox", "preview", "--idea", &green, "--notice", "granted", "--lang", "en"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("preview (not queued)") && text.contains("300 000 kr") && text.contains("SK 2010/32"),
        "{text}"
    );
    assert!(text.contains("Kind regards"), "English was asked for: {text}");
    let out = mops(&["outbox", "preview", "--idea", &green, "--notice", "nonsense"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("idea_received"), "the error lists the notices");
}
