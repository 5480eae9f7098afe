//! GraphQL's `patient { documents accessLog }` behind the record vault's session, end to end (anvil, the
//! indexer, PostgreSQL, the API with the vault mounted): the caller is learned from the vault's bearer token
//! or session cookie; the patient sees everything, a grantee what her current grant allows (the vault's own
//! rule), nobody else: each refusal a GraphQL error with its `extensions.code` (and `reason`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;
#[macro_use]
mod vault_common;

use alloy::primitives::{aliases::U40, Address};
use medledger::records::Anchors;
use medledger_core::bindings::{ConsentRegistry, RecordAnchors};
use serde_json::{json, Value};
use vault_common::*;

const DOCUMENTS: &str = "documents { id type contentType size status hidden uploader contentHash }";
const LOG: &str = "accessLog(first: 500) { seq actor action outcome reason entryHash }";

/// Asks for `fields` of the patient with `auth` (`Some(("bearer"|"cookie", token))`); returns the body.
async fn ask_for(w: &World, patient: Address, auth: Option<(&str, &str)>, fields: &str) -> Value {
    let query = format!("query($p: Address!) {{ patient(address: $p) {{ {fields} }} }}");
    let mut req = reqwest::Client::new()
        .post(format!("{}/graphql", w.base))
        .json(&json!({"query": query, "variables": {"p": patient.to_checksum(None)}}));
    match auth {
        Some(("bearer", t)) => req = req.bearer_auth(t),
        Some((_, t)) => req = req.header("cookie", format!("medledger_session={t}")),
        None => {}
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200);
    if auth.is_some() {
        assert_eq!(r.headers()["cache-control"], "no-store", "a signed-in answer is never cached");
    }
    r.json().await.unwrap()
}

/// Both fields at once.
async fn ask(w: &World, patient: Address, auth: Option<(&str, &str)>) -> Value {
    ask_for(w, patient, auth, &format!("{DOCUMENTS} {LOG}")).await
}

