//! The web application over real HTTP: security headers, staff sign-in and
//! sessions, cross-site request forgery, applicants' one-time links, who may
//! see what (and that what one may not see answers like what does not
//! exist), commands through forms, the public submission form, rate limits
//! and the language switch. The whole service ([`serve::app`]) runs
//! in-process on an ephemeral port, on each backend; requests are plain
//! HTTP/1.1 over a TCP stream, as in `tests/api.rs`.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{Duration, Utc};
use common::http::{Reply, request};
use common::{Place, TestDb, form_body};
use mops_core::domain::{CallId, FreeText, IdeaId, PersonId, SectorGroupId, Title};
use mops_core::idea::{Applicant, IdeaDetails, NewIdea};
use mops_core::people::SectorGroup;
use mops_core::reference::{Round2010, Step, round_2010_in};
use mops_core::timers::TimerConfig;
use mops_core::{CallCommand, CallPhase, IdeaCommand, IdeaState, Role, Stage};
use mops_service::people::{ChangedBy, Password, PeopleStore, seed_reference};
use mops_service::replay::replay_round;
use mops_service::serve;
use mops_service::store::{CallRequest, Db, IdeaRequest, Store};
use mops_service::web::WebConfig;
use mops_service::web::session::LinkPurpose::{PasswordReset, SignIn};
use tokio::sync::oneshot;
use uuid::Uuid;

/// The staff's password in every test.
const PASSWORD: &str = "draknastet-2010";

// ---------------------------------------------------------------------------
// A plain HTTP/1.1 client

/// Text as the templates print it (minijinja's HTML escaping).
fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

// ---------------------------------------------------------------------------
// The server

/// The whole service on an ephemeral port, with sign-in mails as `.eml`
/// files in a folder of its own; stops when dropped.
struct Server {
    addr: SocketAddr,
    mail_dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

impl Server {
    async fn start(db: Db, rate_per_minute: u32) -> Self {
        Self::start_at(db, rate_per_minute, None).await
    }

    /// With `public_url` `None`, the server's own `http://` address.
    async fn start_at(db: Db, rate_per_minute: u32, public_url: Option<&str>) -> Self {
        let listener = serve::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mail_dir = tempfile::tempdir().expect("a mail folder");
        let config = WebConfig {
            public_url: public_url.map_or_else(|| format!("http://{addr}"), str::to_owned),
            transport: mops_service::mail::Transport::Files(mail_dir.path().to_owned()),
            from: "MOPS <mops@example.se>".parse().unwrap(),
            reply_to: "Processledaren <processledare@example.se>".parse().unwrap(),
            rate_per_minute,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, serve::app(db, config).into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self { addr, mail_dir, _stop: stop }
    }

    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let headers: Vec<(&str, &str)> = cookie.map(|c| ("Cookie", c)).into_iter().collect();
        request(self.addr, "GET", path, &headers, "").await
    }

