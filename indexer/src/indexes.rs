//! Deferred secondary indexes: a backfill into a fresh database sets the secondary indexes of the tables it
//! fills aside and builds them once it has caught up, instead of maintaining them row by row.
//!
//! Building an index over finished rows is a sort and one pass; maintaining it costs a descent per row (and
//! for the GIN index on `events.accounts`, one per address). Only non-unique indexes that back no
//! constraint are deferred: primary keys and unique indexes stay, so every write keeps its checks and the
//! indexer's own lookups (by primary key) stay fast. Queries other indexes would serve still answer, only
//! more slowly, while the first backfill runs.
//!
//! Crash safety: the definitions (from `pg_get_indexdef`) are stored in `deferred_indexes` in the same
//! transaction that drops the indexes, and each rebuild deletes its row in the transaction that creates the
//! index — so at any instant every index exists or is recorded there, and an interrupted backfill resumes
//! with its indexes still deferred.

use crate::error::IndexerError;
use sqlx::{Connection, PgConnection};
use std::{collections::VecDeque, sync::Mutex, time::Instant};
use tracing::{debug, info};

/// The tables a backfill fills in bulk: events, history rows and projections.
const BULK_TABLES: &[&str] = &[
    "events",
    "credential_history",
    "consent_history",
    "dispenses",
    "credentials",
    "consents",
    "episodes",
    "records",
    "prescriptions",
];

/// Whether any index is deferred (by any chain's backfill).
pub(crate) async fn pending(conn: &mut PgConnection) -> Result<bool, IndexerError> {
    let any = sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM deferred_indexes) AS "any!""#)
        .fetch_one(conn)
        .await?;
    Ok(any)
}

/// Defers the secondary indexes if the database holds no events yet (of any chain). Returns whether
/// indexes are deferred now — by this call or an earlier one, e.g. of a backfill a crash interrupted.
pub(crate) async fn defer(conn: &mut PgConnection, chain_id: i64) -> Result<bool, IndexerError> {
    let mut tx = conn.begin().await?;
    // Self-exclusive and exclusive of the rebuilds' row deletes: one deferral at a time, never during
    // a rebuild.
    sqlx::query!("LOCK TABLE deferred_indexes IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
    if pending(&mut tx).await? {
        return Ok(true);
    }
    let fresh = sqlx::query_scalar!(r#"SELECT NOT EXISTS (SELECT 1 FROM events) AS "fresh!""#)
        .fetch_one(&mut *tx)
        .await?;
    if !fresh {
        return Ok(false);
    }
    let tables: Vec<String> = BULK_TABLES.iter().map(|t| (*t).to_owned()).collect();
    let names = sqlx::query_scalar!(
        r#"INSERT INTO deferred_indexes (name, table_name, definition, chain_id)
           SELECT i.indexrelid::regclass::text, t.relname, pg_get_indexdef(i.indexrelid), $2
           FROM pg_index i
           JOIN pg_class t ON t.oid = i.indrelid
           WHERE t.relnamespace = current_schema()::regnamespace
             AND t.relname = ANY($1)
             AND NOT i.indisunique
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
           RETURNING name"#,
        &tables,
        chain_id
    )
    .fetch_all(&mut *tx)
    .await?;
    for name in &names {
        // `name` is the catalog's own quoted regclass text.
        sqlx::query(&format!("DROP INDEX {name}")).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    info!(target: "medledger::indexer::backfill", chain_id, indexes = names.len(), "fresh database: secondary indexes deferred until caught up");
    Ok(true)
}

/// Builds every deferred index on the two connections (each index in its own transaction, with the
/// deletion of its row), biggest first from one queue, so that both stay busy. A no-op when none is
/// deferred.
pub(crate) async fn build(a: &mut PgConnection, b: &mut PgConnection) -> Result<(), IndexerError> {
    // Biggest first: a GIN index costs a few times a B-tree on the same rows.
    let names = sqlx::query_scalar!(
        r#"SELECT d.name AS "name!"
           FROM deferred_indexes d
           LEFT JOIN pg_class t ON t.relname = d.table_name AND t.relnamespace = current_schema()::regnamespace
           ORDER BY coalesce(pg_relation_size(t.oid), 0) * CASE WHEN d.definition LIKE '% USING gin %' THEN 3 ELSE 1 END DESC,
                    d.name"#
    )
    .fetch_all(&mut *a)
    .await?;
    if names.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let queue = Mutex::new(names.iter().collect::<VecDeque<_>>());
    tokio::try_join!(build_from(a, &queue), build_from(b, &queue))?;
    info!(
        target: "medledger::indexer::backfill",
        indexes = names.len(),
        secs = (started.elapsed().as_secs_f64() * 1e3).round() / 1e3,
        "deferred indexes built"
    );
    Ok(())
}

/// Builds deferred indexes taken from `queue` on one connection, one transaction each, until it is empty.
async fn build_from(conn: &mut PgConnection, queue: &Mutex<VecDeque<&String>>) -> Result<(), IndexerError> {
    loop {
        let Some(name) =
            queue.lock().map_err(|_| IndexerError::Corrupt("index queue poisoned".into()))?.pop_front()
        else {
            return Ok(());
        };
        let started = Instant::now();
        let mut tx = conn.begin().await?;
        // Another chain's writer may have built it meanwhile: then there is no row left to take.
        let Some(definition) =
            sqlx::query_scalar!("DELETE FROM deferred_indexes WHERE name = $1 RETURNING definition", name)
                .fetch_optional(&mut *tx)
                .await?
        else {
            continue;
        };
        let create = definition.strip_prefix("CREATE INDEX ").ok_or_else(|| {
            IndexerError::Corrupt(format!("deferred index {name} has an unexpected definition: {definition}"))
        })?;
        sqlx::query("SET LOCAL maintenance_work_mem = '256MB'").execute(&mut *tx).await?;
        // The two connections already build side by side; parallel workers on top only contend for cores.
        sqlx::query("SET LOCAL max_parallel_maintenance_workers = 0").execute(&mut *tx).await?;
        sqlx::query(&format!("CREATE INDEX IF NOT EXISTS {create}")).execute(&mut *tx).await?;
        tx.commit().await?;
        debug!(target: "medledger::indexer::backfill", index = %name, secs = started.elapsed().as_secs_f64(), "index built");
    }
}
