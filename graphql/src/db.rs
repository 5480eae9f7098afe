//! The database handle the resolvers share: the connections, the chain served, and a statement counter (so
//! tests can prove there are no N+1 query patterns).
//!
//! Resolvers' statements run on [`Conns`], not on sqlx's pool: sqlx 0.8's pool pings a connection before
//! every acquire and again after every release, three round trips to PostgreSQL (and three wake-ups of its
//! backend) per statement where one does. `Conns` hands out a connection used within the last
//! [`FRESH`] without a ping (HikariCP's "alive bypass window"), and closes a connection instead of
//! reusing it when a statement on it failed at the connection level or was cancelled half-way.
//!
//! A query's statements all run in the request's [`Snapshot`] (see [`crate::snapshot`]): a handle made for a
//! request by [`Db::for_request`] routes every statement through the request's one read-only transaction.

use crate::error::ApiError;
use crate::snapshot::Snapshot;
use sqlx::postgres::{PgConnectOptions, PgRow};
use sqlx::{Connection, FromRow, PgConnection, PgPool, Postgres, QueryBuilder};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// An idle connection last used longer ago than this is pinged before it is handed out.
const FRESH: Duration = Duration::from_secs(1);
/// A connection is closed instead of reused once it is this old (sqlx's pool default), so servers behind a
/// failover or a DNS change move over and backends do not live forever.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// A pool plus the chain id and a count of the statements sent through it.
#[derive(Debug, Clone)]
pub struct Db {
    pool: PgPool,
    conns: Arc<Conns>,
    chain_id: i64,
    statements: Arc<AtomicU64>,
    /// When set, the plan of every list statement is recorded (see [`Db::record_plans`]).
    plans: Arc<OnceLock<Mutex<Vec<Plan>>>>,
    /// The request's snapshot, in a handle made by [`Db::for_request`].
    snapshot: Option<Arc<Snapshot>>,
}

/// A list statement and its plan (`EXPLAIN (FORMAT JSON)`, with the statement's own parameters).
#[derive(Debug, Clone)]
pub struct Plan {
    /// The statement.
    pub sql: String,
    /// Its plan as PostgreSQL explains it.
    pub plan: serde_json::Value,
}

impl Db {
    /// Wraps a pool for one chain. Resolvers' statements use at most the pool's `max_connections`
    /// connections of their own, opened with the pool's options (see the module docs); the pool itself
    /// serves subscriptions' notifications and health checks.
    pub fn new(pool: PgPool, chain_id: i64) -> Self {
        let connections = pool.options().get_max_connections() as usize;
        Self::with_connections(pool, chain_id, connections)
    }

    /// [`Db::new`] with at most `connections` (at least 1) connections of its own for the resolvers' statements.
    pub(crate) fn with_connections(pool: PgPool, chain_id: i64, connections: usize) -> Self {
        let conns = Conns {
            options: pool.connect_options(),
            idle: Mutex::default(),
            permits: Arc::new(Semaphore::new(connections.max(1))),
        };
        Self {
            pool,
            conns: Arc::new(conns),
            chain_id,
            statements: Arc::new(AtomicU64::new(0)),
            plans: Arc::default(),
            snapshot: None,
        }
    }

    /// A handle for one request whose statements all run in `snapshot` (the same counter, plans and
    /// connections).
    pub(crate) fn for_request(&self, snapshot: Arc<Snapshot>) -> Self {
        Self { snapshot: Some(snapshot), ..self.clone() }
    }

    /// A connection for one statement (see [`Lease`]): the request's snapshot's, if the handle has one.
    pub(crate) async fn lease(&self) -> Result<Lease<'_>, ApiError> {
        match &self.snapshot {
            Some(snapshot) => snapshot.lease(&self.conns).await,
            None => Ok(Lease::own(self.conns.lease().await?)),
        }
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

