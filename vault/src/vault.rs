//! The vault's operations: upload, metadata, search, download, access log. Each decides with
//! [`policy::decide`] against the index as of its latest block and writes one access-log entry.

use crate::{
    auth::Auth,
    config::VaultConfig,
    crypto::{pointer_hash, Binding, DataKey, Keyring, Layout, Sealer, Trailer, WrappedKey},
    error::{Denial, IntegrityError, VaultError},
    log::{self, NewEntry},
    offload::Offloaded,
    policy::{self, Action, Basis, ConsentState, DocumentFacts, Facts, IndexVersion},
    store::{ObjectKey, Store, Upload},
};
use alloy::{
    primitives::{Address, B256},
    providers::DynProvider,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use rand::RngCore;
use sqlx::{PgPool, Row};

/// Columns of a document row with its anchor (the first `records` row with its patient, episode and
/// pointer hash), as [`DocumentRow::from_row`] reads them.
pub(crate) const DOCUMENT_SELECT: &str = "
    SELECT d.id, d.version, d.patient, d.episode_id, d.uploader, d.doc_type, d.content_type, d.size,
           d.content_hash, d.pointer_hash, d.object_key, d.wrapped_key, d.kek_id, d.created_at, d.status,
           r.content_hash AS anchor_hash, r.hidden
    FROM vault_documents d
    LEFT JOIN LATERAL (
        SELECT content_hash, hidden FROM records r
        WHERE r.chain_id = d.chain_id AND r.patient = d.patient AND r.episode_id = d.episode_id
          AND r.pointer_hash = d.pointer_hash
        ORDER BY r.anchored_block, r.record_index LIMIT 1
    ) r ON true";

/// A document's metadata row and its anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRow {
    /// The document id.
    pub id: [u8; 16],
    /// Its version.
    pub version: u32,
    /// The patient.
    pub patient: Address,
    /// The episode it was uploaded into.
    pub episode_id: u64,
    /// Who uploaded it.
    pub uploader: Address,
    /// The document type code.
    pub doc_type: String,
    /// Its content type.
    pub content_type: String,
    /// Its plaintext size.
    pub size: u64,
    /// The salted content hash.
    pub content_hash: B256,
    /// The pointer hash.
    pub pointer_hash: B256,
    /// The sealed object's address.
    pub object_key: ObjectKey,
    /// The wrapped data key.
    pub wrapped: WrappedKey,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// The anchored content hash, when the indexer has the matching `RecordAnchored` event.
    pub anchor_hash: Option<B256>,
    /// Whether the patient hid the anchored record.
    pub hidden: bool,
    /// The `status` column as stored (kept in step with the anchor by reads).
    pub stored_status: String,
}

fn fixed<const N: usize>(v: &[u8]) -> Result<[u8; N], sqlx::Error> {
    v.try_into().map_err(|_| sqlx::Error::Decode("a hash or id column has the wrong length".into()))
}

impl DocumentRow {
    pub(crate) fn from_row(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        let bytes = |name: &str| -> Result<Vec<u8>, sqlx::Error> { row.try_get(name) };
        let anchor: Option<Vec<u8>> = row.try_get("anchor_hash")?;
        Ok(Self {
            id: fixed(&bytes("id")?)?,
            version: u32::try_from(row.try_get::<i32, _>("version")?).unwrap_or(0),
            patient: Address::from(fixed::<20>(&bytes("patient")?)?),
            episode_id: u64::try_from(row.try_get::<i64, _>("episode_id")?).unwrap_or(0),
            uploader: Address::from(fixed::<20>(&bytes("uploader")?)?),
            doc_type: row.try_get("doc_type")?,
            content_type: row.try_get("content_type")?,
            size: u64::try_from(row.try_get::<i64, _>("size")?).unwrap_or(0),
            content_hash: B256::from(fixed::<32>(&bytes("content_hash")?)?),
            pointer_hash: B256::from(fixed::<32>(&bytes("pointer_hash")?)?),
            object_key: ObjectKey(B256::from(fixed::<32>(&bytes("object_key")?)?)),
            wrapped: WrappedKey { kek_id: row.try_get("kek_id")?, bytes: bytes("wrapped_key")? },
            created_at: row.try_get("created_at")?,
            anchor_hash: anchor.map(|a| fixed::<32>(&a).map(B256::from)).transpose()?,
            hidden: row.try_get::<Option<bool>, _>("hidden")?.unwrap_or(false),
            stored_status: row.try_get("status")?,
        })
    }

