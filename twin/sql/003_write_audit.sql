-- Audit of the write API (OGC API Features Part 4, twin/transactions.py): one row per
-- accepted write, in the write's own transaction. Not published: no collection reads it.
-- `who` is the API key's name (never the key); before/after are the row as JSON (geometry as
-- GeoJSON in the storage CRS), NULL before a create and after a delete.
CREATE TABLE IF NOT EXISTS twin.write_audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    who         text        NOT NULL,
    method      text        NOT NULL CHECK (method IN ('POST', 'PUT', 'PATCH', 'DELETE')),
    collection  text        NOT NULL,
    item_id     text        NOT NULL,
    before      jsonb,
    after       jsonb
);
CREATE INDEX IF NOT EXISTS write_audit_item_idx ON twin.write_audit (collection, item_id, at);
