//! The vault's schema (`vault/migrations`, numbered from 1001 beside the indexer's 0001…).

use crate::error::VaultError;
use sqlx::PgPool;

/// Applies the vault's migrations. They share sqlx's `_sqlx_migrations` table with the indexer's: each
/// migrator ignores versions it does not know (the indexer's `migrate` does the same), so the two sets
/// apply in either order and any number of times. They run on one connection that does not pass on
/// PostgreSQL's notices (`relation "_sqlx_migrations" already exists, skipping`, which sqlx logs at INFO).
pub async fn migrate(pool: &PgPool) -> Result<(), VaultError> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    let mut conn = pool.acquire().await.map_err(VaultError::db)?;
    sqlx::query("SET client_min_messages = warning").execute(&mut *conn).await.map_err(VaultError::db)?;
    let result = migrator.run(&mut *conn).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::Execute(e) => VaultError::db(e),
        e => VaultError::Config(format!("vault migrations: {e}")),
    });
    // The connection goes back to the pool as it came.
    let reset = sqlx::query("RESET client_min_messages").execute(&mut *conn).await.map_err(VaultError::db);
    result?;
    reset.map(|_| ())
}
