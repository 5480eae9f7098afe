//! The record vault in the binary: the "Vault" arguments of `medledger serve|run|dev` that mount it, and
//! `medledger vault rotate-key|verify-log|anchor-log|sweep`, its maintenance commands.

use super::{connect_db, rx::SignerArgs, RequiredDbArgs};
use alloy::{
    network::EthereumWallet,
    primitives::Address,
    providers::{DynProvider, Provider as _, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use medledger_core::Manifest;
use medledger_vault::{
    anchor::{self, Anchoring, LogAnchors},
    crypto::Keyring,
    store::Store,
    Vault, VaultConfig, DEFAULT_MAX_UPLOAD,
};
use std::{net::IpAddr, net::SocketAddr, path::PathBuf, sync::Arc};
use tracing::info;

/// How `medledger serve|run` mount the vault.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Vault")]
pub(crate) struct VaultArgs {
    /// Where sealed documents are kept: `file:///absolute/dir` (a local directory) or `s3://bucket/prefix`
    /// (S3-compatible storage, configured by the usual AWS_* variables). Unset: no vault is served.
    #[arg(id = "vault.store", long = "vault.store", env = "MEDLEDGER_VAULT_STORE", value_name = "URL")]
    pub(crate) store: Option<String>,
    /// The key-encryption key file: one `ID HEX64` per line, the first is current (keep it mode 0600,
    /// outside the store and the database).
    #[arg(
        id = "vault.key-file",
        long = "vault.key-file",
        env = "MEDLEDGER_VAULT_KEY_FILE",
        value_name = "PATH"
    )]
    pub(crate) key_file: Option<PathBuf>,
    /// Upload size limit, in bytes (checked while the body streams).
    #[arg(long = "vault.max-upload", env = "MEDLEDGER_VAULT_MAX_UPLOAD", default_value_t = DEFAULT_MAX_UPLOAD)]
    pub(crate) max_upload: u64,
    /// Accepted content types, comma-separated [default: pdf, fhir+json, json, text/plain, text/markdown,
    /// png, jpeg, dicom].
    #[arg(
        long = "vault.content-types",
        env = "MEDLEDGER_VAULT_CONTENT_TYPES",
        value_delimiter = ',',
        value_name = "TYPES"
    )]
    pub(crate) content_types: Vec<String>,
    /// The origin sign-in messages' URI must be under (e.g. https://vault.example.org) [default:
    /// http://<api.addr>].
    #[arg(long = "vault.origin", env = "MEDLEDGER_VAULT_ORIGIN", value_name = "URL")]
    pub(crate) origin: Option<String>,
    /// The Sign-In with Ethereum domain messages must name [default: the origin's host and port]. Never
    /// taken from the request's Host header.
    #[arg(long = "vault.domain", env = "MEDLEDGER_VAULT_DOMAIN")]
    pub(crate) domain: Option<String>,
    /// A reverse proxy whose X-Forwarded-For is believed (the hop it adds); repeat for several. None: the
    /// peer address is the client.
    #[arg(
        long = "vault.trusted-proxy",
        env = "MEDLEDGER_VAULT_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "IP"
    )]
    pub(crate) trusted_proxies: Vec<IpAddr>,
    /// Do not serve the vault even if a store is configured.
    #[arg(long = "vault.off", env = "MEDLEDGER_VAULT_OFF")]
    pub(crate) off: bool,
    /// Anchor the access log's head on chain (`AccessLogAnchors`) every this many seconds, signed by
    /// --vault.operator-key (`medledger run` only; each anchor is one transaction, sent only when the log
    /// grew). Unset: not anchored by this process (see `medledger vault anchor-log`).
    #[arg(long = "vault.anchor-interval", env = "MEDLEDGER_VAULT_ANCHOR_INTERVAL", value_name = "SECS")]
    pub(crate) anchor_interval: Option<u64>,
    /// The vault operator's private key (hex), which anchors the access log: its address is the one
    /// verifiers check the anchors of (`medledger vault verify-log --vault.operator`).
    #[arg(
        long = "vault.operator-key",
        env = "MEDLEDGER_VAULT_OPERATOR_KEY",
        hide_env_values = true,
        value_name = "HEX"
    )]
    pub(crate) operator_key: Option<String>,
}

