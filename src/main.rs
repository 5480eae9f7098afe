//! `medledger`: the command-line entry point.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use medledger::{
    demo,
    devnet::{repo_root, Devnet},
    server::{self, ServerConfig},
};
use medledger_core::Manifest;
use medledger_indexer::{Config as IndexerConfig, Indexer, TempPostgres};
use std::{future::Future, net::SocketAddr, process::ExitCode, time::Duration};
use tracing::{info, warn};

mod cli;

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
    /// Bring up a local system: anvil, a throwaway PostgreSQL, the deployed contracts, the indexer and the
    /// GraphQL API, with the demo story played through the contracts.
    ///
    /// Prints a banner with the GraphQL and RPC URLs, the contract addresses and the demo accounts (anvil's
    /// public test keys) with their roles. Everything it starts is stopped, and every temporary file removed,
    /// on Ctrl-C.
    #[command(
        after_help = "Examples:\n  medledger dev                      # anvil, PostgreSQL, contracts, demo story, indexer, API\n  \
                      medledger dev --simulate           # ... and a simulated action every 3 s\n  \
                      medledger dev --no-seed            # empty contracts\n  \
                      medledger dev --rpc.url http://127.0.0.1:8545   # deploy to an anvil you started\n  \
                      DATABASE_URL=postgres://localhost/medledger medledger dev"
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
    /// Serve the GraphQL API (GraphiQL at GET /graphql, subscriptions over WebSocket) over an indexed
    /// database, with /healthz, /readyz and /metrics.
    #[command(after_help = "Example:\n  medledger serve --db.url postgres://localhost/medledger \\\n    \
                            --manifest deployments/31337.json --api.addr 127.0.0.1:4000")]
    Serve(ServeArgs),
    /// Index and serve in one process: `medledger index` plus `medledger serve` on the same database.
    #[command(after_help = "Example:\n  medledger run --rpc.url ws://127.0.0.1:8545 \\\n    \
                            --db.url postgres://localhost/medledger --manifest deployments/31337.json")]
    Run(RunArgs),
    /// Prescriptions from the command line: a doctor builds and issues one, a pharmacy verifies and
    /// dispenses it, the patient carries the copy (JSON or a QR text).
    #[command(
        subcommand,
        after_help = "Example (anvil keys: 1 prescriber, 2 pharmacy):\n  \
        medledger rx new examples/rx/amoxicillin.json --manifest deployments/31337.json\n  \
        medledger rx issue amoxicillin.patient.json --rpc.url http://127.0.0.1:8545 --private-key 0x59c6…\n  \
        medledger rx verify amoxicillin.patient.json --api.url http://127.0.0.1:4000 --pharmacy 0x3C44…\n  \
        medledger rx dispense amoxicillin.patient.json --quantity 30 --rpc.url http://127.0.0.1:8545 \\\n    \
        --private-key 0x5de4…"
    )]
    Rx(cli::rx::RxCommand),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Deployment manifest (chain id and the Prescriptions address).
    #[arg(long, env = "MEDLEDGER_MANIFEST")]
    manifest: std::path::PathBuf,
    #[command(flatten)]
    db: RequiredDbArgs,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    index: IndexArgs,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "API")]
