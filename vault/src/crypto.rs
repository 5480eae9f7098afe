//! Envelope encryption of documents.
//!
//! Each document version gets a random 256-bit data key, wrapped (XChaCha20-Poly1305, random 192-bit
//! nonce) by the current key-encryption key (KEK) of the [`Keyring`]; the wrapped key and the KEK's id
//! live in the metadata row, so [`Keyring::rewrap`] moves a document to a new KEK without touching its
//! contents. The wrap's associated data binds the KEK id, the patient, the document id and the version:
//! a wrapped key copied onto another row does not open.
//!
//! The contents are sealed with the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015) of the
//! `aead-stream` crate, `StreamBE32` over XChaCha20-Poly1305: fixed [`CHUNK_SIZE`] plaintext chunks, chunk
//! `i` under the nonce `prefix ‖ i (32-bit BE) ‖ last-flag`, with a random 19-byte prefix per document
//! version. The primitive is stateless, so a ranged read opens only the chunks it needs. An altered chunk,
//! chunks swapped, a truncation (the new last chunk was not sealed as last) or an extension all fail to
//! authenticate. The associated data of every chunk is the same binding as the wrap.
//!
//! Stored object: `MAGIC (8) ‖ prefix (19) ‖ chunk₀ ‖ … ‖ chunkₙ₋₁ ‖ trailer (112)`, each chunk its
//! plaintext plus a 16-byte tag. The trailer, sealed under the data key with its own random nonce, holds the
//! plaintext size, the salt and the salted content hash `keccak256(salt ‖ contents)` (the commitment the
//! uploader anchors on chain), so the vault checks a document against its anchor before serving it without
//! keeping the salt in PostgreSQL.

use crate::error::{IntegrityError, VaultError};
use aead_stream::{NewStream, StreamBE32, StreamPrimitive};
use alloy::primitives::{Keccak256, B256};
use chacha20poly1305::{
    aead::{self, Aead, Buffer, KeyInit, Payload},
    XChaCha20Poly1305, XNonce,
};
use rand::RngCore;
use std::{collections::BTreeMap, fmt, path::Path};
use zeroize::Zeroizing;

/// Plaintext bytes per chunk.
pub const CHUNK_SIZE: u64 = 64 * 1024;
/// The AEAD tag appended to every sealed chunk.
pub const TAG_LEN: u64 = 16;
/// The object's magic bytes (format version 1).
pub const MAGIC: &[u8; 8] = b"MLVAULT1";
/// The STREAM nonce prefix (XChaCha20's 24 bytes less STREAM's 5).
pub const PREFIX_LEN: usize = 19;
/// Magic plus nonce prefix.
pub const HEADER_LEN: u64 = 8 + PREFIX_LEN as u64;
/// The sealed trailer: nonce, size (8), salt (32), content hash (32), tag.
pub const TRAILER_LEN: u64 = 24 + 8 + 32 + 32 + TAG_LEN;
const WRAPPED_LEN: usize = 24 + 32 + 16;

/// What a document's keys and chunks are bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// The patient's address.
    pub patient: [u8; 20],
    /// The document id.
    pub document: [u8; 16],
    /// The document's version (1 for the first).
    pub version: u32,
}

impl Binding {
    fn ad(&self, domain: &[u8]) -> Vec<u8> {
        let mut ad = Vec::with_capacity(domain.len() + 40);
        ad.extend_from_slice(domain);
        ad.extend_from_slice(&self.patient);
        ad.extend_from_slice(&self.document);
        ad.extend_from_slice(&self.version.to_be_bytes());
        ad
    }
}

/// A document's data key.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut());
        Self(key)
    }

    fn aead(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&(*self.0).into())
    }
}

/// A data key wrapped by a KEK, as stored in the metadata row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// The KEK's id.
    pub kek_id: String,
    /// Nonce ‖ sealed key ‖ tag.
    pub bytes: Vec<u8>,
}

