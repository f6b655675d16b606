//! `mops report`, `mops minutes`, `mops export events` and `mops call
//! export/import`, run as the command against the 2010 round on SQLite and
//! on PostgreSQL.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Output};

use common::TestDb;
use mops_core::domain::CallId;
use mops_core::reference::{FUNDED, Round2010, round_2010};
use mops_core::timers::TimerConfig;
use mops_service::people::DEMO_PASSWORD;
use mops_service::replay::replay_round;
use mops_service::store::Store;

/// `mops ARGS --database-url URL`, ignoring the caller's environment; the
/// demo password in `MOPS_PASSWORD` (for `--as`).
async fn mops(db: &TestDb, args: &[&str]) -> Output {
    let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    args.extend(["--database-url".to_owned(), db.url()]);
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_mops"))
            .args(&args)
            .env_remove("MOPS_DATABASE_URL")
            .env("MOPS_LOG", "warn")
            .env("MOPS_PASSWORD", DEMO_PASSWORD)
            .output()
            .expect("run mops")
    })
    .await
    .expect("mops runs")
}

/// The 2010 round's process leader, who signs in with the demo password.
const LEADER: &str = "karin.lindqvist@mdh.example";

/// The 2010 round with its people (the staff with the demo password).
async fn populate_with_people(db: &TestDb) -> Round2010 {
    let round = populate(db).await;
    mops_service::people::seed_reference(&db.db, &round, DEMO_PASSWORD).await.expect("add the round's people");
    round
}

/// Runs `mops`, expects exit status 0, and returns stdout.
async fn ok(db: &TestDb, args: &[&str]) -> String {
    let out = mops(db, args).await;
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    assert_eq!(out.status.code(), Some(0), "mops {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// Runs `mops`, expects exit status `code`, and returns stderr.
async fn fails(db: &TestDb, args: &[&str], code: i32) -> String {
    let out = mops(db, args).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "mops {args:?}:\n{}\n{stderr}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.starts_with("mops: "), "{stderr}");
    stderr
}

async fn populate(db: &TestDb) -> Round2010 {
    let round = round_2010();
    replay_round(&db.db, &round, &TimerConfig::default(), |_, _, _| {})
        .await
        .unwrap_or_else(|(n, e)| panic!("step {n} of the 2010 round failed: {e}"));
    round
}

/// CSV as Excel reads it: `;` between cells, `"` quotes (doubled inside),
/// CRLF between rows. Panics on a bare LF outside quotes.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') if cell.is_empty() => quoted = true,
            (false, ';') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF");
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\n') => panic!("a bare LF ends a row; Excel wants CRLF:\n{text}"),
            (false, c) => cell.push(c),
        }
    }
    assert!(cell.is_empty() && row.is_empty(), "the last row has no CRLF");
    rows
}

/// Strips the BOM and parses; the header row is returned separately.
fn excel_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let body = text.strip_prefix('\u{feff}').unwrap_or_else(|| panic!("no UTF-8 BOM:\n{text}"));
    let mut rows = parse_csv(body);
    let header = rows.remove(0);
    for r in &rows {
        assert_eq!(r.len(), header.len(), "every row has every column: {r:?}");
    }
    (header, rows)
}

fn column(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name:?} in {header:?}"))
}

/// A plain kronor amount (`350000` or `350000,50`) in öre.
fn kronor(cell: &str) -> i64 {
    match cell.split_once(',') {
        Some((kr, ore)) => kr.parse::<i64>().unwrap() * 100 + ore.parse::<i64>().unwrap(),
        None => cell.parse::<i64>().unwrap_or_else(|_| panic!("{cell:?} is not a plain amount")) * 100,
    }
}

