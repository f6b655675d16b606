//! The JSON API's writes over real HTTP, on both backends: calls, ideas and
//! pipeline commands, `If-Match` (428/412), `Idempotency-Key`, problem+json
//! for bad input (400/415/422, never 500), refused transitions (409, in
//! Swedish or English), who may do what (404 for what one may not see), the
//! 2010 round driven partly through the API, the board's decisions and
//! meetings, and the outbox. Every main response is checked against the
//! schemas of the OpenAPI document the server serves.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use chrono::{Duration, SecondsFormat, Utc};
use common::{Place, TestDb};
use mops_core::domain::{IdeaId, PersonId};
use mops_core::idea::Recommendation;
use mops_core::reference::{Fate, Round2010, Step, round_2010_in};
use mops_core::timers::TimerConfig;
use mops_core::{IdeaCommand, Role};
use mops_service::people::{ChangedBy, PeopleStore, seed_reference};
use mops_service::replay::replay_round;
use mops_service::serve;
use mops_service::store::{Db, OutboxStatus, OutboxUpdate, Store};
use serde_json::{Value, json};
use tokio::sync::oneshot;

// ---------------------------------------------------------------------------
// A small HTTP/1.1 client

/// A response: status, headers (names lower-cased) and body.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("JSON ({e}): {}", self.body))
    }

    /// Asserts `status` and a JSON body, and returns the body.
    fn ok(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{self:?}");
        self.json()
    }

    /// Asserts an RFC 9457 problem with this status, and returns it.
    fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "{self:?}");
        let p = self.json();
        assert_eq!(p["status"], status, "{p}");
        assert!(p["type"].as_str().is_some_and(|t| t.starts_with("urn:mops:problem:")), "{p}");
        assert!(p["title"].is_string(), "{p}");
        let detail = p["detail"].as_str().expect("a detail");
        assert!(detail.len() > 20, "a detail a person can act on: {detail}");
        p
    }

    fn detail(&self, status: u16) -> String {
        self.problem(status)["detail"].as_str().unwrap().to_owned()
    }

    fn etag(&self) -> String {
        self.header("etag").unwrap_or_else(|| panic!("an ETag: {self:?}")).to_owned()
    }
}

/// One request as raw HTTP/1.1; `body` is sent as is with the headers given.
async fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
    let reply = common::http::send(addr, method, path, headers, body).await;
    let headers: BTreeMap<_, _> = reply.headers.into_iter().collect();
    assert!(!headers.contains_key("transfer-encoding"), "this client reads only fixed-length bodies");
    Reply { status: reply.status, headers, body: reply.body }
}

/// A caller with a token, and the headers it adds.
#[derive(Clone)]
struct Client {
    addr: SocketAddr,
    token: String,
}

impl Client {
    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    async fn get(&self, path: &str) -> Reply {
        send(self.addr, "GET", path, &[("Authorization", &self.auth())], None).await
    }

    /// A JSON write with extra headers (`If-Match`, `Idempotency-Key`, …).
    async fn write(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &Value) -> Reply {
        let auth = self.auth();
        let mut all = vec![("Authorization", auth.as_str()), ("Content-Type", "application/json")];
        all.extend_from_slice(headers);
        send(self.addr, method, path, &all, Some(&body.to_string())).await
    }

    /// A command on an idea, with the idea's current ETag read first.
    async fn command(&self, idea: IdeaId, body: &Value) -> Reply {
        let r = self.get(&format!("/api/v1/ideas/{idea}")).await;
        if r.status != 200 {
            return r;
        }
        self.write("POST", &format!("/api/v1/ideas/{idea}/commands"), &[("If-Match", &r.etag())], body).await
    }
}

/// The API server on an ephemeral port; stops when dropped.
struct Server {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn start(db: Db) -> Server {
    let listener = serve::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, serve::router(db))
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Server { addr, _stop: stop }
}

// ---------------------------------------------------------------------------
// Responses against the OpenAPI document

/// The OpenAPI document as served, to check responses against its schemas.
struct Schemas(Value);

impl Schemas {
    async fn fetch(addr: SocketAddr) -> Self {
        let r = send(addr, "GET", "/api/openapi.json", &[], None).await;
        assert_eq!(r.status, 200, "the document needs no token: {r:?}");
        let schemas = Self(r.json());
        // The checks can fail: a body missing required fields, or with a
        // field of the wrong type, does not fit.
        assert!(!schemas.fits(json!({"$ref": "#/components/schemas/OutcomeBody"}), &json!({"id": "x"})));
        assert!(!schemas.fits(
            json!({"$ref": "#/components/schemas/FunnelBody"}),
            &json!({"call": "c", "submitted": "26", "selected": 10, "plans_submitted": 9, "granted": 4, "granted_total_ore": 0}),
        ));
        schemas
    }

    fn validator(&self, schema: &Value) -> jsonschema::Validator {
        // The document is the root, so `#/components/schemas/…` resolves;
        // its other members (`openapi`, `paths`, …) are not keywords.
        let mut root = self.0.clone();
        for (k, v) in schema.as_object().expect("a schema object") {
            root[k] = v.clone();
        }
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&root)
            .unwrap_or_else(|e| panic!("the schema compiles: {e}"))
    }

    fn fits(&self, schema: Value, value: &Value) -> bool {
        self.validator(&schema).is_valid(value)
    }

    /// Asserts that `value` fits `schema`, a schema whose `$ref`s point into
    /// the document's components.
    fn check_with(&self, schema: Value, value: &Value) {
        let validator = self.validator(&schema);
        let errors: Vec<String> =
            validator.iter_errors(value).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{schema} does not fit:\n{}\n{value:#}", errors.join("\n"));
    }

    fn check(&self, name: &str, value: &Value) {
        self.check_with(json!({ "$ref": format!("#/components/schemas/{name}") }), value);
    }

    fn check_list(&self, name: &str, value: &Value) {
        self.check_with(json!({ "type": "array", "items": { "$ref": format!("#/components/schemas/{name}") } }), value);
    }
}

// ---------------------------------------------------------------------------
// People and tokens

async fn token(db: &Db, user: PersonId) -> String {
    db.create_token(user, "api-write-test", ChangedBy::CommandLine).await.expect("a token").1
}

/// Someone who holds only roles of this kind (not also the process leader's).
fn with_role(round: &Round2010, wanted: impl Fn(&Role) -> bool) -> PersonId {
    *round
        .roles
        .iter()
        .find(|(_, roles)| !roles.is_empty() && roles.iter().all(&wanted))
        .expect("someone with the role")
        .0
}

/// Each backend's round has ids and registry numbers of its own.
fn round_for(test: &TestDb, base: u32) -> Round2010 {
    round_2010_in(match test.place {
        Place::Sqlite(_) => base,
        Place::Postgres { .. } => base + 1,
    })
}

/// Runs these steps of the round through the store, as the replay does.
async fn replay_steps(db: &Db, round: &Round2010, steps: Vec<Step>) {
    let part = Round2010 { steps, ..round.clone() };
    replay_round(db, &part, &TimerConfig::default(), |_, _, _| {}).await.expect("the steps replay");
}

async fn version(db: &Db, idea: IdeaId) -> i64 {
    db.idea(idea).await.unwrap().expect("stored").version
}

// ---------------------------------------------------------------------------
// The 2010 round, partly through the API

on_both_backends!(the_2010_round_through_the_api);

