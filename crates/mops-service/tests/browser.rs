//! The story of a round, walked through the web application in a real
//! headless Chromium (Debian's `chromium` and `chromium-driver`, driven over
//! WebDriver with fantoccini): an applicant submits an idea on the public
//! form and signs in with the link the service mails; the process leader
//! moves the call on; the sector group selects; the applicant writes the
//! plan; the panel gives feedback; the applicant submits the plan; the
//! sector group prepares the case; the board grants it, and the minutes
//! show the decision. Screenshots of the main pages are saved in
//! `target/tmp/screenshots/`.
//!
//! The call's timeline is set around the moment the test starts, and the
//! core enforces it (no selection before the call closes, no plan after the
//! deadline, no preparation before it), so the test waits for the deadlines
//! as a real round would: it takes about three minutes. The process leader
//! also records seminar attendance on the seminars page.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, Utc};
use fantoccini::{Client, ClientBuilder, Locator};
use mops_core::call::CallCommand;
use mops_core::domain::{CallId, Title};
use mops_core::reference::round_2010_in;
use mops_core::timers::TimerConfig;
use mops_core::{CallPhase, Role, Stage};
use mops_service::mail::{MailSettings, MailWorker, RetryPolicy, TransportSettings};
use mops_service::people::{ChangedBy, PeopleStore, RoleKind, seed_reference};
use mops_service::replay::replay_round;
use mops_service::serve::{self, ServeOptions};
use mops_service::store::{CallRequest, Store};
use uuid::Uuid;

const PASSWORD: &str = "draknastet-2010";

/// axe-core, the accessibility checker, vendored from npm (see `vendor/README.md`).
const AXE: &str = include_str!("vendor/axe-4.14.1.min.js");

/// chromedriver on a free port; killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn chromedriver() -> Driver {
    let port = free_port();
    let mut child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver runs (Debian package chromium-driver; scripts/test installs it)");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Driver { child, url: format!("http://127.0.0.1:{port}") };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("chromedriver did not start listening on port {port}");
}

/// A headless Chromium with a profile of its own. The flags keep it off
/// the network (this machine has none) and let it run as root in CI.
async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-quic", "--no-first-run", "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector).capabilities(caps).connect(&driver.url).await.expect("a Chromium session")
}

struct Page<'a> {
    c: &'a Client,
    base: String,
    shots: PathBuf,
}

impl Page<'_> {
    async fn goto(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    async fn fill(&self, css: &str, text: &str) {
        let field = self.c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no field {css}: {e}"));
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("nothing to click at {css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// The element's text as the browser renders it (WebDriver turns
    /// non-breaking spaces into plain ones).
    /// Clicks a button or link that loads a new page, and waits until the
    /// old page is gone.
    async fn submit(&self, css: &str) {
        let old = self.c.find(Locator::Css("html")).await.unwrap();
        self.click(css).await;
        for _ in 0..100 {
            // The old page's element goes stale once the new page is there.
            if old.tag_name().await.is_err() {
                let _ = self.c.wait().for_element(Locator::Css("body")).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("clicking {css} loaded no new page");
    }

    async fn text(&self, css: &str) -> String {
        self.c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}")).text().await.unwrap()
    }

    async fn body(&self) -> String {
        self.text("body").await
    }

    /// The flash message the last form left, which must be a success.
    async fn ok(&self, step: &str) -> String {
        let flash = self.c.find(Locator::Css(".flash")).await.unwrap_or_else(|_| panic!("{step}: no message"));
        let class = flash.attr("class").await.unwrap().unwrap_or_default();
        let text = flash.text().await.unwrap();
        assert!(!class.contains("error"), "{step}: {text}");
        text
    }

    /// A screenshot of the page, which must also pass axe-core's WCAG 2.1
    /// A and AA rules.
    async fn shot(&self, name: &str) {
        let png = self.c.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
        self.audit(name).await;
    }

    async fn audit(&self, name: &str) {
        let violations = wcag_violations(self.c).await;
        assert!(violations.is_empty(), "{name}: WCAG 2.1 AA violations:\n{}", violations.join("\n"));
    }

    async fn sign_in(&self, email: &str) {
        self.goto("/logga-in").await;
        self.fill("#staff-email", email).await;
        self.fill("#password", PASSWORD).await;
        self.submit("form[action='/logga-in'] button").await;
        assert!(self.body().await.contains("Logga ut"), "{email} is signed in");
    }

    async fn sign_out(&self) {
        self.submit("form[action='/logga-ut'] button").await;
    }

    /// The process leader moves the call to its next phase on /admin.
    async fn advance(&self, call: CallId, to: CallPhase) {
        self.goto("/admin").await;
        let form = format!("form[action='/utlysningar/{call}/fas']");
        let target = self.c.find(Locator::Css(&format!("{form} input[name=to]"))).await.unwrap();
        assert_eq!(target.attr("value").await.unwrap().as_deref(), Some(to.key()), "the next phase is offered");
        self.submit(&format!("{form} button")).await;
        self.ok(&format!("advance to {}", to.key())).await;
    }
}

/// What axe-core finds against WCAG 2.1 A and AA on the page the browser
/// shows (WebDriver's scripts are not subject to the page's
/// Content-Security-Policy, which allows no scripts).
async fn wcag_violations(c: &Client) -> Vec<String> {
    c.execute(AXE, vec![]).await.expect("axe-core loads");
    let script = r#"
        const done = arguments[arguments.length - 1];
        axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } })
          .then(r => done(r.violations.map(v => v.id + " (" + v.impact + "): " + v.help + " at "
              + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", "))))
          .catch(e => done(["axe failed: " + e]));
    "#;
    let found = c.execute_async(script, vec![]).await.expect("axe-core runs");
    serde_json::from_value(found).unwrap()
}