/// The codes (and reasons) of the errors, by field.
fn errors(body: &Value) -> Vec<(String, String, String)> {
    body["errors"]
        .as_array()
        .map(|errs| {
            errs.iter()
                .map(|e| {
                    (
                        e["path"]
                            .as_array()
                            .and_then(|p| p.last())
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                        e["extensions"]["code"].as_str().unwrap_or("").to_owned(),
                        e["extensions"]["reason"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Each field alone is refused with `code` (and `reason`), and nothing of it is answered.
async fn refused_both(w: &World, patient: Address, auth: Option<(&str, &str)>, code: &str, reason: &str) {
    for (field, selection) in [("documents", DOCUMENTS), ("accessLog", LOG)] {
        let body = ask_for(w, patient, auth, selection).await;
        let want = vec![(field.to_owned(), code.to_owned(), reason.to_owned())];
        assert_eq!(errors(&body), want, "{body}");
        assert!(body["data"]["patient"].is_null(), "nothing leaks beside the error: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patient_grantee_nobody_else() {
    let w = World::start().await;
    let x = support::actors(&w.devnet);
    let key = |a: Address| x.signers.iter().find(|s| s.address() == a).unwrap().clone();
    let (patient, doctor, stranger) = (x.patient, x.prescriber, x.pharmacy2);
    let m = w.devnet.manifest().contracts;
    let cs = ConsentRegistry::new(m.consent_registry, w.p.clone());
    let ra = RecordAnchors::new(m.record_anchors, w.p.clone());
    send!(ra.openEpisode(patient).from(patient));
    w.synced().await;

    let me = w.client(&key(patient)).await;
    let anchors = Anchors::connect(&w.devnet.rpc_url(), w.devnet.manifest(), key(patient)).await.unwrap();
    let note = me.upload(patient, 1, "11506-3", "text/plain", b"BP 128/82".to_vec()).await.unwrap();
    anchors.anchor(1, &note).await.unwrap();
    let secret = me.upload(patient, 1, "behavioral", "text/plain", b"private".to_vec()).await.unwrap();
    let (i, _) = anchors.anchor(1, &secret).await.unwrap();
    anchors.set_hidden(1, i, true).await.unwrap();
    w.synced().await;

    // No session, a made-up token: UNAUTHENTICATED.
    refused_both(&w, patient, None, "UNAUTHENTICATED", "").await;
    refused_both(&w, patient, Some(("bearer", &"ab".repeat(32))), "UNAUTHENTICATED", "").await;

    // The patient, by bearer token and by cookie: both documents (the hidden one too) and her whole log.
    let token = me.token().unwrap().to_owned();
    for how in ["bearer", "cookie"] {
        let body = ask(&w, patient, Some((how, &token))).await;
        assert!(body.get("errors").is_none(), "{body}");
        let docs = body["data"]["patient"]["documents"].as_array().unwrap();
        assert_eq!(docs.len(), 2, "{body}");
        assert!(docs.iter().any(|d| d["hidden"] == true && d["type"] == "behavioral"));
        assert!(docs.iter().all(|d| d["status"] == "anchored" && d.get("data").is_none()));
        assert_eq!(docs[0]["contentHash"], note.content_hash.to_string());
        let log = body["data"]["patient"]["accessLog"].as_array().unwrap();
        assert!(log.iter().any(|e| e["action"] == "write"), "{body}");
    }

    // A doctor without a grant: FORBIDDEN (no_grant), and the refusal is in the patient's log.
    let doc = w.client(&key(doctor)).await;
    let doc_token = doc.token().unwrap().to_owned();
    refused_both(&w, patient, Some(("bearer", &doc_token)), "FORBIDDEN", "no_grant").await;

    // With READ: the anchored, visible document only, and only his own log entries.
    send!(cs.grant(doctor, READ, U40::from(w.now().await + 86_400)).from(patient));
    w.synced().await;
    let body = ask(&w, patient, Some(("bearer", &doc_token))).await;
    assert!(body.get("errors").is_none(), "{body}");
    let docs = body["data"]["patient"]["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 1, "{body}");
    assert_eq!(docs[0]["id"], note.id.as_str());
    let log = body["data"]["patient"]["accessLog"].as_array().unwrap();
    assert!(!log.is_empty());
    let me_checksum = doctor.to_checksum(None);
    assert!(log.iter().all(|e| e["actor"] == me_checksum.as_str()), "only his own entries: {body}");

    // Revoked, mined: the very next query is refused.
    send!(cs.revoke(doctor).from(patient));
    w.synced().await;
    refused_both(&w, patient, Some(("bearer", &doc_token)), "FORBIDDEN", "revoked").await;

    // A stranger.
    let s = w.client(&key(stranger)).await;
    refused_both(&w, patient, Some(("bearer", s.token().unwrap())), "FORBIDDEN", "no_grant").await;

    // Out-of-range page: BAD_INPUT; other patient fields still answer without a session.
    let r = ask_for(&w, patient, Some(("bearer", &token)), "address accessLog(first: 0) { seq }").await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "BAD_INPUT", "{r}");

    // `medledger records export|import` through the binary: the patient exports everything; importing it
    // back finds every document already here; a tampered copy is refused with the document and the reason.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("maria.json");
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_medledger"))
            .arg("records")
            .args(args)
            .env("MEDLEDGER_VAULT_URL", &w.base)
            .env("MEDLEDGER_PRIVATE_KEY", alloy::hex::encode_prefixed(key(patient).to_bytes()))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = cli(&["export", "--out", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("exported 2 documents"), "{out}");
    let (code, out, err) = cli(&["import", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("imported 0 documents (2 already here)"), "{out}");
    let mut bundle: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    for e in bundle["entry"].as_array_mut().unwrap() {
        if e["resource"]["resourceType"] == "Binary" && e["resource"]["id"] == note.id.as_str() {
            e["resource"]["data"] = json!("QlAgMTI4LzgzCg==");
        }
    }
    std::fs::write(&file, serde_json::to_vec(&bundle).unwrap()).unwrap();
    let (code, _, err) = cli(&["import", file.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("422") && err.contains(&note.id) && err.contains("do not hash"), "{err}");

    // Every GraphQL decision is in the vault's log, which still verifies.
    let log = me.audit(patient).await.unwrap();
    let reasons: Vec<&str> = log.iter().filter_map(|e| e["outcomeDesc"].as_str()).collect();
    assert!(reasons.contains(&"no_grant") && reasons.contains(&"revoked"), "{reasons:?}");
    medledger_vault::verify_log(&w.pool).await.expect("the log chain verifies");
}