struct ApiArgs {
    /// Where the GraphQL API listens (port 0 picks a free port).
    #[arg(id = "api.addr", long = "api.addr", env = "MEDLEDGER_API_ADDR", default_value = "127.0.0.1:4000")]
    addr: SocketAddr,
    /// Block explorer base URL (e.g. https://sepolia.etherscan.io): events link to its tx and address pages.
    #[arg(long = "explorer.url", env = "MEDLEDGER_EXPLORER_URL")]
    explorer_url: Option<String>,
    /// Largest request body accepted, in bytes.
    #[arg(long = "api.body-limit", env = "MEDLEDGER_API_BODY_LIMIT", default_value_t = 64 * 1024)]
    body_limit: usize,
    /// /readyz fails while the indexer lags the chain head by more blocks than this.
    #[arg(long = "api.max-ready-lag", env = "MEDLEDGER_API_MAX_READY_LAG")]
    max_ready_lag: Option<i64>,
    /// Threads serving the API (default: one per core), each a single-threaded runtime with its own share
    /// of --db.max-connections (at most one thread per connection).
    #[arg(long = "api.threads", env = "MEDLEDGER_API_THREADS", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

impl ApiArgs {
    fn server_config(&self, manifest: &Manifest) -> Result<ServerConfig> {
        let chain_id =
            i64::try_from(manifest.chain_id).context("chain id does not fit a signed 64-bit integer")?;
        let mut config = ServerConfig::new(self.addr, chain_id);
        config.api.explorer_url = self.explorer_url.clone();
        config.api.prescriptions_address = Some(manifest.contracts.prescriptions.into_array());
        config.body_limit = self.body_limit;
        config.max_ready_lag = self.max_ready_lag;
        if let Some(threads) = self.threads {
            config.threads = threads.into();
        }
        Ok(config)
    }
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
    /// Blocks per eth_getLogs request at the start; then sized towards ~5,000 logs per answer (up to ×8
    /// while answers are small, cut when one is big or the node refuses; no wider than a span the node
    /// refused, but for a probe now and then). The first request goes alone; each answer lets at most two
    /// more go.
    #[arg(long = "rpc.range", env = "MEDLEDGER_RPC_RANGE", default_value_t = 1)]
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
    /// Most connections in the pool. The GraphQL API's queries use up to as many of their own besides (the pool
    /// then serves only subscriptions' notifications and health checks).
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
    /// Backfilling a database without events: set the secondary indexes aside and build them once caught
    /// up (several times faster; queries those indexes serve are slow until then).
    #[arg(long = "defer-indexes", env = "MEDLEDGER_DEFER_INDEXES", default_value_t = true, action = clap::ArgAction::Set)]
    defer_indexes: bool,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Metrics")]
struct MetricsArgs {
    /// Address for /healthz, /readyz and /metrics (Prometheus); "off" disables them.
    #[arg(
        id = "metrics.addr",
        long = "metrics.addr",
        env = "MEDLEDGER_METRICS_ADDR",
        default_value = "127.0.0.1:9464"
    )]
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
    /// Where the GraphQL API listens; the default picks a free port (printed in the banner).
    #[arg(
        long = "api.addr",
        env = "MEDLEDGER_API_ADDR",
        default_value = "127.0.0.1:0",
        help_heading = "API"
    )]
    api_addr: SocketAddr,
    /// Attach to this running node (an anvil or Hardhat node with the default test accounts) instead of
    /// starting anvil: the contracts are deployed there with anvil's first test key, and the node keeps
    /// running on exit. `ws://` is followed by subscription, `http://` by polling.
    #[arg(
        id = "rpc.url",
        long = "rpc.url",
        env = "MEDLEDGER_RPC_URL",
        value_name = "URL",
        help_heading = "Chain"
    )]
    rpc_url: Option<String>,
    #[command(flatten)]
    demo: DemoArgs,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Demo")]
struct DemoArgs {
    /// Play the demo story through the contracts before serving (the default): licenses, consents (one
    /// signed and relayed, one revoked), an episode with a hidden record, prescriptions (refilled, expired,
    /// schedule II partially filled, cancelled), emergency access, a suspension. Documents: examples/demo/.
    #[arg(long, overrides_with = "no_seed")]
    seed: bool,
    /// Start with empty contracts (no demo story).
    #[arg(long = "no-seed", env = "MEDLEDGER_DEV_NO_SEED")]
    no_seed: bool,
    /// After the story, keep producing a little activity (an anchor, a prescription issued and dispensed,
    /// a consent) so subscriptions and live statuses move; one log line per action.
    #[arg(long, env = "MEDLEDGER_DEV_SIMULATE")]
    simulate: bool,
    /// Milliseconds between two simulated actions.
    #[arg(
        long = "simulate.interval-ms",
        env = "MEDLEDGER_DEV_SIMULATE_INTERVAL_MS",
        default_value_t = 3_000
    )]
    simulate_interval_ms: u64,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Database")]
