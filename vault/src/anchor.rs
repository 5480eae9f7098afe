//! Anchoring the access log's head on chain (`AccessLogAnchors`), and checking the log against the anchors.
//!
//! The vault's operator posts `(entries, head)` periodically ([`anchor_log`]: `medledger vault anchor-log`,
//! or `medledger run --vault.anchor-interval`). Each anchor pins entries `1..=entries`: once it is mined,
//! the operator cannot rewrite, delete or insert any of them without [`verify_anchored`] noticing, even if
//! the rewritten log is hash-chained consistently. [`verify_anchored`] first walks the chain
//! ([`log::verify`]: a naive edit is named exactly), then compares the log with the latest anchor, and
//! when they disagree finds, by bisection over the operator's anchors, the first anchor the log
//! contradicts: the rewritten history lies after the previous (still matching) anchor and up to it.

use crate::{
    error::{IntegrityError, VaultError},
    log,
};
use alloy::{
    primitives::{Address, B256},
    providers::DynProvider,
};
use chrono::{DateTime, Utc};
use medledger_core::bindings::AccessLogAnchors;
use sqlx::PgPool;

/// One anchor as the contract holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnChainAnchor {
    /// Its position among the operator's anchors, from 0.
    pub index: u64,
    /// How many entries it covers.
    pub entries: i64,
    /// The hash of entry `entries`.
    pub head: B256,
    /// The block it was mined in.
    pub block: u64,
    /// That block's time.
    pub anchored_at: DateTime<Utc>,
}

/// An operator's anchors in the `AccessLogAnchors` contract.
#[derive(Debug, Clone)]
pub struct LogAnchors {
    contract: AccessLogAnchors::AccessLogAnchorsInstance<DynProvider>,
    operator: Address,
}

fn rpc(e: impl std::fmt::Display) -> VaultError {
    VaultError::Unavailable { what: "rpc", reason: e.to_string() }
}

impl LogAnchors {
    /// `operator`'s anchors in the contract at `address`, read (and, with a wallet provider signing as
    /// `operator`, posted) through `provider`.
    pub fn new(address: Address, provider: DynProvider, operator: Address) -> Self {
        Self { contract: AccessLogAnchors::new(address, provider), operator }
    }

    /// The operator whose anchors these are.
    pub const fn operator(&self) -> Address {
        self.operator
    }

    /// How many anchors the operator has posted.
    pub async fn count(&self) -> Result<u64, VaultError> {
        let n = self.contract.anchorCount(self.operator).call().await.map_err(rpc)?;
        u64::try_from(n).map_err(|_| VaultError::Internal("anchor count out of range".into()))
    }

    /// Anchor `index`.
    pub async fn at(&self, index: u64) -> Result<OnChainAnchor, VaultError> {
        let a = self
            .contract
            .anchorAt(self.operator, alloy::primitives::U256::from(index))
            .call()
            .await
            .map_err(rpc)?;
        let anchored_at: u64 = a.anchoredAt.to();
        Ok(OnChainAnchor {
            index,
            entries: i64::try_from(a.entries).unwrap_or(i64::MAX),
            head: a.head,
            block: a.blockNumber,
            anchored_at: DateTime::from_timestamp(i64::try_from(anchored_at).unwrap_or(0), 0)
                .unwrap_or_default(),
        })
    }

    /// The latest anchor, if any.
    pub async fn latest(&self) -> Result<Option<OnChainAnchor>, VaultError> {
        match self.count().await? {
            0 => Ok(None),
            n => self.at(n - 1).await.map(Some),
        }
    }
}

/// What [`anchor_log`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchoring {
    /// A new anchor was mined.
    Anchored {
        /// The anchor.
        anchor: OnChainAnchor,
        /// The transaction.
        tx: B256,
    },
    /// Nothing new since the latest anchor (or an empty log): no transaction sent.
    UpToDate {
        /// Entries in the log.
        entries: i64,
    },
}

