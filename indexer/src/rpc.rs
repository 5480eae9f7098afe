//! JSON-RPC access: timeouts, classified errors, retries with backoff and jitter (logged once per episode),
//! `eth_getLogs` over ranges that split when the node refuses them and grow when it does not, and headers
//! in JSON-RPC batches (smaller batches, then one call each, when the node refuses them).

use crate::{
    config::Config,
    error::{IndexerError, RpcError, RpcErrorKind},
    metrics::{self as m, Status},
    range::RangeSizer,
};
use alloy::{
    eips::BlockNumberOrTag,
    primitives::{Address, B256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::client::{BatchRequest, Waiter},
    rpc::types::{Block, Filter, Header, Log},
    transports::{
        ws::{WebSocketConfig, WsConnect},
        RpcError as AlloyRpcError, TransportError, TransportErrorKind,
    },
};
use futures::{StreamExt, TryStreamExt};
use rand::Rng;
use std::{
    collections::BTreeMap,
    future::{Future, IntoFuture},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};
use tracing::{debug, warn};

/// Largest WebSocket message (and frame) accepted from the node.
const MAX_WS_MESSAGE: usize = 1 << 30;

/// Header batches in flight at once (and single header calls: `SINGLES_IN_FLIGHT`).
const BATCHES_IN_FLIGHT: usize = 4;
const SINGLES_IN_FLIGHT: usize = 16;

/// Why the node would not answer a JSON-RPC batch: `unserved` when it answered none of its calls (a
/// node or gateway that does not take batches), else (a per-call "batch too large" error, HTTP 413) the
/// batch was too big.
#[derive(Debug)]
struct BatchRefusal {
    unserved: bool,
    message: String,
}

/// The fields of a block header the indexer keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockHeader {
    pub(crate) number: u64,
    pub(crate) hash: B256,
    pub(crate) parent_hash: B256,
    pub(crate) timestamp: u64,
}

/// The answers for one range of blocks, checked to fit together.
#[derive(Debug, Default)]
pub(crate) struct Fetched {
    pub(crate) from: u64,
    pub(crate) to: u64,
    /// Headers of `from`, `to`, every block with a log, and (near the head) every block of the range.
    pub(crate) headers: BTreeMap<u64, BlockHeader>,
    /// The logs, in chain order.
    pub(crate) logs: Vec<Log>,
}

/// A JSON-RPC client for one chain and deployment.
#[derive(Debug)]
pub(crate) struct Rpc {
    provider: DynProvider,
    addresses: Vec<Address>,
    timeout: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
    /// The `eth_getLogs` range size.
    sizer: RangeSizer,
    /// Whether calls are failing (an episode is in progress): one WARN on entry, one on recovery.
    degraded: AtomicBool,
    /// The node's URL without credentials, for logs and errors.
    endpoint: String,
    /// Where the last failure is noted (for a start-up that gives up).
    status: Arc<Status>,
    /// How many blocks up to a checkpoint the `blocks` table keeps (see [`crate::store::window`]): a
    /// backfill range brings the headers of its end's window.
    window: u64,
    /// Most `eth_getBlockByNumber` calls per JSON-RPC batch; below 2, one call each (configured so, or
    /// lowered when the node refused a batch: halved when it was too big, to 0 when batches go unserved).
    batch_cap: AtomicUsize,
}

impl Rpc {
    /// Connects (HTTP or WebSocket, from the URL scheme).
    ///
    /// WebSocket: messages up to [`MAX_WS_MESSAGE`] (a block's logs can exceed tungstenite's 16 MiB frame
    /// default; a too-big answer would drop the connection and be re-requested forever), and the
    /// transport's own reconnection retried at the indexer's backoff rather than every 3 s.
    pub(crate) async fn connect(config: &Config, status: Arc<Status>) -> Result<Self, IndexerError> {
        let url = config.rpc_url.as_str();
        let endpoint = crate::sync::redact(url);
        let builder = ProviderBuilder::new().disable_recommended_fillers();
        let provider = if url.starts_with("ws://") || url.starts_with("wss://") {
            let ws = WebSocketConfig::default()
                .max_message_size(Some(MAX_WS_MESSAGE))
                .max_frame_size(Some(MAX_WS_MESSAGE));
            let connect = WsConnect::new(url)
                .with_config(ws)
                .with_max_retries(10)
                .with_retry_interval(config.min_backoff.max(Duration::from_millis(50)));
            builder.connect_ws(connect).await
        } else {
            builder.connect(url).await
        }
        .map_err(|e| {
            let err = rpc_error("connect", &e);
            status.note_failure(format!("RPC {endpoint}: {err}"));
            err
        })?
        .erased();
        Ok(Self {
            provider,
            addresses: config.manifest.contracts.all().to_vec(),
            timeout: config.rpc_timeout,
            min_backoff: config.min_backoff,
            max_backoff: config.max_backoff,
            sizer: RangeSizer::new(config.initial_range, config.max_range),
            window: crate::store::window(config.max_reorg_depth),
            batch_cap: AtomicUsize::new(config.rpc_batch),
            degraded: AtomicBool::new(false),
            endpoint,
            status,
        })
    }

