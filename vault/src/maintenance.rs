//! Operator tasks: key rotation and access-log verification (`medledger vault rotate-key`,
//! `medledger vault verify-log` call these).

use crate::{
    crypto::{Binding, Keyring, WrappedKey},
    error::{IntegrityError, VaultError},
    log,
    store::{ObjectKey, Store},
};
use alloy::primitives::B256;
use chrono::Utc;
use sqlx::PgPool;

/// Rows re-wrapped per batch.
const BATCH: i64 = 500;

/// What [`rotate_keys`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Documents whose data key is now wrapped by the current KEK.
    pub rewrapped: u64,
    /// Documents whose wrapped key did not open (id in hex, why): left as they are, to investigate.
    pub failed: Vec<(String, IntegrityError)>,
}

/// Re-wraps every data key not wrapped by the keyring's current KEK (the contents are not touched). Each
/// row is updated only if it still holds the wrapped key that was read (safe beside a running vault and a
/// second rotation). Run it with the old KEKs still in the key file; remove them once `failed` is empty and
/// a second run re-wraps nothing.
pub async fn rotate_keys(pool: &PgPool, keys: &Keyring) -> Result<Rotation, VaultError> {
    let mut out = Rotation::default();
    let mut after: Vec<u8> = Vec::new();
    loop {
        let rows = sqlx::query!(
            "SELECT id, patient, version, wrapped_key, kek_id FROM vault_documents
             WHERE kek_id <> $1 AND id > $2 ORDER BY id LIMIT $3",
            keys.current_id(),
            after,
            BATCH
        )
        .fetch_all(pool)
        .await
        .map_err(VaultError::db)?;
        let Some(last) = rows.last() else { break };
        after = last.id.clone();
        for r in rows {
            let (id, patient, version, wrapped_key, kek_id) =
                (r.id, r.patient, r.version, r.wrapped_key, r.kek_id);
            let (Ok(document), Ok(patient), Ok(version)) = (
                <[u8; 16]>::try_from(id.as_slice()),
                <[u8; 20]>::try_from(patient.as_slice()),
                u32::try_from(version),
            ) else {
                out.failed.push((hex::encode(&id), IntegrityError::WrappedKey));
                continue;
            };
            let binding = Binding { patient, document, version };
            let old = WrappedKey { kek_id, bytes: wrapped_key };
            let new = match keys.rewrap(&old, &binding) {
                Ok(new) => new,
                Err(e) => {
                    out.failed.push((hex::encode(id), e));
                    continue;
                }
            };
            let updated = sqlx::query!(
                "UPDATE vault_documents SET wrapped_key = $2, kek_id = $3
                 WHERE id = $1 AND wrapped_key = $4 AND kek_id = $5",
                id,
                new.bytes,
                new.kek_id,
                old.bytes,
                old.kek_id
            )
            .execute(pool)
            .await
            .map_err(VaultError::db)?;
            out.rewrapped += updated.rows_affected();
        }
    }
    tracing::info!(target: "medledger::vault", rewrapped = out.rewrapped, failed = out.failed.len(), kek = keys.current_id(), "key rotation");
    Ok(out)
}

/// What [`sweep`] found and removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Staging objects of uploads that never finished, removed.
    pub staging_removed: u64,
    /// Published objects no row refers to (an upload killed between publishing and its row), removed.
    pub orphans_removed: u64,
    /// Documents whose object is missing from the store (hex ids): an inconsistency to investigate.
    pub missing: Vec<String>,
    /// Expired sign-in nonces and sessions deleted (older than a day past their expiry).
    pub expired_auth_rows: u64,
}

/// Brings store and metadata back in step after a crash: removes what uploads older than `older_than`
/// left behind (staging objects; published objects without a row, unreadable since their data key was
/// never stored), lists rows whose object is missing, and deletes sign-in nonces and sessions expired for
/// over a day. Uploads in progress are younger than
/// `older_than` (use at least the longest upload time, e.g. one hour) and are left alone.
pub async fn sweep(
    pool: &PgPool,
    store: &Store,
    older_than: std::time::Duration,
) -> Result<Sweep, VaultError> {
    let before = Utc::now() - chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::MAX);
    let mut out = Sweep { staging_removed: store.sweep_staging(before).await?, ..Sweep::default() };
    for key in store.objects_before(before).await? {
        let referenced = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM vault_documents WHERE object_key = $1) AS "referenced!""#,
            key.0.as_slice()
        )
        .fetch_one(pool)
        .await
        .map_err(VaultError::db)?;
        if !referenced {
            store.delete(key).await?;
            out.orphans_removed += 1;
        }
    }
    let rows = sqlx::query!("SELECT id, object_key FROM vault_documents ORDER BY id")
        .fetch_all(pool)
        .await
        .map_err(VaultError::db)?;
    for (id, key) in rows.into_iter().map(|r| (r.id, r.object_key)) {
        let Ok(key) = B256::try_from(key.as_slice()) else { continue };
        if !store.exists(ObjectKey(key)).await? {
            out.missing.push(hex::encode(id));
        }
    }
    let nonces = sqlx::query!("DELETE FROM vault_nonces WHERE expires_at < now() - interval '1 day'")
        .execute(pool)
        .await
        .map_err(VaultError::db)?;
    let sessions = sqlx::query!("DELETE FROM vault_sessions WHERE expires_at < now() - interval '1 day'")
        .execute(pool)
        .await
        .map_err(VaultError::db)?;
    out.expired_auth_rows = nonces.rows_affected() + sessions.rows_affected();
    tracing::info!(target: "medledger::vault", staging = out.staging_removed, orphans = out.orphans_removed, missing = out.missing.len(), "sweep");
    Ok(out)
}

/// Verifies the access log's hash chain; the error names the first entry that does not fit.
pub async fn verify_log(pool: &PgPool) -> Result<log::Verified, VaultError> {
    log::verify(pool).await
}
