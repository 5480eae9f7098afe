//! Events: the auditor's trail.

use super::hex0x;
use crate::error::ApiError;
use crate::page::WhereFn;
use crate::scalars::{Address, Bytes32};
use crate::schema::state;
use async_graphql::{ComplexObject, Context, Enum, InputObject, Json, SimpleObject};
use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use std::sync::Arc;

/// The columns every event query selects.
pub(crate) const EVENT_COLUMNS: &str = "SELECT block_number, block_hash, block_time, tx_hash, tx_index, \
    log_index, contract, address, event_name, accounts, rx_id, episode_id, args FROM events WHERE ";

/// One event (log) of a medledger contract, with where it happened.
#[derive(Debug, Clone, sqlx::FromRow, SimpleObject)]
#[graphql(name = "Event", complex)]
pub(crate) struct EventRow {
    /// The block's number.
    pub(crate) block_number: i64,
    /// The block's hash.
    pub(crate) block_hash: Bytes32,
    /// The block's timestamp.
    #[graphql(name = "timestamp")]
    pub(crate) block_time: DateTime<Utc>,
    /// The transaction's hash.
    pub(crate) tx_hash: Bytes32,
    /// The transaction's index in its block.
    pub(crate) tx_index: i32,
    /// The log's index in its block.
    pub(crate) log_index: i32,
    /// Which contract emitted it.
    pub(crate) contract: ContractName,
    /// The emitting contract's address.
    #[graphql(name = "contractAddress")]
    pub(crate) address: Address,
    /// The event's name, e.g. `PrescriptionIssued`.
    #[graphql(name = "name")]
    pub(crate) event_name: String,
    /// Every address among the event's arguments.
    pub(crate) accounts: Vec<Address>,
    /// The prescription it concerns, if any.
    pub(crate) rx_id: Option<Bytes32>,
    /// The episode it concerns, if any.
    pub(crate) episode_id: Option<i64>,
    #[graphql(skip)]
    pub(crate) args: serde_json::Value,
}

/// The medledger contracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum ContractName {
    /// Licensed prescribers and pharmacies.
    CredentialRegistry,
    /// Patients' consents and emergency access.
    ConsentRegistry,
    /// Episodes and their record anchors.
    RecordAnchors,
    /// Prescriptions and dispenses.
    Prescriptions,
}

impl sqlx::Type<sqlx::Postgres> for ContractName {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <String as sqlx::Type<sqlx::Postgres>>::type_info()
    }
    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for ContractName {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let name = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
        Ok(Self::from_db(name).ok_or_else(|| format!("contract name {name:?}"))?)
    }
}

impl ContractName {
    const fn as_db(self) -> &'static str {
        match self {
            Self::CredentialRegistry => "CredentialRegistry",
            Self::ConsentRegistry => "ConsentRegistry",
            Self::RecordAnchors => "RecordAnchors",
            Self::Prescriptions => "Prescriptions",
        }
    }

    fn from_db(s: &str) -> Option<Self> {
        [Self::CredentialRegistry, Self::ConsentRegistry, Self::RecordAnchors, Self::Prescriptions]
            .into_iter()
            .find(|c| c.as_db() == s)
    }
}

#[ComplexObject]
impl EventRow {
    /// All arguments by name: addresses and hashes as `0x` hex, integers up to 64 bits as numbers, wider
    /// ones as decimal strings.
    async fn args(&self) -> Json<&serde_json::Value> {
        Json(&self.args)
    }
    /// The transaction on the configured block explorer (null when none is configured).
    async fn tx_url(&self, ctx: &Context<'_>) -> Option<String> {
        state(ctx).config.explorer_url.as_ref().map(|base| format!("{base}/tx/{}", self.tx_hash))
    }
    /// The emitting contract on the configured block explorer (null when none is configured).
    async fn contract_url(&self, ctx: &Context<'_>) -> Option<String> {
        state(ctx)
            .config
            .explorer_url
            .as_ref()
            .map(|base| format!("{base}/address/{}", hex0x(self.address.0)))
    }
    /// Each account of the event on the configured block explorer (empty when none is configured).
    async fn account_urls(&self, ctx: &Context<'_>) -> Vec<String> {
        let Some(base) = &state(ctx).config.explorer_url else { return Vec::new() };
        self.accounts.iter().map(|a| format!("{base}/address/{}", hex0x(a.0))).collect()
    }
}

/// Which events to return; all conditions must hold (each list matches any of its values).
#[derive(Debug, Clone, Default, InputObject)]
pub(crate) struct EventFilter {
    /// Events whose arguments include any of these addresses.
    pub(crate) accounts: Option<Vec<Address>>,
    /// Events of the prescriptions of any of these patients: every Prescriptions event keyed by `rxId`,
    /// including those whose arguments do not name the patient (`PrescriptionDispensed`,
    /// `ShortSupplyBalanceDue`, `PharmacyChanged`, `PrescriptionCancelled`). E.g. a patient's page subscribes
    /// with `{prescriptionsOf: [<patient>]}` to see her dispenses, and no one else's.
    pub(crate) prescriptions_of: Option<Vec<Address>>,
    /// Events of this prescription.
    pub(crate) rx_id: Option<Bytes32>,
    /// Events of this episode.
    pub(crate) episode_id: Option<i64>,
    /// Events of these contracts.
    pub(crate) contracts: Option<Vec<ContractName>>,
    /// Events emitted by this contract address.
    pub(crate) contract_address: Option<Address>,
    /// Events of this transaction: what one transaction did.
    pub(crate) tx_hash: Option<Bytes32>,
    /// Events with these names, e.g. `["PrescriptionIssued", "PharmacyChanged"]`.
    pub(crate) names: Option<Vec<String>>,
    /// From this block on (inclusive).
    pub(crate) from_block: Option<i64>,
    /// Up to this block (inclusive).
    pub(crate) to_block: Option<i64>,
    /// At or after this time.
    pub(crate) from_time: Option<DateTime<Utc>>,
    /// At or before this time.
    pub(crate) to_time: Option<DateTime<Utc>>,
}

