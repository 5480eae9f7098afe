//! The projections, folded in Rust: the current row of each entity (credential, consent, episode, record,
//! prescription, role membership) is the fold of its events in (block, log index) order, and the history
//! tables (credential_history, consent_history, dispenses) hold one row per event.
//!
//! A batch loads the current rows of the entities its events touch, applies its events ([`Fold::apply`])
//! and writes the results back in bulk. A reorg deletes the rows of the entities its reverted events
//! touched and folds them again, from nothing, over the events that remain. Both go through the same
//! [`Fold::apply`]: the one definition of every projection.

use crate::{copy::CopyBuf, decode::Args, error::IndexerError, store::stage};
use alloy::dyn_abi::DynSolValue;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use std::{
    collections::{BTreeMap, HashMap},
    hash::Hash,
};

/// One event as the projections see it: from a fresh batch, or read back from `events` after a reorg.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ev<'a> {
    pub(crate) block_number: i64,
    pub(crate) log_index: i32,
    pub(crate) block_time: DateTime<Utc>,
    pub(crate) tx_hash: &'a [u8],
    pub(crate) address: &'a [u8],
    pub(crate) contract: &'a str,
    pub(crate) event_name: &'a str,
    pub(crate) entity: &'a [u8],
    pub(crate) episode_id: Option<i64>,
    pub(crate) credential_id: Option<i64>,
    pub(crate) rx_id: Option<&'a [u8]>,
    pub(crate) args: EvArgs<'a>,
}

/// An event's arguments: as decoded from a fresh log, or as stored in `events.args` (JSON, see
/// [`Args::write_json`]) when a reorg reads events back. Both read the same through [`Ev`]'s accessors.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EvArgs<'a> {
    Decoded(&'a Args),
    Stored(&'a Value),
}

/// One argument, in either form.
enum Arg<'a> {
    Decoded(&'a DynSolValue),
    Stored(&'a Value),
}

/// The projection an event belongs to, with the key of its row (borrowed from the event: classifying an
/// event allocates nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key<'a> {
    Credential(&'a [u8]),
    Consent(&'a [u8]),
    /// Episode events (opened, closed) and record events of an episode both move the episode's row.
    Episode(i64, Option<&'a [u8]>),
    Prescription(&'a [u8]),
    Role(&'a [u8]),
}

/// The projection rows an event moves (none for e.g. `NoncesInvalidated` or `RoleAdminChanged`).
fn key_of<'a>(contract: &str, event: &str, entity: &'a [u8], episode_id: Option<i64>) -> Option<Key<'a>> {
    if entity.is_empty() {
        return None;
    }
    match contract {
        "CredentialRegistry" if event == "RoleGranted" || event == "RoleRevoked" => Some(Key::Role(entity)),
        "CredentialRegistry" if event.starts_with("Credential") => Some(Key::Credential(entity)),
        "ConsentRegistry" => Some(Key::Consent(entity)),
        "RecordAnchors" => {
            let record = (entity.len() == 16).then_some(entity);
            episode_id.map(|ep| Key::Episode(ep, record))
        }
        "Prescriptions" => Some(Key::Prescription(entity)),
        _ => None,
    }
}

fn time(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

impl Ev<'_> {
    fn bad(&self, name: &str) -> IndexerError {
        IndexerError::Corrupt(format!(
            "{}.{} at block {} log {}: argument {name} missing or malformed",
            self.contract, self.event_name, self.block_number, self.log_index
        ))
    }
    fn arg(&self, name: &str) -> Option<Arg<'_>> {
        match self.args {
            EvArgs::Decoded(a) => a.get(name).map(Arg::Decoded),
            EvArgs::Stored(v) => v.get(name).filter(|v| !v.is_null()).map(Arg::Stored),
        }
    }
    /// A hex argument (address, bytesN) as bytes.
    fn bytes(&self, name: &str) -> Result<Vec<u8>, IndexerError> {
        self.opt_bytes(name)?.ok_or_else(|| self.bad(name))
    }
    fn opt_bytes(&self, name: &str) -> Result<Option<Vec<u8>>, IndexerError> {
        self.arg(name)
            .map(|v| match v {
                Arg::Decoded(DynSolValue::Address(a)) => Some(a.to_vec()),
                Arg::Decoded(DynSolValue::FixedBytes(w, size)) => Some(w[..*size].to_vec()),
                Arg::Decoded(DynSolValue::Bytes(b)) => Some(b.clone()),
                Arg::Decoded(_) => None,
                Arg::Stored(v) => {
                    v.as_str().and_then(|s| s.strip_prefix("0x")).and_then(|h| alloy::hex::decode(h).ok())
                }
            })
            .map(|b| b.ok_or_else(|| self.bad(name)))
            .transpose()
    }
    /// An address argument; `None` for the zero address (e.g. "any pharmacy").
    fn address_or_none(&self, name: &str) -> Result<Option<Vec<u8>>, IndexerError> {
        Ok(Some(self.bytes(name)?).filter(|a| a.iter().any(|b| *b != 0)))
    }
    fn int(&self, name: &str) -> Result<i64, IndexerError> {
        self.opt_int(name)?.ok_or_else(|| self.bad(name))
    }
    /// An integer argument of up to 64 bits that fits an `i64` (as its JSON form is a number then).
    fn opt_int(&self, name: &str) -> Result<Option<i64>, IndexerError> {
        self.arg(name)
            .map(|v| match v {
                Arg::Decoded(DynSolValue::Uint(u, bits)) if *bits <= 64 => i64::try_from(*u).ok(),
                Arg::Decoded(DynSolValue::Int(i, bits)) if *bits <= 64 => i64::try_from(*i).ok(),
                Arg::Decoded(_) => None,
                Arg::Stored(v) => v.as_i64(),
            })
            .map(|i| i.ok_or_else(|| self.bad(name)))
            .transpose()
    }
    fn small(&self, name: &str) -> Result<i16, IndexerError> {
        i16::try_from(self.int(name)?).map_err(|_| self.bad(name))
    }
    fn opt_small(&self, name: &str) -> Result<Option<i16>, IndexerError> {
        self.opt_int(name)?.map(|v| i16::try_from(v).map_err(|_| self.bad(name))).transpose()
    }
    fn opt_int4(&self, name: &str) -> Result<Option<i32>, IndexerError> {
        self.opt_int(name)?.map(|v| i32::try_from(v).map_err(|_| self.bad(name))).transpose()
    }
    fn flag(&self, name: &str) -> Result<bool, IndexerError> {
        self.opt_flag(name)?.ok_or_else(|| self.bad(name))
    }
    fn opt_flag(&self, name: &str) -> Result<Option<bool>, IndexerError> {
        self.arg(name)
            .map(|v| match v {
                Arg::Decoded(DynSolValue::Bool(b)) => Some(*b),
                Arg::Decoded(_) => None,
                Arg::Stored(v) => v.as_bool(),
            })
            .map(|b| b.ok_or_else(|| self.bad(name)))
            .transpose()
    }
    fn time(&self, name: &str) -> Result<DateTime<Utc>, IndexerError> {
        Ok(time(self.int(name)?))
    }
    fn opt_time(&self, name: &str) -> Result<Option<DateTime<Utc>>, IndexerError> {
        Ok(self.opt_int(name)?.map(time))
    }
    /// An unsigned integer of any width as decimal text (`numeric` columns).
    fn decimal(&self, name: &str) -> Result<String, IndexerError> {
        match self.arg(name) {
            Some(Arg::Decoded(DynSolValue::Uint(u, _))) => Ok(u.to_string()),
            Some(Arg::Decoded(DynSolValue::Int(i, _))) if !i.is_negative() => Ok(i.to_string()),
            Some(Arg::Stored(Value::Number(n))) if n.is_u64() => Ok(n.to_string()),
            Some(Arg::Stored(Value::String(s))) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(s.clone())
            }
            _ => Err(self.bad(name)),
        }
    }
}

/// A row of `credentials`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Credential {
    account: Vec<u8>,
    credential_id: i64,
    kind: String,
    status: String,
    status_reason: Option<i32>,
    license_hash: Vec<u8>,
    jurisdiction: Vec<u8>,
    expires_at: DateTime<Utc>,
    schedules: i16,
    registered_block: i64,
    registered_at: DateTime<Utc>,
    updated_block: i64,
    updated_at: DateTime<Utc>,
}

/// A row of `consents`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Consent {
    patient: Vec<u8>,
    grantee: Vec<u8>,
    scopes: i16,
    expires_at: Option<DateTime<Utc>>,
    granted_at: Option<DateTime<Utc>>,
    granted_block: Option<i64>,
    granted_relayed: Option<bool>,
    revoked: bool,
    revoked_at: Option<DateTime<Utc>>,
    revoked_relayed: Option<bool>,
    emergency_until: Option<DateTime<Utc>>,
    emergency_reason: Option<i32>,
    emergency_opened_at: Option<DateTime<Utc>>,
    emergency_ended_at: Option<DateTime<Utc>>,
    emergency_ended_by: Option<Vec<u8>>,
    updated_block: i64,
}

