//! Writing a fold to PostgreSQL: the touched entities' stored rows are deleted and the folded rows copied in
//! ([`Fold::write`]), and a batch's history rows copied in ([`History::write`]), each table in one statement.

use super::{
    load::{record_keys, split_pairs},
    Consent, Credential, Dispenses, Episode, Fold, History, Prescription, Record, Role,
};
use crate::{copy::CopyBuf, error::IndexerError, metrics::write_stage as stage};
use sqlx::PgConnection;

impl History {
    /// Writes the history rows, one COPY per table.
    pub(crate) async fn write(&self, conn: &mut PgConnection, chain_id: i64) -> Result<(), IndexerError> {
        let mut clock = std::time::Instant::now();
        let mut b = CopyBuf::new(self.credential.len() * 200);
        for c in &self.credential {
            b.row(13);
            b.int8(chain_id);
            b.int8(c.block_number);
            b.int4(c.log_index);
            b.bytes(&c.account);
            b.int8(c.credential_id);
            b.text(c.change);
            b.opt(c.status, CopyBuf::text);
            b.opt(c.expires_at, CopyBuf::time);
            b.opt(c.license_hash.as_deref(), CopyBuf::bytes);
            b.opt(c.schedules, CopyBuf::int2);
            b.opt(c.reason_code, CopyBuf::int4);
            b.time(c.block_time);
            b.bytes(&c.tx_hash);
        }
        b.send(
            conn,
            "credential_history (chain_id, block_number, log_index, account, credential_id, change, status,
                                 expires_at, license_hash, schedules, reason_code, block_time, tx_hash)",
        )
        .await?;
        stage("credential_history", &mut clock);
        let mut b = CopyBuf::new(self.consent.len() * 200);
        for c in &self.consent {
            b.row(17);
            b.int8(chain_id);
            b.int8(c.block_number);
            b.int4(c.log_index);
            b.bytes(&c.patient);
            b.bytes(&c.grantee);
            b.text(c.action);
            b.opt(c.scopes, CopyBuf::int2);
            b.opt(c.expires_at, CopyBuf::time);
            b.opt(c.relayed, CopyBuf::bool);
            b.opt(c.reason_code, CopyBuf::int4);
            b.opt(c.ended_by.as_deref(), CopyBuf::bytes);
            b.opt(c.justification_hash.as_deref(), CopyBuf::bytes);
            b.opt(c.reviewer.as_deref(), CopyBuf::bytes);
            b.opt(c.flagged_opened_at, CopyBuf::time);
            b.opt(c.finding_code, CopyBuf::int4);
            b.time(c.block_time);
            b.bytes(&c.tx_hash);
        }
        b.send(
            conn,
            "consent_history (chain_id, block_number, log_index, patient, grantee, action, scopes, expires_at,
                              relayed, reason_code, ended_by, justification_hash, reviewer, flagged_opened_at,
                              finding_code, block_time, tx_hash)",
        )
        .await?;
        stage("consent_history", &mut clock);
        Ok(())
    }
}

impl Dispenses {
    /// Writes the rows in one COPY.
    pub(crate) async fn write(&self, conn: &mut PgConnection, chain_id: i64) -> Result<(), IndexerError> {
        let mut clock = std::time::Instant::now();
        let mut b = CopyBuf::new(self.0.len() * 240);
        for d in &self.0 {
            b.row(13);
            b.int8(chain_id);
            b.int8(d.block_number);
            b.int4(d.log_index);
            b.bytes(&d.rx_id);
            b.bytes(&d.pharmacy);
            b.int2(d.fill_number);
            b.int8(d.quantity);
            b.int8(d.fill_dispensed);
            b.numeric(&d.total_dispensed);
            b.bytes(&d.dispense_hash);
            b.time(d.block_time);
            b.bytes(&d.tx_hash);
            b.bytes(&d.patient);
        }
        b.send(
            conn,
            "dispenses (chain_id, block_number, log_index, rx_id, pharmacy, fill_number, quantity, fill_dispensed,
                        total_dispensed, dispense_hash, block_time, tx_hash, patient)",
        )
        .await?;
        stage("dispenses", &mut clock);
        Ok(())
    }
}

