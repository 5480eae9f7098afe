//! The vault's settings.

use std::{net::IpAddr, time::Duration};

/// Upload size limit by default: 25 MiB.
pub const DEFAULT_MAX_UPLOAD: u64 = 25 * 1024 * 1024;

/// Size limit of an imported Bundle (`POST /fhir/Patient/{address}/$import`) by default: 256 MiB.
pub const DEFAULT_MAX_IMPORT: u64 = 256 * 1024 * 1024;

/// Content types accepted by default: documents and images an EHR exchanges.
pub const DEFAULT_CONTENT_TYPES: &[&str] = &[
    "application/pdf",
    "application/fhir+json",
    "application/json",
    "text/plain",
    "text/markdown",
    "image/png",
    "image/jpeg",
    "application/dicom",
];

/// How the vault runs.
#[derive(Debug, Clone)]
pub struct VaultConfig {
    /// The chain whose index decides (Sign-In messages must name it).
    pub chain_id: u64,
    /// The Sign-In with Ethereum domain (RFC 3986 authority, e.g. `vault.example.org` or `localhost:8080`).
    /// Compared with the message, never with the request's `Host`.
    pub domain: String,
    /// The origin the message's URI must start with (e.g. `https://vault.example.org`).
    pub origin: String,
    /// Upload size limit in bytes.
    pub max_upload: u64,
    /// Size limit of an imported Bundle's JSON body in bytes (it is read whole; each document in it is
    /// still held to `max_upload`).
    pub max_import: u64,
    /// Accepted content types (lower case, without parameters).
    pub content_types: Vec<String>,
    /// How long an issued nonce may be used.
    pub nonce_ttl: Duration,
    /// How long a session lasts (also capped by the message's expiration time).
    pub session_ttl: Duration,
    /// Whether the session cookie is marked `Secure` (set when served over HTTPS).
    pub secure_cookie: bool,
    /// Proxies whose `X-Forwarded-For` is believed (the last hop they add); empty: the peer address is the
    /// client.
    pub trusted_proxies: Vec<IpAddr>,
    /// Requests per second allowed per client IP, and the burst.
    pub per_ip: (u64, u32),
    /// Requests per second allowed per signed-in address, and the burst.
    pub per_address: (u64, u32),
}

impl VaultConfig {
    /// Defaults for chain `chain_id` served at `origin` (e.g. `http://localhost:8080`).
    pub fn new(chain_id: u64, origin: &str) -> Self {
        let origin = origin.trim_end_matches('/').to_owned();
        let domain = origin.split_once("://").map_or(origin.as_str(), |(_, rest)| rest).to_owned();
        Self {
            chain_id,
            domain,
            secure_cookie: origin.starts_with("https://"),
            origin,
            max_upload: DEFAULT_MAX_UPLOAD,
            max_import: DEFAULT_MAX_IMPORT,
            content_types: DEFAULT_CONTENT_TYPES.iter().map(|s| (*s).to_owned()).collect(),
            nonce_ttl: Duration::from_secs(300),
            session_ttl: Duration::from_secs(900),
            trusted_proxies: Vec::new(),
            per_ip: (50, 200),
            per_address: (20, 100),
        }
    }
}
