//! A patient's view: who has access, its consent history, prescriptions, dispenses, episodes and records.

use super::lists::{consents, dispense_key, page, prescriptions, sizes, where_fn, DISPENSES};
use crate::as_of::as_of;
use crate::db::Db;
use crate::error::{ApiError, GqlResult, ResultExt};
use crate::model::{
    AccessLogEntryRow, ConsentChangeRow, ConsentFilter, ConsentRow, DispenseRow, EpisodeRow,
    PrescriptionFilter, PrescriptionRow, RecordRow, VaultDocumentRow, CONSENT_CHANGE_COLUMNS,
    CONSENT_COLUMNS, EPISODE_COLUMNS, RECORD_COLUMNS,
};
use crate::page::{paginate, Conn, Key, ListSpec};
use crate::scalars::Address;
use crate::schema::state;
use crate::session::VaultSession;
use async_graphql::{Context, Object};

static CONSENT_HISTORY: ListSpec = ListSpec {
    tag: "ch",
    select: CONSENT_CHANGE_COLUMNS,
    from: "FROM consent_history WHERE ",
    key: ["block_number", "log_index"],
    int_tie: true,
};

static EPISODES: ListSpec = ListSpec {
    tag: "ep",
    select: EPISODE_COLUMNS,
    from: "FROM episodes WHERE ",
    key: ["opened_block", "episode_id"],
    int_tie: true,
};

static RECORDS: ListSpec = ListSpec {
    tag: "rc",
    select: RECORD_COLUMNS,
    from: "FROM records WHERE ",
    key: ["episode_id", "record_index"],
    int_tie: true,
};

/// A patient.
pub(crate) struct Patient(pub(super) Address);

