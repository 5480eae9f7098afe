//! The vault end to end on an S3-compatible store (moto, started through `MEDLEDGER_VAULT_MOTO`): upload,
//! whole and ranged downloads, a tampered object refused, the crash sweep.
#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use alloy::primitives::Address;
use bytes::Bytes;
use chrono::Utc;
use futures::TryStreamExt;
use medledger_vault::{crypto::Keyring, UploadRequest, Vault, VaultConfig, VaultError};
use object_store::ObjectStoreExt;
use support::{Db, Moto};

const CHAIN: i64 = 31337;
const PATIENT: Address = Address::repeat_byte(0xaa);

#[tokio::test]
async fn vault_on_s3() {
    let Some(moto) = Moto::start().await else { return };
    let store = moto.store("vault-e2e", "vault").await;
    let db = Db::start().await;
    db.checkpoint(CHAIN, 5, Utc::now()).await;
    db.episode(CHAIN, 1, PATIENT.into(), false).await;
    let keys = Keyring::parse(&format!("k1 {}", hex::encode([3u8; 32]))).unwrap();
    let config = VaultConfig::new(CHAIN as u64, "http://localhost:8080");
    let vault = Vault::new(config, db.pool.clone(), store.clone(), keys, None);

    let data: Vec<u8> = (0..1_300_000u32).map(|i| (i % 241) as u8).collect();
    let req = UploadRequest {
        patient: PATIENT,
        episode_id: 1,
        doc_type: "note".into(),
        content_type: "application/pdf".into(),
        declared_len: None,
    };
    let pieces: Vec<Result<Bytes, std::io::Error>> =
        data.chunks(100_000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let up = vault.upload(PATIENT, req, futures::stream::iter(pieces)).await.unwrap();
    let id = up.document.id;

    let read = |range: Option<&'static str>| {
        let vault = &vault;
        async move {
            let d = vault.download(PATIENT, id, range).await?;
            let parts: Vec<Bytes> =
                d.body.try_collect().await.map_err(|e| VaultError::Internal(e.to_string()))?;
            Ok::<_, VaultError>(parts.concat())
        }
    };
    assert_eq!(read(None).await.unwrap(), data);
    assert_eq!(read(Some("bytes=1200000-1200999")).await.unwrap(), &data[1_200_000..1_201_000]);

    // The store operator replaces the object (a plain S3 client, as the bucket's owner would): refused.
    let raw = object_store::aws::AmazonS3Builder::from_env().with_url("s3://vault-e2e").build().unwrap();
    let hex_key = hex::encode(up.document.object_key.0);
    let path = object_store::path::Path::from(format!("vault/objects/{}/{hex_key}", &hex_key[..2]));
    let len = store.len(up.document.object_key).await.unwrap();
    let mut sealed = store.get_range(up.document.object_key, 0..len).await.unwrap().to_vec();
    sealed[200] ^= 1;
    raw.put(&path, Bytes::from(sealed.clone()).into()).await.unwrap();
    assert!(matches!(read(None).await, Err(VaultError::Integrity(_))));
    sealed[200] ^= 1;
    raw.put(&path, Bytes::from(sealed).into()).await.unwrap();
    assert_eq!(read(None).await.unwrap(), data);

    // Nothing left in staging; the object is referenced, so the sweep keeps it.
    let s = medledger_vault::sweep(&db.pool, &store, std::time::Duration::ZERO).await.unwrap();
    assert_eq!((s.staging_removed, s.orphans_removed, s.missing.len()), (0, 0, 0));
    assert_eq!(read(None).await.unwrap(), data);
}
