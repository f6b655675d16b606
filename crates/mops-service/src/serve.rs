//! `mops serve`: the HTTP server, the mail worker and the timers, together.
//! Each runs as its own task under `tokio::select!`; when one stops, the
//! others are stopped too and the service says which one stopped and why.
//! SIGTERM and Ctrl-C shut it down gracefully: the HTTP server finishes the
//! requests in flight, and the loops finish the pass they are in.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use mops_core::timers::TimerConfig;
use serde_json::json;
use tokio::sync::watch;

use crate::api;
use crate::mail::MailWorker;
use crate::scheduler;
use crate::store::{Db, Store};
use crate::web::{self, WebConfig};

/// How often the loops look for work. Defaults: mail every 5 s, timers every minute.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// `MOPS_BIND`; defaults to `127.0.0.1:8080`.
    pub bind: SocketAddr,
    pub mail_interval: Duration,
    pub timer_interval: Duration,
    pub timers: TimerConfig,
    /// `MOPS_PUBLIC_URL`: where people reach the service (sign-in links in
    /// mails point there). Defaults to `http://` and the bound address.
    pub public_url: Option<String>,
    /// `MOPS_RATE_PER_MINUTE`: sign-ins, link requests and public
    /// submissions per minute per client address. Defaults to 10.
    pub rate_per_minute: u32,
}

impl ServeOptions {
    /// From `MOPS_BIND`, `MOPS_MAIL_INTERVAL_SECS` and `MOPS_TIMER_INTERVAL_SECS`.
    pub fn from_env() -> Result<Self, String> {
        use crate::config::{env_secs, env_var as var};
        let defaults = Self::default();
        let secs = |name: &str, default: Duration| env_secs(name, default, 1);
        Ok(Self {
            bind: match var("MOPS_BIND") {
                None => defaults.bind,
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| format!("MOPS_BIND must be an address like 127.0.0.1:8080, not {v:?}"))?,
            },
            mail_interval: secs("MOPS_MAIL_INTERVAL_SECS", defaults.mail_interval)?,
            timer_interval: secs("MOPS_TIMER_INTERVAL_SECS", defaults.timer_interval)?,
            timers: defaults.timers,
            public_url: var("MOPS_PUBLIC_URL").map(|u| u.trim().trim_end_matches('/').to_owned()),
            rate_per_minute: match var("MOPS_RATE_PER_MINUTE") {
                None => defaults.rate_per_minute,
                Some(v) => v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("MOPS_RATE_PER_MINUTE must be a whole number above 0, not {v:?}"))?,
            },
        })
    }
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            mail_interval: Duration::from_secs(5),
            timer_interval: Duration::from_secs(60),
            timers: TimerConfig::default(),
            public_url: None,
            rate_per_minute: 10,
        }
    }
}

#[derive(Clone)]
struct AppState {
    db: Db,
}

/// Everything the service answers: [`router`] and the web application
/// ([`crate::web`]).
pub fn app(db: Db, web: WebConfig) -> Router {
    router(db.clone()).merge(web::router(db, web))
}

/// The routes the service answers: health, readiness and the JSON API
/// under `/api/v1` ([`crate::api`]).
pub fn router(db: Db) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(Arc::new(AppState { db: db.clone() }))
        .merge(api::router(db))
}

/// Alive: the process answers.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Ready: the database answers and its migrations are applied.
async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    match state.db.migrations_pending().await {
        Ok(0) => (StatusCode::OK, Json(json!({ "status": "ready", "database": state.db.backend().to_string() }))),
        Ok(n) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "detail": format!("{n} migrations are not applied") })),
        ),
        Err(e) => {
            tracing::error!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "not ready", "detail": "the database does not answer" })),
            )
        }
    }
}

/// Resolves when SIGTERM or Ctrl-C arrives. The SIGTERM handler is
/// installed when this is called, not when the future is first polled, so
/// a SIGTERM that comes early (right after the address is printed) still
/// means a graceful stop.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async {
            match term.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => {},
            () = term => {},
        }
    }
}

/// Binds the address; the caller learns the actual port (for `:0`).
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Runs until `shutdown` resolves or a part stops. Returns which part
/// stopped and why, or `Ok` for a requested shutdown.
pub async fn run(
    db: Db,
    worker: MailWorker<Db>,
    listener: tokio::net::TcpListener,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let (stop_tx, stop_rx) = watch::channel(false);

    let web = {
        let settings = worker.settings();
        let public_url = match &options.public_url {
            Some(url) => url.clone(),
            None => format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?),
        };
        WebConfig {
            public_url,
            transport: crate::mail::Transport::new(settings, 2)?,
            from: settings.from.clone(),
            reply_to: worker.reply_to().clone(),
            rate_per_minute: options.rate_per_minute,
        }
    };
    let sweeper = tokio::spawn(web::sweep_sessions(db.clone(), Duration::from_secs(3600)));

    let http = {
        let mut stop = stop_rx.clone();
        let app = app(db.clone(), web).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
                .map_err(|e| format!("the HTTP server stopped: {e}"))
        })
    };

    let mail = {
        let mut stop = stop_rx.clone();
        let interval = options.mail_interval;
        tokio::spawn(async move {
            loop {
                match worker.drain(Utc::now()).await {
                    Ok(r) if r.handled() > 0 => {
                        tracing::info!(sent = r.sent, retried = r.retried, failed = r.failed, "mail pass")
                    }
                    Ok(_) => {}
                    // A database hiccup is logged and retried on the next pass.
                    Err(e) => tracing::error!(error = %e, "the mail worker could not finish a pass"),
                }
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return Ok::<(), String>(()),
                    () = tokio::time::sleep(interval) => {}
                }
            }
        })
    };

    let timers = {
        let mut stop = stop_rx.clone();
        let db = db.clone();
        let interval = options.timer_interval;
        let config = options.timers.clone();
        tokio::spawn(async move {
            loop {
                match scheduler::run_due(&db, Utc::now(), &config).await {
                    Ok(r) if r.applied > 0 => tracing::info!(applied = r.applied, "timers applied"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "the timers could not finish a pass"),
                }
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return Ok::<(), String>(()),
                    () = tokio::time::sleep(interval) => {}
                }
            }
        })
    };

    let (mut http, mut mail, mut timers) = (http, mail, timers);
    let outcome = tokio::select! {
        () = shutdown => {
            tracing::info!("shutdown requested; finishing the work in flight");
            Ok(())
        }
        r = &mut http => Err(describe("the HTTP server", r)),
        r = &mut mail => Err(describe("the mail worker", r)),
        r = &mut timers => Err(describe("the timers", r)),
    };
    let _ = stop_tx.send(true);
    sweeper.abort();
    // Let each part finish its pass; don't wait for ever.
    for handle in [http, mail, timers] {
        if !handle.is_finished() {
            let _ = tokio::time::timeout(Duration::from_secs(20), handle).await;
        }
    }
    outcome
}

fn describe(part: &str, r: Result<Result<(), String>, tokio::task::JoinError>) -> String {
    match r {
        Ok(Ok(())) => format!("{part} stopped unexpectedly"),
        Ok(Err(e)) => format!("{part} stopped: {e}"),
        Err(e) => format!("{part} crashed: {e}"),
    }
}
