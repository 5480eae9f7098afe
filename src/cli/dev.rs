//! `medledger dev`: the whole system on this machine, with the demo story.

use super::{bind, connect_db, prepare_db, serve::ApiArgs, services::Services, RequiredDbArgs};
use anyhow::{Context, Result};
use clap::Args;
use medledger::{
    demo,
    devnet::{repo_root, Devnet},
    server,
};
use medledger_indexer::{Config as IndexerConfig, Indexer, TempPostgres};
use std::{net::SocketAddr, time::Duration};
use tracing::{info, warn};

#[derive(Debug, Args)]
pub(crate) struct DevArgs {
    #[command(flatten)]
    pub(crate) db: DbArgs,
    /// Where the GraphQL API listens; the default picks a free port (printed in the banner).
    #[arg(
        long = "api.addr",
        env = "MEDLEDGER_API_ADDR",
        default_value = "127.0.0.1:0",
        help_heading = "API"
    )]
    pub(crate) api_addr: SocketAddr,
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
    pub(crate) rpc_url: Option<String>,
    /// Block explorer base URL (e.g. http://localhost:5100 for a local Otterscan or Blockscout): the web app
    /// links transactions to `{explorer}/tx/{hash}`, the API's events to its tx and address pages.
    #[arg(long = "explorer.url", env = "MEDLEDGER_EXPLORER_URL", value_name = "URL", help_heading = "API")]
    pub(crate) explorer_url: Option<String>,
    #[command(flatten)]
    pub(crate) demo: DemoArgs,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Demo")]
pub(crate) struct DemoArgs {
    /// Play the demo story through the contracts before serving (the default): licenses, consents (one
    /// signed and relayed, one revoked), an episode with a hidden record, prescriptions (refilled, expired,
    /// schedule II partially filled, cancelled), emergency access, a suspension. Documents: examples/demo/.
    #[arg(long, overrides_with = "no_seed")]
    pub(crate) seed: bool,
    /// Start with empty contracts (no demo story).
    #[arg(long = "no-seed", env = "MEDLEDGER_DEV_NO_SEED")]
    pub(crate) no_seed: bool,
    /// After the story, keep producing a little activity (an anchor, a prescription issued and dispensed,
    /// a consent) so subscriptions and live statuses move; one log line per action.
    #[arg(long, env = "MEDLEDGER_DEV_SIMULATE")]
    pub(crate) simulate: bool,
    /// Milliseconds between two simulated actions.
    #[arg(
        long = "simulate.interval-ms",
        env = "MEDLEDGER_DEV_SIMULATE_INTERVAL_MS",
        default_value_t = 3_000
    )]
    pub(crate) simulate_interval_ms: u64,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Database")]
pub(crate) struct DbArgs {
    /// PostgreSQL URL; when unset, a throwaway cluster is started and removed on exit. A database given
    /// here first loses what an earlier run indexed for the same chain id (each run is a new chain).
    #[arg(long = "db.url", env = "DATABASE_URL")]
    pub(crate) url: Option<String>,
}