struct DbArgs {
    /// PostgreSQL URL; when unset, a throwaway cluster is started and removed on exit. A database given
    /// here first loses what an earlier run indexed for the same chain id (each run is a new chain).
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
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match init_tracing(&cli.log) {
        Err(e) => Err(e),
        Ok(()) => match cli.command {
            Command::Dev(args) => dev(args).await,
            Command::Pg => pg().await,
            Command::Index(args) => index(args).await,
            Command::Migrate(args) => migrate(args).await,
            Command::Serve(args) => serve(args).await,
            Command::Run(args) => run(args).await,
            Command::Rx(command) => return cli::rx::run(command).await,
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, each cause once (anyhow's `Caused by:` list repeats every wrapper's text).
            eprintln!("Error: {}", medledger_indexer::report(e.as_ref()));
            ExitCode::FAILURE
        }
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

/// Connects and applies the migrations once the database can be reached (each outage logged once, with
/// its address and cause), giving up after `wait` if given.
async fn prepare_db(pool: &sqlx::PgPool, wait: Option<Duration>) -> Result<()> {
    Ok(medledger_indexer::migrate_when_ready(pool, wait).await?)
}

fn indexer_config(args: &IndexArgs) -> Result<IndexerConfig> {
    let manifest = Manifest::load(&args.sync.manifest)?;
    let mut config = IndexerConfig::new(args.rpc.url.clone(), manifest);
    config.check()?;
    config.confirmations = args.sync.confirmations;
    config.from_block = args.sync.from_block;
    config.max_reorg_depth = args.sync.max_reorg_depth;
    config.tip_batch = args.sync.tip_batch.max(1);
    config.defer_indexes = args.sync.defer_indexes;
    config.rpc_timeout = Duration::from_millis(args.rpc.timeout_ms.max(1));
    config.initial_range = args.rpc.range.max(1);
    config.max_range = args.rpc.max_range.max(1);
    config.concurrency = args.rpc.concurrency.max(1);
    config.poll_interval = Duration::from_millis(args.rpc.poll_ms.max(1));
    Ok(config)
}

fn metrics_addr(args: &MetricsArgs) -> Result<Option<SocketAddr>> {
    if args.addr == "off" {
        return Ok(None);
    }
    args.addr.parse().map(Some).context("invalid --metrics.addr")
}

/// What one process runs: the indexer, and optionally its metrics server and the GraphQL API.
struct Services {
    indexer: Indexer,
    pool: sqlx::PgPool,
    metrics: Option<SocketAddr>,
    api: Option<(tokio::net::TcpListener, ServerConfig)>,
}

impl Services {
    /// Runs everything until `shutdown` or until the indexer fails; then stops the rest gracefully.
    async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let mut tasks = Vec::new();
        if let Some(addr) = self.metrics {
            let handle = medledger_indexer::metrics::install_prometheus().map_err(anyhow::Error::msg)?;
            info!(target: "medledger::index", %addr, "serving /healthz, /readyz and /metrics");
            let server = medledger_indexer::metrics::serve(
                addr,
                self.indexer.status(),
                handle,
                stopped(stop_rx.clone()),
            );
            tasks.push(tokio::spawn(async move { server.await.context("metrics server") }));
        }
        if let Some((listener, config)) = self.api {
            let api = server::serve_on(listener, config, self.pool.clone(), stopped(stop_rx.clone()));
            tasks.push(tokio::spawn(api));
        }
        let result = self.indexer.run(shutdown).await.context("indexer");
        let _ = stop_tx.send(true);
        for task in tasks {
            task.await.context("service task")??;
        }
        result
    }
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding the API server to {addr}"))
}

async fn index(args: IndexArgs) -> Result<()> {
    let config = indexer_config(&args)?;
    let pool = connect_db(&args.db).await?;
    prepare_db(&pool, config.startup_timeout).await?;
    let metrics = metrics_addr(&args.metrics)?;
    Services { indexer: Indexer::new(config, pool.clone()), pool, metrics, api: None }
        .run(server::shutdown_signal())
        .await
}

async fn serve(args: ServeArgs) -> Result<()> {
    let manifest = Manifest::load(&args.manifest)?;
    let config = args.api.server_config(&manifest)?;
    let pool = connect_db(&args.db).await?;
    server::serve(config, pool, server::shutdown_signal()).await
}

async fn run(args: RunArgs) -> Result<()> {
    let config = indexer_config(&args.index)?;
    let api = args.api.server_config(&config.manifest)?;
    let pool = connect_db(&args.index.db).await?;
    prepare_db(&pool, config.startup_timeout).await?;
    let metrics = metrics_addr(&args.index.metrics)?;
    let listener = bind(api.listen).await?;
    Services { indexer: Indexer::new(config, pool.clone()), pool, metrics, api: Some((listener, api)) }
        .run(server::shutdown_signal())
        .await
}

async fn pg() -> Result<()> {
    let pg = TempPostgres::start().await.context("starting a throwaway PostgreSQL")?;
    println!("{}", pg.url());
    info!(target: "medledger::pg", dir = %pg.dir().display(), "throwaway PostgreSQL started; Ctrl-C stops it");
    server::shutdown_signal().await;
    drop(pg);
    Ok(())
}

async fn dev(args: DevArgs) -> Result<()> {
    let demo = args.demo;
    let seed = !demo.no_seed;
    if demo.simulate && !seed {
        anyhow::bail!("--simulate acts on the demo story's accounts and episode: drop --no-seed");
    }
    // One stop signal for every phase: Ctrl-C or SIGTERM, or an early failure.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop_tx = std::sync::Arc::new(stop_tx);
    let on_signal = stop_tx.clone();
    tokio::spawn(async move {
        server::shutdown_signal().await;
        let _ = on_signal.send(true);
    });
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };

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
    let rpc_url = args.rpc_url;
    let devnet = tokio::task::spawn_blocking(move || match rpc_url {
        Some(url) => Devnet::attach(&root, &url),
        None => Devnet::start(&root),
    })
    .await??;
    let manifest = devnet.manifest().clone();
    info!(target: "medledger::dev", rpc = %devnet.rpc_url(), chain_id = manifest.chain_id, "contracts deployed");

