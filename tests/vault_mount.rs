//! The record vault mounted in the API server (`medledger serve|run|dev`): over a real socket beside
//! GraphQL, with the peer address reaching its rate limiter, its own body limit, and off when unset.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use medledger::server::{self, ServerConfig};
use medledger_vault::{crypto::Keyring, store::Store, Vault, VaultConfig};
use std::{sync::Arc, time::Duration};

async fn start(pool: sqlx::PgPool, vault: Option<Arc<Vault>>) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = ServerConfig::new(addr, 31337);
    config.shutdown_grace = Duration::from_secs(1);
    config.threads = 2;
    config.vault = vault;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve_on(listener, config, pool, async {
        let _ = rx.await;
    }));
    (format!("http://{addr}"), tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_is_served_beside_graphql() {
    let (_url, pool) = support::fresh_db("vault_mount").await;
    medledger_vault::migrate(&pool).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::from_url(&format!("file://{}", dir.path().display())).unwrap();
    let (keys, _) = Keyring::generate("test-1").unwrap();
    let config = VaultConfig::new(31337, "http://vault.test");
    let vault = Arc::new(Vault::new(config, pool.clone(), store, keys, None));
    let (base, stop) = start(pool.clone(), Some(vault)).await;
    let client = reqwest::Client::new();

    // Sign-in is served, naming the configured domain (not the request's Host).
    let r = client.get(format!("{base}/auth/nonce")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the rate limiter needs the peer address (connect info)");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["domain"], "vault.test");
    assert_eq!(body["chainId"], 31337);

    // Without a session: 401 as an OperationOutcome, also for a body over GraphQL's 64 KiB limit (the
    // vault has its own limit).
    let r = client
        .get(format!("{base}/fhir/DocumentReference?patient=0x{}", "11".repeat(20)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["resourceType"], "OperationOutcome");
    let r = client
        .post(format!("{base}/fhir/Binary?patient=0x{}&episode=1&type=note", "11".repeat(20)))
        .header("content-type", "text/plain")
        // Refused before its body is read, so the server closes the connection: not one to reuse.
        .header("connection", "close")
        .body(vec![b'x'; 200 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // GraphQL is still there, with its own limit.
    let r = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = client.post(format!("{base}/graphql")).body(vec![b' '; 200 * 1024]).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_vault_no_routes() {
    let (_url, pool) = support::fresh_db("vault_off").await;
    let (base, stop) = start(pool, None).await;
    let r = reqwest::get(format!("{base}/auth/nonce")).await.unwrap();
    assert_eq!(r.status(), 404);
    // GraphQL's vault fields say the vault is not served here.
    let query = format!("{{ patient(address: \"0x{}\") {{ documents {{ id }} }} }}", "11".repeat(20));
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .json(&serde_json::json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("not served here"), "{body}");
    let _ = stop.send(());
}