impl Fold {
    /// Writes the fold: the stored rows of the touched entities go, the folded rows come, each table in one
    /// statement.
    pub(crate) async fn write(&self, conn: &mut PgConnection, chain_id: i64) -> Result<(), IndexerError> {
        let mut clock = std::time::Instant::now();
        let s = &self.stored;
        if !s.credentials.is_empty() {
            sqlx::query!(
                "DELETE FROM credentials WHERE chain_id = $1 AND account = ANY($2::bytea[])",
                chain_id,
                &s.credentials
            )
            .execute(&mut *conn)
            .await?;
        }
        if !s.consents.is_empty() {
            let (patients, grantees) = split_pairs(s.consents.iter(), 20);
            sqlx::query!(
                "DELETE FROM consents c USING UNNEST($2::bytea[], $3::bytea[]) AS k(patient, grantee)
                 WHERE c.chain_id = $1 AND c.patient = k.patient AND c.grantee = k.grantee",
                chain_id,
                &patients,
                &grantees
            )
            .execute(&mut *conn)
            .await?;
        }
        if !s.episodes.is_empty() {
            sqlx::query!(
                "DELETE FROM episodes WHERE chain_id = $1 AND episode_id = ANY($2::int8[])",
                chain_id,
                &s.episodes
            )
            .execute(&mut *conn)
            .await?;
        }
        if !s.records.is_empty() {
            let (eps, ixs) = record_keys(s.records.iter());
            sqlx::query!(
                "DELETE FROM records r USING UNNEST($2::int8[], $3::int8[]) AS k(ep, ix)
                 WHERE r.chain_id = $1 AND r.episode_id = k.ep AND r.record_index = k.ix",
                chain_id,
                &eps,
                &ixs
            )
            .execute(&mut *conn)
            .await?;
        }
        if !s.prescriptions.is_empty() {
            sqlx::query!(
                "DELETE FROM prescriptions WHERE chain_id = $1 AND rx_id = ANY($2::bytea[])",
                chain_id,
                &s.prescriptions
            )
            .execute(&mut *conn)
            .await?;
        }
        if !s.roles.is_empty() {
            let (roles, accounts) = split_pairs(s.roles.iter(), 32);
            sqlx::query!(
                "DELETE FROM role_members m USING UNNEST($2::bytea[], $3::bytea[]) AS k(role, account)
                 WHERE m.chain_id = $1 AND m.role = k.role AND m.account = k.account",
                chain_id,
                &roles,
                &accounts
            )
            .execute(&mut *conn)
            .await?;
        }
        stage("delete", &mut clock);
        write_credentials(conn, chain_id, self.credentials.values().flatten().collect()).await?;
        write_consents(conn, chain_id, self.consents.values().flatten().collect()).await?;
        stage("consents", &mut clock);
        write_episodes(conn, chain_id, self.episodes.values().flatten().collect()).await?;
        write_records(conn, chain_id, self.records.values().flatten().collect()).await?;
        stage("records", &mut clock);
        write_prescriptions(conn, chain_id, self.prescriptions.values().flatten().collect()).await?;
        write_roles(conn, chain_id, self.roles.values().flatten().collect()).await?;
        stage("prescriptions", &mut clock);
        Ok(())
    }
}

async fn write_credentials(
    conn: &mut PgConnection,
    chain_id: i64,
    rows: Vec<&Credential>,
) -> Result<(), IndexerError> {
    let mut b = CopyBuf::new(rows.len() * 220);
    for r in &rows {
        b.row(14);
        b.int8(chain_id);
        b.bytes(&r.account);
        b.int8(r.credential_id);
        b.text(&r.kind);
        b.text(&r.status);
        b.opt(r.status_reason, CopyBuf::int4);
        b.bytes(&r.license_hash);
        b.bytes(&r.jurisdiction);
        b.time(r.expires_at);
        b.int2(r.schedules);
        b.int8(r.registered_block);
        b.time(r.registered_at);
        b.int8(r.updated_block);
        b.time(r.updated_at);
    }
    b.send(
        conn,
        "credentials (chain_id, account, credential_id, kind, status, status_reason, license_hash, jurisdiction,
                      expires_at, schedules, registered_block, registered_at, updated_block, updated_at)",
    )
    .await
}

async fn write_consents(
    conn: &mut PgConnection,
    chain_id: i64,
    rows: Vec<&Consent>,
) -> Result<(), IndexerError> {
    let mut b = CopyBuf::new(rows.len() * 220);
    for r in &rows {
        b.row(20);
        b.int8(chain_id);
        b.bytes(&r.patient);
        b.bytes(&r.grantee);
        b.int2(r.scopes);
        b.opt(r.expires_at, CopyBuf::time);
        b.opt(r.granted_at, CopyBuf::time);
        b.opt(r.granted_block, CopyBuf::int8);
        b.opt(r.granted_relayed, CopyBuf::bool);
        b.bool(r.revoked);
        b.opt(r.revoked_at, CopyBuf::time);
        b.opt(r.revoked_relayed, CopyBuf::bool);
        b.opt(r.emergency_until, CopyBuf::time);
        b.opt(r.emergency_reason, CopyBuf::int4);
        b.opt(r.emergency_opened_at, CopyBuf::time);
        b.opt(r.emergency_ended_at, CopyBuf::time);
        b.opt(r.emergency_ended_by.as_deref(), CopyBuf::bytes);
        b.opt(r.emergency_justification.as_deref(), CopyBuf::bytes);
        b.bool(r.emergency_blocked);
        b.int4(r.emergency_flags);
        b.int8(r.updated_block);
    }
    b.send(
        conn,
        "consents (chain_id, patient, grantee, scopes, expires_at, granted_at, granted_block, granted_relayed,
                   revoked, revoked_at, revoked_relayed, emergency_until, emergency_reason, emergency_opened_at,
                   emergency_ended_at, emergency_ended_by, emergency_justification, emergency_blocked,
                   emergency_flags, updated_block)",
    )
    .await
}

