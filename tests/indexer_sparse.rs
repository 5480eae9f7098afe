//! A sparse chain — a few events scattered over 10,000 empty blocks — behind a node that refuses
//! `eth_getLogs` spans over 500 blocks: the backfill reaches the limit in a few calls and stays within 2× the
//! floor of ⌈blocks ÷ 500⌉ calls, and the index equals one made without the limit. (Small: anvil keeps
//! every block's state on disk past its in-memory window, some 45 KB a block; scripts/bench-indexer is the
//! place for a million blocks.)
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use alloy::providers::Provider;
use serde_json::json;
use support::{proxy::Faults, *};

#[tokio::test]
async fn a_sparse_chain_backfills_near_the_floor_of_calls() {
    let devnet = devnet().await;
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
    eprintln!("{blocks} blocks, {calls} eth_getLogs calls (floor {floor}, {} refused)", proxy.injected());
    assert!(calls <= 2 * floor, "{calls} eth_getLogs calls for {blocks} blocks: floor {floor}");

    let (_, direct) = fresh_db("sparse_direct").await;
    index_to_head(config(&devnet.rpc_url(), &devnet), &direct, &p).await;
    assert_eq!(
        digest(&limited, chain_id).await,
        digest(&direct, chain_id).await,
        "the limit changed the index"
    );
}
