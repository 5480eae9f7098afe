//! Sign-in by contract wallets (ERC-1271 `isValidSignature` through the RPC) against a real anvil.
#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use alloy::{
    node_bindings::Anvil,
    primitives::{Address, Bytes},
    providers::{Provider, ProviderBuilder},
    signers::{local::PrivateKeySigner, SignerSync},
};
use medledger_vault::{auth::Auth, AuthError, VaultConfig, VaultError};
use support::{siwe_message, Db};

/// Runtime code answering every `isValidSignature` with the ERC-1271 magic value 0x1626ba7e.
const ACCEPTS: [u8; 16] = hex_literal(b"631626ba7e60e01b60005260206000f3");
/// Runtime code answering 0xffffffff (not valid).
const REJECTS: [u8; 16] = hex_literal(b"63ffffffff60e01b60005260206000f3");

const fn hex_literal(s: &[u8; 32]) -> [u8; 16] {
    const fn nib(c: u8) -> u8 {
        if c <= b'9' {
            c - b'0'
        } else {
            c - b'a' + 10
        }
    }
    let mut out = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        out[i] = nib(s[2 * i]) << 4 | nib(s[2 * i + 1]);
        i += 1;
    }
    out
}

fn anvil_path() -> std::path::PathBuf {
    let local = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../node_modules/.bin/anvil");
    if local.exists() {
        return local;
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("anvil"))
        .find(|p| p.exists())
        .expect("anvil not found: run `source scripts/env && medledger_bootstrap_npm`")
}

#[tokio::test]
async fn contract_wallets_sign_in_through_erc1271() {
    let anvil = Anvil::new().path(anvil_path()).try_spawn().unwrap();
    let provider = ProviderBuilder::new().connect_http(anvil.endpoint_url()).erased();
    let (accepts, rejects) = (Address::repeat_byte(0xac), Address::repeat_byte(0xde));
    for (at, code) in [(accepts, ACCEPTS), (rejects, REJECTS)] {
        let _: serde_json::Value =
            provider.raw_request("anvil_setCode".into(), (at, Bytes::copy_from_slice(&code))).await.unwrap();
    }
    let db = Db::start().await;
    let chain = provider.get_chain_id().await.unwrap();
    let auth = Auth::new(VaultConfig::new(chain, "http://localhost:8080"), db.pool.clone(), Some(provider));
    let message = |address: Address, nonce: &str| {
        siwe_message("localhost:8080", "http://localhost:8080", chain, address, nonce, None)
    };

    // The wallet contract accepts: signed in as the contract.
    let n = auth.nonce().await.unwrap();
    let session = auth.login(&message(accepts, &n.nonce), "0xc0ffee").await.unwrap();
    assert_eq!(session.address, accepts);

    // The wallet contract says no: a bad signature (and the nonce is not used up by it).
    let n = auth.nonce().await.unwrap();
    let err = auth.login(&message(rejects, &n.nonce), "0xc0ffee").await.unwrap_err();
    assert!(matches!(err, VaultError::Auth(AuthError::BadSignature { .. })), "{err:?}");

    // An account without code and a signature that is not its own: a bad signature.
    let eoa = PrivateKeySigner::random();
    let other = PrivateKeySigner::random();
    let msg = message(eoa.address(), &n.nonce);
    let forged = other.sign_message_sync(msg.as_bytes()).unwrap();
    let err = auth.login(&msg, &hex::encode(forged.as_bytes())).await.unwrap_err();
    assert!(matches!(err, VaultError::Auth(AuthError::BadSignature { .. })), "{err:?}");
    // Its own EIP-191 signature: signed in, with the same nonce (still unused).
    let own = eoa.sign_message_sync(msg.as_bytes()).unwrap();
    assert_eq!(auth.login(&msg, &hex::encode(own.as_bytes())).await.unwrap().address, eoa.address());

    // The RPC is down: a contract-wallet sign-in is a 503, not a refusal.
    drop(anvil);
    let n = auth.nonce().await.unwrap();
    let err = auth.login(&message(accepts, &n.nonce), "0xc0ffee").await.unwrap_err();
    assert!(matches!(err, VaultError::Unavailable { what: "rpc", .. }), "{err:?}");
    assert_eq!(err.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
}