/// The key-encryption keys: the current one wraps new data keys; older ones still unwrap until
/// [`Keyring::rewrap`] has moved every document off them.
#[derive(Clone)]
pub struct Keyring {
    current: String,
    keys: BTreeMap<String, Zeroizing<[u8; 32]>>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring").field("current", &self.current).field("ids", &self.keys.keys()).finish()
    }
}

impl Keyring {
    /// Parses a key file: one `ID HEX64` per line (`#` comments and blank lines ignored); the first key is
    /// the current one. IDs are 1-64 characters of `[A-Za-z0-9._-]`.
    pub fn parse(text: &str) -> Result<Self, VaultError> {
        let mut current = None;
        let mut keys = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| VaultError::Config(format!("key file line {}: {why}", n + 1));
            let (id, hex_key) =
                line.split_once(char::is_whitespace).ok_or_else(|| bad("expected `ID HEX`"))?;
            let hex_key = hex_key.trim();
            if id.is_empty()
                || id.len() > 64
                || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            {
                return Err(bad("invalid key id"));
            }
            let mut key = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(hex_key.strip_prefix("0x").unwrap_or(hex_key), key.as_mut())
                .map_err(|_| bad("the key must be 64 hex digits"))?;
            if keys.insert(id.to_owned(), key).is_some() {
                return Err(bad("duplicate key id"));
            }
            current.get_or_insert_with(|| id.to_owned());
        }
        let current = current.ok_or_else(|| VaultError::Config("the key file holds no key".into()))?;
        Ok(Self { current, keys })
    }

    /// Reads a key file (see [`Keyring::parse`]).
    pub fn from_file(path: &Path) -> Result<Self, VaultError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| VaultError::Config(format!("cannot read key file {}: {e}", path.display())))?;
        Self::parse(&text)
    }

    /// A keyring with one fresh random key named `id`, and its key-file text (for `medledger dev`).
    pub fn generate(id: &str) -> Result<(Self, Zeroizing<String>), VaultError> {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        let text = Zeroizing::new(format!("{id} {}\n", hex::encode(key)));
        key.fill(0);
        Ok((Self::parse(&text)?, text))
    }

    /// The id of the KEK that wraps new data keys.
    pub fn current_id(&self) -> &str {
        &self.current
    }

    /// Whether the keyring holds KEK `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.keys.contains_key(id)
    }

    fn wrap_ad(kek_id: &str, binding: &Binding) -> Vec<u8> {
        let mut ad = binding.ad(b"medledger-vault/wrap/v1");
        ad.extend_from_slice(kek_id.as_bytes());
        ad
    }

    /// Wraps `key` under the current KEK.
    pub fn wrap(&self, key: &DataKey, binding: &Binding) -> WrappedKey {
        let kek = &self.keys[&self.current];
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let aead = XChaCha20Poly1305::new(&(**kek).into());
        let ad = Self::wrap_ad(&self.current, binding);
        let sealed = aead
            .encrypt(&XNonce::from(nonce), Payload { msg: key.0.as_slice(), aad: &ad })
            .expect("XChaCha20-Poly1305 seals 32 bytes");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        WrappedKey { kek_id: self.current.clone(), bytes }
    }

    /// Unwraps a data key; fails if the wrapped key, its KEK id or the binding was altered.
    pub fn unwrap(&self, wrapped: &WrappedKey, binding: &Binding) -> Result<DataKey, IntegrityError> {
        let kek = self
            .keys
            .get(&wrapped.kek_id)
            .ok_or_else(|| IntegrityError::UnknownKek(wrapped.kek_id.clone()))?;
        if wrapped.bytes.len() != WRAPPED_LEN {
            return Err(IntegrityError::WrappedKey);
        }
        let (nonce, sealed) = wrapped.bytes.split_at(24);
        let nonce = XNonce::try_from(nonce).map_err(|_| IntegrityError::WrappedKey)?;
        let ad = Self::wrap_ad(&wrapped.kek_id, binding);
        let plain = Zeroizing::new(
            XChaCha20Poly1305::new(&(**kek).into())
                .decrypt(&nonce, Payload { msg: sealed, aad: &ad })
                .map_err(|_| IntegrityError::WrappedKey)?,
        );
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&plain);
        Ok(DataKey(key))
    }

    /// Re-wraps a data key under the current KEK (for key rotation): the contents stay as they are.
    pub fn rewrap(&self, wrapped: &WrappedKey, binding: &Binding) -> Result<WrappedKey, IntegrityError> {
        Ok(self.wrap(&self.unwrap(wrapped, binding)?, binding))
    }
}

