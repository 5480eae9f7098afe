//! The vault's schema beside the indexer's, the access log's hash chain, and the consent state read from the
//! indexer's tables, against a throwaway PostgreSQL.
#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use chrono::{Duration, TimeZone, Utc};
use medledger_vault::{
    log::{self, NewEntry},
    policy::{scope, ConsentState},
    IntegrityError, VaultError,
};
use support::Db;

const CHAIN: i64 = 31337;
const PATIENT: [u8; 20] = [0xaa; 20];
const DOCTOR: [u8; 20] = [0xd0; 20];

async fn versions(pool: &sqlx::PgPool) -> Vec<i64> {
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version").fetch_all(pool).await.unwrap()
}

#[tokio::test]
async fn migrations_coexist_in_either_order() {
    let db = Db::start().await;
    // Indexer then vault (Db::start), then both again: nothing to do, no error.
    medledger_indexer::migrate(&db.pool).await.unwrap();
    medledger_vault::migrate(&db.pool).await.unwrap();
    let both = versions(&db.pool).await;
    assert!(both.contains(&1) && both.contains(&1001), "{both:?}");

    // Vault first on a fresh database, then the indexer, then the vault again.
    db.pg.create_database("other").unwrap();
    let other = sqlx::PgPool::connect(&db.pg.database_url("other")).await.unwrap();
    medledger_vault::migrate(&other).await.unwrap();
    medledger_indexer::migrate(&other).await.unwrap();
    medledger_vault::migrate(&other).await.unwrap();
    assert_eq!(versions(&other).await, both);
}

fn entry(reason: &str) -> NewEntry {
    NewEntry {
        actor: Some(DOCTOR),
        patient: Some(PATIENT),
        document: Some([1; 16]),
        action: "read",
        outcome: "allowed",
        reason: reason.to_owned(),
        consent_block: Some(5),
        index_block: Some(9),
    }
}

async fn as_superuser(db: &Db, sql: &str) {
    let mut tx = db.pool.begin().await.unwrap();
    sqlx::query("ALTER TABLE vault_access_log DISABLE TRIGGER vault_access_log_append_only")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(sql).execute(&mut *tx).await.unwrap();
    sqlx::query("ALTER TABLE vault_access_log ENABLE TRIGGER vault_access_log_append_only")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

fn chain_error(err: VaultError) -> (i64, &'static str) {
    match err {
        VaultError::Integrity(IntegrityError::LogChain { seq, reason }) => (seq, reason),
        e => panic!("expected a chain error, got {e:?}"),
    }
}

#[tokio::test]
async fn access_log_is_a_verifiable_chain() {
    let db = Db::start().await;
    assert_eq!(log::verify(&db.pool).await.unwrap().entries, 0);
    let mut last = None;
    for i in 0..5 {
        let e = log::append(&db.pool, &entry(&format!("grant{i}"))).await.unwrap();
        assert_eq!(e.seq, i + 1);
        if let Some(prev) = last {
            assert_eq!(e.prev_hash, prev);
        }
        last = Some(e.entry_hash);
    }
    let ok = log::verify(&db.pool).await.unwrap();
    assert_eq!((ok.entries, Some(ok.head)), (5, last));
    // Concurrent appends get distinct, gapless sequence numbers.
    let appends = (0..8).map(|_| {
        let pool = db.pool.clone();
        tokio::spawn(async move { log::append(&pool, &entry("concurrent")).await.unwrap().seq })
    });
    let mut seqs: Vec<i64> =
        futures::future::join_all(appends).await.into_iter().map(Result::unwrap).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (6..=13).collect::<Vec<_>>());
    assert_eq!(log::verify(&db.pool).await.unwrap().entries, 13);

    // The application cannot edit or delete entries.
    assert!(sqlx::query("UPDATE vault_access_log SET reason = 'x' WHERE seq = 3")
        .execute(&db.pool)
        .await
        .is_err());
    assert!(sqlx::query("DELETE FROM vault_access_log WHERE seq = 3").execute(&db.pool).await.is_err());

    // An operator who bypasses that is caught: an edited row is named.
    as_superuser(&db, "UPDATE vault_access_log SET reason = 'emergency' WHERE seq = 3").await;
    assert_eq!(
        chain_error(log::verify(&db.pool).await.unwrap_err()),
        (3, "its contents do not match its hash")
    );
    as_superuser(&db, "UPDATE vault_access_log SET reason = 'grant2' WHERE seq = 3").await;
    assert_eq!(log::verify(&db.pool).await.unwrap().entries, 13);
    // Rehashing an edited entry moves the break to the next one, whose prev_hash no longer fits.
    let all = log::entries_for(&db.pool, PATIENT, None, 100).await.unwrap();
    let mut seventh = all.into_iter().find(|e| e.seq == 7).unwrap();
    seventh.entry.reason = "emergency".into();
    let forged = log::LogEntry::hash(seventh.prev_hash, 7, seventh.at, &seventh.entry);
    as_superuser(
        &db,
        &format!(
            "UPDATE vault_access_log SET reason = 'emergency', entry_hash = '\\x{}' WHERE seq = 7",
            hex::encode(forged)
        ),
    )
    .await;
    assert_eq!(
        chain_error(log::verify(&db.pool).await.unwrap_err()),
        (8, "its prev_hash is not the previous entry's hash")
    );
    // A deleted entry is a gap.
    as_superuser(&db, "DELETE FROM vault_access_log WHERE seq = 2").await;
    assert_eq!(chain_error(log::verify(&db.pool).await.unwrap_err()), (2, "missing entry (sequence gap)"));

    // Readers: the patient's entries, or only one actor's.
    let mine = log::entries_for(&db.pool, PATIENT, Some(DOCTOR), 100).await.unwrap();
    assert_eq!(mine.len(), 12);
    assert!(log::entries_for(&db.pool, PATIENT, Some([1; 20]), 100).await.unwrap().is_empty());
}

