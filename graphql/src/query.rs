//! The query root and the role views: pharmacy, prescriber, patient; the auditor's event trail.

use crate::cache::{CredentialNow, CredentialStep, Credentials, Version};
use crate::db::Db;
use crate::error::{ApiError, GqlResult, ResultExt};
use crate::loaders::CredentialOf;
use crate::model::{
    addr, as_of_sql, prescription_fields, ConsentChangeRow, ConsentFilter, ConsentRow, CredentialRow,
    DispenseRow, EpisodeRow, EventFilter, EventRow, FailureReason, IndexerStatus, PrescriptionFilter,
    PrescriptionRow, RecordRow, Verification, VerificationFailure, CONSENT_CHANGE_COLUMNS, CONSENT_COLUMNS,
    DISPENSE_COLUMNS, EPISODE_COLUMNS, EVENT_COLUMNS, PRESCRIPTION_COLUMNS, RECORD_COLUMNS,
};
use crate::page::{paginate, Conn, Key, ListSpec, PageArgs, WhereFn};
use crate::scalars::{Address, Bytes32};
use crate::schema::{as_of, prefill_as_of, state, State};
use alloy::primitives::{Address as EthAddress, B256, U256};
use async_graphql::{Context, Object};
use chrono::{DateTime, Utc};
use medledger_core::{
    bindings::IPrescriptions::RxTerms,
    dispense::{self, ContentCheck, Credential, OpenFill},
    eip712::{domain, prescription_id},
};
use sqlx::{Postgres, QueryBuilder};
use std::sync::Arc;

static EVENTS: ListSpec = ListSpec {
    tag: "ev",
    select: EVENT_COLUMNS,
    from: "FROM events WHERE ",
    key: ["block_number", "log_index"],
    int_tie: true,
};
static PRESCRIPTIONS: ListSpec = ListSpec {
    tag: "rx",
    select: PRESCRIPTION_COLUMNS,
    from: "FROM prescriptions WHERE ",
    key: ["issued_block", "rx_id"],
    int_tie: false,
};
static DISPENSES: ListSpec = ListSpec {
    tag: "dp",
    select: DISPENSE_COLUMNS,
    from: "FROM dispenses WHERE ",
    key: ["block_number", "log_index"],
    int_tie: true,
};
static CONSENTS_BY_GRANTEE: ListSpec = ListSpec {
    tag: "cg",
    select: CONSENT_COLUMNS,
    from: "FROM consents WHERE ",
    key: ["updated_block", "grantee"],
    int_tie: false,
};
static CONSENTS_BY_PATIENT: ListSpec = ListSpec {
    tag: "cp",
    select: CONSENT_COLUMNS,
    from: "FROM consents WHERE ",
    key: ["updated_block", "patient"],
    int_tie: false,
};
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

fn sizes(ctx: &Context<'_>) -> (usize, usize) {
    let c = &state(ctx).config;
    (c.default_page_size, c.max_page_size)
}

fn page(first: Option<i32>, after: Option<String>, last: Option<i32>, before: Option<String>) -> PageArgs {
    PageArgs { first, after, last, before }
}

