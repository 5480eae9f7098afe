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

/// How long a graceful shutdown may take (the grace is 1 s; a loaded machine is slower).
const SHUTDOWN: Duration = Duration::from_secs(30);
/// How long a test waits for a message it expects (generous: a deadline, not a pause).
const PATIENCE: Duration = Duration::from_secs(30);

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
    // Only application/json (UTF-8) is read as a GraphQL request; any other declared type, or none, is 415.
    let json_body = serde_json::json!({"query": "{ asOf }"}).to_string();
    for (content_type, expected) in [
        (Some("text/plain"), "unsupported Content-Type \"text/plain\""),
        (Some("application/graphql"), "unsupported Content-Type \"application/graphql\""),
        (Some("application/json; charset=latin1"), "must be UTF-8"),
        (None, "needs `Content-Type: application/json`"),
    ] {
        let mut r = client.post(format!("{base}/graphql")).body(json_body.clone());
        if let Some(ct) = content_type {
            r = r.header("content-type", ct);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 415, "{content_type:?}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(codes(&body), ["BAD_INPUT"]);
        assert!(
            body["errors"][0]["message"].as_str().unwrap().contains(expected),
            "{content_type:?}: {body}"
        );
        assert!(body.get("data").is_none(), "{body}");
    }
    let r = client
        .post(format!("{base}/graphql"))
        .header("content-type", "application/json; charset=utf-8")
        .body(json_body);
    assert_eq!(r.send().await.unwrap().status(), 200);
    let (status, _) = gql(&client, &base, "{ asOf }").await;
    assert_eq!(status, 200);

    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("medledger_graphql_http_requests_total"), "{metrics}");
    assert!(metrics.contains("medledger_graphql_http_request_duration_seconds"), "{metrics}");
    assert!(metrics.contains("code=\"LIMIT_EXCEEDED\""), "{metrics}");

    server.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(SHUTDOWN, server.task).await.unwrap().unwrap().unwrap();
    assert!(client.get(format!("{base}/healthz")).send().await.is_err(), "still serving after shutdown");
}

/// A client that writes its whole over-limit body before reading the answer (as reqwest does when the
/// machine is too busy to run its reader first) gets the 413, not a broken pipe or a reset. The server used to answer as soon
/// as it saw the declared length and close the connection with the body unread, so the kernel reset the
/// connection: the client's write failed, or the reset discarded the 413 before the client read it — the
/// body-limit check of `http_endpoints_limits_and_shutdown` failed so under load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_limit_body_is_answered_not_reset() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let f = fixture().await;
    let mut server = start(f.pool.clone()).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let body = json!({ "query": format!("{{ asOf }} # {}", "x".repeat(4 << 20)) }).to_string();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let exchange = async {
        // A small send buffer (no autotuning): the 4 MiB body cannot sit in the sockets' buffers, so a server
        // that does not read it closes the connection while it is being written, every time.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_send_buffer_size(16 * 1024).unwrap();
        let mut stream = socket.connect(addr.parse().unwrap()).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body.as_bytes()).await.expect("the connection was reset while the body was sent");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("the connection was reset before the answer was read");
        String::from_utf8(answer).unwrap()
    };
    let answer = tokio::time::timeout(PATIENCE, exchange).await.expect("no answer");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("LIMIT_EXCEEDED"), "{answer}");
    // The same through reqwest, several times: never a reset.
    let client = reqwest::Client::new();
    let huge = format!("{{ asOf }} # {}", "x".repeat(1 << 20));
    for _ in 0..5 {
        let (status, body) = gql(&client, &server.base, &huge).await;
        assert_eq!(status, 413, "{body}");
        assert_eq!(codes(&body), ["LIMIT_EXCEEDED"]);
    }
    server.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(SHUTDOWN, server.task).await.unwrap().unwrap().unwrap();
}

