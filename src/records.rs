//! A client of the record vault (`medledger records …`, the demo story and the end-to-end tests): signs in
//! with Sign-In with Ethereum (EIP-4361), uploads, lists, downloads and reads the access log over the
//! vault's FHIR-shaped HTTP API, and anchors or hides the uploaded documents on chain with
//! `RecordAnchors`.
//!
//! Every refusal of the vault comes back as [`RecordsError::Refused`] with the HTTP status and the
//! vault's own `OperationOutcome` text (`no_grant`, `revoked`, `expired`, `hidden`, …).

use alloy::{
    network::EthereumWallet,
    primitives::{Address, B256},
    providers::{DynProvider, Provider as _, ProviderBuilder},
    signers::{local::PrivateKeySigner, SignerSync as _},
};
use medledger_core::{bindings::RecordAnchors, Manifest};
use serde_json::Value;

/// The identifier systems and extensions of the vault's `DocumentReference`.
const FHIR_BASE: &str = "https://medledger.dev/fhir";

/// Why a vault or chain operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// The vault answered with a refusal or an error (its `OperationOutcome` diagnostics).
    #[error("the vault refused ({status}): {reason}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The vault's explanation.
        reason: String,
    },
    /// The vault could not be reached, or answered something that is not the vault's API (retryable when
    /// the vault was down).
    #[error("vault at {url}: {message}")]
    Http {
        /// The URL asked.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The RPC node failed, or a transaction reverted.
    #[error("chain: {0}")]
    Chain(String),
    /// An answer lacked a field this client needs.
    #[error("the vault's answer has no {0}")]
    Missing(&'static str),
}

/// What an upload returned: what to anchor on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The vault's document id (32 hex characters).
    pub id: String,
    /// The salted content hash.
    pub content_hash: B256,
    /// The salted pointer hash of the vault's id.
    pub pointer_hash: B256,
    /// The salt of both (the uploader's proof; the vault keeps it sealed).
    pub salt: Option<B256>,
    /// The whole `DocumentReference`.
    pub resource: Value,
}

/// A signed-in (or not yet signed-in) client of one vault.
#[derive(Debug, Clone)]
pub struct VaultClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    address: Option<Address>,
}

impl VaultClient {
    /// A client of the vault served at `base` (e.g. `http://127.0.0.1:4000`; a trailing `/fhir` is fine).
    pub fn new(base: &str) -> Self {
        let base = base.trim_end_matches('/').trim_end_matches("/fhir").to_owned();
        Self { http: reqwest::Client::new(), base, token: None, address: None }
    }

    /// The signed-in address.
    pub const fn address(&self) -> Option<Address> {
        self.address
    }

    /// The session's bearer token.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Signs in as `signer`: asks a nonce, signs the EIP-4361 message naming the vault's domain, URI and
    /// chain, and keeps the session.
    pub async fn sign_in(&mut self, signer: &PrivateKeySigner) -> Result<Address, RecordsError> {
        let nonce = self.get_json("/auth/nonce").await?;
        let field =
            |name: &'static str| nonce[name].as_str().map(str::to_owned).ok_or(RecordsError::Missing(name));
        let chain = nonce["chainId"].as_u64().ok_or(RecordsError::Missing("chainId"))?;
        let message =
            siwe_message(&field("domain")?, &field("uri")?, chain, signer.address(), &field("nonce")?);
        let signature = signer
            .sign_message_sync(message.as_bytes())
            .map_err(|e| RecordsError::Chain(format!("signing the sign-in message: {e}")))?;
        let body = serde_json::json!({
            "message": message,
            "signature": format!("0x{}", alloy::hex::encode(signature.as_bytes())),
        });
        let url = format!("{}/auth/login", self.base);
        let reply = self.http.post(&url).json(&body).send().await.map_err(|e| http(&url, &e))?;
        let session = answer(&url, reply).await?;
        self.token = Some(session["token"].as_str().ok_or(RecordsError::Missing("token"))?.to_owned());
        self.address = Some(signer.address());
        Ok(signer.address())
    }

