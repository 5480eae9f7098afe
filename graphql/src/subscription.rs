//! Subscriptions: new events matching a filter, pushed as the indexer commits them.
//!
//! Each subscription polls the events table by its (block, log index) cursor. It polls at once when the
//! indexer sends `NOTIFY medledger_events` (any payload) after a commit, and every `poll_interval` anyway,
//! so it also works with an indexer that does not notify.

use crate::db::Db;
use crate::error::{GqlResult, ResultExt};
use crate::model::{EventFilter, EventRow, EVENT_COLUMNS};
use crate::schema::{state, State};
use async_graphql::{Context, Subscription};
use futures::stream::{self, Stream};
use sqlx::postgres::PgListener;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::watch;

/// The largest batch a subscription reads at once.
const BATCH: i64 = 200;

/// The root of every subscription.
pub struct SubscriptionRoot;

/// Live updates over WebSocket (graphql-transport-ws).
#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Events matching `filter` committed after the subscription starts, in (block, log index) order; e.g.
    /// a pharmacy watching prescriptions designated to it subscribes with
    /// `{accounts: [<pharmacy>], contracts: [PRESCRIPTIONS]}`. Pushed within one poll interval of the commit
    /// (at once when the indexer notifies).
    async fn events(
        &self,
        ctx: &Context<'_>,
        filter: Option<EventFilter>,
    ) -> Result<impl Stream<Item = GqlResult<EventRow>>, async_graphql::Error> {
        let filter = filter.unwrap_or_default();
        filter.validate().gql()?;
        let st = state(ctx);
        let db = st.db.clone();
        let mut qb = Db::sql("SELECT block_number, log_index FROM events WHERE chain_id = ");
        qb.push_bind(db.chain_id()).push(" ORDER BY block_number DESC, log_index DESC LIMIT 1");
        let start: Option<(i64, i32)> = db.optional(qb).await.gql()?;
        let mut tail = Tail {
            db,
            filter,
            cursor: start.unwrap_or((-1, -1)),
            buffer: VecDeque::new(),
            commits: commits(st),
            poll: st.config.poll_interval,
            reorgs: None,
        };
        tail.rewind_after_reorg().await?;
        tracing::debug!(target: "medledger::graphql::subscription", cursor_block = tail.cursor.0, "event subscription started");
        Ok(stream::unfold(tail, |mut tail| async move {
            let item = tail.next().await;
            Some((item, tail))
        }))
    }
}

/// One subscription's position in the events table.
struct Tail {
    db: Db,
    filter: EventFilter,
    cursor: (i64, i32),
    buffer: VecDeque<EventRow>,
    commits: watch::Receiver<u64>,
    poll: Duration,
    /// The checkpoint's reorg count last seen.
    reorgs: Option<i64>,
}

impl Tail {
    /// After a reorg that reverted blocks at or before the cursor, moves the cursor back to the common
    /// ancestor: the new canonical events after it are pushed (events already pushed from the reverted
    /// blocks are not retracted; clients key events by (block hash, log index)).
    async fn rewind_after_reorg(&mut self) -> GqlResult<()> {
        let mut qb = Db::sql("SELECT reorg_count, last_reorg_block FROM checkpoints WHERE chain_id = ");
        qb.push_bind(self.db.chain_id());
        let row: Option<(i64, Option<i64>)> = self.db.optional(qb).await.gql()?;
        let Some((count, ancestor)) = row else { return Ok(()) };
        match self.reorgs {
            None => self.reorgs = Some(count),
            Some(seen) if seen != count => {
                self.reorgs = Some(count);
                if let Some(ancestor) = ancestor.filter(|a| *a < self.cursor.0) {
                    tracing::info!(target: "medledger::graphql::subscription", ancestor, cursor_block = self.cursor.0, "reorg: rewinding the subscription");
                    self.cursor = (ancestor, i32::MAX);
                }
            }
            Some(_) => {}
        }
        Ok(())
    }

    async fn next(&mut self) -> GqlResult<EventRow> {
        loop {
            if let Some(e) = self.buffer.pop_front() {
                return Ok(e);
            }
            if let Err(e) = self.rewind_after_reorg().await {
                tokio::time::sleep(self.poll).await;
                return Err(e);
            }
            let mut qb = Db::sql(EVENT_COLUMNS);
            qb.push("chain_id = ").push_bind(self.db.chain_id());
            self.filter.push(&mut qb);
            qb.push(" AND (block_number, log_index) > (")
                .push_bind(self.cursor.0)
                .push(", ")
                .push_bind(self.cursor.1)
                .push(") ORDER BY block_number, log_index LIMIT ")
                .push_bind(BATCH);
            let rows: Vec<EventRow> = match self.db.all(qb).await.gql() {
                Ok(rows) => rows,
                Err(e) => {
                    tokio::time::sleep(self.poll).await;
                    return Err(e);
                }
            };
            if let Some(last) = rows.last() {
                self.cursor = (last.block_number, last.log_index);
                self.buffer.extend(rows);
                continue;
            }
            tokio::select! {
                _ = self.commits.changed() => {}
                () = tokio::time::sleep(self.poll) => {}
            }
        }
    }
}

/// The commit counter, starting the shared LISTEN task on first use.
fn commits(st: &State) -> watch::Receiver<u64> {
    st.commits
        .get_or_init(|| {
            let (tx, rx) = watch::channel(0);
            tokio::spawn(listen(st.db.pool().clone(), st.config.notify_channel.clone(), tx));
            rx
        })
        .clone()
}

/// Listens on the indexer's channel and bumps the counter on every notification; reconnects on failure.
async fn listen(pool: sqlx::PgPool, channel: String, tx: watch::Sender<u64>) {
    loop {
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(&channel).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listener.await {
            Ok(mut listener) => loop {
                match listener.recv().await {
                    Ok(_) => tx.send_modify(|n| *n = n.wrapping_add(1)),
                    Err(e) => {
                        tracing::warn!(target: "medledger::graphql::subscription", error = %e, "LISTEN connection lost");
                        break;
                    }
                }
            },
            Err(e) => {
                tracing::warn!(target: "medledger::graphql::subscription", error = %e, channel = %channel, "cannot LISTEN");
            }
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
