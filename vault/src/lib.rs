//! The medledger record vault: encrypted medical documents that the patient's on-chain consent gates.
//!
//! [`Vault::new`]`(config, pool, store, keys, rpc)` over the indexer's database, and [`router`] for its
//! HTTP surface (FHIR R4-shaped, under `/fhir`, plus Sign-In with Ethereum under `/auth`), which the
//! `medledger` binary mounts beside GraphQL. [`migrate`] applies the vault's tables next to the indexer's.
//!
//! - [`crypto`]: envelope encryption (a random data key per document wrapped by a key-encryption key,
//!   contents sealed in chunks with the STREAM construction over XChaCha20-Poly1305).
//! - [`store`]: content-addressed, create-only object storage (local directory or S3) through `object_store`.
//! - [`policy`]: the access rule as a pure function over the indexer's rows, and the consent state read per
//!   indexed block.
//! - [`log`]: the hash-chained access log and its verification.
//! - [`anchor`]: the log's head anchored on chain (`AccessLogAnchors`), and the log checked against it.
//! - [`auth`]: EIP-4361 sign-in (EIP-191 and ERC-1271) and sessions.
//! - [`Vault::export`] / [`Vault::import`]: all of a patient's documents, metadata and access log as one
//!   FHIR Bundle, imported into another vault with every document checked against its on-chain anchor.
//! - [`rotate_keys`] re-wraps data keys under a new key-encryption key; [`verify_log`] checks the log.
//!
//! The vault never writes document bytes, salts or keys in clear to PostgreSQL, its store or its logs.

pub mod anchor;
pub mod auth;
mod config;
pub mod crypto;
mod db;
mod error;
pub mod fhir;
mod http;
pub mod log;
mod maintenance;
mod offload;
pub mod policy;
mod portability;
mod read;
pub mod store;
mod vault;

pub use config::{VaultConfig, DEFAULT_CONTENT_TYPES, DEFAULT_MAX_IMPORT, DEFAULT_MAX_UPLOAD};
pub use db::migrate;
pub use error::{operation_outcome, AuthError, Denial, IntegrityError, VaultError, REFUSAL_SYSTEM};
pub use http::router;
pub use maintenance::{rotate_keys, sweep, verify_log, Rotation, Sweep};
pub use portability::Imported;
pub use read::parse_range;
pub use vault::{DocumentRow, Download, UploadRequest, Uploaded, Vault};
