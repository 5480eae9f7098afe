//! The access rule, over plain rows of the indexer's tables.
//!
//! [`decide`] is a pure function of what the index shows as of its latest block: the caller's consent row
//! from the patient, the caller's credential, the latest indexed block's time and the document's anchor
//! state. [`ConsentState`] reads those rows and caches them per version of the index (the checkpoint's
//! block number and hash): every request reads the checkpoint, so a revocation the indexer has committed
//! is effective for the very next request, and a cached row is only used under the exact version it was
//! read at. A database that does not answer, or an index without a checkpoint, refuses with 503: no
//! decision is taken on stale or unknown state.

use crate::error::{Denial, VaultError};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

pub use medledger_core::consent::scope;
use medledger_core::consent::{Consent, Status};
pub use medledger_core::dispense::Credential;

/// The caller's `consents` row for a patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRow {
    /// Scope bits of the standing grant (0 when none or revoked).
    pub scopes: i16,
    /// When the grant expires (`None`: never).
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether the last grant was revoked.
    pub revoked: bool,
    /// Until when emergency access is open (`None`: not open, or ended early).
    pub emergency_until: Option<DateTime<Utc>>,
    /// The block of the row's last change.
    pub updated_block: i64,
}

impl ConsentRow {
    /// The consent as `medledger-core`'s rule sees it.
    pub fn consent(&self) -> Consent {
        Consent {
            scopes: u8::try_from(self.scopes).unwrap_or(0),
            expires_at: self.expires_at,
            revoked: self.revoked,
            emergency_until: self.emergency_until,
        }
    }
}

/// What is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read a document or its metadata, or list them.
    Read,
    /// Upload a document into one of the patient's episodes.
    Write,
}

/// Why a request was allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The caller is the patient.
    Patient,
    /// A current grant with the needed scope.
    Grant,
    /// Open emergency access.
    Emergency,
}

impl Basis {
    /// The reason recorded in the access log.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::Grant => "grant",
            Self::Emergency => "emergency",
        }
    }
}

/// The document a read is about (`None` for listings and uploads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentFacts {
    /// Whether the indexer has its matching `RecordAnchored` event.
    pub anchored: bool,
    /// Whether the patient hid the anchored record.
    pub hidden: bool,
    /// Whether the caller uploaded it.
    pub uploaded_by_caller: bool,
}

/// Everything [`decide`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The caller is the patient.
    pub is_patient: bool,
    /// The caller's consent row from the patient, if any.
    pub consent: Option<&'a ConsentRow>,
    /// The caller's credential (kind, status, expiry), if the caller has one.
    pub credential: Option<&'a Credential>,
    /// The latest indexed block's time.
    pub as_of: DateTime<Utc>,
    /// The document, for reads of one.
    pub document: Option<DocumentFacts>,
}

/// The rule. The patient always; anyone else needs, as of the latest indexed block, what
/// `medledger-core`'s consent rule (the contract's `hasScope`) allows for the scope — a standing grant in
/// force with READ for reads and WRITE for uploads, or, for reads, open emergency access with the caller's
/// credential an active prescriber's then (kind, status, and before its expiry: a credential expired at
/// that time ends emergency reads, [`Denial::EmergencyCredential`]) — and no suspended or revoked
/// credential. Grantees never see hidden records, nor pending ones they did not upload.
pub fn decide(action: Action, f: &Facts<'_>) -> Result<Basis, Denial> {
    if f.is_patient {
        return Ok(Basis::Patient);
    }
    match f.credential.map(|c| c.status.as_str()) {
        Some("suspended") => return Err(Denial::Credential("suspended")),
        Some("revoked") => return Err(Denial::Credential("revoked")),
        _ => {}
    }
    let consent = f.consent.ok_or(Denial::NoGrant)?.consent();
    let (bit, name) = match action {
        Action::Read => (scope::READ, "READ"),
        Action::Write => (scope::WRITE, "WRITE"),
    };
    let t = f.as_of;
    let basis = if consent.grant_active(t) && consent.scopes & bit == bit {
        Basis::Grant
    } else if consent.allows(bit, t, f.credential) {
        Basis::Emergency
    } else if bit == scope::READ && consent.emergency_open(t) {
        // Open, but the chain's `hasScope` also requires `isActive(caller, Prescriber)`.
        return Err(Denial::EmergencyCredential(match f.credential {
            None => "none",
            Some(c) if c.kind != "prescriber" => "not a prescriber's",
            Some(c) if c.status != "active" => "not active",
            Some(_) => "expired",
        }));
    } else {
        return Err(match consent.status_at(t) {
            Status::Active => Denial::MissingScope(name),
            Status::Expired => Denial::Expired,
            Status::Revoked => Denial::Revoked,
            Status::Emergency | Status::None => Denial::NoGrant,
        });
    };
    if let Some(doc) = f.document {
        if doc.hidden {
            return Err(Denial::Hidden);
        }
        if !doc.anchored && !doc.uploaded_by_caller {
            return Err(Denial::Pending);
        }
    }
    Ok(basis)
}

/// A version of the index: the checkpoint's block number and hash, and that block's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexVersion {
    /// The latest indexed block.
    pub number: i64,
    /// Its hash.
    pub hash: Vec<u8>,
    /// Its timestamp: the "now" of every decision.
    pub time: DateTime<Utc>,
}

/// One caller's rows as of a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerState {
    /// The caller's consent row from the patient.
    pub consent: Option<ConsentRow>,
    /// The caller's credential (kind, status, expiry, schedules).
    pub credential: Option<Credential>,
}

