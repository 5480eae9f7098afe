//! What the vault's end-to-end tests and benchmark share: a [`World`] of anvil with the contracts, a fresh
//! database, the indexer following the chain over WebSocket and the API server with the vault mounted.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used, clippy::expect_used)]

use crate::support::*;
use alloy::{
    providers::{DynProvider, Provider as _},
    signers::local::PrivateKeySigner,
};
use medledger::{
    devnet::Devnet,
    records::{RecordsError, VaultClient},
    server::{self, ServerConfig},
};
use medledger_vault::{crypto::Keyring, store::Store, Vault, VaultConfig};
use serde_json::json;
use std::{sync::Arc, time::Duration};

pub const READ: u8 = 1;
pub const WRITE: u8 = 2;

pub struct World {
    pub devnet: Devnet,
    pub p: DynProvider,
    pub pool: sqlx::PgPool,
    /// The database's URL (for the binary's `vault` commands).
    pub db_url: String,
    pub base: String,
    pub chain_id: i64,
    pub _store: tempfile::TempDir,
    _indexer: Running,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl World {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// [`World::start`] with the vault's settings changed by `tune` (the benchmark lifts the rate limits).
    pub async fn start_with(tune: impl FnOnce(&mut VaultConfig)) -> Self {
        let devnet = devnet().await;
        let p = wallet_provider(&devnet);
        let (db_url, pool) = fresh_db("vault_e2e").await;
        medledger_vault::migrate(&pool).await.unwrap();
        let indexer = Running::start(config(&devnet.ws_url(), &devnet), pool.clone());
        let chain_id = devnet.manifest().chain_id;
        let store = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut vault_config = VaultConfig::new(chain_id, &format!("http://{addr}"));
        tune(&mut vault_config);
        let vault = Vault::new(
            vault_config,
            pool.clone(),
            Store::from_url(&format!("file://{}", store.path().display())).unwrap(),
            Keyring::generate("e2e-1").unwrap().0,
            Some(read_provider(&devnet.rpc_url())),
        );
        let mut config = ServerConfig::new(addr, chain_id as i64);
        config.threads = 2;
        config.shutdown_grace = Duration::from_secs(1);
        config.vault = Some(Arc::new(vault));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server::serve_on(listener, config, pool.clone(), async {
            let _ = rx.await;
        }));
        Self {
            devnet,
            p,
            pool,
            db_url,
            base: format!("http://{addr}"),
            chain_id: chain_id as i64,
            _store: store,
            _indexer: indexer,
            _stop: tx,
        }
    }

    /// Waits until the index has the node's latest block: what the vault decides on next.
    pub async fn synced(&self) {
        wait_synced(&self.pool, self.chain_id, &self.p, Duration::from_secs(30)).await;
    }

    pub async fn client(&self, signer: &PrivateKeySigner) -> VaultClient {
        let mut c = VaultClient::new(&self.base);
        c.sign_in(signer).await.unwrap();
        c
    }

    pub async fn now(&self) -> u64 {
        self.p.get_block(alloy::eips::BlockId::latest()).await.unwrap().unwrap().header.timestamp
    }

    pub async fn advance(&self, secs: u64) {
        let _: serde_json::Value = rpc(&self.p, "evm_increaseTime", json!([secs])).await;
        let _: String = rpc(&self.p, "evm_mine", json!([])).await;
    }
}

pub fn refused(r: Result<impl std::fmt::Debug, RecordsError>, status: u16, reason: &str) {
    match r {
        Err(RecordsError::Refused { status: s, reason: why }) => {
            assert_eq!(s, status, "{why}");
            assert!(why.contains(reason), "expected {reason:?} in {why:?}");
        }
        other => panic!("expected a {status} refusal ({reason}), got {other:?}"),
    }
}

macro_rules! send {
    ($call:expr) => {{
        let receipt = $call.send().await.expect("send").get_receipt().await.expect("receipt");
        assert!(receipt.status(), "reverted");
        receipt
    }};
}
