//! Portability: everything of a patient's in one FHIR Bundle, and that Bundle imported into another vault.
//!
//! [`Vault::export`] (the patient only) reads every document of hers through the normal download path
//! (each checked against its on-chain anchor and its sealed trailer, each read logged) and returns a
//! `collection` Bundle of her `DocumentReference`s (with the salt of their anchored hashes), a `Binary` per
//! document (its bytes, base64) and her access log as `AuditEvent`s (with their chain hashes).
//! [`Vault::import`] (the patient only) checks every document of such a Bundle before storing any: its
//! bytes must hash, with its salt, to the content hash an on-chain `RecordAnchored` event of this patient
//! and episode records, with the pointer hash of its id; a document that does not is refused with the
//! reason, and nothing of the Bundle is stored. Imported documents keep their id and salt, so the anchors
//! made for them in the first vault find them in the second. The exported log's entries are checked (each
//! entry's hash recomputed from its fields) and counted, not merged into this vault's own chain.

use crate::{
    crypto::{pointer_hash, salted_hash},
    error::{Denial, VaultError},
    fhir::{self, BASE},
    log::{self, LogEntry, NewEntry, OwnedEntry},
    vault::{UploadRequest, Vault},
};
use alloy::primitives::{Address, B256};
use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use serde_json::{json, Value};
use std::{collections::HashMap, str::FromStr};

/// What [`Vault::import`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// Documents stored (hex ids).
    pub stored: Vec<String>,
    /// Documents this vault already held with the same contents (hex ids).
    pub already: Vec<String>,
    /// Access-log entries of the source vault whose hashes checked out.
    pub log_entries: usize,
}

/// A document of a Bundle, checked against itself (not yet against the chain).
struct Incoming {
    id: [u8; 16],
    episode: u64,
    doc_type: String,
    content_type: String,
    salt: B256,
    content_hash: B256,
    pointer_hash: B256,
    bytes: Vec<u8>,
}

fn refuse(id: &str, reason: impl Into<String>) -> VaultError {
    VaultError::ImportRefused { id: id.to_owned(), reason: reason.into() }
}

fn identifier(resource: &Value, system: &str) -> Option<String> {
    let system = format!("{BASE}/{system}");
    resource["identifier"].as_array()?.iter().find(|i| i["system"] == system.as_str())?["value"]
        .as_str()
        .map(str::to_owned)
}

fn extension<'a>(resource: &'a Value, name: &str) -> Option<&'a Value> {
    let url = format!("{BASE}/{name}");
    resource["extension"].as_array()?.iter().find(|e| e["url"] == url.as_str())
}

fn address_of(v: &Value) -> Option<Address> {
    v["identifier"]["value"].as_str().and_then(|s| Address::from_str(s).ok())
}

impl Vault {
    /// Every document of `patient` (bytes and metadata) and her access log as a FHIR `collection` Bundle.
    /// The patient only; each document is integrity-checked and its read logged on the way out.
    pub async fn export(&self, caller: Address, patient: Address) -> Result<Value, VaultError> {
        self.patient_only(caller, patient, "export").await?;
        let mut entries = Vec::new();
        for row in self.search(caller, patient).await? {
            let download = self.download(caller, row.id, None).await?;
            let bytes: Vec<u8> = download
                .body
                .map_ok(|b| b.to_vec())
                .try_concat()
                .await
                .map_err(|e| VaultError::Internal(format!("exporting document {}: {e}", row.id_hex())))?;
            let mut reference = fhir::document_reference(&download.document, Some(download.salt));
            if let Some(x) = reference["extension"].as_array_mut() {
                x.push(json!({ "url": format!("{BASE}/hidden"), "valueBoolean": row.hidden }));
            }
            entries.push(
                json!({ "fullUrl": format!("DocumentReference/{}", row.id_hex()), "resource": reference }),
            );
            entries.push(json!({
                "fullUrl": format!("Binary/{}", row.id_hex()),
                "resource": {
                    "resourceType": "Binary",
                    "id": row.id_hex(),
                    "contentType": row.content_type,
                    "securityContext": { "reference": format!("DocumentReference/{}", row.id_hex()) },
                    "data": base64::engine::general_purpose::STANDARD.encode(&bytes),
                }
            }));
        }
        let mut log = log::entries_for(&self.pool, patient.into(), None, i64::MAX).await?;
        log.reverse();
        for e in &log {
            entries.push(
                json!({ "fullUrl": format!("AuditEvent/{}", e.seq), "resource": fhir::audit_event(e) }),
            );
        }
        Ok(json!({
            "resourceType": "Bundle",
            "type": "collection",
            "timestamp": Utc::now().to_rfc3339(),
            "meta": { "source": self.config.origin },
            "identifier": { "system": fhir::ADDRESS_SYSTEM, "value": patient.to_checksum(None) },
            "total": entries.len(),
            "entry": entries,
        }))
    }