    /// A form posted from one of the service's own pages, as a browser
    /// sends it.
    async fn post(&self, path: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> Reply {
        let origin = self.origin();
        self.post_with(path, cookie, fields, &[("Origin", &origin), ("Sec-Fetch-Site", "same-origin")]).await
    }

    async fn post_with(
        &self,
        path: &str,
        cookie: Option<&str>,
        fields: &[(&str, &str)],
        extra: &[(&str, &str)],
    ) -> Reply {
        let mut headers: Vec<(&str, &str)> = cookie.map(|c| ("Cookie", c)).into_iter().collect();
        headers.extend_from_slice(extra);
        request(self.addr, "POST", path, &headers, &form_body(fields)).await
    }

    /// Signs in with a password; returns the session cookie.
    async fn sign_in(&self, email: &str) -> String {
        let r = self.post("/logga-in", None, &[("email", email), ("password", PASSWORD), ("nasta", "/")]).await;
        assert_eq!(r.see_other(), "/");
        r.session()
    }

    /// The sign-in mails written so far: file and text body.
    fn mails(&self) -> Vec<(PathBuf, String)> {
        let mut mails: Vec<(PathBuf, String)> = std::fs::read_dir(self.mail_dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .map(|p| {
                let bytes = std::fs::read(&p).unwrap();
                let parsed = mail_parser::MessageParser::default().parse(&bytes).expect("a mail");
                let text = parsed.body_text(0).expect("a text body").into_owned();
                (p, text)
            })
            .collect();
        mails.sort();
        mails
    }

    /// The mails once there are `n` of them: links are sent in the
    /// background, after the page has answered. Gives up after 10 s and
    /// returns what is there.
    async fn wait_for_mails(&self, n: usize) -> Vec<(PathBuf, String)> {
        for _ in 0..200 {
            let mails = self.mails();
            if mails.len() >= n {
                // A little longer, so a mail too many would show too.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                return self.mails();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.mails()
    }

    /// The sign-in link in a mail's text: `/lank/{secret}`.
    fn link_in(&self, text: &str) -> String {
        let prefix = format!("{}/lank/", self.origin());
        let start = text.find(&prefix).unwrap_or_else(|| panic!("a link to {prefix} in {text}"));
        let secret: String = text[start + prefix.len()..].chars().take_while(char::is_ascii_hexdigit).collect();
        assert_eq!(secret.len(), 64, "a 256-bit secret: {text}");
        format!("/lank/{secret}")
    }

    /// The password-reset link in a mail's text: `/nytt-losenord/{secret}`.
    fn reset_link_in(&self, text: &str) -> String {
        let prefix = format!("{}/nytt-losenord/", self.origin());
        let start = text.find(&prefix).unwrap_or_else(|| panic!("a link to {prefix} in {text}"));
        let secret: String = text[start + prefix.len()..].chars().take_while(char::is_ascii_hexdigit).collect();
        assert_eq!(secret.len(), 64, "a 256-bit secret: {text}");
        format!("/nytt-losenord/{secret}")
    }

    /// Signs in with `password`: the session cookie, or `None` if refused.
    async fn try_sign_in(&self, email: &str, password: &str) -> Option<String> {
        let r = self.post("/logga-in", None, &[("email", email), ("password", password), ("nasta", "/")]).await;
        match r.status {
            303 => Some(r.session()),
            401 => None,
            _ => panic!("a sign-in answers 303 or 401: {r:?}"),
        }
    }

    /// Signs in an applicant by a link sent to them; returns the session cookie.
    async fn sign_in_by_link(&self, email: &str) -> String {
        let before: Vec<PathBuf> = self.mails().into_iter().map(|(p, _)| p).collect();
        let r = self.post("/inloggningslank", None, &[("email", email)]).await;
        assert_eq!(r.status, 200, "{r:?}");
        let all = self.wait_for_mails(before.len() + 1).await;
        let new: Vec<(PathBuf, String)> = all.into_iter().filter(|(p, _)| !before.contains(p)).collect();
        assert_eq!(new.len(), 1, "one mail for {email}");
        let r = self.post(&self.link_in(&new[0].1), None, &[]).await;
        assert_eq!(r.see_other(), "/mina-ideer");
        r.session()
    }
}

/// Everything logged, as text: the refusals must be there, without
/// personal data.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Log {
    /// The one log of this test binary (every test writes to it).
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

// ---------------------------------------------------------------------------
// The 2010 round

/// How much of the 2010 round to replay.
#[derive(Debug, Clone, Copy)]
enum Upto {
    /// The call created and opened (in 2010), no ideas.
    Open,
    /// Every idea submitted, the call in its Selection phase.
    Selection,
    /// The whole round.
    End,
}

/// The 2010 round replayed up to `upto`, with its people. Each test and
/// backend has ids of its own, so the shared log tells them apart.
async fn round(test: &TestDb, test_number: u32, upto: Upto) -> Round2010 {
    let backend = match test.place {
        Place::Sqlite(_) => 0,
        Place::Postgres { .. } => 1,
    };
    let mut round = round_2010_in(100 + 2 * test_number + backend);
    match upto {
        Upto::Open => round.steps.truncate(2),
        Upto::Selection => {
            let at = round
                .steps
                .iter()
                .position(|s| {
                    matches!(s, Step::Call { command: CallCommand::Advance { to: CallPhase::Selection }, .. })
                })
                .expect("the round reaches its Selection phase");
            round.steps.truncate(at + 1);
        }
        Upto::End => {}
    }
    replay_round(&test.db, &round, &TimerConfig::default(), |_, _, _| {}).await.expect("the round replays");
    seed_reference(&test.db, &round, PASSWORD).await.expect("the people");
    round
}

fn email(round: &Round2010, person: PersonId) -> String {
    round.person(person).expect("a person of the round").email.to_string()
}

/// Someone whose only role in the round is `role`.
fn only(round: &Round2010, role: fn(&Role) -> bool) -> PersonId {
    *round.roles.iter().find(|(_, r)| r.len() == 1 && role(&r[0])).expect("such a person").0
}

fn lead_of(round: &Round2010, n: usize) -> PersonId {
    // The round's idea n is submitted by its applicant n (people 100 + n).
    let lead = round.people.iter().filter(|p| round.roles.get(&p.id).is_none_or(Vec::is_empty)).nth(n);
    lead.expect("an applicant").id
}

async fn idea(db: &Db, id: IdeaId) -> (IdeaState, i64, usize) {
    let stored = db.idea(id).await.unwrap().expect("stored");
    let events = db.idea_events(id).await.unwrap().len();
    (stored.state, stored.version, events)
}

// ---------------------------------------------------------------------------
// 1. Security headers

on_both_backends!(every_page_carries_the_security_headers);

async fn every_page_carries_the_security_headers(test: &TestDb) {
    let server = Server::start(test.db.clone(), 1000).await;
    for (path, status) in [("/", 200), ("/logga-in", 200), ("/finns-inte", 404), ("/static/style.css", 200)] {
        let r = server.get(path, None).await;
        assert_eq!(r.status, status, "{path}: {r:?}");
        let csp = r.header("content-security-policy").unwrap_or_else(|| panic!("{path}: a CSP: {r:?}"));
        for directive in ["frame-ancestors 'none'", "script-src 'none'", "default-src 'self'", "object-src 'none'"] {
            assert!(csp.contains(directive), "{path}: {directive} in {csp}");
        }
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(r.header("referrer-policy"), Some("same-origin"), "{path}");
        // Over plain HTTP, no HSTS: a browser would ignore it, and a test
        // server must not pin a name to TLS.
        assert_eq!(r.header("strict-transport-security"), None, "{path}");
    }
    let r = server.get("/", None).await;
    assert!(r.header("content-type").unwrap().starts_with("text/html"), "{r:?}");
    assert!(r.body.starts_with("<!doctype html>"), "{}", r.body);

    // Served as https://, HSTS is sent.
    let https = Server::start_at(test.db.clone(), 1000, Some("https://mops.example.se")).await;
    let r = https.get("/", None).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.header("strict-transport-security").is_some_and(|v| v.starts_with("max-age=")), "{r:?}");
}

// ---------------------------------------------------------------------------
// 2. Staff sign-in and sessions

on_both_backends!(staff_sign_in_and_sessions);

async fn staff_sign_in_and_sessions(test: &TestDb) {
    let round = round(test, 2, Upto::Open).await;
    let leader = email(&round, round.process_leader);
    let server = Server::start(test.db.clone(), 1000).await;

    // Not signed in: the process leader's page sends to the sign-in page and back.
    let r = server.get("/admin", None).await;
    assert_eq!(r.see_other(), "/logga-in?nasta=/admin");

    // A wrong password, or an unknown address: 401, the same page, a
    // message in Swedish, and no session.
    let wrong = server.post("/logga-in", None, &[("email", &leader), ("password", "fel"), ("nasta", "/admin")]).await;
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert!(wrong.body.contains("E-postadressen eller lösenordet stämmer inte"), "{}", wrong.body);
    assert!(wrong.body.contains("<html lang=\"sv\">"), "{}", wrong.body);
    assert_eq!(wrong.set_cookie("mops_session"), None, "{wrong:?}");
    let unknown = server
        .post("/logga-in", None, &[("email", "ingen@example.org"), ("password", PASSWORD), ("nasta", "/admin")])
        .await;
    assert_eq!(unknown.status, 401, "{unknown:?}");
    assert_eq!(unknown.body, wrong.body, "the page does not tell who has an account");
    assert_eq!(unknown.set_cookie("mops_session"), None, "{unknown:?}");

    // The right password: back to where they were going, with a session
    // cookie that scripts cannot read and other sites do not send along.
    let r = server.post("/logga-in", None, &[("email", &leader), ("password", PASSWORD), ("nasta", "/admin")]).await;
    assert_eq!(r.see_other(), "/admin");
    let line = r.set_cookie("mops_session").expect("a session cookie").to_owned();
    let attributes: Vec<String> = line.split(';').skip(1).map(|a| a.trim().to_ascii_lowercase()).collect();
    assert!(attributes.iter().any(|a| a == "httponly"), "{line}");
    assert!(attributes.iter().any(|a| a == "samesite=lax"), "{line}");
    assert!(attributes.iter().any(|a| a == "path=/"), "{line}");
    assert!(!attributes.iter().any(|a| a == "secure"), "plain HTTP: {line}");
    let first = r.session();
    assert_eq!(server.get("/admin", Some(&first)).await.status, 200);

    // Signing in again with that session gives a new id, and the old one
    // stops working: an id known before sign-in cannot ride along.
    let r = server
        .post("/logga-in", Some(&first), &[("email", &leader), ("password", PASSWORD), ("nasta", "/admin")])
        .await;
    assert_eq!(r.see_other(), "/admin");
    let second = r.session();
    assert_ne!(second, first);
    assert_eq!(server.get("/admin", Some(&second)).await.status, 200);
    assert!(server.get("/admin", Some(&first)).await.see_other().starts_with("/logga-in"));
    // An id planted by someone else is not adopted either.
    let planted = "mops_session=QUJDREVGR0hJSktMTU5PUA";
    let r = server.post("/logga-in", Some(planted), &[("email", &leader), ("password", PASSWORD)]).await;
    assert_eq!(r.see_other(), "/");
    assert_ne!(r.session(), planted);
    assert!(server.get("/admin", Some(planted)).await.see_other().starts_with("/logga-in"));

    // `nasta` is followed only to a path on this site.
    for next in ["//evil.example", "https://evil.example/", "/\\evil.example", "evil.example", "javascript:alert(1)"] {
        let r = server.post("/logga-in", None, &[("email", &leader), ("password", PASSWORD), ("nasta", next)]).await;
        assert_eq!(r.see_other(), "/", "nasta={next}");
        let signed_in = r.session();
        let path = format!("/logga-in?nasta={}", form_body(&[("x", next)]).trim_start_matches("x="));
        assert_eq!(server.get(&path, Some(&signed_in)).await.see_other(), "/", "GET nasta={next}");
    }

    // Signing out ends the session on the server: the old cookie gives
    // nothing any more.
    let r = server.post("/logga-ut", Some(&second), &[]).await;
    assert_eq!(r.see_other(), "/");
    assert!(server.get("/admin", Some(&second)).await.see_other().starts_with("/logga-in"));
    let r = server.get("/", Some(&second)).await;
    assert!(r.body.contains("href=\"/logga-in\""), "signed out: {}", r.body);

    // A user disabled while signed in is signed out at their next request,
    // and cannot sign in again.
    let board = only(&round, |r| matches!(r, Role::BoardMember));
    let cookie = server.sign_in(&email(&round, board)).await;
    let board_page = format!("/utlysningar/{}/beslut", round.call_id);
    assert_eq!(server.get(&board_page, Some(&cookie)).await.status, 200);
    assert!(test.db.disable_user(board, ChangedBy::CommandLine).await.unwrap());
    assert!(server.get(&board_page, Some(&cookie)).await.see_other().starts_with("/logga-in"));
    let r = server.post("/logga-in", None, &[("email", &email(&round, board)), ("password", PASSWORD)]).await;
    assert_eq!((r.status, r.set_cookie("mops_session")), (401, None), "{r:?}");

    // Served as https://, the cookie is Secure.
    let https = Server::start_at(test.db.clone(), 1000, Some("https://mops.example.se")).await;
    let origin = https.origin();
    let r = https
        .post_with(
            "/logga-in",
            None,
            &[("email", &leader), ("password", PASSWORD)],
            &[("Origin", &origin), ("Sec-Fetch-Site", "same-origin")],
        )
        .await;
    assert_eq!(r.see_other(), "/");
    let line = r.set_cookie("mops_session").expect("a session cookie");
    assert!(line.split(';').any(|a| a.trim().eq_ignore_ascii_case("secure")), "{line}");
}

// ---------------------------------------------------------------------------
// 3. Cross-site request forgery

on_both_backends!(cross_site_posts_are_refused);

async fn cross_site_posts_are_refused(test: &TestDb) {
    let round = round(test, 3, Upto::Selection).await;
    let member = only(&round, |r| matches!(r, Role::SectorGroupMember { .. }));
    let server = Server::start(test.db.clone(), 1000).await;
    let cookie = server.sign_in(&email(&round, member)).await;
    let target = round.ideas[0].id;
    let (_, version, events) = idea(&test.db, target).await;
    let choice = format!("choice_{target}");
    let motivation = format!("motivation_{target}");
    let fields = [
        ("form_key", "csrf-test"),
        ("confirm", "yes"),
        (choice.as_str(), "select"),
        (motivation.as_str(), "Idén svarar väl mot utlysningens teman."),
    ];
    let path = format!("/utlysningar/{}/urval", round.call_id);

    let evil: [&[(&str, &str)]; 3] = [
        &[("Origin", "http://evil.example")],
        &[("Sec-Fetch-Site", "cross-site")],
        &[("Origin", "http://evil.example"), ("Sec-Fetch-Site", "cross-site")],
    ];
    for headers in evil {
        let r = server.post_with(&path, Some(&cookie), &fields, headers).await;
        assert_eq!(r.status, 403, "{headers:?}: {r:?}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "the refusal has the headers too");
        let (state, v, n) = idea(&test.db, target).await;
        assert_eq!((state.stage(), v, n), (Stage::Submitted, version, events), "{headers:?}: nothing changed");
    }
    // Signing someone out or in from another site is refused as well.
    let r = server.post_with("/logga-ut", Some(&cookie), &[], &[("Sec-Fetch-Site", "cross-site")]).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(server.get(&format!("/utlysningar/{}/pipeline", round.call_id), Some(&cookie)).await.status, 200);
    let r = server
        .post_with(
            "/logga-in",
            None,
            &[("email", &email(&round, member)), ("password", PASSWORD)],
            &[("Origin", "http://evil.example")],
        )
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.set_cookie("mops_session"), None);

    // The same form from the service's own page is taken.
    let r = server.post(&path, Some(&cookie), &fields).await;
    assert_eq!(r.see_other(), format!("/utlysningar/{}/pipeline", round.call_id));
    let (state, v, _) = idea(&test.db, target).await;
    assert_eq!((state.stage(), v), (Stage::Selected, version + 1));
    let r = server.get(&format!("/utlysningar/{}/pipeline", round.call_id), Some(&cookie)).await;
    assert!(r.body.contains("Antal beslut som sparats: 1"), "{}", r.body);
}

// ---------------------------------------------------------------------------
// 4. One-time sign-in links

on_both_backends!(one_time_links_for_applicants);

async fn one_time_links_for_applicants(test: &TestDb) {
    let round = round(test, 4, Upto::Selection).await;
    // Applicant 1 leads idea 1 and is a co-applicant on idea 0.
    let applicant = lead_of(&round, 1);
    let address = email(&round, applicant);
    let server = Server::start(test.db.clone(), 1000).await;

    let known = server.post("/inloggningslank", None, &[("email", &address)]).await;
    assert_eq!(known.status, 200, "{known:?}");
    assert!(known.body.contains("Kontrollera din e-post"), "{}", known.body);
    let mails = server.wait_for_mails(1).await;
    assert_eq!(mails.len(), 1, "one mail: {mails:?}");
    let raw = std::fs::read_to_string(&mails[0].0).unwrap();
    assert!(raw.contains(&address), "to the applicant: {raw}");
    let link = server.link_in(&mails[0].1);

    // An unknown address: the same page, and no mail.
    let unknown = server.post("/inloggningslank", None, &[("email", "ingen.alls@example.org")]).await;
    assert_eq!(unknown.status, 200, "{unknown:?}");
    assert_eq!(unknown.body, known.body, "the page does not tell who has an account");
    assert_eq!(server.mails().len(), 1);
    // Not an address at all: the sign-in page says so.
    let r = server.post("/inloggningslank", None, &[("email", "inte en adress")]).await;
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.body.contains("Skriv en giltig e-postadress"), "{}", r.body);
    assert_eq!(server.mails().len(), 1);

    // Opening the link (as a mail scanner would, twice) uses up nothing.
    for _ in 0..2 {
        let r = server.get(&link, None).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.body.contains(&format!("action=\"{link}\"")), "a button: {}", r.body);
        assert_eq!(r.set_cookie("mops_session"), None);
    }
    // The button signs in, once.
    let r = server.post(&link, None, &[]).await;
    assert_eq!(r.see_other(), "/mina-ideer");
    let cookie = r.session();
    let r = server.get("/mina-ideer", Some(&cookie)).await;
    assert_eq!(r.status, 200, "{r:?}");
    for n in [0, 1] {
        assert!(r.body.contains(&round.ideas[n].id.to_string()), "idea {n}: {}", r.body);
        assert!(r.body.contains(&html(round.ideas[n].title)), "idea {n}: {}", r.body);
    }
    assert!(!r.body.contains(&round.ideas[2].id.to_string()), "not another applicant's idea: {}", r.body);
    let again = server.post(&link, None, &[]).await;
    assert_eq!(again.status, 410, "{again:?}");
    assert!(again.body.contains("Länken har redan använts"), "{}", again.body);
    assert_eq!(again.set_cookie("mops_session"), None);
    assert_eq!(server.get(&link, None).await.status, 410);

    // An unknown link and an expired one: 410, no session.
    let unknown_link = format!("/lank/{}", "0".repeat(64));
    assert_eq!(server.get(&unknown_link, None).await.status, 410);
    let r = server.post(&unknown_link, None, &[]).await;
    assert_eq!((r.status, r.set_cookie("mops_session")), (410, None), "{r:?}");
    let expired =
        mops_service::web::session::create_link(&test.db, applicant, SignIn, Utc::now() - Duration::minutes(31))
            .await
            .expect("a link made 31 minutes ago");
    let expired = format!("/lank/{expired}");
    assert_eq!(server.get(&expired, None).await.status, 410);
    let r = server.post(&expired, None, &[]).await;
    assert_eq!((r.status, r.set_cookie("mops_session")), (410, None), "{r:?}");
    // A disabled user gets no link, and the same page.
    let disabled = lead_of(&round, 5);
    assert!(test.db.disable_user(disabled, ChangedBy::CommandLine).await.unwrap());
    let r = server.post("/inloggningslank", None, &[("email", &email(&round, disabled))]).await;
    assert_eq!((r.status, &r.body), (200, &known.body));
    assert_eq!(server.mails().len(), 1, "no mail to a disabled user");
    // A live one made the same way works: the expired one failed for its age.
    let live = mops_service::web::session::create_link(&test.db, applicant, SignIn, Utc::now()).await.unwrap();
    assert_eq!(server.post(&format!("/lank/{live}"), None, &[]).await.see_other(), "/mina-ideer");
}

// ---------------------------------------------------------------------------
// 5. Who may see what

on_both_backends!(what_one_may_not_see_answers_404);

async fn what_one_may_not_see_answers_404(test: &TestDb) {
    let log = Log::get();
    let db = test.db.clone();
    let round = round(test, 5, Upto::End).await;
    let server = Server::start(db.clone(), 1000).await;
    let idea_id = |n: usize| round.ideas[n].id;
    let page = |n: usize| format!("/ideer/{}", idea_id(n));

    // Applicant 2 leads idea 2 only; idea 3 is another applicant's.
    let a = lead_of(&round, 2);
    let a_cookie = server.sign_in_by_link(&email(&round, a)).await;
    assert_eq!(server.get(&page(2), Some(&a_cookie)).await.status, 200);
    let refused = server.get(&page(3), Some(&a_cookie)).await;
    assert_eq!(refused.status, 404, "{refused:?}");
    let unknown = server.get(&format!("/ideer/{}", Uuid::new_v4()), Some(&a_cookie)).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(refused.body, unknown.body, "another's idea answers like one that does not exist");
    assert!(!refused.body.contains(round.ideas[3].title), "{}", refused.body);
    // Nor can they act on it.
    let (_, version, events) = idea(&db, idea_id(3)).await;
    let v = version.to_string();
    let fields =
        [("action", "withdraw"), ("version", v.as_str()), ("form_key", "idor"), ("reason", "Vi drar tillbaka.")];
    let r = server.post(&format!("{}/kommando", page(3)), Some(&a_cookie), &fields).await;
    assert_eq!(r.status, 404, "{r:?}");
    let (_, v, n) = idea(&db, idea_id(3)).await;
    assert_eq!((v, n), (version, events), "nothing written");
    // The refusal is logged with the ids, and nothing personal.
    let logged = log.text();
    let line = logged
        .lines()
        .find(|l| l.contains("refused") && l.contains(&idea_id(3).to_string()) && l.contains(&a.to_string()))
        .unwrap_or_else(|| panic!("the refusal is logged: {logged}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(!line.contains(&email(&round, a)) && !line.contains(round.ideas[3].title), "{line}");

    // A panel member does not see the idea they declared a conflict on.
    let conflicted = db.idea(idea_id(5)).await.unwrap().unwrap().state;
    let panelist = *conflicted.development().unwrap().conflicts.keys().next().expect("a declared conflict");
    let p_cookie = server.sign_in(&email(&round, panelist)).await;
    assert_eq!(server.get(&page(5), Some(&p_cookie)).await.status, 404);
    assert_eq!(server.get(&page(0), Some(&p_cookie)).await.status, 200);
    let (_, v5, e5) = idea(&db, idea_id(5)).await;
    let v = v5.to_string();
    let fields = [("action", "give_feedback"), ("version", v.as_str()), ("form_key", "idor-2"), ("feedback", "Bra.")];
    assert_eq!(server.post(&format!("{}/kommando", page(5)), Some(&p_cookie), &fields).await.status, 404);
    assert_eq!(idea(&db, idea_id(5)).await.2, e5);
    assert!(log.text().lines().any(|l| l.contains("refused") && l.contains(&idea_id(5).to_string())));

    // The board sees what was prepared for it, not what never reached it.
    let board = only(&round, |r| matches!(r, Role::BoardMember));
    let b_cookie = server.sign_in(&email(&round, board)).await;
    assert_eq!(server.get(&page(0), Some(&b_cookie)).await.status, 200);
    assert_eq!(server.get(&page(10), Some(&b_cookie)).await.status, 404);
    // Nor the process leader's page.
    assert_eq!(server.get("/admin", Some(&b_cookie)).await.status, 404);
    assert_eq!(server.get("/admin", Some(&a_cookie)).await.status, 404);
    assert!(log.text().contains("refused the process leader's page"));
    let leader_cookie = server.sign_in(&email(&round, round.process_leader)).await;
    assert_eq!(server.get("/admin", Some(&leader_cookie)).await.status, 200);

    // A member of another sector group does not see this call's pipeline,
    // nor select in it; this call's sector group does.
    let other_group =
        SectorGroup { id: SectorGroupId::from_uuid(Uuid::new_v4()), name: Title::parse("Skola").unwrap() };
    db.add_sector_group(&other_group, ChangedBy::CommandLine).await.unwrap();
    let outsider = lead_of(&round, 20);
    db.grant_role(outsider, Role::SectorGroupMember { group: other_group.id }, ChangedBy::CommandLine).await.unwrap();
    db.set_password(outsider, &Password::new(PASSWORD).unwrap(), ChangedBy::CommandLine).await.unwrap();
    let o_cookie = server.sign_in(&email(&round, outsider)).await;
    let pipeline = format!("/utlysningar/{}/pipeline", round.call_id);
    let r = server.get(&pipeline, Some(&o_cookie)).await;
    assert_eq!(r.status, 404, "{r:?}");
    let r = server
        .post(
            &format!("/utlysningar/{}/urval", round.call_id),
            Some(&o_cookie),
            &[("form_key", "x"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    assert!(log.text().lines().any(|l| l.contains("refused a staff page") && l.contains(&outsider.to_string())));
    let member = only(&round, |r| matches!(r, Role::SectorGroupMember { .. }));
    let m_cookie = server.sign_in(&email(&round, member)).await;
    assert_eq!(server.get(&pipeline, Some(&m_cookie)).await.status, 200);
}

// ---------------------------------------------------------------------------
// 6. Commands through forms

on_both_backends!(commands_through_forms);

async fn commands_through_forms(test: &TestDb) {
    let db = test.db.clone();
    let round = round(test, 6, Upto::Selection).await;
    let member = only(&round, |r| matches!(r, Role::SectorGroupMember { .. }));
    let server = Server::start(db.clone(), 1000).await;
    let cookie = server.sign_in(&email(&round, member)).await;
    let idea_id = |n: usize| round.ideas[n].id;

    // A stale page: the version it showed is not the idea's any more.
    let target = idea_id(0);
    let page = format!("/ideer/{target}");
    let r = server.get(&page, Some(&cookie)).await;
    assert_eq!(r.status, 200, "{r:?}");
    let (_, version, events) = idea(&db, target).await;
    assert!(r.body.contains(&format!("name=\"version\" value=\"{version}\"")), "the page's version: {}", r.body);
    let stale = (version - 1).to_string();
    let fields = [("action", "select"), ("version", stale.as_str()), ("form_key", "stale-1")];
    let r = server.post(&format!("{page}/kommando"), Some(&cookie), &fields).await;
    assert_eq!(r.see_other(), page);
    let r = server.get(&page, Some(&cookie)).await;
    assert!(r.body.contains("Någon annan hann ändra idén"), "{}", r.body);
    let (state, v, n) = idea(&db, target).await;
    assert_eq!((state.stage(), v, n), (Stage::Submitted, version, events), "nothing written");
    // The flash is shown once.
    assert!(!server.get(&page, Some(&cookie)).await.body.contains("Någon annan hann ändra idén"));

    // The same form twice (a double click): one event.
    let current = version.to_string();
    let fields = [("action", "select"), ("version", current.as_str()), ("form_key", "double-1")];
    for _ in 0..2 {
        let r = server.post(&format!("{page}/kommando"), Some(&cookie), &fields).await;
        assert_eq!(r.see_other(), page);
        let r = server.get(&page, Some(&cookie)).await;
        assert!(!r.body.contains("flash error"), "{}", r.body);
    }
    let (state, v, n) = idea(&db, target).await;
    assert_eq!((state.stage(), v, n), (Stage::Selected, version + 1, events + 1));

    // An applicant cannot take the sector group's action on their own idea.
    let own = idea_id(4);
    let applicant = server.sign_in_by_link(&email(&round, lead_of(&round, 4))).await;
    let (_, v4, e4) = idea(&db, own).await;
    let v = v4.to_string();
    let fields = [("action", "select"), ("version", v.as_str()), ("form_key", "own-1")];
    let r = server.post(&format!("/ideer/{own}/kommando"), Some(&applicant), &fields).await;
    assert_eq!(r.see_other(), format!("/ideer/{own}"));
    let r = server.get(&format!("/ideer/{own}"), Some(&applicant)).await;
    assert!(r.body.contains("flash error"), "refused: {}", r.body);
    let (state, v, n) = idea(&db, own).await;
    assert_eq!((state.stage(), v, n), (Stage::Submitted, v4, e4), "nothing written");

    // The selection screen.
    let pipeline = format!("/utlysningar/{}/pipeline", round.call_id);
    let urval = format!("/utlysningar/{}/urval", round.call_id);
    let r = server.get(&pipeline, Some(&cookie)).await;
    assert_eq!(r.status, 200, "{r:?}");
    let key = r.field("form_key");
    for n in 1..26 {
        assert!(r.body.contains(&format!("name=\"choice_{}\"", idea_id(n))), "idea {n} selectable: {}", r.body);
    }
    let snapshot = |ns: std::ops::Range<usize>| {
        let db = db.clone();
        let ids: Vec<IdeaId> = ns.map(idea_id).collect();
        async move {
            let mut out = Vec::new();
            for id in ids {
                let (s, v, n) = idea(&db, id).await;
                out.push((s.stage(), v, n));
            }
            out
        }
    };
    let before = snapshot(1..26).await;
    let outbox_before = db.outbox(None, 1000).await.unwrap().len();
    let names: Vec<(String, String)> =
        (0..26).map(|n| (format!("choice_{}", idea_id(n)), format!("motivation_{}", idea_id(n)))).collect();

    // Over capacity: one selected already, ten more asked for.
    let mut fields: Vec<(&str, &str)> = vec![("form_key", key.as_str())];
    for (choice, _) in &names[1..=10] {
        fields.push((choice.as_str(), "select"));
    }
    let r = server.post(&urval, Some(&cookie), &fields).await;
    assert_eq!(r.see_other(), pipeline);
    let r = server.get(&pipeline, Some(&cookie)).await;
    assert!(r.body.contains("Du kan välja ut högst 10"), "{}", r.body);
    assert!(r.body.contains("redan utvalda: 1"), "{}", r.body);
    // Also with confirm=yes straight away.
    fields.push(("confirm", "yes"));
    let r = server.post(&urval, Some(&cookie), &fields).await;
    assert_eq!(r.see_other(), pipeline);
    assert!(server.get(&pipeline, Some(&cookie)).await.body.contains("Du kan välja ut högst 10"));
    assert_eq!(snapshot(1..26).await, before, "nothing written");

    // Not selected without a motivation: refused, even when confirmed.
    for confirm in [None, Some("yes")] {
        let mut fields: Vec<(&str, &str)> =
            vec![("form_key", key.as_str()), (names[11].0.as_str(), "not_select"), (names[11].1.as_str(), "  ")];
        fields.extend(confirm.map(|c| ("confirm", c)));
        let r = server.post(&urval, Some(&cookie), &fields).await;
        assert_eq!(r.see_other(), pipeline);
        let r = server.get(&pipeline, Some(&cookie)).await;
        assert!(r.body.contains("Skriv en motivering."), "{}", r.body);
        assert!(r.body.contains(&html(round.ideas[11].title)), "which idea: {}", r.body);
    }
    assert_eq!(snapshot(1..26).await, before, "nothing written");

    // Three selected and one not: first a summary to confirm, which writes
    // nothing…
    let why = "Idén ligger utanför utlysningens teman.";
    let mut fields: Vec<(&str, &str)> = vec![("form_key", key.as_str())];
    for (choice, _) in &names[1..=3] {
        fields.push((choice.as_str(), "select"));
    }
    fields.push((names[11].0.as_str(), "not_select"));
    fields.push((names[11].1.as_str(), why));
    let r = server.post(&urval, Some(&cookie), &fields).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("Bekräfta urvalet"), "{}", r.body);
    assert!(r.body.contains("name=\"confirm\" value=\"yes\""), "{}", r.body);
    assert!(r.body.contains(&html(why)), "{}", r.body);
    assert_eq!(snapshot(1..26).await, before, "nothing written before the confirmation");
    assert_eq!(db.outbox(None, 1000).await.unwrap().len(), outbox_before);

    // …then, confirmed, the decisions and their mails.
    fields.push(("confirm", "yes"));
    let r = server.post(&urval, Some(&cookie), &fields).await;
    assert_eq!(r.see_other(), pipeline);
    let r = server.get(&pipeline, Some(&cookie)).await;
    assert!(r.body.contains("Antal beslut som sparats: 4"), "{}", r.body);
    assert!(!r.body.contains("flash error"), "{}", r.body);
    let after = snapshot(1..26).await;
    for n in 1..26 {
        let (stage, v, e) = after[n - 1];
        let (_, v0, e0) = before[n - 1];
        let expected = match n {
            1..=3 => Stage::Selected,
            11 => Stage::NotSelected,
            _ => Stage::Submitted,
        };
        assert_eq!(stage, expected, "idea {n}");
        if expected == Stage::Submitted {
            assert_eq!((v, e), (v0, e0), "idea {n} untouched");
        } else {
            assert_eq!((v, e), (v0 + 1, e0 + 1), "idea {n}: one event");
        }
    }
    let state = db.idea(idea_id(11)).await.unwrap().unwrap().state;
    assert!(format!("{state:?}").contains(why), "the motivation is kept: {state:?}");
    let outbox = db.outbox(None, 1000).await.unwrap();
    assert!(outbox.len() > outbox_before, "mails queued");
    for n in [1, 2, 3, 11] {
        assert!(outbox.iter().any(|row| row.idea_id == idea_id(n)), "a mail about idea {n}");
    }
    let queued = outbox.len();

    // The same confirmation again: nothing more.
    let r = server.post(&urval, Some(&cookie), &fields).await;
    assert_eq!(r.see_other(), pipeline);
    assert_eq!(snapshot(1..26).await, after);
    assert_eq!(db.outbox(None, 1000).await.unwrap().len(), queued);

    // A form's way back is a path on this site only.
    let (_, v20, _) = idea(&db, idea_id(20)).await;
    let v = v20.to_string();
    let fields =
        [("action", "select"), ("version", v.as_str()), ("form_key", "back-1"), ("tillbaka", "//evil.example/")];
    let r = server.post(&format!("/ideer/{}/kommando", idea_id(20)), Some(&cookie), &fields).await;
    assert_eq!(r.see_other(), "/");
    assert_eq!(idea(&db, idea_id(20)).await.0.stage(), Stage::Selected);
}

// ---------------------------------------------------------------------------
// 7. The public submission form

on_both_backends!(the_public_submission_form);

async fn the_public_submission_form(test: &TestDb) {
    let db = test.db.clone();
    let round = round(test, 7, Upto::Selection).await;
    let call_id = common::open_copy_now(&db, &round, "Framtidens omsorg, andra omgången").await;
    let server = Server::start(db.clone(), 1000).await;
    let page = format!("/utlysningar/{call_id}");
    let r = server.get(&page, None).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains(&format!("action=\"{page}/ansok\"")), "a form: {}", r.body);
    let key = r.field("form_key");
    let theme = round.definition.themes[0].to_string();
    let organisation = round.organisations[1].id.to_string();
    let summary = "Vi vill pröva mötesplatser där unga undersköterskor lär av varandra.";

    // Bad input: every problem listed, everything typed kept.
    let bad = [
        ("form_key", key.as_str()),
        ("name", "Nora Ny"),
        ("email", "inte-en-adress"),
        ("organisation", ""),
        ("title", "  "),
        ("summary", summary),
        ("theme", theme.as_str()),
        ("language", "sv"),
    ];
    let r = server.post(&format!("{page}/ansok"), None, &bad).await;
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.body.contains("Formuläret behöver rättas"), "{}", r.body);
    for problem in ["Idéns titel:", "Din e-postadress:", "Välj en organisation i listan."] {
        assert!(r.body.contains(&html(problem)), "{problem}: {}", r.body);
    }
    assert!(r.body.contains("value=\"Nora Ny\""), "{}", r.body);
    assert!(r.body.contains("value=\"inte-en-adress\""), "{}", r.body);
    assert!(r.body.contains(&html(summary)), "{}", r.body);
    assert!(r.body.contains(&format!("<option selected>{}</option>", html(&theme))), "{}", r.body);
    assert!(db.ideas(call_id, None).await.unwrap().is_empty());

    // A good submission: thanks, a new applicant, one idea.
    let address = "nora.ny@example.org";
    let good = [
        ("form_key", key.as_str()),
        ("name", "Nora Ny"),
        ("email", address),
        ("organisation", organisation.as_str()),
        ("title", "Mötesplatser för unga i omsorgen"),
        ("summary", summary),
        ("theme", theme.as_str()),
        ("language", "sv"),
    ];
    let r = server.post(&format!("{page}/ansok"), None, &good).await;
    assert_eq!(r.see_other(), format!("{page}/tack"));
    assert_eq!(server.get(&format!("{page}/tack"), None).await.status, 200);
    let parsed = mops_core::domain::Email::parse(address).unwrap();
    let user = db.user_by_email(&parsed).await.unwrap().expect("the applicant is registered");
    assert!(!user.has_password && user.roles.is_empty(), "{user:?}");
    let ideas = db.ideas(call_id, None).await.unwrap();
    assert_eq!(ideas.len(), 1);
    let submitted = ideas[0].state.idea().unwrap();
    assert_eq!((ideas[0].state.stage(), submitted.lead.person), (Stage::Submitted, user.id));
    assert_eq!(submitted.details.title.to_string(), "Mötesplatser för unga i omsorgen");
    // The same form again (a double click): still one idea.
    let r = server.post(&format!("{page}/ansok"), None, &good).await;
    assert_eq!(r.see_other(), format!("{page}/tack"));
    assert_eq!(db.ideas(call_id, None).await.unwrap().len(), 1);
    // A new form (a new key) is a new idea. What an applicant typed is
    // shown as text on the staff's pages, never as markup.
    let again = server.get(&page, None).await.field("form_key");
    assert_ne!(again, key);
    let markup = "Idé <script>alert(\"x\")</script> & <b>fet</b>";
    let mut second = good;
    second[0].1 = again.as_str();
    second[4].1 = markup;
    assert_eq!(server.post(&format!("{page}/ansok"), None, &second).await.see_other(), format!("{page}/tack"));
    let ideas = db.ideas(call_id, None).await.unwrap();
    assert_eq!(ideas.len(), 2);
    let id = ideas.iter().find_map(|i| i.state.idea().filter(|i| i.details.title.to_string() == markup)).unwrap().id;
    let member = server.sign_in(&email(&round, only(&round, |r| matches!(r, Role::SectorGroupMember { .. })))).await;
    for path in [format!("/ideer/{id}"), format!("/utlysningar/{call_id}/pipeline")] {
        let r = server.get(&path, Some(&member)).await;
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert!(r.body.contains(&html(markup)), "{path}: {}", r.body);
        assert!(!r.body.contains("<script") && !r.body.contains("<b>"), "{path}: {}", r.body);
    }
}

on_both_backends!(a_refused_submission_says_why);

/// The 2010 call is no longer open (its deadline passed while the applicant
/// was writing, say): the submission is refused, and the page says why.
async fn a_refused_submission_says_why(test: &TestDb) {
    let db = test.db.clone();
    let round = round(test, 8, Upto::Selection).await;
    let server = Server::start(db.clone(), 1000).await;
    let page = format!("/utlysningar/{}", round.call_id);
    let ideas = db.ideas(round.call_id, None).await.unwrap().len();
    let theme = round.definition.themes[0].to_string();
    let organisation = round.organisations[0].id.to_string();
    let late = [
        ("form_key", "late-1"),
        ("name", "Sune Sen"),
        ("email", "sune.sen@example.org"),
        ("organisation", organisation.as_str()),
        ("title", "En idé som kom för sent"),
        ("summary", "Idén skrevs färdig efter att utlysningen hade stängt."),
        ("theme", theme.as_str()),
        ("language", "sv"),
    ];
    let r = server.post(&format!("{page}/ansok"), None, &late).await;
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(db.ideas(round.call_id, None).await.unwrap().len(), ideas, "nothing submitted");
    assert!(r.body.contains("role=\"alert\""), "the refusal is shown to the person: {}", r.body);
}

on_both_backends!(a_draft_call_is_hidden_from_the_public);

/// A call still in draft answers every public path like one that does not
/// exist.
async fn a_draft_call_is_hidden_from_the_public(test: &TestDb) {
    let db = test.db.clone();
    let round = round(test, 9, Upto::Open).await;
    let draft = CallId::from_uuid(Uuid::new_v4());
    db.execute_call(CallRequest {
        call: draft,
        command: &CallCommand::Create { id: draft, definition: Box::new(round.definition.clone()) },
        actor: &round.actor(round.process_leader),
        now: Utc::now(),
        expected_version: None,
        idempotency_key: None,
    })
    .await
    .expect("a draft call");
    let server = Server::start(db.clone(), 1000).await;
    let unknown = CallId::from_uuid(Uuid::new_v4());
    for suffix in ["", "/tack"] {
        let u = server.get(&format!("/utlysningar/{unknown}{suffix}"), None).await;
        assert_eq!(u.status, 404, "{u:?}");
        let d = server.get(&format!("/utlysningar/{draft}{suffix}"), None).await;
        assert_eq!(d.status, 404, "/utlysningar/{{draft}}{suffix} answers like an unknown call: {d:?}");
        assert_eq!(d.body, u.body, "{suffix}");
    }
    // The process leader sees it.
    let cookie = server.sign_in(&email(&round, round.process_leader)).await;
    assert_eq!(server.get(&format!("/utlysningar/{draft}"), Some(&cookie)).await.status, 200);
}

on_both_backends!(the_minutes_are_for_who_sees_the_board_page);

/// The minutes of the meeting that decided a call's ideas are for the same
/// people as the call's board page.
async fn the_minutes_are_for_who_sees_the_board_page(test: &TestDb) {
    let db = test.db.clone();
    let round = round(test, 10, Upto::End).await;
    let server = Server::start(db.clone(), 1000).await;
    let board = server.sign_in(&email(&round, only(&round, |r| matches!(r, Role::BoardMember)))).await;
    let leader = server.sign_in(&email(&round, round.process_leader)).await;
    let member = server.sign_in(&email(&round, only(&round, |r| matches!(r, Role::SectorGroupMember { .. })))).await;
    let panelist = server.sign_in(&email(&round, only(&round, |r| matches!(r, Role::PanelMember { .. })))).await;
    let applicant = server.sign_in_by_link(&email(&round, lead_of(&round, 0))).await;
    let other_group =
        SectorGroup { id: SectorGroupId::from_uuid(Uuid::new_v4()), name: Title::parse("Skola").unwrap() };
    db.add_sector_group(&other_group, ChangedBy::CommandLine).await.unwrap();
    let outsider = lead_of(&round, 20);
    db.grant_role(outsider, Role::SectorGroupMember { group: other_group.id }, ChangedBy::CommandLine).await.unwrap();
    db.set_password(outsider, &Password::new(PASSWORD).unwrap(), ChangedBy::CommandLine).await.unwrap();
    let outsider = server.sign_in(&email(&round, outsider)).await;

    // The round's decisions were taken at its board meeting.
    let minutes = format!("/protokoll/{}", round.meeting.id);
    let r = server.get(&minutes, Some(&board)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains(&html(round.ideas[0].title)), "a granted idea in the minutes: {}", r.body);
    // Who may see the call's board page may read its minutes; who may not, may not.
    let board_page = format!("/utlysningar/{}/beslut", round.call_id);
    for (who, cookie, status) in [
        ("the board", &board, 200),
        ("the process leader", &leader, 200),
        ("the call's sector group", &member, 200),
        ("a panel member", &panelist, 404),
        ("an applicant", &applicant, 404),
        ("another sector group", &outsider, 404),
    ] {
        assert_eq!(server.get(&board_page, Some(cookie)).await.status, status, "{who}: the board page");
        assert_eq!(server.get(&minutes, Some(cookie)).await.status, status, "{who}: the minutes");
    }
}

on_both_backends!(the_board_page_links_to_its_minutes);

async fn the_board_page_links_to_its_minutes(test: &TestDb) {
    let round = round(test, 11, Upto::End).await;
    let server = Server::start(test.db.clone(), 1000).await;
    let board = server.sign_in(&email(&round, only(&round, |r| matches!(r, Role::BoardMember)))).await;
    let r = server.get(&format!("/utlysningar/{}/beslut", round.call_id), Some(&board)).await;
    assert_eq!(r.status, 200, "{r:?}");
    let start = r.body.find("href=\"/protokoll/").expect("a link to the minutes") + "href=\"".len();
    let link = r.body[start..].split('"').next().unwrap().to_owned();
    let r = server.get(&link, Some(&board)).await;
    assert_eq!(
        r.status, 200,
        "{link} opens the minutes of the call's decisions (/protokoll/{}): {r:?}",
        round.meeting.id
    );
    assert!(r.body.contains(&html(round.ideas[0].title)), "a granted idea in the minutes: {}", r.body);
}

// ---------------------------------------------------------------------------
// 8. Rate limits

on_both_backends!(sign_in_is_rate_limited);

async fn sign_in_is_rate_limited(test: &TestDb) {
    let server = Server::start(test.db.clone(), 3).await;
    let attempt = [("email", "nagon@example.org"), ("password", "gissning")];
    for n in 1..=3 {
        let r = server.post("/logga-in", None, &attempt).await;
        assert_eq!(r.status, 401, "attempt {n}: {r:?}");
    }
    let r = server.post("/logga-in", None, &attempt).await;
    assert_eq!(r.status, 429, "the fourth attempt: {r:?}");
    // The limit is per address across the limited forms; pages still answer.
    let r = server.post("/inloggningslank", None, &[("email", "nagon@example.org")]).await;
    assert_eq!(r.status, 429, "{r:?}");
    let r = server.post("/glomt-losenord", None, &[("email", "nagon@example.org")]).await;
    assert_eq!(r.status, 429, "{r:?}");
    assert_eq!(server.get("/logga-in", None).await.status, 200);
}

// ---------------------------------------------------------------------------
// 9. Language

on_both_backends!(swedish_by_default_english_on_request);

async fn swedish_by_default_english_on_request(test: &TestDb) {
    let server = Server::start(test.db.clone(), 1000).await;
    let r = server.get("/", None).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("<html lang=\"sv\">"), "{}", r.body);
    assert!(r.body.contains("Utlysningar"), "{}", r.body);

    let r = server.get("/sprak/en?tillbaka=/logga-in", None).await;
    assert_eq!(r.see_other(), "/logga-in");
    let line = r.set_cookie("mops_lang").expect("a language cookie");
    assert!(line.starts_with("mops_lang=en;") && line.contains("Path=/"), "{line}");
    let cookie = line.split(';').next().unwrap().to_owned();
    let r = server.get("/", Some(&cookie)).await;
    assert!(r.body.contains("<html lang=\"en\">"), "{}", r.body);
    assert!(r.body.contains("Calls for ideas"), "{}", r.body);
    assert!(!r.body.contains("Utlysningar"), "{}", r.body);
    let r = server.get("/logga-in", Some(&cookie)).await;
    assert!(r.body.contains("<html lang=\"en\">") && r.body.contains("Sign in"), "{}", r.body);

    // Back to Swedish; and the switch goes back only to a path on this site.
    let r = server.get("/sprak/sv?tillbaka=/", Some(&cookie)).await;
    assert_eq!(r.see_other(), "/");
    assert!(r.set_cookie("mops_lang").is_some_and(|l| l.starts_with("mops_lang=sv;")), "{r:?}");
    assert_eq!(server.get("/sprak/en?tillbaka=//evil.example", None).await.see_other(), "/");
    assert_eq!(server.get("/sprak/en?tillbaka=https://evil.example", None).await.see_other(), "/");
}

// ---------------------------------------------------------------------------
// 10. The process leader's call form, people and roles

/// What the templates escaped, back as typed.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

/// The fields of the first `<form method="post" action="{action}">` on a
/// page as a browser would send them: inputs, textareas and the selected
/// option of each select.
fn form_fields(body: &str, action: &str) -> Vec<(String, String)> {
    let start = body.find(&format!("action=\"{}\"", html(action))).unwrap_or_else(|| panic!("a form to {action}"));
    let form = &body[start..start + body[start..].find("</form>").expect("the form ends")];
    let attr = |tag: &str, name: &str| {
        let needle = format!(" {name}=\"");
        tag.find(&needle).map(|i| unescape(tag[i + needle.len()..].split('"').next().unwrap_or("")))
    };
    let mut fields = Vec::new();
    let mut rest = form;
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        let end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..end];
        if tag.starts_with("<input") {
            // As a browser sends it: an unchecked checkbox not at all.
            let unchecked = tag.contains("type=\"checkbox\"") && !tag.contains(" checked");
            if let Some(name) = attr(tag, "name").filter(|_| !unchecked) {
                fields.push((name, attr(tag, "value").unwrap_or_default()));
            }
        } else if tag.starts_with("<textarea") {
            let name = attr(tag, "name").expect("a named textarea");
            let text = &rest[end + 1..];
            fields.push((name, unescape(&text[..text.find("</textarea>").unwrap()])));
        } else if tag.starts_with("<select") {
            let name = attr(tag, "name").expect("a named select");
            let options = &rest[..rest.find("</select>").unwrap()];
            let selected = options.split("<option").find(|o| o.contains(" selected")).and_then(|o| attr(o, "value"));
            fields.push((name, selected.unwrap_or_default()));
        }
        rest = &rest[end.min(rest.len())..];
        if rest.len() > 1 {
            rest = &rest[1..];
        }
    }
    fields
}

fn set(fields: &mut [(String, String)], name: &str, value: &str) {
    let field = fields.iter_mut().find(|(n, _)| n == name).unwrap_or_else(|| panic!("a field {name}"));
    field.1 = value.to_owned();
}

async fn post_fields(server: &Server, path: &str, cookie: &str, fields: &[(String, String)]) -> Reply {
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    server.post(path, Some(cookie), &pairs).await
}

on_both_backends!(the_process_leader_sets_up_calls_and_people);

async fn the_process_leader_sets_up_calls_and_people(test: &TestDb) {
    let round = round(test, 20, Upto::End).await;
    let server = Server::start(test.db.clone(), 1000).await;
    let leader = server.sign_in(&email(&round, round.process_leader)).await;
    let board_member = only(&round, |r| matches!(r, Role::BoardMember));
    let board = server.sign_in(&email(&round, board_member)).await;

    // Only the process leader has the form.
    assert_eq!(server.get("/admin/utlysningar/ny", Some(&board)).await.status, 404);

    // Next year's call from last year's: the same texts, every date a year on.
    let page = server.get(&format!("/admin/utlysningar/ny?fran={}", round.call_id), Some(&leader)).await;
    assert_eq!(page.status, 200, "{page:?}");
    let mut fields = form_fields(&page.body, "/admin/utlysningar/ny");
    let value = |fields: &[(String, String)], name: &str| fields.iter().find(|(n, _)| n == name).unwrap().1.clone();
    assert_eq!(value(&fields, "title"), round.definition.title.to_string());
    assert!(value(&fields, "opens_at").starts_with("2011-"), "{fields:?}");
    // One row per section, its English too, and two empty rows to fill in.
    for (i, section) in round.definition.template.iter().enumerate() {
        assert_eq!(value(&fields, &format!("section_{i}_key")), section.key.to_string());
        assert_eq!(value(&fields, &format!("section_{i}_title_en")), section.title.en.as_ref().unwrap().to_string());
        let mandatory = fields.iter().any(|(n, _)| *n == format!("section_{i}_mandatory"));
        assert_eq!(mandatory, section.mandatory, "section {i} is ticked as mandatory only if it is");
    }
    let rows = round.definition.template.len();
    assert_eq!(value(&fields, &format!("section_{}_key", rows + 1)), "", "two empty rows");
    assert!(!fields.iter().any(|(n, _)| *n == format!("section_{}_key", rows + 2)), "and no more");

    // Bad input: every problem is listed, nothing is created.
    set(&mut fields, "budget", "en miljon");
    set(&mut fields, "closes_at", "igår");
    let r = post_fields(&server, "/admin/utlysningar/ny", &leader, &fields).await;
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.body.contains("Budget") && r.body.contains("Sista dag för idéer"), "{}", r.body);
    assert_eq!(test.db.calls().await.unwrap().len(), 1);
    // A timeline out of order is the core's problem, in Swedish.
    let mut fields = form_fields(&page.body, "/admin/utlysningar/ny");
    let opens = value(&fields, "opens_at");
    set(&mut fields, "closes_at", &opens);
    let r = post_fields(&server, "/admin/utlysningar/ny", &leader, &fields).await;
    assert_eq!(r.status, 422, "{r:?}");
    assert!(
        r.body.contains("<a href=\"#closes_at\">sista dag för idéer måste ligga efter öppningsdagen"),
        "the summary links to the field: {}",
        r.body
    );

