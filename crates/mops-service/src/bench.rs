//! The benchmark behind `mops bench`: what the engine costs compared with the
//! same writes done by hand, and how fast the dashboard reads a big call.
//!
//! For each backend it runs, each in a fresh database (SQLite file or
//! PostgreSQL schema, removed afterwards):
//!
//! 1. **Raw SQL**: the writes the engine would make, by hand. Per transition
//!    one transaction that reads the call row (locked `FOR UPDATE` on
//!    PostgreSQL for select and grant, as the engine does) and the idea row,
//!    appends the same number of events with pre-serialised bodies and a
//!    SHA-256 chain hash, writes the same outbox rows, updates the idea row
//!    guarded by its version and, for select and grant, the call totals. No
//!    `decide`, no JSON parsing: the baseline.
//! 2. **Engine**: `N` ideas through every stage with [`Store::execute_idea`]:
//!    submit_new, select, save_plan_section, record_pitch, submit_plan,
//!    prepare, grant (7 transitions each), plus the call's creation and its 8
//!    phase changes. Afterwards [`Store::verify`] checks what it wrote.
//! 3. **Dashboard reads** (unless skipped): a call with many ideas and events
//!    loaded in bulk, then [`Store::stage_counts`], [`Store::funnel`] and
//!    [`Store::idea_events`] timed.
//!
//! The raw and engine runs are interleaved item by item of the plan (one call
//! command, or one action for all ideas), alternating which goes first, so
//! that background work (checkpoints, autovacuum, other processes on the
//! machine) falls on both alike; each run's wall time is the sum of its own
//! items.

use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use mops_core::call::{CallDefinition, StageCounts};
use mops_core::domain::{
    CallId, Email, FreeText, IdeaId, Language, MeetingId, Motivation, PersonId, PersonName, RegistryNumber, SectionKey,
    Sek, Title,
};
use mops_core::idea::{Applicant, IdeaDetails, NewIdea, Recommendation, notifications_for};
use mops_core::{
    Actor, CallCommand, CallContext, CallPhase, CallState, CallTotals, Context, IdeaCommand, IdeaState, Role, Stage,
    decide, decide_call,
};
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use uuid::Uuid;

use crate::store::{Backend, CallRequest, Db, IdeaRequest, PgStore, SqliteStore, Store, StoreError};

/// The goal: the engine reaches this share of raw-SQL throughput.
pub const THROUGHPUT_GOAL: f64 = 0.8;
/// The goal for dashboard reads: p99 under this.
pub const DASHBOARD_GOAL: Duration = Duration::from_millis(50);
/// Idea transitions per idea in the benchmark's path through the pipeline.
pub const TRANSITIONS_PER_IDEA: usize = 7;
/// Call commands per run: the call's creation and its 8 phase changes.
pub const CALL_COMMANDS: usize = 9;

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// A transition retried more often than this fails the benchmark.
const MAX_RETRIES: u32 = 100;
/// Rows per multi-row `INSERT` when loading the dashboard data (13 columns:
/// 13 000 parameters, within both backends' limits).
const LOAD_BATCH: usize = 1_000;

/// Which database to benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    Sqlite,
    Postgres,
}

/// What to run. [`Default`] is the benchmark on both backends.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub backends: Vec<BackendChoice>,
    /// Ideas moved through every stage (7 transitions each).
    pub ideas: usize,
    /// Concurrent clients, each with its own slice of the ideas.
    pub concurrency: usize,
    /// Where the SQLite files go (fresh ones per run, deleted afterwards).
    pub sqlite_dir: PathBuf,
    /// The PostgreSQL server; each run gets a fresh schema, dropped afterwards.
    pub postgres_url: String,
    /// Ideas in the dashboard call.
    pub dashboard_ideas: usize,
    /// Events spread over the dashboard call's ideas.
    pub dashboard_events: usize,
    /// How many times each dashboard read is timed.
    pub dashboard_reads: usize,
    pub skip_dashboard: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            backends: vec![BackendChoice::Sqlite, BackendChoice::Postgres],
            ideas: 10_000,
            concurrency: 8,
            sqlite_dir: std::env::temp_dir(),
            postgres_url: std::env::var("MOPS_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned()),
            dashboard_ideas: 100_000,
            dashboard_events: 1_000_000,
            dashboard_reads: 200,
            skip_dashboard: false,
        }
    }
}

/// The command-line arguments of `mops bench`; flatten into a subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// The backends to benchmark.
    #[arg(long = "backend", value_enum, value_delimiter = ',', default_values_t = [BackendChoice::Sqlite, BackendChoice::Postgres])]
    pub backends: Vec<BackendChoice>,
    /// Ideas to move through all stages (7 transitions each).
    #[arg(long, default_value_t = 10_000)]
    pub ideas: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Folder for the SQLite benchmark files (created and deleted per run).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    pub sqlite_dir: PathBuf,
    /// PostgreSQL server for the benchmark (a fresh schema per run, dropped afterwards).
    #[arg(long, env = "MOPS_TEST_DATABASE_URL", default_value = DEFAULT_POSTGRES_URL, hide_env_values = true)]
    pub postgres_url: String,
    /// Ideas in the dashboard call.
    #[arg(long, default_value_t = 100_000)]
    pub dashboard_ideas: usize,
    /// Events over the dashboard call's ideas.
    #[arg(long, default_value_t = 1_000_000)]
    pub dashboard_events: usize,
    /// Timed repetitions of each dashboard read.
    #[arg(long, default_value_t = 200)]
    pub dashboard_reads: usize,
    /// Skip the dashboard reads.
    #[arg(long)]
    pub skip_dashboard: bool,
}

impl From<BenchArgs> for BenchOptions {
    fn from(a: BenchArgs) -> Self {
        Self {
            backends: a.backends,
            ideas: a.ideas,
            concurrency: a.concurrency,
            sqlite_dir: a.sqlite_dir,
            postgres_url: a.postgres_url,
            dashboard_ideas: a.dashboard_ideas,
            dashboard_events: a.dashboard_events,
            dashboard_reads: a.dashboard_reads,
            skip_dashboard: a.skip_dashboard,
        }
    }
}

/// Everything measured; its [`Display`](fmt::Display) is the printed report.
#[derive(Debug, Clone)]
pub struct BenchReport {
    pub ideas: usize,
    pub concurrency: usize,
    pub backends: Vec<BackendReport>,
}

#[derive(Debug, Clone)]
pub struct BackendReport {
    pub backend: Backend,
    pub engine: RunStats,
    pub raw: RunStats,
    /// The engine's database passed [`Store::verify`]; otherwise the number
    /// of discrepancies.
    pub engine_verify: Result<(), usize>,
    pub dashboard: Option<DashboardReport>,
}

impl BackendReport {
    /// Engine throughput over raw-SQL throughput.
    pub fn ratio(&self) -> f64 {
        let raw = self.raw.per_second();
        if raw > 0.0 { self.engine.per_second() / raw } else { 0.0 }
    }

    pub fn goal_met(&self) -> bool {
        self.ratio() >= THROUGHPUT_GOAL
    }
}

/// One run (engine or raw) on one backend.
#[derive(Debug, Clone, Default)]
pub struct RunStats {
    /// Idea transitions plus call commands, each one transaction.
    pub transitions: usize,
    /// Of which call commands (creation and phase changes).
    pub call_commands: usize,
    /// Wall time of the whole run, call commands included.
    pub wall: Duration,
    pub p50: Duration,
    pub p99: Duration,
    /// Transactions tried again after a retryable error (busy, conflict).
    pub retries: u64,
    /// Rows in `events` and `outbox` afterwards.
    pub events: i64,
    pub outbox: i64,
    /// Per idea action: wall time and latencies.
    pub actions: Vec<ActionStats>,
}

impl RunStats {
    pub fn per_second(&self) -> f64 {
        per_second(self.transitions, self.wall)
    }
}

