//! The vault's HTTP surface: FHIR R4-shaped resources under `/fhir` and Sign-In with Ethereum under
//! `/auth`. Errors are FHIR `OperationOutcome`s ([`VaultError`]'s `IntoResponse`). Requests are rate
//! limited per client IP (the peer address, or the `X-Forwarded-For` hop added by a configured trusted
//! proxy; serve with `into_make_service_with_connect_info::<SocketAddr>()`) and per signed-in address.

use crate::{
    error::{AuthError, VaultError},
    fhir,
    vault::{UploadRequest, Vault},
};
use alloy::primitives::Address;
use axum::{
    body::Body,
    extract::{rejection::JsonRejection, ConnectInfo, Path, Query, State},
    http::{header, HeaderMap, HeaderValue, Request, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use std::{
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    str::FromStr,
    sync::Arc,
    time::Duration,
};
use tower_governor::{
    governor::GovernorConfigBuilder, key_extractor::KeyExtractor, GovernorError, GovernorLayer,
};

/// The router's state.
#[derive(Clone)]
struct AppState {
    vault: Arc<Vault>,
    per_address: Arc<DefaultKeyedRateLimiter<Address>>,
}

/// The client IP of a request: the peer, or the first hop a trusted proxy names in `X-Forwarded-For`
/// (read right to left, skipping trusted proxies).
#[derive(Debug, Clone)]
struct ClientIp {
    trusted: Arc<[IpAddr]>,
}

impl KeyExtractor for ClientIp {
    type Key = IpAddr;

    fn extract<T>(&self, req: &Request<T>) -> Result<IpAddr, GovernorError> {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or(GovernorError::UnableToExtractKey)?;
        Ok(client_ip(peer, req.headers(), &self.trusted))
    }
}

fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        match IpAddr::from_str(hop) {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return ip,
            Err(_) => return peer,
        }
    }
    peer
}