/// Waits until the server LISTENs for the indexer's notifications: it starts listening once a subscription
/// has taken its starting cursor (events committed before that are not pushed).
async fn listening(pool: &sqlx::PgPool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let listeners: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN %'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if listeners > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the subscription did not start within {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn next_message(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> Value {
    loop {
        let msg = tokio::time::timeout(PATIENCE, ws.next()).await.expect("no message").unwrap();
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
    listening(&f.pool).await;

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
    // Printed, not asserted: a loaded machine may take seconds either way (latency targets live in
    // scripts/bench-*).
    eprintln!("subscription latency: notified {notified:?}, polled {polled:?}");

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
    tokio::time::timeout(SHUTDOWN, server.task).await.unwrap().unwrap().unwrap();
}

/// A POST of `body` with `accept` (none: no header): status, content type and the raw body.
async fn post_raw(
    client: &reqwest::Client,
    base: &str,
    accept: Option<&str>,
    body: &str,
) -> (u16, String, String) {
    let mut r = client
        .post(format!("{base}/graphql"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(a) = accept {
        r = r.header("accept", a);
    }
    let r = r.send().await.unwrap();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (r.status().as_u16(), ct, r.text().await.unwrap())
}

/// A GET of /graphql with URL-encoded `params` and `accept`: status, content type and the raw body.
async fn get_raw(
    client: &reqwest::Client,
    base: &str,
    accept: &str,
    params: &[(&str, &str)],
) -> (u16, String, String) {
    let url = reqwest::Url::parse_with_params(&format!("{base}/graphql"), params).unwrap();
    let r = client.get(url).header("accept", accept).send().await.unwrap();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (r.status().as_u16(), ct, r.text().await.unwrap())
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

const GR: &str = "application/graphql-response+json";

/// The GraphQL-over-HTTP specification (current draft): `Accept` negotiation, GET, 405 for a mutation over
/// GET, the status codes of both media types, GraphiQL for a browser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_over_http_spec() {
    let f = fixture().await;
    let mut server = start(f.pool.clone()).await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let ok = json!({"query": "{ asOf }"}).to_string();

    // Accept negotiation: graphql-response+json preferred (and the default), application/json honoured,
    // neither acceptable: 406.
    for (accept, want) in [
        (None, GR),
        (Some(GR), GR),
        (Some("application/json"), "application/json"),
        (Some("application/json, application/graphql-response+json"), GR),
        (Some("application/graphql-response+json;q=0.9, application/json"), "application/json"),
        (Some("*/*"), GR),
    ] {
        let (status, ct, body) = post_raw(&client, &base, accept, &ok).await;
        assert_eq!(status, 200, "{accept:?}: {body}");
        assert!(ct.starts_with(want), "Accept {accept:?} answered with {ct}");
        assert!(json_of(&body)["data"]["asOf"].is_string(), "{body}");
    }
    let (status, _, _) = post_raw(&client, &base, Some("text/plain"), &ok).await;
    assert_eq!(status, 406);

    // Request errors: 400 without `data` in graphql-response+json, 200 in application/json.
    let parse = json!({"query": "{"}).to_string();
    let invalid = json!({"query": "{ noSuchField }"}).to_string();
    let bad_var =
        json!({"query": "query($a: Address!) { pharmacy(address: $a) { address } }", "variables": {"a": 7}})
            .to_string();
    let no_op = json!({"query": "query A { asOf } query B { asOf }", "operationName": "C"}).to_string();
    for body in [&parse, &invalid, &no_op] {
        let (status, ct, text) = post_raw(&client, &base, Some(GR), body).await;
        let v = json_of(&text);
        assert_eq!((status, ct.starts_with(GR)), (400, true), "{body}: {text}");
        assert!(v.get("data").is_none() && !codes(&v).is_empty(), "{body}: {text}");
        let (status, ct, text) = post_raw(&client, &base, Some("application/json"), body).await;
        assert_eq!((status, ct.starts_with("application/json")), (200, true), "{body}: {text}");
        assert!(json_of(&text).get("errors").is_some(), "{text}");
    }
    // A variable that does not coerce: a request error too (400 without `data` in graphql-response+json,
    // 200 in application/json), with the precise reason.
    let (status, _, text) = post_raw(&client, &base, Some(GR), &bad_var).await;
    assert_eq!((status, codes(&json_of(&text))), (400, vec!["BAD_INPUT".to_owned()]), "{text}");
    assert!(json_of(&text).get("data").is_none(), "{text}");
    let (status, _, text) = post_raw(&client, &base, Some("application/json"), &bad_var).await;
    assert_eq!((status, codes(&json_of(&text))), (200, vec!["BAD_INPUT".to_owned()]), "{text}");
    // Not a well-formed GraphQL-over-HTTP request: 400 in both media types, no `data`.
    for body in [
        "NONSENSE",
        "{\"query\":",
        "{\"qeury\": \"{ asOf }\"}",
        "{\"query\": \"{ asOf }\", \"variables\": [7]}",
    ] {
        for accept in [GR, "application/json"] {
            let (status, _, text) = post_raw(&client, &base, Some(accept), body).await;
            assert_eq!(status, 400, "{body} ({accept}): {text}");
            assert!(json_of(&text).get("data").is_none(), "{text}");
        }
    }
    // A field error during execution: 200 in both, with `data` (null here: the field is non-null).
    let missing =
        json!({"query": format!("{{ prescription(id: \"0x{}\") {{ id }} }}", "42".repeat(32))}).to_string();
    for accept in [GR, "application/json"] {
        let (status, _, text) = post_raw(&client, &base, Some(accept), &missing).await;
        let v = json_of(&text);
        assert_eq!(status, 200, "{text}");
        assert!(v.get("data").is_some_and(Value::is_null) && codes(&v) == ["NOT_FOUND"], "{text}");
    }

    // GET runs queries from URL-encoded query, variables and operationName.
    let rx = a0x(&f.rx_open);
    let vars = json!({"id": rx}).to_string();
    let q = "query Other { asOf } query Rx($id: Bytes32!) { prescription(id: $id) { id } }";
    let params = [("query", q), ("variables", vars.as_str()), ("operationName", "Rx")];
    let (status, ct, text) = get_raw(&client, &base, GR, &params).await;
    assert_eq!((status, ct.starts_with(GR)), (200, true), "{text}");
    assert_eq!(json_of(&text)["data"]["prescription"]["id"], rx, "{text}");
    let (status, ct, text) = get_raw(&client, &base, "application/json", &[("query", "{ asOf }")]).await;
    assert_eq!((status, ct.starts_with("application/json")), (200, true), "{text}");
    assert!(json_of(&text)["data"]["asOf"].is_string(), "{text}");
    // A mutation over GET: 405, Allow: POST.
    let url =
        reqwest::Url::parse_with_params(&format!("{base}/graphql"), [("query", "mutation { x }")]).unwrap();
    let r = client.get(url).header("accept", GR).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    // GET without `query` or with malformed variables: 400 with a coded error.
    for params in [vec![("variables", "{}")], vec![("query", "{ asOf }"), ("variables", "[7]")]] {
        let (status, _, text) = get_raw(&client, &base, GR, &params).await;
        assert_eq!(status, 400, "{params:?}: {text}");
        assert_eq!(codes(&json_of(&text)), ["BAD_INPUT"], "{text}");
    }
    // A browser gets GraphiQL.
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let (status, ct, text) = get_raw(&client, &base, browser, &[]).await;
    assert_eq!((status, ct.starts_with("text/html")), (200, true), "{ct}");
    assert!(text.to_lowercase().contains("graphiql"));

    server.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(SHUTDOWN, server.task).await.unwrap().unwrap().unwrap();
}

/// A response's keys follow the query's order, and the same query answered 100 times is byte-identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_ordered_as_queried_and_stable() {
    let f = fixture().await;
    let mut server = start(f.pool.clone()).await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let query = format!(
        "{{ zz: asOf prescription(id: \"{}\") {{ validUntil status id patient fills quantityDispensed
          dispenses {{ timestamp quantity rxId }} state {{ reasons {{ message reason }} quantityAvailable asOf }} }}
          indexerStatus {{ lag indexedBlock chainId }} events(first: 3) {{ totalCount edges {{ cursor node {{ name blockNumber args }} }} }} }}",
        a0x(&f.rx_open)
    );
    let body = json!({"query": query}).to_string();
    let (status, _, first) = post_raw(&client, &base, Some(GR), &body).await;
    assert_eq!(status, 200, "{first}");
    assert!(json_of(&first).get("errors").is_none(), "{first}");
    // Each selection's keys appear in the order the query lists them.
    let order = |keys: &[&str]| {
        let at: Vec<usize> = keys
            .iter()
            .map(|k| first.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("{k}: {first}")))
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{keys:?} out of order: {first}");
    };
    order(&["data", "zz", "prescription", "indexerStatus", "events"]);
    order(&["validUntil", "status", "id", "patient", "fills", "quantityDispensed", "dispenses", "state"]);
    order(&["lag", "indexedBlock", "chainId"]);
    order(&["totalCount", "edges", "cursor", "node", "name", "blockNumber", "args"]);
    for i in 0..100 {
        let (_, _, again) = post_raw(&client, &base, Some(GR), &body).await;
        assert_eq!(again, first, "answer {i} differs");
    }
    server.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(SHUTDOWN, server.task).await.unwrap().unwrap().unwrap();
}

