-- People, their roles and their API tokens, on SQLite: the foundation of
-- sign-in and access control. Applied migrations are never edited: add a
-- new file instead.
--
-- Conventions as in 0001: ids are UUIDs stored as 16-byte BLOBs, instants
-- RFC 3339 TEXT in UTC. A person's id is the PersonId the pipeline's events
-- and ideas carry.

-- The parties of the collaboration (Mälardalens högskola, Eskilstuna kommun,
-- Västerås stad, …).
CREATE TABLE organisations (
    id         BLOB PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

-- Sector groups (sektorsgrupper): they own calls and select ideas.
CREATE TABLE sector_groups (
    id         BLOB PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

-- Everyone who signs in: staff with a password (argon2id, PHC string),
-- applicants without one (they will sign in by a one-time link).
-- The email is stored lower-cased, so it is unique whatever the case typed.
-- Nobody is deleted: a person who leaves is disabled.
CREATE TABLE users (
    id              BLOB PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE CHECK (email = lower(email)),
    name            TEXT NOT NULL,
    organisation_id BLOB REFERENCES organisations (id),
    language        TEXT NOT NULL DEFAULT 'sv' CHECK (language IN ('sv', 'en')),
    password_hash   TEXT CHECK (password_hash IS NULL OR password_hash LIKE '$argon2id$%'),
    created_at      TEXT NOT NULL,
    disabled_at     TEXT
);

-- The roles people hold. The scope is the sector group of a
-- sector_group_member and the call of a panel_member; the other roles have
-- none (NULL). The scope is checked by the code (a sector group in
-- sector_groups, a call in calls): one column cannot reference two tables.
CREATE TABLE user_roles (
    user_id    BLOB NOT NULL REFERENCES users (id),
    role       TEXT NOT NULL
               CHECK (role IN ('process_leader', 'sector_group_member', 'panel_member', 'board_member')),
    scope      BLOB,
    granted_at TEXT NOT NULL,
    granted_by BLOB REFERENCES users (id),
    CHECK ((role IN ('sector_group_member', 'panel_member')) = (scope IS NOT NULL))
);
-- NULLs are distinct in a UNIQUE constraint, so "no scope" is made the nil
-- UUID for uniqueness: a role without scope is held once.
CREATE UNIQUE INDEX user_roles_once
    ON user_roles (user_id, role, COALESCE(scope, X'00000000000000000000000000000000'));

-- API tokens: only the SHA-256 of the secret is stored, never the secret.
CREATE TABLE api_tokens (
    id           BLOB PRIMARY KEY,
    user_id      BLOB NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    token_hash   BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);
-- One live token of a name per person; revoked ones keep their names.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (user_id, name) WHERE revoked_at IS NULL;

-- Who changed what about people, roles and tokens, and when: append-only.
-- actor: 'command_line' (the mops command, nobody signed in), 'seed' (the
-- demo data) or 'user' (actor_id signed in). user_id: whom it is about.
-- details: JSON text.
CREATE TABLE people_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT NOT NULL,
    actor    TEXT NOT NULL CHECK (actor IN ('command_line', 'seed', 'user')),
    actor_id BLOB,
    action   TEXT NOT NULL,
    user_id  BLOB,
    details  TEXT NOT NULL,
    CHECK ((actor = 'user') = (actor_id IS NOT NULL))
);
CREATE INDEX people_log_by_user ON people_log (user_id, id);

CREATE TRIGGER people_log_is_append_only_update BEFORE UPDATE ON people_log
BEGIN
    SELECT RAISE(ABORT, 'people_log is append-only: UPDATE is refused');
END;
CREATE TRIGGER people_log_is_append_only_delete BEFORE DELETE ON people_log
BEGIN
    SELECT RAISE(ABORT, 'people_log is append-only: DELETE is refused');
END;