/// The accessibility check can fail: a page with a field without a label,
/// no language and low contrast is caught.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accessibility_check_finds_what_is_wrong() {
    let work = tempfile::tempdir().unwrap();
    let driver = chromedriver().await;
    let c = browser(&driver, &work.path().join("profile")).await;
    let page = "<!doctype html><html><head><title>x</title></head><body>\
                <p style='color:#bbb;background:#fff'>Ljusgrå text</p><input type='text'></body></html>";
    c.goto(&format!("data:text/html;charset=utf-8,{}", page.replace('#', "%23"))).await.unwrap();
    let found = wcag_violations(&c).await.join("\n");
    for rule in ["label", "html-has-lang", "color-contrast"] {
        assert!(found.contains(rule), "axe-core reports {rule}: {found}");
    }
    c.close().await.unwrap();
}

async fn wait_until(t: DateTime<Utc>) {
    let left = (t - Utc::now()).num_milliseconds();
    if left > 0 {
        tokio::time::sleep(Duration::from_millis(left as u64 + 500)).await;
    }
}

/// The `.eml` files of the mail folder, as text.
fn mails(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok()).collect())
        .unwrap_or_default()
}

/// The sign-in link in the mail to `email`: quoted-printable may wrap it.
/// The first link to a path starting `/{kind}/` in a mail to `email`.
fn link_in(dir: &Path, email: &str, kind: &str) -> Option<String> {
    let kind = format!("/{kind}/");
    mails(dir).into_iter().filter(|m| m.contains(email)).find_map(|m| {
        let unwrapped = m.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
        unwrapped.match_indices("http://").find_map(|(start, _)| {
            let link: String = unwrapped[start..].chars().take_while(|c| !c.is_whitespace()).collect();
            link.contains(&kind).then_some(link)
        })
    })
}

