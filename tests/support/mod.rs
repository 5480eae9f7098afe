//! Shared helpers of the indexer's end-to-end tests: one throwaway PostgreSQL cluster per test binary
//! with a database per test, devnets, a workload that emits every event kind through the real contracts,
//! and table digests.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used, clippy::expect_used)]

pub mod proxy;

use alloy::{
    network::EthereumWallet,
    primitives::{Address, FixedBytes, B256, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::{local::PrivateKeySigner, SignerSync},
    sol_types::SolStruct,
};
use medledger::{
    demo::{consent_domain, Grant},
    devnet::{repo_root, Devnet},
};
use medledger_core::bindings::{ConsentRegistry, CredentialRegistry, Prescriptions, RecordAnchors};
use medledger_indexer::{Config, Indexer, TempPostgres};
use sqlx::PgPool;
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, OnceLock,
    },
    time::{Duration, Instant},
};

/// The projection and event tables a fresh index must reproduce exactly (blocks and checkpoints depend
/// on batching and are compared separately where it matters).
pub const TABLES: [&str; 10] = [
    "events",
    "credentials",
    "credential_history",
    "consents",
    "consent_history",
    "episodes",
    "records",
    "prescriptions",
    "dispenses",
    "role_members",
];

static CLUSTER: OnceLock<TempPostgres> = OnceLock::new();
static DB_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The binary's shared cluster.
pub fn cluster() -> &'static TempPostgres {
    CLUSTER.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(TempPostgres::start()).expect("start PostgreSQL")
    })
}

/// A fresh, migrated database on the shared cluster; returns its URL and a pool.
pub async fn fresh_db(prefix: &str) -> (String, PgPool) {
    let pg = tokio::task::spawn_blocking(cluster).await.unwrap();
    let name = format!("{prefix}_{}_{}", std::process::id(), DB_COUNTER.fetch_add(1, Ordering::SeqCst));
    pg.create_database(&name).expect("create database");
    let url = pg.database_url(&name);
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(4).connect(&url).await.expect("connect");
    medledger_indexer::migrate(&pool).await.expect("migrate");
    (url, pool)
}

/// Logs to the test output (RUST_LOG, default warn).
pub fn init_logs() {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_test_writer()
        .try_init();
}

/// Starts a devnet with the contracts deployed.
pub async fn devnet() -> Devnet {
    devnet_with(&[]).await
}

/// [`devnet`] with extra arguments for anvil.
pub async fn devnet_with(anvil_args: &'static [&'static str]) -> Devnet {
    init_logs();
    tokio::task::spawn_blocking(move || Devnet::start_with(&repo_root(), anvil_args))
        .await
        .unwrap()
        .expect("devnet")
}

/// A test configuration: fast polling and backoff.
pub fn config(rpc_url: &str, devnet: &Devnet) -> Config {
    let mut c = Config::new(rpc_url, devnet.manifest().clone());
    c.poll_interval = Duration::from_millis(50);
    c.min_backoff = Duration::from_millis(20);
    c.max_backoff = Duration::from_millis(500);
    c.rpc_timeout = Duration::from_secs(5);
    c
}

/// A running in-process indexer.
pub struct Running {
    pub status: Arc<medledger_indexer::Status>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), medledger_indexer::IndexerError>>,
}

impl Running {
    pub fn start(config: Config, pool: PgPool) -> Self {
        let indexer = Indexer::new(config, pool);
        let status = indexer.status();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(indexer.run(async move {
            let _ = rx.await;
        }));
        Self { status, stop: Some(tx), task }
    }

    /// Waits until the committed checkpoint reaches `block` (and the indexer calls itself caught up).
    pub async fn wait_for(&self, pool: &PgPool, chain_id: i64, block: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let cp: Option<i64> =
                sqlx::query_scalar("SELECT block_number FROM checkpoints WHERE chain_id = $1")
                    .bind(chain_id)
                    .fetch_optional(pool)
                    .await
                    .unwrap();
            if cp.is_some_and(|c| c >= block as i64) && self.status.is_caught_up() {
                return;
            }
            assert!(!self.task.is_finished(), "indexer stopped early");
            assert!(Instant::now() < deadline, "indexer did not reach block {block} (at {cp:?})");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the indexer has ended by itself (a fatal error).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task.await.unwrap().expect("indexer ran without error");
    }
}