/// Verifies the log (its chain and its agreement with the operator's anchors), then anchors its head if
/// it grew since the latest anchor. `anchors` must be able to send transactions as its operator. A log that
/// does not verify is never anchored: the error names what is wrong.
pub async fn anchor_log(pool: &PgPool, anchors: &LogAnchors) -> Result<Anchoring, VaultError> {
    let checked = verify_anchored(pool, anchors).await?;
    let latest = checked.anchor.map_or(0, |a| a.entries);
    if checked.log.entries <= latest {
        return Ok(Anchoring::UpToDate { entries: checked.log.entries });
    }
    let entries = u64::try_from(checked.log.entries).unwrap_or(0);
    let call = anchors.contract.anchorLog(entries, checked.log.head).from(anchors.operator);
    let pending = call.send().await.map_err(|e| match e {
        alloy::contract::Error::TransportError(t) if t.as_error_resp().is_none() => rpc(t),
        e => VaultError::Chain(format!("anchorLog: {e}")),
    })?;
    let receipt = pending.get_receipt().await.map_err(rpc)?;
    if !receipt.status() {
        return Err(VaultError::Chain(format!(
            "anchorLog reverted in transaction {}",
            receipt.transaction_hash
        )));
    }
    let index = receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| l.log_decode::<AccessLogAnchors::LogAnchored>().ok())
        .map(|e| u64::try_from(e.inner.data.index).unwrap_or(u64::MAX))
        .ok_or_else(|| VaultError::Chain("anchorLog: no LogAnchored event in the receipt".into()))?;
    let anchor = anchors.at(index).await?;
    tracing::info!(target: "medledger::vault", entries = anchor.entries, head = %anchor.head, block = anchor.block, index, "access log anchored");
    Ok(Anchoring::Anchored { anchor, tx: receipt.transaction_hash })
}

/// What [`verify_anchored`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnchoredVerification {
    /// The chain walk.
    pub log: log::Verified,
    /// The latest anchor, which the log agrees with (`None`: the operator has not anchored yet).
    pub anchor: Option<OnChainAnchor>,
}

async fn entry_hash(pool: &PgPool, seq: i64) -> Result<Option<B256>, VaultError> {
    let hash: Option<Vec<u8>> =
        sqlx::query_scalar!("SELECT entry_hash FROM vault_access_log WHERE seq = $1", seq)
            .fetch_optional(pool)
            .await
            .map_err(VaultError::db)?;
    Ok(hash.and_then(|h| B256::try_from(h.as_slice()).ok()))
}

/// Whether the (chain-verified) log holds anchor `a`'s head at its entry.
async fn agrees(pool: &PgPool, a: &OnChainAnchor) -> Result<bool, VaultError> {
    Ok(entry_hash(pool, a.entries).await? == Some(a.head))
}

/// Walks the log's hash chain, then checks it against the operator's anchors. Errors name the first bad
/// entry ([`IntegrityError::LogChain`]), or the anchored history that was rewritten
/// ([`IntegrityError::AnchoredRewrite`]) or cut off ([`IntegrityError::AnchoredTruncated`]).
pub async fn verify_anchored(
    pool: &PgPool,
    anchors: &LogAnchors,
) -> Result<AnchoredVerification, VaultError> {
    let verified = log::verify(pool).await?;
    let count = anchors.count().await?;
    if count == 0 {
        return Ok(AnchoredVerification { log: verified, anchor: None });
    }
    let latest = anchors.at(count - 1).await?;
    if latest.entries > verified.entries {
        return Err(IntegrityError::AnchoredTruncated {
            anchored: latest.entries,
            found: verified.entries,
            anchor: latest.index,
            block: latest.block,
        }
        .into());
    }
    if agrees(pool, &latest).await? {
        return Ok(AnchoredVerification { log: verified, anchor: Some(latest) });
    }
    // Anchors are in entry order and each pins a prefix: once the log contradicts one, it contradicts every
    // later one. Bisect for the first it contradicts.
    let (mut lo, mut hi) = (0u64, count - 1);
    let mut first_bad = latest;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let a = anchors.at(mid).await?;
        if agrees(pool, &a).await? {
            lo = mid + 1;
        } else {
            first_bad = a;
            hi = mid;
        }
    }
    if first_bad.index != lo {
        first_bad = anchors.at(lo).await?;
    }
    let after = if lo == 0 { 0 } else { anchors.at(lo - 1).await?.entries };
    Err(IntegrityError::AnchoredRewrite {
        first: after + 1,
        last: first_bad.entries,
        anchor: first_bad.index,
        block: first_bad.block,
    }
    .into())
}
