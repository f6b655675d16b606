//! The JSON API under `/api/v1`: bearer tokens, who may see what (and that
//! what one may not see answers like what does not exist), problem+json
//! errors, and the 2010 round's figures. The server runs in-process on an
//! ephemeral port; requests are plain HTTP/1.1 over a TCP stream.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::Utc;
use common::{Place, TestDb};
use mops_core::CallCommand;
use mops_core::Role;
use mops_core::domain::{CallId, Email, IdeaId, Language, PersonId, PersonName};
use mops_core::reference::round_2010_in;
use mops_core::timers::TimerConfig;
use mops_service::people::{ChangedBy, NewUser, PeopleStore, seed_reference};
use mops_service::replay::replay_round;
use mops_service::serve;
use mops_service::store::{CallRequest, Db, Store};
use serde_json::Value;
use tokio::sync::oneshot;
use uuid::Uuid;

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

    /// Asserts an RFC 9457 problem with this status, and returns its detail.
    fn problem(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "{self:?}");
        let p = self.json();
        assert_eq!(p["status"], status, "{p}");
        assert!(p["type"].is_string() && p["title"].is_string(), "{p}");
        let detail = p["detail"].as_str().expect("a detail").to_owned();
        assert!(detail.len() > 20, "a detail a person can act on: {detail}");
        detail
    }
}

/// A plain HTTP/1.1 GET with optional extra headers.
async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    request(addr, "GET", path, headers).await
}

/// A plain HTTP/1.1 request without a body.
async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let reply = common::http::send(addr, method, path, headers, None).await;
    let headers: BTreeMap<_, _> = reply.headers.into_iter().collect();
    assert!(!headers.contains_key("transfer-encoding"), "this client reads only fixed-length bodies");
    Reply { status: reply.status, headers, body: reply.body }
}

