//! A refused reorg marks the index stale (issue 17): anvil reorganises deeper than the indexer's
//! `--max-reorg-depth`; the indexer stops, and until a commit moves the checkpoint again `/readyz` fails
//! with the reason, `indexerStatus.staleReason` carries it and every GraphQL answer carries an
//! `INDEX_STALE` warning. Restarted with a limit deep enough, the indexer repairs the reorg and all three
//! recover.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::*;
use tower::ServiceExt as _;

async fn get(app: &axum::Router, path: &str) -> (u16, String) {
    let request = axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn status(app: &axum::Router) -> Value {
    let body = json!({ "query": "{ indexerStatus { indexedBlock staleReason staleSince } }" }).to_string();
    let request = axum::http::Request::post("/graphql")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reorg_marks_the_index_stale_until_repaired() {
    let devnet = devnet().await;
    let p = wallet_provider(&devnet);
    let x = actors(&devnet);
    let chain_id = devnet.manifest().chain_id as i64;
    full_workload(&devnet, &p).await;
    for i in 0..8u8 {
        grant_tx(&devnet, &p, x.patient, x.pharmacy, 1 + i % 7).await;
    }

    let (_, pool) = fresh_db("stale").await;
    let mut shallow = config(&devnet.ws_url(), &devnet);
    shallow.max_reorg_depth = 3;
    let running = Running::start(shallow, pool.clone());
    wait_synced(&pool, chain_id, &p, Duration::from_secs(30)).await;

    let server = medledger::server::ServerConfig::new("127.0.0.1:0".parse().unwrap(), chain_id);
    let (schema, db) = medledger_graphql::build_schema(pool.clone(), server.api.clone());
    let app = medledger::server::router(schema, db, None, &server);
    let (code, body) = get(&app, "/readyz").await;
    assert_eq!((code, body.starts_with("ok")), (200, true), "ready before: {body}");
    let before = status(&app).await;
    assert_eq!(before["data"]["indexerStatus"]["staleReason"], Value::Null, "{before:#}");
    assert!(before.get("extensions").and_then(|e| e.get("warnings")).is_none(), "{before:#}");

    // Six blocks replaced: deeper than the limit of 3.
    let _: Value = rpc(&p, "anvil_reorg", json!([6, []])).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !running.is_finished() {
        assert!(Instant::now() < deadline, "the indexer did not refuse the reorg");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (code, body) = get(&app, "/readyz").await;
    assert_eq!(code, 503, "not ready while stale: {body}");
    assert!(body.starts_with("stale: reorg deeper than --max-reorg-depth 3"), "readyz says why: {body}");
    let stale = status(&app).await;
    let reason = stale["data"]["indexerStatus"]["staleReason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("reorg deeper than --max-reorg-depth 3"), "indexerStatus says why: {stale:#}");
    assert!(stale["data"]["indexerStatus"]["staleSince"].is_string(), "{stale:#}");
    let warning = &stale["extensions"]["warnings"][0];
    assert_eq!(warning["code"], "INDEX_STALE", "the answer carries a warning: {stale:#}");
    assert!(warning["message"].as_str().unwrap().contains(reason), "{warning:#}");
    assert!(warning["since"].is_string(), "{warning:#}");
    assert_eq!(get(&app, "/healthz").await.0, 200, "the process itself is healthy");

    // Restarted with a limit deep enough: the reorg is repaired and the mark cleared by that commit.
    let mut deep = config(&devnet.ws_url(), &devnet);
    deep.max_reorg_depth = 10;
    let running = Running::start(deep, pool.clone());
    wait_synced(&pool, chain_id, &p, Duration::from_secs(30)).await;
    let (code, body) = get(&app, "/readyz").await;
    assert_eq!((code, body.starts_with("ok")), (200, true), "ready after the repair: {body}");
    let after = status(&app).await;
    assert_eq!(after["data"]["indexerStatus"]["staleReason"], Value::Null, "{after:#}");
    assert!(after.get("extensions").and_then(|e| e.get("warnings")).is_none(), "{after:#}");
    let reorgs: i64 =
        sqlx::query_scalar("SELECT reorg_count FROM checkpoints").fetch_one(&pool).await.unwrap();
    assert_eq!(reorgs, 1, "the deep reorg was repaired once");
    running.stop().await;

    // And the repaired index equals a fresh index of the node's chain.
    let (_, fresh) = fresh_db("stale_fresh").await;
    index_to_head(config(&devnet.rpc_url(), &devnet), &fresh, &p).await;
    assert_eq!(digest(&pool, chain_id).await, digest(&fresh, chain_id).await);
}