/// Indexes the chain of `devnet` up to its current head into `pool`, then stops.
pub async fn index_to_head(config: Config, pool: &PgPool, rpc: &DynProvider) {
    let head = rpc.get_block_number().await.unwrap();
    let chain_id = config.chain_id();
    let running = Running::start(config, pool.clone());
    running.wait_for(pool, chain_id, head, Duration::from_secs(60)).await;
    running.stop().await;
}

/// md5 of every row of each table (for one chain), ordered.
pub async fn digest(pool: &PgPool, chain_id: i64) -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    for table in TABLES {
        let sql = format!(
            "SELECT count(*)::text || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') \
             FROM {table} t WHERE chain_id = $1"
        );
        let d: String = sqlx::query_scalar(&sql).bind(chain_id).fetch_one(pool).await.unwrap();
        out.insert(table, d);
    }
    out
}

/// Columns that record when or against which head a row was written, not what the chain holds: left out
/// of [`digest_every_table`].
const WRITE_TIME_COLUMNS: [(&str, &str); 5] = [
    ("checkpoints", "head_number"),
    ("checkpoints", "updated_at"),
    ("checkpoints", "last_reorg_at"),
    ("checkpoints", "stale_since"),
    ("_sqlx_migrations", "installed_on"),
];

/// md5 of every row of every table of the schema (blocks, checkpoints, deferred indexes and the vault's
/// tables included; `_sqlx_migrations`' timing left out), ordered: what "the database is a function of the
/// chain and the checkpoint" compares.
pub async fn digest_every_table(pool: &PgPool) -> BTreeMap<String, String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut out = BTreeMap::new();
    for table in tables {
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(&table)
        .fetch_all(pool)
        .await
        .unwrap();
        let kept: Vec<String> = columns
            .into_iter()
            .filter(|c| !WRITE_TIME_COLUMNS.contains(&(table.as_str(), c.as_str())))
            .filter(|c| !(table == "_sqlx_migrations" && c == "execution_time"))
            .map(|c| format!("\"{c}\""))
            .collect();
        let row = format!("row({})::text", kept.join(", "));
        let sql = format!(
            "SELECT count(*)::text || ':' || coalesce(md5(string_agg({row}, '|' ORDER BY {row})), '') FROM \"{table}\""
        );
        let d: String = sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap();
        out.insert(table, d);
    }
    out
}

/// Every index of the schema, as (name, definition): what a backfill that deferred them must give back.
pub async fn index_definitions(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// How many secondary indexes are set aside by a backfill, waiting to be built.
pub async fn deferred_indexes(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM deferred_indexes").fetch_one(pool).await.unwrap()
}

/// A provider that signs with all of anvil's test keys (choose with `.from()`).
pub fn wallet_provider(devnet: &Devnet) -> DynProvider {
    let signers = devnet.signers();
    let mut wallet = EthereumWallet::from(signers[0].clone());
    for s in &signers[1..] {
        wallet.register_signer(s.clone());
    }
    // Nonces from the node each time: reorgs and reverts in the tests drop sent transactions.
    ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_simple_nonce_management()
        .with_gas_estimation()
        .fetch_chain_id()
        .wallet(wallet)
        .connect_http(devnet.rpc_url().parse().unwrap())
        .erased()
}

/// A read-only provider.
pub fn read_provider(url: &str) -> DynProvider {
    ProviderBuilder::new().disable_recommended_fillers().connect_http(url.parse().unwrap()).erased()
}

pub async fn rpc<R: serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + Unpin + 'static>(
    p: &DynProvider,
    method: &'static str,
    params: serde_json::Value,
) -> R {
    p.raw_request::<_, R>(method.into(), params).await.unwrap_or_else(|e| panic!("{method}: {e}"))
}

/// Actors of the workload (anvil accounts).
pub struct Actors {
    pub admin: Address,
    pub prescriber: Address,
    pub pharmacy: Address,
    pub patient: Address,
    pub patient2: Address,
    pub prescriber2: Address,
    pub pharmacy2: Address,
    pub relayer: Address,
    pub signers: Vec<PrivateKeySigner>,
}

