//! The benchmark behind `mops bench-http`: what the HTTP API adds to a
//! pipeline command.
//!
//! For each backend (SQLite in a temporary file; PostgreSQL as well when the
//! database URL names one, in a fresh schema dropped afterwards) it sets up a
//! call in its development phase with one selected idea per client, starts
//! the API server in-process on 127.0.0.1:0, and runs three workloads with
//! the same number of concurrent clients and operations:
//!
//! 1. **Engine**: [`Store::execute_idea`] called directly with
//!    `record_attendance` on the client's own idea, with the version it saw.
//! 2. **API**: `POST /api/v1/ideas/{id}/commands` with the same command,
//!    `If-Match` and a bearer token, over keep-alive HTTP/1.1 connections
//!    (a small client on a `TcpStream`: no client crate).
//! 3. **Health**: `GET /healthz` over the same kind of connections: the cost
//!    of the HTTP stack alone.
//!
//! Each client works on its own idea, so the commands do not conflict; they
//! still queue for SQLite's single writer. It reports requests per second,
//! p50 and p99 latency, and two ratios: API over engine (what HTTP, JSON,
//! authentication and the access check cost a command) and API over health
//! (how much of an API request is the command).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use mops_core::call::SeminarId;
use mops_core::domain::{CallId, Email, IdeaId, Language, PersonId, PersonName, Theme, Title};
use mops_core::idea::{Applicant, IdeaDetails, NewIdea};
use mops_core::{Actor, CallCommand, CallPhase, IdeaCommand, Role};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use uuid::Uuid;

use crate::people::{ChangedBy, NewUser, PeopleStore};
use crate::store::{CallRequest, Db, IdeaRequest, PgStore, SqliteStore, Store, StoreError};

/// The command-line arguments of `mops bench-http`.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpBenchArgs {
    /// Concurrent clients (and ideas: one each).
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Operations per client in each workload.
    #[arg(long, default_value_t = 50)]
    pub requests: usize,
    /// Folder for the SQLite benchmark file (created and deleted per run).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    pub sqlite_dir: PathBuf,
}

/// One workload's figures.
#[derive(Debug, Clone)]
pub struct Workload {
    pub name: &'static str,
    pub operations: usize,
    pub wall: Duration,
    pub p50: Duration,
    pub p99: Duration,
    /// Retries after a busy database (503 / `StoreError::Busy`).
    pub retries: u64,
}

impl Workload {
    pub fn per_second(&self) -> f64 {
        self.operations as f64 / self.wall.as_secs_f64().max(f64::EPSILON)
    }
}

/// One backend's three workloads.
#[derive(Debug, Clone)]
pub struct BackendRun {
    pub backend: String,
    pub engine: Workload,
    pub api: Workload,
    pub health: Workload,
}

#[derive(Debug, Clone)]
pub struct HttpBenchReport {
    pub clients: usize,
    pub requests: usize,
    pub runs: Vec<BackendRun>,
}

impl fmt::Display for HttpBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "bench-http: {} clients, {} operations each per workload", self.clients, self.requests)?;
        if cfg!(debug_assertions) {
            writeln!(f, "(a debug build: use --release for meaningful numbers)")?;
        }
        for run in &self.runs {
            writeln!(f, "\n{}", run.backend)?;
            writeln!(
                f,
                "  {:<40} {:>10} {:>10} {:>10} {:>8}",
                "workload", "per second", "p50 ms", "p99 ms", "retries"
            )?;
            for w in [&run.engine, &run.api, &run.health] {
                writeln!(
                    f,
                    "  {:<40} {:>10.0} {:>10.2} {:>10.2} {:>8}",
                    w.name,
                    w.per_second(),
                    w.p50.as_secs_f64() * 1e3,
                    w.p99.as_secs_f64() * 1e3,
                    w.retries
                )?;
            }
            writeln!(
                f,
                "  API / engine: {:.2} of the engine's throughput; API / health: {:.2} of a bare HTTP request's",
                run.api.per_second() / run.engine.per_second(),
                run.api.per_second() / run.health.per_second()
            )?;
        }
        Ok(())
    }
}

