//! A submission that names people who are not users yet registers them in
//! the idea's own transaction, on both backends: through the store, and
//! through the public web form. (The API's path is in `api_write.rs`.)

mod common;

use std::net::SocketAddr;

use chrono::Utc;
use common::{Place, TestDb};
use mops_core::domain::{CallId, Email, FreeText, IdeaId, Language, PersonId, PersonName, Theme, Title};
use mops_core::idea::{Applicant, IdeaDetails, NewIdea};
use mops_core::reference::{Round2010, round_2010_in};
use mops_core::timers::TimerConfig;
use mops_core::{Actor, IdeaCommand};
use mops_service::people::{ChangedBy, NewUser, PeopleStore, Registration, seed_reference};
use mops_service::replay::replay_round;
use mops_service::serve;
use mops_service::store::{Db, IdeaRequest, Store, StoreError};
use mops_service::web::WebConfig;
use tokio::sync::oneshot;
use uuid::Uuid;

on_both_backends!(
    the_store_registers_with_the_idea_or_not_at_all,
    the_public_form_registers_with_the_idea_or_not_at_all
);

// ---------------------------------------------------------------------------
// Helpers

/// The 2010 round's people and an open call of its own (opened yesterday).
async fn open_call(test: &TestDb) -> (Round2010, CallId) {
    let mut round = round_2010_in(match test.place {
        Place::Sqlite(_) => 61,
        Place::Postgres { .. } => 62,
    });
    round.steps.truncate(2);
    replay_round(&test.db, &round, &TimerConfig::default(), |_, _, _| {}).await.expect("the round's call");
    seed_reference(&test.db, &round, "draknastet-2010").await.expect("the people");
    let id = common::open_copy_now(&test.db, &round, "Nya sökande").await;
    (round, id)
}

async fn rows(db: &Db, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    match db {
        Db::Sqlite(s) => sqlx::query_scalar(&sql).fetch_one(s.pool()).await.unwrap(),
        Db::Postgres(s) => sqlx::query_scalar(&sql).fetch_one(s.pool()).await.unwrap(),
    }
}

/// Users, the people log, ideas, their applicants, events, the outbox and
/// idempotency records.
async fn everything(db: &Db) -> Vec<i64> {
    let mut n = Vec::new();
    for table in ["users", "people_log", "ideas", "idea_applicants", "events", "outbox", "idempotency"] {
        n.push(rows(db, table).await);
    }
    n
}

fn request<'a>(
    call: CallId,
    idea: IdeaId,
    command: &'a IdeaCommand,
    actor: &'a Actor,
    key: Option<&'a str>,
) -> IdeaRequest<'a> {
    IdeaRequest { call, idea, command, actor, now: Utc::now(), expected_version: None, idempotency_key: key }
}

/// The public form, filled in by Greta Ny with two new co-applicants.
fn fields<'a>(organisation: &'a str, theme: &'a str, key: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", "Greta Ny"),
        ("email", "greta.ny@example.se"),
        ("organisation", organisation),
        ("title", "Nya krafter"),
        ("summary", "Tre nya personer."),
        ("theme", theme),
        ("co_applicants", "Lisa Ny <lisa.ny@example.se>\nOlle Ny, Olle.Ny@example.se"),
        ("language", "sv"),
        ("form_key", key),
    ]
}

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

// ---------------------------------------------------------------------------
// The store