/// A row of `episodes`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Episode {
    episode_id: i64,
    patient: Vec<u8>,
    opened_by: Vec<u8>,
    opened_at: DateTime<Utc>,
    opened_block: i64,
    record_count: i64,
    head: Vec<u8>,
    closed: bool,
    closed_by: Option<Vec<u8>>,
    closed_at: Option<DateTime<Utc>>,
    closed_block: Option<i64>,
    updated_block: i64,
}

/// A row of `records`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    episode_id: i64,
    record_index: i64,
    patient: Vec<u8>,
    author: Vec<u8>,
    content_hash: Vec<u8>,
    pointer_hash: Vec<u8>,
    head: Vec<u8>,
    hidden: bool,
    anchored_block: i64,
    anchored_at: DateTime<Utc>,
    tx_hash: Vec<u8>,
    visibility_changed_at: Option<DateTime<Utc>>,
}

/// A row of `prescriptions` (`numeric` columns as decimal text).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Prescription {
    rx_id: Vec<u8>,
    patient: Vec<u8>,
    prescriber: Vec<u8>,
    content_hash: Vec<u8>,
    issued_pharmacy: Option<Vec<u8>>,
    pharmacy: Option<Vec<u8>>,
    fills: i16,
    quantity_per_fill: i64,
    earliest_fill_at: DateTime<Utc>,
    valid_until: DateTime<Utc>,
    min_fill_interval_secs: i64,
    schedule: i16,
    nonce: String,
    relayer: Vec<u8>,
    relayed: bool,
    issued_block: i64,
    issued_at: DateTime<Utc>,
    issued_tx: Vec<u8>,
    fills_used: i16,
    quantity_dispensed: String,
    dispense_count: i64,
    last_dispensed_at: Option<DateTime<Utc>>,
    last_dispense_pharmacy: Option<Vec<u8>>,
    cancelled: bool,
    cancel_reason: Option<i32>,
    cancelled_at: Option<DateTime<Utc>>,
    updated_block: i64,
    days_supply: i32,
    date_written: DateTime<Utc>,
    long_term_care: bool,
    deadline: DateTime<Utc>,
    transferred: bool,
    cancelled_by: Option<String>,
    short_supply_until: Option<DateTime<Utc>>,
}

/// A row of `role_members` (keyed by role ‖ account).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Role {
    contract: Vec<u8>,
    role: Vec<u8>,
    account: Vec<u8>,
    active: bool,
    changed_by: Vec<u8>,
    updated_block: i64,
    updated_at: DateTime<Utc>,
}

/// One row of `credential_history`.
#[derive(Debug)]
struct CredentialChange {
    block_number: i64,
    log_index: i32,
    account: Vec<u8>,
    credential_id: i64,
    change: &'static str,
    status: Option<&'static str>,
    expires_at: Option<DateTime<Utc>>,
    license_hash: Option<Vec<u8>>,
    schedules: Option<i16>,
    reason_code: Option<i32>,
    block_time: DateTime<Utc>,
    tx_hash: Vec<u8>,
}

/// One row of `consent_history`.
#[derive(Debug)]
struct ConsentChange {
    block_number: i64,
    log_index: i32,
    patient: Vec<u8>,
    grantee: Vec<u8>,
    action: &'static str,
    scopes: Option<i16>,
    expires_at: Option<DateTime<Utc>>,
    relayed: Option<bool>,
    reason_code: Option<i32>,
    ended_by: Option<Vec<u8>>,
    block_time: DateTime<Utc>,
    tx_hash: Vec<u8>,
}

/// One row of `dispenses`.
#[derive(Debug)]
struct Dispense {
    block_number: i64,
    log_index: i32,
    rx_id: Vec<u8>,
    pharmacy: Vec<u8>,
    fill_number: i16,
    quantity: i64,
    fill_dispensed: i64,
    total_dispensed: String,
    dispense_hash: Vec<u8>,
    block_time: DateTime<Utc>,
    tx_hash: Vec<u8>,
}

/// The touched entities' rows (`None`: no row yet, or deleted for a refold) and the keys of the rows stored
/// before the fold (deleted before the fold's rows are written).
#[derive(Debug, Default)]
pub(crate) struct Fold {
    credentials: BTreeMap<Vec<u8>, Option<Credential>>,
    consents: BTreeMap<Vec<u8>, Option<Consent>>,
    episodes: BTreeMap<i64, Option<Episode>>,
    records: BTreeMap<Vec<u8>, Option<Record>>,
    prescriptions: BTreeMap<Vec<u8>, Option<Prescription>>,
    roles: BTreeMap<Vec<u8>, Option<Role>>,
    stored: Stored,
}

/// A batch's history rows: one per credential change, consent change and dispense. Each is a function of
/// its event alone (no stored state), so they can be written as soon as the batch's events are.
#[derive(Debug, Default)]
pub(crate) struct History {
    credential: Vec<CredentialChange>,
    consent: Vec<ConsentChange>,
    dispenses: Vec<Dispense>,
}

/// Keys whose rows exist in the database and must go before the fold's rows are written.
#[derive(Debug, Default)]
struct Stored {
    credentials: Vec<Vec<u8>>,
    consents: Vec<Vec<u8>>,
    episodes: Vec<i64>,
    records: Vec<Vec<u8>>,
    prescriptions: Vec<Vec<u8>>,
    roles: Vec<Vec<u8>>,
}

/// The rows one backfill has written, by key, carried from batch to batch so that a batch need not read
/// back what the previous one wrote. Every entry equals the stored row (a batch's rows are absorbed once it
/// is written; an error ends the backfill and drops them). When `complete`, a key without an entry has no
/// row at all: the chain had no projection rows when the backfill began, and nothing was left out since.
#[derive(Debug, Default)]
pub(crate) struct Carried {
    credentials: HashMap<Vec<u8>, Credential>,
    consents: HashMap<Vec<u8>, Consent>,
    episodes: HashMap<i64, Episode>,
    records: HashMap<Vec<u8>, Record>,
    prescriptions: HashMap<Vec<u8>, Prescription>,
    roles: HashMap<Vec<u8>, Role>,
    complete: bool,
    capacity: usize,
}

impl Carried {
    /// Most rows carried (about 300 bytes each); past it, new keys are read back from the database again.
    const CAPACITY: usize = 2_000_000;

    /// An empty carry; `complete` if the chain has no projection rows yet.
    pub(crate) fn new(complete: bool) -> Self {
        Self { complete, capacity: Self::CAPACITY, ..Self::default() }
    }

    /// Rows carried.
    fn len(&self) -> usize {
        self.credentials.len()
            + self.consents.len()
            + self.episodes.len()
            + self.records.len()
            + self.prescriptions.len()
            + self.roles.len()
    }
}