/// A random 32-byte salt.
pub fn random_salt() -> B256 {
    let mut salt = [0u8; 32];
    rand::rng().fill_bytes(&mut salt);
    B256::from(salt)
}

pub use medledger_core::salted_hash;

/// The pointer hash the uploader anchors: the salted hash of the vault's document id (`vault:<hex id>`).
pub fn pointer_hash(salt: B256, document: &[u8; 16]) -> B256 {
    salted_hash(salt, format!("vault:{}", hex::encode(document)).as_bytes())
}

/// Where a document's bytes lie in its stored object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The plaintext size.
    pub size: u64,
}

impl Layout {
    /// Number of chunks (at least one: an empty document has one empty last chunk).
    pub const fn chunks(self) -> u64 {
        if self.size == 0 {
            1
        } else {
            self.size.div_ceil(CHUNK_SIZE)
        }
    }

    /// The whole object's length.
    pub const fn object_len(self) -> u64 {
        HEADER_LEN + self.size + self.chunks() * TAG_LEN + TRAILER_LEN
    }

    /// The plaintext length of chunk `index`.
    pub const fn chunk_plain_len(self, index: u64) -> u64 {
        if index + 1 < self.chunks() {
            CHUNK_SIZE
        } else {
            self.size - (self.chunks() - 1) * CHUNK_SIZE
        }
    }

    /// The object offset of sealed chunk `index`.
    pub const fn chunk_offset(self, index: u64) -> u64 {
        HEADER_LEN + index * (CHUNK_SIZE + TAG_LEN)
    }

    /// The object offset of the trailer.
    pub const fn trailer_offset(self) -> u64 {
        self.object_len() - TRAILER_LEN
    }

    /// The chunks covering plaintext bytes `start..end` (non-empty, within the size).
    pub const fn chunks_for(self, start: u64, end: u64) -> std::ops::Range<u64> {
        if self.size == 0 {
            return 0..1;
        }
        (start / CHUNK_SIZE)..end.div_ceil(CHUNK_SIZE)
    }
}

/// What the sealed trailer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    /// The plaintext size.
    pub size: u64,
    /// The salt of the content hash.
    pub salt: B256,
    /// `keccak256(salt ‖ contents)`.
    pub content_hash: B256,
}

/// Seals a document as it streams in: feed plaintext with [`Sealer::update`], which returns the object
/// bytes ready to store, and end with [`Sealer::finish`].
pub struct Sealer {
    stream: StreamBE32<XChaCha20Poly1305>,
    key: DataKey,
    binding: Binding,
    ad: Vec<u8>,
    buf: Vec<u8>,
    index: u32,
    size: u64,
    salt: B256,
    hasher: Keccak256,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer").field("index", &self.index).field("size", &self.size).finish()
    }
}

fn chunk_ad(binding: &Binding) -> Vec<u8> {
    binding.ad(b"medledger-vault/chunk/v1")
}

fn stream_of(key: &DataKey, prefix: &[u8; PREFIX_LEN]) -> StreamBE32<XChaCha20Poly1305> {
    StreamBE32::from_aead(key.aead(), &(*prefix).into())
}

impl Sealer {
    /// A sealer with a fresh random prefix and salt; returns it with the object's header bytes.
    pub fn new(key: DataKey, binding: Binding) -> (Self, Vec<u8>) {
        Self::with_salt(key, binding, random_salt())
    }

