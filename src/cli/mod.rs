//! Subcommands of the `medledger` binary that have their own module.

pub(crate) mod rx;