/// Takes the carried rows of the touched keys (as if loaded: their stored rows are replaced) and returns the
/// keys that still have to be read from the database.
fn take_carried<K: Ord + Hash + Clone, R: Clone>(
    touched: &mut BTreeMap<K, Option<R>>,
    stored: &mut Vec<K>,
    carried: Option<&HashMap<K, R>>,
    complete: bool,
) -> Vec<K> {
    let Some(carried) = carried else { return touched.keys().cloned().collect() };
    let mut missing = Vec::new();
    for (k, row) in touched.iter_mut() {
        if let Some(r) = carried.get(k) {
            *row = Some(r.clone());
            stored.push(k.clone());
        } else if !complete {
            missing.push(k.clone());
        }
    }
    missing
}

/// Absorbs a written fold's rows into the carry. Keys already carried are always updated (so every entry
/// stays equal to its stored row); new ones only while there is room, else the carry is no longer complete.
fn carry<K: Ord + Hash, R>(
    rows: BTreeMap<K, Option<R>>,
    carried: &mut HashMap<K, R>,
    (room, complete): (&mut usize, &mut bool),
) {
    for (k, row) in rows {
        match row {
            Some(r) => {
                if carried.contains_key(&k) || *room > 0 {
                    if carried.insert(k, r).is_none() {
                        *room -= 1;
                    }
                } else {
                    *complete = false;
                }
            }
            None => {
                if carried.remove(&k).is_some() {
                    *room += 1;
                }
            }
        }
    }
}

impl Fold {
    /// Moves the fold's rows, written by now, into `c` for the next batch.
    pub(crate) fn carry_into(self, c: &mut Carried) {
        let mut room = c.capacity.saturating_sub(c.len());
        carry(self.credentials, &mut c.credentials, (&mut room, &mut c.complete));
        carry(self.consents, &mut c.consents, (&mut room, &mut c.complete));
        carry(self.episodes, &mut c.episodes, (&mut room, &mut c.complete));
        carry(self.records, &mut c.records, (&mut room, &mut c.complete));
        carry(self.prescriptions, &mut c.prescriptions, (&mut room, &mut c.complete));
        carry(self.roles, &mut c.roles, (&mut room, &mut c.complete));
    }

    /// Registers the row an event of `contract.event` on `entity` moves, so that loading and applying
    /// consider it.
    pub(crate) fn touch(&mut self, contract: &str, event: &str, entity: &[u8], episode_id: Option<i64>) {
        match key_of(contract, event, entity, episode_id) {
            Some(Key::Credential(k)) => {
                self.credentials.entry(k.to_vec()).or_default();
            }
            Some(Key::Consent(k)) => {
                self.consents.entry(k.to_vec()).or_default();
            }
            Some(Key::Episode(ep, record)) => {
                self.episodes.entry(ep).or_default();
                if let Some(r) = record {
                    self.records.entry(r.to_vec()).or_default();
                }
            }
            Some(Key::Prescription(k)) => {
                self.prescriptions.entry(k.to_vec()).or_default();
            }
            Some(Key::Role(k)) => {
                self.roles.entry(k.to_vec()).or_default();
            }
            None => {}
        }
    }

    /// Whether no projection row is touched.
    pub(crate) fn is_empty(&self) -> bool {
        self.credentials.is_empty()
            && self.consents.is_empty()
            && self.episodes.is_empty()
            && self.records.is_empty()
            && self.prescriptions.is_empty()
            && self.roles.is_empty()
    }

    /// Applies one event to the touched rows it moves. Events must come in (block, log index) order.
    pub(crate) fn apply(&mut self, e: &Ev<'_>) -> Result<(), IndexerError> {
        match key_of(e.contract, e.event_name, e.entity, e.episode_id) {
            Some(Key::Credential(k)) => {
                if let Some(row) = self.credentials.get_mut(k) {
                    fold_credential(row, e)?;
                }
            }
            Some(Key::Consent(k)) => {
                if let Some(row) = self.consents.get_mut(k) {
                    fold_consent(row, e)?;
                }
            }
            Some(Key::Episode(ep, record)) => {
                if let Some(row) = self.episodes.get_mut(&ep) {
                    fold_episode(row, ep, e)?;
                }
                if let Some(row) = record.and_then(|r| self.records.get_mut(r)) {
                    fold_record(row, e)?;
                }
            }
            Some(Key::Prescription(k)) => {
                if let Some(row) = self.prescriptions.get_mut(k) {
                    fold_prescription(row, e)?;
                }
            }
            Some(Key::Role(k)) => {
                if let Some(row) = self.roles.get_mut(k) {
                    fold_role(row, e)?;
                }
            }
            None => {}
        }
        Ok(())
    }
}

impl History {
    /// Records the history row of one event, if it has one.
    pub(crate) fn push(&mut self, e: &Ev<'_>) -> Result<(), IndexerError> {
        match key_of(e.contract, e.event_name, e.entity, e.episode_id) {
            Some(Key::Credential(_)) => self.credential.push(credential_change(e)?),
            Some(Key::Consent(_)) => self.consent.extend(consent_change(e)?),
            Some(Key::Prescription(_)) if e.event_name == "PrescriptionDispensed" => {
                self.dispenses.push(dispense(e)?);
            }
            _ => {}
        }
        Ok(())
    }

    /// Writes the history rows, one COPY per table.
    pub(crate) async fn write(&self, conn: &mut PgConnection, chain_id: i64) -> Result<(), IndexerError> {
        let mut clock = std::time::Instant::now();
        let mut b = CopyBuf::new(self.credential.len() * 200);
        for c in &self.credential {
            b.row(13);
            b.int8(chain_id);
            b.int8(c.block_number);
            b.int4(c.log_index);
            b.bytes(&c.account);
            b.int8(c.credential_id);
            b.text(c.change);
            b.opt(c.status, CopyBuf::text);
            b.opt(c.expires_at, CopyBuf::time);
            b.opt(c.license_hash.as_deref(), CopyBuf::bytes);
            b.opt(c.schedules, CopyBuf::int2);
            b.opt(c.reason_code, CopyBuf::int4);
            b.time(c.block_time);
            b.bytes(&c.tx_hash);
        }
        b.send(
            conn,
            "credential_history (chain_id, block_number, log_index, account, credential_id, change, status,
                                 expires_at, license_hash, schedules, reason_code, block_time, tx_hash)",
        )
        .await?;
        stage("credential_history", &mut clock);
        let mut b = CopyBuf::new(self.consent.len() * 200);
        for c in &self.consent {
            b.row(13);
            b.int8(chain_id);
            b.int8(c.block_number);
            b.int4(c.log_index);
            b.bytes(&c.patient);
            b.bytes(&c.grantee);
            b.text(c.action);
            b.opt(c.scopes, CopyBuf::int2);
            b.opt(c.expires_at, CopyBuf::time);
            b.opt(c.relayed, CopyBuf::bool);
            b.opt(c.reason_code, CopyBuf::int4);
            b.opt(c.ended_by.as_deref(), CopyBuf::bytes);
            b.time(c.block_time);
            b.bytes(&c.tx_hash);
        }
        b.send(
            conn,
            "consent_history (chain_id, block_number, log_index, patient, grantee, action, scopes, expires_at,
                              relayed, reason_code, ended_by, block_time, tx_hash)",
        )
        .await?;
        stage("consent_history", &mut clock);
        let mut b = CopyBuf::new(self.dispenses.len() * 220);
        for d in &self.dispenses {
            b.row(12);
            b.int8(chain_id);
            b.int8(d.block_number);
            b.int4(d.log_index);
            b.bytes(&d.rx_id);
            b.bytes(&d.pharmacy);
            b.int2(d.fill_number);
            b.int8(d.quantity);
            b.int8(d.fill_dispensed);
            b.numeric(&d.total_dispensed);
            b.bytes(&d.dispense_hash);
            b.time(d.block_time);
            b.bytes(&d.tx_hash);
        }
        b.send(
            conn,
            "dispenses (chain_id, block_number, log_index, rx_id, pharmacy, fill_number, quantity, fill_dispensed,
                        total_dispensed, dispense_hash, block_time, tx_hash)",
        )
        .await?;
        stage("dispenses", &mut clock);
        Ok(())
    }
}

