//! End-to-end: anvil reorganised (same-height depth 1, and depth 12 by snapshot/revert and different
//! transactions) while the indexer follows the head and while it backfills; afterwards every table equals a
//! fresh index of the final chain.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use alloy::providers::Provider;
use serde_json::json;
use std::time::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorgs_while_following_and_backfilling_leave_a_fresh_index() {
    let devnet = devnet().await;
    let p = wallet_provider(&devnet);
    let x = actors(&devnet);
    let chain_id = devnet.manifest().chain_id as i64;
    full_workload(&devnet, &p).await;

    // ---- Live following over WebSocket.
    let (_, live) = fresh_db("reorg_live").await;
    let running = Running::start(config(&devnet.ws_url(), &devnet), live.clone());
    wait_synced(&live, chain_id, &p, Duration::from_secs(30)).await;

    // Depth 1 at the same height: the last block replaced by an empty one.
    grant_tx(&devnet, &p, x.patient, x.prescriber2, 1).await;
    wait_synced(&live, chain_id, &p, Duration::from_secs(30)).await;
    let _: serde_json::Value = rpc(&p, "anvil_reorg", json!([1, []])).await;
    wait_synced(&live, chain_id, &p, Duration::from_secs(30)).await;
    let grants: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM consent_history WHERE patient = $1 AND grantee = $2 AND action = 'granted'",
    )
    .bind(x.patient.to_vec())
    .bind(x.prescriber2.to_vec())
    .fetch_one(&live)
    .await
    .unwrap();
    assert_eq!(grants, 1, "the reorged-out grant is gone (only the workload's remains)");

    // Depth 12: twelve blocks of grants, reverted, replaced by fourteen blocks of other grants.
    let snap: String = rpc(&p, "evm_snapshot", json!([])).await;
    for i in 0..12u8 {
        grant_tx(&devnet, &p, x.patient, x.pharmacy, 1 + i % 7).await;
    }
    wait_synced(&live, chain_id, &p, Duration::from_secs(20)).await;
    let _: bool = rpc(&p, "evm_revert", json!([snap])).await;
    for i in 0..14u8 {
        grant_tx(&devnet, &p, x.patient2, x.pharmacy, 1 + i % 7).await;
    }
    wait_synced(&live, chain_id, &p, Duration::from_secs(20)).await;
    let reorgs: i64 =
        sqlx::query_scalar("SELECT reorg_count FROM checkpoints").fetch_one(&live).await.unwrap();
    assert!(reorgs >= 2, "reorgs recorded ({reorgs})");
    running.stop().await;

    let (_, fresh) = fresh_db("reorg_fresh").await;
    index_to_head(config(&devnet.rpc_url(), &devnet), &fresh, &p).await;
    let expected = digest(&fresh, chain_id).await;
    assert_eq!(digest(&live, chain_id).await, expected, "live index after reorgs equals a fresh index");

    // ---- During a (slowed-down) backfill: revert the last 12 blocks and mine 13 others.
    let snap: String = rpc(&p, "evm_snapshot", json!([])).await;
    for i in 0..12u8 {
        grant_tx(&devnet, &p, x.patient, x.prescriber, 1 + i % 7).await;
    }
    let proxy =
        proxy::Proxy::start(&devnet.rpc_url(), proxy::Faults { max_delay_ms: 25, ..Default::default() })
            .await;
    let (_, during) = fresh_db("reorg_backfill").await;
    let mut c = config(&proxy.url, &devnet);
    c.initial_range = 1;
    c.max_range = 1;
    c.concurrency = 1;
    c.max_reorg_depth = 20;
    let running = Running::start(c, during.clone());
    // Polled, not slept on: a loaded machine may take longer than any fixed pause to write the checkpoint.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let cp: i64 = loop {
        let cp =
            sqlx::query_scalar("SELECT block_number FROM checkpoints").fetch_optional(&during).await.unwrap();
        if let Some(cp) = cp {
            break cp;
        }
        assert!(std::time::Instant::now() < deadline, "the backfill wrote no checkpoint within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let head = p.get_block_number().await.unwrap();
    assert!((cp as u64) < head - 12, "still backfilling ({cp} of {head})");
    let _: bool = rpc(&p, "evm_revert", json!([snap])).await;
    for i in 0..13u8 {
        grant_tx(&devnet, &p, x.patient2, x.prescriber, 1 + i % 7).await;
    }
    wait_synced(&during, chain_id, &p, Duration::from_secs(60)).await;
    running.stop().await;

    let (_, fresh) = fresh_db("reorg_fresh2").await;
    index_to_head(config(&devnet.rpc_url(), &devnet), &fresh, &p).await;
    assert_eq!(
        digest(&during, chain_id).await,
        digest(&fresh, chain_id).await,
        "index after a reorg during backfill equals a fresh index"
    );
}
