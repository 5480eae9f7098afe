//! The sync loop: backfill (ranges fetched concurrently ahead of one in-order writer), then live following
//! near the head with every header checked, reorg repair, and the single-writer lock.

use crate::{
    config::Config,
    db,
    decode::Decoder,
    error::IndexerError,
    indexes,
    metrics::{self as m, Status},
    project::Carried,
    rpc::{verified_header, BlockHeader, Rpc},
    store::{self, Batch, Checkpoint, Revert},
};
use alloy::providers::Provider;
use futures::{Stream, StreamExt};
use sqlx::{PgConnection, PgPool};
use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, info_span, warn, Instrument};

/// Applies the schema migrations (`indexer/migrations`), on one connection that does not pass on
/// PostgreSQL's notices (`relation "_sqlx_migrations" already exists, skipping` on every start, which sqlx
/// would log at INFO); what was applied is logged at DEBUG.
pub async fn migrate(pool: &PgPool) -> Result<(), IndexerError> {
    let mut migrator = sqlx::migrate!("./migrations");
    // The vault's migrations (medledger-vault, numbered from 1001) share `_sqlx_migrations`.
    migrator.set_ignore_missing(true);
    let mut conn = pool.acquire().await?;
    sqlx::query("SET client_min_messages = warning").execute(&mut *conn).await?;
    let result = migrator.run(&mut *conn).await;
    // The connection goes back to the pool as it came.
    let reset = sqlx::query("RESET client_min_messages").execute(&mut *conn).await;
    result?;
    reset?;
    let latest = migrator.iter().map(|m| m.version).max().unwrap_or_default();
    debug!(target: "medledger::indexer::db", latest, "schema migrations applied");
    Ok(())
}

/// Follows one deployment's events into PostgreSQL.
#[derive(Debug)]
pub struct Indexer {
    config: Config,
    pool: PgPool,
    status: Arc<Status>,
    /// Whether start-up is done: the node answered its chain id and the database a connection.
    started: AtomicBool,
}

/// New heads: a WebSocket subscription (with each new head's header), or a poll timer (`None`).
type Heads = Pin<Box<dyn Stream<Item = Option<BlockHeader>> + Send>>;

/// What a backfill run ended with.
enum Backfill {
    Done(Checkpoint),
    Reorg(Checkpoint),
}

impl Indexer {
    /// An indexer for `config`, writing through `pool` (migrated with [`migrate`] first).
    pub fn new(config: Config, pool: PgPool) -> Self {
        Self { config, pool, status: Arc::new(Status::default()), started: AtomicBool::new(false) }
    }

    /// How many blocks up to the checkpoint `blocks` keeps (see [`store::window`]).
    fn window(&self) -> u64 {
        store::window(self.config.max_reorg_depth)
    }

    /// The headers of the window of a checkpoint numbered `number` that `blocks` lacks at or below `top`,
    /// fetched from the node (blocks at or below the common ancestor of a reorg, or below the checkpoint:
    /// on both branches).
    async fn missing_window(
        &self,
        rpc: &Rpc,
        conn: &mut PgConnection,
        number: i64,
        top: i64,
    ) -> Result<std::collections::BTreeMap<u64, BlockHeader>, IndexerError> {
        let low = store::window_low(number, self.window(), self.config.start_block());
        if top < low {
            return Ok(Default::default());
        }
        let stored: std::collections::BTreeSet<i64> =
            store::blocks_desc(conn, self.config.chain_id(), top, low)
                .await?
                .into_iter()
                .map(|(n, _)| n)
                .collect();
        let missing: Vec<u64> = (low..=top).filter(|n| !stored.contains(n)).map(|n| n as u64).collect();
        if missing.is_empty() {
            return Ok(Default::default());
        }
        rpc.headers(missing, low as u64, top as u64).await
    }