fn quota(per_second: u64, burst: u32) -> Quota {
    let period = Duration::from_nanos(1_000_000_000 / per_second.max(1));
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

/// The vault's routes: `/auth/{nonce,login,logout}`, `/fhir/metadata`, `/fhir/Binary`, `/fhir/Binary/{id}`,
/// `/fhir/DocumentReference` (search, and create from a FHIR resource), `/fhir/DocumentReference/{id}`,
/// `/fhir/AuditEvent`, `/fhir/Patient/{address}/$everything` (export) and `/fhir/Patient/{address}/$import`.
pub fn router(vault: Arc<Vault>) -> Router {
    let config = vault.config();
    let (ip_rate, ip_burst) = config.per_ip;
    let (addr_rate, addr_burst) = config.per_address;
    let per_ip = GovernorConfigBuilder::default()
        .key_extractor(ClientIp { trusted: config.trusted_proxies.clone().into() })
        .per_nanosecond(1_000_000_000 / ip_rate.max(1))
        .burst_size(ip_burst.max(1))
        .finish()
        .expect("a positive period and burst");
    let state = AppState { per_address: Arc::new(RateLimiter::keyed(quota(addr_rate, addr_burst))), vault };
    Router::new()
        .route("/auth/nonce", get(nonce))
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/fhir/Binary", post(upload))
        .route("/fhir/Binary/{id}", get(binary))
        .route("/fhir/metadata", get(metadata))
        .route("/fhir/DocumentReference", get(search).post(create))
        .route("/fhir/Patient/{patient}/$everything", get(everything))
        .route("/fhir/Patient/{patient}/$import", post(import))
        .route("/fhir/DocumentReference/{id}", get(document))
        .route("/fhir/AuditEvent", get(audit))
        .layer(GovernorLayer::new(Arc::new(per_ip)).error_handler(|e| match e {
            GovernorError::TooManyRequests { .. } => VaultError::RateLimited.into_response(),
            e => VaultError::Internal(format!("rate limiter: {e}")).into_response(),
        }))
        .with_state(state)
}

/// The signed-in caller, within its rate limit.
async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Address, VaultError> {
    let address = state.vault.auth().authenticate(headers).await?;
    state.per_address.check_key(&address).map_err(|_| VaultError::RateLimited)?;
    Ok(address)
}

fn fhir_json(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut r = (status, Json(body)).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/fhir+json"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn parse_id(id: &str) -> Result<[u8; 16], VaultError> {
    let mut out = [0u8; 16];
    if id.len() != 32 || hex::decode_to_slice(id, &mut out).is_err() {
        return Err(VaultError::NotFound("document"));
    }
    Ok(out)
}

fn parse_address(name: &str, value: &str) -> Result<Address, VaultError> {
    medledger_core::parse_address(value).map_err(|e| VaultError::BadRequest(format!("{name}: {e}")))
}

async fn nonce(State(state): State<AppState>) -> Result<Response, VaultError> {
    let nonce = state.vault.auth().nonce().await?;
    let config = state.vault.config();
    Ok(Json(serde_json::json!({
        "nonce": nonce.nonce,
        "domain": config.domain,
        "uri": config.origin,
        "chainId": config.chain_id,
        "expiresAt": nonce.expires_at.to_rfc3339(),
    }))
    .into_response())
}

#[derive(Deserialize)]
struct Login {
    message: String,
    signature: String,
}

async fn login(
    State(state): State<AppState>,
    body: Result<Json<Login>, JsonRejection>,
) -> Result<Response, VaultError> {
    let Json(login) = body.map_err(|e| AuthError::Malformed(e.body_text()))?;
    let auth = state.vault.auth();
    let session = auth.login(&login.message, &login.signature).await?;
    let mut r = Json(serde_json::json!({
        "token": session.token,
        "address": session.address.to_checksum(None),
        "expiresAt": session.expires_at.to_rfc3339(),
    }))
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&auth.cookie(&session)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, VaultError> {
    let auth = state.vault.auth();
    auth.logout(&headers).await?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&auth.clear_cookie()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

#[derive(Deserialize)]
struct UploadQuery {
    patient: String,
    episode: u64,
    #[serde(rename = "type")]
    doc_type: String,
}

async fn upload(
    State(state): State<AppState>,
    query: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, VaultError> {
    let caller = caller(&state, &headers).await?;
    let Query(q) = query.map_err(|e| VaultError::BadRequest(format!("query: {}", e.body_text())))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .ok_or_else(|| VaultError::UnsupportedType(String::new()))?;
    let declared_len = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok());
    let req = UploadRequest {
        patient: parse_address("patient", &q.patient)?,
        episode_id: q.episode,
        doc_type: q.doc_type,
        content_type,
        declared_len,
    };
    let uploaded = state.vault.upload(caller, req, body.into_data_stream()).await?;
    Ok(created(&uploaded))
}

/// `GET /fhir/metadata`: the server's CapabilityStatement (unauthenticated, as FHIR has it).
async fn metadata(State(state): State<AppState>) -> Response {
    fhir_json(StatusCode::OK, &fhir::capability_statement(state.vault.config()))
}

/// The request body, read whole up to `limit` bytes (413 beyond it).
async fn body_bytes(body: Body, limit: u64) -> Result<bytes::Bytes, VaultError> {
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    axum::body::to_bytes(body, limit_usize).await.map_err(|e| {
        if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) {
            VaultError::TooLarge { limit }
        } else {
            VaultError::BadRequest(format!("reading the body: {e}"))
        }
    })
}

/// `POST /fhir/DocumentReference`: a FHIR-shaped create: the resource's `subject` (the patient's address
/// identifier), `context.encounter` (the episode), `type`, and one `content.attachment` with
/// `contentType` and base64 `data`. Answers like `POST /fhir/Binary` (201, the stored resource with the
/// salt of the hashes to anchor).
async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, VaultError> {
    let caller = caller(&state, &headers).await?;
    let max = state.vault.config().max_upload;
    let raw = body_bytes(body, max.saturating_mul(4) / 3 + 64 * 1024).await?;
    let resource: serde_json::Value =
        serde_json::from_slice(&raw).map_err(|e| VaultError::BadRequest(format!("not JSON: {e}")))?;
    let (req, bytes) = fhir::upload_of(&resource, max)?;
    let stream = futures::stream::iter([Ok::<_, std::convert::Infallible>(bytes)]);
    let uploaded = state.vault.upload(caller, req, stream).await?;
    Ok(created(&uploaded))
}

fn created(uploaded: &crate::vault::Uploaded) -> Response {
    let mut r =
        fhir_json(StatusCode::CREATED, &fhir::document_reference(&uploaded.document, Some(uploaded.salt)));
    if let Ok(v) = HeaderValue::from_str(&format!("DocumentReference/{}", uploaded.document.id_hex())) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `GET /fhir/Patient/{address}/$everything`: all her documents, their metadata and her access log as one
/// Bundle (the patient's session only).
async fn everything(
    State(state): State<AppState>,
    Path(patient): Path<String>,
    headers: HeaderMap,
) -> Result<Response, VaultError> {
    let caller = caller(&state, &headers).await?;
    let bundle = state.vault.export(caller, parse_address("patient", &patient)?).await?;
    Ok(fhir_json(StatusCode::OK, &bundle))
}

/// `POST /fhir/Patient/{address}/$import`: a Bundle of `$everything` (from this or another vault on the same
/// chain) stored here, every document checked against its on-chain anchor first (the patient only).
async fn import(
    State(state): State<AppState>,
    Path(patient): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, VaultError> {
    let caller = caller(&state, &headers).await?;
    let patient = parse_address("patient", &patient)?;
    let raw = body_bytes(body, state.vault.config().max_import).await?;
    let bundle: serde_json::Value =
        serde_json::from_slice(&raw).map_err(|e| VaultError::BadRequest(format!("not JSON: {e}")))?;
    let out = state.vault.import(caller, patient, &bundle).await?;
    let text = format!(
        "imported {} documents ({} already here); {} access-log entries of the source vault checked",
        out.stored.len(),
        out.already.len(),
        out.log_entries
    );
    let mut outcome = crate::error::operation_outcome("information", "informational", &text);
    outcome["stored"] = serde_json::json!(out.stored);
    outcome["already"] = serde_json::json!(out.already);
    Ok(fhir_json(StatusCode::OK, &outcome))
}

#[derive(Deserialize)]
struct PatientQuery {
    patient: String,
    #[serde(rename = "_count")]
    count: Option<i64>,
}

type PatientSearch = Result<Query<PatientQuery>, axum::extract::rejection::QueryRejection>;

/// The signed-in caller, and the patient and `_count` a search names.
async fn searcher(
    state: &AppState,
    query: PatientSearch,
    headers: &HeaderMap,
) -> Result<(Address, Address, Option<i64>), VaultError> {
    let caller = caller(state, headers).await?;
    let Query(q) = query.map_err(|_| VaultError::BadRequest("search needs patient=<address>".into()))?;
    Ok((caller, parse_address("patient", &q.patient)?, q.count))
}

async fn search(
    State(state): State<AppState>,
    query: PatientSearch,
    headers: HeaderMap,
) -> Result<Response, VaultError> {
    let (caller, patient, _) = searcher(&state, query, &headers).await?;
    let docs = state.vault.search(caller, patient).await?;
    let resources = docs.iter().map(|d| fhir::document_reference(d, None)).collect();
    Ok(fhir_json(StatusCode::OK, &fhir::bundle(resources)))
}

async fn document(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, VaultError> {
    let caller = caller(&state, &headers).await?;
    let doc = state.vault.document(caller, parse_id(&id)?).await?;
    Ok(fhir_json(StatusCode::OK, &fhir::document_reference(&doc, None)))
}

async fn binary(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, VaultError> {
    let caller = caller(&state, &headers).await?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let download = state.vault.download(caller, parse_id(&id)?, range).await?;
    let size = download.document.size;
    let (start, end) = (download.range.start, download.range.end);
    let mut r = Response::new(Body::from_stream(download.body));
    let h = r.headers_mut();
    let content_type = HeaderValue::from_str(&download.document.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_TYPE, content_type);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment"));
    if download.partial {
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", end.saturating_sub(1))) {
            r.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(r)
}

async fn audit(
    State(state): State<AppState>,
    query: PatientSearch,
    headers: HeaderMap,
) -> Result<Response, VaultError> {
    let (caller, patient, count) = searcher(&state, query, &headers).await?;
    let entries = state.vault.audit(caller, patient, count.unwrap_or(100)).await?;
    Ok(fhir_json(StatusCode::OK, &fhir::bundle(entries.iter().map(fhir::audit_event).collect())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ip_trusts_only_configured_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6, 1.2.3.4, 10.0.0.1"));
        let stranger: IpAddr = "9.9.9.9".parse().unwrap();
        assert_eq!(client_ip(stranger, &headers, &[proxy]), stranger, "untrusted peer: header ignored");
        assert_eq!(client_ip(stranger, &headers, &[]), stranger);
        // From the trusted proxy: the rightmost hop it did not add itself.
        assert_eq!(client_ip(proxy, &headers, &[proxy]), "1.2.3.4".parse::<IpAddr>().unwrap());
        headers.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(client_ip(proxy, &headers, &[proxy]), proxy);
    }
}
