//! Sign-In with Ethereum (EIP-4361) and sessions.
//!
//! `GET /auth/nonce` issues a single-use nonce (stored with its expiry); the client signs an EIP-4361
//! message naming this vault's domain, an URI under its origin, the indexed chain and the nonce;
//! [`Auth::login`] parses it with the `siwe` crate, checks domain, URI, chain, times and nonce against the
//! configuration (never against request headers), and verifies the signature: EIP-191 recovery with alloy,
//! or ERC-1271 `isValidSignature` through the RPC when the address is a contract. A session is a random
//! bearer token (only its keccak256 is stored) that proves identity, nothing more: every request is
//! decided anew against the index.

use crate::{
    config::VaultConfig,
    error::{AuthError, VaultError},
};
use alloy::{
    primitives::{eip191_hash_message, keccak256, Address, Bytes as AlloyBytes, FixedBytes, Signature},
    providers::{DynProvider, Provider},
};
use axum::http::{header, HeaderMap};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use rand::RngCore;
use sqlx::PgPool;

/// The session cookie's name.
pub const COOKIE: &str = "medledger_session";
/// ERC-1271's magic value for a valid signature.
const ERC1271_MAGIC: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];
/// How far in the future an issued-at time may lie (clock skew).
const SKEW: Duration = Duration::seconds(60);

alloy::sol! {
    /// ERC-1271: signature validation by contract wallets.
    #[sol(rpc)]
    interface IERC1271 {
        /// Returns 0x1626ba7e when `signature` is valid for `hash`.
        function isValidSignature(bytes32 hash, bytes signature) external view returns (bytes4 magicValue);
    }
}

/// A nonce to put into the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonce {
    /// 32 hex characters.
    pub nonce: String,
    /// Until when it may be used.
    pub expires_at: DateTime<Utc>,
}

/// A started session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The bearer token (shown once; only its hash is stored).
    pub token: String,
    /// The signed-in address.
    pub address: Address,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

/// Sign-in and sessions.
#[derive(Debug, Clone)]
pub struct Auth {
    config: VaultConfig,
    pool: PgPool,
    rpc: Option<DynProvider>,
}

