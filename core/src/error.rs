//! Errors of the core crate.

use std::io;

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
