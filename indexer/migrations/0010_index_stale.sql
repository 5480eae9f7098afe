-- Issue 17: a reorg deeper than --max-reorg-depth is refused, and the index then describes a branch the node
-- no longer serves. The indexer records why here (in its own transaction, before it stops); the API's
-- /readyz fails with the reason, `indexerStatus.staleReason` carries it and every GraphQL answer carries a
-- warning. The next commit that moves the checkpoint (a restart with a higher limit repairs the reorg, or a
-- re-index from scratch) clears it.
ALTER TABLE checkpoints
    ADD COLUMN stale_reason text,
    ADD COLUMN stale_since  timestamptz;
