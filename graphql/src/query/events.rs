//! The auditor's trail: events by account, contract, prescription, episode, transaction, block or time.

use super::lists::sizes;
use crate::error::{GqlResult, ResultExt};
use crate::model::{EventFilter, EventRow, EVENT_COLUMNS};
use crate::page::{paginate, Conn, Key, ListSpec, PageArgs};
use crate::schema::state;
use async_graphql::Context;

static EVENTS: ListSpec = ListSpec {
    tag: "ev",
    select: EVENT_COLUMNS,
    from: "FROM events WHERE ",
    key: ["block_number", "log_index"],
    int_tie: true,
};
/// One page of the events matching `filter`.
pub(super) async fn page(
    ctx: &Context<'_>,
    filter: EventFilter,
    args: PageArgs,
) -> GqlResult<Conn<EventRow>> {
    filter.validate().gql()?;
    paginate(&state(ctx).db, sizes(ctx), &EVENTS, args, filter.into_where(), |r: EventRow| {
        Ok((Key::int(r.block_number, r.log_index.into()), r))
    })
    .await
    .gql()
}
