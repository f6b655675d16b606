-- The durable pipeline on PostgreSQL. Applied migrations are never edited:
-- add a new file instead. See migrations/sqlite/0001_pipeline.sql for the
-- same schema with comments on each table.

CREATE TABLE calls (
    id             UUID PRIMARY KEY,
    state          TEXT NOT NULL,
    phase          TEXT NOT NULL,
    title          TEXT NOT NULL,
    version        BIGINT NOT NULL,
    head_hash      BYTEA NOT NULL,
    budget_ore     BIGINT NOT NULL,
    capacity       BIGINT NOT NULL,
    selected_count BIGINT NOT NULL DEFAULT 0,
    granted_ore    BIGINT NOT NULL DEFAULT 0,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    CONSTRAINT calls_budget_not_overspent CHECK (granted_ore >= 0 AND granted_ore <= budget_ore),
    CONSTRAINT calls_selection_within_capacity CHECK (selected_count >= 0 AND selected_count <= capacity)
);

CREATE TABLE ideas (
    id           UUID PRIMARY KEY,
    call_id      UUID NOT NULL REFERENCES calls (id),
    state        TEXT NOT NULL,
    stage        TEXT NOT NULL,
    furthest     BIGINT NOT NULL,
    title        TEXT NOT NULL,
    lead_person  UUID NOT NULL,
    granted_ore  BIGINT,
    registry     TEXT UNIQUE,
    version      BIGINT NOT NULL,
    head_hash    BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX ideas_by_call_stage ON ideas (call_id, stage);
CREATE INDEX ideas_by_call_furthest ON ideas (call_id, furthest);
CREATE INDEX ideas_by_lead ON ideas (lead_person);

CREATE TABLE events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_kind TEXT NOT NULL CHECK (stream_kind IN ('call', 'idea')),
    stream_id   UUID NOT NULL,
    call_id     UUID NOT NULL,
    seq         BIGINT NOT NULL CHECK (seq >= 1),
    event_type  TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    actor       UUID,
    -- TEXT, not JSONB: the body is hashed byte for byte.
    body        TEXT NOT NULL,
    prev_hash   BYTEA NOT NULL,
    hash        BYTEA NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    UNIQUE (stream_id, seq)
);
CREATE INDEX events_by_call ON events (call_id, id);

CREATE FUNCTION mops_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % is refused: the record is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER events_are_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION mops_refuse_change();
CREATE TRIGGER events_are_never_truncated BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION mops_refuse_change();
CREATE TRIGGER calls_are_kept BEFORE DELETE ON calls
    FOR EACH ROW EXECUTE FUNCTION mops_refuse_change();
CREATE TRIGGER ideas_are_kept BEFORE DELETE ON ideas
    FOR EACH ROW EXECUTE FUNCTION mops_refuse_change();

CREATE TABLE outbox (
    id               UUID PRIMARY KEY,
    event_id         BIGINT NOT NULL REFERENCES events (id),
    call_id          UUID NOT NULL,
    idea_id          UUID NOT NULL,
    recipient_person UUID NOT NULL,
    recipient_email  TEXT NOT NULL,
    language         TEXT NOT NULL,
    notice           TEXT NOT NULL,
    intent           TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    lease_until      TIMESTAMPTZ,
    last_error       TEXT,
    server_reply     TEXT,
    sent_at          TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX outbox_by_status_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_by_event ON outbox (event_id);
CREATE INDEX outbox_by_idea ON outbox (idea_id);

CREATE TABLE idempotency (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    response     TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, key)
);
