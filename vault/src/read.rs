//! Reading: metadata, search, ranged downloads and the access log.

use crate::{
    crypto::{Layout, Opener, CHUNK_SIZE, HEADER_LEN, TAG_LEN, TRAILER_LEN},
    error::{IntegrityError, VaultError},
    log::{self, LogEntry, NewEntry},
    offload::Offloaded,
    policy::Action,
    store::{ObjectKey, Store},
    vault::{DocumentRow, Download, Vault, DOCUMENT_SELECT},
};
use alloy::primitives::{Address, Keccak256, B256};
use bytes::{Bytes, BytesMut};
use std::{collections::VecDeque, ops::Range, sync::Arc};
use tokio::task::JoinHandle;

/// Chunks fetched per store request while streaming (1 MiB of plaintext).
const CHUNKS_PER_FETCH: u64 = 16;

/// The byte range a `Range` header asks of a document of `size` bytes: `None` to serve it whole (no header,
/// another unit, several ranges or a malformed one, which RFC 9110 lets a server ignore), an error when
/// the range lies outside the document.
pub fn parse_range(header: Option<&str>, size: u64) -> Result<Option<Range<u64>>, VaultError> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else { return Ok(None) };
    let unsatisfiable = Err(VaultError::RangeNotSatisfiable { size });
    let range = match (a.trim(), b.trim()) {
        ("", "") => return Ok(None),
        ("", n) => match n.parse::<u64>() {
            Ok(0) => return unsatisfiable,
            Ok(n) => size.saturating_sub(n)..size,
            Err(_) => return Ok(None),
        },
        (a, b) => {
            let Ok(start) = a.parse::<u64>() else { return Ok(None) };
            let end = match b {
                "" => size,
                b => match b.parse::<u64>() {
                    Ok(last) if last >= start => last.saturating_add(1).min(size),
                    _ => return Ok(None),
                },
            };
            start..end
        }
    };
    if range.start >= size || range.is_empty() {
        return unsatisfiable;
    }
    Ok(Some(range))
}

/// Fetches and opens chunks `chunks` of a document with one store read, opening each chunk where it lies in
/// the fetched buffer (a copy only when the store's buffer is shared); returns each chunk's plaintext
/// within `range`.
async fn open_chunks(
    store: &Store,
    key: ObjectKey,
    opener: &Opener,
    chunks: Range<u64>,
    range: &Range<u64>,
) -> Result<Vec<Bytes>, VaultError> {
    let layout = opener.layout();
    let start = layout.chunk_offset(chunks.start);
    let last = chunks.end - 1;
    let end = layout.chunk_offset(last) + layout.chunk_plain_len(last) + TAG_LEN;
    let bytes = store.get_range(key, start..end).await?;
    if bytes.len() as u64 != end - start {
        return Err(IntegrityError::Length {
            expected: layout.object_len(),
            actual: start + bytes.len() as u64,
        }
        .into());
    }
    let mut sealed = bytes.try_into_mut().unwrap_or_else(|shared| BytesMut::from(&shared[..]));
    let mut out = Vec::with_capacity((chunks.end - chunks.start) as usize);
    for i in chunks {
        let mut chunk = sealed.split_to((layout.chunk_plain_len(i) + TAG_LEN) as usize);
        let len = opener.open_in_place(i, &mut chunk)?;
        chunk.truncate(len);
        out.push(slice(i, &chunk.freeze(), range));
    }
    Ok(out)
}

/// The part of chunk `index`'s plaintext inside `range`.
fn slice(index: u64, plain: &Bytes, range: &Range<u64>) -> Bytes {
    let base = index * CHUNK_SIZE;
    let lo = range.start.saturating_sub(base) as usize;
    let hi = (range.end.saturating_sub(base) as usize).min(plain.len());
    plain.slice(lo.min(hi)..hi)
}

/// A download in progress: the chunks opened and not yet sent, the next batch being fetched and opened
/// meanwhile, and (for a whole document) the salted hash of what was handed out, computed on a blocking
/// thread one batch behind.
struct Streaming {
    store: Store,
    key: ObjectKey,
    opener: Arc<Opener>,
    next: u64,
    end: u64,
    range: Range<u64>,
    /// For whole-document reads: the running salted hash and the expected content hash.
    hash: Option<(Offloaded<Keccak256, ()>, B256)>,
    ready: VecDeque<Bytes>,
    fetching: Option<JoinHandle<Result<Vec<Bytes>, VaultError>>>,
}

impl Streaming {
    /// Starts fetching and opening the next batch of chunks, if any remain.
    fn prefetch(&mut self) {
        if self.next >= self.end {
            return;
        }
        let batch = self.next..self.end.min(self.next + CHUNKS_PER_FETCH);
        self.next = batch.end;
        let (store, key, opener, range) =
            (self.store.clone(), self.key, self.opener.clone(), self.range.clone());
        self.fetching =
            Some(tokio::spawn(async move { open_chunks(&store, key, &opener, batch, &range).await }));
    }