/// A patient's view.
#[Object]
impl Patient {
    /// The patient's address.
    async fn address(&self) -> Address {
        self.0
    }
    /// Who has access now (an active grant or open emergency access) and since when (`accessSince`).
    async fn access(&self, ctx: &Context<'_>) -> GqlResult<Vec<ConsentRow>> {
        let t = as_of(ctx).await?.time;
        let db = &state(ctx).db;
        let mut qb = Db::sql(CONSENT_COLUMNS);
        qb.push("chain_id = ").push_bind(db.chain_id()).push(" AND patient = ").push_bind(self.0);
        qb.push(" AND ((scopes <> 0 AND NOT revoked AND (expires_at IS NULL OR expires_at > ")
            .push_bind(t)
            .push(")) OR emergency_until > ")
            .push_bind(t)
            .push(") ORDER BY updated_block, grantee LIMIT 1000");
        db.all(qb).await.gql()
    }
    /// Its consents per grantee, in any state.
    #[graphql(complexity = "crate::page::complexity(first, last, child_complexity)")]
    async fn consents(
        &self,
        ctx: &Context<'_>,
        filter: Option<ConsentFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<ConsentRow>> {
        consents(ctx, "patient", self.0, filter.unwrap_or_default(), page(first, after, last, before)).await
    }
    /// Every grant, revocation and emergency access, ordered by (block, log index).
    #[graphql(complexity = "crate::page::complexity(first, last, child_complexity)")]
    async fn consent_history(
        &self,
        ctx: &Context<'_>,
        grantee: Option<Address>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<ConsentChangeRow>> {
        let who = self.0;
        let filter = where_fn(move |qb| {
            qb.push(" AND patient = ").push_bind(who);
            if let Some(g) = grantee {
                qb.push(" AND grantee = ").push_bind(g);
            }
        });
        paginate(
            &state(ctx).db,
            sizes(ctx),
            &CONSENT_HISTORY,
            page(first, after, last, before),
            filter,
            |r: ConsentChangeRow| Ok((Key::int(r.block_number, r.log_index.into()), r)),
        )
        .await
        .gql()
    }
    /// Its prescriptions, oldest first.
    #[graphql(complexity = "crate::page::complexity(first, last, child_complexity)")]
    async fn prescriptions(
        &self,
        ctx: &Context<'_>,
        filter: Option<PrescriptionFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<PrescriptionRow>> {
        let filter = filter.unwrap_or_default();
        prescriptions(ctx, "patient", self.0, filter, page(first, after, last, before)).await
    }
    /// Every dispense against its prescriptions, ordered by (block, log index).
    #[graphql(complexity = "crate::page::complexity(first, last, child_complexity)")]
    async fn dispenses(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<DispenseRow>> {
        let who = self.0;
        // Each dispense row names its patient (migration 0010): a range of dispenses_patient_chain.
        let filter = where_fn(move |qb| {
            qb.push(" AND patient = ").push_bind(who);
        });
        paginate(
            &state(ctx).db,
            sizes(ctx),
            &DISPENSES,
            page(first, after, last, before),
            filter,
            dispense_key,
        )
        .await
        .gql()
    }
    /// Its episodes of care, oldest first; each lists its records (hidden ones only when asked for).
    #[graphql(complexity = "crate::page::complexity(first, last, child_complexity)")]
    async fn episodes(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<EpisodeRow>> {
        let who = self.0;
        let filter = where_fn(move |qb| {
            qb.push(" AND patient = ").push_bind(who);
        });
        paginate(
            &state(ctx).db,
            sizes(ctx),
            &EPISODES,
            page(first, after, last, before),
            filter,
            |r: EpisodeRow| Ok((Key::int(r.opened_block, r.episode_id), r)),
        )
        .await
        .gql()
    }
    /// Its records over all episodes, by episode then chain order; hidden records only with
    /// `includeHidden: true`.
    #[graphql(complexity = "crate::page::complexity(first, last, child_complexity)")]
    async fn records(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] include_hidden: bool,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<RecordRow>> {
        let who = self.0;
        let filter = where_fn(move |qb| {
            qb.push(" AND patient = ").push_bind(who);
            if !include_hidden {
                qb.push(" AND NOT hidden");
            }
        });
        paginate(
            &state(ctx).db,
            sizes(ctx),
            &RECORDS,
            page(first, after, last, before),
            filter,
            |r: RecordRow| Ok((Key::int(r.episode_id, r.record_index), r)),
        )
        .await
        .gql()
    }
    /// Her documents in the record vault (metadata only, never the bytes), oldest first. Needs the
    /// vault's session: the patient sees all of them (hidden and pending ones too); a grantee whose
    /// consent allows reading, as of the latest indexed block, sees the anchored ones she has not hidden
    /// (and pending ones he uploaded); anyone else gets `FORBIDDEN` (`UNAUTHENTICATED` without a session).
    /// Each call is a `search` in the vault's access log.
    #[graphql(complexity = "crate::page::complexity(None, None, child_complexity)")]
    async fn documents(&self, ctx: &Context<'_>) -> GqlResult<Vec<VaultDocumentRow>> {
        let (vault, caller) = VaultSession::caller(ctx).await?;
        let rows = vault.search(caller, self.0 .0.into()).await.map_err(ApiError::from).gql()?;
        Ok(rows.iter().map(VaultDocumentRow::from).collect())
    }
    /// The vault's access log about her, newest first (at most `first`, 1-1000, default 100). Needs the
    /// vault's session: the patient reads all of it; a grantee whose consent allows reading reads the
    /// entries of his own requests; anyone else gets `FORBIDDEN`.
    #[graphql(complexity = "crate::page::complexity(first, None, child_complexity)")]
    async fn access_log(&self, ctx: &Context<'_>, first: Option<i32>) -> GqlResult<Vec<AccessLogEntryRow>> {
        let (vault, caller) = VaultSession::caller(ctx).await?;
        let limit = i64::from(first.unwrap_or(100));
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::BadInput(format!("first must be 1-1000, got {limit}")).into_graphql());
        }
        let entries =
            vault.access_log(caller, self.0 .0.into(), limit).await.map_err(ApiError::from).gql()?;
        Ok(entries.iter().map(AccessLogEntryRow::from).collect())
    }
}
