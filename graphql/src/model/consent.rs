//! Consents: standing grants, revocations and emergency access.

use super::{addr, b32, opt_addr};
use crate::error::GqlResult;
use crate::scalars::{Address, Bytes32};
use crate::schema::as_of;
use async_graphql::{Context, Enum, InputObject, Object};
use chrono::{DateTime, Duration, Utc};
use medledger_core::consent;
use sqlx::{Postgres, QueryBuilder};

/// The columns of `consents`.
pub(crate) const CONSENT_COLUMNS: &str = "SELECT patient, grantee, scopes, expires_at, granted_at, \
    granted_block, granted_relayed, revoked, revoked_at, revoked_relayed, emergency_until, emergency_reason, \
    emergency_opened_at, emergency_ended_at, emergency_ended_by, updated_block FROM consents WHERE ";

/// The columns of `consent_history`.
pub(crate) const CONSENT_CHANGE_COLUMNS: &str = "SELECT block_number, log_index, patient, grantee, action, \
    scopes, expires_at, relayed, reason_code, ended_by, block_time, tx_hash FROM consent_history WHERE ";

/// A row of `consents`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ConsentRow {
    pub(crate) patient: Vec<u8>,
    pub(crate) grantee: Vec<u8>,
    pub(crate) scopes: i16,
    pub(crate) expires_at: Option<DateTime<Utc>>,
    pub(crate) granted_at: Option<DateTime<Utc>>,
    pub(crate) granted_block: Option<i64>,
    pub(crate) granted_relayed: Option<bool>,
    pub(crate) revoked: bool,
    pub(crate) revoked_at: Option<DateTime<Utc>>,
    pub(crate) revoked_relayed: Option<bool>,
    pub(crate) emergency_until: Option<DateTime<Utc>>,
    pub(crate) emergency_reason: Option<i32>,
    pub(crate) emergency_opened_at: Option<DateTime<Utc>>,
    pub(crate) emergency_ended_at: Option<DateTime<Utc>>,
    pub(crate) emergency_ended_by: Option<Vec<u8>>,
    pub(crate) updated_block: i64,
}

/// A consent's state at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "consent::Status")]
pub(crate) enum ConsentStatus {
    /// A standing grant is in force (and emergency access may be open too).
    Active,
    /// Only emergency access is open.
    Emergency,
    /// The standing grant has expired.
    Expired,
    /// The standing grant was revoked.
    Revoked,
    /// No grant (no scopes).
    None,
}

/// Consent scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum Scope {
    /// Read records.
    Read,
    /// Anchor records.
    Write,
    /// Issue prescriptions.
    Prescribe,
}

impl ConsentRow {
    /// What the consent rule needs of the row.
    pub(crate) fn facts(&self) -> consent::Consent {
        consent::Consent {
            scopes: u8::try_from(self.scopes).unwrap_or(u8::MAX),
            expires_at: self.expires_at,
            revoked: self.revoked,
            emergency_until: self.emergency_until,
        }
    }

    fn grant_active(&self, t: DateTime<Utc>) -> bool {
        self.facts().grant_active(t)
    }

    fn emergency_open_at(&self, t: DateTime<Utc>) -> bool {
        self.facts().emergency_open(t)
    }

    /// The status at `t`.
    pub(crate) fn status_at(&self, t: DateTime<Utc>) -> ConsentStatus {
        self.facts().status_at(t).into()
    }
}

/// What a patient has granted one grantee: the standing grant and any emergency access.
#[Object(name = "Consent")]
impl ConsentRow {
    /// The patient.
    async fn patient(&self) -> GqlResult<Address> {
        addr(&self.patient)
    }
    /// The grantee (a prescriber, an institution, a relative…).
    async fn grantee(&self) -> GqlResult<Address> {
        addr(&self.grantee)
    }
    /// The standing grant's scopes (empty when none or revoked).
    async fn scopes(&self) -> Vec<Scope> {
        [(1, Scope::Read), (2, Scope::Write), (4, Scope::Prescribe)]
            .into_iter()
            .filter(|(bit, _)| self.scopes & bit != 0)
            .map(|(_, s)| s)
            .collect()
    }
    /// The scope bits (READ=1, WRITE=2, PRESCRIBE=4).
    async fn scope_bits(&self) -> i32 {
        self.scopes.into()
    }
    /// When the standing grant expires (null = never).
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }
    /// Since when the standing grant is in force.
    async fn granted_at(&self) -> Option<DateTime<Utc>> {
        self.granted_at
    }
    /// The block of the grant.
    async fn granted_block(&self) -> Option<i64> {
        self.granted_block
    }
    /// Whether the grant was relayed with the patient's signature.
    async fn granted_relayed(&self) -> Option<bool> {
        self.granted_relayed
    }
    /// Whether the standing grant was revoked.
    async fn revoked(&self) -> bool {
        self.revoked
    }
    /// When it was revoked.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.revoked_at
    }
    /// Whether the revocation was relayed with the patient's signature.
    async fn revoked_relayed(&self) -> Option<bool> {
        self.revoked_relayed
    }
    /// Open emergency access: until when.
    async fn emergency_until(&self) -> Option<DateTime<Utc>> {
        self.emergency_until
    }
    /// Open emergency access: the reason code.
    async fn emergency_reason(&self) -> Option<i32> {
        self.emergency_reason
    }
    /// Open emergency access: since when.
    async fn emergency_opened_at(&self) -> Option<DateTime<Utc>> {
        self.emergency_opened_at
    }
    /// When emergency access was ended early.
    async fn emergency_ended_at(&self) -> Option<DateTime<Utc>> {
        self.emergency_ended_at
    }
    /// Who ended emergency access early.
    async fn emergency_ended_by(&self) -> GqlResult<Option<Address>> {
        opt_addr(self.emergency_ended_by.as_ref())
    }
    /// The status as of the latest indexed block's time.
    async fn status(&self, ctx: &Context<'_>) -> GqlResult<ConsentStatus> {
        Ok(self.status_at(as_of(ctx).await?.time))
    }
    /// Whether emergency access is open as of the latest indexed block's time.
    async fn emergency_active(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        Ok(self.emergency_open_at(as_of(ctx).await?.time))
    }
    /// Since when the grantee has access (the grant's or the emergency's start), null when it has none now.
    async fn access_since(&self, ctx: &Context<'_>) -> GqlResult<Option<DateTime<Utc>>> {
        let t = as_of(ctx).await?.time;
        Ok(if self.grant_active(t) {
            self.granted_at
        } else if self.emergency_open_at(t) {
            self.emergency_opened_at
        } else {
            None
        })
    }
    /// The time the statuses were computed against.
    async fn as_of(&self, ctx: &Context<'_>) -> GqlResult<DateTime<Utc>> {
        Ok(as_of(ctx).await?.time)
    }
}

