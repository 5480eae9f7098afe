//! The `medledger` command line as a library: the local development network ([`devnet`]) shared by
//! `medledger dev` and the end-to-end tests.

pub mod devnet;
