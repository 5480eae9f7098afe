use super::*;

const PATIENT: [u8; 20] = [0x11; 20];

fn binding() -> Binding {
    Binding { patient: PATIENT, document: [7; 16], version: 1 }
}

fn keyring(id: &str, byte: u8) -> Keyring {
    Keyring::parse(&format!("# test\n{id} {}\n", hex::encode([byte; 32]))).unwrap()
}

/// Seals `data` fed in pieces of `piece` bytes; returns the object, the wrapped key and the trailer.
fn seal(ring: &Keyring, data: &[u8], piece: usize) -> (Vec<u8>, WrappedKey, Trailer) {
    let key = DataKey::generate();
    let wrapped = ring.wrap(&key, &binding());
    let (mut sealer, mut object) = Sealer::new(key, binding());
    for part in data.chunks(piece.max(1)) {
        object.extend_from_slice(&sealer.update(part).unwrap());
    }
    let (tail, trailer) = sealer.finish().unwrap();
    object.extend_from_slice(&tail);
    (object, wrapped, trailer)
}

fn opener(ring: &Keyring, wrapped: &WrappedKey, object: &[u8], size: u64) -> Opener {
    let key = ring.unwrap(wrapped, &binding()).unwrap();
    Opener::new(key, binding(), Layout { size }, &object[..HEADER_LEN as usize]).unwrap()
}

/// Decrypts plaintext bytes `start..end` opening only the chunks covering them.
fn read_range(op: &Opener, object: &[u8], start: u64, end: u64) -> Result<Vec<u8>, IntegrityError> {
    let layout = op.layout();
    let mut out = Vec::new();
    for i in layout.chunks_for(start, end) {
        let off = layout.chunk_offset(i) as usize;
        let len = (layout.chunk_plain_len(i) + TAG_LEN) as usize;
        let sealed = object
            .get(off..off + len)
            .ok_or(IntegrityError::Length { expected: layout.object_len(), actual: object.len() as u64 })?;
        let plain = op.open_chunk(i, sealed)?;
        let base = i * CHUNK_SIZE;
        let from = start.saturating_sub(base) as usize;
        let to = ((end - base) as usize).min(plain.len());
        out.extend_from_slice(&plain[from.min(to)..to]);
    }
    Ok(out)
}

fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn round_trips_every_size_and_piece() {
    let ring = keyring("k1", 1);
    let c = CHUNK_SIZE as usize;
    for len in [0, 1, 100, c - 1, c, c + 1, 3 * c + 5, 4 * c] {
        for piece in [1000, c, 7 * c] {
            let data = sample(len);
            let (object, wrapped, trailer) = seal(&ring, &data, piece);
            let layout = Layout { size: len as u64 };
            assert_eq!(object.len() as u64, layout.object_len(), "len {len}");
            assert_eq!(trailer.size, len as u64);
            assert_eq!(trailer.content_hash, salted_hash(trailer.salt, &data));
            let op = opener(&ring, &wrapped, &object, len as u64);
            assert_eq!(read_range(&op, &object, 0, len as u64).unwrap(), data, "len {len} piece {piece}");
            let t = op.open_trailer(&object[layout.trailer_offset() as usize..]).unwrap();
            assert_eq!(t, trailer);
        }
    }
}

#[test]
fn ranged_reads_open_only_their_chunks() {
    let ring = keyring("k1", 1);
    let data = sample(5 * CHUNK_SIZE as usize + 123);
    let (mut object, wrapped, _) = seal(&ring, &data, 4096);
    let size = data.len() as u64;
    // Corrupt chunk 0: ranges inside chunks 2..4 still read, a range touching chunk 0 does not.
    object[HEADER_LEN as usize + 3] ^= 1;
    let op = opener(&ring, &wrapped, &object, size);
    let (a, b) = (2 * CHUNK_SIZE + 10, 4 * CHUNK_SIZE + 7);
    assert_eq!(read_range(&op, &object, a, b).unwrap(), &data[a as usize..b as usize]);
    assert_eq!(op.layout().chunks_for(a, b), 2..5);
    assert_eq!(read_range(&op, &object, size - 5, size).unwrap(), &data[data.len() - 5..]);
    assert_eq!(read_range(&op, &object, 5, 10), Err(IntegrityError::Chunk { index: 0 }));
}