const MAX_FILTER_VALUES: usize = 100;

impl EventFilter {
    /// Checks list lengths and ranges.
    pub(crate) fn validate(&self) -> Result<(), ApiError> {
        let too_many = |n: usize, what: &str| {
            if n > MAX_FILTER_VALUES {
                Err(ApiError::LimitExceeded(format!("at most {MAX_FILTER_VALUES} {what} per filter")))
            } else {
                Ok(())
            }
        };
        too_many(self.accounts.as_ref().map_or(0, Vec::len), "accounts")?;
        too_many(self.prescriptions_of.as_ref().map_or(0, Vec::len), "prescriptionsOf patients")?;
        too_many(self.names.as_ref().map_or(0, Vec::len), "names")?;
        if let (Some(a), Some(b)) = (self.from_block, self.to_block) {
            if a > b {
                return Err(ApiError::BadInput("`fromBlock` is after `toBlock`".into()));
            }
        }
        if let (Some(a), Some(b)) = (self.from_time, self.to_time) {
            if a > b {
                return Err(ApiError::BadInput("`fromTime` is after `toTime`".into()));
            }
        }
        Ok(())
    }

    /// The filter as SQL conditions.
    pub(crate) fn into_where(self) -> WhereFn {
        Arc::new(move |qb: &mut QueryBuilder<'static, Postgres>| self.push(qb))
    }

    pub(crate) fn push(&self, qb: &mut QueryBuilder<'static, Postgres>) {
        // One value: `=`, which an index ordered by (block, log index) after it serves in order (`= ANY`
        // of one value is not planned that way).
        if let Some(accounts) = &self.accounts {
            qb.push(" AND accounts && ").push_bind(accounts.clone()).push("::bytea[]");
        }
        // Through the prescriptions projection (indexed by patient; events by rx_id): the events themselves
        // hold only what their arguments name. `$1` is the chain id, as for a time range below.
        if let Some(patients) = &self.prescriptions_of {
            qb.push(" AND rx_id IN (SELECT p.rx_id FROM prescriptions p WHERE p.chain_id = $1 AND p.patient = ANY(")
                .push_bind(patients.clone())
                .push("::bytea[]))");
        }
        if let Some(rx) = &self.rx_id {
            qb.push(" AND rx_id = ").push_bind(*rx);
        }
        if let Some(e) = self.episode_id {
            qb.push(" AND episode_id = ").push_bind(e);
        }
        if let Some(cs) = &self.contracts {
            let v: Vec<String> = cs.iter().map(|c| c.as_db().to_owned()).collect();
            match v.as_slice() {
                [one] => qb.push(" AND contract = ").push_bind(one.clone()),
                _ => qb.push(" AND contract = ANY(").push_bind(v).push(")"),
            };
        }
        if let Some(a) = &self.contract_address {
            qb.push(" AND address = ").push_bind(*a);
        }
        if let Some(tx) = &self.tx_hash {
            qb.push(" AND tx_hash = ").push_bind(*tx);
        }
        if let Some(names) = &self.names {
            match names.as_slice() {
                [one] => qb.push(" AND event_name = ").push_bind(one.clone()),
                _ => qb.push(" AND event_name = ANY(").push_bind(names.clone()).push(")"),
            };
        }
        if let Some(b) = self.from_block {
            qb.push(" AND block_number >= ").push_bind(b);
        }
        if let Some(b) = self.to_block {
            qb.push(" AND block_number <= ").push_bind(b);
        }
        // A time range is the block range its events lie in (an event's time is its block's, and block
        // times are monotonic): bounds on the ordering column only, so the primary key serves it in order.
        // With `block_time` bounds besides, PostgreSQL's generic plan (what a prepared statement runs
        // after five executions) scanned `events_time` and sorted every event of the range (4-7 ms for
        // 13,600 events; 0.03 ms this way). `$1` is the chain id: every statement of events binds it first.
        if let Some(t) = self.from_time {
            qb.push(
                " AND block_number >= coalesce((SELECT f.block_number FROM events f WHERE f.chain_id = $1 AND f.block_time >= ",
            )
            .push_bind(t)
            .push(" ORDER BY f.block_time, f.block_number LIMIT 1), 9223372036854775807)");
        }
        if let Some(t) = self.to_time {
            qb.push(
                " AND block_number <= coalesce((SELECT f.block_number FROM events f WHERE f.chain_id = $1 AND f.block_time <= ",
            )
            .push_bind(t)
            .push(" ORDER BY f.block_time DESC, f.block_number DESC LIMIT 1), -1)");
        }
    }
}
