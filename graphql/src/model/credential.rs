//! Credentials of prescribers and pharmacies.

use super::{addr, b32, hex0x};
use crate::db::Db;
use crate::error::{GqlResult, ResultExt};
use crate::scalars::{Address, Bytes32};
use crate::schema::{as_of, state};
use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};

/// The columns of `credentials`.
pub(crate) const CREDENTIAL_COLUMNS: &str = "SELECT account, credential_id, kind, status, status_reason, \
    license_hash, jurisdiction, expires_at, schedules, registered_block, registered_at, updated_block, \
    updated_at FROM credentials WHERE ";

/// A row of `credentials`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct CredentialRow {
    pub(crate) account: Vec<u8>,
    pub(crate) credential_id: i64,
    pub(crate) kind: String,
    pub(crate) status: String,
    pub(crate) status_reason: Option<i32>,
    pub(crate) license_hash: Vec<u8>,
    pub(crate) jurisdiction: Vec<u8>,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) schedules: i16,
    pub(crate) registered_block: i64,
    pub(crate) registered_at: DateTime<Utc>,
    pub(crate) updated_block: i64,
    pub(crate) updated_at: DateTime<Utc>,
}

impl CredentialRow {
    /// Active at `t`: status active and not expired (the contract's `isActive`).
    pub(crate) fn active_at(&self, t: DateTime<Utc>) -> bool {
        self.status == "active" && t < self.expires_at
    }
}

/// One change of a credential.
#[derive(Debug, Clone, sqlx::FromRow, SimpleObject)]
#[graphql(complex)]
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
    #[graphql(skip)]
    pub(crate) tx_hash: Vec<u8>,
}

#[async_graphql::ComplexObject]
impl CredentialChange {
    /// The transaction.
    async fn tx_hash(&self) -> GqlResult<Bytes32> {
        b32(&self.tx_hash)
    }
}

/// A prescriber's or pharmacy's license as registered in the CredentialRegistry.
#[Object(name = "Credential")]
impl CredentialRow {
    /// The account holding it.
    async fn account(&self) -> GqlResult<Address> {
        addr(&self.account)
    }
    /// Its registry id.
    async fn credential_id(&self) -> i64 {
        self.credential_id
    }
    /// `prescriber` or `pharmacy`.
    async fn kind(&self) -> &str {
        &self.kind
    }
    /// `active`, `suspended` or `revoked` (an `active` credential may still be expired: see `activeNow`).
    async fn status(&self) -> &str {
        &self.status
    }
    /// The reason code of the last suspension or revocation.
    async fn status_reason(&self) -> Option<i32> {
        self.status_reason
    }
    /// Hash of the license document.
    async fn license_hash(&self) -> String {
        hex0x(&self.license_hash)
    }
    /// The issuing jurisdiction code, as hex.
    async fn jurisdiction(&self) -> String {
        hex0x(&self.jurisdiction)
    }
    /// When it expires.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
    /// Controlled-substance schedules it authorises (2–5).
    async fn schedules(&self) -> Vec<i32> {
        (0..16).filter(|bit| (self.schedules >> bit) & 1 == 1).collect()
    }
    /// When it was registered.
    async fn registered_at(&self) -> DateTime<Utc> {
        self.registered_at
    }
    /// The block it was registered in.
    async fn registered_block(&self) -> i64 {
        self.registered_block
    }
    /// When it last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
    /// The block it last changed in.
    async fn updated_block(&self) -> i64 {
        self.updated_block
    }
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
        qb.push_bind(db.chain_id()).push(" AND account = ").push_bind(self.account.clone());
        qb.push(" ORDER BY block_number, log_index LIMIT 1000");
        db.all(qb).await.gql()
    }
}