pub fn actors(devnet: &Devnet) -> Actors {
    let a = devnet.addresses();
    Actors {
        admin: a[0],
        prescriber: a[1],
        pharmacy: a[2],
        patient: a[3],
        patient2: a[4],
        prescriber2: a[5],
        pharmacy2: a[6],
        relayer: a[7],
        signers: devnet.signers(),
    }
}

/// Sends a contract call and waits for its receipt; a revert panics with the transaction, its gas and the
/// call replayed on the state before its block (the revert reason, or `Ok` if it was out of gas).
macro_rules! send {
    ($call:expr) => {{
        let call = $call;
        let receipt = call.send().await.expect("send").get_receipt().await.expect("receipt");
        if !receipt.status() {
            let before = receipt.block_number.unwrap_or(1).saturating_sub(1);
            let replay = call.call().block(before.into()).await.map(|_| ());
            panic!(
                "transaction reverted: {} in block {:?}, gas used {}; replayed at block {before}: {replay:?}",
                receipt.transaction_hash, receipt.block_number, receipt.gas_used
            );
        }
        receipt
    }};
}

/// What the full workload produced, for assertions.
pub struct Produced {
    pub rx1: B256,
    pub rx2: B256,
    pub rx3: B256,
    /// Cancelled by its patient.
    pub rx4: B256,
    /// Voided by a registrar.
    pub rx5: B256,
    /// Schedule II, a short-supply partial fill.
    pub rx6: B256,
    pub now: u64,
}