async fn the_store_registers_with_the_idea_or_not_at_all(test: &TestDb) {
    let db = &test.db;
    let (round, call) = open_call(test).await;
    let lead_person = round.people.iter().find(|p| round.roles.get(&p.id).is_none_or(Vec::is_empty)).unwrap();
    let organisation = lead_person.organisation;
    let lead = Applicant {
        person: lead_person.id,
        name: lead_person.name.clone(),
        email: lead_person.email.clone(),
        organisation,
        language: lead_person.language,
    };
    let new_user = |address: &str, org| NewUser {
        id: PersonId::from_uuid(Uuid::new_v4()),
        email: email(address),
        name: PersonName::parse("Ny Person").unwrap(),
        organisation: Some(org),
        language: Language::Sv,
        password: None,
    };
    let as_applicant = |u: &NewUser| Applicant {
        person: u.id,
        name: u.name.clone(),
        email: u.email.clone(),
        organisation,
        language: u.language,
    };
    let submit = |idea: IdeaId, co: Vec<Applicant>, theme: &str| {
        IdeaCommand::SubmitNew(Box::new(NewIdea {
            id: idea,
            call,
            lead: lead.clone(),
            details: IdeaDetails {
                title: Title::parse("Tillsammans").unwrap(),
                summary: FreeText::parse("Med nya medsökande.").unwrap(),
                theme: Theme::parse(theme).unwrap(),
                organisation,
                co_applicants: co,
            },
        }))
    };
    let actor = Actor::person(lead.person, []);
    let by = ChangedBy::User(lead.person);
    let theme = round.definition.themes[0].to_string();
    let before = everything(db).await;

    // Refused by the core (a theme the call does not have): nobody.
    let lisa = new_user("lisa.ny@example.se", organisation);
    let idea = IdeaId::from_uuid(Uuid::new_v4());
    let command = submit(idea, vec![as_applicant(&lisa)], "Rymdfart");
    let regs = [Registration { user: lisa.clone(), by }];
    let err = db.execute_idea_registering(&regs, request(call, idea, &command, &actor, Some("k"))).await.unwrap_err();
    assert!(matches!(err, StoreError::Rejected(_)), "{err}");
    assert_eq!(everything(db).await, before);

    // An organisation that does not exist: nobody, and a user error.
    let nobody_org = mops_core::domain::OrganisationId::from_uuid(Uuid::new_v4());
    let odd = new_user("odd@example.se", nobody_org);
    let command = submit(idea, vec![as_applicant(&odd)], &theme);
    let regs = [Registration { user: odd, by }];
    let err = db.execute_idea_registering(&regs, request(call, idea, &command, &actor, Some("k"))).await.unwrap_err();
    assert!(matches!(&err, StoreError::Registration(e) if e.is_user_error()), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(everything(db).await, before);

    // An address taken (by the lead, whatever its case): nobody, retryable.
    let taken = new_user(&lead.email.as_str().to_uppercase(), organisation);
    let command = submit(idea, vec![as_applicant(&taken)], &theme);
    let regs = [Registration { user: taken, by }];
    let err = db.execute_idea_registering(&regs, request(call, idea, &command, &actor, Some("k"))).await.unwrap_err();
    assert!(matches!(err, StoreError::EmailTaken { .. }) && err.is_retryable(), "{err}");
    assert_eq!(everything(db).await, before);

    // Accepted: the user, their log row and the idea together.
    let command = submit(idea, vec![as_applicant(&lisa)], &theme);
    let regs = [Registration { user: lisa.clone(), by }];
    let first = db.execute_idea_registering(&regs, request(call, idea, &command, &actor, Some("k"))).await.unwrap();
    assert!(!first.replayed);
    let after = everything(db).await;
    let grew: Vec<i64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(grew, [1, 1, 1, 2, 2, 2, 1], "users, log, ideas, applicants, events, outbox, idempotency");
    let user = db.user_by_email(&lisa.email).await.unwrap().expect("registered");
    assert_eq!((user.id, user.has_password), (lisa.id, false));
    let log = db.people_log(Some(lisa.id)).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].action.as_str(), log[0].actor_id), ("user_added", Some(lead.person)));
    assert_eq!(db.ideas_of_applicant(lisa.id).await.unwrap().len(), 1);

    // The same request again (the same registration too): the first
    // outcome, and nobody is registered again.
    let again = db.execute_idea_registering(&regs, request(call, idea, &command, &actor, Some("k"))).await.unwrap();
    assert_eq!(again, mops_service::store::Outcome { replayed: true, ..first });
    assert_eq!(everything(db).await, after);
    // The key with another command: refused before anybody is registered.
    let pia = new_user("pia.ny@example.se", organisation);
    let other = submit(idea, vec![as_applicant(&pia)], &theme);
    let regs = [Registration { user: pia, by }];
    let err = db.execute_idea_registering(&regs, request(call, idea, &other, &actor, Some("k"))).await.unwrap_err();
    assert!(matches!(err, StoreError::IdempotencyMismatch { .. }), "{err}");
    assert_eq!(everything(db).await, after);
    assert!(db.verify().await.unwrap().is_ok());
}

// ---------------------------------------------------------------------------
// The public form

/// Posts `fields` as the public form does from the same site; the status,
/// where it redirects (or nothing) and the body.
async fn post_form(addr: SocketAddr, path: &str, fields: &[(&str, &str)]) -> (u16, String, String) {
    let origin = format!("http://{addr}");
    let headers = [("Origin", origin.as_str()), ("Sec-Fetch-Site", "same-origin")];
    let reply = common::http::request(addr, "POST", path, &headers, &common::form_body(fields)).await;
    let location = reply.header("location").unwrap_or_default().to_owned();
    (reply.status, location, reply.body)
}