/// Runs the benchmark on SQLite, and on PostgreSQL if `database_url` is a
/// PostgreSQL URL.
pub async fn run(args: &HttpBenchArgs, database_url: &str) -> Result<HttpBenchReport, String> {
    if args.clients == 0 || args.requests == 0 {
        return Err("--clients and --requests must be at least 1".into());
    }
    let mut runs = Vec::new();

    let path = args.sqlite_dir.join(format!("mops-bench-http-{}.db", Uuid::new_v4().simple()));
    let result = async {
        let db = Db::Sqlite(
            SqliteStore::connect(&crate::bench::sqlite_url(&path))
                .await
                .map_err(|e| format!("SQLite: cannot create {}: {e}", path.display()))?,
        );
        measure("SQLite", &db, args).await
    }
    .await;
    crate::bench::remove_sqlite(&path);
    runs.push(result?);

    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        runs.push(postgres(database_url, args).await?);
    }
    Ok(HttpBenchReport { clients: args.clients, requests: args.requests, runs })
}

async fn postgres(url: &str, args: &HttpBenchArgs) -> Result<BackendRun, String> {
    let base = PgConnectOptions::from_str(url).map_err(|e| format!("PostgreSQL: {e}"))?;
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(base.clone())
        .await
        .map_err(|e| format!("PostgreSQL: cannot connect to the server: {e}"))?;
    let schema = format!("mops_bench_http_{}", Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .map_err(|e| format!("PostgreSQL: cannot create a schema: {e}"))?;
    let max = u32::try_from(args.clients + 4).unwrap_or(u32::MAX);
    let result = match PgStore::connect_options(base.options([("search_path", schema.as_str())]), max).await {
        Ok(store) => {
            let db = Db::Postgres(store);
            let r = measure("PostgreSQL", &db, args).await;
            if let Db::Postgres(s) = &db {
                s.pool().close().await;
            }
            r
        }
        Err(e) => Err(format!("PostgreSQL: cannot connect: {e}")),
    };
    if let Err(e) = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&admin).await {
        tracing::warn!(%schema, error = %e, "could not drop the benchmark schema");
    }
    admin.close().await;
    result
}

async fn measure(backend: &str, db: &Db, args: &HttpBenchArgs) -> Result<BackendRun, String> {
    db.migrate().await.map_err(|e| format!("{backend}: migrate: {e}"))?;
    let setup = setup(db, args.clients).await.map_err(|e| format!("{backend}: setup: {e}"))?;

    let listener = crate::serve::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = crate::serve::router(db.clone());
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });

    let engine = engine(db, &setup, args.requests).await.map_err(|e| format!("{backend}: engine: {e}"))?;
    let api = api(addr, &setup, args.requests).await.map_err(|e| format!("{backend}: API: {e}"))?;
    let health = health(addr, args.clients, args.requests).await.map_err(|e| format!("{backend}: health: {e}"))?;

    let _ = stop.send(());
    let _ = server.await;
    Ok(BackendRun { backend: backend.to_owned(), engine, api, health })
}

/// A call in its development phase, one selected idea per client, and the
/// process leader's token.
struct Setup {
    call: CallId,
    seminar: SeminarId,
    ideas: Vec<IdeaId>,
    leader: Actor,
    token: String,
}