async fn the_funnel_in_every_format(db: &TestDb) {
    populate(db).await;
    let text = ok(db, &["report", "funnel"]).await;
    for needle in ["Inkomna idéer", "26", "10", "9", "4", "1 300 000 kr", "Inte utvalda", "16", "Avslagna", "5"] {
        assert!(text.contains(needle), "{needle:?} missing from\n{text}");
    }
    assert_eq!(text, ok(db, &["report", "funnel", "--format", "text"]).await, "text is the default");

    let json: serde_json::Value =
        serde_json::from_str(&ok(db, &["report", "funnel", "--format", "json"]).await).unwrap();
    for (key, n) in [
        ("submitted", 26),
        ("selected", 10),
        ("plans_submitted", 9),
        ("granted", 4),
        ("not_selected", 16),
        ("lapsed", 1),
        ("declined", 5),
        ("withdrawn", 0),
        ("in_progress", 0),
        ("granted_total_ore", 130_000_000),
    ] {
        assert_eq!(json[key], n, "{key} in {json:#}");
    }
    assert_eq!(json["call"]["title"], "Framtidens vård, omsorg och socialt arbete");

    let (header, rows) = excel_csv(&ok(db, &["report", "funnel", "--format", "csv"]).await);
    assert_eq!(header, ["Steg", "Antal", "Belopp (kr)"]);
    let counts: Vec<(&str, &str)> = rows.iter().take(4).map(|r| (r[0].as_str(), r[1].as_str())).collect();
    assert_eq!(counts, [("Inkomna idéer", "26"), ("Utvalda", "10"), ("Projektplaner", "9"), ("Beviljade", "4")]);
    assert_eq!(kronor(&rows[3][2]), 130_000_000);

    let svg = ok(db, &["report", "funnel", "--format", "svg"]).await;
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("the SVG is not XML: {e}\n{svg}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.tag_name().namespace(), Some("http://www.w3.org/2000/svg"));
    assert_eq!(root.attribute("role"), Some("img"));
    // aria-labelledby names the title and the description, which exist.
    let labelled = root.attribute("aria-labelledby").expect("aria-labelledby");
    for id in labelled.split_whitespace() {
        let node = doc.descendants().find(|n| n.attribute("id") == Some(id)).unwrap_or_else(|| panic!("no #{id}"));
        assert!(matches!(node.tag_name().name(), "title" | "desc"), "{id}");
    }
    let title = doc.descendants().find(|n| n.has_tag_name(("http://www.w3.org/2000/svg", "title"))).expect("a title");
    assert!(title.text().unwrap().contains("Framtidens vård"), "{svg}");
    let desc = doc.descendants().find(|n| n.tag_name().name() == "desc").and_then(|n| n.text()).expect("a desc");
    assert!(desc.contains("26") && desc.contains("1 300 000 kr"), "{desc}");
    let texts: Vec<&str> =
        doc.descendants().filter(|n| n.tag_name().name() == "text").filter_map(|n| n.text()).collect();
    for needle in ["Inkomna idéer", "Utvalda", "Projektplaner", "Beviljade", "26", "10", "9", "4"] {
        assert!(texts.contains(&needle), "no text {needle:?} in {texts:?}");
    }
    assert!(texts.iter().any(|t| t.contains("1 300 000 kr")), "{texts:?}");
    // Self-contained: nothing to fetch.
    assert!(!svg.contains("href") && !svg.contains("<script") && !svg.contains("@import"), "{svg}");
    // The bars' widths follow the counts.
    let widths: Vec<f64> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "rect" && n.attribute("rx").is_some())
        .map(|n| n.attribute("width").unwrap().parse().unwrap())
        .collect();
    assert_eq!(widths.len(), 4);
    for (w, n) in widths.iter().zip([26.0, 10.0, 9.0, 4.0]) {
        assert!((w / widths[0] - n / 26.0).abs() < 0.01, "{widths:?}");
    }
}

