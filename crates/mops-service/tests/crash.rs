//! The crash test: a child process (`mops crash-child`) replays copies of the
//! 2010 round into the database and prints `ACK <namespace> <step> <stream>
//! <version>` after each commit; the test kills it with SIGKILL at random
//! moments, restarts it on fresh namespaces, and finally checks that
//!
//! - `mops verify` finds nothing wrong: every state replays from its events,
//!   every hash chain is whole, every transition has its events and outbox
//!   rows (nothing half-applied), and
//! - every acknowledged commit is there: each acknowledged stream exists at
//!   (at least) the acknowledged version.
//!
//! The kill moments come from a seeded generator; the seed is printed, and
//! `MOPS_CRASH_SEED=<seed>` repeats a run.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use common::TestDb;
use mops_core::domain::{CallId, IdeaId};
use mops_service::store::Store;
use uuid::Uuid;

/// How many times the child is started and killed. Round `r` starts at
/// namespace `r * 1000 + 1`; the reference round's registry numbers only
/// fit namespaces below 10 000.
const ROUNDS: u32 = 6;
/// Each round's child is killed this long after it was started (ms)…
const KILL_AFTER_MS: std::ops::RangeInclusive<u64> = 300..=1500;
/// …or, in about half of the rounds, after this many ACK lines, whichever
/// comes first.
const KILL_AFTER_ACKS: std::ops::RangeInclusive<usize> = 1..=150;
/// The signal `Child::kill` sends on Unix.
const SIGKILL: i32 = 9;

/// One acknowledged commit, as the child printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ack {
    namespace: u32,
    step: usize,
    stream: Uuid,
    version: i64,
}

fn parse_ack(line: &str) -> Result<Ack, String> {
    let bad = || format!("not an ACK line: {line:?}");
    let mut words = line.split(' ');
    if words.next() != Some("ACK") {
        return Err(bad());
    }
    let namespace = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
    let step = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
    let stream = words.next().and_then(|w| Uuid::parse_str(w).ok()).ok_or_else(bad)?;
    let version = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
    if words.next().is_some() {
        return Err(bad());
    }
    Ok(Ack { namespace, step, stream, version })
}

fn seed() -> u64 {
    match std::env::var("MOPS_CRASH_SEED") {
        Ok(s) => s.trim().parse().unwrap_or_else(|_| panic!("MOPS_CRASH_SEED={s:?} is not a number")),
        Err(_) => fastrand::u64(..),
    }
}

/// What one round saw.
struct Round {
    acks: Vec<Ack>,
    killed_after: Duration,
}

/// Starts the child on `first_namespace`, reads its ACKs until the kill
/// moment, kills it with SIGKILL, and returns every ACK line it wrote
/// (including those still in the pipe at the kill: they were printed after
/// their commit, so they are acknowledged too).
fn run_round(url: &str, first_namespace: u32, kill_at: Duration, kill_after_acks: Option<usize>, seed: u64) -> Round {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mops"))
        .args(["crash-child", "--first-namespace", &first_namespace.to_string()])
        .env("MOPS_DATABASE_URL", url)
        .env("MOPS_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start `mops crash-child`");
    let started = Instant::now();

    let stdout = child.stdout.take().expect("the child's stdout");
    let (lines_tx, lines) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr = child.stderr.take().expect("the child's stderr");
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    let mut raw = Vec::new();
    let mut ended_by_itself = false;
    loop {
        if kill_after_acks.is_some_and(|n| raw.len() >= n) {
            break;
        }
        let Some(left) = kill_at.checked_sub(started.elapsed()) else { break };
        match lines.recv_timeout(left) {
            Ok(line) => raw.push(line),
            Err(RecvTimeoutError::Timeout) => break,
            Err(RecvTimeoutError::Disconnected) => {
                ended_by_itself = true;
                break;
            }
        }
    }
    let killed_after = started.elapsed();
    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("reap the child");
    reader.join().expect("the stdout reader");
    raw.extend(lines.try_iter());
    let errors = stderr_reader.join().expect("the stderr reader");

    assert!(
        !ended_by_itself && status.signal() == Some(SIGKILL),
        "seed {seed}: the child on namespace {first_namespace} ended by itself ({status}) before it was killed, \
         after {} ACKs; its stderr:\n{errors}",
        raw.len()
    );
    let acks = raw
        .iter()
        .map(|line| parse_ack(line).unwrap_or_else(|e| panic!("seed {seed}: {e}; stderr:\n{errors}")))
        .collect::<Vec<_>>();
    Round { acks, killed_after }
}

