//! Assembling the schema: shared state, limits and the error-code extension.

use crate::cache::IndexCache;
use crate::config::ApiConfig;
use crate::db::Db;
use crate::extension::{Guard, ParseCache};
use crate::loaders::Loaders;
use crate::snapshot::Snapshot;
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, EmptyMutation, Schema};
use sqlx::PgPool;
use std::sync::{Arc, OnceLock};
use tokio::sync::watch;

pub use crate::query::QueryRoot;
pub use crate::subscription::SubscriptionRoot;

/// The medledger GraphQL schema.
pub type ApiSchema = Schema<QueryRoot, EmptyMutation, SubscriptionRoot>;

/// What every resolver can reach. The schema holds one; each query runs with its own (see
/// [`State::for_request`]), whose statements all read the request's snapshot.
pub(crate) struct State {
    pub(crate) db: Db,
    pub(crate) config: Arc<ApiConfig>,
    /// The batch loader: the request's own in a query (its batches read the request's snapshot).
    pub(crate) loader: DataLoader<Loaders>,
    /// The `asOf` time and credentials of the index's latest version (see [`crate::cache`]), shared by the
    /// schemas of [`build_schemas`].
    pub(crate) cache: Arc<IndexCache>,
    /// Bumped whenever the indexer notifies a commit (see [`crate::subscription`]).
    pub(crate) commits: Arc<OnceLock<watch::Receiver<u64>>>,
}

impl State {
    /// The state of one query: the same shared parts, a handle whose statements all run in the returned
    /// snapshot, and a batch loader of its own over that handle (a batch never mixes requests, which read
    /// different snapshots).
    pub(crate) fn for_request(&self) -> (Self, Arc<Snapshot>) {
        let snapshot = Arc::new(Snapshot::default());
        let db = self.db.for_request(snapshot.clone());
        let state = Self {
            loader: loader(&db, &self.config),
            db,
            config: self.config.clone(),
            cache: self.cache.clone(),
            commits: self.commits.clone(),
        };
        (state, snapshot)
    }
}

fn loader(db: &Db, config: &ApiConfig) -> DataLoader<Loaders> {
    DataLoader::new(Loaders { db: db.clone() }, tokio::spawn).delay(config.batch_delay)
}

/// The state a resolver runs with: its request's in a query, the schema's in a subscription.
pub(crate) fn state<'a>(ctx: &Context<'a>) -> &'a State {
    ctx.data_unchecked::<State>()
}

/// Builds the schema over `pool` (must be called inside a Tokio runtime: the batch loader spawns tasks).
pub fn build_schema(pool: PgPool, config: ApiConfig) -> (ApiSchema, Db) {
    let db = Db::new(pool, config.chain_id);
    (schema_over(db.clone(), config, &Shared::default()), db)
}

/// Builds `n` schemas over `pool`, one per single-threaded runtime serving the API: each has its own
/// share of the pool's `max_connections` for the resolvers' statements (a connection answers the runtime
/// that opened it, without a hop between threads) and its own batch loader; they share the cache of `asOf`
/// and credentials, the cache of parsed documents and the subscriptions' commit listener. At most one
/// schema per connection: fewer than `n` when the pool is smaller (at least one).
pub fn build_schemas(pool: &PgPool, config: &ApiConfig, n: usize) -> Vec<(ApiSchema, Db)> {
    let connections = (pool.options().get_max_connections() as usize).max(1);
    let n = n.clamp(1, connections);
    let shared = Shared::default();
    (0..n)
        .map(|i| {
            // The connections split as evenly as they go: the first `connections % n` get one more.
            let share = connections / n + usize::from(i < connections % n);
            let db = Db::with_connections(pool.clone(), config.chain_id, share);
            (schema_over(db.clone(), config.clone(), &shared), db)
        })
        .collect()
}

/// What the schemas of [`build_schemas`] share.
#[derive(Default)]
struct Shared {
    cache: Arc<IndexCache>,
    parsed: Arc<ParseCache>,
    commits: Arc<OnceLock<watch::Receiver<u64>>>,
}

fn schema_over(db: Db, config: ApiConfig, shared: &Shared) -> ApiSchema {
    let loader = loader(&db, &config);
    let config = Arc::new(config);
    let (depth, complexity, timeout) = (config.max_depth, config.max_complexity, config.query_timeout);
    crate::page::note_max_page_size(config.max_page_size);
    let state = State { db, loader, cache: shared.cache.clone(), config, commits: shared.commits.clone() };
    builder()
        .data(state)
        .limit_depth(depth)
        .limit_complexity(complexity)
        .extension(Guard { timeout, parsed: shared.parsed.clone() })
        .finish()
}

fn builder() -> async_graphql::SchemaBuilder<QueryRoot, EmptyMutation, SubscriptionRoot> {
    Schema::build(QueryRoot, EmptyMutation, SubscriptionRoot)
}

/// The schema in SDL, as committed in `graphql/schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}
