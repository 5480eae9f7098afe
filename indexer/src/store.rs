//! PostgreSQL: the writer's lock, the checkpoint, and the one transaction per batch that writes blocks,
//! events, history rows and projections — and, after a reorg, reverts to the common ancestor first.
//!
//! Projections are pure folds of `events`: a batch (or a reorg) collects the entities its events touch,
//! deletes their projection rows and recomputes them from the remaining events. Forward application and
//! reorg repair are the same code path.

use crate::{abi::EventRow, error::IndexerError, rpc::BlockHeader};
use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};
use std::{
    collections::{BTreeMap, BTreeSet},
    time::Instant,
};

/// The PostgreSQL channel notified in every batch transaction, with the payload `<chain id>:<block number>`
/// of the new checkpoint.
pub const NOTIFY_CHANNEL: &str = "medledger_events";

/// Records the time since `*since` as write stage `stage`, and restarts the clock.
fn stage(name: &'static str, since: &mut Instant) {
    metrics::histogram!(crate::metrics::WRITE_STAGE_DURATION, "stage" => name)
        .record(since.elapsed().as_secs_f64());
    *since = Instant::now();
}

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

/// A revert to apply before the batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Revert {
    /// The common ancestor: everything above it goes.
    pub(crate) ancestor: i64,
    /// How many indexed blocks are reverted.
    pub(crate) depth: i64,
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

/// Entities whose projection rows must be recomputed.
#[derive(Debug, Default)]
struct Touched {
    credentials: BTreeSet<Vec<u8>>,
    consents: BTreeSet<Vec<u8>>,
    episodes: BTreeSet<i64>,
    records: BTreeSet<Vec<u8>>,
    prescriptions: BTreeSet<Vec<u8>>,
    roles: BTreeSet<Vec<u8>>,
}

impl Touched {
    fn add(&mut self, contract: &str, event: &str, entity: &[u8], episode_id: Option<i64>) {
        if entity.is_empty() {
            return;
        }
        match contract {
            "CredentialRegistry" if event == "RoleGranted" || event == "RoleRevoked" => {
                self.roles.insert(entity.to_vec());
            }
            "CredentialRegistry" if event.starts_with("Credential") => {
                self.credentials.insert(entity.to_vec());
            }
            "ConsentRegistry" => {
                self.consents.insert(entity.to_vec());
            }
            "RecordAnchors" => {
                if let Some(ep) = episode_id {
                    self.episodes.insert(ep);
                }
                if entity.len() == 16 {
                    self.records.insert(entity.to_vec());
                }
            }
            "Prescriptions" => {
                self.prescriptions.insert(entity.to_vec());
            }
            _ => {}
        }
    }
}

