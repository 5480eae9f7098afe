//! The indexer's configuration.

use crate::error::IndexerError;
use medledger_core::Manifest;
use std::time::Duration;

/// What to index and how.
#[derive(Debug, Clone)]
pub struct Config {
    /// JSON-RPC URL: `http(s)://` polls for new blocks, `ws(s)://` subscribes to new heads.
    pub rpc_url: String,
    /// The deployment to follow.
    pub manifest: Manifest,
    /// Blocks a block must be buried under before it is indexed (0 on a dev chain).
    pub confirmations: u64,
    /// First block to index when the database holds no checkpoint (default: the manifest's deploy block).
    pub from_block: Option<u64>,
    /// The deepest reorg the indexer follows; a deeper one stops it with [`crate::IndexerError::ReorgTooDeep`].
    /// Blocks within this distance of the head are fetched with every header, so that a reorg among them
    /// is always detected.
    pub max_reorg_depth: u64,
    /// How often to ask for the head over HTTP (and the fallback tick over WebSocket).
    pub poll_interval: Duration,
    /// Per-call JSON-RPC timeout.
    pub rpc_timeout: Duration,
    /// Blocks per `eth_getLogs` request at the start of a backfill (then sized towards ~5,000 logs per
    /// answer: up to ×8 while answers are small, cut at once when one is big or the node refuses; a refused
    /// sparse range is taken for the node's span limit, see `range.rs`). The first request goes alone and
    /// each answer lets at most two more go (up to `concurrency`), sized by the answers so far; starting
    /// small bounds how big a blind first window can be.
    pub initial_range: u64,
    /// Most blocks per `eth_getLogs` request (ranges grow on success up to this).
    pub max_range: u64,
    /// Ranges fetched concurrently ahead of the writer.
    pub concurrency: usize,
    /// Most `eth_getBlockByNumber` calls per JSON-RPC batch (a range's headers: blocks with events, the
    /// range's first block and its end's reorg window; every block near the head). 0 or 1: one call each.
    /// A node that refuses a batch gets smaller ones (too big) or single calls (batches unserved), said
    /// once in a WARN line.
    pub rpc_batch: usize,
    /// Most blocks written per transaction when following the head.
    pub tip_batch: u64,
    /// First retry delay after a failure (doubles up to `max_backoff`, with jitter).
    pub min_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Whether a backfill into a database without events sets the secondary indexes aside and builds them
    /// once caught up (much faster; queries those indexes serve are slow until then).
    pub defer_indexes: bool,
    /// How long start-up may take to reach the node (its chain id) and the database before
    /// [`crate::Indexer::run`] gives up with [`IndexerError::StartupTimeout`]; `None`: retry as long as it
    /// takes (each outage logged once, with its address and cause).
    pub startup_timeout: Option<Duration>,
}

impl Config {
    /// A configuration with defaults suited to a public node: 0 confirmations, reorgs up to 64 blocks.
    pub fn new(rpc_url: impl Into<String>, manifest: Manifest) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            manifest,
            confirmations: 0,
            from_block: None,
            max_reorg_depth: 64,
            poll_interval: Duration::from_millis(1000),
            rpc_timeout: Duration::from_secs(20),
            initial_range: 1,
            max_range: 100_000,
            concurrency: 4,
            rpc_batch: 100,
            tip_batch: 500,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            defer_indexes: true,
            startup_timeout: None,
        }
    }

    /// Refuses a configuration the indexer cannot run: an RPC URL without an http(s):// or ws(s):// scheme
    /// (`127.0.0.1:8545` is refused rather than guessed).
    pub fn check(&self) -> Result<(), IndexerError> {
        let url = self.rpc_url.trim().to_ascii_lowercase();
        if ["http://", "https://", "ws://", "wss://"].iter().any(|scheme| url.starts_with(scheme)) {
            Ok(())
        } else {
            Err(IndexerError::RpcUrl { url: without_credentials(self.rpc_url.trim()) })
        }
    }

    /// Whether new heads come by WebSocket subscription (`ws://`, `wss://`) rather than by polling.
    pub fn subscribes(&self) -> bool {
        let url = self.rpc_url.trim().to_ascii_lowercase();
        url.starts_with("ws://") || url.starts_with("wss://")
    }

    /// The chain id, as stored in every row.
    pub fn chain_id(&self) -> i64 {
        i64::try_from(self.manifest.chain_id).unwrap_or(i64::MAX)
    }

    /// The first block to index without a checkpoint.
    pub fn start_block(&self) -> u64 {
        self.from_block.unwrap_or(self.manifest.deploy_block)
    }
}

/// A URL, with or without a scheme, with whatever precedes its `@` (user and password) elided.
fn without_credentials(url: &str) -> String {
    match url.rfind('@') {
        Some(at) => {
            let start = url.find("://").map_or(0, |s| s + 3).min(at);
            format!("{}…{}", &url[..start], &url[at..])
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medledger_core::Contracts;

    fn config(url: &str) -> Config {
        let a = alloy::primitives::Address::ZERO;
        let contracts = Contracts {
            credential_registry: a,
            consent_registry: a,
            record_anchors: a,
            prescriptions: a,
            access_log_anchors: None,
        };
        Config::new(url, Manifest { chain_id: 1, deploy_block: 0, contracts })
    }

    #[test]
    fn an_rpc_url_needs_a_scheme() {
        for ok in
            ["http://127.0.0.1:8545", "HTTPS://node.example/v1/key", "ws://127.0.0.1:8545", "wss://n.example"]
        {
            assert!(config(ok).check().is_ok(), "{ok}");
        }
        for bad in ["127.0.0.1:8545", "localhost:8545", "ftp://x", "", "http:/x"] {
            let err = config(bad).check().expect_err(bad);
            assert!(err.to_string().contains("is not an http://"), "{bad}: {err}");
            assert!(!err.is_retryable(), "{bad}");
        }
        let err = config("user:secret@host:8545").check().expect_err("no scheme");
        assert!(err.to_string().contains("…@host:8545") && !err.to_string().contains("secret"), "{err}");
        assert!(
            config("ws://x").subscribes()
                && config("WSS://x").subscribes()
                && !config("http://x").subscribes()
        );
    }
}
