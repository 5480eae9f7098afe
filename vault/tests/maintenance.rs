//! Key rotation and log verification as library functions, on a vault used through its API.
#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use alloy::primitives::Address;
use bytes::Bytes;
use chrono::Utc;
use futures::TryStreamExt;
use medledger_vault::{
    crypto::Keyring, rotate_keys, store::Store, verify_log, UploadRequest, Vault, VaultConfig,
};
use support::Db;

const CHAIN: i64 = 31337;
const PATIENT: Address = Address::repeat_byte(0xaa);
const OLD: [u8; 32] = [1; 32];
const NEW: [u8; 32] = [2; 32];

fn vault(db: &Db, dir: &std::path::Path, keys: &str) -> Vault {
    let store = Store::from_url(&format!("file://{}", dir.display())).unwrap();
    Vault::new(
        VaultConfig::new(CHAIN as u64, "http://localhost:8080"),
        db.pool.clone(),
        store,
        Keyring::parse(keys).unwrap(),
        None,
    )
}

async fn read(v: &Vault, id: [u8; 16]) -> Result<Vec<u8>, medledger_vault::VaultError> {
    let d = v.download(PATIENT, id, None).await?;
    let parts: Vec<Bytes> = d.body.try_collect().await.unwrap();
    Ok(parts.concat())
}

/// A database with a checkpoint and the patient's episode 1, a store directory and a vault using key k1.
async fn setup() -> (Db, tempfile::TempDir, Vault) {
    let db = Db::start().await;
    db.checkpoint(CHAIN, 5, Utc::now()).await;
    db.episode(CHAIN, 1, PATIENT.into(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let v = vault(&db, dir.path(), &format!("k1 {}", hex::encode(OLD)));
    (db, dir, v)
}

/// The patient uploads `body`.
async fn put(v: &Vault, body: Vec<u8>) -> medledger_vault::Uploaded {
    let req = UploadRequest {
        patient: PATIENT,
        episode_id: 1,
        doc_type: "note".into(),
        content_type: "text/plain".into(),
        declared_len: None,
    };
    v.upload(PATIENT, req, futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(body))])).await.unwrap()
}

fn files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(files(&e.path()));
        } else {
            out.push((e.path(), std::fs::read(e.path()).unwrap()));
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn rotation_rewraps_every_key_and_leaves_contents() {
    let (db, dir, old) = setup().await;
    let mut docs = Vec::new();
    for i in 0..4u8 {
        let body = vec![i; 70_000 + usize::from(i)];
        docs.push((put(&old, body.clone()).await.document.id, body));
    }
    let before = files(dir.path());
    // One wrapped key altered: reported, not rotated, the others proceed.
    sqlx::query("UPDATE vault_documents SET wrapped_key = set_byte(wrapped_key, 40, get_byte(wrapped_key, 40) # 1) WHERE id = $1")
        .bind(docs[3].0.as_slice())
        .execute(&db.pool)
        .await
        .unwrap();

    let both = Keyring::parse(&format!("k2 {}\nk1 {}", hex::encode(NEW), hex::encode(OLD))).unwrap();
    let r = rotate_keys(&db.pool, &both).await.unwrap();
    assert_eq!(r.rewrapped, 3);
    assert_eq!(r.failed.len(), 1);
    assert_eq!(r.failed[0].0, hex::encode(docs[3].0));
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kek_id FROM vault_documents ORDER BY kek_id")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(kinds, ["k1", "k2", "k2", "k2"]);
    // Again: nothing left to do but the broken one.
    assert_eq!(rotate_keys(&db.pool, &both).await.unwrap().rewrapped, 0);
    // The contents were not touched; a vault holding only the new KEK reads the rotated documents.
    assert_eq!(files(dir.path()), before);
    let new_only = vault(&db, dir.path(), &format!("k2 {}", hex::encode(NEW)));
    for (id, body) in &docs[..3] {
        assert_eq!(&read(&new_only, *id).await.unwrap(), body);
    }
    assert!(read(&new_only, docs[3].0).await.is_err());
    // The old KEK alone no longer opens them.
    assert!(read(&old, docs[0].0).await.is_err());
    // Every read, write and failure above is in a chain that verifies.
    assert!(verify_log(&db.pool).await.unwrap().entries >= 10);
}

#[tokio::test]
async fn sweep_restores_consistency_after_a_crash() {
    let (db, dir, v) = setup().await;
    let kept = put(&v, b"kept".to_vec()).await;

    // What a process killed mid-upload leaves: a staging file (as object_store's local multipart names it)
    // and, killed between publishing and the row, a published object without a row.
    let staging = dir.path().join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join("0123abcd#1"), b"sealed bytes of an unfinished upload").unwrap();
    let store = Store::from_url(&format!("file://{}", dir.path().display())).unwrap();
    let mut orphan = store.begin(u64::MAX).await.unwrap();
    orphan.write(Bytes::from_static(b"sealed bytes without a row")).await.unwrap();
    let orphan_key = orphan.commit().await.unwrap();

    // Younger than the grace period: left alone (they could be uploads in progress).
    let hour = std::time::Duration::from_secs(3600);
    assert_eq!(
        medledger_vault::sweep(&db.pool, &store, hour).await.unwrap(),
        medledger_vault::Sweep::default()
    );
    assert!(store.exists(orphan_key).await.unwrap());

    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let s = medledger_vault::sweep(&db.pool, &store, std::time::Duration::ZERO).await.unwrap();
    assert_eq!((s.staging_removed, s.orphans_removed, s.missing.len()), (1, 1, 0));
    assert!(!store.exists(orphan_key).await.unwrap());
    assert_eq!(read(&v, kept.document.id).await.unwrap(), b"kept");

    // A row whose object vanished is reported.
    std::fs::remove_dir_all(dir.path().join("objects")).unwrap();
    let s = medledger_vault::sweep(&db.pool, &store, std::time::Duration::ZERO).await.unwrap();
    assert_eq!(s.missing, vec![hex::encode(kept.document.id)]);

    // Expired sign-in rows go after a day; fresh ones stay.
    for (nonce, age) in [("old-nonce", "2 days"), ("fresh-nonce", "0 days")] {
        sqlx::query(&format!(
            "INSERT INTO vault_nonces (nonce, issued_at, expires_at) VALUES ($1, now() - interval '{age}', now() - interval '{age}')"
        ))
        .bind(nonce)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    let s = medledger_vault::sweep(&db.pool, &store, std::time::Duration::ZERO).await.unwrap();
    assert_eq!(s.expired_auth_rows, 1);
    let left: Vec<String> =
        sqlx::query_scalar("SELECT nonce FROM vault_nonces").fetch_all(&db.pool).await.unwrap();
    assert_eq!(left, ["fresh-nonce"]);
}
