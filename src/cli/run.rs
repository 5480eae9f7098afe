//! `medledger run`: the indexer and the API in one process.

use super::{bind, connect_db, prepare_db, services::Services, vault::VaultArgs};
use super::{
    index::{indexer_config, metrics_addr, IndexArgs},
    serve::ApiArgs,
};
use anyhow::{Context, Result};
use clap::Args;
use medledger::server;
use medledger_indexer::Indexer;

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) index: IndexArgs,
    #[command(flatten)]
    pub(crate) api: ApiArgs,
    #[command(flatten)]
    pub(crate) vault: VaultArgs,
}

/// Runs `medledger run`.
pub(crate) async fn run(args: RunArgs) -> Result<()> {
    let config = indexer_config(&args.index)?;
    let mut api = args.api.server_config(&config.manifest)?;
    let pool = connect_db(&args.index.db).await?;
    prepare_db(&pool, config.startup_timeout).await?;
    let metrics = metrics_addr(&args.index.metrics)?;
    let listener = bind(api.listen).await?;
    let addr = listener.local_addr().context("reading the API address")?;
    let vault = args.vault.vault(&config.manifest, &pool, addr, Some(&args.index.rpc.url)).await?;
    if vault.is_some() {
        args.vault.spawn_anchoring(&config.manifest, &pool, &args.index.rpc.url).await?;
    } else if args.vault.anchor_interval.is_some() {
        anyhow::bail!("--vault.anchor-interval needs the vault (--vault.store and --vault.key-file)");
    }
    medledger::web::install_vault(&mut api, &args.api.web_config(&config.manifest), vault);
    Services { indexer: Indexer::new(config, pool.clone()), pool, metrics, api: Some((listener, api)) }
        .run(server::shutdown_signal())
        .await
}
