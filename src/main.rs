//! `medledger`: the command-line entry point.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use medledger::devnet::{repo_root, Devnet};
use medledger_indexer::TempPostgres;
use tracing::info;

/// Patient-controlled medical access and auditable e-prescriptions on Ethereum.
#[derive(Debug, Parser)]
#[command(name = "medledger", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Bring up a local system: anvil, a throwaway PostgreSQL and the deployed contracts.
    ///
    /// Everything it starts is stopped, and every temporary file removed, on Ctrl-C.
    #[command(
        after_help = "Example:\n  medledger dev\n  DATABASE_URL=postgres://localhost/medledger medledger dev"
    )]
    Dev(DevArgs),
    /// Start a throwaway PostgreSQL cluster, print its URL and keep it until Ctrl-C (or until this process
    /// dies, however it dies); its files are removed afterwards.
    #[command(
        after_help = "Example:\n  medledger pg   # then: DATABASE_URL=<printed url> cargo sqlx prepare --workspace"
    )]
    Pg,
    /// Index the medledger contracts' events into PostgreSQL: backfill, then follow the head.
    ///
    /// Applies the migrations first. Safe to stop at any instant (SIGINT/SIGTERM stop it gracefully;
    /// even SIGKILL loses nothing). A second instance on the same database and chain waits as hot standby.
    #[command(after_help = "Example:\n  medledger index --rpc.url ws://127.0.0.1:8545 \\\n    \
                            --db.url postgres://localhost/medledger --manifest deployments/31337.json")]
    Index(IndexArgs),
    /// Apply the indexer's database migrations and exit.
    #[command(after_help = "Example:\n  DATABASE_URL=postgres://localhost/medledger medledger migrate")]
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
struct IndexArgs {
    #[command(flatten)]
    rpc: RpcArgs,
    #[command(flatten)]
    db: RequiredDbArgs,
    #[command(flatten)]
    sync: SyncArgs,
    #[command(flatten)]
    metrics: MetricsArgs,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "RPC")]
