//! Errors of the vault crate, and how each becomes an HTTP status and a FHIR `OperationOutcome`.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

/// Why a stored document failed its integrity check. Each is fatal: the document is never served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntegrityError {
    /// The wrapped data key does not open under its key-encryption key (altered, or bound to another
    /// document, patient or version).
    #[error("the wrapped data key does not authenticate")]
    WrappedKey,
    /// The wrapped key names a key-encryption key the keyring does not hold.
    #[error("the wrapped data key names unknown key-encryption key {0:?}")]
    UnknownKek(String),
    /// The stored object is missing from the store.
    #[error("the stored object is missing")]
    Missing,
    /// The stored object does not start with the vault's header.
    #[error("the stored object has no valid vault header")]
    Header,
    /// A sealed chunk does not authenticate: altered, moved, or from another document.
    #[error("chunk {index} does not authenticate")]
    Chunk {
        /// The chunk's index.
        index: u64,
    },
    /// The stored object is shorter or longer than its recorded size implies.
    #[error("the stored object has {actual} bytes, {expected} expected")]
    Length {
        /// Bytes the recorded size implies.
        expected: u64,
        /// Bytes found.
        actual: u64,
    },
    /// The sealed trailer (size, salt, content hash) does not authenticate.
    #[error("the sealed trailer does not authenticate")]
    Trailer,
    /// The trailer's size or content hash disagrees with the metadata row.
    #[error("the sealed trailer disagrees with the document's metadata ({0})")]
    Metadata(&'static str),
    /// The decrypted contents do not hash to the recorded content hash.
    #[error("the contents do not match their content hash")]
    ContentHash,
    /// The on-chain anchor for the document's pointer hash records another content hash.
    #[error("the on-chain anchor records another content hash")]
    Anchor,
    /// The access log is hash-chained consistently but contradicts an on-chain anchor of its head: the
    /// operator rewrote (or re-chained) entries that anchor had pinned. The bad entries lie in
    /// `first..=last`: the anchor before it still matches.
    #[error(
        "access log entries {first}..={last} were rewritten after on-chain anchor #{anchor} (block {block}) \
         pinned them: the first bad entry is at or after entry {first}, and entry {last} no longer hashes to \
         the anchored head"
    )]
    AnchoredRewrite {
        /// The first entry that may have been rewritten (just after the last anchor the log agrees with).
        first: i64,
        /// The entry whose hash the contradicted anchor pins.
        last: i64,
        /// The contradicted anchor's index.
        anchor: u64,
        /// The block it was mined in.
        block: u64,
    },
    /// The access log has fewer entries than an on-chain anchor covers: anchored entries were deleted.
    #[error(
        "the access log has {found} entries but on-chain anchor #{anchor} (block {block}) covers {anchored}: \
         entry {} and later were deleted", .found + 1
    )]
    AnchoredTruncated {
        /// Entries the anchor covers.
        anchored: i64,
        /// Entries in the log.
        found: i64,
        /// The anchor's index.
        anchor: u64,
        /// The block it was mined in.
        block: u64,
    },
    /// The access log's hash chain is broken at an entry.
    #[error("access log entry {seq} does not chain: {reason}")]
    LogChain {
        /// The first bad entry's sequence number.
        seq: i64,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Why a Sign-In with Ethereum attempt or a session was refused. Each is final for that attempt: sign a
/// fresh message with a fresh nonce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No session token (bearer or cookie) came with the request.
    #[error("authentication required: sign in with Ethereum (GET /auth/nonce, POST /auth/login)")]
    Missing,
    /// The session token is unknown or was logged out.
    #[error("unknown or ended session")]
    UnknownSession,
    /// The session has expired.
    #[error("the session has expired: sign in again")]
    SessionExpired,
    /// The text is not an EIP-4361 message.
    #[error("not a Sign-In with Ethereum message: {0}")]
    Malformed(String),
    /// The message's domain is not this vault's.
    #[error("the message is for domain {got:?}, this vault is {expected:?}")]
    WrongDomain {
        /// The configured domain.
        expected: String,
        /// The message's domain.
        got: String,
    },
    /// The message's URI is not under this vault's origin.
    #[error("the message's URI {got:?} is not under {expected:?}")]
    WrongUri {
        /// The configured origin.
        expected: String,
        /// The message's URI.
        got: String,
    },
    /// The message is for another chain.
    #[error("the message is for chain {got}, this vault follows chain {expected}")]
    WrongChain {
        /// The indexed chain.
        expected: u64,
        /// The message's chain id.
        got: u64,
    },
    /// The nonce was never issued by this vault.
    #[error("unknown nonce: get one from GET /auth/nonce")]
    UnknownNonce,
    /// The nonce was used already.
    #[error("the nonce was already used")]
    ReusedNonce,
    /// The nonce's validity ran out before the login.
    #[error("the nonce has expired: get a fresh one")]
    ExpiredNonce,
    /// The message's expiration time has passed.
    #[error("the message has expired")]
    ExpiredMessage,
    /// The message's not-before time, or its issued-at time, lies in the future.
    #[error("the message is not valid yet")]
    NotYetValid,
    /// The signature is malformed or was not made by the message's address (EIP-191), and the address is
    /// not a contract accepting it (ERC-1271).
    #[error("the signature was not made by {address}")]
    BadSignature {
        /// The message's address.
        address: String,
    },
}