async fn budget_and_decisions_open_in_excel(db: &TestDb) {
    populate(db).await;
    let budget = ok(db, &["report", "budget", "--format", "csv"]).await;
    assert!(budget.starts_with('\u{feff}'), "no BOM");
    let (header, rows) = excel_csv(&budget);
    let post = column(&header, "Post");
    let amount = column(&header, "Belopp (kr)");
    let grants: Vec<&Vec<String>> = rows.iter().filter(|r| r[post] == "Beviljat").collect();
    assert_eq!(grants.len(), 4);
    assert_eq!(grants.iter().map(|r| kronor(&r[amount])).sum::<i64>(), 130_000_000);
    let line = |name: &str| rows.iter().find(|r| r[post] == name).map(|r| kronor(&r[amount]));
    assert_eq!(line("Budget"), Some(130_000_000));
    assert_eq!(line("Summa beviljat"), Some(130_000_000));
    assert_eq!(line("Kvar att bevilja"), Some(0));
    assert_eq!(line("Takbelopp per projekt"), Some(40_000_000));
    let registry = column(&header, "Diarienummer");
    assert_eq!(
        grants.iter().map(|r| r[registry].as_str()).collect::<Vec<_>>(),
        ["SK 2010/31", "SK 2010/32", "SK 2010/33", "SK 2010/34"]
    );

    let text = ok(db, &["report", "budget"]).await;
    for needle in ["Budget", "1 300 000 kr", "Kvar att bevilja", "400 000 kr", "SK 2010/32", "Grön omsorg"] {
        assert!(text.contains(needle), "{needle:?} missing from\n{text}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&ok(db, &["report", "budget", "--format", "json"]).await).unwrap();
    assert_eq!(json["remaining_ore"], 0);
    assert_eq!(json["grants"].as_array().unwrap().len(), 4);

    let (header, rows) = excel_csv(&ok(db, &["report", "decisions", "--format", "csv"]).await);
    assert_eq!(rows.len(), 9, "{rows:?}");
    let decision = column(&header, "Beslut");
    let amount = column(&header, "Belopp (kr)");
    assert_eq!(rows.iter().filter(|r| r[decision] == "beviljad").count(), 4);
    assert_eq!(rows.iter().filter(|r| r[decision] == "avslagen").count(), 5);
    assert!(rows.iter().filter(|r| r[decision] == "avslagen").all(|r| r[amount].is_empty()));
    assert_eq!(rows.iter().filter(|r| !r[amount].is_empty()).map(|r| kronor(&r[amount])).sum::<i64>(), 130_000_000);
    let numbers: BTreeSet<String> = rows.iter().map(|r| r[column(&header, "Diarienummer")].clone()).collect();
    assert_eq!(numbers, (31..=39).map(|n| format!("SK 2010/{n}")).collect());
    for r in &rows {
        assert_eq!(r[column(&header, "Mötesdatum")], "2010-10-05");
        assert!(!r[column(&header, "Motivering")].is_empty(), "every decision here is motivated: {r:?}");
        assert!(
            ["Mälardalens högskola", "Eskilstuna kommun", "Västerås stad"]
                .contains(&r[column(&header, "Projektledarens organisation")].as_str())
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&ok(db, &["report", "decisions", "--format", "json"]).await).unwrap();
    assert_eq!(json["decisions"].as_array().unwrap().len(), 9);
    assert_eq!(json["granted_count"], 4);
    assert_eq!(json["decisions"][0]["decision"], "granted");

    for report in ["budget", "decisions"] {
        let err = fails(db, &["report", report, "--format", "svg"], 2).await;
        assert!(err.contains("SVG") && err.contains("funnel"), "{err}");
    }
}

/// The people whose names must not leave without `--with-personal-data`.
fn personal_strings(round: &Round2010) -> Vec<String> {
    let mut out = Vec::new();
    for p in &round.people {
        out.push(p.name.to_string());
        out.push(p.email.to_string());
        out.push(p.id.to_string());
    }
    for i in &round.ideas {
        out.push(i.id.to_string());
        out.push(i.title.to_owned());
    }
    out
}

async fn the_event_log_exports_for_process_mining(db: &TestDb) {
    let round = populate_with_people(db).await;
    let ideas = db.db.ideas(round.call_id, None).await.unwrap();
    assert_eq!(ideas.len(), 26);

    // With personal data, traces are named by idea id: each one is exactly
    // that idea's events from the store, in order.
    let xes = ok(db, &["export", "events", "--format", "xes", "--with-personal-data", "--as", LEADER]).await;
    let doc = roxmltree::Document::parse(&xes).unwrap_or_else(|e| panic!("the XES is not XML: {e}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "log");
    assert_eq!(root.tag_name().namespace(), Some("http://www.xes-standard.org/"));
    assert_eq!(root.attribute("xes.version"), Some("1849-2016"));
    let prefixes: BTreeSet<&str> =
        root.children().filter(|n| n.tag_name().name() == "extension").filter_map(|n| n.attribute("prefix")).collect();
    assert_eq!(prefixes, ["concept", "lifecycle", "org", "time"].into());
    let attr = |node: roxmltree::Node, key: &str| {
        node.children().find(|c| c.attribute("key") == Some(key)).and_then(|c| c.attribute("value")).map(str::to_owned)
    };
    let traces: Vec<roxmltree::Node> = root.children().filter(|n| n.tag_name().name() == "trace").collect();
    assert_eq!(traces.len(), 26);
    let mut sequences = BTreeSet::new();
    for trace in &traces {
        let name = attr(*trace, "concept:name").expect("a trace name");
        let id: mops_core::domain::IdeaId = name.parse().unwrap_or_else(|_| panic!("{name} is an idea id"));
        let stored: Vec<String> =
            db.db.idea_events(id).await.unwrap().iter().map(|e| e.recorded.event.key().to_owned()).collect();
        let events: Vec<roxmltree::Node> = trace.children().filter(|n| n.tag_name().name() == "event").collect();
        let names: Vec<String> = events.iter().map(|e| attr(*e, "concept:name").unwrap()).collect();
        assert_eq!(names, stored, "trace {name}");
        let times: Vec<chrono::DateTime<chrono::FixedOffset>> = events
            .iter()
            .map(|e| chrono::DateTime::parse_from_rfc3339(&attr(*e, "time:timestamp").unwrap()).unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "timestamps in order in {name}");
        for e in &events {
            assert_eq!(attr(*e, "lifecycle:transition").as_deref(), Some("complete"));
            assert!(attr(*e, "org:resource").is_some());
        }
        sequences.insert(names);
    }
    let with_personal_data = xes;
    assert!(with_personal_data.contains("Grön omsorg"), "titles are there with personal data");

    // Pseudonymised: the same traces under pseudonyms, and nothing personal.
    let xes = ok(db, &["export", "events", "--format", "xes"]).await;
    let doc = roxmltree::Document::parse(&xes).unwrap();
    let traces: Vec<roxmltree::Node> =
        doc.root_element().children().filter(|n| n.tag_name().name() == "trace").collect();
    assert_eq!(traces.len(), 26);
    let pseudonymised: BTreeSet<Vec<String>> = traces
        .iter()
        .map(|t| {
            assert!(attr(*t, "concept:name").unwrap().starts_with("idea-"));
            t.children().filter(|n| n.tag_name().name() == "event").map(|e| attr(e, "concept:name").unwrap()).collect()
        })
        .collect();
    assert_eq!(pseudonymised, sequences);
    let jsonl = ok(db, &["export", "events"]).await;
    // The library behind it reports each event exported, up to the total
    // (what the command's progress bar shows), in both formats.
    use mops_service::report::events::{self, EventFormat, PersonalData};
    for (format, expected) in [(EventFormat::Jsonl, &jsonl), (EventFormat::Xes, &xes)] {
        let seen = std::sync::Mutex::new(Vec::new());
        let text = events::export(&db.db, None, format, PersonalData::Pseudonymised, &|done, total| {
            seen.lock().unwrap().push((done, total))
        })
        .await
        .unwrap();
        assert_eq!(&text, expected, "{format:?}");
        let seen = seen.into_inner().unwrap();
        let total = jsonl.lines().count();
        assert_eq!(seen, (0..=total).map(|n| (n, total)).collect::<Vec<_>>(), "{format:?}");
    }
    for secret in personal_strings(&round) {
        assert!(!xes.contains(&secret), "{secret:?} is in the pseudonymised XES");
        assert!(!jsonl.contains(&secret), "{secret:?} is in the pseudonymised JSONL");
    }
    assert!(!jsonl.contains("SK 2010/"), "registry numbers lead to the register");

    // JSONL: one line per stored event, calls and ideas.
    let lines: Vec<serde_json::Value> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let idea_events: usize =
        traces.iter().map(|t| t.children().filter(|n| n.tag_name().name() == "event").count()).sum();
    assert_eq!(lines.iter().filter(|l| l["stream_kind"] == "idea").count(), idea_events);
    assert!(lines.iter().any(|l| l["stream_kind"] == "call" && l["type"] == "created"));
    for l in &lines {
        for key in ["stream_kind", "stream_id", "seq", "type", "at", "actor", "body"] {
            assert!(!l[key].is_null(), "{key} in {l}");
        }
    }
    let granted = lines.iter().find(|l| l["type"] == "granted").unwrap();
    assert_eq!(granted["body"]["motivation"], "[redacted]");
    assert!(granted["body"]["registry"].as_str().unwrap().starts_with("registry-"));

    // With personal data (for the process leader) the applicants are there.
    let full = ok(db, &["export", "events", "--with-personal-data", "--as", LEADER]).await;
    for p in round.people.iter().filter(|p| round.roles.get(&p.id).is_none_or(Vec::is_empty)) {
        assert!(full.contains(p.name.as_str()), "{} is missing", p.name);
        assert!(full.contains(p.email.as_str()), "{} is missing", p.email);
    }
    assert_eq!(full.lines().count(), lines.len());

    // Without a process leader, personal data is refused.
    let err = fails(db, &["export", "events", "--with-personal-data"], 2).await;
    assert!(err.contains("--as EMAIL"), "{err}");

    // --call and --output.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("log.xes");
    let call = round.call_id.to_string();
    ok(db, &["export", "events", "--format", "xes", "--call", &call, "--output", file.to_str().unwrap()]).await;
    assert_eq!(
        std::fs::read_to_string(&file)
            .unwrap()
            .replace("MOPS händelselogg: Framtidens vård, omsorg och socialt arbete", "MOPS händelselogg"),
        xes
    );
    let other = uuid::Uuid::new_v4().to_string();
    let err = fails(db, &["export", "events", "--call", &other], 2).await;
    assert!(err.contains(&call), "the calls there are are listed: {err}");
}

async fn the_minutes_of_the_2010_meeting(db: &TestDb) {
    let round = populate(db).await;
    let meeting = round.meeting.id.to_string();
    let md = ok(db, &["minutes", "--meeting", &meeting]).await;
    assert!(md.starts_with("# Protokoll från styrelsemöte 2010-10-05\n"), "{md}");
    for n in 31..=39 {
        assert!(md.contains(&format!("SK 2010/{n}")), "SK 2010/{n} missing from\n{md}");
    }
    for (title, _) in FUNDED {
        assert!(md.contains(title), "{title} missing");
    }
    for needle in ["§ 1 ", "§ 9 ", "1 300 000 kr", "350 000 kr", "Villkor", "Motivering", "Justering", "Ordförande"]
    {
        assert!(md.contains(needle), "{needle:?} missing from\n{md}");
    }
    assert!(!md.contains("§ 10"), "nine decisions");

    let html = ok(db, &["minutes", "--meeting", &meeting, "--format", "html"]).await;
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"sv\">"), "{html}");
    for needle in ["<title>Protokoll från styrelsemöte 2010-10-05</title>", "<h1>", "<table", "@media print", "</html>"]
    {
        assert!(html.contains(needle), "{needle:?} missing");
    }
    for (title, _) in FUNDED {
        assert!(html.contains(title), "{title} missing");
    }
    assert!(html.contains("1\u{a0}300\u{a0}000\u{a0}kr"), "the total, kept on one line");

    let unknown = uuid::Uuid::new_v4().to_string();
    let err = fails(db, &["minutes", "--meeting", &unknown], 2).await;
    assert!(err.contains(&unknown) && err.contains(&meeting), "the meetings there are are listed: {err}");
}

async fn a_call_round_trips_through_a_file(db: &TestDb) {
    let round = populate_with_people(db).await;
    let call = round.call_id.to_string();
    let dir = tempfile::tempdir().unwrap();
    for format in ["toml", "json"] {
        let file = dir.path().join(format!("call.{format}"));
        ok(db, &["call", "export", "--call", &call, "--format", format, "--output", file.to_str().unwrap()]).await;
        // --as is required (clap says so, with the usage).
        let out = mops(db, &["call", "import", file.to_str().unwrap()]).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("--as <EMAIL>"), "{err}");
        let id = ok(db, &["call", "import", file.to_str().unwrap(), "--as", LEADER]).await;
        let id: CallId = id.trim().parse().unwrap_or_else(|_| panic!("the new id is printed: {id:?}"));
        assert_ne!(id, round.call_id);
        let created = db.db.call(id).await.unwrap().expect("the new call exists");
        let created = created.state.call().unwrap();
        assert_eq!(created.definition, round.definition, "{format}");
        assert_eq!(created.phase, mops_core::CallPhase::Draft);
    }
    // Standard output holds the file as written; a chosen id is used.
    let toml = ok(db, &["call", "export", "--call", &call]).await;
    assert!(toml.contains("budget = 130000000") && toml.contains("öre"), "{toml}");
    let file = dir.path().join("stdout.toml");
    std::fs::write(&file, &toml).unwrap();
    let chosen = uuid::Uuid::new_v4().to_string();
    let printed = ok(db, &["call", "import", file.to_str().unwrap(), "--id", &chosen, "--as", LEADER]).await;
    assert_eq!(printed.trim(), chosen);
    let err = fails(db, &["call", "import", file.to_str().unwrap(), "--id", &chosen, "--as", LEADER], 2).await;
    assert!(err.contains("already exists"), "{err}");
    std::fs::write(&file, "title = \"no budget\"\n").unwrap();
    fails(db, &["call", "import", file.to_str().unwrap(), "--as", LEADER], 2).await;
    fails(db, &["call", "export", "--call", &uuid::Uuid::new_v4().to_string()], 2).await;

    // Four calls now: a report must name one, and the error lists them.
    let err = fails(db, &["report", "funnel"], 2).await;
    assert!(err.contains("--call") && err.contains(&call) && err.contains(&chosen), "{err}");
    let listed = ok(db, &["call", "list"]).await;
    assert!(listed.contains(&chosen) && listed.contains("4 calls"), "{listed}");
    let empty = ok(db, &["report", "funnel", "--call", &chosen, "--format", "json"]).await;
    assert!(empty.contains("\"submitted\": 0"), "{empty}");
}

on_both_backends!(
    the_funnel_in_every_format,
    budget_and_decisions_open_in_excel,
    the_event_log_exports_for_process_mining,
    the_minutes_of_the_2010_meeting,
    a_call_round_trips_through_a_file,
);

#[test]
fn every_new_command_has_help() {
    for args in [
        &["report", "--help"][..],
        &["report", "funnel", "--help"],
        &["report", "budget", "--help"],
        &["report", "decisions", "--help"],
        &["minutes", "--help"],
        &["export", "events", "--help"],
        &["call", "export", "--help"],
        &["call", "import", "--help"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_mops")).args(args).output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(out.status.success() && help.contains("Usage: mops"), "{args:?}: {help}");
        if args.len() > 2 {
            assert!(help.contains("Exit status"), "{args:?}: {help}");
        }
    }
    for args in [["export", "events", "--help"], ["call", "import", "--help"]] {
        let help = Command::new(env!("CARGO_BIN_EXE_mops")).args(args).output().unwrap();
        let help = String::from_utf8_lossy(&help.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
        for needle in ["--as <EMAIL>", "process-leader role", "MOPS_PASSWORD", "without echo", "a wrong password"] {
            assert!(help.contains(needle), "{args:?} does not mention {needle:?}: {help}");
        }
        assert!(!help.contains("no users yet") && !help.contains("as-process-leader"), "{help}");
    }
    let help = Command::new(env!("CARGO_BIN_EXE_mops")).args(["export", "events", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("pseudonymised"), "{help}");
}
