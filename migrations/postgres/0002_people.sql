-- People, their roles and their API tokens, on PostgreSQL. Applied
-- migrations are never edited: add a new file instead. See
-- migrations/sqlite/0002_people.sql for the same schema with comments on
-- each table.

CREATE TABLE organisations (
    id         UUID PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE sector_groups (
    id         UUID PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    id              UUID PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE CHECK (email = lower(email)),
    name            TEXT NOT NULL,
    organisation_id UUID REFERENCES organisations (id),
    language        TEXT NOT NULL DEFAULT 'sv' CHECK (language IN ('sv', 'en')),
    password_hash   TEXT CHECK (password_hash IS NULL OR password_hash LIKE '$argon2id$%'),
    created_at      TIMESTAMPTZ NOT NULL,
    disabled_at     TIMESTAMPTZ
);

CREATE TABLE user_roles (
    user_id    UUID NOT NULL REFERENCES users (id),
    role       TEXT NOT NULL
               CHECK (role IN ('process_leader', 'sector_group_member', 'panel_member', 'board_member')),
    scope      UUID,
    granted_at TIMESTAMPTZ NOT NULL,
    granted_by UUID REFERENCES users (id),
    CONSTRAINT user_roles_scope_fits_role
        CHECK ((role IN ('sector_group_member', 'panel_member')) = (scope IS NOT NULL))
);
CREATE UNIQUE INDEX user_roles_once
    ON user_roles (user_id, role, COALESCE(scope, '00000000-0000-0000-0000-000000000000'::uuid));

CREATE TABLE api_tokens (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    token_hash   BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (user_id, name) WHERE revoked_at IS NULL;

CREATE TABLE people_log (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       TIMESTAMPTZ NOT NULL,
    actor    TEXT NOT NULL CHECK (actor IN ('command_line', 'seed', 'user')),
    actor_id UUID,
    action   TEXT NOT NULL,
    user_id  UUID,
    -- TEXT, as the event bodies: kept exactly as written.
    details  TEXT NOT NULL,
    CONSTRAINT people_log_actor_id_iff_user CHECK ((actor = 'user') = (actor_id IS NOT NULL))
);
CREATE INDEX people_log_by_user ON people_log (user_id, id);

-- mops_refuse_change() is defined in 0001.
CREATE TRIGGER people_log_is_append_only BEFORE UPDATE OR DELETE ON people_log
    FOR EACH ROW EXECUTE FUNCTION mops_refuse_change();
CREATE TRIGGER people_log_is_never_truncated BEFORE TRUNCATE ON people_log
    FOR EACH STATEMENT EXECUTE FUNCTION mops_refuse_change();
