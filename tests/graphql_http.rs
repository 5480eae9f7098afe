//! The API over real sockets: a server on 127.0.0.1:0 with HTTP (GraphQL, GraphiQL, health, readiness,
//! metrics, body limit) and WebSocket subscriptions (graphql-transport-ws), then graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod graphql_common;
use medledger::server;

use futures::{SinkExt, StreamExt};
use graphql_common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

struct Running {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(pool: sqlx::PgPool) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = server::ServerConfig::new(addr, CHAIN);
    config.body_limit = 16 * 1024;
    config.shutdown_grace = Duration::from_secs(1);
    config.api.poll_interval = Duration::from_millis(200);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::serve_on(listener, config, pool, async {
        let _ = rx.await;
    }));
    Running { base: format!("http://{addr}"), stop: Some(tx), task }
}

async fn gql(client: &reqwest::Client, base: &str, query: &str) -> (u16, Value) {
    let r = client.post(format!("{base}/graphql")).json(&json!({"query": query})).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoints_limits_and_shutdown() {
    let f = fixture().await;
    let mut server = start(f.pool.clone()).await;
    let base = server.base.clone();
    let client = reqwest::Client::new();

    let r = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ok lag=3\n");
    let r = client.get(format!("{base}/graphql")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().to_lowercase().contains("graphiql"));

    let (status, body) = gql(&client, &base, "{ asOf indexerStatus { indexedBlock } }").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["indexerStatus"]["indexedBlock"], 100);

    // A body over the limit: refused with a coded error; the server keeps serving.
    let huge = format!("{{ asOf }} # {}", "x".repeat(1 << 20));
    let (status, body) = gql(&client, &base, &huge).await;
    assert_eq!(status, 413);
    assert_eq!(codes(&body), ["LIMIT_EXCEEDED"]);
    let (status, body) = gql(&client, &base, "{ events(first: 1000) { totalCount } }").await;
    assert_eq!(status, 200);
    assert_eq!(codes(&body), ["LIMIT_EXCEEDED"]);
    let r =
        client.post(format!("{base}/graphql")).body("not json").header("content-type", "application/json");
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(codes(&r.json().await.unwrap()), ["BAD_INPUT"]);
    let (status, _) = gql(&client, &base, "{ asOf }").await;
    assert_eq!(status, 200);

    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("medledger_graphql_http_requests_total"), "{metrics}");
    assert!(metrics.contains("medledger_graphql_http_request_duration_seconds"), "{metrics}");
    assert!(metrics.contains("code=\"LIMIT_EXCEEDED\""), "{metrics}");

    server.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server.task).await.unwrap().unwrap().unwrap();
    assert!(client.get(format!("{base}/healthz")).send().await.is_err(), "still serving after shutdown");
}

async fn next_message(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("no message").unwrap();
        if let Message::Text(text) = msg.unwrap() {
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["type"] != "ping" && v["type"] != "pong" {
                return v;
            }
        }
    }
}

fn new_event(block: i64, accounts: &[[u8; 20]]) -> String {
    let mut s = Sql(String::new());
    s.event(
        block,
        0,
        "Prescriptions",
        PRESCRIPTIONS,
        "PrescriptionIssued",
        accounts,
        Some([block as u8; 32]),
        None,
    );
    s.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_pushes_matching_events() {
    let f = fixture().await;
    let mut server = start(f.pool.clone()).await;
    let url = server.base.replace("http://", "ws://") + "/graphql";
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws.send(Message::text(json!({"type": "connection_init"}).to_string())).await.unwrap();
    assert_eq!(next_message(&mut ws).await["type"], "connection_ack");

    // A malformed filter is refused with a coded error (graphql-transport-ws: a `next` carrying errors).
    let bad = json!({"id": "bad", "type": "subscribe", "payload": {
        "query": "subscription { events(filter: {accounts: [\"0x12\"]}) { blockNumber } }"}});
    ws.send(Message::text(bad.to_string())).await.unwrap();
    let m = next_message(&mut ws).await;
    assert_eq!(m["id"], "bad", "{m}");
    assert_eq!(m["payload"]["errors"][0]["extensions"]["code"], "BAD_INPUT", "{m}");
    assert!(m["payload"]["errors"][0]["message"].as_str().unwrap().contains("40 hex digits"), "{m}");
    assert_eq!(next_message(&mut ws).await, json!({"id": "bad", "type": "complete"}));

    // The pharmacy watches Prescriptions events naming it.
    let sub = json!({"id": "1", "type": "subscribe", "payload": {
        "query": "subscription($p: Address!) { events(filter: {accounts: [$p], contracts: [PRESCRIPTIONS]}) { blockNumber name rxId } }",
        "variables": {"p": a0x(&PHARM2)}}});
    ws.send(Message::text(sub.to_string())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // let the subscription take its starting cursor

    // Committed with NOTIFY: pushed at once. A non-matching event in between is not pushed.
    let started = Instant::now();
    let sql =
        new_event(101, &[PATIENT_A]) + &new_event(102, &[PATIENT_A, PHARM2]) + "NOTIFY medledger_events;";
    sqlx::raw_sql(&sql).execute(&f.pool).await.unwrap();
    let m = next_message(&mut ws).await;
    let notified = started.elapsed();
    assert_eq!(m["type"], "next", "{m}");
    assert_eq!(m["id"], "1");
    assert_eq!(m["payload"]["data"]["events"]["blockNumber"], 102);
    assert_eq!(m["payload"]["data"]["events"]["name"], "PrescriptionIssued");

    // Committed without NOTIFY: found by the poll.
    let started = Instant::now();
    sqlx::raw_sql(&new_event(103, &[PHARM2])).execute(&f.pool).await.unwrap();
    let m = next_message(&mut ws).await;
    let polled = started.elapsed();
    assert_eq!(m["payload"]["data"]["events"]["blockNumber"], 103, "{m}");
    eprintln!("subscription latency: notified {notified:?}, polled {polled:?}");
    assert!(notified < Duration::from_secs(2) && polled < Duration::from_secs(2));

    // A reorg back to block 101 replaces blocks 102–103: the new canonical matching event is pushed.
    let sql = format!(
        "DELETE FROM events WHERE block_number > 101; {} \
         UPDATE checkpoints SET reorg_count = reorg_count + 1, last_reorg_block = 101, last_reorg_depth = 2; \
         NOTIFY medledger_events;",
        new_event(102, &[PHARM2]).replace("'{\"n\": 102}'", "'{\"n\": 1102}'")
    );
    sqlx::raw_sql(&sql).execute(&f.pool).await.unwrap();
    let m = next_message(&mut ws).await;
    assert_eq!(m["payload"]["data"]["events"]["blockNumber"], 102, "{m}");

    // Shutdown with the WebSocket still open completes within the grace period.
    server.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server.task).await.unwrap().unwrap().unwrap();
}
