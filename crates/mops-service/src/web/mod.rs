//! The web application: server-rendered HTML in Swedish (and English), for
//! every role, that works without JavaScript.
//!
//! - Sessions are server-side ([`tower_sessions`], rows in `web_sessions`);
//!   the cookie holds only a random id, is `HttpOnly`, `SameSite=Lax`, and
//!   `Secure` when the public URL is `https://`.
//! - Staff sign in with email and password (argon2id); applicants with a
//!   one-time link sent by email, which opens a page that asks them to
//!   confirm with a button (a POST), so mail scanners that follow links use
//!   up nothing. Staff who forgot their password get a one-time reset link
//!   the same way (its page is a form; only the POST uses it); a new
//!   password, reset or changed, ends the user's other sessions.
//! - Every form is protected against cross-site request forgery by
//!   [`tower_http::csrf`] (the `Sec-Fetch-Site` and `Origin` checks of Go
//!   1.25): a POST from another site is refused with 403.
//! - Sign-in, link requests, password resets and changes and public
//!   submissions are rate-limited per client address ([`tower_governor`]).
//! - Every response carries a Content-Security-Policy (no scripts at all,
//!   no framing), `X-Content-Type-Options: nosniff`, a referrer policy, and
//!   HSTS when served over TLS.
//! - Who may see what is [`crate::api::access`], the same rules as the API;
//!   an idea the user may not see answers 404, and the refusal is logged.

mod admin;
mod auth;
mod i18n;
mod pages;
pub mod session;
mod view;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::post;
use lettre::message::Mailbox;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_http::csrf::CsrfLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

pub use i18n::Lang;
pub use session::DbSessionStore;

use crate::Db;
use crate::mail::Transport;

/// What the web application needs besides the database.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// `MOPS_PUBLIC_URL`: where people reach the service, e.g.
    /// `https://mops.example.se`; sign-in links in mails point there.
    /// Cookies are `Secure` and HSTS is sent when it is `https://`.
    pub public_url: String,
    /// How sign-in links are sent.
    pub transport: Transport,
    pub from: Mailbox,
    /// Whom status mails name for questions (`MOPS_MAIL_REPLY_TO`), for
    /// the outbox preview.
    pub reply_to: Mailbox,
    /// Requests per minute per client address on sign-in, link requests,
    /// password resets and changes, and public submissions. Defaults to
    /// 10; a burst of that many is allowed.
    pub rate_per_minute: u32,
}

impl WebConfig {
    fn secure(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

#[derive(Debug, Clone)]
pub(crate) struct WebState {
    pub db: Db,
    pub config: Arc<WebConfig>,
}

impl axum::extract::FromRef<WebState> for Db {
    fn from_ref(state: &WebState) -> Self {
        state.db.clone()
    }
}

/// The web application's routes with their layers. The service must be
/// served with `into_make_service_with_connect_info::<SocketAddr>()` so the
/// rate limits know the client's address.
pub fn router(db: Db, config: WebConfig) -> Router {
    let secure = config.secure();
    let state = WebState { db: db.clone(), config: Arc::new(config.clone()) };

    let per_minute = u64::from(config.rate_per_minute.max(1));
    let governor = GovernorConfigBuilder::default()
        .per_millisecond(60_000 / per_minute)
        .burst_size(config.rate_per_minute.max(1))
        .finish()
        .map(Arc::new);
    let limited = Router::new()
        .route("/logga-in", post(auth::sign_in))
        .route("/inloggningslank", post(auth::request_link))
        .route("/glomt-losenord", post(auth::request_reset))
        .route("/nytt-losenord/{secret}", post(auth::reset))
        .route("/byt-losenord", post(auth::change))
        .route("/utlysningar/{id}/ansok", post(pages::submit));
    let limited = match governor {
        Some(config) => limited.layer(GovernorLayer::new(config)),
        None => limited,
    };

    let sessions = SessionManagerLayer::new(DbSessionStore::new(db))
        .with_name("mops_session")
        .with_secure(secure)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(tower_sessions::cookie::time::Duration::hours(8)));

    let mut app = Router::new()
        .merge(pages::routes())
        .merge(admin::routes())
        .merge(auth::routes())
        .merge(limited)
        .with_state(state)
        .layer(sessions)
        .layer(CsrfLayer::new())
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
            ),
        ))
        // Pages show personal data (and a new API token, once): no cache
        // keeps them. The stylesheet sets its own.
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
        ));
    if secure {
        app = app.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ));
    }
    app
}

/// An id derived from a key (a form's key, a call's id): the same key gives
/// the same id, so a form sent twice names one object. Shaped as a random
/// (v4) UUID; `purpose` keeps ids for different things apart.
pub(crate) fn derived_id(purpose: &str, key: &str) -> uuid::Uuid {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("mops {purpose} {key}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// Deletes expired sessions and sign-in links every `every`, for ever.
pub async fn sweep_sessions(db: Db, every: Duration) {
    let store = DbSessionStore::new(db);
    loop {
        match store.delete_expired(chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "deleted expired sessions and sign-in links"),
            Err(e) => tracing::warn!(error = %e, "could not delete expired sessions"),
        }
        tokio::time::sleep(every).await;
    }
}
