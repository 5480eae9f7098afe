//! The API's errors and their machine-readable codes.

use async_graphql::ErrorExtensions;

/// The machine-readable `extensions.code` of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Malformed or inconsistent input: a query that does not parse or validate, a wrong type, a bad value.
    BadInput,
    /// The requested entity does not exist.
    NotFound,
    /// A limit was exceeded: page size, depth, complexity, time, body size.
    LimitExceeded,
    /// Something failed on the server; details are logged, never returned.
    Internal,
    /// The field needs a record-vault session (Sign-In with Ethereum: a bearer token or the session
    /// cookie) and the request has none, or an unknown, ended or expired one.
    Unauthenticated,
    /// The signed-in caller is neither the patient nor, as of the latest indexed block, a grantee whose
    /// consent allows it; `extensions.reason` says why (`no_grant`, `revoked`, `expired`, ...).
    Forbidden,
    /// Something the field needs is unavailable: the record vault is not served here, or PostgreSQL or the
    /// index cannot decide right now (`retryable` then says so).
    Unavailable,
}

impl ErrorCode {
    /// The code as it appears in `extensions.code`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadInput => "BAD_INPUT",
            Self::NotFound => "NOT_FOUND",
            Self::LimitExceeded => "LIMIT_EXCEEDED",
            Self::Internal => "INTERNAL",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::Unavailable => "UNAVAILABLE",
        }
    }
}

/// An error of a resolver. Only the message of the client-facing variants reaches the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// An argument is malformed or the arguments are inconsistent; the message says which and why.
    #[error("{0}")]
    BadInput(String),
    /// The requested entity does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A limit (e.g. the maximum page size) was exceeded.
    #[error("{0}")]
    LimitExceeded(String),
    /// A database query failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// A stored row holds a value the API cannot represent (a bug or a schema mismatch).
    #[error("unexpected stored value: {0}")]
    Corrupt(String),
    /// No valid record-vault session came with the request.
    #[error("{0}")]
    Unauthenticated(String),
    /// The access rule refused the caller; `reason` is the access log's denial code.
    #[error("{message}")]
    Forbidden {
        /// What the client sees.
        message: String,
        /// The denial code (as in the access log).
        reason: &'static str,
    },
    /// The record vault is not served, or cannot decide now.
    #[error("{message}")]
    Unavailable {
        /// What the client sees.
        message: String,
        /// Whether trying later may succeed.
        retryable: bool,
    },
}

impl From<medledger_vault::VaultError> for ApiError {
    fn from(e: medledger_vault::VaultError) -> Self {
        use medledger_vault::VaultError as V;
        match e {
            V::Auth(_) => Self::Unauthenticated(e.to_string()),
            V::Denied(d) => Self::Forbidden { message: e.to_string(), reason: d.code() },
            V::NotFound(_) => Self::NotFound(e.to_string()),
            V::BadRequest(m) => Self::BadInput(m),
            V::RateLimited => Self::LimitExceeded(e.to_string()),
            V::Unavailable { .. } => Self::Unavailable { message: e.to_string(), retryable: true },
            e => Self::Corrupt(format!("record vault: {e}")),
        }
    }
}

impl ApiError {
    /// The code clients see.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::BadInput(_) => ErrorCode::BadInput,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::LimitExceeded(_) => ErrorCode::LimitExceeded,
            Self::Database(_) | Self::Corrupt(_) => ErrorCode::Internal,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Forbidden { .. } => ErrorCode::Forbidden,
            Self::Unavailable { .. } => ErrorCode::Unavailable,
        }
    }

    /// Whether the same request may succeed if retried later (a transient database failure), as opposed
    /// to failing again for the same reason (bad input, missing entity, exceeded limit, corrupt row).
    pub const fn is_retryable(&self) -> bool {
        match self {
            Self::Database(e) => matches!(
                e,
                sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
            ),
            Self::Unavailable { retryable, .. } => *retryable,
            Self::BadInput(_)
            | Self::NotFound(_)
            | Self::LimitExceeded(_)
            | Self::Corrupt(_)
            | Self::Unauthenticated(_)
            | Self::Forbidden { .. } => false,
        }
    }

    /// Converts to the GraphQL error sent to the client: internal details are logged here and replaced.
    pub fn into_graphql(self) -> async_graphql::Error {
        let code = self.code();
        let reason = match &self {
            Self::Forbidden { reason, .. } => Some(*reason),
            _ => None,
        };
        let message = match &self {
            Self::BadInput(m) | Self::NotFound(m) | Self::LimitExceeded(m) | Self::Unauthenticated(m) => {
                m.clone()
            }
            Self::Forbidden { message, .. } | Self::Unavailable { message, .. } => message.clone(),
            Self::Database(e) => {
                tracing::error!(target: "medledger::graphql", error = %e, retryable = self.is_retryable(), "database query failed");
                "internal error".to_owned()
            }
            Self::Corrupt(detail) => {
                tracing::error!(target: "medledger::graphql", detail = %detail, "unexpected stored value");
                "internal error".to_owned()
            }
        };
        let retryable = self.is_retryable();
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", code.as_str());
            if let Some(reason) = reason {
                ext.set("reason", reason);
            }
            if retryable {
                ext.set("retryable", true);
            }
        })
    }
}

impl ApiError {
    /// An owned copy (a database error becomes `Corrupt` with its text, which only the log sees).
    pub(crate) fn cloned(&self) -> Self {
        match self {
            Self::BadInput(m) => Self::BadInput(m.clone()),
            Self::NotFound(m) => Self::NotFound(m.clone()),
            Self::LimitExceeded(m) => Self::LimitExceeded(m.clone()),
            Self::Database(e) => Self::Corrupt(format!("database: {e}")),
            Self::Corrupt(m) => Self::Corrupt(m.clone()),
            Self::Unauthenticated(m) => Self::Unauthenticated(m.clone()),
            Self::Forbidden { message, reason } => Self::Forbidden { message: message.clone(), reason },
            Self::Unavailable { message, retryable } => {
                Self::Unavailable { message: message.clone(), retryable: *retryable }
            }
        }
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        // `extend` takes `&self`; rebuild an owned copy of what matters.
        self.cloned().into_graphql()
    }
}

/// `Result` of resolvers.
pub(crate) type GqlResult<T> = Result<T, async_graphql::Error>;

/// Converts an [`ApiError`] result into a resolver result with the error's code attached.
pub(crate) trait ResultExt<T> {
    /// Attaches the code; never use `?` on an `ApiError` in a resolver directly.
    fn gql(self) -> GqlResult<T>;
}

impl<T> ResultExt<T> for Result<T, ApiError> {
    fn gql(self) -> GqlResult<T> {
        self.map_err(ApiError::into_graphql)
    }
}

/// Builds a GraphQL error with a code (for errors raised outside resolvers).
pub(crate) fn coded(code: ErrorCode, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, ext| ext.set("code", code.as_str()))
}