impl VaultArgs {
    /// The vault's settings for `chain_id`, served by an API listening on `api`.
    pub(crate) fn config(&self, chain_id: u64, api: SocketAddr) -> Result<VaultConfig> {
        let origin = self.origin.clone().unwrap_or_else(|| format!("http://{api}"));
        if !(origin.starts_with("http://") || origin.starts_with("https://")) {
            bail!("--vault.origin must be an http:// or https:// URL, not {origin:?}");
        }
        let mut config = VaultConfig::new(chain_id, &origin);
        if let Some(domain) = &self.domain {
            config.domain.clone_from(domain);
        }
        if self.max_upload == 0 {
            bail!("--vault.max-upload must be positive");
        }
        config.max_upload = self.max_upload;
        if !self.content_types.is_empty() {
            config.content_types = self.content_types.iter().map(|t| t.trim().to_ascii_lowercase()).collect();
        }
        config.trusted_proxies.clone_from(&self.trusted_proxies);
        Ok(config)
    }

    /// The vault to mount, or `None` when none is configured or it is switched off. `api` is where the API
    /// listens (the default origin), `rpc` verifies contract-wallet sign-ins.
    pub(crate) async fn vault(
        &self,
        manifest: &Manifest,
        pool: &sqlx::PgPool,
        api: SocketAddr,
        rpc_url: Option<&str>,
    ) -> Result<Option<Arc<Vault>>> {
        if self.off {
            info!(target: "medledger::vault", "the vault is switched off (--vault.off)");
            return Ok(None);
        }
        let Some(url) = &self.store else {
            if self.key_file.is_some() {
                bail!("--vault.key-file is set but --vault.store is not: give both, or neither");
            }
            return Ok(None);
        };
        let Some(key_file) = &self.key_file else {
            bail!("--vault.store is set but --vault.key-file is not: the vault needs its key file");
        };
        let store = Store::from_url(url).with_context(|| format!("opening the vault store {url}"))?;
        let keys = Keyring::from_file(key_file)
            .with_context(|| format!("reading the vault key file {}", key_file.display()))?;
        let rpc = match rpc_url {
            Some(url) => Some(provider(url).await?),
            None => None,
        };
        let config = self.config(manifest.chain_id, api)?;
        info!(target: "medledger::vault", store = %url, origin = %config.origin, domain = %config.domain,
            erc1271 = rpc.is_some(), "record vault mounted (/auth, /fhir)");
        Ok(Some(Arc::new(Vault::new(config, pool.clone(), store, keys, rpc))))
    }
}

impl VaultArgs {
    /// Starts anchoring the access log every `--vault.anchor-interval` seconds when it is set (a task that
    /// lives as long as the process; each failure is logged and retried at the next tick).
    pub(crate) async fn spawn_anchoring(
        &self,
        manifest: &Manifest,
        pool: &sqlx::PgPool,
        rpc_url: &str,
    ) -> Result<()> {
        let Some(secs) = self.anchor_interval else {
            if self.operator_key.is_some() {
                bail!("--vault.operator-key is set but --vault.anchor-interval is not");
            }
            return Ok(());
        };
        if secs == 0 {
            bail!("--vault.anchor-interval must be positive");
        }
        let Some(key) = &self.operator_key else {
            bail!("--vault.anchor-interval needs --vault.operator-key (the key that anchors the log)");
        };
        let signer: PrivateKeySigner = key
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("--vault.operator-key is not a 32-byte hex key"))?;
        let anchors = operator_anchors(rpc_url, manifest, signer).await?;
        let pool = pool.clone();
        info!(target: "medledger::vault", interval_secs = secs, operator = %anchors.operator(), "anchoring the access log periodically");
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(secs));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match anchor::anchor_log(&pool, &anchors).await {
                    Ok(Anchoring::Anchored { .. } | Anchoring::UpToDate { .. }) => {}
                    Err(e) => {
                        tracing::warn!(target: "medledger::vault", error = %e, retryable = e.is_retryable(), "anchoring the access log failed")
                    }
                }
            }
        });
        Ok(())
    }
}

/// The `AccessLogAnchors` of the manifest, read through `rpc_url` and posted as `signer`.
async fn operator_anchors(
    rpc_url: &str,
    manifest: &Manifest,
    signer: PrivateKeySigner,
) -> Result<LogAnchors> {
    let operator = signer.address();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect(rpc_url)
        .await
        .with_context(|| format!("connecting to {rpc_url}"))?
        .erased();
    log_anchors(provider, manifest, operator).await
}

