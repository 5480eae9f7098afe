//! End-to-end hardening, against real anvil and a real PostgreSQL (no mocks):
//!
//! - database errors: constraint violations and undefined tables/columns are fatal (the indexer stops
//!   loudly), a terminated connection is retried;
//! - every backend of the indexer's database terminated (`pg_terminate_backend`) again and again during
//!   the backfill and while following: the index equals a fresh one;
//! - the WebSocket connection dropped (through a TCP proxy) while following: re-subscribed, new heads
//!   indexed without waiting for the fallback poll;
//! - a reorg detected inside the backfill pipeline: ranges of the new branch arrive while the committed
//!   checkpoint is on the old one (parent mismatch), repaired to the common ancestor;
//! - a hostile node: malformed JSON, logs from untracked addresses, wrong block hashes, a head that does
//!   not exist — retried, never written.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use alloy::providers::Provider;
use medledger_indexer::{Indexer, IndexerError};
use serde_json::json;
use sqlx::{Connection, PgPool};
use std::time::{Duration, Instant};
use support::{proxy::Faults, *};

/// `n` blocks with a consent grant each, alternating patients and scopes.
async fn grants(devnet: &medledger::devnet::Devnet, p: &alloy::providers::DynProvider, n: u8) {
    let x = actors(devnet);
    for i in 0..n {
        let patient = if i % 2 == 0 { x.patient } else { x.patient2 };
        grant_tx(devnet, p, patient, x.pharmacy, 1 + i % 7).await;
    }
}

/// Asserts the index in `pool` equals a fresh index of the same chain.
async fn assert_fresh(devnet: &medledger::devnet::Devnet, pool: &PgPool, what: &str) {
    let p = read_provider(&devnet.rpc_url());
    let chain_id = devnet.manifest().chain_id as i64;
    let (_, fresh) = fresh_db("faults_fresh").await;
    index_to_head(config(&devnet.rpc_url(), devnet), &fresh, &p).await;
    assert_eq!(
        digest(pool, chain_id).await,
        digest(&fresh, chain_id).await,
        "{what}: differs from a fresh index"
    );
}

fn db_error(e: sqlx::Error) -> IndexerError {
    IndexerError::Database(e)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_errors_are_classified_and_bugs_stop_the_indexer() {
    init_logs();
    let (url, pool) = fresh_db("faults_classify").await;
    sqlx::raw_sql(
        "CREATE TABLE parent (id int PRIMARY KEY);
         CREATE TABLE child (id int PRIMARY KEY, parent int REFERENCES parent (id), n int CHECK (n > 0));
         INSERT INTO parent VALUES (1);",
    )
    .execute(&pool)
    .await
    .unwrap();
    for (what, sql) in [
        ("unique violation", "INSERT INTO parent VALUES (1)"),
        ("foreign-key violation", "INSERT INTO child VALUES (1, 2, 1)"),
        ("check violation", "INSERT INTO child VALUES (1, 1, 0)"),
        ("not-null violation", "INSERT INTO checkpoints (chain_id) VALUES (1)"),
        ("undefined table", "SELECT * FROM no_such_table"),
        ("undefined column", "SELECT no_such_column FROM events"),
        ("undefined function", "SELECT no_such_function()"),
        ("syntax error", "SELEKT 1"),
        ("invalid input", "SELECT 'x'::int"),
    ] {
        let err = db_error(sqlx::query(sql).execute(&pool).await.expect_err(what));
        assert!(!err.is_retryable(), "{what} must be fatal: {err}");
    }

    // A terminated backend (what a PostgreSQL restart looks like to a connection) is retryable.
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut conn).await.unwrap();
    let _: bool =
        sqlx::query_scalar("SELECT pg_terminate_backend($1)").bind(pid).fetch_one(&pool).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let err = db_error(sqlx::query("SELECT 1").execute(&mut conn).await.expect_err("terminated connection"));
    assert!(err.is_retryable(), "a terminated connection must be retried: {err}");
    let refused =
        sqlx::PgConnection::connect("postgres://medledger@127.0.0.1:1/x").await.expect_err("refused");
    assert!(db_error(refused).is_retryable(), "a refused connection must be retried");

    // A write the schema rejects stops the indexer with that error instead of retrying it forever.
    let devnet = devnet().await;
    let p = wallet_provider(&devnet);
    grants(&devnet, &p, 3).await;
    let (_, pool) = fresh_db("faults_fatal").await;
    sqlx::query("ALTER TABLE consent_history ADD CONSTRAINT bug CHECK (scopes < 3)")
        .execute(&pool)
        .await
        .unwrap();
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        Indexer::new(config(&devnet.rpc_url(), &devnet), pool.clone()).run(std::future::pending()),
    )
    .await
    .expect("the indexer stops by itself");
    let err = result.expect_err("a check violation stops the indexer");
    assert!(matches!(err, IndexerError::Database(_)) && !err.is_retryable(), "{err}");
    assert!(err.to_string().contains("bug"), "the error names the constraint: {err}");
    assert!(started.elapsed() < Duration::from_secs(10), "stopped at once, not after retries");
    assert!(checkpoint(&pool).await < p.get_block_number().await.unwrap() as i64, "nothing past the bug");
}

