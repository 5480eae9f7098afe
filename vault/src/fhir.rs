//! FHIR R4 shapes of the vault's resources: DocumentReference, AuditEvent, searchset Bundle.

use crate::{
    config::VaultConfig,
    error::VaultError,
    log::LogEntry,
    vault::{DocumentRow, UploadRequest},
};
use alloy::primitives::{Address, B256};
use base64::Engine as _;
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

/// What a FHIR-shaped create (`POST /fhir/DocumentReference`) asks to store: the upload and its bytes.
/// The resource names the patient (`subject.identifier`, an address), the episode
/// (`context.encounter[0].identifier.value`), the type (`type.coding[0].code`) and one attachment with a
/// `contentType` and base64 `data` of at most `max` bytes.
pub fn upload_of(r: &Value, max: u64) -> Result<(UploadRequest, bytes::Bytes), VaultError> {
    let bad = |what: &str| VaultError::BadRequest(format!("DocumentReference: {what}"));
    if r["resourceType"] != "DocumentReference" {
        return Err(bad("resourceType must be DocumentReference"));
    }
    let patient = r["subject"]["identifier"]["value"]
        .as_str()
        .ok_or_else(|| bad("subject.identifier.value must be the patient's address"))
        .and_then(|s| {
            medledger_core::parse_address(s).map_err(|e| bad(&format!("subject.identifier.value: {e}")))
        })?;
    let episode = match &r["context"]["encounter"][0]["identifier"]["value"] {
        Value::String(s) => s.parse::<u64>().ok(),
        v => v.as_u64(),
    }
    .ok_or_else(|| bad("context.encounter[0].identifier.value must be the episode id"))?;
    let doc_type =
        r["type"]["coding"][0]["code"].as_str().ok_or_else(|| bad("type.coding[0].code is required"))?;
    let contents = r["content"].as_array().map(Vec::as_slice).unwrap_or_default();
    let [content] = contents else { return Err(bad("exactly one content.attachment is required")) };
    let attachment = &content["attachment"];
    let content_type = attachment["contentType"]
        .as_str()
        .map(|t| t.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .ok_or_else(|| bad("content[0].attachment.contentType is required"))?;
    let data = attachment["data"].as_str().ok_or_else(|| {
        bad("content[0].attachment.data (base64) is required; or POST the bytes to /fhir/Binary")
    })?;
    if (data.len() as u64 / 4).saturating_mul(3) > max.saturating_add(3) {
        return Err(VaultError::TooLarge { limit: max });
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| bad(&format!("content[0].attachment.data is not base64: {e}")))?;
    if bytes.len() as u64 > max {
        return Err(VaultError::TooLarge { limit: max });
    }
    let req = UploadRequest {
        patient,
        episode_id: episode,
        doc_type: doc_type.to_owned(),
        content_type,
        declared_len: Some(bytes.len() as u64),
    };
    Ok((req, bytes::Bytes::from(bytes)))
}

/// The vault's `CapabilityStatement` (`GET /fhir/metadata`).
pub fn capability_statement(config: &VaultConfig) -> Value {
    let interaction = |codes: &[&str]| codes.iter().map(|c| json!({ "code": c })).collect::<Vec<_>>();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-05",
        "kind": "instance",
        "software": { "name": "medledger-vault", "version": env!("CARGO_PKG_VERSION") },
        "implementation": {
            "description": "medledger record vault: documents gated by on-chain consent",
            "url": format!("{}/fhir", config.origin),
        },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [{
            "mode": "server",
            "security": {
                "description": "Sign-In with Ethereum (EIP-4361): GET /auth/nonce, POST /auth/login; then a \
                    bearer token or the session cookie. Every request is decided against the consent \
                    registry as indexed at its latest block.",
            },
            "resource": [
                {
                    "type": "DocumentReference",
                    "interaction": interaction(&["read", "search-type", "create"]),
                    "searchParam": [{ "name": "patient", "type": "reference" }],
                },
                { "type": "Binary", "interaction": interaction(&["read", "create"]) },
                {
                    "type": "AuditEvent",
                    "interaction": interaction(&["search-type"]),
                    "searchParam": [{ "name": "patient", "type": "reference" }, { "name": "_count", "type": "number" }],
                },
                {
                    "type": "Patient",
                    "operation": [
                        { "name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything" },
                        { "name": "import", "definition": format!("{BASE}/OperationDefinition/Patient-import") },
                    ],
                },
            ],
        }],
    })
}