async fn setup(db: &Db, n: usize) -> Result<Setup, String> {
    let now = Utc::now();
    let days = chrono::Duration::days;
    let round = mops_core::reference::round_2010();
    let mut definition = round.definition.clone();
    let t = &mut definition.timeline;
    t.opens_at = now - days(10);
    t.closes_at = now - days(5);
    for (i, s) in t.seminars.iter_mut().enumerate() {
        s.starts_at = now - days(4) + days(i as i64);
        s.ends_at = s.starts_at + chrono::Duration::hours(2);
    }
    t.panel_at = now + days(20);
    t.plan_deadline = now + days(30);
    t.decision_meeting_at = now + days(40);
    definition.capacity = u32::try_from(n).map_err(|e| e.to_string())?;
    let seminar = definition.timeline.seminars.first().map(|s| s.id).ok_or("the reference call has no seminar")?;
    let sector = Actor::person(
        PersonId::from_uuid(Uuid::new_v4()),
        [Role::SectorGroupMember { group: definition.sector_group }],
    );
    let theme: Theme = definition.themes.first().cloned().ok_or("the reference call has no theme")?;
    let organisation = round.organisations[0].id;

    let leader = db
        .add_user(
            NewUser {
                id: PersonId::from_uuid(Uuid::new_v4()),
                email: Email::parse("bench-http@example.org").map_err(|e| e.to_string())?,
                name: PersonName::parse("Bänk Mätare").map_err(|e| e.to_string())?,
                organisation: None,
                language: Language::Sv,
                password: None,
            },
            ChangedBy::CommandLine,
        )
        .await
        .map_err(|e| e.to_string())?;
    db.grant_role(leader.id, Role::ProcessLeader, ChangedBy::CommandLine).await.map_err(|e| e.to_string())?;
    let (_, token) =
        db.create_token(leader.id, "bench-http", ChangedBy::CommandLine).await.map_err(|e| e.to_string())?;
    let leader = Actor::person(leader.id, [Role::ProcessLeader]);

    let call = CallId::from_uuid(Uuid::new_v4());
    let call_step = |at: DateTime<Utc>, command: CallCommand| {
        let (db, leader) = (db.clone(), leader.clone());
        async move {
            db.execute_call(CallRequest {
                call,
                command: &command,
                actor: &leader,
                now: at,
                expected_version: None,
                idempotency_key: None,
            })
            .await
            .map_err(|e| e.to_string())
        }
    };
    let in_window = now - days(7);
    call_step(in_window, CallCommand::Create { id: call, definition: Box::new(definition) }).await?;
    call_step(in_window, CallCommand::Advance { to: CallPhase::Open }).await?;
    let mut ideas = Vec::with_capacity(n);
    for i in 0..n {
        let id = IdeaId::from_uuid(Uuid::new_v4());
        let person = PersonId::from_uuid(Uuid::new_v4());
        let lead = Applicant {
            person,
            name: PersonName::parse(&format!("Sökande {i}")).map_err(|e| e.to_string())?,
            email: Email::parse(&format!("sokande{i}@example.org")).map_err(|e| e.to_string())?,
            organisation,
            language: Language::Sv,
        };
        let details = IdeaDetails {
            title: Title::parse(&format!("Idé {i}")).map_err(|e| e.to_string())?,
            summary: mops_core::domain::FreeText::parse("En idé för mätningen.").map_err(|e| e.to_string())?,
            theme: theme.clone(),
            organisation,
            co_applicants: Vec::new(),
        };
        let command = IdeaCommand::SubmitNew(Box::new(NewIdea { id, call, lead, details }));
        idea_step(db, call, id, &command, &Actor::person(person, []), in_window).await?;
        ideas.push(id);
    }
    let closed = now - days(5) + chrono::Duration::hours(1);
    call_step(closed, CallCommand::Advance { to: CallPhase::Selection }).await?;
    for id in &ideas {
        idea_step(db, call, *id, &IdeaCommand::Select { motivation: None }, &sector, closed).await?;
    }
    call_step(closed, CallCommand::Advance { to: CallPhase::Development }).await?;
    // One attendance first, so each workload starts from the same stage.
    for id in &ideas {
        let command = IdeaCommand::RecordAttendance { seminar, attended: true };
        idea_step(db, call, *id, &command, &leader, now).await?;
    }
    Ok(Setup { call, seminar, ideas, leader, token })
}

async fn idea_step(
    db: &Db,
    call: CallId,
    idea: IdeaId,
    command: &IdeaCommand,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<i64, String> {
    db.execute_idea(IdeaRequest { call, idea, command, actor, now, expected_version: None, idempotency_key: None })
        .await
        .map(|o| o.version)
        .map_err(|e| e.to_string())
}

/// p50 and p99 of all clients' latencies.
fn percentiles(mut all: Vec<Duration>) -> (Duration, Duration) {
    all.sort_unstable();
    let at = |q: f64| all.get(((all.len() as f64 * q).ceil() as usize).saturating_sub(1)).copied().unwrap_or_default();
    (at(0.50), at(0.99))
}

type ClientResult = Result<(Vec<Duration>, u64), String>;

async fn gather(
    name: &'static str,
    started: Instant,
    tasks: Vec<tokio::task::JoinHandle<ClientResult>>,
) -> Result<Workload, String> {
    let mut latencies = Vec::new();
    let mut retries = 0;
    for t in tasks {
        let (l, r) = t.await.map_err(|e| e.to_string())??;
        latencies.extend(l);
        retries += r;
    }
    let wall = started.elapsed();
    let operations = latencies.len();
    let (p50, p99) = percentiles(latencies);
    Ok(Workload { name, operations, wall, p50, p99, retries })
}

async fn engine(db: &Db, setup: &Setup, requests: usize) -> Result<Workload, String> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (n, idea) in setup.ideas.iter().enumerate() {
        let (db, idea, call, actor, seminar) = (db.clone(), *idea, setup.call, setup.leader.clone(), setup.seminar);
        tasks.push(tokio::spawn(async move {
            let mut version = db.idea(idea).await.map_err(|e| e.to_string())?.ok_or("an idea vanished")?.version;
            let mut latencies = Vec::with_capacity(requests);
            let mut retries = 0;
            for i in 0..requests {
                let command = IdeaCommand::RecordAttendance { seminar, attended: (n + i) % 2 == 0 };
                let t = Instant::now();
                loop {
                    let req = IdeaRequest {
                        call,
                        idea,
                        command: &command,
                        actor: &actor,
                        now: Utc::now(),
                        expected_version: Some(version),
                        idempotency_key: None,
                    };
                    match db.execute_idea(req).await {
                        Ok(o) => {
                            version = o.version;
                            break;
                        }
                        Err(StoreError::Busy) => retries += 1,
                        Err(e) => return Err(e.to_string()),
                    }
                }
                latencies.push(t.elapsed());
            }
            Ok((latencies, retries))
        }));
    }
    gather("engine: execute_idea(record_attendance)", started, tasks).await
}

