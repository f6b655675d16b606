//! `mops serve`: health and readiness, the mail worker and the timers
//! running in the background, and a graceful stop on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mops_core::reference::round_2010;
use mops_core::timers::TimerConfig;
use mops_service::replay::replay_round;
use mops_service::store::{self, Store};

/// A plain HTTP/1.1 GET; returns (status, body).
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("the server answers");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_health_sends_mail_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("mops.db").display());
    let mail_dir = dir.path().join("mail");

    let mut child = Command::new(env!("CARGO_BIN_EXE_mops"))
        .arg("serve")
        .env("MOPS_DATABASE_URL", &url)
        .env("MOPS_BIND", "127.0.0.1:0")
        .env("MOPS_MAIL_DIR", &mail_dir)
        .env("MOPS_MAIL_INTERVAL_SECS", "1")
        .env_remove("MOPS_SMTP_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mops serve starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines.next().expect("serve prints where it listens").unwrap();
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.trim_end_matches('/').split('/').next().unwrap().to_owned();
        }
    };

    assert_eq!(get(&addr, "/healthz").0, 200);
    let (status, body) = get(&addr, "/readyz");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ready"), "{body}");
    assert_eq!(get(&addr, "/nope").0, 404);

    // Work arrives while the service runs: its mail goes out on its own.
    let db = store::connect(&url).await.unwrap();
    let mut round = round_2010();
    round.steps.truncate(5);
    replay_round(&db, &round, &TimerConfig::default(), |_, _, _| {}).await.unwrap();
    let queued = db.outbox(None, 1000).await.unwrap().len();
    assert!(queued > 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.outbox_unsent().await.unwrap() > 0 {
        assert!(Instant::now() < deadline, "the mail worker in serve did not send the mail");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(std::fs::read_dir(&mail_dir).unwrap().count(), queued);

    // SIGTERM: a clean stop with status 0.
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success(), "exit {status:?}: {stderr}");
}

/// `mops serve --demo` on an empty database: the 2010 round, its people
/// with one sign-in per role, and a call open now whose public form works.
/// A second start adds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_loads_the_round_and_opens_a_call_to_try() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("mops.db").display());
    let start = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mops"))
            .args(["serve", "--demo"])
            .env("MOPS_DATABASE_URL", &url)
            .env("MOPS_BIND", "127.0.0.1:0")
            .env("MOPS_MAIL_DIR", dir.path().join("mail"))
            .env_remove("MOPS_SMTP_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mops serve --demo starts");
        let mut printed = Vec::new();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            let line = lines.next().expect("serve --demo prints where it listens").unwrap();
            let done = line.starts_with("Health:");
            printed.push(line);
            if done {
                break;
            }
        }
        (child, printed, lines)
    };
    // Stops it, reading what it still prints (a closed pipe would fail its
    // last words, not its shutdown).
    let stop = |mut child: std::process::Child, lines: std::io::Lines<BufReader<std::process::ChildStdout>>| {
        assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let status = child.wait().unwrap();
        assert!(status.success(), "{status:?} {rest:?}");
    };

    let (child, printed, lines) = start();
    let text = printed.join("\n");
    for role in ["process leader", "sector group member", "panel member", "board member", "applicant"] {
        assert!(text.contains(role), "a sign-in for the {role}: {text}");
    }
    let call_url = printed
        .iter()
        .find_map(|l| l.strip_prefix("A call open now, to try the submission form with: http://"))
        .unwrap_or_else(|| panic!("an open call: {text}"));
    let (addr, path) = call_url.split_once('/').unwrap();
    let (status, body) = get(addr, &format!("/{path}"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Skicka in en idé") && body.contains("name=\"title\""), "the public form: {body}");
    assert_eq!(get(addr, "/logga-in").0, 200);
    stop(child, lines);

    let db = store::connect(&url).await.unwrap();
    let calls = db.calls().await.unwrap();
    assert_eq!(calls.len(), 2, "the 2010 call and the open one");

    // Started again: the same two calls, no second open one.
    let (child, printed, lines) = start();
    assert!(!printed.iter().any(|l| l.starts_with("A call open now")), "{printed:?}");
    stop(child, lines);
    assert_eq!(db.calls().await.unwrap().len(), 2);
}