/// `operator`'s anchors in the manifest's `AccessLogAnchors`, after checking the node's chain.
async fn log_anchors(provider: DynProvider, manifest: &Manifest, operator: Address) -> Result<LogAnchors> {
    let Some(address) = manifest.contracts.access_log_anchors else {
        bail!(
            "the deployment manifest names no AccessLogAnchors contract (redeploy with the current script)"
        );
    };
    let chain = provider.get_chain_id().await.context("reading the node's chain id")?;
    if chain != manifest.chain_id {
        bail!("the node is on chain {chain}, the deployment manifest is for chain {}", manifest.chain_id);
    }
    Ok(LogAnchors::new(address, provider, operator))
}

/// A read-only provider (for ERC-1271 checks).
pub(crate) async fn provider(url: &str) -> Result<alloy::providers::DynProvider> {
    use alloy::providers::{Provider as _, ProviderBuilder};
    Ok(ProviderBuilder::new().connect(url).await.with_context(|| format!("connecting to {url}"))?.erased())
}

/// `medledger vault …`: maintenance of the record vault.
#[derive(Debug, Subcommand)]
pub(crate) enum VaultCommand {
    /// Re-wrap every document's data key under the key file's first (current) key; the contents are not
    /// re-encrypted. Keep the old keys in the file until a run reports nothing re-wrapped and no failure.
    RotateKey(RotateArgs),
    /// Walk the hash-chained access log and name the first entry that does not fit; with --rpc.url,
    /// --manifest and --vault.operator, also check it against the operator's latest on-chain anchor and
    /// name the anchored history that was rewritten or deleted.
    #[command(after_help = concat!(
        "Example:\n",
        "  medledger vault verify-log --db.url postgres://… --rpc.url http://127.0.0.1:8545 \\\n",
        "    --manifest deployments/31337.json --vault.operator 0x70997970…\n\n",
        "Exit status: 0 intact; 1 a bad entry, rewritten anchored history, or an error"
    ))]
    VerifyLog(VerifyLogArgs),
    /// Anchor the access log's head on chain (`AccessLogAnchors.anchorLog(entries, head)`), signed by the
    /// vault operator's key, after verifying the log; nothing is sent when the log has not grown since the
    /// latest anchor. `medledger run --vault.anchor-interval` does this periodically.
    #[command(after_help = concat!(
        "Example:\n",
        "  medledger vault anchor-log --db.url postgres://… --rpc.url http://127.0.0.1:8545 \\\n",
        "    --manifest deployments/31337.json --private-key 0x…"
    ))]
    AnchorLog(AnchorLogArgs),
    /// Remove what killed uploads left behind (staging objects, objects without a row), list documents
    /// whose object is missing, delete sign-in rows expired for a day.
    Sweep(SweepArgs),
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Chain")]
pub(crate) struct AnchorChainArgs {
    /// JSON-RPC URL of the node.
    #[arg(id = "rpc.url", long = "rpc.url", env = "MEDLEDGER_RPC_URL")]
    pub(crate) rpc_url: Option<String>,
    /// Deployment manifest (the chain id and the AccessLogAnchors address).
    #[arg(long, env = "MEDLEDGER_MANIFEST")]
    pub(crate) manifest: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyLogArgs {
    #[command(flatten)]
    pub(crate) db: RequiredDbArgs,
    #[command(flatten)]
    pub(crate) chain: AnchorChainArgs,
    /// The vault operator's address, whose anchors pin the log (as the vault publishes it).
    #[arg(
        long = "vault.operator",
        env = "MEDLEDGER_VAULT_OPERATOR",
        value_name = "ADDRESS",
        value_parser = medledger_core::parse_address
    )]
    pub(crate) operator: Option<Address>,
}

#[derive(Debug, Args)]
pub(crate) struct AnchorLogArgs {
    #[command(flatten)]
    pub(crate) db: RequiredDbArgs,
    #[command(flatten)]
    pub(crate) chain: AnchorChainArgs,
    #[command(flatten)]
    pub(crate) signer: SignerArgs,
}

impl AnchorChainArgs {
    fn require(&self) -> Result<(&str, Manifest)> {
        let (Some(url), Some(path)) = (&self.rpc_url, &self.manifest) else {
            bail!("give --rpc.url and --manifest (the node and the deployment with AccessLogAnchors)");
        };
        Ok((url.as_str(), Manifest::load(path)?))
    }
}

