//! The API's one error type, answered as `application/problem+json`
//! (RFC 9457): `type`, `title`, `status` and a `detail` a person can act on.
//!
//! Every `type` is a stable URN (`urn:mops:problem:<slug>`): clients may
//! branch on it, so a slug is never renamed. `docs/api.md` lists them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mops_core::TransitionError;
use mops_core::domain::Language;
use serde::Serialize;
use utoipa::ToSchema;

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
    /// The caller's roles do not allow this endpoint at all, whatever the
    /// object (403). Never used for an object the caller may not see: that
    /// is [`ApiError::NotFound`].
    Forbidden { detail: String },
    /// An unknown id, or an object the caller may not see (404).
    NotFound { detail: String },
    /// A method this path does not answer (405).
    MethodNotAllowed,
    /// The body or a parameter is not well-formed: bad JSON, a bad query
    /// parameter or header (400).
    BadRequest { detail: String },
    /// The body is not `application/json` (415).
    UnsupportedMediaType,
    /// The body is well-formed but a value is not acceptable: an unknown
    /// field, a negative amount, an empty motivation (422).
    Unprocessable { detail: String },
    /// The idempotency key was used before for a different request (422).
    IdempotencyMismatch { key: String },
    /// A write to an existing call or idea without `If-Match` (428).
    PreconditionRequired { what: &'static str },
    /// `If-Match` names a version that is no longer current (412).
    PreconditionFailed { what: &'static str, expected: i64, current: i64 },
    /// The core refused the command (409, or 403 when the caller's role may
    /// not take the action); the detail is in the caller's language.
    Refused { error: TransitionError, lang: Language },
    /// Someone else wrote the same object at the same moment (409); the
    /// same request may succeed when tried again.
    Conflict { detail: String },
    /// The database was busy; the same request may succeed in a moment (503).
    Busy,
    /// Never the caller's fault. The message is logged, not answered (500).
    Internal(String),
}

impl ApiError {
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::NotFound { detail: detail.into() }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::BadRequest { detail: detail.into() }
    }

    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::Unprocessable { detail: detail.into() }
    }

    /// A store error as the answer to a command in `lang`.
    pub fn from_store(e: StoreError, lang: Language) -> Self {
        match e {
            StoreError::Rejected(error) => Self::Refused { error, lang },
            StoreError::Conflict { what, expected: Some(expected), actual } => {
                Self::PreconditionFailed { what, expected, current: actual }
            }
            e @ StoreError::Conflict { expected: None, .. } => Self::Conflict { detail: e.to_string() },
            StoreError::IdempotencyMismatch { key } => Self::IdempotencyMismatch { key },
            e @ StoreError::DuplicateRegistry { .. } => Self::Unprocessable { detail: e.to_string() },
            e => e.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable { .. } | Self::IdempotencyMismatch { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PreconditionRequired { .. } => StatusCode::PRECONDITION_REQUIRED,
            Self::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Self::Refused { error, .. } => match error {
                TransitionError::NotAllowed { .. } => StatusCode::FORBIDDEN,
                TransitionError::InvalidDefinition { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                TransitionError::Replay { .. } => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::CONFLICT,
            },
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable problem type.
    pub fn problem_type(&self) -> &'static str {
        match self {
            Self::MissingToken | Self::InvalidToken => "urn:mops:problem:unauthenticated",
            Self::Forbidden { .. } => "urn:mops:problem:forbidden",
            Self::NotFound { .. } => "urn:mops:problem:not-found",
            Self::MethodNotAllowed => "urn:mops:problem:method-not-allowed",
            Self::BadRequest { .. } => "urn:mops:problem:bad-request",
            Self::UnsupportedMediaType => "urn:mops:problem:unsupported-media-type",
            Self::Unprocessable { .. } => "urn:mops:problem:invalid-value",
            Self::IdempotencyMismatch { .. } => "urn:mops:problem:idempotency-key-reused",
            Self::PreconditionRequired { .. } => "urn:mops:problem:if-match-required",
            Self::PreconditionFailed { .. } => "urn:mops:problem:stale-version",
            Self::Refused { error: TransitionError::Replay { .. }, .. } | Self::Internal(_) => {
                "urn:mops:problem:internal"
            }
            Self::Refused { error: TransitionError::InvalidDefinition { .. }, .. } => "urn:mops:problem:invalid-value",
            Self::Refused { .. } => "urn:mops:problem:refused",
            Self::Conflict { .. } => "urn:mops:problem:concurrent-write",
            Self::Busy => "urn:mops:problem:busy",
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
            Self::Forbidden { detail }
            | Self::NotFound { detail }
            | Self::BadRequest { detail }
            | Self::Unprocessable { detail }
            | Self::Conflict { detail } => detail.clone(),
            Self::MethodNotAllowed => {
                "this path does not answer that method; the `Allow` header lists the ones it does, and \
                 GET /api/openapi.json describes every endpoint"
                    .into()
            }
            Self::UnsupportedMediaType => "send the body as JSON with `Content-Type: application/json`".into(),
            Self::IdempotencyMismatch { key } => format!(
                "the Idempotency-Key {key:?} was already used for a different request; \
                 use a new key for a new request, and the same key only to retry the same request"
            ),
            Self::PreconditionRequired { what } => format!(
                "a write to an existing {what} needs `If-Match: \"<version>\"`: GET the {what} first and send \
                 its ETag, so that a change someone else made in between is not overwritten"
            ),
            Self::PreconditionFailed { what, expected, current } => format!(
                "the {what} has changed since you read it: you sent If-Match \"{expected}\", it is now at \
                 version \"{current}\"; reload it (GET), check the change, and send the request again with \
                 If-Match: \"{current}\""
            ),
            Self::Refused { error: TransitionError::Replay { .. }, .. } | Self::Internal(_) => {
                "something went wrong on our side; it has been logged. Try again later, and tell \
                 the process leader if it keeps happening"
                    .into()
            }
            Self::Refused { error, lang } => error.message(*lang),
            Self::Busy => "the database is busy; try again in a moment".into(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Internal(e) => write!(f, "internal error: {e}"),
            Self::Refused { error: TransitionError::Replay { detail }, .. } => write!(f, "corrupt event log: {detail}"),
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

/// An error, as RFC 9457 problem details (`application/problem+json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A stable URN naming the kind of problem, e.g.
    /// `urn:mops:problem:stale-version`; see docs/api.md for the list.
    #[serde(rename = "type")]
    #[schema(example = "urn:mops:problem:stale-version")]
    pub kind: &'static str,
    /// The HTTP status text.
    pub title: &'static str,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong and what to do about it, for a person.
    pub detail: String,
    /// For a refused command (409, 403): the core's stable error code, e.g.
    /// `budget_exceeded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// For 412: the object's current version (its ETag without quotes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            // Logged here, once, where it becomes a response.
            Self::Internal(e) => tracing::error!(error = %e, "an API request failed"),
            Self::Refused { error: TransitionError::Replay { detail }, .. } => {
                tracing::error!(error = %detail, "an API command met a corrupt event log");
            }
            _ => {}
        }
        let status = self.status();
        let problem = Problem {
            kind: self.problem_type(),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.detail(),
            code: match &self {
                Self::Refused { error, .. } => Some(error.code()),
                _ => None,
            },
            current_version: match &self {
                Self::PreconditionFailed { current, .. } => Some(*current),
                _ => None,
            },
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match &self {
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
            Self::PreconditionFailed { current, .. } => {
                if let Ok(v) = HeaderValue::from_str(&format!("\"{current}\"")) {
                    headers.insert(header::ETAG, v);
                }
            }
            Self::UnsupportedMediaType => {
                headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
            }
            _ => {}
        }
        response
    }
}
