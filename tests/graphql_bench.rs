//! Benchmark of the GraphQL API (not a test: `#[ignore]`d; run it with `scripts/bench-graphql`).
//!
//! Fills a throwaway database with ≥ 100,000 events' worth of rows (20,000 prescriptions with valid
//! EIP-712 ids, 10,000 dispenses, 70,000 other events) and lets PostgreSQL vacuum and analyse it (as
//! autovacuum does on a real index), runs the release `medledger serve` binary over it as its own process
//! on 127.0.0.1, warms it up with one pass over every id, then measures `verifyPrescription` and
//! `prescription(id)`: at a fixed 1,000 req/s (open loop, latency from the scheduled send time, so
//! queueing counts), the same while the index changes every 10 ms (so the server's per-version cache of
//! `asOf` and credentials misses), and at maximum throughput (closed loop, and with `wrk` when installed).
//! `BENCH_HOLD=<secs>` keeps the server and database up that long before measuring (for `perf`, `EXPLAIN`);
//! `BENCH_QUERIES` (default `verifyPrescription,prescription`; `typename` is the floor, `{ __typename }`)
//! and `BENCH_PHASES` (default `fixed,churn,max,lists`) choose what is measured.
//!
//! The `lists` phase measures every list a role reads (prescriber's and patient's prescriptions, open or
//! all; pharmacy queue and dispenses; consents and their history; episodes and records; the event trail by
//! account, contract, rx, episode, tx, block and time), a page of 20 at the fixed rate, over skewed data (the
//! EXPLAIN test's [`skewed_fixture`]: a prescriber with 15,400 prescriptions, a pharmacy with a queue of
//! about 10,900 open of 16,000, an account in 50,000 events) beside `prescription(id)` over the same
//! database in the same run; target: each list's latency within 2x the lookup's. `BENCH_LISTS=<word>,…`
//! measures only the lists whose name contains one of the words.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod graphql_common;

use graphql_common::*;
use medledger_core::{
    bindings::IPrescriptions::RxTerms,
    eip712::{domain, prescription_id},
};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RXS: u64 = 20_000;
const FILLER_EVENTS: u64 = 70_000;

fn account(prefix: u8, n: u64) -> [u8; 20] {
    let mut a = [0u8; 20];
    a[0] = prefix;
    a[12..].copy_from_slice(&n.to_be_bytes());
    a
}

fn sql_account(prefix: &str, n: &str) -> String {
    format!("decode('{prefix}' || lpad(to_hex({n}), 38, '0'), 'hex')")
}

struct Terms {
    id: [u8; 32],
    pharmacy: [u8; 20],
}

/// The terms of prescription `i`; the SQL below derives the same terms from `i`.
fn terms(i: u64) -> Terms {
    let pharmacy = account(0xf0, i % 50 + 1);
    let t = RxTerms {
        patient: account(0xa0, i % 5_000 + 1).into(),
        prescriber: account(0xd0, i % 100 + 1).into(),
        contentHash: CONTENT.into(),
        fills: 3,
        quantityPerFill: 30,
        daysSupply: 30,
        dateWritten: 0,
        earliestFillAt: u32::try_from(T - 10 * DAY).unwrap(),
        validUntil: u32::try_from(T + 60 * DAY).unwrap(),
        minFillInterval: 0,
        schedule: 0,
        longTermCare: false,
        pharmacy: pharmacy.into(),
        nonce: alloy::primitives::U256::from(i),
        deadline: u32::MAX,
    };
    Terms { id: prescription_id(&domain(CHAIN as u64, PRESCRIPTIONS.into()), &t).0, pharmacy }
}

