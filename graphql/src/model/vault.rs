//! The record vault's metadata and access log as GraphQL objects: never document bytes, titles or salts.

use crate::scalars::{Address, Bytes32};
use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};
use medledger_vault::{log::LogEntry, DocumentRow};

/// A document stored in the record vault (its metadata; the bytes are only served by `/fhir/Binary`).
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "VaultDocument")]
pub(crate) struct VaultDocumentRow {
    /// The vault's id (32 hex digits), as in `/fhir/DocumentReference/{id}`.
    pub(crate) id: String,
    /// Its version.
    pub(crate) version: i32,
    /// The patient.
    pub(crate) patient: Address,
    /// The episode it belongs to.
    pub(crate) episode_id: i64,
    /// Who uploaded it.
    pub(crate) uploader: Address,
    /// Its coded type (e.g. a LOINC code).
    #[graphql(name = "type")]
    pub(crate) doc_type: String,
    /// Its content type.
    pub(crate) content_type: String,
    /// Its size in bytes.
    pub(crate) size: i64,
    /// The salted content hash its anchor records.
    pub(crate) content_hash: Bytes32,
    /// The salted hash of its vault pointer, as anchored.
    pub(crate) pointer_hash: Bytes32,
    /// `anchored` once the indexer has its `RecordAnchored` event, else `pending`.
    pub(crate) status: String,
    /// Whether the patient hid its anchored record (only the patient sees hidden documents).
    pub(crate) hidden: bool,
    /// When it was uploaded.
    pub(crate) created_at: DateTime<Utc>,
}

impl From<&DocumentRow> for VaultDocumentRow {
    fn from(d: &DocumentRow) -> Self {
        Self {
            id: d.id_hex(),
            version: i32::try_from(d.version).unwrap_or(i32::MAX),
            patient: Address(d.patient.into()),
            episode_id: i64::try_from(d.episode_id).unwrap_or(i64::MAX),
            uploader: Address(d.uploader.into()),
            doc_type: d.doc_type.clone(),
            content_type: d.content_type.clone(),
            size: i64::try_from(d.size).unwrap_or(i64::MAX),
            content_hash: Bytes32(d.content_hash.0),
            pointer_hash: Bytes32(d.pointer_hash.0),
            status: d.status().to_owned(),
            hidden: d.hidden,
            created_at: d.created_at,
        }
    }
}

/// An entry of the vault's hash-chained access log: who did what to which of the patient's documents,
/// and what the index said.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "AccessLogEntry")]
pub(crate) struct AccessLogEntryRow {
    /// Its position in the log, from 1, without gaps.
    pub(crate) seq: i64,
    /// When.
    pub(crate) at: DateTime<Utc>,
    /// The signed-in caller (null: not signed in).
    pub(crate) actor: Option<Address>,
    /// The document (32 hex digits), if the request named one.
    pub(crate) document: Option<String>,
    /// `read`, `read_metadata`, `search`, `write` or `audit`.
    pub(crate) action: String,
    /// `allowed`, `denied` or `failed`.
    pub(crate) outcome: String,
    /// What allowed it (`patient`, `grant`, `emergency`, ...) or the denial or failure code.
    pub(crate) reason: String,
    /// The block of the consent change that decided, if any.
    pub(crate) consent_block: Option<i64>,
    /// The latest indexed block at the decision.
    pub(crate) index_block: Option<i64>,
    /// The previous entry's hash.
    pub(crate) prev_hash: Bytes32,
    /// This entry's hash (what the log's anchors pin).
    pub(crate) entry_hash: Bytes32,
}

impl From<&LogEntry> for AccessLogEntryRow {
    fn from(e: &LogEntry) -> Self {
        Self {
            seq: e.seq,
            at: e.at,
            actor: e.entry.actor.as_deref().and_then(Address::from_slice),
            document: e.entry.document.as_deref().map(hex::encode),
            action: e.entry.action.clone(),
            outcome: e.entry.outcome.clone(),
            reason: e.entry.reason.clone(),
            consent_block: e.entry.consent_block,
            index_block: e.entry.index_block,
            prev_hash: Bytes32(e.prev_hash.0),
            entry_hash: Bytes32(e.entry_hash.0),
        }
    }
}