    // A good one is created as a draft, once however often it is sent.
    let mut fields = form_fields(&page.body, "/admin/utlysningar/ny");
    set(&mut fields, "title", "Samhällskontraktet 2011");
    set(&mut fields, "capacity", "8");
    for _ in 0..2 {
        let r = post_fields(&server, "/admin/utlysningar/ny", &leader, &fields).await;
        assert_eq!(r.see_other(), "/admin");
    }
    let calls = test.db.calls().await.unwrap();
    assert_eq!(calls.len(), 2, "one new call");
    let new = calls.iter().filter_map(|c| c.state.call()).find(|c| c.id != round.call_id).unwrap().clone();
    assert_eq!(new.phase, CallPhase::Draft);
    assert_eq!(new.definition.title.to_string(), "Samhällskontraktet 2011");
    assert_eq!(new.definition.capacity, 8);
    assert_eq!(new.definition.budget, round.definition.budget);
    assert_eq!(new.definition.template, round.definition.template, "the template, English too, is kept");
    assert_eq!(new.definition.criteria, round.definition.criteria);
    let year = chrono::Duration::days(365);
    let moved = new.definition.timeline.closes_at - round.definition.timeline.closes_at;
    assert!(moved >= year && moved <= year + chrono::Duration::days(1), "a year later: {moved}");

