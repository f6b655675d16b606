-- The web application's sign-in state, on PostgreSQL. Applied migrations
-- are never edited: add a new file instead.

-- Server-side sessions (tower-sessions): the cookie holds only the id.
-- `data` is the session record as JSON. Expired rows are deleted by the
-- service now and then; an expired row is never loaded.
CREATE TABLE web_sessions (
    id         TEXT PRIMARY KEY,
    data       TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

-- One-time sign-in links for applicants. Only the SHA-256 of the secret is
-- stored; the secret is in the mail alone. A link is used at most once and
-- only before it expires.
CREATE TABLE sign_in_links (
    token_hash BYTEA PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    UUID NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX sign_in_links_by_user ON sign_in_links (user_id);
