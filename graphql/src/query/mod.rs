//! The query root and the role views: pharmacy, prescriber, patient; the auditor's event trail; the
//! pharmacy's check before dispensing (`verifyPrescription`).

mod events;
mod lists;
mod lookup;
mod patient;
mod pharmacy;
mod prescriber;
mod verify;

use self::lists::page;
use self::patient::Patient;
use self::pharmacy::Pharmacy;
use self::prescriber::Prescriber;
use crate::as_of::as_of;
use crate::db::Db;
use crate::error::{ApiError, GqlResult, ResultExt};
use crate::loaders::CredentialOf;
use crate::model::{
    CredentialRow, EpisodeRow, EventFilter, EventRow, IndexerStatus, PrescriptionContentInput,
    PrescriptionRow, Verification, EPISODE_COLUMNS,
};
use crate::page::Conn;
use crate::scalars::{Address, Bytes32};
use crate::schema::state;
use async_graphql::{Context, Object};
use chrono::{DateTime, Utc};

/// The root of every query.
pub struct QueryRoot;

/// Reads the medledger contracts' state as indexed.
#[Object(name = "Query")]
impl QueryRoot {
    /// Where indexing stands: chain head, indexed block, lag, last reorg, and whether the index is stale.
    /// Null before the indexer's first checkpoint. Read in the same snapshot as every other field of the
    /// response: no row beside it is newer than `indexedBlock`.
    async fn indexer_status(&self, ctx: &Context<'_>) -> GqlResult<Option<IndexerStatus>> {
        let db = &state(ctx).db;
        let mut qb = Db::sql(
            "SELECT c.chain_id, c.block_number AS indexed_block, '0x' || encode(c.block_hash, 'hex') AS \
             indexed_block_hash, b.timestamp AS indexed_block_time, c.head_number AS chain_head, \
             greatest(c.head_number - c.block_number, 0) AS lag, c.reorg_count, c.last_reorg_at, \
             c.last_reorg_block, c.last_reorg_depth, c.updated_at, c.stale_reason, c.stale_since \
             FROM checkpoints c LEFT JOIN blocks b \
             ON b.chain_id = c.chain_id AND b.number = c.block_number WHERE c.chain_id = ",
        );
        qb.push_bind(db.chain_id());
        db.optional(qb).await.gql()
    }

    /// The time time-dependent statuses (expired, fillable, active) are computed against: the latest indexed
    /// block's timestamp.
    async fn as_of(&self, ctx: &Context<'_>) -> GqlResult<DateTime<Utc>> {
        Ok(as_of(ctx).await?.time)
    }

    /// A prescription by id, with its fills and remaining quantity. `NOT_FOUND` if unknown.
    async fn prescription(&self, ctx: &Context<'_>, id: Bytes32) -> GqlResult<PrescriptionRow> {
        lookup::rx_by_id(ctx, id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no prescription has id {id}")).into_graphql())
    }

    /// Whether `pharmacy` may dispense prescription `id` at `at` (default: the latest indexed block's time),
    /// proving the content against the id; lists every reason it may not. Give `contentHash`, or the
    /// `content` itself (the patient copy's): then its hash is proven and the schedule the terms declare is
    /// checked against the controlled-substance table's schedule of its RxNorm code (`SCHEDULE_MISMATCH`), which
    /// the chain cannot see. Both may be given if they agree.
    async fn verify_prescription(
        &self,
        ctx: &Context<'_>,
        id: Bytes32,
        content_hash: Option<Bytes32>,
        content: Option<PrescriptionContentInput>,
        pharmacy: Address,
        at: Option<DateTime<Utc>>,
    ) -> GqlResult<Verification> {
        verify::verify(ctx, id, content_hash, content.as_ref(), pharmacy, at).await
    }

    /// The credential of an account, if it has one.
    async fn credential(&self, ctx: &Context<'_>, account: Address) -> GqlResult<Option<CredentialRow>> {
        state(ctx).loader.load_one(CredentialOf(account)).await.map_err(|e| e.clone_gql())
    }

    /// An episode of care by id. `NOT_FOUND` if unknown.
    async fn episode(&self, ctx: &Context<'_>, id: i64) -> GqlResult<EpisodeRow> {
        let db = &state(ctx).db;
        let mut qb = Db::sql(EPISODE_COLUMNS);
        qb.push("chain_id = ").push_bind(db.chain_id()).push(" AND episode_id = ").push_bind(id);
        db.optional(qb)
            .await
            .gql()?
            .ok_or_else(|| ApiError::NotFound(format!("no episode has id {id}")).into_graphql())
    }

    /// The event trail, ordered by (block, log index), filtered by account, prescription, episode, contract,
    /// event name, block range and time range.
    #[graphql(complexity = "crate::page::complexity(first, last, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        filter: Option<EventFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<EventRow>> {
        events::page(ctx, filter.unwrap_or_default(), page(first, after, last, before)).await
    }

    /// A pharmacy's view: its credential, its queue, its dispensing history.
    async fn pharmacy(&self, address: Address) -> Pharmacy {
        Pharmacy(address)
    }

    /// A prescriber's view: its credential, consents granted to it, prescriptions it issued.
    async fn prescriber(&self, address: Address) -> Prescriber {
        Prescriber(address)
    }

    /// A patient's view: who has access, consent history, prescriptions, dispenses, episodes and records.
    async fn patient(&self, address: Address) -> Patient {
        Patient(address)
    }
}
