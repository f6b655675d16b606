//! The `mops` command. Thin: parsing and exit codes here, the work in the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mops_core::timers::TimerConfig;
use mops_service::config::{Settings, redact};
use mops_service::mail::{MailSettings, MailWorker, TransportSettings};
use mops_service::replay::{StepOutcome, replay_round};
use mops_service::store::{self, OutboxStatus, Store};

/// Runs the MOPS idea pipeline of Samhällskontraktet: calls for ideas,
/// selection, seminars, the pitch panel, project plans and board decisions.
#[derive(Debug, Parser)]
#[command(
    name = "mops",
    version,
    after_help = "Exit status: 0 when all went well; 1 when `verify` found discrepancies or \
                  `outbox retry` could not send everything; 2 for a usage error; 3 when the command could not run (for example, the database \
                  cannot be reached).\n\nThe database is MOPS_DATABASE_URL (default sqlite://mops.db, \
                  created if missing); PostgreSQL: postgres://USER@HOST:5432/DB."
)]
struct Cli {
    /// The database to use: sqlite://FILE or postgres://USER@HOST/DB.
    #[arg(long, env = "MOPS_DATABASE_URL", default_value = mops_service::config::DEFAULT_DATABASE_URL, global = true, hide_env_values = true)]
    database_url: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending database migrations (they also run at every start).
    Migrate,
    /// Rebuild every call and idea from its events and check the stored
    /// state, the hash chains and the invariants (budget, one decision per
    /// idea, every transition with its events and outbox rows).
    #[command(after_help = "Exit status: 0 when everything matches; 1 when discrepancies were found (each is \
                            listed); 3 when the check could not run.")]
    Verify {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replay the 2010 MOPS round (26 ideas, 10 selected, 9 plans, 4 grants)
    /// through the engine with real transitions, timers and status mails,
    /// send the mails, and print the funnel.
    ///
    /// Mail goes to MOPS_SMTP_URL, or is written as .eml files to
    /// MOPS_MAIL_DIR (default ./mail/) when no SMTP server is set.
    Demo,
    /// Measure the engine against hand-written SQL doing the same writes, on
    /// SQLite and PostgreSQL, and time the dashboard reads over a large call.
    /// Build with --release for meaningful numbers.
    Bench(mops_service::bench::BenchArgs),
    /// The status mails in the outbox: list, preview, retry.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// For the crash test: replays copies of the 2010 round for ever,
    /// printing `ACK <namespace> <step> <id> <version>` after each commit.
    #[command(hide = true)]
    CrashChild {
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..9000))]
        first_namespace: u32,
    },
}

#[derive(Debug, Subcommand)]
enum OutboxCommand {
    /// List mails, newest first.
    List {
        /// Only mails with this status: pending, sending, sent or failed.
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Show a mail as it will be (or was) sent: subject and text, or HTML.
    Preview {
        /// The mail's id (from `mops outbox list`).
        id: uuid::Uuid,
        /// Print the HTML part instead of the text.
        #[arg(long)]
        html: bool,
    },
    /// Send failed or waiting mails now, through the configured transport,
    /// and report what happened to each.
    Retry {
        /// The mails to retry.
        ids: Vec<uuid::Uuid>,
        /// Every failed or waiting mail.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("MOPS_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let settings = Settings { database_url: cli.database_url.clone() };
    match run(cli.command, &settings).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("mops: {message}");
            ExitCode::from(3)
        }
    }
}

async fn open(settings: &Settings) -> Result<store::Db, String> {
    let db = store::connect(&settings.database_url)
        .await
        .map_err(|e| format!("cannot open the database {}: {e}", redact(&settings.database_url)))?;
    db.migrate().await.map_err(|e| format!("cannot migrate the database: {e}"))?;
    Ok(db)
}

