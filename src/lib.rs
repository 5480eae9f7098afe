//! The `medledger` command line as a library: the local development network ([`devnet`]) shared by
//! `medledger dev` and the end-to-end tests, the HTTP [`server`] that mounts the GraphQL schema, and the
//! prescription documents of the `medledger rx` commands ([`rx`]).

pub mod demo;
pub mod devnet;
pub mod rx;
pub mod server;
pub mod web;
