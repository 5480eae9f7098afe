//! Sparse-chain benchmark of the indexer (not a test: `#[ignore]`d; run it with
//! `BENCH_SCENARIO=sparse scripts/bench-indexer`).
//!
//! A real deployment's events are scattered over millions of blocks. This builds such a chain on anvil —
//! BENCH_SPARSE_BLOCKS blocks (1,000,000) with BENCH_SPARSE_EVENTS consent grants (10,000), one per block,
//! evenly spaced, the empty stretches mined with `anvil_mine` — on an anvil started with `--prune-history`
//! (without it anvil writes every block's state to disk past its in-memory window, ~45 KB a block) and
//! `--hardfork cancun`: under Prague, EIP-2935's block-hash history contract gains a storage slot every
//! block and anvil 1.7 rebuilds the whole state trie each block, so mining slows with the chain's height
//! (0.5 ms a block at the start, 9 ms at 20,000 blocks: hours for a million); under Cancun an empty block
//! costs ~0.05 ms whatever the height (foundry-rs/foundry#15715 fixed this upstream after 1.7). Then,
//! through the fault proxy refusing `eth_getLogs` over more than BENCH_SPARSE_LIMIT blocks (10,000), as
//! providers do:
//!
//! - the floor: every `eth_getLogs` range of exactly the limit, asked one after another as the indexer
//!   would (the tracked addresses), timed: ⌈blocks ÷ limit⌉ calls at the measured per-call latency;
//! - the backfill of a fresh database with the indexer's defaults (it does not know the limit: its range
//!   sizing finds it), from start to the checkpoint reaching the head: time, `eth_getLogs` calls (refused
//!   ones included), every JSON-RPC call and the HTTP requests that carried them (headers go in batches),
//!   and the ratio of its time to the floor's (target: ≤ 2).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use alloy::{primitives::aliases::U40, providers::Provider};
use medledger::devnet::{repo_root, Devnet};
use medledger_core::bindings::ConsentRegistry;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::{proxy::Faults, *};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// anvil with `--prune-history` and `--hardfork cancun` on a free port; killed when dropped.
struct PrunedAnvil {
    child: std::process::Child,
    url: String,
}

impl PrunedAnvil {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new("anvil")
            .args(["--port", &port.to_string(), "--prune-history", "--hardfork", "cancun", "--silent"])
            .spawn()
            .expect("anvil on PATH (source scripts/env)");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "anvil did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, url }
    }

    /// anvil's resident memory, in MiB.
    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        kib / 1024.0
    }
}

