//! Pages from templates (`templates/web/*.html`, compiled into the binary):
//! one layout, with the signed-in user's menu, the language switch and a
//! skip link; dates and amounts in Swedish format.

use std::sync::OnceLock;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use minijinja::{Environment, UndefinedBehavior, Value};
use mops_core::domain::{Language, Sek};
use serde::Serialize;

use super::Lang;
use crate::mail::render::{date, when};
use crate::people::User;

macro_rules! pages {
    ($($name:literal),+ $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/web/", $name)))),+]
    };
}

const TEMPLATES: &[(&str, &str)] = pages!(
    "layout.html",
    "home.html",
    "call.html",
    "submitted.html",
    "sign_in.html",
    "link_sent.html",
    "link_confirm.html",
    "my_ideas.html",
    "idea.html",
    "pipeline.html",
    "panel.html",
    "board.html",
    "leader.html",
    "call_form.html",
    "seminars.html",
    "token_created.html",
    "message.html",
    "forgot_password.html",
    "password_reset.html",
    "password_change.html",
);

const STYLE: &str = include_str!("../../templates/web/style.css");

/// The stylesheet, served at `/static/style.css` (the CSP allows no inline styles).
pub fn stylesheet() -> &'static str {
    STYLE
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        // A misspelt variable printed is an error in the tests, not an empty string
        // on a page; `{% if x %}` on a missing one is false.
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source).unwrap_or_else(|e| panic!("template {name} does not parse: {e}"));
        }
        env.add_filter("sek", |ore: i64| {
            Sek::from_ore(ore).map(Sek::to_string_nbsp).unwrap_or_else(|_| ore.to_string())
        });
        env.add_filter("kronor", |ore: i64| Sek::from_ore(ore).map(|s| s.number(' ')).unwrap_or_default());
        env.add_filter("when", |at: String, lang: String| format_instant(&at, &lang, true));
        env.add_filter("date", |at: String, lang: String| format_instant(&at, &lang, false));
        env
    })
}

fn format_instant(at: &str, lang: &str, with_time: bool) -> String {
    let lang = if lang == "en" { Language::En } else { Language::Sv };
    match at.parse::<DateTime<Utc>>() {
        Ok(t) if with_time => when(t, lang),
        Ok(t) => date(t, lang),
        Err(_) => at.to_owned(),
    }
}

/// The signed-in user as the layout shows them.
#[derive(Debug, Serialize)]
pub struct Me {
    pub name: String,
    pub email: String,
    pub process_leader: bool,
    pub sector_group: bool,
    pub panel: bool,
    pub board: bool,
    pub applicant: bool,
    /// Staff sign in with a password and may change it; applicants have none.
    pub has_password: bool,
}

impl Me {
    pub fn of(user: &User) -> Self {
        let actor = user.actor();
        let roles = &user.roles;
        Self {
            name: user.name.to_string(),
            email: user.email.to_string(),
            process_leader: actor.is_process_leader(),
            sector_group: roles.iter().any(|r| matches!(r, mops_core::Role::SectorGroupMember { .. })),
            panel: roles.iter().any(|r| matches!(r, mops_core::Role::PanelMember { .. })),
            board: actor.is_board_member(),
            applicant: roles.is_empty(),
            has_password: user.has_password,
        }
    }
}

/// A page ready to render: template, language, who is signed in, the path
/// (for the language switch) and the page's own data.
#[derive(Debug)]
pub struct Page<'a> {
    pub template: &'static str,
    pub lang: Lang,
    pub user: Option<&'a User>,
    pub path: &'a str,
    pub title: String,
    pub data: Value,
}

impl Page<'_> {
    pub fn render(self) -> Response {
        self.render_with(StatusCode::OK)
    }

    pub fn render_with(self, status: StatusCode) -> Response {
        let ctx = minijinja::context! {
            t => texts_value(self.lang),
            lang => self.lang.key(),
            me => self.user.map(Me::of),
            path => self.path,
            page_title => self.title,
            ..self.data
        };
        match environment().get_template(self.template).and_then(|t| t.render(ctx)) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(template = self.template, error = %e, "a page could not be rendered");
                (StatusCode::INTERNAL_SERVER_ERROR, Html(fallback_error(self.lang))).into_response()
            }
        }
    }
}

/// The page texts of a language as a template value, made once: every
/// page shows them, and converting the whole catalog per request is waste.
fn texts_value(lang: Lang) -> Value {
    static SV: OnceLock<Value> = OnceLock::new();
    static EN: OnceLock<Value> = OnceLock::new();
    let cell = match lang.0 {
        Language::Sv => &SV,
        Language::En => &EN,
    };
    cell.get_or_init(|| Value::from_serialize(lang.texts())).clone()
}

/// A page for when the templates themselves fail: plain, no layout.
fn fallback_error(lang: Lang) -> String {
    let (title, text) = match lang.0 {
        Language::Sv => ("Något gick fel", "Sidan kunde inte visas. Försök igen om en stund."),
        Language::En => ("Something went wrong", "The page could not be shown. Please try again in a while."),
    };
    format!("<!doctype html><html lang=\"{}\"><title>{title}</title><h1>{title}</h1><p>{text}</p></html>", lang.key())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            environment().get_template(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