#[tokio::test]
async fn consent_state_follows_the_checkpoint() {
    let db = Db::start().await;
    let state = ConsentState::new(db.pool.clone(), CHAIN);
    // No checkpoint yet: refuse, never guess.
    assert!(matches!(state.version().await, Err(VaultError::Unavailable { what: "index", .. })));
    assert!(matches!(state.load(PATIENT, DOCTOR).await, Err(VaultError::Unavailable { .. })));

    let t0 = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
    db.checkpoint(CHAIN, 10, t0).await;
    db.consent(CHAIN, PATIENT, DOCTOR, scope::READ, Some(t0 + Duration::hours(1)), false, None, 10).await;
    let (v, s) = state.load(PATIENT, DOCTOR).await.unwrap();
    assert_eq!((v.number, v.time), (10, t0));
    let c = s.consent.clone().unwrap();
    assert_eq!((c.scopes, c.revoked, c.updated_block), (i16::from(scope::READ), false, 10));
    assert_eq!(s.credential, None);

    // The indexer revokes in block 11: the cached row of block 10 is not used any more.
    db.consent(CHAIN, PATIENT, DOCTOR, 0, None, true, None, 11).await;
    let (_, still) = state.load(PATIENT, DOCTOR).await.unwrap();
    assert_eq!(
        still.consent.as_ref().unwrap().scopes,
        i16::from(scope::READ),
        "same checkpoint: cached state"
    );
    db.checkpoint(CHAIN, 11, t0 + Duration::seconds(12)).await;
    let (v, s) = state.load(PATIENT, DOCTOR).await.unwrap();
    assert_eq!(v.number, 11);
    assert!(s.consent.as_ref().unwrap().revoked);

    // A reorg to another block 11 (same number, other hash) is a new version too.
    db.consent(CHAIN, PATIENT, DOCTOR, scope::READ, None, false, None, 11).await;
    sqlx::query("UPDATE checkpoints SET block_hash = '\\x0b0b' WHERE chain_id = $1")
        .bind(CHAIN)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE blocks SET hash = '\\x0b0b' WHERE chain_id = $1 AND number = 11")
        .bind(CHAIN)
        .execute(&db.pool)
        .await
        .unwrap();
    let (_, s) = state.load(PATIENT, DOCTOR).await.unwrap();
    assert!(!s.consent.as_ref().unwrap().revoked);

    // A database outage is a 503, not a decision.
    db.pool.close().await;
    let err = state.load(PATIENT, DOCTOR).await.unwrap_err();
    assert!(matches!(err, VaultError::Unavailable { what: "database", .. }), "{err:?}");
    assert_eq!(err.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
}
