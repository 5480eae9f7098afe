//! A fault-injecting JSON-RPC proxy between the indexer and anvil: HTTP 429s, timeouts (a request held
//! past the client's timeout), 503s, random delays, `eth_getLogs` range-limit errors, a gate that holds
//! log queries above a block, and a hostile node (malformed JSON, logs from foreign addresses, reordered,
//! duplicated, moved or with wrong block hashes, headers with wrong hashes or parent links, a head that does
//! not exist or goes backwards, another chain id), each call of a JSON-RPC batch tampered with as a single
//! call would be; and nodes that refuse batches (answered with one error object, or "batch too large" over a
//! size). Also [`TcpProxy`], a byte-level proxy whose
//! connections (e.g. a WebSocket) can be dropped at will.

use alloy::transports::http::reqwest;
use axum::{body::Bytes, extract::State, http::StatusCode, response::IntoResponse, routing::post, Router};
use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

/// What to inject (every `n`th request, 0 = never).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub rate_limit_every: u64,
    pub hang_every: u64,
    pub hang_for: Duration,
    pub unavailable_every: u64,
    pub max_delay_ms: u64,
    /// eth_getLogs over more blocks than this fails with a range-limit error (0 = no limit).
    pub max_log_range: u64,
    /// Every nth answer is not JSON.
    pub malformed_every: u64,
    /// Every nth non-empty eth_getLogs answer gains a copy of a log from an untracked address.
    pub foreign_log_every: u64,
    /// Every nth non-empty eth_getLogs answer has a log whose block hash is wrong.
    pub wrong_hash_every: u64,
    /// Every nth eth_blockNumber answer (counted apart) claims a head this many blocks beyond the real one.
    pub lie_head_every: u64,
    pub lie_head_by: u64,
    /// Every nth eth_blockNumber answer (counted with the above) claims a head this many blocks below the
    /// real one (a head that goes backwards).
    pub head_back_every: u64,
    pub head_back_by: u64,
    /// Every nth non-empty eth_getLogs answer comes in reverse order.
    pub reverse_logs_every: u64,
    /// Every nth non-empty eth_getLogs answer has one log twice.
    pub duplicate_log_every: u64,
    /// Every nth non-empty eth_getLogs answer has a log moved to the next block (number changed, hash kept).
    pub move_log_every: u64,
    /// Every nth non-empty eth_getLogs answer is JSON of the wrong shape (a log without its fields).
    pub garbage_logs_every: u64,
    /// Every nth eth_getBlockByNumber answer (counted apart) claims a wrong block hash.
    pub header_hash_every: u64,
    /// Every nth eth_getBlockByNumber answer (counted with the above) has a wrong parent hash.
    pub header_parent_every: u64,
    /// eth_chainId answers this instead of the node's chain id.
    pub chain_id: Option<u64>,
    /// A JSON-RPC batch is answered with one error object ("batch requests are not supported").
    pub refuse_batches: bool,
    /// A JSON-RPC batch of more calls than this is answered as geth does over its limit: "batch too
    /// large" for the first call, nothing for the others (0 = no limit).
    pub max_batch: usize,
}

struct Inner {
    upstream: String,
    client: reqwest::Client,
    faults: Faults,
    /// HTTP requests received.
    counter: AtomicU64,
    /// JSON-RPC calls received (a batch's calls one by one).
    rpc_calls: AtomicU64,
    /// JSON-RPC batches received, and those refused.
    batches: AtomicU64,
    refused_batches: AtomicU64,
    logs_counter: AtomicU64,
    /// eth_getLogs requests received (refused ones included).
    log_calls: AtomicU64,
    head_counter: AtomicU64,
    block_counter: AtomicU64,
    injected: AtomicU64,
    /// Hostile answers by kind.
    hostile: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
    /// eth_getLogs reaching above this block wait until it is raised (u64::MAX: no gate).
    gate: AtomicU64,
    /// eth_getLogs requests held at the gate right now.
    held: AtomicU64,
}

