//! The `mops` command. Thin: parsing and exit codes here, the work in the library.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use mops_core::domain::{CallId, MeetingId};
use mops_core::timers::TimerConfig;
use mops_service::config::{Settings, redact};
use mops_service::mail::{MailSettings, MailWorker, TransportSettings};
use mops_service::people::{
    self, ChangedBy, DEMO_PASSWORD, NewUser, Password, PeopleError, PeopleStore, RoleKind, TokenId,
};
use mops_service::replay::{StepOutcome, replay_round};
use mops_service::report::call_file::{self, CallFileFormat};
use mops_service::report::events::{self, EventFormat, PersonalData};
use mops_service::report::minutes::{self, MinutesFormat};
use mops_service::report::{self, ReportError, ReportFormat};
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
                  created if missing); PostgreSQL: postgres://USER@HOST:5432/DB.\n\nmops itself speaks English; \
                  what it writes for people is Swedish first: status mails (English for those who chose it), \
                  the minutes, report labels and the CSV for Swedish Excel."
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
    /// Run the service: the web application (Swedish, with English a click
    /// away), the JSON API under /api/v1, /healthz and /readyz, the mail
    /// worker and the timers, until SIGTERM or Ctrl-C.
    ///
    /// Listens on MOPS_BIND (default 127.0.0.1:8080). With --demo, an empty
    /// database is first filled with the 2010 round, the round's people are
    /// added, a call for this year is opened, and the URL and one demo
    /// sign-in per role are printed.
    Serve {
        /// Load the 2010 round first if the database has no calls.
        #[arg(long)]
        demo: bool,
    },
    /// Replay the 2010 MOPS round (26 ideas, 10 selected, 9 plans, 4 grants)
    /// through the engine with real transitions, timers and status mails,
    /// send the mails, and print the funnel.
    ///
    /// Mail goes to MOPS_SMTP_URL, or is written as .eml files to
    /// MOPS_MAIL_DIR (default ./mail/) when no SMTP server is set.
    ///
    /// Also adds the round's people (organisations, sector group, staff
    /// with their roles, applicants) and prints one demo sign-in per role.
    /// The staff's password is "draknastet-2010", for the demo only.
    Demo,
    /// Measure the engine against hand-written SQL doing the same writes, on
    /// SQLite and PostgreSQL, and time the dashboard reads over a large call.
    /// Build with --release for meaningful numbers.
    Bench(mops_service::bench::BenchArgs),
    /// Measure the mail worker draining the outbox into a loopback SMTP sink
    /// against lettre alone sending the same pre-built messages.
    /// Build with --release for meaningful numbers.
    BenchMail(mops_service::bench_mail::MailBenchArgs),
    /// Measure a pipeline command through the HTTP API against the engine
    /// called directly, and against GET /healthz, with 64 concurrent
    /// clients; on SQLite, and on PostgreSQL too when --database-url names
    /// one (a fresh schema, dropped afterwards). Build with --release.
    BenchHttp(mops_service::bench_http::HttpBenchArgs),
    /// The status mails in the outbox: list, preview, retry.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Reports on a call: the funnel, the budget, the board's decisions; as
    /// text, CSV (for Excel), JSON, or an SVG chart of the funnel.
    #[command(subcommand)]
    Report(ReportCommand),
    /// The minutes (protokoll) of a board meeting, in Swedish: each decision
    /// as a numbered paragraph (§ 1, § 2, …) with its registry number, title,
    /// decision, amount, conditions and motivation; the totals; and a table
    /// for the signatures (justering), left blank.
    ///
    /// There is no meetings table yet: the meeting is found through the
    /// decisions that carry its id, and its time is that of its first
    /// decision. `mops report decisions` shows the meeting ids.
    #[command(after_help = "Exit status: 0 when the minutes were written; 2 when no decision carries that \
                            meeting id (the meetings there are are listed); 3 when the command could not run.")]
    Minutes {
        /// The meeting's id (a UUID).
        #[arg(long)]
        meeting: MeetingId,
        /// md: Markdown; html: a complete HTML document, ready to print.
        #[arg(long, value_enum, default_value_t)]
        format: MinutesFormat,
    },
    /// Export data: the event log, for research and process mining.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Calls as files: export a call's definition, edit it, and import it as
    /// a new call, so that a new round starts from last year's.
    #[command(subcommand)]
    Call(CallCmd),
    /// People who sign in (staff and applicants): add them, set passwords,
    /// grant and revoke roles, list, disable.
    #[command(subcommand, after_help = PEOPLE_AFTER_HELP)]
    User(UserCommand),
    /// API tokens for scripts and integrations: create, list, revoke.
    #[command(subcommand, after_help = PEOPLE_AFTER_HELP)]
    Token(TokenCommand),
    /// The parties of the collaboration (Mälardalens högskola, the
    /// municipalities, …): add, list. Users belong to one.
    #[command(subcommand, after_help = PEOPLE_AFTER_HELP)]
    Organisation(NamedCommand),
    /// Sector groups (sektorsgrupper): add, list. A sector group member's
    /// role names one.
    #[command(subcommand, after_help = PEOPLE_AFTER_HELP)]
    SectorGroup(NamedCommand),
    /// For the crash test: replays copies of the 2010 round for ever,
    /// printing `ACK <namespace> <step> <id> <version>` after each commit.
    #[command(hide = true)]
    CrashChild {
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..9000))]
        first_namespace: u32,
    },
}