fn credential_change(e: &Ev<'_>) -> Result<CredentialChange, IndexerError> {
    let (change, status) = match e.event_name {
        "CredentialRegistered" => ("registered", Some("active")),
        "CredentialRenewed" => ("renewed", None),
        "CredentialSchedulesChanged" => ("schedules_changed", None),
        "CredentialSuspended" => ("suspended", Some("suspended")),
        "CredentialReinstated" => ("reinstated", Some("active")),
        _ => ("revoked", Some("revoked")),
    };
    Ok(CredentialChange {
        block_number: e.block_number,
        log_index: e.log_index,
        account: e.bytes("account")?,
        credential_id: e.credential_id.ok_or_else(|| e.bad("id"))?,
        change,
        status,
        expires_at: e.opt_time("expiresAt")?,
        license_hash: e.opt_bytes("licenseHash")?,
        schedules: e.opt_small("schedules")?,
        reason_code: e.opt_int4("reasonCode")?,
        block_time: e.block_time,
        tx_hash: e.tx_hash.to_vec(),
    })
}

fn fold_credential(row: &mut Option<Credential>, e: &Ev<'_>) -> Result<(), IndexerError> {
    if e.event_name == "CredentialRegistered" {
        let kind = match e.int("kind")? {
            1 => "prescriber",
            2 => "pharmacy",
            _ => "unknown",
        };
        *row = Some(Credential {
            account: e.bytes("account")?,
            credential_id: e.credential_id.ok_or_else(|| e.bad("id"))?,
            kind: kind.to_owned(),
            status: "active".to_owned(),
            status_reason: None,
            license_hash: e.bytes("licenseHash")?,
            jurisdiction: e.bytes("jurisdiction")?,
            expires_at: e.time("expiresAt")?,
            schedules: e.small("schedules")?,
            registered_block: e.block_number,
            registered_at: e.block_time,
            updated_block: e.block_number,
            updated_at: e.block_time,
        });
        return Ok(());
    }
    // The registry emits nothing for an account before its registration.
    let Some(c) = row else { return Ok(()) };
    match e.event_name {
        "CredentialRenewed" => {
            c.license_hash = e.bytes("licenseHash")?;
            c.expires_at = e.time("expiresAt")?;
        }
        "CredentialSchedulesChanged" => c.schedules = e.small("schedules")?,
        "CredentialSuspended" => {
            c.status = "suspended".to_owned();
            c.status_reason = e.opt_int4("reasonCode")?;
        }
        "CredentialReinstated" => {
            c.status = "active".to_owned();
            c.status_reason = None;
        }
        "CredentialRevoked" => {
            c.status = "revoked".to_owned();
            c.status_reason = e.opt_int4("reasonCode")?;
        }
        _ => return Ok(()),
    }
    c.updated_block = e.block_number;
    c.updated_at = e.block_time;
    Ok(())
}

fn consent_change(e: &Ev<'_>) -> Result<Option<ConsentChange>, IndexerError> {
    let action = match e.event_name {
        "ConsentGranted" => "granted",
        "ConsentRevoked" => "revoked",
        "EmergencyAccessOpened" => "emergency_opened",
        "EmergencyAccessEnded" => "emergency_ended",
        _ => return Ok(None),
    };
    Ok(Some(ConsentChange {
        block_number: e.block_number,
        log_index: e.log_index,
        patient: e.bytes("patient")?,
        grantee: e.bytes("grantee")?,
        action,
        scopes: e.opt_small("scopes")?,
        expires_at: e.opt_time("expiresAt")?,
        relayed: e.opt_flag("relayed")?,
        reason_code: e.opt_int4("reasonCode")?,
        ended_by: e.opt_bytes("endedBy")?,
        block_time: e.block_time,
        tx_hash: e.tx_hash.to_vec(),
    }))
}

fn fold_consent(row: &mut Option<Consent>, e: &Ev<'_>) -> Result<(), IndexerError> {
    if !matches!(
        e.event_name,
        "ConsentGranted" | "ConsentRevoked" | "EmergencyAccessOpened" | "EmergencyAccessEnded"
    ) {
        return Ok(());
    }
    let c = match row {
        Some(c) => c,
        None => row.insert(Consent {
            patient: e.bytes("patient")?,
            grantee: e.bytes("grantee")?,
            scopes: 0,
            expires_at: None,
            granted_at: None,
            granted_block: None,
            granted_relayed: None,
            revoked: false,
            revoked_at: None,
            revoked_relayed: None,
            emergency_until: None,
            emergency_reason: None,
            emergency_opened_at: None,
            emergency_ended_at: None,
            emergency_ended_by: None,
            updated_block: e.block_number,
        }),
    };
    match e.event_name {
        "ConsentGranted" => {
            c.scopes = e.small("scopes")?;
            c.expires_at = Some(e.time("expiresAt")?);
            c.granted_at = Some(e.block_time);
            c.granted_block = Some(e.block_number);
            c.granted_relayed = Some(e.flag("relayed")?);
            c.revoked = false;
            c.revoked_at = None;
            c.revoked_relayed = None;
        }
        "ConsentRevoked" => {
            c.scopes = 0;
            c.expires_at = None;
            c.granted_at = None;
            c.granted_block = None;
            c.granted_relayed = None;
            c.revoked = true;
            c.revoked_at = Some(e.block_time);
            c.revoked_relayed = Some(e.flag("relayed")?);
        }
        "EmergencyAccessOpened" => {
            c.emergency_until = Some(e.time("expiresAt")?);
            c.emergency_reason = e.opt_int4("reasonCode")?;
            c.emergency_opened_at = Some(e.block_time);
            c.emergency_ended_at = None;
            c.emergency_ended_by = None;
        }
        _ => {
            c.emergency_until = None;
            c.emergency_reason = None;
            c.emergency_opened_at = None;
            c.emergency_ended_at = Some(e.block_time);
            c.emergency_ended_by = Some(e.bytes("endedBy")?);
        }
    }
    c.updated_block = c.updated_block.max(e.block_number);
    Ok(())
}

fn fold_episode(row: &mut Option<Episode>, episode_id: i64, e: &Ev<'_>) -> Result<(), IndexerError> {
    match (e.event_name, row.as_mut()) {
        ("EpisodeOpened", existing) => {
            let (patient, opened_by) = (e.bytes("patient")?, e.bytes("openedBy")?);
            match existing {
                Some(ep) => {
                    (ep.patient, ep.opened_by) = (patient, opened_by);
                    (ep.opened_at, ep.opened_block) = (e.block_time, e.block_number);
                    ep.updated_block = ep.updated_block.max(e.block_number);
                }
                None => {
                    *row = Some(Episode {
                        episode_id,
                        patient,
                        opened_by,
                        opened_at: e.block_time,
                        opened_block: e.block_number,
                        record_count: 0,
                        head: vec![0; 32],
                        closed: false,
                        closed_by: None,
                        closed_at: None,
                        closed_block: None,
                        updated_block: e.block_number,
                    });
                }
            }
        }
        ("RecordAnchored", Some(ep)) => {
            ep.record_count = e.int("index")? + 1;
            ep.head = e.bytes("head")?;
            ep.updated_block = ep.updated_block.max(e.block_number);
        }
        ("EpisodeClosed", Some(ep)) => {
            ep.closed = true;
            ep.closed_by = Some(e.bytes("closedBy")?);
            ep.closed_at = Some(e.block_time);
            ep.closed_block = Some(e.block_number);
            ep.updated_block = ep.updated_block.max(e.block_number);
        }
        // Visibility changes move records, not episodes; nothing precedes an episode's opening.
        _ => {}
    }
    Ok(())
}

