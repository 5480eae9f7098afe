//! The access log: an append-only, hash-chained record of every read, write and denial.
//!
//! Entry `n` stores `prev_hash` (entry `n-1`'s hash, 32 zero bytes for the first) and
//! `entry_hash = keccak256(prev_hash ‖ encode(entry))`, where `encode` is a fixed, length-prefixed encoding
//! of every column ([`LogEntry::encode`]). Appends are serialized by a transaction-scoped advisory lock, so
//! sequence numbers have no gaps. [`verify`] walks the chain and names the first entry that does not fit:
//! editing, deleting or inserting a row anywhere breaks the chain from there on, and a head anchored on chain
//! pins everything before it.

use crate::error::{IntegrityError, VaultError};
use alloy::primitives::{Keccak256, B256};
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{PgConnection, PgPool};

/// The advisory lock key serializing appends ("medledger vault log").
const APPEND_LOCK: i64 = 0x6d6c_7661_756c_746c;

/// What an entry says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// The signed-in caller (`None`: not signed in).
    pub actor: Option<[u8; 20]>,
    /// The patient whose data it concerns.
    pub patient: Option<[u8; 20]>,
    /// The document.
    pub document: Option<[u8; 16]>,
    /// `read`, `read_metadata`, `search`, `write` or `audit`.
    pub action: &'static str,
    /// `allowed`, `denied` or `failed`.
    pub outcome: &'static str,
    /// What allowed it (`patient`, `grant`, `emergency`) or the denial/failure code.
    pub reason: String,
    /// The block of the consent row that decided, if any.
    pub consent_block: Option<i64>,
    /// The latest indexed block at the decision.
    pub index_block: Option<i64>,
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// 1, 2, … without gaps.
    pub seq: i64,
    /// When (microseconds).
    pub at: DateTime<Utc>,
    /// The fields.
    pub entry: OwnedEntry,
    /// The previous entry's hash.
    pub prev_hash: B256,
    /// This entry's hash.
    pub entry_hash: B256,
}

/// The fields of a stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedEntry {
    /// See [`NewEntry::actor`].
    pub actor: Option<Vec<u8>>,
    /// See [`NewEntry::patient`].
    pub patient: Option<Vec<u8>>,
    /// See [`NewEntry::document`].
    pub document: Option<Vec<u8>>,
    /// See [`NewEntry::action`].
    pub action: String,
    /// See [`NewEntry::outcome`].
    pub outcome: String,
    /// See [`NewEntry::reason`].
    pub reason: String,
    /// See [`NewEntry::consent_block`].
    pub consent_block: Option<i64>,
    /// See [`NewEntry::index_block`].
    pub index_block: Option<i64>,
}

impl From<&NewEntry> for OwnedEntry {
    fn from(e: &NewEntry) -> Self {
        Self {
            actor: e.actor.map(|a| a.to_vec()),
            patient: e.patient.map(|a| a.to_vec()),
            document: e.document.map(|a| a.to_vec()),
            action: e.action.to_owned(),
            outcome: e.outcome.to_owned(),
            reason: e.reason.clone(),
            consent_block: e.consent_block,
            index_block: e.index_block,
        }
    }
}

fn put_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => out.push(0),
        Some(b) => {
            out.push(1);
            out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            out.extend_from_slice(b);
        }
    }
}

fn put_i64(out: &mut Vec<u8>, v: Option<i64>) {
    match v {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

impl LogEntry {
    /// The canonical encoding of the entry's columns (all but the hashes).
    pub fn encode(seq: i64, at: DateTime<Utc>, e: &OwnedEntry) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        out.extend_from_slice(b"medledger-vault/log/v1");
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&at.timestamp_micros().to_be_bytes());
        put_bytes(&mut out, e.actor.as_deref());
        put_bytes(&mut out, e.patient.as_deref());
        put_bytes(&mut out, e.document.as_deref());
        put_bytes(&mut out, Some(e.action.as_bytes()));
        put_bytes(&mut out, Some(e.outcome.as_bytes()));
        put_bytes(&mut out, Some(e.reason.as_bytes()));
        put_i64(&mut out, e.consent_block);
        put_i64(&mut out, e.index_block);
        out
    }

    /// `keccak256(prev ‖ encode(…))`.
    pub fn hash(prev: B256, seq: i64, at: DateTime<Utc>, e: &OwnedEntry) -> B256 {
        let mut h = Keccak256::new();
        h.update(prev);
        h.update(Self::encode(seq, at, e));
        h.finalize()
    }
}

