//! Relay-style keyset pagination shared by every list: opaque cursors over a (block, tie-break) key,
//! `first`/`after`, `last`/`before`, a maximum page size and a lazily counted `totalCount`.

use crate::db::Db;
use crate::error::{ApiError, GqlResult, ResultExt};
use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Object, OutputType};
use sqlx::postgres::PgRow;
use sqlx::{FromRow, Postgres, QueryBuilder};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The page arguments of a connection field.
#[derive(Debug, Clone, Default)]
pub(crate) struct PageArgs {
    pub(crate) first: Option<i32>,
    pub(crate) after: Option<String>,
    pub(crate) last: Option<i32>,
    pub(crate) before: Option<String>,
}

/// The tie-break part of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tie {
    /// A log index, record index or id.
    Int(i64),
    /// A byte key (rx id, grantee).
    Bytes(Vec<u8>),
}

/// A row's position in its list: (block, tie-break).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) block: i64,
    pub(crate) tie: Tie,
}

impl Key {
    pub(crate) const fn int(block: i64, tie: i64) -> Self {
        Self { block, tie: Tie::Int(tie) }
    }

    pub(crate) const fn bytes(block: i64, tie: Vec<u8>) -> Self {
        Self { block, tie: Tie::Bytes(tie) }
    }

    fn encode(&self, tag: &str) -> String {
        let tie = match &self.tie {
            Tie::Int(i) => format!("i{i}"),
            Tie::Bytes(b) => format!("b{}", hex::encode(b)),
        };
        hex::encode(format!("{tag}:{}:{tie}", self.block))
    }

    fn decode(cursor: &str, spec: &ListSpec) -> Result<Self, ApiError> {
        let bad = || ApiError::BadInput(format!("malformed cursor {cursor:?}: pass a cursor of this list"));
        let raw = hex::decode(cursor).map_err(|_| bad())?;
        let text = String::from_utf8(raw).map_err(|_| bad())?;
        let mut parts = text.splitn(3, ':');
        let (tag, block, tie) = (parts.next(), parts.next(), parts.next());
        if tag != Some(spec.tag) {
            return Err(bad());
        }
        let block: i64 = block.and_then(|b| b.parse().ok()).ok_or_else(bad)?;
        let tie = match (tie, spec.int_tie) {
            (Some(t), true) => Tie::Int(t.strip_prefix('i').and_then(|t| t.parse().ok()).ok_or_else(bad)?),
            (Some(t), false) => {
                Tie::Bytes(t.strip_prefix('b').and_then(|t| hex::decode(t).ok()).ok_or_else(bad)?)
            }
            (None, _) => return Err(bad()),
        };
        Ok(Self { block, tie })
    }

    fn push(&self, qb: &mut QueryBuilder<'static, Postgres>) {
        qb.push("(").push_bind(self.block).push(", ");
        match &self.tie {
            Tie::Int(i) => qb.push_bind(*i),
            Tie::Bytes(b) => qb.push_bind(b.clone()),
        };
        qb.push(")");
    }
}

