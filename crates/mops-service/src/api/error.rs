//! The API's one error type, answered as `application/problem+json`
//! (RFC 9457): `type`, `title`, `status` and a `detail` a person can act on.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::StoreError;
use crate::people::PeopleError;

/// The media type of every error the API answers.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Why a request was not answered. The detail never says whether an object
/// the caller may not see exists.
#[derive(Debug)]
pub enum ApiError {
    /// No `Authorization: Bearer …` header (401).
    MissingToken,
    /// A bearer token that is malformed, unknown, revoked, or whose user is
    /// disabled (401).
    InvalidToken,
    /// An unknown id, or an object the caller may not see (404).
    NotFound { detail: String },
    /// A method other than GET on an API path: the API is read-only (405).
    MethodNotAllowed,
    /// The database was busy; the same request may succeed in a moment (503).
    Busy,
    /// Never the caller's fault. The message is logged, not answered (500).
    Internal(String),
}

impl ApiError {
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::NotFound { detail: detail.into() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the caller reads.
    pub fn detail(&self) -> String {
        match self {
            Self::MissingToken => "this endpoint needs an API token: send it as `Authorization: Bearer mops_…`; \
                                   the process leader creates one with `mops token create`"
                .into(),
            Self::InvalidToken => "the API token is not valid: it may be mistyped, revoked, or its user disabled; \
                                   check it, or ask the process leader for a new one (`mops token create`)"
                .into(),
            Self::NotFound { detail } => detail.clone(),
            Self::MethodNotAllowed => "the API is read-only for now: only GET (and HEAD) are answered here".into(),
            Self::Busy => "the database is busy; try again in a moment".into(),
            Self::Internal(_) => "something went wrong on our side; it has been logged. Try again later, and tell \
                                  the process leader if it keeps happening"
                .into(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Internal(e) => write!(f, "internal error: {e}"),
            other => f.write_str(&other.detail()),
        }
    }
}

impl std::error::Error for ApiError {}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Busy => Self::Busy,
            e => Self::Internal(e.to_string()),
        }
    }
}

impl From<PeopleError> for ApiError {
    fn from(e: PeopleError) -> Self {
        match e {
            PeopleError::Busy => Self::Busy,
            e => Self::Internal(e.to_string()),
        }
    }
}

/// The body of a problem response.
#[derive(Debug, Serialize)]
struct Problem {
    r#type: &'static str,
    title: &'static str,
    status: u16,
    detail: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(e) = &self {
            // Logged here, once, where it becomes a response.
            tracing::error!(error = %e, "an API request failed");
        }
        let status = self.status();
        let problem = Problem {
            // No semantics beyond the status code: RFC 9457 §4.2.1.
            r#type: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.detail(),
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match self {
            Self::MissingToken => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"mops\""));
            }
            Self::InvalidToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"mops\", error=\"invalid_token\""),
                );
            }
            Self::Busy => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::MethodNotAllowed => {
                headers.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            }
            Self::NotFound { .. } | Self::Internal(_) => {}
        }
        response
    }
}