/// EIP-55: a mixed-case address must carry the right checksum; the error says which was expected.
/// All-lowercase and all-uppercase hex carry no checksum and are accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_checked_against_eip55() {
    let f = fixture().await;
    let mut server = start(f.pool.clone()).await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let right = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    let wrong = "0x5FbDB2315678afecb367f032d93F642f64180aA3";
    let ask = |a: &str| {
        json!({"query": "query($a: Address!) { patient(address: $a) { address } }", "variables": {"a": a}})
            .to_string()
    };
    for good in [right, &right.to_lowercase(), &format!("0x{}", right[2..].to_uppercase())] {
        let (status, _, text) = post_raw(&client, &base, Some(GR), &ask(good)).await;
        assert_eq!(status, 200, "{good}: {text}");
        assert_eq!(json_of(&text)["data"]["patient"]["address"], right, "{text}");
    }
    let (_, _, text) = post_raw(&client, &base, Some(GR), &ask(wrong)).await;
    let v = json_of(&text);
    assert_eq!(codes(&v), ["BAD_INPUT"], "{text}");
    let message = v["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("checksum") && message.contains(right), "{message}");
    // Inline, in a filter list too.
    let inline =
        json!({"query": format!("{{ events(filter: {{accounts: [\"{wrong}\"]}}) {{ totalCount }} }}")})
            .to_string();
    let (_, _, text) = post_raw(&client, &base, Some(GR), &inline).await;
    assert!(text.contains("checksum") && text.contains(right), "{text}");
    server.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(SHUTDOWN, server.task).await.unwrap().unwrap().unwrap();
}

