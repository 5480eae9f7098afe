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
    }
}

async fn pg() -> Result<()> {
    let pg = TempPostgres::start().await.context("starting a throwaway PostgreSQL")?;
    println!("{}", pg.url());
    info!(target: "medledger::pg", dir = %pg.dir().display(), "throwaway PostgreSQL started; Ctrl-C stops it");
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
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
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    info!(target: "medledger::dev", "shutting down");
    drop(devnet);
    drop(pg);
    Ok(())
}