/// The round's selection, attendance, conflicts, preparation and board
/// decisions go through the API; the steps whose deadlines lie in 2010
/// (submissions, plans) go through the store with their own times.
async fn the_2010_round_through_the_api(test: &TestDb) {
    let db = test.db.clone();
    let round = round_for(test, 11);
    let first = round.steps.iter().position(|s| matches!(s, Step::Idea { .. })).expect("an idea step");
    // The people exist before anything happens, as in production.
    replay_steps(&db, &round, round.steps[..first].to_vec()).await;
    seed_reference(&db, &round, "draknastet-2010").await.expect("the people");
    let server = start(db.clone()).await;
    let addr = server.addr;
    let schemas = Schemas::fetch(addr).await;

    let mut tokens: HashMap<PersonId, Client> = HashMap::new();
    let mut client = async |person: PersonId| {
        if let Some(c) = tokens.get(&person) {
            return c.clone();
        }
        let c = Client { addr, token: token(&db, person).await };
        tokens.insert(person, c.clone());
        c
    };
    let sector = client(with_role(&round, |r| matches!(r, Role::SectorGroupMember { .. }))).await;
    let board = client(with_role(&round, |r| *r == Role::BoardMember)).await;
    let leader = client(round.process_leader).await;

    let mut selected = 0;
    let mut tried_eleventh = false;
    let mut conflicts = 0;
    let mut decided = false;
    let mut steps = round.steps[first..].iter().peekable();
    let mut pending: Vec<Step> = Vec::new();
    while let Some(step) = steps.next() {
        let Step::Idea { actor, idea, command, .. } = step else {
            pending.push(step.clone());
            continue;
        };
        let through_api = matches!(
            command,
            IdeaCommand::Select { .. }
                | IdeaCommand::NotSelect { .. }
                | IdeaCommand::RecordAttendance { .. }
                | IdeaCommand::DeclareConflict { .. }
                | IdeaCommand::Prepare { .. }
                | IdeaCommand::Grant { .. }
                | IdeaCommand::Decline { .. }
        );
        if !through_api {
            pending.push(step.clone());
            continue;
        }
        replay_steps(&db, &round, std::mem::take(&mut pending)).await;
        let idea = *idea;
        match command {
            IdeaCommand::Select { motivation } => {
                if selected == 0 {
                    before_the_first_selection(&db, &round, idea, &sector, &board, &mut client).await;
                }
                let r = sector.command(idea, &json!({"command": "select", "motivation": motivation})).await;
                let body = r.ok(200);
                schemas.check("OutcomeBody", &body);
                assert_eq!(body["stage"], "selected", "{body}");
                assert_eq!(r.etag(), format!("\"{}\"", body["version"]));
                assert!(body["notifications"].as_u64() >= Some(1), "the applicants are told: {body}");
                selected += 1;
            }
            IdeaCommand::NotSelect { motivation } => {
                if selected == 10 && !tried_eleventh {
                    // The selection is full: an eleventh is refused, in
                    // English by default and in Swedish when asked.
                    let path = format!("/api/v1/ideas/{idea}/commands");
                    let etag = sector.get(&format!("/api/v1/ideas/{idea}")).await.etag();
                    let select = json!({"command": "select"});
                    let r = sector.write("POST", &path, &[("If-Match", &etag)], &select).await;
                    let p = r.problem(409);
                    schemas.check("Problem", &p);
                    assert_eq!(p["type"], "urn:mops:problem:refused");
                    assert_eq!(p["code"], "selection_full");
                    let en = p["detail"].as_str().unwrap().to_owned();
                    assert!(en.contains("10"), "{en}");
                    let r = sector
                        .write(
                            "POST",
                            &path,
                            &[("If-Match", &etag), ("Accept-Language", "sv-SE,sv;q=0.9,en;q=0.5")],
                            &select,
                        )
                        .await;
                    let sv = r.detail(409);
                    assert_ne!(sv, en, "the detail follows Accept-Language");
                    assert_eq!(
                        version(&db, idea).await,
                        etag.trim_matches('"').parse::<i64>().unwrap(),
                        "nothing written"
                    );
                    tried_eleventh = true;
                }
                sector.command(idea, &json!({"command": "not_select", "motivation": motivation})).await.ok(200);
            }
            IdeaCommand::RecordAttendance { seminar, attended } => {
                let body = json!({"command": "record_attendance", "seminar": seminar.0, "attended": attended});
                sector.command(idea, &body).await.ok(200);
            }
            IdeaCommand::DeclareConflict { panel_member, reason } => {
                assert_eq!(panel_member, actor);
                let panelist = client(*actor).await;
                // Another panel member who is only that (staff see everything).
                let other = round
                    .roles
                    .iter()
                    .find(|(p, roles)| {
                        *p != actor && !roles.is_empty() && roles.iter().all(|r| matches!(r, Role::PanelMember { .. }))
                    })
                    .expect("another panel member");
                let other = client(*other.0).await;
                assert_eq!(panelist.get(&format!("/api/v1/ideas/{idea}")).await.status, 200);
                panelist.command(idea, &json!({"command": "declare_conflict", "reason": reason})).await.ok(200);
                // From now on the idea is as absent for them as an unknown one…
                panelist.get(&format!("/api/v1/ideas/{idea}")).await.problem(404);
                panelist.get(&format!("/api/v1/ideas/{idea}/events")).await.problem(404);
                let etag = other.get(&format!("/api/v1/ideas/{idea}")).await.etag();
                let feedback = json!({"command": "give_feedback", "text": "Bra idé.", "scores": {}});
                let r = panelist
                    .write("POST", &format!("/api/v1/ideas/{idea}/commands"), &[("If-Match", &etag)], &feedback)
                    .await;
                r.problem(404);
                // …while the other panel members still see it.
                let events = other.get(&format!("/api/v1/ideas/{idea}/events")).await.ok(200);
                schemas.check_list("EventBody", &events);
                assert!(events.as_array().unwrap().iter().all(|e| e["type"] != "conflict_declared"), "{events}");
                conflicts += 1;
            }
            IdeaCommand::Prepare { recommendation } => {
                let recommendation = match recommendation {
                    Recommendation::Fund { amount, motivation } => {
                        json!({"kind": "fund", "amount_ore": amount.ore(), "motivation": motivation})
                    }
                    Recommendation::NoFunding { motivation } => {
                        json!({"kind": "no_funding", "motivation": motivation})
                    }
                };
                sector.command(idea, &json!({"command": "prepare", "recommendation": recommendation})).await.ok(200);
            }
            IdeaCommand::Grant { .. } | IdeaCommand::Decline { .. } => {
                assert!(!decided, "the decisions are one block");
                let mut block = vec![step.clone()];
                while let Some(Step::Idea {
                    command: IdeaCommand::Grant { .. } | IdeaCommand::Decline { .. }, ..
                }) = steps.peek()
                {
                    block.push(steps.next().unwrap().clone());
                }
                board_meeting(&db, &round, &block, &board, &sector, &schemas).await;
                decided = true;
            }
            _ => unreachable!(),
        }
    }
    replay_steps(&db, &round, pending).await;
    assert_eq!(selected, 10);
    assert!(tried_eleventh && decided && conflicts == 1);

    // The funnel through the API: 26 → 10 → 9 → 4, 1 300 000 kr.
    let f = leader.get(&format!("/api/v1/calls/{}/funnel", round.call_id)).await.ok(200);
    schemas.check("FunnelBody", &f);
    assert_eq!(
        (&f["submitted"], &f["selected"], &f["plans_submitted"], &f["granted"], &f["granted_total_ore"]),
        (&26.into(), &10.into(), &9.into(), &4.into(), &130_000_000.into()),
        "{f}"
    );
    // What the API did is consistent with the log.
    let report = db.verify().await.unwrap();
    assert!(report.discrepancies.is_empty(), "{report:?}");
}