fn random_hex<const N: usize>() -> String {
    let mut b = [0u8; N];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn to_chrono(t: &siwe::TimeStamp) -> DateTime<Utc> {
    let t = t.as_ref();
    DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond()).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl Auth {
    /// Sign-in for `config`; `rpc` checks contract wallets (ERC-1271); without it only EIP-191 signatures
    /// of externally owned accounts are accepted.
    pub fn new(config: VaultConfig, pool: PgPool, rpc: Option<DynProvider>) -> Self {
        Self { config, pool, rpc }
    }

    /// Issues a single-use nonce.
    pub async fn nonce(&self) -> Result<Nonce, VaultError> {
        let nonce = random_hex::<16>();
        let now = Utc::now().trunc_subsecs(6);
        let ttl = Duration::from_std(self.config.nonce_ttl).unwrap_or(Duration::minutes(5));
        let expires_at = now + ttl;
        sqlx::query!(
            "INSERT INTO vault_nonces (nonce, issued_at, expires_at) VALUES ($1, $2, $3)",
            nonce,
            now,
            expires_at
        )
        .execute(&self.pool)
        .await
        .map_err(VaultError::db)?;
        Ok(Nonce { nonce, expires_at })
    }

    /// Checks the message's fields against the configuration at time `now`.
    fn check_fields(&self, msg: &siwe::Message, now: DateTime<Utc>) -> Result<(), AuthError> {
        let domain = msg.domain.to_string();
        if domain != self.config.domain {
            return Err(AuthError::WrongDomain { expected: self.config.domain.clone(), got: domain });
        }
        let uri = msg.uri.as_str();
        let origin = &self.config.origin;
        let under =
            uri == origin || uri.strip_prefix(origin.as_str()).is_some_and(|rest| rest.starts_with('/'));
        if !under {
            return Err(AuthError::WrongUri { expected: origin.clone(), got: uri.to_owned() });
        }
        if msg.chain_id != self.config.chain_id {
            return Err(AuthError::WrongChain { expected: self.config.chain_id, got: msg.chain_id });
        }
        if msg.expiration_time.as_ref().is_some_and(|t| to_chrono(t) <= now) {
            return Err(AuthError::ExpiredMessage);
        }
        if msg.not_before.as_ref().is_some_and(|t| to_chrono(t) > now)
            || to_chrono(&msg.issued_at) > now + SKEW
        {
            return Err(AuthError::NotYetValid);
        }
        Ok(())
    }

    /// Verifies that `address` signed `text`: EIP-191, else ERC-1271 when the address holds code.
    async fn check_signature(
        &self,
        text: &str,
        address: Address,
        signature: &[u8],
    ) -> Result<(), VaultError> {
        let bad = || VaultError::Auth(AuthError::BadSignature { address: address.to_checksum(None) });
        if signature.len() == 65 {
            if let Ok(sig) = Signature::from_raw(signature) {
                if sig.recover_address_from_msg(text.as_bytes()).is_ok_and(|a| a == address) {
                    return Ok(());
                }
            }
        }
        let Some(rpc) = &self.rpc else { return Err(bad()) };
        let unavailable =
            |e: &dyn std::fmt::Display| VaultError::Unavailable { what: "rpc", reason: e.to_string() };
        let code = rpc.get_code_at(address).await.map_err(|e| unavailable(&e))?;
        if code.is_empty() {
            return Err(bad());
        }
        let hash = eip191_hash_message(text.as_bytes());
        let wallet = IERC1271::new(address, rpc);
        match wallet.isValidSignature(hash, AlloyBytes::copy_from_slice(signature)).call().await {
            Ok(magic) if magic == FixedBytes(ERC1271_MAGIC) => Ok(()),
            Ok(_) => Err(bad()),
            // A revert is a refusal; a transport failure is an outage.
            Err(alloy::contract::Error::TransportError(e)) if e.as_error_resp().is_none() => {
                Err(unavailable(&e))
            }
            Err(_) => Err(bad()),
        }
    }

    /// Consumes `nonce`; each failure says why.
    async fn consume_nonce(&self, nonce: &str) -> Result<(), VaultError> {
        let used: Option<String> = sqlx::query_scalar!(
            "UPDATE vault_nonces SET used_at = now() WHERE nonce = $1 AND used_at IS NULL AND expires_at > now()
             RETURNING nonce",
            nonce
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(VaultError::db)?;
        if used.is_some() {
            return Ok(());
        }
        let row: Option<Option<DateTime<Utc>>> =
            sqlx::query_scalar!("SELECT used_at FROM vault_nonces WHERE nonce = $1", nonce)
                .fetch_optional(&self.pool)
                .await
                .map_err(VaultError::db)?;
        Err(VaultError::Auth(match row {
            None => AuthError::UnknownNonce,
            Some(Some(_)) => AuthError::ReusedNonce,
            Some(None) => AuthError::ExpiredNonce,
        }))
    }

    /// Verifies a signed EIP-4361 message and starts a session.
    pub async fn login(&self, message: &str, signature: &str) -> Result<Session, VaultError> {
        let msg: siwe::Message =
            message.parse().map_err(|e: siwe::ParseError| AuthError::Malformed(e.to_string()))?;
        let now = Utc::now();
        self.check_fields(&msg, now)?;
        let address = Address::from(msg.address);
        let sig = hex::decode(signature.trim().trim_start_matches("0x"))
            .map_err(|_| AuthError::BadSignature { address: address.to_checksum(None) })?;
        self.check_signature(message, address, &sig).await?;
        self.consume_nonce(&msg.nonce).await?;

        let token = random_hex::<32>();
        let ttl = Duration::from_std(self.config.session_ttl).unwrap_or(Duration::minutes(15));
        let mut expires_at = (now + ttl).trunc_subsecs(6);
        if let Some(exp) = &msg.expiration_time {
            expires_at = expires_at.min(to_chrono(exp).trunc_subsecs(6));
        }
        let token_hash = keccak256(token.as_bytes());
        sqlx::query!(
            "INSERT INTO vault_sessions (token_hash, address, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            token_hash.as_slice(),
            address.as_slice(),
            now,
            expires_at
        )
        .execute(&self.pool)
        .await
        .map_err(VaultError::db)?;
        tracing::info!(target: "medledger::vault::auth", %address, "signed in");
        Ok(Session { token, address, expires_at })
    }

    /// The session token of a request: `Authorization: Bearer …`, else the session cookie.
    pub fn token(headers: &HeaderMap) -> Option<String> {
        if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
            return v.strip_prefix("Bearer ").map(|t| t.trim().to_owned());
        }
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|kv| {
                kv.trim().strip_prefix(COOKIE).and_then(|r| r.strip_prefix('=')).map(str::to_owned)
            })
    }

    /// The signed-in address of a request.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Address, VaultError> {
        let token = Self::token(headers).ok_or(AuthError::Missing)?;
        self.authenticate_token(&token).await
    }

    /// The signed-in address of a session token (as [`Auth::token`] finds it in a request): the one
    /// verification every surface (FHIR, GraphQL) uses.
    pub async fn authenticate_token(&self, token: &str) -> Result<Address, VaultError> {
        let token_hash = keccak256(token.as_bytes());
        let row = sqlx::query!(
            "SELECT address, expires_at, ended_at FROM vault_sessions WHERE token_hash = $1",
            token_hash.as_slice()
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(VaultError::db)?
        .map(|r| (r.address, r.expires_at, r.ended_at));
        match row {
            None | Some((_, _, Some(_))) => Err(AuthError::UnknownSession.into()),
            Some((_, expires_at, None)) if expires_at <= Utc::now() => Err(AuthError::SessionExpired.into()),
            Some((address, _, None)) => Ok(Address::try_from(address.as_slice())
                .map_err(|_| VaultError::Internal("stored address".into()))?),
        }
    }

    /// Ends the request's session.
    pub async fn logout(&self, headers: &HeaderMap) -> Result<(), VaultError> {
        let token = Self::token(headers).ok_or(AuthError::Missing)?;
        let token_hash = keccak256(token.as_bytes());
        sqlx::query!(
            "UPDATE vault_sessions SET ended_at = now() WHERE token_hash = $1 AND ended_at IS NULL",
            token_hash.as_slice()
        )
        .execute(&self.pool)
        .await
        .map_err(VaultError::db)?;
        Ok(())
    }

    /// The `Set-Cookie` value of a session (HttpOnly, SameSite=Strict; Secure over HTTPS).
    pub fn cookie(&self, session: &Session) -> String {
        let max_age = (session.expires_at - Utc::now()).num_seconds().max(0);
        let secure = if self.config.secure_cookie { "; Secure" } else { "" };
        format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}", session.token)
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clear_cookie(&self) -> String {
        let secure = if self.config.secure_cookie { "; Secure" } else { "" };
        format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
    }
}
