//! Events: the auditor's trail.

use super::{addr, b32, hex0x};
use crate::error::{ApiError, GqlResult, ResultExt};
use crate::page::WhereFn;
use crate::scalars::{Address, Bytes32};
use crate::schema::state;
use async_graphql::{Context, Enum, InputObject, Json, Object};
use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use std::sync::Arc;

/// The columns every event query selects.
pub(crate) const EVENT_COLUMNS: &str = "SELECT block_number, block_hash, block_time, tx_hash, tx_index, \
    log_index, contract, address, event_name, accounts, rx_id, episode_id, args FROM events WHERE ";

/// One decoded log of a medledger contract.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct EventRow {
    pub(crate) block_number: i64,
    pub(crate) block_hash: Vec<u8>,
    pub(crate) block_time: DateTime<Utc>,
    pub(crate) tx_hash: Vec<u8>,
    pub(crate) tx_index: i32,
    pub(crate) log_index: i32,
    pub(crate) contract: String,
    pub(crate) address: Vec<u8>,
    pub(crate) event_name: String,
    pub(crate) accounts: Vec<Vec<u8>>,
    pub(crate) rx_id: Option<Vec<u8>>,
    pub(crate) episode_id: Option<i64>,
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

/// One event (log) of a medledger contract, with where it happened.
#[Object(name = "Event")]
impl EventRow {
    /// The block's number.
    async fn block_number(&self) -> i64 {
        self.block_number
    }
    /// The block's hash.
    async fn block_hash(&self) -> GqlResult<Bytes32> {
        b32(&self.block_hash)
    }
    /// The block's timestamp.
    async fn timestamp(&self) -> DateTime<Utc> {
        self.block_time
    }
    /// The transaction's hash.
    async fn tx_hash(&self) -> GqlResult<Bytes32> {
        b32(&self.tx_hash)
    }
    /// The transaction's index in its block.
    async fn tx_index(&self) -> i32 {
        self.tx_index
    }
    /// The log's index in its block.
    async fn log_index(&self) -> i32 {
        self.log_index
    }
    /// Which contract emitted it.
    async fn contract(&self) -> GqlResult<ContractName> {
        ContractName::from_db(&self.contract)
            .ok_or_else(|| ApiError::Corrupt(format!("contract name {:?}", self.contract)))
            .gql()
    }
    /// The emitting contract's address.
    async fn contract_address(&self) -> GqlResult<Address> {
        addr(&self.address)
    }
    /// The event's name, e.g. `PrescriptionIssued`.
    async fn name(&self) -> &str {
        &self.event_name
    }
    /// Every address among the event's arguments.
    async fn accounts(&self) -> GqlResult<Vec<Address>> {
        self.accounts.iter().map(|a| addr(a)).collect()
    }
    /// The prescription it concerns, if any.
    async fn rx_id(&self) -> GqlResult<Option<Bytes32>> {
        self.rx_id.as_deref().map(b32).transpose()
    }
    /// The episode it concerns, if any.
    async fn episode_id(&self) -> Option<i64> {
        self.episode_id
    }
    /// All arguments by name: addresses and hashes as `0x` hex, integers up to 64 bits as numbers, wider
    /// ones as decimal strings.
    async fn args(&self) -> Json<&serde_json::Value> {
        Json(&self.args)
    }
    /// The transaction on the configured block explorer (null when none is configured).
    async fn tx_url(&self, ctx: &Context<'_>) -> Option<String> {
        state(ctx).config.explorer_url.as_ref().map(|base| format!("{base}/tx/{}", hex0x(&self.tx_hash)))
    }
    /// The emitting contract on the configured block explorer (null when none is configured).
    async fn contract_url(&self, ctx: &Context<'_>) -> Option<String> {
        state(ctx).config.explorer_url.as_ref().map(|base| format!("{base}/address/{}", hex0x(&self.address)))
    }
    /// Each account of the event on the configured block explorer (empty when none is configured).
    async fn account_urls(&self, ctx: &Context<'_>) -> Vec<String> {
        let Some(base) = &state(ctx).config.explorer_url else { return Vec::new() };
        self.accounts.iter().map(|a| format!("{base}/address/{}", hex0x(a))).collect()
    }
}

/// Which events to return; all conditions must hold (each list matches any of its values).
#[derive(Debug, Clone, Default, InputObject)]
pub(crate) struct EventFilter {
    /// Events whose arguments include any of these addresses.
    pub(crate) accounts: Option<Vec<Address>>,
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
        if let Some(accounts) = &self.accounts {
            let v: Vec<Vec<u8>> = accounts.iter().map(|a| a.0.to_vec()).collect();
            qb.push(" AND accounts && ").push_bind(v).push("::bytea[]");
        }
        if let Some(rx) = &self.rx_id {
            qb.push(" AND rx_id = ").push_bind(rx.0.to_vec());
        }
        if let Some(e) = self.episode_id {
            qb.push(" AND episode_id = ").push_bind(e);
        }
        if let Some(cs) = &self.contracts {
            let v: Vec<String> = cs.iter().map(|c| c.as_db().to_owned()).collect();
            qb.push(" AND contract = ANY(").push_bind(v).push(")");
        }
        if let Some(a) = &self.contract_address {
            qb.push(" AND address = ").push_bind(a.0.to_vec());
        }
        if let Some(tx) = &self.tx_hash {
            qb.push(" AND tx_hash = ").push_bind(tx.0.to_vec());
        }
        if let Some(names) = &self.names {
            qb.push(" AND event_name = ANY(").push_bind(names.clone()).push(")");
        }
        if let Some(b) = self.from_block {
            qb.push(" AND block_number >= ").push_bind(b);
        }
        if let Some(b) = self.to_block {
            qb.push(" AND block_number <= ").push_bind(b);
        }
        if let Some(t) = self.from_time {
            qb.push(" AND block_time >= ").push_bind(t);
        }
        if let Some(t) = self.to_time {
            qb.push(" AND block_time <= ").push_bind(t);
        }
    }
}