fn fold_record(row: &mut Option<Record>, e: &Ev<'_>) -> Result<(), IndexerError> {
    match (e.event_name, row.as_mut()) {
        ("RecordAnchored", existing) => {
            let (hidden, visibility_changed_at) =
                existing.map_or((false, None), |r| (r.hidden, r.visibility_changed_at));
            *row = Some(Record {
                episode_id: e.episode_id.ok_or_else(|| e.bad("episodeId"))?,
                record_index: e.int("index")?,
                patient: e.bytes("patient")?,
                author: e.bytes("author")?,
                content_hash: e.bytes("contentHash")?,
                pointer_hash: e.bytes("pointerHash")?,
                head: e.bytes("head")?,
                hidden,
                anchored_block: e.block_number,
                anchored_at: e.block_time,
                tx_hash: e.tx_hash.to_vec(),
                visibility_changed_at,
            });
        }
        ("RecordVisibilityChanged", Some(r)) => {
            r.hidden = e.flag("hidden")?;
            r.visibility_changed_at = Some(e.block_time);
        }
        _ => {}
    }
    Ok(())
}

fn dispense(e: &Ev<'_>) -> Result<Dispense, IndexerError> {
    Ok(Dispense {
        block_number: e.block_number,
        log_index: e.log_index,
        rx_id: e.rx_id.ok_or_else(|| e.bad("rxId"))?.to_vec(),
        pharmacy: e.bytes("pharmacy")?,
        fill_number: e.small("fillNumber")?,
        quantity: e.int("quantity")?,
        fill_dispensed: e.int("fillDispensed")?,
        total_dispensed: e.decimal("totalDispensed")?,
        dispense_hash: e.bytes("dispenseHash")?,
        block_time: e.block_time,
        tx_hash: e.tx_hash.to_vec(),
    })
}

fn fold_prescription(row: &mut Option<Prescription>, e: &Ev<'_>) -> Result<(), IndexerError> {
    if e.event_name == "PrescriptionIssued" {
        let (prescriber, relayer) = (e.bytes("prescriber")?, e.bytes("relayer")?);
        let pharmacy = e.address_or_none("pharmacy")?;
        let previous = row.take();
        let mut rx = Prescription {
            rx_id: e.rx_id.ok_or_else(|| e.bad("rxId"))?.to_vec(),
            patient: e.bytes("patient")?,
            relayed: relayer != prescriber,
            prescriber,
            content_hash: e.bytes("contentHash")?,
            issued_pharmacy: pharmacy.clone(),
            pharmacy,
            fills: e.small("fills")?,
            quantity_per_fill: e.int("quantityPerFill")?,
            earliest_fill_at: e.time("earliestFillAt")?,
            valid_until: e.time("validUntil")?,
            min_fill_interval_secs: e.int("minFillInterval")?,
            schedule: e.small("schedule")?,
            nonce: e.decimal("nonce")?,
            relayer,
            issued_block: e.block_number,
            issued_at: e.block_time,
            issued_tx: e.tx_hash.to_vec(),
            fills_used: 0,
            quantity_dispensed: "0".to_owned(),
            dispense_count: 0,
            last_dispensed_at: None,
            last_dispense_pharmacy: None,
            cancelled: false,
            cancel_reason: None,
            cancelled_at: None,
            updated_block: e.block_number,
            days_supply: i32::try_from(e.int("daysSupply")?).map_err(|_| e.bad("daysSupply"))?,
            date_written: e.time("dateWritten")?,
            long_term_care: e.flag("longTermCare")?,
            deadline: e.time("deadline")?,
            transferred: false,
            cancelled_by: None,
            short_supply_until: None,
        };
        // An rxId is issued once; should a node ever say otherwise, later changes still count.
        if let Some(p) = previous {
            rx = Prescription {
                pharmacy: p.pharmacy,
                fills_used: p.fills_used,
                quantity_dispensed: p.quantity_dispensed,
                dispense_count: p.dispense_count,
                last_dispensed_at: p.last_dispensed_at,
                last_dispense_pharmacy: p.last_dispense_pharmacy,
                cancelled: p.cancelled,
                cancel_reason: p.cancel_reason,
                cancelled_at: p.cancelled_at,
                updated_block: p.updated_block.max(e.block_number),
                transferred: p.transferred,
                cancelled_by: p.cancelled_by,
                short_supply_until: p.short_supply_until,
                ..rx
            };
        }
        *row = Some(rx);
        return Ok(());
    }
    // Nothing precedes an rxId's issue.
    let Some(rx) = row else { return Ok(()) };
    match e.event_name {
        "PharmacyChanged" => {
            rx.pharmacy = e.address_or_none("pharmacy")?;
            rx.transferred |= e.flag("transfer")?;
        }
        // 21 CFR 1306.13(a): a short-supply partial fill moves the end to the 72-hour balance deadline.
        "ShortSupplyBalanceDue" => rx.short_supply_until = Some(e.time("validUntil")?),
        "PrescriptionDispensed" => {
            rx.fills_used = e.small("fillNumber")?;
            rx.quantity_dispensed = e.decimal("totalDispensed")?;
            rx.dispense_count += 1;
            rx.last_dispensed_at = Some(e.block_time);
            rx.last_dispense_pharmacy = Some(e.bytes("pharmacy")?);
        }
        "PrescriptionCancelled" => {
            rx.cancelled = true;
            rx.cancel_reason = e.opt_int4("reasonCode")?;
            rx.cancelled_at = Some(e.block_time);
            rx.cancelled_by = Some(
                match e.small("role")? {
                    0 => "prescriber",
                    1 => "patient",
                    2 => "registrar",
                    _ => return Err(e.bad("role")),
                }
                .to_owned(),
            );
        }
        _ => return Ok(()),
    }
    rx.updated_block = rx.updated_block.max(e.block_number);
    Ok(())
}

fn fold_role(row: &mut Option<Role>, e: &Ev<'_>) -> Result<(), IndexerError> {
    *row = Some(Role {
        contract: e.address.to_vec(),
        role: e.bytes("role")?,
        account: e.bytes("account")?,
        active: e.event_name == "RoleGranted",
        changed_by: e.bytes("sender")?,
        updated_block: e.block_number,
        updated_at: e.block_time,
    });
    Ok(())
}

/// A `events` row read back for a refold.
struct StoredEvent {
    block_number: i64,
    log_index: i32,
    block_time: DateTime<Utc>,
    tx_hash: Vec<u8>,
    address: Vec<u8>,
    contract: String,
    event_name: String,
    entity: Vec<u8>,
    episode_id: Option<i64>,
    credential_id: Option<i64>,
    rx_id: Option<Vec<u8>>,
    args: Value,
}