async fn populate(pool: &sqlx::PgPool) -> Vec<Terms> {
    let started = Instant::now();
    let all: Vec<Terms> = (0..RXS).map(terms).collect();
    let ids: Vec<Vec<u8>> = all.iter().map(|t| t.id.to_vec()).collect();
    let (earliest, valid) = (T - 10 * DAY, T + 60 * DAY);
    let base = format!(
        "INSERT INTO blocks VALUES ({CHAIN}, 100000, '\\x01', '\\x00', to_timestamp({T}));
         INSERT INTO checkpoints (chain_id, block_number, block_hash, head_number) VALUES ({CHAIN}, 100000, '\\x01', 100000);
         INSERT INTO credentials SELECT {CHAIN}, {doc}, n, 'prescriber', 'active', NULL, '\\x00', '\\x00',
           to_timestamp({far}), 0, 1, to_timestamp({T}), 1, to_timestamp({T}) FROM generate_series(1, 100) n;
         INSERT INTO credentials SELECT {CHAIN}, {ph}, 1000 + n, 'pharmacy', 'active', NULL, '\\x00', '\\x00',
           to_timestamp({far}), 0, 1, to_timestamp({T}), 1, to_timestamp({T}) FROM generate_series(1, 50) n;
         INSERT INTO credential_history SELECT {CHAIN}, 1, n, {doc}, n, 'registered', 'active', to_timestamp({far}),
           NULL, NULL, NULL, to_timestamp({T}), {h0} FROM generate_series(1, 100) n;",
        doc = sql_account("d0", "n"),
        h0 = hx(&[0; 32]),
        ph = sql_account("f0", "n"),
        far = T + 365 * DAY,
    );
    sqlx::raw_sql(&base).execute(pool).await.unwrap();
    // Prescriptions: ids from Rust, every other term derived from the ordinal in SQL.
    sqlx::query(&format!(
        "INSERT INTO prescriptions SELECT {CHAIN}, id, {pa}, {pr}, {ch}, {ph}, {ph}, 3, 30, to_timestamp({earliest}),
           to_timestamp({valid}), 0, 0, i, {pr}, false, 1 + i, to_timestamp({T} - 3600), {h0},
           CASE WHEN i % 2 = 0 THEN 1 ELSE 0 END, CASE WHEN i % 2 = 0 THEN 10 ELSE 0 END,
           CASE WHEN i % 2 = 0 THEN 1 ELSE 0 END, NULL, NULL, false, NULL, NULL, 1 + i,
           30, to_timestamp(0), false, to_timestamp(4294967295), false, NULL, NULL
         FROM unnest($1::bytea[]) WITH ORDINALITY AS t(id, o), LATERAL (SELECT o - 1 AS i) AS x",
        pa = sql_account("a0", "i % 5000 + 1"),
        pr = sql_account("d0", "i % 100 + 1"),
        ph = sql_account("f0", "i % 50 + 1"),
        ch = hx(&CONTENT),
        h0 = hx(&[0; 32]),
    ))
    .bind(ids)
    .execute(pool)
    .await
    .unwrap();
    let rest = format!(
        "INSERT INTO dispenses SELECT chain_id, issued_block, 1, rx_id, pharmacy, 1, 10, 10, 10, {h0},
           to_timestamp({T} - 1800), {h0}, patient FROM prescriptions WHERE fills_used = 1;
         INSERT INTO events SELECT chain_id, issued_block, {h1}, issued_at, {h2}, 0, 0, 'Prescriptions', {pc},
           'PrescriptionIssued', rx_id, ARRAY[patient, prescriber, pharmacy], rx_id, NULL, NULL, '{{}}'
           FROM prescriptions;
         INSERT INTO events SELECT chain_id, block_number, {h1}, block_time, {h3}, 0, log_index, 'Prescriptions',
           {pc}, 'PrescriptionDispensed', rx_id, ARRAY[pharmacy], rx_id, NULL, NULL, '{{}}' FROM dispenses;
         INSERT INTO events SELECT {CHAIN}, 30000 + k / 4, {h1}, to_timestamp({T} - 600), {h4}, 0, k % 4,
           'ConsentRegistry', {cc}, 'ConsentGranted', '\\x00', ARRAY[{pa}, {pr}], NULL, NULL, NULL, '{{}}'
           FROM generate_series(0, {last}) k;",
        pc = hx(&PRESCRIPTIONS),
        h0 = hx(&[0; 32]),
        h1 = hx(&[1; 32]),
        h2 = hx(&[2; 32]),
        h3 = hx(&[3; 32]),
        h4 = hx(&[4; 32]),
        cc = hx(&CONSENTS),
        pa = sql_account("a0", "k % 5000 + 1"),
        pr = sql_account("d0", "k % 100 + 1"),
        last = FILLER_EVENTS - 1,
    );
    sqlx::raw_sql(&rest).execute(pool).await.unwrap();
    // What autovacuum does to a real index after a bulk load: statistics, visibility map, hint bits.
    sqlx::raw_sql("VACUUM (ANALYZE)").execute(pool).await.unwrap();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(pool).await.unwrap();
    eprintln!("populated {events} events, {RXS} prescriptions in {:?}", started.elapsed());
    assert!(events >= 100_000);
    all
}