    /// Hands opened chunks out: queues them and feeds them to the hash.
    async fn take(&mut self, batch: Vec<Bytes>) -> Result<(), VaultError> {
        if let Some((hasher, _)) = &mut self.hash {
            let hashed = batch.clone();
            hasher.then(move |h| hashed.iter().for_each(|b| h.update(b))).await?;
        }
        self.ready.extend(batch);
        Ok(())
    }

    /// Queues the next batch (and starts fetching the one after); `false` once every chunk was queued.
    async fn advance(&mut self) -> Result<bool, VaultError> {
        let Some(task) = self.fetching.take() else { return Ok(false) };
        let batch = task.await.map_err(|e| VaultError::Internal(format!("reading chunks: {e}")))??;
        self.prefetch();
        self.take(batch).await?;
        Ok(true)
    }

    /// At the end of a whole-document read: the contents handed out must hash to the content hash.
    async fn check_hash(&mut self) -> Result<(), IntegrityError> {
        if let Some((hasher, expected)) = self.hash.take() {
            let finished = hasher.finish().await.map(|(h, _)| h.finalize());
            if finished.ok() != Some(expected) {
                return Err(IntegrityError::ContentHash);
            }
        }
        Ok(())
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        if let Some(task) = &self.fetching {
            task.abort();
        }
    }
}

impl Vault {
    /// Checks a stored document before anything of it is served: the wrapped key opens, the object has the
    /// recorded length and header, and its sealed trailer agrees with the row (size, content hash).
    async fn integrity(&self, row: &DocumentRow) -> Result<(Opener, B256), VaultError> {
        let key = self.keys.unwrap(&row.wrapped, &row.binding())?;
        let layout = Layout { size: row.size };
        let actual = self.store.len(row.object_key).await?;
        if actual != layout.object_len() {
            return Err(IntegrityError::Length { expected: layout.object_len(), actual }.into());
        }
        let header = self.store.get_range(row.object_key, 0..HEADER_LEN).await?;
        let opener = Opener::new(key, row.binding(), layout, &header)?;
        let trailer_at = layout.trailer_offset();
        let trailer = self.store.get_range(row.object_key, trailer_at..trailer_at + TRAILER_LEN).await?;
        let trailer = opener.open_trailer(&trailer)?;
        if trailer.content_hash != row.content_hash {
            return Err(IntegrityError::Metadata("content hash").into());
        }
        Ok((opener, trailer.salt))
    }

    /// Document `id`'s metadata, if `caller` may read it (logged).
    pub async fn document(&self, caller: Address, id: [u8; 16]) -> Result<DocumentRow, VaultError> {
        Ok(self.authorized_row(caller, id, "read_metadata").await?.0)
    }

    /// The documents of `patient` that `caller` may see (logged as one `search`): all of them for the
    /// patient; anchored, not hidden ones (and pending ones they uploaded) for a current grantee.
    pub async fn search(&self, caller: Address, patient: Address) -> Result<Vec<DocumentRow>, VaultError> {
        let decided = self.decide(Action::Read, caller, patient, None).await?;
        let entry = Self::entry(caller, Some(patient), None, "search", Some(&decided));
        self.log_decision(&entry, &decided).await?;
        let rows = self.rows_of(patient).await?;
        Ok(rows
            .into_iter()
            .filter(|d| {
                if d.anchor_hash.is_some_and(|h| h != d.content_hash) {
                    tracing::warn!(target: "medledger::vault", document = %d.id_hex(), "anchor mismatch: withheld");
                    return false;
                }
                caller == patient || (!d.hidden && (d.anchor_hash.is_some() || d.uploader == caller))
            })
            .collect())
    }

    async fn rows_of(&self, patient: Address) -> Result<Vec<DocumentRow>, VaultError> {
        let sql =
            format!("{DOCUMENT_SELECT} WHERE d.chain_id = $1 AND d.patient = $2 ORDER BY d.created_at, d.id");
        let rows = sqlx::query(&sql)
            .bind(self.chain_id())
            .bind(patient.as_slice())
            .fetch_all(&self.pool)
            .await
            .map_err(VaultError::db)?;
        rows.iter().map(DocumentRow::from_row).collect::<Result<_, _>>().map_err(VaultError::db)
    }

