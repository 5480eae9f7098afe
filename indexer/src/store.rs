//! PostgreSQL: the writer's lock, the checkpoint, and the one transaction per batch that writes blocks,
//! events, history rows and projections — and, after a reorg, reverts to the common ancestor first.
//!
//! Projections are folds of `events` ([`crate::project`]): a batch folds its events onto the stored rows of
//! the entities they touch; a reorg refolds the entities its reverted events touched from what remains.
//!
//! The `blocks` table is a function of the chain, the checkpoint and `--max-reorg-depth` (see [`window`]),
//! whatever ranges, crashes and restarts led there: every block holding an event of the tracked contracts,
//! and every block of the checkpoint's reorg window — the blocks a reorg repair compares with the node's.

use crate::{
    copy::CopyBuf,
    decode::EventRow,
    error::IndexerError,
    metrics::write_stage as stage,
    project::{Carried, Ev, EvArgs, Fold, History},
    rpc::BlockHeader,
};
use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};
use std::{collections::BTreeMap, time::Instant};

use medledger_core::NOTIFY_CHANNEL;

/// The last indexed block of a chain (`number == -1` before the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub(crate) number: i64,
    pub(crate) hash: Vec<u8>,
}

/// One batch to write: the headers and decoded events of `from..=to`.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) from: u64,
    pub(crate) to: u64,
    pub(crate) headers: BTreeMap<u64, BlockHeader>,
    pub(crate) events: Vec<EventRow>,
}

impl Batch {
    /// The batch's events as the projections read them, in (block, log index) order.
    fn evs(&self) -> impl Iterator<Item = Ev<'_>> {
        self.events.iter().map(|e| Ev {
            block_number: int(e.block_number),
            log_index: i32::try_from(e.log_index).unwrap_or(i32::MAX),
            block_time: time(self.headers.get(&e.block_number).map_or(0, |h| h.timestamp)),
            tx_hash: e.tx_hash.as_slice(),
            address: e.address.as_slice(),
            contract: e.contract,
            event_name: &e.event_name,
            entity: &e.entity,
            episode_id: e.episode_id,
            credential_id: e.credential_id,
            rx_id: e.rx_id.as_ref().map(|r| r.as_slice()),
            args: EvArgs::Decoded(&e.args),
        })
    }

    /// The checkpoint this batch leaves: its last block.
    pub(crate) fn checkpoint(&self) -> Result<Checkpoint, IndexerError> {
        let last = self.headers.get(&self.to).ok_or_else(|| {
            IndexerError::Corrupt(format!(
                "batch {}..={} lacks the header of its last block",
                self.from, self.to
            ))
        })?;
        Ok(Checkpoint { number: int(last.number), hash: last.hash.to_vec() })
    }
}

/// A revert to apply before the batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Revert {
    /// The common ancestor: everything above it goes.
    pub(crate) ancestor: i64,
    /// How many indexed blocks are reverted.
    pub(crate) depth: i64,
}

/// How many blocks up to and including the checkpoint `blocks` keeps whether or not they hold events: the
/// reorg window, `max(--max-reorg-depth, 1)` blocks. With checkpoint `C` and window `W`, `blocks` holds
/// exactly the indexed blocks numbered above `C - W` and the indexed blocks (at most `C`) with an event.
pub(crate) const fn window(max_reorg_depth: u64) -> u64 {
    if max_reorg_depth == 0 {
        1
    } else {
        max_reorg_depth
    }
}

/// The lowest block of the window of checkpoint `number` (not below the first indexed block, `first`).
pub(crate) fn window_low(number: i64, window: u64, first: u64) -> i64 {
    (number - int(window) + 1).max(int(first))
}

/// The advisory-lock key of a chain's writer.
fn lock_key(chain_id: i64) -> i64 {
    0x4d4c_4458_0000_0000_i64 ^ chain_id
}

