//! The vault's routes with `oneshot` against a throwaway PostgreSQL holding the indexer's tables (rows
//! written as the indexer would) and a local store: sign-in refusals, the access rule end to end through
//! HTTP, ranged downloads, bad input, tampering, outages, the access log and a privacy scan.
#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use chrono::{Duration, Utc};
use medledger_vault::{crypto::Keyring, policy::scope, store::Store, Vault, VaultConfig};
use std::sync::Arc;
use support::{siwe_message, Client, Db, Reply};

const CHAIN: i64 = 31337;
const EPISODE: i64 = 1;

struct World {
    db: Db,
    client: Client,
    store_dir: tempfile::TempDir,
    patient: PrivateKeySigner,
    doctor: PrivateKeySigner,
}

fn addr(s: &PrivateKeySigner) -> [u8; 20] {
    s.address().into()
}

async fn world(tweak: impl FnOnce(&mut VaultConfig)) -> World {
    let db = Db::start().await;
    let store_dir = tempfile::tempdir().unwrap();
    let store = Store::from_url(&format!("file://{}", store_dir.path().display())).unwrap();
    let keys = Keyring::parse(&format!("k1 {}\n", hex::encode([7u8; 32]))).unwrap();
    let mut config = VaultConfig::new(CHAIN as u64, "http://localhost:8080");
    tweak(&mut config);
    let vault = Vault::new(config, db.pool.clone(), store, keys, None);
    let client = Client { router: medledger_vault::router(Arc::new(vault)) };
    let patient = PrivateKeySigner::random();
    let doctor = PrivateKeySigner::random();
    db.checkpoint(CHAIN, 10, Utc::now()).await;
    db.episode(CHAIN, EPISODE, addr(&patient), false).await;
    World { db, client, store_dir, patient, doctor }
}

fn upload_query(patient: &PrivateKeySigner) -> String {
    format!("patient={}&episode={EPISODE}&type=11506-3", patient.address())
}

fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| b"MARIA-NOTE-"[i % 11] ^ ((i / 11) as u8 & 0x20)).collect()
}

/// Uploads as `who` into the patient's episode; returns (id, contentHash, pointerHash).
async fn upload(w: &World, token: &str, body: Vec<u8>) -> (String, Vec<u8>, Vec<u8>) {
    let r = w.client.upload(token, &upload_query(&w.patient), "text/plain", body).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    let hash = |i: usize| {
        hex::decode(j["identifier"][i]["value"].as_str().unwrap().trim_start_matches("0x")).unwrap()
    };
    (j["id"].as_str().unwrap().to_owned(), hash(0), hash(1))
}

async fn advance(w: &World, block: i64, time: chrono::DateTime<Utc>) {
    w.db.checkpoint(CHAIN, block, time).await;
}

