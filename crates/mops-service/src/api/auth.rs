//! Who is asking: the bearer token of `Authorization: Bearer <secret>`.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use super::ApiError;
use crate::Db;
use crate::people::{PeopleStore, User};

/// The user an API token belongs to. Rejects with 401 (and
/// `WWW-Authenticate: Bearer`) when the token is missing or not valid.
#[derive(Debug, Clone)]
pub struct Authenticated(pub User);

impl<S> FromRequestParts<S> for Authenticated
where
    Db: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let secret = bearer(parts)?;
        let db = Db::from_ref(state);
        match db.authenticate_token(secret).await? {
            Some(user) => Ok(Self(user)),
            None => {
                // Never the secret: a mistyped one may be a real one.
                tracing::warn!("API: a request with an unknown or revoked token, or a disabled user's");
                Err(ApiError::InvalidToken)
            }
        }
    }
}

/// The secret of the `Authorization: Bearer` header.
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::MissingToken);
    };
    let value = value.to_str().map_err(|_| ApiError::InvalidToken)?.trim();
    let (scheme, secret) = value.split_once(' ').ok_or(ApiError::InvalidToken)?;
    // The scheme is case-insensitive (RFC 9110 §11.1).
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::MissingToken);
    }
    match secret.trim() {
        "" => Err(ApiError::InvalidToken),
        secret => Ok(secret),
    }
}
