//! FHIR R4 shapes of the vault's resources: DocumentReference, AuditEvent, searchset Bundle.

use crate::{log::LogEntry, vault::DocumentRow};
use alloy::primitives::{Address, B256};
use serde_json::{json, Value};

/// The identifier system of Ethereum addresses.
pub const ADDRESS_SYSTEM: &str = "urn:ethereum:address";
/// The base of the vault's own FHIR extension and identifier URLs.
pub const BASE: &str = "https://medledger.dev/fhir";

fn address(a: &[u8]) -> Value {
    let value =
        Address::try_from(a).map_or_else(|_| format!("0x{}", hex::encode(a)), |a| a.to_checksum(None));
    json!({ "identifier": { "system": ADDRESS_SYSTEM, "value": value } })
}

/// A document's `DocumentReference` (with its salt when given, for the uploader's own response).
pub fn document_reference(d: &DocumentRow, salt: Option<B256>) -> Value {
    let mut extension = vec![json!({ "url": format!("{BASE}/anchor-status"), "valueCode": d.status() })];
    if let Some(salt) = salt {
        extension.push(json!({ "url": format!("{BASE}/salt"), "valueString": salt.to_string() }));
    }
    json!({
        "resourceType": "DocumentReference",
        "id": d.id_hex(),
        "meta": { "versionId": d.version.to_string() },
        "extension": extension,
        "identifier": [
            { "system": format!("{BASE}/contentHash"), "value": d.content_hash.to_string() },
            { "system": format!("{BASE}/pointerHash"), "value": d.pointer_hash.to_string() },
        ],
        "status": "current",
        "type": { "coding": [{ "code": d.doc_type }] },
        "subject": address(d.patient.as_slice()),
        "date": d.created_at.to_rfc3339(),
        "author": [address(d.uploader.as_slice())],
        "content": [{
            "attachment": {
                "contentType": d.content_type,
                "size": d.size,
                "url": format!("Binary/{}", d.id_hex()),
            }
        }],
        "context": {
            "encounter": [{ "identifier": { "system": format!("{BASE}/episode"), "value": d.episode_id.to_string() } }]
        },
    })
}

/// An access-log entry as an `AuditEvent`.
pub fn audit_event(e: &LogEntry) -> Value {
    let action = match e.entry.action.as_str() {
        "write" => "C",
        "search" => "E",
        _ => "R",
    };
    let outcome = match e.entry.outcome.as_str() {
        "allowed" => "0",
        "denied" => "4",
        _ => "8",
    };
    let mut entity = Vec::new();
    if let Some(p) = &e.entry.patient {
        entity.push(json!({ "what": address(p), "role": { "code": "1", "display": "Patient" } }));
    }
    if let Some(d) = &e.entry.document {
        entity.push(json!({ "what": { "reference": format!("DocumentReference/{}", hex::encode(d)) } }));
    }
    let mut extension = vec![
        json!({ "url": format!("{BASE}/log-seq"), "valueInteger64": e.seq.to_string() }),
        json!({ "url": format!("{BASE}/log-prev-hash"), "valueString": e.prev_hash.to_string() }),
        json!({ "url": format!("{BASE}/log-entry-hash"), "valueString": e.entry_hash.to_string() }),
    ];
    if let Some(b) = e.entry.consent_block {
        extension.push(json!({ "url": format!("{BASE}/consent-block"), "valueInteger64": b.to_string() }));
    }
    if let Some(b) = e.entry.index_block {
        extension.push(json!({ "url": format!("{BASE}/index-block"), "valueInteger64": b.to_string() }));
    }
    json!({
        "resourceType": "AuditEvent",
        "id": e.seq.to_string(),
        "extension": extension,
        "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest" },
        "subtype": [{ "code": e.entry.action }],
        "action": action,
        "recorded": e.at.to_rfc3339(),
        "outcome": outcome,
        "outcomeDesc": e.entry.reason,
        "agent": [{
            "who": e.entry.actor.as_deref().map_or(json!({ "display": "anonymous" }), address),
            "requestor": true,
        }],
        "source": { "observer": { "display": "medledger-vault" } },
        "entity": entity,
    })
}

/// A `searchset` Bundle of `resources` (each with its `Type/id` as full URL).
pub fn bundle(resources: Vec<Value>) -> Value {
    let entry: Vec<Value> = resources
        .into_iter()
        .map(|r| {
            let url =
                format!("{}/{}", r["resourceType"].as_str().unwrap_or(""), r["id"].as_str().unwrap_or(""));
            json!({ "fullUrl": url, "resource": r, "search": { "mode": "match" } })
        })
        .collect();
    json!({ "resourceType": "Bundle", "type": "searchset", "total": entry.len(), "entry": entry })
}
