//! The request guard: a time limit per query, one snapshot per query (see [`crate::snapshot`]), a
//! machine-readable `extensions.code` on every error, and a cache of parsed documents (clients send the
//! same few query texts over and over).

use crate::error::ErrorCode;
use crate::schema::State;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest, NextSubscribe,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Data, Request, Response, ServerError, ServerResult, Value, Variables};
use futures::stream::{BoxStream, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Query texts longer than this are parsed every time (hot queries are short).
const CACHED_QUERY_MAX_LEN: usize = 4 * 1024;
/// Most documents kept; when full the cache starts over, so its memory stays bounded
/// (≤ `PARSE_CACHE_ENTRIES × CACHED_QUERY_MAX_LEN` of text plus the documents).
const PARSE_CACHE_ENTRIES: usize = 256;

/// Parsed documents by query text. Only documents that parsed and passed the depth and directive checks are
/// kept; validation (which depends on the variables) still runs on every request.
#[derive(Default)]
pub(crate) struct ParseCache(Mutex<HashMap<Arc<str>, Arc<ExecutableDocument>>>);

impl ParseCache {
    fn get(&self, query: &str) -> Option<Arc<ExecutableDocument>> {
        self.0.lock().ok()?.get(query).cloned()
    }

    fn insert(&self, query: &str, document: &Arc<ExecutableDocument>) {
        if query.len() > CACHED_QUERY_MAX_LEN {
            return;
        }
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= PARSE_CACHE_ENTRIES {
                map.clear();
            }
            map.insert(query.into(), Arc::clone(document));
        }
    }
}

/// Installs [`GuardExtension`].
pub(crate) struct Guard {
    pub(crate) timeout: Duration,
    pub(crate) parsed: Arc<ParseCache>,
}

impl ExtensionFactory for Guard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GuardExtension {
            timeout: self.timeout,
            parsed: self.parsed.clone(),
            executed: AtomicBool::new(false),
            document: Mutex::new(None),
        })
    }
}

/// Enforces the time limit, classifies errors that carry no code yet, reuses parsed documents, and marks
/// a request that failed before execution (see [`crate::over_http::encode`]). One per request.
struct GuardExtension {
    timeout: Duration,
    parsed: Arc<ParseCache>,
    /// Whether the operation began executing (else its errors are request errors: no `data` entry).
    executed: AtomicBool,
    /// The request's document and the operation executed, to order the response as the query orders it.
    document: Mutex<Option<Arc<ExecutableDocument>>>,
}

fn with_code(mut error: ServerError, code: ErrorCode) -> ServerError {
    error.extensions.get_or_insert_with(Default::default).set("code", code.as_str());
    error
}

/// Whether an error without a code is an argument's or a variable's value failing to coerce to its input
/// type (async-graphql coerces a custom scalar's value, e.g. an `Address` variable given `7`, only when the
/// field runs: in GraphQL terms that is variable coercion or validation, before execution).
fn is_coercion(error: &ServerError) -> bool {
    let has_code = error.extensions.as_ref().is_some_and(|e| e.get("code").is_some());
    let m = error.message.as_str();
    !has_code
        && (m.starts_with("Failed to parse \"")
            || m.starts_with("Expected input type \"")
            || m.starts_with("Invalid value for argument"))
}

/// Gives every error a code: parse, validation and input-coercion errors are `BAD_INPUT` (limits:
/// `LIMIT_EXCEEDED`); a resolver error without a code is `INTERNAL` and its message is hidden.
fn classify(error: ServerError) -> ServerError {
    let has_code = error.extensions.as_ref().is_some_and(|e| e.get("code").is_some());
    if has_code {
        return error;
    }
    let lower = error.message.to_lowercase();
    if lower.contains("too deep") || lower.contains("too complex") || lower.contains("recursion") {
        return with_code(error, ErrorCode::LimitExceeded);
    }
    let input_error = error.path.is_empty()
        || lower.starts_with("failed to parse")
        || lower.starts_with("invalid value")
        || lower.contains("internal: not an object");
    if input_error {
        return with_code(error, ErrorCode::BadInput);
    }
    tracing::error!(target: "medledger::graphql", error = %error.message, "uncoded resolver error");
    let mut hidden = ServerError::new("internal error", error.locations.first().copied());
    hidden.path = error.path;
    with_code(hidden, ErrorCode::Internal)
}

fn classify_response(mut response: Response) -> Response {
    response.errors = response.errors.into_iter().map(classify).collect();
    response
}

#[async_graphql::async_trait::async_trait]
impl Extension for GuardExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        // One `asOf` per request, read at most once: every status in a response uses the same time.
        next.run(ctx, crate::as_of::install(request)).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = match self.parsed.get(query) {
            Some(document) => document,
            None => {
                let document = Arc::new(next.run(ctx, query, variables).await?);
                self.parsed.insert(query, &document);
                document
            }
        };
        if let Ok(mut slot) = self.document.lock() {
            *slot = Some(Arc::clone(&document));
        }
        Ok(ExecutableDocument::clone(&document))
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        match tokio::time::timeout(self.timeout, next.run(ctx)).await {
            Ok(mut response) => {
                let before_execution = !self.executed.load(Ordering::Relaxed) && response.is_err();
                // A value that failed to coerce makes the whole request invalid (GraphQL-over-HTTP: a
                // request error, 400 without `data` in application/graphql-response+json), whatever
                // else ran: only the coercion errors are kept.
                let coercion = response.errors.iter().any(is_coercion);
                if coercion {
                    response.errors.retain(is_coercion);
                    response.data = Value::Null;
                }
                if before_execution || coercion {
                    response
                        .extensions
                        .insert(crate::over_http::REQUEST_ERROR.to_owned(), Value::Boolean(true));
                }
                classify_response(response)
            }
            Err(_) => {
                let ms = self.timeout.as_millis();
                tracing::warn!(target: "medledger::graphql", timeout_ms = ms as u64, "query timed out");
                let error = ServerError::new(format!("the query exceeded the time limit of {ms} ms"), None);
                let mut response = Response::from_errors(vec![with_code(error, ErrorCode::LimitExceeded)]);
                response.data = Value::Null;
                response
            }
        }
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        self.executed.store(true, Ordering::Relaxed);
        // Every statement of the operation reads one snapshot (see `crate::snapshot`).
        let scope = ctx.data_opt::<State>().map(State::for_request);
        let mut response = match scope {
            Some((state, snapshot)) => {
                let mut data = Data::default();
                let chain_id = state.db.chain_id();
                data.insert(state);
                let mut response = next.run_with_data(ctx, operation_name, data).await;
                if let Some(stale) = snapshot.end(chain_id).await {
                    crate::snapshot::warn_stale(&mut response, stale);
                }
                response
            }
            None => next.run(ctx, operation_name).await,
        };
        let document = self.document.lock().ok().and_then(|mut slot| slot.take());
        if let Some(document) = document {
            crate::order::order(&mut response.data, &document, operation_name);
        }
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream).map(classify_response).boxed()
    }
}