const REPORT_AFTER_HELP: &str = "Without --call the report is about the only call there is; when there \
                                 are several, name one (they are listed).\n\nCSV is for Excel with Swedish \
                                 settings: UTF-8 with BOM, `;` between cells, amounts in kronor with a decimal \
                                 comma, dates YYYY-MM-DD. JSON has English field names and amounts in öre.\n\nExit \
                                 status: 0 when the report was written; 2 for a usage error (an unknown call, \
                                 several calls and none named, a format the report does not have); 3 when the \
                                 command could not run.";

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// The funnel: ideas submitted, selected, with a project plan, granted;
    /// how many were not selected, lapsed, declined or withdrawn; the total
    /// granted. `--format svg` draws it for an annual report.
    #[command(after_help = REPORT_AFTER_HELP)]
    Funnel(ReportArgs),
    /// The budget: what was granted to which project (with registry
    /// numbers), what remains, and the ceiling per project.
    #[command(after_help = REPORT_AFTER_HELP)]
    Budget(ReportArgs),
    /// Every board decision: registry number, idea, the lead applicant's
    /// organisation, granted (beviljad) or declined (avslagen), amount,
    /// motivation, meeting and time.
    #[command(after_help = REPORT_AFTER_HELP)]
    Decisions(ReportArgs),
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// The call's id (default: the only call there is).
    #[arg(long)]
    call: Option<CallId>,
    /// text, csv, json, or svg (the funnel only).
    #[arg(long, value_enum, default_value_t)]
    format: ReportFormat,
}

/// How `--as EMAIL` is proved: the first paragraph of the help of the
/// commands that take it.
macro_rules! process_leader_password_help {
    () => {
        "The process leader named by --as proves who they are with the password they sign in to the web with: \
         from the environment variable MOPS_PASSWORD if it is set; otherwise the first line of standard input \
         when that is not a terminal (and not the definition file); otherwise typed when asked, without echo, on \
         the terminal."
    };
}

