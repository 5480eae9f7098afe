//! `medledger pg`: a throwaway PostgreSQL cluster until Ctrl-C.

use anyhow::{Context, Result};
use medledger::server;
use medledger_indexer::TempPostgres;
use tracing::info;

/// Runs `medledger pg`.
pub(crate) async fn pg() -> Result<()> {
    let pg = TempPostgres::start().await.context("starting a throwaway PostgreSQL")?;
    out!("{}", pg.url());
    info!(target: "medledger::pg", dir = %pg.dir().display(), "throwaway PostgreSQL started; Ctrl-C stops it");
    server::shutdown_signal().await;
    drop(pg);
    Ok(())
}
