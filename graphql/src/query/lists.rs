//! What the role views share: the lists' specifications, page arguments, and the prescription and consent
//! lists of an owner.

use crate::as_of::as_of;
use crate::error::{ApiError, GqlResult, ResultExt};
use crate::model::{
    ConsentFilter, ConsentRow, DispenseRow, PrescriptionFilter, PrescriptionRow, CONSENT_COLUMNS,
    DISPENSE_COLUMNS, PRESCRIPTION_COLUMNS,
};
use crate::page::{paginate, Conn, Key, ListSpec, PageArgs, WhereFn};
use crate::scalars::Address;
use crate::schema::state;
use async_graphql::Context;
use sqlx::{Postgres, QueryBuilder};
use std::sync::Arc;

pub(super) static PRESCRIPTIONS: ListSpec = ListSpec {
    tag: "rx",
    select: PRESCRIPTION_COLUMNS,
    from: "FROM prescriptions WHERE ",
    key: ["issued_block", "rx_id"],
    int_tie: false,
};
pub(super) static DISPENSES: ListSpec = ListSpec {
    tag: "dp",
    select: DISPENSE_COLUMNS,
    from: "FROM dispenses WHERE ",
    key: ["block_number", "log_index"],
    int_tie: true,
};
pub(super) static CONSENTS_BY_GRANTEE: ListSpec = ListSpec {
    tag: "cg",
    select: CONSENT_COLUMNS,
    from: "FROM consents WHERE ",
    key: ["updated_block", "grantee"],
    int_tie: false,
};
pub(super) static CONSENTS_BY_PATIENT: ListSpec = ListSpec {
    tag: "cp",
    select: CONSENT_COLUMNS,
    from: "FROM consents WHERE ",
    key: ["updated_block", "patient"],
    int_tie: false,
};

pub(super) fn sizes(ctx: &Context<'_>) -> (usize, usize) {
    let c = &state(ctx).config;
    (c.default_page_size, c.max_page_size)
}

pub(super) fn page(
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> PageArgs {
    PageArgs { first, after, last, before }
}

pub(super) fn where_fn(f: impl Fn(&mut QueryBuilder<'static, Postgres>) + Send + Sync + 'static) -> WhereFn {
    Arc::new(f)
}

pub(super) async fn prescriptions(
    ctx: &Context<'_>,
    column: &'static str,
    who: Address,
    filter: PrescriptionFilter,
    args: PageArgs,
) -> GqlResult<Conn<PrescriptionRow>> {
    let t = as_of(ctx).await?.time;
    let filter = where_fn(move |qb| {
        qb.push(format_args!(" AND {column} = ")).push_bind(who);
        filter.push(qb, t);
    });
    paginate(&state(ctx).db, sizes(ctx), &PRESCRIPTIONS, args, filter, |r: PrescriptionRow| {
        Ok((Key::bytes(r.issued_block, r.rx_id.0.to_vec()), r))
    })
    .await
    .gql()
}

pub(super) async fn consents(
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
        qb.push(format_args!(" AND {column} = ")).push_bind(who);
        filter.push(qb, t, soon);
    });
    let spec = if by_grantee { &CONSENTS_BY_GRANTEE } else { &CONSENTS_BY_PATIENT };
    paginate(&state(ctx).db, sizes(ctx), spec, args, filter, move |r: ConsentRow| {
        let tie = if by_grantee { r.grantee.0.to_vec() } else { r.patient.0.to_vec() };
        Ok((Key::bytes(r.updated_block, tie), r))
    })
    .await
    .gql()
}

pub(super) fn dispense_key(r: DispenseRow) -> Result<(Key, DispenseRow), ApiError> {
    Ok((Key::int(r.block_number, r.log_index.into()), r))
}