    /// What the key and the chunks are bound to.
    pub fn binding(&self) -> Binding {
        Binding { patient: self.patient.into(), document: self.id, version: self.version }
    }

    /// `anchored` or `pending`.
    pub const fn status(&self) -> &'static str {
        if self.anchor_hash.is_some() {
            "anchored"
        } else {
            "pending"
        }
    }

    /// The id as 32 hex characters.
    pub fn id_hex(&self) -> String {
        hex::encode(self.id)
    }
}

/// What an upload declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRequest {
    /// The patient.
    pub patient: Address,
    /// One of her episodes.
    pub episode_id: u64,
    /// A document type code (`[A-Za-z0-9.:_-]`, 1-64 characters), e.g. a LOINC code.
    pub doc_type: String,
    /// The content type (lower case, without parameters).
    pub content_type: String,
    /// The `Content-Length`, if declared.
    pub declared_len: Option<u64>,
}

/// A stored upload: its row and the salt of its hashes (for the uploader's proofs; not kept in clear).
#[derive(Debug, Clone)]
pub struct Uploaded {
    /// The metadata.
    pub document: DocumentRow,
    /// The salt of `content_hash` and `pointer_hash`.
    pub salt: B256,
}

/// A download ready to stream.
pub struct Download {
    /// The metadata.
    pub document: DocumentRow,
    /// The plaintext bytes served.
    pub range: std::ops::Range<u64>,
    /// Whether that is a part of the document.
    pub partial: bool,
    /// The salt of the document's content and pointer hashes (from its sealed trailer).
    pub salt: B256,
    /// The bytes.
    pub body: std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download").field("id", &self.document.id_hex()).field("range", &self.range).finish()
    }
}

/// The record vault.
#[derive(Debug)]
pub struct Vault {
    pub(crate) config: VaultConfig,
    pub(crate) pool: PgPool,
    pub(crate) store: Store,
    pub(crate) keys: Keyring,
    pub(crate) auth: Auth,
    consents: ConsentState,
}

/// The outcome of a decision, for the log.
pub(crate) struct Decided {
    version: IndexVersion,
    consent_block: Option<i64>,
    result: Result<Basis, Denial>,
}

/// Plaintext bytes of an upload handed to the sealing thread at once.
const SEAL_BATCH: usize = 512 * 1024;

/// Seals the frames of a batch (on a blocking thread); returns the sealed chunks they complete.
fn seal_frames(sealer: &mut Sealer, frames: &[Bytes]) -> Result<Vec<Bytes>, VaultError> {
    let mut out = Vec::with_capacity(frames.len());
    for frame in frames {
        let sealed = sealer.update(frame)?;
        if !sealed.is_empty() {
            out.push(Bytes::from(sealed));
        }
    }
    Ok(out)
}

/// Stores what a sealing step returned.
async fn write_sealed(
    upload: &mut Upload,
    sealed: Option<Result<Vec<Bytes>, VaultError>>,
) -> Result<(), (VaultError, &'static str)> {
    for bytes in sealed.transpose().map_err(|e| (e, "seal"))?.into_iter().flatten() {
        upload.write(bytes).await.map_err(|e| (e, "store"))?;
    }
    Ok(())
}

fn valid_type_code(code: &str) -> bool {
    (1..=64).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric() || b".:_-".contains(&b))
}

impl Vault {
    /// A vault for `config` over the indexer's database `pool`, keeping sealed documents in `store` under
    /// the keys of `keys`; `rpc` verifies contract-wallet sign-ins (ERC-1271).
    pub fn new(
        config: VaultConfig,
        pool: PgPool,
        store: Store,
        keys: Keyring,
        rpc: Option<DynProvider>,
    ) -> Self {
        let chain_id = i64::try_from(config.chain_id).unwrap_or(i64::MAX);
        Self {
            auth: Auth::new(config.clone(), pool.clone(), rpc),
            consents: ConsentState::new(pool.clone(), chain_id),
            config,
            pool,
            store,
            keys,
        }
    }

