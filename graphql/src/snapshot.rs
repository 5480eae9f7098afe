//! One indexed state per response: every statement of a query runs in the request's one read-only
//! `REPEATABLE READ` transaction.
//!
//! The indexer commits each batch — its blocks, events, projections and the checkpoint — in one transaction,
//! and a reorg's repair too, so any one PostgreSQL snapshot holds one indexed state. A query's resolvers
//! issue several statements (one per top-level field, and one per batch of a nested field), each of which
//! would otherwise take its own snapshot, so `indexerStatus.indexedBlock` could be older than events beside
//! it in the same response. Here the first statement of a request opens a `REPEATABLE READ READ ONLY`
//! transaction on one connection and every later statement of the request runs in it, taking turns; the
//! transaction ends when the response is complete. A read-only transaction at this level takes no locks
//! the indexer waits for and never fails to serialize.
//!
//! A `WHERE block_number <= asOf` predicate would not do: projections hold each entity's current row, not
//! its row as of a block, and a reorg rewrites rows at the same block numbers.
//!
//! A request that issues no statement opens no transaction. Subscriptions' statements are unchanged: each
//! pushed event is read by its own statement (the schema's handle, see [`crate::extension`]).

use crate::db::{Conns, Lease, Pooled};
use crate::error::ApiError;
use sqlx::{Executor as _, Row as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

/// The statement that opens the request's transaction (sent as a simple query: one round trip, no
/// statement to prepare; so is the one that ends it).
const BEGIN: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// The request's transaction: none until its first statement, then one connection in a transaction.
#[derive(Default)]
pub(crate) struct Snapshot {
    open: Mutex<Option<Pooled>>,
    /// The connection broke or a statement on it was cancelled half-way: the request's later statements
    /// fail instead of reading another state, and the connection is closed.
    lost: AtomicBool,
    /// The response is complete: a statement after it (none is expected) runs on a connection of its own.
    ended: AtomicBool,
}

/// The error of a statement after the request's transaction was lost (retryable: the request as a whole
/// may be sent again).
fn lost() -> ApiError {
    ApiError::Database(sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "the connection holding the request's snapshot was lost",
    )))
}

impl Snapshot {
    /// The request's connection for one statement, opening the transaction on the first.
    pub(crate) async fn lease<'a>(&'a self, conns: &Arc<Conns>) -> Result<Lease<'a>, ApiError> {
        let mut open = self.open.lock().await;
        // Checked under the lock: a statement that waited for it while the response ended must not open a
        // second transaction (another snapshot, which nothing would end).
        if self.ended.load(Ordering::Acquire) {
            drop(open);
            tracing::warn!(target: "medledger::graphql::sql", "a statement after the response was complete reads outside its snapshot");
            return Ok(Lease::own(conns.lease().await?));
        }
        if self.lost.load(Ordering::Acquire) {
            return Err(lost());
        }
        if open.is_none() {
            let mut pooled = conns.lease().await?;
            match pooled.conn().execute(BEGIN).await {
                Ok(_) => {
                    tracing::trace!(target: "medledger::graphql::sql", "request snapshot opened");
                    *open = Some(pooled);
                }
                Err(e) => {
                    self.lost.store(true, Ordering::Release);
                    return Err(e.into());
                }
            }
        }
        let guard = MutexGuard::try_map(open, Option::as_mut).map_err(|_| lost())?;
        Ok(Lease::shared(Turn { guard, lost: &self.lost, settled: false }))
    }

    /// Ends the request's transaction (if a statement opened one) and returns its connection; says whether
    /// the index of `chain_id` was stale in the snapshot (read on the way: the same round trip).
    pub(crate) async fn end(&self, chain_id: i64) -> Option<Stale> {
        let mut open = self.open.lock().await;
        self.ended.store(true, Ordering::Release);
        let mut pooled = open.take()?;
        drop(open);
        if self.lost.load(Ordering::Acquire) {
            return None;
        }
        // Nothing to commit: a rollback ends a read-only transaction.
        let sql = format!(
            "SELECT stale_reason, to_char(stale_since AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
             FROM checkpoints WHERE chain_id = {chain_id} AND stale_reason IS NOT NULL; ROLLBACK"
        );
        let rows = pooled.conn().fetch_all(sql.as_str()).await;
        let stale = match rows {
            Ok(rows) => {
                pooled.release();
                rows.first().and_then(|r| {
                    Some(Stale { reason: r.try_get(0).ok()?, since: r.try_get(1).ok().flatten() })
                })
            }
            // A statement of the request failed (the transaction is aborted) or the columns are missing
            // (a database the indexer has not migrated yet): end it apart.
            Err(e) => {
                tracing::debug!(target: "medledger::graphql::sql", error = %e, "staleness not read");
                if pooled.conn().execute("ROLLBACK").await.is_ok() {
                    pooled.release();
                }
                None
            }
        };
        stale
    }
}

/// Why the index is stale (see `indexerStatus.staleReason`), and since when (RFC 3339).
#[derive(Debug, Clone)]
pub(crate) struct Stale {
    pub(crate) reason: String,
    pub(crate) since: Option<String>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("lost", &self.lost.load(Ordering::Relaxed))
            .field("ended", &self.ended.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A statement's turn on the request's connection (see [`Lease`]).
pub(crate) struct Turn<'a> {
    guard: MappedMutexGuard<'a, Pooled>,
    lost: &'a AtomicBool,
    settled: bool,
}

impl Turn<'_> {
    /// The connection.
    pub(crate) fn conn(&mut self) -> &mut sqlx::PgConnection {
        self.guard.conn()
    }

    /// Ends the turn; a connection-level failure loses the snapshot.
    pub(crate) fn settle(mut self, reusable: bool) {
        self.settled = true;
        if !reusable {
            self.lost.store(true, Ordering::Release);
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        // Cancelled half-way: the connection is in an unknown state.
        if !self.settled {
            self.lost.store(true, Ordering::Release);
        }
    }
}

/// The code of the warning a response carries while the index is stale.
pub(crate) const INDEX_STALE: &str = "INDEX_STALE";

/// Adds `extensions.warnings: [{code: "INDEX_STALE", message, since}]` to a response read from a stale
/// index: its data describe a branch the node no longer serves.
pub(crate) fn warn_stale(response: &mut async_graphql::Response, stale: Stale) {
    use async_graphql::{Name, Value};
    let mut warning = async_graphql::indexmap::IndexMap::new();
    warning.insert(Name::new("code"), Value::from(INDEX_STALE));
    warning.insert(
        Name::new("message"),
        Value::from(format!("the index is stale and may describe an abandoned branch: {}", stale.reason)),
    );
    if let Some(since) = stale.since {
        warning.insert(Name::new("since"), Value::from(since));
    }
    response.extensions.insert("warnings".to_owned(), Value::List(vec![Value::Object(warning)]));
}
