//! Portability vault to vault: the patient exports everything from one vault (`$everything`) and imports
//! the Bundle into another (`$import`) on the same chain; every document is checked against its on-chain
//! anchor on the way in, so a tampered document (or a forged one with consistent hashes) refuses the
//! import. Also the FHIR-shaped create (`POST /fhir/DocumentReference`) and `GET /fhir/metadata`.
#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use alloy::signers::local::PrivateKeySigner;
use base64::Engine as _;
use chrono::Utc;
use medledger_vault::{
    crypto::salted_hash, crypto::Keyring, policy::scope, store::Store, Vault, VaultConfig,
};
use serde_json::{json, Value};
use std::sync::Arc;
use support::{Client, Db};

const CHAIN: i64 = 31337;

struct Side {
    db: Db,
    client: Client,
    _store: tempfile::TempDir,
}

async fn side(key: u8, patient: &PrivateKeySigner) -> Side {
    let db = Db::start().await;
    let store = tempfile::tempdir().unwrap();
    let vault = Vault::new(
        VaultConfig::new(CHAIN as u64, "http://localhost:8080"),
        db.pool.clone(),
        Store::from_url(&format!("file://{}", store.path().display())).unwrap(),
        Keyring::parse(&format!("k{key} {}\n", hex::encode([key; 32]))).unwrap(),
        None,
    );
    db.checkpoint(CHAIN, 10, Utc::now()).await;
    db.episode(CHAIN, 1, patient.address().into(), false).await;
    Side { db, client: Client { router: medledger_vault::router(Arc::new(vault)) }, _store: store }
}

fn hash_of(doc: &Value, system: &str) -> Vec<u8> {
    let ids = doc["identifier"].as_array().unwrap();
    let v = ids.iter().find(|i| i["system"].as_str().unwrap().ends_with(system)).unwrap()["value"].as_str();
    hex::decode(v.unwrap().trim_start_matches("0x")).unwrap()
}

fn binary_mut<'a>(bundle: &'a mut Value, id: &str) -> &'a mut Value {
    let entries = bundle["entry"].as_array_mut().unwrap();
    let e =
        entries.iter_mut().find(|e| e["resource"]["resourceType"] == "Binary" && e["resource"]["id"] == id);
    &mut e.unwrap()["resource"]
}

fn decode(data: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap()).unwrap()
}