const VERIFY: &str = "query($id: Bytes32!, $c: Bytes32!, $p: Address!) { verifyPrescription(id: $id, \
    contentHash: $c, pharmacy: $p) { valid failures { reason } quantityAvailable asOf } }";
const PRESCRIPTION: &str = "query($id: Bytes32!) { prescription(id: $id) { id status remainingQuantity \
    quantityDispensed fillDetails { number dispensed remaining } } }";

/// The floor: a query that reads nothing (HTTP, parsing, validation, execution and the generator only).
const TYPENAME: &str = "{ __typename }";

fn body(kind: &str, t: &Terms) -> String {
    match kind {
        "verifyPrescription" => json!({"query": VERIFY, "variables": {
            "id": a0x(&t.id), "c": a0x(&CONTENT), "p": a0x(&t.pharmacy)}}),
        "prescription" => json!({"query": PRESCRIPTION, "variables": {"id": a0x(&t.id)}}),
        _ => json!({"query": TYPENAME}),
    }
    .to_string()
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

async fn send(client: &reqwest::Client, url: &str, body: String) -> bool {
    match client.post(url).header("content-type", "application/json").body(body).send().await {
        Ok(r) if r.status() == 200 => {
            let v: Value = r.json().await.unwrap_or(Value::Null);
            v.get("errors").is_none() && v.get("data").is_some_and(|d| !d.is_null())
        }
        _ => false,
    }
}

/// What an open-loop phase measured: latencies from the scheduled send times (sorted), failed requests, and
/// how late each request started (sorted; part of its latency).
struct Phase {
    latencies: Vec<Duration>,
    errors: usize,
    lags: Vec<Duration>,
}

/// Open loop: one request every `1/rate` s for `secs`; latency measured from the scheduled send time.
///
/// A thread of its own paces the requests with the OS timer and spawns each one onto the runtime at its
/// due time: Tokio's timer fires at the first millisecond tick at or after a deadline (up to 1 ms late, plus
/// the worker's wake-up), and that lateness would count in every latency.
async fn fixed_rate(url: &str, bodies: Arc<Vec<String>>, rate: u64, secs: u64) -> Phase {
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    let runtime = tokio::runtime::Handle::current();
    let url = url.to_owned();
    let pacer = std::thread::spawn(move || {
        let start = Instant::now() + Duration::from_millis(50);
        let total = rate * secs;
        let mut tasks = Vec::with_capacity(total as usize);
        for i in 0..total {
            let due = start + Duration::from_nanos(i * 1_000_000_000 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let (client, url, body) =
                (client.clone(), url.clone(), bodies[i as usize % bodies.len()].clone());
            tasks.push(runtime.spawn(async move {
                let lag = due.elapsed();
                let ok = send(&client, &url, body).await;
                (due.elapsed(), ok, lag)
            }));
        }
        tasks
    });
    let tasks = tokio::task::spawn_blocking(move || pacer.join().unwrap()).await.unwrap();
    let mut phase = Phase { latencies: Vec::with_capacity(tasks.len()), errors: 0, lags: Vec::new() };
    for t in tasks {
        let (d, ok, lag) = t.await.unwrap();
        phase.latencies.push(d);
        phase.lags.push(lag);
        phase.errors += usize::from(!ok);
    }
    phase.latencies.sort();
    phase.lags.sort();
    phase
}

/// Every body once, `workers` at a time; returns the number of failed requests.
async fn warm_up(url: &str, bodies: Arc<Vec<String>>, workers: usize) -> usize {
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (client, url, bodies, next) = (client.clone(), url.to_owned(), bodies.clone(), next.clone());
            tokio::spawn(async move {
                let mut errors = 0;
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { return errors };
                    errors += usize::from(!send(&client, &url, body.clone()).await);
                }
            })
        })
        .collect();
    let mut errors = 0;
    for t in tasks {
        errors += t.await.unwrap();
    }
    errors
}