    // Edited while a draft; a stale form is refused.
    let edit = format!("/admin/utlysningar/{}/andra", new.id);
    let page = server.get(&edit, Some(&leader)).await;
    assert_eq!(page.status, 200, "{page:?}");
    let mut fields = form_fields(&page.body, &edit);
    set(&mut fields, "capacity", "12");
    let r = post_fields(&server, &edit, &leader, &fields).await;
    assert_eq!(r.see_other(), "/admin");
    let stored = test.db.call(new.id).await.unwrap().unwrap();
    assert_eq!(stored.state.call().unwrap().definition.capacity, 12);
    set(&mut fields, "capacity", "4");
    set(&mut fields, "form_key", "another-try");
    let r = post_fields(&server, &edit, &leader, &fields).await;
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.body.contains("Någon annan hann ändra utlysningen"), "{}", r.body);
    assert_eq!(test.db.call(new.id).await.unwrap().unwrap().state.call().unwrap().definition.capacity, 12);
    // The 2010 call is finished: not editable.
    let r = server.get(&format!("/admin/utlysningar/{}/andra", round.call_id), Some(&leader)).await;
    assert_eq!(r.see_other(), "/admin");

    // People: a new staff member, a role, and what the role opens.
    let r = server
        .post(
            "/admin/personer",
            Some(&leader),
            &[
                ("name", "Per Persson"),
                ("email", "per.persson@example.se"),
                ("password", "ett-långt-lösenord"),
                ("language", "sv"),
            ],
        )
        .await;
    assert_eq!(r.see_other(), "/admin#people-heading");
    let per = test.db.user_by_email(&mops_core::domain::Email::parse("per.persson@example.se").unwrap()).await.unwrap();
    let per = per.expect("the person is added");
    let r = server
        .post(
            "/logga-in",
            None,
            &[("email", "per.persson@example.se"), ("password", "ett-långt-lösenord"), ("nasta", "/")],
        )
        .await;
    assert_eq!(r.see_other(), "/");
    let per_session = r.session();
    let board_page = format!("/utlysningar/{}/beslut", round.call_id);
    assert_eq!(server.get(&board_page, Some(&per_session)).await.status, 404, "no role, no board page");
    let person = per.id.to_string();
    let r = server.post("/admin/roller", Some(&leader), &[("person", &person), ("role", "board"), ("scope", "")]).await;
    assert_eq!(r.see_other(), "/admin#people-heading");
    assert_eq!(server.get(&board_page, Some(&per_session)).await.status, 200, "the board page opens");
    let r = server
        .post("/admin/roller/ta-bort", Some(&leader), &[("person", &person), ("role", "board"), ("scope", "")])
        .await;
    assert_eq!(r.see_other(), "/admin#people-heading");
    assert_eq!(server.get(&board_page, Some(&per_session)).await.status, 404, "and closes again");
    // A role that needs a scope, without one, is refused with a message.
    server.post("/admin/roller", Some(&leader), &[("person", &person), ("role", "panel"), ("scope", "")]).await;
    let admin = server.get("/admin", Some(&leader)).await;
    assert!(admin.body.contains("flash error"), "{}", admin.body);
    // Only the process leader manages people.
    let r = server.post("/admin/roller", Some(&board), &[("person", &person), ("role", "process-leader")]).await;
    assert_eq!(r.status, 404, "{r:?}");
    assert!(!test.db.user(per.id).await.unwrap().unwrap().actor().is_process_leader());
    // An API token for an integration: shown once, works, and stops working
    // when revoked.
    let r = server.post("/admin/nycklar", Some(&leader), &[("person", &person), ("name", "Diariesystemet")]).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("cache-control"), Some("no-store"), "the secret is not cached");
    let start = r.body.find("value=\"mops_").expect("the secret is shown") + "value=\"".len();
    let secret: String = r.body[start..].chars().take_while(|c| *c != '"').collect();
    let api = |secret: String| {
        let addr = server.addr;
        async move {
            request(addr, "GET", "/api/v1/calls", &[("Authorization", &format!("Bearer {secret}"))], "").await.status
        }
    };
    assert_eq!(api(secret.clone()).await, 200);
    let token = test.db.tokens(Some(per.id)).await.unwrap();
    assert_eq!(token.len(), 1);
    assert!(server.get("/admin", Some(&leader)).await.body.contains("Diariesystemet"));
    let r = server.post(&format!("/admin/nycklar/{}/aterkalla", token[0].id), Some(&leader), &[]).await;
    assert_eq!(r.see_other(), "/admin#tokens-heading");
    assert_eq!(api(secret).await, 401, "a revoked token no longer works");
    let r = server.post("/admin/nycklar", Some(&board), &[("person", &person), ("name", "Smuggel")]).await;
    assert_eq!(r.status, 404, "only the process leader makes tokens");

    // The account disabled: signed out, no sign-in, no token; then enabled
    // again. Only the process leader may, and not their own account.
    let r = server.post("/admin/nycklar", Some(&leader), &[("person", &person), ("name", "Arkivet")]).await;
    let start = r.body.find("value=\"mops_").expect("the secret is shown") + "value=\"".len();
    let secret: String = r.body[start..].chars().take_while(|c| *c != '"').collect();
    assert_eq!(server.post(&format!("/admin/personer/{person}/stang-av"), Some(&board), &[]).await.status, 404);
    assert!(!test.db.user(per.id).await.unwrap().unwrap().disabled, "the board may not");
    let r = server.post(&format!("/admin/personer/{person}/stang-av"), Some(&leader), &[]).await;
    assert_eq!(r.see_other(), "/admin#people-heading");
    assert!(server.get("/admin", Some(&leader)).await.body.contains("Kontot är avstängt"));
    assert!(test.db.user(per.id).await.unwrap().unwrap().disabled);
    assert_eq!(api(secret.clone()).await, 401, "a disabled person's token does not work");
    let again = [("email", "per.persson@example.se"), ("password", "ett-långt-lösenord"), ("nasta", "/")];
    assert_eq!(server.post("/logga-in", None, &again).await.status, 401, "nor does their password");
    let r = server.post(&format!("/admin/personer/{person}/aktivera"), Some(&leader), &[]).await;
    assert_eq!(r.see_other(), "/admin#people-heading");
    assert!(server.get("/admin", Some(&leader)).await.body.contains("Kontot är aktiverat igen"));
    assert_eq!(api(secret).await, 200, "enabled again, the token works");
    assert_eq!(server.post("/logga-in", None, &again).await.see_other(), "/");
    let me = round.process_leader.to_string();
    server.post(&format!("/admin/personer/{me}/stang-av"), Some(&leader), &[]).await;
    assert!(server.get("/admin", Some(&leader)).await.body.contains("Du kan inte stänga av ditt eget konto"));
    assert!(!test.db.user(round.process_leader).await.unwrap().unwrap().disabled);

    let log = test.db.people_log(Some(per.id)).await.unwrap();
    assert!(log.iter().any(|e| e.action == "role_granted" && e.actor_id == Some(round.process_leader)), "{log:?}");
    for action in ["user_disabled", "user_enabled"] {
        assert!(log.iter().any(|e| e.action == action && e.actor_id == Some(round.process_leader)), "{log:?}");
    }
}

