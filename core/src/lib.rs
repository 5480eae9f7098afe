//! The medledger domain, shared by the indexer, the GraphQL API, the record vault and the command line.
//!
//! - [`abi`]: the four contracts' committed ABIs and their `sol!` [`bindings`] (a test keeps them equal to a
//!   fresh `forge build`).
//! - [`eip712`]: the prescription's EIP-712 typed data (the nested `Prescription` a prescriber's wallet
//!   signs) and its id, the rxId.
//! - [`address`]: addresses as people and files write them, EIP-55 checked ([`parse_address`]).
//! - [`Manifest`]: where the contracts of one chain live, as `contracts/script/Deploy.s.sol` writes it.
//! - [`consent`] and [`dispense`]: the contracts' consent and dispense rules as pure functions, evaluated off
//!   chain at a given time (the latest indexed block's, as a rule) by the API, the vault and the CLI.
//! - [`schedule`]: the bundled, versioned controlled-substance table (RxNorm code → DEA schedule) that checks
//!   the schedule a prescriber declares, which the chain cannot see.
//! - [`salted_hash`]: the salted commitment to an off-chain document that the contracts receive.
//! - [`NOTIFY_CHANNEL`]: the PostgreSQL channel on which the indexer announces each committed batch.

pub mod abi;
pub mod address;
mod commitment;
pub mod consent;
pub mod dispense;
pub mod eip712;
mod error;
mod manifest;
pub mod schedule;

pub use abi::{bindings, ABIS, ACCESS_LOG_ANCHORS_ABI};
pub use address::parse_address;
pub use commitment::salted_hash;
pub use error::{AddressError, ManifestError};
pub use manifest::{Contracts, Manifest};

/// The PostgreSQL `NOTIFY` channel on which the indexer announces every committed batch (payload
/// `"<chain id>:<indexed block>"`); the API's subscriptions and caches `LISTEN` on it.
pub const NOTIFY_CHANNEL: &str = "medledger_events";