fn encode(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

async fn listed(client: &Client, patient: &PrivateKeySigner, token: &str) -> u64 {
    let path = format!("/fhir/DocumentReference?patient={}", patient.address());
    client.get(&path, Some(token)).await.json()["total"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_moves_to_another_vault_checked_against_the_chain() {
    let patient = PrivateKeySigner::random();
    let doctor = PrivateKeySigner::random();
    let (a, b) = (side(1, &patient).await, side(2, &patient).await);

    // The CapabilityStatement needs no session.
    let r = a.client.get("/fhir/metadata", None).await;
    assert_eq!(r.status, 200);
    let cap = r.json();
    assert_eq!(cap["resourceType"], "CapabilityStatement");
    assert_eq!(cap["fhirVersion"], "4.0.1");
    assert!(cap["rest"][0]["resource"].as_array().unwrap().iter().any(|x| x["type"] == "DocumentReference"));

    // Two documents into vault A: one as a FHIR DocumentReference create, one as raw bytes.
    let token = a.client.login(&patient).await;
    let note = b"Encounter note: BP 128/82, continue lisinopril.".to_vec();
    let create = json!({
        "resourceType": "DocumentReference",
        "subject": { "identifier": { "system": "urn:ethereum:address", "value": patient.address().to_string() } },
        "context": { "encounter": [{ "identifier": { "value": "1" } }] },
        "type": { "coding": [{ "code": "11506-3" }] },
        "content": [{ "attachment": { "contentType": "text/plain", "data": encode(&note) } }],
    });
    let r = a.client.post_authed("/fhir/DocumentReference", &token, create.clone()).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let first = r.json();
    let mut bad = create.clone();
    bad["content"][0]["attachment"]["data"] = json!("not base64!");
    let r = a.client.post_authed("/fhir/DocumentReference", &token, bad).await;
    assert_eq!(r.status, 400);
    assert!(r.outcome().contains("base64"), "{}", r.outcome());
    let lab = b"HbA1c 6.1 %".to_vec();
    let query = format!("patient={}&episode=1&type=lab", patient.address());
    let r = a.client.upload(&token, &query, "text/plain", lab.clone()).await;
    assert_eq!(r.status, 201);
    let second = r.json();
    let docs = [(&first, &note), (&second, &lab)];

    // Both anchored on chain: the indexer of each vault has the same RecordAnchored rows.
    for (i, (d, _)) in docs.iter().enumerate() {
        for side in [&a, &b] {
            let (c, p) = (hash_of(d, "contentHash"), hash_of(d, "pointerHash"));
            side.db.record(CHAIN, 1, i as i64, patient.address().into(), &c, &p, false).await;
        }
    }

    // Only the patient exports: a grantee with READ is refused.
    a.db.consent(CHAIN, patient.address().into(), doctor.address().into(), scope::READ, None, false, None, 5)
        .await;
    let doc_token = a.client.login(&doctor).await;
    let path = format!("/fhir/Patient/{}/$everything", patient.address());
    let r = a.client.get(&path, Some(&doc_token)).await;
    assert_eq!(r.status, 403);
    assert!(r.outcome().contains("only the patient"), "{}", r.outcome());
    let r = a.client.get(&path, None).await;
    assert_eq!(r.status, 401);

    let r = a.client.get(&path, Some(&token)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let bundle = r.json();
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "collection");
    let kinds: Vec<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "DocumentReference").count(), 2);
    assert_eq!(kinds.iter().filter(|k| **k == "Binary").count(), 2);
    assert!(kinds.contains(&"AuditEvent"));
    for (d, bytes) in docs {
        let id = d["id"].as_str().unwrap();
        let mut copy = bundle.clone();
        assert_eq!(&decode(&binary_mut(&mut copy, id)["data"]), bytes);
    }

    let import = format!("/fhir/Patient/{}/$import", patient.address());
    let b_token = b.client.login(&patient).await;

    // Tampered on the way: one byte of the first document changed. Refused, nothing stored.
    let first_id = first["id"].as_str().unwrap();
    let mut tampered = bundle.clone();
    let bin = binary_mut(&mut tampered, first_id);
    let mut bytes = decode(&bin["data"]);
    bytes[0] ^= 1;
    bin["data"] = encode(&bytes);
    let r = b.client.post_authed(&import, &b_token, tampered).await;
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    let why = r.outcome();
    assert!(why.contains(first_id) && why.contains("do not hash to its content hash"), "{why}");
    assert_eq!(listed(&b.client, &patient, &b_token).await, 0, "nothing of a refused Bundle is stored");

    // A forger who also rewrites the content hash (consistently, with the salt): no anchor records it.
    let mut forged = bundle.clone();
    let salt = {
        let entries = forged["entry"].as_array().unwrap();
        let d = entries
            .iter()
            .find(|e| e["resource"]["id"] == first_id && e["resource"]["resourceType"] == "DocumentReference")
            .unwrap();
        let ext = d["resource"]["extension"].as_array().unwrap();
        ext.iter().find(|x| x["url"].as_str().unwrap().ends_with("/salt")).unwrap()["valueString"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let altered = b"Encounter note: BP 128/82, STOP lisinopril.".to_vec();
    binary_mut(&mut forged, first_id)["data"] = encode(&altered);
    for e in forged["entry"].as_array_mut().unwrap() {
        if e["resource"]["id"] == first_id && e["resource"]["resourceType"] == "DocumentReference" {
            e["resource"]["identifier"][0]["value"] = json!(salted_hash(salt, &altered).to_string());
        }
    }
    let r = b.client.post_authed(&import, &b_token, forged).await;
    assert_eq!(r.status, 422);
    let why = r.outcome();
    assert!(why.contains(first_id) && why.contains("no on-chain anchor"), "{why}");

    // An altered access-log entry is caught by its hash.
    let mut relogged = bundle.clone();
    for e in relogged["entry"].as_array_mut().unwrap() {
        if e["resource"]["resourceType"] == "AuditEvent" {
            e["resource"]["outcomeDesc"] = json!("nothing to see");
            break;
        }
    }
    let r = b.client.post_authed(&import, &b_token, relogged).await;
    assert_eq!(r.status, 400);
    assert!(r.outcome().contains("AuditEvent") && r.outcome().contains("altered"), "{}", r.outcome());

    // Another address cannot import into her records.
    let r = b.client.post_authed(&import, &b.client.login(&doctor).await, bundle.clone()).await;
    assert_eq!(r.status, 403);

    // The genuine Bundle: both documents stored in B, anchored there, byte for byte; again: nothing new.
    let r = b.client.post_authed(&import, &b_token, bundle.clone()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.outcome().starts_with("imported 2 documents (0 already here)"), "{}", r.outcome());
    for (d, bytes) in docs {
        let id = d["id"].as_str().unwrap();
        let r = b.client.get(&format!("/fhir/Binary/{id}"), Some(&b_token)).await;
        assert_eq!(r.status, 200);
        assert_eq!(&r.body, bytes);
        let meta = b.client.get(&format!("/fhir/DocumentReference/{id}"), Some(&b_token)).await.json();
        assert_eq!(meta["extension"][0]["valueCode"], "anchored", "{meta}");
    }
    let r = b.client.post_authed(&import, &b_token, bundle).await;
    assert_eq!(r.status, 200);
    assert!(r.outcome().starts_with("imported 0 documents (2 already here)"), "{}", r.outcome());
    medledger_vault::verify_log(&b.db.pool).await.unwrap();
}
