-- Staff reset and change their own passwords, on SQLite. Applied migrations
-- are never edited: add a new file instead. Conventions as in 0001.

-- A one-time link is for one purpose: 'sign_in' (the applicants' sign-in
-- links, every link made before this migration) or 'password_reset' (a
-- staff member who forgot their password). A link is looked up and used
-- with its purpose, so a sign-in link never resets a password and a reset
-- link never signs anybody in.
ALTER TABLE sign_in_links
    ADD COLUMN purpose TEXT NOT NULL DEFAULT 'sign_in' CHECK (purpose IN ('sign_in', 'password_reset'));

-- Whose session a row is (NULL before sign-in), so a new password can end
-- every other session of that person. The session store writes it with the
-- record; no foreign key: the sessions are written by the session layer,
-- which must not fail on a person it cannot see.
ALTER TABLE web_sessions ADD COLUMN user_id BLOB;
CREATE INDEX web_sessions_by_user ON web_sessions (user_id);

-- The sessions open now: the user's id from the stored record
-- ({"data": {"user": "<uuid>"}}).
UPDATE web_sessions
SET user_id = unhex(replace(json_extract(data, '$.data.user'), '-', ''))
WHERE json_extract(data, '$.data.user') IS NOT NULL;
