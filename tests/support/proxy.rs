//! A fault-injecting JSON-RPC proxy between the indexer and anvil: HTTP 429s, timeouts (a request held
//! past the client's timeout), 503s, random delays, and `eth_getLogs` range-limit errors.

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
#[derive(Debug, Clone)]
pub struct Faults {
    pub rate_limit_every: u64,
    pub hang_every: u64,
    pub hang_for: Duration,
    pub unavailable_every: u64,
    pub max_delay_ms: u64,
    /// eth_getLogs over more blocks than this fails with a range-limit error.
    pub max_log_range: u64,
}

struct Inner {
    upstream: String,
    client: reqwest::Client,
    faults: Faults,
    counter: AtomicU64,
    pub injected: AtomicU64,
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
            injected: AtomicU64::new(0),
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
    if let Ok(req) = serde_json::from_slice::<serde_json::Value>(&body) {
        if req["method"] == "eth_getLogs" {
            let filter = &req["params"][0];
            if let (Some(a), Some(b)) = (hex_u64(&filter["fromBlock"]), hex_u64(&filter["toBlock"])) {
                if b + 1 - a > f.max_log_range {
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
    }
    match s.client.post(&s.upstream).header("content-type", "application/json").body(body).send().await {
        Ok(resp) => {
            let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let bytes = resp.bytes().await.unwrap_or_default();
            (status, [("content-type", "application/json")], bytes).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
