//! `medledger index`: follow the contracts' events into PostgreSQL.

use super::{connect_db, prepare_db, services::Services, RequiredDbArgs};
use anyhow::{Context, Result};
use clap::Args;
use medledger::server;
use medledger_core::Manifest;
use medledger_indexer::{Config as IndexerConfig, Indexer};
use std::{net::SocketAddr, time::Duration};

#[derive(Debug, Args)]
pub(crate) struct IndexArgs {
    #[command(flatten)]
    pub(crate) rpc: RpcArgs,
    #[command(flatten)]
    pub(crate) db: RequiredDbArgs,
    #[command(flatten)]
    pub(crate) sync: SyncArgs,
    #[command(flatten)]
    pub(crate) metrics: MetricsArgs,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "RPC")]
pub(crate) struct RpcArgs {
    /// JSON-RPC URL of the node: ws:// or wss:// subscribes to new heads, http(s):// polls.
    #[arg(id = "rpc.url", long = "rpc.url", env = "MEDLEDGER_RPC_URL")]
    pub(crate) url: String,
    /// Per-call timeout, in milliseconds.
    #[arg(long = "rpc.timeout-ms", env = "MEDLEDGER_RPC_TIMEOUT_MS", default_value_t = 20_000)]
    pub(crate) timeout_ms: u64,
    /// Blocks per eth_getLogs request at the start; then sized towards ~5,000 logs per answer (up to ×8
    /// while answers are small, cut when one is big or the node refuses; no wider than a span the node
    /// refused, but for a probe now and then). The first request goes alone; each answer lets at most two
    /// more go.
    #[arg(long = "rpc.range", env = "MEDLEDGER_RPC_RANGE", default_value_t = 1)]
    pub(crate) range: u64,
    /// Most blocks per eth_getLogs request.
    #[arg(long = "rpc.max-range", env = "MEDLEDGER_RPC_MAX_RANGE", default_value_t = 100_000)]
    pub(crate) max_range: u64,
    /// Ranges fetched concurrently ahead of the writer during backfill.
    #[arg(long = "rpc.concurrency", env = "MEDLEDGER_RPC_CONCURRENCY", default_value_t = 4)]
    pub(crate) concurrency: usize,
    /// Most eth_getBlockByNumber calls per JSON-RPC batch (block headers); 0 or 1: one call each. A node
    /// that refuses a batch gets smaller ones, or single calls when it serves no batches (logged once).
    #[arg(long = "rpc.batch-size", env = "MEDLEDGER_RPC_BATCH_SIZE", default_value_t = 100)]
    pub(crate) batch_size: usize,
    /// How often to poll for new blocks over HTTP, in milliseconds.
    #[arg(long = "rpc.poll-ms", env = "MEDLEDGER_RPC_POLL_MS", default_value_t = 1_000)]
    pub(crate) poll_ms: u64,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Sync")]
pub(crate) struct SyncArgs {
    /// Deployment manifest (written by contracts/script/Deploy.s.sol).
    #[arg(long, env = "MEDLEDGER_MANIFEST")]
    pub(crate) manifest: std::path::PathBuf,
    /// Blocks a block must be buried under before it is indexed (0 on a dev chain).
    #[arg(long, env = "MEDLEDGER_CONFIRMATIONS", default_value_t = 0)]
    pub(crate) confirmations: u64,
    /// First block to index when the database has no checkpoint [default: the manifest's deployBlock].
    #[arg(long = "from-block", env = "MEDLEDGER_FROM_BLOCK")]
    pub(crate) from_block: Option<u64>,
    /// Deepest reorg to follow; a deeper one stops the indexer with an error.
    #[arg(long = "max-reorg-depth", env = "MEDLEDGER_MAX_REORG_DEPTH", default_value_t = 64)]
    pub(crate) max_reorg_depth: u64,
    /// Most blocks per transaction when following the head.
    #[arg(long = "tip-batch", env = "MEDLEDGER_TIP_BATCH", default_value_t = 500)]
    pub(crate) tip_batch: u64,
    /// Backfilling a database without events: set the secondary indexes aside and build them once caught
    /// up (several times faster; queries those indexes serve are slow until then).
    #[arg(long = "defer-indexes", env = "MEDLEDGER_DEFER_INDEXES", default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) defer_indexes: bool,
    /// Seconds start-up may take to reach the node and the database before giving up (exit status 1);
    /// unset: retry as long as it takes, each outage logged once with its address and cause.
    #[arg(long = "startup-timeout", value_name = "SECS", env = "MEDLEDGER_STARTUP_TIMEOUT")]
    pub(crate) startup_timeout: Option<u64>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Metrics")]
pub(crate) struct MetricsArgs {
    /// Address for /healthz, /readyz and /metrics (Prometheus); "off" disables them.
    #[arg(
        id = "metrics.addr",
        long = "metrics.addr",
        env = "MEDLEDGER_METRICS_ADDR",
        default_value = "127.0.0.1:9464"
    )]
    pub(crate) addr: String,
}

/// Runs `medledger index`.
pub(crate) async fn index(args: IndexArgs) -> Result<()> {
    let config = indexer_config(&args)?;
    let pool = connect_db(&args.db).await?;
    prepare_db(&pool, config.startup_timeout).await?;
    let metrics = metrics_addr(&args.metrics)?;
    Services { indexer: Indexer::new(config, pool.clone()), pool, metrics, api: None }
        .run(server::shutdown_signal())
        .await
}

/// The indexer's configuration from the command line.
pub(crate) fn indexer_config(args: &IndexArgs) -> Result<IndexerConfig> {
    let manifest = Manifest::load(&args.sync.manifest)?;
    let mut config = IndexerConfig::new(args.rpc.url.clone(), manifest);
    config.check()?;
    config.confirmations = args.sync.confirmations;
    config.from_block = args.sync.from_block;
    config.max_reorg_depth = args.sync.max_reorg_depth;
    config.tip_batch = args.sync.tip_batch.max(1);
    config.defer_indexes = args.sync.defer_indexes;
    config.startup_timeout = args.sync.startup_timeout.map(Duration::from_secs);
    config.rpc_timeout = Duration::from_millis(args.rpc.timeout_ms.max(1));
    config.initial_range = args.rpc.range.max(1);
    config.max_range = args.rpc.max_range.max(1);
    config.concurrency = args.rpc.concurrency.max(1);
    config.rpc_batch = args.rpc.batch_size;
    config.poll_interval = Duration::from_millis(args.rpc.poll_ms.max(1));
    Ok(config)
}

/// The metrics server's address, or `None` for "off".
pub(crate) fn metrics_addr(args: &MetricsArgs) -> Result<Option<SocketAddr>> {
    if args.addr == "off" {
        return Ok(None);
    }
    args.addr.parse().map(Some).context("invalid --metrics.addr")
}
