//! The mail benchmark behind `mops bench-mail`: what the outbox costs compared
//! with sending the same mails with lettre alone.
//!
//! For each backend, in a fresh database (SQLite file or PostgreSQL schema,
//! removed afterwards):
//!
//! 1. **Outbox**: the 2010 reference round is replayed through the engine, in
//!    as many copies (namespaces) as it takes to queue at least N status
//!    mails; the newest surplus rows are deleted, leaving exactly N. The mails
//!    are the round's real mix: receipts, selections, refusals, seminar and
//!    panel invitations (with an `.ics`), reminders, decisions.
//! 2. **Pre-built messages**: every one of the N rows is rendered and built
//!    into the very message the worker would send (same Message-ID), before
//!    any timing.
//! 3. **Runs**, into one loopback [`SmtpSink`] in this process, alternating:
//!    * *lettre alone*: the pre-built messages sent with lettre's pooled
//!      `AsyncSmtpTransport` (configured exactly as the worker's), at most
//!      `concurrency` at once, no database; lettre formats each message as
//!      it sends it. The goal's baseline;
//!    * *lettre, bytes*, for information: the same messages formatted
//!      beforehand, their bytes sent with `send_raw`, as the worker sends the
//!      bytes it writes itself;
//!    * *engine*: [`MailWorker::drain`] until all N rows are sent: it claims
//!      batches, reads each idea and call, renders, builds, sends with the
//!      same concurrency and pool size, and records each batch's outcome.
//!
//!    Between engine runs the rows are reset to pending by plain SQL.
//!
//! The goal's ratio is the median, over the rounds, of each engine run's
//! rate against the lettre-alone run beside it: the machine's speed changes
//! now and then (seen here: lettre alone's CPU per mail moving from 77 to
//! 107 µs between two rounds), and a pair run one after the other meets
//! the same speed. The better run of each kind, and their ratio, are
//! reported for information.
//!
//! The sink counts what it receives and the distinct Message-IDs, so a mail
//! sent twice shows up as a duplicate.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use lettre::message::Mailbox;
use lettre::{AsyncTransport, Message};
use mops_core::IdeaState;
use mops_core::call::Call;
use mops_core::domain::{CallId, IdeaId};
use mops_core::timers::TimerConfig;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::bench::BackendChoice;
use crate::bench::{remove_sqlite, sqlite_url};
use crate::mail::{
    Letterhead, MailSettings, MailWorker, Outgoing, RetryPolicy, Transport, TransportSettings, build_message,
    render_row,
};
use crate::replay::replay_round;
use crate::store::{Backend, Db, OutboxRow, OutboxStatus, OutboxUpdate, PgStore, SqliteStore, Store};

/// The goal: the engine reaches this share of lettre's own rate.
pub const RATIO_GOAL: f64 = 0.7;

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// Registry numbers carry the round's namespace and run out after this one.
const MAX_NAMESPACE: usize = 9_999;
const FROM: &str = "Samhällskontraktet <mops@bench.example>";

/// What to run. [`Default`] is the benchmark on both backends.
#[derive(Debug, Clone)]
pub struct MailBenchOptions {
    pub backends: Vec<BackendChoice>,
    /// Outbox rows to drain (and messages to send with lettre alone) per run.
    pub messages: usize,
    /// Mails sent at once, and the SMTP pool size, in both runs.
    pub concurrency: usize,
    /// Rows the worker claims per pass.
    pub batch: usize,
    /// Rounds of (lettre alone, engine); the order alternates per round.
    pub rounds: usize,
    /// Let the sink delay its ACKs like an ordinary server (see [`SmtpSink`]).
    pub delayed_acks: bool,
    /// Where the SQLite files go (a fresh one per run, deleted afterwards).
    pub sqlite_dir: PathBuf,
    /// The PostgreSQL server; each run gets a fresh schema, dropped afterwards.
    pub postgres_url: String,
}

impl Default for MailBenchOptions {
    fn default() -> Self {
        Self {
            backends: vec![BackendChoice::Sqlite, BackendChoice::Postgres],
            messages: 10_000,
            concurrency: 8,
            batch: 100,
            rounds: 3,
            delayed_acks: false,
            sqlite_dir: std::env::temp_dir(),
            postgres_url: std::env::var("MOPS_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned()),
        }
    }
}

/// The command-line arguments of `mops bench-mail`; flatten into a subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct MailBenchArgs {
    /// The backends to benchmark.
    #[arg(long = "backend", value_enum, value_delimiter = ',', default_values_t = [BackendChoice::Sqlite, BackendChoice::Postgres])]
    pub backends: Vec<BackendChoice>,
    /// Outbox rows to drain per run (and messages lettre sends alone).
    #[arg(long, default_value_t = 10_000)]
    pub messages: usize,
    /// Mails sent at once (also the SMTP pool size).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Outbox rows the worker claims per pass.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Rounds of (lettre alone, engine); the goal's ratio is the median of
    /// the rounds' ratios.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Let the sink delay its ACKs like an ordinary Linux server; lettre then
    /// waits up to 40 ms per mail and both runs measure mostly that wait.
    #[arg(long)]
    pub delayed_acks: bool,
    /// Folder for the SQLite benchmark file (created and deleted per run).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    pub sqlite_dir: PathBuf,
    /// PostgreSQL server for the benchmark (a fresh schema per run, dropped afterwards).
    #[arg(long, env = "MOPS_TEST_DATABASE_URL", default_value = DEFAULT_POSTGRES_URL, hide_env_values = true)]
    pub postgres_url: String,
}

impl From<MailBenchArgs> for MailBenchOptions {
    fn from(a: MailBenchArgs) -> Self {
        Self {
            backends: a.backends,
            messages: a.messages,
            concurrency: a.concurrency,
            batch: a.batch,
            rounds: a.rounds,
            delayed_acks: a.delayed_acks,
            sqlite_dir: a.sqlite_dir,
            postgres_url: a.postgres_url,
        }
    }
}

// ---------------------------------------------------------------------------
// The report.

/// Everything measured; its [`Display`](fmt::Display) is the printed report.
#[derive(Debug, Clone)]
pub struct MailBenchReport {
    pub messages: usize,
    pub concurrency: usize,
    pub batch: usize,
    pub rounds: usize,
    pub delayed_acks: bool,
    pub backends: Vec<MailBackendReport>,
}