    let pool = connect_db(&RequiredDbArgs { url: db_url.clone(), max_connections: 8 }).await?;
    prepare_db(&pool, Some(Duration::from_secs(30))).await?;
    if pg.is_none() {
        forget_chain(&pool, manifest.chain_id).await?;
    }
    let api = ApiArgs {
        addr: args.api_addr,
        explorer_url: None,
        body_limit: 64 * 1024,
        max_ready_lag: None,
        threads: None,
    }
    .server_config(&manifest)?;
    let listener = bind(api.listen).await?;
    let api_addr = listener.local_addr().context("reading the API address")?;
    let indexer = Indexer::new(IndexerConfig::new(devnet.ws_url(), manifest.clone()), pool.clone());
    let chain = demo::Chain::connect(&devnet.rpc_url(), manifest.clone(), &devnet.signers()).await?;
    print_banner(&devnet, &chain, api_addr, &db_url, pg.as_ref().map(|pg| pg.dir()));

    let mut services =
        tokio::spawn(Services { indexer, pool, metrics: None, api: Some((listener, api)) }.run(stopped()));
    let play = async {
        let story = if seed {
            let started = std::time::Instant::now();
            let story = tokio::select! {
                story = demo::seed(&chain) => story.context("playing the demo story")?,
                () = stopped() => return Ok(()),
            };
            print_story(&chain, &story);
            info!(target: "medledger::dev", transactions = story.transactions,
                secs = started.elapsed().as_secs_f32(), "demo story played");
            Some(story)
        } else {
            None
        };
        println!("medledger dev is ready (Ctrl-C stops everything and removes its files)");
        match story {
            Some(story) if demo.simulate => {
                let every = Duration::from_millis(demo.simulate_interval_ms.max(100));
                demo::simulate(&chain, &story, every, stopped()).await
            }
            _ => {
                stopped().await;
                Ok(())
            }
        }
    };
    // The demo runs until the stop signal, or until the indexer or the API stops (which they only do on
    // failure before the signal).
    let mut services_result = None;
    let result = tokio::select! {
        r = play => r,
        r = &mut services => {
            services_result = Some(r.context("service task").and_then(|r| r));
            Ok(())
        }
    };
    let _ = stop_tx.send(true);
    info!(target: "medledger::dev", "shutting down");
    let services_result = match services_result {
        Some(r) => r,
        None => services.await.context("service task").and_then(|r| r),
    };
    drop(chain);
    drop(devnet);
    drop(pg);
    // The services' error first: when both fail, it is the cause.
    services_result.and(result)
}

