//! Errors of the indexer crate.

use std::io;

/// Failures of the throwaway PostgreSQL cluster ([`crate::TempPostgres`]).
#[derive(Debug, thiserror::Error)]
pub enum TempDbError {
    /// No directory with both `initdb` and `postgres` was found (set `MEDLEDGER_PG_BIN`).
    #[error(
        "PostgreSQL server binaries (initdb, postgres) not found: install PostgreSQL or set MEDLEDGER_PG_BIN"
    )]
    BinariesNotFound,
    /// Running as root, but neither a `postgres` nor a `nobody` user exists to run the server as.
    #[error("running as root and no unprivileged user (postgres, nobody) exists to run PostgreSQL")]
    NoUnprivilegedUser,
    /// A database name that is not a plain identifier.
    #[error("invalid database name {0:?}: use ASCII letters, digits and underscores")]
    BadDatabaseName(String),
    /// A helper command ran but failed.
    #[error("{command} failed: {output}")]
    Command {
        /// The command that failed.
        command: &'static str,
        /// What it printed.
        output: String,
    },
    /// The server did not come up; its log says why.
    #[error("PostgreSQL did not become ready; its log:\n{log}")]
    NotReady {
        /// The server log.
        log: String,
    },
    /// An operating-system error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl TempDbError {
    /// Whether trying again may succeed (a busy port, a slow machine), as opposed to a setup problem.
    pub const fn is_retryable(&self) -> bool {
        matches!(self, Self::NotReady { .. } | Self::Io { .. })
    }
}

/// A deployment manifest that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read deployment manifest {}: {source}", path.display())]
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