impl AuthError {
    /// A stable code for clients (the `OperationOutcome`'s `details.coding`), so that a browser can say what
    /// to do without parsing the text.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Missing => "session_missing",
            Self::UnknownSession => "session_unknown",
            Self::SessionExpired => "session_expired",
            Self::Malformed(_) => "malformed_message",
            Self::WrongDomain { .. } => "wrong_domain",
            Self::WrongUri { .. } => "wrong_uri",
            Self::WrongChain { .. } => "wrong_chain",
            Self::UnknownNonce => "unknown_nonce",
            Self::ReusedNonce => "reused_nonce",
            Self::ExpiredNonce => "expired_nonce",
            Self::ExpiredMessage => "expired_message",
            Self::NotYetValid => "not_yet_valid",
            Self::BadSignature { .. } => "bad_signature",
        }
    }
}

/// Why the access rule refused a request (HTTP 403). Recorded in the access log as the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// The caller holds no grant from the patient.
    #[error("no consent from the patient")]
    NoGrant,
    /// The caller's grant lacks the needed scope (READ for reads, WRITE for uploads).
    #[error("the consent does not include the {0} scope")]
    MissingScope(&'static str),
    /// The caller's grant was revoked.
    #[error("the consent was revoked")]
    Revoked,
    /// The caller's grant expired as of the latest indexed block.
    #[error("the consent has expired")]
    Expired,
    /// The patient hid the record on chain: grantees no longer see it.
    #[error("the patient has hidden this record")]
    Hidden,
    /// The caller's credential is suspended or revoked.
    #[error("the caller's credential is {0}")]
    Credential(&'static str),
    /// Emergency access is open, but the caller's credential is not an active prescriber's as of the latest
    /// indexed block ("expired", "not a prescriber's", or "none"): the chain's `hasScope` requires
    /// `isActive(caller, Prescriber)` for emergency reads.
    #[error("emergency access needs an active prescriber credential; the caller's is {0}")]
    EmergencyCredential(&'static str),
    /// The document is not anchored yet: only its uploader and the patient see it.
    #[error("the document is not anchored yet")]
    Pending,
    /// Only the patient herself may do this (export or import all her records).
    #[error("only the patient may export or import her records")]
    NotPatient,
}

impl Denial {
    /// The reason code stored in the access log.
    pub const fn code(self) -> &'static str {
        match self {
            Self::NoGrant => "no_grant",
            Self::MissingScope(_) => "missing_scope",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Hidden => "hidden",
            Self::Credential(_) => "credential",
            Self::EmergencyCredential(_) => "emergency_credential",
            Self::Pending => "pending",
            Self::NotPatient => "not_patient",
        }
    }
}

/// Everything that can go wrong in the vault.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// Not signed in, or the sign-in was refused (HTTP 401).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The access rule refused the request (HTTP 403).
    #[error("access denied: {0}")]
    Denied(#[from] Denial),
    /// No such document, or not one the caller may know of (HTTP 404).
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The request is malformed (HTTP 400).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The upload exceeds the size limit; it was cut off while streaming (HTTP 413).
    #[error("the upload exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The content type is not on the allowlist (HTTP 415).
    #[error("content type {0:?} is not accepted")]
    UnsupportedType(String),
    /// The requested byte range lies outside the document (HTTP 416).
    #[error("range not satisfiable: the document has {size} bytes")]
    RangeNotSatisfiable {
        /// The document's size.
        size: u64,
    },
    /// Too many requests from this address or IP (HTTP 429).
    #[error("too many requests")]
    RateLimited,
    /// A stored document failed its integrity check (HTTP 500); never served.
    #[error("integrity check failed: {0}")]
    Integrity(#[from] IntegrityError),
    /// A dependency is unavailable: PostgreSQL, the RPC node, the object store, or the index has no
    /// checkpoint yet (HTTP 503). No decision is taken on stale or unknown state.
    #[error("{what} unavailable: {reason}")]
    Unavailable {
        /// `database`, `rpc`, `store` or `index`.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A document of an imported Bundle does not check out against its on-chain anchor (or against
    /// itself): it is refused, and with it the whole import (HTTP 422). Fatal for that Bundle.
    #[error("import refused: document {id}: {reason}")]
    ImportRefused {
        /// The document's id.
        id: String,
        /// Why it was refused.
        reason: String,
    },
    /// The chain refused a transaction the vault sent (e.g. anchoring the access log's head); fatal for
    /// that attempt.
    #[error("the chain refused: {0}")]
    Chain(String),
    /// The configuration is unusable (key file, store URL, ...).
    #[error("configuration: {0}")]
    Config(String),
    /// A bug or an unexpected state (HTTP 500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl VaultError {
    /// Whether trying again later may succeed (an outage, a rate limit), as opposed to a refusal or a fault
    /// that repeats.
    pub const fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::RateLimited)
    }

    /// A database failure: an outage unless the statement itself was wrong.
    pub(crate) fn db(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => Self::NotFound("row"),
            sqlx::Error::Database(e) => Self::Internal(format!("database: {}", e.message())),
            e => Self::Unavailable { what: "database", reason: e.to_string() },
        }
    }

    /// An object-store failure.
    pub(crate) fn store(err: object_store::Error) -> Self {
        match err {
            object_store::Error::NotFound { .. } => Self::Integrity(IntegrityError::Missing),
            e => Self::Unavailable { what: "store", reason: e.to_string() },
        }
    }

    /// The HTTP status.
    pub const fn status(&self) -> StatusCode {
        match self {
            Self::Auth(_) => StatusCode::UNAUTHORIZED,
            Self::Denied(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Chain(_) => StatusCode::BAD_GATEWAY,
            Self::ImportRefused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Integrity(_) | Self::Config(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The FHIR `IssueType` code of the outcome.
    pub const fn fhir_code(&self) -> &'static str {
        match self {
            Self::Auth(_) => "login",
            Self::Denied(_) => "forbidden",
            Self::NotFound(_) => "not-found",
            Self::BadRequest(_) | Self::UnsupportedType(_) | Self::RangeNotSatisfiable { .. } => "invalid",
            Self::TooLarge { .. } => "too-long",
            Self::RateLimited => "throttled",
            Self::Unavailable { .. } => "transient",
            Self::Integrity(_) => "security",
            Self::ImportRefused { .. } => "processing",
            Self::Chain(_) | Self::Config(_) | Self::Internal(_) => "exception",
        }
    }

    /// The stable code of a refusal (a denial's or a sign-in failure's, `rate_limited`, `too_large`,
    /// `unsupported_type`, `unavailable`), `None` for other errors.
    pub const fn refusal_code(&self) -> Option<&'static str> {
        Some(match self {
            Self::Auth(e) => e.code(),
            Self::Denied(d) => d.code(),
            Self::RateLimited => "rate_limited",
            Self::TooLarge { .. } => "too_large",
            Self::UnsupportedType(_) => "unsupported_type",
            Self::Unavailable { .. } => "unavailable",
            _ => return None,
        })
    }

    /// The FHIR `OperationOutcome` of this error: the text in `diagnostics`, the refusal code (if any) in
    /// `details.coding` (system `https://medledger.dev/fhir/refusal`).
    pub fn outcome(&self) -> serde_json::Value {
        // Internal details (database messages) stay in the server's log.
        let diagnostics = match self {
            Self::Internal(_) | Self::Config(_) => "internal error".to_owned(),
            e => e.to_string(),
        };
        let mut outcome = operation_outcome("error", self.fhir_code(), &diagnostics);
        if let Some(code) = self.refusal_code() {
            outcome["issue"][0]["details"] = serde_json::json!({
                "coding": [{ "system": REFUSAL_SYSTEM, "code": code }],
            });
        }
        outcome
    }
}

/// The code system of the refusal codes in an `OperationOutcome`'s `details`.
pub const REFUSAL_SYSTEM: &str = "https://medledger.dev/fhir/refusal";

/// A FHIR R4 `OperationOutcome` with one issue.
pub fn operation_outcome(severity: &str, code: &str, diagnostics: &str) -> serde_json::Value {
    serde_json::json!({
        "resourceType": "OperationOutcome",
        "issue": [{ "severity": severity, "code": code, "diagnostics": diagnostics }],
    })
}

impl IntoResponse for VaultError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(target: "medledger::vault", error = %self, status = status.as_u16(), "request failed");
        }
        let mut response = (status, axum::Json(self.outcome())).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/fhir+json"));
        if let Self::Auth(_) = self {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"medledger-vault\""),
            );
        }
        if let Self::RangeNotSatisfiable { size } = self {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_outcomes() {
        let e = VaultError::from(Denial::Revoked);
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        assert_eq!(e.outcome()["issue"][0]["code"], "forbidden");
        assert_eq!(e.outcome()["resourceType"], "OperationOutcome");
        let coding = &e.outcome()["issue"][0]["details"]["coding"][0];
        assert_eq!(
            (coding["system"].as_str(), coding["code"].as_str()),
            (Some(REFUSAL_SYSTEM), Some("revoked"))
        );
        let expired = VaultError::from(AuthError::SessionExpired).outcome();
        assert_eq!(expired["issue"][0]["details"]["coding"][0]["code"], "session_expired");
        assert!(VaultError::NotFound("document").outcome()["issue"][0].get("details").is_none());
        assert_eq!(VaultError::from(AuthError::ReusedNonce).status(), StatusCode::UNAUTHORIZED);
        let outage = VaultError::Unavailable { what: "database", reason: "down".into() };
        assert_eq!(outage.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(outage.is_retryable());
        assert!(!VaultError::from(IntegrityError::WrappedKey).is_retryable());
        assert_eq!(
            VaultError::Internal("secret detail".into()).outcome()["issue"][0]["diagnostics"],
            "internal error"
        );
    }
}