async fn crash_and_verify(db: &TestDb) {
    let seed = seed();
    eprintln!("crash test on {}: seed {seed} (MOPS_CRASH_SEED={seed} repeats this run)", db.db.backend());
    let mut rng = fastrand::Rng::with_seed(seed);
    let url = db.url();

    let mut acks: Vec<Ack> = Vec::new();
    for round in 1..=ROUNDS {
        let first_namespace = round * 1000 + 1;
        let kill_at = Duration::from_millis(rng.u64(KILL_AFTER_MS));
        let kill_after_acks = rng.bool().then(|| rng.usize(KILL_AFTER_ACKS));
        let url = url.clone();
        let seen =
            tokio::task::spawn_blocking(move || run_round(&url, first_namespace, kill_at, kill_after_acks, seed))
                .await
                .expect("the round runs");
        eprintln!(
            "round {round}: killed after {:?} (planned {kill_at:?}, or {kill_after_acks:?} ACKs) with {} ACKs",
            seen.killed_after,
            seen.acks.len()
        );

        // The ACKs of one child are in commit order: namespaces from its
        // first one upwards, steps in order within a namespace, and each
        // stream's versions increasing.
        let mut last: BTreeMap<Uuid, i64> = BTreeMap::new();
        let mut position = (first_namespace, 0usize);
        for (n, ack) in seen.acks.iter().enumerate() {
            assert!(
                (first_namespace..first_namespace + 1000).contains(&ack.namespace),
                "seed {seed}: ACK {ack:?} of round {round} is outside its namespaces"
            );
            assert!(
                n == 0 || (ack.namespace, ack.step) > position,
                "seed {seed}: ACK {ack:?} of round {round} is out of order (after {position:?})"
            );
            position = (ack.namespace, ack.step);
            assert!(ack.version >= 1, "seed {seed}: ACK {ack:?} has no version");
            if let Some(before) = last.insert(ack.stream, ack.version) {
                assert!(before < ack.version, "seed {seed}: ACK {ack:?} does not raise its version {before}");
            }
        }
        acks.extend(seen.acks);
    }
    assert!(
        !acks.is_empty(),
        "seed {seed}: the child acknowledged no commit in {ROUNDS} rounds: it does nothing, or starts too slowly"
    );

    // `mops verify`, as an operator would run it after a crash.
    let verify_url = url.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_mops"))
            .args(["verify", "--json", "--database-url", &verify_url])
            .env_remove("MOPS_DATABASE_URL")
            .env("MOPS_LOG", "warn")
            .output()
            .expect("run `mops verify`")
    })
    .await
    .expect("verify runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "seed {seed}: `mops verify` after the crashes:\n{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("seed {seed}: `mops verify --json` printed no JSON ({e}):\n{stdout}"));
    assert_eq!(report["discrepancies"], serde_json::json!([]), "seed {seed}: {report:#}");
    let events = report["events"].as_u64().expect("an event count");
    assert!(events as usize >= acks.len(), "seed {seed}: {} ACKs but only {events} events: {report:#}", acks.len());

    // Every acknowledged commit is there, at least at its version.
    let mut acked: BTreeMap<Uuid, i64> = BTreeMap::new();
    for ack in &acks {
        let v = acked.entry(ack.stream).or_default();
        *v = (*v).max(ack.version);
    }
    let (mut calls, mut ideas) = (0, 0);
    for (&stream, &version) in &acked {
        let stored = match db.db.call(CallId::from_uuid(stream)).await.expect("read a call") {
            Some(call) => {
                calls += 1;
                Some(call.version)
            }
            None => db.db.idea(IdeaId::from_uuid(stream)).await.expect("read an idea").map(|idea| {
                ideas += 1;
                idea.version
            }),
        };
        match stored {
            Some(stored) => assert!(
                stored >= version,
                "seed {seed}: stream {stream} was acknowledged at version {version} but is stored at {stored}"
            ),
            None => panic!("seed {seed}: stream {stream} was acknowledged (version {version}) but is not stored"),
        }
    }
    eprintln!(
        "{} ACKs over {} streams ({calls} calls, {ideas} ideas) all stored; verify checked {events} events",
        acks.len(),
        acked.len()
    );
}

on_both_backends!(crash_and_verify);

#[test]
fn ack_lines_parse() {
    let ack = parse_ack("ACK 1001 7 20100000-0000-03e9-0000-000500000004 3").expect("an ACK");
    assert_eq!(
        ack,
        Ack {
            namespace: 1001,
            step: 7,
            stream: Uuid::parse_str("20100000-0000-03e9-0000-000500000004").expect("a uuid"),
            version: 3
        }
    );
    for bad in ["", "ACK", "ACK 1 2 x 3", "ACK 1 2 20100000-0000-03e9-0000-000500000004", "NAK 1 2 3 4"] {
        assert!(parse_ack(bad).is_err(), "{bad:?}");
    }
}