/// Who may select, and the If-Match rules, on the first idea to be selected.
async fn before_the_first_selection(
    db: &Db,
    round: &Round2010,
    idea: IdeaId,
    sector: &Client,
    board: &Client,
    client: &mut impl AsyncFnMut(PersonId) -> Client,
) {
    let path = format!("/api/v1/ideas/{idea}/commands");
    let select = json!({"command": "select"});
    let lead = db.idea(idea).await.unwrap().unwrap().state.idea().unwrap().lead.person;
    let applicant = client(lead).await;
    let current = version(db, idea).await;
    let etag = format!("\"{current}\"");
    // The applicant sees their idea but may not select it: 403, with why.
    let p = applicant.write("POST", &path, &[("If-Match", &etag)], &select).await.problem(403);
    assert_eq!(p["code"], "not_allowed", "{p}");
    // The board does not see a submitted idea at all: 404.
    board.write("POST", &path, &[("If-Match", &etag)], &select).await.problem(404);
    // Another applicant does not either (no IDOR): 404, for reads and writes.
    let state = db.idea(idea).await.unwrap().unwrap().state;
    let mut stranger = None;
    for other in &round.ideas {
        let other_lead = db.idea(other.id).await.unwrap().unwrap().state.idea().unwrap().lead.person;
        if !state.idea().unwrap().is_applicant(other_lead) {
            stranger = Some(other_lead);
            break;
        }
    }
    let stranger = client(stranger.expect("an applicant of another idea")).await;
    stranger.get(&format!("/api/v1/ideas/{idea}")).await.problem(404);
    stranger.write("POST", &path, &[("If-Match", &etag)], &select).await.problem(404);
    // The sector group may, but not without If-Match…
    let p = sector.write("POST", &path, &[], &select).await.problem(428);
    assert_eq!(p["type"], "urn:mops:problem:if-match-required");
    // …nor with a stale one: 412 says to reload, and shows the version.
    let stale = format!("\"{}\"", current - 1);
    let r = sector.write("POST", &path, &[("If-Match", &stale)], &select).await;
    let p = r.problem(412);
    assert_eq!(p["current_version"], current, "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("reload") && detail.contains(&format!("\"{current}\"")), "{detail}");
    assert_eq!(version(db, idea).await, current, "nothing was written");
}

