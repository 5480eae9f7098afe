//! Reading a fold's starting point from PostgreSQL: the stored rows of the entities a batch touches
//! ([`Fold::load`], from the backfill's carry when it has them) or, after a reorg, their remaining events
//! to fold again from nothing ([`Fold::refold`]).

use super::{
    carry::take_carried, Carried, Consent, Credential, Episode, Ev, EvArgs, Fold, Prescription, Record, Role,
    Stored,
};
use crate::error::IndexerError;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

/// A `events` row read back for a refold.
struct StoredEvent {
    block_number: i64,
    log_index: i32,
    block_time: DateTime<Utc>,
    tx_hash: Vec<u8>,
    address: Vec<u8>,
    contract: String,
    event_name: String,
    entity: Vec<u8>,
    episode_id: Option<i64>,
    credential_id: Option<i64>,
    rx_id: Option<Vec<u8>>,
    args: Value,
}

impl Fold {
    /// Loads the stored rows of the touched entities (a forward batch folds its events onto them): from
    /// `carried` when it has them, else from the database.
    pub(crate) async fn load(
        &mut self,
        conn: &mut PgConnection,
        chain_id: i64,
        carried: Option<&Carried>,
    ) -> Result<(), IndexerError> {
        let complete = carried.is_some_and(|c| c.complete);
        let s = &mut self.stored;
        let credential_keys = take_carried(
            &mut self.credentials,
            &mut s.credentials,
            carried.map(|c| &c.credentials),
            complete,
        );
        let consent_keys =
            take_carried(&mut self.consents, &mut s.consents, carried.map(|c| &c.consents), complete);
        let episode_keys =
            take_carried(&mut self.episodes, &mut s.episodes, carried.map(|c| &c.episodes), complete);
        let record_pairs =
            take_carried(&mut self.records, &mut s.records, carried.map(|c| &c.records), complete);
        let rx_keys = take_carried(
            &mut self.prescriptions,
            &mut s.prescriptions,
            carried.map(|c| &c.prescriptions),
            complete,
        );
        let role_keys = take_carried(&mut self.roles, &mut s.roles, carried.map(|c| &c.roles), complete);
        if !credential_keys.is_empty() {
            let rows = sqlx::query_as!(
                Credential,
                "SELECT account, credential_id, kind, status, status_reason, license_hash, jurisdiction, expires_at,
                        schedules, registered_block, registered_at, updated_block, updated_at
                 FROM credentials WHERE chain_id = $1 AND account = ANY($2::bytea[])",
                chain_id,
                &credential_keys
            )
            .fetch_all(&mut *conn)
            .await?;
            for r in rows {
                self.stored.credentials.push(r.account.clone());
                self.credentials.insert(r.account.clone(), Some(r));
            }
        }
        if !consent_keys.is_empty() {
            let (patients, grantees) = split_pairs(consent_keys.iter(), 20);
            let rows = sqlx::query_as!(
                Consent,
                "SELECT c.patient, c.grantee, c.scopes, c.expires_at, c.granted_at, c.granted_block, c.granted_relayed,
                        c.revoked, c.revoked_at, c.revoked_relayed, c.emergency_until, c.emergency_reason,
                        c.emergency_opened_at, c.emergency_ended_at, c.emergency_ended_by,
                        c.emergency_justification, c.emergency_blocked, c.emergency_flags, c.updated_block
                 FROM UNNEST($2::bytea[], $3::bytea[]) AS k(patient, grantee)
                 JOIN consents c ON c.chain_id = $1 AND c.patient = k.patient AND c.grantee = k.grantee",
                chain_id,
                &patients,
                &grantees
            )
            .fetch_all(&mut *conn)
            .await?;
            for r in rows {
                let key = [r.patient.as_slice(), r.grantee.as_slice()].concat();
                self.stored.consents.push(key.clone());
                self.consents.insert(key, Some(r));
            }
        }
        if !episode_keys.is_empty() {
            let rows = sqlx::query_as!(
                Episode,
                "SELECT episode_id, patient, opened_by, opened_at, opened_block, record_count, head, closed, closed_by,
                        closed_at, closed_block, updated_block
                 FROM episodes WHERE chain_id = $1 AND episode_id = ANY($2::int8[])",
                chain_id,
                &episode_keys
            )
            .fetch_all(&mut *conn)
            .await?;
            for r in rows {
                self.stored.episodes.push(r.episode_id);
                self.episodes.insert(r.episode_id, Some(r));
            }
        }
        if !record_pairs.is_empty() {
            let (eps, ixs) = record_keys(record_pairs.iter());
            let rows = sqlx::query_as!(
                Record,
                "SELECT r.episode_id, r.record_index, r.patient, r.author, r.content_hash, r.pointer_hash, r.head,
                        r.hidden, r.anchored_block, r.anchored_at, r.tx_hash, r.visibility_changed_at
                 FROM UNNEST($2::int8[], $3::int8[]) AS k(ep, ix)
                 JOIN records r ON r.chain_id = $1 AND r.episode_id = k.ep AND r.record_index = k.ix",
                chain_id,
                &eps,
                &ixs
            )
            .fetch_all(&mut *conn)
            .await?;
            for r in rows {
                let key = record_key(r.episode_id, r.record_index);
                self.stored.records.push(key.clone());
                self.records.insert(key, Some(r));
            }
        }
        if !rx_keys.is_empty() {
            let rows = sqlx::query_as!(
                Prescription,
                r#"SELECT rx_id, patient, prescriber, content_hash, issued_pharmacy, pharmacy, fills, quantity_per_fill,
                          earliest_fill_at, valid_until, min_fill_interval_secs, schedule, nonce::text AS "nonce!",
                          relayer, relayed, issued_block, issued_at, issued_tx, fills_used,
                          quantity_dispensed::text AS "quantity_dispensed!", dispense_count, last_dispensed_at,
                          last_dispense_pharmacy, cancelled, cancel_reason, cancelled_at, updated_block,
                          days_supply, date_written, long_term_care, deadline, transferred, cancelled_by,
                          short_supply_until
                   FROM prescriptions WHERE chain_id = $1 AND rx_id = ANY($2::bytea[])"#,
                chain_id,
                &rx_keys
            )
            .fetch_all(&mut *conn)
            .await?;
            for r in rows {
                self.stored.prescriptions.push(r.rx_id.clone());
                self.prescriptions.insert(r.rx_id.clone(), Some(r));
            }
        }
        if !role_keys.is_empty() {
            let (roles, accounts) = split_pairs(role_keys.iter(), 32);
            let rows = sqlx::query_as!(
                Role,
                "SELECT m.contract, m.role, m.account, m.active, m.changed_by, m.updated_block, m.updated_at
                 FROM UNNEST($2::bytea[], $3::bytea[]) AS k(role, account)
                 JOIN role_members m ON m.chain_id = $1 AND m.role = k.role AND m.account = k.account",
                chain_id,
                &roles,
                &accounts
            )
            .fetch_all(&mut *conn)
            .await?;
            for r in rows {
                let key = [r.role.as_slice(), r.account.as_slice()].concat();
                self.stored.roles.push(key.clone());
                self.roles.insert(key, Some(r));
            }
        }
        Ok(())
    }