/// Tries to take the writer lock of a chain on this connection (held until the connection closes).
pub(crate) async fn try_lock(conn: &mut PgConnection, chain_id: i64) -> Result<bool, IndexerError> {
    let locked = sqlx::query_scalar!("SELECT pg_try_advisory_lock($1) AS \"locked!\"", lock_key(chain_id))
        .fetch_one(conn)
        .await?;
    Ok(locked)
}

/// The stored checkpoint of a chain.
pub(crate) async fn checkpoint(
    conn: &mut PgConnection,
    chain_id: i64,
) -> Result<Option<Checkpoint>, IndexerError> {
    let row = sqlx::query!("SELECT block_number, block_hash FROM checkpoints WHERE chain_id = $1", chain_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| Checkpoint { number: r.block_number, hash: r.block_hash }))
}

/// Creates the checkpoint of a chain that has none (indexing starts after `number`).
pub(crate) async fn init_checkpoint(
    conn: &mut PgConnection,
    chain_id: i64,
    start: &Checkpoint,
    head: i64,
) -> Result<(), IndexerError> {
    let mut tx = conn.begin().await?;
    sqlx::query!(
        "INSERT INTO checkpoints (chain_id, block_number, block_hash, head_number) VALUES ($1, $2, $3, $4)
         ON CONFLICT (chain_id) DO NOTHING",
        chain_id,
        start.number,
        start.hash,
        head
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Marks the index of a chain stale, saying why (a refused reorg): its rows describe a branch the node no
/// longer serves. The next commit that moves the checkpoint clears it.
pub(crate) async fn mark_stale(
    conn: &mut PgConnection,
    chain_id: i64,
    reason: &str,
) -> Result<(), IndexerError> {
    sqlx::query!(
        "UPDATE checkpoints SET stale_reason = $2, stale_since = coalesce(stale_since, now()) WHERE chain_id = $1",
        chain_id,
        reason
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Stored blocks at or below `top` and at or above `lowest`, highest first.
pub(crate) async fn blocks_desc(
    conn: &mut PgConnection,
    chain_id: i64,
    top: i64,
    lowest: i64,
) -> Result<Vec<(i64, Vec<u8>)>, IndexerError> {
    let rows = sqlx::query!(
        "SELECT number, hash FROM blocks WHERE chain_id = $1 AND number <= $2 AND number >= $3 ORDER BY number DESC",
        chain_id,
        top,
        lowest
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.number, r.hash)).collect())
}

fn time(seconds: u64) -> DateTime<Utc> {
    DateTime::from_timestamp(i64::try_from(seconds).unwrap_or(i64::MAX), 0).unwrap_or_default()
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Writes one batch — after reverting to `revert.ancestor` if given — and moves the checkpoint from `prev`
/// to the batch's last block, all in one transaction. Returns the new checkpoint.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn commit(
    conn: &mut PgConnection,
    chain_id: i64,
    prev: &Checkpoint,
    revert: Option<Revert>,
    batch: &Batch,
    head: u64,
    window: u64,
) -> Result<Checkpoint, IndexerError> {
    let mut tx = conn.begin().await?;
    if let Some(r) = revert {
        let mut clock = Instant::now();
        revert_to(&mut tx, chain_id, r).await?;
        stage("revert", &mut clock);
    }
    write_events(&mut tx, chain_id, batch, window).await?;
    let next = write_rest(&mut tx, chain_id, prev, revert, batch, head, None, window).await?;
    let mut clock = Instant::now();
    tx.commit().await?;
    stage("commit", &mut clock);
    Ok(next)
}

/// The first half of a pipelined backfill batch's transaction: opens it on `conn` and writes the batch's
/// blocks, events and history rows, which no other batch touches — so it can run while the previous batch,
/// on another connection, is still being finished. [`finish_batch`] completes it once that batch has
/// committed.
pub(crate) async fn begin_batch(
    conn: &mut PgConnection,
    chain_id: i64,
    batch: &Batch,
    window: u64,
) -> Result<(), IndexerError> {
    sqlx::query("BEGIN").execute(&mut *conn).await?;
    write_events(conn, chain_id, batch, window).await
}

/// The second half of a pipelined batch's transaction (opened by [`begin_batch`] on `conn`): projections
/// and the checkpoint from `prev` — the previous batch's, committed by now — then commit.
/// The projections start from the rows `carried` over from the previous batches of the backfill, and
/// this batch's are added to it.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn finish_batch(
    conn: &mut PgConnection,
    chain_id: i64,
    prev: &Checkpoint,
    batch: &Batch,
    head: u64,
    carried: &mut Carried,
    window: u64,
) -> Result<Checkpoint, IndexerError> {
    let next = write_rest(conn, chain_id, prev, None, batch, head, Some(carried), window).await?;
    let mut clock = Instant::now();
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    stage("commit", &mut clock);
    Ok(next)
}

/// Whether a chain has no events yet (and so no projection rows): a backfill's [`Carried`] rows are then
/// complete.
pub(crate) async fn no_events(conn: &mut PgConnection, chain_id: i64) -> Result<bool, IndexerError> {
    let none = sqlx::query_scalar!(
        r#"SELECT NOT EXISTS (SELECT 1 FROM events WHERE chain_id = $1) AS "none!""#,
        chain_id
    )
    .fetch_one(conn)
    .await?;
    Ok(none)
}

/// Deletes everything above `r.ancestor` and refolds the projections the deleted events touched.
async fn revert_to(conn: &mut PgConnection, chain_id: i64, r: Revert) -> Result<(), IndexerError> {
    let gone = sqlx::query!(
        "DELETE FROM events WHERE chain_id = $1 AND block_number > $2
         RETURNING contract, event_name, entity, episode_id",
        chain_id,
        r.ancestor
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut refold = Fold::default();
    for g in &gone {
        refold.touch(&g.contract, &g.event_name, &g.entity, g.episode_id);
    }
    sqlx::query!("DELETE FROM blocks WHERE chain_id = $1 AND number > $2", chain_id, r.ancestor)
        .execute(&mut *conn)
        .await?;
    // The history rows above the ancestor, all three tables in one statement.
    sqlx::query!(
        r#"WITH c AS (DELETE FROM credential_history WHERE chain_id = $1 AND block_number > $2),
                h AS (DELETE FROM consent_history WHERE chain_id = $1 AND block_number > $2)
           DELETE FROM dispenses WHERE chain_id = $1 AND block_number > $2"#,
        chain_id,
        r.ancestor
    )
    .execute(&mut *conn)
    .await?;
    refold.refold(&mut *conn, chain_id).await?;
    refold.write(&mut *conn, chain_id).await?;
    Ok(())
}

/// A batch's blocks (those with events and those in its last block's window), events and history rows.
async fn write_events(
    conn: &mut PgConnection,
    chain_id: i64,
    batch: &Batch,
    window: u64,
) -> Result<(), IndexerError> {
    let mut clock = Instant::now();
    let with_events: std::collections::BTreeSet<u64> = batch.events.iter().map(|e| e.block_number).collect();
    let low = batch.to.saturating_sub(window - 1);
    insert_blocks(
        conn,
        chain_id,
        batch.headers.values().filter(|h| h.number >= low || with_events.contains(&h.number)),
    )
    .await?;
    stage("blocks", &mut clock);

    // Events, in bulk (binary COPY).
    if !batch.events.is_empty() {
        let n = batch.events.len();
        encode_events(chain_id, batch)
            .send(
                &mut *conn,
                "events (chain_id, block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract,
                         address, event_name, entity, accounts, rx_id, episode_id, credential_id, args)",
            )
            .await?;
        stage("events", &mut clock);
        metrics::counter!(crate::metrics::EVENTS_WRITTEN).increment(n as u64);
        // History rows depend on the batch's events alone (no stored state): they go with them, which in a
        // pipelined backfill is beside the previous batch's projections rather than after them (dispense
        // rows, which need the folded prescription's patient, go with the projections).
        let mut history = History::default();
        for e in batch.evs() {
            history.push(&e)?;
        }
        // Timed per table inside.
        history.write(conn, chain_id).await?;
    }
    Ok(())
}

/// Inserts (or, after a reorg, replaces) block rows.
async fn insert_blocks<'h>(
    conn: &mut PgConnection,
    chain_id: i64,
    headers: impl Iterator<Item = &'h BlockHeader>,
) -> Result<(), IndexerError> {
    let (mut numbers, mut hashes, mut parents, mut stamps) = (vec![], vec![], vec![], vec![]);
    for h in headers {
        numbers.push(int(h.number));
        hashes.push(h.hash.to_vec());
        parents.push(h.parent_hash.to_vec());
        stamps.push(time(h.timestamp));
    }
    if !numbers.is_empty() {
        sqlx::query!(
            "INSERT INTO blocks (chain_id, number, hash, parent_hash, timestamp)
             SELECT $1, * FROM UNNEST($2::int8[], $3::bytea[], $4::bytea[], $5::timestamptz[])
             ON CONFLICT (chain_id, number) DO UPDATE
               SET hash = excluded.hash, parent_hash = excluded.parent_hash, timestamp = excluded.timestamp",
            chain_id,
            &numbers,
            &hashes,
            &parents,
            &stamps
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Deletes the event-less blocks numbered above `above` and at most `to` (blocks that left the window).
async fn prune_blocks(
    conn: &mut PgConnection,
    chain_id: i64,
    above: i64,
    to: i64,
) -> Result<(), IndexerError> {
    if to <= above {
        return Ok(());
    }
    sqlx::query!(
        "DELETE FROM blocks b WHERE b.chain_id = $1 AND b.number > $2 AND b.number <= $3
           AND NOT EXISTS (SELECT 1 FROM events e WHERE e.chain_id = $1 AND e.block_number = b.number)",
        chain_id,
        above,
        to
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Brings `blocks` to its definition for checkpoint `cp` (see [`window`]) at the start of a session, in one
/// transaction: drops event-less rows below the window (a database indexed with a smaller window or by an
/// earlier version) and adds `missing`, the window's headers it lacks (a larger window).
pub(crate) async fn settle_blocks(
    conn: &mut PgConnection,
    chain_id: i64,
    cp: &Checkpoint,
    window: u64,
    missing: &BTreeMap<u64, BlockHeader>,
) -> Result<(), IndexerError> {
    let mut tx = conn.begin().await?;
    prune_blocks(&mut tx, chain_id, -1, cp.number - int(window)).await?;
    insert_blocks(&mut tx, chain_id, missing.values()).await?;
    tx.commit().await?;
    Ok(())
}

/// A batch's projections (folded from its events), the checkpoint and the notification.
/// With `carried`, the stored rows come from it where it has them, and the batch's rows go into it.
#[allow(clippy::too_many_arguments)]
async fn write_rest(
    conn: &mut PgConnection,
    chain_id: i64,
    prev: &Checkpoint,
    revert: Option<Revert>,
    batch: &Batch,
    head: u64,
    carried: Option<&mut Carried>,
    window: u64,
) -> Result<Checkpoint, IndexerError> {
    let mut clock = Instant::now();
    if !batch.events.is_empty() {
        let mut fold = Fold::default();
        for e in &batch.events {
            fold.touch(e.contract, &e.event_name, &e.entity, e.episode_id);
        }
        fold.load(&mut *conn, chain_id, carried.as_deref()).await?;
        stage("load", &mut clock);
        for e in batch.evs() {
            fold.apply(&e)?;
        }
        stage("apply", &mut clock);
        // Timed per table inside.
        fold.write(&mut *conn, chain_id).await?;
        // Dispense rows name their prescription's patient: from the fold, so after it.
        fold.dispenses(batch.evs())?.write(&mut *conn, chain_id).await?;
        clock = Instant::now();
        if let Some(c) = carried {
            fold.carry_into(c);
        }
    }

    // The checkpoint moves only from where this writer left it.
    let next = batch.checkpoint()?;
    // Blocks that left the window and hold no event go (this batch's events are written by now).
    prune_blocks(&mut *conn, chain_id, prev.number - int(window), next.number - int(window)).await?;
    let moved = sqlx::query!(
        "UPDATE checkpoints
         SET block_number = $2, block_hash = $3, head_number = $4, updated_at = now(),
             stale_reason = NULL, stale_since = NULL,
             reorg_count = reorg_count + CASE WHEN $5::int8 IS NULL THEN 0 ELSE 1 END,
             last_reorg_at = CASE WHEN $5::int8 IS NULL THEN last_reorg_at ELSE now() END,
             last_reorg_block = COALESCE($5, last_reorg_block),
             last_reorg_depth = COALESCE($6, last_reorg_depth)
         WHERE chain_id = $1 AND block_number = $7 AND block_hash = $8",
        chain_id,
        next.number,
        next.hash,
        int(head),
        revert.map(|r| r.ancestor),
        revert.map(|r| r.depth),
        prev.number,
        prev.hash
    )
    .execute(&mut *conn)
    .await?;
    if moved.rows_affected() != 1 {
        return Err(IndexerError::CheckpointMoved { chain_id: chain_id as u64 });
    }
    stage("checkpoint", &mut clock);
    // Delivered on commit only: GraphQL subscriptions wake on it instead of waiting for their next poll.
    sqlx::query!("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, format!("{chain_id}:{}", next.number))
        .execute(&mut *conn)
        .await?;
    Ok(next)
}

/// Reverts to `ancestor` without new blocks (the node's chain became shorter); `lower` are the headers of
/// the ancestor's window that `blocks` lacks.
pub(crate) async fn revert_only(
    conn: &mut PgConnection,
    chain_id: i64,
    prev: &Checkpoint,
    ancestor: BlockHeader,
    lower: BTreeMap<u64, BlockHeader>,
    head: u64,
    window: u64,
) -> Result<Checkpoint, IndexerError> {
    let mut headers = lower;
    headers.insert(ancestor.number, ancestor);
    let batch = Batch { from: ancestor.number + 1, to: ancestor.number, headers, events: vec![] };
    let revert = Revert { ancestor: int(ancestor.number), depth: prev.number - int(ancestor.number) };
    commit(conn, chain_id, prev, Some(revert), &batch, head, window).await
}

/// The batch's events as binary COPY rows of `events` (columns in the order of the COPY statement).
fn encode_events(chain_id: i64, batch: &Batch) -> CopyBuf {
    let mut b = CopyBuf::new(batch.events.len() * 640 + 32);
    let mut json = Vec::with_capacity(512);
    for e in &batch.events {
        let ts = batch.headers.get(&e.block_number).map_or(0, |h| h.timestamp);
        b.row(16);
        b.int8(chain_id);
        b.int8(int(e.block_number));
        b.bytes(e.block_hash.as_slice());
        b.time(time(ts));
        b.bytes(e.tx_hash.as_slice());
        b.int4(i32::try_from(e.tx_index).unwrap_or(i32::MAX));
        b.int4(i32::try_from(e.log_index).unwrap_or(i32::MAX));
        b.bytes(e.contract.as_bytes());
        b.bytes(e.address.as_slice());
        b.bytes(e.event_name.as_bytes());
        b.bytes(&e.entity);
        b.bytea_array(e.accounts.iter().map(|a| a.as_slice()));
        b.opt(e.rx_id.as_ref(), |b, r| b.bytes(r.as_slice()));
        b.opt(e.episode_id, CopyBuf::int8);
        b.opt(e.credential_id, CopyBuf::int8);
        json.clear();
        e.args.write_json(&mut json);
        b.bytes(&json);
    }
    b
}
