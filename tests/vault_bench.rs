//! Benchmark of the record vault (not a test: `#[ignore]`d; run it with `scripts/bench-vault`).
//!
//! Over a real anvil, PostgreSQL, indexer and the API server with the vault (see `tests/vault_common`):
//! 1. the authorization decision (`ConsentState::load` + `policy::decide`, as every request makes it: the
//!    checkpoint read, the caller's rows cached per indexed block) p50/p99, and a metadata request over
//!    HTTP (decision, row, access-log append) for comparison;
//! 2. upload and download of a 10 MiB document over loopback against the raw rate of the store's disk
//!    measured in the same run (write + fsync, read back);
//! 3. the time from the revoke transaction's receipt (anvil mines it at once) to the first read refused.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;
#[macro_use]
mod vault_common;

use alloy::primitives::{aliases::U40, Address};
use medledger::records::{Anchors, VaultClient};
use medledger_core::bindings::{ConsentRegistry, RecordAnchors};
use medledger_vault::policy::{self, Action, ConsentState, Facts};
use std::time::{Duration, Instant};
use support::*;
use vault_common::*;

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    (at(0.5), at(0.99), *v.last().unwrap())
}

fn mib_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / d.as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: scripts/bench-vault"]
async fn bench() {
    let iterations: usize =
        std::env::var("BENCH_DECISIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000);
    let w = World::start_with(|c| {
        c.per_ip = (1_000_000, 1_000_000);
        c.per_address = (1_000_000, 1_000_000);
        c.max_upload = 64 * 1024 * 1024;
    })
    .await;
    let x = actors(&w.devnet);
    let key = |a: Address| x.signers.iter().find(|s| s.address() == a).unwrap().clone();
    let (patient, doctor) = (x.patient, x.prescriber);
    let m = w.devnet.manifest().contracts;
    let cs = ConsentRegistry::new(m.consent_registry, w.p.clone());
    let ra = RecordAnchors::new(m.record_anchors, w.p.clone());
    send!(ra.openEpisode(patient).from(patient));
    send!(cs.grant(doctor, READ, U40::from(w.now().await + 86_400)).from(patient));
    w.synced().await;

    // 1. The decision.
    let state = ConsentState::new(w.pool.clone(), w.chain_id);
    let mut times = Vec::with_capacity(iterations);
    for i in 0..iterations + 200 {
        let started = Instant::now();
        let (version, rows) = state.load(patient.into(), doctor.into()).await.unwrap();
        let facts = Facts {
            is_patient: false,
            consent: rows.consent.as_ref(),
            credential: rows.credential.as_ref(),
            as_of: version.time,
            document: None,
        };
        let decided = policy::decide(Action::Read, &facts);
        let elapsed = started.elapsed();
        assert!(decided.is_ok(), "{decided:?}");
        if i >= 200 {
            times.push(elapsed);
        }
    }
    let (p50, p99, max) = percentiles(times);
    println!("BENCH decision        n={iterations} p50={p50:?} p99={p99:?} max={max:?} (target p50 <= 1 ms)");

    let me = {
        let mut c = VaultClient::new(&w.base);
        c.sign_in(&key(patient)).await.unwrap();
        c
    };
    let doc = {
        let mut c = VaultClient::new(&w.base);
        c.sign_in(&key(doctor)).await.unwrap();
        c
    };
    let small = me.upload(patient, 1, "note", "text/plain", b"bench".to_vec()).await.unwrap();
    let anchors = Anchors::connect(&w.devnet.rpc_url(), w.devnet.manifest(), key(patient)).await.unwrap();
    anchors.anchor(1, &small).await.unwrap();
    w.synced().await;
    let mut times = Vec::new();
    for i in 0..1_200 {
        let started = Instant::now();
        doc.metadata(&small.id).await.unwrap();
        if i >= 200 {
            times.push(started.elapsed());
        }
    }
    let (p50, p99, max) = percentiles(times);
    println!("BENCH metadata GET    n=1000 p50={p50:?} p99={p99:?} max={max:?} (decision + row + log append, HTTP)");

    // 2. 10 MiB through the vault vs the disk.
    let size = 10 * 1024 * 1024;
    let body: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    // The raw disk: the median of 5 probes (one 10 MiB write+fsync varies several-fold on this VM).
    let raw = w._store.path().join("raw-disk-probe");
    let (mut writes, mut reads) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let started = Instant::now();
        {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&raw).unwrap();
            f.write_all(&body).unwrap();
            f.sync_all().unwrap();
        }
        writes.push(started.elapsed());
        let started = Instant::now();
        let back = std::fs::read(&raw).unwrap();
        reads.push(started.elapsed());
        assert_eq!(back.len(), size);
        std::fs::remove_file(&raw).unwrap();
    }
    let ((disk_write, _, _), (disk_read, _, _)) = (percentiles(writes), percentiles(reads));
    let (mut ups, mut downs) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let sent = body.clone();
        let started = Instant::now();
        let up = me.upload(patient, 1, "scan", "application/pdf", sent).await.unwrap();
        ups.push(started.elapsed());
        anchors.anchor(1, &up).await.unwrap();
        w.synced().await;
        let started = Instant::now();
        let got = doc.download(&up.id).await.unwrap();
        downs.push(started.elapsed());
        assert_eq!(got.len(), size);
    }
    let (up50, _, _) = percentiles(ups);
    let (down50, _, _) = percentiles(downs);
    let (dw, dr, u, d) =
        (mib_s(size, disk_write), mib_s(size, disk_read), mib_s(size, up50), mib_s(size, down50));
    println!("BENCH disk            median of 5: write+fsync {dw:.0} MiB/s, read {dr:.0} MiB/s (page cache likely)");
    println!(
        "BENCH upload 10 MiB   median {up50:?} = {u:.0} MiB/s = {:.2}x disk write (target >= 0.5x)",
        u / dw
    );
    println!(
        "BENCH download 10 MiB median {down50:?} = {d:.0} MiB/s = {:.2}x disk read (target >= 0.5x)",
        d / dr
    );

    cpu_bound(&body);

    // 3. Revoke → first denied read.
    let mut gaps = Vec::new();
    for round in 0..5 {
        send!(cs.grant(doctor, READ, U40::from(w.now().await + 86_400 + round)).from(patient));
        w.synced().await;
        doc.metadata(&small.id).await.unwrap();
        let receipt = send!(cs.revoke(doctor).from(patient));
        let mined = Instant::now();
        loop {
            match doc.metadata(&small.id).await {
                Ok(_) => {}
                Err(medledger::records::RecordsError::Refused { status: 403, .. }) => break,
                Err(e) => panic!("{e}"),
            }
            assert!(
                mined.elapsed() < Duration::from_secs(10),
                "never denied after {:?}",
                receipt.block_number
            );
        }
        gaps.push(mined.elapsed());
    }
    let (p50, _, max) = percentiles(gaps);
    println!("BENCH revoke->denied  n=5 median {p50:?} max {max:?} after the receipt (target <= 1 block + 100 ms; anvil automines)");
}