/// Closed loop: `workers` clients sending back to back for `secs`.
async fn max_rate(
    url: &str,
    bodies: Arc<Vec<String>>,
    workers: usize,
    secs: u64,
) -> (Vec<Duration>, usize, f64) {
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    let end = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (client, url, bodies) = (client.clone(), url.to_owned(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errors, mut i) = (Vec::new(), 0usize, w * 7919);
            while Instant::now() < end {
                let t = Instant::now();
                errors += usize::from(!send(&client, &url, bodies[i % bodies.len()].clone()).await);
                lat.push(t.elapsed());
                i += 1;
            }
            (lat, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let rps = all.len() as f64 / started.elapsed().as_secs_f64();
    all.sort();
    (all, errors, rps)
}

/// Moves the checkpoint to a new block hash every `every` (what an indexer commit does to the index's
/// version) until stopped.
struct Churn {
    stop: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<u64>,
}

impl Churn {
    fn start(pool: sqlx::PgPool, every: Duration) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            let mut commits = 0u64;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                tick.tick().await;
                commits += 1;
                sqlx::query("UPDATE checkpoints SET block_hash = $1 WHERE chain_id = $2")
                    .bind(commits.to_be_bytes().to_vec())
                    .bind(CHAIN)
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            commits
        });
        Self { stop, task }
    }

    async fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

/// CPU seconds (user + system) of a process, from `/proc/PID/stat`.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(14) + ticks(15)) / 100.0 // USER_HZ
}

/// CPU seconds of the PostgreSQL backends serving `db` (their process title names the database).
fn pg_cpu_secs(db: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0.0 };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                String::from_utf8_lossy(&c).starts_with("postgres: ")
                    && String::from_utf8_lossy(&c).contains(db)
            })
        })
        .map(cpu_secs)
        .sum()
}

/// The machine's CPU seconds from `/proc/stat`, summed over CPUs: busy (user, nice, system, interrupts),
/// stolen by the hypervisor, and all (busy, idle, I/O wait, stolen).
fn machine_secs() -> (f64, f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let v = |i: usize| f.get(i).copied().unwrap_or(0.0) / 100.0; // USER_HZ
                                                                 // Fields: user nice system idle iowait irq softirq steal.
    let busy = v(0) + v(1) + v(2) + v(5) + v(6);
    (busy, v(7), busy + v(3) + v(4) + v(7))
}

/// CPU used by the server process, its database backends and this process (the load generator) over a phase,
/// and the machine's (to tell what else ran: other processes, the hypervisor's steal).
struct Cpu {
    server: f64,
    pg: f64,
    generator: f64,
    machine: (f64, f64, f64),
}

impl Cpu {
    fn now(server: &ServeProcess, db: &str) -> Self {
        Self {
            server: cpu_secs(server.child.id().unwrap()),
            pg: pg_cpu_secs(db),
            generator: cpu_secs(std::process::id()),
            machine: machine_secs(),
        }
    }

