//! `medledger serve`: the GraphQL API over an indexed database.

use super::{connect_db, vault::VaultArgs, RequiredDbArgs};
use anyhow::{Context, Result};
use clap::Args;
use medledger::server::{self, ServerConfig};
use medledger_core::Manifest;
use std::net::SocketAddr;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Deployment manifest (chain id and the Prescriptions address).
    #[arg(long, env = "MEDLEDGER_MANIFEST")]
    pub(crate) manifest: std::path::PathBuf,
    #[command(flatten)]
    pub(crate) db: RequiredDbArgs,
    #[command(flatten)]
    pub(crate) api: ApiArgs,
    #[command(flatten)]
    pub(crate) vault: VaultArgs,
    /// JSON-RPC URL of the node, for the vault's contract-wallet (ERC-1271) sign-ins; unset: only EOA
    /// signatures are accepted.
    #[arg(id = "rpc.url", long = "rpc.url", env = "MEDLEDGER_RPC_URL", help_heading = "Vault")]
    pub(crate) rpc_url: Option<String>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "API")]
pub(crate) struct ApiArgs {
    /// Where the GraphQL API listens (port 0 picks a free port).
    #[arg(id = "api.addr", long = "api.addr", env = "MEDLEDGER_API_ADDR", default_value = "127.0.0.1:4000")]
    pub(crate) addr: SocketAddr,
    /// Block explorer base URL (e.g. https://sepolia.etherscan.io): events link to its tx and address pages.
    #[arg(long = "explorer.url", env = "MEDLEDGER_EXPLORER_URL")]
    pub(crate) explorer_url: Option<String>,
    /// Largest request body accepted, in bytes.
    #[arg(long = "api.body-limit", env = "MEDLEDGER_API_BODY_LIMIT", default_value_t = 64 * 1024)]
    pub(crate) body_limit: usize,
    /// /readyz fails while the indexer lags the chain head by more blocks than this.
    #[arg(long = "api.max-ready-lag", env = "MEDLEDGER_API_MAX_READY_LAG")]
    pub(crate) max_ready_lag: Option<i64>,
    /// Threads serving the API (default: one per core), each a single-threaded runtime with its own share
    /// of --db.max-connections (at most one thread per connection).
    #[arg(long = "api.threads", env = "MEDLEDGER_API_THREADS", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) threads: Option<u16>,
    /// JSON-RPC URL the web app offers wallets that do not know the chain yet (wallet_addEthereumChain).
    #[arg(long = "web.rpc-url", env = "MEDLEDGER_WEB_RPC_URL")]
    pub(crate) web_rpc_url: Option<String>,
}

impl ApiArgs {
    /// What the web app is told (`/config.json`), before a vault is mounted.
    pub(crate) fn web_config(&self, manifest: &Manifest) -> medledger::web::WebConfig {
        let mut web = medledger::web::WebConfig::from_manifest(manifest);
        web.rpc_url = self.web_rpc_url.clone();
        web.explorer_url = self.explorer_url.clone();
        web
    }

    pub(crate) fn server_config(&self, manifest: &Manifest) -> Result<ServerConfig> {
        let chain_id =
            i64::try_from(manifest.chain_id).context("chain id does not fit a signed 64-bit integer")?;
        let mut config = ServerConfig::new(self.addr, chain_id);
        config.api.explorer_url = self.explorer_url.clone();
        config.api.prescriptions_address = Some(manifest.contracts.prescriptions.into_array());
        medledger::web::install(&mut config, &self.web_config(manifest));
        config.body_limit = self.body_limit;
        config.max_ready_lag = self.max_ready_lag;
        if let Some(threads) = self.threads {
            config.threads = threads.into();
        }
        Ok(config)
    }
}

/// Runs `medledger serve`.
pub(crate) async fn serve(args: ServeArgs) -> Result<()> {
    let manifest = Manifest::load(&args.manifest)?;
    let mut config = args.api.server_config(&manifest)?;
    let pool = connect_db(&args.db).await?;
    let listener = super::bind(config.listen).await?;
    let addr = listener.local_addr().context("reading the API address")?;
    let vault = args.vault.vault(&manifest, &pool, addr, args.rpc_url.as_deref()).await?;
    medledger::web::install_vault(&mut config, &args.api.web_config(&manifest), vault);
    if config.vault.is_some() {
        medledger_vault::migrate(&pool).await.context("applying the vault's migrations")?;
    }
    server::serve_on(listener, config, pool, server::shutdown_signal()).await
}