impl Fold {
    /// Loads the stored rows of the touched entities (a forward batch folds its events onto them): from
    /// `carried` when it has them, else from the database.
    pub(crate) async fn load(
        &mut self,
        conn: &mut PgConnection,
        chain_id: i64,
        carried: Option<&Carried>,
    ) -> Result<(), IndexerError> {
        let complete = carried.is_some_and(|c| c.complete);
        let s = &mut self.stored;
        let credential_keys = take_carried(
            &mut self.credentials,
            &mut s.credentials,
            carried.map(|c| &c.credentials),
            complete,
        );
        let consent_keys =
            take_carried(&mut self.consents, &mut s.consents, carried.map(|c| &c.consents), complete);
        let episode_keys =
            take_carried(&mut self.episodes, &mut s.episodes, carried.map(|c| &c.episodes), complete);
        let record_pairs =
            take_carried(&mut self.records, &mut s.records, carried.map(|c| &c.records), complete);
        let rx_keys = take_carried(
            &mut self.prescriptions,
            &mut s.prescriptions,
            carried.map(|c| &c.prescriptions),
            complete,
        );
        let role_keys = take_carried(&mut self.roles, &mut s.roles, carried.map(|c| &c.roles), complete);
        if !credential_keys.is_empty() {
            let rows = sqlx::query_as!(
                Credential,
                "SELECT account, credential_id, kind, status, status_reason, license_hash, jurisdiction, expires_at,
                        schedules, registered_block, registered_at, updated_block, updated_at
                 FROM credentials WHERE chain_id = $1 AND account = ANY($2::bytea[])",
                chain_id,
                &credential_keys
            )
            .fetch_all(&mut *conn)
            .await?;
            for r in rows {
                self.stored.credentials.push(r.account.clone());
                self.credentials.insert(r.account.clone(), Some(r));
            }
        }
        if !consent_keys.is_empty() {
            let (patients, grantees) = split_pairs(consent_keys.iter(), 20);
            let rows = sqlx::query_as!(
                Consent,
                "SELECT c.patient, c.grantee, c.scopes, c.expires_at, c.granted_at, c.granted_block, c.granted_relayed,
                        c.revoked, c.revoked_at, c.revoked_relayed, c.emergency_until, c.emergency_reason,
                        c.emergency_opened_at, c.emergency_ended_at, c.emergency_ended_by, c.updated_block
                 FROM UNNEST($2::bytea[], $3::bytea[]) AS k(patient, grantee)
                 JOIN consents c ON c.chain_id = $1 AND c.patient = k.patient AND c.grantee = k.grantee",
                chain_id,
                &patients,
                &grantees
            )
            .fetch_all(&mut *conn)
            .await?;
            for r in rows {
                let key = [r.patient.as_slice(), r.grantee.as_slice()].concat();
                self.stored.consents.push(key.clone());
                self.consents.insert(key, Some(r));
            }
        }
        if !episode_keys.is_empty() {
            let rows = sqlx::query_as!(
                Episode,
                "SELECT episode_id, patient, opened_by, opened_at, opened_block, record_count, head, closed, closed_by,
                        closed_at, closed_block, updated_block
                 FROM episodes WHERE chain_id = $1 AND episode_id = ANY($2::int8[])",
                chain_id,
                &episode_keys
            )
            .fetch_all(&mut *conn)
            .await?;
            for r in rows {
                self.stored.episodes.push(r.episode_id);
                self.episodes.insert(r.episode_id, Some(r));
            }
        }
        if !record_pairs.is_empty() {
            let (eps, ixs) = record_keys(record_pairs.iter());
            let rows = sqlx::query_as!(
                Record,
                "SELECT r.episode_id, r.record_index, r.patient, r.author, r.content_hash, r.pointer_hash, r.head,
                        r.hidden, r.anchored_block, r.anchored_at, r.tx_hash, r.visibility_changed_at
                 FROM UNNEST($2::int8[], $3::int8[]) AS k(ep, ix)
                 JOIN records r ON r.chain_id = $1 AND r.episode_id = k.ep AND r.record_index = k.ix",
                chain_id,
                &eps,
                &ixs
            )
            .fetch_all(&mut *conn)
            .await?;
            for r in rows {
                let key = record_key(r.episode_id, r.record_index);
                self.stored.records.push(key.clone());
                self.records.insert(key, Some(r));
            }
        }
        if !rx_keys.is_empty() {
            let rows = sqlx::query_as!(
                Prescription,
                r#"SELECT rx_id, patient, prescriber, content_hash, issued_pharmacy, pharmacy, fills, quantity_per_fill,
                          earliest_fill_at, valid_until, min_fill_interval_secs, schedule, nonce::text AS "nonce!",
                          relayer, relayed, issued_block, issued_at, issued_tx, fills_used,
                          quantity_dispensed::text AS "quantity_dispensed!", dispense_count, last_dispensed_at,
                          last_dispense_pharmacy, cancelled, cancel_reason, cancelled_at, updated_block,
                          days_supply, date_written, long_term_care, deadline, transferred, cancelled_by,
                          short_supply_until
                   FROM prescriptions WHERE chain_id = $1 AND rx_id = ANY($2::bytea[])"#,
                chain_id,
                &rx_keys
            )
            .fetch_all(&mut *conn)
            .await?;
            for r in rows {
                self.stored.prescriptions.push(r.rx_id.clone());
                self.prescriptions.insert(r.rx_id.clone(), Some(r));
            }
        }
        if !role_keys.is_empty() {
            let (roles, accounts) = split_pairs(role_keys.iter(), 32);
            let rows = sqlx::query_as!(
                Role,
                "SELECT m.contract, m.role, m.account, m.active, m.changed_by, m.updated_block, m.updated_at
                 FROM UNNEST($2::bytea[], $3::bytea[]) AS k(role, account)
                 JOIN role_members m ON m.chain_id = $1 AND m.role = k.role AND m.account = k.account",
                chain_id,
                &roles,
                &accounts
            )
            .fetch_all(&mut *conn)
            .await?;
            for r in rows {
                let key = [r.role.as_slice(), r.account.as_slice()].concat();
                self.stored.roles.push(key.clone());
                self.roles.insert(key, Some(r));
            }
        }
        Ok(())
    }

    /// Refolds the touched entities from nothing over their events in `events` (after a reorg removed
    /// some): their stored rows go, and the fold of what remains replaces them.
    pub(crate) async fn refold(
        &mut self,
        conn: &mut PgConnection,
        chain_id: i64,
    ) -> Result<(), IndexerError> {
        if self.is_empty() {
            return Ok(());
        }
        // Every touched row is deleted before the refold's rows are written.
        self.stored = Stored {
            credentials: self.credentials.keys().cloned().collect(),
            consents: self.consents.keys().cloned().collect(),
            episodes: self.episodes.keys().copied().collect(),
            records: self.records.keys().cloned().collect(),
            prescriptions: self.prescriptions.keys().cloned().collect(),
            roles: self.roles.keys().cloned().collect(),
        };
        let entities: Vec<Vec<u8>> = (self.credentials.keys())
            .chain(self.consents.keys())
            .chain(self.records.keys())
            .chain(self.prescriptions.keys())
            .chain(self.roles.keys())
            .cloned()
            .collect();
        let episodes: Vec<i64> = self.episodes.keys().copied().collect();
        let rows = sqlx::query_as!(
            StoredEvent,
            r#"SELECT block_number, log_index, block_time, tx_hash, address, contract, event_name, entity, episode_id,
                      credential_id, rx_id, args AS "args!: Value"
               FROM events
               WHERE chain_id = $1 AND entity <> '' AND (entity = ANY($2::bytea[]) OR episode_id = ANY($3::int8[]))
               ORDER BY block_number, log_index"#,
            chain_id,
            &entities,
            &episodes
        )
        .fetch_all(&mut *conn)
        .await?;
        for r in &rows {
            self.apply(&Ev {
                block_number: r.block_number,
                log_index: r.log_index,
                block_time: r.block_time,
                tx_hash: &r.tx_hash,
                address: &r.address,
                contract: &r.contract,
                event_name: &r.event_name,
                entity: &r.entity,
                episode_id: r.episode_id,
                credential_id: r.credential_id,
                rx_id: r.rx_id.as_deref(),
                args: EvArgs::Stored(&r.args),
            })?;
        }
        Ok(())
    }