async fn api(addr: SocketAddr, setup: &Setup, requests: usize) -> Result<Workload, String> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (n, idea) in setup.ideas.iter().enumerate() {
        let (idea, auth, seminar) = (*idea, format!("Bearer {}", setup.token), setup.seminar.0);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let path = format!("/api/v1/ideas/{idea}");
            let r = conn.send("GET", &path, &[("Authorization", &auth)], None).await?;
            let mut etag = r.etag.ok_or_else(|| format!("GET {path}: {} without an ETag", r.status))?;
            let commands = format!("{path}/commands");
            let mut latencies = Vec::with_capacity(requests);
            let mut retries = 0;
            for i in 0..requests {
                let body =
                    format!(r#"{{"command":"record_attendance","seminar":{seminar},"attended":{}}}"#, (n + i) % 2 == 0);
                let t = Instant::now();
                loop {
                    let headers = [
                        ("Authorization", auth.as_str()),
                        ("If-Match", etag.as_str()),
                        ("Content-Type", "application/json"),
                    ];
                    let r = conn.send("POST", &commands, &headers, Some(body.as_bytes())).await?;
                    match r.status {
                        200 => {
                            etag = r.etag.ok_or("a command answered without an ETag")?;
                            break;
                        }
                        503 => retries += 1,
                        s => return Err(format!("POST {commands}: {s}: {}", String::from_utf8_lossy(&r.body))),
                    }
                }
                latencies.push(t.elapsed());
            }
            Ok((latencies, retries))
        }));
    }
    gather("API: POST /api/v1/ideas/{id}/commands", started, tasks).await
}

async fn health(addr: SocketAddr, clients: usize, requests: usize) -> Result<Workload, String> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let mut latencies = Vec::with_capacity(requests);
            for _ in 0..requests {
                let t = Instant::now();
                let r = conn.send("GET", "/healthz", &[], None).await?;
                if r.status != 200 {
                    return Err(format!("GET /healthz: {}", r.status));
                }
                latencies.push(t.elapsed());
            }
            Ok((latencies, 0))
        }));
    }
    gather("health: GET /healthz", started, tasks).await
}

/// A keep-alive HTTP/1.1 connection that reads fixed-length responses: all
/// the API and `/healthz` send.
struct Conn {
    stream: BufReader<TcpStream>,
    host: String,
}

struct Answer {
    status: u16,
    etag: Option<String>,
    body: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Self, String> {
        let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect to {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(Self { stream: BufReader::new(stream), host: addr.to_string() })
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Answer, String> {
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n", body.map_or(0, <[u8]>::len)));
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body.unwrap_or_default());
        let io = |e: std::io::Error| format!("{method} {path}: {e}");
        self.stream.get_mut().write_all(&bytes).await.map_err(io)?;

        let mut line = String::new();
        self.stream.read_line(&mut line).await.map_err(io)?;
        let status =
            line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("a status line: {line:?}"))?;
        let (mut length, mut etag) = (0usize, None);
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.map_err(io)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().map_err(|_| format!("a Content-Length: {value:?}"))?;
                } else if name.eq_ignore_ascii_case("etag") {
                    etag = Some(value.trim().to_owned());
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    return Err("a chunked response; this client reads only fixed-length ones".into());
                }
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await.map_err(io)?;
        Ok(Answer { status, etag, body })
    }
}
