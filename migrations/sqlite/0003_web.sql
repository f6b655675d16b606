-- The web application's sign-in state, on SQLite. Applied migrations are
-- never edited: add a new file instead. Conventions as in 0001.

-- Server-side sessions (tower-sessions): the cookie holds only the id.
-- `data` is the session record as JSON. Expired rows are deleted by the
-- service now and then; an expired row is never loaded.
CREATE TABLE web_sessions (
    id         TEXT PRIMARY KEY,
    data       TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

-- One-time sign-in links for applicants. Only the SHA-256 of the secret is
-- stored; the secret is in the mail alone. A link is used at most once and
-- only before it expires.
CREATE TABLE sign_in_links (
    token_hash BLOB PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    BLOB NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX sign_in_links_by_user ON sign_in_links (user_id);