    /// Writes the fold: the stored rows of the touched entities go, the folded rows come, each table in one
    /// statement.
    pub(crate) async fn write(&self, conn: &mut PgConnection, chain_id: i64) -> Result<(), IndexerError> {
        let mut clock = std::time::Instant::now();
        let s = &self.stored;
        if !s.credentials.is_empty() {
            sqlx::query!(
                "DELETE FROM credentials WHERE chain_id = $1 AND account = ANY($2::bytea[])",
                chain_id,
                &s.credentials
            )
            .execute(&mut *conn)
            .await?;
        }
        if !s.consents.is_empty() {
            let (patients, grantees) = split_pairs(s.consents.iter(), 20);
            sqlx::query!(
                "DELETE FROM consents c USING UNNEST($2::bytea[], $3::bytea[]) AS k(patient, grantee)
                 WHERE c.chain_id = $1 AND c.patient = k.patient AND c.grantee = k.grantee",
                chain_id,
                &patients,
                &grantees
            )
            .execute(&mut *conn)
            .await?;
        }
        if !s.episodes.is_empty() {
            sqlx::query!(
                "DELETE FROM episodes WHERE chain_id = $1 AND episode_id = ANY($2::int8[])",
                chain_id,
                &s.episodes
            )
            .execute(&mut *conn)
            .await?;
        }
        if !s.records.is_empty() {
            let (eps, ixs) = record_keys(s.records.iter());
            sqlx::query!(
                "DELETE FROM records r USING UNNEST($2::int8[], $3::int8[]) AS k(ep, ix)
                 WHERE r.chain_id = $1 AND r.episode_id = k.ep AND r.record_index = k.ix",
                chain_id,
                &eps,
                &ixs
            )
            .execute(&mut *conn)
            .await?;
        }
        if !s.prescriptions.is_empty() {
            sqlx::query!(
                "DELETE FROM prescriptions WHERE chain_id = $1 AND rx_id = ANY($2::bytea[])",
                chain_id,
                &s.prescriptions
            )
            .execute(&mut *conn)
            .await?;
        }
        if !s.roles.is_empty() {
            let (roles, accounts) = split_pairs(s.roles.iter(), 32);
            sqlx::query!(
                "DELETE FROM role_members m USING UNNEST($2::bytea[], $3::bytea[]) AS k(role, account)
                 WHERE m.chain_id = $1 AND m.role = k.role AND m.account = k.account",
                chain_id,
                &roles,
                &accounts
            )
            .execute(&mut *conn)
            .await?;
        }
        stage("delete", &mut clock);
        write_credentials(conn, chain_id, self.credentials.values().flatten().collect()).await?;
        write_consents(conn, chain_id, self.consents.values().flatten().collect()).await?;
        stage("consents", &mut clock);
        write_episodes(conn, chain_id, self.episodes.values().flatten().collect()).await?;
        write_records(conn, chain_id, self.records.values().flatten().collect()).await?;
        stage("records", &mut clock);
        write_prescriptions(conn, chain_id, self.prescriptions.values().flatten().collect()).await?;
        write_roles(conn, chain_id, self.roles.values().flatten().collect()).await?;
        stage("prescriptions", &mut clock);
        Ok(())
    }
}

/// Keys made of two fixed-width parts (patient ‖ grantee, role ‖ account), split into two arrays.
fn split_pairs<'a>(keys: impl Iterator<Item = &'a Vec<u8>>, first: usize) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    keys.map(|k| {
        let (a, b) = k.split_at(first.min(k.len()));
        (a.to_vec(), b.to_vec())
    })
    .unzip()
}

/// The entity key of a record: episode id ‖ index, big-endian.
fn record_key(episode_id: i64, index: i64) -> Vec<u8> {
    [episode_id.to_be_bytes(), index.to_be_bytes()].concat()
}

fn record_keys<'a>(keys: impl Iterator<Item = &'a Vec<u8>>) -> (Vec<i64>, Vec<i64>) {
    keys.map(|k| {
        let word = |r: std::ops::Range<usize>| {
            k.get(r).and_then(|b| <[u8; 8]>::try_from(b).ok()).map_or(0, i64::from_be_bytes)
        };
        (word(0..8), word(8..16))
    })
    .unzip()
}

async fn write_credentials(
    conn: &mut PgConnection,
    chain_id: i64,
    rows: Vec<&Credential>,
) -> Result<(), IndexerError> {
    let mut b = CopyBuf::new(rows.len() * 220);
    for r in &rows {
        b.row(14);
        b.int8(chain_id);
        b.bytes(&r.account);
        b.int8(r.credential_id);
        b.text(&r.kind);
        b.text(&r.status);
        b.opt(r.status_reason, CopyBuf::int4);
        b.bytes(&r.license_hash);
        b.bytes(&r.jurisdiction);
        b.time(r.expires_at);
        b.int2(r.schedules);
        b.int8(r.registered_block);
        b.time(r.registered_at);
        b.int8(r.updated_block);
        b.time(r.updated_at);
    }
    b.send(
        conn,
        "credentials (chain_id, account, credential_id, kind, status, status_reason, license_hash, jurisdiction,
                      expires_at, schedules, registered_block, registered_at, updated_block, updated_at)",
    )
    .await
}

async fn write_consents(
    conn: &mut PgConnection,
    chain_id: i64,
    rows: Vec<&Consent>,
) -> Result<(), IndexerError> {
    let mut b = CopyBuf::new(rows.len() * 220);
    for r in &rows {
        b.row(17);
        b.int8(chain_id);
        b.bytes(&r.patient);
        b.bytes(&r.grantee);
        b.int2(r.scopes);
        b.opt(r.expires_at, CopyBuf::time);
        b.opt(r.granted_at, CopyBuf::time);
        b.opt(r.granted_block, CopyBuf::int8);
        b.opt(r.granted_relayed, CopyBuf::bool);
        b.bool(r.revoked);
        b.opt(r.revoked_at, CopyBuf::time);
        b.opt(r.revoked_relayed, CopyBuf::bool);
        b.opt(r.emergency_until, CopyBuf::time);
        b.opt(r.emergency_reason, CopyBuf::int4);
        b.opt(r.emergency_opened_at, CopyBuf::time);
        b.opt(r.emergency_ended_at, CopyBuf::time);
        b.opt(r.emergency_ended_by.as_deref(), CopyBuf::bytes);
        b.int8(r.updated_block);
    }
    b.send(
        conn,
        "consents (chain_id, patient, grantee, scopes, expires_at, granted_at, granted_block, granted_relayed,
                   revoked, revoked_at, revoked_relayed, emergency_until, emergency_reason, emergency_opened_at,
                   emergency_ended_at, emergency_ended_by, updated_block)",
    )
    .await
}

async fn write_episodes(
    conn: &mut PgConnection,
    chain_id: i64,
    rows: Vec<&Episode>,
) -> Result<(), IndexerError> {
    let mut b = CopyBuf::new(rows.len() * 220);
    for r in &rows {
        b.row(13);
        b.int8(chain_id);
        b.int8(r.episode_id);
        b.bytes(&r.patient);
        b.bytes(&r.opened_by);
        b.time(r.opened_at);
        b.int8(r.opened_block);
        b.int8(r.record_count);
        b.bytes(&r.head);
        b.bool(r.closed);
        b.opt(r.closed_by.as_deref(), CopyBuf::bytes);
        b.opt(r.closed_at, CopyBuf::time);
        b.opt(r.closed_block, CopyBuf::int8);
        b.int8(r.updated_block);
    }
    b.send(
        conn,
        "episodes (chain_id, episode_id, patient, opened_by, opened_at, opened_block, record_count, head, closed,
                   closed_by, closed_at, closed_block, updated_block)",
    )
    .await
}

async fn write_records(
    conn: &mut PgConnection,
    chain_id: i64,
    rows: Vec<&Record>,
) -> Result<(), IndexerError> {
    let mut b = CopyBuf::new(rows.len() * 300);
    for r in &rows {
        b.row(13);
        b.int8(chain_id);
        b.int8(r.episode_id);
        b.int8(r.record_index);
        b.bytes(&r.patient);
        b.bytes(&r.author);
        b.bytes(&r.content_hash);
        b.bytes(&r.pointer_hash);
        b.bytes(&r.head);
        b.bool(r.hidden);
        b.int8(r.anchored_block);
        b.time(r.anchored_at);
        b.bytes(&r.tx_hash);
        b.opt(r.visibility_changed_at, CopyBuf::time);
    }
    b.send(
        conn,
        "records (chain_id, episode_id, record_index, patient, author, content_hash, pointer_hash, head, hidden,
                  anchored_block, anchored_at, tx_hash, visibility_changed_at)",
    )
    .await
}