    /// Sign-in and sessions.
    pub const fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The settings.
    pub const fn config(&self) -> &VaultConfig {
        &self.config
    }

    /// The latest indexed block, if the index has one (for log entries outside a decision).
    pub(crate) async fn index_block(&self) -> Option<i64> {
        self.consents.version().await.ok().map(|v| v.number)
    }

    pub(crate) fn chain_id(&self) -> i64 {
        i64::try_from(self.config.chain_id).unwrap_or(i64::MAX)
    }

    pub(crate) async fn decide(
        &self,
        action: Action,
        caller: Address,
        patient: Address,
        document: Option<DocumentFacts>,
    ) -> Result<Decided, VaultError> {
        let (version, state) = self.consents.load(patient.into(), caller.into()).await?;
        let facts = Facts {
            is_patient: caller == patient,
            consent: state.consent.as_ref(),
            credential: state.credential.as_ref(),
            as_of: version.time,
            document,
        };
        let result = policy::decide(action, &facts);
        Ok(Decided { consent_block: state.consent.as_ref().map(|c| c.updated_block), version, result })
    }

    pub(crate) fn entry(
        caller: Address,
        patient: Option<Address>,
        document: Option<[u8; 16]>,
        action: &'static str,
        decided: Option<&Decided>,
    ) -> NewEntry {
        let (outcome, reason) = match decided.map(|d| d.result) {
            Some(Ok(basis)) => ("allowed", basis.code().to_owned()),
            Some(Err(denial)) => ("denied", denial.code().to_owned()),
            None => ("failed", String::new()),
        };
        NewEntry {
            actor: Some(caller.into()),
            patient: patient.map(Into::into),
            document,
            action,
            outcome,
            reason,
            consent_block: decided.and_then(|d| d.consent_block),
            index_block: decided.map(|d| d.version.number),
        }
    }

    /// Logs a failure (`reason`) of `action`; a failure to log is only traced (the request fails anyway).
    pub(crate) async fn log_failure(&self, mut entry: NewEntry, reason: &str) {
        entry.outcome = "failed";
        entry.reason = reason.to_owned();
        if let Err(e) = log::append(&self.pool, &entry).await {
            tracing::warn!(target: "medledger::vault", error = %e, "could not log a failure");
        }
    }

    /// Logs the decision; a denial becomes the error.
    pub(crate) async fn log_decision(
        &self,
        entry: &NewEntry,
        decided: &Decided,
    ) -> Result<Basis, VaultError> {
        log::append(&self.pool, entry).await?;
        decided.result.map_err(VaultError::Denied)
    }

