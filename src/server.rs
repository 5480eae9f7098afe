//! The HTTP server of `medledger serve` / `medledger run`: mounts the GraphQL schema of
//! [`medledger_graphql`] with axum.
//!
//! The API runs on threads of its own, one single-threaded Tokio runtime each (one per core by default):
//! each accepts connections from the same listening socket (whichever is idle takes a new connection) and
//! serves them to the end, with its own database connections, so a request and its statement are woken
//! by the thread that runs them and no work moves between threads.
//!
//! Routes: `POST /graphql` and `GET /graphql` (queries, as the GraphQL-over-HTTP specification has them: see
//! [`medledger_graphql::over_http`]; GET also serves GraphiQL to a browser and WebSocket subscriptions with
//! graphql-transport-ws / graphql-ws when the request is an upgrade), `/healthz`, `/readyz`, `/metrics`,
//! the routes of [`ServerConfig::routes`] (the web app at `/`: [`crate::web::install`]), and, when
//! [`ServerConfig::vault`] is set, the record vault's `/auth/…` and `/fhir/…` (see
//! [`medledger_vault::router`]; its own body and rate limits, not the GraphQL ones).
//! Request bodies are limited, every query has a time limit, and SIGINT/SIGTERM shut it down gracefully.

use anyhow::Context as _;
use async_graphql_axum::rejection::GraphQLRejection;
use async_graphql_axum::{GraphQLRequest, GraphQLSubscription};
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use axum::Router;
use futures::stream::{FuturesUnordered, StreamExt as _};
use medledger_graphql::over_http::{self, Media};
use medledger_graphql::{build_schemas, ApiConfig, ApiSchema, Db, VaultSession};
use medledger_vault::Vault;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use std::future::{Future, IntoFuture as _};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt as _;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::info;

/// Counter: HTTP requests by `path`, `method` and `status`.
pub const HTTP_REQUESTS: &str = "medledger_graphql_http_requests_total";
/// Histogram: seconds per HTTP request by `path` and `method`.
pub const HTTP_DURATION: &str = "medledger_graphql_http_request_duration_seconds";
/// Counter: GraphQL errors returned, by `code`.
pub const GRAPHQL_ERRORS: &str = "medledger_graphql_errors_total";

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The schema's configuration (chain, explorer, limits).
    pub api: ApiConfig,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Time limit of one HTTP request (the GraphQL query limit is `api.query_timeout`).
    pub request_timeout: Duration,
    /// `/readyz` fails when the indexer lags the chain head by more blocks than this (and, whatever the
    /// lag, while the index is stale: a refused reorg).
    pub max_ready_lag: Option<i64>,
    /// How long open connections (WebSocket subscriptions included) get to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Threads serving the API, each with its own runtime and share of the database connections (at most
    /// one per connection).
    pub threads: usize,
    /// Routes served beside the API (the web app at `/`); none by default.
    pub routes: Router,
    /// The page a browser gets at `GET /graphql` (GraphiQL); by default one that says it is not served.
    pub graphiql: fn() -> Response,
    /// The record vault, mounted beside GraphQL when set (one vault shared by every API thread, so its
    /// rate limits and consent cache are the process's).
    pub vault: Option<Arc<Vault>>,
}

impl ServerConfig {
    /// Defaults for a chain, listening on `listen`.
    pub fn new(listen: SocketAddr, chain_id: i64) -> Self {
        Self {
            listen,
            api: ApiConfig::new(chain_id),
            body_limit: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            max_ready_lag: None,
            shutdown_grace: Duration::from_secs(5),
            threads: std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            routes: Router::new(),
            graphiql: no_graphiql,
            vault: None,
        }
    }
}

#[derive(Clone)]
struct AppState {
    schema: ApiSchema,
    db: Db,
    prometheus: Option<PrometheusHandle>,
    max_ready_lag: Option<i64>,
    graphiql: fn() -> Response,
    /// The record vault, whose session the GraphQL fields over its metadata and log verify.
    vault: Option<Arc<Vault>>,
}