    /// From now on, explains every statement that returns rows (the lists and batched lookups) before
    /// running it and records its plan: for tests and diagnosis of which index serves a list (an `EXPLAIN`
    /// more per statement). Shared by every clone of this handle.
    pub fn record_plans(&self) {
        let _ = self.plans.set(Mutex::default());
    }

    /// The plans recorded since [`Db::record_plans`], oldest first (taken: the record starts over).
    pub fn take_plans(&self) -> Vec<Plan> {
        self.plans.get().and_then(|p| p.lock().ok().map(|mut p| std::mem::take(&mut *p))).unwrap_or_default()
    }

    /// Runs a built query and returns every row.
    pub(crate) async fn all<R>(&self, mut qb: QueryBuilder<'_, Postgres>) -> Result<Vec<R>, ApiError>
    where
        R: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        self.count();
        tracing::trace!(target: "medledger::graphql::sql", sql = qb.sql(), "query");
        let mut lease = self.lease().await?;
        if let Some(plans) = self.plans.get() {
            use sqlx::Execute as _;
            let sql = qb.sql().to_owned();
            let mut query = qb.build();
            let args =
                query.take_arguments().map_err(|e| ApiError::Corrupt(e.to_string()))?.unwrap_or_default();
            let explain = format!("EXPLAIN (FORMAT JSON) {sql}");
            let plan = sqlx::query_scalar_with::<_, serde_json::Value, _>(&explain, args.clone())
                .fetch_one(lease.conn())
                .await;
            let plan = lease.settle(plan)?;
            if let Ok(mut plans) = plans.lock() {
                plans.push(Plan { sql: sql.clone(), plan });
            }
            let mut lease = self.lease().await?;
            let rows = sqlx::query_as_with::<_, R, _>(&sql, args).fetch_all(lease.conn()).await;
            return lease.settle(rows);
        }
        let rows = qb.build_query_as::<R>().fetch_all(lease.conn()).await;
        lease.settle(rows)
    }

    /// Runs a built query and returns the first row, if any.
    pub(crate) async fn optional<R>(&self, mut qb: QueryBuilder<'_, Postgres>) -> Result<Option<R>, ApiError>
    where
        R: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        self.count();
        tracing::trace!(target: "medledger::graphql::sql", sql = qb.sql(), "query");
        let mut lease = self.lease().await?;
        let row = qb.build_query_as::<R>().fetch_optional(lease.conn()).await;
        lease.settle(row)
    }

    /// Runs a built query returning one scalar.
    pub(crate) async fn scalar<T>(&self, mut qb: QueryBuilder<'_, Postgres>) -> Result<T, ApiError>
    where
        T: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres> + Send + Unpin,
        (T,): for<'r> FromRow<'r, PgRow>,
    {
        self.count();
        let mut lease = self.lease().await?;
        let value = qb.build_query_scalar::<T>().fetch_one(lease.conn()).await;
        lease.settle(value)
    }

    /// Runs `sql` (which uses `$1` for the chain id and no other parameter) returning one scalar.
    pub(crate) async fn scalar_for_chain<T>(&self, sql: &str) -> Result<T, ApiError>
    where
        T: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres> + Send + Unpin,
    {
        self.count();
        tracing::trace!(target: "medledger::graphql::sql", sql, "query");
        let mut lease = self.lease().await?;
        let value = sqlx::query_scalar::<_, T>(sql).bind(self.chain_id).fetch_one(lease.conn()).await;
        lease.settle(value)
    }

    /// A query builder starting with `sql`.
    pub(crate) fn sql(sql: &str) -> QueryBuilder<'static, Postgres> {
        QueryBuilder::new(sql.to_owned())
    }
}

/// The resolvers' connections: at most one per permit, idle ones most recently used first.
pub(crate) struct Conns {
    options: Arc<PgConnectOptions>,
    idle: Mutex<Vec<Idle>>,
    permits: Arc<Semaphore>,
}

/// An idle connection: when it was opened and last used.
struct Idle {
    conn: PgConnection,
    opened: Instant,
    used: Instant,
}

