//! Credentials of prescribers and pharmacies.

use super::hex0x;
use crate::as_of::as_of;
use crate::db::Db;
use crate::error::{GqlResult, ResultExt};
use crate::scalars::{Address, Bytes32};
use crate::schema::state;
use async_graphql::{ComplexObject, Context, SimpleObject};
use chrono::{DateTime, Utc};

/// The columns of `credentials`.
pub(crate) const CREDENTIAL_COLUMNS: &str = "SELECT account, credential_id, kind, status, status_reason, \
    license_hash, jurisdiction, expires_at, schedules, registered_block, registered_at, updated_block, \
    updated_at FROM credentials WHERE ";

/// A prescriber's or pharmacy's license as registered in the CredentialRegistry.
#[derive(Debug, Clone, sqlx::FromRow, SimpleObject)]
#[graphql(name = "Credential", complex)]
pub(crate) struct CredentialRow {
    /// The account holding it.
    pub(crate) account: Address,
    /// Its registry id.
    pub(crate) credential_id: i64,
    /// `prescriber` or `pharmacy`.
    pub(crate) kind: String,
    /// `active`, `suspended` or `revoked` (an `active` credential may still be expired: see `activeNow`).
    pub(crate) status: String,
    /// The reason code of the last suspension or revocation.
    pub(crate) status_reason: Option<i32>,
    /// Hash of the license document.
    #[graphql(skip, derived(owned, name = "license_hash", into = "String", with = "hex0x"))]
    pub(crate) license_hash: Vec<u8>,
    /// The issuing jurisdiction code, as hex.
    #[graphql(skip, derived(owned, name = "jurisdiction", into = "String", with = "hex0x"))]
    pub(crate) jurisdiction: Vec<u8>,
    /// When it expires.
    pub(crate) expires_at: DateTime<Utc>,
    /// Controlled-substance schedules it authorises (2–5).
    #[graphql(skip, derived(owned, name = "schedules", into = "Vec<i32>", with = "schedule_list"))]
    pub(crate) schedules: i16,
    /// When it was registered.
    pub(crate) registered_at: DateTime<Utc>,
    /// The block it was registered in.
    pub(crate) registered_block: i64,
    /// When it last changed.
    pub(crate) updated_at: DateTime<Utc>,
    /// The block it last changed in.
    pub(crate) updated_block: i64,
}

/// The schedules set in `bits`.
fn schedule_list(bits: i16) -> Vec<i32> {
    (0..16).filter(|bit| (bits >> bit) & 1 == 1).collect()
}

impl CredentialRow {
    /// Active at `t`: status active and not expired (the contract's `isActive`).
    pub(crate) fn active_at(&self, t: DateTime<Utc>) -> bool {
        self.status == "active" && t < self.expires_at
    }
}

/// One change of a credential.
#[derive(Debug, Clone, sqlx::FromRow, SimpleObject)]
pub(crate) struct CredentialChange {
    /// The block of the change.
    pub(crate) block_number: i64,
    /// The log index of the change.
    pub(crate) log_index: i32,
    /// `registered`, `renewed`, `schedules_changed`, `suspended`, `reinstated` or `revoked`.
    pub(crate) change: String,
    /// The status after the change.
    pub(crate) status: Option<String>,
    /// The expiry after the change.
    pub(crate) expires_at: Option<DateTime<Utc>>,
    /// The reason code of a suspension or revocation.
    pub(crate) reason_code: Option<i32>,
    /// The block's time.
    pub(crate) block_time: DateTime<Utc>,
    /// The transaction.
    pub(crate) tx_hash: Bytes32,
}

#[ComplexObject]
impl CredentialRow {
    /// Active (status active and not expired) as of the latest indexed block's time (`asOf`).
    async fn active_now(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        Ok(self.active_at(as_of(ctx).await?.time))
    }
    /// The time `activeNow` was computed against: the latest indexed block's time.
    async fn as_of(&self, ctx: &Context<'_>) -> GqlResult<DateTime<Utc>> {
        Ok(as_of(ctx).await?.time)
    }
    /// Every change, oldest first.
    async fn history(&self, ctx: &Context<'_>) -> GqlResult<Vec<CredentialChange>> {
        let db = &state(ctx).db;
        let mut qb = Db::sql(
            "SELECT block_number, log_index, change, status, expires_at, reason_code, block_time, tx_hash \
             FROM credential_history WHERE chain_id = ",
        );
        qb.push_bind(db.chain_id()).push(" AND account = ").push_bind(self.account);
        qb.push(" ORDER BY block_number, log_index LIMIT 1000");
        db.all(qb).await.gql()
    }
}