    /// Uploads `body` into `patient`'s `episode` as a document of type `doc_type`.
    pub async fn upload(
        &self,
        patient: Address,
        episode: u64,
        doc_type: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Uploaded, RecordsError> {
        let url = format!("{}/fhir/Binary?patient={patient}&episode={episode}&type={doc_type}", self.base);
        let request = self.authed(self.http.post(&url)).header("content-type", content_type).body(body);
        let resource = answer(&url, request.send().await.map_err(|e| http(&url, &e))?).await?;
        uploaded(resource)
    }

    /// The documents of `patient` the caller may see (a FHIR searchset `Bundle`'s resources).
    pub async fn list(&self, patient: Address) -> Result<Vec<Value>, RecordsError> {
        let bundle = self.get_json(&format!("/fhir/DocumentReference?patient={patient}&_count=1000")).await?;
        Ok(entries(&bundle))
    }

    /// One document's metadata.
    pub async fn metadata(&self, id: &str) -> Result<Value, RecordsError> {
        self.get_json(&format!("/fhir/DocumentReference/{id}")).await
    }

    /// One document's bytes.
    pub async fn download(&self, id: &str) -> Result<Vec<u8>, RecordsError> {
        let url = format!("{}/fhir/Binary/{id}", self.base);
        let reply = self.authed(self.http.get(&url)).send().await.map_err(|e| http(&url, &e))?;
        if !reply.status().is_success() {
            return Err(refusal(reply).await);
        }
        // A chunk failing its integrity check mid-stream ends the transfer with an error.
        Ok(reply.bytes().await.map_err(|e| http(&url, &e))?.into())
    }

    /// The access log of `patient` as the caller may read it (all of it for the patient, the caller's own
    /// entries otherwise).
    pub async fn audit(&self, patient: Address) -> Result<Vec<Value>, RecordsError> {
        let bundle = self.get_json(&format!("/fhir/AuditEvent?patient={patient}&_count=1000")).await?;
        Ok(entries(&bundle))
    }

    /// Everything of `patient`'s (the caller must be her): documents, metadata and access log as one FHIR
    /// Bundle (`GET /fhir/Patient/{address}/$everything`).
    pub async fn export(&self, patient: Address) -> Result<Value, RecordsError> {
        self.get_json(&format!("/fhir/Patient/{patient}/$everything")).await
    }

    /// Imports a Bundle of [`VaultClient::export`] (from any vault on the same chain) for `patient`; the
    /// vault checks every document against its on-chain anchor first. Returns its `OperationOutcome`.
    pub async fn import(&self, patient: Address, bundle: &Value) -> Result<Value, RecordsError> {
        let url = format!("{}/fhir/Patient/{patient}/$import", self.base);
        let request = self.authed(self.http.post(&url)).header("content-type", "application/fhir+json");
        let reply = request
            .body(serde_json::to_vec(bundle).unwrap_or_default())
            .send()
            .await
            .map_err(|e| http(&url, &e))?;
        answer(&url, reply).await
    }

    async fn get_json(&self, path: &str) -> Result<Value, RecordsError> {
        let url = format!("{}{path}", self.base);
        let reply = self.authed(self.http.get(&url)).send().await.map_err(|e| http(&url, &e))?;
        answer(&url, reply).await
    }

    fn authed(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }
}

/// An EIP-4361 message for the vault (issued now, without expiration: the session lifetime is the vault's).
pub fn siwe_message(domain: &str, uri: &str, chain: u64, address: Address, nonce: &str) -> String {
    let issued = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    format!(
        "{domain} wants you to sign in with your Ethereum account:\n{}\n\nSign in to the medledger vault.\n\n\
         URI: {uri}\nVersion: 1\nChain ID: {chain}\nNonce: {nonce}\nIssued At: {issued}",
        address.to_checksum(None)
    )
}

fn http(url: &str, e: &reqwest::Error) -> RecordsError {
    RecordsError::Http { url: url.to_owned(), message: e.to_string() }
}

async fn answer(url: &str, reply: reqwest::Response) -> Result<Value, RecordsError> {
    if !reply.status().is_success() {
        return Err(refusal(reply).await);
    }
    reply
        .json()
        .await
        .map_err(|e| RecordsError::Http { url: url.to_owned(), message: format!("not JSON: {e}") })
}

/// The vault's refusal: its `OperationOutcome` diagnostics, else the body's text.
async fn refusal(reply: reqwest::Response) -> RecordsError {
    let status = reply.status().as_u16();
    let text = reply.text().await.unwrap_or_default();
    let reason = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["issue"][0]["diagnostics"].as_str().map(str::to_owned))
        .unwrap_or_else(|| if text.is_empty() { "no explanation".to_owned() } else { text });
    RecordsError::Refused { status, reason }
}

fn entries(bundle: &Value) -> Vec<Value> {
    bundle["entry"].as_array().map(|e| e.iter().map(|e| e["resource"].clone()).collect()).unwrap_or_default()
}