impl std::fmt::Debug for Conns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conns").field("available", &self.permits.available_permits()).finish_non_exhaustive()
    }
}

impl Conns {
    fn pop_idle(&self) -> Option<Idle> {
        self.idle.lock().ok()?.pop()
    }

    /// A connection of its own (pinged first if idle longer than [`FRESH`]), holding one permit.
    pub(crate) async fn lease(self: &Arc<Self>) -> Result<Pooled, ApiError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::Database(sqlx::Error::PoolClosed))?;
        while let Some(Idle { mut conn, opened, used }) = self.pop_idle() {
            if used.elapsed() < FRESH || conn.ping().await.is_ok() {
                return Ok(Pooled { conn, opened, home: self.clone(), _permit: permit });
            }
            tracing::debug!(target: "medledger::graphql::sql", "dropping an idle connection that failed its ping");
        }
        let conn = PgConnection::connect_with(&self.options).await?;
        Ok(Pooled { conn, opened: Instant::now(), home: self.clone(), _permit: permit })
    }
}

/// A connection of [`Conns`] and its permit. [`Pooled::release`] returns it to the idle list; dropped, it is
/// closed (never reused in an unknown state).
pub(crate) struct Pooled {
    conn: PgConnection,
    opened: Instant,
    home: Arc<Conns>,
    _permit: OwnedSemaphorePermit,
}

impl Pooled {
    /// The connection.
    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    /// Back to the idle list, unless it reached [`MAX_LIFETIME`] (then closed).
    pub(crate) fn release(self) {
        if self.opened.elapsed() < MAX_LIFETIME {
            if let Ok(mut idle) = self.home.idle.lock() {
                idle.push(Idle { conn: self.conn, opened: self.opened, used: Instant::now() });
            }
        }
    }
}

/// Whether a connection on which a statement ended with `result` is still in a known state (a statement
/// that failed in PostgreSQL leaves it usable; a connection-level error does not).
pub(crate) fn reusable<T>(result: &Result<T, sqlx::Error>) -> bool {
    match result {
        Ok(_) => true,
        Err(e) => matches!(
            e,
            sqlx::Error::Database(_)
                | sqlx::Error::RowNotFound
                | sqlx::Error::ColumnNotFound(_)
                | sqlx::Error::ColumnIndexOutOfBounds { .. }
                | sqlx::Error::ColumnDecode { .. }
                | sqlx::Error::Decode(_)
                | sqlx::Error::TypeNotFound { .. }
        ),
    }
}

/// A connection for one statement: one of [`Conns`] of its own, or the request's snapshot's (held until
/// the statement settles, so a request's statements take turns on it). [`Lease::settle`] ends the
/// statement; dropped before (cancelled half-way) the connection is closed, never reused in an unknown
/// state.
pub(crate) struct Lease<'a>(LeaseOf<'a>);

enum LeaseOf<'a> {
    Own(Pooled),
    Shared(crate::snapshot::Turn<'a>),
}

impl<'a> Lease<'a> {
    pub(crate) const fn own(pooled: Pooled) -> Self {
        Self(LeaseOf::Own(pooled))
    }

    pub(crate) const fn shared(turn: crate::snapshot::Turn<'a>) -> Self {
        Self(LeaseOf::Shared(turn))
    }

    /// The connection.
    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        match &mut self.0 {
            LeaseOf::Own(pooled) => pooled.conn(),
            LeaseOf::Shared(turn) => turn.conn(),
        }
    }

    /// The statement's result; an own connection goes back to the idle list unless the error says it
    /// broke.
    pub(crate) fn settle<T>(self, result: Result<T, sqlx::Error>) -> Result<T, ApiError> {
        let ok = reusable(&result);
        match self.0 {
            LeaseOf::Own(pooled) if ok => pooled.release(),
            LeaseOf::Own(_) => {}
            LeaseOf::Shared(turn) => turn.settle(ok),
        }
        Ok(result?)
    }
}
