//! One indexed state per GraphQL response (issue 17): readers query the API while the indexer follows a chain
//! that keeps committing blocks and reorganising (anvil_reorg of depth 1–4, whose replacement blocks drop
//! the reverted grants). Every response's rows must come from the state its `indexerStatus` names: no event,
//! consent or history row newer than `indexedBlock`, an event at `indexedBlock` carrying that block's hash,
//! and two `indexerStatus` fields of one response (resolved concurrently, first and last) agreeing.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

const QUERY: &str = "query($p: Address!, $d: Address!) {
  a: indexerStatus { indexedBlock indexedBlockHash }
  events(last: 40) { edges { node { blockNumber blockHash } } }
  patient(address: $p) {
    access { grantedBlock }
    consentHistory(last: 20) { edges { node { blockNumber } } }
  }
  prescriber(address: $d) { credential { updatedBlock } }
  z: indexerStatus { indexedBlock indexedBlockHash }
}";

async fn post(app: &axum::Router, variables: &Value) -> Value {
    use tower::ServiceExt as _;
    let body = json!({ "query": QUERY, "variables": variables }).to_string();
    let request = axum::http::Request::post("/graphql")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24).await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Every block number a response's rows carry, with what each is.
fn row_blocks(data: &Value) -> Vec<(&'static str, i64, Option<String>)> {
    let mut out = Vec::new();
    for e in data["events"]["edges"].as_array().into_iter().flatten() {
        let n = &e["node"];
        out.push(("event", n["blockNumber"].as_i64().unwrap(), n["blockHash"].as_str().map(str::to_owned)));
    }
    for c in data["patient"]["access"].as_array().into_iter().flatten() {
        if let Some(b) = c["grantedBlock"].as_i64() {
            out.push(("consent", b, None));
        }
    }
    for e in data["patient"]["consentHistory"]["edges"].as_array().into_iter().flatten() {
        out.push(("consent change", e["node"]["blockNumber"].as_i64().unwrap(), None));
    }
    if let Some(b) = data["prescriber"]["credential"]["updatedBlock"].as_i64() {
        out.push(("credential", b, None));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_reads_one_indexed_state_under_commits_and_reorgs() {
    let devnet = devnet().await;
    let p = wallet_provider(&devnet);
    let x = actors(&devnet);
    let chain_id = devnet.manifest().chain_id as i64;
    full_workload(&devnet, &p).await;

    let (_, pool) = fresh_db("snapshot").await;
    let running = Running::start(config(&devnet.ws_url(), &devnet), pool.clone());
    wait_synced(&pool, chain_id, &p, Duration::from_secs(30)).await;

    let server = medledger::server::ServerConfig::new("127.0.0.1:0".parse().unwrap(), chain_id);
    let (schema, db) = medledger_graphql::build_schema(pool.clone(), server.api.clone());
    let app = medledger::server::router(schema, db, None, &server);
    let variables = json!({ "p": x.patient.to_string(), "d": x.prescriber.to_string() });

    // The chain: a grant per block, and every fifth block a reorg of depth 1–4 into empty blocks (the
    // reverted grants vanish), each once the indexer has the blocks it removes. One task: a grant's receipt is
    // in before a reorg can take its block.
    let stop = Arc::new(AtomicBool::new(false));
    let devnet = Arc::new(devnet);
    let writer = {
        let (stop, p, devnet, pool) = (Arc::clone(&stop), p.clone(), Arc::clone(&devnet), pool.clone());
        let (patient, grantees) = (x.patient, [x.prescriber, x.pharmacy, x.prescriber2, x.pharmacy2]);
        tokio::spawn(async move {
            let (mut grants, mut reorgs) = (0u32, 0u32);
            while !stop.load(Ordering::Relaxed) {
                let grantee = grantees[grants as usize % grantees.len()];
                grant_tx(&devnet, &p, patient, grantee, 1 + (grants % 7) as u8).await;
                grants += 1;
                if grants % 5 == 0 {
                    // The indexer has the blocks about to be reorganised (on a busy machine it could lag
                    // behind them, and the reorg would need no repair).
                    wait_synced(&pool, chain_id, &p, Duration::from_secs(30)).await;
                    let depth = 1 + u64::from(reorgs % 4);
                    let _: Value = rpc(&p, "anvil_reorg", json!([depth, []])).await;
                    reorgs += 1;
                }
            }
            (grants, reorgs)
        })
    };

    // Readers, concurrently, until enough responses and reorgs have gone by (a busy machine is slower).
    let deadline = Instant::now() + Duration::from_secs(120);
    let done = Arc::new(AtomicU32::new(0));
    let mut readers = Vec::new();
    for _ in 0..3 {
        let (app, variables, done) = (app.clone(), variables.clone(), Arc::clone(&done));
        readers.push(tokio::spawn(async move {
            let (mut responses, mut states) = (0u32, std::collections::BTreeSet::new());
            while done.load(Ordering::Relaxed) < 600 && Instant::now() < deadline {
                let body = post(&app, &variables).await;
                assert!(body.get("errors").is_none(), "errors: {body:#}");
                let data = &body["data"];
                let (a, z) = (&data["a"], &data["z"]);
                assert_eq!(a, z, "two indexerStatus fields of one response differ: {data:#}");
                let indexed = a["indexedBlock"].as_i64().unwrap();
                let hash = a["indexedBlockHash"].as_str().unwrap().to_owned();
                for (what, block, block_hash) in row_blocks(data) {
                    assert!(
                        block <= indexed,
                        "a {what} of block {block} beside indexerStatus.indexedBlock {indexed}: {data:#}"
                    );
                    if what == "event" && block == indexed {
                        assert_eq!(block_hash.as_deref(), Some(hash.as_str()), "an event of another branch");
                    }
                }
                states.insert((indexed, hash));
                responses += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
            (responses, states.len())
        }));
    }
    let (mut responses, mut states) = (0, 0);
    for r in readers {
        let (n, s) = r.await.unwrap();
        responses += n;
        states += s;
    }
    stop.store(true, Ordering::Relaxed);
    let (grants, reorgs) = writer.await.unwrap();
    eprintln!("{responses} responses over {states} indexed states; {grants} grants, {reorgs} reorgs");
    assert!(responses >= 600, "too few responses to mean anything ({responses})");
    assert!(states >= 30, "the index moved too little under the readers ({states} states)");
    assert!(reorgs >= 10, "too few reorgs ({reorgs})");
    let recorded: i64 =
        sqlx::query_scalar("SELECT reorg_count FROM checkpoints").fetch_one(&pool).await.unwrap();
    assert!(recorded >= 5, "the indexer repaired too few reorgs ({recorded})");
    wait_synced(&pool, chain_id, &p, Duration::from_secs(30)).await;
    running.stop().await;
}
