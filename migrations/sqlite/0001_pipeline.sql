-- The durable pipeline on SQLite. Applied migrations are never edited:
-- add a new file instead.
--
-- Ids are UUIDs stored as 16-byte BLOBs, instants as RFC 3339 TEXT in UTC,
-- amounts as whole öre in INTEGER.

-- One row per call: its current state (a fold over its events) and the
-- call-wide totals that single-idea rules depend on.
CREATE TABLE calls (
    id             BLOB PRIMARY KEY,
    state          TEXT NOT NULL,
    phase          TEXT NOT NULL,
    title          TEXT NOT NULL,
    version        INTEGER NOT NULL,
    head_hash      BLOB NOT NULL,
    budget_ore     INTEGER NOT NULL,
    capacity       INTEGER NOT NULL,
    selected_count INTEGER NOT NULL DEFAULT 0,
    granted_ore    INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    -- The last line of defence: the database itself refuses an overspent
    -- budget or an overfull selection, whatever the code above it does.
    CHECK (granted_ore >= 0 AND granted_ore <= budget_ore),
    CHECK (selected_count >= 0 AND selected_count <= capacity)
);

-- One row per idea: its current state and the columns dashboards read.
CREATE TABLE ideas (
    id           BLOB PRIMARY KEY,
    call_id      BLOB NOT NULL REFERENCES calls (id),
    state        TEXT NOT NULL,
    stage        TEXT NOT NULL,
    -- The furthest funnel step reached: 0 draft, 1 submitted, 2 selected,
    -- 3 plan submitted, 4 granted. Never decreases.
    furthest     INTEGER NOT NULL,
    title        TEXT NOT NULL,
    lead_person  BLOB NOT NULL,
    granted_ore  INTEGER,
    registry     TEXT UNIQUE,
    version      INTEGER NOT NULL,
    head_hash    BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX ideas_by_call_stage ON ideas (call_id, stage);
CREATE INDEX ideas_by_call_furthest ON ideas (call_id, furthest);
CREATE INDEX ideas_by_lead ON ideas (lead_person);

-- The event log: append-only, one hash chain per stream (a call or an idea).
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_kind TEXT NOT NULL CHECK (stream_kind IN ('call', 'idea')),
    stream_id   BLOB NOT NULL,
    call_id     BLOB NOT NULL,
    seq         INTEGER NOT NULL CHECK (seq >= 1),
    event_type  TEXT NOT NULL,
    at          TEXT NOT NULL,
    actor       BLOB,
    -- The recorded event exactly as hashed (JSON text).
    body        TEXT NOT NULL,
    prev_hash   BLOB NOT NULL,
    hash        BLOB NOT NULL,
    recorded_at TEXT NOT NULL,
    UNIQUE (stream_id, seq)
);
CREATE INDEX events_by_call ON events (call_id, id);

CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: UPDATE is refused');
END;
CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: DELETE is refused');
END;
CREATE TRIGGER calls_are_kept BEFORE DELETE ON calls
BEGIN
    SELECT RAISE(ABORT, 'calls are never deleted');
END;
CREATE TRIGGER ideas_are_kept BEFORE DELETE ON ideas
BEGIN
    SELECT RAISE(ABORT, 'ideas are never deleted');
END;

-- Status mails to send, written in the same transaction as their event.
CREATE TABLE outbox (
    id               BLOB PRIMARY KEY,
    event_id         INTEGER NOT NULL REFERENCES events (id),
    call_id          BLOB NOT NULL,
    idea_id          BLOB NOT NULL,
    recipient_person BLOB NOT NULL,
    recipient_email  TEXT NOT NULL,
    language         TEXT NOT NULL,
    notice           TEXT NOT NULL,
    intent           TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    lease_until      TEXT,
    last_error       TEXT,
    server_reply     TEXT,
    sent_at          TEXT,
    created_at       TEXT NOT NULL
);
CREATE INDEX outbox_by_status_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_by_event ON outbox (event_id);
CREATE INDEX outbox_by_idea ON outbox (idea_id);

-- The first outcome of each idempotent command, per actor and key.
CREATE TABLE idempotency (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    response     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
