//! Signing in and out: staff with a password, applicants with a one-time
//! link; staff who forgot their password get a one-time reset link, and a
//! signed-in staff member changes theirs; and who is asking, for the pages.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use chrono::Utc;
use lettre::Message;
use lettre::message::{Mailbox, header::ContentType};
use mops_core::domain::{Email, Language, PersonId};
use serde::Deserialize;
use tower_sessions::Session;

use super::session::{LinkPurpose, USER_KEY};
use super::view::Page;
use super::{Lang, WebState, session};
use crate::people::{Password, PeopleStore, User};

pub(super) fn routes() -> Router<WebState> {
    Router::new()
        .route("/logga-in", get(sign_in_page))
        .route("/logga-ut", axum::routing::post(sign_out))
        .route("/lank/{secret}", get(link_page).post(use_link))
        .route("/glomt-losenord", get(forgot_page))
        .route("/nytt-losenord/{secret}", get(reset_page))
        .route("/byt-losenord", get(change_page))
        .route("/sprak/{lang}", get(switch_language))
}

/// The signed-in user, if any: an enabled user whose id the session holds.
#[derive(Debug, Clone)]
pub struct Viewer(pub Option<User>);

impl FromRequestParts<WebState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        let id: Option<PersonId> = session.get(USER_KEY).await.ok().flatten();
        let Some(id) = id else { return Ok(Self(None)) };
        match state.db.user(id).await {
            Ok(Some(user)) if !user.disabled => Ok(Self(Some(user))),
            Ok(_) => {
                // Disabled or gone since: the session ends here.
                let _ = session.flush().await;
                Ok(Self(None))
            }
            Err(e) => {
                tracing::error!(error = %e, "could not load the signed-in user");
                Err(StatusCode::SERVICE_UNAVAILABLE.into_response())
            }
        }
    }
}

/// A signed-in user; anyone else is sent to the sign-in page and back.
#[derive(Debug, Clone)]
pub struct SignedIn(pub User);

impl FromRequestParts<WebState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Self::Rejection> {
        match Viewer::from_request_parts(parts, state).await? {
            Viewer(Some(user)) => Ok(Self(user)),
            Viewer(None) => {
                // Back here after sign-in; a form's target (a POST) cannot be
                // opened again, so then back to the start.
                let here = match parts.method {
                    axum::http::Method::GET => parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
                    _ => "/",
                };
                let next = form_urlencoded_component(here);
                Err(Redirect::to(&format!("/logga-in?nasta={next}")).into_response())
            }
        }
    }
}

