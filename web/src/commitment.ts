// Salted commitments, as core/src/commitment.rs makes them: keccak256(salt ‖ bytes). Only the hash goes on
// chain; the salt keeps anyone from confirming a guessed content against it.
import { bytesToHex, concat, keccak256, stringToBytes, type Hex } from 'viem';

/** A fresh random 32-byte salt. */
export function randomSalt(): Hex {
  return bytesToHex(crypto.getRandomValues(new Uint8Array(32)));
}

/** keccak256(salt ‖ UTF-8 of `text`): `medledger_core::salted_hash(salt, text.as_bytes())`. */
export function saltedHash(salt: Hex, text: string): Hex {
  return keccak256(concat([salt, bytesToHex(stringToBytes(text))]));
}
