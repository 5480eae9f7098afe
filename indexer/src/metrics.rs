//! Prometheus metrics and the `/healthz`, `/readyz`, `/metrics` HTTP endpoints.

use crate::error::IndexerError;
use axum::{extract::State, http::StatusCode, routing::get, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::Instant,
};

/// Gauge: the node's latest block number.
pub const CHAIN_HEAD: &str = "medledger_indexer_chain_head";
/// Gauge: the last indexed (committed) block.
pub const INDEXED_BLOCK: &str = "medledger_indexer_indexed_block";
/// Gauge: blocks between the head and the last indexed block.
pub const LAG: &str = "medledger_indexer_lag_blocks";
/// Counter: events written.
pub const EVENTS_WRITTEN: &str = "medledger_indexer_events_written_total";
/// Counter: failed JSON-RPC calls, by `kind`.
pub const RPC_ERRORS: &str = "medledger_indexer_rpc_errors_total";
/// Counter: reorgs handled.
pub const REORGS: &str = "medledger_indexer_reorgs_total";
/// Histogram: blocks reverted per reorg.
pub const REORG_DEPTH: &str = "medledger_indexer_reorg_depth_blocks";
/// Histogram: seconds per committed batch (transaction), by `mode` (backfill, live, reorg).
pub const BATCH_DURATION: &str = "medledger_indexer_batch_duration_seconds";
/// Histogram: events per committed batch.
pub const BATCH_EVENTS: &str = "medledger_indexer_batch_events";

/// Histogram: seconds per `eth_getLogs` range fetched with its headers, by `mode` (backfill, live).
pub const FETCH_DURATION: &str = "medledger_indexer_fetch_duration_seconds";
/// Histogram: seconds decoding a fetched range's logs.
pub const DECODE_DURATION: &str = "medledger_indexer_decode_duration_seconds";
/// Histogram: seconds per write step of a batch, by `stage`: revert, blocks, events (COPY), load (stored
/// projection rows), apply (the fold), history, delete (stored rows replaced), consents (with credentials),
/// records (with episodes), prescriptions (with roles), checkpoint, commit.
pub const WRITE_STAGE_DURATION: &str = "medledger_indexer_write_stage_duration_seconds";

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!(CHAIN_HEAD, "The node's latest block number.");
    describe_gauge!(INDEXED_BLOCK, "The last indexed (committed) block.");
    describe_gauge!(LAG, Unit::Count, "Blocks between the node's head and the last indexed block.");
    describe_counter!(EVENTS_WRITTEN, Unit::Count, "Events written to PostgreSQL.");
    describe_counter!(RPC_ERRORS, Unit::Count, "Failed JSON-RPC calls by kind.");
    describe_counter!(REORGS, Unit::Count, "Chain reorganisations handled.");
    describe_histogram!(REORG_DEPTH, Unit::Count, "Blocks reverted per reorg.");
    describe_histogram!(BATCH_DURATION, Unit::Seconds, "Duration of a committed batch: fetch wait excluded.");
    describe_histogram!(BATCH_EVENTS, Unit::Count, "Events per committed batch.");
    describe_histogram!(FETCH_DURATION, Unit::Seconds, "Duration of fetching a range's logs and headers.");
    describe_histogram!(DECODE_DURATION, Unit::Seconds, "Duration of decoding a range's logs.");
    describe_histogram!(WRITE_STAGE_DURATION, Unit::Seconds, "Duration of each write stage of a batch.");
}

/// Records the time since `*since` as write stage `stage` ([`WRITE_STAGE_DURATION`]), and restarts the
/// clock.
pub(crate) fn write_stage(stage: &'static str, since: &mut Instant) {
    metrics::histogram!(WRITE_STAGE_DURATION, "stage" => stage).record(since.elapsed().as_secs_f64());
    *since = Instant::now();
}

/// Installs the process-wide Prometheus recorder (once; later calls return the same handle).
pub fn install_prometheus() -> Result<PrometheusHandle, String> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(BATCH_DURATION.into()),
            &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
        )
        .and_then(|b| b.install_recorder())
        .map_err(|e| e.to_string())?;
    describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// Live state of an [`crate::Indexer`], shared with the health endpoints.
#[derive(Debug, Default)]
pub struct Status {
    head: AtomicU64,
    indexed: AtomicI64,
    writer: AtomicBool,
    caught_up: AtomicBool,
    last_failure: Mutex<Option<String>>,
}

impl Status {
    /// The node's head as last seen.
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Relaxed)
    }

    /// The last committed block (-1 before the first).
    pub fn indexed(&self) -> i64 {
        self.indexed.load(Ordering::Relaxed)
    }

    /// Whether this instance holds the writer lock (false while it waits as hot standby).
    pub fn is_writer(&self) -> bool {
        self.writer.load(Ordering::Relaxed)
    }

    /// Whether the index has caught up with the head (less the confirmations).
    pub fn is_caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Relaxed)
    }

    /// The last failure met, with the address it concerned (`RPC http://…: …`, `database host:port/db
    /// unreachable: …`), kept after recovery.
    pub fn last_failure(&self) -> Option<String> {
        self.last_failure.lock().map_or(None, |f| f.clone())
    }

    pub(crate) fn note_failure(&self, failure: String) {
        if let Ok(mut f) = self.last_failure.lock() {
            *f = Some(failure);
        }
    }

    pub(crate) fn set_head(&self, head: u64) {
        self.head.store(head, Ordering::Relaxed);
        metrics::gauge!(CHAIN_HEAD).set(head as f64);
        self.update_lag();
    }

    pub(crate) fn set_indexed(&self, block: i64, caught_up: bool) {
        self.indexed.store(block, Ordering::Relaxed);
        self.caught_up.store(caught_up, Ordering::Relaxed);
        metrics::gauge!(INDEXED_BLOCK).set(block as f64);
        self.update_lag();
    }

    pub(crate) fn set_caught_up(&self, caught_up: bool) {
        self.caught_up.store(caught_up, Ordering::Relaxed);
    }

    pub(crate) fn set_writer(&self, writer: bool) {
        self.writer.store(writer, Ordering::Relaxed);
    }

    fn update_lag(&self) {
        let lag = (self.head() as i64).saturating_sub(self.indexed()).max(0);
        metrics::gauge!(LAG).set(lag as f64);
    }
}

#[derive(Clone)]
struct HttpState {
    status: Arc<Status>,
    prometheus: PrometheusHandle,
}

/// The `/healthz` (process up), `/readyz` (writer and caught up) and `/metrics` routes.
pub fn router(status: Arc<Status>, prometheus: PrometheusHandle) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(|State(s): State<HttpState>| async move {
                let st = &s.status;
                let body = format!(
                    "writer={} caught_up={} indexed={} head={}\n",
                    st.is_writer(),
                    st.is_caught_up(),
                    st.indexed(),
                    st.head()
                );
                if st.is_writer() && st.is_caught_up() {
                    (StatusCode::OK, body)
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, body)
                }
            }),
        )
        .route("/metrics", get(|State(s): State<HttpState>| async move { s.prometheus.render() }))
        .with_state(HttpState { status, prometheus })
}

/// Serves [`router`] on `addr` until `shutdown` completes.
pub async fn serve(
    addr: SocketAddr,
    status: Arc<Status>,
    prometheus: PrometheusHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), IndexerError> {
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|source| IndexerError::Serve { addr, source })?;
    axum::serve(listener, router(status, prometheus))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| IndexerError::Serve { addr, source })
}