/// Emits every event kind of the four contracts through real transactions.
pub async fn full_workload(devnet: &Devnet, p: &DynProvider) -> Produced {
    let m = devnet.manifest().contracts;
    let x = actors(devnet);
    let cr = CredentialRegistry::new(m.credential_registry, p.clone());
    let cs = ConsentRegistry::new(m.consent_registry, p.clone());
    let ra = RecordAnchors::new(m.record_anchors, p.clone());
    let rx = Prescriptions::new(m.prescriptions, p.clone());
    let now = p.get_block(alloy::eips::BlockId::latest()).await.unwrap().unwrap().header.timestamp;
    let year = alloy::primitives::aliases::U40::from(now + 365 * 86_400);
    let jur = FixedBytes::<8>::from_slice(b"US-CA\0\0\0");

    // Credentials: register, renew, schedules, suspend/reinstate, revoke.
    send!(cr.register(x.prescriber, 1, B256::repeat_byte(0x11), jur, year, 0b0011_1100).from(x.admin));
    send!(cr.register(x.pharmacy, 2, B256::repeat_byte(0x22), jur, year, 0).from(x.admin));
    send!(cr.register(x.prescriber2, 1, B256::repeat_byte(0x33), jur, year, 0).from(x.admin));
    send!(cr.register(x.pharmacy2, 2, B256::repeat_byte(0x44), jur, year, 0).from(x.admin));
    let renewed = alloy::primitives::aliases::U40::from(now + 2 * 365 * 86_400);
    send!(cr.renew(x.prescriber, B256::repeat_byte(0x12), renewed).from(x.admin));
    send!(cr.setSchedules(x.prescriber, 0b0001_1100).from(x.admin));
    send!(cr.suspend(x.prescriber2, 7).from(x.admin));
    send!(cr.reinstate(x.prescriber2).from(x.admin));
    send!(cr.revoke(x.pharmacy2, 9).from(x.admin));

    // Consent: grant, revoke, relayed grant, emergency access opened/ended.
    let month = alloy::primitives::aliases::U40::from(now + 30 * 86_400);
    send!(cs.grant(x.prescriber, 7, month).from(x.patient));
    send!(cs.grant(x.prescriber2, 1, month).from(x.patient));
    send!(cs.revoke(x.prescriber2).from(x.patient));
    let nonce = cs.nonces(x.patient2).call().await.unwrap();
    let deadline = U256::from(now + 3600);
    let signed_at = alloy::primitives::aliases::U40::from(now);
    let grant = Grant {
        patient: x.patient2,
        grantee: x.prescriber,
        scopes: 7,
        expiresAt: month,
        signedAt: signed_at,
        nonce,
        deadline,
    };
    let domain = consent_domain(devnet.manifest().chain_id, m.consent_registry);
    let sig = x.signers[4].sign_hash_sync(&grant.eip712_signing_hash(&domain)).unwrap();
    send!(cs
        .grantWithSig(x.patient2, x.prescriber, 7, month, signed_at, deadline, sig.as_bytes().to_vec().into())
        .from(x.relayer));
    // patient2 burns a grant signed but not relayed (nonce 1) by moving their nonce to 2.
    send!(cs.invalidateNonces(U256::from(2)).from(x.patient2));
    let why = B256::repeat_byte(0xe1); // the salted hash of a written justification
    send!(cs.openEmergencyAccess(x.patient2, 3, why, 3600).from(x.prescriber));
    send!(cs.endEmergencyAccess(x.patient2, x.prescriber).from(x.patient2));
    send!(cs.openEmergencyAccess(x.patient, 4, why, 7200).from(x.prescriber));
    // Issue 19: the patient's block list (blocked, unblocked, blocked again) and a reviewer's flag on the
    // ended emergency use (the relayer is appointed reviewer).
    send!(cs.setEmergencyBlock(x.prescriber2, true).from(x.patient));
    send!(cs.setEmergencyBlock(x.prescriber2, false).from(x.patient));
    send!(cs.setEmergencyBlock(x.prescriber2, true).from(x.patient));
    send!(cr.grantRole(alloy::primitives::keccak256("REVIEWER_ROLE"), x.relayer).from(x.admin));
    send!(cs.flagEmergencyAccess(x.patient2, x.prescriber, 11).from(x.relayer));

    // Records: episode by a grantee, anchors, hide, close; a second open episode by the patient.
    send!(ra.openEpisode(x.patient).from(x.prescriber));
    for i in 1..=3u8 {
        send!(ra
            .anchorRecord(1, B256::repeat_byte(0xa0 + i), B256::repeat_byte(0xb0 + i))
            .from(x.prescriber));
    }
    send!(ra.setRecordHidden(1, 1, true).from(x.patient));
    send!(ra.closeEpisode(1).from(x.prescriber));
    send!(ra.openEpisode(x.patient).from(x.patient));
    send!(ra.anchorRecord(2, B256::repeat_byte(0xc1), B256::ZERO).from(x.patient));

    // Prescriptions: issue, dispense (partial fill, completion, second fill), change pharmacy, cancel,
    // relayed issue.
    let terms =
        |patient: Address, pharmacy: Address, nonce: u64| medledger_core::bindings::IPrescriptions::RxTerms {
            patient,
            prescriber: x.prescriber,
            contentHash: B256::repeat_byte(0xcc),
            fills: 3,
            quantityPerFill: 30,
            daysSupply: 30,
            dateWritten: now as u32,
            earliestFillAt: 0,
            validUntil: (now + 90 * 86_400) as u32,
            minFillInterval: 0,
            schedule: 0,
            longTermCare: false,
            pharmacy,
            nonce: U256::from(nonce),
            deadline: (now + 86_400) as u32,
        };
    let t1 = terms(x.patient, x.pharmacy, 1);
    let rx1 = rx.hashPrescription(t1.clone()).call().await.unwrap();
    send!(rx.issue(t1.clone()).from(x.prescriber));
    send!(rx.dispense(rx1, 10, U256::ZERO, false, B256::repeat_byte(0xd1)).from(x.pharmacy));
    send!(rx.dispense(rx1, 20, U256::from(10), false, B256::repeat_byte(0xd2)).from(x.pharmacy));
    send!(rx.dispense(rx1, 30, U256::from(30), false, B256::repeat_byte(0xd3)).from(x.pharmacy));
    send!(rx.changePharmacy(t1, Address::ZERO).from(x.patient));
    let t2 = terms(x.patient, Address::ZERO, 2);
    let rx2 = rx.hashPrescription(t2.clone()).call().await.unwrap();
    send!(rx.issue(t2).from(x.prescriber));
    send!(rx.cancel(rx2, 5).from(x.prescriber));
    let t3 = terms(x.patient2, Address::ZERO, 3);
    let rx3 = rx.hashPrescription(t3.clone()).call().await.unwrap();
    let sig3 = x.signers[1].sign_hash_sync(&rx3).unwrap();
    send!(rx.issueWithSig(t3, sig3.as_bytes().to_vec().into()).from(x.relayer));
    // Issue 19: the patient cancels her prescription, a registrar voids one, a schedule II short-supply
    // partial fill (the pharmacy registered for schedule II), and the prescriber withdraws unrelayed
    // signatures.
    let t4 = terms(x.patient, Address::ZERO, 4);
    let rx4 = rx.hashPrescription(t4.clone()).call().await.unwrap();
    send!(rx.issue(t4.clone()).from(x.prescriber));
    send!(rx.cancelAsPatient(t4, 6).from(x.patient));
    let t5 = terms(x.patient, Address::ZERO, 5);
    let rx5 = rx.hashPrescription(t5.clone()).call().await.unwrap();
    send!(rx.issue(t5).from(x.prescriber));
    send!(rx.voidPrescription(rx5, 8).from(x.admin));
    send!(cr.setSchedules(x.pharmacy, 0b0000_0100).from(x.admin));
    let t6 = medledger_core::bindings::IPrescriptions::RxTerms {
        fills: 1,
        quantityPerFill: 20,
        daysSupply: 10,
        validUntil: (now + 20 * 86_400) as u32,
        schedule: 2,
        ..terms(x.patient, x.pharmacy, 6)
    };
    let rx6 = rx.hashPrescription(t6.clone()).call().await.unwrap();
    send!(rx.issue(t6).from(x.prescriber));
    send!(rx.dispense(rx6, 5, U256::ZERO, true, B256::repeat_byte(0xd6)).from(x.pharmacy));
    send!(rx.invalidateNonces(U256::from(100)).from(x.prescriber));
    Produced { rx1, rx2, rx3, rx4, rx5, rx6, now }
}