#[derive(Debug, Subcommand)]
enum ExportCommand {
    /// The event log: every event of every idea (and call), in order.
    ///
    /// jsonl: one JSON object per event with its stream (kind and id), seq,
    /// type, time, actor and body. xes: IEEE 1849-2016 for ProM, Disco and
    /// PM4Py, one trace per idea, one event per idea event (concept:name is
    /// the event type, org:resource who did it).
    ///
    /// Personal data is pseudonymised unless --with-personal-data is given:
    /// people, ideas and registry numbers get stable pseudonyms (person-1,
    /// idea-1, registry-1, … in order of first appearance in the exported
    /// log), free texts (titles, summaries, motivations, conditions, plan
    /// sections, feedback) become `[redacted]`, names and email addresses
    /// are left out.
    #[command(after_help = concat!(
        process_leader_password_help!(),
        "\n\nExit status: 0 when the log was written; 2 for a usage error (an unknown call, \
         --with-personal-data without --as, an unknown or disabled person, a wrong password, a person who is not \
         a process leader), and then nothing is written; 3 when the command could not run."
    ))]
    Events {
        /// jsonl or xes.
        #[arg(long, value_enum, default_value_t)]
        format: EventFormat,
        /// Only this call's events (default: every call).
        #[arg(long)]
        call: Option<CallId>,
        /// Include the personal data: names, email addresses, ids and the
        /// free texts as recorded. Only for a process leader: needs --as
        /// too. The export is logged (at info level) with their id.
        #[arg(long)]
        with_personal_data: bool,
        /// With --with-personal-data: the process leader exporting, by the
        /// email address they sign in with. They must be enabled and hold
        /// the process-leader role, and give their password (see below).
        #[arg(long = "as", value_name = "EMAIL")]
        as_: Option<String>,
        /// Write to this file instead of standard output (created readable
        /// by you only when it holds personal data).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum CallCmd {
    /// List the calls, oldest first: id, title, phase.
    List,
    /// Write a call's definition (timeline, capacity, budget, ceiling,
    /// criteria, plan template) as TOML or JSON.
    #[command(after_help = "Amounts in the file are in öre (1 kr = 100 öre); instants are UTC (RFC 3339).\n\n\
                            Exit status: 0 when the definition was written; 2 when there is no such call; 3 when \
                            the command could not run.")]
    Export {
        /// The call's id.
        #[arg(long)]
        call: CallId,
        /// toml or json.
        #[arg(long, value_enum, default_value_t)]
        format: CallFileFormat,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Create a new call, as a draft, from a definition file (TOML or JSON,
    /// as `mops call export` writes it; `-` reads standard input). Prints
    /// the new call's id.
    ///
    /// Creating a call is for a process leader: --as names one, who gives
    /// their password (see below), and the call is recorded as created by
    /// them.
    #[command(after_help = concat!(
        process_leader_password_help!(),
        "\n\nExit status: 0 when the call was created; 2 when the file is not a valid definition, the id is \
         taken, --as names an unknown or disabled person or one who is not a process leader, or a wrong password \
         was given (no call is created then); 3 when the command could not run."
    ))]
    Import {
        /// The definition file.
        file: PathBuf,
        /// The new call's id (default: a new random id).
        #[arg(long)]
        id: Option<uuid::Uuid>,
        /// The process leader creating the call, by the email address they
        /// sign in with. They must be enabled and hold the process-leader
        /// role, and give their password (see below).
        #[arg(long = "as", value_name = "EMAIL")]
        as_: String,
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
    ///
    /// Give a mail's id to see a queued or sent mail, or --idea and --notice
    /// to see what a mail would say before it exists (facts the idea does not
    /// have yet are shown as placeholders in square brackets).
    Preview {
        /// The mail's id (from `mops outbox list`).
        #[arg(required_unless_present = "idea")]
        id: Option<uuid::Uuid>,
        /// The idea to preview a mail for.
        #[arg(long, conflicts_with = "id", requires = "notice")]
        idea: Option<uuid::Uuid>,
        /// Which mail: idea_received, selected, not_selected, seminar_invitation,
        /// panel_invitation, plan_received, plan_deadline_reminder, lapsed,
        /// prepared_for_decision, granted, declined or withdrawn.
        #[arg(long)]
        notice: Option<String>,
        /// The language of the preview: sv or en.
        #[arg(long, default_value = "sv")]
        lang: String,
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

const PEOPLE_AFTER_HELP: &str = "These commands take no sign-in: whoever can run mops against the \
                                 database is trusted as an administrator (only `export events \
                                 --with-personal-data` and `call import` ask for a process leader's password). Every change is recorded in the \
                                 append-only people_log as made by the command line.\n\nExit status: 0 when \
                                 all went well (also when there was nothing to change); 2 for a usage error (an \
                                 unknown user, a taken address, a missing or needless --scope, a password \
                                 shorter than 12 characters); 3 when the command could not run.";

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user, without roles. Staff get a password (--password-stdin);
    /// applicants need none (they sign in by a link sent by mail).
    #[command(
        after_help = "Example:\n  printf '%s\\n' 'a long pass phrase' | mops user add --email anna@mdh.se \\\n    \
                            --name 'Anna Andersson' --organisation 'Mälardalens högskola' --password-stdin\n\n\
                            The address is stored lower-cased and must be new, whatever its case."
    )]
    Add {
        /// The email address: also what they sign in with.
        #[arg(long)]
        email: String,
        /// The name as they want it written.
        #[arg(long)]
        name: String,
        /// The organisation they belong to: its id or its exact name
        /// (`mops organisation list`).
        #[arg(long)]
        organisation: Option<String>,
        /// The language of their mail and screens: sv or en.
        #[arg(long, default_value = "sv", value_parser = parse_language)]
        language: mops_core::Language,
        /// Read a password (one line, at least 12 characters) from standard
        /// input. Without it the user has no password yet.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set or replace a user's password, read from standard input (one
    /// line, at least 12 characters). Ends the user's web sessions and
    /// voids their unused password-reset links.
    SetPassword {
        #[arg(long)]
        email: String,
    },
    /// Grant a role. sector-group needs --scope with the sector group's id
    /// (`mops sector-group list`), panel the call's id (`mops call list`);
    /// process-leader and board take no --scope.
    Grant(RoleArgs),
    /// Revoke a role the user holds (the same arguments as grant).
    Revoke(RoleArgs),
    /// List the users with their roles, by email address.
    List {
        /// Print JSON (the roles with their scopes) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: their web sessions end, they can no longer sign in
    /// and their API tokens stop working. Nothing is deleted; what they did
    /// stays recorded.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled user again: they can sign in, and their roles and
    /// the API tokens not revoked meanwhile work again.
    Enable {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Args)]
struct RoleArgs {
    /// The user's email address.
    #[arg(long)]
    email: String,
    /// process-leader, sector-group, panel or board.
    #[arg(long, value_enum)]
    role: RoleKind,
    /// The sector group's id (sector-group) or the call's id (panel).
    #[arg(long)]
    scope: Option<uuid::Uuid>,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an API token for a user and print its secret. The secret is
    /// shown this once: only its SHA-256 is stored. The secret goes to
    /// standard output, everything else to standard error.
    Create {
        /// The user the token acts as.
        #[arg(long)]
        email: String,
        /// What the token is for, e.g. "diariet" (unique among the user's live tokens).
        #[arg(long)]
        name: String,
    },
    /// List tokens (never their secrets): id, owner, name, created, last used, revoked.
    List {
        /// Only this user's tokens.
        #[arg(long)]
        email: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: it stops working at once.
    Revoke {
        /// The token's id (`mops token list`).
        #[arg(long)]
        id: TokenId,
    },
}

#[derive(Debug, Subcommand)]
enum NamedCommand {
    /// Add one; prints its new id.
    Add {
        /// Its name, unique.
        #[arg(long)]
        name: String,
    },
    /// List them by name: id and name.
    List,
}

fn parse_language(value: &str) -> Result<mops_core::Language, String> {
    mops_core::Language::parse(value).map_err(|e| e.to_string())
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
        Err(Failure { code, message }) => {
            eprintln!("mops: {message}");
            ExitCode::from(code)
        }
    }
}

/// Why a command failed: the message for stderr and the exit status
/// (2 usage, 3 cannot run).
#[derive(Debug)]
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Self { code: 2, message: message.into() }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self { code: 3, message }
    }
}