/// A running proxy (stops when dropped).
pub struct Proxy {
    pub url: String,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: &str, faults: Faults) -> Self {
        let inner = Arc::new(Inner {
            upstream: upstream.to_owned(),
            client: reqwest::Client::new(),
            faults,
            counter: AtomicU64::new(0),
            rpc_calls: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            refused_batches: AtomicU64::new(0),
            logs_counter: AtomicU64::new(0),
            log_calls: AtomicU64::new(0),
            head_counter: AtomicU64::new(0),
            block_counter: AtomicU64::new(0),
            injected: AtomicU64::new(0),
            hostile: std::sync::Mutex::default(),
            gate: AtomicU64::new(u64::MAX),
            held: AtomicU64::new(0),
        });
        let app = Router::new().route("/", post(handle)).with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, inner, task }
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u64 {
        self.inner.injected.load(Ordering::Relaxed)
    }

    /// JSON-RPC calls received so far, of every method (each call of a batch counted).
    pub fn calls(&self) -> u64 {
        self.inner.rpc_calls.load(Ordering::Relaxed)
    }

    /// HTTP requests (round trips) received so far: single calls and batches.
    pub fn requests(&self) -> u64 {
        self.inner.counter.load(Ordering::Relaxed)
    }

    /// JSON-RPC batches received so far, and how many of them were refused.
    pub fn batches(&self) -> (u64, u64) {
        (self.inner.batches.load(Ordering::Relaxed), self.inner.refused_batches.load(Ordering::Relaxed))
    }

    /// eth_getLogs requests received so far (refused ones included).
    pub fn log_calls(&self) -> u64 {
        self.inner.log_calls.load(Ordering::Relaxed)
    }

    /// Hostile answers given, by kind (malformed and the kinds of [`tamper`]).
    pub fn hostile(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.inner.hostile.lock().unwrap().clone()
    }

    /// Holds eth_getLogs requests that reach above `block` until the gate is moved or opened.
    pub fn gate_logs_above(&self, block: u64) {
        self.inner.gate.store(block, Ordering::SeqCst);
    }

    /// Lets every held request through.
    pub fn open_gate(&self) {
        self.gate_logs_above(u64::MAX);
    }

    /// eth_getLogs requests waiting at the gate.
    pub fn held(&self) -> u64 {
        self.inner.held.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A cheap deterministic hash of the request number (to spread delays).
fn mix(n: u64) -> u64 {
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x.wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 17
}

fn hex_u64(v: &serde_json::Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.trim_start_matches("0x"), 16).ok()
}

