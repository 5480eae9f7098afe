//! Errors of the indexer crate, and [`report`]: an error and its causes as one line.

use std::{io, time::Duration};

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

/// What kind of failure a JSON-RPC call met; the label of the `medledger_indexer_rpc_errors_total` metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RpcErrorKind {
    /// The call did not answer within the configured timeout.
    Timeout,
    /// HTTP 429 or a JSON-RPC "rate limit" error.
    RateLimited,
    /// The node refused an `eth_getLogs` range: too many results, range too wide, or the query timed out
    /// on the node. The range is split and retried.
    RangeRejected,
    /// The connection failed or dropped (refused, reset, WebSocket closed, HTTP 5xx).
    Transport,
    /// The node answered with a JSON-RPC error not otherwise classified.
    Node,
    /// The answer could not be parsed, or lacked a field a mined block or log must have.
    Malformed,
    /// A block the node reported moments ago is not there (yet, or any more).
    NotFound,
}

impl RpcErrorKind {
    /// The metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::RateLimited => "rate_limited",
            Self::RangeRejected => "range_rejected",
            Self::Transport => "transport",
            Self::Node => "node",
            Self::Malformed => "malformed",
            Self::NotFound => "not_found",
        }
    }
}

/// A failed JSON-RPC call.
#[derive(Debug, thiserror::Error)]
#[error("{method} failed ({}): {message}", kind.as_str())]
pub struct RpcError {
    /// The JSON-RPC method.
    pub method: &'static str,
    /// The classification.
    pub kind: RpcErrorKind,
    /// The node's or transport's message.
    pub message: String,
}

impl RpcError {
    /// Everything but a node that keeps refusing a single-block log query is worth retrying.
    pub const fn is_retryable(&self) -> bool {
        true
    }
}

/// Failures of the indexer.
#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    /// A JSON-RPC call failed (after the indexer gave up retrying, or a non-retryable one).
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// A database statement or connection failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// PostgreSQL could not be reached: refused, unknown host, authentication failed, timed out. Retried.
    #[error("database {address} unreachable: {cause}")]
    DatabaseUnreachable {
        /// `host:port/database`, without credentials.
        address: String,
        /// Why, as the connection attempt said.
        cause: String,
    },
    /// The RPC URL has no scheme the indexer speaks.
    #[error(
        "--rpc.url {url:?} is not an http://, https://, ws:// or wss:// URL (http:// polls for new blocks, \
         ws:// subscribes to them)"
    )]
    RpcUrl {
        /// The URL given (without credentials).
        url: String,
    },
    /// Start-up did not reach both the node and the database within the configured bound
    /// (`Config::startup_timeout`).
    #[error("not started within {}s: {cause}", waited.as_secs_f64())]
    StartupTimeout {
        /// How long start-up waited.
        waited: Duration,
        /// The last failure met (with the address it concerned).
        cause: String,
    },
    /// Applying the schema migrations failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A log from a tracked contract whose first topic matches no event of its ABI.
    #[error("unknown event from {contract} ({address}) at block {block} log {log_index}: topic0 {topic0}")]
    UnknownEvent {
        /// The contract's name.
        contract: &'static str,
        /// Its address.
        address: String,
        /// The unknown selector (or "none" for a log without topics).
        topic0: String,
        /// The block number.
        block: u64,
        /// The log index in the block.
        log_index: u64,
    },
    /// A log from a tracked contract with a known selector that does not decode against the ABI.
    #[error("undecodable {event} log from {contract} at block {block} log {log_index}: {reason}")]
    Undecodable {
        /// The contract's name.
        contract: &'static str,
        /// The event's name.
        event: String,
        /// The block number.
        block: u64,
        /// The log index in the block.
        log_index: u64,
        /// What the decoder said.
        reason: String,
    },
    /// The node serves another chain than the manifest names.
    #[error("the RPC node serves chain {actual}, the manifest is for chain {expected}")]
    ChainIdMismatch {
        /// The manifest's chain id.
        expected: u64,
        /// The node's chain id.
        actual: u64,
    },
    /// The chain reorganised deeper than the configured maximum; the indexer stops rather than guess.
    #[error(
        "reorg deeper than --max-reorg-depth {max_depth}: no block between {lowest} and {checkpoint} \
         matches the node's chain; re-index from scratch or raise the limit"
    )]
    ReorgTooDeep {
        /// The indexed block when the reorg was detected.
        checkpoint: u64,
        /// The lowest block compared.
        lowest: u64,
        /// The configured maximum depth.
        max_depth: u64,
    },
    /// The node's answers for a range did not fit together (a reorg happened while fetching it).
    #[error("inconsistent answers for blocks {from}..={to}: {reason}")]
    Inconsistent {
        /// First block of the range.
        from: u64,
        /// Last block of the range.
        to: u64,
        /// What did not match.
        reason: String,
    },
    /// The stored checkpoint moved under this writer (another writer, or a lost lock).
    #[error("the checkpoint of chain {chain_id} changed under this writer")]
    CheckpointMoved {
        /// The chain id.
        chain_id: u64,
    },
    /// The stored data contradicts itself (e.g. a checkpoint without its block).
    #[error("corrupt index state: {0}")]
    Corrupt(String),
    /// The metrics/health HTTP server could not start.
    #[error("cannot serve HTTP on {addr}: {source}")]
    Serve {
        /// The address.
        addr: std::net::SocketAddr,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl IndexerError {
    /// Whether the indexer's run loop should back off and try again rather than stop.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Rpc(e) => e.is_retryable(),
            Self::Database(e) => database_error_is_retryable(e),
            Self::Inconsistent { .. } | Self::CheckpointMoved { .. } | Self::DatabaseUnreachable { .. } => {
                true
            }
            // Reaching the database may pass (it may still be starting); a failing migration does not.
            Self::Migrate(sqlx::migrate::MigrateError::Execute(e)) => {
                database_error_is_retryable(e) && !matches!(e, sqlx::Error::Database(_))
            }
            Self::Migrate(_)
            | Self::UnknownEvent { .. }
            | Self::Undecodable { .. }
            | Self::ChainIdMismatch { .. }
            | Self::ReorgTooDeep { .. }
            | Self::Corrupt(_)
            | Self::RpcUrl { .. }
            | Self::StartupTimeout { .. }
            | Self::Serve { .. } => false,
        }
    }
}