/// Which consents to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
pub(crate) enum ConsentSelection {
    /// Every consent row, whatever its state.
    #[default]
    All,
    /// Access in force now: an active standing grant or open emergency access.
    Active,
    /// Active standing grants expiring within `expiringWithinSecs`.
    ExpiringSoon,
    /// Open emergency access.
    Emergency,
}

/// A consent list's filter.
#[derive(Debug, Clone, Default, InputObject)]
pub(crate) struct ConsentFilter {
    /// Which consents (default ALL).
    pub(crate) status: Option<ConsentSelection>,
    /// The "expiring soon" window in seconds (default 7 days).
    pub(crate) expiring_within_secs: Option<i64>,
}

impl ConsentFilter {
    /// Pushes the conditions evaluated at `t`.
    pub(crate) fn push(&self, qb: &mut QueryBuilder<'static, Postgres>, t: DateTime<Utc>, default_soon: i64) {
        let active = |qb: &mut QueryBuilder<'static, Postgres>| {
            qb.push(" scopes <> 0 AND NOT revoked AND (expires_at IS NULL OR expires_at > ")
                .push_bind(t)
                .push(")");
        };
        match self.status.unwrap_or_default() {
            ConsentSelection::All => {}
            ConsentSelection::Active => {
                qb.push(" AND ((");
                active(qb);
                qb.push(") OR emergency_until > ").push_bind(t).push(")");
            }
            ConsentSelection::ExpiringSoon => {
                let secs = self.expiring_within_secs.unwrap_or(default_soon).clamp(0, 10 * 365 * 86_400);
                qb.push(" AND");
                active(qb);
                qb.push(" AND expires_at <= ").push_bind(t + Duration::seconds(secs));
            }
            ConsentSelection::Emergency => {
                qb.push(" AND emergency_until > ").push_bind(t);
            }
        }
    }
}

/// A row of `consent_history`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ConsentChangeRow {
    pub(crate) block_number: i64,
    pub(crate) log_index: i32,
    pub(crate) patient: Vec<u8>,
    pub(crate) grantee: Vec<u8>,
    pub(crate) action: String,
    pub(crate) scopes: Option<i16>,
    pub(crate) expires_at: Option<DateTime<Utc>>,
    pub(crate) relayed: Option<bool>,
    pub(crate) reason_code: Option<i32>,
    pub(crate) ended_by: Option<Vec<u8>>,
    pub(crate) block_time: DateTime<Utc>,
    pub(crate) tx_hash: Vec<u8>,
}

/// One grant, revocation, or emergency access opened or ended.
#[Object(name = "ConsentChange")]
impl ConsentChangeRow {
    /// `granted`, `revoked`, `emergency_opened` or `emergency_ended`.
    async fn action(&self) -> &str {
        &self.action
    }
    /// The patient.
    async fn patient(&self) -> GqlResult<Address> {
        addr(&self.patient)
    }
    /// The grantee.
    async fn grantee(&self) -> GqlResult<Address> {
        addr(&self.grantee)
    }
    /// Scope bits granted (grants only).
    async fn scopes(&self) -> Option<i32> {
        self.scopes.map(Into::into)
    }
    /// Expiry of the grant or the emergency access.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }
    /// Whether a relayer submitted it with the patient's signature.
    async fn relayed(&self) -> Option<bool> {
        self.relayed
    }
    /// Reason code (emergency access).
    async fn reason_code(&self) -> Option<i32> {
        self.reason_code
    }
    /// Who ended emergency access.
    async fn ended_by(&self) -> GqlResult<Option<Address>> {
        opt_addr(self.ended_by.as_ref())
    }
    /// The block.
    async fn block_number(&self) -> i64 {
        self.block_number
    }
    /// The log index in the block.
    async fn log_index(&self) -> i32 {
        self.log_index
    }
    /// The block's time.
    async fn timestamp(&self) -> DateTime<Utc> {
        self.block_time
    }
    /// The transaction.
    async fn tx_hash(&self) -> GqlResult<Bytes32> {
        b32(&self.tx_hash)
    }
}
