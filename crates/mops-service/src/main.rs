//! The `mops` command. Thin: parsing and exit codes here, the work in the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mops_core::timers::TimerConfig;
use mops_service::config::{Settings, redact};
use mops_service::replay::{StepOutcome, replay_round};
use mops_service::store::{self, Store};

/// Runs the MOPS idea pipeline of Samhällskontraktet: calls for ideas,
/// selection, seminars, the pitch panel, project plans and board decisions.
#[derive(Debug, Parser)]
#[command(
    name = "mops",
    version,
    after_help = "Exit status: 0 when all went well; 1 when `verify` found discrepancies; \
                  2 for a usage error; 3 when the command could not run (for example, the database \
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
    Verify {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// For the crash test: replays copies of the 2010 round for ever,
    /// printing `ACK <namespace> <step> <id> <version>` after each commit.
    #[command(hide = true)]
    CrashChild {
        #[arg(long, default_value_t = 1)]
        first_namespace: u32,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MOPS_LOG").unwrap_or_else(|_| "warn,mops=info".into()),
        )
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
        Command::CrashChild { first_namespace } => {
            let db = open(settings).await?;
            let timers = TimerConfig::default();
            for namespace in first_namespace.. {
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
