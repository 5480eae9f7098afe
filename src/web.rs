//! The web app and GraphiQL, embedded in the binary and served at `/` beside the GraphQL API.
//!
//! `npm run build` in `web/` writes `web/dist/` (hashed assets under `assets/`, `index.html`,
//! `graphiql.html`, `web-build.json`); `build.rs` embeds it when it has an `index.html`, else the committed
//! placeholder page of `web/placeholder/` (with `include_dir`, in every profile), so `cargo build` works
//! without Node. `/web-build.json` tells which was embedded (`"placeholder": true` for the placeholder).
//!
//! Routes: `GET /config.json` (the chain, its RPC URL for wallets, the explorer, the contracts and the vault's
//! upload limit: what the app needs to build transactions and to refuse a file before reading it), the embedded files, and for any other path without a file extension
//! the app's `index.html` (its router reads the path). Hashed assets are cached for a year, everything else
//! is revalidated; HTML pages carry a Content-Security-Policy that admits no other host.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use include_dir::{include_dir, Dir, DirEntry};
use medledger_core::{Contracts, Manifest};
use std::collections::HashMap;
use std::hash::{Hash as _, Hasher as _};
use std::sync::OnceLock;

/// `web/dist` or `web/placeholder`, as `build.rs` chose.
static ASSETS: Dir<'static> = include_dir!("$MEDLEDGER_WEB_DIR");

/// An embedded file's contents by its path (`assets/app-….js`).
fn asset(path: &str) -> Option<&'static [u8]> {
    ASSETS.get_file(path).map(include_dir::File::contents)
}

/// Every embedded file's path.
fn asset_paths() -> Vec<&'static str> {
    fn walk(dir: &'static Dir<'static>, out: &mut Vec<&'static str>) {
        for entry in dir.entries() {
            match entry {
                DirEntry::Dir(d) => walk(d, out),
                DirEntry::File(f) => out.extend(f.path().to_str()),
            }
        }
    }
    let mut out = Vec::new();
    walk(&ASSETS, &mut out);
    out
}

/// The ETag of an embedded file: a hash of its contents, computed once per file.
fn etag(path: &'static str, contents: &'static [u8]) -> String {
    static TAGS: OnceLock<std::sync::Mutex<HashMap<&'static str, String>>> = OnceLock::new();
    let tags = TAGS.get_or_init(Default::default);
    let mut tags = tags.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    tags.entry(path)
        .or_insert_with(|| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            contents.hash(&mut h);
            format!("\"{:016x}-{:x}\"", h.finish(), contents.len())
        })
        .clone()
}

/// The policy of every HTML page: scripts, styles, images and connections (the GraphQL API, its
/// WebSocket) from this origin only, no plugins, no framing, no inline script.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; manifest-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// What the web app is told about the chain (`GET /config.json`).
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// The chain the contracts are on.
    pub chain_id: u64,
    /// The contracts' addresses (none: the app cannot send transactions).
    pub contracts: Option<Contracts>,
    /// The block of the first deployment.
    pub deploy_block: u64,
    /// A JSON-RPC URL wallets may add for the chain (`wallet_addEthereumChain`); the app itself sends
    /// nothing there.
    pub rpc_url: Option<String>,
    /// Block explorer base URL: transactions link to `{explorer}/tx/{hash}`.
    pub explorer_url: Option<String>,
    /// The record vault's upload limit in bytes (none: no vault is mounted).
    pub vault_max_upload: Option<u64>,
}

impl WebConfig {
    /// The chain and contracts of a deployment manifest.
    pub fn from_manifest(manifest: &Manifest) -> Self {
        Self {
            chain_id: manifest.chain_id,
            contracts: Some(manifest.contracts),
            deploy_block: manifest.deploy_block,
            rpc_url: None,
            explorer_url: None,
            vault_max_upload: None,
        }
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "chainId": self.chain_id,
            "deployBlock": self.deploy_block,
            "rpcUrl": self.rpc_url,
            "explorerUrl": self.explorer_url.as_deref().map(|u| u.trim_end_matches('/')),
            "vault": self.vault_max_upload.map(|max| serde_json::json!({ "maxUpload": max })),
            "contracts": self.contracts.map(|c| serde_json::json!({
                "CredentialRegistry": c.credential_registry,
                "ConsentRegistry": c.consent_registry,
                "RecordAnchors": c.record_anchors,
                "Prescriptions": c.prescriptions,
            })),
        })
    }
}

/// Serves the web app beside the API: its routes and the embedded GraphiQL.
pub fn install(server: &mut crate::server::ServerConfig, config: &WebConfig) {
    server.routes = router(config);
    server.graphiql = graphiql_page;
}

/// Mounts `vault` (or none) beside the API and tells the web app its upload limit.
pub fn install_vault(
    server: &mut crate::server::ServerConfig,
    config: &WebConfig,
    vault: Option<std::sync::Arc<medledger_vault::Vault>>,
) {
    let config =
        WebConfig { vault_max_upload: vault.as_ref().map(|v| v.config().max_upload), ..config.clone() };
    install(server, &config);
    server.vault = vault;
}