#[allow(clippy::print_stdout)]
async fn run(command: Command, settings: &Settings) -> Result<ExitCode, String> {
    match command {
        Command::Migrate => {
            let db = open(settings).await?;
            println!("The {} database {} is migrated.", db.backend(), redact(&settings.database_url));
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { json } => {
            let db = open(settings).await?;
            let report = db.verify().await.map_err(|e| format!("verify could not finish: {e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
            } else {
                print!("{report}");
            }
            Ok(if report.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Demo => demo(settings).await,
        Command::Bench(args) => {
            let report = mops_service::bench::run(&args.into()).await?;
            print!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Outbox(command) => outbox(command, settings).await,
        Command::CrashChild { first_namespace } => {
            let db = open(settings).await?;
            let timers = TimerConfig::default();
            // Registry numbers carry the namespace; they run out at 9 999.
            for namespace in first_namespace..10_000 {
                let round = mops_core::reference::round_2010_in(namespace);
                replay_round(&db, &round, &timers, |n, _, outcome| {
                    if let StepOutcome::Command(o) = outcome {
                        println!("ACK {namespace} {n} {} {}", o.stream, o.version);
                    }
                })
                .await
                .map_err(|(n, e)| format!("step {n} of round {namespace} failed: {e}"))?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn worker(db: &store::Db) -> Result<MailWorker<store::Db>, String> {
    let mail = MailSettings::from_env()?;
    MailWorker::new(db.clone(), mail)
}

fn describe(transport: &TransportSettings) -> String {
    match transport {
        TransportSettings::Smtp { url } => format!("over SMTP to {}", redact(url)),
        TransportSettings::Files { dir } => format!("as .eml files in {}", dir.display()),
    }
}

#[allow(clippy::print_stdout)]
async fn demo(settings: &Settings) -> Result<ExitCode, String> {
    let db = open(settings).await?;
    let worker = worker(&db)?;
    let round = mops_core::reference::round_2010();
    if db.call(round.call_id).await.map_err(|e| e.to_string())?.is_some() {
        println!("The 2010 round is already in {}; showing it as it stands.", redact(&settings.database_url));
    } else {
        println!(
            "Replaying the 2010 MOPS round ({} steps) into {}…",
            round.steps.len(),
            redact(&settings.database_url)
        );
        replay_round(&db, &round, &TimerConfig::default(), |_, _, _| {})
            .await
            .map_err(|(n, e)| format!("step {n} of the 2010 round was refused: {e}"))?;
    }
    let mail = worker.drain(chrono::Utc::now()).await.map_err(|e| format!("sending mail failed: {e}"))?;
    let queued = db.outbox_unsent().await.map_err(|e| e.to_string())?;
    let funnel = db.funnel(round.call_id).await.map_err(|e| e.to_string())?;
    println!();
    println!("Funnel: {funnel}  (ideas submitted → selected → project plans → granted)");
    println!("Granted: {} to {} projects:", funnel.granted_total, funnel.granted);
    for idea in db.ideas(round.call_id, Some(mops_core::Stage::Granted)).await.map_err(|e| e.to_string())? {
        if let mops_core::IdeaState::Granted(g) = &idea.state {
            let title = &g.prepared.plan.pitched.selected.submitted.idea.details.title;
            println!("  - {title}: {} ({})", g.amount, g.decision.registry);
        }
    }
    println!(
        "Status mails: {} sent {}, {} failed, {} waiting to be retried, {} still queued.",
        mail.sent,
        describe(&worker.settings().transport),
        mail.failed,
        mail.retried,
        queued
    );
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::print_stdout)]
async fn outbox(command: OutboxCommand, settings: &Settings) -> Result<ExitCode, String> {
    let db = open(settings).await?;
    match command {
        OutboxCommand::List { status, limit } => {
            let status = match status {
                None => None,
                Some(s) => Some(
                    OutboxStatus::parse(&s)
                        .ok_or_else(|| format!("unknown status {s:?}: use pending, sending, sent or failed"))?,
                ),
            };
            let rows = db.outbox(status, limit).await.map_err(|e| e.to_string())?;
            for r in &rows {
                println!(
                    "{}  {:<8} {:<22} {:<40} attempts {}{}",
                    r.id,
                    r.status.key(),
                    r.notice,
                    r.recipient_email,
                    r.attempts,
                    r.last_error.as_deref().map(|e| format!("  last error: {e}")).unwrap_or_default()
                );
            }
            println!("{} mails.", rows.len());
            Ok(ExitCode::SUCCESS)
        }
        OutboxCommand::Preview { id, html } => {
            let row =
                db.outbox_row(id).await.map_err(|e| e.to_string())?.ok_or_else(|| format!("there is no mail {id}"))?;
            let rendered = worker(&db)?.render_row(&row).await?;
            println!("To: {} <{}>", row.intent.to.name, row.recipient_email);
            println!("Subject: {}", rendered.subject);
            println!("Status: {}", row.status.key());
            println!();
            println!("{}", if html { &rendered.html } else { &rendered.text });
            if let Some(ics) = &rendered.ics {
                println!("--- calendar invitation (inbjudan.ics) ---\n{ics}");
            }
            Ok(ExitCode::SUCCESS)
        }
        OutboxCommand::Retry { ids, all } => {
            if ids.is_empty() && !all {
                return Err("name the mails to retry, or give --all".into());
            }
            let now = chrono::Utc::now();
            let requeued =
                db.requeue_outbox(if all { None } else { Some(&ids) }, now).await.map_err(|e| e.to_string())?;
            let worker = worker(&db)?;
            let report = worker.drain(now).await.map_err(|e| format!("sending mail failed: {e}"))?;
            println!("{requeued} mails queued again.");
            // The mails this retry touched: the named ones, or with --all
            // every one not already sent before now.
            for r in db.outbox(None, 100_000).await.map_err(|e| e.to_string())? {
                let touched = if all {
                    r.status != OutboxStatus::Sent || r.sent_at.is_some_and(|t| t >= now)
                } else {
                    ids.contains(&r.id)
                };
                if touched {
                    let detail = r.server_reply.as_deref().or(r.last_error.as_deref()).unwrap_or("");
                    println!("{}  {:<8} {detail}", r.id, r.status.key());
                }
            }
            println!(
                "Sent {}, failed {}, to be retried later {} ({}).",
                report.sent,
                report.failed,
                report.retried,
                describe(&worker.settings().transport)
            );
            Ok(if report.failed == 0 && report.retried == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}
