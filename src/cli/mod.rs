//! The `medledger` subcommands, one module each, and what several of them share: the database arguments
//! and connection, the API listener, and the [`services::Services`] a process runs.

/// `println!` for command output: when standard output is a pipe whose reader has gone (`… | head -2`), the
/// command ends quietly with status 141 (as a shell pipeline reports SIGPIPE) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(141);
            }
            eprintln!("error: writing to standard output: {e}");
            std::process::exit(1);
        }
    }};
}

pub(crate) mod consent;
pub(crate) mod credential;
pub(crate) mod dev;
pub(crate) mod index;
pub(crate) mod migrate;
pub(crate) mod pg;
pub(crate) mod records;
pub(crate) mod run;
pub(crate) mod rx;
pub(crate) mod serve;
pub(crate) mod services;
pub(crate) mod vault;

use anyhow::{Context, Result};
use clap::Args;
use std::{net::SocketAddr, time::Duration};

/// What a command that prints its own output returns: its exit status, or the error to print.
pub(crate) type CmdResult = Result<std::process::ExitCode>;

/// The exit status of a command's result: the error printed (with its causes) and a failing status.
pub(crate) fn exit_code(result: CmdResult) -> std::process::ExitCode {
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        std::process::ExitCode::FAILURE
    })
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Database")]
pub(crate) struct RequiredDbArgs {
    /// PostgreSQL URL.
    #[arg(id = "db.url", long = "db.url", env = "DATABASE_URL")]
    pub(crate) url: String,
    /// Most connections in the pool. The GraphQL API's queries use up to as many of their own besides (the pool
    /// then serves only subscriptions' notifications and health checks).
    #[arg(long = "db.max-connections", env = "MEDLEDGER_DB_MAX_CONNECTIONS", default_value_t = 4)]
    pub(crate) max_connections: u32,
}

/// A lazily connecting pool for `args`.
pub(crate) async fn connect_db(args: &RequiredDbArgs) -> Result<sqlx::PgPool> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(args.max_connections.max(2))
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect_lazy(&args.url)
        .context("invalid --db.url")
}

/// Connects and applies the migrations (the indexer's, then the vault's) once the database can be reached
/// (each outage logged once, with its address and cause), giving up after `wait` if given.
pub(crate) async fn prepare_db(pool: &sqlx::PgPool, wait: Option<Duration>) -> Result<()> {
    medledger_indexer::migrate_when_ready(pool, wait).await?;
    medledger_vault::migrate(pool).await.context("applying the vault's migrations")
}

/// Binds the API's listening socket.
pub(crate) async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding the API server to {addr}"))
}
