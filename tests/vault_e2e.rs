//! The record vault end to end: real anvil with the deployed contracts, PostgreSQL, the indexer following
//! the chain and the API server with the vault mounted, driven through [`medledger::records`] (the client
//! of `medledger records`) and the binary's `records` commands. The chain decides: grant → read, revoke →
//! the very next read denied, expiry (chain time moved) → denied, hidden records withheld from grantees,
//! the emergency window, WRITE vs READ, strangers, suspended doctors, forged and replayed sign-ins, and
//! every decision in the access log.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;
#[macro_use]
mod vault_common;

use alloy::{
    primitives::{aliases::U40, Address},
    signers::{local::PrivateKeySigner, SignerSync as _},
};
use medledger::records::Anchors;
use medledger_core::bindings::{ConsentRegistry, CredentialRegistry, RecordAnchors};
use serde_json::json;
use support::*;
use vault_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_decides_who_reads() {
    let w = World::start().await;
    let x = actors(&w.devnet);
    let key = |a: Address| x.signers.iter().find(|s| s.address() == a).unwrap().clone();
    let (patient, doctor, other_doctor, stranger) = (x.patient, x.prescriber, x.prescriber2, x.pharmacy2);
    let m = w.devnet.manifest().contracts;
    let cr = CredentialRegistry::new(m.credential_registry, w.p.clone());
    let cs = ConsentRegistry::new(m.consent_registry, w.p.clone());
    let ra = RecordAnchors::new(m.record_anchors, w.p.clone());
    let now = w.now().await;
    let year = U40::from(now + 365 * 86_400);
    let jur = alloy::primitives::FixedBytes::<8>::from_slice(b"US-CA\0\0\0");
    send!(cr.register(doctor, 1, alloy::primitives::B256::repeat_byte(1), jur, year, 0).from(x.admin));
    send!(cr.register(other_doctor, 1, alloy::primitives::B256::repeat_byte(2), jur, year, 0).from(x.admin));
    send!(ra.openEpisode(patient).from(patient));
    // The vault checks the episode against the index: wait until it has it.
    w.synced().await;

    // The patient uploads and anchors two documents; the second she hides.
    let me = w.client(&key(patient)).await;
    let anchors = Anchors::connect(&w.devnet.rpc_url(), w.devnet.manifest(), key(patient)).await.unwrap();
    let note = b"Encounter note: blood pressure 128/82, continue lisinopril.".to_vec();
    let up = me.upload(patient, 1, "11506-3", "text/plain", note.clone()).await.unwrap();
    let (index, _) = anchors.anchor(1, &up).await.unwrap();
    assert_eq!(index, 0);
    let secret = me.upload(patient, 1, "behavioral", "text/plain", b"private".to_vec()).await.unwrap();
    let (hidden_index, _) = anchors.anchor(1, &secret).await.unwrap();
    anchors.set_hidden(1, hidden_index, true).await.unwrap();
    w.synced().await;
    assert_eq!(me.download(&up.id).await.unwrap(), note);
    assert_eq!(me.list(patient).await.unwrap().len(), 2, "the patient sees her hidden record");

    // No grant yet: refused.
    let doc = w.client(&key(doctor)).await;
    refused(doc.download(&up.id).await, 403, "no consent");

    // Grant READ: the doctor reads; the hidden record is withheld; he cannot write.
    send!(cs.grant(doctor, READ, U40::from(now + 7 * 86_400)).from(patient));
    w.synced().await;
    assert_eq!(doc.download(&up.id).await.unwrap(), note);
    let listed = doc.list(patient).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    refused(doc.download(&secret.id).await, 403, "hidden this record");
    refused(doc.upload(patient, 1, "note", "text/plain", b"x".to_vec()).await, 403, "scope");

    // WRITE: the doctor adds a note; it is pending until anchored, then the patient reads it.
    send!(cs.grant(doctor, READ | WRITE, U40::from(now + 7 * 86_400)).from(patient));
    w.synced().await;
    let added =
        doc.upload(patient, 1, "note", "text/plain", b"Follow-up in 3 months.".to_vec()).await.unwrap();
    let doc_anchors = Anchors::connect(&w.devnet.rpc_url(), w.devnet.manifest(), key(doctor)).await.unwrap();
    doc_anchors.anchor(1, &added).await.unwrap();
    w.synced().await;
    assert_eq!(me.download(&added.id).await.unwrap(), b"Follow-up in 3 months.");

    // Revoke, mine: the very next read is denied (the session stays, the grant does not).
    send!(cs.revoke(doctor).from(patient));
    w.synced().await;
    refused(doc.download(&up.id).await, 403, "revoked");

    // Expiry: a grant for an hour, then chain time moves past it.
    let now = w.now().await;
    send!(cs.grant(doctor, READ, U40::from(now + 3600)).from(patient));
    w.synced().await;
    assert_eq!(doc.download(&up.id).await.unwrap(), note);
    w.advance(3601).await;
    w.synced().await;
    refused(doc.download(&up.id).await, 403, "expired");

    // Emergency access: readable only inside the window.
    let er = w.client(&key(other_doctor)).await;
    refused(er.download(&up.id).await, 403, "no consent");
    let why = alloy::primitives::B256::repeat_byte(0xe1); // the salted hash of a written justification
    send!(cs.openEmergencyAccess(patient, 1, why, 600).from(other_doctor));
    w.synced().await;
    assert_eq!(er.download(&up.id).await.unwrap(), note);
    w.advance(601).await;
    w.synced().await;
    refused(er.download(&up.id).await, 403, "no consent");

    // Emergency access ends at the grantee's credential's expiry, as the chain's `hasScope` (which asks
    // `isActive(grantee, Prescriber)`): the doctor's credential renewed to expire in 5 minutes, emergency
    // access opened for 10; past the expiry the chain says no and so does the vault, saying why.
    let expires = w.now().await + 300;
    send!(cr.renew(doctor, alloy::primitives::B256::repeat_byte(1), U40::from(expires)).from(x.admin));
    send!(cs.openEmergencyAccess(patient, 1, why, 600).from(doctor));
    w.synced().await;
    assert!(cs.hasScope(patient, doctor, READ).call().await.unwrap());
    assert_eq!(doc.download(&up.id).await.unwrap(), note);
    w.advance(300).await;
    w.synced().await;
    assert!(w.now().await >= expires);
    assert!(!cs.hasScope(patient, doctor, READ).call().await.unwrap(), "the chain ends it at the expiry");
    refused(doc.download(&up.id).await, 403, "emergency access needs an active prescriber credential");

    // A suspended doctor with a current grant: refused.
    send!(cs.grant(other_doctor, READ, U40::from(w.now().await + 86_400)).from(patient));
    w.synced().await;
    assert_eq!(er.download(&up.id).await.unwrap(), note);
    send!(cr.suspend(other_doctor, 7).from(x.admin));
    w.synced().await;
    refused(er.download(&up.id).await, 403, "credential is suspended");

    // A stranger.
    let s = w.client(&key(stranger)).await;
    refused(s.download(&up.id).await, 403, "no consent");
    refused(s.list(patient).await, 403, "no consent");

    // The same through the binary: the vault's reason on stderr, status 1; the patient's put anchors.
    let cli = |args: &[&str], signer: &PrivateKeySigner| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_medledger"))
            .arg("records")
            .args(args)
            .env("MEDLEDGER_VAULT_URL", &w.base)
            .env("MEDLEDGER_PRIVATE_KEY", alloy::hex::encode_prefixed(signer.to_bytes()))
            .env("MEDLEDGER_RPC_URL", w.devnet.rpc_url())
            .env("MEDLEDGER_MANIFEST", w.devnet.manifest_path())
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = cli(&["get", &up.id], &key(stranger));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("the vault refused (403): access denied: no consent from the patient"), "{err}");
    let file = w._store.path().join("../cli-note.md");
    std::fs::write(&file, "Lab results: HbA1c 6.1 %.").unwrap();
    let (code, out, err) =
        cli(&["put", file.to_str().unwrap(), "--episode", "1", "--type", "lab"], &key(patient));
    std::fs::remove_file(&file).unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("anchored     episode 1 record 3"), "{out}");
    w.synced().await;
    let (code, out, err) = cli(&["ls"], &key(patient));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().count(), 4, "{out}");
    assert_eq!(out.lines().filter(|l| l.contains("anchored")).count(), 4, "{out}");
    let id = out.lines().find(|l| l.contains("lab")).unwrap().split_whitespace().next().unwrap().to_owned();
    let (code, out, err) = cli(&["get", &id], &key(patient));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "Lab results: HbA1c 6.1 %.");

    let (code, out, err) = cli(&["hide", "--episode", "1", "--index", "3"], &key(patient));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("episode 1 record 3 hidden from grantees"), "{out}");
    let (code, _, err) = cli(&["hide", "--episode", "1", "--index", "3"], &key(stranger));
    assert_eq!(code, Some(1));
    assert!(err.contains("RecordAnchors__NotPatient"), "{err}");
    let (code, out, err) = cli(&["log"], &key(patient));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.lines().any(|l| l.contains("denied") && l.contains("revoked")), "{out}");

    // Sign-in refusals over the wire: forged signature, replayed nonce, another chain.
    let http = reqwest::Client::new();
    let nonce: serde_json::Value =
        http.get(format!("{}/auth/nonce", w.base)).send().await.unwrap().json().await.unwrap();
    let (domain, uri, n) =
        (nonce["domain"].as_str().unwrap(), nonce["uri"].as_str().unwrap(), nonce["nonce"].as_str().unwrap());
    let message = medledger::records::siwe_message(domain, uri, w.chain_id as u64, patient, n);
    let forged = key(stranger).sign_message_sync(message.as_bytes()).unwrap();
    let login = |m: String, sig: alloy::primitives::Signature| {
        let body = json!({"message": m, "signature": format!("0x{}", alloy::hex::encode(sig.as_bytes()))});
        http.post(format!("{}/auth/login", w.base)).json(&body).send()
    };
    let r = login(message.clone(), forged).await.unwrap();
    assert_eq!(r.status(), 401, "forged signature");
    let good = key(patient).sign_message_sync(message.as_bytes()).unwrap();
    assert_eq!(login(message.clone(), good).await.unwrap().status(), 200);
    let r = login(message, good).await.unwrap();
    assert_eq!(r.status(), 401, "replayed nonce");
    assert!(r.text().await.unwrap().contains("nonce"));
    let nonce: serde_json::Value =
        http.get(format!("{}/auth/nonce", w.base)).send().await.unwrap().json().await.unwrap();
    let other = medledger::records::siwe_message(domain, uri, 1, patient, nonce["nonce"].as_str().unwrap());
    let sig = key(patient).sign_message_sync(other.as_bytes()).unwrap();
    let r = login(other, sig).await.unwrap();
    assert_eq!(r.status(), 401, "another chain");
    assert!(r.text().await.unwrap().contains("chain"));

    // Every decision is in the log: the patient sees all of it, with denials and their reasons.
    let log = me.audit(patient).await.unwrap();
    let reasons: Vec<&str> = log.iter().filter_map(|e| e["outcomeDesc"].as_str()).collect();
    for reason in
        ["no_grant", "hidden", "missing_scope", "revoked", "expired", "credential", "emergency_credential"]
    {
        assert!(reasons.contains(&reason), "{reason} missing from the log: {reasons:?}");
    }
    assert!(log.iter().any(|e| e["outcome"] == "0" && e["subtype"][0]["code"] == "write"));
    // The doctor sees only his own entries.
    let theirs = w.client(&key(doctor)).await.audit(patient).await.unwrap();
    assert!(!theirs.is_empty() && theirs.len() < log.len());
    medledger_vault::verify_log(&w.pool).await.expect("the log chain verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_that_drops_the_grant_withdraws_access() {
    let w = World::start().await;
    let x = actors(&w.devnet);
    let key = |a: Address| x.signers.iter().find(|s| s.address() == a).unwrap().clone();
    let (patient, doctor) = (x.patient, x.prescriber);
    let m = w.devnet.manifest().contracts;
    let cs = ConsentRegistry::new(m.consent_registry, w.p.clone());
    let ra = RecordAnchors::new(m.record_anchors, w.p.clone());
    send!(ra.openEpisode(patient).from(patient));
    w.synced().await;
    let me = w.client(&key(patient)).await;
    let up = me.upload(patient, 1, "note", "text/plain", b"reorg note".to_vec()).await.unwrap();
    Anchors::connect(&w.devnet.rpc_url(), w.devnet.manifest(), key(patient))
        .await
        .unwrap()
        .anchor(1, &up)
        .await
        .unwrap();
    let doc = w.client(&key(doctor)).await;
    send!(cs.grant(doctor, READ, U40::from(w.now().await + 86_400)).from(patient));
    w.synced().await;
    assert_eq!(doc.download(&up.id).await.unwrap(), b"reorg note");

    // The grant's block is replaced by an empty one: once the index follows, the grant is gone.
    let _: serde_json::Value = rpc(&w.p, "anvil_reorg", json!([1, []])).await;
    w.synced().await;
    refused(doc.download(&up.id).await, 403, "no consent");
    let log = me.audit(patient).await.unwrap();
    assert!(log.iter().any(|e| e["outcome"] == "4" && e["outcomeDesc"] == "no_grant"));
}
