//! The record vault in the binary: the "Vault" arguments of `medledger serve|run|dev` that mount it, and
//! `medledger vault rotate-key|verify-log|sweep`, its maintenance commands.

use super::{connect_db, RequiredDbArgs};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use medledger_core::Manifest;
use medledger_vault::{crypto::Keyring, store::Store, Vault, VaultConfig, DEFAULT_MAX_UPLOAD};
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
    /// Walk the hash-chained access log and name the first entry that does not fit.
    VerifyLog(DbOnly),
    /// Remove what killed uploads left behind (staging objects, objects without a row), list documents
    /// whose object is missing, delete sign-in rows expired for a day.
    Sweep(SweepArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DbOnly {
    #[command(flatten)]
    pub(crate) db: RequiredDbArgs,
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
            let verified = medledger_vault::verify_log(&pool).await.context("verifying the access log")?;
            out!("access log intact: {} entries, head {}", verified.entries, verified.head);
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