/// How to list one kind of row.
#[derive(Debug)]
pub(crate) struct ListSpec {
    /// Cursor tag: cursors of one list are rejected by another.
    pub(crate) tag: &'static str,
    /// `SELECT … FROM table WHERE ` (the chain condition and filters follow).
    pub(crate) select: &'static str,
    /// `FROM table WHERE ` for the count.
    pub(crate) from: &'static str,
    /// The two key columns: block and tie-break.
    pub(crate) key: [&'static str; 2],
    /// Whether the tie-break is an integer (else bytes).
    pub(crate) int_tie: bool,
}

/// Pushes a list's filter conditions, each starting with ` AND `.
pub(crate) type WhereFn = Arc<dyn Fn(&mut QueryBuilder<'static, Postgres>) + Send + Sync>;

/// A connection of any node type, with `totalCount`.
pub(crate) type Conn<N> = Connection<String, N, TotalCount, EmptyFields>;

/// The `totalCount` field of every connection, counted only when asked for.
pub(crate) struct TotalCount {
    db: Db,
    spec: &'static ListSpec,
    filter: WhereFn,
}

#[Object]
impl TotalCount {
    /// The number of items matching the filter, over all pages (one `count(*)`; ask only when needed).
    async fn total_count(&self) -> GqlResult<i64> {
        let mut qb = Db::sql("SELECT count(*) ");
        qb.push(self.spec.from).push("chain_id = ").push_bind(self.db.chain_id());
        (self.filter)(&mut qb);
        self.db.scalar::<i64>(qb).await.gql()
    }
}

/// The largest `max_page_size` of the schemas built in this process: a list's complexity counts at most
/// that many items, so a larger `first`/`last` reaches the resolver and gets the page-size message rather
/// than the generic complexity one.
static MAX_PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// Records a schema's maximum page size (see [`complexity`]).
pub(crate) fn note_max_page_size(max: usize) {
    MAX_PAGE_SIZE.fetch_max(max, Ordering::Relaxed);
}

/// The complexity of a list field: its page size (default 20, at least 1, at most the maximum page size)
/// times its items' complexity.
pub(crate) fn complexity(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let max = MAX_PAGE_SIZE.load(Ordering::Relaxed).max(1);
    let size = usize::try_from(first.or(last).unwrap_or(20)).unwrap_or(1).clamp(1, max);
    size.saturating_mul(child_complexity)
}

fn page_size(value: Option<i32>, name: &str, max: usize) -> Result<Option<usize>, ApiError> {
    match value {
        None => Ok(None),
        Some(n) if n < 0 => Err(ApiError::BadInput(format!("`{name}` must not be negative"))),
        Some(n) if n as usize > max => {
            Err(ApiError::LimitExceeded(format!("`{name}` is {n}; the maximum page size is {max}")))
        }
        Some(n) => Ok(Some(n as usize)),
    }
}

/// Fetches one page of a list: `map` turns a row into its key and node.
pub(crate) async fn paginate<R, N>(
    db: &Db,
    (default_size, max_size): (usize, usize),
    spec: &'static ListSpec,
    args: PageArgs,
    filter: WhereFn,
    map: impl Fn(R) -> Result<(Key, N), ApiError>,
) -> Result<Conn<N>, ApiError>
where
    R: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    N: OutputType,
{
    let first = page_size(args.first, "first", max_size)?;
    let last = page_size(args.last, "last", max_size)?;
    if first.is_some() && last.is_some() {
        return Err(ApiError::BadInput("pass either `first` or `last`, not both".into()));
    }
    let after = args.after.as_deref().map(|c| Key::decode(c, spec)).transpose()?;
    let before = args.before.as_deref().map(|c| Key::decode(c, spec)).transpose()?;
    let backward = last.is_some() || (first.is_none() && before.is_some() && after.is_none());
    let size = first.or(last).unwrap_or(default_size);

    let [k1, k2] = spec.key;
    let mut qb = Db::sql(spec.select);
    qb.push("chain_id = ").push_bind(db.chain_id());
    filter(&mut qb);
    if let Some(after) = &after {
        qb.push(format_args!(" AND ({k1}, {k2}) > "));
        after.push(&mut qb);
    }
    if let Some(before) = &before {
        qb.push(format_args!(" AND ({k1}, {k2}) < "));
        before.push(&mut qb);
    }
    let dir = if backward { "DESC" } else { "ASC" };
    qb.push(format_args!(" ORDER BY {k1} {dir}, {k2} {dir} LIMIT ")).push_bind(size as i64 + 1);

    let mut rows: Vec<R> = if size == 0 { Vec::new() } else { db.all(qb).await? };
    let more = rows.len() > size;
    rows.truncate(size);
    if backward {
        rows.reverse();
    }
    let (has_previous, has_next) = if backward { (more, before.is_some()) } else { (after.is_some(), more) };
    let mut conn = Connection::with_additional_fields(
        has_previous,
        has_next,
        TotalCount { db: db.clone(), spec, filter },
    );
    for row in rows {
        let (key, node) = map(row)?;
        conn.edges.push(Edge::new(key.encode(spec.tag), node));
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    static SPEC: ListSpec =
        ListSpec { tag: "t", select: "", from: "", key: ["block_number", "log_index"], int_tie: true };
    static BYTES: ListSpec = ListSpec { tag: "u", select: "", from: "", key: ["a", "b"], int_tie: false };

    #[test]
    fn cursor_round_trip_and_tag_check() {
        let k = Key::int(42, 7);
        assert_eq!(Key::decode(&k.encode("t"), &SPEC).unwrap(), k);
        assert!(Key::decode(&k.encode("u"), &SPEC).is_err());
        let b = Key::bytes(1, vec![0xab, 0xcd]);
        assert_eq!(Key::decode(&b.encode("u"), &BYTES).unwrap(), b);
        assert!(Key::decode("zz", &SPEC).is_err());
        assert!(Key::decode(&hex::encode("t:x:i1"), &SPEC).is_err());
    }

    #[test]
    fn page_sizes() {
        assert!(matches!(page_size(Some(101), "first", 100), Err(ApiError::LimitExceeded(_))));
        assert!(matches!(page_size(Some(-1), "first", 100), Err(ApiError::BadInput(_))));
        assert_eq!(page_size(Some(100), "first", 100).unwrap(), Some(100));
    }
}