#[test]
fn tampered_chunk_is_an_integrity_error() {
    let ring = keyring("k1", 1);
    let data = sample(3 * CHUNK_SIZE as usize);
    let (object, wrapped, _) = seal(&ring, &data, 10_000);
    let layout = Layout { size: data.len() as u64 };
    for index in 0..3 {
        let mut bad = object.clone();
        bad[layout.chunk_offset(index) as usize + 100] ^= 0x80;
        let op = opener(&ring, &wrapped, &bad, layout.size);
        assert_eq!(read_range(&op, &bad, 0, layout.size), Err(IntegrityError::Chunk { index }));
    }
    // The tag too.
    let mut bad = object;
    bad[layout.chunk_offset(1) as usize + CHUNK_SIZE as usize + 3] ^= 1;
    let op = opener(&ring, &wrapped, &bad, layout.size);
    assert_eq!(read_range(&op, &bad, 0, layout.size), Err(IntegrityError::Chunk { index: 1 }));
}

#[test]
fn reordered_chunks_fail() {
    let ring = keyring("k1", 1);
    let data = sample(3 * CHUNK_SIZE as usize);
    let (object, wrapped, _) = seal(&ring, &data, 10_000);
    let layout = Layout { size: data.len() as u64 };
    let span = (CHUNK_SIZE + TAG_LEN) as usize;
    let (o0, o1) = (layout.chunk_offset(0) as usize, layout.chunk_offset(1) as usize);
    let mut swapped = object.clone();
    swapped[o0..o0 + span].copy_from_slice(&object[o1..o1 + span]);
    swapped[o1..o1 + span].copy_from_slice(&object[o0..o0 + span]);
    let op = opener(&ring, &wrapped, &swapped, layout.size);
    assert_eq!(read_range(&op, &swapped, 0, layout.size), Err(IntegrityError::Chunk { index: 0 }));
    assert_eq!(
        read_range(&op, &swapped, CHUNK_SIZE, 2 * CHUNK_SIZE),
        Err(IntegrityError::Chunk { index: 1 })
    );
}

#[test]
fn truncation_fails_even_with_a_matching_size() {
    let ring = keyring("k1", 1);
    let data = sample(3 * CHUNK_SIZE as usize);
    let (object, wrapped, _) = seal(&ring, &data, 10_000);
    // Drop the last chunk and claim the document had two chunks: chunk 1 was not sealed as the last.
    let short = Layout { size: 2 * CHUNK_SIZE };
    let truncated = object[..short.chunk_offset(2) as usize].to_vec();
    let op = opener(&ring, &wrapped, &truncated, short.size);
    assert_eq!(read_range(&op, &truncated, 0, short.size), Err(IntegrityError::Chunk { index: 1 }));
    // With the true size, the missing bytes are a length error.
    let op = opener(&ring, &wrapped, &truncated, data.len() as u64);
    assert!(matches!(read_range(&op, &truncated, 0, data.len() as u64), Err(IntegrityError::Length { .. })));
}

#[test]
fn trailer_and_header_are_checked() {
    let ring = keyring("k1", 1);
    let data = sample(1000);
    let (object, wrapped, _) = seal(&ring, &data, 100);
    let layout = Layout { size: 1000 };
    let op = opener(&ring, &wrapped, &object, 1000);
    let mut trailer = object[layout.trailer_offset() as usize..].to_vec();
    trailer[40] ^= 1;
    assert_eq!(op.open_trailer(&trailer), Err(IntegrityError::Trailer));
    // A size in the metadata that disagrees with the sealed size.
    let op = opener(&ring, &wrapped, &object, 999);
    assert_eq!(
        op.open_trailer(&object[layout.trailer_offset() as usize..]),
        Err(IntegrityError::Metadata("size"))
    );
    let key = ring.unwrap(&wrapped, &binding()).unwrap();
    let mut header = object[..HEADER_LEN as usize].to_vec();
    header[0] = b'X';
    assert_eq!(Opener::new(key, binding(), layout, &header).unwrap_err(), IntegrityError::Header);
    // An altered nonce prefix makes every chunk fail.
    let mut bad = object;
    bad[10] ^= 1;
    let op = opener(&ring, &wrapped, &bad, 1000);
    assert_eq!(read_range(&op, &bad, 0, 1000), Err(IntegrityError::Chunk { index: 0 }));
}

