//! End-to-end: every event kind, sent through the real contracts on anvil, lands in PostgreSQL with the
//! right values; a fault-injecting proxy changes nothing; live following over WebSocket with a hot
//! standby that takes over.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use alloy::{
    primitives::{Address, B256},
    providers::Provider,
    rpc::types::Filter,
};
use sqlx::{PgPool, Row};
use std::time::Duration;
use support::{proxy::Faults, *};

async fn one<T>(pool: &PgPool, sql: &str, binds: &[&[u8]]) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    let mut q = sqlx::query_scalar::<_, T>(sql);
    for b in binds {
        q = q.bind(b.to_vec());
    }
    q.fetch_one(pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_projections_faults_live_and_standby() {
    let devnet = devnet().await;
    let p = wallet_provider(&devnet);
    eprintln!("devnet up");
    let produced = full_workload(&devnet, &p).await;
    eprintln!("workload done");
    let x = actors(&devnet);
    let chain_id = devnet.manifest().chain_id as i64;

    // ---- A clean index of the whole chain.
    let (_, pool) = fresh_db("events").await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await.unwrap();
    listener.listen(medledger_core::NOTIFY_CHANNEL).await.unwrap();
    index_to_head(config(&devnet.rpc_url(), &devnet), &pool, &p).await;

    // Every committed batch notified subscribers with `<chain id>:<checkpoint block>`; the last one names the
    // checkpoint the index ended at.
    let checkpoint: i64 = one(&pool, "SELECT block_number FROM checkpoints", &[]).await;
    let want = format!("{chain_id}:{checkpoint}");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let n = tokio::time::timeout_at(deadline, listener.recv())
            .await
            .expect("no NOTIFY for the final checkpoint within 30 s")
            .expect("listener connection");
        assert!(n.payload().starts_with(&format!("{chain_id}:")), "unexpected payload {}", n.payload());
        if n.payload() == want {
            break;
        }
    }
    drop(listener);

    // Every log of the four contracts is there, exactly once.
    let m = devnet.manifest().contracts;
    let logs = p
        .get_logs(
            &Filter::new()
                .address(m.all().to_vec())
                .from_block(0)
                .to_block(p.get_block_number().await.unwrap()),
        )
        .await
        .unwrap();
    let count: i64 = one(&pool, "SELECT count(*) FROM events", &[]).await;
    assert_eq!(count as usize, logs.len());
    let names: Vec<String> = sqlx::query_scalar("SELECT DISTINCT event_name FROM events ORDER BY 1")
        .fetch_all(&pool)
        .await
        .unwrap();
    for expected in [
        "CredentialRegistered",
        "CredentialRenewed",
        "CredentialSchedulesChanged",
        "CredentialSuspended",
        "CredentialReinstated",
        "CredentialRevoked",
        "RoleGranted",
        "ConsentGranted",
        "ConsentRevoked",
        "EmergencyAccessOpened",
        "EmergencyAccessEnded",
        "EmergencyAccessBlockChanged",
        "EmergencyAccessFlagged",
        "NoncesInvalidated",
        "EpisodeOpened",
        "RecordAnchored",
        "RecordVisibilityChanged",
        "EpisodeClosed",
        "PrescriptionIssued",
        "PrescriptionDispensed",
        "PharmacyChanged",
        "PrescriptionCancelled",
        "ShortSupplyBalanceDue",
    ] {
        assert!(names.iter().any(|n| n == expected), "no {expected} event indexed: {names:?}");
    }
    // Typed columns: accounts (GIN), rx_id, episode_id.
    let with_patient: i64 =
        one(&pool, "SELECT count(*) FROM events WHERE accounts @> ARRAY[$1::bytea]", &[x.patient.as_slice()])
            .await;
    assert!(with_patient >= 10, "accounts index finds the patient's events ({with_patient})");
    let rx1_events: i64 =
        one(&pool, "SELECT count(*) FROM events WHERE rx_id = $1", &[produced.rx1.as_slice()]).await;
    assert_eq!(rx1_events, 5, "issue, 3 dispenses, pharmacy change");

    // Credentials.
    let row = sqlx::query(
        "SELECT kind, status, schedules, license_hash, expires_at FROM credentials WHERE account = $1",
    )
    .bind(x.prescriber.to_vec())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>("kind"), "prescriber");
    assert_eq!(row.get::<String, _>("status"), "active");
    assert_eq!(row.get::<i16, _>("schedules"), 0b0001_1100);
    assert_eq!(row.get::<Vec<u8>, _>("license_hash"), B256::repeat_byte(0x12).to_vec());
    let expires: sqlx::types::chrono::DateTime<sqlx::types::chrono::Utc> = row.get("expires_at");
    assert_eq!(expires.timestamp() as u64, produced.now + 2 * 365 * 86_400);
    let status: String =
        one(&pool, "SELECT status FROM credentials WHERE account = $1", &[x.prescriber2.as_slice()]).await;
    assert_eq!(status, "active", "reinstated");
    let revoked = sqlx::query("SELECT status, status_reason, kind FROM credentials WHERE account = $1")
        .bind(x.pharmacy2.to_vec())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(revoked.get::<String, _>("status"), "revoked");
    assert_eq!(revoked.get::<Option<i32>, _>("status_reason"), Some(9));
    assert_eq!(revoked.get::<String, _>("kind"), "pharmacy");
    let changes: Vec<String> = sqlx::query_scalar(
        "SELECT change FROM credential_history WHERE account = $1 ORDER BY block_number, log_index",
    )
    .bind(x.prescriber2.to_vec())
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(changes, ["registered", "suspended", "reinstated"]);

    // Consents.
    let c = sqlx::query("SELECT scopes, revoked, granted_relayed, emergency_until FROM consents WHERE patient = $1 AND grantee = $2")
        .bind(x.patient.to_vec())
        .bind(x.prescriber.to_vec())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(c.get::<i16, _>("scopes"), 7);
    assert!(!c.get::<bool, _>("revoked"));
    assert_eq!(c.get::<Option<bool>, _>("granted_relayed"), Some(false));
    assert!(
        c.get::<Option<sqlx::types::chrono::DateTime<sqlx::types::chrono::Utc>>, _>("emergency_until")
            .is_some(),
        "emergency open"
    );
    let c = sqlx::query("SELECT scopes, revoked FROM consents WHERE patient = $1 AND grantee = $2")
        .bind(x.patient.to_vec())
        .bind(x.prescriber2.to_vec())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((c.get::<i16, _>("scopes"), c.get::<bool, _>("revoked")), (0, true));
    let c = sqlx::query(
        "SELECT granted_relayed, emergency_until, emergency_ended_by FROM consents WHERE patient = $1 AND grantee = $2",
    )
    .bind(x.patient2.to_vec())
    .bind(x.prescriber.to_vec())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(c.get::<Option<bool>, _>("granted_relayed"), Some(true));
    assert!(
        c.get::<Option<sqlx::types::chrono::DateTime<sqlx::types::chrono::Utc>>, _>("emergency_until")
            .is_none(),
        "ended"
    );
    assert_eq!(c.get::<Option<Vec<u8>>, _>("emergency_ended_by"), Some(x.patient2.to_vec()));
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM consent_history WHERE patient = $1 ORDER BY block_number, log_index",
    )
    .bind(x.patient2.to_vec())
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(actions, ["granted", "emergency_opened", "emergency_ended", "emergency_flagged"]);
    // Issue 19: the justification's hash, the block list, the reviewer's flag (on the pair and in the trail).
    let why = B256::repeat_byte(0xe1).to_vec();
    let open_why: Option<Vec<u8>> = one(
        &pool,
        "SELECT emergency_justification FROM consents WHERE patient = $1 AND grantee = $2",
        &[x.patient.as_slice(), x.prescriber.as_slice()],
    )
    .await;
    assert_eq!(open_why, Some(why.clone()));
    let opened_why: Vec<u8> = one(
        &pool,
        "SELECT justification_hash FROM consent_history WHERE patient = $1 AND action = 'emergency_opened'",
        &[x.patient2.as_slice()],
    )
    .await;
    assert_eq!(opened_why, why);
    let blocked: bool = one(
        &pool,
        "SELECT emergency_blocked FROM consents WHERE patient = $1 AND grantee = $2",
        &[x.patient.as_slice(), x.prescriber2.as_slice()],
    )
    .await;
    assert!(blocked, "blocked, unblocked, blocked again");
    let block_list: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM consent_history WHERE patient = $1 AND grantee = $2 AND action LIKE 'emergency_%' \
         ORDER BY block_number, log_index",
    )
    .bind(x.patient.to_vec())
    .bind(x.prescriber2.to_vec())
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(block_list, ["emergency_blocked", "emergency_unblocked", "emergency_blocked"]);
    let flag = sqlx::query(
        "SELECT h.reviewer, h.finding_code, h.flagged_opened_at, c.emergency_flags FROM consent_history h \
         JOIN consents c USING (chain_id, patient, grantee) WHERE h.action = 'emergency_flagged'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(flag.get::<Option<Vec<u8>>, _>("reviewer"), Some(x.relayer.to_vec()));
    assert_eq!(flag.get::<Option<i32>, _>("finding_code"), Some(11));
    assert!(flag
        .get::<Option<sqlx::types::chrono::DateTime<sqlx::types::chrono::Utc>>, _>("flagged_opened_at")
        .is_some());
    assert_eq!(flag.get::<i32, _>("emergency_flags"), 1);
    let in_trail: i64 = one(
        &pool,
        "SELECT count(*) FROM events WHERE event_name = 'EmergencyAccessFlagged' AND accounts @> ARRAY[$1::bytea]",
        &[x.relayer.as_slice()],
    )
    .await;
    assert_eq!(in_trail, 1, "the reviewer's trail shows the flag");

    // Episodes and records (the head matches the contract's).
    let ra = medledger_core::bindings::RecordAnchors::new(m.record_anchors, p.clone());
    let head1 = ra.headOf(1).call().await.unwrap();
    let e = sqlx::query("SELECT closed, record_count, head, opened_by FROM episodes WHERE episode_id = 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(e.get::<bool, _>("closed"));
    assert_eq!(e.get::<i64, _>("record_count"), 3);
    assert_eq!(e.get::<Vec<u8>, _>("head"), head1.to_vec());
    assert_eq!(e.get::<Vec<u8>, _>("opened_by"), x.prescriber.to_vec());
    let open: bool = one(&pool, "SELECT NOT closed FROM episodes WHERE episode_id = 2", &[]).await;
    assert!(open);
    let hidden: Vec<bool> =
        sqlx::query_scalar("SELECT hidden FROM records WHERE episode_id = 1 ORDER BY record_index")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(hidden, [false, true, false]);
    let last_head: Vec<u8> =
        one(&pool, "SELECT head FROM records WHERE episode_id = 1 AND record_index = 2", &[]).await;
    assert_eq!(last_head, head1.to_vec());

    // Prescriptions and dispenses.
    let r = sqlx::query(
        "SELECT fills_used, quantity_dispensed::int8 AS q, dispense_count, pharmacy, issued_pharmacy, cancelled, relayed
         FROM prescriptions WHERE rx_id = $1",
    )
    .bind(produced.rx1.to_vec())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(r.get::<i16, _>("fills_used"), 2);
    assert_eq!(r.get::<i64, _>("q"), 60);
    assert_eq!(r.get::<i64, _>("dispense_count"), 3);
    assert_eq!(r.get::<Option<Vec<u8>>, _>("pharmacy"), None, "changed to any pharmacy");
    assert_eq!(r.get::<Option<Vec<u8>>, _>("issued_pharmacy"), Some(x.pharmacy.to_vec()));
    assert!(!r.get::<bool, _>("cancelled"));
    assert!(!r.get::<bool, _>("relayed"));
    let r = sqlx::query("SELECT cancelled, cancel_reason FROM prescriptions WHERE rx_id = $1")
        .bind(produced.rx2.to_vec())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(r.get::<bool, _>("cancelled"));
    assert_eq!(r.get::<Option<i32>, _>("cancel_reason"), Some(5));
    let relayed: bool =
        one(&pool, "SELECT relayed FROM prescriptions WHERE rx_id = $1", &[produced.rx3.as_slice()]).await;
    assert!(relayed);
    // Issue 19: who cancelled (the prescriber, the patient, a registrar's void); the 72-hour balance due.
    for (rx, by, reason) in
        [(produced.rx2, "prescriber", 5), (produced.rx4, "patient", 6), (produced.rx5, "registrar", 8)]
    {
        let r =
            sqlx::query("SELECT cancelled, cancelled_by, cancel_reason FROM prescriptions WHERE rx_id = $1")
                .bind(rx.to_vec())
                .fetch_one(&pool)
                .await
                .unwrap();
        assert!(r.get::<bool, _>("cancelled"), "{by}");
        assert_eq!(r.get::<Option<String>, _>("cancelled_by").as_deref(), Some(by));
        assert_eq!(r.get::<Option<i32>, _>("cancel_reason"), Some(reason), "{by}");
    }
    let due: bool = one(
        &pool,
        "SELECT p.short_supply_until = d.block_time + interval '72 hours' FROM prescriptions p \
         JOIN dispenses d USING (chain_id, rx_id) WHERE p.rx_id = $1",
        &[produced.rx6.as_slice()],
    )
    .await;
    assert!(due, "the balance is due 72 hours after the short-supply fill");
    let fills: Vec<(i16, i64, i64)> = sqlx::query_as(
        "SELECT fill_number, quantity, fill_dispensed FROM dispenses WHERE rx_id = $1 ORDER BY block_number, log_index",
    )
    .bind(produced.rx1.to_vec())
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(fills, [(1, 10, 10), (1, 20, 30), (2, 30, 30)]);
    // Each dispense names its prescription's patient (the event does not carry it: the fold does).
    let (all, mismatched): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE d.patient IS DISTINCT FROM p.patient) FROM dispenses d \
         LEFT JOIN prescriptions p USING (chain_id, rx_id)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((all, mismatched), (4, 0), "three of rx1, the short-supply fill of rx6");
    let registrar: bool = one(
        &pool,
        "SELECT active FROM role_members WHERE account = $1 AND role = $2",
        &[x.admin.as_slice(), alloy::primitives::keccak256("REGISTRAR_ROLE").as_slice()],
    )
    .await;
    assert!(registrar);

    let clean = digest(&pool, chain_id).await;
    eprintln!("clean index checked");

    // ---- Through a faulty proxy (429, 503, hangs past the timeout, delays, range limits): same tables.
    let proxy = proxy::Proxy::start(
        &devnet.rpc_url(),
        Faults {
            rate_limit_every: 7,
            hang_every: 17,
            hang_for: Duration::from_millis(900),
            unavailable_every: 11,
            max_delay_ms: 15,
            max_log_range: 6,
            ..Default::default()
        },
    )
    .await;
    let (_, faulty) = fresh_db("faults").await;
    let mut c = config(&proxy.url, &devnet);
    c.rpc_timeout = Duration::from_millis(400);
    c.max_reorg_depth = 4; // most of the chain goes through the backfill pipeline
    c.initial_range = 64;
    c.concurrency = 3;
    index_to_head(c, &faulty, &p).await;
    assert!(proxy.injected() > 10, "faults were injected ({})", proxy.injected());
    assert_eq!(digest(&faulty, chain_id).await, clean, "faults changed the index");

    // ---- Live over WebSocket, with a hot standby that takes over.
    let (_, live) = fresh_db("live").await;
    let first = Running::start(config(&devnet.ws_url(), &devnet), live.clone());
    let head = p.get_block_number().await.unwrap();
    first.wait_for(&live, chain_id, head, Duration::from_secs(30)).await;
    let standby = Running::start(config(&devnet.ws_url(), &devnet), live.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(first.status.is_writer() && !standby.status.is_writer(), "one writer, one standby");
    grant_tx(&devnet, &p, x.patient2, x.prescriber2, 1).await;
    let head = p.get_block_number().await.unwrap();
    first.wait_for(&live, chain_id, head, Duration::from_secs(30)).await;
    let scopes: i16 = one(
        &live,
        "SELECT scopes FROM consents WHERE patient = $1 AND grantee = $2",
        &[x.patient2.as_slice(), x.prescriber2.as_slice()],
    )
    .await;
    assert_eq!(scopes, 1);
    first.stop().await;
    grant_tx(&devnet, &p, x.patient2, x.prescriber2, 3).await;
    let head = p.get_block_number().await.unwrap();
    standby.wait_for(&live, chain_id, head, Duration::from_secs(20)).await;
    assert!(standby.status.is_writer());
    standby.stop().await;

    let (_, fresh) = fresh_db("fresh").await;
    index_to_head(config(&devnet.rpc_url(), &devnet), &fresh, &p).await;
    assert_eq!(
        digest(&live, chain_id).await,
        digest(&fresh, chain_id).await,
        "live index equals a fresh one"
    );
    let _ = Address::ZERO;
}