// ---------------------------------------------------------------------------
// 11. The pages not walked above: outbox, seminars, the panel's recusals

on_both_backends!(the_call_form_edits_sections_seminars_and_criteria_row_by_row);

/// The plan template, the seminars and the criteria are rows of labelled
/// fields, English included: edited, added through an empty row, removed by
/// emptying a row or ticking Remove, and a wrong row is named.
async fn the_call_form_edits_sections_seminars_and_criteria_row_by_row(test: &TestDb) {
    use mops_core::call::TemplateSection;
    use mops_core::domain::{LocalizedText, SectionKey};

    let round = round(test, 26, Upto::Open).await;
    let server = Server::start(test.db.clone(), 1000).await;
    let leader = server.sign_in(&email(&round, round.process_leader)).await;
    let last_year = &round.definition;
    let copy = format!("/admin/utlysningar/ny?fran={}", round.call_id);
    let page = server.get(&copy, Some(&leader)).await;
    assert_eq!(page.status, 200, "{page:?}");
    let original = form_fields(&page.body, "/admin/utlysningar/ny");
    let value = |fields: &[(String, String)], name: &str| {
        fields.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("a field {name}")).1.clone()
    };

    // Each row is a group with a legend, each field has its label, and
    // last year's English is in the form.
    for legend in ["Avsnitt 1", "Avsnitt 8", "Seminarium 5", "Bedömningsgrund 5"] {
        assert!(page.body.contains(&format!("<legend>{legend}</legend>")), "{legend}: {}", page.body);
    }
    for (name, _) in original.iter().filter(|(n, _)| n != "form_key") {
        assert!(page.body.contains(&format!("<label for=\"{name}\"")), "a label for {name}");
    }
    assert_eq!(value(&original, "seminar_1_title_en"), "Aim, objectives and method");
    assert_eq!(value(&original, "criterion_2_name_en"), "Collaboration between the parties");
    assert_eq!(value(&original, "section_0_guidance"), last_year.template[0].guidance.as_ref().unwrap().sv.to_string());

    // Wrong rows: each is named with its field, the field is marked, what
    // was typed comes back, and nothing is created.
    let mut fields = original.clone();
    set(&mut fields, "section_2_key", "Genomförande och tidplan");
    set(&mut fields, "criterion_2_key", "relevans");
    set(&mut fields, "section_6_guidance_en", "Only in English");
    let r = post_fields(&server, "/admin/utlysningar/ny", &leader, &fields).await;
    assert_eq!(r.status, 422, "{r:?}");
    for message in [
        "<a href=\"#section_2_key\">Avsnitt 3, nyckel: &quot;Genomförande och tidplan&quot; är ingen giltig nyckel",
        "Bedömningsgrund 3, nyckel: samma nyckel som bedömningsgrund 1",
        "Avsnitt 7, nyckel: fyll i fältet",
        "Avsnitt 7, rubrik: fyll i fältet",
        "Avsnitt 7, vägledning till de sökande: skriv texten på svenska också",
    ] {
        assert!(r.body.contains(message), "{message}: {}", r.body);
    }
    let input = |body: &str, name: &str| {
        let start = body.find(&format!("<input id=\"{name}\"")).unwrap_or_else(|| panic!("an input {name}"));
        body[start..start + body[start..].find('>').unwrap()].to_owned()
    };
    let key = input(&r.body, "section_2_key");
    assert!(key.contains(r#"value="Genomförande och tidplan""#) && key.contains(r#"aria-invalid="true""#), "{key}");
    assert!(key.contains(r#"aria-describedby="key-help""#), "{key}");
    assert!(input(&r.body, "criterion_2_key").contains(r#"aria-invalid="true""#));
    assert!(!input(&r.body, "section_1_key").contains("aria-invalid"), "only the wrong fields are marked");
    assert_eq!(form_fields(&r.body, "/admin/utlysningar/ny").len(), original.len() + 5, "nothing lost, rows to fill");
    // In English, in English.
    let english = format!("{leader}; mops_lang=en");
    let r = post_fields(&server, "/admin/utlysningar/ny", &english, &fields).await;
    assert_eq!(r.status, 422, "{r:?}");
    for text in [
        "Section 3, key: &quot;Genomförande och tidplan&quot;",
        "Criterion 3, key: the same key as criterion 1",
        "Section 7, guidance for applicants: give the Swedish text as well",
        "<legend>Seminar 1</legend>",
        "<label for=\"section_0_title_en\">Title in English (optional)</label>",
    ] {
        assert!(r.body.contains(text), "{text}: {}", r.body);
    }
    // A seminar that ends as it starts is the core's problem, told at its row.
    let mut fields = original.clone();
    let starts = value(&fields, "seminar_1_starts_at");
    set(&mut fields, "seminar_1_ends_at", &starts);
    let r = post_fields(&server, "/admin/utlysningar/ny", &leader, &fields).await;
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.body.contains("Seminarium 2, slutar: seminariet måste sluta efter att det har börjat"), "{}", r.body);
    assert!(input(&r.body, "seminar_1_ends_at").contains(r#"aria-invalid="true""#));
    assert_eq!(test.db.calls().await.unwrap().len(), 1, "nothing is created");

    // Edited, added and removed rows.
    let mut fields = original.clone();
    set(&mut fields, "section_1_title_en", "Aims and objectives");
    fields.retain(|(n, _)| n != "section_0_mandatory");
    set(&mut fields, "section_6_key", "etik");
    set(&mut fields, "section_6_title", "Etiska överväganden");
    set(&mut fields, "section_6_title_en", "Ethical considerations");
    set(&mut fields, "section_6_guidance", "Beskriv vilka etiska frågor projektet väcker.");
    fields.push(("section_6_mandatory".into(), "on".into()));
    set(&mut fields, "seminar_1_title", "Syfte, mål och metoder");
    fields.push(("seminar_2_remove".into(), "on".into()));
    set(&mut fields, "criterion_0_name_en", "Relevance to the organisations");
    for field in ["key", "name", "name_en"] {
        set(&mut fields, &format!("criterion_1_{field}"), "");
    }
    let r = post_fields(&server, "/admin/utlysningar/ny", &leader, &fields).await;
    assert_eq!(r.see_other(), "/admin", "{r:?}");
    let calls = test.db.calls().await.unwrap();
    let new = calls.iter().filter_map(|c| c.state.call()).find(|c| c.id != round.call_id).expect("a new call");
    let stored = &new.definition;

    let mut template = last_year.template.clone();
    template[0].mandatory = false;
    template[1].title = LocalizedText::sv_en("Syfte och mål", "Aims and objectives").unwrap();
    template.push(TemplateSection {
        key: SectionKey::parse("etik").unwrap(),
        title: LocalizedText::sv_en("Etiska överväganden", "Ethical considerations").unwrap(),
        guidance: Some(LocalizedText::sv("Beskriv vilka etiska frågor projektet väcker.").unwrap()),
        mandatory: true,
    });
    assert_eq!(stored.template, template, "in row order, English and mandatory flags as typed");
    let mut criteria = vec![last_year.criteria[0].clone(), last_year.criteria[2].clone()];
    criteria[0].name = LocalizedText::sv_en("Relevans för verksamheterna", "Relevance to the organisations").unwrap();
    assert_eq!(stored.criteria, criteria, "the emptied row is gone");
    let seminars = &stored.timeline.seminars;
    assert_eq!(seminars.len(), 2, "the seminar ticked Remove is gone");
    assert_eq!(seminars.iter().map(|s| s.id.0).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(seminars[0].title, last_year.timeline.seminars[0].title);
    assert_eq!(
        seminars[1].title,
        LocalizedText::sv_en("Syfte, mål och metoder", "Aim, objectives and method").unwrap()
    );
    assert_eq!(seminars[1].location, last_year.timeline.seminars[1].location);
    let moved = seminars[1].starts_at - last_year.timeline.seminars[1].starts_at;
    assert!(moved >= Duration::days(365) && moved <= Duration::days(366), "a year later: {moved}");

    // The draft's edit form shows it all back, and saving it unchanged
    // changes nothing.
    let edit = format!("/admin/utlysningar/{}/andra", new.id);
    let page = server.get(&edit, Some(&leader)).await;
    assert_eq!(page.status, 200, "{page:?}");
    let fields = form_fields(&page.body, &edit);
    assert_eq!(value(&fields, "section_1_title_en"), "Aims and objectives");
    assert_eq!(value(&fields, "section_6_key"), "etik");
    assert_eq!(value(&fields, "criterion_1_key"), "samverkan");
    assert_eq!(value(&fields, "criterion_2_key"), "", "an empty row to fill in");
    let r = post_fields(&server, &edit, &leader, &fields).await;
    assert_eq!(r.see_other(), "/admin", "{r:?}");
    let again = test.db.call(new.id).await.unwrap().unwrap();
    assert_eq!(&again.state.call().unwrap().definition, stored);
}

on_both_backends!(the_outbox_seminars_and_recusals);

async fn the_outbox_seminars_and_recusals(test: &TestDb) {
    let db = test.db.clone();
    let round = round(test, 21, Upto::End).await;
    let server = Server::start(db.clone(), 1000).await;
    let leader = server.sign_in(&email(&round, round.process_leader)).await;
    let board = server.sign_in(&email(&round, only(&round, |r| matches!(r, Role::BoardMember)))).await;

    // The outbox: the rows listed, a preview of what the recipient gets, and
    // a retry, all for the process leader only.
    let rows = db.outbox(None, 1000).await.unwrap();
    assert!(!rows.is_empty());
    let admin = server.get("/admin", Some(&leader)).await;
    assert_eq!(admin.status, 200);
    let row = &rows[0];
    assert!(admin.body.contains(&format!("/admin/utskick/{}", row.id)), "the newest row is listed");
    let preview = server.get(&format!("/admin/utskick/{}", row.id), Some(&leader)).await;
    assert_eq!(preview.status, 200, "{preview:?}");
    assert!(preview.body.contains(&html(&row.recipient_email)), "{}", preview.body);
    assert!(
        preview.body.contains("processledare@example.se"),
        "the preview names the contact, as sent: {}",
        preview.body
    );
    assert_eq!(server.get(&format!("/admin/utskick/{}", row.id), Some(&board)).await.status, 404);
    let retry = format!("/admin/utskick/{}/forsok-igen", row.id);
    assert_eq!(server.post(&retry, Some(&board), &[]).await.status, 404, "only the process leader");
    // Nothing was sent in this test, so the row waits; "send again" makes it
    // due now.
    assert_eq!(db.outbox_row(row.id).await.unwrap().unwrap().status, mops_service::store::OutboxStatus::Pending);
    let r = server.post(&retry, Some(&leader), &[]).await;
    assert_eq!(r.see_other(), "/admin");
    let after = db.outbox_row(row.id).await.unwrap().unwrap();
    assert_eq!(after.status, mops_service::store::OutboxStatus::Pending);
    assert!(after.next_attempt_at <= Utc::now(), "due now");
    let admin = server.get("/admin", Some(&leader)).await;
    assert!(admin.body.contains("Meddelandet skickas vid nästa omgång."), "{}", admin.body);

    // Seminars: the sector group and the process leader see the attendance
    // the round recorded; nobody else sees the page.
    let seminars = format!("/utlysningar/{}/seminarier", round.call_id);
    let sector = server.sign_in(&email(&round, only(&round, |r| matches!(r, Role::SectorGroupMember { .. })))).await;
    let page = server.get(&seminars, Some(&sector)).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("Deltog"), "recorded attendance is shown: {}", page.body);
    assert!(!page.body.contains("name=\"mark_"), "a finished call takes no attendance");
    assert_eq!(server.get(&seminars, Some(&leader)).await.status, 200);
    assert_eq!(server.get(&seminars, Some(&board)).await.status, 404);
    let r = server.post(&format!("{seminars}/1"), Some(&board), &[("form_key", "x")]).await;
    assert_eq!(r.status, 404, "{r:?}");

    // The panel's running order: a member's declared conflict shows as a
    // recusal, without the idea's title or applicant.
    let (panelist, conflicted) = round
        .ideas
        .iter()
        .find_map(|i| {
            let state = futures_lite(db.idea(i.id));
            let dev = state?.state.development()?.clone();
            dev.conflicts.keys().next().map(|p| (*p, i))
        })
        .expect("a declared conflict in the round");
    let cookie = server.sign_in(&email(&round, panelist)).await;
    let panel = server.get(&format!("/utlysningar/{}/panel", round.call_id), Some(&cookie)).await;
    assert_eq!(panel.status, 200, "{panel:?}");
    assert!(panel.body.contains("Du har anmält jäv"), "{}", panel.body);
    assert!(!panel.body.contains(&html(conflicted.title)), "the recused idea's title is hidden");
    assert!(!panel.body.contains(&format!("/ideer/{}", conflicted.id)), "and not linked");
}

/// Runs a store read to completion on this thread (the round is stored; the
/// read is quick). Keeps the search above a plain iterator.
fn futures_lite<T>(
    f: impl std::future::Future<Output = Result<Option<T>, mops_service::store::StoreError>>,
) -> Option<T> {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f)).unwrap()
}

// ---------------------------------------------------------------------------
// 12. "My ideas" through the applicants index

on_both_backends!(my_ideas_lists_exactly_the_applicants_ideas_across_calls);

/// The idea ids linked from a page, in the order they appear.
fn linked_ideas(body: &str) -> Vec<String> {
    body.split("href=\"/ideer/").skip(1).map(|rest| rest.split('"').next().unwrap().to_owned()).collect()
}

/// What "my ideas" listed before the index: every call (oldest first),
/// each call's ideas (oldest first), those the person applies with.
async fn scanned(db: &Db, person: PersonId) -> Vec<String> {
    let mut ids = Vec::new();
    for call in db.calls().await.unwrap() {
        let call = call.state.call().unwrap().id;
        for idea in db.ideas(call, None).await.unwrap() {
            if let Some(i) = idea.state.idea().filter(|i| i.is_applicant(person)) {
                ids.push(i.id.to_string());
            }
        }
    }
    ids
}

async fn my_ideas_lists_exactly_the_applicants_ideas_across_calls(test: &TestDb) {
    let db = test.db.clone();
    let round = round(test, 22, Upto::Selection).await;
    // Applicant 1 leads idea 1 and is a co-applicant on idea 0; applicant 2
    // leads idea 2 only.
    let (a, b) = (lead_of(&round, 1), lead_of(&round, 2));
    let second = common::open_copy_now(&db, &round, "Framtidens omsorg, andra omgången").await;
    let submit = |lead: PersonId, co: Vec<PersonId>, title: &'static str| {
        let db = db.clone();
        let round = round.clone();
        async move {
            let applicant = |p: PersonId| {
                let person = round.person(p).unwrap();
                Applicant {
                    person: p,
                    name: person.name.clone(),
                    email: person.email.clone(),
                    organisation: person.organisation,
                    language: person.language,
                }
            };
            let id = IdeaId::from_uuid(Uuid::new_v4());
            let command = IdeaCommand::SubmitNew(Box::new(NewIdea {
                id,
                call: second,
                lead: applicant(lead),
                details: IdeaDetails {
                    title: Title::parse(title).unwrap(),
                    summary: FreeText::parse("Något nytt för omsorgen.").unwrap(),
                    theme: round.definition.themes[0].clone(),
                    organisation: round.person(lead).unwrap().organisation,
                    co_applicants: co.into_iter().map(applicant).collect(),
                },
            }));
            db.execute_idea(IdeaRequest {
                call: second,
                idea: id,
                command: &command,
                actor: &round.actor(lead),
                now: Utc::now(),
                expected_version: None,
                idempotency_key: None,
            })
            .await
            .expect("submitted");
            id.to_string()
        }
    };
    // In the second call: one of A's own, one of B's with A as co-applicant,
    // and one of B's alone.
    let a_own = submit(a, vec![], "A:s andra idé").await;
    let b_with_a = submit(b, vec![a], "B:s idé med A").await;
    let b_alone = submit(b, vec![], "B:s egen idé").await;

    let expected_a = scanned(&db, a).await;
    let first = [round.ideas[0].id.to_string(), round.ideas[1].id.to_string()];
    assert_eq!(expected_a, [first[0].as_str(), &first[1], &a_own, &b_with_a], "the test's premise");
    let stored: Vec<String> =
        db.ideas_of_applicant(a).await.unwrap().iter().map(|i| i.state.idea().unwrap().id.to_string()).collect();
    assert_eq!(stored, expected_a, "the store lists the same ideas in the same order");
    let expected_b = scanned(&db, b).await;
    assert_eq!(expected_b, [round.ideas[2].id.to_string(), b_with_a.clone(), b_alone.clone()]);

    // The page, for each of them.
    let server = Server::start(db.clone(), 1000).await;
    let cookie = server.sign_in_by_link(&email(&round, a)).await;
    let r = server.get("/mina-ideer", Some(&cookie)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(linked_ideas(&r.body), expected_a, "{}", r.body);
    assert!(r.body.contains("Framtidens omsorg, andra omgången"), "the call's title: {}", r.body);
    assert!(!r.body.contains(&b_alone), "not B's own idea");
    let cookie = server.sign_in_by_link(&email(&round, b)).await;
    let r = server.get("/mina-ideer", Some(&cookie)).await;
    assert_eq!(linked_ideas(&r.body), expected_b, "{}", r.body);
    assert!(db.verify().await.unwrap().is_ok());
}

// ---------------------------------------------------------------------------
// 13. The selection is confirmed all or nothing

on_both_backends!(a_refused_selection_writes_nothing);

async fn a_refused_selection_writes_nothing(test: &TestDb) {
    let db = test.db.clone();
    let round = round(test, 23, Upto::Selection).await;
    let member = only(&round, |r| matches!(r, Role::SectorGroupMember { .. }));
    let server = Server::start(db.clone(), 1000).await;
    let cookie = server.sign_in(&email(&round, member)).await;
    let idea_id = |n: usize| round.ideas[n].id;
    let pipeline = format!("/utlysningar/{}/pipeline", round.call_id);
    let urval = format!("/utlysningar/{}/urval", round.call_id);
    let page = server.get(&pipeline, Some(&cookie)).await;
    assert_eq!(page.status, 200, "{page:?}");
    let key = page.field("form_key");
    // The page carries each idea's version.
    let versions: Vec<String> = (0..6).map(|n| page.field(&format!("version_{}", idea_id(n)))).collect();
    for (n, shown) in versions.iter().enumerate() {
        assert_eq!(*shown, idea(&db, idea_id(n)).await.1.to_string(), "idea {n}'s version on the page");
    }

    // Ideas 1–3 selected and 4 not, as the page showed them.
    let why = "Idén ligger utanför utlysningens teman.";
    let chosen = |picks: &[usize], versions: &[String]| {
        let mut fields: Vec<(String, String)> =
            vec![("form_key".into(), key.clone()), ("confirm".into(), "yes".into())];
        for &n in picks {
            let id = idea_id(n);
            fields.push((format!("choice_{id}"), if n == 4 { "not_select" } else { "select" }.into()));
            fields.push((format!("motivation_{id}"), if n == 4 { why } else { "" }.into()));
            fields.push((format!("version_{id}"), versions[n].clone()));
        }
        fields
    };
    let snapshot = || {
        let db = db.clone();
        async move {
            let mut out = Vec::new();
            for n in 0..26 {
                let (s, v, e) = idea(&db, idea_id(n)).await;
                out.push((s.stage(), v, e));
            }
            out
        }
    };

    // Meanwhile idea 2's lead withdraws it.
    let lead = db.idea(idea_id(2)).await.unwrap().unwrap().state.idea().unwrap().lead.person;
    db.execute_idea(IdeaRequest {
        call: round.call_id,
        idea: idea_id(2),
        command: &IdeaCommand::Withdraw { reason: None },
        actor: &round.actor(lead),
        now: Utc::now(),
        expected_version: None,
        idempotency_key: None,
    })
    .await
    .expect("withdrawn");
    let before = snapshot().await;
    let outbox_before = db.outbox(None, 1000).await.unwrap().len();
    let funnel_before = db.funnel(round.call_id).await.unwrap();

    // Confirmed: idea 2 is refused, so nothing is written, and the page says
    // which idea and why, in Swedish…
    let r = post_fields(&server, &urval, &cookie, &chosen(&[1, 2, 3, 4], &versions)).await;
    assert_eq!(r.see_other(), pipeline);
    let r = server.get(&pipeline, Some(&cookie)).await;
    assert!(r.body.contains("flash error"), "{}", r.body);
    assert!(r.body.contains("Inget av urvalet är sparat"), "{}", r.body);
    assert!(r.body.contains(&html(round.ideas[2].title)), "which idea: {}", r.body);
    assert!(r.body.contains("Någon annan hann ändra idén"), "why: {}", r.body);
    assert!(!r.body.contains("Antal beslut som sparats"), "{}", r.body);
    assert_eq!(snapshot().await, before, "no idea changed stage");
    assert_eq!(db.outbox(None, 1000).await.unwrap().len(), outbox_before, "no mail was queued");
    assert_eq!(db.funnel(round.call_id).await.unwrap(), funnel_before);
    assert!(db.verify().await.unwrap().is_ok());

    // …and in English when the page is in English. A stale version of idea
    // 3 (the page is older than its last change) is refused the same way.
    let english = format!("{cookie}; mops_lang=en");
    let mut stale = versions.clone();
    stale[3] = (before[3].1 - 1).to_string();
    let r = post_fields(&server, &urval, &english, &chosen(&[1, 3, 4], &stale)).await;
    assert_eq!(r.see_other(), pipeline);
    let r = server.get(&pipeline, Some(&english)).await;
    assert!(r.body.contains("None of the selection is saved"), "{}", r.body);
    assert!(r.body.contains(&html(round.ideas[3].title)), "which idea: {}", r.body);
    assert!(r.body.contains("Someone else changed the idea"), "why: {}", r.body);
    assert_eq!(snapshot().await, before, "no idea changed stage");
    assert_eq!(db.outbox(None, 1000).await.unwrap().len(), outbox_before, "no mail was queued");

    // Corrected, the same form's choices go through together.
    let r = post_fields(&server, &urval, &cookie, &chosen(&[1, 3, 4], &versions)).await;
    assert_eq!(r.see_other(), pipeline);
    let r = server.get(&pipeline, Some(&cookie)).await;
    assert!(r.body.contains("Antal beslut som sparats: 3"), "{}", r.body);
    assert!(!r.body.contains("flash error"), "{}", r.body);
    let after = snapshot().await;
    for n in 0..26 {
        let expected = match n {
            1 | 3 => Stage::Selected,
            4 => Stage::NotSelected,
            _ => before[n].0,
        };
        assert_eq!(after[n].0, expected, "idea {n}");
        if matches!(n, 1 | 3 | 4) {
            assert_eq!((after[n].1, after[n].2), (before[n].1 + 1, before[n].2 + 1), "idea {n}: one event");
        } else {
            assert_eq!(after[n], before[n], "idea {n} untouched");
        }
    }
    let outbox = db.outbox(None, 1000).await.unwrap();
    for n in [1, 3, 4] {
        let decided =
            |row: &&mops_service::store::OutboxRow| row.idea_id == idea_id(n) && row.notice != "idea_received";
        assert!(outbox.iter().any(|row| decided(&row)), "a mail about idea {n}");
    }
    assert!(outbox.len() > outbox_before);
    assert_eq!(db.funnel(round.call_id).await.unwrap().selected, funnel_before.selected + 2);
    assert!(db.verify().await.unwrap().is_ok());
}

// ---------------------------------------------------------------------------
// Forgotten and changed passwords

on_both_backends!(a_forgotten_password_is_reset_by_a_mailed_link);

/// Whether the user's session cookie still opens their page.
async fn signed_in(server: &Server, cookie: &str) -> bool {
    let r = server.get("/byt-losenord", Some(cookie)).await;
    match r.status {
        200 => true,
        303 => false,
        _ => panic!("the change-password page answers 200 or 303: {r:?}"),
    }
}

/// The `details` of the user's `password_set` rows in the people log.
async fn password_changes(db: &Db, user: PersonId) -> Vec<serde_json::Value> {
    let log = db.people_log(Some(user)).await.unwrap();
    log.into_iter().filter(|e| e.action == "password_set").map(|e| e.details).collect()
}

async fn a_forgotten_password_is_reset_by_a_mailed_link(test: &TestDb) {
    let round = round(test, 24, Upto::Open).await;
    let leader = email(&round, round.process_leader);
    let server = Server::start(test.db.clone(), 1000).await;
    const NEW: &str = "ett helt nytt lösenord";

    // The sign-in page leads to the form.
    let r = server.get("/logga-in", None).await;
    assert!(r.body.contains("href=\"/glomt-losenord\""), "{}", r.body);
    assert!(r.body.contains("Glömt lösenordet?"), "{}", r.body);
    let r = server.get("/glomt-losenord", None).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("<label for=\"forgot-email\">"), "{}", r.body);
    assert!(r.body.contains("action=\"/glomt-losenord\""), "{}", r.body);

    // Two sessions elsewhere, which the new password will end.
    let elsewhere = [server.sign_in(&leader).await, server.sign_in(&leader).await];

    let known = server.post("/glomt-losenord", None, &[("email", &leader)]).await;
    assert_eq!(known.status, 200, "{known:?}");
    assert!(known.body.contains("Kontrollera din e-post"), "{}", known.body);
    let mails = server.wait_for_mails(1).await;
    assert_eq!(mails.len(), 1, "one mail: {mails:?}");
    let raw = std::fs::read_to_string(&mails[0].0).unwrap();
    assert!(raw.contains(&leader), "to the process leader: {raw}");
    assert!(mails[0].1.contains("välja ett nytt lösenord"), "in Swedish: {}", mails[0].1);
    assert!(mails[0].1.contains("30 minuter"), "{}", mails[0].1);
    let link = server.reset_link_in(&mails[0].1);

    // An unknown address, an applicant (no password) and a disabled user:
    // the same page, and no mail.
    let applicant = email(&round, lead_of(&round, 0));
    let board = only(&round, |r| matches!(r, Role::BoardMember));
    let board_link = mops_service::web::session::create_link(&test.db, board, PasswordReset, Utc::now()).await.unwrap();
    assert!(test.db.disable_user(board, ChangedBy::CommandLine).await.unwrap());
    for other in ["ingen.alls@example.org", applicant.as_str(), email(&round, board).as_str()] {
        let r = server.post("/glomt-losenord", None, &[("email", other)]).await;
        assert_eq!((r.status, &r.body), (200, &known.body), "{other}");
    }
    assert_eq!(server.wait_for_mails(2).await.len(), 1, "no other mail");
    // Not an address at all: the form says so.
    let r = server.post("/glomt-losenord", None, &[("email", "inte en adress")]).await;
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.body.contains("Skriv en giltig e-postadress"), "{}", r.body);
    // A link made before the user was disabled does nothing.
    let r = server.get(&format!("/nytt-losenord/{board_link}"), None).await;
    assert_eq!(r.status, 410, "{r:?}");
    let r =
        server.post(&format!("/nytt-losenord/{board_link}"), None, &[("password", NEW), ("password_again", NEW)]).await;
    assert_eq!(r.status, 410, "{r:?}");

    // Opening the link (as a mail scanner would, twice) uses up nothing:
    // a form with labelled fields.
    for _ in 0..2 {
        let r = server.get(&link, None).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.body.contains(&format!("action=\"{link}\"")), "a form: {}", r.body);
        assert!(r.body.contains("<label for=\"new-password\">"), "{}", r.body);
        assert!(r.body.contains("<label for=\"new-password-again\">"), "{}", r.body);
        assert_eq!(r.set_cookie("mops_session"), None);
    }

    // A sign-in link is no reset link, and a reset link signs nobody in.
    let sign_in_secret =
        mops_service::web::session::create_link(&test.db, round.process_leader, SignIn, Utc::now()).await.unwrap();
    let as_reset = format!("/nytt-losenord/{sign_in_secret}");
    assert_eq!(server.get(&as_reset, None).await.status, 410);
    let r = server.post(&as_reset, None, &[("password", NEW), ("password_again", NEW)]).await;
    assert_eq!(r.status, 410, "{r:?}");
    let secret = link.trim_start_matches("/nytt-losenord/");
    assert_eq!(server.get(&format!("/lank/{secret}"), None).await.status, 410);
    let r = server.post(&format!("/lank/{secret}"), None, &[]).await;
    assert_eq!((r.status, r.set_cookie("mops_session")), (410, None), "{r:?}");

    // Two different passwords, or a short one: the form again, and the link still works.
    let r = server.post(&link, None, &[("password", NEW), ("password_again", "ett annat nytt lösenord")]).await;
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.body.contains("De två nya lösenorden är inte likadana"), "{}", r.body);
    let r = server.post(&link, None, &[("password", "kort"), ("password_again", "kort")]).await;
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.body.contains("minst 12 tecken"), "{}", r.body);
    for cookie in &elsewhere {
        assert!(signed_in(&server, cookie).await, "nothing changed yet");
    }

    // The new password: sent to sign in, told what happened.
    let r = server.post(&link, None, &[("password", NEW), ("password_again", NEW)]).await;
    assert_eq!(r.see_other(), "/logga-in?losenord=nytt");
    assert_eq!(r.set_cookie("mops_session"), None, "the link signs nobody in");
    let r = server.get("/logga-in?losenord=nytt", None).await;
    assert!(r.body.contains("Ditt lösenord är bytt"), "{}", r.body);
    assert!(r.body.contains("role=\"status\""), "{}", r.body);

    // Every session of theirs ended; the old password is refused, the new works.
    for cookie in &elsewhere {
        assert!(!signed_in(&server, cookie).await, "a session from before the reset: {cookie}");
    }
    assert_eq!(server.try_sign_in(&leader, PASSWORD).await, None, "the old password");
    let cookie = server.try_sign_in(&leader, NEW).await.expect("the new password works");
    assert!(signed_in(&server, &cookie).await);

    // The link works once.
    let again = server
        .post(&link, None, &[("password", "ännu ett nytt lösenord"), ("password_again", "ännu ett nytt lösenord")])
        .await;
    assert_eq!(again.status, 410, "{again:?}");
    assert!(again.body.contains("Länken har redan använts"), "{}", again.body);
    assert_eq!(server.get(&link, None).await.status, 410);
    assert!(server.try_sign_in(&leader, NEW).await.is_some(), "the password from the link's one use");

    // An expired link: refused, the password stays.
    let expired = mops_service::web::session::create_link(
        &test.db,
        round.process_leader,
        PasswordReset,
        Utc::now() - Duration::minutes(31),
    )
    .await
    .unwrap();
    let expired = format!("/nytt-losenord/{expired}");
    assert_eq!(server.get(&expired, None).await.status, 410);
    let r = server
        .post(&expired, None, &[("password", "ett utgånget lösenord"), ("password_again", "ett utgånget lösenord")])
        .await;
    assert_eq!(r.status, 410, "{r:?}");
    assert!(server.try_sign_in(&leader, NEW).await.is_some());

    // In the people log, by the user themself.
    let log = test.db.people_log(Some(round.process_leader)).await.unwrap();
    let reset = log.iter().rfind(|e| e.action == "password_set").expect("logged");
    assert_eq!(reset.actor, "user");
    assert_eq!(reset.actor_id, Some(round.process_leader));
    assert_eq!(reset.details, serde_json::json!({ "how": "reset", "sessions_ended": 2 }));
    assert_eq!(password_changes(&test.db, round.process_leader).await.len(), 2, "seeded, then reset once");

    // In English for a user who reads English.
    test.db
        .add_user(
            mops_service::people::NewUser {
                id: PersonId::from_uuid(Uuid::new_v4()),
                email: mops_core::domain::Email::parse("jane.doe@example.org").unwrap(),
                name: mops_core::domain::PersonName::parse("Jane Doe").unwrap(),
                organisation: None,
                language: mops_core::domain::Language::En,
                password: Some(Password::new(PASSWORD).unwrap()),
            },
            ChangedBy::CommandLine,
        )
        .await
        .unwrap();
    let r = server.post("/glomt-losenord", None, &[("email", "Jane.Doe@example.org")]).await;
    assert_eq!((r.status, &r.body), (200, &known.body));
    let mails = server.wait_for_mails(2).await;
    assert_eq!(mails.len(), 2);
    let text = &mails
        .iter()
        .find(|(p, _)| std::fs::read_to_string(p).unwrap().contains("jane.doe@example.org"))
        .expect("to Jane")
        .1;
    assert!(text.contains("choose a new password") && text.contains("30 minutes"), "{text}");
}