/// The board meeting through the API: the grants up to the budget, a fifth
/// grant that would exceed it (409), an idempotent retry, then the refusals.
async fn board_meeting(db: &Db, round: &Round2010, block: &[Step], board: &Client, sector: &Client, schemas: &Schemas) {
    let mut grants = Vec::new();
    let mut declines = Vec::new();
    for step in block {
        if let Step::Idea { idea, command, .. } = step {
            match command {
                IdeaCommand::Grant { amount, conditions, motivation, registry, meeting } => grants.push((
                    *idea,
                    json!({"command": "grant", "amount_ore": amount.ore(), "conditions": conditions,
                           "motivation": motivation, "registry": registry, "meeting": meeting}),
                )),
                IdeaCommand::Decline { motivation, registry, meeting } => declines.push((
                    *idea,
                    json!({"command": "decline", "motivation": motivation, "registry": registry, "meeting": meeting}),
                )),
                _ => unreachable!(),
            }
        }
    }
    assert_eq!((grants.len(), declines.len()), (4, 5));

    // The sector group prepares, the board decides: a sector member's grant is refused.
    let (first, body) = &grants[0];
    let p = sector.command(*first, body).await.problem(403);
    assert_eq!(p["code"], "not_allowed");

    // The first grant with an Idempotency-Key; its retry returns the first
    // outcome and writes nothing; the same key with another body is refused.
    let path = format!("/api/v1/ideas/{first}/commands");
    let etag = board.get(&format!("/api/v1/ideas/{first}")).await.etag();
    let headers = [("If-Match", etag.as_str()), ("Idempotency-Key", "grant-2010-first")];
    let r = board.write("POST", &path, &headers, body).await;
    let outcome = r.ok(200);
    assert_eq!(outcome["stage"], "granted");
    assert_eq!(outcome["replayed"], false);
    assert_eq!(r.header("idempotency-replayed"), None);
    let events = db.idea_events(*first).await.unwrap().len();
    let retry = board.write("POST", &path, &headers, body).await;
    let again = retry.ok(200);
    schemas.check("OutcomeBody", &again);
    assert_eq!(again["replayed"], true, "{again}");
    assert_eq!(retry.header("idempotency-replayed"), Some("true"));
    assert_eq!((&again["version"], &again["events"]), (&outcome["version"], &outcome["events"]));
    assert_eq!(retry.etag(), r.etag());
    assert_eq!(db.idea_events(*first).await.unwrap().len(), events, "the retry wrote nothing");
    let mut other = body.clone();
    other["amount_ore"] = json!(100);
    let p = board.write("POST", &path, &headers, &other).await.problem(422);
    assert_eq!(p["type"], "urn:mops:problem:idempotency-key-reused");

    for (idea, body) in &grants[1..] {
        board.command(*idea, body).await.ok(200);
    }
    let call = db.call(round.call_id).await.unwrap().unwrap();
    let budget = call.state.call().unwrap().definition.budget.ore();
    assert_eq!(budget, 130_000_000);

    // A fifth grant, on an idea the board declined in 2010: 1 300 000 kr
    // are granted, so even 100 kr more exceeds the budget.
    let (fifth, decline) = &declines[0];
    assert!(round.ideas.iter().any(|i| i.id == *fifth && i.fate == Fate::Declined));
    let mut grant = grants[1].1.clone();
    grant["amount_ore"] = json!(10_000);
    grant["registry"] = decline["registry"].clone();
    let before = version(db, *fifth).await;
    let r = board.command(*fifth, &grant).await;
    let p = r.problem(409);
    assert_eq!(p["code"], "budget_exceeded", "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("budget") || detail.contains("remain"), "{detail}");
    assert_eq!(version(db, *fifth).await, before, "nothing written");

    for (idea, body) in &declines {
        board.command(*idea, body).await.ok(200);
    }

    // The decisions and the meeting, through the API.
    let decisions = board.get(&format!("/api/v1/calls/{}/decisions", round.call_id)).await.ok(200);
    schemas.check_list("DecisionBody", &decisions);
    let decisions = decisions.as_array().unwrap();
    assert_eq!(decisions.len(), 9);
    let granted: i64 = decisions.iter().filter_map(|d| d["amount_ore"].as_i64()).sum();
    assert_eq!(granted, 130_000_000);
    assert_eq!(decisions.iter().filter(|d| d["decision"] == "granted").count(), 4);
    let meetings = board.get(&format!("/api/v1/calls/{}/meetings", round.call_id)).await.ok(200);
    schemas.check_list("MeetingBody", &meetings);
    let meetings = meetings.as_array().unwrap();
    assert_eq!(meetings.len(), 1, "{meetings:?}");
    let m = &meetings[0];
    assert_eq!(m["meeting_id"], round.meeting.id.to_string());
    assert_eq!((&m["granted"], &m["declined"], &m["granted_total_ore"]), (&4.into(), &5.into(), &130_000_000.into()));
    assert_eq!(m["decisions"].as_array().unwrap().len(), 9);
}

// ---------------------------------------------------------------------------
// A new call, from its draft on

on_both_backends!(a_new_call_through_the_api);

/// A call's definition in the API's format, with its dates around now so
/// that ideas can be submitted.
fn definition(round: &Round2010, title: &str) -> Value {
    let now = Utc::now();
    let t = |d: Duration| (now + d).to_rfc3339_opts(SecondsFormat::Secs, true);
    json!({
        "title": title,
        "description": {"sv": "Idéer för äldreomsorgen.", "en": "Ideas for elderly care."},
        "sector_group": round.sector_group.id.to_string(),
        "themes": round.definition.themes.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "timeline": {
            "opens_at": t(Duration::hours(-1)),
            "closes_at": t(Duration::days(7)),
            "seminars": [{"id": 1, "title": {"sv": "Seminarium 1"}, "starts_at": t(Duration::days(8)),
                          "ends_at": t(Duration::days(8) + Duration::hours(3)), "location": "Västerås"}],
            "panel_at": t(Duration::days(20)),
            "plan_deadline": t(Duration::days(30)),
            "decision_meeting_at": t(Duration::days(40)),
        },
        "capacity": 2,
        "budget_ore": 50_000_000,
        "ceiling_ore": 20_000_000,
        "criteria": [{"key": "relevans", "name": {"sv": "Relevans", "en": "Relevance"}}],
        "template": [{"key": "syfte", "title": {"sv": "Syfte"}, "mandatory": true}],
    })
}

async fn a_new_call_through_the_api(test: &TestDb) {
    let db = test.db.clone();
    let round = round_for(test, 21);
    // The round's call exists (its panel's roles name it); the new call is another.
    let first = round.steps.iter().position(|s| matches!(s, Step::Idea { .. })).expect("an idea step");
    replay_steps(&db, &round, round.steps[..first].to_vec()).await;
    seed_reference(&db, &round, "draknastet-2010").await.expect("the people");
    let server = start(db.clone()).await;
    let addr = server.addr;
    let schemas = Schemas::fetch(addr).await;
    let as_person = async |p: PersonId| Client { addr, token: token(&db, p).await };
    let leader = as_person(round.process_leader).await;
    let sector = as_person(with_role(&round, |r| matches!(r, Role::SectorGroupMember { .. }))).await;
    let board = as_person(with_role(&round, |r| *r == Role::BoardMember)).await;
    // Two applicants of the round, from different organisations.
    let mut leads: Vec<PersonId> = Vec::new();
    for step in &round.steps {
        if let Step::Idea { command: IdeaCommand::SubmitNew(new) | IdeaCommand::Draft(new), .. } = step
            && !leads.contains(&new.lead.person)
        {
            leads.push(new.lead.person);
        }
    }
    let a = as_person(leads[0]).await;
    let b = as_person(leads[1]).await;

    // No token: 401 for writes too.
    let def = definition(&round, "Idéer för äldreomsorgen 2026");
    let r = send(addr, "POST", "/api/v1/calls", &[("Content-Type", "application/json")], Some(&def.to_string())).await;
    r.problem(401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    // Only the process leader creates calls.
    let p = a.write("POST", "/api/v1/calls", &[], &def).await.problem(403);
    schemas.check("Problem", &p);

    // Created as a draft, idempotently.
    let create = [("Idempotency-Key", "call-2026")];
    let r = leader.write("POST", "/api/v1/calls", &create, &def).await;
    let created = r.ok(201);
    schemas.check("OutcomeBody", &created);
    assert_eq!(created["stage"], "draft");
    let call = created["id"].as_str().unwrap().to_owned();
    let call_path = format!("/api/v1/calls/{call}");
    assert_eq!(r.header("location"), Some(call_path.as_str()));
    assert_eq!(r.etag(), "\"1\"");
    let again = leader.write("POST", "/api/v1/calls", &create, &def).await;
    let replayed = again.ok(201);
    assert_eq!((replayed["id"].as_str(), &replayed["replayed"]), (Some(call.as_str()), &json!(true)));
    assert_eq!(again.header("idempotency-replayed"), Some("true"));
    let other = definition(&round, "En annan titel");
    leader.write("POST", "/api/v1/calls", &create, &other).await.problem(422);
    let calls = leader.get("/api/v1/calls").await.ok(200);
    schemas.check_list("CallBody", &calls);
    let ours = calls.as_array().unwrap().iter().filter(|c| c["title"] == def["title"]).count();
    assert_eq!(ours, 1, "one call, whatever the retries: {calls}");

    // Read: the leader sees the draft with its definition; an applicant does not.
    let r = leader.get(&call_path).await;
    let shown = r.ok(200);
    schemas.check("CallDetailBody", &shown);
    assert_eq!(r.etag(), "\"1\"");
    assert_eq!((&shown["phase"], &shown["budget_ore"]), (&json!("draft"), &json!(50_000_000)));
    assert_eq!(shown["definition"]["criteria"][0]["key"], "relevans");
    a.get(&call_path).await.problem(404);

    // Edit while a draft: If-Match is required, and must be current.
    let mut edited = def.clone();
    edited["capacity"] = json!(3);
    let p = leader.write("PUT", &call_path, &[], &edited).await.problem(428);
    assert!(p["detail"].as_str().unwrap().contains("If-Match"), "{p}");
    let p = leader.write("PUT", &call_path, &[("If-Match", "\"0\"")], &edited).await.problem(412);
    assert_eq!(p["current_version"], 1);
    leader.write("PUT", &call_path, &[("If-Match", "7")], &edited).await.problem(400);
    let r = leader.write("PUT", &call_path, &[("If-Match", "\"1\"")], &edited).await;
    assert_eq!(r.ok(200)["version"], 2);
    assert_eq!(r.etag(), "\"2\"");
    assert_eq!(leader.get(&call_path).await.ok(200)["capacity"], 3);

    // Bad bodies: 400, 415 and 422 problems that say what to fix, never 500.
    let m = [("If-Match", "\"2\"")];
    let auth = leader.auth();
    let r = send(
        addr,
        "PUT",
        &call_path,
        &[("Authorization", &auth), ("If-Match", "\"2\""), ("Content-Type", "application/json")],
        Some("{\"title\": "),
    )
    .await;
    assert!(r.detail(400).contains("JSON"));
    let r = send(
        addr,
        "PUT",
        &call_path,
        &[("Authorization", &auth), ("If-Match", "\"2\""), ("Content-Type", "text/plain")],
        Some(&edited.to_string()),
    )
    .await;
    assert!(r.detail(415).contains("application/json"));
    let r =
        send(addr, "PUT", &call_path, &[("Authorization", &auth), ("If-Match", "\"2\"")], Some(&edited.to_string()))
            .await;
    r.problem(415);
    let mut unknown = edited.clone();
    unknown["budget"] = json!(5);
    let d = leader.write("PUT", &call_path, &m, &unknown).await.detail(422);
    assert!(d.contains("unknown field `budget`"), "{d}");
    let mut negative = edited.clone();
    negative["budget_ore"] = json!(-100);
    let d = leader.write("PUT", &call_path, &m, &negative).await.detail(422);
    assert!(d.contains("budget_ore") && d.contains("negative"), "{d}");
    let mut empty = edited.clone();
    empty["title"] = json!("   ");
    let d = leader.write("PUT", &call_path, &m, &empty).await.detail(422);
    assert!(d.contains("title"), "{d}");
    let mut backwards = edited.clone();
    backwards["timeline"]["closes_at"] = backwards["timeline"]["opens_at"].clone();
    let p = leader.write("PUT", &call_path, &m, &backwards).await.problem(422);
    assert_eq!(
        (&p["code"], &p["type"]),
        (&json!("invalid_definition"), &json!("urn:mops:problem:invalid-value")),
        "{p}"
    );
    assert_eq!(leader.get(&call_path).await.etag(), "\"2\"", "nothing was written");

    // Open it: the phase must be named, and be the next one.
    let phase = format!("{call_path}/phase");
    let d = leader.write("POST", &phase, &m, &json!({"to": "opened"})).await.detail(422);
    assert!(d.contains("open"), "{d}");
    let p = leader.write("POST", &phase, &m, &json!({"to": "selection"})).await.problem(409);
    assert_eq!(p["code"], "phase_order");
    let sv = leader
        .write("POST", &phase, &[("If-Match", "\"2\""), ("Accept-Language", "sv")], &json!({"to": "selection"}))
        .await
        .detail(409);
    assert_ne!(sv, p["detail"].as_str().unwrap(), "Swedish when asked");
    let p = board.write("POST", &phase, &m, &json!({"to": "open"})).await.problem(403);
    assert_eq!(p["code"], "not_allowed");
    let opened = leader.write("POST", &phase, &m, &json!({"to": "open"})).await.ok(200);
    assert_eq!(opened["stage"], "open");
    // Editing is over once it is open: 409, and the call is visible to all.
    let p = leader.write("PUT", &call_path, &[("If-Match", "\"3\"")], &edited).await.problem(409);
    assert!(p["code"].is_string(), "{p}");
    assert_eq!(a.get(&call_path).await.ok(200)["phase"], "open");

    // Applicants submit ideas; each is its lead.
    let ideas_path = format!("{call_path}/ideas");
    let theme = round.definition.themes[0].to_string();
    let idea = |title: &str| json!({"title": title, "summary": "Vi vill pröva något nytt.", "theme": theme});
    let submit = [("Idempotency-Key", "idea-a")];
    let r = a.write("POST", &ideas_path, &submit, &idea("A:s idé")).await;
    let submitted = r.ok(201);
    schemas.check("OutcomeBody", &submitted);
    assert_eq!(submitted["stage"], "submitted");
    let a_idea = submitted["id"].as_str().unwrap().to_owned();
    assert_eq!(r.header("location"), Some(format!("/api/v1/ideas/{a_idea}").as_str()));
    let retry = a.write("POST", &ideas_path, &submit, &idea("A:s idé")).await.ok(201);
    assert_eq!((retry["id"].as_str(), &retry["replayed"]), (Some(a_idea.as_str()), &json!(true)));
    let p = a.write("POST", &ideas_path, &submit, &idea("En annan idé")).await.problem(422);
    assert_eq!(p["type"], "urn:mops:problem:idempotency-key-reused");
    let b_idea = b.write("POST", &ideas_path, &[], &idea("B:s idé")).await.ok(201)["id"].as_str().unwrap().to_owned();
    let d = a
        .write("POST", &ideas_path, &[], &json!({"title": "X", "summary": "Y", "theme": "inget-tema"}))
        .await
        .detail(409);
    assert!(d.contains("inget-tema"), "{d}");
    let d = a.write("POST", &ideas_path, &[], &json!({"title": "", "summary": "Y", "theme": theme})).await.detail(422);
    assert!(d.contains("title"), "{d}");
    let d = a
        .write("POST", &ideas_path, &[], &json!({"title": "X", "summary": "Y", "theme": theme, "lead": "me"}))
        .await
        .detail(422);
    assert!(d.contains("unknown field `lead`"), "{d}");

    // Lists: each sees what they may; the sector group sees both.
    let list = |c: Client, q: &'static str| {
        let path = format!("{ideas_path}{q}");
        async move { c.get(&path).await }
    };
    let mine = list(a.clone(), "").await.ok(200);
    schemas.check_list("IdeaBody", &mine);
    let ids =
        |v: &Value| v.as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(ids(&mine), [a_idea.as_str()]);
    assert_eq!(ids(&list(b.clone(), "").await.ok(200)), [b_idea.as_str()]);
    assert_eq!(list(sector.clone(), "?stage=submitted").await.ok(200).as_array().unwrap().len(), 2);
    assert_eq!(list(sector.clone(), "?stage=selected").await.ok(200).as_array().unwrap().len(), 0);
    assert_eq!(
        list(board.clone(), "").await.ok(200).as_array().unwrap().len(),
        0,
        "the board sees prepared ideas only"
    );
    assert!(list(sector.clone(), "?stage=chosen").await.detail(400).contains("submitted"));
    list(sector.clone(), "?colour=red").await.problem(400);

    // B may neither read nor command A's idea (no IDOR): the same 404 as an
    // unknown id.
    let a_path = format!("/api/v1/ideas/{a_idea}");
    let a_version = a.get(&a_path).await.etag();
    let withdraw = json!({"command": "withdraw", "reason": "Vi drar tillbaka idén."});
    let cmd_path = format!("{a_path}/commands");
    b.get(&a_path).await.problem(404);
    b.get(&format!("{a_path}/events")).await.problem(404);
    let refused = b.write("POST", &cmd_path, &[("If-Match", &a_version)], &withdraw).await.detail(404);
    let unknown = IdeaId::from_uuid(uuid::Uuid::new_v4());
    let missing = b
        .write("POST", &format!("/api/v1/ideas/{unknown}/commands"), &[("If-Match", &a_version)], &withdraw)
        .await
        .detail(404);
    assert_eq!(refused.replace(&a_idea, "ID"), missing.replace(&unknown.to_string(), "ID"));
    assert_eq!(a.get(&a_path).await.etag(), a_version, "nothing was written");

    // Bad command bodies.
    let h = [("If-Match", a_version.as_str())];
    let d = sector.write("POST", &cmd_path, &h, &json!({"command": "approve"})).await.detail(422);
    assert!(d.contains("unknown variant `approve`") && d.contains("select"), "{d}");
    let d =
        sector.write("POST", &cmd_path, &h, &json!({"command": "not_select", "motivation": "  "})).await.detail(422);
    assert!(d.contains("motivation") && d.contains("empty"), "{d}");
    let d = a.write("POST", &cmd_path, &h, &json!({"command": "submit_plan", "requested_ore": -5})).await.detail(422);
    assert!(d.contains("requested_ore") && d.contains("negative"), "{d}");
    let d = sector
        .write("POST", &cmd_path, &h, &json!({"command": "select", "motivation": "Bra.", "score": 5}))
        .await
        .detail(422);
    assert!(d.contains("unknown field `score`"), "{d}");
    let d = sector
        .write("POST", &cmd_path, &h, &json!({"command": "record_attendance", "seminar": "first", "attended": true}))
        .await
        .detail(422);
    assert!(d.contains("\"first\""), "{d}");
    let r = send(
        addr,
        "POST",
        &cmd_path,
        &[("Authorization", &sector.auth()), ("If-Match", &a_version), ("Content-Type", "application/json")],
        Some("select"),
    )
    .await;
    r.problem(400);
    let r = send(
        addr,
        "POST",
        &cmd_path,
        &[("Authorization", &sector.auth()), ("If-Match", &a_version)],
        Some("{\"command\":\"select\"}"),
    )
    .await;
    r.problem(415);
    send(
        addr,
        "POST",
        &cmd_path,
        &[("If-Match", &a_version), ("Content-Type", "application/json")],
        Some("{\"command\":\"select\"}"),
    )
    .await
    .problem(401);

    // A refused transition: selecting while the call is open (409), with the
    // rule's code and a message in the caller's language.
    let p = sector.write("POST", &cmd_path, &h, &json!({"command": "select"})).await.problem(409);
    assert_eq!(p["code"], "wrong_phase", "{p}");
    let en = p["detail"].as_str().unwrap().to_owned();
    let sv = sector
        .write("POST", &cmd_path, &[("If-Match", &a_version), ("Accept-Language", "sv")], &json!({"command": "select"}))
        .await
        .detail(409);
    assert_ne!(en, sv);
    assert_eq!(a.get(&a_path).await.etag(), a_version, "nothing was written");

    // The lead withdraws their own idea.
    let r = a.write("POST", &cmd_path, &h, &withdraw).await;
    assert_eq!(r.ok(200)["stage"], "withdrawn");
    let events = a.get(&format!("{a_path}/events")).await.ok(200);
    schemas.check_list("EventBody", &events);
    assert_eq!(events.as_array().unwrap().last().unwrap()["type"], "withdrawn");
    let idea = a.get(&a_path).await.ok(200);
    schemas.check("IdeaBody", &idea);
    assert_eq!(idea["stage"], "withdrawn");
    // Nothing further is accepted on a final stage.
    let p = a.command(a_idea.parse().unwrap(), &withdraw).await.problem(409);
    assert_eq!(p["code"], "final");
}

// ---------------------------------------------------------------------------
// The outbox and the decisions after the whole round

on_both_backends!(the_outbox_and_decisions_after_the_round);

async fn the_outbox_and_decisions_after_the_round(test: &TestDb) {
    let db = test.db.clone();
    let round = round_for(test, 31);
    replay_round(&db, &round, &TimerConfig::default(), |_, _, _| {}).await.expect("the round replays");
    seed_reference(&db, &round, "draknastet-2010").await.expect("the people");
    let server = start(db.clone()).await;
    let addr = server.addr;
    let schemas = Schemas::fetch(addr).await;
    let as_person = async |p: PersonId| Client { addr, token: token(&db, p).await };
    let leader = as_person(round.process_leader).await;
    let board = as_person(with_role(&round, |r| *r == Role::BoardMember)).await;
    let granted = round.ideas.iter().find(|i| matches!(i.fate, Fate::Granted(_))).unwrap().id;
    let lead = as_person(db.idea(granted).await.unwrap().unwrap().state.idea().unwrap().lead.person).await;

    // Nothing was sent: every mail is pending.
    let r = leader.get("/api/v1/outbox?status=pending&limit=500").await;
    let rows = r.ok(200);
    schemas.check_list("OutboxRowBody", &rows);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 146, "the round's status mails");
    assert!(rows.iter().all(|r| r["status"] == "pending"));
    assert_eq!(leader.get("/api/v1/outbox?status=sent").await.ok(200).as_array().unwrap().len(), 0);
    assert_eq!(leader.get("/api/v1/outbox").await.ok(200).as_array().unwrap().len(), 100, "100 by default");
    assert!(leader.get("/api/v1/outbox?status=lost").await.detail(400).contains("pending"));
    leader.get("/api/v1/outbox?limit=many").await.problem(400);

    // One mail, and how it reads.
    let id = rows[0]["id"].as_str().unwrap().to_owned();
    let row = leader.get(&format!("/api/v1/outbox/{id}")).await.ok(200);
    schemas.check("OutboxRowBody", &row);
    assert_eq!(row["id"], id.as_str());
    let preview = leader.get(&format!("/api/v1/outbox/{id}/preview")).await.ok(200);
    schemas.check("PreviewBody", &preview);
    assert!(!preview["subject"].as_str().unwrap().is_empty());
    assert!(preview["html"].as_str().unwrap().contains('<'));
    assert!(!preview["text"].as_str().unwrap().is_empty());
    leader.get(&format!("/api/v1/outbox/{}", uuid::Uuid::new_v4())).await.problem(404);
    leader.get("/api/v1/outbox/not-an-id/preview").await.problem(404);

    // Only the process leader: 403 for everyone else, before any row is read.
    for c in [&board, &lead] {
        c.get("/api/v1/outbox").await.problem(403);
        c.get(&format!("/api/v1/outbox/{id}")).await.problem(403);
        c.get(&format!("/api/v1/outbox/{id}/preview")).await.problem(403);
        send(addr, "POST", &format!("/api/v1/outbox/{id}/retry"), &[("Authorization", &c.auth())], None)
            .await
            .problem(403);
    }
    send(addr, "GET", "/api/v1/outbox", &[], None).await.problem(401);

    // A failed mail is retried; a sent one is not.
    let claimed = db.claim_outbox(Utc::now(), std::time::Duration::from_secs(300), 2).await.unwrap();
    assert_eq!(claimed.len(), 2);
    db.record_outbox(
        &[
            OutboxUpdate::Failed { id: claimed[0].id, error: "550 no such mailbox".into() },
            OutboxUpdate::Sent { id: claimed[1].id, reply: "250 OK".into() },
        ],
        Utc::now(),
    )
    .await
    .unwrap();
    let failed = leader.get("/api/v1/outbox?status=failed").await.ok(200);
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert_eq!(failed[0]["last_error"], "550 no such mailbox");
    let retry = |id: uuid::Uuid| {
        let auth = leader.auth();
        async move { send(addr, "POST", &format!("/api/v1/outbox/{id}/retry"), &[("Authorization", &auth)], None).await }
    };
    let retried = retry(claimed[0].id).await.ok(200);
    schemas.check("OutboxRowBody", &retried);
    assert_eq!(retried["status"], "pending");
    assert_eq!(db.outbox_row(claimed[0].id).await.unwrap().unwrap().status, OutboxStatus::Pending);
    let p = retry(claimed[1].id).await.problem(409);
    assert!(p["detail"].as_str().unwrap().contains("sent"), "{p}");
    assert_eq!(db.outbox_row(claimed[1].id).await.unwrap().unwrap().status, OutboxStatus::Sent);

    // The decisions: the board sees all nine, the applicant only their own.
    let all = board.get(&format!("/api/v1/calls/{}/decisions", round.call_id)).await.ok(200);
    schemas.check_list("DecisionBody", &all);
    assert_eq!(all.as_array().unwrap().len(), 9);
    let own = lead.get(&format!("/api/v1/calls/{}/decisions", round.call_id)).await.ok(200);
    let own = own.as_array().unwrap();
    assert!(!own.is_empty() && own.len() < 9, "{own:?}");
    assert!(own.iter().any(|d| d["idea_id"] == granted.to_string()));
    let meetings = lead.get(&format!("/api/v1/calls/{}/meetings", round.call_id)).await.ok(200);
    schemas.check_list("MeetingBody", &meetings);
    assert_eq!(meetings.as_array().unwrap().len(), 1);
    let m = &meetings[0];
    assert_eq!(m["decisions"].as_array().unwrap().len(), own.len());
    leader.get(&format!("/api/v1/calls/{}/decisions", uuid::Uuid::new_v4())).await.problem(404);
}