/// Whatever `first` or `last` is, a page over the maximum gets the page-size message (not the generic
/// complexity one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_size_message_whatever_the_size() {
    let f = fixture().await;
    let mut server = start(f.pool.clone()).await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let p = a0x(&PHARM1);
    for (arg, n) in [("first", 101i64), ("first", 100_000), ("last", 2_147_483_647), ("first", 5_000)] {
        for list in [
            format!("events({arg}: {n}) {{ totalCount }}"),
            format!("pharmacy(address: \"{p}\") {{ queue({arg}: {n}) {{ totalCount }} }}"),
            format!("patient(address: \"{p}\") {{ consentHistory({arg}: {n}) {{ edges {{ node {{ action }} }} }} }}"),
        ] {
            let body = json!({"query": format!("{{ {list} }}")}).to_string();
            let (_, _, text) = post_raw(&client, &base, Some(GR), &body).await;
            let v = json_of(&text);
            assert_eq!(codes(&v), ["LIMIT_EXCEEDED"], "{list}: {text}");
            let message = v["errors"][0]["message"].as_str().unwrap();
            assert_eq!(message, format!("`{arg}` is {n}; the maximum page size is 100"), "{list}");
        }
    }
    server.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(SHUTDOWN, server.task).await.unwrap().unwrap().unwrap();
}

/// Issue 16: a variable (or a custom scalar's literal) that does not coerce to its type is a request error
/// (GraphQL-over-HTTP): 400 with no `data` entry under application/graphql-response+json, the reason precise
/// and coded; field errors during execution stay 200 with `data`. Through the router with `oneshot`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variable_coercion_errors_are_request_errors() {
    let f = fixture().await;
    let (app, _) = app(f.pool.clone());
    let rx = a0x(&f.rx_open);
    let mixed = a0x(&PHARM1).replace("f1f1", "F1f1");
    let cases: Vec<(&str, Value, &str)> = vec![
        ("query($a: Address!) { pharmacy(address: $a) { address } }", json!({"a": 7}), "must be a string"),
        ("query($a: Address!) { pharmacy(address: $a) { address } }", json!({"a": "0x12"}), "40 hex digits"),
        ("query($a: Address!) { pharmacy(address: $a) { address } }", json!({"a": mixed}), "checksum"),
        ("query($id: Bytes32!) { prescription(id: $id) { id } }", json!({"id": "0x00"}), "64 hex digits"),
        (
            "query($id: Bytes32!, $at: DateTime) { prescription(id: $id) { state(at: $at) { status } } }",
            json!({"id": rx, "at": "yesterday"}),
            "DateTime",
        ),
        // Coercion fails in one field while another ran: still a request error, nothing of `data` kept.
        (
            "query($a: Address!) { asOf pharmacy(address: $a) { address } }",
            json!({"a": 7}),
            "must be a string",
        ),
        // A custom scalar's literal that does not parse: a validation error, the same answer.
        ("{ prescription(id: \"0x00\") { id } }", json!({}), "64 hex digits"),
    ];
    for (query, vars, fragment) in cases {
        let (status, body) = post(&app, query, vars.clone()).await;
        assert_eq!(status, 400, "{query} {vars}: {body}");
        assert!(body.get("data").is_none(), "{query}: {body}");
        assert_eq!(codes(&body), ["BAD_INPUT"], "{query}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(fragment), "{query}: {message}");
    }
    // Coercing fine, failing as it runs (an unknown prescription): a field error, 200 with `data`.
    let missing = format!("0x{}", "42".repeat(32));
    let (status, body) =
        post(&app, "query($id: Bytes32!) { prescription(id: $id) { id } }", json!({"id": missing})).await;
    assert_eq!((status, codes(&body)), (200, vec!["NOT_FOUND".to_owned()]), "{body}");
    assert!(body.get("data").is_some(), "{body}");
    // And a good one.
    let (status, body) =
        post(&app, "query($id: Bytes32!) { prescription(id: $id) { id } }", json!({"id": rx})).await;
    assert_eq!((status, body["data"]["prescription"]["id"].clone()), (200, json!(rx)), "{body}");
}
