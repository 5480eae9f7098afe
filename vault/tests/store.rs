//! The object store against a local directory and against a real S3-compatible server (moto, started by
//! this test through `MEDLEDGER_VAULT_MOTO`, which the test command sets to `scripts/moto`).
#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use alloy::primitives::keccak256;
use bytes::Bytes;
use medledger_vault::{
    store::{ObjectKey, Store},
    VaultError,
};

fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 253) as u8).collect()
}

/// Uploads `data` in pieces and reads it back whole and in ranges.
async fn round_trip(store: &Store) {
    // Larger than one multipart part (5 MiB) so the upload really is multipart.
    let data = sample(6 * 1024 * 1024 + 333);
    let mut upload = store.begin(10 * 1024 * 1024).await.unwrap();
    for piece in data.chunks(700_000) {
        upload.write(Bytes::copy_from_slice(piece)).await.unwrap();
    }
    assert_eq!(upload.written(), data.len() as u64);
    let key = upload.commit().await.unwrap();
    assert_eq!(key, ObjectKey(keccak256(&data)), "content-addressed");
    assert_eq!(store.len(key).await.unwrap(), data.len() as u64);
    assert_eq!(store.get_range(key, 0..data.len() as u64).await.unwrap(), &data[..]);
    assert_eq!(store.get_range(key, 5_000_000..5_000_100).await.unwrap(), &data[5_000_000..5_000_100]);

    // Same bytes again: nothing is rewritten, same key.
    let mut again = store.begin(u64::MAX).await.unwrap();
    again.write(Bytes::from(data.clone())).await.unwrap();
    assert_eq!(again.commit().await.unwrap(), key);
}

/// Past the limit the upload is refused while streaming and leaves nothing published.
async fn limit_while_streaming(store: &Store) {
    let mut upload = store.begin(1000).await.unwrap();
    upload.write(Bytes::from(vec![1u8; 600])).await.unwrap();
    let err = upload.write(Bytes::from(vec![1u8; 600])).await.unwrap_err();
    assert!(matches!(err, VaultError::TooLarge { limit: 1000 }), "{err:?}");
    assert!(!store.exists(ObjectKey(keccak256(vec![1u8; 600]))).await.unwrap());
    assert!(!store.exists(ObjectKey(keccak256(vec![1u8; 1200]))).await.unwrap());

    let mut aborted = store.begin(u64::MAX).await.unwrap();
    aborted.write(Bytes::from_static(b"abandoned")).await.unwrap();
    aborted.abort().await;
    assert!(!store.exists(ObjectKey(keccak256(b"abandoned"))).await.unwrap());
}

#[tokio::test]
async fn local_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("vault");
    let store = Store::from_url(&format!("file://{}", root.display())).unwrap();
    round_trip(&store).await;
    limit_while_streaming(&store).await;
    // Only published objects remain: the staging area is empty.
    let staging = root.join("staging");
    let left = std::fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "staging objects left behind");

    // Create-only: an object already at the address (here: altered on disk) is not overwritten.
    let data = b"first".to_vec();
    let key = ObjectKey(keccak256(&data));
    let hex = hex::encode(key.0);
    let path = root.join("objects").join(&hex[..2]).join(&hex);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"tampered").unwrap();
    let mut upload = store.begin(u64::MAX).await.unwrap();
    upload.write(Bytes::from(data)).await.unwrap();
    upload.commit().await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"tampered");
}

#[test]
fn bad_urls_are_refused() {
    for url in ["ftp://x/y", "file://relative", "s3://", "not a url"] {
        assert!(matches!(Store::from_url(url), Err(VaultError::Config(_))), "{url}");
    }
}

#[tokio::test]
async fn s3_compatible_server() {
    let Some(moto) = support::Moto::start().await else { return };
    let store = moto.store("vault-test", "docs/v1").await;
    round_trip(&store).await;
    limit_while_streaming(&store).await;
    // Create-only on S3 too: an object already at the address stays as it is.
    let data = b"first".to_vec();
    let key = ObjectKey(keccak256(&data));
    let hex = hex::encode(key.0);
    moto.put_raw("vault-test", &format!("docs/v1/objects/{}/{hex}", &hex[..2]), b"tampered").await;
    let mut upload = store.begin(u64::MAX).await.unwrap();
    upload.write(Bytes::from(data)).await.unwrap();
    upload.commit().await.unwrap();
    assert_eq!(store.get_range(key, 0..8).await.unwrap(), &b"tampered"[..]);

    // Sweeping: a leftover staging object goes, published objects are listed by their key.
    moto.put_raw("vault-test", "docs/v1/staging/deadbeef", b"unfinished").await;
    let later = chrono::Utc::now() + chrono::Duration::seconds(5);
    assert_eq!(store.sweep_staging(chrono::Utc::now() - chrono::Duration::hours(1)).await.unwrap(), 0);
    assert_eq!(store.sweep_staging(later).await.unwrap(), 1);
    let listed = store.objects_before(later).await.unwrap();
    assert!(listed.contains(&key) && listed.len() == 2, "{listed:?}");
}