/// SQLSTATE classes that mean a bug or a schema mismatch, never a passing condition: data exceptions
/// (22), integrity constraint violations (23: unique, foreign key, check, not null, exclusion), invalid
/// transaction state (25), syntax errors and undefined tables, columns or functions (42), unsupported
/// features (0A), SQL routine and external routine exceptions (2F, 38, 39), PL/pgSQL raises (P0).
const FATAL_SQLSTATE_CLASSES: [&str; 9] = ["0A", "22", "23", "25", "2F", "38", "39", "42", "P0"];

/// Whether a database failure may pass: connection losses (class 08, and `57P01` when an administrator
/// terminates the backend), a server shutting down or starting (57P), serialization failures and
/// deadlocks (40), lack of resources (53), lock timeouts (55P03), cancelled statements (57014), pool
/// timeouts and I/O errors. Errors that a retry would only repeat — constraint violations, undefined
/// tables or columns, bad data, column decoding — are not: the indexer stops loudly instead of retrying
/// a bug forever.
pub(crate) fn database_error_is_retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => !FATAL_SQLSTATE_CLASSES.iter().any(|class| code.starts_with(class)),
            None => true,
        },
        sqlx::Error::Configuration(_)
        | sqlx::Error::InvalidArgument(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::Encode(_)
        | sqlx::Error::RowNotFound
        | sqlx::Error::Migrate(_)
        | sqlx::Error::InvalidSavePointStatement
        | sqlx::Error::BeginFailed => false,
        _ => true,
    }
}

/// An error and its causes as one line, `outer: inner: …`, each text once: a cause whose text is already
/// part of the line (wrappers that print their source, like `database: {0}`, or alloy's and sqlx's own) is
/// not repeated, as the `Caused by:` list of a plain `{:?}` would.
pub fn report(err: &dyn std::error::Error) -> String {
    let mut line = err.to_string();
    let mut cause = err.source();
    while let Some(e) = cause {
        let text = e.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = e.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refused connection as sqlx reports it, under the indexer's and a caller's context: each text once,
    /// the innermost cause included.
    #[test]
    fn the_chain_is_reported_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("indexer")]
        struct Context(#[source] IndexerError);

        let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "Connection refused (os error 111)");
        let err = Context(IndexerError::Database(sqlx::Error::Io(refused)));
        assert_eq!(
            report(&err),
            "indexer: database: error communicating with database: Connection refused (os error 111)"
        );
        // A cause a wrapper does not print is kept.
        let migrate = IndexerError::Migrate(sqlx::migrate::MigrateError::Execute(sqlx::Error::PoolTimedOut));
        assert!(report(&migrate).ends_with("pool timed out while waiting for an open connection"));
        assert_eq!(report(&migrate).matches("pool timed out").count(), 1);
    }
}
