-- SLO specs created through the HTTP API, PostgreSQL dialect. Keep in step with
-- ../sqlite/0002_slo_specs.sql: same table, columns and indexes.
-- The id is the SLO's "service-name"; spec is the document text exactly as
-- submitted (YAML or JSON). Timestamps are unix milliseconds.

CREATE TABLE slo_specs (
    id          TEXT    NOT NULL PRIMARY KEY,
    spec        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