async fn the_public_form_registers_with_the_idea_or_not_at_all(test: &TestDb) {
    let db = test.db.clone();
    let (round, call) = open_call(test).await;
    let listener = serve::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mail_dir = tempfile::tempdir().expect("a mail folder");
    let config = WebConfig {
        public_url: format!("http://{addr}"),
        transport: mops_service::mail::Transport::Files(mail_dir.path().to_owned()),
        from: "MOPS <mops@example.se>".parse().unwrap(),
        reply_to: "Processledaren <processledare@example.se>".parse().unwrap(),
        rate_per_minute: 1000,
    };
    let (_stop, stopped) = oneshot::channel::<()>();
    let app = serve::app(db.clone(), config).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    let path = format!("/utlysningar/{call}/ansok");
    let organisation = round.organisations[0].id.to_string();
    let theme = round.definition.themes[0].to_string();
    let before = everything(&db).await;

    // Refused by the core (a theme the call does not have): the page again,
    // and nobody is registered.
    let owned = fields(&organisation, "Rymdfart", "form-1");
    let (status, _, body) = post_form(addr, &path, &owned).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(everything(&db).await, before, "no user, log row, idea or mail");
    for address in ["greta.ny@example.se", "lisa.ny@example.se", "olle.ny@example.se"] {
        assert!(db.user_by_email(&email(address)).await.unwrap().is_none(), "{address}");
    }

    // Accepted: the lead and both co-applicants registered, once each, with
    // the idea: the lead by herself, the co-applicants by the lead.
    let owned = fields(&organisation, &theme, "form-1");
    let (status, location, _) = post_form(addr, &path, &owned).await;
    assert_eq!((status, location.as_str()), (303, format!("/utlysningar/{call}/tack").as_str()));
    let after = everything(&db).await;
    let grew: Vec<i64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(grew, [3, 3, 1, 3, 2, 3, 1], "users, log, ideas, applicants, events, outbox, idempotency");
    let log = db.people_log(None).await.unwrap();
    let greta = db.user_by_email(&email("greta.ny@example.se")).await.unwrap().expect("registered").id;
    for address in ["greta.ny@example.se", "lisa.ny@example.se", "olle.ny@example.se"] {
        let user = db.user_by_email(&email(address)).await.unwrap().expect("registered");
        let added: Vec<_> = log.iter().filter(|e| e.user == Some(user.id)).collect();
        assert_eq!(added.len(), 1, "{address}: {added:?}");
        assert_eq!((added[0].action.as_str(), added[0].actor_id), ("user_added", Some(greta)), "by the lead");
        assert_eq!(db.ideas_of_applicant(user.id).await.unwrap().len(), 1);
    }

    // The form sent again (a double click): one idea, nobody twice.
    let (status, _, _) = post_form(addr, &path, &owned).await;
    assert_eq!(status, 303);
    assert_eq!(everything(&db).await, after);

    // Two forms at once naming one new person: both go through, and the
    // person is registered once.
    let a = [
        ("name", "Hugo Ny"),
        ("email", "hugo.ny@example.se"),
        ("organisation", organisation.as_str()),
        ("title", "Samtidigt"),
        ("summary", "Två formulär på en gång."),
        ("theme", theme.as_str()),
        ("co_applicants", "Stina Ny <stina.ny@example.se>"),
        ("language", "sv"),
        ("form_key", "form-a"),
    ];
    let mut b = a;
    b[0] = ("name", "Ida Ny");
    b[1] = ("email", "ida.ny@example.se");
    b[8] = ("form_key", "form-b");
    let (x, y) = tokio::join!(post_form(addr, &path, &a), post_form(addr, &path, &b));
    assert_eq!((x.0, y.0), (303, 303), "{x:?} {y:?}");
    let stina = db.user_by_email(&email("stina.ny@example.se")).await.unwrap().expect("registered");
    let log = db.people_log(Some(stina.id)).await.unwrap();
    assert_eq!(log.iter().filter(|e| e.action == "user_added").count(), 1, "{log:?}");
    assert_eq!(db.ideas_of_applicant(stina.id).await.unwrap().len(), 2);
    assert!(db.verify().await.unwrap().is_ok());
}