impl Drop for PrunedAnvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run BENCH_SCENARIO=sparse scripts/bench-indexer"]
async fn bench_sparse() {
    let blocks = env_u64("BENCH_SPARSE_BLOCKS", 1_000_000);
    let events = env_u64("BENCH_SPARSE_EVENTS", 10_000).max(1);
    let limit = env_u64("BENCH_SPARSE_LIMIT", 10_000);
    init_logs();

    let anvil = PrunedAnvil::start();
    let url = anvil.url.clone();
    let devnet =
        tokio::task::spawn_blocking(move || Devnet::attach(&repo_root(), &url)).await.unwrap().unwrap();
    let p = wallet_provider(&devnet);
    let x = actors(&devnet);

    // ---- The chain: one grant every `gap` blocks, the rest empty. Automine off: each grant is sent (nonce
    // counted here, no receipt awaited) and lands in the first of the `gap` blocks mined after it.
    let start = p.get_block_number().await.unwrap();
    let gap = (blocks / events).max(1);
    let began = Instant::now();
    let grantees = [x.prescriber, x.pharmacy, x.prescriber2, x.pharmacy2];
    let consent = ConsentRegistry::new(devnet.manifest().contracts.consent_registry, p.clone());
    let now = p.get_block(alloy::eips::BlockId::latest()).await.unwrap().unwrap().header.timestamp;
    let expires = U40::from(now + 365 * 86_400 + blocks);
    let mut nonce = p.get_transaction_count(x.patient).await.unwrap();
    let _: Value = rpc(&p, "evm_setAutomine", json!([false])).await;
    for i in 0..events {
        let grantee = grantees[i as usize % grantees.len()];
        let scopes = 1 + (i % 7) as u8;
        let _ = consent
            .grant(grantee, scopes, expires)
            .from(x.patient)
            .nonce(nonce)
            .gas(200_000)
            .send()
            .await
            .unwrap();
        nonce += 1;
        let _: Value = rpc(&p, "anvil_mine", json!([gap])).await;
        if i % 1_000 == 999 {
            let head = p.get_block_number().await.unwrap();
            eprintln!(
                "BENCH sparse produce: {} grants, head {head}, {:.0?}, anvil {:.0} MiB",
                i + 1,
                began.elapsed(),
                anvil.rss_mib()
            );
        }
    }
    let _: Value = rpc(&p, "anvil_mine", json!([100])).await;
    let head = p.get_block_number().await.unwrap();
    let deploy = devnet.manifest().deploy_block;
    let span = head + 1 - deploy;
    eprintln!(
        "BENCH sparse chain: blocks {start}..={head}, {events} grants every {gap} blocks, built in {:.1?}; anvil {:.0} MiB",
        began.elapsed(),
        anvil.rss_mib()
    );

    // ---- The floor: each `limit`-block range asked once, one after another.
    let proxy =
        proxy::Proxy::start(&devnet.rpc_url(), Faults { max_log_range: limit, ..Default::default() }).await;
    let direct = read_provider(&proxy.url);
    let addresses = devnet.manifest().contracts.all().to_vec();
    let floor_calls = span.div_ceil(limit);
    let t = Instant::now();
    let mut logs = 0;
    let mut from = deploy;
    while from <= head {
        let to = head.min(from + limit - 1);
        let filter =
            alloy::rpc::types::Filter::new().address(addresses.clone()).from_block(from).to_block(to);
        logs += direct.get_logs(&filter).await.unwrap().len();
        from = to + 1;
    }
    let floor = t.elapsed();
    let per_call = floor / floor_calls as u32;
    eprintln!(
        "BENCH sparse floor: {floor_calls} eth_getLogs calls of {limit} blocks, {logs} logs, {floor:.2?} ({per_call:.2?} a call)"
    );

    // ---- The backfill, as the indexer's defaults do it (the limit unknown to it).
    let (before_calls, before_logs, before_requests) = (proxy.calls(), proxy.log_calls(), proxy.requests());
    let (_, pool) = fresh_db("bench_sparse").await;
    let chain_id = devnet.manifest().chain_id as i64;
    let t = Instant::now();
    let running = Running::start(config(&proxy.url, &devnet), pool.clone());
    running.wait_for(&pool, chain_id, head, Duration::from_secs(3_600)).await;
    let took = t.elapsed();
    running.stop().await;
    let (calls, log_calls) = (proxy.calls() - before_calls, proxy.log_calls() - before_logs);
    let (requests, (batches, _)) = (proxy.requests() - before_requests, proxy.batches());
    let indexed: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM blocks").fetch_one(&pool).await.unwrap();
    eprintln!(
        "BENCH sparse backfill: {span} blocks, {indexed} events in {took:.2?} ({:.0} blocks/s); {log_calls} eth_getLogs \
         calls ({} refused) of {calls} JSON-RPC calls in {requests} HTTP requests ({batches} batches); floor {floor_calls} calls × {per_call:.2?} = {floor:.2?}: \
         ratio {:.2} (target ≤ 2); blocks table {rows} rows",
        span as f64 / took.as_secs_f64(),
        proxy.injected(),
        took.as_secs_f64() / floor.as_secs_f64()
    );
    assert!(indexed as u64 >= events, "every grant indexed ({indexed} of {events}): a grant reverted?");
}