async fn write_prescriptions(
    conn: &mut PgConnection,
    chain_id: i64,
    rows: Vec<&Prescription>,
) -> Result<(), IndexerError> {
    let mut b = CopyBuf::new(rows.len() * 420);
    for r in &rows {
        b.row(35);
        b.int8(chain_id);
        b.bytes(&r.rx_id);
        b.bytes(&r.patient);
        b.bytes(&r.prescriber);
        b.bytes(&r.content_hash);
        b.opt(r.issued_pharmacy.as_deref(), CopyBuf::bytes);
        b.opt(r.pharmacy.as_deref(), CopyBuf::bytes);
        b.int2(r.fills);
        b.int8(r.quantity_per_fill);
        b.time(r.earliest_fill_at);
        b.time(r.valid_until);
        b.int8(r.min_fill_interval_secs);
        b.int2(r.schedule);
        b.numeric(&r.nonce);
        b.bytes(&r.relayer);
        b.bool(r.relayed);
        b.int8(r.issued_block);
        b.time(r.issued_at);
        b.bytes(&r.issued_tx);
        b.int2(r.fills_used);
        b.numeric(&r.quantity_dispensed);
        b.int8(r.dispense_count);
        b.opt(r.last_dispensed_at, CopyBuf::time);
        b.opt(r.last_dispense_pharmacy.as_deref(), CopyBuf::bytes);
        b.bool(r.cancelled);
        b.opt(r.cancel_reason, CopyBuf::int4);
        b.opt(r.cancelled_at, CopyBuf::time);
        b.int8(r.updated_block);
        b.int4(r.days_supply);
        b.time(r.date_written);
        b.bool(r.long_term_care);
        b.time(r.deadline);
        b.bool(r.transferred);
        b.opt(r.cancelled_by.as_deref(), CopyBuf::text);
        b.opt(r.short_supply_until, CopyBuf::time);
    }
    b.send(
        conn,
        "prescriptions (chain_id, rx_id, patient, prescriber, content_hash, issued_pharmacy, pharmacy, fills,
                        quantity_per_fill, earliest_fill_at, valid_until, min_fill_interval_secs, schedule, nonce,
                        relayer, relayed, issued_block, issued_at, issued_tx, fills_used, quantity_dispensed,
                        dispense_count, last_dispensed_at, last_dispense_pharmacy, cancelled, cancel_reason,
                        cancelled_at, updated_block, days_supply, date_written, long_term_care, deadline,
                        transferred, cancelled_by, short_supply_until)",
    )
    .await
}

async fn write_roles(conn: &mut PgConnection, chain_id: i64, rows: Vec<&Role>) -> Result<(), IndexerError> {
    let mut b = CopyBuf::new(rows.len() * 160);
    for r in &rows {
        b.row(8);
        b.int8(chain_id);
        b.bytes(&r.contract);
        b.bytes(&r.role);
        b.bytes(&r.account);
        b.bool(r.active);
        b.bytes(&r.changed_by);
        b.int8(r.updated_block);
        b.time(r.updated_at);
    }
    b.send(
        conn,
        "role_members (chain_id, contract, role, account, active, changed_by, updated_block, updated_at)",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{Address, B256, I256, U256};

    /// A fresh batch folds decoded values and a refold after a reorg folds their stored JSON: every
    /// accessor must read both the same, or a reorg would change projections it should not touch.
    #[test]
    fn decoded_and_stored_arguments_read_the_same() {
        let values = vec![
            ("account", DynSolValue::Address(Address::repeat_byte(0xab))),
            ("zero", DynSolValue::Address(Address::ZERO)),
            ("rxId", DynSolValue::FixedBytes(B256::repeat_byte(7), 32)),
            ("short", DynSolValue::FixedBytes(B256::repeat_byte(9), 4)),
            ("blob", DynSolValue::Bytes(vec![1, 2, 3])),
            ("small", DynSolValue::Uint(U256::from(7), 8)),
            ("time", DynSolValue::Uint(U256::from(1_700_000_000u64), 40)),
            ("max64", DynSolValue::Uint(U256::from(u64::MAX), 64)),
            ("wide", DynSolValue::Uint(U256::from(u64::MAX) * U256::from(3), 256)),
            ("minus", DynSolValue::Int(I256::try_from(-4i64).expect("small"), 32)),
            ("plus", DynSolValue::Int(I256::try_from(12i64).expect("small"), 64)),
            ("flag", DynSolValue::Bool(true)),
            ("text", DynSolValue::String("x".into())),
        ];
        let names: Vec<String> = values.iter().map(|(n, _)| (*n).to_owned()).collect();
        let args = Args::new(names.clone().into(), values.into_iter().map(|(_, v)| v).collect());
        let mut json = Vec::new();
        args.write_json(&mut json);
        let stored: Value = serde_json::from_slice(&json).expect("valid JSON");
        let ev = |args| Ev {
            block_number: 1,
            log_index: 0,
            block_time: time(0),
            tx_hash: &[],
            address: &[],
            contract: "Prescriptions",
            event_name: "Test",
            entity: &[],
            episode_id: None,
            credential_id: None,
            rx_id: None,
            args,
        };
        let (decoded, stored) = (ev(EvArgs::Decoded(&args)), ev(EvArgs::Stored(&stored)));
        for name in names.iter().map(String::as_str).chain(["missing"]) {
            assert_eq!(decoded.opt_bytes(name).ok(), stored.opt_bytes(name).ok(), "opt_bytes {name}");
            assert_eq!(
                decoded.address_or_none(name).ok(),
                stored.address_or_none(name).ok(),
                "address {name}"
            );
            assert_eq!(decoded.opt_int(name).ok(), stored.opt_int(name).ok(), "opt_int {name}");
            assert_eq!(decoded.opt_small(name).ok(), stored.opt_small(name).ok(), "opt_small {name}");
            assert_eq!(decoded.opt_flag(name).ok(), stored.opt_flag(name).ok(), "opt_flag {name}");
            assert_eq!(decoded.decimal(name).ok(), stored.decimal(name).ok(), "decimal {name}");
        }
        // And they do read something: the comparison above is not between two failures only.
        assert_eq!(decoded.decimal("wide").ok(), Some((U256::from(u64::MAX) * U256::from(3)).to_string()));
        assert_eq!(decoded.opt_int("time").ok(), Some(Some(1_700_000_000)));
        assert_eq!(decoded.address_or_none("zero").ok(), Some(None));
        assert_eq!(decoded.opt_bytes("short").ok(), Some(Some(vec![9; 4])));
    }

    #[test]
    fn carried_rows_stand_in_for_stored_ones_until_full() {
        let mut c = HashMap::new();
        let (mut room, mut complete) = (1, true);
        // Two new rows, room for one: the first is carried, the second is not, and absence no longer
        // means "no row".
        carry(BTreeMap::from([(1, Some("a")), (2, Some("b"))]), &mut c, (&mut room, &mut complete));
        assert_eq!((c.get(&1), c.get(&2), room, complete), (Some(&"a"), None, 0, false));
        // A carried row is updated even when full, and a row gone is dropped.
        carry(BTreeMap::from([(1, Some("a2"))]), &mut c, (&mut room, &mut complete));
        assert_eq!(c.get(&1), Some(&"a2"));
        carry(BTreeMap::from([(1, None)]), &mut c, (&mut room, &mut complete));
        assert_eq!((c.is_empty(), room), (true, 1));

        // Taking: carried keys come back as stored rows; others must be read back unless complete.
        let carried = HashMap::from([(7, "x")]);
        let mut touched = BTreeMap::from([(7, None), (8, None)]);
        let mut stored = Vec::new();
        let missing = take_carried(&mut touched, &mut stored, Some(&carried), false);
        assert_eq!((missing, stored.clone(), touched[&7]), (vec![8], vec![7], Some("x")));
        let mut touched = BTreeMap::from([(7, None), (8, None)]);
        assert!(take_carried(&mut touched, &mut Vec::new(), Some(&carried), true).is_empty());
        // Without a carry every touched key is read back.
        let mut touched = BTreeMap::from([(7, None::<&str>), (8, None)]);
        assert_eq!(take_carried(&mut touched, &mut Vec::new(), None, true), vec![7, 8]);
    }
}
