//! A hostile node, against real anvil and a real PostgreSQL: a proxy rewrites the node's answers, and the
//! index must never hold anything the honest chain does not.
//!
//! - logs: malformed JSON bodies, JSON of the wrong shape, logs from an untracked address, logs in reverse
//!   order, a log twice, a log moved to another block, a log whose block hash is not its block's —
//!   retried (or, for a mere reordering, put back in order), never written;
//! - headers: a wrong block hash, a wrong parent link; heads: a head the node cannot serve, a head that
//!   goes backwards — rejected and retried: no spurious reorg, no block hash the chain does not have, no
//!   checkpoint or recorded head beyond the real head;
//! - a node of another chain: the indexer stops at once with a clear error and writes nothing.
//!
//! Each ends with the index equal to a clean index of the same chain (every table's digest), with the
//! indexer still running (the hostile answers were retried, not fatal).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use alloy::providers::{DynProvider, Provider};
use medledger::devnet::Devnet;
use medledger_indexer::{Indexer, IndexerError};
use sqlx::PgPool;
use std::time::{Duration, Instant};
use support::{proxy::Faults, *};

/// `n` blocks with a consent grant each.
async fn grants(devnet: &Devnet, p: &DynProvider, n: u8) {
    let x = actors(devnet);
    for i in 0..n {
        let patient = if i % 2 == 0 { x.patient } else { x.patient2 };
        grant_tx(devnet, p, patient, x.prescriber, 1 + i % 7).await;
    }
}

/// (block_number, head_number) of the checkpoint, or `None` before the first.
async fn checkpoint(pool: &PgPool) -> Option<(i64, i64)> {
    sqlx::query_as("SELECT block_number, head_number FROM checkpoints").fetch_optional(pool).await.unwrap()
}