/// Runs `medledger dev`.
pub(crate) async fn dev(args: DevArgs) -> Result<()> {
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
        // That chain is gone (or its contracts were deployed anew): every run starts clean.
        let chain_id =
            i64::try_from(manifest.chain_id).context("chain id does not fit a signed 64-bit integer")?;
        let removed =
            medledger_indexer::forget_chain(&pool, chain_id).await.context("forgetting the chain")?;
        if removed > 0 {
            warn!(target: "medledger::dev", chain_id, rows = removed, "removed an earlier run's index of this chain");
        }
    }
    let api_args = ApiArgs {
        addr: args.api_addr,
        explorer_url: args.explorer_url,
        body_limit: 64 * 1024,
        max_ready_lag: None,
        threads: None,
        web_rpc_url: Some(devnet.rpc_url()),
    };
    let mut api = api_args.server_config(&manifest)?;
    let listener = bind(api.listen).await?;
    let api_addr = listener.local_addr().context("reading the API address")?;
    let vault_dir = devnet.scratch_dir().join("vault");
    let vault = dev_vault(&vault_dir, &manifest, &pool, api_addr, &devnet.rpc_url()).await?;
    medledger::web::install_vault(&mut api, &api_args.web_config(&manifest), vault);
    let vault_on = api.vault.is_some();
    let indexer = Indexer::new(IndexerConfig::new(devnet.ws_url(), manifest.clone()), pool.clone());
    let chain = demo::Chain::connect(&devnet.rpc_url(), manifest.clone(), &devnet.signers()).await?;
    print_banner(&devnet, &chain, api_addr, &db_url, pg.as_ref().map(|pg| pg.dir()));
    println!(
        "  vault          http://{api_addr}/fhir  (sign in: http://{api_addr}/auth/nonce; store {})",
        vault_dir.display()
    );

    let mut services =
        tokio::spawn(Services { indexer, pool, metrics: None, api: Some((listener, api)) }.run(stopped()));
    let play = async {
        let story = if seed {
            let started = std::time::Instant::now();
            // With the vault, the story files its encounters through it (one anchor per document).
            let vault_base = vault_on.then(|| format!("http://{api_addr}"));
            let story = tokio::select! {
                story = demo::seed(&chain, vault_base.as_deref()) => story.context("playing the demo story")?,
                () = stopped() => return Ok(()),
            };
            print_story(&chain, &story);
            print_patients(&chain).await?;
            if vault_on {
                let (rpc, base) = (devnet.rpc_url(), format!("http://{api_addr}"));
                let records = tokio::select! {
                    r = demo::store_records(&chain, &rpc, &base, &story) =>
                        r.context("filing the demo's records in the vault")?,
                    () = stopped() => return Ok(()),
                };
                print_records(&chain, &records, api_addr);
            }
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

/// The devnet's vault: a fresh key file (mode 0600) and a local store under `dir`.
async fn dev_vault(
    dir: &std::path::Path,
    manifest: &medledger_core::Manifest,
    pool: &sqlx::PgPool,
    api_addr: SocketAddr,
    rpc_url: &str,
) -> Result<Option<std::sync::Arc<medledger_vault::Vault>>> {
    let store = dir.join("store");
    std::fs::create_dir_all(&store).with_context(|| format!("creating {}", store.display()))?;
    let key_file = dir.join("devnet.keys");
    let (_, text) = medledger_vault::crypto::Keyring::generate("devnet-1")?;
    write_private(&key_file, text.as_bytes())?;
    let args = super::vault::VaultArgs {
        store: Some(format!("file://{}", store.display())),
        key_file: Some(key_file),
        max_upload: medledger_vault::DEFAULT_MAX_UPLOAD,
        ..Default::default()
    };
    args.vault(manifest, pool, api_addr, Some(rpc_url)).await
}

/// Writes `bytes` to a new file only its owner can read.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
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
    println!("  web app        http://{api_addr}/  (import a demo account below into your wallet)");
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

/// The records filed in the vault, the reads played, and the commands to play them again.
fn print_records(chain: &demo::Chain, records: &demo::VaultStory, api_addr: SocketAddr) {
    let cast = chain.cast();
    println!("vault records (examples/demo/encounters/ uploaded through the vault and anchored)");
    for (id, name, index) in &records.maria {
        println!("  {id}  {} record {index}  {name}", cast.maria.name);
    }
    println!(
        "  {}  {} episode {}  encounters/06-chen-wei-allergies.json",
        records.chen.0, cast.chen.name, records.chen.1
    );
    for (who, what, outcome) in &records.reads {
        println!("  {who} {what}: {outcome}");
    }
    let vault = format!("--vault.url http://{api_addr}");
    let first = records.maria.first().map_or("", |(id, _, _)| id.as_str());
    println!("  try:");
    println!(
        "    medledger records ls --patient {} {vault} --private-key {}",
        cast.maria.address(),
        cast.okafor.key_hex()
    );
    println!(
        "    medledger records get {first} {vault} --private-key {}   # refused",
        cast.lindqvist.key_hex()
    );
    println!(
        "    medledger records get {} {vault} --private-key {}   # during the emergency window only",
        records.chen.0,
        cast.haddad.key_hex()
    );
    println!(
        "    medledger records log {vault} --private-key {}   # Maria's access log",
        cast.maria.key_hex()
    );
}

/// Each patient's prescriptions as the chain holds them (counted from its logs, so the banner never says
/// more or fewer than there are).
async fn print_patients(chain: &demo::Chain) -> Result<()> {
    let mut counts = Vec::new();
    for m in chain.cast().members().into_iter().filter(|m| m.role == demo::Role::Patient) {
        let n = chain.prescriptions_of(m.address()).await?;
        counts.push(format!("{} {n} prescription{}", m.name, if n == 1 { "" } else { "s" }));
    }
    println!("  on chain   {}", counts.join(", "));
    Ok(())
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