/// The application: GraphQL, GraphiQL, subscriptions, health and metrics. Build the schema with
/// [`medledger_graphql::build_schema`]; `prometheus` renders `/metrics` (none: `/metrics` is empty).
pub fn router(
    schema: ApiSchema,
    db: Db,
    prometheus: Option<PrometheusHandle>,
    config: &ServerConfig,
) -> Router {
    let state = AppState {
        schema,
        db,
        prometheus,
        max_ready_lag: config.max_ready_lag,
        graphiql: config.graphiql,
        vault: config.vault.clone(),
    };
    let limit = config.body_limit;
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(state)
        .merge(config.routes.clone())
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(middleware::from_fn(move |req, next| limit_body(limit, req, next)))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, config.request_timeout))
        .layer(middleware::from_fn(record_metrics))
        .layer(TraceLayer::new_for_http())
}

/// Serves the API on `config.listen` until `shutdown` completes, then gives open connections
/// `config.shutdown_grace` to finish.
pub async fn serve(
    config: ServerConfig,
    pool: PgPool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding the API server to {}", config.listen))?;
    serve_on(listener, config, pool, shutdown).await
}

/// [`serve`] on an already bound listener (tests bind 127.0.0.1:0 and read the port first).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    config: ServerConfig,
    pool: PgPool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let prometheus = prometheus_handle()?;
    describe_metrics();
    let addr = listener.local_addr().context("reading the API server's address")?;
    let listener = listener.into_std().context("taking the API server's listener")?;
    // Graceful: stop accepting and let connections finish; abort: the grace period is over.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (abort_tx, abort_rx) = tokio::sync::watch::channel(false);
    let mut threads = FuturesUnordered::new();
    // Built once: its rate limiters are shared by the threads.
    let vault = config.vault.clone().map(medledger_vault::router);
    for (i, (schema, db)) in build_schemas(&pool, &config.api, config.threads).into_iter().enumerate() {
        let mut app = router(schema, db, Some(prometheus.clone()), &config);
        if let Some(vault) = &vault {
            app = app.merge(vault.clone());
        }
        let listener = listener.try_clone().context("sharing the API server's listener")?;
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let (stop, abort) = (stop_rx.clone(), abort_rx.clone());
        std::thread::Builder::new()
            .name(format!("medledger-api-{i}"))
            .spawn(move || {
                let _ = done_tx.send(serve_thread(listener, app, stop, abort));
            })
            .context("starting an API thread")?;
        threads.push(done_rx);
    }
    // The threads hold their own handles: once they stop accepting, the socket closes.
    drop(listener);
    info!(target: "medledger::server", %addr, threads = threads.len(), vault = vault.is_some(), "GraphQL API listening (GraphiQL at /graphql)");

    tokio::spawn(async move {
        shutdown.await;
        stop_tx.send_replace(true);
    });
    let mut stopped = stop_rx.clone();
    let grace_over = async {
        let _ = stopped.wait_for(|stop| *stop).await;
        tokio::time::sleep(config.shutdown_grace).await;
    };
    let mut grace_over = std::pin::pin!(grace_over);
    let mut result = Ok(());
    while !threads.is_empty() {
        tokio::select! {
            Some(done) = threads.next() => {
                let done = done.unwrap_or_else(|_| Err(anyhow::anyhow!("an API thread panicked")));
                if let Err(e) = done {
                    // One thread failed: stop the others now and report it.
                    abort_tx.send_replace(true);
                    if result.is_ok() {
                        result = Err(e);
                    }
                }
            }
            () = &mut grace_over, if !*abort_tx.borrow() => {
                info!(target: "medledger::server", grace_secs = config.shutdown_grace.as_secs(), "connections still open after the grace period; closing them");
                abort_tx.send_replace(true);
            }
        }
    }
    info!(target: "medledger::server", "GraphQL API stopped");
    result
}

/// One API thread: serves connections accepted from `listener` on a single-threaded runtime until `stop`
/// (then lets open connections finish) or `abort` (then drops them).
fn serve_thread(
    listener: std::net::TcpListener,
    app: Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut abort: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building an API thread's runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).context("registering the API listener")?;
        // Responses go out whole in one write: no Nagle delay behind the previous one's ACK.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        // The peer address is the vault's rate-limit key (and the client, unless a trusted proxy says).
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stop| *stop).await;
        });
        tokio::select! {
            result = server.into_future() => result.context("serving the API"),
            _ = abort.wait_for(|abort| *abort) => Ok(()),
        }
    })
}