    /// A sealer with a fresh random prefix and the given salt (an imported document keeps the salt of
    /// the hashes anchored for it); returns it with the object's header bytes.
    pub fn with_salt(key: DataKey, binding: Binding, salt: B256) -> (Self, Vec<u8>) {
        let mut prefix = [0u8; PREFIX_LEN];
        rand::rng().fill_bytes(&mut prefix);
        let mut hasher = Keccak256::new();
        hasher.update(salt);
        let sealer = Self {
            stream: stream_of(&key, &prefix),
            key,
            ad: chunk_ad(&binding),
            binding,
            buf: Vec::with_capacity(CHUNK_SIZE as usize),
            index: 0,
            size: 0,
            salt,
            hasher,
        };
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&prefix);
        (sealer, header)
    }

    /// The plaintext bytes taken so far.
    pub const fn size(&self) -> u64 {
        self.size
    }

    /// Seals the chunk of plaintext at `out[start..]` in place and appends its tag.
    fn seal_tail(&mut self, out: &mut Vec<u8>, start: usize, last: bool) -> Result<(), VaultError> {
        let len = out.len() - start;
        out.resize(out.len() + TAG_LEN as usize, 0);
        self.stream
            .encrypt_in_place(self.index, last, &self.ad, &mut InPlace { buf: &mut out[start..], len })
            .map_err(|_| VaultError::Internal("sealing a chunk failed".into()))?;
        self.index = self
            .index
            .checked_add(1)
            .ok_or_else(|| VaultError::Internal("too many chunks for one document".into()))?;
        Ok(())
    }

    /// Takes more plaintext; returns the sealed chunks completed by it (every full chunk but the latest,
    /// which may still turn out to be the last). Each chunk is copied once, into the returned buffer, and
    /// sealed there.
    pub fn update(&mut self, data: &[u8]) -> Result<Vec<u8>, VaultError> {
        self.hasher.update(data);
        self.size += data.len() as u64;
        let chunk = CHUNK_SIZE as usize;
        // Seal every complete chunk but the latest: 1..=CHUNK_SIZE bytes stay pending.
        let ready = (self.buf.len() + data.len()).saturating_sub(1) / chunk;
        let mut out = Vec::with_capacity(ready * (chunk + TAG_LEN as usize));
        let mut data = data;
        for _ in 0..ready {
            let start = out.len();
            out.extend_from_slice(&self.buf);
            let (head, rest) = data.split_at(chunk - self.buf.len());
            self.buf.clear();
            out.extend_from_slice(head);
            data = rest;
            self.seal_tail(&mut out, start, false)?;
        }
        self.buf.extend_from_slice(data);
        Ok(out)
    }

    /// Seals the last chunk and the trailer; returns their bytes and the trailer's values.
    pub fn finish(mut self) -> Result<(Vec<u8>, Trailer), VaultError> {
        let mut out = Vec::with_capacity(self.buf.len() + (TAG_LEN + TRAILER_LEN) as usize);
        out.extend_from_slice(&self.buf);
        self.seal_tail(&mut out, 0, true)?;
        let trailer = Trailer { size: self.size, salt: self.salt, content_hash: self.hasher.finalize() };
        out.extend_from_slice(&seal_trailer(&self.key, &self.binding, &trailer));
        Ok((out, trailer))
    }
}

/// A slice as an AEAD in-place buffer: its first `len` bytes are the message, the rest room for the tag. A
/// chunk is sealed or opened where it lies, without a buffer of its own.
struct InPlace<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl AsRef<[u8]> for InPlace<'_> {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl AsMut<[u8]> for InPlace<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }
}

impl Buffer for InPlace<'_> {
    fn extend_from_slice(&mut self, other: &[u8]) -> aead::Result<()> {
        let room = self.buf.get_mut(self.len..self.len + other.len()).ok_or(aead::Error)?;
        room.copy_from_slice(other);
        self.len += other.len();
        Ok(())
    }

    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

fn trailer_ad(binding: &Binding) -> Vec<u8> {
    binding.ad(b"medledger-vault/trailer/v1")
}