    /// Logs and refuses `action` unless the caller is the patient.
    async fn patient_only(
        &self,
        caller: Address,
        patient: Address,
        action: &'static str,
    ) -> Result<(), VaultError> {
        let (outcome, reason) =
            if caller == patient { ("allowed", "patient") } else { ("denied", Denial::NotPatient.code()) };
        let version = self.index_block().await;
        log::append(
            &self.pool,
            &NewEntry {
                actor: Some(caller.into()),
                patient: Some(patient.into()),
                document: None,
                action,
                outcome,
                reason: reason.to_owned(),
                consent_block: None,
                index_block: version,
            },
        )
        .await?;
        if caller == patient {
            Ok(())
        } else {
            Err(Denial::NotPatient.into())
        }
    }

    /// Imports a Bundle made by [`Vault::export`] (of this or another vault on the same chain) for
    /// `patient`. The patient only. Every document is checked before any is stored: its bytes must hash
    /// with its salt to its content hash, and an on-chain anchor of this patient and episode (as indexed)
    /// must record that content hash and the pointer hash of its id; otherwise the import is refused with
    /// the document and the reason.
    pub async fn import(
        &self,
        caller: Address,
        patient: Address,
        bundle: &Value,
    ) -> Result<Imported, VaultError> {
        self.patient_only(caller, patient, "import").await?;
        if bundle["resourceType"] != "Bundle" {
            return Err(VaultError::BadRequest("the body is not a FHIR Bundle".into()));
        }
        let entries = bundle["entry"].as_array().map(Vec::as_slice).unwrap_or_default();
        let resources = || entries.iter().map(|e| &e["resource"]);
        let mut binaries: HashMap<&str, &Value> = HashMap::new();
        for r in resources().filter(|r| r["resourceType"] == "Binary") {
            let id = r["id"].as_str().unwrap_or("");
            if binaries.insert(id, r).is_some() {
                return Err(refuse(id, "the Bundle holds two Binary resources with this id"));
            }
        }
        let mut incoming = Vec::new();
        for r in resources().filter(|r| r["resourceType"] == "DocumentReference") {
            incoming.push(self.incoming(patient, r, &binaries)?);
        }
        // Against the chain, before anything is stored.
        let mut out = Imported::default();
        let mut to_store = Vec::new();
        for d in incoming {
            let hex_id = hex::encode(d.id);
            let anchored = sqlx::query_scalar!(
                r#"SELECT EXISTS (SELECT 1 FROM records WHERE chain_id = $1 AND patient = $2 AND episode_id = $3
                   AND content_hash = $4 AND pointer_hash = $5) AS "anchored!""#,
                self.chain_id(),
                patient.as_slice(),
                i64::try_from(d.episode).unwrap_or(-1),
                d.content_hash.as_slice(),
                d.pointer_hash.as_slice()
            )
            .fetch_one(&self.pool)
            .await
            .map_err(VaultError::db)?;
            if !anchored {
                return Err(refuse(
                    &hex_id,
                    format!(
                        "no on-chain anchor of patient {patient} in episode {} records content hash {} with \
                         pointer hash {} (altered, or never anchored)",
                        d.episode, d.content_hash, d.pointer_hash
                    ),
                ));
            }
            match self.row(d.id).await {
                Ok(Some(existing))
                    if existing.content_hash == d.content_hash && existing.patient == patient =>
                {
                    out.already.push(hex_id);
                }
                Ok(Some(_)) => return Err(refuse(&hex_id, "this vault holds another document with this id")),
                Ok(None) => to_store.push(d),
                Err(e) => return Err(e),
            }
        }
        out.log_entries = check_log(resources())?;
        for d in to_store {
            let hex_id = hex::encode(d.id);
            let req = UploadRequest {
                patient,
                episode_id: d.episode,
                doc_type: d.doc_type,
                content_type: d.content_type,
                declared_len: Some(d.bytes.len() as u64),
            };
            let entry = NewEntry {
                actor: Some(caller.into()),
                patient: Some(patient.into()),
                document: Some(d.id),
                action: "write",
                outcome: "allowed",
                reason: "import".into(),
                consent_block: None,
                index_block: None,
            };
            let body = futures::stream::iter([Ok::<_, std::convert::Infallible>(Bytes::from(d.bytes))]);
            let stored = self.store_document(caller, req, d.id, Some(d.salt), body, entry).await?;
            if stored.document.content_hash != d.content_hash {
                return Err(VaultError::Internal(format!("document {hex_id} stored with another hash")));
            }
            out.stored.push(hex_id);
        }
        tracing::info!(target: "medledger::vault", stored = out.stored.len(), already = out.already.len(), log_entries = out.log_entries, "import");
        Ok(out)
    }

    /// A Bundle's `DocumentReference` and its `Binary`, checked against themselves.
    fn incoming(
        &self,
        patient: Address,
        r: &Value,
        binaries: &HashMap<&str, &Value>,
    ) -> Result<Incoming, VaultError> {
        let hex_id = r["id"].as_str().unwrap_or("");
        let mut id = [0u8; 16];
        if hex_id.len() != 32 || hex::decode_to_slice(hex_id, &mut id).is_err() {
            return Err(refuse(hex_id, "the id is not 32 hex digits"));
        }
        if address_of(&r["subject"]) != Some(patient) {
            return Err(refuse(hex_id, format!("its subject is not patient {patient}")));
        }
        let episode = r["context"]["encounter"][0]["identifier"]["value"]
            .as_str()
            .and_then(|e| e.parse::<u64>().ok())
            .ok_or_else(|| refuse(hex_id, "no episode (context.encounter)"))?;
        let doc_type = r["type"]["coding"][0]["code"].as_str().unwrap_or("").to_owned();
        let content_type = r["content"][0]["attachment"]["contentType"].as_str().unwrap_or("").to_owned();
        if !self.config.content_types.contains(&content_type) {
            return Err(refuse(hex_id, format!("content type {content_type:?} is not accepted here")));
        }
        let hash = |what: &str| -> Result<B256, VaultError> {
            identifier(r, what)
                .and_then(|v| B256::from_str(&v).ok())
                .ok_or_else(|| refuse(hex_id, format!("no {what} identifier")))
        };
        let (content_hash, declared_pointer) = (hash("contentHash")?, hash("pointerHash")?);
        let salt = extension(r, "salt")
            .and_then(|e| e["valueString"].as_str())
            .and_then(|s| B256::from_str(s).ok())
            .ok_or_else(|| refuse(hex_id, "no salt extension (export it with $everything)"))?;
        let binary =
            binaries.get(hex_id).ok_or_else(|| refuse(hex_id, "no Binary resource with its bytes"))?;
        let data = binary["data"].as_str().unwrap_or("");
        if (data.len() as u64 / 4).saturating_mul(3) > self.config.max_upload + 3 {
            return Err(VaultError::TooLarge { limit: self.config.max_upload });
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| refuse(hex_id, format!("its Binary data is not base64: {e}")))?;
        if bytes.len() as u64 > self.config.max_upload {
            return Err(VaultError::TooLarge { limit: self.config.max_upload });
        }
        if salted_hash(salt, &bytes) != content_hash {
            return Err(refuse(hex_id, "its bytes do not hash to its content hash (altered)"));
        }
        let pointer = pointer_hash(salt, &id);
        if pointer != declared_pointer {
            return Err(refuse(hex_id, "its pointer hash is not that of its id"));
        }
        Ok(Incoming { id, episode, doc_type, content_type, salt, content_hash, pointer_hash: pointer, bytes })
    }
}

