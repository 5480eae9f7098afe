//! Where sealed documents are kept: a local directory or S3-compatible object storage, through
//! `object_store`, chosen by URL.
//!
//! Objects are content-addressed: an upload streams (multipart) into `staging/<random>` while its
//! `keccak256` is computed, then is published create-only at `objects/<aa>/<hash>` (a hard link on a local
//! directory; on S3 a conditional multipart copy) and the staging object is deleted. Nothing is ever
//! overwritten, and a failed or abandoned upload never appears under `objects/`. A local directory is
//! written with `fsync` (files and their directories).

use crate::{error::VaultError, offload::Offloaded};
use alloy::primitives::{Keccak256, B256};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::{
    aws::{AmazonS3Builder, S3ConditionalPut, S3CopyIfNotExists},
    local::LocalFileSystem,
    path::Path,
    prefix::PrefixStore,
    ObjectStore, ObjectStoreExt, WriteMultipart,
};
use rand::RngCore;
use std::{fmt, ops::Range, sync::Arc};

/// Bytes buffered before a multipart part is sent to S3 (its minimum part size is 5 MiB).
const PART_SIZE: usize = 5 * 1024 * 1024;
/// Bytes buffered before a part is written to a local directory: small, so that writing overlaps with
/// receiving and sealing (the file is fsynced once, when the upload commits).
const LOCAL_PART_SIZE: usize = 1024 * 1024;
/// Parts in flight at once per upload.
const PARTS_IN_FLIGHT: usize = 2;

/// The document store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    /// The directory of a local store (its in-progress uploads are files `object_store` does not list).
    local_root: Option<std::path::PathBuf>,
    /// The URL without credentials, for logs.
    url: String,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("url", &self.url).finish()
    }
}

/// The key of a published object: its `keccak256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectKey(pub B256);

impl ObjectKey {
    fn path(self) -> Path {
        let hex = hex::encode(self.0);
        Path::from(format!("objects/{}/{hex}", &hex[..2]))
    }
}

impl Store {
    /// Opens the store at `url`: `file:///absolute/dir` (created if missing) or `s3://bucket[/prefix]`
    /// (endpoint, region and credentials from the usual `AWS_*` variables, e.g. `AWS_ENDPOINT`,
    /// `AWS_ALLOW_HTTP=true` for a local server).
    pub fn from_url(url: &str) -> Result<Self, VaultError> {
        let parsed =
            url::Url::parse(url).map_err(|e| VaultError::Config(format!("store URL {url:?}: {e}")))?;
        let display = format!("{}://{}{}", parsed.scheme(), parsed.host_str().unwrap_or(""), parsed.path());
        let mut local_root = None;
        let inner: Arc<dyn ObjectStore> = match parsed.scheme() {
            "file" => {
                let dir = parsed.to_file_path().map_err(|()| {
                    VaultError::Config(format!("store URL {url:?}: not an absolute local path"))
                })?;
                std::fs::create_dir_all(&dir).map_err(|e| {
                    VaultError::Config(format!("cannot create store directory {}: {e}", dir.display()))
                })?;
                local_root = Some(dir.clone());
                let fs = LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| VaultError::Config(format!("store directory {}: {e}", dir.display())))?
                    .with_fsync(true);
                Arc::new(fs)
            }
            "s3" => {
                let bucket = parsed
                    .host_str()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| VaultError::Config(format!("store URL {url:?}: no bucket")))?;
                let s3 = AmazonS3Builder::from_env()
                    .with_url(format!("s3://{bucket}"))
                    .with_conditional_put(S3ConditionalPut::ETagMatch)
                    .with_copy_if_not_exists(S3CopyIfNotExists::Multipart)
                    .build()
                    .map_err(|e| VaultError::Config(format!("S3 store {display}: {e}")))?;
                let prefix = parsed.path().trim_matches('/');
                if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(PrefixStore::new(s3, prefix))
                }
            }
            other => {
                return Err(VaultError::Config(format!(
                    "store URL scheme {other:?} is not supported: use file:///dir or s3://bucket/prefix"
                )))
            }
        };
        Ok(Self { inner, local_root, url: display })
    }

    /// The URL (without credentials).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Starts a streamed upload that refuses more than `limit` bytes.
    pub async fn begin(&self, limit: u64) -> Result<Upload, VaultError> {
        let mut id = [0u8; 16];
        rand::rng().fill_bytes(&mut id);
        let staging = Path::from(format!("staging/{}", hex::encode(id)));
        let upload = self.inner.put_multipart(&staging).await.map_err(VaultError::store)?;
        let part_size = if self.local_root.is_some() { LOCAL_PART_SIZE } else { PART_SIZE };
        Ok(Upload {
            store: self.clone(),
            staging,
            writer: Some(WriteMultipart::new_with_chunk_size(upload, part_size)),
            hasher: Offloaded::new(Keccak256::new()),
            written: 0,
            limit,
        })
    }

    /// Bytes `range` of object `key`.
    pub async fn get_range(&self, key: ObjectKey, range: Range<u64>) -> Result<Bytes, VaultError> {
        self.inner.get_range(&key.path(), range).await.map_err(VaultError::store)
    }

    /// The length of object `key`.
    pub async fn len(&self, key: ObjectKey) -> Result<u64, VaultError> {
        Ok(self.inner.head(&key.path()).await.map_err(VaultError::store)?.size)
    }

    /// Whether object `key` exists.
    pub async fn exists(&self, key: ObjectKey) -> Result<bool, VaultError> {
        match self.inner.head(&key.path()).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(VaultError::store(e)),
        }
    }

    /// Removes staging objects (uploads that never finished: a crash, a killed process) last modified
    /// before `before`; returns how many. On S3, parts of an abandoned multipart upload are not objects:
    /// give the bucket a lifecycle rule that aborts incomplete multipart uploads.
    pub async fn sweep_staging(&self, before: DateTime<Utc>) -> Result<u64, VaultError> {
        let mut removed = 0;
        if let Some(root) = &self.local_root {
            let dir = root.join("staging");
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
                Err(e) => return Err(VaultError::Unavailable { what: "store", reason: e.to_string() }),
            };
            for entry in entries.flatten() {
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| DateTime::<Utc>::from(t) < before);
                if old && entry.path().is_file() && std::fs::remove_file(entry.path()).is_ok() {
                    removed += 1;
                }
            }
            return Ok(removed);
        }
        let stale: Vec<Path> = self
            .inner
            .list(Some(&Path::from("staging")))
            .try_filter(|m| futures::future::ready(m.last_modified < before))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(VaultError::store)?;
        for path in stale {
            self.inner.delete(&path).await.map_err(VaultError::store)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// The published objects last modified before `before`.
    pub async fn objects_before(&self, before: DateTime<Utc>) -> Result<Vec<ObjectKey>, VaultError> {
        let metas: Vec<object_store::ObjectMeta> = self
            .inner
            .list(Some(&Path::from("objects")))
            .try_filter(|m| futures::future::ready(m.last_modified < before))
            .try_collect()
            .await
            .map_err(VaultError::store)?;
        Ok(metas
            .iter()
            .filter_map(|m| {
                let name = m.location.filename()?;
                let mut key = [0u8; 32];
                hex::decode_to_slice(name, &mut key).ok()?;
                Some(ObjectKey(B256::from(key)))
            })
            .collect())
    }

    /// Deletes object `key` (when its metadata row could not be written).
    pub async fn delete(&self, key: ObjectKey) -> Result<(), VaultError> {
        self.inner.delete(&key.path()).await.map_err(VaultError::store)
    }
}