    /// Refolds the touched entities from nothing over their events in `events` (after a reorg removed
    /// some): their stored rows go, and the fold of what remains replaces them.
    pub(crate) async fn refold(
        &mut self,
        conn: &mut PgConnection,
        chain_id: i64,
    ) -> Result<(), IndexerError> {
        if self.is_empty() {
            return Ok(());
        }
        // Every touched row is deleted before the refold's rows are written.
        self.stored = Stored {
            credentials: self.credentials.keys().cloned().collect(),
            consents: self.consents.keys().cloned().collect(),
            episodes: self.episodes.keys().copied().collect(),
            records: self.records.keys().cloned().collect(),
            prescriptions: self.prescriptions.keys().cloned().collect(),
            roles: self.roles.keys().cloned().collect(),
        };
        let entities: Vec<Vec<u8>> = (self.credentials.keys())
            .chain(self.consents.keys())
            .chain(self.records.keys())
            .chain(self.prescriptions.keys())
            .chain(self.roles.keys())
            .cloned()
            .collect();
        let episodes: Vec<i64> = self.episodes.keys().copied().collect();
        let rows = sqlx::query_as!(
            StoredEvent,
            r#"SELECT block_number, log_index, block_time, tx_hash, address, contract, event_name, entity, episode_id,
                      credential_id, rx_id, args AS "args!: Value"
               FROM events
               WHERE chain_id = $1 AND entity <> '' AND (entity = ANY($2::bytea[]) OR episode_id = ANY($3::int8[]))
               ORDER BY block_number, log_index"#,
            chain_id,
            &entities,
            &episodes
        )
        .fetch_all(&mut *conn)
        .await?;
        for r in &rows {
            self.apply(&Ev {
                block_number: r.block_number,
                log_index: r.log_index,
                block_time: r.block_time,
                tx_hash: &r.tx_hash,
                address: &r.address,
                contract: &r.contract,
                event_name: &r.event_name,
                entity: &r.entity,
                episode_id: r.episode_id,
                credential_id: r.credential_id,
                rx_id: r.rx_id.as_deref(),
                args: EvArgs::Stored(&r.args),
            })?;
        }
        Ok(())
    }
}

/// Keys made of two fixed-width parts (patient ‖ grantee, role ‖ account), split into two arrays.
pub(super) fn split_pairs<'a>(
    keys: impl Iterator<Item = &'a Vec<u8>>,
    first: usize,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    keys.map(|k| {
        let (a, b) = k.split_at(first.min(k.len()));
        (a.to_vec(), b.to_vec())
    })
    .unzip()
}

/// The entity key of a record: episode id ‖ index, big-endian.
fn record_key(episode_id: i64, index: i64) -> Vec<u8> {
    [episode_id.to_be_bytes(), index.to_be_bytes()].concat()
}

pub(super) fn record_keys<'a>(keys: impl Iterator<Item = &'a Vec<u8>>) -> (Vec<i64>, Vec<i64>) {
    keys.map(|k| {
        let word = |r: std::ops::Range<usize>| {
            k.get(r).and_then(|b| <[u8; 8]>::try_from(b).ok()).map_or(0, i64::from_be_bytes)
        };
        (word(0..8), word(8..16))
    })
    .unzip()
}