/// Percent-encodes a path for the `nasta` parameter, keeping `/` readable.
fn form_urlencoded_component(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The signed-in process leader. Anyone else signed in gets the same 404
/// page as for a page that does not exist (the refusal is logged); anyone
/// not signed in is sent to sign in.
#[derive(Debug, Clone)]
pub struct ProcessLeader(pub User);

impl FromRequestParts<WebState> for ProcessLeader {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Self::Rejection> {
        let SignedIn(user) = SignedIn::from_request_parts(parts, state).await?;
        if user.actor().is_process_leader() {
            return Ok(Self(user));
        }
        tracing::warn!(user = %user.id, path = %parts.uri.path(), "web: refused the process leader's page");
        let Ok(lang) = Lang::from_request_parts(parts, state).await;
        Err(super::pages::not_found_for(lang, Some(&user)))
    }
}

/// Only a path on this site: never `//evil.example` or `https://…`.
pub(super) fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.to_owned(),
        _ => "/".to_owned(),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct Next {
    nasta: Option<String>,
    /// `nytt` after a password was reset: the page says so.
    losenord: Option<String>,
}

async fn sign_in_page(Viewer(user): Viewer, lang: Lang, Query(q): Query<Next>) -> Response {
    if user.is_some() {
        return Redirect::to(&local_path(q.nasta.as_deref())).into_response();
    }
    let flash = (q.losenord.as_deref() == Some("nytt")).then(|| ("ok", lang.t("password_reset_done")));
    sign_in_page_with(lang, q.nasta.as_deref(), None, flash, StatusCode::OK)
}

fn sign_in_form(lang: Lang, next: Option<&str>, error: Option<&str>, status: StatusCode) -> Response {
    sign_in_page_with(lang, next, error, None, status)
}

fn sign_in_page_with(
    lang: Lang,
    next: Option<&str>,
    error: Option<&str>,
    flash: Option<(&str, &str)>,
    status: StatusCode,
) -> Response {
    Page {
        template: "sign_in.html",
        lang,
        user: None,
        path: "/logga-in",
        title: lang.t("sign_in").to_owned(),
        data: minijinja::context! { next => local_path(next), error => error, flash => flash },
    }
    .render_with(status)
}

#[derive(Debug, Deserialize)]
pub(super) struct SignInForm {
    email: String,
    password: String,
    nasta: Option<String>,
}

pub(super) async fn sign_in(
    State(state): State<WebState>,
    session: Session,
    lang: Lang,
    Form(form): Form<SignInForm>,
) -> Response {
    match state.db.authenticate_password(form.email.trim(), &form.password).await {
        Ok(Some(user)) => {
            // A new session id at sign-in: an id planted before cannot ride along.
            if let Err(e) = start_session(&session, user.id).await {
                tracing::error!(error = %e, "could not start a session");
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
            tracing::info!(user = %user.id, "signed in with a password");
            Redirect::to(&local_path(form.nasta.as_deref())).into_response()
        }
        Ok(None) => {
            tracing::warn!("a sign-in with a wrong address or password");
            sign_in_form(lang, form.nasta.as_deref(), Some(lang.t("sign_in_failed")), StatusCode::UNAUTHORIZED)
        }
        Err(e) => {
            tracing::error!(error = %e, "sign-in failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

async fn start_session(session: &Session, user: PersonId) -> Result<(), tower_sessions::session::Error> {
    session.cycle_id().await?;
    session.insert(USER_KEY, user).await
}

async fn sign_out(session: Session) -> Response {
    if let Err(e) = session.flush().await {
        tracing::warn!(error = %e, "could not delete a session at sign-out");
    }
    Redirect::to("/").into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct LinkForm {
    email: String,
}

/// Sends a sign-in link if the address belongs to an enabled user. The page
/// says the same whether it does or not, so it tells nobody who is registered.
pub(super) async fn request_link(State(state): State<WebState>, lang: Lang, Form(form): Form<LinkForm>) -> Response {
    let sent_page = || {
        Page {
            template: "link_sent.html",
            lang,
            user: None,
            path: "/logga-in",
            title: lang.t("link_sent_title").to_owned(),
            data: minijinja::context! {},
        }
        .render()
    };
    let Ok(email) = Email::parse(form.email.trim()) else {
        return sign_in_form(lang, None, Some(lang.t("email_invalid")), StatusCode::UNPROCESSABLE_ENTITY);
    };
    let user = match state.db.user_by_email(&email).await {
        Ok(Some(user)) if !user.disabled => user,
        Ok(_) => {
            tracing::info!("a sign-in link was asked for an unknown or disabled address");
            return sent_page();
        }
        Err(e) => {
            tracing::error!(error = %e, "could not look up a user for a sign-in link");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    match mail_link(&state, user, LinkPurpose::SignIn).await {
        Ok(()) => sent_page(),
        Err(()) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// Stores a one-time link of `purpose` for `user` and mails it. The mail is
/// sent in the background: the page answers as fast for a known address as
/// for an unknown one, so its timing tells nobody who is registered. An
/// error (logged here) means the link could not be stored or its mail built.
async fn mail_link(state: &WebState, user: User, purpose: LinkPurpose) -> Result<(), ()> {
    let (path, prefix, what) = match purpose {
        LinkPurpose::SignIn => ("lank", "link", "sign-in link"),
        LinkPurpose::PasswordReset => ("nytt-losenord", "reset", "password-reset link"),
    };
    let secret = session::create_link(&state.db, user.id, purpose, Utc::now())
        .await
        .map_err(|e| tracing::error!(error = %e, "could not store a {what}"))?;
    let url = format!("{}/{path}/{secret}", state.config.public_url.trim_end_matches('/'));
    let (subject, body) = match purpose {
        LinkPurpose::SignIn => sign_in_text(&user, &url),
        LinkPurpose::PasswordReset => reset_text(&user, &url),
    };
    // As the mail worker addresses a mail: a display name with a comma or
    // quotes in it is quoted, not parsed as two addresses.
    let message = user
        .email
        .as_str()
        .parse::<lettre::Address>()
        .map(|address| Mailbox::new(Some(user.name.to_string()), address))
        .map_err(|e| e.to_string())
        .and_then(|to| {
            Message::builder()
                .from(state.config.from.clone())
                .to(to)
                .subject(subject)
                .header(ContentType::TEXT_PLAIN)
                .body(body)
                .map_err(|e| e.to_string())
        })
        .map_err(|e| tracing::error!(error = %e, "could not build the mail with a {what}"))?;
    let transport = state.config.transport.clone();
    let name = format!("{prefix}-{}", &secret[..16]);
    tokio::spawn(async move {
        match transport.send(&name, message).await {
            Ok(_) => tracing::info!(user = %user.id, "sent a {what}"),
            Err(e) => tracing::error!(user = %user.id, error = %e.message, "could not send a {what}"),
        }
    });
    Ok(())
}

/// The subject and text of the mail with a sign-in link.
fn sign_in_text(user: &User, url: &str) -> (String, String) {
    let minutes = session::LINK_LIFETIME.num_minutes();
    match user.language {
        Language::Sv => (
            "Din inloggningslänk till Samhällskontraktet".to_owned(),
            format!(
                "Hej {name}!\n\nHär är länken för att logga in och följa dina idéer hos Samhällskontraktet:\n\n{url}\n\n\
                 Länken fungerar en gång och i {minutes} minuter. Har du inte bett om den kan du bortse från det här \
                 meddelandet.\n\nVänliga hälsningar\nSamhällskontraktet\n",
                name = user.name
            ),
        ),
        Language::En => (
            "Your sign-in link to Samhällskontraktet".to_owned(),
            format!(
                "Hello {name},\n\nHere is the link to sign in and follow your ideas at Samhällskontraktet:\n\n{url}\n\n\
                 The link works once and for {minutes} minutes. If you did not ask for it, you can ignore this \
                 message.\n\nKind regards\nSamhällskontraktet\n",
                name = user.name
            ),
        ),
    }
}

/// The page a sign-in link opens: it signs in nobody until the button is pressed.
async fn link_page(State(state): State<WebState>, lang: Lang, Path(secret): Path<String>) -> Response {
    let live = match session::link_is_live(&state.db, &secret, LinkPurpose::SignIn, Utc::now()).await {
        Ok(live) => live,
        Err(e) => {
            tracing::error!(error = %e, "could not check a sign-in link");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let status = if live { StatusCode::OK } else { StatusCode::GONE };
    Page {
        template: "link_confirm.html",
        lang,
        user: None,
        path: "/logga-in",
        title: lang.t("link_confirm_title").to_owned(),
        data: minijinja::context! { live => live, secret => secret },
    }
    .render_with(status)
}

async fn use_link(State(state): State<WebState>, session: Session, lang: Lang, Path(secret): Path<String>) -> Response {
    match session::consume_link(&state.db, &secret, Utc::now()).await {
        Ok(Some(user)) => {
            if let Err(e) = start_session(&session, user).await {
                tracing::error!(error = %e, "could not start a session");
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
            tracing::info!(user = %user, "signed in with a link");
            Redirect::to("/mina-ideer").into_response()
        }
        Ok(None) => Page {
            template: "link_confirm.html",
            lang,
            user: None,
            path: "/logga-in",
            title: lang.t("link_confirm_title").to_owned(),
            data: minijinja::context! { live => false, secret => secret },
        }
        .render_with(StatusCode::GONE),
        Err(e) => {
            tracing::error!(error = %e, "could not use a sign-in link");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

// ---------------------------------------------------------------------------
// Forgotten and changed passwords

/// The form that asks for the address a reset link goes to.
async fn forgot_page(Viewer(user): Viewer, lang: Lang) -> Response {
    if user.is_some_and(|u| u.has_password) {
        return Redirect::to("/byt-losenord").into_response();
    }
    forgot_form(lang, false, None, StatusCode::OK)
}

fn forgot_form(lang: Lang, sent: bool, error: Option<&str>, status: StatusCode) -> Response {
    let title = if sent { "reset_sent_title" } else { "forgot_title" };
    Page {
        template: "forgot_password.html",
        lang,
        user: None,
        path: "/glomt-losenord",
        title: lang.t(title).to_owned(),
        data: minijinja::context! { sent => sent, error => error },
    }
    .render_with(status)
}

/// Sends a password-reset link if the address belongs to an enabled user
/// who has a password (staff). Applicants (no password) and disabled users
/// get no mail; the page says the same in every case, as fast, so it tells
/// nobody who is registered.
pub(super) async fn request_reset(State(state): State<WebState>, lang: Lang, Form(form): Form<LinkForm>) -> Response {
    let Ok(email) = Email::parse(form.email.trim()) else {
        return forgot_form(lang, false, Some(lang.t("email_invalid")), StatusCode::UNPROCESSABLE_ENTITY);
    };
    let sent_page = || forgot_form(lang, true, None, StatusCode::OK);
    let user = match state.db.user_by_email(&email).await {
        Ok(Some(user)) if !user.disabled && user.has_password => user,
        Ok(_) => {
            tracing::info!("a password reset was asked for an unknown or disabled address, or one without a password");
            return sent_page();
        }
        Err(e) => {
            tracing::error!(error = %e, "could not look up a user for a password reset");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    match mail_link(&state, user, LinkPurpose::PasswordReset).await {
        Ok(()) => sent_page(),
        Err(()) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// The subject and text of the mail with a password-reset link.
fn reset_text(user: &User, url: &str) -> (String, String) {
    let minutes = session::LINK_LIFETIME.num_minutes();
    match user.language {
        Language::Sv => (
            "Välj ett nytt lösenord till Samhällskontraktet".to_owned(),
            format!(
                "Hej {name}!\n\nVi har fått en begäran om att byta lösenordet till ditt konto hos \
                 Samhällskontraktet. Öppna länken för att välja ett nytt lösenord:\n\n{url}\n\n\
                 Länken fungerar en gång och i {minutes} minuter. När du har valt ett nytt lösenord loggas du ut \
                 överallt där du är inloggad.\n\nHar du inte bett om det här kan du bortse från meddelandet; ditt \
                 lösenord är då oförändrat.\n\nVänliga hälsningar\nSamhällskontraktet\n",
                name = user.name
            ),
        ),
        Language::En => (
            "Choose a new password for Samhällskontraktet".to_owned(),
            format!(
                "Hello {name},\n\nWe have received a request to change the password of your account at \
                 Samhällskontraktet. Open the link to choose a new password:\n\n{url}\n\n\
                 The link works once and for {minutes} minutes. When you have chosen a new password, you are \
                 signed out wherever you are signed in.\n\nIf you did not ask for this, you can ignore this \
                 message; your password stays as it is.\n\nKind regards\nSamhällskontraktet\n",
                name = user.name
            ),
        ),
    }
}

/// The page a reset link opens: a form for the new password. Opening it
/// uses up nothing (mail scanners follow links); the POST does.
async fn reset_page(State(state): State<WebState>, lang: Lang, Path(secret): Path<String>) -> Response {
    match session::link_is_live(&state.db, &secret, LinkPurpose::PasswordReset, Utc::now()).await {
        Ok(true) => reset_form(lang, &secret, true, None, StatusCode::OK),
        Ok(false) => reset_form(lang, &secret, false, None, StatusCode::GONE),
        Err(e) => {
            tracing::error!(error = %e, "could not check a password-reset link");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

fn reset_form(lang: Lang, secret: &str, live: bool, error: Option<&str>, status: StatusCode) -> Response {
    Page {
        template: "password_reset.html",
        lang,
        user: None,
        path: "/glomt-losenord",
        title: lang.t("reset_title").to_owned(),
        data: minijinja::context! { live => live, secret => secret, error => error },
    }
    .render_with(status)
}

#[derive(Debug, Deserialize)]
pub(super) struct NewPasswordForm {
    #[serde(default)]
    current: String,
    password: String,
    password_again: String,
}

/// The new password, if the two fields agree and it is long enough and
/// not too long; otherwise the text that says what to do.
fn new_password(lang: Lang, form: &NewPasswordForm) -> Result<Password, &'static str> {
    if form.password != form.password_again {
        return Err(lang.t("password_mismatch"));
    }
    let chars = form.password.chars().count();
    if chars < Password::MIN_CHARS {
        return Err(lang.t("password_too_short"));
    }
    if chars > Password::MAX_CHARS {
        return Err(lang.t("password_too_long"));
    }
    Password::new(&form.password).map_err(|_| lang.t("password_too_short"))
}

/// Sets the new password by a reset link: the link is used, every session
/// of the user ends, and they are sent to sign in with the new password
/// (the link itself signs nobody in).
pub(super) async fn reset(
    State(state): State<WebState>,
    lang: Lang,
    Path(secret): Path<String>,
    Form(form): Form<NewPasswordForm>,
) -> Response {
    // A dead link says so before it says anything about the password.
    match session::link_is_live(&state.db, &secret, LinkPurpose::PasswordReset, Utc::now()).await {
        Ok(true) => {}
        Ok(false) => return reset_form(lang, &secret, false, None, StatusCode::GONE),
        Err(e) => {
            tracing::error!(error = %e, "could not check a password-reset link");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    let password = match new_password(lang, &form) {
        Ok(p) => p,
        Err(problem) => return reset_form(lang, &secret, true, Some(problem), StatusCode::UNPROCESSABLE_ENTITY),
    };
    match state.db.reset_password(session::link_hash(&secret), &password, Utc::now()).await {
        Ok(Some(user)) => {
            tracing::info!(user = %user, "a password was reset by a link");
            Redirect::to("/logga-in?losenord=nytt").into_response()
        }
        // Used or expired in the meantime.
        Ok(None) => reset_form(lang, &secret, false, None, StatusCode::GONE),
        Err(e) => {
            tracing::error!(error = %e, "could not reset a password");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// A signed-in staff member's own password. Applicants have none: for
/// them the page does not exist.
async fn change_page(SignedIn(user): SignedIn, lang: Lang, session: Session) -> Response {
    if !user.has_password {
        return super::pages::not_found_for(lang, Some(&user));
    }
    let flash = super::pages::take_flash(&session).await;
    change_form(lang, &user, None, flash, StatusCode::OK)
}

fn change_form(
    lang: Lang,
    user: &User,
    error: Option<&str>,
    flash: Option<(String, String)>,
    status: StatusCode,
) -> Response {
    Page {
        template: "password_change.html",
        lang,
        user: Some(user),
        path: "/byt-losenord",
        title: lang.t("change_password_title").to_owned(),
        data: minijinja::context! { error => error, flash => flash },
    }
    .render_with(status)
}

/// Changes the signed-in user's password after checking the current one;
/// every other session of theirs ends, this one goes on.
pub(super) async fn change(
    State(state): State<WebState>,
    SignedIn(user): SignedIn,
    session: Session,
    lang: Lang,
    Form(form): Form<NewPasswordForm>,
) -> Response {
    if !user.has_password {
        return super::pages::not_found_for(lang, Some(&user));
    }
    match state.db.authenticate_password(user.email.as_str(), &form.current).await {
        Ok(Some(same)) if same.id == user.id => {}
        Ok(_) => {
            tracing::warn!(user = %user.id, "a password change with a wrong current password");
            let problem = lang.t("current_password_wrong");
            return change_form(lang, &user, Some(problem), None, StatusCode::UNPROCESSABLE_ENTITY);
        }
        Err(e) => {
            tracing::error!(error = %e, "could not check a current password");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    let password = match new_password(lang, &form) {
        Ok(p) => p,
        Err(problem) => return change_form(lang, &user, Some(problem), None, StatusCode::UNPROCESSABLE_ENTITY),
    };
    let keep = session.id().map(|id| id.to_string());
    match state.db.change_own_password(user.id, &password, keep.as_deref()).await {
        Ok(ended) => {
            tracing::info!(user = %user.id, sessions_ended = ended, "a user changed their password");
            super::pages::flash(&session, "ok", lang.t("password_changed").to_owned()).await;
            Redirect::to("/byt-losenord").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "could not change a password");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct Back {
    tillbaka: Option<String>,
}

/// Sets the language cookie and goes back where the user was.
async fn switch_language(Path(lang): Path<String>, Query(q): Query<Back>) -> Response {
    let lang = if lang == "en" { "en" } else { "sv" };
    let back = local_path(q.tillbaka.as_deref());
    ([(header::SET_COOKIE, format!("mops_lang={lang}; Path=/; Max-Age=31536000; SameSite=Lax"))], Redirect::to(&back))
        .into_response()
}