#[derive(Debug, Clone)]
pub struct MailBackendReport {
    pub backend: Backend,
    pub outbox: Seeding,
    /// Every run, in the order they ran.
    pub runs: Vec<MailRun>,
    /// Outbox rows `sent` after the last engine run (all of them, or a bug).
    pub rows_sent: usize,
    /// The engine's own work, part by part, measured after the rounds.
    pub parts: EngineParts,
}

/// What the engine does beyond sending, each part measured alone over the
/// whole outbox after the rounds, as CPU time of the process (database
/// threads included): where the engine's extra CPU per mail goes.
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineParts {
    pub mails: usize,
    /// Claiming every row and recording it sent, a batch at a time, with no
    /// mail built or sent: the outbox's bookkeeping.
    pub bookkeeping: Option<Duration>,
    /// Reading each claimed row's call and idea, rendering the mail and
    /// building its MIME message, with nothing sent.
    pub building: Option<Duration>,
}

/// How many times each part is measured; the least CPU counts.
const PART_REPEATS: usize = 3;

impl EngineParts {
    /// Each part's lesser CPU time of `self` and `other`.
    fn best(self, other: Self) -> Self {
        let least = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Self {
            mails: self.mails.max(other.mails),
            bookkeeping: least(self.bookkeeping, other.bookkeeping),
            building: least(self.building, other.building),
        }
    }

    fn per_mail(&self, part: Option<Duration>) -> String {
        whole(micros_per_mail(part, self.mails))
    }
}

/// How the outbox was filled.
#[derive(Debug, Clone)]
pub struct Seeding {
    /// Copies of the 2010 round replayed (namespaces 1 to this).
    pub rounds: usize,
    /// Outbox rows they queued.
    pub rows_made: usize,
    /// The newest rows deleted to leave exactly the requested number.
    pub rows_removed: usize,
    /// Wall time of the replays.
    pub wall: Duration,
    /// The kept rows by notice.
    pub notices: BTreeMap<String, usize>,
    /// Mean size of a formatted message, in bytes.
    pub mean_bytes: usize,
}

/// Which sender a run measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// The pre-built messages through lettre's transport, no database:
    /// lettre formats each `Message` as it sends it. The goal's baseline.
    Lettre,
    /// The same messages formatted beforehand, their bytes through
    /// lettre's transport (`send_raw`): for information, since the worker
    /// writes each message's bytes itself and hands lettre those.
    LettreBytes,
    /// The mail worker draining the outbox.
    Engine,
}

impl Sender {
    fn name(self) -> &'static str {
        match self {
            Self::Lettre => "lettre alone",
            Self::LettreBytes => "lettre, bytes",
            Self::Engine => "engine",
        }
    }
}

/// One timed run.
#[derive(Debug, Clone)]
pub struct MailRun {
    pub sender: Sender,
    /// 1-based round.
    pub round: usize,
    /// Mails the sender reported as sent.
    pub messages: usize,
    pub wall: Duration,
    /// CPU time the whole process (sender, database and sink) used during
    /// the run, where the platform tells (`/proc/self/stat`): steadier
    /// than the wall time when other work shares the machine.
    pub cpu: Option<Duration>,
    /// Of the machine's CPU time during the run, the share (in percent) a
    /// hypervisor gave to other machines, where the platform tells
    /// (`/proc/stat`). When it is high the run says more about the
    /// neighbours than about the code.
    pub steal: Option<f64>,
    /// What the sink saw during the run.
    pub sink: SinkCounts,
}

impl MailRun {
    pub fn per_second(&self) -> f64 {
        let secs = self.wall.as_secs_f64();
        if secs > 0.0 { self.messages as f64 / secs } else { 0.0 }
    }

    /// CPU microseconds per mail, where known.
    pub fn cpu_per_mail(&self) -> Option<f64> {
        micros_per_mail(self.cpu, self.messages)
    }
}

/// `cpu` spread over `mails`, in microseconds each, where both are known.
fn micros_per_mail(cpu: Option<Duration>, mails: usize) -> Option<f64> {
    cpu.filter(|_| mails > 0).map(|c| c.as_secs_f64() * 1e6 / mails as f64)
}

/// A measure for the report, to the unit, or a dash where unknown.
fn whole(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.0}")).unwrap_or_else(|| "–".into())
}

/// CPU time (user and system) this process has used, from `/proc/self/stat`
/// (Linux); `None` elsewhere.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name, in parentheses, may hold spaces: count from after it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports these in USER_HZ, which is 100 on every platform it runs on.
    Some(Duration::from_millis(ticks * 10))
}

fn cpu_since(before: Option<Duration>) -> Option<Duration> {
    before.zip(process_cpu()).map(|(before, after)| after.saturating_sub(before))
}

/// The machine's CPU time so far, in clock ticks, from the first line of
/// `/proc/stat` (Linux): (stolen, all). `None` elsewhere.
fn host_cpu() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    // user, nice, system, idle, iowait, irq, softirq, steal (guest time is
    // already counted in user).
    let ticks: Vec<u64> = line.split_whitespace().take(8).map(|t| t.parse().ok()).collect::<Option<_>>()?;
    Some((*ticks.get(7)?, ticks.iter().sum()))
}

/// The share of the machine's CPU time stolen since `before`, in percent.
fn steal_since(before: Option<(u64, u64)>) -> Option<f64> {
    let ((stolen_before, all_before), (stolen, all)) = before.zip(host_cpu())?;
    let all = all.checked_sub(all_before).filter(|t| *t > 0)?;
    Some(100.0 * stolen.saturating_sub(stolen_before) as f64 / all as f64)
}

impl MailBackendReport {
    /// The fastest run of one sender.
    pub fn best(&self, sender: Sender) -> Option<&MailRun> {
        self.runs.iter().filter(|r| r.sender == sender).max_by(|a, b| a.per_second().total_cmp(&b.per_second()))
    }

    /// The goal's ratio: the median of [`round_ratios`](Self::round_ratios),
    /// or 0 without a round that has both runs.
    pub fn ratio(&self) -> f64 {
        median(self.round_ratios()).unwrap_or_default()
    }

    /// The best engine rate over the best lettre-alone rate, for
    /// information: when the machine's speed changes between rounds, it
    /// compares runs that met different speeds.
    pub fn best_ratio(&self) -> f64 {
        self.ratio_to(Sender::Lettre)
    }