/// Appends an entry inside the caller's transaction (so it commits or rolls back with what it records).
pub async fn append_in(conn: &mut PgConnection, new: &NewEntry) -> Result<LogEntry, VaultError> {
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", APPEND_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(VaultError::db)?;
    let last = sqlx::query!("SELECT seq, entry_hash FROM vault_access_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await
        .map_err(VaultError::db)?
        .map(|r| (r.seq, r.entry_hash));
    let (seq, prev) = match last {
        Some((seq, hash)) => (seq + 1, B256::try_from(hash.as_slice()).unwrap_or_default()),
        None => (1, B256::ZERO),
    };
    let at = Utc::now().trunc_subsecs(6);
    let entry = OwnedEntry::from(new);
    let hash = LogEntry::hash(prev, seq, at, &entry);
    sqlx::query!(
        "INSERT INTO vault_access_log (seq, at, actor, patient, document, action, outcome, reason,
             consent_block, index_block, prev_hash, entry_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        seq,
        at,
        entry.actor.as_deref(),
        entry.patient.as_deref(),
        entry.document.as_deref(),
        entry.action,
        entry.outcome,
        entry.reason,
        entry.consent_block,
        entry.index_block,
        prev.as_slice(),
        hash.as_slice()
    )
    .execute(&mut *conn)
    .await
    .map_err(VaultError::db)?;
    Ok(LogEntry { seq, at, entry, prev_hash: prev, entry_hash: hash })
}

/// Appends an entry in its own transaction.
pub async fn append(pool: &PgPool, new: &NewEntry) -> Result<LogEntry, VaultError> {
    let mut tx = pool.begin().await.map_err(VaultError::db)?;
    let entry = append_in(&mut tx, new).await?;
    tx.commit().await.map_err(VaultError::db)?;
    Ok(entry)
}

/// A row of `vault_access_log` as `query_as!` reads it.
struct LogRow {
    seq: i64,
    at: DateTime<Utc>,
    actor: Option<Vec<u8>>,
    patient: Option<Vec<u8>>,
    document: Option<Vec<u8>>,
    action: String,
    outcome: String,
    reason: String,
    consent_block: Option<i64>,
    index_block: Option<i64>,
    prev_hash: Vec<u8>,
    entry_hash: Vec<u8>,
}

impl From<LogRow> for LogEntry {
    fn from(r: LogRow) -> Self {
        // A stored hash of the wrong length reads as zero: it then fails verification.
        let hash = |v: &[u8]| B256::try_from(v).unwrap_or_default();
        Self {
            seq: r.seq,
            at: r.at,
            entry: OwnedEntry {
                actor: r.actor,
                patient: r.patient,
                document: r.document,
                action: r.action,
                outcome: r.outcome,
                reason: r.reason,
                consent_block: r.consent_block,
                index_block: r.index_block,
            },
            prev_hash: hash(&r.prev_hash),
            entry_hash: hash(&r.entry_hash),
        }
    }
}

/// The entries about `patient`, newest first (only those whose actor is `actor`, when given).
pub async fn entries_for(
    pool: &PgPool,
    patient: [u8; 20],
    actor: Option<[u8; 20]>,
    limit: i64,
) -> Result<Vec<LogEntry>, VaultError> {
    let rows = sqlx::query_as!(
        LogRow,
        "SELECT seq, at, actor, patient, document, action, outcome, reason, consent_block, index_block,
                prev_hash, entry_hash
         FROM vault_access_log WHERE patient = $1 AND ($2::bytea IS NULL OR actor = $2)
         ORDER BY seq DESC LIMIT $3",
        patient.as_slice(),
        actor.as_ref().map(<[u8; 20]>::as_slice),
        limit
    )
    .fetch_all(pool)
    .await
    .map_err(VaultError::db)?;
    Ok(rows.into_iter().map(LogEntry::from).collect())
}

/// What [`verify`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Entries checked.
    pub entries: i64,
    /// The last entry's hash (zero for an empty log).
    pub head: B256,
}

/// Walks the whole chain in order; the first entry that does not fit is an [`IntegrityError::LogChain`].
pub async fn verify(pool: &PgPool) -> Result<Verified, VaultError> {
    use futures::TryStreamExt;
    let mut rows = sqlx::query_as!(
        LogRow,
        "SELECT seq, at, actor, patient, document, action, outcome, reason, consent_block, index_block,
                prev_hash, entry_hash
         FROM vault_access_log ORDER BY seq"
    )
    .fetch(pool);
    let (mut expected_seq, mut prev) = (1i64, B256::ZERO);
    while let Some(row) = rows.try_next().await.map_err(VaultError::db)? {
        let e = LogEntry::from(row);
        let bad = |reason| VaultError::Integrity(IntegrityError::LogChain { seq: e.seq, reason });
        if e.seq != expected_seq {
            return Err(VaultError::Integrity(IntegrityError::LogChain {
                seq: expected_seq,
                reason: "missing entry (sequence gap)",
            }));
        }
        if e.prev_hash != prev {
            return Err(bad("its prev_hash is not the previous entry's hash"));
        }
        if LogEntry::hash(prev, e.seq, e.at, &e.entry) != e.entry_hash {
            return Err(bad("its contents do not match its hash"));
        }
        prev = e.entry_hash;
        expected_seq += 1;
    }
    Ok(Verified { entries: expected_seq - 1, head: prev })
}
