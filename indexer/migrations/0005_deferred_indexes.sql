-- Secondary indexes set aside while a fresh database is backfilled (indexer/src/indexes.rs): building an
-- index once over the finished rows costs a fraction of maintaining it row by row. Each row is the index's
-- own definition, read from the catalog when it was dropped, so what is rebuilt is exactly what the
-- migrations created. Migrations after this one that alter a secondary index must use IF EXISTS.
CREATE TABLE deferred_indexes (
    -- The index's name as `regclass` text (schema-qualified when needed).
    name        text        PRIMARY KEY,
    table_name  text        NOT NULL,
    -- pg_get_indexdef(): "CREATE INDEX <name> ON <table> USING …".
    definition  text        NOT NULL,
    -- The chain whose backfill set it aside.
    chain_id    bigint      NOT NULL,
    deferred_at timestamptz NOT NULL DEFAULT now()
);