/// The process-wide Prometheus recorder (the indexer's, shared), installed once even when servers start
/// concurrently.
fn prometheus_handle() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<Result<PrometheusHandle, String>> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(medledger_indexer::metrics::install_prometheus)
        .clone()
        .map_err(|e| anyhow::anyhow!("installing the Prometheus recorder: {e}"))
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    info!(target: "medledger::server", "shutdown signal received");
}

fn describe_metrics() {
    metrics::describe_counter!(HTTP_REQUESTS, "HTTP requests by path, method and status.");
    metrics::describe_histogram!(HTTP_DURATION, metrics::Unit::Seconds, "HTTP request latency by path.");
    metrics::describe_counter!(GRAPHQL_ERRORS, "GraphQL errors returned by code.");
}

fn error_body(status: StatusCode, media: Media, code: &str, message: &str) -> Response {
    metrics::counter!(GRAPHQL_ERRORS, "code" => code.to_owned()).increment(1);
    (status, [(header::CONTENT_TYPE, media.content_type())], over_http::error_body(code, message))
        .into_response()
}

/// The media type a request's `Accept` header asks for (see [`over_http::negotiate`]).
fn media_of(headers: &HeaderMap) -> Option<Media> {
    over_http::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()))
}

fn not_acceptable() -> Response {
    let message = "acceptable media types: application/graphql-response+json, application/json";
    error_body(StatusCode::NOT_ACCEPTABLE, Media::Json, "BAD_INPUT", message)
}

/// Executes `request` and answers in `media`, with the status code its media type prescribes. With the
/// vault mounted, the request carries the vault's session token (`patient { documents accessLog }` verify
/// it), and a response to a request with one is never cached.
async fn execute(
    app: &AppState,
    mut request: async_graphql::Request,
    media: Media,
    headers: &HeaderMap,
) -> Response {
    let mut private = false;
    if let Some(vault) = &app.vault {
        let session = VaultSession::new(vault.clone(), medledger_vault::auth::Auth::token(headers));
        private = session.has_token();
        request = request.data(session);
    }
    let response = app.schema.execute(request).await;
    for error in &response.errors {
        let code = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .map_or_else(|| "UNKNOWN".to_owned(), |v| v.to_string().trim_matches('"').to_owned());
        metrics::counter!(GRAPHQL_ERRORS, "code" => code).increment(1);
    }
    let (status, body) = over_http::encode(response, media);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = (status, [(header::CONTENT_TYPE, media.content_type())], body).into_response();
    if private {
        response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    }
    response
}

async fn graphql_post(
    State(app): State<AppState>,
    headers: HeaderMap,
    request: Result<GraphQLRequest, GraphQLRejection>,
) -> Response {
    let Some(media) = media_of(&headers) else { return not_acceptable() };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if let Err(message) = over_http::check_request_media(content_type) {
        return error_body(StatusCode::UNSUPPORTED_MEDIA_TYPE, media, "BAD_INPUT", &message);
    }
    let too_large = |media| {
        error_body(StatusCode::PAYLOAD_TOO_LARGE, media, "LIMIT_EXCEEDED", "the request body is too large")
    };
    let request = match request {
        Ok(r) => r.into_inner(),
        Err(GraphQLRejection(async_graphql::ParseRequestError::PayloadTooLarge)) => return too_large(media),
        Err(GraphQLRejection(e)) => {
            let text = e.to_string();
            if text.contains("length limit") {
                return too_large(media);
            }
            let message = format!("malformed GraphQL request: {text}");
            return error_body(StatusCode::BAD_REQUEST, media, "BAD_INPUT", &message);
        }
    };
    if request.query.is_empty() {
        let message = "a GraphQL request needs a `query` (the document, as a string)";
        return error_body(StatusCode::BAD_REQUEST, media, "BAD_INPUT", message);
    }
    execute(&app, request, media, &headers).await
}

