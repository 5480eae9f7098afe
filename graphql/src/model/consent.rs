//! Consents: standing grants, revocations and emergency access.

use crate::as_of::as_of;
use crate::error::GqlResult;
use crate::scalars::{Address, Bytes32};
use async_graphql::{ComplexObject, Context, Enum, InputObject, SimpleObject};
use chrono::{DateTime, Duration, Utc};
use medledger_core::consent;
use sqlx::{Postgres, QueryBuilder};

/// The columns of `consents`.
pub(crate) const CONSENT_COLUMNS: &str = "SELECT patient, grantee, scopes, expires_at, granted_at, \
    granted_block, granted_relayed, revoked, revoked_at, revoked_relayed, emergency_until, emergency_reason, \
    emergency_opened_at, emergency_ended_at, emergency_ended_by, emergency_justification, emergency_blocked, \
    emergency_flags, updated_block FROM consents WHERE ";

/// The columns of `consent_history`.
pub(crate) const CONSENT_CHANGE_COLUMNS: &str = "SELECT block_number, log_index, patient, grantee, action, \
    scopes, expires_at, relayed, reason_code, ended_by, justification_hash, reviewer, flagged_opened_at, \
    finding_code, block_time, tx_hash FROM consent_history WHERE ";

/// What a patient has granted one grantee: the standing grant and any emergency access.
#[derive(Debug, Clone, sqlx::FromRow, SimpleObject)]
#[graphql(name = "Consent", complex)]
pub(crate) struct ConsentRow {
    /// The patient.
    pub(crate) patient: Address,
    /// The grantee (a prescriber, an institution, a relative…).
    pub(crate) grantee: Address,
    /// The standing grant's scopes (empty when none or revoked).
    #[graphql(skip, derived(owned, name = "scopes", into = "Vec<Scope>", with = "scope_list"))]
    pub(crate) scopes: i16,
    /// The scope bits (READ=1, WRITE=2, PRESCRIBE=4).
    #[sqlx(rename = "scopes")]
    pub(crate) scope_bits: i16,
    /// When the standing grant expires (null = never).
    pub(crate) expires_at: Option<DateTime<Utc>>,
    /// Since when the standing grant is in force.
    pub(crate) granted_at: Option<DateTime<Utc>>,
    /// The block of the grant.
    pub(crate) granted_block: Option<i64>,
    /// Whether the grant was relayed with the patient's signature.
    pub(crate) granted_relayed: Option<bool>,
    /// Whether the standing grant was revoked.
    pub(crate) revoked: bool,
    /// When it was revoked.
    pub(crate) revoked_at: Option<DateTime<Utc>>,
    /// Whether the revocation was relayed with the patient's signature.
    pub(crate) revoked_relayed: Option<bool>,
    /// Open emergency access: until when.
    pub(crate) emergency_until: Option<DateTime<Utc>>,
    /// Open emergency access: the reason code.
    pub(crate) emergency_reason: Option<i32>,
    /// Open emergency access: since when.
    pub(crate) emergency_opened_at: Option<DateTime<Utc>>,
    /// When emergency access was ended early.
    pub(crate) emergency_ended_at: Option<DateTime<Utc>>,
    /// Who ended emergency access early.
    pub(crate) emergency_ended_by: Option<Address>,
    /// Open emergency access: the salted hash of its written justification (the text stays off chain, with
    /// the reviewers).
    pub(crate) emergency_justification: Option<Bytes32>,
    /// Whether the patient has blocked this grantee from opening emergency access (her block list).
    pub(crate) emergency_blocked: bool,
    /// How many times reviewers flagged this grantee's emergency access to the patient as questionable.
    pub(crate) emergency_flags: i32,
    #[graphql(skip)]
    pub(crate) updated_block: i64,
}

/// The scopes set in `bits`.
fn scope_list(bits: i16) -> Vec<Scope> {
    [(1, Scope::Read), (2, Scope::Write), (4, Scope::Prescribe)]
        .into_iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, s)| s)
        .collect()
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

#[ComplexObject]
impl ConsentRow {
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
    /// Grantees the patient has blocked from opening emergency access (her block list).
    Blocked,
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
            ConsentSelection::Blocked => {
                qb.push(" AND emergency_blocked");
            }
        }
    }
}

/// One grant, revocation, or emergency access opened or ended.
#[derive(Debug, Clone, sqlx::FromRow, SimpleObject)]
#[graphql(name = "ConsentChange")]
pub(crate) struct ConsentChangeRow {
    /// `granted`, `revoked`, `emergency_opened`, `emergency_ended`, `emergency_blocked`, `emergency_unblocked`
    /// (the patient's block list) or `emergency_flagged` (a reviewer's finding).
    pub(crate) action: String,
    /// The patient.
    pub(crate) patient: Address,
    /// The grantee.
    pub(crate) grantee: Address,
    /// Scope bits granted (grants only).
    pub(crate) scopes: Option<i16>,
    /// Expiry of the grant or the emergency access.
    pub(crate) expires_at: Option<DateTime<Utc>>,
    /// Whether a relayer submitted it with the patient's signature.
    pub(crate) relayed: Option<bool>,
    /// Reason code (emergency access).
    pub(crate) reason_code: Option<i32>,
    /// Who ended emergency access.
    pub(crate) ended_by: Option<Address>,
    /// The salted hash of the written justification (emergency access opened).
    pub(crate) justification_hash: Option<Bytes32>,
    /// The reviewer who flagged the emergency access (`emergency_flagged`).
    pub(crate) reviewer: Option<Address>,
    /// When the flagged emergency access was opened (`emergency_flagged`).
    pub(crate) flagged_opened_at: Option<DateTime<Utc>>,
    /// The reviewer's finding code (`emergency_flagged`).
    pub(crate) finding_code: Option<i32>,
    /// The block.
    pub(crate) block_number: i64,
    /// The log index in the block.
    pub(crate) log_index: i32,
    /// The block's time.
    #[graphql(name = "timestamp")]
    pub(crate) block_time: DateTime<Utc>,
    /// The transaction.
    pub(crate) tx_hash: Bytes32,
}