/// The web app's routes: `/config.json` and the embedded files (with the app's page as the fallback).
pub fn router(config: &WebConfig) -> Router {
    let body = config.to_json().to_string();
    Router::new()
        .route(
            "/config.json",
            get(move || async move {
                ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-cache")], body)
            }),
        )
        .fallback(fallback)
}

/// GraphiQL's page (`GET /graphql` from a browser), served from the embedded build; the placeholder
/// build has none and says so.
pub fn graphiql_page() -> Response {
    match asset("graphiql.html") {
        Some(page) => html(page),
        None => html(
            b"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>GraphiQL</title>\
              </head><body><p>GraphiQL is part of the web build: run \
              <code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>, then \
              <code>cargo build</code>. POST GraphQL queries to this URL.</p></body></html>",
        ),
    }
}

/// Whether the embedded assets are the real web build (not the placeholder page).
pub fn real_build_embedded() -> bool {
    asset_paths().iter().any(|p| p.starts_with("assets/"))
}

fn html(data: &'static [u8]) -> Response {
    let mut response = (StatusCode::OK, Body::from(data)).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        Some("webmanifest") => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

async fn fallback(request: Request) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET, HEAD")], "").into_response();
    }
    let path = request.uri().path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let Some((path, file)) = ASSETS.get_file(path).and_then(|f| Some((f.path().to_str()?, f.contents())))
    else {
        // A route of the app (no extension): its page; a missing file: 404.
        let last = path.rsplit('/').next().unwrap_or_default();
        if !last.contains('.') {
            if let Some(index) = asset("index.html") {
                return html(index);
            }
        }
        return (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "not found\n")
            .into_response();
    };
    let etag = etag(path, file);
    let matches = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if path.ends_with(".html") {
        html(file)
    } else {
        let mut r = Body::from(file).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
        r.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        // Files under assets/ are named by their content's hash: they never change.
        let cache =
            if path.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
        r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        r
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    if matches {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        *response.body_mut() = Body::empty();
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tower::ServiceExt as _;

    async fn get(app: &Router, path: &str) -> Response {
        app.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap()
    }

    async fn text(r: Response) -> String {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 24).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn app() -> Router {
        let config = WebConfig {
            chain_id: 31337,
            rpc_url: Some("http://127.0.0.1:8545".into()),
            explorer_url: Some("https://explorer.example/".into()),
            ..WebConfig::default()
        };
        router(&config)
    }

    #[tokio::test]
    async fn config_json_tells_the_chain() {
        let r = get(&app(), "/config.json").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let v: serde_json::Value = serde_json::from_str(&text(r).await).unwrap();
        assert_eq!(v["chainId"], 31337);
        assert_eq!(v["rpcUrl"], "http://127.0.0.1:8545");
        assert_eq!(v["explorerUrl"], "https://explorer.example");
        assert!(v["contracts"].is_null());
        assert!(v["vault"].is_null(), "no vault, no limit");
        let with_vault = WebConfig { vault_max_upload: Some(1024), ..WebConfig::default() };
        let v: serde_json::Value =
            serde_json::from_str(&text(get(&router(&with_vault), "/config.json").await).await).unwrap();
        assert_eq!(v["vault"]["maxUpload"], 1024);
    }

    #[tokio::test]
    async fn pages_carry_a_strict_policy_and_routes_fall_back_to_the_app() {
        let app = app();
        for path in ["/", "/patient", "/registrar/0xabc"] {
            let r = get(&app, path).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(r.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
            let csp = r.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
            assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self';"), "{csp}");
            assert!(!csp.contains("http") && !csp.contains('*'), "no other host: {csp}");
            assert_eq!(text(r).await, text(get(&app, "/index.html").await).await);
        }
        let missing = get(&app, "/assets/missing-0000.js").await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        let post = app.clone().oneshot(Request::post("/patient").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn files_have_their_type_an_etag_and_caching() {
        let app = app();
        let r = get(&app, "/web-build.json").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache");
        let etag = r.headers()[header::ETAG].clone();
        let again = app
            .clone()
            .oneshot(
                Request::get("/web-build.json")
                    .header(header::IF_NONE_MATCH, etag)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let build: serde_json::Value = serde_json::from_str(&text(r).await).unwrap();
        assert_eq!(build["placeholder"].as_bool().unwrap_or(false), !real_build_embedded());
        // A real build: every hashed asset is immutable, with its type.
        for path in asset_paths().into_iter().filter(|p| p.starts_with("assets/")) {
            let r = get(&app, &format!("/{path}")).await;
            assert_eq!(r.headers()[header::CACHE_CONTROL], "public, max-age=31536000, immutable", "{path}");
            assert_ne!(r.headers()[header::CONTENT_TYPE], "application/octet-stream", "{path}");
        }
    }

    #[test]
    fn graphiql_references_no_other_host() {
        let r = graphiql_page();
        assert_eq!(r.headers()[header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
        if let Some(page) = asset("graphiql.html") {
            let page = String::from_utf8(page.to_vec()).unwrap();
            assert!(!page.contains("//"), "GraphiQL's page names no URL with a host: {page}");
        }
    }
}