    /// The best engine rate over the best rate of `baseline`.
    pub fn ratio_to(&self, baseline: Sender) -> f64 {
        match (self.best(Sender::Engine), self.best(baseline)) {
            (Some(e), Some(l)) if l.per_second() > 0.0 => e.per_second() / l.per_second(),
            _ => 0.0,
        }
    }

    pub fn goal_met(&self) -> bool {
        self.ratio() >= RATIO_GOAL
    }

    /// The median CPU microseconds per mail of one sender's runs, where
    /// known (the mean of the middle two for an even number of runs).
    pub fn median_cpu(&self, sender: Sender) -> Option<f64> {
        median(self.runs.iter().filter(|r| r.sender == sender).filter_map(MailRun::cpu_per_mail).collect())
    }

    /// Each round's engine rate over the rate of its lettre-alone run, in
    /// round order. The two ran one after the other, so a change in the
    /// machine's speed between rounds (seen here: lettre alone's CPU per
    /// mail moving from 135 to 180 µs) cancels out.
    pub fn round_ratios(&self) -> Vec<f64> {
        let rate =
            |sender, round| self.runs.iter().find(|r| r.sender == sender && r.round == round).map(MailRun::per_second);
        let mut rounds: Vec<usize> = self.runs.iter().map(|r| r.round).collect();
        rounds.sort_unstable();
        rounds.dedup();
        rounds
            .into_iter()
            .filter_map(|round| match (rate(Sender::Engine, round), rate(Sender::Lettre, round)) {
                (Some(engine), Some(lettre)) if lettre > 0.0 => Some(engine / lettre),
                _ => None,
            })
            .collect()
    }

    /// Mails the sink received more than once within a run, over all runs.
    pub fn duplicates(&self) -> usize {
        self.runs.iter().map(|r| r.sink.duplicates).sum()
    }
}

/// The median of `values` (the mean of the middle two for an even number).
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 1 => Some(values[mid]),
        _ => Some((values[mid - 1] + values[mid]) / 2.0),
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

impl fmt::Display for MailBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let acks = if self.delayed_acks { "delaying its ACKs" } else { "acknowledging at once" };
        writeln!(
            f,
            "MOPS mail benchmark: {} status mails per run into a loopback SMTP sink ({acks}); {} sends at once over \
             an SMTP pool of {}; the worker claims {} rows per pass; {} rounds of lettre alone, lettre with bytes \
             and engine, alternating which of lettre alone and engine goes first; each engine run is compared with \
             the lettre-alone run beside it",
            self.messages, self.concurrency, self.concurrency, self.batch, self.rounds
        )?;
        for b in &self.backends {
            writeln!(f)?;
            write!(f, "{b}")?;
        }
        Ok(())
    }
}

impl fmt::Display for MailBackendReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let setup = match self.backend {
            Backend::Sqlite => "WAL, synchronous=FULL, the worker's claims and records NORMAL",
            Backend::Postgres => "read committed, FOR UPDATE SKIP LOCKED claims",
        };
        writeln!(f, "{} ({setup})", self.backend)?;
        let s = &self.outbox;
        writeln!(
            f,
            "  outbox: the 2010 round replayed {} times through the engine in {:.1} s queued {} mails; the {} newest \
             were deleted; mean message {:.1} KiB",
            s.rounds,
            s.wall.as_secs_f64(),
            s.rows_made,
            s.rows_removed,
            s.mean_bytes as f64 / 1024.0
        )?;
        let mix: Vec<String> = s.notices.iter().map(|(n, c)| format!("{n} {c}")).collect();
        writeln!(f, "  mails: {}", mix.join(", "))?;
        writeln!(
            f,
            "  {:<14} {:>5} {:>9} {:>8} {:>11} {:>12} {:>8} {:>9} {:>9} {:>10}",
            "run",
            "round",
            "messages",
            "wall s",
            "per second",
            "cpu µs/mail",
            "steal %",
            "received",
            "distinct",
            "duplicates"
        )?;
        for r in &self.runs {
            writeln!(
                f,
                "  {:<14} {:>5} {:>9} {:>8.2} {:>11.1} {:>12} {:>8} {:>9} {:>9} {:>10}",
                r.sender.name(),
                r.round,
                r.messages,
                r.wall.as_secs_f64(),
                r.per_second(),
                whole(r.cpu_per_mail()),
                whole(r.steal),
                r.sink.received,
                r.sink.distinct,
                r.sink.duplicates
            )?;
        }
        let rate = |s: Sender| self.best(s).map(MailRun::per_second).unwrap_or_default();
        let each: Vec<String> = self.round_ratios().iter().map(|r| format!("{r:.2}")).collect();
        writeln!(
            f,
            "  engine/lettre alone, round by round (each engine run against the lettre-alone run beside it): {}; \
             median {:.2} (goal ≥ {RATIO_GOAL}: {})",
            each.join(", "),
            self.ratio(),
            met(self.goal_met())
        )?;
        writeln!(
            f,
            "  for information, best against best: engine {:.1}/s, lettre alone {:.1}/s; engine/lettre alone: {:.2}",
            rate(Sender::Engine),
            rate(Sender::Lettre),
            self.best_ratio()
        )?;
        writeln!(
            f,
            "  for information: lettre sending the same messages formatted beforehand (send_raw, as the worker \
             sends) {:.1}/s; engine/that: {:.2}",
            rate(Sender::LettreBytes),
            self.ratio_to(Sender::LettreBytes)
        )?;
        writeln!(
            f,
            "  duplicates seen by the sink: {}; outbox rows sent after the last engine run: {} of {}",
            self.duplicates(),
            self.rows_sent,
            s.rows_made - s.rows_removed
        )?;
        if let (Some(engine), Some(lettre)) = (self.median_cpu(Sender::Engine), self.median_cpu(Sender::Lettre)) {
            // What the rate ratio would be if both were bound by this
            // process's CPU alone: steadier from run to run than the rates.
            writeln!(
                f,
                "  cpu µs/mail, median of the runs: engine {engine:.0}, lettre alone {lettre:.0}; lettre alone/engine: \
                 {:.2}",
                lettre / engine
            )?;
        }
        let p = &self.parts;
        writeln!(
            f,
            "  the engine's own work, each part alone over {} mails (best of {PART_REPEATS}), cpu µs/mail: claiming \
             and recording {}; reading, rendering and building {}",
            p.mails,
            p.per_mail(p.bookkeeping),
            p.per_mail(p.building)
        )
    }
}

