//! Operator tasks: key rotation and access-log verification (`medledger vault rotate-key`,
//! `medledger vault verify-log` call these).

use crate::{
    crypto::{Binding, Keyring, WrappedKey},
    error::{IntegrityError, VaultError},
    log,
};
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
        // id, patient, version, wrapped key, KEK id.
        type KeyRow = (Vec<u8>, Vec<u8>, i32, Vec<u8>, String);
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT id, patient, version, wrapped_key, kek_id FROM vault_documents
             WHERE kek_id <> $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(keys.current_id())
        .bind(&after)
        .bind(BATCH)
        .fetch_all(pool)
        .await
        .map_err(VaultError::db)?;
        let Some(last) = rows.last() else { break };
        after = last.0.clone();
        for (id, patient, version, wrapped_key, kek_id) in rows {
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
            let updated = sqlx::query(
                "UPDATE vault_documents SET wrapped_key = $2, kek_id = $3
                 WHERE id = $1 AND wrapped_key = $4 AND kek_id = $5",
            )
            .bind(&id)
            .bind(&new.bytes)
            .bind(&new.kek_id)
            .bind(&old.bytes)
            .bind(&old.kek_id)
            .execute(pool)
            .await
            .map_err(VaultError::db)?;
            out.rewrapped += updated.rows_affected();
        }
    }
    tracing::info!(target: "medledger::vault", rewrapped = out.rewrapped, failed = out.failed.len(), kek = keys.current_id(), "key rotation");
    Ok(out)
}

/// Verifies the access log's hash chain; the error names the first entry that does not fit.
pub async fn verify_log(pool: &PgPool) -> Result<log::Verified, VaultError> {
    log::verify(pool).await
}