// ---------------------------------------------------------------------------
// Co-applicants on an idea submitted through the API

on_both_backends!(co_applicants_through_the_api);

async fn co_applicants_through_the_api(test: &TestDb) {
    let db = test.db.clone();
    let round = round_for(test, 41);
    let first = round.steps.iter().position(|s| matches!(s, Step::Idea { .. })).expect("an idea step");
    replay_steps(&db, &round, round.steps[..first].to_vec()).await;
    seed_reference(&db, &round, "draknastet-2010").await.expect("the people");
    let server = start(db.clone()).await;
    let addr = server.addr;
    let schemas = Schemas::fetch(addr).await;
    let as_person = async |p: PersonId| Client { addr, token: token(&db, p).await };
    let leader = as_person(round.process_leader).await;
    let mut leads: Vec<PersonId> = Vec::new();
    for step in &round.steps {
        if let Step::Idea { command: IdeaCommand::SubmitNew(new) | IdeaCommand::Draft(new), .. } = step
            && !leads.contains(&new.lead.person)
        {
            leads.push(new.lead.person);
        }
    }
    let a = as_person(leads[0]).await;
    let b_user = db.user(leads[1]).await.unwrap().expect("B is a user");
    let b = as_person(leads[1]).await;

    // An open call.
    let def = definition(&round, "Idéer med medsökande");
    let call = leader.write("POST", "/api/v1/calls", &[], &def).await.ok(201)["id"].as_str().unwrap().to_owned();
    let phase = format!("/api/v1/calls/{call}/phase");
    leader.write("POST", &phase, &[("If-Match", "\"1\"")], &json!({"to": "open"})).await.ok(200);
    let ideas_path = format!("/api/v1/calls/{call}/ideas");
    let theme = round.definition.themes[0].to_string();
    let idea = |co: Value| {
        json!({"title": "Vi gör det tillsammans", "summary": "Två kommuner och en förening.", "theme": theme,
               "co_applicants": co})
    };

    // Bad co-applicants: 422 naming the field, and nothing is written.
    let p = a
        .write("POST", &ideas_path, &[], &idea(json!([{"name": "Karin Berg", "email": "karin.berg"}])))
        .await
        .problem(422);
    schemas.check("Problem", &p);
    let d = p["detail"].as_str().unwrap();
    assert!(d.contains("co_applicants[0].email") && d.contains("karin.berg"), "{d}");
    let d = a
        .write("POST", &ideas_path, &[], &idea(json!([{"name": "  ", "email": "karin.berg@example.se"}])))
        .await
        .detail(422);
    assert!(d.contains("co_applicants[0].name"), "{d}");
    let twice = json!([
        {"name": "Karin Berg", "email": "karin.berg@example.se"},
        {"name": "Karin B", "email": "KARIN.BERG@example.se"},
    ]);
    let d = a.write("POST", &ideas_path, &[], &idea(twice)).await.detail(422);
    assert!(d.contains("co_applicants[1].email") && d.contains("once"), "{d}");
    let d = a.write("POST", &ideas_path, &[], &idea(json!([{"name": "Karin Berg"}]))).await.detail(422);
    assert!(d.contains("email"), "{d}");
    let d = a
        .write("POST", &ideas_path, &[], &idea(json!([{"name": "K", "email": "k@example.se", "phone": "1"}])))
        .await
        .detail(422);
    assert!(d.contains("unknown field `phone`"), "{d}");
    // An organisation that does not exist is refused, not stored.
    let mut unknown = idea(json!([]));
    unknown["organisation"] = json!(uuid::Uuid::new_v4());
    let d = a.write("POST", &ideas_path, &[], &unknown).await.detail(422);
    assert!(d.contains("`organisation`") && d.contains("no organisation has the id"), "{d}");
    assert_eq!(leader.get(&ideas_path).await.ok(200).as_array().unwrap().len(), 0, "no idea was submitted");
    let karin = mops_core::domain::Email::parse("karin.berg@example.se").unwrap();
    assert!(db.user_by_email(&karin).await.unwrap().is_none(), "nobody was registered");

    // Good ones: an existing user (by address, whatever case) and a new person.
    let co = json!([
        {"name": "Någon Annan", "email": b_user.email.as_str().to_uppercase()},
        {"name": "Karin Berg", "email": "karin.berg@example.se"},
    ]);
    let submitted = a.write("POST", &ideas_path, &[("Idempotency-Key", "co-1")], &idea(co.clone())).await.ok(201);
    let id = submitted["id"].as_str().unwrap().to_owned();
    assert_eq!(submitted["notifications"], 3, "a receipt to each of the three applicants");
    let again = a.write("POST", &ideas_path, &[("Idempotency-Key", "co-1")], &idea(co)).await.ok(201);
    assert_eq!((again["id"].as_str(), &again["replayed"]), (Some(id.as_str()), &json!(true)));

    // Stored and shown: in the idea, to the lead and to each co-applicant.
    let shown = a.get(&format!("/api/v1/ideas/{id}")).await.ok(200);
    schemas.check("IdeaBody", &shown);
    assert_eq!(shown["co_applicant_names"], json!([b_user.name.to_string(), "Karin Berg"]), "{shown}");
    let stored = db.idea(id.parse().unwrap()).await.unwrap().unwrap();
    let details = &stored.state.idea().unwrap().details;
    let emails: Vec<&str> = details.co_applicants.iter().map(|c| c.email.as_str()).collect();
    assert_eq!(emails, [b_user.email.as_str(), "karin.berg@example.se"]);
    assert_eq!(details.co_applicants[0].person, b_user.id, "the existing user, not a new one");
    let karin = db.user_by_email(&karin).await.unwrap().expect("Karin was registered");
    assert_eq!(details.co_applicants[1].person, karin.id);
    assert_eq!(b.get(&format!("/api/v1/ideas/{id}")).await.ok(200)["id"], id.as_str(), "B sees it as co-applicant");
    let k = as_person(karin.id).await;
    let listed = k.get(&ideas_path).await.ok(200);
    schemas.check_list("IdeaBody", &listed);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["co_applicant_names"][1], "Karin Berg");

    // Naming yourself is refused too.
    let me = json!([{"name": "Jag", "email": db.user(leads[0]).await.unwrap().unwrap().email.as_str()}]);
    let d = a.write("POST", &ideas_path, &[], &idea(me)).await.detail(422);
    assert!(d.contains("co_applicants[0].email"), "{d}");

    // A call that takes no ideas yet registers nobody: a new co-applicant's
    // address stays unknown. Known people are looked up, and the store
    // refuses the submission as it would any other.
    let mut later = definition(&round, "Nästa omgångs idéer");
    later["timeline"]["opens_at"] = json!((Utc::now() + Duration::days(1)).to_rfc3339_opts(SecondsFormat::Secs, true));
    let next = leader.write("POST", "/api/v1/calls", &[], &later).await.ok(201)["id"].as_str().unwrap().to_owned();
    leader
        .write("POST", &format!("/api/v1/calls/{next}/phase"), &[("If-Match", "\"1\"")], &json!({"to": "open"}))
        .await
        .ok(200);
    let next_ideas = format!("/api/v1/calls/{next}/ideas");
    let late = json!([{"name": "Nils Sen", "email": "nils.sen@example.se"}]);
    let p = a.write("POST", &next_ideas, &[], &idea(late)).await.problem(409);
    schemas.check("Problem", &p);
    assert_eq!(p["code"], "not_open_yet", "{p}");
    let nils = mops_core::domain::Email::parse("nils.sen@example.se").unwrap();
    assert!(db.user_by_email(&nils).await.unwrap().is_none(), "nobody was registered for a call not yet open");
    let known = json!([{"name": "Någon Annan", "email": b_user.email.as_str()}]);
    assert_eq!(a.write("POST", &next_ideas, &[], &idea(known)).await.problem(409)["code"], "not_open_yet");
    assert_eq!(leader.get(&next_ideas).await.ok(200).as_array().unwrap().len(), 0);
    assert!(db.verify().await.unwrap().is_ok());
}

