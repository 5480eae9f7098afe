//! `medledger migrate`: apply the database migrations and exit.

use super::{connect_db, RequiredDbArgs};
use anyhow::{Context, Result};
use clap::Args;
use tracing::info;

#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    #[command(flatten)]
    pub(crate) db: RequiredDbArgs,
}

/// Runs `medledger migrate`.
pub(crate) async fn migrate(args: MigrateArgs) -> Result<()> {
    let pool = connect_db(&args.db).await?;
    medledger_indexer::migrate(&pool).await.context("applying migrations")?;
    info!(target: "medledger::migrate", "migrations applied");
    Ok(())
}