#[derive(Debug, Clone)]
pub struct ActionStats {
    pub action: &'static str,
    pub transitions: usize,
    pub wall: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

impl ActionStats {
    pub fn per_second(&self) -> f64 {
        per_second(self.transitions, self.wall)
    }
}

#[derive(Debug, Clone)]
pub struct DashboardReport {
    pub ideas: usize,
    pub events: usize,
    /// How long the bulk load (and ANALYZE) took.
    pub load: Duration,
    pub reads: Vec<ReadStats>,
}

#[derive(Debug, Clone)]
pub struct ReadStats {
    pub read: &'static str,
    pub samples: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl ReadStats {
    pub fn goal_met(&self) -> bool {
        self.p99 < DASHBOARD_GOAL
    }
}

fn per_second(n: usize, wall: Duration) -> f64 {
    let secs = wall.as_secs_f64();
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "MOPS benchmark: {} ideas × {TRANSITIONS_PER_IDEA} transitions + {CALL_COMMANDS} call commands = {} \
             transactions per run, {} concurrent clients; raw and engine runs interleaved action by action",
            self.ideas,
            self.ideas * TRANSITIONS_PER_IDEA + CALL_COMMANDS,
            self.concurrency
        )?;
        for b in &self.backends {
            writeln!(f)?;
            write!(f, "{b}")?;
        }
        Ok(())
    }
}

impl fmt::Display for BackendReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let setup = match self.backend {
            Backend::Sqlite => "WAL, synchronous=FULL, BEGIN IMMEDIATE",
            Backend::Postgres => "read committed, FOR UPDATE on the call row for select and grant",
        };
        writeln!(f, "{} ({setup})", self.backend)?;
        writeln!(
            f,
            "  {:<8} {:>12} {:>10} {:>12} {:>9} {:>9} {:>8} {:>9} {:>9}",
            "run", "transactions", "wall s", "per second", "p50 ms", "p99 ms", "retries", "events", "outbox"
        )?;
        for (name, r) in [("raw SQL", &self.raw), ("engine", &self.engine)] {
            writeln!(
                f,
                "  {:<8} {:>12} {:>10.2} {:>12.1} {:>9.2} {:>9.2} {:>8} {:>9} {:>9}",
                name,
                r.transitions,
                r.wall.as_secs_f64(),
                r.per_second(),
                ms(r.p50),
                ms(r.p99),
                r.retries,
                r.events,
                r.outbox
            )?;
        }
        writeln!(
            f,
            "  engine/raw throughput: {:.2} (goal ≥ {THROUGHPUT_GOAL}: {})",
            self.ratio(),
            met(self.goal_met())
        )?;
        match self.engine_verify {
            Ok(()) => writeln!(f, "  engine database verified: hash chains, states and outbox consistent")?,
            Err(n) => writeln!(f, "  engine database verify found {n} discrepancies")?,
        }
        writeln!(f, "  per action (transitions per second, p99 ms): engine | raw SQL")?;
        for (e, r) in self.engine.actions.iter().zip(&self.raw.actions) {
            writeln!(
                f,
                "    {:<18} {:>10.1} {:>8.2} | {:>10.1} {:>8.2}",
                e.action,
                e.per_second(),
                ms(e.p99),
                r.per_second(),
                ms(r.p99)
            )?;
        }
        if let Some(d) = &self.dashboard {
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl fmt::Display for DashboardReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  dashboard reads over one call with {} ideas and {} events (bulk-loaded in {:.1} s; the rows are \
             realistic in shape and size but not valid hash chains)",
            self.ideas,
            self.events,
            self.load.as_secs_f64()
        )?;
        for r in &self.reads {
            writeln!(
                f,
                "    {:<24} {:>4} reads  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  (goal p99 < {} ms: {})",
                r.read,
                r.samples,
                ms(r.p50),
                ms(r.p99),
                ms(r.max),
                DASHBOARD_GOAL.as_millis(),
                met(r.goal_met())
            )?;
        }
        Ok(())
    }
}

/// Runs the benchmark. Errors say which step failed; databases and schemas
/// the benchmark created are removed in any case.
pub async fn run(opts: &BenchOptions) -> Result<BenchReport, String> {
    if opts.ideas == 0 || opts.ideas > 999_999 {
        return Err(format!("--ideas must be between 1 and 999999, not {}", opts.ideas));
    }
    if opts.concurrency == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    if opts.backends.is_empty() {
        return Err("name at least one backend".into());
    }
    let scenario = Arc::new(Scenario::new(opts.ideas)?);
    let shapes = Arc::new(Shapes::sample(&scenario)?);
    let mut backends = Vec::new();
    for choice in &opts.backends {
        let report = match choice {
            BackendChoice::Sqlite => sqlite_backend(opts, &scenario, &shapes).await,
            BackendChoice::Postgres => postgres_backend(opts, &scenario, &shapes).await,
        };
        backends.push(report?);
    }
    Ok(BenchReport { ideas: opts.ideas, concurrency: opts.concurrency, backends })
}

// ---------------------------------------------------------------------------
// The scenario: one call, N ideas, every stage.

/// The idea actions of the benchmark, in pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    SubmitNew,
    Select,
    SavePlanSection,
    RecordPitch,
    SubmitPlan,
    Prepare,
    Grant,
}

impl Step {
    const ALL: [Step; TRANSITIONS_PER_IDEA] = [
        Step::SubmitNew,
        Step::Select,
        Step::SavePlanSection,
        Step::RecordPitch,
        Step::SubmitPlan,
        Step::Prepare,
        Step::Grant,
    ];

    fn key(self) -> &'static str {
        match self {
            Step::SubmitNew => "submit_new",
            Step::Select => "select",
            Step::SavePlanSection => "save_plan_section",
            Step::RecordPitch => "record_pitch",
            Step::SubmitPlan => "submit_plan",
            Step::Prepare => "prepare",
            Step::Grant => "grant",
        }
    }

    fn index(self) -> usize {
        Step::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Create,
    Advance(CallPhase),
    Ideas(Step),
}

/// The run, in order: each call command once, each idea step for all ideas.
const PLAN: [Item; 16] = [
    Item::Create,
    Item::Advance(CallPhase::Open),
    Item::Ideas(Step::SubmitNew),
    Item::Advance(CallPhase::Selection),
    Item::Ideas(Step::Select),
    Item::Advance(CallPhase::Development),
    Item::Ideas(Step::SavePlanSection),
    Item::Advance(CallPhase::Panel),
    Item::Ideas(Step::RecordPitch),
    Item::Ideas(Step::SubmitPlan),
    Item::Advance(CallPhase::PlansDue),
    Item::Advance(CallPhase::Preparation),
    Item::Ideas(Step::Prepare),
    Item::Advance(CallPhase::Decision),
    Item::Ideas(Step::Grant),
    Item::Advance(CallPhase::Finished),
];

#[derive(Debug)]
struct BenchIdea {
    id: IdeaId,
    lead: Applicant,
    actor: Actor,
    registry: RegistryNumber,
}

#[derive(Debug)]
struct Scenario {
    call: CallId,
    definition: CallDefinition,
    leader: Actor,
    sector: Actor,
    board: Actor,
    meeting: MeetingId,
    section: SectionKey,
    section_text: FreeText,
    summary: FreeText,
    ideas: Vec<BenchIdea>,
}

const GRANT_KRONOR: i64 = 350_000;
const REQUEST_KRONOR: i64 = 375_000;

fn kronor(kr: i64) -> Result<Sek, String> {
    Sek::from_kronor(kr).map_err(|e| e.to_string())
}