/// Checks each exported `AuditEvent`'s hash against its fields; returns how many.
fn check_log<'a>(resources: impl Iterator<Item = &'a Value>) -> Result<usize, VaultError> {
    let mut n = 0;
    for r in resources.filter(|r| r["resourceType"] == "AuditEvent") {
        let seq_text = r["id"].as_str().unwrap_or("");
        let bad = |why: &str| VaultError::BadRequest(format!("AuditEvent {seq_text}: {why}"));
        let ext = |name: &str| {
            extension(r, name).and_then(|e| e["valueString"].as_str().or(e["valueInteger64"].as_str()))
        };
        let seq: i64 = seq_text.parse().map_err(|_| bad("its id is not a log sequence number"))?;
        let hash_of = |name: &str| ext(name).and_then(|v| B256::from_str(v).ok()).ok_or_else(|| bad(name));
        let (prev, stated) = (hash_of("log-prev-hash")?, hash_of("log-entry-hash")?);
        let at = r["recorded"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| bad("recorded"))?;
        let int = |name: &str| ext(name).and_then(|v| v.parse::<i64>().ok());
        let entities = r["entity"].as_array().map(Vec::as_slice).unwrap_or_default();
        let patient = entities.iter().find_map(|e| address_of(&e["what"])).map(|a| a.to_vec());
        let document = entities
            .iter()
            .find_map(|e| {
                e["what"]["reference"].as_str()?.strip_prefix("DocumentReference/").map(str::to_owned)
            })
            .map(|d| hex::decode(d).map_err(|_| bad("document reference")))
            .transpose()?;
        let entry = OwnedEntry {
            actor: address_of(&r["agent"][0]["who"]).map(|a| a.to_vec()),
            patient,
            document,
            action: r["subtype"][0]["code"].as_str().unwrap_or("").to_owned(),
            outcome: match r["outcome"].as_str() {
                Some("0") => "allowed",
                Some("4") => "denied",
                _ => "failed",
            }
            .to_owned(),
            reason: r["outcomeDesc"].as_str().unwrap_or("").to_owned(),
            consent_block: int("consent-block"),
            index_block: int("index-block"),
        };
        if LogEntry::hash(prev, seq, at, &entry) != stated {
            return Err(bad("its fields do not hash to its entry hash (altered)"));
        }
        n += 1;
    }
    Ok(n)
}
