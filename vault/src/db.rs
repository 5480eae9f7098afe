//! The vault's schema (`vault/migrations`, numbered from 1001 beside the indexer's 0001…).

use crate::error::VaultError;
use sqlx::PgPool;

/// Applies the vault's migrations. They share sqlx's `_sqlx_migrations` table with the indexer's: each
/// migrator ignores versions it does not know (the indexer's `migrate` does the same), so the two sets
/// apply in either order and any number of times.
pub async fn migrate(pool: &PgPool) -> Result<(), VaultError> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator.run(pool).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::Execute(e) => VaultError::db(e),
        e => VaultError::Config(format!("vault migrations: {e}")),
    })
}