/// Terminates every other backend connected to the database of `pool`.
async fn terminate_backends(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()) t",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_every_backend_terminated_during_backfill_and_live() {
    let devnet = devnet().await;
    let p = wallet_provider(&devnet);
    let chain_id = devnet.manifest().chain_id as i64;
    full_workload(&devnet, &p).await;
    grants(&devnet, &p, 30).await;
    let head = p.get_block_number().await.unwrap() as i64;

    // A slow backfill (one block per range, a delaying proxy), interrupted again and again.
    let proxy =
        proxy::Proxy::start(&devnet.rpc_url(), Faults { max_delay_ms: 10, ..Faults::default() }).await;
    let (_, pool) = fresh_db("faults_pgkill").await;
    let mut c = config(&proxy.url, &devnet);
    c.initial_range = 1;
    c.max_range = 1;
    c.concurrency = 3;
    c.max_reorg_depth = 3;
    let running = Running::start(c, pool.clone());
    let mut killed = 0;
    let mut rounds = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpoint(&pool).await < head - 5 && rounds < 6 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        killed += terminate_backends(&pool).await;
        rounds += 1;
        assert!(Instant::now() < deadline);
    }
    assert!(killed >= 3, "backends terminated during the backfill ({killed})");
    wait_synced(&pool, chain_id, &p, Duration::from_secs(60)).await;

    // While following: kill, then new blocks.
    for i in 0..3u8 {
        assert!(terminate_backends(&pool).await >= 1, "the indexer's connection was there to terminate");
        grants(&devnet, &p, 1 + i).await;
        wait_synced(&pool, chain_id, &p, Duration::from_secs(30)).await;
    }
    running.stop().await;
    assert_fresh(&devnet, &pool, "after backends were terminated").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_websocket_is_resubscribed() {
    let devnet = devnet().await;
    let p = wallet_provider(&devnet);
    let chain_id = devnet.manifest().chain_id as i64;
    grants(&devnet, &p, 3).await;
    let port = devnet.ws_url().rsplit(':').next().unwrap().trim_end_matches('/').parse::<u16>().unwrap();
    let upstream = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let tcp = proxy::TcpProxy::start(upstream).await;
    let (_, pool) = fresh_db("faults_ws").await;
    let mut c = config(&format!("ws://{}", tcp.addr), &devnet);
    // The fallback poll every 5 × 10 s: only a live subscription indexes new heads within seconds.
    c.poll_interval = Duration::from_secs(10);
    let running = Running::start(c, pool.clone());
    wait_synced(&pool, chain_id, &p, Duration::from_secs(20)).await;
    for round in 0..3 {
        let before = tcp.accepted();
        tcp.drop_connections();
        // Until the new connection stands, heads are not announced; wait for it, then mine.
        let deadline = Instant::now() + Duration::from_secs(10);
        while tcp.accepted() == before {
            assert!(Instant::now() < deadline, "round {round}: no reconnection");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The transport re-subscribes once its handshake is done, which a loaded machine may delay: a head
        // mined before that is not announced (the next one brings it along). So mine a block every second
        // until the index is at the head — within 8 s, where only the fallback poll (50 s) would get there
        // without a subscription.
        let t = Instant::now();
        grants(&devnet, &p, 2).await;
        let mut extra = 0;
        while !synced(&pool, chain_id, &p).await {
            assert!(
                t.elapsed() < Duration::from_secs(8),
                "round {round}: new heads not indexed ({extra} more blocks mined)"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
            if t.elapsed() >= Duration::from_secs(extra + 1) {
                let _: String = rpc(&p, "evm_mine", json!([])).await;
                extra += 1;
            }
        }
        eprintln!("round {round}: new heads indexed {:?} after mining ({extra} more blocks)", t.elapsed());
    }
    running.stop().await;
    assert_fresh(&devnet, &pool, "after WebSocket drops").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorg_detected_inside_the_backfill_pipeline() {
    let devnet = devnet().await;
    let p = wallet_provider(&devnet);
    let x = actors(&devnet);
    let chain_id = devnet.manifest().chain_id as i64;
    grants(&devnet, &p, 10).await;
    let fork = p.get_block_number().await.unwrap();
    let snap: String = rpc(&p, "evm_snapshot", json!([])).await;
    grants(&devnet, &p, 40).await; // old branch: fork+1 ..= fork+40

    // Log queries reaching above fork+3 wait at the gate: the writer commits the old branch up to
    // fork+3 while later ranges are in flight.
    let proxy = proxy::Proxy::start(&devnet.rpc_url(), Faults::default()).await;
    proxy.gate_logs_above(fork + 3);
    let (_, pool) = fresh_db("faults_pipeline").await;
    let mut c = config(&proxy.url, &devnet);
    c.initial_range = 1;
    c.max_range = 1;
    c.concurrency = 4;
    c.max_reorg_depth = 10;
    let running = Running::start(c, pool.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    while checkpoint(&pool).await < (fork + 3) as i64 || proxy.held() < 1 {
        assert!(Instant::now() < deadline, "backfill did not reach the gate");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let old_hash: Vec<u8> =
        sqlx::query_scalar("SELECT block_hash FROM checkpoints").fetch_one(&pool).await.unwrap();

    // The new branch: fork+1 onwards replaced, and longer.
    let _: bool = rpc(&p, "evm_revert", json!([snap])).await;
    for i in 0..45u8 {
        grant_tx(&devnet, &p, x.patient2, x.prescriber, 1 + i % 7).await;
    }
    let new = p.get_block_by_number((fork + 3).into()).await.unwrap().unwrap();
    assert_ne!(new.header.hash.to_vec(), old_hash, "fork+3 was replaced");
    proxy.open_gate();
    wait_synced(&pool, chain_id, &p, Duration::from_secs(60)).await;
    let (reorgs, ancestor): (i64, Option<i64>) =
        sqlx::query_as("SELECT reorg_count, last_reorg_block FROM checkpoints")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(reorgs >= 1, "the parent mismatch was repaired as a reorg");
    assert_eq!(ancestor, Some(fork as i64), "reverted to the common ancestor");
    running.stop().await;
    assert_fresh(&devnet, &pool, "after a reorg inside the backfill pipeline").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_node_answers_are_retried_never_written() {
    let devnet = devnet().await;
    let p = wallet_provider(&devnet);
    let chain_id = devnet.manifest().chain_id as i64;
    full_workload(&devnet, &p).await;
    grants(&devnet, &p, 10).await;
    let faults = Faults {
        malformed_every: 13,
        foreign_log_every: 3,
        wrong_hash_every: 4,
        lie_head_every: 5,
        lie_head_by: 1_000,
        ..Faults::default()
    };
    let proxy = proxy::Proxy::start(&devnet.rpc_url(), faults).await;
    let (_, pool) = fresh_db("faults_hostile").await;
    let mut c = config(&proxy.url, &devnet);
    c.initial_range = 4;
    c.max_range = 8;
    let running = Running::start(c, pool.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut rounds = 0;
    loop {
        let head = p.get_block_number().await.unwrap() as i64;
        let cp = checkpoint(&pool).await;
        assert!(cp <= head, "indexed block {cp} beyond the real head {head}");
        if cp == head && rounds >= 2 {
            break;
        }
        if cp == head {
            grants(&devnet, &p, 3).await;
            rounds += 1;
        }
        assert!(Instant::now() < deadline, "no progress past block {cp} of {head}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_synced(&pool, chain_id, &p, Duration::from_secs(30)).await;
    running.stop().await;
    let hostile = proxy.hostile();
    for kind in ["malformed", "foreign_log", "wrong_hash", "lie_head"] {
        assert!(hostile.get(kind).is_some_and(|n| *n >= 1), "no {kind} answer given: {hostile:?}");
    }
    let foreign: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE address = $1")
        .bind(alloy::hex::decode("00000000000000000000000000000000deadbeef").unwrap())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(foreign, 0, "no log from an untracked address written");
    assert_fresh(&devnet, &pool, "behind a hostile node").await;
}
