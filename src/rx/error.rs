//! The errors of the prescription documents, patient copies and codes.

use alloy::primitives::B256;
use std::path::PathBuf;

/// Why a prescription document, patient copy or code was refused.
#[derive(Debug, thiserror::Error)]
pub enum RxError {
    /// The JSON is malformed, a field has the wrong type, or a field is unknown or missing.
    #[error("{what}: line {line}, column {column}: {}{message}", field_prefix(path))]
    Json {
        /// What was parsed ("prescription document", "patient copy").
        what: &'static str,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The field path (`dispenseRequest.quantity.value`), empty at the top level.
        path: String,
        /// serde's description.
        message: String,
    },
    /// A field's value breaks a rule.
    #[error("{path}: {message}")]
    Invalid {
        /// The field path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A patient copy whose stored hash is not the one its document gives (edited or corrupted).
    #[error("patient copy: {field} is {stored} but the document gives {computed}: the copy was altered")]
    Altered {
        /// Which stored value (`rxId`, `contentHash`).
        field: &'static str,
        /// The stored value.
        stored: B256,
        /// The recomputed value.
        computed: B256,
    },
    /// A prescription code (QR text) that cannot be decoded.
    #[error("prescription code: {0}")]
    Code(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn field_prefix(path: &str) -> String {
    if path.is_empty() || path == "." {
        String::new()
    } else {
        format!("{path}: ")
    }
}

impl RxError {
    /// Whether trying again may succeed (only file access can be transient; everything else is in the input).
    pub const fn is_retryable(&self) -> bool {
        matches!(self, Self::Io { .. })
    }
}