impl Scenario {
    /// The 2010 round's people, roles and call, scaled to `n` ideas, with a
    /// template of one mandatory section.
    fn new(n: usize) -> Result<Self, String> {
        let round = mops_core::reference::round_2010();
        let holder = |want: fn(&Role) -> bool| {
            round
                .roles
                .iter()
                .find(|(_, roles)| roles.iter().any(want))
                .map(|(p, _)| round.actor(*p))
                .ok_or_else(|| "the 2010 round lacks a role the benchmark needs".to_owned())
        };
        let leader = round.actor(round.process_leader);
        let sector = holder(|r| matches!(r, Role::SectorGroupMember { .. }))?;
        let board = holder(|r| matches!(r, Role::BoardMember))?;

        let mut definition = round.definition.clone();
        definition.capacity = u32::try_from(n).map_err(|e| e.to_string())?;
        let needed = GRANT_KRONOR * i64::try_from(n).map_err(|e| e.to_string())?;
        definition.budget = kronor(needed.max(400_000))?;
        let first = definition
            .template
            .iter()
            .find(|s| s.mandatory)
            .cloned()
            .ok_or("the 2010 template has no mandatory section")?;
        let section = first.key.clone();
        definition.template = vec![first];
        let problems = definition.problems();
        if !problems.is_empty() {
            return Err(format!("the benchmark's call definition is invalid: {problems:?}"));
        }

        let text = |s: &str| FreeText::parse(s).map_err(|e| e.to_string());
        let section_text = text(
            &"Projektet bygger på ett nära samarbete mellan högskolan och kommunernas \
             verksamheter. Vi beskriver bakgrunden, de behov som verksamheterna har formulerat och hur \
             projektet knyter an till pågående forskning. "
                .repeat(4),
        )?;
        let summary = text(
            "En idé om att utveckla arbetssätt tillsammans med högskolan, så att nya kunskaper kommer \
             verksamheterna till del. Idén beskrivs närmare i seminarieserien.",
        )?;
        let organisations: Vec<_> = round.organisations.iter().map(|o| o.id).collect();
        let ideas = (0..n)
            .map(|i| {
                let person = PersonId::from_uuid(Uuid::new_v4());
                let lead = Applicant {
                    person,
                    name: PersonName::parse(&format!("Sökande {}", i + 1)).map_err(|e| e.to_string())?,
                    email: Email::parse(&format!("sokande{}@bench.example", i + 1)).map_err(|e| e.to_string())?,
                    organisation: organisations[i % organisations.len()],
                    language: Language::Sv,
                };
                Ok(BenchIdea {
                    id: IdeaId::from_uuid(Uuid::new_v4()),
                    lead,
                    actor: Actor::person(person, []),
                    registry: RegistryNumber::parse(&format!("SK 2010/{}", i + 1)).map_err(|e| e.to_string())?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            call: CallId::from_uuid(Uuid::new_v4()),
            definition,
            leader,
            sector,
            board,
            meeting: round.meeting.id,
            section,
            section_text,
            summary,
            ideas,
        })
    }

    /// When each item happens: inside the windows the core checks.
    fn at(&self, item: Item) -> DateTime<Utc> {
        use chrono::Duration as D;
        let t = &self.definition.timeline;
        match item {
            Item::Create => t.opens_at - D::days(14),
            Item::Advance(CallPhase::Open) => t.opens_at,
            Item::Ideas(Step::SubmitNew) => t.opens_at + D::days(1),
            Item::Advance(CallPhase::Selection) => t.closes_at + D::hours(1),
            Item::Ideas(Step::Select) => t.closes_at + D::days(1),
            Item::Advance(CallPhase::Development) => t.closes_at + D::days(2),
            Item::Ideas(Step::SavePlanSection) => t.closes_at + D::days(3),
            Item::Advance(CallPhase::Panel) => t.panel_at - D::days(1),
            Item::Ideas(Step::RecordPitch) => t.panel_at,
            Item::Ideas(Step::SubmitPlan) => t.panel_at + D::days(1),
            Item::Advance(CallPhase::PlansDue) => t.panel_at + D::days(2),
            Item::Advance(CallPhase::Preparation) => t.plan_deadline + D::hours(1),
            Item::Ideas(Step::Prepare) => t.plan_deadline + D::days(1),
            Item::Advance(CallPhase::Decision) => t.decision_meeting_at - D::days(1),
            Item::Ideas(Step::Grant) => t.decision_meeting_at,
            Item::Advance(CallPhase::Finished) => t.decision_meeting_at + D::days(1),
            Item::Advance(CallPhase::Draft) => t.opens_at - D::days(14),
        }
    }

    fn call_command(&self, item: Item) -> CallCommand {
        match item {
            Item::Advance(to) => CallCommand::Advance { to },
            _ => CallCommand::Create { id: self.call, definition: Box::new(self.definition.clone()) },
        }
    }

    fn actor(&self, step: Step, i: usize) -> &Actor {
        match step {
            Step::SubmitNew | Step::SavePlanSection | Step::SubmitPlan => &self.ideas[i].actor,
            Step::Select | Step::Prepare => &self.sector,
            Step::RecordPitch => &self.leader,
            Step::Grant => &self.board,
        }
    }

    fn command(&self, step: Step, i: usize) -> Result<IdeaCommand, String> {
        let idea = &self.ideas[i];
        let motivation = |s: &str| Motivation::parse(s).map_err(|e| e.to_string());
        Ok(match step {
            Step::SubmitNew => IdeaCommand::SubmitNew(Box::new(NewIdea {
                id: idea.id,
                call: self.call,
                lead: idea.lead.clone(),
                details: IdeaDetails {
                    title: Title::parse(&format!("Idé {}: samverkan i vardagen", i + 1)).map_err(|e| e.to_string())?,
                    summary: self.summary.clone(),
                    theme: self.definition.themes[i % self.definition.themes.len()].clone(),
                    organisation: idea.lead.organisation,
                    co_applicants: vec![],
                },
            })),
            Step::Select => IdeaCommand::Select {
                motivation: Some(motivation(
                    "Idén svarar väl mot utlysningens teman och har god potential för samverkan.",
                )?),
            },
            Step::SavePlanSection => {
                IdeaCommand::SavePlanSection { section: self.section.clone(), text: Some(self.section_text.clone()) }
            }
            Step::RecordPitch => IdeaCommand::RecordPitch,
            Step::SubmitPlan => IdeaCommand::SubmitPlan { requested: kronor(REQUEST_KRONOR)? },
            Step::Prepare => IdeaCommand::Prepare {
                recommendation: Recommendation::Fund {
                    amount: kronor(GRANT_KRONOR)?,
                    motivation: Some(motivation("Planen är genomförbar och stärker samverkan mellan parterna.")?),
                },
            },
            Step::Grant => IdeaCommand::Grant {
                amount: kronor(GRANT_KRONOR)?,
                conditions: Some(
                    FreeText::parse("Projektet redovisar till styrelsen halvårsvis.").map_err(|e| e.to_string())?,
                ),
                motivation: Some(motivation("Styrelsen beslutar i enlighet med sektorsgruppens förslag.")?),
                registry: idea.registry.clone(),
                meeting: self.meeting,
            },
        })
    }
}

// ---------------------------------------------------------------------------
// The shapes of the rows the engine writes, taken from the core once, in
// memory, for the first idea: what the raw run writes by hand.

#[derive(Debug)]
struct OutboxShape {
    notice: &'static str,
    language: &'static str,
    intent: String,
}

#[derive(Debug)]
struct EventShape {
    event_type: &'static str,
    body: String,
    outbox: Vec<OutboxShape>,
}

#[derive(Debug)]
struct StepShape {
    /// The call's phase the step runs in.
    phase: &'static str,
    version_before: i64,
    events: Vec<EventShape>,
    state: String,
    stage: &'static str,
    furthest: i64,
    title: String,
    selected: i64,
    granted_ore: i64,
    /// The idea row's granted amount after the step.
    idea_granted: Option<i64>,
    registry: bool,
}

impl StepShape {
    fn changes_totals(&self) -> bool {
        self.selected != 0 || self.granted_ore != 0
    }
}

#[derive(Debug)]
struct CallShape {
    event_type: &'static str,
    body: String,
    state: String,
    phase: &'static str,
}

#[derive(Debug)]
struct Shapes {
    steps: Vec<StepShape>,
    /// In [`PLAN`] order: the call commands.
    calls: Vec<CallShape>,
    title: String,
    budget_ore: i64,
    capacity: i64,
}

/// The furthest funnel step, as the store computes it.
fn furthest(stage: Stage) -> i64 {
    match stage {
        Stage::New | Stage::Draft => 0,
        Stage::Submitted | Stage::NotSelected | Stage::Withdrawn => 1,
        Stage::Selected | Stage::Pitched | Stage::Lapsed => 2,
        Stage::PlanSubmitted | Stage::Prepared | Stage::Declined => 3,
        Stage::Granted => 4,
    }
}

impl Shapes {
    /// Runs the plan for one idea through the core in memory. This also
    /// proves the plan valid before any database is touched.
    fn sample(sc: &Scenario) -> Result<Self, String> {
        let mut call_state = CallState::New;
        let mut idea = IdeaState::New;
        let mut totals = CallTotals::default();
        let mut steps: Vec<StepShape> = Vec::new();
        let mut calls = Vec::new();
        let mut version = 0;
        for item in PLAN {
            let now = sc.at(item);
            match item {
                Item::Create | Item::Advance(_) => {
                    let counts = match idea.stage() {
                        Stage::New => StageCounts::default(),
                        stage => StageCounts::from_iter([stage]),
                    };
                    let ctx = CallContext { now, actor: &sc.leader, ideas: &counts };
                    let d = decide_call(&call_state, &sc.call_command(item), &ctx)
                        .map_err(|e| format!("the benchmark's plan is refused at {item:?}: {e}"))?;
                    let recorded = d.events.first().ok_or("a call command without an event")?;
                    call_state = d.state;
                    let call = call_state.call().ok_or("a call command without a call")?;
                    calls.push(CallShape {
                        event_type: match recorded.event {
                            mops_core::CallEvent::Created { .. } => "created",
                            mops_core::CallEvent::Edited { .. } => "edited",
                            mops_core::CallEvent::PhaseChanged { .. } => "phase_changed",
                        },
                        body: json(recorded)?,
                        state: json(&call_state)?,
                        phase: call.phase.key(),
                    });
                }
                Item::Ideas(step) => {
                    let call = call_state.call().ok_or("an idea step before the call exists")?;
                    let command = sc.command(step, 0)?;
                    let ctx = Context { now, actor: sc.actor(step, 0), call, totals };
                    let d = decide(&idea, &command, &ctx)
                        .map_err(|e| format!("the benchmark's plan is refused at {}: {e}", step.key()))?;
                    let version_before = version;
                    let mut delta = CallTotals::default();
                    let mut events = Vec::new();
                    for r in &d.events {
                        delta.apply(&r.event);
                        let outbox = notifications_for(&d.state, &r.event, call)
                            .iter()
                            .map(|n| {
                                Ok(OutboxShape {
                                    notice: n.notice.key(),
                                    language: n.to.language.tag(),
                                    intent: json(n)?,
                                })
                            })
                            .collect::<Result<Vec<_>, String>>()?;
                        events.push(EventShape { event_type: r.event.key(), body: json(r)?, outbox });
                    }
                    totals.selected += delta.selected;
                    totals.granted = totals.granted.checked_add(delta.granted).ok_or("granted overflows")?;
                    let stage = d.state.stage();
                    let data = d.state.idea().ok_or("an idea step without an idea")?;
                    steps.push(StepShape {
                        phase: call.phase.key(),
                        version_before,
                        events,
                        state: json(&d.state)?,
                        stage: stage.key(),
                        furthest: furthest(stage),
                        title: data.details.title.to_string(),
                        selected: i64::from(delta.selected),
                        granted_ore: delta.granted.ore(),
                        idea_granted: d.state.granted_amount().map(Sek::ore),
                        registry: matches!(d.state, IdeaState::Granted(_) | IdeaState::Declined(_)),
                    });
                    version += steps.last().map_or(0, |s| s.events.len() as i64);
                    idea = d.state;
                }
            }
        }
        Ok(Self {
            steps,
            calls,
            title: sc.definition.title.to_string(),
            budget_ore: sc.definition.budget.ore(),
            capacity: i64::from(sc.definition.capacity),
        })
    }

    fn step(&self, step: Step) -> &StepShape {
        &self.steps[step.index()]
    }

    /// The shape of a call command of [`PLAN`].
    fn call(&self, item: Item) -> Option<&CallShape> {
        let k = PLAN.iter().filter(|i| !matches!(i, Item::Ideas(_))).position(|i| *i == item)?;
        self.calls.get(k)
    }

    /// The state JSON of a stage, for the dashboard rows (the closest stage
    /// the sample passed through for the ones it did not).
    fn state_for(&self, stage: Stage) -> &str {
        let step = match stage {
            Stage::New | Stage::Draft | Stage::Submitted | Stage::NotSelected | Stage::Withdrawn => Step::SubmitNew,
            Stage::Selected => Step::SavePlanSection,
            Stage::Pitched | Stage::Lapsed => Step::RecordPitch,
            Stage::PlanSubmitted => Step::SubmitPlan,
            Stage::Prepared | Stage::Declined => Step::Prepare,
            Stage::Granted => Step::Grant,
        };
        &self.step(step).state
    }

    /// The event body and type for the `seq`-th event of a dashboard idea:
    /// the sample's events in order, then saved plan sections.
    fn event_for(&self, seq: usize) -> (&'static str, &str) {
        let all: Vec<&EventShape> = self.steps.iter().flat_map(|s| &s.events).collect();
        let saved = &self.step(Step::SavePlanSection).events[0];
        let e = all.get(seq.saturating_sub(1)).copied().unwrap_or(saved);
        (e.event_type, &e.body)
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, String> {
    serde_json::to_string(value).map_err(|e| e.to_string())
}

// The raw baseline computes the same hash chain as the store (hashing is
// part of the writes, not of the engine's logic).
use crate::store::hash::{GENESIS, chain};

// ---------------------------------------------------------------------------
// Timing.

/// Latencies and retries collected by one client or one step.
#[derive(Debug, Default)]
struct Tally {
    latencies: Vec<Duration>,
    retries: u64,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.retries += other.retries;
    }
}

/// Nearest-rank percentile of sorted durations.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn chunks(n: usize, parts: usize) -> impl Iterator<Item = Range<usize>> {
    let parts = parts.clamp(1, n.max(1));
    (0..parts).map(move |p| (p * n / parts)..((p + 1) * n / parts))
}

/// Tries `attempt` until it succeeds or fails for good; returns the retries.
async fn retrying<Fut>(what: impl Fn() -> String, mut attempt: impl FnMut() -> Fut) -> Result<u32, String>
where
    Fut: Future<Output = Result<(), StoreError>>,
{
    let mut retries = 0;
    loop {
        match attempt().await {
            Ok(()) => return Ok(retries),
            Err(e) if e.is_retryable() && retries < MAX_RETRIES => retries += 1,
            Err(e) => return Err(format!("{} failed: {e}", what())),
        }
    }
}

/// What writes the transitions: the engine, or the same writes by hand.
#[derive(Debug, Clone)]
enum Runner {
    Engine(Db),
    Raw(RawPool),
}

impl Runner {
    fn name(&self) -> &'static str {
        match self {
            Self::Engine(_) => "engine",
            Self::Raw(_) => "raw SQL",
        }
    }

    /// One call command; returns the retries it needed.
    async fn call(&self, sc: &Scenario, shapes: &Shapes, item: Item) -> Result<u32, String> {
        let what = || format!("{}: {item:?}", self.name());
        let now = sc.at(item);
        match self {
            Self::Engine(db) => {
                let command = sc.call_command(item);
                retrying(what, || async {
                    db.execute_call(CallRequest {
                        call: sc.call,
                        command: &command,
                        actor: &sc.leader,
                        now,
                        expected_version: None,
                        idempotency_key: None,
                    })
                    .await
                    .map(|_| ())
                })
                .await
            }
            Self::Raw(pool) => {
                let shape = shapes.call(item).ok_or_else(|| format!("{}: no shape", what()))?;
                retrying(what, || pool.call(sc, shapes, shape, now)).await
            }
        }
    }

    /// One idea transition; returns the retries it needed.
    async fn idea(&self, sc: &Scenario, shapes: &Shapes, step: Step, i: usize) -> Result<u32, String> {
        let what = || format!("{}: {} of idea {}", self.name(), step.key(), i + 1);
        let now = sc.at(Item::Ideas(step));
        match self {
            Self::Engine(db) => {
                let command = sc.command(step, i)?;
                retrying(what, || async {
                    db.execute_idea(IdeaRequest {
                        call: sc.call,
                        idea: sc.ideas[i].id,
                        command: &command,
                        actor: sc.actor(step, i),
                        now,
                        expected_version: None,
                        idempotency_key: None,
                    })
                    .await
                    .map(|_| ())
                })
                .await
            }
            Self::Raw(pool) => retrying(what, || pool.idea(sc, step, i, now, shapes)).await,
        }
    }

    /// One idea step for all ideas, on `concurrency` clients, each with its
    /// own slice of the ideas, timing each transition.
    async fn step(
        &self,
        sc: &Arc<Scenario>,
        shapes: &Arc<Shapes>,
        step: Step,
        concurrency: usize,
    ) -> Result<Tally, String> {
        let mut tasks = tokio::task::JoinSet::new();
        for range in chunks(sc.ideas.len(), concurrency) {
            let (runner, sc, shapes) = (self.clone(), Arc::clone(sc), Arc::clone(shapes));
            tasks.spawn(async move {
                let mut tally = Tally { latencies: Vec::with_capacity(range.len()), retries: 0 };
                for i in range {
                    let started = Instant::now();
                    let retries = runner.idea(&sc, &shapes, step, i).await?;
                    tally.latencies.push(started.elapsed());
                    tally.retries += u64::from(retries);
                }
                Ok::<_, String>(tally)
            });
        }
        let mut total = Tally::default();
        while let Some(joined) = tasks.join_next().await {
            total.merge(joined.map_err(|e| format!("a benchmark client failed: {e}"))??);
        }
        Ok(total)
    }
}

/// A run's figures as they come in.
#[derive(Debug, Default)]
struct RunAcc {
    all: Tally,
    wall: Duration,
    call_commands: usize,
    actions: Vec<ActionStats>,
}

impl RunAcc {
    fn finish(mut self) -> RunStats {
        self.all.latencies.sort_unstable();
        RunStats {
            transitions: self.all.latencies.len(),
            call_commands: self.call_commands,
            wall: self.wall,
            p50: percentile(&self.all.latencies, 0.50),
            p99: percentile(&self.all.latencies, 0.99),
            retries: self.all.retries,
            events: 0,
            outbox: 0,
            actions: self.actions,
        }
    }
}

/// Runs the plan with both runners, each on its own database, interleaved
/// item by item and alternating which goes first, so that whatever else
/// the machine does (checkpoints, autovacuum, other processes) falls on
/// both alike. A run's wall time is the sum of its own items.
async fn run_paired(
    runners: [&Runner; 2],
    sc: &Arc<Scenario>,
    shapes: &Arc<Shapes>,
    concurrency: usize,
) -> Result<[RunStats; 2], String> {
    let mut acc = [RunAcc::default(), RunAcc::default()];
    for (k, item) in PLAN.into_iter().enumerate() {
        for r in if k % 2 == 0 { [0, 1] } else { [1, 0] } {
            let runner = runners[r];
            let acc = &mut acc[r];
            let started = Instant::now();
            match item {
                Item::Ideas(step) => {
                    let mut tally = runner.step(sc, shapes, step, concurrency).await?;
                    let wall = started.elapsed();
                    acc.wall += wall;
                    tally.latencies.sort_unstable();
                    acc.actions.push(ActionStats {
                        action: step.key(),
                        transitions: tally.latencies.len(),
                        wall,
                        p50: percentile(&tally.latencies, 0.50),
                        p99: percentile(&tally.latencies, 0.99),
                    });
                    acc.all.merge(tally);
                }
                Item::Create | Item::Advance(_) => {
                    let retries = runner.call(sc, shapes, item).await?;
                    let took = started.elapsed();
                    acc.wall += took;
                    acc.all.latencies.push(took);
                    acc.all.retries += u64::from(retries);
                    acc.call_commands += 1;
                }
            }
        }
    }
    Ok(acc.map(RunAcc::finish))
}

// ---------------------------------------------------------------------------
// The raw run and the dashboard load: hand-written SQL, the same text for
// both backends apart from how a write transaction begins and locks.

/// The dashboard call's ideas, generated in memory.
#[derive(Debug)]
struct DashIdea {
    id: Uuid,
    stage: Stage,
    version: i64,
    lead: Uuid,
    registry: Option<String>,
}

/// Stages of a big call in its decision phase, in percent.
const STAGE_MIX: [(Stage, u64, i64); 11] = [
    (Stage::Draft, 5, 2),
    (Stage::Submitted, 10, 2),
    (Stage::NotSelected, 45, 3),
    (Stage::Selected, 8, 8),
    (Stage::Pitched, 5, 14),
    (Stage::PlanSubmitted, 5, 18),
    (Stage::Lapsed, 2, 10),
    (Stage::Prepared, 5, 19),
    (Stage::Granted, 8, 20),
    (Stage::Declined, 5, 20),
    (Stage::Withdrawn, 2, 4),
];

/// `ideas` ideas spread over the stages of [`STAGE_MIX`], with `events`
/// events spread over them in proportion to how far each got.
fn dashboard_ideas(ideas: usize, events: usize) -> Vec<DashIdea> {
    let stage_of = |i: usize| {
        // A fixed scramble, so stages are interleaved rather than in blocks.
        let bucket = (i as u64).wrapping_mul(2_654_435_761) % 100;
        let mut acc = 0;
        for (stage, pct, weight) in STAGE_MIX {
            acc += pct;
            if bucket < acc {
                return (stage, weight);
            }
        }
        (Stage::NotSelected, 3)
    };
    let stages: Vec<(Stage, i64)> = (0..ideas).map(stage_of).collect();
    let total_weight: i128 = stages.iter().map(|(_, w)| i128::from(*w)).sum::<i128>().max(1);
    let mut cumulative: i128 = 0;
    let mut registry = 0;
    stages
        .into_iter()
        .map(|(stage, weight)| {
            let before = cumulative * events as i128 / total_weight;
            cumulative += i128::from(weight);
            let after = cumulative * events as i128 / total_weight;
            let registry = matches!(stage, Stage::Granted | Stage::Declined).then(|| {
                registry += 1;
                format!("SK 2010/{registry}")
            });
            DashIdea {
                id: Uuid::new_v4(),
                stage,
                version: i64::try_from(after - before).unwrap_or(0),
                lead: Uuid::new_v4(),
                registry,
            }
        })
        .collect()
}

macro_rules! raw_sql {
    ($module:ident, $db:ty, begin = $begin:literal, lock = $lock:literal, analyze = $analyze:literal) => {
        mod $module {
            use super::*;

            type Pool = sqlx::Pool<$db>;

            /// One idea transition by hand.
            pub(super) async fn idea(
                pool: &Pool,
                sc: &Scenario,
                step: Step,
                shape: &StepShape,
                i: usize,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let idea = &sc.ideas[i];
                let idea_id = *idea.id.as_uuid();
                let call_id = *sc.call.as_uuid();
                let mut tx = pool.begin_with($begin).await?;
                let call_sql = if shape.changes_totals() {
                    concat!("SELECT phase, selected_count, granted_ore FROM calls WHERE id = $1", $lock)
                } else {
                    "SELECT phase, selected_count, granted_ore FROM calls WHERE id = $1"
                };
                let row = sqlx::query(call_sql).bind(call_id).fetch_one(&mut *tx).await?;
                // The checks a hand-written version makes: the phase, the
                // capacity and the budget.
                let phase: String = row.try_get("phase")?;
                let selected: i64 = row.try_get("selected_count")?;
                let granted: i64 = row.try_get("granted_ore")?;
                if phase != shape.phase
                    || selected + shape.selected > i64::from(sc.definition.capacity)
                    || granted + shape.granted_ore > sc.definition.budget.ore()
                {
                    return Err(StoreError::Corrupt(format!("raw run: the call refuses {phase}")));
                }
                let row = sqlx::query("SELECT state, version, head_hash FROM ideas WHERE id = $1")
                    .bind(idea_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let (version, mut prev) = match row {
                    Some(row) => {
                        let _state: String = row.try_get("state")?;
                        (row.try_get::<i64, _>("version")?, row.try_get::<Vec<u8>, _>("head_hash")?)
                    }
                    None => (0, GENESIS.to_vec()),
                };
                if version != shape.version_before {
                    return Err(StoreError::Conflict {
                        what: "idea",
                        expected: Some(shape.version_before),
                        actual: version,
                    });
                }
                let recorded_at = Utc::now();
                let actor = sc.actor(step, i).id.person().map(|p| *p.as_uuid());
                for (k, event) in shape.events.iter().enumerate() {
                    let seq = version + 1 + k as i64;
                    let hash = chain(&prev, idea_id, seq, &event.body);
                    let event_id: i64 = sqlx::query_scalar(
                        "INSERT INTO events (stream_kind, stream_id, call_id, seq, event_type, at, actor, body, \
                         prev_hash, hash, recorded_at) VALUES ('idea', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                         RETURNING id",
                    )
                    .bind(idea_id)
                    .bind(call_id)
                    .bind(seq)
                    .bind(event.event_type)
                    .bind(now)
                    .bind(actor)
                    .bind(&event.body)
                    .bind(&prev)
                    .bind(&hash)
                    .bind(recorded_at)
                    .fetch_one(&mut *tx)
                    .await?;
                    for mail in &event.outbox {
                        sqlx::query(
                            "INSERT INTO outbox (id, event_id, call_id, idea_id, recipient_person, recipient_email, \
                             language, notice, intent, status, attempts, next_attempt_at, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $10)",
                        )
                        .bind(Uuid::new_v4())
                        .bind(event_id)
                        .bind(call_id)
                        .bind(idea_id)
                        .bind(*idea.lead.person.as_uuid())
                        .bind(idea.lead.email.as_str())
                        .bind(mail.language)
                        .bind(mail.notice)
                        .bind(&mail.intent)
                        .bind(recorded_at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    prev = hash;
                }
                let new_version = version + shape.events.len() as i64;
                let registry = shape.registry.then(|| idea.registry.as_str());
                let written = if version == 0 {
                    sqlx::query(
                        "INSERT INTO ideas (id, call_id, state, stage, furthest, title, lead_person, granted_ore, \
                         registry, version, head_hash, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
                    )
                    .bind(idea_id)
                    .bind(call_id)
                    .bind(&shape.state)
                    .bind(shape.stage)
                    .bind(shape.furthest)
                    .bind(&shape.title)
                    .bind(*idea.lead.person.as_uuid())
                    .bind(shape.idea_granted)
                    .bind(registry)
                    .bind(new_version)
                    .bind(&prev)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                } else {
                    sqlx::query(
                        "UPDATE ideas SET state = $2, stage = $3, furthest = $4, title = $5, granted_ore = $6, \
                         registry = $7, version = $8, head_hash = $9, updated_at = $10 \
                         WHERE id = $1 AND version = $11",
                    )
                    .bind(idea_id)
                    .bind(&shape.state)
                    .bind(shape.stage)
                    .bind(shape.furthest)
                    .bind(&shape.title)
                    .bind(shape.idea_granted)
                    .bind(registry)
                    .bind(new_version)
                    .bind(&prev)
                    .bind(now)
                    .bind(version)
                    .execute(&mut *tx)
                    .await?
                };
                if written.rows_affected() != 1 {
                    return Err(StoreError::Conflict { what: "idea", expected: Some(version), actual: version + 1 });
                }
                if shape.changes_totals() {
                    sqlx::query(
                        "UPDATE calls SET selected_count = selected_count + $2, granted_ore = granted_ore + $3, \
                         updated_at = $4 WHERE id = $1",
                    )
                    .bind(call_id)
                    .bind(shape.selected)
                    .bind(shape.granted_ore)
                    .bind(Utc::now())
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            /// One call command by hand: the call's creation or a phase change.
            pub(super) async fn call(
                pool: &Pool,
                sc: &Scenario,
                shapes: &Shapes,
                shape: &CallShape,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let call_id = *sc.call.as_uuid();
                let mut tx = pool.begin_with($begin).await?;
                let row = sqlx::query(concat!("SELECT version, head_hash FROM calls WHERE id = $1", $lock))
                    .bind(call_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let (version, prev) = match row {
                    Some(row) => (row.try_get::<i64, _>("version")?, row.try_get::<Vec<u8>, _>("head_hash")?),
                    None => (0, GENESIS.to_vec()),
                };
                if version > 0 {
                    // Phase changes check the ideas still pending.
                    let _counts = sqlx::query("SELECT stage, COUNT(*) AS n FROM ideas WHERE call_id = $1 GROUP BY stage")
                        .bind(call_id)
                        .fetch_all(&mut *tx)
                        .await?;
                }
                let seq = version + 1;
                let hash = chain(&prev, call_id, seq, &shape.body);
                sqlx::query(
                    "INSERT INTO events (stream_kind, stream_id, call_id, seq, event_type, at, actor, body, \
                     prev_hash, hash, recorded_at) VALUES ('call', $1, $1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(call_id)
                .bind(seq)
                .bind(shape.event_type)
                .bind(now)
                .bind(sc.leader.id.person().map(|p| *p.as_uuid()))
                .bind(&shape.body)
                .bind(&prev)
                .bind(&hash)
                .bind(Utc::now())
                .execute(&mut *tx)
                .await?;
                if version == 0 {
                    sqlx::query(
                        "INSERT INTO calls (id, state, phase, title, version, head_hash, budget_ore, capacity, \
                         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
                    )
                    .bind(call_id)
                    .bind(&shape.state)
                    .bind(shape.phase)
                    .bind(&shapes.title)
                    .bind(seq)
                    .bind(&hash)
                    .bind(shapes.budget_ore)
                    .bind(shapes.capacity)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                } else {
                    sqlx::query(
                        "UPDATE calls SET state = $2, phase = $3, version = $4, head_hash = $5, updated_at = $6 \
                         WHERE id = $1 AND version = $7",
                    )
                    .bind(call_id)
                    .bind(&shape.state)
                    .bind(shape.phase)
                    .bind(seq)
                    .bind(&hash)
                    .bind(now)
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            /// Rows in `events` and `outbox`.
            pub(super) async fn counts(pool: &Pool) -> Result<(i64, i64), StoreError> {
                let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(pool).await?;
                let outbox: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox").fetch_one(pool).await?;
                Ok((events, outbox))
            }

            /// Loads one call with `ideas` and their events in bulk.
            pub(super) async fn load_dashboard(
                pool: &Pool,
                shapes: &Shapes,
                call: Uuid,
                ideas: &[DashIdea],
            ) -> Result<(), StoreError> {
                let at = Utc::now();
                let deciding = shapes
                    .call(Item::Advance(CallPhase::Decision))
                    .ok_or(StoreError::Corrupt("no call shape".into()))?;
                let granted: i64 = ideas.iter().filter(|i| i.stage == Stage::Granted).count() as i64
                    * GRANT_KRONOR
                    * 100;
                let selected = ideas.iter().filter(|i| furthest(i.stage) >= 2).count() as i64;
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "INSERT INTO calls (id, state, phase, title, version, head_hash, budget_ore, capacity, \
                     selected_count, granted_ore, created_at, updated_at) \
                     VALUES ($1, $2, 'decision', $3, 8, $4, $5, $6, $7, $8, $9, $9)",
                )
                .bind(call)
                .bind(&deciding.state)
                .bind(&shapes.title)
                .bind(&GENESIS[..])
                .bind(granted.max(1))
                .bind((ideas.len() as i64).max(1))
                .bind(selected)
                .bind(granted)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                for (b, batch) in ideas.chunks(LOAD_BATCH).enumerate() {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO ideas (id, call_id, state, stage, furthest, title, lead_person, granted_ore, \
                         registry, version, head_hash, created_at, updated_at) ",
                    );
                    q.push_values(batch.iter().enumerate(), |mut row, (k, idea)| {
                        let n = b * LOAD_BATCH + k;
                        let created = at + chrono::Duration::seconds(n as i64);
                        row.push_bind(idea.id)
                            .push_bind(call)
                            .push_bind(shapes.state_for(idea.stage))
                            .push_bind(idea.stage.key())
                            .push_bind(furthest(idea.stage))
                            .push_bind(format!("Idé {}: samverkan i vardagen", n + 1))
                            .push_bind(idea.lead)
                            .push_bind((idea.stage == Stage::Granted).then_some(GRANT_KRONOR * 100))
                            .push_bind(idea.registry.as_deref())
                            .push_bind(idea.version)
                            .push_bind(&GENESIS[..])
                            .push_bind(created)
                            .push_bind(created);
                    });
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                // One statement per sequence number: the events of an idea
                // end up spread over the table, as in a real call.
                let most = ideas.iter().map(|i| i.version).max().unwrap_or(0);
                for seq in 1..=most {
                    let (event_type, body) = shapes.event_for(seq as usize);
                    sqlx::query(
                        "INSERT INTO events (stream_kind, stream_id, call_id, seq, event_type, at, actor, body, \
                         prev_hash, hash, recorded_at) \
                         SELECT 'idea', id, call_id, $1, $2, $3, lead_person, $4, $5, $5, $3 FROM ideas \
                         WHERE call_id = $6 AND version >= $1 ORDER BY id",
                    )
                    .bind(seq)
                    .bind(event_type)
                    .bind(at)
                    .bind(body)
                    .bind(&GENESIS[..])
                    .bind(call)
                    .execute(pool)
                    .await?;
                }
                sqlx::query($analyze).execute(pool).await?;
                Ok(())
            }
        }
    };
}

raw_sql!(raw_sqlite, sqlx::Sqlite, begin = "BEGIN IMMEDIATE", lock = "", analyze = "ANALYZE");
raw_sql!(
    raw_postgres,
    sqlx::Postgres,
    begin = "BEGIN",
    lock = " FOR UPDATE",
    analyze = "VACUUM (ANALYZE) calls, ideas, events, outbox"
);

/// The raw run's pool.
#[derive(Debug, Clone)]
enum RawPool {
    Sqlite(sqlx::SqlitePool),
    Postgres(PgPool),
}

impl RawPool {
    fn of(db: &Db) -> Self {
        match db {
            Db::Sqlite(s) => Self::Sqlite(s.pool().clone()),
            Db::Postgres(s) => Self::Postgres(s.pool().clone()),
        }
    }

    async fn idea(
        &self,
        sc: &Scenario,
        step: Step,
        i: usize,
        now: DateTime<Utc>,
        shapes: &Shapes,
    ) -> Result<(), StoreError> {
        let shape = shapes.step(step);
        match self {
            Self::Sqlite(p) => raw_sqlite::idea(p, sc, step, shape, i, now).await,
            Self::Postgres(p) => raw_postgres::idea(p, sc, step, shape, i, now).await,
        }
    }

    async fn call(
        &self,
        sc: &Scenario,
        shapes: &Shapes,
        shape: &CallShape,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(p) => raw_sqlite::call(p, sc, shapes, shape, now).await,
            Self::Postgres(p) => raw_postgres::call(p, sc, shapes, shape, now).await,
        }
    }

    async fn counts(&self) -> Result<(i64, i64), StoreError> {
        match self {
            Self::Sqlite(p) => raw_sqlite::counts(p).await,
            Self::Postgres(p) => raw_postgres::counts(p).await,
        }
    }

    async fn load_dashboard(&self, shapes: &Shapes, call: Uuid, ideas: &[DashIdea]) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(p) => raw_sqlite::load_dashboard(p, shapes, call, ideas).await,
            Self::Postgres(p) => raw_postgres::load_dashboard(p, shapes, call, ideas).await,
        }
    }
}

// ---------------------------------------------------------------------------
// The dashboard reads.

/// A small deterministic generator for picking ideas.
#[derive(Debug)]
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

async fn time_read<Fut>(read: &'static str, samples: usize, mut f: impl FnMut() -> Fut) -> Result<ReadStats, String>
where
    Fut: Future<Output = Result<(), String>>,
{
    // A few untimed reads first: caches as a running service has them.
    for _ in 0..samples.min(5) {
        f().await?;
    }
    let mut latencies = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        f().await?;
        latencies.push(started.elapsed());
    }
    latencies.sort_unstable();
    Ok(ReadStats {
        read,
        samples,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        max: latencies.last().copied().unwrap_or_default(),
    })
}

async fn dashboard(db: &Db, opts: &BenchOptions, shapes: &Shapes) -> Result<DashboardReport, String> {
    let ideas = dashboard_ideas(opts.dashboard_ideas, opts.dashboard_events);
    let call = CallId::from_uuid(Uuid::new_v4());
    let started = Instant::now();
    RawPool::of(db)
        .load_dashboard(shapes, *call.as_uuid(), &ideas)
        .await
        .map_err(|e| format!("loading the dashboard data failed: {e}"))?;
    let load = started.elapsed();
    let n = ideas.len();
    let samples = opts.dashboard_reads.max(1);
    let mut reads = Vec::new();
    reads.push(
        time_read("stage_counts", samples, || async {
            let counts = db.stage_counts(call).await.map_err(|e| format!("stage_counts failed: {e}"))?;
            let total: u64 = counts.0.values().map(|v| u64::from(*v)).sum();
            if total as usize != n {
                return Err(format!("stage_counts counted {total} ideas, not {n}"));
            }
            Ok(())
        })
        .await?,
    );
    reads.push(
        time_read("funnel", samples, || async {
            let funnel = db.funnel(call).await.map_err(|e| format!("funnel failed: {e}"))?;
            if funnel.submitted as usize > n {
                return Err(format!("the funnel counted {} submitted of {n} ideas", funnel.submitted));
            }
            Ok(())
        })
        .await?,
    );
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    reads.push(
        time_read("idea_events (timeline)", samples, || {
            let idea = &ideas[rng.below(n)];
            async move {
                let events =
                    db.idea_events(IdeaId::from_uuid(idea.id)).await.map_err(|e| format!("idea_events failed: {e}"))?;
                if events.len() as i64 != idea.version {
                    return Err(format!("an idea's timeline has {} events, not {}", events.len(), idea.version));
                }
                Ok(())
            }
        })
        .await?,
    );
    Ok(DashboardReport { ideas: n, events: opts.dashboard_events, load, reads })
}

// ---------------------------------------------------------------------------
// One backend: fresh databases, the three parts, clean-up.

/// The engine run, the raw run and the dashboard on databases `open` makes.
async fn measure(
    backend: Backend,
    opts: &BenchOptions,
    sc: &Arc<Scenario>,
    shapes: &Arc<Shapes>,
    engine: &Db,
    raw: &Db,
    dash: Option<&Db>,
) -> Result<BackendReport, String> {
    for db in [Some(engine), Some(raw), dash].into_iter().flatten() {
        db.migrate().await.map_err(|e| format!("{backend}: migrating failed: {e}"))?;
    }
    let raw_pool = RawPool::of(raw);
    let runners = [&Runner::Raw(raw_pool.clone()), &Runner::Engine(engine.clone())];
    let [mut raw_stats, mut engine_stats] =
        run_paired(runners, sc, shapes, opts.concurrency).await.map_err(|e| format!("{backend}: {e}"))?;
    (raw_stats.events, raw_stats.outbox) = raw_pool.counts().await.map_err(|e| format!("{backend}: {e}"))?;
    (engine_stats.events, engine_stats.outbox) =
        RawPool::of(engine).counts().await.map_err(|e| format!("{backend}: {e}"))?;
    let report = engine.verify().await.map_err(|e| format!("{backend}: verify failed: {e}"))?;
    let engine_verify = if report.is_ok() { Ok(()) } else { Err(report.discrepancies.len()) };

    let dashboard = match dash {
        Some(db) => Some(dashboard(db, opts, shapes).await.map_err(|e| format!("{backend}: {e}"))?),
        None => None,
    };
    Ok(BackendReport { backend, engine: engine_stats, raw: raw_stats, engine_verify, dashboard })
}

pub(crate) fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Removes an SQLite file with its WAL, shared-memory and journal files.
pub(crate) fn remove_sqlite(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

async fn sqlite_backend(
    opts: &BenchOptions,
    sc: &Arc<Scenario>,
    shapes: &Arc<Shapes>,
) -> Result<BackendReport, String> {
    let run = Uuid::new_v4().simple().to_string();
    let path = |name: &str| opts.sqlite_dir.join(format!("mops-bench-{run}-{name}.db"));
    let paths = [path("engine"), path("raw"), path("dashboard")];
    let mut dbs = Vec::new();
    let mut result = Ok(());
    for p in &paths {
        match SqliteStore::connect(&sqlite_url(p)).await {
            Ok(s) => dbs.push(Db::Sqlite(s)),
            Err(e) => {
                result = Err(format!("SQLite: cannot create {}: {e}", p.display()));
                break;
            }
        }
    }
    let report = match result {
        Ok(()) => {
            let dash = (!opts.skip_dashboard).then(|| &dbs[2]);
            measure(Backend::Sqlite, opts, sc, shapes, &dbs[0], &dbs[1], dash).await
        }
        Err(e) => Err(e),
    };
    for db in &dbs {
        if let Db::Sqlite(s) = db {
            s.close().await;
        }
    }
    for p in &paths {
        remove_sqlite(p);
    }
    report
}

async fn postgres_backend(
    opts: &BenchOptions,
    sc: &Arc<Scenario>,
    shapes: &Arc<Shapes>,
) -> Result<BackendReport, String> {
    let base = PgConnectOptions::from_str(&opts.postgres_url)
        .map_err(|e| format!("PostgreSQL: {e}: the URL should look like {DEFAULT_POSTGRES_URL}"))?;
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(base.clone())
        .await
        .map_err(|e| format!("PostgreSQL: cannot connect to the server: {e}"))?;
    let max = u32::try_from(opts.concurrency + 2).unwrap_or(u32::MAX);
    let mut schemas = Vec::new();
    let mut dbs = Vec::new();
    let mut result = Ok(());
    for _ in 0..3 {
        let schema = format!("mops_bench_{}", Uuid::new_v4().simple());
        if let Err(e) = sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin).await {
            result = Err(format!("PostgreSQL: cannot create a schema: {e}"));
            break;
        }
        schemas.push(schema.clone());
        match PgStore::connect_options(base.clone().options([("search_path", schema.as_str())]), max).await {
            Ok(s) => dbs.push(Db::Postgres(s)),
            Err(e) => {
                result = Err(format!("PostgreSQL: cannot connect: {e}"));
                break;
            }
        }
    }
    let report = match result {
        Ok(()) => {
            let dash = (!opts.skip_dashboard).then(|| &dbs[2]);
            measure(Backend::Postgres, opts, sc, shapes, &dbs[0], &dbs[1], dash).await
        }
        Err(e) => Err(e),
    };
    for db in &dbs {
        if let Db::Postgres(s) = db {
            s.pool().close().await;
        }
    }
    for schema in &schemas {
        if let Err(e) = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&admin).await {
            tracing::warn!(%schema, error = %e, "could not drop the benchmark schema");
        }
    }
    admin.close().await;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(backend: BackendChoice, dir: &Path) -> BenchOptions {
        BenchOptions {
            backends: vec![backend],
            ideas: 20,
            concurrency: 4,
            sqlite_dir: dir.to_owned(),
            dashboard_ideas: 300,
            dashboard_events: 3_000,
            dashboard_reads: 5,
            skip_dashboard: true,
            ..BenchOptions::default()
        }
    }

    fn check_counts(report: &BenchReport, n: usize) {
        let b = &report.backends[0];
        for run in [&b.engine, &b.raw] {
            assert_eq!(run.transitions, TRANSITIONS_PER_IDEA * n + CALL_COMMANDS);
            assert_eq!(run.call_commands, CALL_COMMANDS);
            assert_eq!(run.actions.len(), TRANSITIONS_PER_IDEA);
            assert!(run.actions.iter().all(|a| a.transitions == n));
        }
        // submit_new writes two events (drafted, submitted), every other
        // transition one; mails: 1 submit + 2 select + 1 plan + 1 prepare +
        // 1 grant per idea, to its lead.
        assert_eq!(b.engine.events, (8 * n + CALL_COMMANDS) as i64);
        assert_eq!(b.raw.events, b.engine.events);
        assert_eq!(b.engine.outbox, (6 * n) as i64);
        assert_eq!(b.raw.outbox, b.engine.outbox);
        assert_eq!(b.engine_verify, Ok(()));
        assert!(!report.to_string().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_engine_and_raw_write_the_same_rows() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let report = run(&tiny(BackendChoice::Sqlite, dir.path())).await.expect("the benchmark runs");
        check_counts(&report, 20);
        assert!(report.backends[0].dashboard.is_none());
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("the folder").collect();
        assert!(left.is_empty(), "the benchmark left files behind: {left:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_dashboard_reads_a_loaded_call() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let opts = BenchOptions { ideas: 2, skip_dashboard: false, ..tiny(BackendChoice::Sqlite, dir.path()) };
        let report = run(&opts).await.expect("the benchmark runs");
        check_counts(&report, 2);
        let dash = report.backends[0].dashboard.as_ref().expect("a dashboard report");
        assert_eq!(dash.reads.len(), 3);
        assert!(dash.reads.iter().all(|r| r.samples == 5));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_engine_raw_and_dashboard() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let opts = BenchOptions { skip_dashboard: false, ..tiny(BackendChoice::Postgres, dir.path()) };
        let report = run(&opts).await.expect("the benchmark runs (PostgreSQL is required)");
        check_counts(&report, 20);
        assert!(report.backends[0].dashboard.is_some());
    }

    #[test]
    fn dashboard_ideas_spread_exactly_the_events() {
        let ideas = dashboard_ideas(1_000, 10_000);
        assert_eq!(ideas.iter().map(|i| i.version).sum::<i64>(), 10_000);
        assert!(ideas.iter().all(|i| i.version >= 1));
        let granted = ideas.iter().filter(|i| i.stage == Stage::Granted).count();
        assert!(granted > 0 && granted < 200, "{granted}");
    }

    #[test]
    fn the_arguments_parse() {
        use clap::Parser;
        #[derive(Debug, Parser)]
        struct Cli {
            #[command(flatten)]
            bench: BenchArgs,
        }
        let opts = BenchOptions::from(Cli::parse_from(["mops"]).bench);
        assert_eq!(opts.backends, [BackendChoice::Sqlite, BackendChoice::Postgres]);
        assert_eq!((opts.ideas, opts.concurrency, opts.dashboard_ideas), (10_000, 8, 100_000));
        let opts = BenchOptions::from(
            Cli::parse_from(["mops", "--backend", "postgres", "--ideas", "5", "--skip-dashboard"]).bench,
        );
        assert_eq!(opts.backends, [BackendChoice::Postgres]);
        assert_eq!(opts.ideas, 5);
        assert!(opts.skip_dashboard);
        let opts = BenchOptions::from(Cli::parse_from(["mops", "--backend", "sqlite,postgres"]).bench);
        assert_eq!(opts.backends.len(), 2);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&d, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&d, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&d[..1], 0.99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }
}