    /// The underlying provider (for subscriptions).
    pub(crate) const fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The current `eth_getLogs` range size.
    pub(crate) fn range_size(&self) -> u64 {
        self.sizer.get()
    }

    /// Runs `call` until it succeeds, backing off on every retryable failure. `RangeRejected` is returned
    /// to the caller (who splits) instead of retried.
    async fn retry<T, F, Fut>(&self, method: &'static str, call: F) -> Result<T, RpcError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, TransportError>>,
    {
        self.retry_checked(method, call, |_| Ok(())).await
    }

    /// [`Self::retry`], where an answer that fails `check` (a node's lie caught) counts as a malformed
    /// answer: retried like any failure, so that one bad answer costs a retry, not the session.
    async fn retry_checked<T, F, Fut, C>(
        &self,
        method: &'static str,
        mut call: F,
        check: C,
    ) -> Result<T, RpcError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, TransportError>>,
        C: Fn(&T) -> Result<(), RpcError>,
    {
        let mut attempt = 0u32;
        let started = Instant::now();
        loop {
            let result = match tokio::time::timeout(self.timeout, call()).await {
                Ok(Ok(value)) => check(&value).map(|()| value),
                Ok(Err(e)) => Err(rpc_error(method, &e)),
                Err(_) => Err(RpcError {
                    method,
                    kind: if method == "eth_getLogs" {
                        RpcErrorKind::RangeRejected
                    } else {
                        RpcErrorKind::Timeout
                    },
                    message: format!("no answer within {:?}", self.timeout),
                }),
            };
            match result {
                Ok(value) => {
                    if attempt > 0 && self.degraded.swap(false, Ordering::Relaxed) {
                        warn!(
                            target: "medledger::indexer::rpc",
                            rpc = %self.endpoint,
                            method,
                            attempts = attempt + 1,
                            outage_ms = started.elapsed().as_millis() as u64,
                            "RPC reachable again"
                        );
                    }
                    return Ok(value);
                }
                Err(err) => {
                    metrics::counter!(m::RPC_ERRORS, "kind" => err.kind.as_str()).increment(1);
                    if err.kind == RpcErrorKind::RangeRejected {
                        return Err(err);
                    }
                    self.status.note_failure(format!("RPC {}: {err}", self.endpoint));
                    if self.degraded.swap(true, Ordering::Relaxed) {
                        debug!(target: "medledger::indexer::rpc", method, attempt, kind = err.kind.as_str(), error = %err.message, "RPC call failed again");
                    } else {
                        warn!(
                            target: "medledger::indexer::rpc",
                            rpc = %self.endpoint,
                            method,
                            kind = err.kind.as_str(),
                            error = %err.message,
                            retry_from_ms = self.min_backoff.as_millis() as u64,
                            retry_every_max_ms = self.max_backoff.as_millis() as u64,
                            "RPC call failed; retrying with backoff (doubling, jittered, up to retry_every_max_ms)"
                        );
                    }
                    tokio::time::sleep(self.backoff(attempt)).await;
                    attempt = attempt.saturating_add(1);
                }
            }
        }
    }

    /// Exponential backoff with full jitter in [d/2, d].
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.min_backoff.saturating_mul(1u32 << attempt.min(16)).min(self.max_backoff);
        let half = base / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }

