//! The medledger indexer: follows the medledger contracts' events into PostgreSQL, exactly once and
//! reorg-safe, and keeps the projections the GraphQL API reads.
//!
//! Also home of [`TempPostgres`], the throwaway PostgreSQL cluster that tests and `medledger dev` use, and
//! of the deployment [`Manifest`] the contracts' deploy script writes.

mod error;
mod manifest;
mod tempdb;

pub use error::{ManifestError, TempDbError};
pub use manifest::{Contracts, Manifest};
pub use tempdb::TempPostgres;
