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
//! The domain it follows (the contracts' ABIs, the deployment manifest) comes from `medledger-core`.
//!
//! Also home of [`TempPostgres`], the throwaway PostgreSQL cluster that tests and `medledger dev` use.

mod config;
mod copy;
mod db;
mod decode;
mod error;
mod indexes;
pub mod metrics;
mod project;
mod range;
mod reset;
mod rpc;
mod store;
mod sync;
mod tempdb;

pub use config::Config;
pub use db::{address as database_address, migrate_when_ready};
pub use error::{report, IndexerError, RpcError, RpcErrorKind, TempDbError};
pub use metrics::Status;
pub use reset::forget_chain;
pub use rpc::is_range_rejection;
pub use sync::{migrate, Indexer};
pub use tempdb::TempPostgres;
