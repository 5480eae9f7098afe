//! The indexer's status and the `asOf` time of time-dependent statuses.

use chrono::{DateTime, Utc};

/// The time time-dependent statuses are computed against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AsOf {
    /// The latest indexed block's time (else the latest event's, else the server's clock).
    pub(crate) time: DateTime<Utc>,
}

/// SQL expression of the latest indexed block's time; `$1` must be the chain id.
macro_rules! as_of_sql {
    () => {
        "(SELECT coalesce(b.timestamp, (SELECT e.block_time FROM events e \
         WHERE e.chain_id = c.chain_id AND e.block_number <= c.block_number \
         ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1)) FROM checkpoints c LEFT JOIN blocks b \
         ON b.chain_id = c.chain_id AND b.number = c.block_number WHERE c.chain_id = $1)"
    };
}
pub(crate) use as_of_sql;

/// [`as_of_sql`] as a constant.
pub(crate) const AS_OF_SQL: &str = as_of_sql!();
/// Where indexing of the chain stands.
#[derive(Debug, Clone, sqlx::FromRow, async_graphql::SimpleObject)]
pub(crate) struct IndexerStatus {
    /// The chain.
    pub(crate) chain_id: i64,
    /// The last indexed block (-1 before the first).
    pub(crate) indexed_block: i64,
    /// Its hash (`0x` before the first block).
    pub(crate) indexed_block_hash: String,
    /// Its timestamp, when known: the `asOf` of time-dependent statuses.
    pub(crate) indexed_block_time: Option<DateTime<Utc>>,
    /// The node's head block when the indexer last wrote its checkpoint.
    pub(crate) chain_head: i64,
    /// `chainHead - indexedBlock` (0 when caught up).
    pub(crate) lag: i64,
    /// How many reorgs the indexer has handled.
    pub(crate) reorg_count: i64,
    /// When the last reorg was handled.
    pub(crate) last_reorg_at: Option<DateTime<Utc>>,
    /// The common ancestor of the last reorg.
    pub(crate) last_reorg_block: Option<i64>,
    /// How many blocks the last reorg reverted.
    pub(crate) last_reorg_depth: Option<i64>,
    /// When the checkpoint was last written.
    pub(crate) updated_at: DateTime<Utc>,
    /// Why the index no longer follows the node's chain, when it does not: the indexer refused a reorg
    /// deeper than its `--max-reorg-depth` and stopped, so every row describes a branch the node has
    /// abandoned (see the operator's steps in docs/architecture.md, "Reorg safety"). Null while the index
    /// follows the chain.
    pub(crate) stale_reason: Option<String>,
    /// Since when the index is stale (null while it is not).
    pub(crate) stale_since: Option<DateTime<Utc>>,
}