fn where_fn(f: impl Fn(&mut QueryBuilder<'static, Postgres>) + Send + Sync + 'static) -> WhereFn {
    Arc::new(f)
}

async fn prescriptions(
    ctx: &Context<'_>,
    column: &'static str,
    who: Address,
    filter: PrescriptionFilter,
    args: PageArgs,
) -> GqlResult<Conn<PrescriptionRow>> {
    let t = as_of(ctx).await?.time;
    let filter = where_fn(move |qb| {
        qb.push(format_args!(" AND {column} = ")).push_bind(who.0.to_vec());
        filter.push(qb, t);
    });
    paginate(&state(ctx).db, sizes(ctx), &PRESCRIPTIONS, args, filter, |r: PrescriptionRow| {
        Ok((Key::bytes(r.issued_block, r.rx_id.clone()), r))
    })
    .await
    .gql()
}

async fn consents(
    ctx: &Context<'_>,
    column: &'static str,
    who: Address,
    filter: ConsentFilter,
    args: PageArgs,
) -> GqlResult<Conn<ConsentRow>> {
    let t = as_of(ctx).await?.time;
    let soon = state(ctx).config.expiring_soon_secs;
    let by_grantee = column == "patient";
    let filter = where_fn(move |qb| {
        qb.push(format_args!(" AND {column} = ")).push_bind(who.0.to_vec());
        filter.push(qb, t, soon);
    });
    let spec = if by_grantee { &CONSENTS_BY_GRANTEE } else { &CONSENTS_BY_PATIENT };
    paginate(&state(ctx).db, sizes(ctx), spec, args, filter, move |r: ConsentRow| {
        let tie = if by_grantee { r.grantee.clone() } else { r.patient.clone() };
        Ok((Key::bytes(r.updated_block, tie), r))
    })
    .await
    .gql()
}

/// A prescription with the latest indexed block's time and one of its dispenses (none: all `None`).
#[derive(sqlx::FromRow)]
struct RxDispenseRow {
    #[sqlx(flatten)]
    rx: PrescriptionRow,
    cp_number: Option<i64>,
    cp_hash: Option<Vec<u8>>,
    as_of_time: Option<DateTime<Utc>>,
    d_block_number: Option<i64>,
    d_log_index: Option<i32>,
    d_pharmacy: Option<Vec<u8>>,
    d_fill_number: Option<i16>,
    d_quantity: Option<i64>,
    d_fill_dispensed: Option<i64>,
    d_total_dispensed: Option<String>,
    d_dispense_hash: Option<Vec<u8>>,
    d_block_time: Option<DateTime<Utc>>,
    d_tx_hash: Option<Vec<u8>>,
}

impl RxDispenseRow {
    /// The dispense of this row, if it has one.
    fn dispense(&mut self) -> Option<DispenseRow> {
        Some(DispenseRow {
            block_number: self.d_block_number?,
            log_index: self.d_log_index?,
            rx_id: self.rx.rx_id.clone(),
            pharmacy: self.d_pharmacy.take()?,
            fill_number: self.d_fill_number?,
            quantity: self.d_quantity?,
            fill_dispensed: self.d_fill_dispensed?,
            total_dispensed: self.d_total_dispensed.take()?,
            dispense_hash: self.d_dispense_hash.take()?,
            block_time: self.d_block_time?,
            tx_hash: self.d_tx_hash.take()?,
        })
    }
}

/// `$1` chain, `$2` rx id, `$3`/`$4` the block number and hash of the version whose `asOf` the cache holds
/// (or `NULL`): the prescription, the checkpoint (the index's version), the request's `asOf` when the
/// checkpoint is another version (else `NULL`), and its dispenses oldest first, one row per dispense (one
/// row with no dispense when it has none).
const RX_BY_ID_SQL: &str = concat!(
    "SELECT ",
    prescription_fields!(),
    ", cp.block_number AS cp_number, cp.block_hash AS cp_hash, \
     CASE WHEN cp.block_number IS DISTINCT FROM $3::int8 OR cp.block_hash IS DISTINCT FROM $4::bytea THEN ",
    as_of_sql!(),
    " END AS as_of_time, d.* FROM (SELECT * FROM prescriptions WHERE chain_id = $1 AND rx_id = $2) p \
     LEFT JOIN checkpoints cp ON cp.chain_id = $1 \
     LEFT JOIN LATERAL (SELECT block_number AS d_block_number, log_index AS d_log_index, \
       pharmacy AS d_pharmacy, fill_number AS d_fill_number, quantity AS d_quantity, \
       fill_dispensed AS d_fill_dispensed, total_dispensed::text AS d_total_dispensed, \
       dispense_hash AS d_dispense_hash, block_time AS d_block_time, tx_hash AS d_tx_hash \
       FROM dispenses WHERE chain_id = $1 AND rx_id = $2) d ON true \
     ORDER BY d.d_block_number, d.d_log_index"
);

/// The rows of [`RX_BY_ID_SQL`], `asOf` read unless the snapshot is of version `cached`.
async fn rx_rows(db: &Db, id: Bytes32, cached: Option<&Version>) -> GqlResult<Vec<RxDispenseRow>> {
    db.count_statement();
    let mut lease = db.lease().await.gql()?;
    let rows = sqlx::query_as(RX_BY_ID_SQL)
        .bind(db.chain_id())
        .bind(id.0.to_vec())
        .bind(cached.map(Version::number))
        .bind(cached.map(Version::hash))
        .fetch_all(lease.conn())
        .await;
    lease.settle(rows).gql()
}

/// One prescription with its dispenses and the request's `asOf`, in one statement: `asOf` comes from the
/// cache when the statement's snapshot is of the version the cache holds, else from the statement (a second
/// statement reads it only when the cache moved to another version meanwhile). A root lookup gains nothing
/// from batching but its delay.
async fn rx_by_id(ctx: &Context<'_>, id: Bytes32) -> GqlResult<Option<PrescriptionRow>> {
    let st = state(ctx);
    let mut rows = rx_rows(&st.db, id, st.cache.latest().as_ref()).await?;
    let version = rows.first().and_then(|r| Version::of(r.cp_number, r.cp_hash.as_ref()));
    let read = rows.first().and_then(|r| r.as_of_time);
    match (version, read) {
        (Some(version), Some(time)) => {
            st.cache.remember_as_of(version, time);
            prefill_as_of(ctx, Some(time));
        }
        (Some(version), None) => match st.cache.as_of(&version) {
            Some(time) => prefill_as_of(ctx, Some(time)),
            None => {
                rows = rx_rows(&st.db, id, None).await?;
                if let Some(first) = rows.first() {
                    if let (Some(v), Some(t)) =
                        (Version::of(first.cp_number, first.cp_hash.as_ref()), first.as_of_time)
                    {
                        st.cache.remember_as_of(v, t);
                    }
                    prefill_as_of(ctx, first.as_of_time);
                }
            }
        },
        // Nothing indexed yet (or no such prescription): `asOf` as for any query.
        (None, _) => {}
    }
    let mut rows = rows.into_iter();
    let Some(mut first) = rows.next() else { return Ok(None) };
    let dispenses: Vec<DispenseRow> =
        first.dispense().into_iter().chain(rows.filter_map(|mut r| r.dispense())).collect();
    Ok(Some(PrescriptionRow { prefetched: Some(Arc::new(dispenses)), ..first.rx }))
}

fn dispense_key(r: DispenseRow) -> Result<(Key, DispenseRow), ApiError> {
    Ok((Key::int(r.block_number, r.log_index.into()), r))
}

/// The root of every query.
pub struct QueryRoot;

/// Reads the medledger contracts' state as indexed.
#[Object(name = "Query")]
impl QueryRoot {
    /// Where indexing stands: chain head, indexed block, lag, last reorg. Null before the indexer's first
    /// checkpoint.
    async fn indexer_status(&self, ctx: &Context<'_>) -> GqlResult<Option<IndexerStatus>> {
        let db = &state(ctx).db;
        let mut qb = Db::sql(
            "SELECT c.chain_id, c.block_number AS indexed_block, '0x' || encode(c.block_hash, 'hex') AS \
             indexed_block_hash, b.timestamp AS indexed_block_time, c.head_number AS chain_head, \
             greatest(c.head_number - c.block_number, 0) AS lag, c.reorg_count, c.last_reorg_at, \
             c.last_reorg_block, c.last_reorg_depth, c.updated_at FROM checkpoints c LEFT JOIN blocks b \
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
        rx_by_id(ctx, id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no prescription has id {id}")).into_graphql())
    }

    /// Whether `pharmacy` may dispense prescription `id` at `at` (default: the latest indexed block's time),
    /// proving `contentHash` against the id; lists every reason it may not.
    async fn verify_prescription(
        &self,
        ctx: &Context<'_>,
        id: Bytes32,
        content_hash: Bytes32,
        pharmacy: Address,
        at: Option<DateTime<Utc>>,
    ) -> GqlResult<Verification> {
        verify(ctx, id, content_hash, pharmacy, at).await
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
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        filter: Option<EventFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<EventRow>> {
        let filter = filter.unwrap_or_default();
        filter.validate().gql()?;
        paginate(
            &state(ctx).db,
            sizes(ctx),
            &EVENTS,
            page(first, after, last, before),
            filter.into_where(),
            |r: EventRow| Ok((Key::int(r.block_number, r.log_index.into()), r)),
        )
        .await
        .gql()
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

/// A pharmacy (any address; see `credential` for whether it is a registered pharmacy).
pub(crate) struct Pharmacy(Address);

/// A pharmacy's view.
#[Object]
impl Pharmacy {
    /// The pharmacy's address.
    async fn address(&self) -> Address {
        self.0
    }
    /// Its credential, if registered.
    async fn credential(&self, ctx: &Context<'_>) -> GqlResult<Option<CredentialRow>> {
        state(ctx).loader.load_one(CredentialOf(self.0)).await.map_err(|e| e.clone_gql())
    }
    /// Prescriptions designated to it, oldest first; by default only open ones (`filter.openOnly` defaults
    /// to true here).
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    async fn queue(
        &self,
        ctx: &Context<'_>,
        filter: Option<PrescriptionFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<PrescriptionRow>> {
        let mut filter = filter.unwrap_or_default();
        filter.open_only = Some(filter.open_only.unwrap_or(true));
        prescriptions(ctx, "pharmacy", self.0, filter, page(first, after, last, before)).await
    }
    /// Its dispensing history, ordered by (block, log index).
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    async fn dispenses(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<DispenseRow>> {
        let who = self.0;
        let filter = where_fn(move |qb| {
            qb.push(" AND pharmacy = ").push_bind(who.0.to_vec());
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
}

/// A prescriber (doctor).
pub(crate) struct Prescriber(Address);

/// A prescriber's view.
#[Object]
impl Prescriber {
    /// The prescriber's address.
    async fn address(&self) -> Address {
        self.0
    }
    /// Its own credential, if registered.
    async fn credential(&self, ctx: &Context<'_>) -> GqlResult<Option<CredentialRow>> {
        state(ctx).loader.load_one(CredentialOf(self.0)).await.map_err(|e| e.clone_gql())
    }
    /// Consents patients granted to it: all, active, expiring soon, or emergency access.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    async fn consents(
        &self,
        ctx: &Context<'_>,
        filter: Option<ConsentFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<ConsentRow>> {
        consents(ctx, "grantee", self.0, filter.unwrap_or_default(), page(first, after, last, before)).await
    }
    /// Prescriptions it issued, oldest first, each with its status.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
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
        prescriptions(ctx, "prescriber", self.0, filter, page(first, after, last, before)).await
    }
}

/// A patient.
pub(crate) struct Patient(Address);

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
        qb.push("chain_id = ").push_bind(db.chain_id()).push(" AND patient = ").push_bind(self.0 .0.to_vec());
        qb.push(" AND ((scopes <> 0 AND NOT revoked AND (expires_at IS NULL OR expires_at > ")
            .push_bind(t)
            .push(")) OR emergency_until > ")
            .push_bind(t)
            .push(") ORDER BY updated_block, grantee LIMIT 1000");
        db.all(qb).await.gql()
    }
    /// Its consents per grantee, in any state.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
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
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
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
            qb.push(" AND patient = ").push_bind(who.0.to_vec());
            if let Some(g) = grantee {
                qb.push(" AND grantee = ").push_bind(g.0.to_vec());
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
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
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
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    async fn dispenses(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<DispenseRow>> {
        let who = self.0;
        let filter = where_fn(move |qb| {
            qb.push(
                " AND rx_id IN (SELECT p.rx_id FROM prescriptions p WHERE p.chain_id = dispenses.chain_id \
                     AND p.patient = ",
            )
            .push_bind(who.0.to_vec())
            .push(")");
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
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
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
            qb.push(" AND patient = ").push_bind(who.0.to_vec());
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
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
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
            qb.push(" AND patient = ").push_bind(who.0.to_vec());
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
}

/// What `verifyPrescription` reads: the prescription, the checkpoint (the index's version), and, when
/// `fresh`, the `asOf` time and the credentials in the same snapshot.
#[derive(sqlx::FromRow)]
struct VerifyRow {
    #[sqlx(flatten)]
    rx: PrescriptionRow,
    cp_number: Option<i64>,
    cp_hash: Option<Vec<u8>>,
    /// The address of the contract that emitted `PrescriptionIssued`.
    contract: Option<Vec<u8>>,
    open_dispensed: Option<i64>,
    open_opened_at: Option<DateTime<Utc>>,
    /// Whether the columns below were read (else they are `NULL`).
    fresh: Option<bool>,
    as_of_time: Option<DateTime<Utc>>,
    prescriber_kind: Option<String>,
    prescriber_status: Option<String>,
    prescriber_expires_at: Option<DateTime<Utc>>,
    prescriber_updated_block: Option<i64>,
    pharmacy_kind: Option<String>,
    pharmacy_status: Option<String>,
    pharmacy_expires_at: Option<DateTime<Utc>>,
    pharmacy_updated_block: Option<i64>,
    history_block: Option<Vec<i64>>,
    history_status: Option<Vec<Option<String>>>,
    history_expires_at: Option<Vec<Option<DateTime<Utc>>>>,
}

impl VerifyRow {
    fn version(&self) -> Option<Version> {
        Version::of(self.cp_number, self.cp_hash.as_ref())
    }

    fn credentials(&self) -> Credentials {
        let now = |kind: &Option<String>, status: &Option<String>, expires_at, updated_block| {
            Some(CredentialNow {
                credential: Credential {
                    kind: kind.clone()?,
                    status: status.clone()?,
                    expires_at: expires_at?,
                },
                updated_block: updated_block?,
            })
        };
        let history = match (&self.history_block, &self.history_status, &self.history_expires_at) {
            (Some(blocks), Some(statuses), Some(expiries)) => blocks
                .iter()
                .zip(statuses)
                .zip(expiries)
                .map(|((&block_number, status), &expires_at)| CredentialStep {
                    block_number,
                    status: status.clone(),
                    expires_at,
                })
                .collect(),
            _ => Arc::from([]),
        };
        Credentials {
            prescriber: now(
                &self.prescriber_kind,
                &self.prescriber_status,
                self.prescriber_expires_at,
                self.prescriber_updated_block,
            ),
            pharmacy: now(
                &self.pharmacy_kind,
                &self.pharmacy_status,
                self.pharmacy_expires_at,
                self.pharmacy_updated_block,
            ),
            history,
        }
    }
}

/// `$1` chain, `$2` rx id, `$3` pharmacy, `$4` whether to read `asOf` and the credentials whatever the
/// version, `$5`/`$6` the block number and hash of the version the cache holds (or `NULL`): a
/// [`VerifyRow`], `fresh` when `$4` or the checkpoint is another version; the prescriber's credential
/// history in chain order, as arrays. The credential lookups are `LIMIT 1` laterals, so PostgreSQL skips
/// them when not `fresh` and probes instead of hashing the table when it is small.
const VERIFY_SQL: &str = concat!(
    "SELECT ",
    prescription_fields!(),
    ", cp.block_number AS cp_number, cp.block_hash AS cp_hash, \
     (SELECT address FROM events e WHERE e.chain_id = $1 AND e.rx_id = $2 \
       AND e.event_name = 'PrescriptionIssued' ORDER BY e.block_number, e.log_index LIMIT 1) AS contract, \
     o.open_dispensed, o.open_opened_at, x.fresh, CASE WHEN x.fresh THEN ",
    as_of_sql!(),
    " END AS as_of_time, pc.kind AS prescriber_kind, pc.status AS prescriber_status, \
     pc.expires_at AS prescriber_expires_at, pc.updated_block AS prescriber_updated_block, \
     ph.kind AS pharmacy_kind, ph.status AS pharmacy_status, ph.expires_at AS pharmacy_expires_at, \
     ph.updated_block AS pharmacy_updated_block, \
     hs.history_block, hs.history_status, hs.history_expires_at \
     FROM prescriptions p \
     LEFT JOIN checkpoints cp ON cp.chain_id = $1 \
     CROSS JOIN LATERAL (SELECT $4::bool OR cp.block_number IS DISTINCT FROM $5::int8 \
       OR cp.block_hash IS DISTINCT FROM $6::bytea AS fresh) x \
     LEFT JOIN LATERAL (SELECT max(d.fill_dispensed) AS open_dispensed, min(d.block_time) AS open_opened_at \
       FROM dispenses d WHERE d.chain_id = $1 AND d.rx_id = $2 AND d.fill_number = p.fills_used) o ON true \
     LEFT JOIN LATERAL (SELECT kind, status, expires_at, updated_block FROM credentials \
       WHERE chain_id = $1 AND account = p.prescriber AND x.fresh LIMIT 1) pc ON true \
     LEFT JOIN LATERAL (SELECT kind, status, expires_at, updated_block FROM credentials \
       WHERE chain_id = $1 AND account = $3 AND x.fresh LIMIT 1) ph ON true \
     LEFT JOIN LATERAL (SELECT array_agg(h.block_number ORDER BY h.block_number, h.log_index) AS history_block, \
       array_agg(h.status ORDER BY h.block_number, h.log_index) AS history_status, \
       array_agg(h.expires_at ORDER BY h.block_number, h.log_index) AS history_expires_at \
       FROM credential_history h WHERE h.chain_id = $1 AND h.account = p.prescriber AND x.fresh) hs ON true \
     WHERE p.chain_id = $1 AND p.rx_id = $2"
);

/// The prescriber's status and expiry at the issuing block: the last of each its history set by then; with
/// no history, the current row when it has not changed since.
fn at_issue<'a>(rx: &PrescriptionRow, credentials: &'a Credentials) -> Option<(&'a str, DateTime<Utc>)> {
    let by_then = || credentials.history.iter().rev().filter(|h| h.block_number <= rx.issued_block);
    match (by_then().find_map(|h| h.status.as_deref()), by_then().find_map(|h| h.expires_at)) {
        (Some(status), Some(expires)) => Some((status, expires)),
        _ => match &credentials.prescriber {
            Some(c) if c.updated_block <= rx.issued_block => {
                Some((c.credential.status.as_str(), c.credential.expires_at))
            }
            _ => None,
        },
    }
}

/// Runs [`VERIFY_SQL`].
async fn verify_row(
    db: &Db,
    id: Bytes32,
    pharmacy: Address,
    force: bool,
    cached: Option<&Version>,
) -> GqlResult<Option<VerifyRow>> {
    db.count_statement();
    let mut lease = db.lease().await.gql()?;
    let row = sqlx::query_as(VERIFY_SQL)
        .bind(db.chain_id())
        .bind(id.0.to_vec())
        .bind(pharmacy.0.to_vec())
        .bind(force)
        .bind(cached.map(Version::number))
        .bind(cached.map(Version::hash))
        .fetch_optional(lease.conn())
        .await;
    lease.settle(row).gql()
}

/// The prescription's row and what verification needs besides, in one statement: it reads `asOf` and the
/// credentials too unless the cache holds them for its snapshot's version (a second statement reads them
/// only when the cache moved to another version meanwhile), and they are cached. `None`: no such
/// prescription.
async fn verify_inputs(
    st: &State,
    id: Bytes32,
    pharmacy: Address,
) -> GqlResult<Option<(VerifyRow, DateTime<Utc>, Credentials)>> {
    let cache = &st.cache;
    let latest = cache.latest();
    let force = match (&latest, cache.prescriber_of(&id.0)) {
        (Some(version), Some(prescriber)) => !cache.holds(version, &prescriber, &pharmacy.0),
        _ => true,
    };
    let Some(mut row) = verify_row(&st.db, id, pharmacy, force, latest.as_ref()).await? else {
        return Ok(None);
    };
    cache.remember_prescriber(id.0, &row.rx.prescriber);
    if row.fresh != Some(true) {
        let cached = row.version().and_then(|v| cache.credentials(&v, &row.rx.prescriber, &pharmacy.0));
        if let Some((as_of, credentials)) = cached {
            return Ok(Some((row, as_of, credentials)));
        }
        let Some(again) = verify_row(&st.db, id, pharmacy, true, None).await? else { return Ok(None) };
        row = again;
    }
    let credentials = row.credentials();
    let Some(as_of) = row.as_of_time else {
        // Nothing indexed to be "as of": the server's clock stands in (see `as_of`); nothing is cached.
        return Ok(Some((row, Utc::now(), credentials)));
    };
    if let Some(version) = row.version() {
        cache.remember(version, as_of, &row.rx.prescriber, &pharmacy.0, &credentials);
    }
    Ok(Some((row, as_of, credentials)))
}

fn secs_u32(t: DateTime<Utc>, what: &str) -> Result<u32, ApiError> {
    u32::try_from(t.timestamp()).map_err(|_| ApiError::Corrupt(format!("{what} out of uint32 range")))
}

fn terms_of(rx: &PrescriptionRow, content_hash: [u8; 32]) -> Result<RxTerms, ApiError> {
    let a = |b: &[u8], what: &str| -> Result<EthAddress, ApiError> {
        EthAddress::try_from(b).map_err(|_| ApiError::Corrupt(format!("{what} is not 20 bytes")))
    };
    Ok(RxTerms {
        patient: a(&rx.patient, "patient")?,
        prescriber: a(&rx.prescriber, "prescriber")?,
        contentHash: B256::from(content_hash),
        fills: u8::try_from(rx.fills).map_err(|_| ApiError::Corrupt("fills".into()))?,
        quantityPerFill: u32::try_from(rx.quantity_per_fill)
            .map_err(|_| ApiError::Corrupt("quantity_per_fill".into()))?,
        daysSupply: u16::try_from(rx.days_supply).map_err(|_| ApiError::Corrupt("days_supply".into()))?,
        dateWritten: secs_u32(rx.date_written, "date_written")?,
        earliestFillAt: secs_u32(rx.earliest_fill_at, "earliest_fill_at")?,
        validUntil: secs_u32(rx.valid_until, "valid_until")?,
        minFillInterval: u32::try_from(rx.min_fill_interval_secs)
            .map_err(|_| ApiError::Corrupt("min_fill_interval_secs".into()))?,
        schedule: u8::try_from(rx.schedule).map_err(|_| ApiError::Corrupt("schedule".into()))?,
        pharmacy: match &rx.issued_pharmacy {
            Some(p) => a(p, "issued_pharmacy")?,
            None => EthAddress::ZERO,
        },
        nonce: U256::from_str_radix(&rx.nonce, 10).map_err(|_| ApiError::Corrupt("nonce".into()))?,
        longTermCare: rx.long_term_care,
        deadline: secs_u32(rx.deadline, "deadline")?,
    })
}

async fn verify(
    ctx: &Context<'_>,
    id: Bytes32,
    content_hash: Bytes32,
    pharmacy: Address,
    at: Option<DateTime<Utc>>,
) -> GqlResult<Verification> {
    let st = state(ctx);
    let fail = |reason, message: String| VerificationFailure { reason, message };
    let Some((row, as_of, credentials)) = verify_inputs(st, id, pharmacy).await? else {
        let as_of = as_of(ctx).await?.time;
        return Ok(Verification {
            id,
            valid: false,
            failures: vec![fail(FailureReason::UnknownPrescription, format!("no prescription has id {id}"))],
            at: at.unwrap_or(as_of),
            as_of,
            content_hash_proven: false,
            quantity_available: 0,
            prescription: None,
        });
    };
    prefill_as_of(ctx, Some(as_of));
    let at = at.unwrap_or(as_of);
    let rx = &row.rx;
    let open = OpenFill { dispensed: row.open_dispensed.unwrap_or(0), opened_at: row.open_opened_at };

    // The content hash: recompute the EIP-712 digest with the given content hash.
    let contract = row
        .contract
        .as_deref()
        .and_then(|c| <[u8; 20]>::try_from(c).ok())
        .or(st.config.prescriptions_address);
    let content = match contract {
        Some(contract) => {
            let chain = u64::try_from(st.db.chain_id())
                .map_err(|_| ApiError::Corrupt("chain id".into()).into_graphql())?;
            let terms = terms_of(rx, content_hash.0).gql()?;
            ContentCheck::Digest(prescription_id(&domain(chain, contract.into()), &terms) == id.0)
        }
        None => ContentCheck::Stored(rx.content_hash.as_slice() == content_hash.0.as_slice()),
    };
    let checks = dispense::Verify {
        pharmacy: pharmacy.0.into(),
        designated: rx
            .pharmacy
            .as_deref()
            .map(EthAddress::try_from)
            .transpose()
            .map_err(|_| ApiError::Corrupt("pharmacy is not 20 bytes".into()).into_graphql())?,
        pharmacy_credential: credentials.pharmacy.as_ref().map(|c| &c.credential),
        prescriber: addr(&rx.prescriber)?.0.into(),
        prescriber_credential: credentials.prescriber.as_ref().map(|c| &c.credential),
        prescriber_at_issue: at_issue(rx, &credentials),
        content,
    };
    let (state_at, failures) = dispense::verify(&rx.facts(), open, at, &checks);
    let proven = content == ContentCheck::Digest(true);
    let failures: Vec<VerificationFailure> = failures.into_iter().map(Into::into).collect();
    let valid = failures.is_empty();
    Ok(Verification {
        id,
        valid,
        failures,
        at,
        as_of,
        content_hash_proven: proven,
        quantity_available: if valid { state_at.quantity_available } else { 0 },
        prescription: Some(row.rx),
    })
}