    /// Opens document `id` for `caller` (logged), the bytes of `range_header` or all of them. The document
    /// is checked against its anchor and its sealed trailer, and the first chunk is opened, before this
    /// returns; a later chunk that fails to authenticate ends the stream with an error (never its bytes).
    pub async fn download(
        &self,
        caller: Address,
        id: [u8; 16],
        range_header: Option<&str>,
    ) -> Result<Download, VaultError> {
        let (row, entry) = self.authorized_row(caller, id, "read").await?;
        let range = parse_range(range_header, row.size)?;
        let checked = async {
            let (opener, salt) = self.integrity(&row).await?;
            let partial = range.is_some();
            let range = range.unwrap_or(0..row.size);
            let chunks =
                opener.layout().chunks_for(range.start, range.end.max(range.start + 1).min(row.size.max(1)));
            let first_batch = chunks.start..chunks.end.min(chunks.start + CHUNKS_PER_FETCH);
            let ready =
                open_chunks(&self.store, row.object_key, &opener, first_batch.clone(), &range).await?;
            let hash = (!partial).then(|| {
                let mut h = Keccak256::new();
                h.update(salt);
                (Offloaded::new(h), row.content_hash)
            });
            Ok::<_, VaultError>((opener, salt, range, partial, chunks, first_batch, ready, hash))
        }
        .await;
        let (opener, salt, range, partial, chunks, first_batch, ready, hash) = match checked {
            Ok(v) => v,
            Err(e) => {
                if matches!(e, VaultError::Integrity(_)) {
                    self.log_failure(entry_failed(&entry), "integrity").await;
                }
                return Err(e);
            }
        };
        let mut state = Streaming {
            store: self.store.clone(),
            key: row.object_key,
            opener: Arc::new(opener),
            next: first_batch.end,
            end: chunks.end,
            range: range.clone(),
            hash,
            ready: VecDeque::new(),
            fetching: None,
        };
        state.prefetch();
        state.take(ready).await?;
        let body = futures::stream::try_unfold(state, |mut s| async move {
            loop {
                if let Some(bytes) = s.ready.pop_front() {
                    return Ok(Some((bytes, s)));
                }
                match s.advance().await {
                    Ok(true) => {}
                    Ok(false) => {
                        s.check_hash().await.map_err(integrity_io)?;
                        return Ok(None);
                    }
                    Err(e) => {
                        tracing::error!(target: "medledger::vault", error = %e, "integrity failure while streaming");
                        return Err(integrity_io(e));
                    }
                }
            }
        });
        Ok(Download { document: row, range, partial, salt, body: Box::pin(body) })
    }

    /// The access log about `patient` that `caller` may read (logged as `audit`): all of it for the patient,
    /// a caller's own entries for anyone else.
    pub async fn audit(
        &self,
        caller: Address,
        patient: Address,
        limit: i64,
    ) -> Result<Vec<LogEntry>, VaultError> {
        let own = caller != patient;
        let entry = NewEntry {
            actor: Some(caller.into()),
            patient: Some(patient.into()),
            document: None,
            action: "audit",
            outcome: "allowed",
            reason: if own { "own_entries".into() } else { "patient".into() },
            consent_block: None,
            index_block: None,
        };
        log::append(&self.pool, &entry).await?;
        log::entries_for(&self.pool, patient.into(), own.then(|| caller.into()), limit.clamp(1, 1000)).await
    }
}

impl Vault {
    /// The access log about `patient` for surfaces that answer only the patient and her current grantees
    /// (GraphQL's `patient { accessLog }`): all of it for the patient; anyone else is decided like a read
    /// of her documents ([`crate::policy::decide`], logged) and, when allowed, gets only the entries of
    /// their own requests. A denial is the error.
    pub async fn access_log(
        &self,
        caller: Address,
        patient: Address,
        limit: i64,
    ) -> Result<Vec<LogEntry>, VaultError> {
        if caller == patient {
            return self.audit(caller, patient, limit).await;
        }
        let decided = self.decide(Action::Read, caller, patient, None).await?;
        let entry = Self::entry(caller, Some(patient), None, "audit", Some(&decided));
        self.log_decision(&entry, &decided).await?;
        log::entries_for(&self.pool, patient.into(), Some(caller.into()), limit.clamp(1, 1000)).await
    }
}

fn entry_failed(entry: &NewEntry) -> NewEntry {
    NewEntry { outcome: "failed", ..entry.clone() }
}

fn integrity_io(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("integrity check failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let r = |h: Option<&str>, size| parse_range(h, size).map_err(|e| e.status().as_u16());
        assert_eq!(r(None, 10), Ok(None));
        assert_eq!(r(Some("bytes=0-"), 10), Ok(Some(0..10)));
        assert_eq!(r(Some("bytes=2-4"), 10), Ok(Some(2..5)));
        assert_eq!(r(Some("bytes=5-100"), 10), Ok(Some(5..10)));
        assert_eq!(r(Some("bytes=-3"), 10), Ok(Some(7..10)));
        assert_eq!(r(Some("bytes=-30"), 10), Ok(Some(0..10)));
        // Ignored (served whole): other units, several ranges, malformed or reversed ones.
        for h in ["items=0-1", "bytes=0-1,3-4", "bytes=abc", "bytes=5-2", "bytes=-", "bytes=1-x"] {
            assert_eq!(r(Some(h), 10), Ok(None), "{h}");
        }
        // Outside the document: 416.
        for (h, size) in
            [("bytes=10-", 10), ("bytes=10-20", 10), ("bytes=-0", 10), ("bytes=0-", 0), ("bytes=-5", 0)]
        {
            assert_eq!(r(Some(h), size), Err(416), "{h} of {size}");
        }
    }
}