    /// Stores a document streamed from `body` and returns what the uploader anchors. Refused past the size
    /// limit (checked while streaming), for content types off the allowlist, and unless the caller is the
    /// patient or holds a current WRITE grant. Nothing is listed until the row commits; a failed upload
    /// leaves no row and no data key.
    pub async fn upload<S, E>(
        &self,
        caller: Address,
        req: UploadRequest,
        body: S,
    ) -> Result<Uploaded, VaultError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        if !self.config.content_types.contains(&req.content_type) {
            return Err(VaultError::UnsupportedType(req.content_type));
        }
        if !valid_type_code(&req.doc_type) {
            return Err(VaultError::BadRequest("type: 1-64 characters of A-Z a-z 0-9 . : _ -".into()));
        }
        let decided = self.decide(Action::Write, caller, req.patient, None).await?;
        let mut id = [0u8; 16];
        rand::rng().fill_bytes(&mut id);
        let entry = Self::entry(caller, Some(req.patient), Some(id), "write", Some(&decided));
        if decided.result.is_err() {
            self.log_decision(&entry, &decided).await?;
        }
        let limit = self.config.max_upload;
        if req.declared_len.is_some_and(|n| n > limit) {
            self.log_failure(entry, "too_large").await;
            return Err(VaultError::TooLarge { limit });
        }
        if let Err(e) = self.check_episode(req.patient, req.episode_id).await {
            self.log_failure(entry, "episode").await;
            return Err(e);
        }
        self.store_document(caller, req, id, None, body, entry).await
    }

    /// Seals `body` as document `id` (with `salt`, or a fresh one), stores it, and inserts its row with
    /// `entry` in one transaction. On failure nothing is listed, no data key is kept, and `entry` is logged
    /// as failed.
    pub(crate) async fn store_document<S, E>(
        &self,
        caller: Address,
        req: UploadRequest,
        id: [u8; 16],
        salt: Option<B256>,
        body: S,
        entry: NewEntry,
    ) -> Result<Uploaded, VaultError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let limit = self.config.max_upload;
        let binding = Binding { patient: req.patient.into(), document: id, version: 1 };
        let key = DataKey::generate();
        let wrapped = self.keys.wrap(&key, &binding);
        let (sealer, header) = match salt {
            Some(salt) => Sealer::with_salt(key, binding, salt),
            None => Sealer::new(key, binding),
        };
        let mut upload = self.store.begin(Layout { size: limit }.object_len()).await?;
        // Sealing runs on a blocking thread one batch behind the body, the object's hash one batch behind
        // the sealing (in `upload`): receiving, sealing and hashing overlap.
        let mut sealing = Offloaded::new(sealer);
        let streamed: Result<Trailer, (VaultError, &str)> = async {
            upload.write(Bytes::from(header)).await.map_err(|e| (e, "store"))?;
            futures::pin_mut!(body);
            let (mut batch, mut batched, mut received) = (Vec::new(), 0, 0u64);
            loop {
                let frame = body.next().await.transpose().map_err(|e| {
                    (VaultError::BadRequest(format!("upload interrupted: {e}")), "interrupted")
                })?;
                let end = frame.is_none();
                if let Some(frame) = frame {
                    received += frame.len() as u64;
                    if received > limit {
                        return Err((VaultError::TooLarge { limit }, "too_large"));
                    }
                    batched += frame.len();
                    batch.push(frame);
                }
                if batched >= SEAL_BATCH || (end && !batch.is_empty()) {
                    let frames = std::mem::take(&mut batch);
                    batched = 0;
                    let sealed =
                        sealing.then(move |s| seal_frames(s, &frames)).await.map_err(|e| (e, "seal"))?;
                    write_sealed(&mut upload, sealed).await?;
                }
                if end {
                    break;
                }
            }
            let (sealer, sealed) = sealing.finish().await.map_err(|e| (e, "seal"))?;
            write_sealed(&mut upload, sealed).await?;
            let (tail, trailer) = sealer.finish().map_err(|e| (e, "seal"))?;
            upload.write(Bytes::from(tail)).await.map_err(|e| (e, "store"))?;
            Ok(trailer)
        }
        .await;
        let trailer = match streamed {
            Ok(trailer) => trailer,
            Err((e, reason)) => {
                upload.abort().await;
                self.log_failure(entry, reason).await;
                return Err(e);
            }
        };
        let object_key = match upload.commit().await {
            Ok(k) => k,
            Err(e) => {
                self.log_failure(entry, "store").await;
                return Err(e);
            }
        };
        let document = DocumentRow {
            id,
            version: 1,
            patient: req.patient,
            episode_id: req.episode_id,
            uploader: caller,
            doc_type: req.doc_type,
            content_type: req.content_type,
            size: trailer.size,
            content_hash: trailer.content_hash,
            pointer_hash: pointer_hash(trailer.salt, &id),
            object_key,
            wrapped,
            created_at: Utc::now(),
            anchor_hash: None,
            hidden: false,
            stored_status: "pending".into(),
        };
        match self.insert(&document, &entry).await {
            Ok(created_at) => {
                tracing::info!(target: "medledger::vault", document = %document.id_hex(), size = document.size, "stored");
                Ok(Uploaded { document: DocumentRow { created_at, ..document }, salt: trailer.salt })
            }
            Err(e) => {
                // No row: the object is unreachable (its data key is gone); remove it.
                if let Err(del) = self.store.delete(object_key).await {
                    tracing::warn!(target: "medledger::vault", error = %del, "could not delete an unreferenced object");
                }
                Err(e)
            }
        }
    }

    async fn check_episode(&self, patient: Address, episode: u64) -> Result<(), VaultError> {
        let row = sqlx::query!(
            "SELECT patient, closed FROM episodes WHERE chain_id = $1 AND episode_id = $2",
            self.chain_id(),
            i64::try_from(episode).unwrap_or(-1)
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(VaultError::db)?
        .map(|r| (r.patient, r.closed));
        match row {
            None => {
                Err(VaultError::BadRequest(format!("episode {episode} is not on chain (or not indexed yet)")))
            }
            Some((p, _)) if p.as_slice() != patient.as_slice() => {
                Err(VaultError::BadRequest(format!("episode {episode} belongs to another patient")))
            }
            Some((_, true)) => Err(VaultError::BadRequest(format!("episode {episode} is closed"))),
            Some(_) => Ok(()),
        }
    }

    /// Inserts the row and its log entry in one transaction.
    async fn insert(&self, d: &DocumentRow, entry: &NewEntry) -> Result<DateTime<Utc>, VaultError> {
        let mut tx = self.pool.begin().await.map_err(VaultError::db)?;
        let created_at: DateTime<Utc> = sqlx::query_scalar!(
            "INSERT INTO vault_documents (id, version, chain_id, patient, episode_id, uploader, doc_type,
                 content_type, size, content_hash, pointer_hash, object_key, wrapped_key, kek_id, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'pending')
             RETURNING created_at",
            d.id.as_slice(),
            i32::try_from(d.version).unwrap_or(i32::MAX),
            self.chain_id(),
            d.patient.as_slice(),
            i64::try_from(d.episode_id).unwrap_or(-1),
            d.uploader.as_slice(),
            d.doc_type,
            d.content_type,
            i64::try_from(d.size).unwrap_or(i64::MAX),
            d.content_hash.as_slice(),
            d.pointer_hash.as_slice(),
            d.object_key.0.as_slice(),
            d.wrapped.bytes,
            d.wrapped.kek_id
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(VaultError::db)?;
        log::append_in(&mut tx, entry).await?;
        tx.commit().await.map_err(VaultError::db)?;
        Ok(created_at)
    }

    /// The row of document `id` (with its anchor), if any.
    pub async fn row(&self, id: [u8; 16]) -> Result<Option<DocumentRow>, VaultError> {
        let sql = format!("{DOCUMENT_SELECT} WHERE d.id = $1");
        let row =
            sqlx::query(&sql).bind(id.as_slice()).fetch_optional(&self.pool).await.map_err(VaultError::db)?;
        let doc = row.as_ref().map(DocumentRow::from_row).transpose().map_err(VaultError::db)?;
        if let Some(d) = &doc {
            if d.anchor_hash.is_some_and(|h| h != d.content_hash) {
                return Err(IntegrityError::Anchor.into());
            }
            self.note_status(d).await;
        }
        Ok(doc)
    }

    /// Keeps the row's `status` column in step with the index (a cache for operators; decisions read the
    /// anchor itself).
    async fn note_status(&self, d: &DocumentRow) {
        if d.stored_status == d.status() {
            return;
        }
        let res = sqlx::query!(
            "UPDATE vault_documents SET status = $2 WHERE id = $1 AND status <> $2",
            d.id.as_slice(),
            d.status()
        )
        .execute(&self.pool)
        .await;
        if let Err(e) = res {
            tracing::debug!(target: "medledger::vault", error = %e, "status not updated");
        }
    }

    pub(crate) fn facts(d: &DocumentRow, caller: Address) -> DocumentFacts {
        DocumentFacts {
            anchored: d.anchor_hash.is_some(),
            hidden: d.hidden,
            uploaded_by_caller: d.uploader == caller,
        }
    }

    /// The row of document `id` if `caller` may read it (logged as `action`).
    pub(crate) async fn authorized_row(
        &self,
        caller: Address,
        id: [u8; 16],
        action: &'static str,
    ) -> Result<(DocumentRow, NewEntry), VaultError> {
        let row = match self.row(id).await {
            Ok(Some(row)) => row,
            Ok(None) => {
                self.log_failure(Self::entry(caller, None, Some(id), action, None), "not_found").await;
                return Err(VaultError::NotFound("document"));
            }
            Err(e) => {
                if let VaultError::Integrity(_) = e {
                    self.log_failure(Self::entry(caller, None, Some(id), action, None), "integrity").await;
                }
                return Err(e);
            }
        };
        let decided = self.decide(Action::Read, caller, row.patient, Some(Self::facts(&row, caller))).await?;
        let entry = Self::entry(caller, Some(row.patient), Some(id), action, Some(&decided));
        self.log_decision(&entry, &decided).await?;
        Ok((row, entry))
    }
}
