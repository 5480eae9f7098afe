//! Forgetting a chain: for a database that outlives the chain it indexed (`medledger dev --db.url`).

use crate::error::IndexerError;
use sqlx::PgPool;

/// Removes everything indexed for `chain_id`: every row of every table of the schema with a `chain_id`
/// column, in one transaction. Returns the number of rows removed.
pub async fn forget_chain(pool: &PgPool, chain_id: i64) -> Result<u64, IndexerError> {
    let mut tx = pool.begin().await?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.columns
         WHERE column_name = 'chain_id' AND table_schema = current_schema() ORDER BY 1",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut removed = 0;
    for table in &tables {
        let sql = format!("DELETE FROM \"{}\" WHERE chain_id = $1", table.replace('"', "\"\""));
        removed += sqlx::query(&sql).bind(chain_id).execute(&mut *tx).await?.rows_affected();
    }
    tx.commit().await?;
    Ok(removed)
}
