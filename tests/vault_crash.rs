//! SIGKILL during uploads: `medledger serve` with the vault, killed while several uploads stream; after a
//! restart no partial document is listed, every listed one reads back whole, and `medledger vault sweep`
//! finds the store and the metadata consistent (staging left by the killed uploads removed, no row without
//! its object).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use alloy::primitives::Address;
use medledger::records::VaultClient;
use medledger_core::bindings::RecordAnchors;
use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use support::*;

fn serve(db: &str, manifest: &std::path::Path, store: &str, keys: &std::path::Path, addr: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_medledger"))
        .args(["serve", "--db.url", db, "--api.addr", addr, "--vault.store", store])
        .arg("--manifest")
        .arg(manifest)
        .arg("--vault.key-file")
        .arg(keys)
        .env_remove("MEDLEDGER_RPC_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{base}/auth/nonce")).await.map(|r| r.status().as_u16()).ok() != Some(200) {
        assert!(Instant::now() < deadline, "medledger serve did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_uploads_leaves_nothing_partial() {
    let devnet = devnet().await;
    let p = wallet_provider(&devnet);
    let x = actors(&devnet);
    let (db, pool) = fresh_db("vault_crash").await;
    medledger_vault::migrate(&pool).await.unwrap();
    let chain_id = devnet.manifest().chain_id as i64;
    let indexer = Running::start(config(&devnet.ws_url(), &devnet), pool.clone());
    let ra = RecordAnchors::new(devnet.manifest().contracts.record_anchors, p.clone());
    ra.openEpisode(x.patient).from(x.patient).send().await.unwrap().get_receipt().await.unwrap();
    wait_synced(&pool, chain_id, &p, Duration::from_secs(30)).await;

    let dir = tempfile::tempdir().unwrap();
    let store = format!("file://{}", dir.path().join("store").display());
    std::fs::create_dir_all(dir.path().join("store")).unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, medledger_vault::crypto::Keyring::generate("crash-1").unwrap().1.as_bytes())
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let base = format!("http://{addr}");
    let patient: Address = x.patient;
    let signer = x.signers.iter().find(|s| s.address() == patient).unwrap().clone();

    let mut child = serve(&db, devnet.manifest_path(), &store, &keys, &addr);
    ready(&base).await;
    let mut client = VaultClient::new(&base);
    client.sign_in(&signer).await.unwrap();
    // One small upload that completes, then large ones killed mid-stream.
    let done =
        client.upload(patient, 1, "note", "text/plain", b"complete before the crash".to_vec()).await.unwrap();
    let body: Vec<u8> = (0..6 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let uploads: Vec<_> = (0..4)
        .map(|_| {
            let (c, b) = (client.clone(), body.clone());
            tokio::spawn(async move { c.upload(patient, 1, "scan", "application/pdf", b).await })
        })
        .collect();
    // Kill as soon as an upload is streaming into the store (a release build finishes 4 x 6 MiB in well
    // under a second, so a fixed delay may come too late).
    let staging = dir.path().join("store").join("staging");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_dir(&staging).map_or(true, |mut d| d.next().is_none()) {
        assert!(Instant::now() < deadline, "no upload reached the store");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let mut finished = Vec::new();
    for u in uploads {
        if let Ok(up) = u.await.unwrap() {
            finished.push(up.id);
        }
    }
    assert!(finished.len() < 4, "the kill interrupted uploads ({} finished)", finished.len());

    // Restart: only whole documents are listed, and each reads back whole.
    let mut child = serve(&db, devnet.manifest_path(), &store, &keys, &addr);
    ready(&base).await;
    let mut client = VaultClient::new(&base);
    client.sign_in(&signer).await.unwrap();
    let listed = client.list(patient).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&done.id.as_str()));
    for id in &finished {
        assert!(ids.contains(&id.as_str()), "an upload answered 201 is listed");
    }
    assert_eq!(ids.len(), 1 + finished.len(), "nothing partial is listed: {ids:?}");
    assert_eq!(client.download(&done.id).await.unwrap(), b"complete before the crash");
    for id in &finished {
        assert_eq!(client.download(id).await.unwrap(), body);
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // The sweep: staging of the killed uploads removed, no row without its object; a second pass is clean.
    let sweep = |older: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_medledger"))
            .args(["vault", "sweep", "--db.url", &db, "--vault.store", &store, "--older-than-secs", older])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = sweep("0");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(!out.contains("missing"), "{out}");
    assert!(!out.starts_with("staging removed 0,"), "the killed uploads left staging objects: {out}");
    let (code, out, err) = sweep("0");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with("staging removed 0, orphan objects removed 0"), "{out}");

    // The other maintenance commands on what is left: the log verifies, a new key re-wraps every data key.
    let vault = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_medledger")).arg("vault").args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = vault(&["verify-log", "--db.url", &db]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with("access log intact: "), "{out}");
    let rotated = dir.path().join("keys-rotated");
    let new = medledger_vault::crypto::Keyring::generate("crash-2").unwrap().1;
    std::fs::write(&rotated, format!("{}{}", new.as_str(), std::fs::read_to_string(&keys).unwrap())).unwrap();
    let (code, out, err) =
        vault(&["rotate-key", "--db.url", &db, "--vault.key-file", rotated.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(out.trim(), format!("re-wrapped {} data keys under key crash-2", 1 + finished.len()));
    let (_, out, _) = vault(&["rotate-key", "--db.url", &db, "--vault.key-file", rotated.to_str().unwrap()]);
    assert_eq!(out.trim(), "re-wrapped 0 data keys under key crash-2");
    // Without the old key, nothing would open: the command says so and fails.
    let (code, _, err) = vault(&["rotate-key", "--db.url", &db, "--vault.key-file", keys.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("did not open"), "{err}");
    indexer.stop().await;
}
