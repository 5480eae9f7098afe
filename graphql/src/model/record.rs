//! Episodes of care and their anchored records.

use super::{addr, b32, opt_addr};
use crate::error::GqlResult;
use crate::loaders::RecordsOf;
use crate::scalars::{Address, Bytes32};
use crate::schema::state;
use async_graphql::{Context, Object};
use chrono::{DateTime, Utc};

/// The columns of `episodes`.
pub(crate) const EPISODE_COLUMNS: &str = "SELECT episode_id, patient, opened_by, opened_at, opened_block, \
    record_count, head, closed, closed_by, closed_at FROM episodes WHERE ";

/// The columns of `records`.
pub(crate) const RECORD_COLUMNS: &str = "SELECT episode_id, record_index, patient, author, content_hash, \
    pointer_hash, head, hidden, anchored_block, anchored_at, tx_hash, visibility_changed_at FROM records WHERE ";

/// A row of `episodes`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct EpisodeRow {
    pub(crate) episode_id: i64,
    pub(crate) patient: Vec<u8>,
    pub(crate) opened_by: Vec<u8>,
    pub(crate) opened_at: DateTime<Utc>,
    pub(crate) opened_block: i64,
    pub(crate) record_count: i64,
    pub(crate) head: Vec<u8>,
    pub(crate) closed: bool,
    pub(crate) closed_by: Option<Vec<u8>>,
    pub(crate) closed_at: Option<DateTime<Utc>>,
}

/// A row of `records`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct RecordRow {
    pub(crate) episode_id: i64,
    pub(crate) record_index: i64,
    pub(crate) patient: Vec<u8>,
    pub(crate) author: Vec<u8>,
    pub(crate) content_hash: Vec<u8>,
    pub(crate) pointer_hash: Vec<u8>,
    pub(crate) head: Vec<u8>,
    pub(crate) hidden: bool,
    pub(crate) anchored_block: i64,
    pub(crate) anchored_at: DateTime<Utc>,
    pub(crate) tx_hash: Vec<u8>,
    pub(crate) visibility_changed_at: Option<DateTime<Utc>>,
}

/// An episode of care: a hash-linked chain of record anchors.
#[Object(name = "Episode")]
impl EpisodeRow {
    /// The episode's id.
    async fn id(&self) -> i64 {
        self.episode_id
    }
    /// The patient.
    async fn patient(&self) -> GqlResult<Address> {
        addr(&self.patient)
    }
    /// Who opened it.
    async fn opened_by(&self) -> GqlResult<Address> {
        addr(&self.opened_by)
    }
    /// When it was opened.
    async fn opened_at(&self) -> DateTime<Utc> {
        self.opened_at
    }
    /// The block it was opened in.
    async fn opened_block(&self) -> i64 {
        self.opened_block
    }
    /// How many records are anchored (hidden ones included).
    async fn record_count(&self) -> i64 {
        self.record_count
    }
    /// The hash-chain head (zero before the first record).
    async fn head(&self) -> GqlResult<Bytes32> {
        b32(&self.head)
    }
    /// Whether it was closed.
    async fn closed(&self) -> bool {
        self.closed
    }
    /// Who closed it.
    async fn closed_by(&self) -> GqlResult<Option<Address>> {
        opt_addr(self.closed_by.as_ref())
    }
    /// When it was closed.
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.closed_at
    }
    /// Its records in chain order; hidden records only with `includeHidden: true`.
    async fn records(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] include_hidden: bool,
    ) -> GqlResult<Vec<RecordRow>> {
        let key = RecordsOf { episode: self.episode_id, include_hidden };
        Ok(state(ctx).loader.load_one(key).await.map_err(|e| e.clone_gql())?.unwrap_or_default())
    }
}

/// An anchored record: the hash of an off-chain document, linked into its episode's hash chain.
#[Object(name = "Record")]
impl RecordRow {
    /// The episode.
    async fn episode_id(&self) -> i64 {
        self.episode_id
    }
    /// Its position in the episode, from 0.
    async fn index(&self) -> i64 {
        self.record_index
    }
    /// The patient.
    async fn patient(&self) -> GqlResult<Address> {
        addr(&self.patient)
    }
    /// Who anchored it.
    async fn author(&self) -> GqlResult<Address> {
        addr(&self.author)
    }
    /// Hash of the document.
    async fn content_hash(&self) -> GqlResult<Bytes32> {
        b32(&self.content_hash)
    }
    /// Hash of the document's storage pointer.
    async fn pointer_hash(&self) -> GqlResult<Bytes32> {
        b32(&self.pointer_hash)
    }
    /// The chain head after this record.
    async fn head(&self) -> GqlResult<Bytes32> {
        b32(&self.head)
    }
    /// Whether the patient hid it.
    async fn hidden(&self) -> bool {
        self.hidden
    }
    /// The block it was anchored in.
    async fn anchored_block(&self) -> i64 {
        self.anchored_block
    }
    /// When it was anchored.
    async fn anchored_at(&self) -> DateTime<Utc> {
        self.anchored_at
    }
    /// The anchoring transaction.
    async fn tx_hash(&self) -> GqlResult<Bytes32> {
        b32(&self.tx_hash)
    }
    /// When its visibility last changed.
    async fn visibility_changed_at(&self) -> Option<DateTime<Utc>> {
        self.visibility_changed_at
    }
}
