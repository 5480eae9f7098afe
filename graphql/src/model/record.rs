//! Episodes of care and their anchored records.

use crate::error::GqlResult;
use crate::loaders::RecordsOf;
use crate::scalars::{Address, Bytes32};
use crate::schema::state;
use async_graphql::{ComplexObject, Context, SimpleObject};
use chrono::{DateTime, Utc};

/// The columns of `episodes`.
pub(crate) const EPISODE_COLUMNS: &str = "SELECT episode_id, patient, opened_by, opened_at, opened_block, \
    record_count, head, closed, closed_by, closed_at FROM episodes WHERE ";

/// The columns of `records`.
pub(crate) const RECORD_COLUMNS: &str = "SELECT episode_id, record_index, patient, author, content_hash, \
    pointer_hash, head, hidden, anchored_block, anchored_at, tx_hash, visibility_changed_at FROM records WHERE ";

/// An episode of care: a hash-linked chain of record anchors.
#[derive(Debug, Clone, sqlx::FromRow, SimpleObject)]
#[graphql(name = "Episode", complex)]
pub(crate) struct EpisodeRow {
    /// The episode's id.
    #[graphql(name = "id")]
    pub(crate) episode_id: i64,
    /// The patient.
    pub(crate) patient: Address,
    /// Who opened it.
    pub(crate) opened_by: Address,
    /// When it was opened.
    pub(crate) opened_at: DateTime<Utc>,
    /// The block it was opened in.
    pub(crate) opened_block: i64,
    /// How many records are anchored (hidden ones included).
    pub(crate) record_count: i64,
    /// The hash-chain head (zero before the first record).
    pub(crate) head: Bytes32,
    /// Whether it was closed.
    pub(crate) closed: bool,
    /// Who closed it.
    pub(crate) closed_by: Option<Address>,
    /// When it was closed.
    pub(crate) closed_at: Option<DateTime<Utc>>,
}

/// An anchored record: the hash of an off-chain document, linked into its episode's hash chain.
#[derive(Debug, Clone, sqlx::FromRow, SimpleObject)]
#[graphql(name = "Record")]
pub(crate) struct RecordRow {
    /// The episode.
    pub(crate) episode_id: i64,
    /// Its position in the episode, from 0.
    #[graphql(name = "index")]
    pub(crate) record_index: i64,
    /// The patient.
    pub(crate) patient: Address,
    /// Who anchored it.
    pub(crate) author: Address,
    /// Hash of the document.
    pub(crate) content_hash: Bytes32,
    /// Hash of the document's storage pointer.
    pub(crate) pointer_hash: Bytes32,
    /// The chain head after this record.
    pub(crate) head: Bytes32,
    /// Whether the patient hid it.
    pub(crate) hidden: bool,
    /// The block it was anchored in.
    pub(crate) anchored_block: i64,
    /// When it was anchored.
    pub(crate) anchored_at: DateTime<Utc>,
    /// The anchoring transaction.
    pub(crate) tx_hash: Bytes32,
    /// When its visibility last changed.
    pub(crate) visibility_changed_at: Option<DateTime<Utc>>,
}

#[ComplexObject]
impl EpisodeRow {
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
