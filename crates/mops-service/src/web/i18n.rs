//! The page language: Swedish by default, English for who asks. The choice
//! is a cookie (`mops_lang`), so it holds before sign-in too; the texts
//! are in `templates/web/text.toml`, one table per language, and a test
//! checks that both tables have the same keys.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use mops_core::domain::Language;

const TEXT: &str = include_str!("../../templates/web/text.toml");

/// The language of this request's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lang(pub Language);

impl Lang {
    pub fn key(self) -> &'static str {
        match self.0 {
            Language::Sv => "sv",
            Language::En => "en",
        }
    }

    /// The page texts in this language.
    pub fn texts(self) -> &'static BTreeMap<String, String> {
        let catalog = catalog();
        match self.0 {
            Language::Sv => &catalog.sv,
            Language::En => &catalog.en,
        }
    }

    /// One text; the key itself if it is missing (a test keeps that from happening).
    pub fn t(self, key: &str) -> &'static str {
        self.texts().get(key).map(String::as_str).unwrap_or("?")
    }
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct Catalog {
    pub sv: BTreeMap<String, String>,
    pub en: BTreeMap<String, String>,
}

pub(crate) fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| toml::from_str(TEXT).expect("templates/web/text.toml parses"))
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let cookie = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(name, _)| *name == "mops_lang")
            .map(|(_, value)| value.trim().to_owned());
        Ok(Lang(match cookie.as_deref() {
            Some("en") => Language::En,
            _ => Language::Sv,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_have_the_same_texts() {
        let c = catalog();
        let sv: Vec<_> = c.sv.keys().collect();
        let en: Vec<_> = c.en.keys().collect();
        let only_sv: Vec<_> = sv.iter().filter(|k| !c.en.contains_key(k.as_str())).collect();
        let only_en: Vec<_> = en.iter().filter(|k| !c.sv.contains_key(k.as_str())).collect();
        assert!(only_sv.is_empty() && only_en.is_empty(), "only in sv: {only_sv:?}; only in en: {only_en:?}");
        assert!(c.sv.values().chain(c.en.values()).all(|v| !v.trim().is_empty()), "an empty text");
    }
}
