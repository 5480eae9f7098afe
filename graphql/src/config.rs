//! Configuration of the API: which chain, page sizes, limits.

use std::time::Duration;

/// What the schema needs to know besides the database.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The chain whose rows are served (every table holds a `chain_id`).
    pub chain_id: i64,
    /// Block explorer base URL (e.g. `https://etherscan.io`); when set, events link to `{base}/tx/{hash}` and
    /// `{base}/address/{address}`.
    pub explorer_url: Option<String>,
    /// The Prescriptions contract's address, used to prove content hashes when the issuing event's
    /// address is not at hand (normally it is read from the event).
    pub prescriptions_address: Option<[u8; 20]>,
    /// Page size when neither `first` nor `last` is given.
    pub default_page_size: usize,
    /// Largest `first`/`last` accepted; larger values are rejected with `LIMIT_EXCEEDED`.
    pub max_page_size: usize,
    /// Maximum query depth.
    pub max_depth: usize,
    /// Maximum query complexity (each field counts 1, connections count their page size).
    pub max_complexity: usize,
    /// Time limit of one query or mutation.
    pub query_timeout: Duration,
    /// How long the batch loaders collect keys before querying: longer batches more keys per statement
    /// (fewer statements under load) at the cost of latency per nesting level.
    pub batch_delay: Duration,
    /// How often a subscription polls the events table when no notification arrives.
    pub poll_interval: Duration,
    /// The PostgreSQL channel the indexer notifies after each commit; subscriptions wake on it.
    pub notify_channel: String,
    /// "Expiring soon" window for consents, in seconds.
    pub expiring_soon_secs: i64,
}

impl ApiConfig {
    /// The defaults for a chain.
    pub fn new(chain_id: i64) -> Self {
        Self {
            chain_id,
            explorer_url: None,
            prescriptions_address: None,
            default_page_size: 20,
            max_page_size: 100,
            max_depth: 12,
            max_complexity: 5_000,
            query_timeout: Duration::from_secs(10),
            batch_delay: Duration::from_millis(1),
            poll_interval: Duration::from_millis(250),
            notify_channel: medledger_core::NOTIFY_CHANNEL.to_owned(),
            expiring_soon_secs: 7 * 24 * 3600,
        }
    }
}