async fn write_episodes(
    conn: &mut PgConnection,
    chain_id: i64,
    rows: Vec<&Episode>,
) -> Result<(), IndexerError> {
    let mut b = CopyBuf::new(rows.len() * 220);
    for r in &rows {
        b.row(13);
        b.int8(chain_id);
        b.int8(r.episode_id);
        b.bytes(&r.patient);
        b.bytes(&r.opened_by);
        b.time(r.opened_at);
        b.int8(r.opened_block);
        b.int8(r.record_count);
        b.bytes(&r.head);
        b.bool(r.closed);
        b.opt(r.closed_by.as_deref(), CopyBuf::bytes);
        b.opt(r.closed_at, CopyBuf::time);
        b.opt(r.closed_block, CopyBuf::int8);
        b.int8(r.updated_block);
    }
    b.send(
        conn,
        "episodes (chain_id, episode_id, patient, opened_by, opened_at, opened_block, record_count, head, closed,
                   closed_by, closed_at, closed_block, updated_block)",
    )
    .await
}

async fn write_records(
    conn: &mut PgConnection,
    chain_id: i64,
    rows: Vec<&Record>,
) -> Result<(), IndexerError> {
    let mut b = CopyBuf::new(rows.len() * 300);
    for r in &rows {
        b.row(13);
        b.int8(chain_id);
        b.int8(r.episode_id);
        b.int8(r.record_index);
        b.bytes(&r.patient);
        b.bytes(&r.author);
        b.bytes(&r.content_hash);
        b.bytes(&r.pointer_hash);
        b.bytes(&r.head);
        b.bool(r.hidden);
        b.int8(r.anchored_block);
        b.time(r.anchored_at);
        b.bytes(&r.tx_hash);
        b.opt(r.visibility_changed_at, CopyBuf::time);
    }
    b.send(
        conn,
        "records (chain_id, episode_id, record_index, patient, author, content_hash, pointer_hash, head, hidden,
                  anchored_block, anchored_at, tx_hash, visibility_changed_at)",
    )
    .await
}

async fn write_prescriptions(
    conn: &mut PgConnection,
    chain_id: i64,
    rows: Vec<&Prescription>,
) -> Result<(), IndexerError> {
    let mut b = CopyBuf::new(rows.len() * 420);
    for r in &rows {
        b.row(35);
        b.int8(chain_id);
        b.bytes(&r.rx_id);
        b.bytes(&r.patient);
        b.bytes(&r.prescriber);
        b.bytes(&r.content_hash);
        b.opt(r.issued_pharmacy.as_deref(), CopyBuf::bytes);
        b.opt(r.pharmacy.as_deref(), CopyBuf::bytes);
        b.int2(r.fills);
        b.int8(r.quantity_per_fill);
        b.time(r.earliest_fill_at);
        b.time(r.valid_until);
        b.int8(r.min_fill_interval_secs);
        b.int2(r.schedule);
        b.numeric(&r.nonce);
        b.bytes(&r.relayer);
        b.bool(r.relayed);
        b.int8(r.issued_block);
        b.time(r.issued_at);
        b.bytes(&r.issued_tx);
        b.int2(r.fills_used);
        b.numeric(&r.quantity_dispensed);
        b.int8(r.dispense_count);
        b.opt(r.last_dispensed_at, CopyBuf::time);
        b.opt(r.last_dispense_pharmacy.as_deref(), CopyBuf::bytes);
        b.bool(r.cancelled);
        b.opt(r.cancel_reason, CopyBuf::int4);
        b.opt(r.cancelled_at, CopyBuf::time);
        b.int8(r.updated_block);
        b.int4(r.days_supply);
        b.time(r.date_written);
        b.bool(r.long_term_care);
        b.time(r.deadline);
        b.bool(r.transferred);
        b.opt(r.cancelled_by.as_deref(), CopyBuf::text);
        b.opt(r.short_supply_until, CopyBuf::time);
    }
    b.send(
        conn,
        "prescriptions (chain_id, rx_id, patient, prescriber, content_hash, issued_pharmacy, pharmacy, fills,
                        quantity_per_fill, earliest_fill_at, valid_until, min_fill_interval_secs, schedule, nonce,
                        relayer, relayed, issued_block, issued_at, issued_tx, fills_used, quantity_dispensed,
                        dispense_count, last_dispensed_at, last_dispense_pharmacy, cancelled, cancel_reason,
                        cancelled_at, updated_block, days_supply, date_written, long_term_care, deadline,
                        transferred, cancelled_by, short_supply_until)",
    )
    .await
}

async fn write_roles(conn: &mut PgConnection, chain_id: i64, rows: Vec<&Role>) -> Result<(), IndexerError> {
    let mut b = CopyBuf::new(rows.len() * 160);
    for r in &rows {
        b.row(8);
        b.int8(chain_id);
        b.bytes(&r.contract);
        b.bytes(&r.role);
        b.bytes(&r.account);
        b.bool(r.active);
        b.bytes(&r.changed_by);
        b.int8(r.updated_block);
        b.time(r.updated_at);
    }
    b.send(
        conn,
        "role_members (chain_id, contract, role, account, active, changed_by, updated_block, updated_at)",
    )
    .await
}
