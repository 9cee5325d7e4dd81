-- Core schema of the twin: published tables live in "twin", load bookkeeping beside them.
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE SCHEMA IF NOT EXISTS twin;

CREATE TABLE IF NOT EXISTS twin.load_run (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text        NOT NULL,
    collection  text        NOT NULL,
    path        text        NOT NULL,
    checksum    text,
    mode        text        NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    outcome     text        NOT NULL DEFAULT 'running'
                CHECK (outcome IN ('running', 'succeeded', 'unchanged', 'refused', 'failed')),
    read_count      integer NOT NULL DEFAULT 0,
    inserted_count  integer NOT NULL DEFAULT 0,
    updated_count   integer NOT NULL DEFAULT 0,
    deleted_count   integer NOT NULL DEFAULT 0,
    unchanged_count integer NOT NULL DEFAULT 0,
    -- Each repair and refusal names row and field; values of unpublished columns never go here.
    repairs     jsonb NOT NULL DEFAULT '[]'::jsonb,
    refusals    jsonb NOT NULL DEFAULT '[]'::jsonb,
    notes       jsonb NOT NULL DEFAULT '[]'::jsonb,
    message     text
);
CREATE INDEX IF NOT EXISTS load_run_collection_idx ON twin.load_run (collection, started_at DESC);