    /// The chain id the node serves.
    pub(crate) async fn chain_id(&self) -> Result<u64, RpcError> {
        self.retry("eth_chainId", || self.provider.get_chain_id()).await
    }

    /// The node's latest block number, believed only as far as the node can serve it: a head above
    /// `known` (the last head believed) counts once the node returns its header; otherwise (a node that
    /// announces blocks it does not have) `known` stays the head. A lower head is taken as it is (the
    /// chain may have become shorter; the caller checks its tip against the node).
    pub(crate) async fn head(&self, known: Option<u64>) -> Result<u64, RpcError> {
        let claimed = self.retry("eth_blockNumber", || self.provider.get_block_number()).await?;
        if known.is_some_and(|k| claimed <= k) {
            return Ok(claimed);
        }
        match self.header(claimed).await? {
            Some(_) => Ok(claimed),
            None => {
                debug!(target: "medledger::indexer::rpc", claimed, known, "head announced but not served; ignored");
                Ok(known.unwrap_or(0))
            }
        }
    }

    /// A block's header, or `None` when the node has no such block.
    pub(crate) async fn header(&self, number: u64) -> Result<Option<BlockHeader>, RpcError> {
        const METHOD: &str = "eth_getBlockByNumber";
        let block = self
            .retry_checked(
                METHOD,
                || self.provider.get_block_by_number(BlockNumberOrTag::Number(number)).into_future(),
                |b| header_of(b.as_ref(), number, METHOD).map(drop),
            )
            .await?;
        header_of(block.as_ref(), number, METHOD)
    }

    /// Headers of several blocks: in JSON-RPC batches of up to the batch cap (a few batches at once), or
    /// one call each (16 at once) when batches are off or the node refused them. Every header is checked
    /// to hash to its hash, as one fetched alone; a missing block is an inconsistency (reorg).
    pub(crate) async fn headers(
        &self,
        numbers: impl IntoIterator<Item = u64>,
        from: u64,
        to: u64,
    ) -> Result<BTreeMap<u64, BlockHeader>, IndexerError> {
        let missing =
            |n: u64| IndexerError::Inconsistent { from, to, reason: format!("block {n} not found") };
        let mut pending: Vec<u64> = numbers.into_iter().collect();
        let mut out = BTreeMap::new();
        while !pending.is_empty() {
            let cap = self.batch_cap.load(Ordering::Relaxed);
            if cap < 2 || pending.len() == 1 {
                let singles: Vec<(u64, BlockHeader)> = futures::stream::iter(pending.drain(..))
                    .map(|n| async move { self.header(n).await?.map(|h| (n, h)).ok_or_else(|| missing(n)) })
                    .buffer_unordered(SINGLES_IN_FLIGHT)
                    .try_collect()
                    .await?;
                out.extend(singles);
                break;
            }
            let round: Vec<u64> = pending.drain(..pending.len().min(cap * BATCHES_IN_FLIGHT)).collect();
            let answers = futures::future::join_all(round.chunks(cap).map(|c| self.header_batch(c))).await;
            for (chunk, answer) in round.chunks(cap).zip(answers) {
                match answer? {
                    Ok(headers) => {
                        for (&n, h) in chunk.iter().zip(headers) {
                            out.insert(n, h.ok_or_else(|| missing(n))?);
                        }
                    }
                    Err(refusal) => {
                        self.batch_refused(cap, chunk.len(), &refusal);
                        pending.extend_from_slice(chunk);
                    }
                }
            }
        }
        Ok(out)
    }