#[tokio::test]
async fn sign_in_refusals_each_say_why() {
    let w = world(|_| {}).await;
    let c = &w.client;
    let me = &w.doctor;
    let a = me.address();

    let r = c.get("/fhir/DocumentReference?patient=0x0000000000000000000000000000000000000001", None).await;
    assert_eq!(r.status, 401);
    assert!(r.outcome().contains("authentication required"));
    assert!(r.headers.get("www-authenticate").is_some());

    let refused = |r: Reply, want: &str| {
        assert_eq!(r.status, 401, "{want}: {}", String::from_utf8_lossy(&r.body));
        let why = r.outcome();
        assert!(why.contains(want), "expected {want:?}, got {why:?}");
    };
    let n = c.nonce().await;
    refused(
        c.sign_in(me, &siwe_message("evil.example", "http://localhost:8080", 31337, a, &n, None)).await,
        "domain",
    );
    refused(
        c.sign_in(me, &siwe_message("localhost:8080", "http://evil.example", 31337, a, &n, None)).await,
        "URI",
    );
    refused(
        c.sign_in(me, &siwe_message("localhost:8080", "http://localhost:8080", 1, a, &n, None)).await,
        "chain 1",
    );
    let past = Some(Utc::now() - Duration::minutes(1));
    refused(
        c.sign_in(me, &siwe_message("localhost:8080", "http://localhost:8080", 31337, a, &n, past)).await,
        "expired",
    );
    refused(
        c.sign_in(
            me,
            &siwe_message("localhost:8080", "http://localhost:8080", 31337, a, "abcdefgh12345678", None),
        )
        .await,
        "unknown nonce",
    );
    // Signed by another key than the message's address.
    let other = PrivateKeySigner::random();
    refused(
        c.sign_in(&other, &siwe_message("localhost:8080", "http://localhost:8080", 31337, a, &n, None)).await,
        "signature",
    );
    refused(
        c.post_json("/auth/login", serde_json::json!({"message": "hello", "signature": "0x00"})).await,
        "not a Sign-In",
    );

    // The nonce survived the refusals above (none got as far as using it): now it signs in, once.
    let good = siwe_message("localhost:8080", "http://localhost:8080", 31337, a, &n, None);
    let ok = c.sign_in(me, &good).await;
    assert_eq!(ok.status, 200);
    let cookie = ok.headers.get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    refused(c.sign_in(me, &good).await, "already used");

    // An expired nonce.
    let n2 = c.nonce().await;
    sqlx::query("UPDATE vault_nonces SET expires_at = now() - interval '1 second' WHERE nonce = $1")
        .bind(&n2)
        .execute(&w.db.pool)
        .await
        .unwrap();
    refused(
        c.sign_in(me, &siwe_message("localhost:8080", "http://localhost:8080", 31337, a, &n2, None)).await,
        "nonce has expired",
    );

    // The cookie authenticates; logout ends the session; an expired session is refused.
    let token = ok.json()["token"].as_str().unwrap().to_owned();
    let by_cookie = axum::http::Request::get(format!("/fhir/AuditEvent?patient={a}"))
        .header("cookie", format!("theme=dark; medledger_session={token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(c.send(by_cookie).await.status, 200);
    let logout = axum::http::Request::post("/auth/logout")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(c.send(logout).await.status, 204);
    refused(c.get(&format!("/fhir/AuditEvent?patient={a}"), Some(&token)).await, "unknown or ended session");
    let t2 = c.login(me).await;
    sqlx::query("UPDATE vault_sessions SET expires_at = now() - interval '1 second'")
        .execute(&w.db.pool)
        .await
        .unwrap();
    refused(c.get(&format!("/fhir/AuditEvent?patient={a}"), Some(&t2)).await, "session has expired");
    // Host / X-Forwarded-For do not change the domain the message must name.
    let n3 = c.nonce().await;
    let msg = siwe_message("evil.example", "http://evil.example", 31337, a, &n3, None);
    use alloy::signers::SignerSync;
    let sig = me.sign_message_sync(msg.as_bytes()).unwrap();
    let spoofed = axum::http::Request::post("/auth/login")
        .header("content-type", "application/json")
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .body(axum::body::Body::from(
            serde_json::json!({"message": msg, "signature": format!("0x{}", hex::encode(sig.as_bytes()))})
                .to_string(),
        ))
        .unwrap();
    refused(c.send(spoofed).await, "domain");
}

#[tokio::test]
async fn consent_gates_every_read_and_write() {
    let w = world(|_| {}).await;
    let c = &w.client;
    let (p, d) = (addr(&w.patient), addr(&w.doctor));
    let pt = c.login(&w.patient).await;
    let dt = c.login(&w.doctor).await;
    let stranger = PrivateKeySigner::random();
    let st = c.login(&stranger).await;
    let t0 = Utc::now();

    let data = sample(200_000);
    let (id, content_hash, pointer_hash) = upload(&w, &pt, data.clone()).await;
    let binary = format!("/fhir/Binary/{id}");
    let docref = format!("/fhir/DocumentReference/{id}");
    let search = format!("/fhir/DocumentReference?patient={}", w.patient.address());

    // Pending: the patient sees it; a grantee does not (yet).
    let r = c.get(&docref, Some(&pt)).await;
    assert_eq!((r.status, r.json()["extension"][0]["valueCode"].clone()), (200, "pending".into()));
    assert_eq!(c.get(&binary, Some(&pt)).await.body, data);
    w.db.consent(CHAIN, p, d, scope::READ, Some(t0 + Duration::hours(1)), false, None, 11).await;
    advance(&w, 11, t0).await;
    let r = c.get(&binary, Some(&dt)).await;
    assert_eq!(r.status, 403);
    assert!(r.outcome().contains("not anchored"));
    assert_eq!(c.get(&search, Some(&dt)).await.json()["total"], 0);

    // Anchored (the indexer saw RecordAnchored): the grantee reads it, whole and in ranges.
    w.db.record(CHAIN, EPISODE, 0, p, &content_hash, &pointer_hash, false).await;
    advance(&w, 12, t0).await;
    let r = c.get(&binary, Some(&dt)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, data);
    assert_eq!(c.get(&docref, Some(&dt)).await.json()["extension"][0]["valueCode"], "anchored");
    let stored: String =
        sqlx::query_scalar("SELECT status FROM vault_documents").fetch_one(&w.db.pool).await.unwrap();
    assert_eq!(stored, "anchored", "the status column follows the anchor");
    assert_eq!(c.get(&search, Some(&dt)).await.json()["total"], 1);
    let r = c.get_range(&binary, &dt, "bytes=70000-140000").await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &data[70_000..140_001]);
    assert_eq!(r.headers["content-range"], "bytes 70000-140000/200000");
    assert_eq!(c.get_range(&binary, &dt, "bytes=-10").await.body, &data[data.len() - 10..]);
    assert_eq!(c.get_range(&binary, &dt, "bytes=199990-").await.body, &data[199_990..]);
    assert_eq!(c.get_range(&binary, &dt, "bytes=200000-").await.status, 416);

    // A stranger: refused, on every surface.
    assert_eq!(c.get(&binary, Some(&st)).await.status, 403);
    assert_eq!(c.get(&docref, Some(&st)).await.status, 403);
    assert_eq!(c.get(&search, Some(&st)).await.status, 403);

    // Hidden on chain: withheld from the grantee, still the patient's.
    w.db.record(CHAIN, EPISODE, 0, p, &content_hash, &pointer_hash, true).await;
    advance(&w, 13, t0).await;
    assert!(c.get(&binary, Some(&dt)).await.outcome().contains("hidden"));
    assert_eq!(c.get(&search, Some(&dt)).await.json()["total"], 0);
    assert_eq!(c.get(&search, Some(&pt)).await.json()["total"], 1);
    w.db.record(CHAIN, EPISODE, 0, p, &content_hash, &pointer_hash, false).await;

    // Revoked in block 14: the very next read is denied.
    advance(&w, 14, t0).await;
    assert_eq!(c.get(&binary, Some(&dt)).await.status, 200);
    w.db.consent(CHAIN, p, d, 0, None, true, None, 15).await;
    advance(&w, 15, t0).await;
    let r = c.get(&binary, Some(&dt)).await;
    assert_eq!(r.status, 403);
    assert!(r.outcome().contains("revoked"));

    // Granted again until t0+1h; chain time passes it: expired.
    w.db.consent(CHAIN, p, d, scope::READ, Some(t0 + Duration::hours(1)), false, None, 16).await;
    advance(&w, 16, t0).await;
    assert_eq!(c.get(&binary, Some(&dt)).await.status, 200);
    advance(&w, 17, t0 + Duration::hours(2)).await;
    assert!(c.get(&binary, Some(&dt)).await.outcome().contains("expired"));

    // Emergency access (opened by an active prescriber, as the chain requires): open for 10 minutes of chain
    // time, then closed.
    w.db.credential(CHAIN, d, "active").await;
    w.db.consent(CHAIN, p, d, 0, None, true, Some(t0 + Duration::hours(2) + Duration::minutes(10)), 18).await;
    advance(&w, 18, t0 + Duration::hours(2)).await;
    assert_eq!(c.get(&binary, Some(&dt)).await.status, 200);
    advance(&w, 19, t0 + Duration::hours(3)).await;
    assert_eq!(c.get(&binary, Some(&dt)).await.status, 403);

    // Writes: READ-only grantee refused, WRITE grantee stores into the patient's episode.
    w.db.consent(CHAIN, p, d, scope::READ, None, false, None, 20).await;
    advance(&w, 20, t0 + Duration::hours(3)).await;
    let r = c.upload(&dt, &upload_query(&w.patient), "text/plain", b"note".to_vec()).await;
    assert_eq!(r.status, 403);
    assert!(r.outcome().contains("WRITE"));
    w.db.consent(CHAIN, p, d, scope::READ | scope::WRITE, None, false, None, 21).await;
    advance(&w, 21, t0 + Duration::hours(3)).await;
    let (doctor_doc, _, _) = upload(&w, &dt, b"encounter note".to_vec()).await;
    // Its own pending upload is visible to it; the patient sees both.
    assert_eq!(c.get(&format!("/fhir/Binary/{doctor_doc}"), Some(&dt)).await.body, b"encounter note");
    assert_eq!(c.get(&search, Some(&pt)).await.json()["total"], 2);
    // A stranger cannot upload into her episodes.
    assert_eq!(c.upload(&st, &upload_query(&w.patient), "text/plain", b"x".to_vec()).await.status, 403);

    // A suspended credential denies despite the grant.
    w.db.credential(CHAIN, d, "suspended").await;
    advance(&w, 22, t0 + Duration::hours(3)).await;
    assert!(c.get(&binary, Some(&dt)).await.outcome().contains("suspended"));

    // Emergency reads need the prescriber's credential active at chain time, as the chain's `hasScope`:
    // reinstated until t0+4h, emergency access open until t0+4h10m; the credential's expiry second ends it.
    let expires = t0 + Duration::hours(4);
    w.db.credential_until(CHAIN, d, "active", expires).await;
    w.db.consent(CHAIN, p, d, 0, None, true, Some(expires + Duration::minutes(10)), 23).await;
    advance(&w, 23, expires - Duration::seconds(1)).await;
    assert_eq!(c.get(&binary, Some(&dt)).await.status, 200);
    advance(&w, 24, expires).await;
    let r = c.get(&binary, Some(&dt)).await;
    assert_eq!(r.status, 403);
    assert!(
        r.outcome()
            .contains("emergency access needs an active prescriber credential; the caller's is expired"),
        "{}",
        r.outcome()
    );

    // The access log: the patient reads all of it, the doctor only its own entries; the chain verifies.
    let all = c
        .get(&format!("/fhir/AuditEvent?patient={}&_count=1000", w.patient.address()), Some(&pt))
        .await
        .json();
    let mine = c
        .get(&format!("/fhir/AuditEvent?patient={}&_count=1000", w.patient.address()), Some(&dt))
        .await
        .json();
    let theirs = c
        .get(&format!("/fhir/AuditEvent?patient={}&_count=1000", w.patient.address()), Some(&st))
        .await
        .json();
    let (all, mine, theirs) =
        (all["total"].as_u64().unwrap(), mine["total"].as_u64().unwrap(), theirs["total"].as_u64().unwrap());
    assert!(all > mine && mine > theirs && theirs > 0, "{all} {mine} {theirs}");
    let denied: i64 = sqlx::query_scalar("SELECT count(*) FROM vault_access_log WHERE outcome = 'denied'")
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(denied, 12, "every denial logged");
    let reasons: Vec<String> = sqlx::query_scalar("SELECT DISTINCT reason FROM vault_access_log ORDER BY 1")
        .fetch_all(&w.db.pool)
        .await
        .unwrap();
    for r in [
        "credential",
        "emergency",
        "emergency_credential",
        "expired",
        "grant",
        "hidden",
        "missing_scope",
        "no_grant",
        "patient",
        "pending",
        "revoked",
    ] {
        assert!(reasons.iter().any(|x| x == r), "{r} missing from {reasons:?}");
    }
    let consent_blocks: Vec<Option<i64>> =
        sqlx::query_scalar("SELECT consent_block FROM vault_access_log WHERE reason = 'revoked'")
            .fetch_all(&w.db.pool)
            .await
            .unwrap();
    assert_eq!(consent_blocks, vec![Some(15), Some(18)], "the consent change that decided is logged");
    assert!(medledger_vault::log::verify(&w.db.pool).await.unwrap().entries > 30);
}

#[tokio::test]
async fn bad_input_is_refused_cleanly() {
    let w = world(|c| c.max_upload = 100_000).await;
    let c = &w.client;
    let pt = c.login(&w.patient).await;
    let q = upload_query(&w.patient);

    // Over the limit (no Content-Length: checked while streaming): 413, nothing listed or stored.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
        (0..20).map(|_| Ok(bytes::Bytes::from(vec![b'x'; 10_000]))).collect();
    let req = axum::http::Request::post(format!("/fhir/Binary?{q}"))
        .header("authorization", format!("Bearer {pt}"))
        .header("content-type", "text/plain")
        .body(axum::body::Body::from_stream(futures::stream::iter(chunks)))
        .unwrap();
    assert_eq!(c.send(req).await.status, 413);
    assert_eq!(c.upload(&pt, &q, "text/plain", vec![0; 100_001]).await.status, 413);
    // A client that disconnects mid-upload: no document.
    let broken = futures::stream::iter(vec![
        Ok(bytes::Bytes::from_static(b"partial")),
        Err(std::io::Error::other("connection reset")),
    ]);
    let req = axum::http::Request::post(format!("/fhir/Binary?{q}"))
        .header("authorization", format!("Bearer {pt}"))
        .header("content-type", "text/plain")
        .body(axum::body::Body::from_stream(broken))
        .unwrap();
    assert_eq!(c.send(req).await.status, 400);
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM vault_documents").fetch_one(&w.db.pool).await.unwrap();
    assert_eq!(count, 0);
    let objects = walk(w.store_dir.path());
    assert!(objects.is_empty(), "nothing stored: {objects:?}");

    assert_eq!(c.upload(&pt, &q, "text/html", b"<script>".to_vec()).await.status, 415);
    assert_eq!(
        c.upload(&pt, &q.replace("11506-3", "bad/type"), "text/plain", b"x".to_vec()).await.status,
        400
    );
    let other_episode = format!("patient={}&episode=99&type=x", w.patient.address());
    assert!(c
        .upload(&pt, &other_episode, "text/plain", b"x".to_vec())
        .await
        .outcome()
        .contains("not on chain"));
    w.db.episode(CHAIN, 2, [9; 20], false).await;
    let foreign = format!("patient={}&episode=2&type=x", w.patient.address());
    assert!(c.upload(&pt, &foreign, "text/plain", b"x".to_vec()).await.outcome().contains("another patient"));
    w.db.episode(CHAIN, 3, addr(&w.patient), true).await;
    let closed = format!("patient={}&episode=3&type=x", w.patient.address());
    assert!(c.upload(&pt, &closed, "text/plain", b"x".to_vec()).await.outcome().contains("closed"));
    assert_eq!(c.upload(&pt, "patient=nope&episode=1&type=x", "text/plain", b"x".to_vec()).await.status, 400);

    for path in [
        "/fhir/Binary/00",
        "/fhir/Binary/..%2F..%2Fetc%2Fpasswd",
        "/fhir/DocumentReference/zz",
        "/fhir/Binary/00000000000000000000000000000000",
    ] {
        let r = c.get(path, Some(&pt)).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.json()["resourceType"], "OperationOutcome");
    }
    assert_eq!(c.get("/fhir/DocumentReference", Some(&pt)).await.status, 400);

    // An empty document is fine.
    let (id, _, _) = upload(&w, &pt, Vec::new()).await;
    let r = c.get(&format!("/fhir/Binary/{id}"), Some(&pt)).await;
    assert_eq!((r.status, r.body.len()), (200, 0));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn tampering_is_refused_never_served() {
    let w = world(|_| {}).await;
    let c = &w.client;
    let pt = c.login(&w.patient).await;
    let data = sample(300_000);
    let (id, content_hash, pointer_hash) = upload(&w, &pt, data.clone()).await;
    let binary = format!("/fhir/Binary/{id}");
    assert_eq!(c.get(&binary, Some(&pt)).await.body, data);
    let files = walk(&w.store_dir.path().join("objects"));
    assert_eq!(files.len(), 1);
    let file = &files[0];
    let original = std::fs::read(file).unwrap();
    // Nothing of the plaintext is in the store.
    assert!(!original.windows(11).any(|win| win == b"MARIA-NOTE-"));

    // A flipped byte in the first chunk: refused before anything is sent.
    let mut bad = original.clone();
    bad[100] ^= 1;
    std::fs::write(file, &bad).unwrap();
    let r = c.get(&binary, Some(&pt)).await;
    assert_eq!(r.status, 500);
    assert!(r.outcome().contains("chunk 0 does not authenticate"), "{}", r.outcome());
    // In a later chunk of the first 1 MiB (opened before the response starts): refused too.
    let mut bad = original.clone();
    bad[27 + 3 * 65_552 + 10] ^= 1;
    std::fs::write(file, &bad).unwrap();
    let r = c.get(&binary, Some(&pt)).await;
    assert!(r.outcome().contains("chunk 3 does not authenticate"), "{}", r.outcome());
    // A range that avoids it still reads.
    assert_eq!(c.get_range(&binary, &pt, "bytes=0-99").await.body, &data[..100]);
    // Beyond the first 1 MiB the response has started: the stream ends with an error before the bad
    // chunk's bytes, so the client sees a failed transfer, never altered contents.
    let big = sample(1_500_000);
    let (big_id, _, _) = upload(&w, &pt, big.clone()).await;
    let big_file = walk(&w.store_dir.path().join("objects")).into_iter().find(|f| f != file).unwrap();
    let big_original = std::fs::read(&big_file).unwrap();
    let mut bad = big_original.clone();
    bad[27 + 20 * 65_552 + 10] ^= 1;
    std::fs::write(&big_file, &bad).unwrap();
    let r = c.get(&format!("/fhir/Binary/{big_id}"), Some(&pt)).await;
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("body error"), "the stream must fail");
    std::fs::write(&big_file, &big_original).unwrap();
    assert_eq!(c.get(&format!("/fhir/Binary/{big_id}"), Some(&pt)).await.body, big);
    // Truncated object.
    std::fs::write(file, &original[..original.len() - 50]).unwrap();
    assert!(c.get(&binary, Some(&pt)).await.outcome().contains("bytes"));
    std::fs::write(file, &original).unwrap();
    assert_eq!(c.get(&binary, Some(&pt)).await.body, data);

    // An altered wrapped key.
    sqlx::query("UPDATE vault_documents SET wrapped_key = set_byte(wrapped_key, 30, get_byte(wrapped_key, 30) # 1) WHERE id = $1").bind(hex::decode(&id).unwrap())
        .execute(&w.db.pool)
        .await
        .unwrap();
    assert!(c.get(&binary, Some(&pt)).await.outcome().contains("wrapped data key"));
    sqlx::query("UPDATE vault_documents SET wrapped_key = set_byte(wrapped_key, 30, get_byte(wrapped_key, 30) # 1) WHERE id = $1").bind(hex::decode(&id).unwrap())
        .execute(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(c.get(&binary, Some(&pt)).await.status, 200);

    // A content hash in the row that is not the sealed one.
    sqlx::query("UPDATE vault_documents SET content_hash = set_byte(content_hash, 0, 0) WHERE id = $1")
        .bind(hex::decode(&id).unwrap())
        .execute(&w.db.pool)
        .await
        .unwrap();
    assert!(c.get(&binary, Some(&pt)).await.outcome().contains("disagrees"));
    sqlx::query("UPDATE vault_documents SET content_hash = $1 WHERE id = $2")
        .bind(&content_hash)
        .bind(hex::decode(&id).unwrap())
        .execute(&w.db.pool)
        .await
        .unwrap();

    // An anchor that records another content hash.
    let mut other = content_hash.clone();
    other[0] ^= 1;
    w.db.record(CHAIN, EPISODE, 0, addr(&w.patient), &other, &pointer_hash, false).await;
    assert!(c.get(&binary, Some(&pt)).await.outcome().contains("anchor"));
    let failed: i64 = sqlx::query_scalar("SELECT count(*) FROM vault_access_log WHERE reason = 'integrity'")
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    assert!(failed >= 4, "integrity failures logged: {failed}");
}

#[tokio::test]
async fn outages_are_503_and_limits_429() {
    let w = world(|c| c.per_address = (1, 3)).await;
    let c = &w.client;
    let pt = c.login(&w.patient).await;
    let path = format!("/fhir/DocumentReference?patient={}", w.patient.address());
    let statuses: Vec<u16> = futures::future::join_all((0..6).map(|_| c.get(&path, Some(&pt))))
        .await
        .iter()
        .map(|r| r.status)
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");

    // The index has no checkpoint for the chain: no decision.
    sqlx::query("DELETE FROM checkpoints").execute(&w.db.pool).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let pt2 = c.login(&w.patient).await;
    let r = c.get(&path, Some(&pt2)).await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    w.db.pool.close().await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(c.get(&path, Some(&pt2)).await.status, 503);
}

#[tokio::test]
async fn privacy_scan_no_plaintext_in_rows_or_store() {
    let w = world(|_| {}).await;
    let c = &w.client;
    let pt = c.login(&w.patient).await;
    let marker = b"PRIVACY-MARKER-behavioral-health-note".to_vec();
    let mut body = marker.clone();
    body.extend(sample(150_000));
    body.extend(&marker);
    let (id, _, _) = upload(&w, &pt, body.clone()).await;
    assert_eq!(c.get(&format!("/fhir/Binary/{id}"), Some(&pt)).await.body, body);
    for f in walk(w.store_dir.path()) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!bytes.windows(marker.len()).any(|x| x == marker.as_slice()), "{f:?}");
    }
    for table in ["vault_documents", "vault_access_log", "vault_nonces", "vault_sessions"] {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM {table} t"))
            .fetch_all(&w.db.pool)
            .await
            .unwrap();
        let hex_marker = hex::encode(&marker);
        for r in rows {
            assert!(!r.contains("PRIVACY-MARKER") && !r.contains(&hex_marker), "{table}: {r}");
        }
    }
    let _ = Address::ZERO;
}