/// Most (patient, caller) pairs cached per version; when full the map starts over.
const MAX_PAIRS: usize = 65_536;

struct Entry {
    version: IndexVersion,
    pairs: HashMap<([u8; 20], [u8; 20]), Arc<CallerState>>,
}

/// Reads the rule's rows from the indexer's tables, cached per indexed block.
#[derive(Clone)]
pub struct ConsentState {
    pool: PgPool,
    chain_id: i64,
    entry: Arc<Mutex<Option<Entry>>>,
}

impl std::fmt::Debug for ConsentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsentState").field("chain_id", &self.chain_id).finish()
    }
}

impl ConsentState {
    /// Reads chain `chain_id`'s index through `pool`.
    pub fn new(pool: PgPool, chain_id: i64) -> Self {
        Self { pool, chain_id, entry: Arc::new(Mutex::new(None)) }
    }

    /// The current version of the index; 503 when the indexer has no checkpoint yet.
    pub async fn version(&self) -> Result<IndexVersion, VaultError> {
        let row = sqlx::query!(
            "SELECT c.block_number, c.block_hash, b.timestamp FROM checkpoints c
             JOIN blocks b ON b.chain_id = c.chain_id AND b.number = c.block_number
             WHERE c.chain_id = $1",
            self.chain_id
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(VaultError::db)?
        .map(|r| (r.block_number, r.block_hash, r.timestamp));
        let (number, hash, time) = row.ok_or_else(|| VaultError::Unavailable {
            what: "index",
            reason: "the indexer has not indexed a block of this chain yet".into(),
        })?;
        Ok(IndexVersion { number, hash, time })
    }

    /// The latest version of the index and the caller's rows for `patient` as of it. A cache hit costs the
    /// checkpoint read; a miss reads checkpoint, block time, consent and credential in one statement (one
    /// snapshot) and caches the rows under the version that statement saw.
    pub async fn load(
        &self,
        patient: [u8; 20],
        caller: [u8; 20],
    ) -> Result<(IndexVersion, Arc<CallerState>), VaultError> {
        let version = self.version().await?;
        if let Some(hit) = self.cached(&version, patient, caller) {
            return Ok((version, hit));
        }
        let r = sqlx::query!(
            r#"SELECT ck.block_number AS "number?", ck.block_hash AS "hash?", b.timestamp AS "time?",
                    c.scopes AS "scopes?", c.expires_at, c.revoked AS "revoked?", c.emergency_until,
                    c.updated_block AS "updated_block?", cr.kind AS "kind?", cr.status AS "status?",
                    cr.expires_at AS "credential_expires_at?", cr.schedules AS "schedules?"
             FROM (SELECT 1) one
             LEFT JOIN checkpoints ck ON ck.chain_id = $1
             LEFT JOIN blocks b ON b.chain_id = $1 AND b.number = ck.block_number
             LEFT JOIN consents c ON c.chain_id = $1 AND c.patient = $2 AND c.grantee = $3
             LEFT JOIN credentials cr ON cr.chain_id = $1 AND cr.account = $3"#,
            self.chain_id,
            patient.as_slice(),
            caller.as_slice()
        )
        .fetch_one(&self.pool)
        .await
        .map_err(VaultError::db)?;
        let row =
            (r.number, r.hash, r.time, r.scopes, r.expires_at, r.revoked, r.emergency_until, r.updated_block);
        let (number, hash, time, scopes, expires_at, revoked, emergency_until, updated_block) = row;
        let (Some(number), Some(hash), Some(time)) = (number, hash, time) else {
            return Err(VaultError::Unavailable { what: "index", reason: "no indexed block".into() });
        };
        let version = IndexVersion { number, hash, time };
        let consent = match (scopes, revoked, updated_block) {
            (Some(scopes), Some(revoked), Some(updated_block)) => {
                Some(ConsentRow { scopes, expires_at, revoked, emergency_until, updated_block })
            }
            _ => None,
        };
        let credential = match (r.kind, r.status, r.credential_expires_at, r.schedules) {
            (Some(kind), Some(status), Some(expires_at), Some(schedules)) => Some(Credential {
                kind,
                status,
                expires_at,
                // The registry's uint8 bit set; out of range holds no schedule (the vault does not use them).
                schedules: u8::try_from(schedules).unwrap_or(0),
            }),
            _ => None,
        };
        let state = Arc::new(CallerState { consent, credential });
        self.remember(&version, patient, caller, state.clone());
        Ok((version, state))
    }

    fn cached(
        &self,
        version: &IndexVersion,
        patient: [u8; 20],
        caller: [u8; 20],
    ) -> Option<Arc<CallerState>> {
        let entry = self.entry.lock().ok()?;
        let entry = entry.as_ref().filter(|e| e.version == *version)?;
        entry.pairs.get(&(patient, caller)).cloned()
    }

    fn remember(&self, version: &IndexVersion, patient: [u8; 20], caller: [u8; 20], state: Arc<CallerState>) {
        let Ok(mut slot) = self.entry.lock() else { return };
        let entry = match &mut *slot {
            Some(e) if e.version == *version => e,
            other => other.insert(Entry { version: version.clone(), pairs: HashMap::new() }),
        };
        if entry.pairs.len() >= MAX_PAIRS {
            entry.pairs.clear();
        }
        entry.pairs.insert((patient, caller), state);
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