/// The single-core rates of the computing a transfer cannot skip, in the same run: an upload seals the
/// contents and hashes them (the salted content hash) and hashes the sealed object (its content address);
/// a download opens the chunks and hashes the contents again (checked against the anchored hash).
fn cpu_bound(body: &[u8]) {
    use medledger_vault::crypto::{Binding, DataKey, Keyring, Layout, Opener, Sealer, HEADER_LEN, TAG_LEN};
    let best = |f: &mut dyn FnMut()| {
        (0..5)
            .map(|_| {
                let started = Instant::now();
                f();
                started.elapsed()
            })
            .min()
            .unwrap()
    };
    let binding = Binding { patient: [1; 20], document: [2; 16], version: 1 };
    let (ring, _) = Keyring::generate("bench").unwrap();
    let keccak = best(&mut || {
        std::hint::black_box(alloy::primitives::keccak256(body));
    });
    let (mut object, mut wrapped) = (Vec::new(), None);
    let seal = best(&mut || {
        let key = DataKey::generate();
        wrapped = Some(ring.wrap(&key, &binding));
        let (mut sealer, header) = Sealer::new(key, binding);
        object = header;
        object.extend_from_slice(&sealer.update(body).unwrap());
        object.extend_from_slice(&sealer.finish().unwrap().0);
    });
    let layout = Layout { size: body.len() as u64 };
    let opener = Opener::new(
        ring.unwrap(&wrapped.unwrap(), &binding).unwrap(),
        binding,
        layout,
        &object[..HEADER_LEN as usize],
    )
    .unwrap();
    let open = best(&mut || {
        for i in 0..layout.chunks() {
            let at = layout.chunk_offset(i) as usize;
            let len = (layout.chunk_plain_len(i) + TAG_LEN) as usize;
            std::hint::black_box(opener.open_chunk(i, &object[at..at + len]).unwrap());
        }
    });
    let (k, s, o) = (mib_s(body.len(), keccak), mib_s(body.len(), seal), mib_s(body.len(), open));
    // CPU per byte: upload = seal + hash + hash of the object; download = open + hash.
    let up = 1.0 / (1.0 / s + 1.0 / k);
    let down = 1.0 / (1.0 / o + 1.0 / k);
    println!(
        "BENCH cpu (one core)  keccak256 {k:.0} MiB/s, seal+hash (Sealer) {s:.0} MiB/s, open {o:.0} MiB/s: \
         one core's ceiling upload {up:.0} MiB/s, download {down:.0} MiB/s"
    );
}