fn time(seconds: u64) -> DateTime<Utc> {
    DateTime::from_timestamp(i64::try_from(seconds).unwrap_or(i64::MAX), 0).unwrap_or_default()
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Writes one batch — after reverting to `revert.ancestor` if given — and moves the checkpoint from `prev`
/// to the batch's last block, all in one transaction. Returns the new checkpoint.
pub(crate) async fn commit(
    conn: &mut PgConnection,
    chain_id: i64,
    prev: &Checkpoint,
    revert: Option<Revert>,
    batch: &Batch,
    head: u64,
) -> Result<Checkpoint, IndexerError> {
    let mut clock = Instant::now();
    let mut tx = conn.begin().await?;
    let mut touched = Touched::default();

    if let Some(r) = revert {
        let gone = sqlx::query!(
            "DELETE FROM events WHERE chain_id = $1 AND block_number > $2
             RETURNING contract, event_name, entity, episode_id",
            chain_id,
            r.ancestor
        )
        .fetch_all(&mut *tx)
        .await?;
        for g in &gone {
            touched.add(&g.contract, &g.event_name, &g.entity, g.episode_id);
        }
        sqlx::query!("DELETE FROM blocks WHERE chain_id = $1 AND number > $2", chain_id, r.ancestor)
            .execute(&mut *tx)
            .await?;
        sqlx::query!(
            "DELETE FROM credential_history WHERE chain_id = $1 AND block_number > $2",
            chain_id,
            r.ancestor
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "DELETE FROM consent_history WHERE chain_id = $1 AND block_number > $2",
            chain_id,
            r.ancestor
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!("DELETE FROM dispenses WHERE chain_id = $1 AND block_number > $2", chain_id, r.ancestor)
            .execute(&mut *tx)
            .await?;
    }

    // Blocks.
    let (mut numbers, mut hashes, mut parents, mut stamps) = (vec![], vec![], vec![], vec![]);
    for h in batch.headers.values() {
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
        .execute(&mut *tx)
        .await?;
    }
    stage("blocks", &mut clock);

    // Events, in bulk (binary COPY), then their history rows (credential_history, consent_history,
    // dispenses) derived in SQL from the rows just written: the batch's blocks held no events before.
    if !batch.events.is_empty() {
        let n = batch.events.len();
        for e in &batch.events {
            touched.add(e.contract, &e.event_name, &e.entity, e.episode_id);
        }
        let rows = encode_events(chain_id, batch);
        let mut copy = tx
            .copy_in_raw(
                "COPY events (chain_id, block_number, block_hash, block_time, tx_hash, tx_index, log_index,
                              contract, address, event_name, entity, accounts, rx_id, episode_id,
                              credential_id, args)
                 FROM STDIN (FORMAT binary)",
            )
            .await?;
        copy.send(rows).await?;
        let written = copy.finish().await?;
        if written != n as u64 {
            return Err(IndexerError::Corrupt(format!("{written} of {n} events written")));
        }
        stage("events", &mut clock);
        sqlx::query!(
            r#"WITH ins AS (SELECT chain_id, block_number, log_index, block_time, tx_hash, contract, event_name, rx_id,
                                   credential_id, args
                            FROM events WHERE chain_id = $1 AND block_number BETWEEN $2 AND $3),
     cr_0 AS (INSERT INTO credential_history (chain_id, block_number, log_index, account, credential_id, change, status,
                                                 expires_at, license_hash, schedules, reason_code, block_time, tx_hash)
                 SELECT chain_id, block_number, log_index, ml_bytes(args->>'account'), credential_id,
                        CASE event_name WHEN 'CredentialRegistered' THEN 'registered'
                                        WHEN 'CredentialRenewed' THEN 'renewed'
                                        WHEN 'CredentialSchedulesChanged' THEN 'schedules_changed'
                                        WHEN 'CredentialSuspended' THEN 'suspended'
                                        WHEN 'CredentialReinstated' THEN 'reinstated'
                                        ELSE 'revoked' END,
                        CASE event_name WHEN 'CredentialRegistered' THEN 'active'
                                        WHEN 'CredentialSuspended' THEN 'suspended'
                                        WHEN 'CredentialReinstated' THEN 'active'
                                        WHEN 'CredentialRevoked' THEN 'revoked' END,
                        ml_time(args->>'expiresAt'), ml_bytes(args->>'licenseHash'), (args->>'schedules')::int2,
                        (args->>'reasonCode')::int4, block_time, tx_hash
                 FROM ins
                 WHERE contract = 'CredentialRegistry' AND event_name LIKE 'Credential%'),
     co_1 AS (INSERT INTO consent_history (chain_id, block_number, log_index, patient, grantee, action, scopes, expires_at,
                                              relayed, reason_code, ended_by, block_time, tx_hash)
                 SELECT chain_id, block_number, log_index, ml_bytes(args->>'patient'), ml_bytes(args->>'grantee'),
                        CASE event_name WHEN 'ConsentGranted' THEN 'granted'
                                        WHEN 'ConsentRevoked' THEN 'revoked'
                                        WHEN 'EmergencyAccessOpened' THEN 'emergency_opened'
                                        ELSE 'emergency_ended' END,
                        (args->>'scopes')::int2, ml_time(args->>'expiresAt'), (args->>'relayed')::boolean,
                        (args->>'reasonCode')::int4, ml_bytes(args->>'endedBy'), block_time, tx_hash
                 FROM ins
                 WHERE contract = 'ConsentRegistry'
                   AND event_name IN ('ConsentGranted', 'ConsentRevoked', 'EmergencyAccessOpened', 'EmergencyAccessEnded')),
     di_2 AS (INSERT INTO dispenses (chain_id, block_number, log_index, rx_id, pharmacy, fill_number, quantity,
                                        fill_dispensed, total_dispensed, dispense_hash, block_time, tx_hash)
                 SELECT chain_id, block_number, log_index, rx_id, ml_bytes(args->>'pharmacy'), (args->>'fillNumber')::int2,
                        (args->>'quantity')::int8, (args->>'fillDispensed')::int8, (args->>'totalDispensed')::numeric,
                        ml_bytes(args->>'dispenseHash'), block_time, tx_hash
                 FROM ins
                 WHERE contract = 'Prescriptions'
                   AND event_name = 'PrescriptionDispensed')
           SELECT 1 AS "one!""#,
            chain_id,
            int(batch.from),
            int(batch.to)
        )
        .fetch_one(&mut *tx)
        .await?;
        stage("history", &mut clock);
        metrics::counter!(crate::metrics::EVENTS_WRITTEN).increment(n as u64);
    }

    refresh(&mut tx, chain_id, &touched).await?;
    stage("projections", &mut clock);

    // The checkpoint moves only from where this writer left it.
    let last = batch.headers.get(&batch.to).ok_or_else(|| {
        IndexerError::Corrupt(format!(
            "batch {}..={} lacks the header of its last block",
            batch.from, batch.to
        ))
    })?;
    let next = Checkpoint { number: int(last.number), hash: last.hash.to_vec() };
    let moved = sqlx::query!(
        "UPDATE checkpoints
         SET block_number = $2, block_hash = $3, head_number = $4, updated_at = now(),
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
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() != 1 {
        return Err(IndexerError::CheckpointMoved { chain_id: chain_id as u64 });
    }
    stage("checkpoint", &mut clock);
    // Delivered on commit only: GraphQL subscriptions wake on it instead of waiting for their next poll.
    sqlx::query!("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, format!("{chain_id}:{}", next.number))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    stage("commit", &mut clock);
    Ok(next)
}

/// Reverts to `ancestor` without new blocks (the node's chain became shorter).
pub(crate) async fn revert_only(
    conn: &mut PgConnection,
    chain_id: i64,
    prev: &Checkpoint,
    ancestor: BlockHeader,
    head: u64,
) -> Result<Checkpoint, IndexerError> {
    let batch = Batch {
        from: ancestor.number + 1,
        to: ancestor.number,
        headers: BTreeMap::from([(ancestor.number, ancestor)]),
        events: vec![],
    };
    let revert = Revert { ancestor: int(ancestor.number), depth: prev.number - int(ancestor.number) };
    commit(conn, chain_id, prev, Some(revert), &batch, head).await
}

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// The type oid of `bytea` (array elements in binary COPY).
const BYTEA_OID: i32 = 17;

/// PostgreSQL's binary COPY format, one row at a time.
struct CopyBuf(Vec<u8>);

impl CopyBuf {
    fn new(capacity: usize) -> Self {
        let mut b = Vec::with_capacity(capacity);
        b.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        b.extend_from_slice(&0i32.to_be_bytes()); // flags
        b.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        Self(b)
    }
    fn row(&mut self, fields: i16) {
        self.0.extend_from_slice(&fields.to_be_bytes());
    }
    fn len_prefix(&mut self, len: usize) {
        self.0.extend_from_slice(&i32::try_from(len).unwrap_or(i32::MAX).to_be_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.len_prefix(v.len());
        self.0.extend_from_slice(v);
    }
    fn int8(&mut self, v: i64) {
        self.len_prefix(8);
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn int4(&mut self, v: i32) {
        self.len_prefix(4);
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn null(&mut self) {
        self.0.extend_from_slice(&(-1i32).to_be_bytes());
    }
    fn timestamptz(&mut self, unix_seconds: u64) {
        self.int8(int(unix_seconds).saturating_mul(1_000_000).saturating_sub(PG_EPOCH_MICROS));
    }
    /// A one-dimensional `bytea[]` without NULLs.
    fn bytea_array<'a>(&mut self, items: impl ExactSizeIterator<Item = &'a [u8]>) {
        let n = items.len();
        let body: usize = 12 + if n == 0 { 0 } else { 8 };
        let mut elems = Vec::new();
        for item in items {
            elems.extend_from_slice(&i32::try_from(item.len()).unwrap_or(i32::MAX).to_be_bytes());
            elems.extend_from_slice(item);
        }
        self.len_prefix(body + elems.len());
        self.0.extend_from_slice(&i32::from(n > 0).to_be_bytes()); // dimensions
        self.0.extend_from_slice(&0i32.to_be_bytes()); // no NULLs
        self.0.extend_from_slice(&BYTEA_OID.to_be_bytes());
        if n > 0 {
            self.0.extend_from_slice(&i32::try_from(n).unwrap_or(i32::MAX).to_be_bytes());
            self.0.extend_from_slice(&1i32.to_be_bytes()); // lower bound
        }
        self.0.extend_from_slice(&elems);
    }
    /// `jsonb`: a version byte, then the JSON text.
    fn jsonb(&mut self, json: &[u8]) {
        self.len_prefix(json.len() + 1);
        self.0.push(1);
        self.0.extend_from_slice(json);
    }
    fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&(-1i16).to_be_bytes());
        self.0
    }
}

/// The batch's events as binary COPY rows of `events` (columns in the order of the COPY statement).
fn encode_events(chain_id: i64, batch: &Batch) -> Vec<u8> {
    let mut b = CopyBuf::new(batch.events.len() * 640 + 32);
    let mut json = Vec::with_capacity(512);
    for e in &batch.events {
        let ts = batch.headers.get(&e.block_number).map_or(0, |h| h.timestamp);
        b.row(16);
        b.int8(chain_id);
        b.int8(int(e.block_number));
        b.bytes(e.block_hash.as_slice());
        b.timestamptz(ts);
        b.bytes(e.tx_hash.as_slice());
        b.int4(i32::try_from(e.tx_index).unwrap_or(i32::MAX));
        b.int4(i32::try_from(e.log_index).unwrap_or(i32::MAX));
        b.bytes(e.contract.as_bytes());
        b.bytes(e.address.as_slice());
        b.bytes(e.event_name.as_bytes());
        b.bytes(&e.entity);
        b.bytea_array(e.accounts.iter().map(|a| a.as_slice()));
        match &e.rx_id {
            Some(r) => b.bytes(r.as_slice()),
            None => b.null(),
        }
        match e.episode_id {
            Some(v) => b.int8(v),
            None => b.null(),
        }
        match e.credential_id {
            Some(v) => b.int8(v),
            None => b.null(),
        }
        json.clear();
        // Serialising a `serde_json::Value` into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut json, &e.args);
        b.jsonb(&json);
    }
    b.finish()
}

/// Recomputes the projection rows of the touched entities from `events`.
async fn refresh(conn: &mut PgConnection, chain_id: i64, t: &Touched) -> Result<(), IndexerError> {
    if !t.credentials.is_empty() {
        let keys: Vec<Vec<u8>> = t.credentials.iter().cloned().collect();
        sqlx::query!(
            "DELETE FROM credentials WHERE chain_id = $1 AND account = ANY($2::bytea[])",
            chain_id,
            &keys
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query!(
            r#"INSERT INTO credentials (chain_id, account, credential_id, kind, status, status_reason, license_hash,
                                        jurisdiction, expires_at, schedules, registered_block, registered_at,
                                        updated_block, updated_at)
               SELECT $1, k.account, r.credential_id,
                      CASE (r.args->>'kind')::int WHEN 1 THEN 'prescriber' WHEN 2 THEN 'pharmacy' ELSE 'unknown' END,
                      CASE s.event_name WHEN 'CredentialSuspended' THEN 'suspended'
                                        WHEN 'CredentialRevoked' THEN 'revoked' ELSE 'active' END,
                      (s.args->>'reasonCode')::int4,
                      ml_bytes(COALESCE(rn.args->>'licenseHash', r.args->>'licenseHash')),
                      ml_bytes(r.args->>'jurisdiction'),
                      ml_time(COALESCE(rn.args->>'expiresAt', r.args->>'expiresAt')),
                      COALESCE(sc.args->>'schedules', r.args->>'schedules')::int2,
                      r.block_number, r.block_time, l.block_number, l.block_time
               FROM UNNEST($2::bytea[]) AS k(account)
               JOIN LATERAL (SELECT e.credential_id, e.args, e.block_number, e.block_time FROM events e
                             WHERE e.chain_id = $1 AND e.contract = 'CredentialRegistry' AND e.entity = k.account
                               AND e.event_name = 'CredentialRegistered'
                             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) r ON true
               LEFT JOIN LATERAL (SELECT e.args FROM events e
                             WHERE e.chain_id = $1 AND e.contract = 'CredentialRegistry' AND e.entity = k.account
                               AND e.event_name = 'CredentialRenewed'
                             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) rn ON true
               LEFT JOIN LATERAL (SELECT e.args FROM events e
                             WHERE e.chain_id = $1 AND e.contract = 'CredentialRegistry' AND e.entity = k.account
                               AND e.event_name = 'CredentialSchedulesChanged'
                             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) sc ON true
               LEFT JOIN LATERAL (SELECT e.event_name, e.args FROM events e
                             WHERE e.chain_id = $1 AND e.contract = 'CredentialRegistry' AND e.entity = k.account
                               AND e.event_name IN ('CredentialSuspended', 'CredentialReinstated', 'CredentialRevoked')
                             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) s ON true
               JOIN LATERAL (SELECT e.block_number, e.block_time FROM events e
                             WHERE e.chain_id = $1 AND e.contract = 'CredentialRegistry' AND e.entity = k.account
                             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) l ON true"#,
            chain_id,
            &keys
        )
        .execute(&mut *conn)
        .await?;
    }

    if !t.consents.is_empty() {
        let keys: Vec<Vec<u8>> = t.consents.iter().cloned().collect();
        sqlx::query!(
            "DELETE FROM consents c USING UNNEST($2::bytea[]) AS k(e)
             WHERE c.chain_id = $1 AND c.patient = substring(k.e FROM 1 FOR 20) AND c.grantee = substring(k.e FROM 21 FOR 20)",
            chain_id,
            &keys
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query!(
            r#"INSERT INTO consents (chain_id, patient, grantee, scopes, expires_at, granted_at, granted_block,
                                     granted_relayed, revoked, revoked_at, revoked_relayed, emergency_until,
                                     emergency_reason, emergency_opened_at, emergency_ended_at, emergency_ended_by,
                                     updated_block)
               SELECT $1, substring(k.e FROM 1 FOR 20), substring(k.e FROM 21 FOR 20),
                      CASE WHEN x.active THEN (g.args->>'scopes')::int2 ELSE 0::int2 END,
                      CASE WHEN x.active THEN ml_time(g.args->>'expiresAt') END,
                      CASE WHEN x.active THEN g.block_time END,
                      CASE WHEN x.active THEN g.block_number END,
                      CASE WHEN x.active THEN (g.args->>'relayed')::boolean END,
                      r.block_number IS NOT NULL AND NOT x.active,
                      CASE WHEN NOT x.active THEN r.block_time END,
                      CASE WHEN NOT x.active THEN (r.args->>'relayed')::boolean END,
                      CASE WHEN x.emergency THEN ml_time(eo.args->>'expiresAt') END,
                      CASE WHEN x.emergency THEN (eo.args->>'reasonCode')::int4 END,
                      CASE WHEN x.emergency THEN eo.block_time END,
                      CASE WHEN NOT x.emergency THEN ee.block_time END,
                      CASE WHEN NOT x.emergency THEN ml_bytes(ee.args->>'endedBy') END,
                      GREATEST(g.block_number, r.block_number, eo.block_number, ee.block_number)
               FROM UNNEST($2::bytea[]) AS k(e)
               LEFT JOIN LATERAL (SELECT e.block_number, e.log_index, e.block_time, e.args FROM events e
                             WHERE e.chain_id = $1 AND e.contract = 'ConsentRegistry' AND e.entity = k.e
                               AND e.event_name = 'ConsentGranted'
                             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) g ON true
               LEFT JOIN LATERAL (SELECT e.block_number, e.log_index, e.block_time, e.args FROM events e
                             WHERE e.chain_id = $1 AND e.contract = 'ConsentRegistry' AND e.entity = k.e
                               AND e.event_name = 'ConsentRevoked'
                             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) r ON true
               LEFT JOIN LATERAL (SELECT e.block_number, e.log_index, e.block_time, e.args FROM events e
                             WHERE e.chain_id = $1 AND e.contract = 'ConsentRegistry' AND e.entity = k.e
                               AND e.event_name = 'EmergencyAccessOpened'
                             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) eo ON true
               LEFT JOIN LATERAL (SELECT e.block_number, e.log_index, e.block_time, e.args FROM events e
                             WHERE e.chain_id = $1 AND e.contract = 'ConsentRegistry' AND e.entity = k.e
                               AND e.event_name = 'EmergencyAccessEnded'
                             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) ee ON true
               CROSS JOIN LATERAL (SELECT
                   g.block_number IS NOT NULL
                     AND (r.block_number IS NULL OR (g.block_number, g.log_index) > (r.block_number, r.log_index))
                     AS active,
                   eo.block_number IS NOT NULL
                     AND (ee.block_number IS NULL OR (eo.block_number, eo.log_index) > (ee.block_number, ee.log_index))
                     AS emergency) x
               WHERE COALESCE(g.block_number, r.block_number, eo.block_number, ee.block_number) IS NOT NULL"#,
            chain_id,
            &keys
        )
        .execute(&mut *conn)
        .await?;
    }

    if !t.episodes.is_empty() {
        let keys: Vec<i64> = t.episodes.iter().copied().collect();
        sqlx::query!(
            "DELETE FROM episodes WHERE chain_id = $1 AND episode_id = ANY($2::int8[])",
            chain_id,
            &keys
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query!(
            r#"INSERT INTO episodes (chain_id, episode_id, patient, opened_by, opened_at, opened_block, record_count, head,
                                     closed, closed_by, closed_at, closed_block, updated_block)
               SELECT $1, k.ep, ml_bytes(o.args->>'patient'), ml_bytes(o.args->>'openedBy'), o.block_time, o.block_number,
                      COALESCE((a.args->>'index')::int8 + 1, 0),
                      COALESCE(ml_bytes(a.args->>'head'), decode(repeat('00', 32), 'hex')),
                      c.block_number IS NOT NULL, ml_bytes(c.args->>'closedBy'), c.block_time, c.block_number,
                      GREATEST(o.block_number, a.block_number, c.block_number)
               FROM UNNEST($2::int8[]) AS k(ep)
               JOIN LATERAL (SELECT e.block_number, e.block_time, e.args FROM events e
                             WHERE e.chain_id = $1 AND e.episode_id = k.ep AND e.event_name = 'EpisodeOpened'
                             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) o ON true
               LEFT JOIN LATERAL (SELECT e.block_number, e.args FROM events e
                             WHERE e.chain_id = $1 AND e.episode_id = k.ep AND e.event_name = 'RecordAnchored'
                             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) a ON true
               LEFT JOIN LATERAL (SELECT e.block_number, e.block_time, e.args FROM events e
                             WHERE e.chain_id = $1 AND e.episode_id = k.ep AND e.event_name = 'EpisodeClosed'
                             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) c ON true"#,
            chain_id,
            &keys
        )
        .execute(&mut *conn)
        .await?;
    }

    if !t.records.is_empty() {
        let mut eps = Vec::with_capacity(t.records.len());
        let mut ixs = Vec::with_capacity(t.records.len());
        let mut keys = Vec::with_capacity(t.records.len());
        for k in &t.records {
            let (ep, ix) = k.split_at(8);
            eps.push(i64::from_be_bytes(ep.try_into().unwrap_or_default()));
            ixs.push(i64::from_be_bytes(ix.try_into().unwrap_or_default()));
            keys.push(k.clone());
        }
        sqlx::query!(
            "DELETE FROM records r USING UNNEST($2::int8[], $3::int8[]) AS k(ep, ix)
             WHERE r.chain_id = $1 AND r.episode_id = k.ep AND r.record_index = k.ix",
            chain_id,
            &eps,
            &ixs
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query!(
            r#"INSERT INTO records (chain_id, episode_id, record_index, patient, author, content_hash, pointer_hash, head,
                                    hidden, anchored_block, anchored_at, tx_hash, visibility_changed_at)
               SELECT $1, k.ep, k.ix, ml_bytes(a.args->>'patient'), ml_bytes(a.args->>'author'),
                      ml_bytes(a.args->>'contentHash'), ml_bytes(a.args->>'pointerHash'), ml_bytes(a.args->>'head'),
                      COALESCE((v.args->>'hidden')::boolean, false), a.block_number, a.block_time, a.tx_hash,
                      v.block_time
               FROM UNNEST($2::int8[], $3::int8[], $4::bytea[]) AS k(ep, ix, e)
               JOIN LATERAL (SELECT e.block_number, e.block_time, e.tx_hash, e.args FROM events e
                             WHERE e.chain_id = $1 AND e.contract = 'RecordAnchors' AND e.entity = k.e
                               AND e.event_name = 'RecordAnchored'
                             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) a ON true
               LEFT JOIN LATERAL (SELECT e.block_time, e.args FROM events e
                             WHERE e.chain_id = $1 AND e.contract = 'RecordAnchors' AND e.entity = k.e
                               AND e.event_name = 'RecordVisibilityChanged'
                             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) v ON true"#,
            chain_id,
            &eps,
            &ixs,
            &keys
        )
        .execute(&mut *conn)
        .await?;
    }

    if !t.prescriptions.is_empty() {
        let keys: Vec<Vec<u8>> = t.prescriptions.iter().cloned().collect();
        sqlx::query!(
            "DELETE FROM prescriptions WHERE chain_id = $1 AND rx_id = ANY($2::bytea[])",
            chain_id,
            &keys
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query!(
            r#"INSERT INTO prescriptions (chain_id, rx_id, patient, prescriber, content_hash, issued_pharmacy, pharmacy,
                                          fills, quantity_per_fill, earliest_fill_at, valid_until,
                                          min_fill_interval_secs, schedule, nonce, relayer, relayed, issued_block,
                                          issued_at, issued_tx, fills_used, quantity_dispensed, dispense_count,
                                          last_dispensed_at, last_dispense_pharmacy, cancelled, cancel_reason,
                                          cancelled_at, updated_block)
               SELECT $1, k.rx, ml_bytes(i.args->>'patient'), ml_bytes(i.args->>'prescriber'),
                      ml_bytes(i.args->>'contentHash'), ml_address_or_null(i.args->>'pharmacy'),
                      CASE WHEN pc.block_number IS NULL THEN ml_address_or_null(i.args->>'pharmacy')
                           ELSE ml_address_or_null(pc.args->>'pharmacy') END,
                      (i.args->>'fills')::int2, (i.args->>'quantityPerFill')::int8,
                      ml_time(i.args->>'earliestFillAt'), ml_time(i.args->>'validUntil'),
                      (i.args->>'minFillInterval')::int8, (i.args->>'schedule')::int2, (i.args->>'nonce')::numeric,
                      ml_bytes(i.args->>'relayer'), (i.args->>'relayer') <> (i.args->>'prescriber'),
                      i.block_number, i.block_time, i.tx_hash,
                      COALESCE((d.args->>'fillNumber')::int2, 0::int2),
                      COALESCE((d.args->>'totalDispensed')::numeric, 0), dc.n, d.block_time,
                      ml_bytes(d.args->>'pharmacy'),
                      c.block_number IS NOT NULL, (c.args->>'reasonCode')::int4, c.block_time,
                      GREATEST(i.block_number, pc.block_number, d.block_number, c.block_number)
               FROM UNNEST($2::bytea[]) AS k(rx)
               JOIN LATERAL (SELECT e.block_number, e.block_time, e.tx_hash, e.args FROM events e
                             WHERE e.chain_id = $1 AND e.contract = 'Prescriptions' AND e.entity = k.rx
                               AND e.event_name = 'PrescriptionIssued'
                             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) i ON true
               LEFT JOIN LATERAL (SELECT e.block_number, e.args FROM events e
                             WHERE e.chain_id = $1 AND e.contract = 'Prescriptions' AND e.entity = k.rx
                               AND e.event_name = 'PharmacyChanged'
                             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) pc ON true
               LEFT JOIN LATERAL (SELECT e.block_number, e.block_time, e.args FROM events e
                             WHERE e.chain_id = $1 AND e.contract = 'Prescriptions' AND e.entity = k.rx
                               AND e.event_name = 'PrescriptionDispensed'
                             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) d ON true
               LEFT JOIN LATERAL (SELECT e.block_number, e.block_time, e.args FROM events e
                             WHERE e.chain_id = $1 AND e.contract = 'Prescriptions' AND e.entity = k.rx
                               AND e.event_name = 'PrescriptionCancelled'
                             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) c ON true
               CROSS JOIN LATERAL (SELECT count(*) AS n FROM events e
                             WHERE e.chain_id = $1 AND e.contract = 'Prescriptions' AND e.entity = k.rx
                               AND e.event_name = 'PrescriptionDispensed') dc"#,
            chain_id,
            &keys
        )
        .execute(&mut *conn)
        .await?;
    }

    if !t.roles.is_empty() {
        let keys: Vec<Vec<u8>> = t.roles.iter().cloned().collect();
        sqlx::query!(
            "DELETE FROM role_members m USING UNNEST($2::bytea[]) AS k(e)
             WHERE m.chain_id = $1 AND m.role = substring(k.e FROM 1 FOR 32) AND m.account = substring(k.e FROM 33 FOR 20)",
            chain_id,
            &keys
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query!(
            r#"INSERT INTO role_members (chain_id, contract, role, account, active, changed_by, updated_block, updated_at)
               SELECT $1, l.address, substring(k.e FROM 1 FOR 32), substring(k.e FROM 33 FOR 20),
                      l.event_name = 'RoleGranted', ml_bytes(l.args->>'sender'), l.block_number, l.block_time
               FROM UNNEST($2::bytea[]) AS k(e)
               JOIN LATERAL (SELECT e.address, e.event_name, e.args, e.block_number, e.block_time FROM events e
                             WHERE e.chain_id = $1 AND e.contract = 'CredentialRegistry' AND e.entity = k.e
                               AND e.event_name IN ('RoleGranted', 'RoleRevoked')
                             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) l ON true"#,
            chain_id,
            &keys
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