async fn handle(State(s): State<Arc<Inner>>, body: Bytes) -> axum::response::Response {
    let n = s.counter.fetch_add(1, Ordering::Relaxed) + 1;
    let f = &s.faults;
    let every = |k: u64| k > 0 && n % k == 0;
    if f.max_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(mix(n) % f.max_delay_ms)).await;
    }
    if every(f.rate_limit_every) {
        s.injected.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::TOO_MANY_REQUESTS, "rate limited").into_response();
    }
    if every(f.unavailable_every) {
        s.injected.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable").into_response();
    }
    if every(f.hang_every) {
        s.injected.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(f.hang_for).await;
        return (StatusCode::GATEWAY_TIMEOUT, "timeout").into_response();
    }
    if every(f.malformed_every) {
        s.injected.fetch_add(1, Ordering::Relaxed);
        *s.hostile.lock().unwrap().entry("malformed").or_default() += 1;
        return ([("content-type", "application/json")], "{\"jsonrpc\":\"2.0\",\"id\":").into_response();
    }
    let req = serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default();
    if let Some(calls) = req.as_array() {
        return batch(&s, calls, body).await;
    }
    s.rpc_calls.fetch_add(1, Ordering::Relaxed);
    if req["method"] == "eth_getLogs" {
        s.log_calls.fetch_add(1, Ordering::Relaxed);
        let filter = &req["params"][0];
        if let Some(b) = hex_u64(&filter["toBlock"]) {
            if b > s.gate.load(Ordering::SeqCst) {
                s.held.fetch_add(1, Ordering::SeqCst);
                while b > s.gate.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                s.held.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
    if req["method"] == "eth_getLogs" {
        let filter = &req["params"][0];
        if let (Some(a), Some(b)) = (hex_u64(&filter["fromBlock"]), hex_u64(&filter["toBlock"])) {
            if f.max_log_range > 0 && b + 1 - a > f.max_log_range {
                s.injected.fetch_add(1, Ordering::Relaxed);
                let message = if n % 2 == 0 {
                    "query returned more than 10000 results"
                } else {
                    "block range is too wide"
                };
                let code = if n % 2 == 0 { -32005 } else { -32000 };
                let resp = serde_json::json!({
                    "jsonrpc": "2.0", "id": req["id"], "error": {"code": code, "message": message}
                });
                return ([("content-type", "application/json")], resp.to_string()).into_response();
            }
        }
    }
    match s.client.post(&s.upstream).header("content-type", "application/json").body(body).send().await {
        Ok(resp) => {
            let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut bytes = resp.bytes().await.unwrap_or_default();
            if let Some(tampered) = tamper(&s, &req, &bytes) {
                bytes = tampered;
            }
            (status, [("content-type", "application/json")], bytes).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// A JSON-RPC batch: refused as configured, else forwarded and each call's answer tampered with as the
/// same call alone would be.
async fn batch(s: &Inner, calls: &[serde_json::Value], body: Bytes) -> axum::response::Response {
    let f = &s.faults;
    s.rpc_calls.fetch_add(calls.len() as u64, Ordering::Relaxed);
    s.batches.fetch_add(1, Ordering::Relaxed);
    let json = |v: serde_json::Value| ([("content-type", "application/json")], v.to_string()).into_response();
    if f.refuse_batches {
        s.refused_batches.fetch_add(1, Ordering::Relaxed);
        return json(serde_json::json!({
            "jsonrpc": "2.0", "id": null,
            "error": {"code": -32600, "message": "batch requests are not supported"}
        }));
    }
    if f.max_batch > 0 && calls.len() > f.max_batch {
        s.refused_batches.fetch_add(1, Ordering::Relaxed);
        return json(serde_json::json!([{
            "jsonrpc": "2.0", "id": calls[0]["id"],
            "error": {"code": -32600, "message": "batch too large"}
        }]));
    }
    let resp =
        match s.client.post(&s.upstream).header("content-type", "application/json").body(body).send().await {
            Ok(resp) => resp,
            Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
        };
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let bytes = resp.bytes().await.unwrap_or_default();
    let tampered = |c: &serde_json::Value| c["method"].as_str().is_some_and(|m| may_tamper(f, m));
    if !calls.iter().any(tampered) {
        return (status, [("content-type", "application/json")], bytes).into_response();
    }
    let Ok(serde_json::Value::Array(mut answers)) = serde_json::from_slice(&bytes) else {
        return (status, [("content-type", "application/json")], bytes).into_response();
    };
    for answer in &mut answers {
        let Some(call) = calls.iter().find(|c| c["id"] == answer["id"]) else { continue };
        if let Some(tampered) = tamper(s, call, answer.to_string().as_bytes()) {
            *answer = serde_json::from_slice(&tampered).unwrap_or_default();
        }
    }
    (status, [("content-type", "application/json")], serde_json::to_vec(&answers).unwrap_or_default())
        .into_response()
}

/// Whether the faults rewrite any answer of `method` (the others pass through unparsed).
fn may_tamper(f: &Faults, method: &str) -> bool {
    match method {
        "eth_chainId" => f.chain_id.is_some(),
        "eth_blockNumber" => f.lie_head_every > 0 || f.head_back_every > 0,
        "eth_getBlockByNumber" => f.header_hash_every > 0 || f.header_parent_every > 0,
        "eth_getLogs" => [
            f.foreign_log_every,
            f.wrong_hash_every,
            f.reverse_logs_every,
            f.duplicate_log_every,
            f.move_log_every,
            f.garbage_logs_every,
        ]
        .iter()
        .any(|k| *k > 0),
        _ => false,
    }
}

/// The hostile node: rewrites some answers (foreign, reordered, duplicated or moved logs, wrong block
/// hashes, malformed logs, headers with wrong hashes or parent links, a head that is not there or goes
/// backwards, another chain id).
fn tamper(s: &Inner, req: &serde_json::Value, body: &[u8]) -> Option<Bytes> {
    let f = &s.faults;
    let method = req["method"].as_str()?;
    if !may_tamper(f, method) {
        return None;
    }
    let mut resp: serde_json::Value = serde_json::from_slice(body).ok()?;
    let every = |k: u64, n: u64| k > 0 && n.is_multiple_of(k);
    let kind = match method {
        "eth_chainId" => {
            resp["result"] = serde_json::json!(format!("0x{:x}", f.chain_id?));
            "chain_id"
        }
        "eth_blockNumber" if f.lie_head_every > 0 || f.head_back_every > 0 => {
            let n = s.head_counter.fetch_add(1, Ordering::Relaxed) + 1;
            let head = hex_u64(&resp["result"])?;
            let (lie, kind) = if every(f.lie_head_every, n) {
                (head + f.lie_head_by, "lie_head")
            } else if every(f.head_back_every, n) {
                (head.saturating_sub(f.head_back_by), "head_back")
            } else {
                return None;
            };
            resp["result"] = serde_json::json!(format!("0x{lie:x}"));
            kind
        }
        "eth_getBlockByNumber" if f.header_hash_every > 0 || f.header_parent_every > 0 => {
            let block = resp["result"].as_object_mut()?;
            let n = s.block_counter.fetch_add(1, Ordering::Relaxed) + 1;
            let (field, kind) = if every(f.header_hash_every, n) {
                ("hash", "header_hash")
            } else if every(f.header_parent_every, n) {
                ("parentHash", "header_parent")
            } else {
                return None;
            };
            block.insert(field.into(), serde_json::json!(format!("0x{}", "cd".repeat(32))));
            kind
        }
        "eth_getLogs" => {
            let logs = resp["result"].as_array_mut()?;
            if logs.is_empty() {
                return None;
            }
            let n = s.logs_counter.fetch_add(1, Ordering::Relaxed) + 1;
            if every(f.foreign_log_every, n) {
                let mut foreign = logs[0].clone();
                foreign["address"] = serde_json::json!("0x00000000000000000000000000000000deadbeef");
                logs.push(foreign);
                "foreign_log"
            } else if every(f.wrong_hash_every, n) {
                let last = logs.len() - 1;
                logs[last]["blockHash"] = serde_json::json!(format!("0x{}", "ab".repeat(32)));
                "wrong_hash"
            } else if every(f.reverse_logs_every, n) && logs.len() > 1 {
                logs.reverse();
                "reverse_logs"
            } else if every(f.duplicate_log_every, n) {
                let copy = logs[logs.len() / 2].clone();
                logs.push(copy);
                "duplicate_log"
            } else if every(f.move_log_every, n) {
                let last = logs.len() - 1;
                let number = hex_u64(&logs[last]["blockNumber"])?;
                logs[last]["blockNumber"] = serde_json::json!(format!("0x{:x}", number + 1));
                "move_log"
            } else if every(f.garbage_logs_every, n) {
                logs[0] = serde_json::json!({ "address": 7, "topics": "none" });
                "garbage_logs"
            } else {
                return None;
            }
        }
        _ => return None,
    };
    s.injected.fetch_add(1, Ordering::Relaxed);
    *s.hostile.lock().unwrap().entry(kind).or_default() += 1;
    Some(Bytes::from(serde_json::to_vec(&resp).ok()?))
}

/// A byte-level TCP proxy (for WebSocket connections): [`TcpProxy::drop_connections`] closes every
/// connection, as a network failure or a restarting load balancer would; new ones are accepted.
pub struct TcpProxy {
    pub addr: SocketAddr,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accepted: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let accepted = Arc::new(AtomicU64::new(0));
        let (c, a) = (Arc::clone(&conns), Arc::clone(&accepted));
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                c.lock().unwrap().push(conn);
            }
        });
        Self { addr, conns, accepted, task }
    }

    /// Closes every open connection.
    pub fn drop_connections(&self) {
        for conn in self.conns.lock().unwrap().drain(..) {
            conn.abort();
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.drop_connections();
    }
}