impl From<PeopleError> for Failure {
    fn from(e: PeopleError) -> Self {
        Self { code: e.exit_code(), message: e.to_string() }
    }
}

impl From<ReportError> for Failure {
    fn from(e: ReportError) -> Self {
        Self { code: e.exit_code(), message: e.to_string() }
    }
}

/// Writes `bytes` to `output`, or to standard output. A file that holds
/// personal data is created readable by its owner only.
fn emit(bytes: &[u8], output: Option<&Path>, private: bool) -> Result<(), Failure> {
    let Some(path) = output else {
        let mut out = std::io::stdout().lock();
        return match out.write_all(bytes).and_then(|()| out.flush()) {
            // `mops … | head` is not an error.
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(format!("cannot write to standard output: {e}").into())
            }
            _ => Ok(()),
        };
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    options
        .open(path)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .map_err(|e| Failure::from(format!("cannot write {}: {e}", path.display())))?;
    eprintln!("Wrote {} ({} bytes).", path.display(), bytes.len());
    Ok(())
}

async fn open(settings: &Settings) -> Result<store::Db, String> {
    let db = store::connect(&settings.database_url)
        .await
        .map_err(|e| format!("cannot open the database {}: {e}", redact(&settings.database_url)))?;
    db.migrate().await.map_err(|e| format!("cannot migrate the database: {e}"))?;
    Ok(db)
}

