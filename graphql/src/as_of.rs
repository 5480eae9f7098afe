//! The request's `asOf`: the time every time-dependent status in one response is computed against, read at
//! most once per request (or taken from a statement that read it along with other columns).

use crate::error::{coded, ErrorCode, GqlResult};
use crate::loaders::AsOfKey;
use crate::model::AsOf;
use crate::schema::state;
use async_graphql::{Context, Request};
use chrono::{DateTime, Utc};

/// The request's `asOf`, set at most once.
#[derive(Default)]
struct AsOfCell(tokio::sync::OnceCell<AsOf>);

/// Gives `request` its own empty cell (the guard extension does it for every request).
pub(crate) fn install(request: Request) -> Request {
    request.data(AsOfCell::default())
}

/// Records the request's `asOf` when a query read it along with other columns (saves a statement).
pub(crate) fn prefill(ctx: &Context<'_>, time: Option<DateTime<Utc>>) {
    if let (Some(cell), Some(time)) = (ctx.data_opt::<AsOfCell>(), time) {
        let _ = cell.0.set(AsOf { time });
    }
}

/// The time time-dependent statuses are computed against: read once per request (one statement).
pub(crate) async fn as_of(ctx: &Context<'_>) -> GqlResult<AsOf> {
    let load = || async {
        state(ctx)
            .loader
            .load_one(AsOfKey)
            .await
            .map_err(|e| e.clone_gql())?
            .ok_or_else(|| coded(ErrorCode::Internal, "internal error"))
    };
    match ctx.data_opt::<AsOfCell>() {
        Some(cell) => cell.0.get_or_try_init(load).await.copied(),
        None => load().await,
    }
}
