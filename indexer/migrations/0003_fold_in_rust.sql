-- The projections are folded by the indexer itself from each batch's decoded events (indexer/src/project.rs);
-- after a reorg it reads a touched entity's remaining events back by key alone. The wide lookup index of the
-- SQL refold gives way to a narrow one, and `args` becomes `json`: it keeps the arguments in the ABI's
-- order for auditors and costs less to write than `jsonb` (nothing queries inside it).
DROP INDEX events_entity;
CREATE INDEX events_entity ON events (chain_id, entity) WHERE entity <> '';
ALTER TABLE events ALTER COLUMN args TYPE json USING args::json;
