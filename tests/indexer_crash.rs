//! End-to-end: the `medledger index` process is SIGKILLed at several points of a backfill and restarted;
//! every table of the database (blocks and checkpoints included) equals a clean in-process index's, and the
//! secondary indexes the backfill deferred are all rebuilt as migrated.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::{Duration, Instant};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_backfill_loses_and_duplicates_nothing() {
    let devnet = devnet().await;
    let p = wallet_provider(&devnet);
    let x = actors(&devnet);
    let chain_id = devnet.manifest().chain_id as i64;
    full_workload(&devnet, &p).await;
    for i in 0..60u8 {
        let (patient, grantee) = if i % 2 == 0 { (x.patient, x.pharmacy) } else { (x.patient2, x.pharmacy) };
        grant_tx(&devnet, &p, patient, grantee, 1 + i % 7).await;
    }
    let head = {
        use alloy::providers::Provider;
        p.get_block_number().await.unwrap()
    };

    // Slow the node down a little so each run is killed mid-backfill.
    let proxy =
        proxy::Proxy::start(&devnet.rpc_url(), proxy::Faults { max_delay_ms: 10, ..Default::default() })
            .await;
    let (url, pool) = fresh_db("crash").await;
    let spawn = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_medledger"))
            .args(["index", "--rpc.url", &proxy.url, "--db.url", &url])
            .arg("--manifest")
            .arg(devnet.manifest_path())
            .args(["--rpc.range", "1", "--rpc.max-range", "1", "--rpc.concurrency", "3"])
            .args(["--max-reorg-depth", "3", "--metrics.addr", "off", "--rpc.poll-ms", "50"])
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .spawn()
            .expect("spawn medledger index")
    };
    let mut kills = 0;
    for stop_at in [5, 20, 45, 70] {
        let mut child = spawn();
        let deadline = Instant::now() + Duration::from_secs(60);
        while checkpoint(&pool).await < stop_at {
            assert!(Instant::now() < deadline, "no progress to block {stop_at}");
            assert!(child.try_wait().unwrap().is_none(), "indexer exited");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        child.start_kill().unwrap(); // SIGKILL
        child.wait().await.unwrap();
        kills += 1;
        // A fresh database's backfill builds its secondary indexes only once caught up.
        assert!(deferred_indexes(&pool).await > 0, "indexes deferred while backfilling");
    }
    assert!(checkpoint(&pool).await < head as i64, "killed before the end");
    let mut child = spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpoint(&pool).await < head as i64 {
        assert!(Instant::now() < deadline, "final run did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SIGTERM: graceful shutdown.
    let pid = child.id().unwrap() as i32;
    std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status().unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "graceful exit on SIGTERM: {status}");
    assert_eq!(kills, 4);

    // A clean index with the same reorg window: every table — blocks, checkpoints and deferred indexes
    // included — is a function of the chain, the checkpoint and --max-reorg-depth, not of how the ranges
    // fell, where the crashes struck or how the tip was followed.
    let (_, clean) = fresh_db("crash_clean").await;
    let mut c = config(&devnet.rpc_url(), &devnet);
    c.max_reorg_depth = 3;
    index_to_head(c, &clean, &p).await;
    // `medledger index` migrated the crashed database as `medledger migrate` does: the vault's tables too.
    medledger_vault::migrate(&clean).await.expect("vault migrations");
    assert_eq!(digest(&pool, chain_id).await, digest(&clean, chain_id).await, "crashes changed the index");
    let (crashed, fresh) = (digest_every_table(&pool).await, digest_every_table(&clean).await);
    assert!(crashed.contains_key("blocks") && crashed.contains_key("checkpoints"), "{crashed:?}");
    assert_eq!(crashed, fresh, "crashes changed a table (blocks and checkpoints included)");
    let blocks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM blocks b WHERE b.number <= (SELECT block_number - 3 FROM checkpoints) \
         AND NOT EXISTS (SELECT 1 FROM events e WHERE e.block_number = b.number)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(blocks, 0, "no event-less block below the reorg window");
    // Every index the migrations create is back, built by the run that caught up.
    let (_, migrated) = fresh_db("crash_schema").await;
    // `medledger index` migrates the database as `medledger migrate` does: the vault's tables too.
    medledger_vault::migrate(&migrated).await.expect("vault migrations");
    assert_eq!(deferred_indexes(&pool).await, 0, "no index left deferred");
    assert_eq!(
        index_definitions(&pool).await,
        index_definitions(&migrated).await,
        "indexes rebuilt as migrated"
    );
}