async fn get_as(addr: SocketAddr, token: &str, path: &str) -> Reply {
    get(addr, path, &[("Authorization", &format!("Bearer {token}"))]).await
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

/// Everything logged, as text: the refusals must be there, without
/// personal data.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Log {
    /// The one log of this test binary (both backends' tests write to it).
    fn get() -> Self {
        static LOG: OnceLock<Log> = OnceLock::new();
        LOG.get_or_init(|| {
            let log = Self::default();
            let writer = log.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_ansi(false)
                .with_max_level(tracing::Level::INFO)
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this test binary");
            log
        })
        .clone()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn token(db: &Db, user: PersonId) -> String {
    db.create_token(user, "api-test", ChangedBy::CommandLine).await.expect("a token").1
}

on_both_backends!(the_read_api_over_the_2010_round);

async fn the_read_api_over_the_2010_round(test: &TestDb) {
    let log = Log::get();
    let db = test.db.clone();
    // Each backend's round has ids of its own, so the shared log tells
    // their refusals apart.
    let round = round_2010_in(match test.place {
        Place::Sqlite(_) => 1,
        Place::Postgres { .. } => 2,
    });
    replay_round(&db, &round, &TimerConfig::default(), |_, _, _| {}).await.expect("the round replays");
    seed_reference(&db, &round, "draknastet-2010").await.expect("the people");

    let idea = |n: usize| round.ideas[n].id;
    let state = |id: IdeaId| {
        let db = db.clone();
        async move { db.idea(id).await.unwrap().expect("stored").state }
    };
    // 0: granted; 2: submitted by an applicant who is on no other idea;
    // 3: another applicant's; 5: declined, with the panel's declared
    // conflict; 10: not selected.
    let conflicted = state(idea(5)).await;
    let panelist = *conflicted.development().unwrap().conflicts.keys().next().expect("a declared conflict");
    let lead = state(idea(2)).await.idea().unwrap().lead.clone();
    let board = *round.roles.iter().find(|(_, r)| r.as_slice() == [Role::BoardMember]).expect("a board member").0;
    let outsider = db
        .add_user(
            NewUser {
                id: PersonId::from_uuid(Uuid::new_v4()),
                email: Email::parse("utomstaende@example.org").unwrap(),
                name: PersonName::parse("Ulf Utomstående").unwrap(),
                organisation: None,
                language: Language::Sv,
                password: None,
            },
            ChangedBy::CommandLine,
        )
        .await
        .unwrap();

    // A second call, still a draft: only staff see it.
    let draft_call = CallId::from_uuid(Uuid::new_v4());
    db.execute_call(CallRequest {
        call: draft_call,
        command: &CallCommand::Create { id: draft_call, definition: Box::new(round.definition.clone()) },
        actor: &round.actor(round.process_leader),
        now: Utc::now(),
        expected_version: None,
        idempotency_key: None,
    })
    .await
    .expect("a draft call");

    let leader_token = token(&db, round.process_leader).await;
    let board_token = token(&db, board).await;
    let panel_token = token(&db, panelist).await;
    let lead_token = token(&db, lead.person).await;
    let outsider_token = token(&db, outsider.id).await;

    let server = start(db.clone()).await;
    let addr = server.addr;
    let idea_path = |n: usize| format!("/api/v1/ideas/{}", idea(n));

    // No token, a wrong one, another scheme: 401, problem+json, a challenge.
    let r = get(addr, "/api/v1/calls", &[]).await;
    let detail = r.problem(401);
    assert!(detail.contains("Bearer"), "{detail}");
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"), "{r:?}");
    let wrong = format!("mops_{}", "0".repeat(64));
    for r in [
        get_as(addr, &wrong, "/api/v1/calls").await,
        get_as(addr, "not-a-token", &idea_path(2)).await,
        get(addr, "/api/v1/calls", &[("Authorization", "Basic dXNlcjpwYXNz")]).await,
    ] {
        r.problem(401);
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"), "{r:?}");
    }

    // The applicant sees their own idea, with its version as ETag…
    let r = get_as(addr, &lead_token, &idea_path(2)).await;
    assert_eq!(r.status, 200, "{r:?}");
    let body = r.json();
    let version = db.idea(idea(2)).await.unwrap().unwrap().version;
    assert_eq!(r.header("etag"), Some(format!("\"{version}\"").as_str()));
    assert_eq!(body["id"], idea(2).to_string());
    assert_eq!(body["call"], round.call_id.to_string());
    assert_eq!(body["title"], round.ideas[2].title);
    assert_eq!(body["stage"], "granted");
    assert_eq!(body["version"], version);
    assert_eq!(body["lead_name"], lead.name.to_string());
    // …answers 304 when it has not changed…
    let etag = r.header("etag").unwrap().to_owned();
    let r =
        get(addr, &idea_path(2), &[("Authorization", &format!("Bearer {lead_token}")), ("If-None-Match", &etag)]).await;
    assert_eq!(r.status, 304, "{r:?}");
    // …but another applicant's idea is as absent as one that does not exist.
    let refused = get_as(addr, &lead_token, &idea_path(3)).await.problem(404);
    let unknown_id = IdeaId::from_uuid(Uuid::new_v4());
    let unknown = get_as(addr, &lead_token, &format!("/api/v1/ideas/{unknown_id}")).await.problem(404);
    assert_eq!(refused.replace(&idea(3).to_string(), "ID"), unknown.replace(&unknown_id.to_string(), "ID"));
    get_as(addr, &lead_token, &format!("{}/events", idea_path(3))).await.problem(404);
    // The refusal is logged with the ids, and nothing personal.
    let logged = log.text();
    let line = logged
        .lines()
        .find(|l| l.contains("refused") && l.contains(&idea(3).to_string()))
        .expect("the refusal is logged");
    assert!(line.contains("WARN") && line.contains(&lead.person.to_string()), "{line}");
    assert!(!line.contains(lead.email.as_str()) && !line.contains(&lead.name.to_string()), "{line}");
    assert!(!line.contains(round.ideas[3].title), "{line}");
    assert_eq!(get_as(addr, &lead_token, &format!("{}/events", idea_path(2))).await.status, 200);

    // The board sees what was prepared for it, not what never reached it.
    assert_eq!(get_as(addr, &board_token, &idea_path(0)).await.status, 200);
    get_as(addr, &board_token, &idea_path(10)).await.problem(404);
    get_as(addr, &board_token, &format!("{}/events", idea_path(10))).await.problem(404);

    // The panel member does not see the idea they declared a conflict on.
    get_as(addr, &panel_token, &idea_path(5)).await.problem(404);
    get_as(addr, &panel_token, &format!("{}/events", idea_path(5))).await.problem(404);
    assert_eq!(get_as(addr, &panel_token, &idea_path(0)).await.status, 200);

    // An outsider sees the 2010 call (it is not a draft) but no idea, and
    // not the draft call; the panel member does not see it either (they sit
    // on the 2010 call's panel), the board and the process leader do.
    let call_ids = |token: String| async move {
        let r = get_as(addr, &token, "/api/v1/calls").await;
        assert_eq!(r.status, 200, "{r:?}");
        r.json().as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    let (old, new) = (round.call_id.to_string(), draft_call.to_string());
    assert_eq!(call_ids(outsider_token.clone()).await, vec![old.clone()]);
    assert_eq!(call_ids(lead_token.clone()).await, vec![old.clone()]);
    assert_eq!(call_ids(panel_token.clone()).await, vec![old.clone()]);
    assert_eq!(call_ids(board_token.clone()).await, [old.clone(), new.clone()]);
    assert_eq!(call_ids(leader_token.clone()).await, [old.clone(), new.clone()]);
    get_as(addr, &outsider_token, &idea_path(0)).await.problem(404);
    get_as(addr, &outsider_token, &format!("/api/v1/calls/{draft_call}/funnel")).await.problem(404);
    let r = get_as(addr, &leader_token, &format!("/api/v1/calls/{draft_call}/funnel")).await;
    assert_eq!((r.status, &r.json()["submitted"]), (200, &0.into()), "{r:?}");

    // The process leader sees every idea and its timeline.
    for n in 0..round.ideas.len() {
        let r = get_as(addr, &leader_token, &idea_path(n)).await;
        assert_eq!(r.status, 200, "idea {n}: {r:?}");
        assert_eq!(r.json()["title"], round.ideas[n].title);
    }
    let r = get_as(addr, &leader_token, &format!("{}/events", idea_path(0))).await;
    assert_eq!(r.status, 200, "{r:?}");
    let events = r.json();
    let events = events.as_array().unwrap();
    let stored = db.idea_events(idea(0)).await.unwrap();
    assert_eq!(events.len(), stored.len());
    assert_eq!(events[0]["type"], "drafted");
    assert_eq!(events[0]["body"]["type"], "drafted");
    assert_eq!(events.last().unwrap()["type"], "granted");
    assert!(events.windows(2).all(|w| w[0]["seq"].as_i64() < w[1]["seq"].as_i64()));
    assert!(events[0]["at"].as_str().unwrap().starts_with("2010-02-22T"), "RFC 3339: {}", events[0]["at"]);
    let first_lead = state(idea(0)).await.idea().unwrap().lead.person;
    assert_eq!(events[0]["actor"]["person"], first_lead.to_string());

    // The call list: the 2010 call, its figures and dates.
    let r = get_as(addr, &leader_token, "/api/v1/calls").await;
    assert_eq!(r.status, 200, "{r:?}");
    let calls = r.json();
    let call = calls.as_array().unwrap().iter().find(|c| c["id"] == old).expect("the 2010 call");
    assert_eq!(call["id"], round.call_id.to_string());
    assert_eq!(call["title"], round.definition.title.to_string());
    assert_eq!(call["capacity"], 10);
    assert_eq!(call["budget_ore"], 130_000_000);
    assert!(call["phase"].is_string());
    assert_eq!(call["timeline"]["opens_at"], "2010-02-19T08:00:00Z");
    assert_eq!(call["timeline"]["seminars"].as_array().unwrap().len(), 3);

    // The funnel: 26 → 10 → 9 → 4, 1 300 000 kr.
    let funnel_path = format!("/api/v1/calls/{}/funnel", round.call_id);
    for token in [&leader_token, &board_token, &outsider_token] {
        let r = get_as(addr, token, &funnel_path).await;
        assert_eq!(r.status, 200, "{r:?}");
        let f = r.json();
        assert_eq!(
            (&f["submitted"], &f["selected"], &f["plans_submitted"], &f["granted"], &f["granted_total_ore"]),
            (&26.into(), &10.into(), &9.into(), &4.into(), &130_000_000.into()),
            "{f}"
        );
    }

    // Unknown and malformed ids, unknown endpoints: 404 problem+json.
    get_as(addr, &leader_token, &format!("/api/v1/ideas/{unknown_id}")).await.problem(404);
    get_as(addr, &leader_token, "/api/v1/ideas/not-an-id").await.problem(404);
    get_as(addr, &leader_token, &format!("/api/v1/calls/{}/funnel", Uuid::new_v4())).await.problem(404);
    get_as(addr, &leader_token, "/api/v1/nothing-here").await.problem(404);
    // The API answers only the methods a path has.
    let auth = format!("Bearer {leader_token}");
    let r = request(addr, "DELETE", &idea_path(0), &[("Authorization", &auth)]).await;
    r.problem(405);
    assert_eq!(r.header("allow"), Some("GET,HEAD"));
    // The rest of the server still answers.
    assert_eq!(get(addr, "/healthz", &[]).await.status, 200);

    // A revoked token stops working at once.
    let tokens = db.tokens(Some(outsider.id)).await.unwrap();
    db.revoke_token(tokens[0].id, ChangedBy::CommandLine).await.unwrap();
    get_as(addr, &outsider_token, "/api/v1/calls").await.problem(401);
}
