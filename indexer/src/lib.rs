//! The medledger indexer: follows the medledger contracts' events into PostgreSQL, exactly once and
//! reorg-safe, and keeps the projections the GraphQL API reads.
//!
//! - [`migrate`] applies the schema (`indexer/migrations`); [`Indexer::new`]`(config, pool).run(shutdown)`
//!   backfills from the deploy block (or the stored checkpoint) and then follows the head.
//! - Every batch is one transaction together with its checkpoint: a crash at any instant loses and
//!   duplicates nothing. A reorg is reverted to the common ancestor and the new branch indexed in one
//!   transaction. One writer per chain (PostgreSQL advisory lock); others wait as hot standby.
//! - [`metrics`] has the Prometheus metric names and the `/healthz`, `/readyz`, `/metrics` routes.
//!
//! [`eip712`] has the prescription's EIP-712 typed data and rxId, shared by the API and the `rx` commands.
//!
//! Also home of [`TempPostgres`], the throwaway PostgreSQL cluster that tests and `medledger dev` use, and
//! of the deployment [`Manifest`] the contracts' deploy script writes.

mod abi;
mod config;
mod copy;
pub mod eip712;
mod error;
mod indexes;
mod manifest;
pub mod metrics;
mod project;
mod rpc;
mod store;
mod sync;
mod tempdb;

pub use abi::{bindings, ABIS};
pub use config::Config;
pub use error::{IndexerError, ManifestError, RpcError, RpcErrorKind, TempDbError};
pub use manifest::{Contracts, Manifest};
pub use metrics::Status;
pub use rpc::is_range_rejection;
pub use store::NOTIFY_CHANNEL;
pub use sync::{migrate, Indexer};
pub use tempdb::TempPostgres;
