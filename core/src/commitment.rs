//! The project's salted commitment to an off-chain document: `keccak256(salt ‖ bytes)`. Record contents,
//! storage pointers, license documents and dispensing records go on chain only as such hashes; the random
//! salt keeps a guessed document from being confirmed against the chain, and whoever holds the document and
//! the salt can prove it.

use alloy::primitives::{Keccak256, B256};

/// `keccak256(salt ‖ bytes)`, hashed incrementally (no copy of `bytes`).
pub fn salted_hash(salt: B256, bytes: &[u8]) -> B256 {
    let mut h = Keccak256::new();
    h.update(salt);
    h.update(bytes);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_keccak_of_salt_then_bytes() {
        let salt = B256::repeat_byte(7);
        let mut joined = salt.to_vec();
        joined.extend_from_slice(b"note");
        assert_eq!(salted_hash(salt, b"note"), alloy::primitives::keccak256(joined));
        assert_ne!(salted_hash(salt, b"note"), salted_hash(B256::repeat_byte(8), b"note"));
    }
}