// ---------------------------------------------------------------------------
// New people are registered in the submission's own transaction

on_both_backends!(a_submission_registers_its_new_people_with_the_idea_or_not_at_all);

/// Counts rows of a table.
async fn rows(db: &Db, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    match db {
        Db::Sqlite(s) => sqlx::query_scalar(&sql).fetch_one(s.pool()).await.unwrap(),
        Db::Postgres(s) => sqlx::query_scalar(&sql).fetch_one(s.pool()).await.unwrap(),
    }
}

/// Users, the people log, ideas, their applicants, events and the outbox.
async fn everything(db: &Db) -> [i64; 6] {
    let mut n = [0; 6];
    for (i, table) in ["users", "people_log", "ideas", "idea_applicants", "events", "outbox"].iter().enumerate() {
        n[i] = rows(db, table).await;
    }
    n
}

/// A fault: the database refuses to store any idea.
async fn refuse_ideas(db: &Db, refuse: bool) {
    let sql: &[&str] = match (db, refuse) {
        (Db::Sqlite(_), true) => {
            &["CREATE TRIGGER refuse_ideas BEFORE INSERT ON ideas BEGIN SELECT RAISE(ABORT, 'injected fault'); END"]
        }
        (Db::Sqlite(_), false) => &["DROP TRIGGER refuse_ideas"],
        (Db::Postgres(_), true) => &[
            "CREATE FUNCTION refuse_ideas() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$",
            "CREATE TRIGGER refuse_ideas BEFORE INSERT ON ideas FOR EACH ROW EXECUTE FUNCTION refuse_ideas()",
        ],
        (Db::Postgres(_), false) => &["DROP TRIGGER refuse_ideas ON ideas", "DROP FUNCTION refuse_ideas()"],
    };
    for sql in sql {
        match db {
            Db::Sqlite(s) => sqlx::query(sql).execute(s.pool()).await.map(drop),
            Db::Postgres(s) => sqlx::query(sql).execute(s.pool()).await.map(drop),
        }
        .expect("the fault is in place, or gone");
    }
}