/// Removes what an earlier `medledger dev` indexed for `chain_id` from a database that outlives the chain
/// (`--db.url`): that chain is gone (or its contracts were deployed anew), so every run starts clean. Every
/// table of the schema with a `chain_id` column, in one transaction.
async fn forget_chain(pool: &sqlx::PgPool, chain_id: u64) -> Result<()> {
    let chain_id = i64::try_from(chain_id).context("chain id does not fit a signed 64-bit integer")?;
    let mut tx = pool.begin().await.context("starting a transaction")?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.columns
         WHERE column_name = 'chain_id' AND table_schema = current_schema() ORDER BY 1",
    )
    .fetch_all(&mut *tx)
    .await
    .context("listing the indexer's tables")?;
    let mut removed = 0;
    for table in &tables {
        let sql = format!("DELETE FROM \"{}\" WHERE chain_id = $1", table.replace('"', "\"\""));
        removed +=
            sqlx::query(&sql).bind(chain_id).execute(&mut *tx).await.context("forgetting")?.rows_affected();
    }
    tx.commit().await.context("committing")?;
    if removed > 0 {
        warn!(target: "medledger::dev", chain_id, rows = removed, "removed an earlier run's index of this chain");
    }
    Ok(())
}

/// The banner: where everything is, and who is who.
fn print_banner(
    devnet: &Devnet,
    chain: &demo::Chain,
    api_addr: SocketAddr,
    db_url: &str,
    pg_dir: Option<&std::path::Path>,
) {
    let manifest = devnet.manifest();
    let contracts = manifest.contracts;
    println!("medledger dev");
    println!(
        "  GraphQL        http://{api_addr}/graphql  (GraphiQL in a browser; subscriptions on the same URL)"
    );
    println!("  health         http://{api_addr}/readyz   metrics: http://{api_addr}/metrics");
    if devnet.owns_node() {
        println!("  RPC            {}  (ws: {})", devnet.rpc_url(), devnet.ws_url());
    } else {
        println!("  RPC            {}  (attached; keeps running on exit)", devnet.rpc_url());
    }
    println!("  PostgreSQL     {db_url}");
    println!("  chain id       {}", manifest.chain_id);
    println!("  CredentialRegistry  {}", contracts.credential_registry);
    println!("  ConsentRegistry     {}", contracts.consent_registry);
    println!("  RecordAnchors       {}", contracts.record_anchors);
    println!("  Prescriptions       {}", contracts.prescriptions);
    match pg_dir {
        Some(dir) => println!("  temporary files     {} {}", devnet.scratch_dir().display(), dir.display()),
        None => println!("  temporary files     {}", devnet.scratch_dir().display()),
    }
    println!("  accounts (anvil's public test keys: for local chains only)");
    for m in chain.cast().members() {
        println!("    {:<10}  {}  {}  {} ({})", m.role.as_str(), m.address(), m.key_hex(), m.name, m.part);
    }
}

/// The story's outcome: the prescriptions with their ids and content hashes, the episode, the emergency.
fn print_story(chain: &demo::Chain, story: &demo::SeededStory) {
    let cast = chain.cast();
    println!("demo story played ({} transactions; documents in examples/demo/)", story.transactions);
    for rx in &story.prescriptions {
        println!("  rx {:<20} {}  contentHash {}", rx.label, rx.rx_id, rx.content_hash());
        println!("     {:<20} {}: {}", "", rx.document, rx.summary);
    }
    println!(
        "  episode {}  {}: {} records, record {} hidden by the patient",
        story.episode_id, cast.maria.name, story.records, story.hidden_record
    );
    println!(
        "  emergency  {} -> {} until {}",
        cast.haddad.name,
        cast.chen.name,
        chrono::DateTime::from_timestamp(i64::try_from(story.emergency_until).unwrap_or(i64::MAX), 0)
            .map_or_else(|| story.emergency_until.to_string(), |t| t.to_rfc3339())
    );
    println!("  suspended  {} {}", cast.lindqvist.name, cast.lindqvist.address());
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