/// The identifier of `system` (`contentHash`, `pointerHash`) of a `DocumentReference`.
pub fn identifier(resource: &Value, system: &str) -> Option<B256> {
    let system = format!("{FHIR_BASE}/{system}");
    resource["identifier"].as_array()?.iter().find(|i| i["system"] == system.as_str())?["value"]
        .as_str()?
        .parse()
        .ok()
}

/// The extension `name` (`anchor-status`, `salt`) of a `DocumentReference`, as text.
pub fn extension(resource: &Value, name: &str) -> Option<String> {
    let url = format!("{FHIR_BASE}/{name}");
    let e = resource["extension"].as_array()?.iter().find(|e| e["url"] == url.as_str())?;
    e["valueCode"].as_str().or_else(|| e["valueString"].as_str()).map(str::to_owned)
}

fn uploaded(resource: Value) -> Result<Uploaded, RecordsError> {
    Ok(Uploaded {
        id: resource["id"].as_str().ok_or(RecordsError::Missing("id"))?.to_owned(),
        content_hash: identifier(&resource, "contentHash").ok_or(RecordsError::Missing("contentHash"))?,
        pointer_hash: identifier(&resource, "pointerHash").ok_or(RecordsError::Missing("pointerHash"))?,
        salt: extension(&resource, "salt").and_then(|s| s.parse().ok()),
        resource,
    })
}

/// `RecordAnchors` with the user's own key: anchors what the vault returned, hides a record.
#[derive(Debug, Clone)]
pub struct Anchors {
    contract: RecordAnchors::RecordAnchorsInstance<DynProvider>,
    from: Address,
}

impl Anchors {
    /// Connects to `rpc_url` with `signer`, checking the node is on the manifest's chain.
    pub async fn connect(
        rpc_url: &str,
        manifest: &Manifest,
        signer: PrivateKeySigner,
    ) -> Result<Self, RecordsError> {
        let from = signer.address();
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer))
            .connect(rpc_url)
            .await
            .map_err(|e| RecordsError::Chain(format!("connecting to {rpc_url}: {e}")))?
            .erased();
        let chain =
            provider.get_chain_id().await.map_err(|e| RecordsError::Chain(format!("{rpc_url}: {e}")))?;
        if chain != manifest.chain_id {
            return Err(RecordsError::Chain(format!(
                "the node is on chain {chain}, the deployment manifest is for chain {}",
                manifest.chain_id
            )));
        }
        Ok(Self { contract: RecordAnchors::new(manifest.contracts.record_anchors, provider), from })
    }

    /// Anchors an upload in `episode`; returns the record's index and the block it was mined in.
    pub async fn anchor(&self, episode: u64, up: &Uploaded) -> Result<(u32, u64), RecordsError> {
        let call = self.contract.anchorRecord(episode, up.content_hash, up.pointer_hash).from(self.from);
        let receipt = mined(call.send().await, "anchorRecord").await?;
        let index = receipt
            .inner
            .logs()
            .iter()
            .find_map(|log| log.log_decode::<RecordAnchors::RecordAnchored>().ok())
            .map(|e| e.inner.data.index)
            .ok_or(RecordsError::Chain("anchorRecord: no RecordAnchored event in the receipt".into()))?;
        Ok((index, receipt.block_number.unwrap_or_default()))
    }

    /// Hides (or shows again) record `index` of `episode` (the patient only); returns the block.
    pub async fn set_hidden(&self, episode: u64, index: u32, hidden: bool) -> Result<u64, RecordsError> {
        let call = self.contract.setRecordHidden(episode, index, hidden).from(self.from);
        let receipt = mined(call.send().await, "setRecordHidden").await?;
        Ok(receipt.block_number.unwrap_or_default())
    }
}

async fn mined(
    sent: Result<
        alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>,
        alloy::contract::Error,
    >,
    what: &str,
) -> Result<alloy::rpc::types::TransactionReceipt, RecordsError> {
    let pending = sent.map_err(|e| RecordsError::Chain(format!("{what}: {}", revert_reason(&e))))?;
    let receipt = pending.get_receipt().await.map_err(|e| RecordsError::Chain(format!("{what}: {e}")))?;
    if !receipt.status() {
        return Err(RecordsError::Chain(format!(
            "{what}: the transaction {} reverted",
            receipt.transaction_hash
        )));
    }
    Ok(receipt)
}

fn revert_reason(e: &alloy::contract::Error) -> String {
    e.as_decoded_interface_error::<RecordAnchors::RecordAnchorsErrors>()
        .map_or_else(|| e.to_string(), |err| format!("reverted with {err:?}"))
}