async fn a_submission_registers_its_new_people_with_the_idea_or_not_at_all(test: &TestDb) {
    let db = test.db.clone();
    let round = round_for(test, 51);
    let first = round.steps.iter().position(|s| matches!(s, Step::Idea { .. })).expect("an idea step");
    replay_steps(&db, &round, round.steps[..first].to_vec()).await;
    seed_reference(&db, &round, "draknastet-2010").await.expect("the people");
    let server = start(db.clone()).await;
    let addr = server.addr;
    let leader = Client { addr, token: token(&db, round.process_leader).await };
    let lead = round
        .steps
        .iter()
        .find_map(|s| match s {
            Step::Idea { command: IdeaCommand::SubmitNew(new) | IdeaCommand::Draft(new), .. } => Some(new.lead.person),
            _ => None,
        })
        .expect("a lead");
    let a = Client { addr, token: token(&db, lead).await };

    let def = definition(&round, "Idéer med nya medsökande");
    let call = leader.write("POST", "/api/v1/calls", &[], &def).await.ok(201)["id"].as_str().unwrap().to_owned();
    let phase = format!("/api/v1/calls/{call}/phase");
    leader.write("POST", &phase, &[("If-Match", "\"1\"")], &json!({"to": "open"})).await.ok(200);
    let ideas_path = format!("/api/v1/calls/{call}/ideas");
    let new_people = json!([
        {"name": "Lisa Ny", "email": "lisa.ny@example.se"},
        {"name": "Olle Ny", "email": "Olle.Ny@example.se"},
    ]);
    let idea = |theme: &str| json!({"title": "Nya krafter", "summary": "Två nya personer.", "theme": theme, "co_applicants": new_people});
    let theme = round.definition.themes[0].to_string();
    let lisa = mops_core::domain::Email::parse("lisa.ny@example.se").unwrap();
    let olle = mops_core::domain::Email::parse("olle.ny@example.se").unwrap();
    let before = everything(&db).await;

    // The core refuses it after the call's checks (a theme the call does
    // not have): nobody is registered, nothing is logged or queued.
    let p = a.write("POST", &ideas_path, &[("Idempotency-Key", "ny-1")], &idea("Rymdfart")).await.problem(409);
    assert_eq!(p["code"], "unknown_theme", "{p}");
    assert_eq!(everything(&db).await, before, "no user, log row, idea, applicant, event or mail");
    assert!(db.user_by_email(&lisa).await.unwrap().is_none());

    // The database refuses to store the idea: the same.
    refuse_ideas(&db, true).await;
    assert_eq!(a.write("POST", &ideas_path, &[("Idempotency-Key", "ny-1")], &idea(&theme)).await.status, 500);
    assert_eq!(everything(&db).await, before, "the users are rolled back with the idea");
    refuse_ideas(&db, false).await;

    // Accepted: each new person registered once, by the lead, with the idea.
    let submitted = a.write("POST", &ideas_path, &[("Idempotency-Key", "ny-1")], &idea(&theme)).await.ok(201);
    let id = submitted["id"].as_str().unwrap().to_owned();
    let after = everything(&db).await;
    assert_eq!(after[0] - before[0], 2, "two new users");
    assert_eq!(after[1] - before[1], 2, "two user_added rows");
    assert_eq!((after[2] - before[2], after[3] - before[3]), (1, 3), "one idea, three applicants");
    assert_eq!(after[5] - before[5], 3, "a receipt to each");
    let log = db.people_log(None).await.unwrap();
    for email in [&lisa, &olle] {
        let user = db.user_by_email(email).await.unwrap().expect("registered");
        let added: Vec<_> = log.iter().filter(|e| e.action == "user_added" && e.user == Some(user.id)).collect();
        assert_eq!(added.len(), 1, "{email}: {added:?}");
        assert_eq!(added[0].actor_id, Some(lead), "registered by the lead");
        assert!(!user.has_password);
    }
    let stored = db.idea(id.parse().unwrap()).await.unwrap().unwrap();
    let co: Vec<&str> = stored.state.idea().unwrap().details.co_applicants.iter().map(|c| c.email.as_str()).collect();
    assert_eq!(co, ["lisa.ny@example.se", "olle.ny@example.se"]);

    // The same request again, with the same key: the first outcome, and
    // nobody is registered twice.
    let again = a.write("POST", &ideas_path, &[("Idempotency-Key", "ny-1")], &idea(&theme)).await.ok(201);
    assert_eq!((again["id"].as_str(), &again["replayed"]), (Some(id.as_str()), &json!(true)));
    assert_eq!(everything(&db).await, after, "a replay writes nothing");
    // The key with another body is refused, and registers nobody.
    let other = json!({"title": "Något annat", "summary": "Med en tredje.", "theme": theme,
                       "co_applicants": [{"name": "Pia Ny", "email": "pia.ny@example.se"}]});
    a.write("POST", &ideas_path, &[("Idempotency-Key", "ny-1")], &other).await.problem(422);
    assert_eq!(everything(&db).await, after);

    // Two submissions at once naming one new person: both go through, and
    // the person is registered once (the loser of the race finds them).
    let both = json!([{"name": "Stina Ny", "email": "stina.ny@example.se"}]);
    let body = |t: &str| json!({"title": t, "summary": "Samtidigt.", "theme": theme, "co_applicants": both});
    let (first, second) = (body("Först"), body("Samtidigt"));
    let (x, y) = tokio::join!(
        a.write("POST", &ideas_path, &[("Idempotency-Key", "x")], &first),
        a.write("POST", &ideas_path, &[("Idempotency-Key", "y")], &second),
    );
    let (x, y) = (x.ok(201), y.ok(201));
    assert_ne!(x["id"], y["id"]);
    let stina = db.user_by_email(&mops_core::domain::Email::parse("stina.ny@example.se").unwrap()).await.unwrap();
    let stina = stina.expect("registered");
    let log = db.people_log(Some(stina.id)).await.unwrap();
    assert_eq!(log.iter().filter(|e| e.action == "user_added").count(), 1, "{log:?}");
    assert_eq!(db.ideas_of_applicant(stina.id).await.unwrap().len(), 2);
    assert!(db.verify().await.unwrap().is_ok());
}