#[derive(Debug, Args)]
pub(crate) struct RotateArgs {
    #[command(flatten)]
    pub(crate) db: RequiredDbArgs,
    /// The key file, its new current key first, the old ones after it.
    #[arg(
        id = "vault.key-file",
        long = "vault.key-file",
        env = "MEDLEDGER_VAULT_KEY_FILE",
        value_name = "PATH"
    )]
    pub(crate) key_file: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct SweepArgs {
    #[command(flatten)]
    pub(crate) db: RequiredDbArgs,
    /// The vault's store URL.
    #[arg(id = "vault.store", long = "vault.store", env = "MEDLEDGER_VAULT_STORE", value_name = "URL")]
    pub(crate) store: String,
    /// Leave uploads younger than this alone, in seconds (at least the longest upload).
    #[arg(long = "older-than-secs", default_value_t = 3600)]
    pub(crate) older_than_secs: u64,
}

/// Runs `medledger vault …`; fails (status 1) when something needs an operator's attention.
pub(crate) async fn vault(command: VaultCommand) -> Result<()> {
    match command {
        VaultCommand::RotateKey(args) => {
            let keys = Keyring::from_file(&args.key_file)
                .with_context(|| format!("reading the vault key file {}", args.key_file.display()))?;
            let pool = connect_db(&args.db).await?;
            let out =
                medledger_vault::rotate_keys(&pool, &keys).await.context("rotating the vault's keys")?;
            out!("re-wrapped {} data keys under key {}", out.rewrapped, keys.current_id());
            for (id, why) in &out.failed {
                out!("failed    document {id}: {why}");
            }
            if !out.failed.is_empty() {
                bail!(
                    "{} data keys did not open with the key file's keys; left as they are",
                    out.failed.len()
                );
            }
            Ok(())
        }
        VaultCommand::VerifyLog(args) => {
            let pool = connect_db(&args.db).await?;
            let any_chain = args.chain.rpc_url.is_some() || args.chain.manifest.is_some();
            let Some(operator) = args.operator else {
                if any_chain {
                    bail!(
                        "checking the log against the chain needs --vault.operator (whose anchors to read)"
                    );
                }
                let verified =
                    medledger_vault::verify_log(&pool).await.context("verifying the access log")?;
                out!("access log intact: {} entries, head {}", verified.entries, verified.head);
                out!("not checked against on-chain anchors (give --rpc.url, --manifest, --vault.operator)");
                return Ok(());
            };
            let (url, manifest) = args.chain.require()?;
            let anchors = log_anchors(provider(url).await?, &manifest, operator).await?;
            let checked =
                anchor::verify_anchored(&pool, &anchors).await.context("verifying the access log")?;
            out!("access log intact: {} entries, head {}", checked.log.entries, checked.log.head);
            match checked.anchor {
                Some(a) => out!(
                    "agrees with on-chain anchor #{} of {operator}: entries 1..={} pinned in block {} ({})",
                    a.index,
                    a.entries,
                    a.block,
                    a.anchored_at.to_rfc3339()
                ),
                None => out!("{operator} has not anchored the log yet: nothing pinned on chain"),
            }
            Ok(())
        }
        VaultCommand::AnchorLog(args) => {
            let (url, manifest) = args.chain.require()?;
            let signer = args.signer.require()?;
            let anchors = operator_anchors(url, &manifest, signer).await?;
            let pool = connect_db(&args.db).await?;
            match anchor::anchor_log(&pool, &anchors).await.context("anchoring the access log")? {
                Anchoring::Anchored { anchor, tx } => out!(
                    "anchored entries 1..={} (head {}) as anchor #{} in block {} (transaction {tx})",
                    anchor.entries,
                    anchor.head,
                    anchor.index,
                    anchor.block
                ),
                Anchoring::UpToDate { entries } => {
                    out!("nothing to anchor: the latest anchor already covers all {entries} entries")
                }
            }
            Ok(())
        }
        VaultCommand::Sweep(args) => {
            let pool = connect_db(&args.db).await?;
            let store = Store::from_url(&args.store)
                .with_context(|| format!("opening the vault store {}", args.store))?;
            let older = std::time::Duration::from_secs(args.older_than_secs);
            let out = medledger_vault::sweep(&pool, &store, older).await.context("sweeping the vault")?;
            out!(
                "staging removed {}, orphan objects removed {}, expired sign-in rows deleted {}",
                out.staging_removed,
                out.orphans_removed,
                out.expired_auth_rows
            );
            for id in &out.missing {
                out!("missing   document {id}: its object is not in the store");
            }
            if !out.missing.is_empty() {
                bail!("{} documents have no object in the store", out.missing.len());
            }
            Ok(())
        }
    }
}
