//! The access log's head anchored on chain (`AccessLogAnchors`), end to end through the binary:
//! `medledger vault anchor-log` posts (entries, head) with the operator's key, `medledger vault verify-log`
//! checks the log against the operator's anchors. An operator who edits an anchored entry is named at the
//! entry; one who re-chains the log after the edit (so that the chain itself verifies) is caught by the
//! anchor, which names the rewritten range; one who deletes anchored entries is caught too.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unused_macros)]

mod support;
#[macro_use]
mod vault_common;

use alloy::primitives::{Address, B256};
use medledger_vault::log::{LogEntry, OwnedEntry};
use sqlx::Row as _;
use vault_common::*;

/// Runs `medledger vault <args>` against the world's database and chain; (status, stdout, stderr).
fn vault_cmd(w: &World, args: &[&str], key: Option<&str>) -> (Option<i32>, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_medledger"));
    cmd.arg("vault")
        .args(args)
        .env("DATABASE_URL", &w.db_url)
        .env("MEDLEDGER_RPC_URL", w.devnet.rpc_url())
        .env("MEDLEDGER_MANIFEST", w.devnet.manifest_path())
        .env_remove("MEDLEDGER_PRIVATE_KEY");
    if let Some(key) = key {
        cmd.env("MEDLEDGER_PRIVATE_KEY", key);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn entries(w: &World) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM vault_access_log").fetch_one(&w.pool).await.unwrap()
}

/// Re-computes every entry's hashes from `from` on, as an operator covering an edit would.
async fn rechain(w: &World, from: i64) {
    let rows = sqlx::query(
        "SELECT seq, at, actor, patient, document, action, outcome, reason, consent_block, index_block
         FROM vault_access_log ORDER BY seq",
    )
    .fetch_all(&w.pool)
    .await
    .unwrap();
    let mut prev = B256::ZERO;
    for row in rows {
        let seq: i64 = row.get("seq");
        let entry = OwnedEntry {
            actor: row.get("actor"),
            patient: row.get("patient"),
            document: row.get("document"),
            action: row.get("action"),
            outcome: row.get("outcome"),
            reason: row.get("reason"),
            consent_block: row.get("consent_block"),
            index_block: row.get("index_block"),
        };
        let hash = LogEntry::hash(prev, seq, row.get("at"), &entry);
        if seq >= from {
            sqlx::query("UPDATE vault_access_log SET prev_hash = $2, entry_hash = $3 WHERE seq = $1")
                .bind(seq)
                .bind(prev.as_slice())
                .bind(hash.as_slice())
                .execute(&w.pool)
                .await
                .unwrap();
        }
        prev = hash;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anchored_history_cannot_be_rewritten_quietly() {
    let w = World::start().await;
    let x = support::actors(&w.devnet);
    let patient = x.signers.iter().find(|s| s.address() == x.patient).unwrap().clone();
    let operator = w.devnet.signers()[8].clone();
    let op_key = alloy::hex::encode_prefixed(operator.to_bytes());
    let op_addr = operator.address().to_checksum(None);
    w.synced().await;
    let me = w.client(&patient).await;
    let verify = ["verify-log", "--vault.operator", op_addr.as_str()];

    // Before any anchor: intact, nothing pinned. Anchoring needs the operator's key.
    for _ in 0..3 {
        me.list(x.patient).await.unwrap();
    }
    let (code, out, err) = vault_cmd(&w, &verify, None);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("has not anchored the log yet"), "{out}");
    let (code, _, err) = vault_cmd(&w, &["anchor-log"], None);
    assert_eq!(code, Some(1));
    assert!(err.contains("private key") || err.contains("signer"), "{err}");

    // First anchor; a second run has nothing to add.
    let first = entries(&w).await;
    let (code, out, err) = vault_cmd(&w, &["anchor-log"], Some(&op_key));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(&format!("anchored entries 1..={first}")) && out.contains("anchor #0"), "{out}");
    let (code, out, err) = vault_cmd(&w, &["anchor-log"], Some(&op_key));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("nothing to anchor"), "{out}");

    // More reads, a second anchor; verify agrees with it.
    for _ in 0..4 {
        me.list(x.patient).await.unwrap();
    }
    let second = entries(&w).await;
    let (code, out, err) = vault_cmd(&w, &["anchor-log"], Some(&op_key));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(&format!("anchored entries 1..={second}")) && out.contains("anchor #1"), "{out}");
    let (code, out, err) = vault_cmd(&w, &verify, None);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(&format!("anchor #1 of {op_addr}: entries 1..={second}")), "{out}");

    // The operator edits an anchored entry (past the append-only trigger): the chain names it.
    let target = first + 2;
    sqlx::query("ALTER TABLE vault_access_log DISABLE TRIGGER vault_access_log_append_only")
        .execute(&w.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE vault_access_log SET actor = $2 WHERE seq = $1")
        .bind(target)
        .bind(Address::repeat_byte(0x66).as_slice())
        .execute(&w.pool)
        .await
        .unwrap();
    let (code, _, err) = vault_cmd(&w, &verify, None);
    assert_eq!(code, Some(1));
    assert!(err.contains(&format!("access log entry {target} does not chain")), "{err}");

    // It re-chains the log after the edit, so that the chain verifies: the second anchor contradicts it,
    // the first still holds, so the rewrite lies in between.
    rechain(&w, target).await;
    medledger_vault::verify_log(&w.pool).await.expect("the re-chained log is self-consistent");
    let (code, _, err) = vault_cmd(&w, &verify, None);
    assert_eq!(code, Some(1));
    let named =
        format!("access log entries {}..={second} were rewritten after on-chain anchor #1", first + 1);
    assert!(err.contains(&named), "{err}");
    // Nor will it anchor the rewritten log.
    let (code, _, err) = vault_cmd(&w, &["anchor-log"], Some(&op_key));
    assert_eq!(code, Some(1));
    assert!(err.contains(&named), "{err}");

    // It deletes the anchored tail instead: the anchor covers more entries than the log holds.
    sqlx::query("DELETE FROM vault_access_log WHERE seq > $1").bind(first).execute(&w.pool).await.unwrap();
    let (code, _, err) = vault_cmd(&w, &verify, None);
    assert_eq!(code, Some(1));
    assert!(err.contains(&format!("the access log has {first} entries but on-chain anchor #1")), "{err}");
    assert!(err.contains(&format!("entry {} and later were deleted", first + 1)), "{err}");
}