on_both_backends!(staff_change_their_password);

async fn staff_change_their_password(test: &TestDb) {
    let round = round(test, 25, Upto::Open).await;
    let leader = email(&round, round.process_leader);
    let server = Server::start(test.db.clone(), 1000).await;
    const NEW: &str = "ett helt nytt lösenord";

    // Not signed in: to the sign-in page and back.
    assert_eq!(server.get("/byt-losenord", None).await.see_other(), "/logga-in?nasta=/byt-losenord");

    let here = server.sign_in(&leader).await;
    let elsewhere = server.sign_in(&leader).await;
    // The header leads there, next to the name and sign-out.
    let r = server.get("/", Some(&here)).await;
    assert!(r.body.contains("href=\"/byt-losenord\">Byt lösenord</a>"), "{}", r.body);
    let r = server.get("/byt-losenord", Some(&here)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("<h1>Byt lösenord</h1>"), "{}", r.body);
    for id in ["current-password", "new-password", "new-password-again"] {
        assert!(r.body.contains(&format!("<label for=\"{id}\">")), "{id}: {}", r.body);
    }

    // A wrong current password: a clear error, nothing changes.
    let r = server
        .post("/byt-losenord", Some(&here), &[("current", "fel lösenord"), ("password", NEW), ("password_again", NEW)])
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.body.contains("Det nuvarande lösenordet stämmer inte"), "{}", r.body);
    assert!(r.body.contains("role=\"alert\""), "{}", r.body);
    // Two different new ones: the same.
    let r = server
        .post(
            "/byt-losenord",
            Some(&here),
            &[("current", PASSWORD), ("password", NEW), ("password_again", "något annat lösenord")],
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.body.contains("De två nya lösenorden är inte likadana"), "{}", r.body);
    assert!(signed_in(&server, &elsewhere).await);
    let third = server.try_sign_in(&leader, PASSWORD).await.expect("the password is unchanged");
    assert_eq!(password_changes(&test.db, round.process_leader).await.len(), 1, "only the seed's");

    // The right one: changed; this session goes on, the others end.
    let r = server
        .post("/byt-losenord", Some(&here), &[("current", PASSWORD), ("password", NEW), ("password_again", NEW)])
        .await;
    assert_eq!(r.see_other(), "/byt-losenord");
    let r = server.get("/byt-losenord", Some(&here)).await;
    assert_eq!(r.status, 200, "still signed in here: {r:?}");
    assert!(r.body.contains("Ditt lösenord är bytt"), "{}", r.body);
    assert!(!signed_in(&server, &elsewhere).await, "another session ended");
    assert!(!signed_in(&server, &third).await, "another session ended");
    assert_eq!(server.try_sign_in(&leader, PASSWORD).await, None, "the old password");
    assert!(server.try_sign_in(&leader, NEW).await.is_some(), "the new password");
    let changes = password_changes(&test.db, round.process_leader).await;
    assert_eq!(changes.last(), Some(&serde_json::json!({ "how": "changed", "sessions_ended": 2 })), "{changes:?}");

    // Applicants have no password: no link, and no page.
    let applicant = server.sign_in_by_link(&email(&round, lead_of(&round, 0))).await;
    let r = server.get("/", Some(&applicant)).await;
    assert!(!r.body.contains("/byt-losenord"), "{}", r.body);
    assert_eq!(server.get("/byt-losenord", Some(&applicant)).await.status, 404);
    let r = server
        .post("/byt-losenord", Some(&applicant), &[("current", ""), ("password", NEW), ("password_again", NEW)])
        .await;
    assert_eq!(r.status, 404, "{r:?}");
}
