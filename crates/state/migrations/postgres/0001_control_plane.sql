-- Control-plane tables, PostgreSQL dialect. Keep in step with
-- ../sqlite/0001_control_plane.sql: same tables, columns and indexes.
-- Timestamps are unix milliseconds; label sets, matchers and hash lists are JSON text.

CREATE TABLE silences (
    id          TEXT    NOT NULL PRIMARY KEY,
    matchers    TEXT    NOT NULL,
    starts_at   BIGINT  NOT NULL,
    ends_at     BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    created_by  TEXT    NOT NULL,
    comment     TEXT    NOT NULL,
    -- Recurring silences: YAML list of time intervals, as under alertmanager.yml's
    -- time_intervals; NULL for a plain silence.
    schedule    TEXT
);
CREATE INDEX silences_ends_at ON silences (ends_at);

CREATE TABLE nflog (
    group_key         TEXT    NOT NULL,
    receiver          TEXT    NOT NULL,
    integration       TEXT    NOT NULL,
    integration_index BIGINT  NOT NULL,
    firing_alerts     TEXT    NOT NULL,
    resolved_alerts   TEXT    NOT NULL,
    sent_at           BIGINT  NOT NULL,
    expires_at        BIGINT  NOT NULL,
    PRIMARY KEY (group_key, receiver, integration, integration_index)
);
CREATE INDEX nflog_expires_at ON nflog (expires_at);

CREATE TABLE alerts (
    fingerprint   TEXT    NOT NULL PRIMARY KEY,
    labels        TEXT    NOT NULL,
    annotations   TEXT    NOT NULL,
    starts_at     BIGINT  NOT NULL,
    ends_at       BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    generator_url TEXT    NOT NULL
);
CREATE INDEX alerts_ends_at ON alerts (ends_at);

-- Identity: ids never reused after a purge, so a reader paging by id
-- never sees an old position refilled.
CREATE TABLE alert_history (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT  NOT NULL,
    fingerprint TEXT    NOT NULL,
    labels      TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    receiver    TEXT,
    integration TEXT,
    detail      TEXT
);
CREATE INDEX alert_history_at ON alert_history (at, id);
CREATE INDEX alert_history_fingerprint ON alert_history (fingerprint, at, id);

CREATE TABLE rule_for_state (
    rule_group  TEXT    NOT NULL,
    rule_name   TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    active_at   BIGINT  NOT NULL,
    PRIMARY KEY (rule_group, rule_name, fingerprint)
);