fn seal_trailer(key: &DataKey, binding: &Binding, t: &Trailer) -> Vec<u8> {
    let mut nonce = [0u8; 24];
    rand::rng().fill_bytes(&mut nonce);
    let mut msg = Vec::with_capacity(72);
    msg.extend_from_slice(&t.size.to_be_bytes());
    msg.extend_from_slice(t.salt.as_slice());
    msg.extend_from_slice(t.content_hash.as_slice());
    let sealed = key
        .aead()
        .encrypt(&XNonce::from(nonce), Payload { msg: &msg, aad: &trailer_ad(binding) })
        .expect("XChaCha20-Poly1305 seals 72 bytes");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    out
}

/// Opens a stored document's chunks and trailer, in any order.
pub struct Opener {
    stream: StreamBE32<XChaCha20Poly1305>,
    key: DataKey,
    binding: Binding,
    ad: Vec<u8>,
    layout: Layout,
}

impl fmt::Debug for Opener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opener").field("layout", &self.layout).finish()
    }
}

impl Opener {
    /// An opener for a document of `layout` whose object starts with `header`.
    pub fn new(
        key: DataKey,
        binding: Binding,
        layout: Layout,
        header: &[u8],
    ) -> Result<Self, IntegrityError> {
        if header.len() != HEADER_LEN as usize || &header[..8] != MAGIC {
            return Err(IntegrityError::Header);
        }
        let mut prefix = [0u8; PREFIX_LEN];
        prefix.copy_from_slice(&header[8..]);
        Ok(Self { stream: stream_of(&key, &prefix), key, ad: chunk_ad(&binding), binding, layout })
    }

    /// The document's layout.
    pub const fn layout(&self) -> Layout {
        self.layout
    }

    /// Opens sealed chunk `index`.
    pub fn open_chunk(&self, index: u64, sealed: &[u8]) -> Result<Vec<u8>, IntegrityError> {
        let mut buf = sealed.to_vec();
        let len = self.open_in_place(index, &mut buf)?;
        buf.truncate(len);
        Ok(buf)
    }

    /// Opens sealed chunk `index` where it lies: on success `sealed[..n]` is its plaintext, and `n` is
    /// returned. On failure the buffer's contents are unspecified (never plaintext to serve).
    pub fn open_in_place(&self, index: u64, sealed: &mut [u8]) -> Result<usize, IntegrityError> {
        let err = IntegrityError::Chunk { index };
        if index >= self.layout.chunks()
            || sealed.len() as u64 != self.layout.chunk_plain_len(index) + TAG_LEN
        {
            return Err(err);
        }
        let position = u32::try_from(index).map_err(|_| err.clone())?;
        let last = index + 1 == self.layout.chunks();
        let len = sealed.len();
        let mut buf = InPlace { buf: sealed, len };
        self.stream.decrypt_in_place(position, last, &self.ad, &mut buf).map_err(|_| err)?;
        Ok(buf.len)
    }

    /// Opens the trailer and checks its size against the layout.
    pub fn open_trailer(&self, sealed: &[u8]) -> Result<Trailer, IntegrityError> {
        if sealed.len() as u64 != TRAILER_LEN {
            return Err(IntegrityError::Trailer);
        }
        let (nonce, body) = sealed.split_at(24);
        let nonce = XNonce::try_from(nonce).map_err(|_| IntegrityError::Trailer)?;
        let plain = self
            .key
            .aead()
            .decrypt(&nonce, Payload { msg: body, aad: &trailer_ad(&self.binding) })
            .map_err(|_| IntegrityError::Trailer)?;
        let mut size = [0u8; 8];
        size.copy_from_slice(&plain[..8]);
        let trailer = Trailer {
            size: u64::from_be_bytes(size),
            salt: B256::from_slice(&plain[8..40]),
            content_hash: B256::from_slice(&plain[40..72]),
        };
        if trailer.size != self.layout.size {
            return Err(IntegrityError::Metadata("size"));
        }
        Ok(trailer)
    }
}

#[cfg(test)]
#[path = "crypto_tests.rs"]
mod tests;
