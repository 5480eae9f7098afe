//! A sparse chain — a few events scattered over 10,000 empty blocks — behind a node that refuses
//! `eth_getLogs` spans over 500 blocks: the backfill reaches the limit in a few calls and stays within 2× the
//! floor of ⌈blocks ÷ 500⌉ calls, fetches its headers in JSON-RPC batches (far fewer HTTP round trips than
//! calls), and the index equals one made without the limit. Behind nodes that refuse batches (answered with
//! one error object: one call each from then on) or cap them (geth's "batch too large": smaller batches),
//! the index is the same. (Small: scripts/bench-indexer is the place for a million blocks.)
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use alloy::providers::Provider;
use serde_json::json;
use support::{proxy::Faults, *};

#[tokio::test]
async fn a_sparse_chain_backfills_near_the_floor_of_calls() {
    // `--prune-history`: no historical state is needed, and without it anvil writes the states of the 10,000
    // mined blocks to disk (4.5 GB under ~/.foundry/anvil/tmp, left behind when the test's anvil is killed).
    let devnet = devnet_with(&["--prune-history"]).await;
    let p = wallet_provider(&devnet);
    let x = actors(&devnet);
    for scopes in 1..=5u8 {
        let _: serde_json::Value = rpc(&p, "anvil_mine", json!([2_000])).await;
        grant_tx(&devnet, &p, x.patient, x.prescriber, scopes).await;
    }
    let head = p.get_block_number().await.unwrap();
    let chain_id = i64::try_from(devnet.manifest().chain_id).unwrap();

    let proxy =
        proxy::Proxy::start(&devnet.rpc_url(), Faults { max_log_range: 500, ..Default::default() }).await;
    let (_, limited) = fresh_db("sparse").await;
    index_to_head(config(&proxy.url, &devnet), &limited, &p).await;
    let blocks = head + 1 - devnet.manifest().deploy_block;
    let floor = blocks.div_ceil(500);
    let calls = proxy.log_calls();
    let (all, requests, (batches, refused)) = (proxy.calls(), proxy.requests(), proxy.batches());
    eprintln!(
        "{blocks} blocks, {calls} eth_getLogs calls (floor {floor}, {} refused); {all} JSON-RPC calls in \
         {requests} HTTP requests ({batches} batches)",
        proxy.injected()
    );
    assert!(calls <= 2 * floor, "{calls} eth_getLogs calls for {blocks} blocks: floor {floor}");
    assert!(batches > 0 && refused == 0, "headers came in batches ({batches}, {refused} refused)");
    // Each range: its last header, its logs, one batch (its first block and its end's 64-block window).
    assert!(requests * 10 < all, "{all} calls in {requests} round trips: batches should carry most calls");

    let (_, direct) = fresh_db("sparse_direct").await;
    index_to_head(config(&devnet.rpc_url(), &devnet), &direct, &p).await;
    let clean = digest(&direct, chain_id).await;
    assert_eq!(digest(&limited, chain_id).await, clean, "the limit changed the index");

    // A node that serves no batches: the first refusals (from the batches already in flight) switch the
    // indexer to single calls for good.
    let proxy = proxy::Proxy::start(
        &devnet.rpc_url(),
        Faults { max_log_range: 500, refuse_batches: true, ..Default::default() },
    )
    .await;
    let (_, unbatched) = fresh_db("sparse_unbatched").await;
    index_to_head(config(&proxy.url, &devnet), &unbatched, &p).await;
    let (batches, refused) = proxy.batches();
    eprintln!("batches refused: {batches} sent, {refused} refused, {} calls", proxy.calls());
    assert!(refused >= 1 && batches == refused, "every batch was refused ({batches}, {refused})");
    assert!(refused <= 16, "single calls after the first refusals, not a batch per range ({refused})");
    assert_eq!(digest(&unbatched, chain_id).await, clean, "refused batches changed the index");

    // A node that takes batches of at most 8 calls: halved from 100 down to 6, then accepted.
    let proxy = proxy::Proxy::start(
        &devnet.rpc_url(),
        Faults { max_log_range: 500, max_batch: 8, ..Default::default() },
    )
    .await;
    let (_, capped) = fresh_db("sparse_capped").await;
    index_to_head(config(&proxy.url, &devnet), &capped, &p).await;
    let (batches, refused) = proxy.batches();
    eprintln!("batches capped at 8: {batches} sent, {refused} refused");
    assert!((1..=4 * 16).contains(&refused), "a few refusals while the cap came down ({refused})");
    assert!(
        batches > 2 * refused,
        "batches of 6 were taken from then on ({batches} sent, {refused} refused)"
    );
    assert_eq!(digest(&capped, chain_id).await, clean, "capped batches changed the index");
}