/// A cheap transaction that emits events (a grant from `patient` to `grantee` with some scopes).
pub async fn grant_tx(devnet: &Devnet, p: &DynProvider, patient: Address, grantee: Address, scopes: u8) {
    let cs = ConsentRegistry::new(devnet.manifest().contracts.consent_registry, p.clone());
    let now = p.get_block(alloy::eips::BlockId::latest()).await.unwrap().unwrap().header.timestamp;
    // A fixed gas limit, not an estimate: repeating the pair's last grant within the same second estimates
    // as a no-op storage write, and the block it lands in, a second later, makes it a real one (out of gas).
    send!(cs
        .grant(grantee, scopes, alloy::primitives::aliases::U40::from(now + 86_400 * 30))
        .from(patient)
        .gas(200_000));
}

/// Waits until the index's checkpoint is the node's latest block (same number and hash).
pub async fn wait_synced(pool: &PgPool, chain_id: i64, p: &DynProvider, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let (head, cp) = head_and_checkpoint(pool, chain_id, p).await;
        if cp.as_ref().is_some_and(|(n, h)| *n as u64 == head.number && h[..] == head.hash[..]) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "index not at the node's head {} (at {:?})",
            head.number,
            cp.map(|c| c.0)
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Whether the checkpoint is the node's head block (number and hash).
pub async fn synced(pool: &PgPool, chain_id: i64, p: &DynProvider) -> bool {
    let (head, cp) = head_and_checkpoint(pool, chain_id, p).await;
    cp.is_some_and(|(n, h)| n as u64 == head.number && h[..] == head.hash[..])
}

/// The node's latest header and the chain's checkpoint (number, hash), if any.
async fn head_and_checkpoint(
    pool: &PgPool,
    chain_id: i64,
    p: &DynProvider,
) -> (alloy::rpc::types::Header, Option<(i64, Vec<u8>)>) {
    let latest = p.get_block(alloy::eips::BlockId::latest()).await.unwrap().unwrap();
    let cp = sqlx::query_as("SELECT block_number, block_hash FROM checkpoints WHERE chain_id = $1")
        .bind(chain_id)
        .fetch_optional(pool)
        .await
        .unwrap();
    (latest.header, cp)
}

/// The indexed block of the (only) chain's checkpoint, or -1 before the first commit.
pub async fn checkpoint(pool: &PgPool) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT block_number FROM checkpoints")
        .fetch_optional(pool)
        .await
        .unwrap()
        .unwrap_or(-1)
}