#[test]
fn wrapped_key_is_bound_and_authenticated() {
    let ring = keyring("k1", 1);
    let key = DataKey::generate();
    let wrapped = ring.wrap(&key, &binding());
    assert!(ring.unwrap(&wrapped, &binding()).is_ok());
    let mut altered = wrapped.clone();
    altered.bytes[30] ^= 1;
    assert_eq!(ring.unwrap(&altered, &binding()).unwrap_err(), IntegrityError::WrappedKey);
    altered = wrapped.clone();
    altered.bytes.pop();
    assert_eq!(ring.unwrap(&altered, &binding()).unwrap_err(), IntegrityError::WrappedKey);
    for other in [
        Binding { patient: [0x22; 20], ..binding() },
        Binding { document: [8; 16], ..binding() },
        Binding { version: 2, ..binding() },
    ] {
        assert_eq!(ring.unwrap(&wrapped, &other).unwrap_err(), IntegrityError::WrappedKey);
    }
    // Same key bytes under another id: the id is bound too.
    let renamed = WrappedKey { kek_id: "k2".into(), ..wrapped.clone() };
    let both =
        Keyring::parse(&format!("k2 {}\nk1 {}\n", hex::encode([1u8; 32]), hex::encode([1u8; 32]))).unwrap();
    assert_eq!(both.unwrap(&renamed, &binding()).unwrap_err(), IntegrityError::WrappedKey);
    assert_eq!(
        keyring("k9", 1).unwrap(&wrapped, &binding()).unwrap_err(),
        IntegrityError::UnknownKek("k1".into())
    );
}

#[test]
fn chunks_do_not_open_under_another_binding() {
    let ring = keyring("k1", 1);
    let data = sample(500);
    let (object, wrapped, _) = seal(&ring, &data, 100);
    let key = ring.unwrap(&wrapped, &binding()).unwrap();
    let other = Binding { document: [9; 16], ..binding() };
    let op = Opener::new(key, other, Layout { size: 500 }, &object[..HEADER_LEN as usize]).unwrap();
    assert_eq!(read_range(&op, &object, 0, 500), Err(IntegrityError::Chunk { index: 0 }));
}

#[test]
fn rotation_rewraps_without_touching_contents() {
    let old = keyring("k1", 1);
    let data = sample(70_000);
    let (object, wrapped, _) = seal(&old, &data, 9000);
    let both =
        Keyring::parse(&format!("k2 {}\nk1 {}\n", hex::encode([2u8; 32]), hex::encode([1u8; 32]))).unwrap();
    assert_eq!(both.current_id(), "k2");
    let rewrapped = both.rewrap(&wrapped, &binding()).unwrap();
    assert_eq!(rewrapped.kek_id, "k2");
    let only_new = keyring("k2", 2);
    let op = opener(&only_new, &rewrapped, &object, data.len() as u64);
    assert_eq!(read_range(&op, &object, 0, data.len() as u64).unwrap(), data);
}

#[test]
fn key_files_are_validated() {
    for bad in ["", "# only a comment", "k1", "k1 abcd", "k/1 ".to_owned().as_str(), "k1 zz"] {
        assert!(Keyring::parse(bad).is_err(), "{bad:?}");
    }
    let dup = format!("a {}\na {}", hex::encode([1u8; 32]), hex::encode([2u8; 32]));
    assert!(Keyring::parse(&dup).is_err());
    let (ring, text) = Keyring::generate("dev").unwrap();
    assert_eq!(ring.current_id(), "dev");
    assert!(Keyring::parse(&text).unwrap().contains("dev"));
    assert!(!format!("{ring:?}").contains(&text[4..20]), "Debug must not print key bytes");
}

#[test]
fn pointer_hash_is_salted() {
    let doc = [3u8; 16];
    assert_ne!(pointer_hash(B256::repeat_byte(1), &doc), pointer_hash(B256::repeat_byte(2), &doc));
    assert_eq!(
        pointer_hash(B256::repeat_byte(1), &doc),
        salted_hash(B256::repeat_byte(1), format!("vault:{}", hex::encode(doc)).as_bytes())
    );
}
