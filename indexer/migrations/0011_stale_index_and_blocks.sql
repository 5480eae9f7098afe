-- Issue 17: a reorg deeper than --max-reorg-depth is refused, and the index then describes a branch the node
-- no longer serves. The indexer records why here (in its own transaction, before it stops); the API's
-- /readyz fails with the reason, `indexerStatus.staleReason` carries it and every GraphQL answer carries a
-- warning. The next commit that moves the checkpoint (a restart with a higher limit repairs the reorg, or a
-- re-index from scratch) clears it.
ALTER TABLE checkpoints
    ADD COLUMN stale_reason text,
    ADD COLUMN stale_since  timestamptz;

-- Issue 17 also defines `blocks` as a function of the chain, the checkpoint and --max-reorg-depth (no longer
-- of how the chain was indexed); 0001's comment on it predates that.
COMMENT ON TABLE blocks IS
    'Exactly the indexed blocks with an event of the tracked contracts, and every block of the checkpoint''s '
    'reorg window (the max(--max-reorg-depth, 1) blocks up to and including the checkpoint, not below the '
    'first indexed block). See indexer/src/store.rs `window`.';