    fn per_request(&self, server: &ServeProcess, db: &str, n: usize) -> String {
        let end = Self::now(server, db);
        let us = |a: f64, b: f64| (b - a) * 1e6 / n as f64;
        let ours = (end.server - self.server) + (end.pg - self.pg) + (end.generator - self.generator);
        let all = (end.machine.2 - self.machine.2).max(f64::MIN_POSITIVE);
        format!(
            "server {:.0} µs, PostgreSQL {:.0} µs, load generator {:.0} µs; of the machine's CPU time: other \
             processes {:.0}%, stolen by the hypervisor {:.1}%",
            us(self.server, end.server),
            us(self.pg, end.pg),
            us(self.generator, end.generator),
            ((end.machine.0 - self.machine.0 - ours) * 100.0 / all).max(0.0),
            (end.machine.1 - self.machine.1) * 100.0 / all,
        )
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn wrk_script(bodies: &[String], path: &std::path::Path) {
    let list: Vec<String> = bodies.iter().take(2000).map(|b| format!("[==[{b}]==]")).collect();
    let script = format!(
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nlocal bodies = {{{}}}\n\
         local i = 0\nrequest = function()\n  i = i + 1\n  return wrk.format(nil, \"/graphql\", nil, bodies[(i % #bodies) + 1])\nend\n",
        list.join(",\n")
    );
    std::fs::write(path, script).unwrap();
}

/// The selection of a list page in the lists phase: the cursors and what a client pages on.
const LIST_CONNECTION: &str = "{ edges { cursor } pageInfo { hasNextPage endCursor } }";

/// The JSON answer to a POST of `body`.
async fn answer_of(client: &reqwest::Client, url: &str, body: String) -> Value {
    let r = client.post(url).header("content-type", "application/json").body(body).send().await.unwrap();
    r.json().await.unwrap()
}

/// The first object in `v` that has `key` (the connection in a response, whatever field holds it).
fn find_key<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(map) if map.contains_key(key) => Some(v),
        Value::Object(map) => map.values().find_map(|v| find_key(v, key)),
        Value::Array(items) => items.iter().find_map(|v| find_key(v, key)),
        _ => None,
    }
}

/// The bodies of one list's pages of 20: the first page and the pages after the end of each of its first
/// `depth` pages of 100 (so the pages start all along the owner's rows, not only at its newest), and how many
/// rows the list holds (`totalCount`, asked once here, never in the measured bodies).
async fn list_pages(client: &reqwest::Client, url: &str, field: &str, depth: usize) -> (Vec<String>, i64) {
    let ask = |page: String, connection: &str| {
        json!({"query": format!("{{ {} }}", field.replace("PAGE", &page).replace("CONNECTION", connection))})
            .to_string()
    };
    let answer = |body: String| async move {
        let v = answer_of(client, url, body).await;
        assert!(v.get("errors").is_none(), "{field}: {v}");
        v
    };
    let total = answer(ask("first: 1".into(), "{ totalCount }")).await;
    let total = find_key(&total, "totalCount").and_then(|c| c["totalCount"].as_i64()).unwrap();
    let mut bodies = vec![ask("first: 20".into(), LIST_CONNECTION)];
    let mut after = String::new();
    for _ in 0..depth {
        let v = answer(ask(format!("first: 100 {after}"), LIST_CONNECTION)).await;
        let info = &find_key(&v, "pageInfo").unwrap()["pageInfo"];
        let (Some(true), Some(end)) = (info["hasNextPage"].as_bool(), info["endCursor"].as_str()) else {
            break;
        };
        after = format!("after: {}", Value::from(end));
        bodies.push(ask(format!("first: 20 {after}"), LIST_CONNECTION));
    }
    (bodies, total)
}

/// The lists phase: every list a role reads over skewed data ([`skewed_fixture`]) on a server of its own,
/// each page of 20 measured at the fixed rate beside `prescription(id)` over the same database in the same
/// run (before the lists and after them, so a drift of the machine shows); each list's p50 and p99 are given
/// as a multiple of the first by-id measurement's (target: at most 2).
async fn lists(rate: u64, secs: u64, workers: usize, server_args: &[&str], env: &[(&str, &str)], pg: &str) {
    let pool = empty_db().await;
    let started = Instant::now();
    skewed_fixture(&pool).await;
    sqlx::raw_sql("VACUUM (ANALYZE)").execute(&pool).await.unwrap();
    println!("BENCH lists: skewed data populated in {:.1?}", started.elapsed());
    let db_url = if pg == "tcp" { database_url(&pool) } else { database_socket_url(&pool) };
    let db_name = pool.connect_options().get_database().unwrap().to_owned();
    let server = ServeProcess::start(&db_url, server_args, env).await;
    let url = format!("{}/graphql", server.base);
    let client = reqwest::Client::new();
    // prescription(id) over the fixture's 20,000 ids, in a fixed shuffled order.
    let mut ids: Vec<u64> = (1..=20_000).collect();
    ids.sort_by_key(|i| (i * 7_919) % 20_000);
    let by_id: Arc<Vec<String>> = Arc::new(
        ids.iter()
            .map(|i| {
                let mut id = [0u8; 32];
                id[24..].copy_from_slice(&i.to_be_bytes());
                json!({"query": PRESCRIPTION, "variables": {"id": a0x(&id)}}).to_string()
            })
            .collect(),
    );
    let mut runs: Vec<(String, Arc<Vec<String>>)> = vec![("prescription(id)".into(), by_id.clone())];
    // `BENCH_LISTS=<word>,…`: only the lists whose name contains one of the words.
    let only = std::env::var("BENCH_LISTS").ok();
    let chosen = |name: &str| only.as_deref().is_none_or(|o| o.split(',').any(|w| name.contains(w.trim())));
    for (name, field) in skewed_lists().into_iter().filter(|(name, _)| chosen(name)) {
        let (bodies, total) = list_pages(&client, &url, &field, 30).await;
        runs.push((format!("{name} [{total} rows, {} pages]", bodies.len()), Arc::new(bodies)));
    }
    runs.push(("prescription(id), again".into(), by_id));
    let mut base: Option<(Duration, Duration)> = None;
    for (label, bodies) in runs {
        let errors = warm_up(&url, bodies.clone(), workers).await;
        assert_eq!(errors, 0, "{label}: the warm-up failed");
        let cpu = Cpu::now(&server, &db_name);
        let m = fixed_rate(&url, bodies, rate, secs).await;
        let (p50, p99) = (pct(&m.latencies, 0.50), pct(&m.latencies, 0.99));
        let (b50, b99) = *base.get_or_insert((p50, p99));
        println!(
            "BENCH list {label} fixed {rate} req/s x {secs}s: n={} errors={} p50={p50:.2?} p99={p99:.2?} \
             ({:.2}x / {:.2}x by-id) max={:.2?}; CPU per request: {}; load average {}",
            m.latencies.len(),
            m.errors,
            p50.as_secs_f64() / b50.as_secs_f64(),
            p99.as_secs_f64() / b99.as_secs_f64(),
            m.latencies[m.latencies.len() - 1],
            cpu.per_request(&server, &db_name, m.latencies.len()),
            load_average(),
        );
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: run scripts/bench-graphql"]
async fn bench() {
    let secs: u64 = std::env::var("BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let rate: u64 = std::env::var("BENCH_RATE").ok().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let workers: usize = std::env::var("BENCH_WORKERS").ok().and_then(|s| s.parse().ok()).unwrap_or(16);
    let pool_size = std::env::var("BENCH_POOL").unwrap_or_else(|_| "4".into());
    // The server's API threads (default: one per core).
    let threads = std::env::var("BENCH_SERVER_THREADS").ok();
    let env: Vec<(&str, &str)> = threads.iter().map(|t| ("MEDLEDGER_API_THREADS", t.as_str())).collect();
    // How the server reaches PostgreSQL on this host: its Unix socket (default) or loopback TCP.
    let transport = std::env::var("BENCH_PG").unwrap_or_else(|_| "unix".into());
    // Which queries (`typename`: the floor, `{ __typename }`) and which phases to run.
    let list = |var: &str, default: &str| -> Vec<String> {
        std::env::var(var)
            .unwrap_or_else(|_| default.into())
            .split(',')
            .map(|s| s.trim().to_owned())
            .collect()
    };
    let kinds = list("BENCH_QUERIES", "verifyPrescription,prescription");
    let phases = list("BENCH_PHASES", "fixed,churn,max,lists");
    let phase = |p: &str| phases.iter().any(|q| q == p);
    if ["fixed", "churn", "max"].iter().any(|p| phase(p)) {
        single(secs, rate, workers, &pool_size, &env, &transport, &kinds, &phase).await;
    }
    if phase("lists") {
        lists(rate, secs, workers, &["--db.max-connections", &pool_size], &env, &transport).await;
    }
}

/// The phases over one prescription at a time (`fixed`, `churn`, `max`) for each of `kinds`.
#[allow(clippy::too_many_arguments)]
async fn single(
    secs: u64,
    rate: u64,
    workers: usize,
    pool_size: &str,
    env: &[(&str, &str)],
    transport: &str,
    kinds: &[String],
    phase: &dyn Fn(&str) -> bool,
) {
    let pool = empty_db().await;
    let terms = populate(&pool).await;
    let db_url = if transport == "tcp" { database_url(&pool) } else { database_socket_url(&pool) };
    let server = ServeProcess::start(&db_url, &["--db.max-connections", pool_size], env).await;
    let url = format!("{}/graphql", server.base);
    if let Some(hold) = std::env::var("BENCH_HOLD").ok().and_then(|s| s.parse::<u64>().ok()) {
        println!("BENCH hold {hold}s: server pid {} url {url} db {db_url}", server.child.id().unwrap());
        tokio::time::sleep(Duration::from_secs(hold)).await;
    }
    println!(
        "BENCH server: release `medledger serve --db.max-connections {pool_size}`, its own process, \
         API threads {}, PostgreSQL over {transport} ({db_url})",
        env.iter().find(|(k, _)| *k == "MEDLEDGER_API_THREADS").map_or("(cores)", |(_, t)| *t)
    );

    // Sanity: the bodies succeed and verification passes for a sample.
    let client = reqwest::Client::new();
    let v = answer_of(&client, &url, body("verifyPrescription", &terms[2])).await;
    assert_eq!(v["data"]["verifyPrescription"]["valid"], true, "{v}");

    let db_name = pool.connect_options().get_database().unwrap().to_owned();
    let mut rng_order: Vec<usize> = (0..terms.len()).collect();
    // A fixed shuffle (no RNG dependency): stride through the ids.
    rng_order.sort_by_key(|i| (i * 7_919) % terms.len());
    for kind in kinds {
        let kind = kind.as_str();
        assert!(
            ["verifyPrescription", "prescription", "typename"].contains(&kind),
            "BENCH_QUERIES: unknown query {kind}"
        );
        let bodies: Arc<Vec<String>> = Arc::new(rng_order.iter().map(|&i| body(kind, &terms[i])).collect());
        // Warm-up: every id once (the server's connections, PostgreSQL's buffers).
        let started = Instant::now();
        let errors = warm_up(&url, bodies.clone(), workers).await;
        println!(
            "BENCH {kind} warm-up: {} requests in {:.1?}, errors={errors}",
            bodies.len(),
            started.elapsed()
        );
        let report = |label: String, measured: &Phase, cpu: &Cpu| {
            let lat = &measured.latencies;
            println!(
                "BENCH {label}: n={} errors={} p50={:.2?} p99={:.2?} max={:.2?} (send lag p50={:.2?} \
                 p99={:.2?}); CPU per request: {}; load average {}",
                lat.len(),
                measured.errors,
                pct(lat, 0.50),
                pct(lat, 0.99),
                lat[lat.len() - 1],
                pct(&measured.lags, 0.50),
                pct(&measured.lags, 0.99),
                cpu.per_request(&server, &db_name, lat.len()),
                load_average(),
            );
        };
        if phase("fixed") {
            let cpu = Cpu::now(&server, &db_name);
            let measured = fixed_rate(&url, bodies.clone(), rate, secs).await;
            report(format!("{kind} fixed {rate} req/s x {secs}s"), &measured, &cpu);
        }
        // The same while the index changes: a new checkpoint (commit) every 10 ms, so the server's cache of
        // the index version's `asOf` and credentials misses on nearly every request (a bound on its cost: a
        // chain commits a block every few seconds). PostgreSQL's CPU includes the commits'.
        if phase("churn") {
            let churn = Churn::start(pool.clone(), Duration::from_millis(10));
            let cpu = Cpu::now(&server, &db_name);
            let measured = fixed_rate(&url, bodies.clone(), rate, secs).await;
            let commits = churn.stop().await;
            report(
                format!("{kind} fixed {rate} req/s x {secs}s, {commits} commits (cache misses)"),
                &measured,
                &cpu,
            );
        }
        if !phase("max") {
            continue;
        }
        let cpu = Cpu::now(&server, &db_name);
        let (lat, errors, rps) = max_rate(&url, bodies.clone(), workers, secs).await;
        println!(
            "BENCH {kind} max ({workers} connections, {secs}s): {rps:.0} req/s n={} errors={errors} p50={:.2?} \
             p99={:.2?}; CPU per request: {}; load average {}",
            lat.len(),
            pct(&lat, 0.50),
            pct(&lat, 0.99),
            cpu.per_request(&server, &db_name, lat.len()),
            load_average(),
        );
        if std::process::Command::new("wrk").arg("--version").output().is_ok() {
            let script = std::env::temp_dir().join(format!("medledger-bench-{kind}.lua"));
            wrk_script(&bodies, &script);
            // One connection (the latency floor, no queueing), then `workers` connections (throughput).
            for (threads, connections) in [(1, 1), (2, workers)] {
                let args = [
                    format!("-t{threads}"),
                    format!("-c{connections}"),
                    format!("-d{secs}s"),
                    "--latency".into(),
                ];
                println!("BENCH wrk {} -s {} {url}", args.join(" "), script.display());
                let out = std::process::Command::new("wrk")
                    .args(&args)
                    .arg("-s")
                    .arg(&script)
                    .arg(&url)
                    .output()
                    .unwrap();
                println!("{}", String::from_utf8_lossy(&out.stdout));
            }
        }
    }
    drop(server);
}
