//! The medledger GraphQL schema over the indexer's PostgreSQL tables.
//!
//! [`build_schema`] assembles the [`ApiSchema`] (queries for pharmacies, prescribers, patients and auditors,
//! and a subscription to new events) from a [`PgPool`](sqlx::PgPool) and an [`ApiConfig`]. The HTTP server
//! only mounts it. Every list is a Relay-style connection ordered by (block, log index); every
//! time-dependent status is computed against the latest indexed block's time and returns that `asOf` time.
//! Errors carry a machine-readable `extensions.code` (see [`ErrorCode`]). Every field of one query reads
//! the same indexed state: the request's statements share one read-only snapshot.

mod as_of;
mod cache;
mod config;
mod db;
mod error;
mod extension;
mod loaders;
mod model;
mod order;
pub mod over_http;
mod page;
mod query;
mod scalars;
mod schema;
mod session;
mod snapshot;
mod subscription;

pub use config::ApiConfig;
pub use db::{Db, Plan};
pub use error::{ApiError, ErrorCode};
pub use scalars::{Address, BigInt, Bytes32};
pub use schema::{build_schema, build_schemas, sdl, ApiSchema, QueryRoot, SubscriptionRoot};
pub use session::VaultSession;
