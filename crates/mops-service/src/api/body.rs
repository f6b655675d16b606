//! What a write request carries besides its path: the JSON body, and the
//! `If-Match`, `Idempotency-Key` and `Accept-Language` headers. Each is read
//! once here, and a bad one answers a problem a person can act on, never 500.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use mops_core::domain::{Language, ParseError};
use serde::de::DeserializeOwned;

use super::ApiError;

/// A JSON body of type `T`. Rejects a missing or wrong `Content-Type` with
/// 415, malformed JSON with 400, and JSON of the wrong shape (an unknown
/// field, a missing one, a string where a number belongs) with 422.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::UnsupportedMediaType),
            Err(JsonRejection::JsonSyntaxError(e)) => {
                Err(ApiError::bad_request(format!("the body is not valid JSON: {}", source_text(&e))))
            }
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::unprocessable(format!(
                "the body does not fit this endpoint: {}; GET /api/openapi.json describes what it takes",
                source_text(&e)
            ))),
            Err(JsonRejection::BytesRejection(e)) => {
                Err(ApiError::bad_request(format!("the body could not be read: {}", e.body_text())))
            }
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

/// serde's own message ("unknown field `foo`, expected one of …", with the
/// path and line), without axum's generic prefix.
fn source_text(e: &dyn std::error::Error) -> String {
    let mut last = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

/// A field's value that did not parse, as a 422 naming the field.
pub fn invalid(field: &str, e: ParseError) -> ApiError {
    ApiError::unprocessable(format!("`{field}`: {e}"))
}

/// The version `If-Match` names: `"7"` (or `W/"7"`, or `*` for whatever is
/// current). Missing: 428, so that nobody overwrites a change they did not
/// see by forgetting the header.
pub fn if_match(headers: &HeaderMap, what: &'static str) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(axum::http::header::IF_MATCH) else {
        return Err(ApiError::PreconditionRequired { what });
    };
    let value = value.to_str().unwrap_or_default().trim();
    if value == "*" {
        return Ok(None);
    }
    let tag = value.strip_prefix("W/").unwrap_or(value);
    tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).and_then(|t| t.parse::<i64>().ok()).map(Some).ok_or_else(
        || {
            ApiError::bad_request(format!(
                "If-Match must be the {what}'s ETag as it was sent, a version in quotes such as \"7\"; got {value:?}"
            ))
        },
    )
}

/// The `Idempotency-Key` header: 1 to 200 visible ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            "Idempotency-Key must be 1 to 200 visible ASCII characters, e.g. a UUID; send the same key only \
             to retry the same request",
        ));
    }
    Ok(Some(key.to_owned()))
}

/// The language for messages: the first of `sv` and `en` that
/// `Accept-Language` names with a non-zero weight, highest weight first.
/// English when the header names neither (the API's default).
pub fn language(headers: &HeaderMap) -> Language {
    let Some(value) = headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()) else {
        return Language::En;
    };
    let mut best: Option<(f32, Language)> = None;
    for (order, item) in value.split(',').enumerate() {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q =
            parts.filter_map(|p| p.trim().strip_prefix("q=")).find_map(|q| q.trim().parse::<f32>().ok()).unwrap_or(1.0);
        let primary = tag.split('-').next().unwrap_or_default();
        let lang = match primary {
            "sv" => Language::Sv,
            "en" => Language::En,
            _ => continue,
        };
        // Equal weights keep the header's order: a tiny penalty per place.
        let weight = q - order as f32 * 1e-4;
        if q > 0.0 && best.is_none_or(|(w, _)| weight > w) {
            best = Some((weight, lang));
        }
    }
    best.map(|(_, l)| l).unwrap_or(Language::En)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with(name: &'static str, value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn accept_language_picks_swedish_or_english() {
        assert_eq!(language(&HeaderMap::new()), Language::En);
        assert_eq!(language(&with("accept-language", "sv-SE,sv;q=0.9,en;q=0.8")), Language::Sv);
        assert_eq!(language(&with("accept-language", "de, en;q=0.5, sv;q=0.7")), Language::Sv);
        assert_eq!(language(&with("accept-language", "en-GB, sv")), Language::En);
        assert_eq!(language(&with("accept-language", "sv;q=0, fr")), Language::En);
    }

    #[test]
    fn if_match_takes_a_quoted_version() {
        assert_eq!(if_match(&with("if-match", "\"7\""), "idea").ok(), Some(Some(7)));
        assert_eq!(if_match(&with("if-match", "W/\"7\""), "idea").ok(), Some(Some(7)));
        assert_eq!(if_match(&with("if-match", "*"), "idea").ok(), Some(None));
        assert!(matches!(if_match(&with("if-match", "7"), "idea"), Err(ApiError::BadRequest { .. })));
        assert!(matches!(if_match(&HeaderMap::new(), "idea"), Err(ApiError::PreconditionRequired { .. })));
    }
}