/// A streamed upload in progress. Dropping it without [`Upload::commit`] leaves at most a staging object
/// (call [`Upload::abort`] to remove it); nothing appears under `objects/`.
pub struct Upload {
    store: Store,
    staging: Path,
    writer: Option<WriteMultipart>,
    /// The object's `keccak256`, computed on a blocking thread while the next bytes arrive.
    hasher: Offloaded<Keccak256, ()>,
    written: u64,
    limit: u64,
}

impl fmt::Debug for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upload").field("staging", &self.staging).field("written", &self.written).finish()
    }
}

impl Upload {
    /// Bytes written so far.
    pub const fn written(&self) -> u64 {
        self.written
    }

    /// Appends `bytes`; refuses (and aborts the upload) past the limit.
    pub async fn write(&mut self, bytes: Bytes) -> Result<(), VaultError> {
        if self.written + bytes.len() as u64 > self.limit {
            let limit = self.limit;
            self.abort_in_place().await;
            return Err(VaultError::TooLarge { limit });
        }
        let writer =
            self.writer.as_mut().ok_or_else(|| VaultError::Internal("upload already ended".into()))?;
        writer.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(VaultError::store)?;
        let hashed = bytes.clone();
        self.hasher.then(move |h| h.update(&hashed)).await?;
        self.written += bytes.len() as u64;
        writer.put(bytes);
        Ok(())
    }

    /// Finishes the upload and publishes it create-only under its content address.
    pub async fn commit(mut self) -> Result<ObjectKey, VaultError> {
        let writer = self.writer.take().ok_or_else(|| VaultError::Internal("upload already ended".into()))?;
        let hasher = std::mem::replace(&mut self.hasher, Offloaded::new(Keccak256::new()));
        let (written, hashed) = futures::join!(writer.finish(), hasher.finish());
        if let Err(e) = written {
            Self::delete_at(&self.store, &self.staging).await;
            return Err(VaultError::store(e));
        }
        let key = match hashed {
            Ok((hasher, _)) => ObjectKey(hasher.finalize()),
            Err(e) => {
                Self::delete_at(&self.store, &self.staging).await;
                return Err(e);
            }
        };
        let published = self.store.inner.copy_if_not_exists(&self.staging, &key.path()).await;
        Self::delete_at(&self.store, &self.staging).await;
        match published {
            Ok(()) => Ok(key),
            // The same bytes are stored already (never the case for fresh data keys, but harmless).
            Err(object_store::Error::AlreadyExists { .. }) => Ok(key),
            Err(e) => Err(VaultError::store(e)),
        }
    }

    /// Abandons the upload and removes what was staged.
    pub async fn abort(mut self) {
        self.abort_in_place().await;
    }

    async fn abort_in_place(&mut self) {
        if let Some(writer) = self.writer.take() {
            if let Err(e) = writer.abort().await {
                tracing::warn!(target: "medledger::vault::store", error = %e, "aborting a multipart upload failed");
            }
        }
        Self::delete_at(&self.store, &self.staging).await;
    }

    async fn delete_at(store: &Store, staging: &Path) {
        match store.inner.delete(staging).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => {
                tracing::warn!(target: "medledger::vault::store", error = %e, "deleting a staging object failed")
            }
        }
    }
}