    /// Brings `blocks` to its definition for the stored checkpoint (see [`store::window`]): a database
    /// indexed with another `--max-reorg-depth`, or by an earlier version, gains or loses window rows. The
    /// node's headers are taken only while it still holds the checkpoint (else a reorg is repaired first,
    /// and its commit completes the window).
    async fn settle_blocks(
        &self,
        rpc: &Rpc,
        conn: &mut PgConnection,
        cp: &Checkpoint,
    ) -> Result<(), IndexerError> {
        if cp.number < 0 {
            return Ok(());
        }
        let on_chain =
            rpc.header(cp.number as u64).await?.is_some_and(|h| h.hash.as_slice() == cp.hash.as_slice());
        let missing = if on_chain {
            self.missing_window(rpc, conn, cp.number, cp.number).await?
        } else {
            Default::default()
        };
        store::settle_blocks(conn, self.config.chain_id(), cp, self.window(), &missing).await
    }

    /// Live state, for health endpoints and tests.
    pub fn status(&self) -> Arc<Status> {
        Arc::clone(&self.status)
    }

    /// Runs until `shutdown` completes (returns `Ok`) or a non-retryable error (returns it). Retryable
    /// failures — RPC outages, a PostgreSQL restart — are retried with backoff, each outage logged once
    /// with its address and cause (and once when it ends); with [`Config::startup_timeout`], only until
    /// start-up is done. Stopping at any instant is safe: every batch is one transaction with its
    /// checkpoint.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), IndexerError> {
        self.config.check()?;
        let startup = async {
            let Some(limit) = self.config.startup_timeout else { return std::future::pending().await };
            tokio::time::sleep(limit).await;
            if self.started.load(Ordering::Relaxed) {
                return std::future::pending().await;
            }
            let cause = self.status.last_failure().unwrap_or_else(|| "no answer yet".to_owned());
            IndexerError::StartupTimeout { waited: limit, cause }
        };
        tokio::select! {
            result = self.run_forever() => result,
            err = startup => {
                error!(target: "medledger::indexer::sync", error = %err, "indexer stopped");
                Err(err)
            }
            () = shutdown => {
                info!(target: "medledger::indexer::sync", "shutting down");
                Ok(())
            }
        }
    }

    async fn run_forever(&self) -> Result<(), IndexerError> {
        let mut failures = 0u32;
        // The node's connection, kept across sessions that failed for another reason (a database outage):
        // dropping it would log alloy's "Pubsub service request channel closed", which reads as an RPC fault.
        let mut rpc = None;
        loop {
            let err = match self.session(&mut failures, &mut rpc).await {
                Ok(()) => return Ok(()),
                Err(e) => db::explain(&self.pool, e).await,
            };
            self.status.set_writer(false);
            if let IndexerError::DatabaseUnreachable { .. } = err {
                self.status.note_failure(err.to_string());
            }
            if !err.is_retryable() {
                error!(target: "medledger::indexer::sync", error = %err, "indexer stopped");
                return Err(err);
            }
            failures = failures.saturating_add(1);
            let delay =
                self.config.min_backoff.saturating_mul(1 << failures.min(10)).min(self.config.max_backoff);
            if failures == 1 {
                warn!(
                    target: "medledger::indexer::sync",
                    error = %err,
                    retry_in_ms = delay.as_millis() as u64,
                    retry_every_max_ms = self.config.max_backoff.as_millis() as u64,
                    "indexer session failed; retrying with backoff (doubling up to retry_every_max_ms)"
                );
            } else {
                debug!(target: "medledger::indexer::sync", error = %err, failures, "indexer session failed again");
            }
            if matches!(err, IndexerError::Rpc(_)) {
                rpc = None;
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// One session: connect (or reuse `rpc`), take the writer lock, index until an error.
    async fn session(&self, failures: &mut u32, rpc: &mut Option<Arc<Rpc>>) -> Result<(), IndexerError> {
        let cfg = &self.config;
        let chain_id = cfg.chain_id();
        let rpc = match rpc {
            Some(rpc) => Arc::clone(rpc),
            None => Arc::clone(rpc.insert(Arc::new(Rpc::connect(cfg, Arc::clone(&self.status)).await?))),
        };
        let actual = rpc.chain_id().await?;
        if actual != cfg.manifest.chain_id {
            return Err(IndexerError::ChainIdMismatch { expected: cfg.manifest.chain_id, actual });
        }
        let decoder = Arc::new(Decoder::new(&cfg.manifest.contracts));

        let mut conn = self.pool.acquire().await?.detach();
        if !self.started.swap(true, Ordering::Relaxed) {
            info!(
                target: "medledger::indexer::sync",
                rpc = %redact(&cfg.rpc_url),
                database = %db::address(&self.pool),
                chain_id,
                "node and database reached"
            );
        }
        let mut waiting = false;
        while !store::try_lock(&mut conn, chain_id).await? {
            if !waiting {
                info!(target: "medledger::indexer::sync", chain_id, "another indexer holds the writer lock; waiting as hot standby");
                waiting = true;
            }
            tokio::time::sleep(cfg.poll_interval.max(Duration::from_millis(200))).await;
        }
        self.status.set_writer(true);
        info!(target: "medledger::indexer::sync", chain_id, rpc = %redact(&cfg.rpc_url), "writer lock acquired");

        let mut head = rpc.head(None).await?;
        self.status.set_head(head);
        let mut cp = match store::checkpoint(&mut conn, chain_id).await? {
            Some(cp) => cp,
            None => {
                let start = cfg.start_block();
                let cp = if start == 0 {
                    Checkpoint { number: -1, hash: Vec::new() }
                } else {
                    let h = rpc.header(start - 1).await?.ok_or(IndexerError::Inconsistent {
                        from: start - 1,
                        to: start - 1,
                        reason: "start block's parent not found".into(),
                    })?;
                    Checkpoint { number: (start - 1) as i64, hash: h.hash.to_vec() }
                };
                store::init_checkpoint(&mut conn, chain_id, &cp, head as i64).await?;
                store::checkpoint(&mut conn, chain_id).await?.unwrap_or(cp)
            }
        };
        info!(target: "medledger::indexer::sync", chain_id, block = cp.number, head, "resuming from checkpoint");
        self.settle_blocks(&rpc, &mut conn, &cp).await?;
        // Secondary indexes set aside by a backfill (perhaps one a crash interrupted) are built once caught up.
        let mut deferred = indexes::pending(&mut conn).await?;
        // Whether to ask (once per session: a database with events does not become fresh again).
        let mut may_defer = cfg.defer_indexes;
        let mut heads = self.heads(&rpc).await;
        // The header of the newest head announced by the subscription, until indexed.
        let mut announced: Option<BlockHeader> = None;

        loop {
            let target = head.saturating_sub(cfg.confirmations);
            let safe = target.saturating_sub(cfg.max_reorg_depth);
            let next = (cp.number + 1) as u64;
            if next <= safe && may_defer && !deferred {
                deferred = indexes::defer(&mut conn, chain_id).await?;
                may_defer = false;
            }
            if deferred && next > safe {
                let mut second = self.pool.acquire().await?.detach();
                indexes::build(&mut conn, &mut second).await?;
                deferred = false;
            }
            let step = if next <= safe {
                match self.backfill(&rpc, &decoder, &mut conn, cp.clone(), safe, head).await? {
                    Backfill::Done(c) => Ok(c),
                    Backfill::Reorg(c) => self.repair(&rpc, &decoder, &mut conn, &c, head).await,
                }
            } else if let Some(h) = announced.take().filter(|h| {
                h.number == next && next == target && h.parent_hash.as_slice() == cp.hash.as_slice()
            }) {
                // The announced head extends the index: its logs by block hash, one transaction.
                match self.live_block(&rpc, &decoder, &mut conn, &cp, h, head).await {
                    Ok(c) => Ok(c),
                    Err(e) if e.is_retryable() && !matches!(e, IndexerError::Database(_)) => {
                        debug!(target: "medledger::indexer::live", block = h.number, error = %e, "head by hash failed; by range");
                        let to = target.min(next + cfg.tip_batch.max(1) - 1);
                        self.live_step(&rpc, &decoder, &mut conn, &cp, next, to, head).await
                    }
                    Err(e) => Err(e),
                }
            } else if next <= target {
                let to = target.min(next + cfg.tip_batch.max(1) - 1);
                self.live_step(&rpc, &decoder, &mut conn, &cp, next, to, head).await
            } else {
                // Caught up: is the indexed tip still on the node's chain?
                self.status.set_caught_up(true);
                let tip = if cp.number >= 0 { rpc.header(cp.number as u64).await? } else { None };
                if cp.number >= 0 && tip.map(|h| h.hash.to_vec()) != Some(cp.hash.clone()) {
                    self.repair(&rpc, &decoder, &mut conn, &cp, head).await
                } else {
                    let (h, header) = self.wait_head(&rpc, &mut heads, head).await?;
                    head = h;
                    announced = header;
                    self.status.set_head(head);
                    continue;
                }
            };
            match step {
                Ok(c) => {
                    cp = c;
                    // Recovered once a session commits again (not merely connects: a session that fails
                    // again before committing is one failure episode, logged once).
                    if *failures > 0 {
                        warn!(target: "medledger::indexer::sync", failures = *failures, "indexer session recovered");
                        *failures = 0;
                    }
                }
                Err(IndexerError::Inconsistent { from, to, reason }) => {
                    // A reorg while fetching, or a head that is not there (yet): look again shortly, from
                    // the node's head as it is now.
                    debug!(target: "medledger::indexer::sync", from, to, reason = %reason, "inconsistent answers; refetching");
                    tokio::time::sleep(cfg.poll_interval / 4).await;
                    head = rpc.head(Some(u64::try_from(cp.number).unwrap_or(0))).await?;
                    self.status.set_head(head);
                    continue;
                }
                Err(e) => return Err(e),
            }
            let caught_up = (cp.number + 1) as u64 > target;
            self.status.set_indexed(cp.number, caught_up);
            if !caught_up || announced.is_some() {
                continue;
            }
            head = rpc.head(Some(head)).await?.max(head);
            self.status.set_head(head);
        }
    }

    /// New-head notifications: WebSocket subscription for ws(s):// URLs, else a poll timer. Says which.
    async fn heads(&self, rpc: &Rpc) -> Heads {
        if self.config.subscribes() {
            match rpc.provider().subscribe_blocks().await {
                Ok(sub) => {
                    info!(target: "medledger::indexer::sync", mode = "subscribe", "following new heads by WebSocket subscription");
                    // A header that does not hash to its claimed hash is not trusted: it only wakes the
                    // loop, which then asks for the head and fetches the range with every header.
                    return Box::pin(sub.into_stream().map(|h| match verified_header(&h, "eth_subscribe") {
                        Ok(h) => Some(h),
                        Err(e) => {
                            warn!(target: "medledger::indexer::sync", error = %e, "announced head rejected");
                            None
                        }
                    }));
                }
                Err(e) => {
                    warn!(target: "medledger::indexer::sync", error = %e, "newHeads subscription failed; polling instead")
                }
            }
        }
        let interval = self.config.poll_interval;
        info!(target: "medledger::indexer::sync", mode = "poll", poll_ms = interval.as_millis() as u64, "following new heads by polling");
        Box::pin(futures::stream::unfold((), move |()| async move {
            tokio::time::sleep(interval).await;
            Some((None, ()))
        }))
    }

    /// Waits for the next head notification (or the fallback tick). A subscription's notification names
    /// the head and brings its header; otherwise the node is asked for the head.
    async fn wait_head(
        &self,
        rpc: &Rpc,
        heads: &mut Heads,
        known: u64,
    ) -> Result<(u64, Option<BlockHeader>), IndexerError> {
        let fallback = self.config.poll_interval.max(Duration::from_millis(50)) * 5;
        tokio::select! {
            item = heads.next() => match item {
                Some(Some(h)) if h.number >= known => return Ok((h.number, Some(h))),
                Some(_) => {}
                None => {
                    warn!(target: "medledger::indexer::sync", "newHeads subscription ended; resubscribing");
                    tokio::time::sleep(self.config.min_backoff).await;
                    *heads = self.heads(rpc).await;
                }
            },
            () = tokio::time::sleep(fallback) => {}
        }
        Ok((rpc.head(Some(known)).await?, None))
    }

    /// Backfills `cp+1..=end` (all at least `max_reorg_depth` below the head): ranges fetched and decoded
    /// concurrently, written in order, one transaction per range.
    async fn backfill(
        &self,
        rpc: &Arc<Rpc>,
        decoder: &Arc<Decoder>,
        conn: &mut PgConnection,
        mut cp: Checkpoint,
        end: u64,
        head: u64,
    ) -> Result<Backfill, IndexerError> {
        let chain_id = self.config.chain_id();
        let start = (cp.number + 1) as u64;
        info!(target: "medledger::indexer::backfill", from = start, to = end, head, "backfill started");
        let planner = Arc::clone(rpc);
        // Slow start: the first range goes alone, and each answer lets at most two more ranges go (up to
        // `concurrency` in flight), each sized by the answers so far. Else the first window of ranges, sized
        // blind, may be huge; and even sized well, it comes back all at once, late, while the writer waits.
        let (answered, answers) = tokio::sync::watch::channel(0u64);
        let answered = Arc::new(answered);
        let ranges = futures::stream::unfold((start, 0u64, answers), move |(from, index, mut answers)| {
            let planner = Arc::clone(&planner);
            async move {
                if from > end {
                    return None;
                }
                // Err: the fetch tasks are gone (their error ends the backfill anyway).
                let _ = answers.wait_for(|n| *n >= index.div_ceil(2)).await;
                let to = end.min(from.saturating_add(planner.range_size().max(1) - 1));
                Some(((from, to), (to + 1, index + 1, answers)))
            }
        });
        let mut pipeline = std::pin::pin!(ranges
            .map(|(from, to)| {
                let (rpc, decoder, answered) = (Arc::clone(rpc), Arc::clone(decoder), Arc::clone(&answered));
                AbortOnDrop(tokio::spawn(
                    async move {
                        let batch = fetch_batch(&rpc, &decoder, from, to, false).await;
                        answered.send_modify(|n| *n += 1);
                        batch
                    }
                    .instrument(info_span!(target: "medledger::indexer::sync", "range", from, to)),
                ))
            })
            .buffered(self.config.concurrency.max(1)));

        let progress = Arc::new(Progress::default());
        progress.block.store(cp.number, Ordering::Relaxed);
        let _reporter = report_progress(Arc::clone(&progress), start, end, Arc::clone(rpc));
        let started = Instant::now();
        let mut events = 0u64;
        // Two writer connections: while one finishes batch k (projections, checkpoint, commit), the other
        // opens batch k+1's transaction and writes its blocks and events. Commits stay in order: batch k+1's
        // checkpoint moves from batch k's, which has committed by then.
        let mut second = self.pool.acquire().await?.detach();
        // The rows written so far, so that a batch need not read back what the previous ones wrote.
        let mut carried = Carried::new(store::no_events(conn, chain_id).await?);
        // The batch whose transaction is open (on `second` when the flag is set), and when it started.
        let mut open: Option<(bool, Batch, Instant)> = None;
        loop {
            let leaves = match &open {
                Some((_, b, _)) => b.checkpoint()?,
                None => cp.clone(),
            };
            let on_second = open.as_ref().is_some_and(|(second, _, _)| *second);
            let (finishing, beginning) =
                if on_second { (&mut second, &mut *conn) } else { (&mut *conn, &mut second) };
            let fetch = async {
                match pipeline.next().await {
                    Some(joined) => joined
                        .map_err(|e| IndexerError::Corrupt(format!("fetch task failed: {e}")))?
                        .map(Some),
                    None => Ok(None),
                }
            };
            let done = open.as_ref().map(|(_, b, _)| b);
            let (finished, next) = overlap(
                finishing,
                beginning,
                chain_id,
                &cp,
                done,
                &leaves,
                fetch,
                head,
                &mut carried,
                self.window(),
            )
            .await?;
            if let (Some(next), Some((_, done, t))) = (finished, open.take()) {
                cp = next;
                let n = done.events.len() as u64;
                record_batch("backfill", t, n);
                events += n;
                progress.block.store(cp.number, Ordering::Relaxed);
                progress.events.store(events, Ordering::Relaxed);
                self.status.set_indexed(cp.number, false);
            }
            match next {
                Next::Begun(b) => open = Some((!on_second, b, Instant::now())),
                Next::Mismatch => return Ok(Backfill::Reorg(cp)),
                Next::End => break,
            }
        }
        let secs = started.elapsed().as_secs_f64();
        info!(
            target: "medledger::indexer::backfill",
            from = start,
            to = end,
            events,
            secs = (secs * 1e3).round() / 1e3,
            events_per_sec = (events as f64 / secs.max(1e-3)) as u64,
            "backfill done"
        );
        Ok(Backfill::Done(cp))
    }

    /// Indexes one announced head that extends the checkpoint: its logs by block hash, one transaction.
    async fn live_block(
        &self,
        rpc: &Rpc,
        decoder: &Decoder,
        conn: &mut PgConnection,
        cp: &Checkpoint,
        header: BlockHeader,
        head: u64,
    ) -> Result<Checkpoint, IndexerError> {
        let t = Instant::now();
        let logs = rpc.block_logs(&header).await?;
        record_stage(m::FETCH_DURATION, "live", t);
        let t = Instant::now();
        let events = decoder.decode_all(&logs)?;
        metrics::histogram!(m::DECODE_DURATION).record(t.elapsed().as_secs_f64());
        let batch = Batch {
            from: header.number,
            to: header.number,
            headers: std::collections::BTreeMap::from([(header.number, header)]),
            events,
        };
        let t = Instant::now();
        let n = batch.events.len() as u64;
        let next = store::commit(conn, self.config.chain_id(), cp, None, &batch, head, self.window()).await?;
        record_batch("live", t, n);
        debug!(target: "medledger::indexer::live", block = header.number, events = n, "head indexed");
        Ok(next)
    }

    /// Indexes `from..=to` near the head with every header; repairs a reorg if the range does not extend
    /// the checkpoint.
    #[allow(clippy::too_many_arguments)]
    async fn live_step(
        &self,
        rpc: &Rpc,
        decoder: &Arc<Decoder>,
        conn: &mut PgConnection,
        cp: &Checkpoint,
        from: u64,
        to: u64,
        head: u64,
    ) -> Result<Checkpoint, IndexerError> {
        let batch = fetch_batch(rpc, decoder, from, to, true).await?;
        if !extends(&batch, cp) {
            return self.repair(rpc, decoder, conn, cp, head).await;
        }
        let t = Instant::now();
        let n = batch.events.len() as u64;
        let next = store::commit(conn, self.config.chain_id(), cp, None, &batch, head, self.window()).await?;
        record_batch("live", t, n);
        debug!(target: "medledger::indexer::live", from, to, events = n, "blocks indexed");
        Ok(next)
    }

    /// Finds the common ancestor of the index and the node's chain, then reverts to it and indexes the
    /// new branch, in one transaction.
    async fn repair(
        &self,
        rpc: &Rpc,
        decoder: &Arc<Decoder>,
        conn: &mut PgConnection,
        cp: &Checkpoint,
        head: u64,
    ) -> Result<Checkpoint, IndexerError> {
        let cfg = &self.config;
        let chain_id = cfg.chain_id();
        let floor = cfg.start_block() as i64 - 1;
        let lowest = (cp.number - cfg.max_reorg_depth as i64).max(floor);
        let mut ancestor: Option<BlockHeader> = None;
        for (number, hash) in store::blocks_desc(conn, chain_id, cp.number, lowest).await? {
            if let Some(h) = rpc.header(number as u64).await? {
                if h.hash.as_slice() == hash.as_slice() {
                    ancestor = Some(h);
                    break;
                }
            }
        }
        let ancestor = match ancestor {
            Some(a) => a,
            None if lowest <= floor && floor >= 0 => {
                rpc.header(floor as u64).await?.ok_or(IndexerError::Inconsistent {
                    from: floor as u64,
                    to: floor as u64,
                    reason: "start block's parent not found".into(),
                })?
            }
            None => {
                let err = IndexerError::ReorgTooDeep {
                    checkpoint: cp.number as u64,
                    lowest: lowest.max(0) as u64,
                    max_depth: cfg.max_reorg_depth,
                };
                // The API keeps serving the orphaned branch: say so (readiness, `indexerStatus`, warnings).
                store::mark_stale(conn, chain_id, &err.to_string()).await?;
                error!(target: "medledger::indexer::reorg", checkpoint = cp.number, lowest, max_depth = cfg.max_reorg_depth, "reorg refused; the index is marked stale");
                return Err(err);
            }
        };
        let depth = cp.number - ancestor.number as i64;
        warn!(
            target: "medledger::indexer::reorg",
            ancestor = ancestor.number,
            depth,
            indexed = cp.number,
            head,
            "chain reorganised; reverting to the common ancestor"
        );
        let t = Instant::now();
        let target = head.saturating_sub(cfg.confirmations);
        // The new checkpoint's window may reach below the stored one (a shorter new branch): those blocks
        // lie at or below the common ancestor, on both branches.
        let window = self.window();
        let next = if target <= ancestor.number {
            let lower =
                self.missing_window(rpc, conn, ancestor.number as i64, ancestor.number as i64 - 1).await?;
            store::revert_only(conn, chain_id, cp, ancestor, lower, head, window).await?
        } else {
            let from = ancestor.number + 1;
            let to = target.min(from + cfg.tip_batch.max(1) - 1);
            let mut batch = fetch_batch(rpc, decoder, from, to, true).await?;
            let first = batch.headers.get(&from).map(|h| h.parent_hash);
            if first != Some(ancestor.hash) {
                return Err(IndexerError::Inconsistent { from, to, reason: "new branch moved again".into() });
            }
            let mut lower = self.missing_window(rpc, conn, to as i64, ancestor.number as i64).await?;
            batch.headers.append(&mut lower);
            let revert = Revert { ancestor: ancestor.number as i64, depth };
            store::commit(conn, chain_id, cp, Some(revert), &batch, head, window).await?
        };
        record_batch("reorg", t, 0);
        metrics::counter!(m::REORGS).increment(1);
        metrics::histogram!(m::REORG_DEPTH).record(depth as f64);
        info!(target: "medledger::indexer::reorg", ancestor = ancestor.number, depth, block = next.number, "reorg repaired");
        Ok(next)
    }
}

/// What the pipelined backfill's next fetched range turned into.
enum Next {
    /// Its transaction is open, its blocks and events written.
    Begun(Batch),
    /// It does not extend the batch before it: the chain reorganised.
    Mismatch,
    /// The backfill's ranges are all done.
    End,
}

/// One step of the pipelined backfill: finishes `done` on `finishing` (its checkpoint moves from `prev`)
/// while fetching the next range and, if it extends `leaves` (the checkpoint `done` leaves), opening its
/// transaction on `beginning`. Returns `done`'s new checkpoint and what became of the next range.
#[allow(clippy::too_many_arguments)]
async fn overlap(
    finishing: &mut PgConnection,
    beginning: &mut PgConnection,
    chain_id: i64,
    prev: &Checkpoint,
    done: Option<&Batch>,
    leaves: &Checkpoint,
    fetch: impl Future<Output = Result<Option<Batch>, IndexerError>>,
    head: u64,
    carried: &mut Carried,
    window: u64,
) -> Result<(Option<Checkpoint>, Next), IndexerError> {
    let finish = async move {
        match done {
            Some(b) => {
                store::finish_batch(finishing, chain_id, prev, b, head, carried, window).await.map(Some)
            }
            None => Ok(None),
        }
    };
    let begin = async move {
        let Some(batch) = fetch.await? else { return Ok::<_, IndexerError>(Next::End) };
        if !extends(&batch, leaves) {
            warn!(target: "medledger::indexer::backfill", block = batch.from, "parent hash mismatch during backfill");
            return Ok(Next::Mismatch);
        }
        store::begin_batch(beginning, chain_id, &batch, window).await?;
        Ok(Next::Begun(batch))
    };
    let (finished, next) = tokio::join!(finish, begin);
    Ok((finished?, next?))
}

/// Whether a batch's first block is the child of the checkpoint.
fn extends(batch: &Batch, cp: &Checkpoint) -> bool {
    cp.number < 0
        || batch.headers.get(&batch.from).is_some_and(|h| h.parent_hash.as_slice() == cp.hash.as_slice())
}

fn record_batch(mode: &'static str, started: Instant, events: u64) {
    metrics::histogram!(m::BATCH_DURATION, "mode" => mode).record(started.elapsed().as_secs_f64());
    metrics::histogram!(m::BATCH_EVENTS).record(events as f64);
}

fn record_stage(metric: &'static str, mode: &'static str, started: Instant) {
    metrics::histogram!(metric, "mode" => mode).record(started.elapsed().as_secs_f64());
}

/// Ranges with fewer logs are decoded in place (a blocking task costs more than decoding a few).
const DECODE_INLINE_MAX: usize = 256;

/// Fetches and decodes a range.
async fn fetch_batch(
    rpc: &Rpc,
    decoder: &Arc<Decoder>,
    from: u64,
    to: u64,
    all_headers: bool,
) -> Result<Batch, IndexerError> {
    let t = Instant::now();
    let fetched = rpc.fetch(from, to, all_headers).await?;
    let fetch_secs = t.elapsed().as_secs_f64();
    record_stage(m::FETCH_DURATION, if all_headers { "live" } else { "backfill" }, t);
    let t = Instant::now();
    // A big range is decoded off the async workers: they stay free to drive the writer meanwhile.
    let events = if fetched.logs.len() < DECODE_INLINE_MAX {
        decoder.decode_all(&fetched.logs)?
    } else {
        let (decoder, logs) = (Arc::clone(decoder), fetched.logs);
        tokio::task::spawn_blocking(move || decoder.decode_all(&logs))
            .await
            .map_err(|e| IndexerError::Corrupt(format!("decode task failed: {e}")))??
    };
    let decode_secs = t.elapsed().as_secs_f64();
    metrics::histogram!(m::DECODE_DURATION).record(decode_secs);
    debug!(target: "medledger::indexer::sync", from, to, logs = events.len(), fetch_secs, decode_secs, "range fetched");
    Ok(Batch { from: fetched.from, to: fetched.to, headers: fetched.headers, events })
}

/// A spawned task that is aborted when its handle is dropped (a pipeline thrown away on a reorg).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How often a running backfill logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// A backfill's committed progress, read by its reporter.
#[derive(Debug, Default)]
struct Progress {
    /// The committed checkpoint.
    block: AtomicI64,
    /// Events committed so far.
    events: AtomicU64,
}

/// Logs a backfill's progress every [`PROGRESS_EVERY`] — blocks done, events, rate and ETA — whether or not
/// a batch committed meanwhile (a stalled backfill shows as a rate of 0). Stops when dropped.
fn report_progress(progress: Arc<Progress>, start: u64, end: u64, rpc: Arc<Rpc>) -> AbortOnDrop<()> {
    AbortOnDrop(tokio::spawn(async move {
        let began = tokio::time::Instant::now();
        let mut tick = tokio::time::interval_at(began + PROGRESS_EVERY, PROGRESS_EVERY);
        let total = (end + 1).saturating_sub(start);
        let (mut last_events, mut last_done) = (0u64, 0u64);
        let mut last_at = began;
        loop {
            let now = tick.tick().await;
            let block = progress.block.load(Ordering::Relaxed);
            let events = progress.events.load(Ordering::Relaxed);
            let done = u64::try_from(block + 1).unwrap_or(0).saturating_sub(start).min(total);
            let blocks_per_sec = done as f64 / (now - began).as_secs_f64().max(1e-3);
            let window = (now - last_at).as_secs_f64().max(1e-3);
            info!(
                target: "medledger::indexer::backfill",
                block,
                to = end,
                blocks_done = done,
                blocks_total = total,
                blocks_per_sec = (done.saturating_sub(last_done) as f64 / window) as u64,
                events,
                events_per_sec = ((events - last_events) as f64 / window) as u64,
                eta_secs = if done == 0 { None } else { Some(((total - done) as f64 / blocks_per_sec) as u64) },
                range = rpc.range_size(),
                "backfill progress"
            );
            (last_events, last_done) = (events, done);
            last_at = now;
        }
    }))
}

/// A URL without credentials, for logs.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…{}", &url[..s], &url[at..]),
        _ => url.to_owned(),
    }
}
