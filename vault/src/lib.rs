//! The medledger record vault: encrypted medical documents that the patient's on-chain consent gates.
//!
//! - [`crypto`]: envelope encryption (a random data key per document wrapped by a key-encryption key,
//!   contents sealed in chunks with the STREAM construction over XChaCha20-Poly1305).
//! - [`store`]: content-addressed, create-only object storage (local directory or S3) through `object_store`.
#![allow(unreachable_pub)]

pub mod crypto;
mod db;
mod error;
pub mod log;
pub mod policy;
pub mod store;

pub use db::migrate;
pub use error::{operation_outcome, AuthError, Denial, IntegrityError, VaultError};
