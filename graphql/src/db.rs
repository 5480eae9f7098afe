//! The database handle the resolvers share: the pool, the chain served, and a statement counter (so tests
//! can prove there are no N+1 query patterns).

use crate::error::ApiError;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A pool plus the chain id and a count of the statements sent through it.
#[derive(Debug, Clone)]
pub struct Db {
    pool: PgPool,
    chain_id: i64,
    statements: Arc<AtomicU64>,
}

impl Db {
    /// Wraps a pool for one chain.
    pub fn new(pool: PgPool, chain_id: i64) -> Self {
        Self { pool, chain_id, statements: Arc::new(AtomicU64::new(0)) }
    }

    /// The underlying pool.
    pub const fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The chain whose rows are served.
    pub const fn chain_id(&self) -> i64 {
        self.chain_id
    }

    /// How many SQL statements the API has sent so far.
    pub fn statement_count(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// Counts a statement sent without the helpers below.
    pub(crate) fn count_statement(&self) {
        self.count();
    }

    fn count(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs a built query and returns every row.
    pub(crate) async fn all<R>(&self, mut qb: QueryBuilder<'_, Postgres>) -> Result<Vec<R>, ApiError>
    where
        R: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        self.count();
        tracing::trace!(target: "medledger::graphql::sql", sql = qb.sql(), "query");
        Ok(qb.build_query_as::<R>().fetch_all(&self.pool).await?)
    }

    /// Runs a built query and returns the first row, if any.
    pub(crate) async fn optional<R>(&self, mut qb: QueryBuilder<'_, Postgres>) -> Result<Option<R>, ApiError>
    where
        R: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        self.count();
        tracing::trace!(target: "medledger::graphql::sql", sql = qb.sql(), "query");
        Ok(qb.build_query_as::<R>().fetch_optional(&self.pool).await?)
    }

    /// Runs a built query returning one scalar.
    pub(crate) async fn scalar<T>(&self, mut qb: QueryBuilder<'_, Postgres>) -> Result<T, ApiError>
    where
        T: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres> + Send + Unpin,
        (T,): for<'r> FromRow<'r, PgRow>,
    {
        self.count();
        Ok(qb.build_query_scalar::<T>().fetch_one(&self.pool).await?)
    }

    /// Runs `sql` (which uses `$1` for the chain id and no other parameter) returning one scalar.
    pub(crate) async fn scalar_for_chain<T>(&self, sql: &str) -> Result<T, ApiError>
    where
        T: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres> + Send + Unpin,
    {
        self.count();
        tracing::trace!(target: "medledger::graphql::sql", sql, "query");
        Ok(sqlx::query_scalar::<_, T>(sql).bind(self.chain_id).fetch_one(&self.pool).await?)
    }

    /// A query builder starting with `sql`.
    pub(crate) fn sql(sql: &str) -> QueryBuilder<'static, Postgres> {
        QueryBuilder::new(sql.to_owned())
    }
}