/// `GET /graphql`: a WebSocket upgrade (subscriptions), GraphiQL for a browser, or a query from the URL's
/// parameters (a mutation is refused with 405: GET is safe).
async fn graphql_get(State(app): State<AppState>, request: Request) -> Response {
    let upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if upgrade {
        return match GraphQLSubscription::new(app.schema).oneshot(request).await {
            Ok(r) => r.into_response(),
            Err(never) => match never {},
        };
    }
    let query = request.uri().query();
    let accept = request.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok());
    if over_http::wants_graphiql(accept, over_http::has_query_param(query)) {
        return (app.graphiql)();
    }
    let Some(media) = media_of(request.headers()) else { return not_acceptable() };
    let graphql = match over_http::parse_get(query) {
        Ok(r) => r,
        Err(message) => return error_body(StatusCode::BAD_REQUEST, media, "BAD_INPUT", &message),
    };
    if over_http::is_mutation(&graphql) {
        let mut response =
            error_body(StatusCode::METHOD_NOT_ALLOWED, media, "BAD_INPUT", "a mutation needs a POST request");
        response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return response;
    }
    execute(&app, graphql, media, request.headers()).await
}

fn no_graphiql() -> Response {
    Html("<!doctype html><title>GraphiQL</title><p>GraphiQL is not served here: POST GraphQL queries to this URL.</p>")
        .into_response()
}

async fn readyz(State(app): State<AppState>) -> Response {
    let check = sqlx::query_as::<_, (Option<i64>, Option<String>)>(
        "SELECT (SELECT greatest(head_number - block_number, 0) FROM checkpoints WHERE chain_id = $1), \
         (SELECT stale_reason FROM checkpoints WHERE chain_id = $1)",
    )
    .bind(app.db.chain_id())
    .fetch_one(app.db.pool());
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        // A refused reorg: the rows describe a branch the node abandoned, however small the lag.
        Ok(Ok((_, Some(reason)))) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("stale: {reason}\n")).into_response()
        }
        Ok(Ok((Some(lag), None))) if app.max_ready_lag.is_none_or(|max| lag <= max) => {
            (StatusCode::OK, format!("ok lag={lag}\n")).into_response()
        }
        Ok(Ok((Some(lag), None))) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("lagging lag={lag}\n")).into_response()
        }
        Ok(Ok((None, None))) => (StatusCode::SERVICE_UNAVAILABLE, "no checkpoint yet\n").into_response(),
        Ok(Err(e)) => {
            tracing::warn!(target: "medledger::server", error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database timed out\n").into_response(),
    }
}

async fn metrics_text(State(app): State<AppState>) -> Response {
    let body = app.prometheus.as_ref().map(PrometheusHandle::render).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// The largest refused body [`limit_body`] reads (and discards) before answering, and how long it reads.
const DRAIN_MAX: usize = 8 * 1024 * 1024;
/// See [`DRAIN_MAX`].
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Rejects a declared body over the limit without passing it on, with a GraphQL-shaped error.
///
/// The refused body is still read and discarded first (up to [`DRAIN_MAX`] bytes, within [`DRAIN_TIME`]):
/// a server that answers and closes the connection while request bytes are unread makes the kernel reset
/// it, and a client still writing its body then gets "connection reset" instead of the 413 (the reset can
/// reach it before it reads the answer; hyper itself only discards what it has already buffered). A client
/// that sent `Expect: 100-continue` is answered at once: it has sent no body. Only a body larger than
/// [`DRAIN_MAX`] (or slower than [`DRAIN_TIME`]) may still end in a reset.
async fn limit_body(limit: usize, request: Request, next: Next) -> Response {
    let Some(declared) = declared_length(request.headers()).filter(|n| *n > limit) else {
        return next.run(request).await;
    };
    let media = media_of(request.headers()).unwrap_or(Media::Json);
    let expects_continue = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if !expects_continue && declared <= DRAIN_MAX {
        let mut body = request.into_body().into_data_stream();
        let drained =
            tokio::time::timeout(DRAIN_TIME, async { while let Some(Ok(_)) = body.next().await {} }).await;
        if drained.is_err() {
            tracing::debug!(target: "medledger::server", declared, "refused body not read in time");
        }
    }
    error_body(StatusCode::PAYLOAD_TOO_LARGE, media, "LIMIT_EXCEEDED", "the request body is too large")
}

fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

async fn record_metrics(request: Request<Body>, next: Next) -> Response {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "path" => path.clone(), "method" => method.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "path" => path, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}