/// Waits for the mail with such a link; the service mails links in the
/// background, after the page has answered.
async fn mailed_link(dir: &Path, email: &str, kind: &str) -> String {
    for _ in 0..100 {
        if let Some(link) = link_in(dir, email, kind) {
            return link;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no mail to {email} with a /{kind}/ link");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_through_the_browser() {
    let test = common::sqlite().await;
    let db = test.db.clone();
    let work = tempfile::tempdir().unwrap();
    let mail_dir = work.path().join("mail");
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    // The people of the 2010 round, and a new call with a timeline around now.
    let round = round_2010_in(7);
    replay_round(&db, &round, &TimerConfig::default(), |_, _, _| {}).await.expect("the 2010 round replays");
    let sign_ins = seed_reference(&db, &round, PASSWORD).await.expect("the demo people");
    let email = |kind: RoleKind| sign_ins.iter().find(|s| s.role == Some(kind)).unwrap().email.to_string();
    let leader = email(RoleKind::ProcessLeader);
    let sector = email(RoleKind::SectorGroup);
    let panelist = email(RoleKind::Panel);
    let board = email(RoleKind::Board);

    let now = Utc::now();
    let call = CallId::from_uuid(Uuid::new_v4());
    let mut definition = round.definition.clone();
    definition.title = Title::parse("Samhällskontraktet 2027").unwrap();
    definition.title_en = None;
    let t = &mut definition.timeline;
    t.opens_at = now - chrono::Duration::hours(1);
    t.closes_at = now + chrono::Duration::seconds(40);
    t.panel_at = t.closes_at + chrono::Duration::seconds(60);
    t.plan_deadline = t.closes_at + chrono::Duration::seconds(130);
    t.decision_meeting_at = t.plan_deadline + chrono::Duration::hours(1);
    for (n, s) in t.seminars.iter_mut().enumerate() {
        s.starts_at = t.closes_at + chrono::Duration::seconds(10 * n as i64 + 1);
        s.ends_at = s.starts_at + chrono::Duration::seconds(5);
    }
    let (closes_at, plan_deadline) = (t.closes_at, t.plan_deadline);
    let actor = round.actor(round.process_leader);
    for command in [
        CallCommand::Create { id: call, definition: Box::new(definition) },
        CallCommand::Advance { to: CallPhase::Open },
    ] {
        db.execute_call(CallRequest {
            call,
            command: &command,
            actor: &actor,
            now: Utc::now(),
            expected_version: None,
            idempotency_key: None,
        })
        .await
        .expect("the new call opens");
    }
    let panel_member = db.user_by_email(&mops_core::domain::Email::parse(&panelist).unwrap()).await.unwrap().unwrap();
    db.grant_role(panel_member.id, Role::PanelMember { call }, ChangedBy::CommandLine).await.unwrap();

    // The service, as `mops serve` runs it, with mail written as .eml files.
    let settings = MailSettings {
        transport: TransportSettings::Files { dir: mail_dir.clone() },
        from: "Samhällskontraktet <mops@example.se>".parse().unwrap(),
        retry: RetryPolicy::default(),
        batch: 50,
        lease: Duration::from_secs(60),
        concurrency: 2,
        reply_to: None,
        ca_file: None,
    };
    let worker = MailWorker::new(db.clone(), settings).unwrap();
    let listener = serve::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = ServeOptions {
        mail_interval: Duration::from_millis(500),
        timer_interval: Duration::from_secs(2),
        rate_per_minute: 1000,
        // The deadline is minutes away, so the 14- and 3-day reminders would
        // be due at once and race the pages; the mail tests cover them.
        timers: TimerConfig { plan_reminder_days: vec![] },
        ..ServeOptions::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve::run(db.clone(), worker, listener, options, async move {
        let _ = stopped.await;
    }));

    let driver = chromedriver().await;
    let applicant_browser = browser(&driver, &work.path().join("profile-applicant")).await;
    let staff_browser = browser(&driver, &work.path().join("profile-staff")).await;
    let base = format!("http://{addr}");
    let me = Page { c: &applicant_browser, base: base.clone(), shots: shots.clone() };
    let staff = Page { c: &staff_browser, base, shots: shots.clone() };

    // 1. The applicant finds the call and submits an idea on the public form.
    me.goto("/").await;
    me.shot("01-start").await;
    me.submit(&format!("a[href='/utlysningar/{call}']")).await;
    assert!(me.body().await.contains("Skicka in en idé"), "the open call has the form");
    me.fill("#name", "Sara Svensson").await;
    me.fill("#email", "sara.svensson@example.se").await;
    me.c.find(Locator::Css("#organisation")).await.unwrap().select_by_index(1).await.unwrap();
    me.fill("#title", "Mötesplatser för unga i Skiftinge").await;
    me.fill("#summary", "Unga i Skiftinge saknar platser att mötas på kvällstid. Vi vill pröva öppna mötesplatser tillsammans med föreningarna.").await;
    me.c.find(Locator::Css("#theme")).await.unwrap().select_by_index(1).await.unwrap();
    me.shot("02-submission-form").await;
    me.submit("form[action$='/ansok'] button[type=submit]").await;
    assert_eq!(me.text("h1").await, "Tack för din idé!");
    let ideas = db.ideas(call, None).await.unwrap();
    assert_eq!(ideas.len(), 1, "one idea arrived");
    let idea = ideas[0].state.idea().unwrap().id;

    // 2. The applicant signs in with the link the service mails.
    me.goto("/logga-in").await;
    me.fill("#link-email", "sara.svensson@example.se").await;
    me.submit("form[action='/inloggningslank'] button").await;
    assert_eq!(me.text("h1").await, "Kontrollera din e-post");
    let link = mailed_link(&mail_dir, "sara.svensson@example.se", "lank").await;
    me.c.goto(&link).await.unwrap();
    assert!(me.body().await.contains("Tryck på knappen"), "the link asks before it signs in");
    me.submit("form[action^='/lank/'] button").await;
    assert!(me.c.current_url().await.unwrap().path().ends_with("/mina-ideer"));
    assert!(me.body().await.contains("Mötesplatser för unga i Skiftinge"));
    me.shot("03-my-ideas").await;

    // While the call is open: the process leader has forgotten their
    // password and sets it again through the mailed link, then visits the
    // page for changing it. Each page passes the accessibility check.
    staff.goto("/logga-in").await;
    staff.submit("a[href='/glomt-losenord']").await;
    staff.audit("forgot-password").await;
    staff.fill("#forgot-email", &leader).await;
    staff.submit("form[action='/glomt-losenord'] button").await;
    staff.audit("reset-link-sent").await;
    let reset = mailed_link(&mail_dir, &leader, "nytt-losenord").await;
    staff.c.goto(&reset).await.unwrap();
    staff.fill("#new-password", PASSWORD).await;
    staff.fill("#new-password-again", PASSWORD).await;
    staff.audit("new-password").await;
    staff.submit("form[action^='/nytt-losenord/'] button").await;
    assert!(staff.c.current_url().await.unwrap().path().ends_with("/logga-in"), "then to sign in");
    staff.audit("signed-out-after-reset").await;
    staff.sign_in(&leader).await;
    staff.submit("a[href='/byt-losenord']").await;
    staff.audit("change-password").await;
    staff.sign_out().await;

    // 3. The call closes; the process leader opens the selection.
    wait_until(closes_at).await;
    staff.sign_in(&leader).await;
    staff.advance(call, CallPhase::Selection).await;
    staff.shot("04-process-leader").await;
    // Next year's call form from this one: a row of labelled fields per
    // section, seminar and criterion; a wrong key is named at its row.
    staff.goto(&format!("/admin/utlysningar/ny?fran={call}")).await;
    staff.audit("call-form").await;
    staff.fill("#section_0_key", "Fel nyckel").await;
    staff.submit("form[action='/admin/utlysningar/ny'] button[type=submit]").await;
    assert!(staff.body().await.contains("Avsnitt 1, nyckel:"), "the row is named");
    staff.audit("call-form-errors").await;
    staff.sign_out().await;

    // 4. The sector group selects the idea, with a motivation, and confirms.
    staff.sign_in(&sector).await;
    staff.goto(&format!("/utlysningar/{call}/pipeline")).await;
    staff.click(&format!("input[name='choice_{idea}'][value='select']")).await;
    staff.fill(&format!("#motivation_{idea}"), "Idén svarar väl mot utlysningens tema om unga.").await;
    staff.shot("05-selection").await;
    staff.submit("form[action$='/urval'] button[type=submit]").await;
    assert_eq!(staff.text("h1").await, "Bekräfta urvalet");
    staff.submit("form[action$='/urval'] button[type=submit]").await;
    assert!(staff.ok("selection").await.contains("1"));
    assert_eq!(db.idea(idea).await.unwrap().unwrap().state.stage(), Stage::Selected);
    staff.shot("06-pipeline").await;
    staff.sign_out().await;

    // 5. The process leader moves on to the seminars and the panel, and
    // records the pitch on panel day.
    staff.sign_in(&leader).await;
    staff.advance(call, CallPhase::Development).await;
    staff.goto(&format!("/utlysningar/{call}/seminarier")).await;
    staff.click(&format!("form[action$='/seminarier/1'] input[name='mark_{idea}'][value=yes]")).await;
    staff.submit("form[action$='/seminarier/1'] button[type=submit]").await;
    staff.ok("attendance").await;
    staff.shot("07-seminars").await;
    let dev = db.idea(idea).await.unwrap().unwrap().state;
    assert_eq!(dev.development().unwrap().attendance.get(&mops_core::call::SeminarId(1)), Some(&true));
    staff.advance(call, CallPhase::Panel).await;
    staff.goto(&format!("/ideer/{idea}")).await;
    staff.submit("input[name=action][value=record_pitch] ~ button").await;
    staff.ok("record the pitch").await;
    staff.sign_out().await;

    // 6. The applicant writes the plan after the template and saves a draft.
    me.goto(&format!("/ideer/{idea}")).await;
    let sections = me.c.find_all(Locator::Css("textarea[name^='section_']")).await.unwrap();
    assert!(!sections.is_empty(), "the plan editor shows the template's sections");
    for (n, s) in sections.iter().enumerate() {
        s.send_keys(&format!("Avsnitt {} av projektplanen för mötesplatserna.", n + 1)).await.unwrap();
    }
    me.submit("button[value=save_plan]").await;
    assert_eq!(me.ok("save the plan").await, "Utkastet är sparat.");
    me.shot("08-plan-editor").await;

    // 7. The panel member gives feedback with a score per criterion.
    staff.sign_in(&panelist).await;
    staff.goto(&format!("/utlysningar/{call}/panel")).await;
    staff.shot("09-panel-running-order").await;
    staff.submit(&format!("a[href='/ideer/{idea}']")).await;
    staff.fill("#feedback-text", "Tydlig målgrupp. Beskriv hur föreningarna bär verksamheten efter projektet.").await;
    for score in staff.c.find_all(Locator::Css("input[name^='score_']")).await.unwrap() {
        score.send_keys("4").await.unwrap();
    }
    staff.submit("input[name=action][value=give_feedback] ~ button").await;
    staff.ok("feedback").await;
    staff.sign_out().await;

    // 8. The applicant submits the plan with the amount applied for.
    me.goto(&format!("/ideer/{idea}")).await;
    me.fill("#requested", "350 000").await;
    me.submit("button[value=submit_plan]").await;
    me.ok("submit the plan").await;
    assert_eq!(db.idea(idea).await.unwrap().unwrap().state.stage(), Stage::PlanSubmitted);

    // 9. After the deadline the sector group prepares the case.
    wait_until(plan_deadline).await;
    staff.sign_in(&leader).await;
    staff.advance(call, CallPhase::PlansDue).await;
    staff.advance(call, CallPhase::Preparation).await;
    staff.sign_out().await;
    staff.sign_in(&sector).await;
    staff.goto(&format!("/ideer/{idea}")).await;
    assert_eq!(
        staff.c.find(Locator::Css("#prepare-amount")).await.unwrap().prop("value").await.unwrap().as_deref(),
        Some("350 000"),
        "the requested amount is proposed"
    );
    staff.fill("#prepare-motivation", "Väl förankrad plan med rimlig budget.").await;
    staff.submit("input[name=action][value=prepare] ~ button").await;
    staff.ok("prepare").await;
    staff.sign_out().await;
    staff.sign_in(&leader).await;
    staff.advance(call, CallPhase::Decision).await;
    staff.sign_out().await;

    // 10. The board grants at the decision meeting; the remaining budget follows.
    staff.sign_in(&board).await;
    staff.goto(&format!("/utlysningar/{call}/beslut")).await;
    assert_eq!(staff.text("#remaining").await, "1 300 000 kr");
    staff.shot("10-board-meeting").await;
    staff.fill(&format!("#grant-motivation-{idea}"), "Projektet stärker unga i Skiftinge.").await;
    staff.submit(&format!("form[action='/ideer/{idea}/kommando'] input[value=grant] ~ button")).await;
    staff.ok("grant").await;
    assert_eq!(staff.text("#remaining").await, "950 000 kr", "the remaining budget is updated");
    staff.shot("11-board-decided").await;
    staff.submit("a[href^='/protokoll/']").await;
    let minutes = staff.body().await;
    assert!(minutes.contains("Mötesplatser för unga i Skiftinge") && minutes.contains("350"), "{minutes}");
    staff.shot("12-minutes").await;
    let granted = db.idea(idea).await.unwrap().unwrap().state;
    assert_eq!(granted.granted_amount().map(|s| s.ore()), Some(mops_core::Sek::from_kronor(350_000).unwrap().ore()));

    // 11. The applicant sees the outcome, and got a mail at every step.
    me.goto(&format!("/ideer/{idea}")).await;
    assert!(me.body().await.contains("Beviljad"));
    me.shot("13-applicant-granted").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let to_applicant: Vec<String> =
        mails(&mail_dir).into_iter().filter(|m| m.contains("sara.svensson@example.se")).collect();
    assert!(
        to_applicant.len() >= 5,
        "receipt, link, selected, invitations, plan receipt, grant: {}",
        to_applicant.len()
    );

    applicant_browser.close().await.unwrap();
    staff_browser.close().await.unwrap();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    eprintln!("screenshots: {}", shots.display());
}
