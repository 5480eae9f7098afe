//! Errors of the core crate.

use std::io;

/// A written address that is not one (see [`crate::address::parse_address`]); fatal: the input must change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// It does not start with `0x`.
    #[error("an address must start with 0x")]
    Prefix,
    /// Not 40 hex digits after `0x` (the count given).
    #[error("an address must be 0x followed by 40 hex digits, got {0}")]
    Length(usize),
    /// A character that is not a hex digit.
    #[error("an address contains a non-hex character")]
    NotHex,
    /// Mixed case whose EIP-55 checksum is wrong: a mistyped address.
    #[error(
        "{given} has a wrong EIP-55 checksum (mixed case): expected {expected}, or write it all in lowercase"
    )]
    Checksum {
        /// The address as written.
        given: String,
        /// The same address with its EIP-55 checksum.
        expected: String,
    },
}

/// A deployment manifest that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read deployment manifest {}", path.display())]
    Read {
        /// The manifest path.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file is not a valid manifest.
    #[error("invalid deployment manifest {}: {reason}", path.display())]
    Invalid {
        /// The manifest path.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl ManifestError {
    /// Manifests do not fix themselves: never retryable.
    pub const fn is_retryable(&self) -> bool {
        false
    }
}