struct RpcArgs {
    /// JSON-RPC URL of the node: ws:// or wss:// subscribes to new heads, http(s):// polls.
    #[arg(id = "rpc.url", long = "rpc.url", env = "MEDLEDGER_RPC_URL")]
    url: String,
    /// Per-call timeout, in milliseconds.
    #[arg(long = "rpc.timeout-ms", env = "MEDLEDGER_RPC_TIMEOUT_MS", default_value_t = 20_000)]
    timeout_ms: u64,
    /// Blocks per eth_getLogs request at the start (halved when the node refuses, doubled on success).
    #[arg(long = "rpc.range", env = "MEDLEDGER_RPC_RANGE", default_value_t = 2_000)]
    range: u64,
    /// Most blocks per eth_getLogs request.
    #[arg(long = "rpc.max-range", env = "MEDLEDGER_RPC_MAX_RANGE", default_value_t = 100_000)]
    max_range: u64,
    /// Ranges fetched concurrently ahead of the writer during backfill.
    #[arg(long = "rpc.concurrency", env = "MEDLEDGER_RPC_CONCURRENCY", default_value_t = 4)]
    concurrency: usize,
    /// How often to poll for new blocks over HTTP, in milliseconds.
    #[arg(long = "rpc.poll-ms", env = "MEDLEDGER_RPC_POLL_MS", default_value_t = 1_000)]
    poll_ms: u64,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Database")]
struct RequiredDbArgs {
    /// PostgreSQL URL.
    #[arg(id = "db.url", long = "db.url", env = "DATABASE_URL")]
    url: String,
    /// Most connections in the pool.
    #[arg(long = "db.max-connections", env = "MEDLEDGER_DB_MAX_CONNECTIONS", default_value_t = 4)]
    max_connections: u32,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Sync")]
struct SyncArgs {
    /// Deployment manifest (written by contracts/script/Deploy.s.sol).
    #[arg(long, env = "MEDLEDGER_MANIFEST")]
    manifest: std::path::PathBuf,
    /// Blocks a block must be buried under before it is indexed (0 on a dev chain).
    #[arg(long, env = "MEDLEDGER_CONFIRMATIONS", default_value_t = 0)]
    confirmations: u64,
    /// First block to index when the database has no checkpoint [default: the manifest's deployBlock].
    #[arg(long = "from-block", env = "MEDLEDGER_FROM_BLOCK")]
    from_block: Option<u64>,
    /// Deepest reorg to follow; a deeper one stops the indexer with an error.
    #[arg(long = "max-reorg-depth", env = "MEDLEDGER_MAX_REORG_DEPTH", default_value_t = 64)]
    max_reorg_depth: u64,
    /// Most blocks per transaction when following the head.
    #[arg(long = "tip-batch", env = "MEDLEDGER_TIP_BATCH", default_value_t = 500)]
    tip_batch: u64,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Metrics")]
struct MetricsArgs {
    /// Address for /healthz, /readyz and /metrics (Prometheus); "off" disables them.
    #[arg(long = "metrics.addr", env = "MEDLEDGER_METRICS_ADDR", default_value = "127.0.0.1:9464")]
    addr: String,
}

#[derive(Debug, Args)]
struct MigrateArgs {
    #[command(flatten)]
    db: RequiredDbArgs,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Logging")]
struct LogArgs {
    /// Log filter, in `tracing` env-filter syntax.
    #[arg(long = "log.filter", env = "RUST_LOG", default_value = "info", global = true)]
    filter: String,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long = "log.json", env = "MEDLEDGER_LOG_JSON", global = true)]
    json: bool,
}

#[derive(Debug, Args)]
struct DevArgs {
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Database")]
struct DbArgs {
    /// PostgreSQL URL; when unset, a throwaway cluster is started and removed on exit.
    #[arg(long = "db.url", env = "DATABASE_URL")]
    url: Option<String>,
}

fn init_tracing(args: &LogArgs) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.filter).context("invalid --log.filter")?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if args.json {
        builder.json().init();
    } else {
        builder.init();
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    init_tracing(&cli.log)?;
    match cli.command {
        Command::Dev(args) => dev(args).await,
        Command::Pg => pg().await,
        Command::Index(args) => index(args).await,
        Command::Migrate(args) => migrate(args).await,
    }
}

async fn connect_db(args: &RequiredDbArgs) -> Result<sqlx::PgPool> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(args.max_connections.max(2))
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect_lazy(&args.url)
        .context("invalid --db.url")
}

async fn migrate(args: MigrateArgs) -> Result<()> {
    let pool = connect_db(&args.db).await?;
    medledger_indexer::migrate(&pool).await.context("applying migrations")?;
    info!(target: "medledger::migrate", "migrations applied");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn index(args: IndexArgs) -> Result<()> {
    use std::time::Duration;
    let manifest = medledger_indexer::Manifest::load(&args.sync.manifest)?;
    let mut config = medledger_indexer::Config::new(args.rpc.url.clone(), manifest);
    config.confirmations = args.sync.confirmations;
    config.from_block = args.sync.from_block;
    config.max_reorg_depth = args.sync.max_reorg_depth;
    config.tip_batch = args.sync.tip_batch.max(1);
    config.rpc_timeout = Duration::from_millis(args.rpc.timeout_ms.max(1));
    config.initial_range = args.rpc.range.max(1);
    config.max_range = args.rpc.max_range.max(1);
    config.concurrency = args.rpc.concurrency.max(1);
    config.poll_interval = Duration::from_millis(args.rpc.poll_ms.max(1));

    let pool = connect_db(&args.db).await?;
    // Wait for the database (it may still be starting), then migrate.
    let mut attempt = 0u32;
    loop {
        match medledger_indexer::migrate(&pool).await {
            Ok(()) => break,
            Err(e) if e.is_retryable() && attempt < 30 => {
                if attempt == 0 {
                    tracing::warn!(target: "medledger::index", error = %e, "database not ready; retrying");
                }
                attempt += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e).context("applying migrations"),
        }
    }

    let indexer = medledger_indexer::Indexer::new(config, pool);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = if args.metrics.addr == "off" {
        None
    } else {
        let addr: std::net::SocketAddr = args.metrics.addr.parse().context("invalid --metrics.addr")?;
        let handle = medledger_indexer::metrics::install_prometheus().map_err(anyhow::Error::msg)?;
        let status = indexer.status();
        let mut rx = stop_rx.clone();
        info!(target: "medledger::index", %addr, "serving /healthz, /readyz and /metrics");
        Some(tokio::spawn(medledger_indexer::metrics::serve(addr, status, handle, async move {
            let _ = rx.wait_for(|stop| *stop).await;
        })))
    };
    let result = indexer.run(shutdown_signal()).await;
    let _ = stop_tx.send(true);
    drop(stop_rx);
    if let Some(server) = server {
        server.await.context("metrics server task")?.context("metrics server")?;
    }
    result.context("indexer")
}

async fn pg() -> Result<()> {
    let pg = TempPostgres::start().await.context("starting a throwaway PostgreSQL")?;
    println!("{}", pg.url());
    info!(target: "medledger::pg", dir = %pg.dir().display(), "throwaway PostgreSQL started; Ctrl-C stops it");
    shutdown_signal().await;
    drop(pg);
    Ok(())
}

async fn dev(args: DevArgs) -> Result<()> {
    let root = repo_root();
    let (pg, db_url) = match args.db.url {
        Some(url) => (None, url),
        None => {
            let pg = TempPostgres::start().await.context("starting a throwaway PostgreSQL")?;
            let url = pg.url();
            info!(target: "medledger::dev", dir = %pg.dir().display(), "throwaway PostgreSQL started");
            (Some(pg), url)
        }
    };
    let devnet = tokio::task::spawn_blocking(move || Devnet::start(&root)).await??;
    let contracts = devnet.manifest().contracts;
    println!("medledger dev is up (Ctrl-C stops everything)");
    println!("  RPC            {}  (ws: {})", devnet.rpc_url(), devnet.ws_url());
    println!("  PostgreSQL     {db_url}");
    println!("  chain id       {}", devnet.manifest().chain_id);
    println!("  CredentialRegistry  {}", contracts.credential_registry);
    println!("  ConsentRegistry     {}", contracts.consent_registry);
    println!("  RecordAnchors       {}", contracts.record_anchors);
    println!("  Prescriptions       {}", contracts.prescriptions);
    println!("  deployer/admin      {} (anvil test key 0)", devnet.addresses()[0]);
    shutdown_signal().await;
    info!(target: "medledger::dev", "shutting down");
    drop(devnet);
    drop(pg);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }
}