// ---------------------------------------------------------------------------
// The SMTP sink.

/// What an [`SmtpSink`] received since it started or was last [taken](SmtpSink::take).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkCounts {
    /// Messages accepted (each answered 250 after its data).
    pub received: usize,
    /// Distinct Message-IDs among them.
    pub distinct: usize,
    /// Messages whose Message-ID had been received before.
    pub duplicates: usize,
}

#[derive(Debug, Default)]
struct SinkState {
    received: AtomicUsize,
    duplicates: AtomicUsize,
    ids: Mutex<HashSet<Vec<u8>>>,
}

impl SinkState {
    /// Counts one message; returns its number, the queue id.
    fn record(&self, message_id: Option<Vec<u8>>) -> usize {
        if let Some(id) = message_id {
            let fresh = self.ids.lock().unwrap_or_else(|p| p.into_inner()).insert(id);
            if !fresh {
                self.duplicates.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.received.fetch_add(1, Ordering::AcqRel) + 1
    }
}

/// A loopback SMTP server that accepts every mail and throws it away,
/// counting it and remembering its Message-ID.
///
/// **For the benchmark only**: it speaks just enough SMTP for lettre
/// (greeting, EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), without TLS,
/// authentication or any checking, and keeps every Message-ID in memory. It
/// listens on `127.0.0.1` on a free port, serves any number of connections at
/// once, and stops when dropped.
///
/// By default it acknowledges a message's data at once (Linux `TCP_QUICKACK`,
/// re-armed after each `354`). lettre does not set `TCP_NODELAY` and writes
/// the closing `.` separately from the message, so against a server that
/// delays its ACKs (Linux does, by up to 40 ms) every mail waits for that
/// timer: [`SmtpSink::start_with`]`(false)` shows the effect.
#[derive(Debug)]
pub struct SmtpSink {
    addr: SocketAddr,
    state: Arc<SinkState>,
    accept: tokio::task::JoinHandle<()>,
}

impl SmtpSink {
    /// Binds `127.0.0.1:0` and starts serving on the current Tokio runtime,
    /// acknowledging data at once.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(true).await
    }

    /// As [`start`](Self::start); `quick_ack: false` leaves the kernel's
    /// delayed ACKs alone, as most SMTP servers do.
    pub async fn start_with(quick_ack: bool) -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SinkState::default());
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            // Dropping this set (when the sink is dropped and this task
            // aborted) ends every open session.
            let mut sessions = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            let state = shared.clone();
                            sessions.spawn(async move {
                                if let Err(e) = session(stream, &state, quick_ack).await {
                                    tracing::debug!(error = %e, "an SMTP sink session ended with an error");
                                }
                            });
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "the SMTP sink cannot accept a connection");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    },
                    Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
                }
            }
        });
        Ok(Self { addr, state, accept })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `smtp://127.0.0.1:PORT`, for [`TransportSettings::Smtp`].
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Messages received so far.
    pub fn received(&self) -> usize {
        self.state.received.load(Ordering::Acquire)
    }

    /// The counts so far; starts counting afresh.
    pub fn take(&self) -> SinkCounts {
        let mut ids = self.state.ids.lock().unwrap_or_else(|p| p.into_inner());
        let counts = SinkCounts {
            received: self.state.received.swap(0, Ordering::AcqRel),
            distinct: ids.len(),
            duplicates: self.state.duplicates.swap(0, Ordering::AcqRel),
        };
        ids.clear();
        counts
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The first word of a command line, upper-cased.
fn verb(line: &[u8]) -> Vec<u8> {
    line.split(|b| b.is_ascii_whitespace()).next().unwrap_or_default().to_ascii_uppercase()
}

/// One SMTP session: replies in order, so pipelined commands work too.
async fn session(stream: TcpStream, state: &SinkState, quick_ack: bool) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    // A second handle on the same socket, to set options on while Tokio owns it.
    let (stream, knob) = if quick_ack {
        let std_stream = stream.into_std()?;
        let knob = std_stream.try_clone()?;
        (TcpStream::from_std(std_stream)?, Some(knob))
    } else {
        (stream, None)
    };
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::with_capacity(64 * 1024, read);
    write.write_all(b"220 mops-bench-sink ESMTP (a benchmark sink: mail is discarded)\r\n").await?;
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let reply: &[u8] = match verb(&line).as_slice() {
            b"EHLO" => b"250-mops-bench-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n",
            b"HELO" => b"250 mops-bench-sink\r\n",
            b"MAIL" | b"RCPT" | b"RSET" | b"NOOP" => b"250 2.0.0 OK\r\n",
            b"DATA" => {
                write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                if let Some(knob) = &knob {
                    // Replying left the socket in interactive mode, where the
                    // kernel holds back the ACK of the data to come.
                    ack_at_once(knob);
                }
                let id = read_data(&mut read, &mut line).await?;
                let n = state.record(id);
                write.write_all(format!("250 2.0.0 OK: queued as S{n:08}\r\n").as_bytes()).await?;
                continue;
            }
            b"QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 5.5.2 Command not recognised\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// Leaves delayed-ACK mode until the socket next sends (Linux only).
/// `TcpStreamExt::set_quickack` is why the workspace needs Rust 1.89.
#[cfg(target_os = "linux")]
fn ack_at_once(socket: &std::net::TcpStream) {
    use std::os::linux::net::TcpStreamExt;
    if let Err(e) = socket.set_quickack(true) {
        tracing::debug!(error = %e, "the SMTP sink cannot set TCP_QUICKACK");
    }
}

#[cfg(not(target_os = "linux"))]
fn ack_at_once(_socket: &std::net::TcpStream) {}

/// Reads a message up to the lone dot; returns its Message-ID header value.
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(
    read: &mut R,
    line: &mut Vec<u8>,
) -> std::io::Result<Option<Vec<u8>>> {
    const HEADER: &[u8] = b"message-id:";
    let mut in_headers = true;
    let mut id = None;
    loop {
        line.clear();
        if read.read_until(b'\n', line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line.as_slice() == b".\r\n" || line.as_slice() == b".\n" {
            return Ok(id);
        }
        if in_headers {
            if line.as_slice() == b"\r\n" || line.as_slice() == b"\n" {
                in_headers = false;
            } else if line.len() > HEADER.len() && line[..HEADER.len()].eq_ignore_ascii_case(HEADER) {
                id = Some(line[HEADER.len()..].trim_ascii().to_vec());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Running it.

/// Runs the benchmark. Errors say which step failed; databases and schemas
/// the benchmark created are removed in any case.
pub async fn run(opts: &MailBenchOptions) -> Result<MailBenchReport, String> {
    if opts.messages == 0 || opts.messages > 1_000_000 {
        return Err(format!("--messages must be between 1 and 1000000, not {}", opts.messages));
    }
    if opts.concurrency == 0 || opts.concurrency > 1_000 {
        return Err(format!("--concurrency must be between 1 and 1000, not {}", opts.concurrency));
    }
    if opts.batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    if opts.rounds == 0 {
        return Err("--rounds must be at least 1".into());
    }
    if opts.backends.is_empty() {
        return Err("name at least one backend".into());
    }
    let mut backends = Vec::new();
    for choice in &opts.backends {
        let report = match choice {
            BackendChoice::Sqlite => sqlite_backend(opts).await,
            BackendChoice::Postgres => postgres_backend(opts).await,
        };
        backends.push(report?);
    }
    Ok(MailBenchReport {
        messages: opts.messages,
        concurrency: opts.concurrency,
        batch: opts.batch,
        rounds: opts.rounds,
        delayed_acks: opts.delayed_acks,
        backends,
    })
}

/// Runs `$e` with `$p` bound to the store's connection pool.
macro_rules! on_pool {
    ($db:expr, $p:ident => $e:expr) => {
        match $db {
            Db::Sqlite(s) => {
                let $p = s.pool();
                $e
            }
            Db::Postgres(s) => {
                let $p = s.pool();
                $e
            }
        }
    };
}

async fn replay_namespace(db: Db, namespace: usize) -> Result<(), String> {
    let round = mops_core::reference::round_2010_in(namespace as u32);
    replay_round(&db, &round, &TimerConfig::default(), |_, _, _| {})
        .await
        .map_err(|(n, e)| format!("step {n} of the 2010 round in namespace {namespace} failed: {e}"))
}

/// Fills the outbox with exactly `n` pending rows by replaying the 2010
/// round; returns how, and the kept rows.
async fn seed(db: &Db, n: usize, concurrency: usize) -> Result<(Seeding, Vec<OutboxRow>), String> {
    let started = Instant::now();
    replay_namespace(db.clone(), 1).await?;
    let per_round = db.outbox_unsent().await.map_err(|e| e.to_string())? as usize;
    if per_round == 0 {
        return Err("the 2010 round queued no mail".into());
    }
    let rounds = n.div_ceil(per_round);
    if rounds > MAX_NAMESPACE {
        return Err(format!("{n} mails would need {rounds} copies of the 2010 round; at most {MAX_NAMESPACE}"));
    }
    let mut set = JoinSet::new();
    let mut next = 2;
    loop {
        while set.len() < concurrency && next <= rounds {
            set.spawn(replay_namespace(db.clone(), next));
            next += 1;
        }
        let Some(done) = set.join_next().await else { break };
        done.map_err(|e| format!("a replay panicked: {e}"))??;
    }
    let wall = started.elapsed();
    let rows_made = db.outbox_unsent().await.map_err(|e| e.to_string())? as usize;
    let rows_removed = rows_made.saturating_sub(n);
    if rows_removed > 0 {
        let sql = "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY created_at DESC, id LIMIT $1)";
        on_pool!(db, p => sqlx::query(sql).bind(rows_removed as i64).execute(p).await.map(|_| ()))
            .map_err(|e| format!("cannot delete the surplus rows: {e}"))?;
    }
    if let Db::Postgres(s) = db {
        sqlx::query("ANALYZE").execute(s.pool()).await.map_err(|e| format!("ANALYZE failed: {e}"))?;
    }
    let rows = db.outbox(Some(OutboxStatus::Pending), n as i64 + 1).await.map_err(|e| e.to_string())?;
    if rows.len() != n {
        return Err(format!("the outbox holds {} pending rows, not {n}", rows.len()));
    }
    let mut notices = BTreeMap::new();
    for row in &rows {
        *notices.entry(row.notice.clone()).or_insert(0) += 1;
    }
    let seeding = Seeding { rounds, rows_made, rows_removed, wall, notices, mean_bytes: 0 };
    Ok((seeding, rows))
}

/// The messages the worker would send for `rows`, built before any timing.
async fn prebuild(db: &Db, rows: &[OutboxRow], from: &Mailbox) -> Result<Vec<Message>, String> {
    let mut contexts: HashMap<(CallId, IdeaId), (Call, IdeaState)> = HashMap::new();
    let mut messages = Vec::with_capacity(rows.len());
    // The worker's replies go to the From address unless configured.
    let letterhead = Letterhead::new(from, from);
    for row in rows {
        let key = (row.call_id, row.idea_id);
        if let std::collections::hash_map::Entry::Vacant(slot) = contexts.entry(key) {
            let call = db
                .call(row.call_id)
                .await
                .map_err(|e| e.to_string())?
                .and_then(|c| c.state.call().cloned())
                .ok_or_else(|| format!("the call of outbox row {} is missing", row.id))?;
            let idea = db
                .idea(row.idea_id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("the idea of outbox row {} is missing", row.id))?;
            slot.insert((call, idea.state));
        }
        let (call, idea) = &contexts[&key];
        let address = row.intent.to.email.as_str().parse::<lettre::Address>().map_err(|e| e.to_string())?;
        let to = Mailbox::new(Some(row.intent.to.name.to_string()), address);
        let rendered = render_row(row, idea, call, from).map_err(|e| e.to_string())?;
        messages.push(build_message(row.id, &to, &letterhead, rendered)?);
    }
    Ok(messages)
}

/// Sends each of `items` with `send` (lettre alone), at most `concurrency`
/// at once, each in a task of its own.
async fn send_alone<T, F, Fut>(items: Vec<T>, concurrency: usize, send: F) -> Result<usize, String>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<
            Output = Result<lettre::transport::smtp::response::Response, lettre::transport::smtp::Error>,
        > + Send
        + 'static,
{
    let mut set = JoinSet::new();
    let mut pending = items.into_iter();
    let mut sent = 0;
    loop {
        while set.len() < concurrency {
            let Some(item) = pending.next() else { break };
            set.spawn(send(item));
        }
        let Some(done) = set.join_next().await else { break };
        done.map_err(|e| format!("a send panicked: {e}"))?.map_err(|e| format!("lettre could not send: {e}"))?;
        sent += 1;
    }
    Ok(sent)
}

/// Makes every row pending again, as if never sent.
async fn reset(db: &Db) -> Result<(), String> {
    let sql = "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = created_at, lease_until = NULL, \
               last_error = NULL, server_reply = NULL, sent_at = NULL";
    on_pool!(db, p => sqlx::query(sql).execute(p).await.map(|_| ()))
        .map_err(|e| format!("cannot reset the outbox: {e}"))?;
    settle(db).await
}

/// Tidies up after the benchmark's own bulk writes (seeding, resetting),
/// so that no engine run pays for them: PostgreSQL vacuums the outbox;
/// SQLite copies its write-ahead log into the database and empties it.
/// Without this, the first commit of an engine run on SQLite checkpointed
/// the whole outbox that the reset had just rewritten.
async fn settle(db: &Db) -> Result<(), String> {
    match db {
        Db::Postgres(s) => sqlx::query("VACUUM ANALYZE outbox").execute(s.pool()).await.map(|_| ()),
        Db::Sqlite(s) => sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(s.pool()).await.map(|_| ()),
    }
    .map_err(|e| format!("cannot tidy up the database before a run: {e}"))
}

async fn sent_rows(db: &Db) -> Result<usize, String> {
    let sql = "SELECT COUNT(*) FROM outbox WHERE status = 'sent'";
    let n: i64 = on_pool!(db, p => sqlx::query_scalar(sql).fetch_one(p).await).map_err(|e| e.to_string())?;
    Ok(n as usize)
}

/// Seeds `db` and runs the rounds.
async fn measure(backend: Backend, opts: &MailBenchOptions, db: &Db) -> Result<MailBackendReport, String> {
    let fail = |e: String| format!("{backend}: {e}");
    db.migrate().await.map_err(|e| fail(format!("migrating failed: {e}")))?;
    let (mut outbox, rows) = seed(db, opts.messages, opts.concurrency).await.map_err(fail)?;
    let from = FROM.parse::<Mailbox>().map_err(|e| e.to_string())?;
    let messages = prebuild(db, &rows, &from).await.map_err(fail)?;
    drop(rows);
    settle(db).await.map_err(fail)?;
    let formatted: Vec<Outgoing> = messages.iter().map(Outgoing::from).collect();
    outbox.mean_bytes = formatted.iter().map(|m| m.bytes.len()).sum::<usize>() / formatted.len().max(1);

    let sink =
        SmtpSink::start_with(!opts.delayed_acks).await.map_err(|e| fail(format!("cannot start the SMTP sink: {e}")))?;
    let settings = MailSettings {
        transport: TransportSettings::Smtp { url: sink.url() },
        from,
        retry: RetryPolicy::default(),
        batch: opts.batch as i64,
        lease: Duration::from_secs(300),
        concurrency: opts.concurrency,
        // Not from the environment, so it cannot make the worker's mails
        // differ from the pre-built ones.
        reply_to: None,
        ca_file: None,
    };
    let pool = u32::try_from(opts.concurrency).unwrap_or(u32::MAX);
    // lettre alone gets a transport configured exactly as the worker's.
    let Transport::Smtp(smtp) = Transport::new(&settings, pool).map_err(fail)? else {
        return Err(fail("the benchmark transport is not SMTP".into()));
    };
    let worker = MailWorker::new(db.clone(), settings).map_err(fail)?;

    let mut runs = Vec::new();
    let mut rows_sent = 0;
    let mut engine_runs = 0;
    for round in 1..=opts.rounds {
        let order = if round % 2 == 1 {
            [Sender::Lettre, Sender::LettreBytes, Sender::Engine]
        } else {
            [Sender::Engine, Sender::LettreBytes, Sender::Lettre]
        };
        for sender in order {
            sink.take();
            let (sent, wall, cpu, steal) = match sender {
                // Each runs in a task of its own on the runtime, as the
                // worker runs in `serve`, not on the thread that waits for it.
                Sender::Lettre | Sender::LettreBytes => {
                    let smtp = smtp.clone();
                    let sending: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>> = match sender {
                        Sender::Lettre => Box::pin(send_alone(messages.clone(), opts.concurrency, move |message| {
                            let smtp = smtp.clone();
                            async move { smtp.send(message).await }
                        })),
                        _ => Box::pin(send_alone(formatted.clone(), opts.concurrency, move |mail: Outgoing| {
                            let smtp = smtp.clone();
                            async move { smtp.send_raw(&mail.envelope, &mail.bytes).await }
                        })),
                    };
                    let (started, cpu, host) = (Instant::now(), process_cpu(), host_cpu());
                    let sent = tokio::spawn(sending).await.map_err(|e| fail(format!("lettre alone panicked: {e}")))?;
                    (sent.map_err(fail)?, started.elapsed(), cpu_since(cpu), steal_since(host))
                }
                Sender::Engine => {
                    if engine_runs > 0 {
                        reset(db).await.map_err(fail)?;
                    }
                    engine_runs += 1;
                    let worker = worker.clone();
                    let (started, cpu, host) = (Instant::now(), process_cpu(), host_cpu());
                    let report = tokio::spawn(async move { worker.drain(Utc::now()).await })
                        .await
                        .map_err(|e| fail(format!("the worker panicked: {e}")))?
                        .map_err(|e| fail(format!("the worker failed: {e}")))?;
                    let (wall, cpu, steal) = (started.elapsed(), cpu_since(cpu), steal_since(host));
                    if report.sent != opts.messages || report.handled() != report.sent {
                        return Err(fail(format!(
                            "the worker sent {} of {} mails ({} to retry, {} failed)",
                            report.sent, opts.messages, report.retried, report.failed
                        )));
                    }
                    rows_sent = sent_rows(db).await.map_err(fail)?;
                    (report.sent, wall, cpu, steal)
                }
            };
            runs.push(MailRun { sender, round, messages: sent, wall, cpu, steal, sink: sink.take() });
        }
    }
    // Like the runs, in a task of its own on the runtime; the best of three.
    let mut parts = EngineParts::default();
    for _ in 0..PART_REPEATS {
        let (db, worker) = (db.clone(), worker.clone());
        let batch = opts.batch as i64;
        let part = tokio::spawn(async move { measure_parts(&db, &worker, batch).await })
            .await
            .map_err(|e| fail(format!("measuring the parts panicked: {e}")))?
            .map_err(fail)?;
        parts = parts.best(part);
    }
    Ok(MailBackendReport { backend, outbox, runs, rows_sent, parts })
}

/// Measures the engine's parts alone (see [`EngineParts`]).
async fn measure_parts(db: &Db, worker: &MailWorker<Db>, batch: i64) -> Result<EngineParts, String> {
    let (now, lease) = (Utc::now(), Duration::from_secs(300));
    reset(db).await?;
    // As the worker claims: each claim from where the last one ended,
    // recording the batch before it in its transaction.
    let (cpu, mut mails, mut from, mut sent) = (process_cpu(), 0, None, Vec::new());
    loop {
        let rows = db
            .record_and_claim_outbox(&sent, Utc::now(), now, from, lease, batch)
            .await
            .map_err(|e| format!("recording and claiming failed: {e}"))?;
        let Some(last) = rows.last() else { break };
        from = Some(last.next_attempt_at);
        mails += rows.len();
        sent = rows.iter().map(|r| OutboxUpdate::Sent { id: r.id, reply: "250 2.0.0 OK: queued".into() }).collect();
    }
    let bookkeeping = cpu_since(cpu);

    // The rows as stored: building does not look at their status.
    let rows = db.outbox(None, mails as i64).await.map_err(|e| format!("reading the outbox failed: {e}"))?;
    let cpu = process_cpu();
    let built = worker.build_all(rows, now).await;
    let building = cpu_since(cpu);
    if built != mails {
        return Err(format!("the worker built {built} of {mails} mails"));
    }
    Ok(EngineParts { mails, bookkeeping, building })
}

async fn sqlite_backend(opts: &MailBenchOptions) -> Result<MailBackendReport, String> {
    let path = opts.sqlite_dir.join(format!("mops-bench-mail-{}.db", Uuid::new_v4().simple()));
    let report = match SqliteStore::connect(&sqlite_url(&path)).await {
        Ok(store) => {
            let db = Db::Sqlite(store);
            let report = measure(Backend::Sqlite, opts, &db).await;
            if let Db::Sqlite(s) = &db {
                s.close().await;
            }
            report
        }
        Err(e) => Err(format!("SQLite: cannot create {}: {e}", path.display())),
    };
    remove_sqlite(&path);
    report
}

async fn postgres_backend(opts: &MailBenchOptions) -> Result<MailBackendReport, String> {
    let base = PgConnectOptions::from_str(&opts.postgres_url)
        .map_err(|e| format!("PostgreSQL: {e}: the URL should look like {DEFAULT_POSTGRES_URL}"))?;
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(base.clone())
        .await
        .map_err(|e| format!("PostgreSQL: cannot connect to the server: {e}"))?;
    let schema = format!("mops_bench_mail_{}", Uuid::new_v4().simple());
    let report = match sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin).await {
        Err(e) => Err(format!("PostgreSQL: cannot create a schema: {e}")),
        Ok(_) => {
            let max = u32::try_from(opts.concurrency + 2).unwrap_or(u32::MAX);
            let report =
                match PgStore::connect_options(base.clone().options([("search_path", schema.as_str())]), max).await {
                    Ok(store) => {
                        let db = Db::Postgres(store);
                        let report = measure(Backend::Postgres, opts, &db).await;
                        if let Db::Postgres(s) = &db {
                            s.pool().close().await;
                        }
                        report
                    }
                    Err(e) => Err(format!("PostgreSQL: cannot connect: {e}")),
                };
            if let Err(e) = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&admin).await {
                tracing::warn!(%schema, error = %e, "could not drop the benchmark schema");
            }
            report
        }
    };
    admin.close().await;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(backend: BackendChoice, dir: &std::path::Path) -> MailBenchOptions {
        MailBenchOptions {
            backends: vec![backend],
            messages: 60,
            concurrency: 4,
            batch: 25,
            rounds: 2,
            sqlite_dir: dir.to_owned(),
            ..MailBenchOptions::default()
        }
    }

    fn check_counts(report: &MailBenchReport, n: usize) {
        let b = &report.backends[0];
        assert_eq!(b.runs.len(), 6);
        for sender in [Sender::Engine, Sender::Lettre, Sender::LettreBytes] {
            assert_eq!(b.runs.iter().filter(|r| r.sender == sender).count(), 2);
        }
        for run in &b.runs {
            assert_eq!(run.messages, n, "{run:?}");
            assert_eq!(run.sink, SinkCounts { received: n, distinct: n, duplicates: 0 }, "{run:?}");
        }
        assert_eq!(b.rows_sent, n);
        assert_eq!(b.outbox.rows_made - b.outbox.rows_removed, n);
        assert_eq!(b.outbox.notices.values().sum::<usize>(), n);
        assert!(b.outbox.mean_bytes > 0);
        assert_eq!(b.duplicates(), 0);
        // Each part ran alone over every row.
        assert_eq!(b.parts.mails, n);
        if cfg!(target_os = "linux") {
            // A run shorter than a clock tick of `/proc/stat` (10 ms) may
            // see no ticks at all, and then no share of them stolen.
            assert!(b.runs.iter().all(|r| r.steal.is_none_or(|p| (0.0..=100.0).contains(&p))), "{:?}", b.runs);
            assert!(b.runs.iter().any(|r| r.steal.is_some()), "{:?}", b.runs);
            assert!(b.parts.bookkeeping.is_some() && b.parts.building.is_some(), "{:?}", b.parts);
            assert!(b.median_cpu(Sender::Engine).is_some() && b.median_cpu(Sender::Lettre).is_some());
        }
        let text = report.to_string();
        for line in [
            "steal %",
            "claiming and recording",
            "cpu µs/mail, median of the runs",
            "formatted beforehand",
            "round by round",
        ] {
            assert!(text.contains(line), "{line:?} missing from {text}");
        }
    }

    /// A run of 1000 mails that took `wall_ms` and `cpu_ms` (if known).
    fn run_of(sender: Sender, round: usize, wall_ms: u64, cpu_ms: Option<u64>) -> MailRun {
        MailRun {
            sender,
            round,
            messages: 1000,
            wall: Duration::from_millis(wall_ms),
            cpu: cpu_ms.map(Duration::from_millis),
            steal: None,
            sink: SinkCounts::default(),
        }
    }

    /// A report of SQLite made of `runs` over 1000 mails.
    fn report_of(runs: Vec<MailRun>) -> MailBackendReport {
        MailBackendReport {
            backend: Backend::Sqlite,
            outbox: Seeding {
                rounds: 1,
                rows_made: 1000,
                rows_removed: 0,
                wall: Duration::ZERO,
                notices: BTreeMap::new(),
                mean_bytes: 0,
            },
            runs,
            rows_sent: 1000,
            parts: EngineParts::default(),
        }
    }

    #[test]
    fn the_median_cpu_is_of_one_senders_runs() {
        let run = |sender, round, cpu_ms: Option<u64>| run_of(sender, round, 1000, cpu_ms);
        let report = report_of;
        // 1000 mails: a millisecond of CPU is a microsecond per mail.
        let odd = report(vec![
            run(Sender::Engine, 1, Some(300)),
            run(Sender::Lettre, 1, Some(100)),
            run(Sender::Engine, 2, Some(200)),
            run(Sender::Engine, 3, Some(250)),
        ]);
        assert_eq!(odd.median_cpu(Sender::Engine), Some(250.0));
        assert_eq!(odd.median_cpu(Sender::Lettre), Some(100.0));
        let even = report(vec![
            run(Sender::Engine, 1, Some(300)),
            run(Sender::Engine, 2, Some(200)),
            run(Sender::Lettre, 1, None),
        ]);
        assert_eq!(even.median_cpu(Sender::Engine), Some(250.0));
        assert_eq!(even.median_cpu(Sender::Lettre), None, "no CPU known");
        assert!(even.to_string().contains("claiming and recording"));
        assert!(!even.to_string().contains("median of the runs"), "no median without both senders");
    }

    #[test]
    fn each_round_compares_the_engine_with_the_lettre_run_beside_it() {
        let run = |sender, round, wall_ms| run_of(sender, round, wall_ms, None);
        // The machine slows down after the first round: lettre alone more
        // than the engine.
        let report = report_of(vec![
            run(Sender::Lettre, 1, 100),
            run(Sender::LettreBytes, 1, 80),
            run(Sender::Engine, 1, 150),
            run(Sender::Engine, 2, 200),
            run(Sender::LettreBytes, 2, 150),
            run(Sender::Lettre, 2, 160),
            run(Sender::Lettre, 3, 170),
            run(Sender::Engine, 3, 170),
        ]);
        let ratios: Vec<String> = report.round_ratios().iter().map(|r| format!("{r:.2}")).collect();
        assert_eq!(ratios, ["0.67", "0.80", "1.00"]);
        // The goal's ratio is the rounds' median; best against best (100 ms
        // of lettre against 150 of the engine) would miss the goal.
        assert!((report.ratio() - 0.8).abs() < 1e-9);
        assert!(report.goal_met());
        assert!((report.best_ratio() - 100.0 / 150.0).abs() < 1e-9);
        let text = report.to_string();
        assert!(text.contains(
            "round by round (each engine run against the lettre-alone run beside it): 0.67, 0.80, 1.00; median 0.80 \
             (goal ≥ 0.7: met)"
        ));
        assert!(text.contains("best against best: engine 6666.7/s, lettre alone 10000.0/s; engine/lettre alone: 0.67"));
        // A round that is missing a run is left out; none at all is no ratio.
        let lone = report_of(vec![run(Sender::Engine, 1, 100), run(Sender::Lettre, 2, 100)]);
        assert!(lone.round_ratios().is_empty());
        assert_eq!(lone.ratio(), 0.0);
        assert!(!lone.goal_met());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_engine_and_lettre_deliver_every_mail_once() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let report = run(&small(BackendChoice::Sqlite, dir.path())).await.expect("the benchmark runs");
        check_counts(&report, 60);
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("the folder").collect();
        assert!(left.is_empty(), "the benchmark left files behind: {left:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_outbox_spans_several_copies_of_the_round() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let opts = MailBenchOptions { messages: 250, rounds: 1, ..small(BackendChoice::Sqlite, dir.path()) };
        let report = run(&opts).await.expect("the benchmark runs");
        let b = &report.backends[0];
        assert!(b.outbox.rounds >= 2, "{:?}", b.outbox);
        assert_eq!(b.rows_sent, 250);
        assert!(b.runs.iter().all(|r| r.sink == SinkCounts { received: 250, distinct: 250, duplicates: 0 }));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_engine_and_lettre_deliver_every_mail_once() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let report = run(&small(BackendChoice::Postgres, dir.path()))
            .await
            .expect("the benchmark runs (PostgreSQL is required)");
        check_counts(&report, 60);
    }

    #[tokio::test]
    async fn the_sink_counts_duplicates_by_message_id() {
        for quick_ack in [true, false] {
            sink_counts(quick_ack).await;
        }
    }

    async fn sink_counts(quick_ack: bool) {
        let sink = SmtpSink::start_with(quick_ack).await.expect("a sink");
        let smtp = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(sink.addr().port())
            .build();
        let message = |id: &str| {
            Message::builder()
                .from("a@bench.example".parse().unwrap())
                .to("b@bench.example".parse().unwrap())
                .subject("x")
                .message_id(Some(format!("<{id}@bench.example>")))
                .body(String::from("hello\r\n.\r\nstill the body"))
                .unwrap()
        };
        for id in ["one", "two", "one"] {
            let response = smtp.send(message(id)).await.expect("the sink accepts");
            assert_eq!(response.code().to_string(), "250");
        }
        assert_eq!(sink.received(), 3);
        assert_eq!(sink.take(), SinkCounts { received: 3, distinct: 2, duplicates: 1 });
        assert_eq!(sink.take(), SinkCounts::default());
    }

    #[test]
    fn the_arguments_parse() {
        use clap::Parser;
        #[derive(Debug, Parser)]
        struct Cli {
            #[command(flatten)]
            bench: MailBenchArgs,
        }
        let opts = MailBenchOptions::from(Cli::parse_from(["mops"]).bench);
        assert_eq!(opts.backends, [BackendChoice::Sqlite, BackendChoice::Postgres]);
        assert_eq!((opts.messages, opts.concurrency, opts.batch, opts.rounds), (10_000, 8, 100, 3));
        let opts = MailBenchOptions::from(
            Cli::parse_from(["mops", "--backend", "sqlite", "--messages", "500", "--batch", "50", "--rounds", "1"])
                .bench,
        );
        assert_eq!(opts.backends, [BackendChoice::Sqlite]);
        assert_eq!((opts.messages, opts.batch, opts.rounds), (500, 50, 1));
    }
}