#[allow(clippy::print_stdout)]
async fn run(command: Command, settings: &Settings) -> Result<ExitCode, Failure> {
    match command {
        Command::Migrate => {
            let db = open(settings).await?;
            println!("The {} database {} is migrated.", db.backend(), redact(&settings.database_url));
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { json } => {
            let db = open(settings).await?;
            let bar = progress(0, "reading every call, idea and event…");
            let report = db
                .verify_with(&advance(&bar, "calls and ideas checked against their events"))
                .await
                .map_err(|e| format!("verify could not finish: {e}"))?;
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
            } else {
                print!("{report}");
            }
            Ok(if report.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Demo => Ok(demo(settings).await?),
        Command::Serve { demo } => Ok(serve(settings, demo).await?),
        Command::BenchMail(args) => {
            let report = mops_service::bench_mail::run(&args.into()).await?;
            print!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::BenchHttp(args) => {
            print!("{}", mops_service::bench_http::run(&args, &settings.database_url).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(args) => {
            let report = mops_service::bench::run(&args.into()).await?;
            print!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Outbox(command) => Ok(outbox(command, settings).await?),
        Command::Report(command) => {
            let db = open(settings).await?;
            let bytes = match command {
                ReportCommand::Funnel(a) => report::funnel::render(&report::funnel::load(&db, a.call).await?, a.format),
                ReportCommand::Budget(a) => report::budget::render(&report::budget::load(&db, a.call).await?, a.format),
                ReportCommand::Decisions(a) => {
                    report::decisions::render(&report::decisions::load(&db, a.call).await?, a.format)
                }
            }?;
            emit(&bytes, None, false)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Minutes { meeting, format } => {
            let db = open(settings).await?;
            let minutes = minutes::load(&db, meeting).await?;
            emit(minutes::render(&minutes, format).as_bytes(), None, false)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Export(ExportCommand::Events { format, call, with_personal_data, as_, output }) => {
            let leader = match (with_personal_data, as_) {
                (true, None) => {
                    return Err(Failure::usage(
                        "--with-personal-data is only for a process leader: add --as EMAIL (they will be asked \
                         for their password), or leave it out for a pseudonymised export",
                    ));
                }
                (false, Some(_)) => {
                    return Err(Failure::usage(
                        "--as is only for --with-personal-data: a pseudonymised export needs no process leader",
                    ));
                }
                (true, Some(email)) => Some(email),
                (false, None) => None,
            };
            let personal = if with_personal_data { PersonalData::Included } else { PersonalData::Pseudonymised };
            let db = open(settings).await?;
            if let Some(email) = leader {
                let leader = process_leader(&db, &email, false).await?;
                // The trace of who took the personal data out; the id only,
                // as every log line (no names or addresses in logs).
                tracing::info!(
                    person.id = %leader.id,
                    call = call.map(|c| c.to_string()).unwrap_or_else(|| "every call".to_owned()),
                    ?format,
                    "the event log is exported with personal data"
                );
            }
            let bar = progress(0, "reading the event log…");
            let text = events::export(&db, call, format, personal, &advance(&bar, "events exported")).await?;
            bar.finish_and_clear();
            emit(text.as_bytes(), output.as_deref(), with_personal_data)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Call(command) => call_command(command, settings).await,
        Command::User(command) => user_command(command, settings).await,
        Command::Token(command) => token_command(command, settings).await,
        Command::Organisation(command) => named_command(command, Named::Organisation, settings).await,
        Command::SectorGroup(command) => named_command(command, Named::SectorGroup, settings).await,
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

#[allow(clippy::print_stdout)]
async fn call_command(command: CallCmd, settings: &Settings) -> Result<ExitCode, Failure> {
    match command {
        CallCmd::List => {
            let db = open(settings).await?;
            let calls = db.calls().await.map_err(|e| e.to_string())?;
            for c in calls.iter().filter_map(|v| v.state.call()) {
                println!(
                    "{}  {:<11} {}  (created {})",
                    c.id,
                    c.phase.key(),
                    c.definition.title,
                    report::local_date(c.created_at)
                );
            }
            println!("{} calls.", calls.len());
            Ok(ExitCode::SUCCESS)
        }
        CallCmd::Export { call, format, output } => {
            let db = open(settings).await?;
            let text = call_file::export(&db, call, format).await?;
            emit(text.as_bytes(), output.as_deref(), false)?;
            Ok(ExitCode::SUCCESS)
        }
        CallCmd::Import { file, id, as_ } => {
            let from_stdin = file.as_os_str() == "-";
            let text = if from_stdin {
                std::io::read_to_string(std::io::stdin()).map_err(|e| format!("cannot read standard input: {e}"))?
            } else {
                std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?
            };
            let definition = call_file::parse(&text, Some(&file))?;
            let db = open(settings).await?;
            let leader = process_leader(&db, &as_, from_stdin).await?;
            let title = definition.title.to_string();
            let id = call_file::import(&db, definition, id, &leader.actor()).await?;
            eprintln!("Created the call \"{title}\" as a draft; its id:");
            println!("{id}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The person `email`, once they have proved with their password that they
/// are a process leader (`--as`). See [`people::authenticate_process_leader`]
/// for what is checked, and [`leader_password`] for where the password
/// comes from.
async fn process_leader(db: &store::Db, email: &str, stdin_taken: bool) -> Result<people::User, Failure> {
    let password = leader_password(email, stdin_taken)?;
    Ok(people::authenticate_process_leader(db, email, &password).await?)
}

/// The password for `--as EMAIL`: the environment variable `MOPS_PASSWORD`
/// if it is set; otherwise the first line of standard input if that is not
/// a terminal and not already read (`mops call import -`); otherwise typed
/// on the terminal without echo.
fn leader_password(email: &str, stdin_taken: bool) -> Result<String, Failure> {
    match std::env::var("MOPS_PASSWORD") {
        Ok(password) => return Ok(password),
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(Failure::usage("MOPS_PASSWORD is set but is not UTF-8 text"));
        }
        Err(std::env::VarError::NotPresent) => {}
    }
    let password = if !stdin_taken && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
        line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line).to_owned()
    } else {
        // On Unix rpassword reads /dev/tty, so this works even when standard
        // input holds the definition file, as long as there is a terminal.
        rpassword::prompt_password(format!("Password for {email}: ")).map_err(|e| {
            Failure::usage(format!(
                "cannot ask for the password of {email} ({e}): set MOPS_PASSWORD, or run mops on a terminal"
            ))
        })?
    };
    if password.is_empty() {
        return Err(Failure::usage(format!(
            "no password was given for {email}: set MOPS_PASSWORD, or type it when asked"
        )));
    }
    Ok(password)
}

/// Reads a password from standard input: the first line, without its line end.
fn read_password() -> Result<Password, Failure> {
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!("Password (at least {} characters; it shows as you type): ", Password::MIN_CHARS);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let line = line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line);
    Ok(Password::new(line)?)
}

#[allow(clippy::print_stdout)]
async fn user_command(command: UserCommand, settings: &Settings) -> Result<ExitCode, Failure> {
    let by = ChangedBy::CommandLine;
    match command {
        UserCommand::Add { email, name, organisation, language, password_stdin } => {
            let email = mops_core::domain::Email::parse(&email).map_err(PeopleError::from)?;
            let name = mops_core::domain::PersonName::parse(&name).map_err(PeopleError::from)?;
            let password = if password_stdin { Some(read_password()?) } else { None };
            let db = open(settings).await?;
            let organisation = match organisation {
                Some(o) => Some(people::find_organisation(&db, &o).await?.id),
                None => None,
            };
            let id = mops_core::domain::PersonId::from_uuid(uuid::Uuid::new_v4());
            let new = NewUser { id, email, name, organisation, language, password };
            let user = db.add_user(new, by).await?;
            println!("Added {} <{}> (id {}).", user.name, user.email, user.id);
            if !user.has_password {
                println!(
                    "They have no password: staff get one with `mops user set-password --email {}`; applicants \
                     need none.",
                    user.email
                );
            }
            println!("Grant roles with `mops user grant --email {} --role …`.", user.email);
        }
        UserCommand::SetPassword { email } => {
            let password = read_password()?;
            let db = open(settings).await?;
            let user = people::find_user(&db, &email).await?;
            let ended = db.set_password(user.id, &password, by).await?;
            println!("Set the password of {}; {ended} web session(s) of theirs ended.", user.email);
        }
        UserCommand::Grant(RoleArgs { email, role, scope }) => {
            let role = role.with_scope(scope)?;
            let db = open(settings).await?;
            let user = people::find_user(&db, &email).await?;
            if db.grant_role(user.id, role, by).await? {
                println!("Granted {} to {}.", people::role_name(&role), user.email);
            } else {
                println!("{} already holds {}; nothing changed.", user.email, people::role_name(&role));
            }
        }
        UserCommand::Revoke(RoleArgs { email, role, scope }) => {
            let role = role.with_scope(scope)?;
            let db = open(settings).await?;
            let user = people::find_user(&db, &email).await?;
            db.revoke_role(user.id, role, by).await?;
            println!("Revoked {} from {}.", people::role_name(&role), user.email);
        }
        UserCommand::List { json } => {
            let db = open(settings).await?;
            let users = db.users().await?;
            if json {
                let text = serde_json::to_string_pretty(&users).map_err(|e| e.to_string())? + "\n";
                emit(text.as_bytes(), None, false)?;
                return Ok(ExitCode::SUCCESS);
            }
            let width = users.iter().map(|u| u.email.as_str().chars().count()).max().unwrap_or(0);
            let mut text = String::new();
            for u in &users {
                let roles: Vec<String> = u.roles.iter().map(people::role_name).collect();
                let _ = writeln!(
                    text,
                    "{:<width$}  {:<28} {}  {:<11} {}{}",
                    u.email.as_str(),
                    u.name.as_str(),
                    u.language,
                    if u.has_password { "password" } else { "no password" },
                    if roles.is_empty() { "-".to_owned() } else { roles.join(", ") },
                    if u.disabled { "  (disabled)" } else { "" },
                );
            }
            let _ = writeln!(text, "{} users.", users.len());
            emit(text.as_bytes(), None, false)?;
        }
        UserCommand::Disable { email } => {
            let db = open(settings).await?;
            let user = people::find_user(&db, &email).await?;
            if db.disable_user(user.id, by).await? {
                println!(
                    "Disabled {}: they are signed out, can no longer sign in, and their API tokens no longer work.",
                    user.email
                );
            } else {
                println!("{} was already disabled; nothing changed.", user.email);
            }
        }
        UserCommand::Enable { email } => {
            let db = open(settings).await?;
            let user = people::find_user(&db, &email).await?;
            if db.enable_user(user.id, by).await? {
                println!("Enabled {}: they can sign in again with their roles and API tokens.", user.email);
            } else {
                println!("{} was not disabled; nothing changed.", user.email);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::print_stdout)]
async fn token_command(command: TokenCommand, settings: &Settings) -> Result<ExitCode, Failure> {
    let by = ChangedBy::CommandLine;
    let db = open(settings).await?;
    match command {
        TokenCommand::Create { email, name } => {
            let user = people::find_user(&db, &email).await?;
            let (id, secret) = db.create_token(user.id, &name, by).await?;
            eprintln!("Created the API token {name:?} (id {id}) for {}. Its secret:", user.email);
            println!("{secret}");
            eprintln!(
                "Copy it now: it cannot be shown again (only its SHA-256 is stored). Anyone who has it acts as {}; \
                 revoke it with `mops token revoke --id {id}`.",
                user.email
            );
        }
        TokenCommand::List { email, json } => {
            let user = match email {
                Some(e) => Some(people::find_user(&db, &e).await?.id),
                None => None,
            };
            let tokens = db.tokens(user).await?;
            if json {
                let text = serde_json::to_string_pretty(&tokens).map_err(|e| e.to_string())? + "\n";
                emit(text.as_bytes(), None, false)?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut text = String::new();
            let time = |t: Option<chrono::DateTime<chrono::Utc>>| t.map_or("never".to_owned(), report::local_datetime);
            for t in &tokens {
                let _ = writeln!(
                    text,
                    "{}  {}  {:?}  created {}, last used {}{}",
                    t.id,
                    t.email,
                    t.name,
                    report::local_datetime(t.created_at),
                    time(t.last_used_at),
                    t.revoked_at.map(|r| format!(", revoked {}", report::local_datetime(r))).unwrap_or_default()
                );
            }
            let _ = writeln!(text, "{} tokens.", tokens.len());
            emit(text.as_bytes(), None, false)?;
        }
        TokenCommand::Revoke { id } => {
            if db.revoke_token(id, by).await? {
                println!("Revoked the API token {id}: it no longer works.");
            } else {
                println!("The API token {id} was already revoked; nothing changed.");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Clone, Copy)]
enum Named {
    Organisation,
    SectorGroup,
}

#[allow(clippy::print_stdout)]
async fn named_command(command: NamedCommand, what: Named, settings: &Settings) -> Result<ExitCode, Failure> {
    let by = ChangedBy::CommandLine;
    match command {
        NamedCommand::Add { name } => {
            let name = mops_core::domain::Title::parse(&name).map_err(PeopleError::from)?;
            let db = open(settings).await?;
            let id = uuid::Uuid::new_v4();
            match what {
                Named::Organisation => {
                    let o = mops_core::people::Organisation {
                        id: mops_core::domain::OrganisationId::from_uuid(id),
                        name: name.clone(),
                    };
                    db.add_organisation(&o, by).await?;
                    eprintln!("Added the organisation \"{name}\"; its id:");
                }
                Named::SectorGroup => {
                    let g = mops_core::people::SectorGroup {
                        id: mops_core::domain::SectorGroupId::from_uuid(id),
                        name: name.clone(),
                    };
                    db.add_sector_group(&g, by).await?;
                    eprintln!("Added the sector group \"{name}\"; its id:");
                }
            }
            println!("{id}");
        }
        NamedCommand::List => {
            let db = open(settings).await?;
            let rows: Vec<(uuid::Uuid, String)> = match what {
                Named::Organisation => {
                    db.organisations().await?.into_iter().map(|o| (*o.id.as_uuid(), o.name.to_string())).collect()
                }
                Named::SectorGroup => {
                    db.sector_groups().await?.into_iter().map(|g| (*g.id.as_uuid(), g.name.to_string())).collect()
                }
            };
            let noun = match what {
                Named::Organisation => "organisations",
                Named::SectorGroup => "sector groups",
            };
            let mut text = String::new();
            for (id, name) in &rows {
                let _ = writeln!(text, "{id}  {name}");
            }
            let _ = writeln!(text, "{} {noun}.", rows.len());
            emit(text.as_bytes(), None, false)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Puts the 2010 round's people into `db` (idempotent) and prints one demo
/// sign-in per role.
#[allow(clippy::print_stdout)]
async fn seed_people(db: &store::Db, round: &mops_core::reference::Round2010) -> Result<(), String> {
    let sign_ins = people::seed_reference(db, round, DEMO_PASSWORD)
        .await
        .map_err(|e| format!("cannot add the 2010 round's people: {e}"))?;
    println!();
    println!(
        "Demo sign-ins, one per role (the password {DEMO_PASSWORD:?} is for this demo only: it is printed here and \
         in the documentation, so never give it to a real account):"
    );
    let width = sign_ins.iter().map(|s| s.label(mops_core::Language::En).len()).max().unwrap_or(0);
    let email_width = sign_ins.iter().map(|s| s.email.as_str().chars().count()).max().unwrap_or(0);
    for s in &sign_ins {
        let how = if s.password {
            DEMO_PASSWORD
        } else {
            "no password: ask for a sign-in link on the sign-in page (the mail lands in the mail folder)"
        };
        println!("  {:<width$}  {:<email_width$}  {how}", s.label(mops_core::Language::En), s.email.as_str());
    }
    Ok(())
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
        let bar = progress(round.steps.len() as u64, "steps");
        replay_round(&db, &round, &TimerConfig::default(), |_, _, _| bar.inc(1))
            .await
            .map_err(|(n, e)| format!("step {n} of the 2010 round was refused: {e}"))?;
        bar.finish_and_clear();
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
    seed_people(&db, &round).await?;
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
        OutboxCommand::Preview { id, idea, notice, lang, html } => {
            let worker = worker(&db)?;
            let (to, status, rendered) = match (id, idea) {
                (Some(id), _) => {
                    let row = db
                        .outbox_row(id)
                        .await
                        .map_err(|e| e.to_string())?
                        .ok_or_else(|| format!("there is no mail {id}"))?;
                    let rendered = worker.render_row(&row).await?;
                    (format!("{} <{}>", row.intent.to.name, row.recipient_email), row.status.key().to_owned(), rendered)
                }
                (None, Some(idea)) => {
                    let lang = mops_core::Language::parse(&lang).map_err(|e| e.to_string())?;
                    let notice = notice.unwrap_or_default();
                    let state = db
                        .idea(mops_core::domain::IdeaId::from_uuid(idea))
                        .await
                        .map_err(|e| e.to_string())?
                        .ok_or_else(|| format!("there is no idea {idea}"))?
                        .state;
                    let call_id = state.idea().map(|i| i.call).ok_or_else(|| format!("there is no idea {idea}"))?;
                    let call = db
                        .call(call_id)
                        .await
                        .map_err(|e| e.to_string())?
                        .and_then(|c| c.state.call().cloned())
                        .ok_or_else(|| format!("the call of idea {idea} is missing"))?;
                    let intent =
                        mops_service::mail::preview::intent_for(&state, &call, &notice, lang).ok_or_else(|| {
                            format!("unknown notice {notice:?}; use one of: {}", mops_core::Notice::KEYS.join(", "))
                        })?;
                    let contact = mops_service::mail::configured_contact()?;
                    let contact = contact.email.to_string();
                    let envelope = mops_service::mail::Envelope {
                        uid: "preview",
                        queued_at: chrono::Utc::now(),
                        contact: Some(&contact),
                    };
                    let rendered = mops_service::mail::render_mail(&intent, &state, &call, &envelope)
                        .map_err(|e| e.to_string())?;
                    (format!("{} <{}>", intent.to.name, intent.to.email), "preview (not queued)".to_owned(), rendered)
                }
                (None, None) => return Err("give a mail id, or --idea and --notice".into()),
            };
            println!("To: {to}");
            println!("Subject: {}", rendered.subject);
            println!("Status: {status}");
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
            // Mails that were already due are sent too, so the bar may grow
            // past the requeued count.
            let bar = progress(requeued, "mails tried");
            let report = worker
                .drain_with(now, &|so_far| {
                    let handled = so_far.handled() as u64;
                    if bar.length().unwrap_or(0) < handled {
                        bar.set_length(handled);
                        counting(&bar, "mails tried");
                    }
                    bar.set_position(handled);
                })
                .await
                .map_err(|e| format!("sending mail failed: {e}"))?;
            bar.finish_and_clear();
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

#[allow(clippy::print_stdout)]
async fn serve(settings: &Settings, load_demo: bool) -> Result<ExitCode, String> {
    use mops_service::serve;
    let options = serve::ServeOptions::from_env()?;
    // From here on SIGTERM means a graceful stop.
    let shutdown = serve::shutdown_signal();
    let db = open(settings).await?;
    if load_demo && db.calls().await.map_err(|e| e.to_string())?.is_empty() {
        let round = mops_core::reference::round_2010();
        replay_round(&db, &round, &TimerConfig::default(), |_, _, _| {})
            .await
            .map_err(|(n, e)| format!("step {n} of the 2010 round was refused: {e}"))?;
        println!("Loaded the 2010 round into {}.", redact(&settings.database_url));
    }
    let mut demo_call = None;
    if load_demo {
        let round = mops_core::reference::round_2010();
        if db.call(round.call_id).await.map_err(|e| e.to_string())?.is_some() {
            seed_people(&db, &round).await?;
            demo_call = mops_service::replay::open_demo_call(&db, &round, chrono::Utc::now()).await?;
        } else {
            println!("The database has calls but not the 2010 round, so its demo people were not added.");
        }
    }
    let worker = worker(&db)?;
    let transport = describe(&worker.settings().transport);
    let listener = serve::bind(options.bind).await?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("MOPS is running at http://{addr}/ (database {}, mail {transport}).", redact(&settings.database_url));
    if let Some(id) = demo_call {
        println!("A call open now, to try the submission form with: http://{addr}/utlysningar/{id}");
    }
    println!("Sign in: http://{addr}/logga-in  API: http://{addr}/api/openapi.json");
    println!("Health: http://{addr}/healthz  Readiness: http://{addr}/readyz  Stop with Ctrl-C.");
    serve::run(db, worker, listener, options, shutdown).await?;
    println!("MOPS stopped.");
    Ok(ExitCode::SUCCESS)
}

/// A progress bar on stderr, `{bar} pos/len message elapsed`, or nothing
/// when stderr is not a terminal (in scripts, logs and tests). The message
/// names what is counted. With `len` 0 (not known yet) it shows only the
/// message and the time, until [`counting`] turns it into a bar.
fn progress(len: u64, message: &str) -> indicatif::ProgressBar {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len).with_message(message.to_owned());
    if len == 0 {
        if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} {elapsed}") {
            bar.set_style(style);
        }
    } else {
        counting(&bar, message);
    }
    // Drawn now, so that the wait before the first step (reading the
    // database) shows what is coming.
    bar.tick();
    bar
}

/// Makes `bar` a bar counting `counted`, once its length is known.
fn counting(bar: &indicatif::ProgressBar, counted: &str) {
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} {elapsed}") {
        bar.set_style(style);
    }
    bar.set_message(counted.to_owned());
}

/// A callback for the library's progress reports (`done` of `total`) that
/// moves `bar`. The first report (`done` 0) comes once the reading is over
/// and the total is known: from then on the bar counts `counted`.
fn advance<'a>(bar: &'a indicatif::ProgressBar, counted: &'a str) -> impl Fn(usize, usize) + Sync + 'a {
    move |done, total| {
        bar.set_length(total as u64);
        if done == 0 {
            counting(bar, counted);
        }
        bar.set_position(done as u64);
    }
}