    /// One JSON-RPC batch of `eth_getBlockByNumber` calls, the batch as a whole retried like a single call
    /// (the transport failed, rate limit, timeout). A call whose answer fails (an error of its own, a
    /// header that does not hash to its hash or of another block: a node's lie caught) is asked again
    /// alone, so that one bad answer costs one call, not the batch. `Ok(Err(_))`: the node refused the
    /// batch as such (not retried: the caller sends smaller batches or single calls).
    async fn header_batch(
        &self,
        numbers: &[u64],
    ) -> Result<Result<Vec<Option<BlockHeader>>, BatchRefusal>, RpcError> {
        const METHOD: &str = "eth_getBlockByNumber";
        let answers = self
            .retry(METHOD, || async move {
                let mut batch = BatchRequest::new(self.provider.client());
                let waiters: Vec<Waiter<Option<Block>>> = numbers
                    .iter()
                    .map(|&n| batch.add_call(METHOD, &(BlockNumberOrTag::Number(n), false)))
                    .collect::<Result<_, _>>()?;
                if let Err(e) = batch.send().await {
                    return batch_refusal_http(&e).map(Err).ok_or(e);
                }
                let answers = futures::future::join_all(waiters).await;
                Ok(batch_refusal(&answers).map_or(Ok(answers), Err))
            })
            .await?;
        let answers = match answers {
            Ok(answers) => answers,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let mut headers = Vec::with_capacity(numbers.len());
        for (&n, answer) in numbers.iter().zip(answers) {
            let header =
                answer.map_err(|e| rpc_error(METHOD, &e)).and_then(|b| header_of(b.as_ref(), n, METHOD));
            match header {
                Ok(h) => headers.push(h),
                Err(err) => {
                    metrics::counter!(m::RPC_ERRORS, "kind" => err.kind.as_str()).increment(1);
                    debug!(target: "medledger::indexer::rpc", block = n, kind = err.kind.as_str(), error = %err.message, "batched header call failed; asking alone");
                    headers.push(self.header(n).await?);
                }
            }
        }
        Ok(Ok(headers))
    }

    /// Lowers the batch cap after the node refused a batch of `size` calls sent under cap `cap` (a batch
    /// too big: half as many calls; batches unserved: one call each), saying so once per change.
    fn batch_refused(&self, cap: usize, size: usize, refusal: &BatchRefusal) {
        let lower = if refusal.unserved { 0 } else { size / 2 };
        let lower = if lower < 2 { 0 } else { lower };
        if lower < cap
            && self.batch_cap.compare_exchange(cap, lower, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            if lower == 0 {
                warn!(target: "medledger::indexer::rpc", rpc = %self.endpoint, refused = size, error = %refusal.message, "node refused a JSON-RPC batch; headers one call each from now on");
            } else {
                warn!(target: "medledger::indexer::rpc", rpc = %self.endpoint, refused = size, batch = lower, error = %refusal.message, "node refused a JSON-RPC batch; smaller batches from now on");
            }
        }
    }

    /// The tracked contracts' logs of `from..=to`, splitting the range while the node refuses it.
    async fn logs(&self, from: u64, to: u64) -> Result<Vec<Log>, IndexerError> {
        let mut pending = vec![(from, to)];
        let mut out = Vec::new();
        let mut refused = std::collections::BTreeSet::new();
        // Depth-first, lowest range first, so the output stays in chain order.
        while let Some((a, b)) = pending.pop() {
            let filter = Filter::new().address(self.addresses.clone()).from_block(a).to_block(b);
            match self.retry("eth_getLogs", || self.get_logs(&filter)).await {
                Ok(logs) => {
                    self.sizer.answered(b - a + 1, logs.len() as u64);
                    out.extend(logs);
                }
                Err(err) if a < b => {
                    let half = (b - a).div_ceil(2);
                    // One line when the range size shrinks (a state change), not one per split.
                    if self.sizer.refused(b - a + 1) {
                        let (range, ceiling) = (self.sizer.get(), self.sizer.ceiling());
                        warn!(target: "medledger::indexer::sync", from = a, to = b, range, ceiling, error = %err.message, "range rejected; splitting, smaller ranges from now on");
                    } else {
                        debug!(target: "medledger::indexer::sync", from = a, to = b, error = %err.message, "range rejected; splitting");
                    }
                    let mid = a + half - 1;
                    pending.push((mid + 1, b));
                    pending.push((a, mid));
                }
                Err(err) => {
                    // A single block the node will not serve: back off and try again (logged once).
                    if refused.insert(a) {
                        warn!(target: "medledger::indexer::sync", from = a, to = b, error = %err.message, "single-block log query rejected; retrying");
                    } else {
                        debug!(target: "medledger::indexer::sync", block = a, error = %err.message, "single-block log query rejected again");
                    }
                    tokio::time::sleep(self.max_backoff).await;
                    pending.push((a, b));
                }
            }
        }
        Ok(out)
    }

    /// `eth_getLogs`, with the answer parsed off the async workers: a big answer takes tens of
    /// milliseconds to parse, which would hold up every other task (the writer's among them) meanwhile. A
    /// malformed answer is a deserialisation error, retried like any.
    async fn get_logs(&self, filter: &Filter) -> Result<Vec<Log>, TransportError> {
        let raw: Box<serde_json::value::RawValue> =
            self.provider.raw_request("eth_getLogs".into(), (filter,)).await?;
        tokio::task::spawn_blocking(move || {
            serde_json::from_str::<Vec<Log>>(raw.get()).map_err(|e| TransportError::deser_err(e, raw.get()))
        })
        .await
        .map_err(|e| TransportErrorKind::custom_str(&format!("parsing task failed: {e}")))?
    }

    /// The tracked contracts' logs of one block, by hash (the live path: one request per new head).
    /// A single attempt: on any failure the caller falls back to the range path, which retries and
    /// detects reorgs.
    pub(crate) async fn block_logs(&self, header: &BlockHeader) -> Result<Vec<Log>, IndexerError> {
        let filter = Filter::new().address(self.addresses.clone()).at_block_hash(header.hash);
        let mut logs = match tokio::time::timeout(self.timeout, self.provider.get_logs(&filter)).await {
            Ok(Ok(logs)) => logs,
            Ok(Err(e)) => return Err(rpc_error("eth_getLogs", &e).into()),
            Err(_) => {
                return Err(RpcError {
                    method: "eth_getLogs",
                    kind: RpcErrorKind::Timeout,
                    message: format!("no answer within {:?}", self.timeout),
                }
                .into())
            }
        };
        logs.retain(|l| !l.removed);
        logs.sort_by_key(|l| l.log_index);
        check_logs(&logs, &BTreeMap::from([(header.number, *header)]), header.number, header.number)?;
        Ok(logs)
    }

    /// Fetches the logs and headers of `from..=to` and checks they belong to one chain. With `all_headers`,
    /// every header of the range is fetched and the range's parent links are verified too.
    pub(crate) async fn fetch(&self, from: u64, to: u64, all_headers: bool) -> Result<Fetched, IndexerError> {
        // The range's last block first: a node that announced a head it does not have (or lost it to a
        // reorg) is caught before its logs are asked for.
        let Some(last) = self.header(to).await? else {
            return Err(IndexerError::Inconsistent { from, to, reason: format!("block {to} not found") });
        };
        let mut logs = self.logs(from, to).await?;
        logs.retain(|l| !l.removed);
        logs.sort_by_key(|l| (l.block_number, l.log_index));
        let mut numbers: Vec<u64> = if all_headers {
            (from..=to).collect()
        } else {
            // Blocks with logs, the first (its parent link is checked) and the end's window (kept in `blocks`).
            let mut n: Vec<u64> = logs.iter().filter_map(|l| l.block_number).collect();
            n.push(from);
            n.extend(to.saturating_sub(self.window - 1).max(from)..=to);
            n
        };
        numbers.sort_unstable();
        numbers.dedup();
        numbers.pop_if(|n| *n == to);
        let mut headers = self.headers(numbers, from, to).await?;
        headers.insert(to, last);
        check_logs(&logs, &headers, from, to)?;
        if all_headers && to > from {
            for (n, h) in headers.range(from + 1..=to) {
                if headers.get(&(n - 1)).is_some_and(|p| p.hash != h.parent_hash) {
                    return Err(IndexerError::Inconsistent {
                        from,
                        to,
                        reason: format!("block {n} does not extend {}", n - 1),
                    });
                }
            }
        }
        Ok(Fetched { from, to, headers, logs })
    }
}

/// The fields the indexer keeps of a header the node sent, after checking that the header hashes to the
/// hash the node claims for it: a node that sends a wrong hash or a wrong parent link (or any altered
/// field) is caught here, before the header can become a checkpoint or decide a reorg.
pub(crate) fn verified_header(header: &Header, method: &'static str) -> Result<BlockHeader, RpcError> {
    let computed = header.inner.hash_slow();
    if computed != header.hash {
        return Err(RpcError {
            method,
            kind: RpcErrorKind::Malformed,
            message: format!(
                "header of block {} claims hash {} but hashes to {computed}",
                header.number, header.hash
            ),
        });
    }
    Ok(BlockHeader {
        number: header.number,
        hash: header.hash,
        parent_hash: header.parent_hash,
        timestamp: header.timestamp,
    })
}

/// The header of a block the node sent for block `number`, checked to be that block's and to hash to
/// its hash (`None`: no such block).
fn header_of(
    block: Option<&Block>,
    number: u64,
    method: &'static str,
) -> Result<Option<BlockHeader>, RpcError> {
    match block {
        Some(b) if b.header.number != number => Err(RpcError {
            method,
            kind: RpcErrorKind::Malformed,
            message: format!("asked for block {number}, got block {}", b.header.number),
        }),
        Some(b) => verified_header(&b.header, method).map(Some),
        None => Ok(None),
    }
}

/// Whether a batch's answers say the node refused the batch as such: none of its calls answered (a
/// single error object instead of an array: batches unserved), or a call answered with an error about
/// batches (geth's "batch too large", providers' batch size limits). Other errors are the calls' own.
fn batch_refusal<T>(answers: &[Result<T, TransportError>]) -> Option<BatchRefusal> {
    let unanswered = |a: &Result<T, TransportError>| {
        matches!(a, Err(AlloyRpcError::Transport(TransportErrorKind::MissingBatchResponse(_))))
    };
    if !answers.is_empty() && answers.iter().all(unanswered) {
        return Some(BatchRefusal {
            unserved: true,
            message: "no call of the batch answered (the node answered a batch with a single object)".into(),
        });
    }
    answers.iter().find_map(|a| match a {
        Err(AlloyRpcError::ErrorResp(p)) if p.message.to_lowercase().contains("batch") => {
            Some(BatchRefusal { unserved: false, message: format!("{} (code {})", p.message, p.code) })
        }
        _ => None,
    })
}

/// Whether a failed batch request was refused as a batch at the HTTP level: 413 (too big), or another
/// client error (but 429) whose body speaks of batches.
fn batch_refusal_http(err: &TransportError) -> Option<BatchRefusal> {
    let AlloyRpcError::Transport(TransportErrorKind::HttpError(http)) = err else { return None };
    let about_batches = http.body.to_lowercase().contains("batch");
    let refused =
        http.status == 413 || ((400..500).contains(&http.status) && http.status != 429 && about_batches);
    refused.then(|| BatchRefusal {
        unserved: http.status != 413 && !http.body.to_lowercase().contains("large"),
        message: format!("HTTP {}: {}", http.status, http.body.chars().take(200).collect::<String>()),
    })
}

/// Checks that the logs (sorted by block and log index) are distinct, lie in `from..=to` and belong to the
/// blocks whose headers we hold.
fn check_logs(
    logs: &[Log],
    headers: &BTreeMap<u64, BlockHeader>,
    from: u64,
    to: u64,
) -> Result<(), IndexerError> {
    let mut previous: Option<(u64, u64)> = None;
    for log in logs {
        let (Some(number), Some(hash)) = (log.block_number, log.block_hash) else {
            return Err(IndexerError::Inconsistent { from, to, reason: "log without block".into() });
        };
        let Some(index) = log.log_index else {
            return Err(IndexerError::Inconsistent { from, to, reason: "log without logIndex".into() });
        };
        if previous.is_some_and(|p| p >= (number, index)) {
            return Err(IndexerError::Inconsistent {
                from,
                to,
                reason: format!("log {index} of block {number} appears twice"),
            });
        }
        previous = Some((number, index));
        match headers.get(&number) {
            Some(h) if h.hash == hash && (from..=to).contains(&number) => {}
            _ => {
                return Err(IndexerError::Inconsistent {
                    from,
                    to,
                    reason: format!("log of block {number} has hash {hash}, the header another"),
                })
            }
        }
    }
    Ok(())
}

/// Classifies an alloy transport error.
pub(crate) fn rpc_error(method: &'static str, err: &TransportError) -> RpcError {
    let kind = match err {
        AlloyRpcError::ErrorResp(payload) => {
            let msg = payload.message.to_lowercase();
            if payload.code == 429 || msg.contains("rate limit") || msg.contains("too many requests") {
                RpcErrorKind::RateLimited
            } else if method == "eth_getLogs" && is_range_rejection(payload.code, &msg) {
                RpcErrorKind::RangeRejected
            } else {
                RpcErrorKind::Node
            }
        }
        AlloyRpcError::Transport(TransportErrorKind::HttpError(http)) => match http.status {
            429 => RpcErrorKind::RateLimited,
            413 if method == "eth_getLogs" => RpcErrorKind::RangeRejected,
            _ if method == "eth_getLogs" && is_range_rejection(0, &http.body.to_lowercase()) => {
                RpcErrorKind::RangeRejected
            }
            _ => RpcErrorKind::Transport,
        },
        AlloyRpcError::Transport(_) => RpcErrorKind::Transport,
        AlloyRpcError::NullResp => RpcErrorKind::NotFound,
        AlloyRpcError::DeserError { .. } | AlloyRpcError::SerError(_) => RpcErrorKind::Malformed,
        _ => RpcErrorKind::Node,
    };
    // The whole chain: alloy's and reqwest's own messages leave the cause ("Connection refused") to it.
    RpcError { method, kind, message: crate::report(err) }
}

/// Whether a JSON-RPC error of `eth_getLogs` means "ask for less" (as worded by geth, erigon, reth,
/// nethermind, besu, anvil and the big hosted providers).
pub fn is_range_rejection(code: i64, msg: &str) -> bool {
    const NEEDLES: [&str; 22] = [
        "query returned more than",
        "more than 10000 results",
        "too many results",
        "too many logs",
        "log response size exceeded",
        "response size",
        "response is too big",
        "range too large",
        "range is too large",
        "block range",
        "exceed maximum block range",
        "exceeds the range",
        "range exceeds",
        "too wide",
        "limit exceeded",
        "is limited to",
        "query exceeds",
        "max results",
        "query timeout",
        "timed out",
        "context deadline exceeded",
        "request timeout",
    ];
    code == -32005 || NEEDLES.iter().any(|n| msg.contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_range_rejections() {
        assert!(is_range_rejection(-32005, "whatever"));
        assert!(is_range_rejection(-32000, "query returned more than 10000 results"));
        assert!(is_range_rejection(
            -32602,
            "log response size exceeded. you can make eth_getlogs requests with up to a 2k block range"
        ));
        assert!(is_range_rejection(-32000, "block range is too wide"));
        assert!(is_range_rejection(-32000, "exceed maximum block range: 5000"));
        assert!(!is_range_rejection(-32000, "header not found"));
    }

    fn answers(errors: Vec<TransportError>) -> Vec<Result<Option<Block>, TransportError>> {
        errors.into_iter().map(Err).collect()
    }

    fn error_resp(code: i64, message: &str) -> TransportError {
        let payload = serde_json::json!({ "code": code, "message": message });
        AlloyRpcError::ErrorResp(serde_json::from_value(payload).expect("an error payload"))
    }

    #[test]
    fn recognises_batch_refusals() {
        let missing =
            || TransportErrorKind::missing_batch_response(serde_json::from_value(1.into()).expect("an id"));
        // One error object for the whole batch: no call answered.
        let unserved = batch_refusal(&answers(vec![missing(), missing()])).expect("refused");
        assert!(unserved.unserved, "{unserved:?}");
        // geth over its limit: "batch too large" for the first call, nothing for the others.
        let too_big =
            batch_refusal(&answers(vec![error_resp(-32600, "batch too large"), missing()])).expect("refused");
        assert!(!too_big.unserved && too_big.message.contains("batch too large"), "{too_big:?}");
        // A call's own error is not the batch's.
        assert!(batch_refusal(&answers(vec![error_resp(-32000, "header not found")])).is_none());
        let ok: Vec<Result<Option<Block>, TransportError>> = vec![Ok(None)];
        assert!(batch_refusal(&ok).is_none());
        // HTTP: 413 is "too big"; another 4xx about batches is "unserved"; 429 and 5xx are retried.
        let http = |status, body: &str| TransportErrorKind::http_error(status, body.to_owned());
        assert!(batch_refusal_http(&http(413, "payload too large")).is_some_and(|r| !r.unserved));
        assert!(batch_refusal_http(&http(400, "Batch requests are disabled")).is_some_and(|r| r.unserved));
        assert!(batch_refusal_http(&http(429, "batch rate limited")).is_none());
        assert!(batch_refusal_http(&http(503, "unavailable")).is_none());
        assert!(batch_refusal_http(&http(400, "bad request")).is_none());
    }
}
