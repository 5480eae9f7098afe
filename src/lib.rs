//! The `medledger` command line as a library: the local development network ([`devnet`]) shared by
//! `medledger dev` and the end-to-end tests, and the HTTP [`server`] that mounts the GraphQL schema.

pub mod devnet;
pub mod server;