/// Indexes through `proxy` (backfilling with a reorg window of 3, so both the backfill pipeline and the
/// near-head path meet the hostile answers), then follows while `rounds` more batches of grants are mined.
/// Checks all along that nothing beyond the real head is recorded. Returns the index.
async fn index_behind(devnet: &Devnet, p: &DynProvider, proxy: &proxy::Proxy, name: &str) -> PgPool {
    let chain_id = devnet.manifest().chain_id as i64;
    let (_, pool) = fresh_db(name).await;
    let mut c = config(&proxy.url, devnet);
    c.initial_range = 2;
    c.max_range = 4;
    c.max_reorg_depth = 3;
    c.tip_batch = 4;
    let running = Running::start(c, pool.clone());
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut rounds = 0;
    loop {
        let head = p.get_block_number().await.unwrap() as i64;
        let cp = checkpoint(&pool).await;
        if let Some((block, recorded_head)) = cp {
            assert!(block <= head, "indexed block {block} beyond the real head {head}");
            assert!(recorded_head <= head, "recorded head {recorded_head} beyond the real head {head}");
        }
        let synced = cp.is_some_and(|(block, _)| block == head);
        if synced && rounds >= 3 {
            break;
        }
        if synced {
            grants(devnet, p, 4).await;
            rounds += 1;
        }
        assert!(!running.is_finished(), "the indexer stopped instead of retrying");
        assert!(Instant::now() < deadline, "no progress past {cp:?} of {head}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_synced(&pool, chain_id, p, Duration::from_secs(30)).await;
    running.stop().await;
    pool
}

/// Asserts the index equals a clean index of the same chain, holds only blocks of the node's chain, and
/// recorded no reorg (there was none).
async fn assert_clean(devnet: &Devnet, pool: &PgPool, what: &str) {
    let p = read_provider(&devnet.rpc_url());
    let chain_id = devnet.manifest().chain_id as i64;
    let (_, clean) = fresh_db("hostile_clean").await;
    index_to_head(config(&devnet.rpc_url(), devnet), &clean, &p).await;
    assert_eq!(
        digest(pool, chain_id).await,
        digest(&clean, chain_id).await,
        "{what}: differs from a clean index"
    );
    let blocks: Vec<(i64, Vec<u8>, Vec<u8>)> =
        sqlx::query_as("SELECT number, hash, parent_hash FROM blocks ORDER BY number")
            .fetch_all(pool)
            .await
            .unwrap();
    assert!(!blocks.is_empty());
    for (number, hash, parent) in blocks {
        let real = p.get_block_by_number((number as u64).into()).await.unwrap().unwrap().header;
        assert_eq!(
            hash,
            real.hash.to_vec(),
            "{what}: block {number} stored with a hash the chain does not have"
        );
        assert_eq!(parent, real.parent_hash.to_vec(), "{what}: block {number} stored with a wrong parent");
    }
    let (reorgs, hash): (i64, Vec<u8>) =
        sqlx::query_as("SELECT reorg_count, block_hash FROM checkpoints").fetch_one(pool).await.unwrap();
    assert_eq!(reorgs, 0, "{what}: a reorg was recorded, but the chain never reorganised");
    let latest = p.get_block(alloy::eips::BlockId::latest()).await.unwrap().unwrap();
    assert_eq!(hash, latest.header.hash.to_vec(), "{what}: checkpoint hash");
}

fn assert_given(proxy: &proxy::Proxy, kinds: &[&str]) {
    let given = proxy.hostile();
    for kind in kinds {
        assert!(given.get(kind).is_some_and(|n| *n >= 1), "no {kind} answer was given: {given:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_logs_are_retried_never_written() {
    let devnet = devnet().await;
    let p = wallet_provider(&devnet);
    full_workload(&devnet, &p).await;
    grants(&devnet, &p, 12).await;
    let faults = Faults {
        malformed_every: 17,
        foreign_log_every: 11,
        wrong_hash_every: 7,
        reverse_logs_every: 2,
        duplicate_log_every: 3,
        move_log_every: 5,
        garbage_logs_every: 13,
        ..Faults::default()
    };
    let proxy = proxy::Proxy::start(&devnet.rpc_url(), faults).await;
    let pool = index_behind(&devnet, &p, &proxy, "hostile_logs").await;
    assert_given(
        &proxy,
        &[
            "malformed",
            "foreign_log",
            "wrong_hash",
            "reverse_logs",
            "duplicate_log",
            "move_log",
            "garbage_logs",
        ],
    );
    let foreign: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE address = $1")
        .bind(alloy::hex::decode("00000000000000000000000000000000deadbeef").unwrap())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(foreign, 0, "a log from an untracked address was written");
    assert_clean(&devnet, &pool, "behind a node that tampers with logs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_headers_and_heads_are_rejected() {
    let devnet = devnet().await;
    let p = wallet_provider(&devnet);
    full_workload(&devnet, &p).await;
    grants(&devnet, &p, 12).await;
    let faults = Faults {
        header_hash_every: 5,
        header_parent_every: 7,
        lie_head_every: 3,
        lie_head_by: 1_000,
        head_back_every: 4,
        head_back_by: 20,
        ..Faults::default()
    };
    let proxy = proxy::Proxy::start(&devnet.rpc_url(), faults).await;
    let pool = index_behind(&devnet, &p, &proxy, "hostile_headers").await;
    assert_given(&proxy, &["header_hash", "header_parent", "lie_head", "head_back"]);
    assert_clean(&devnet, &pool, "behind a node that lies about headers and its head").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_of_another_chain_stops_the_indexer() {
    let devnet = devnet().await;
    let p = wallet_provider(&devnet);
    grants(&devnet, &p, 3).await;
    let proxy =
        proxy::Proxy::start(&devnet.rpc_url(), Faults { chain_id: Some(4242), ..Faults::default() }).await;
    let (_, pool) = fresh_db("hostile_chain").await;
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        Indexer::new(config(&proxy.url, &devnet), pool.clone()).run(std::future::pending()),
    )
    .await
    .expect("the indexer stops by itself");
    let err = result.expect_err("another chain stops the indexer");
    assert!(
        matches!(err, IndexerError::ChainIdMismatch { actual: 4242, .. }) && !err.is_retryable(),
        "a clear, fatal error: {err}"
    );
    assert!(err.to_string().contains("4242"), "the error names the node's chain: {err}");
    assert!(started.elapsed() < Duration::from_secs(10), "stopped at once, not after retries");
    assert_eq!(checkpoint(&pool).await, None, "nothing written");
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap();
    assert_eq!(events, 0, "nothing written");
}
