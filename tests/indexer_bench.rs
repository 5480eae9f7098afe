//! Benchmark of the indexer (not a test: `#[ignore]`d; run it with `scripts/bench-indexer`).
//!
//! Produces ≥ 100,000 real events on anvil through the real contracts — helper contracts
//! (`contracts/test/bench/BenchActors.sol`) act as a patient (consent grants and revocations, record
//! anchors), a credentialed prescriber (prescriptions) and a credentialed pharmacy (dispenses), in loops,
//! many transactions per block (`evm_setAutomine false` + `anvil_mine`). Then measures:
//!
//! - backfill throughput: events/s from the indexer's start (its first request) to the commit of the head
//!   block, into a fresh database; the median of BENCH_BACKFILLS runs (3), each with the CPU every process
//!   spent and the rate that CPU time would allow if it kept every core busy (what bounds the pipeline);
//! - live latency: ≥ 200 blocks mined one by one while the indexer follows over WebSocket; latency is
//!   from the block's announcement (newHeads, as an independent subscriber in this process receives it)
//!   to the commit of the checkpoint that covers the block, as PostgreSQL's `clock_timestamp()` records
//!   it (a trigger on `checkpoints` in the benchmark's database; same host clock). The time from calling
//!   `anvil_mine` is printed too (it includes anvil's own block production).
//!
//! Per-stage timings (RPC fetch, decoding, each write statement) come from the indexer's own metrics.
//! Knobs (env): BENCH_EVENTS (100000), BENCH_BACKFILLS (3), BENCH_LIVE_BLOCKS (250), BENCH_LIVE_INTERVAL_MS (100),
//! BENCH_LIVE_EVENTS (10 per block), BENCH_RPC (ws|http, ws), plus the indexer's own
//! BENCH_RANGE/BENCH_MAX_RANGE/BENCH_CONCURRENCY.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{aliases::U40, Address, Bytes, FixedBytes, B256, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    sol,
    sol_types::{SolCall, SolValue},
};
use futures::StreamExt;
use medledger::devnet::{repo_root, Devnet};
use medledger_core::bindings::CredentialRegistry;
use serde_json::json;
use std::{
    collections::BTreeMap,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use support::*;

sol! {
    contract BenchPatient {
        function grant(address grantee, uint8 scopes, uint40 expiresAt) external;
        function grantMany(uint256 seed, uint256 count, uint256 revokeEvery, uint40 expiresAt) external;
        function anchorMany(uint256 seed, uint256 count) external;
    }
    contract BenchPrescriber {
        function issueMany(address patient, uint256 firstNonce, uint256 count, uint32 validUntil) external;
    }
    contract BenchPharmacy {
        function dispenseMany(address prescriber, uint256 from, uint256 count, uint32 quantity) external;
    }
}

/// Events per round: 200 grants + 50 revocations, 200 anchors, 100 prescriptions, 100 dispenses.
const GRANTS: u64 = 200;
const REVOKE_EVERY: u64 = 4;
const ANCHORS: u64 = 200;
const RXS: u64 = 100;
const ROUND_EVENTS: u64 = GRANTS + GRANTS / REVOKE_EVERY + ANCHORS + RXS + RXS;
/// Rounds per block.
const ROUNDS_PER_BLOCK: u64 = 2;
/// Empty blocks mined after the events: the events lie deeper than the indexer's reorg window (64), so
/// all of them go through the backfill pipeline.
const TAIL_BLOCKS: u64 = 100;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn unix_micros(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_micros() as i64
}

fn artifact_code(name: &str) -> Vec<u8> {
    let path = repo_root().join(format!("out/BenchActors.sol/{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}: run `forge build` first", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    alloy::hex::decode(v["bytecode"]["object"].as_str().unwrap()).unwrap()
}

/// Sends transactions with explicit nonce, gas and fees (no estimation: they run in blocks mined later).
struct Sender {
    p: DynProvider,
    from: Address,
    nonce: u64,
    chain_id: u64,
}

impl Sender {
    async fn send(&mut self, to: Option<Address>, input: Vec<u8>, gas: u64) -> B256 {
        let mut tx = TransactionRequest::default()
            .with_from(self.from)
            .with_input(Bytes::from(input))
            .with_nonce(self.nonce)
            .with_chain_id(self.chain_id)
            .with_gas_limit(gas)
            .with_max_fee_per_gas(200_000_000_000)
            .with_max_priority_fee_per_gas(1_000_000_000);
        match to {
            Some(to) => tx.set_to(to),
            None => tx.set_create(),
        }
        self.nonce += 1;
        *self.p.send_transaction(tx).await.expect("send").tx_hash()
    }
}

async fn mine(p: &DynProvider, blocks: u64) {
    let _: serde_json::Value = rpc(p, "anvil_mine", json!([blocks])).await;
}

async fn receipts_ok(p: &DynProvider, hashes: &[B256]) -> (u64, u64) {
    let results: Vec<_> = futures::stream::iter(hashes.iter().copied())
        .map(|h| {
            let p = p.clone();
            async move { p.get_transaction_receipt(h).await.unwrap().expect("receipt") }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let failed = results.iter().filter(|r| !r.status()).count() as u64;
    let gas = results.iter().map(|r| r.gas_used).max().unwrap_or(0);
    (failed, gas)
}

struct Actors {
    patient: Address,
    prescriber: Address,
    pharmacy: Address,
}

/// Deploys the bench actors, credentials the prescriber and pharmacy, and has the patient consent.
async fn setup(devnet: &Devnet, sender: &mut Sender) -> Actors {
    let m = devnet.manifest().contracts;
    let admin = devnet.addresses()[0];
    let wp = wallet_provider(devnet);
    let deploy = |code: Vec<u8>, args: Vec<u8>| {
        let wp = wp.clone();
        async move {
            let tx = TransactionRequest::default()
                .with_from(admin)
                .with_deploy_code(Bytes::from([code, args].concat()));
            let r = wp.send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
            assert!(r.status());
            r.contract_address.unwrap()
        }
    };
    let patient =
        deploy(artifact_code("BenchPatient"), (m.consent_registry, m.record_anchors).abi_encode_params())
            .await;
    let prescriber = deploy(artifact_code("BenchPrescriber"), m.prescriptions.abi_encode()).await;
    let pharmacy = deploy(artifact_code("BenchPharmacy"), m.prescriptions.abi_encode()).await;
    let cr = CredentialRegistry::new(m.credential_registry, wp.clone());
    let now = wp.get_block(alloy::eips::BlockId::latest()).await.unwrap().unwrap().header.timestamp;
    let year = U40::from(now + 365 * 86_400);
    let jur = FixedBytes::<8>::from_slice(b"US-CA\0\0\0");
    for (account, kind) in [(prescriber, 1u8), (pharmacy, 2u8)] {
        let r = cr
            .register(account, kind, B256::repeat_byte(kind), jur, year, 0)
            .from(admin)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(r.status());
    }
    let grant = BenchPatient::grantCall { grantee: prescriber, scopes: 7, expiresAt: year }.abi_encode();
    let tx = TransactionRequest::default().with_from(admin).with_to(patient).with_input(Bytes::from(grant));
    assert!(wp.send_transaction(tx).await.unwrap().get_receipt().await.unwrap().status());
    sender.nonce = wp.get_transaction_count(sender.from).await.unwrap();
    Actors { patient, prescriber, pharmacy }
}

/// Produces `target` events or more; returns (events, blocks, transactions).
async fn produce(p: &DynProvider, sender: &mut Sender, a: &Actors, target: u64) -> (u64, u64, u64) {
    let now = p.get_block(alloy::eips::BlockId::latest()).await.unwrap().unwrap().header.timestamp;
    let expires = U40::from(now + 365 * 86_400);
    let valid = (now + 180 * 86_400) as u32;
    let rounds = target.div_ceil(ROUND_EVENTS);
    let started = Instant::now();
    let mut hashes = Vec::new();
    let mut blocks = 0;
    for r in 0..rounds {
        let seed = U256::from(r);
        let first = U256::from(r * RXS);
        let calls: [(Address, Vec<u8>, u64); 4] = [
            (
                a.patient,
                BenchPatient::grantManyCall {
                    seed,
                    count: U256::from(GRANTS),
                    revokeEvery: U256::from(REVOKE_EVERY),
                    expiresAt: expires,
                }
                .abi_encode(),
                15_000_000,
            ),
            (
                a.patient,
                BenchPatient::anchorManyCall { seed, count: U256::from(ANCHORS) }.abi_encode(),
                8_000_000,
            ),
            (
                a.prescriber,
                BenchPrescriber::issueManyCall {
                    patient: a.patient,
                    firstNonce: first,
                    count: U256::from(RXS),
                    validUntil: valid,
                }
                .abi_encode(),
                20_000_000,
            ),
            (
                a.pharmacy,
                BenchPharmacy::dispenseManyCall {
                    prescriber: a.prescriber,
                    from: first,
                    count: U256::from(RXS),
                    quantity: 10,
                }
                .abi_encode(),
                10_000_000,
            ),
        ];
        for (to, input, gas) in calls {
            hashes.push(sender.send(Some(to), input, gas).await);
        }
        if r % ROUNDS_PER_BLOCK == ROUNDS_PER_BLOCK - 1 || r == rounds - 1 {
            mine(p, 1).await;
            blocks += 1;
        }
        if r % 40 == 39 {
            eprintln!(
                "BENCH produce: {} of {} events sent and mined ({:.1?})",
                (r + 1) * ROUND_EVENTS,
                rounds * ROUND_EVENTS,
                started.elapsed()
            );
        }
    }
    mine(p, TAIL_BLOCKS).await;
    let (failed, max_gas) = receipts_ok(p, &hashes).await;
    assert_eq!(failed, 0, "bench transactions reverted (max gas used {max_gas})");
    eprintln!(
        "BENCH produce: {} events in {} transactions, {blocks} blocks, {:.1?} (most gas used by one tx: {max_gas})",
        rounds * ROUND_EVENTS,
        hashes.len(),
        started.elapsed()
    );
    (rounds * ROUND_EVENTS, blocks, hashes.len() as u64)
}

/// The node alone: every tracked log of `0..=head` with `eth_getLogs` over `url`, in ranges of `range`
/// blocks, `concurrency` requests at a time; once as raw JSON (node + transport) and once deserialised
/// into alloy's `Log` (what the indexer receives before decoding). Returns events/s of each.
async fn rpc_alone(url: &str, devnet: &Devnet, head: u64, range: u64, concurrency: usize) -> [f64; 2] {
    let p = ProviderBuilder::new().disable_recommended_fillers().connect(url).await.unwrap().erased();
    let addresses = devnet.manifest().contracts.all().to_vec();
    let ranges: Vec<(u64, u64)> =
        (0..=head).step_by(range as usize).map(|a| (a, (a + range - 1).min(head))).collect();
    let mut rates = [0.0; 2];
    for (i, rate) in rates.iter_mut().enumerate() {
        let started = Instant::now();
        let counts: Vec<usize> = futures::stream::iter(ranges.iter().copied())
            .map(|(a, b)| {
                let (p, addresses) = (p.clone(), addresses.clone());
                async move {
                    let filter =
                        alloy::rpc::types::Filter::new().address(addresses).from_block(a).to_block(b);
                    if i == 0 {
                        let raw: Box<serde_json::value::RawValue> =
                            p.raw_request("eth_getLogs".into(), (filter,)).await.unwrap();
                        // Counted without building a value per log.
                        raw.get().matches("\"logIndex\"").count()
                    } else {
                        p.get_logs(&filter).await.unwrap().len()
                    }
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let n: usize = counts.iter().sum();
        *rate = n as f64 / started.elapsed().as_secs_f64();
    }
    rates
}

/// The benchmark's commit log: a trigger on `checkpoints` records every checkpoint move with the
/// database's clock.
async fn install_commit_log(pool: &sqlx::PgPool) {
    sqlx::raw_sql(
        "CREATE TABLE bench_commits (block_number bigint NOT NULL, at timestamptz NOT NULL);
         CREATE FUNCTION bench_log_commit() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN INSERT INTO bench_commits VALUES (NEW.block_number, clock_timestamp()); RETURN NEW; END $$;
         CREATE TRIGGER bench_log_commit AFTER INSERT OR UPDATE ON checkpoints
           FOR EACH ROW EXECUTE FUNCTION bench_log_commit();",
    )
    .execute(pool)
    .await
    .unwrap();
}

/// CPU seconds (user + system) used so far by the processes of each name (`comm`): anvil, postgres, and
/// this test process (the indexer runs in it). The difference across the backfill says what it spent where.
fn cpu_by_process() -> BTreeMap<u32, (String, f64)> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return out };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid … utime(14) stime(15) cutime(16) cstime(17), counted after the closing
        // parenthesis; cutime/cstime hold reaped children, e.g. the PostgreSQL backends that have exited.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        // Kernel workers rename themselves after their current queue: by kind only.
        let comm = stat[open + 1..close].split('/').next().unwrap_or_default().to_owned();
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        out.insert(pid, (comm, (ticks(11) + ticks(12) + ticks(13) + ticks(14)) / 100.0));
    }
    out
}

/// CPU seconds spent between two [`cpu_by_process`] samples, by process name, most first.
fn cpu_spent(
    before: &BTreeMap<u32, (String, f64)>,
    after: &BTreeMap<u32, (String, f64)>,
) -> Vec<(String, f64)> {
    let mut by_name: BTreeMap<&str, f64> = BTreeMap::new();
    for (pid, (comm, cpu)) in after {
        let was = before.get(pid).filter(|(c, _)| c == comm).map_or(0.0, |(_, c)| *c);
        *by_name.entry(comm).or_default() += cpu - was;
    }
    let mut v: Vec<(String, f64)> = by_name.into_iter().map(|(n, s)| (n.to_owned(), s)).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// `name{labels} value` lines of the Prometheus text whose metric starts with `prefix`.
fn metric_lines(text: &str, prefix: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

fn print_stages(handle: &metrics_exporter_prometheus::PrometheusHandle, title: &str) {
    let text = handle.render();
    eprintln!("BENCH stages ({title}): seconds summed over batches / count");
    for (k, v) in metric_lines(&text, "medledger_indexer_") {
        if k.contains("_sum") || k.contains("_count") || k.contains("events_written_total") {
            eprintln!("BENCH   {k} {v:.4}");
        }
    }
}

/// What the backfill left in each table: rows, average stored row size, heap and index bytes.
async fn print_table_sizes(pool: &sqlx::PgPool) {
    let rows: Vec<(String, i64, f64, i64, i64)> = sqlx::query_as(
        "SELECT c.relname::text, c.reltuples::int8, \
                pg_relation_size(c.oid)::float8 / greatest(c.reltuples, 1), \
                pg_relation_size(c.oid), pg_indexes_size(c.oid) \
         FROM pg_class c WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace \
           AND pg_relation_size(c.oid) > 65536 ORDER BY pg_relation_size(c.oid) DESC",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let sizes: Vec<String> = rows
        .iter()
        .map(|(t, n, per, heap, idx)| {
            format!(
                "{t} {n} rows ({per:.0} B/row, heap {:.1} MB, indexes {:.1} MB)",
                *heap as f64 / 1e6,
                *idx as f64 / 1e6
            )
        })
        .collect();
    eprintln!("BENCH tables after backfill: {}", sizes.join("; "));
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT a.attname::text FROM pg_attribute a \
         WHERE a.attrelid = 'events'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let select: Vec<String> = columns.iter().map(|c| format!("avg(pg_column_size({c}))::float8")).collect();
    let row =
        sqlx::query(&format!("SELECT {} FROM events", select.join(", "))).fetch_one(pool).await.unwrap();
    let avg: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} {:.0}", sqlx::Row::get::<Option<f64>, _>(&row, i).unwrap_or(0.0)))
        .collect();
    eprintln!("BENCH events: average stored bytes per column: {}", avg.join(", "));
}

/// One backfill of blocks `0..=head` into a fresh database, with the indexer left running on it.
struct BackfillRun {
    url: String,
    pool: sqlx::PgPool,
    running: Running,
    events: i64,
    rate: f64,
    /// CPU seconds of every process (anvil, PostgreSQL, the indexer, …) during the backfill.
    cpu: f64,
}

impl BackfillRun {
    /// Events per second if the CPU time spent had kept all `cores` busy from start to end: what the
    /// work itself allows on this machine, whatever the pipeline leaves idle.
    fn ceiling(&self, cores: usize) -> f64 {
        self.events as f64 / (self.cpu / cores as f64)
    }

    /// Stops the indexer and drops the database (its pages leave PostgreSQL's buffers for the next run).
    async fn discard(self) {
        self.running.stop().await;
        self.pool.close().await;
        let options: sqlx::postgres::PgConnectOptions = self.url.parse().unwrap();
        let name = options.get_database().unwrap().to_owned();
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect_with(&options.database("postgres"))
            .await
            .unwrap();
        sqlx::query(&format!("DROP DATABASE \"{name}\" WITH (FORCE)")).execute(&mut admin).await.unwrap();
        sqlx::query("CHECKPOINT").execute(&mut admin).await.unwrap();
    }
}

/// Backfills `0..=head` from `url` into a fresh database and prints the rate, the CPU each process spent
/// and the commit timeline. `BENCH_PERF` records the first run.
async fn backfill_once(run: u64, url: &str, devnet: &Devnet, head: u64, produced: u64) -> BackfillRun {
    let (db_url, pool) = fresh_db("bench").await;
    install_commit_log(&pool).await;
    let mut c = config(url, devnet);
    c.initial_range = env_u64("BENCH_RANGE", c.initial_range);
    c.max_range = env_u64("BENCH_MAX_RANGE", c.max_range);
    c.concurrency = env_u64("BENCH_CONCURRENCY", c.concurrency as u64) as usize;
    // BENCH_PERF=<file>: a system-wide `perf record` of the backfill alone, for `perf report -i <file>`;
    // with BENCH_PERF_SELF=1, of this process (the indexer) alone with DWARF call graphs (Rust code has no
    // frame pointers); with BENCH_PERF_DWARF=1, system-wide with DWARF call graphs (PostgreSQL's too).
    let perf = std::env::var("BENCH_PERF").ok().filter(|_| run == 1).map(|out| {
        let pid = std::process::id().to_string();
        let args: Vec<&str> = if std::env::var("BENCH_PERF_SELF").is_ok_and(|v| v == "1") {
            vec!["record", "-p", &pid, "--call-graph", "dwarf,32768", "-F", "499", "-o", &out]
        } else if std::env::var("BENCH_PERF_DWARF").is_ok_and(|v| v == "1") {
            vec!["record", "-a", "--call-graph", "dwarf,16384", "-F", "499", "-o", &out]
        } else {
            vec!["record", "-a", "-g", "-F", "999", "-o", &out]
        };
        let child = std::process::Command::new("perf")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("perf record (BENCH_PERF)");
        std::thread::sleep(Duration::from_millis(500));
        child
    });
    let cpu_before = cpu_by_process();
    let started_wall = SystemTime::now();
    let started = Instant::now();
    let running = Running::start(c, pool.clone());
    let mut last_print = Instant::now();
    while checkpoint(&pool).await < head as i64 {
        assert!(started.elapsed() < Duration::from_secs(600), "backfill did not finish");
        if last_print.elapsed() >= Duration::from_secs(2) {
            eprintln!(
                "BENCH backfill: block {} of {head} after {:.1?}",
                checkpoint(&pool).await,
                started.elapsed()
            );
            last_print = Instant::now();
        }
        // The commit times come from the commit log: polling need not be fine-grained (nor cost CPU).
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let last_commit: i64 = sqlx::query_scalar(
        "SELECT (extract(epoch FROM max(at)) * 1e6)::int8 FROM bench_commits WHERE block_number >= $1",
    )
    .bind(head as i64)
    .fetch_one(&pool)
    .await
    .unwrap();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap();
    let secs = (last_commit - unix_micros(started_wall)) as f64 / 1e6;
    let commits: i64 =
        sqlx::query_scalar("SELECT count(*) FROM bench_commits").fetch_one(&pool).await.unwrap();
    let backfill_rate = events as f64 / secs;
    eprintln!("BENCH backfill {run}: {events} events in {secs:.3} s = {backfill_rate:.0} events/s, {commits} commits");
    assert!(events as u64 >= produced, "every produced event indexed");
    if let Some(mut perf) = perf {
        let _ = std::process::Command::new("kill").arg("-INT").arg(perf.id().to_string()).status();
        let _ = perf.wait();
    }
    let spent = cpu_spent(&cpu_before, &cpu_by_process());
    let cpu: f64 = spent.iter().map(|(_, s)| s).sum();
    let shown: Vec<String> =
        spent.iter().filter(|(_, s)| *s >= 0.05).map(|(name, s)| format!("{name} {s:.2} s")).collect();
    eprintln!(
        "BENCH backfill {run} CPU by process (of {:.2} s on 2 cores): {}",
        2.0 * secs,
        shown.join(", ")
    );
    let timeline: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT block_number, (extract(epoch FROM at) * 1e6)::int8 FROM bench_commits ORDER BY at",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let timeline: Vec<String> = timeline
        .iter()
        .map(|(b, at)| format!("{b}@{:.2}", (at - unix_micros(started_wall)) as f64 / 1e6))
        .collect();
    eprintln!("BENCH backfill {run} commits (block@seconds): {}", timeline.join(" "));
    BackfillRun { url: db_url, pool, running, events, rate: backfill_rate, cpu }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run scripts/bench-indexer"]
async fn bench() {
    let target = env_u64("BENCH_EVENTS", 100_000);
    let live_blocks = env_u64("BENCH_LIVE_BLOCKS", 250);
    let live_interval = Duration::from_millis(env_u64("BENCH_LIVE_INTERVAL_MS", 100));
    let live_events = env_u64("BENCH_LIVE_EVENTS", 10);
    let handle = medledger_indexer::metrics::install_prometheus().unwrap();

    let devnet = devnet().await;
    let signers = devnet.signers();
    let from = devnet.addresses()[9];
    let p = ProviderBuilder::new()
        .disable_recommended_fillers()
        .wallet(EthereumWallet::from(signers[9].clone()))
        .connect_http(devnet.rpc_url().parse().unwrap())
        .erased();
    let chain_id = devnet.manifest().chain_id;
    let mut sender = Sender { p: p.clone(), from, nonce: 0, chain_id };
    let actors = setup(&devnet, &mut sender).await;
    let _: serde_json::Value = rpc(&p, "evm_setBlockGasLimit", json!(["0x3B9ACA00"])).await; // 1e9
    let _: serde_json::Value = rpc(&p, "evm_setAutomine", json!([false])).await;
    let (produced, blocks, txs) = produce(&p, &mut sender, &actors, target).await;
    let head = p.get_block_number().await.unwrap();

    // ---- The node alone: how fast can these logs be fetched at all?
    let url =
        if std::env::var("BENCH_RPC").as_deref() == Ok("http") { devnet.rpc_url() } else { devnet.ws_url() };
    let rpc_range = env_u64("BENCH_RPC_RANGE", 4);
    for concurrency in [1, 4] {
        let [raw, parsed] = rpc_alone(&url, &devnet, head, rpc_range, concurrency).await;
        eprintln!(
            "BENCH rpc alone: eth_getLogs over {rpc_range}-block ranges, {concurrency} at a time: raw JSON {raw:.0} events/s, \
             deserialised into Log {parsed:.0} events/s"
        );
    }

    // ---- Backfills into fresh databases: the VM's speed varies from run to run, so the median of a few.
    let runs = env_u64("BENCH_BACKFILLS", 3).max(1);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    eprintln!(
        "BENCH backfill: blocks 0..={head} ({produced} bench events in {blocks} blocks, {txs} txs) over {}, {runs} times",
        if url.starts_with("ws") { "WebSocket" } else { "HTTP" }
    );
    let mut results = Vec::new();
    let mut last = None;
    for run in 1..=runs {
        let r = backfill_once(run, &url, &devnet, head, produced).await;
        results.push((r.rate, r.ceiling(cores)));
        if run < runs {
            r.discard().await;
        } else {
            last = Some(r);
        }
    }
    let last = last.expect("at least one backfill");
    let (pool, running, events) = (last.pool.clone(), last.running, last.events);
    print_stages(&handle, &format!("backfill, summed over {runs} runs"));
    print_table_sizes(&pool).await;
    let mut rates: Vec<f64> = results.iter().map(|r| r.0).collect();
    let mut ceilings: Vec<f64> = results.iter().map(|r| r.1).collect();
    rates.sort_by(f64::total_cmp);
    ceilings.sort_by(f64::total_cmp);
    let backfill_rate = rates[rates.len() / 2];
    eprintln!(
        "BENCH backfill over {runs} runs: median {backfill_rate:.0} events/s (min {:.0}, max {:.0}); \
         at full use of {cores} cores the CPU they spent would allow median {:.0} events/s (min {:.0}, max {:.0})",
        rates[0],
        rates[rates.len() - 1],
        ceilings[ceilings.len() / 2],
        ceilings[0],
        ceilings[ceilings.len() - 1]
    );

    // ---- Live: one block at a time while the indexer follows the head.
    running.wait_for(&pool, chain_id as i64, head, Duration::from_secs(60)).await;
    let now = p.get_block(alloy::eips::BlockId::latest()).await.unwrap().unwrap().header.timestamp;
    let expires = U40::from(now + 365 * 86_400);
    // An independent newHeads subscriber: when each block was announced (what "mined" means to any
    // observer; anvil computes the state root before it announces, which takes it a while on a state
    // this big).
    let announced: std::sync::Arc<std::sync::Mutex<BTreeMap<u64, i64>>> = std::sync::Arc::default();
    let watcher = {
        let ws = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_ws(alloy::transports::ws::WsConnect::new(devnet.ws_url()))
            .await
            .unwrap();
        let sub = ws.subscribe_blocks().await.unwrap();
        let announced = std::sync::Arc::clone(&announced);
        tokio::spawn(async move {
            let _ws = ws;
            let mut stream = sub.into_stream();
            while let Some(h) = stream.next().await {
                announced.lock().unwrap().insert(h.number, unix_micros(SystemTime::now()));
            }
        })
    };
    let mut mined: Vec<(u64, i64)> = Vec::with_capacity(live_blocks as usize);
    let live_started = Instant::now();
    for i in 0..live_blocks {
        let tick = Instant::now();
        let input = BenchPatient::grantManyCall {
            seed: U256::from(1_000_000 + i),
            count: U256::from(live_events),
            revokeEvery: U256::ZERO,
            expiresAt: expires,
        }
        .abi_encode();
        sender.send(Some(actors.patient), input, 2_000_000).await;
        // Latency from just before the block is mined (anvil announces it before anvil_mine returns),
        // so anvil's own block production counts against the indexer.
        let at = unix_micros(SystemTime::now());
        mine(&p, 1).await;
        mined.push((head + 1 + i, at));
        if i % 50 == 49 {
            eprintln!("BENCH live: {} of {live_blocks} blocks mined", i + 1);
        }
        tokio::time::sleep(live_interval.saturating_sub(tick.elapsed())).await;
    }
    let last = head + live_blocks;
    assert_eq!(p.get_block_number().await.unwrap(), last);
    running.wait_for(&pool, chain_id as i64, last, Duration::from_secs(60)).await;
    let live_secs = live_started.elapsed().as_secs_f64();
    let commits: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT block_number, (extract(epoch FROM at) * 1e6)::int8 FROM bench_commits WHERE block_number > $1
         ORDER BY at",
    )
    .bind(head as i64)
    .fetch_all(&pool)
    .await
    .unwrap();
    watcher.abort();
    let announced = announced.lock().unwrap().clone();
    let committed_at =
        |block: u64| commits.iter().find(|(b, _)| *b >= block as i64).expect("commit of block").1;
    let mut lat: Vec<f64> = mined
        .iter()
        .map(|&(block, _)| {
            let at = *announced.get(&block).expect("block announced");
            (committed_at(block) - at) as f64 / 1e3
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    let mut from_call: Vec<f64> =
        mined.iter().map(|&(block, at)| (committed_at(block) - at) as f64 / 1e3).collect();
    from_call.sort_by(f64::total_cmp);
    let mut mining: Vec<f64> =
        mined.iter().map(|&(block, at)| (announced[&block] - at) as f64 / 1e3).collect();
    mining.sort_by(f64::total_cmp);
    eprintln!(
        "BENCH live: anvil_mine called -> block announced (anvil's own mining): p50 {:.1} ms, p95 {:.1} ms; \
         anvil_mine called -> committed: p50 {:.1} ms, p95 {:.1} ms",
        percentile(&mining, 0.5),
        percentile(&mining, 0.95),
        percentile(&from_call, 0.5),
        percentile(&from_call, 0.95)
    );
    let live_events_indexed: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE block_number > $1")
        .bind(head as i64)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(live_events_indexed as u64, live_blocks * live_events, "every live event indexed");
    let (p50, p95, p99, max) =
        (percentile(&lat, 0.5), percentile(&lat, 0.95), percentile(&lat, 0.99), lat[lat.len() - 1]);
    eprintln!(
        "BENCH live: {live_blocks} blocks ({live_events} events each) in {live_secs:.1} s, {} commits; block announced (newHeads) -> committed: p50 {p50:.1} ms, p95 {p95:.1} ms, p99 {p99:.1} ms, max {max:.1} ms, min {:.1} ms",
        commits.len(),
        lat[0]
    );
    print_stages(&handle, "backfill + live");
    running.stop().await;
    eprintln!(
        "BENCH summary: backfill {backfill_rate:.0} events/s ({events} events, median of {runs} runs; target >= 50000); live p50 {p50:.1} ms, p95 {p95:.1} ms over {live_blocks} blocks (target p95 <= 100 ms)"
    );
}
