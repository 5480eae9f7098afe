//! Shared helpers of the GraphQL tests: one throwaway PostgreSQL cluster per test binary, a migrated
//! database per test, fixture rows standing in for what the indexer writes, and request helpers.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_arguments
)]

use alloy::primitives::U256;
use medledger_core::{
    bindings::IPrescriptions::RxTerms,
    eip712::{domain, prescription_id},
};
use medledger_indexer::TempPostgres;
use serde_json::Value;
use sqlx::PgPool;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const CHAIN: i64 = 31337;
/// The latest indexed block's time (block 100): every relative time in the fixture is from here.
pub const T: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
pub const DAY: i64 = 86_400;

pub const PATIENT_A: [u8; 20] = [0xa1; 20];
pub const PATIENT_B: [u8; 20] = [0xb1; 20];
pub const PATIENT_C: [u8; 20] = [0xc1; 20];
pub const DOCTOR: [u8; 20] = [0xd1; 20];
pub const DOCTOR2: [u8; 20] = [0xd2; 20];
pub const PHARM1: [u8; 20] = [0xf1; 20];
pub const PHARM2: [u8; 20] = [0xf2; 20];
pub const PHARM3: [u8; 20] = [0xf3; 20];
pub const OTHER: [u8; 20] = [0xe1; 20];
pub const PRESCRIPTIONS: [u8; 20] = [0xcc; 20];
pub const CONSENTS: [u8; 20] = [0xcb; 20];
pub const ANCHORS: [u8; 20] = [0xca; 20];
pub const CONTENT: [u8; 32] = [0x33; 32];

static PG: tokio::sync::OnceCell<TempPostgres> = tokio::sync::OnceCell::const_new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// A fresh, migrated, empty database on the shared cluster.
pub async fn empty_db() -> PgPool {
    let pg = PG.get_or_init(|| async { TempPostgres::start().await.expect("starting PostgreSQL") }).await;
    let name = format!("gql_{}_{}", std::process::id(), NEXT_DB.fetch_add(1, Ordering::Relaxed));
    pg.create_database(&name).expect("creating a database");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect(&pg.database_url(&name))
        .await
        .expect("connecting");
    medledger_indexer::migrate(&pool).await.expect("migrating");
    pool
}

pub fn hx(b: &[u8]) -> String {
    format!("'\\x{}'::bytea", alloy::hex::encode(b))
}

pub fn a0x(b: &[u8]) -> String {
    format!("0x{}", alloy::hex::encode(b))
}

pub fn block_time(block: i64) -> i64 {
    T - (100 - block) * 12
}

fn ts(secs: i64) -> String {
    format!("to_timestamp({secs})")
}

/// One prescription of the fixture.
pub struct Rx {
    pub id: [u8; 32],
    pub name: &'static str,
}

pub struct RxSpec {
    pub patient: [u8; 20],
    pub prescriber: [u8; 20],
    pub pharmacy: Option<[u8; 20]>,
    pub fills: u8,
    pub qpf: u32,
    pub earliest: i64,
    pub valid_until: i64,
    pub interval: u32,
    pub schedule: u8,
    pub nonce: u64,
    pub block: i64,
    /// The content hash (`CONTENT` in the fixture).
    pub content: [u8; 32],
}

pub fn rx_id(s: &RxSpec) -> [u8; 32] {
    let terms = RxTerms {
        patient: s.patient.into(),
        prescriber: s.prescriber.into(),
        contentHash: s.content.into(),
        fills: s.fills,
        quantityPerFill: s.qpf,
        daysSupply: 30,
        dateWritten: 0,
        earliestFillAt: u32::try_from(s.earliest).unwrap(),
        validUntil: u32::try_from(s.valid_until).unwrap(),
        minFillInterval: s.interval,
        schedule: s.schedule,
        longTermCare: false,
        pharmacy: s.pharmacy.unwrap_or([0; 20]).into(),
        nonce: U256::from(s.nonce),
        deadline: u32::MAX,
    };
    prescription_id(&domain(CHAIN as u64, PRESCRIPTIONS.into()), &terms).0
}

pub struct Sql(pub String);

impl Sql {
    pub fn event(
        &mut self,
        block: i64,
        log: i32,
        contract: &str,
        address: [u8; 20],
        name: &str,
        accounts: &[[u8; 20]],
        rx: Option<[u8; 32]>,
        episode: Option<i64>,
    ) {
        let accounts: Vec<String> = accounts.iter().map(|a| hx(a)).collect();
        let rx = rx.map_or("NULL".to_owned(), |r| hx(&r));
        let episode = episode.map_or("NULL".to_owned(), |e| e.to_string());
        let tx = [block as u8; 32];
        self.0 += &format!(
            "INSERT INTO events VALUES ({CHAIN}, {block}, {bh}, {t}, {tx}, 0, {log}, '{contract}', {addr}, \
             '{name}', '\\x'::bytea, ARRAY[{acc}]::bytea[], {rx}, {episode}, NULL, '{{\"n\": {block}}}');\n",
            bh = hx(&[block as u8; 32]),
            t = ts(block_time(block)),
            tx = hx(&tx),
            addr = hx(&address),
            acc = accounts.join(","),
        );
    }

    pub fn prescription(&mut self, s: &RxSpec, fills_used: i16, dispensed: i64, cancelled: bool) -> [u8; 32] {
        let id = rx_id(s);
        let ph = s.pharmacy.map_or("NULL".to_owned(), |p| hx(&p));
        let (cancel, cancelled_by) = if cancelled {
            (format!("true, 1, {}", ts(block_time(s.block + 1))), "'prescriber'")
        } else {
            ("false, NULL, NULL".into(), "NULL")
        };
        self.0 += &format!(
            "INSERT INTO prescriptions VALUES ({CHAIN}, {id}, {pa}, {pr}, {ch}, {ph}, {ph}, {fills}, {qpf}, \
             {earliest}, {valid}, {interval}, {schedule}, {nonce}, {pr}, false, {block}, {issued}, {tx}, \
             {fills_used}, {dispensed}, {count}, NULL, NULL, {cancel}, {block}, 30, to_timestamp(0), false, \
             to_timestamp(4294967295), false, {cancelled_by}, NULL);\n",
            id = hx(&id),
            pa = hx(&s.patient),
            pr = hx(&s.prescriber),
            ch = hx(&s.content),
            fills = s.fills,
            qpf = s.qpf,
            earliest = ts(s.earliest),
            valid = ts(s.valid_until),
            interval = s.interval,
            schedule = s.schedule,
            nonce = s.nonce,
            block = s.block,
            issued = ts(block_time(s.block)),
            tx = hx(&[s.block as u8; 32]),
            count = i64::from(dispensed > 0),
        );
        let mut accounts = vec![s.patient, s.prescriber];
        if let Some(p) = s.pharmacy {
            accounts.push(p);
        }
        self.event(
            s.block,
            0,
            "Prescriptions",
            PRESCRIPTIONS,
            "PrescriptionIssued",
            &accounts,
            Some(id),
            None,
        );
        if cancelled {
            self.event(
                s.block + 1,
                0,
                "Prescriptions",
                PRESCRIPTIONS,
                "PrescriptionCancelled",
                &[s.prescriber],
                Some(id),
                None,
            );
        }
        id
    }

    /// A dispense of `rx`, a prescription of `patient`.
    pub fn dispense(
        &mut self,
        patient: [u8; 20],
        rx: [u8; 32],
        pharmacy: [u8; 20],
        block: i64,
        log: i32,
        fill: i16,
        qty: i64,
        fill_total: i64,
        total: i64,
    ) {
        self.0 += &format!(
            "INSERT INTO dispenses VALUES ({CHAIN}, {block}, {log}, {rx}, {ph}, {fill}, {qty}, {fill_total}, {total}, \
             {dh}, {t}, {tx}, {pa});\n",
            pa = hx(&patient),
            rx = hx(&rx),
            ph = hx(&pharmacy),
            dh = hx(&[0x77; 32]),
            t = ts(block_time(block)),
            tx = hx(&[block as u8; 32]),
        );
        self.event(
            block,
            log,
            "Prescriptions",
            PRESCRIPTIONS,
            "PrescriptionDispensed",
            &[pharmacy],
            Some(rx),
            None,
        );
    }

    pub fn credential(
        &mut self,
        account: [u8; 20],
        id: i64,
        kind: &str,
        status: &str,
        expires: i64,
        updated_block: i64,
    ) {
        self.0 += &format!(
            "INSERT INTO credentials VALUES ({CHAIN}, {a}, {id}, '{kind}', '{status}', NULL, {lh}, '\\x5553'::bytea, \
             {exp}, 12, 1, {reg}, {updated_block}, {upd});\n",
            a = hx(&account),
            lh = hx(&[0x11; 32]),
            exp = ts(expires),
            reg = ts(block_time(1)),
            upd = ts(block_time(updated_block)),
        );
    }

    pub fn credential_change(
        &mut self,
        account: [u8; 20],
        id: i64,
        block: i64,
        change: &str,
        status: &str,
        expires: i64,
    ) {
        self.0 += &format!(
            "INSERT INTO credential_history VALUES ({CHAIN}, {block}, 5, {a}, {id}, '{change}', '{status}', {exp}, \
             NULL, NULL, NULL, {t}, {tx});\n",
            a = hx(&account),
            exp = ts(expires),
            t = ts(block_time(block)),
            tx = hx(&[block as u8; 32]),
        );
    }
}

/// The standard fixture: credentials, consents, five prescriptions in every state, dispenses, an episode
/// with a hidden record, events, blocks and a checkpoint at block 100 (time `T`).
pub struct Fixture {
    pub pool: PgPool,
    pub rx_wait: [u8; 32],
    pub rx_future: [u8; 32],
    pub rx_dead: [u8; 32],
    pub rx_done: [u8; 32],
    pub rx_open: [u8; 32],
}

pub async fn fixture() -> Fixture {
    let pool = empty_db().await;
    let mut s = Sql(String::new());
    for b in 1..=100 {
        s.0 += &format!(
            "INSERT INTO blocks VALUES ({CHAIN}, {b}, {h}, {p}, {t});\n",
            h = hx(&[b as u8; 32]),
            p = hx(&[(b - 1) as u8; 32]),
            t = ts(block_time(b)),
        );
    }
    s.0 += &format!(
        "INSERT INTO checkpoints (chain_id, block_number, block_hash, head_number, reorg_count, last_reorg_at, \
         last_reorg_block, last_reorg_depth) VALUES ({CHAIN}, 100, {h}, 103, 1, {t}, 90, 2);\n",
        h = hx(&[100u8; 32]),
        t = ts(block_time(95)),
    );
    let far = T + 365 * DAY;
    s.credential(DOCTOR, 1, "prescriber", "active", far, 1);
    s.credential_change(DOCTOR, 1, 2, "registered", "active", far);
    s.credential(DOCTOR2, 2, "prescriber", "suspended", far, 60);
    s.credential_change(DOCTOR2, 2, 1, "registered", "active", far);
    s.credential_change(DOCTOR2, 2, 60, "suspended", "suspended", far);
    s.credential(PHARM1, 3, "pharmacy", "active", far, 1);
    s.credential(PHARM2, 4, "pharmacy", "active", far, 1);
    s.credential(PHARM3, 5, "pharmacy", "revoked", far, 2);

    // Consents: A→DOCTOR active, expiring in 3 days; A→OTHER revoked; B→DOCTOR emergency only;
    // C→DOCTOR active for 100 days.
    s.0 += &format!(
        "INSERT INTO consents (chain_id, patient, grantee, scopes, expires_at, granted_at, granted_block, \
         granted_relayed, revoked, revoked_at, revoked_relayed, emergency_until, emergency_reason, \
         emergency_opened_at, updated_block) VALUES \
         ({CHAIN}, {a}, {d}, 5, {e3}, {g3}, 3, false, false, NULL, NULL, NULL, NULL, NULL, 3), \
         ({CHAIN}, {a}, {o}, 0, NULL, {g4}, 4, true, true, {g30}, true, NULL, NULL, NULL, 30), \
         ({CHAIN}, {b}, {d}, 0, NULL, NULL, NULL, NULL, false, NULL, NULL, {e1h}, 7, {g70}, 70), \
         ({CHAIN}, {c}, {d}, 1, {e100}, {g5}, 5, false, false, NULL, NULL, NULL, NULL, NULL, 5);\n",
        a = hx(&PATIENT_A),
        b = hx(&PATIENT_B),
        c = hx(&PATIENT_C),
        d = hx(&DOCTOR),
        o = hx(&OTHER),
        e3 = ts(T + 3 * DAY),
        e1h = ts(T + 3600),
        e100 = ts(T + 100 * DAY),
        g3 = ts(block_time(3)),
        g4 = ts(block_time(4)),
        g5 = ts(block_time(5)),
        g30 = ts(block_time(30)),
        g70 = ts(block_time(70)),
    );
    for (block, patient, grantee, action) in [
        (3, PATIENT_A, DOCTOR, "granted"),
        (4, PATIENT_A, OTHER, "granted"),
        (5, PATIENT_C, DOCTOR, "granted"),
        (30, PATIENT_A, OTHER, "revoked"),
        (70, PATIENT_B, DOCTOR, "emergency_opened"),
    ] {
        s.0 += &format!(
            "INSERT INTO consent_history VALUES ({CHAIN}, {block}, 1, {p}, {g}, '{action}', 5, NULL, false, NULL, \
             NULL, {t}, {tx});\n",
            p = hx(&patient),
            g = hx(&grantee),
            t = ts(block_time(block)),
            tx = hx(&[block as u8; 32]),
        );
        let name = match action {
            "granted" => "ConsentGranted",
            "revoked" => "ConsentRevoked",
            _ => "EmergencyAccessOpened",
        };
        s.event(block, 1, "ConsentRegistry", CONSENTS, name, &[patient, grantee], None, None);
    }

    let spec =
        |patient, prescriber, pharmacy, fills, qpf, earliest, valid_until, interval, nonce, block| RxSpec {
            patient,
            prescriber,
            pharmacy,
            fills,
            qpf,
            earliest,
            valid_until,
            interval,
            schedule: 0,
            nonce,
            block,
            content: CONTENT,
        };
    // Waiting: fill 1 complete 10 minutes ago, 7-day interval, designated to PHARM1.
    let rx_wait = s.prescription(
        &spec(PATIENT_A, DOCTOR, Some(PHARM1), 3, 30, T - 10 * DAY, T + 60 * DAY, 7 * DAY as u32, 1, 10),
        1,
        30,
        false,
    );
    s.dispense(PATIENT_A, rx_wait, PHARM1, 50, 0, 1, 30, 30, 30);
    // Not yet fillable, any pharmacy, by DOCTOR2 (suspended at block 60, after the issue).
    let rx_future = s.prescription(
        &spec(PATIENT_B, DOCTOR2, None, 1, 10, T + 2 * DAY, T + 30 * DAY, 0, 2, 11),
        0,
        0,
        false,
    );
    // Cancelled (block 13) and expired 5 minutes ago.
    let rx_dead =
        s.prescription(&spec(PATIENT_A, DOCTOR, Some(PHARM1), 1, 10, T - DAY, T - 300, 0, 3, 12), 0, 0, true);
    // Completed at block 40.
    let rx_done = s.prescription(
        &spec(PATIENT_A, DOCTOR, Some(PHARM1), 1, 5, T - DAY, T + 30 * DAY, 0, 4, 14),
        1,
        5,
        false,
    );
    s.dispense(PATIENT_A, rx_done, PHARM1, 40, 0, 1, 5, 5, 5);
    // Open fill: 10 of 30 dispensed at block 60, any pharmacy, 30-day interval.
    let rx_open = s.prescription(
        &spec(PATIENT_A, DOCTOR, None, 2, 30, T - DAY, T + 90 * DAY, 30 * DAY as u32, 5, 15),
        1,
        10,
        false,
    );
    s.dispense(PATIENT_A, rx_open, PHARM2, 60, 1, 1, 10, 10, 10);

    // Episode 1 of patient A: three records, the second hidden.
    s.0 += &format!(
        "INSERT INTO episodes VALUES ({CHAIN}, 1, {a}, {d}, {t8}, 8, 3, {head}, false, NULL, NULL, NULL, 22);\n",
        a = hx(&PATIENT_A),
        d = hx(&DOCTOR),
        t8 = ts(block_time(8)),
        head = hx(&[0x99; 32]),
    );
    s.event(8, 0, "RecordAnchors", ANCHORS, "EpisodeOpened", &[PATIENT_A, DOCTOR], None, Some(1));
    for i in 0..3i64 {
        let block = 20 + i;
        s.0 += &format!(
            "INSERT INTO records VALUES ({CHAIN}, 1, {i}, {a}, {d}, {c}, {p}, {h}, {hidden}, {block}, {t}, {tx}, NULL);\n",
            a = hx(&PATIENT_A),
            d = hx(&DOCTOR),
            c = hx(&[0x40 + i as u8; 32]),
            p = hx(&[0x50 + i as u8; 32]),
            h = hx(&[0x60 + i as u8; 32]),
            hidden = i == 1,
            t = ts(block_time(block)),
            tx = hx(&[block as u8; 32]),
        );
        s.event(block, 0, "RecordAnchors", ANCHORS, "RecordAnchored", &[PATIENT_A, DOCTOR], None, Some(1));
    }
    sqlx::raw_sql(&s.0).execute(&pool).await.unwrap_or_else(|e| panic!("fixture: {e}"));
    Fixture { pool, rx_wait, rx_future, rx_dead, rx_done, rx_open }
}

/// A router over `pool` with the default configuration (explorer configured).
pub fn app(pool: PgPool) -> (axum::Router, medledger_graphql::Db) {
    app_with(pool, |_| {})
}

/// A router over `pool`, the configuration adjusted by `adjust`.
pub fn app_with(
    pool: PgPool,
    adjust: impl FnOnce(&mut medledger::server::ServerConfig),
) -> (axum::Router, medledger_graphql::Db) {
    let mut config = medledger::server::ServerConfig::new("127.0.0.1:0".parse().unwrap(), CHAIN);
    config.api.explorer_url = Some("https://explorer.example".into());
    adjust(&mut config);
    let (schema, db) = medledger_graphql::build_schema(pool, config.api.clone());
    (medledger::server::router(schema, db.clone(), None, &config), db)
}

/// POSTs a GraphQL request through the router (no socket); returns the status and the JSON body.
pub async fn post(app: &axum::Router, query: &str, variables: Value) -> (u16, Value) {
    use tower::ServiceExt as _;
    let body = serde_json::json!({"query": query, "variables": variables}).to_string();
    let request = axum::http::Request::post("/graphql")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// The data of a successful response (panics with the errors otherwise).
pub async fn data(app: &axum::Router, query: &str, variables: Value) -> Value {
    let (status, body) = post(app, query, variables).await;
    assert!(body.get("errors").is_none(), "errors: {body:#}");
    assert_eq!(status, 200);
    body["data"].clone()
}

/// The codes of a response's errors.
pub fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors.iter().map(|e| e["extensions"]["code"].as_str().unwrap_or("NONE").to_owned()).collect()
        })
        .unwrap_or_default()
}

/// The URL of a database made by [`empty_db`] (or [`fixture`]).
pub fn database_url(pool: &PgPool) -> String {
    let o = pool.connect_options();
    format!(
        "postgres://{}@{}:{}/{}",
        o.get_username(),
        o.get_host(),
        o.get_port(),
        o.get_database().expect("a database name")
    )
}

/// The URL of the same database over the cluster's Unix socket (no loopback TCP).
pub fn database_socket_url(pool: &PgPool) -> String {
    let o = pool.connect_options();
    let dir = PG.get().expect("the cluster is running").dir();
    format!(
        "postgres://{}@localhost/{}?host={}&port={}",
        o.get_username(),
        o.get_database().expect("a database name"),
        dir.display(),
        o.get_port()
    )
}

/// `medledger serve` (the binary under test) running as a child process over a database, on a free port.
pub struct ServeProcess {
    pub child: tokio::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    _dir: tempfile::TempDir,
}

impl ServeProcess {
    /// Starts `medledger serve` over `db_url` with the fixture's manifest, `extra` arguments and `env`
    /// variables; returns once it listens.
    pub async fn start(db_url: &str, extra: &[&str], env: &[(&str, &str)]) -> Self {
        use tokio::io::AsyncBufReadExt as _;
        let dir = tempfile::tempdir().unwrap();
        let manifest = medledger_core::Manifest {
            chain_id: CHAIN as u64,
            deploy_block: 0,
            contracts: medledger_core::Contracts {
                credential_registry: [0xc9; 20].into(),
                consent_registry: CONSENTS.into(),
                record_anchors: ANCHORS.into(),
                prescriptions: PRESCRIPTIONS.into(),
                access_log_anchors: None,
            },
        };
        let path = dir.path().join("manifest.json");
        std::fs::write(&path, serde_json::to_string(&manifest).unwrap()).unwrap();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_medledger"))
            .args(["serve", "--db.url", db_url, "--api.addr", "127.0.0.1:0", "--log.json"])
            .arg("--manifest")
            .arg(&path)
            .args(extra)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn medledger serve");
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if let Some(addr) = v["fields"]["addr"].as_str() {
                    return addr.to_owned();
                }
            }
            panic!("medledger serve exited before listening");
        })
        .await
        .expect("medledger serve did not start listening");
        // Keep draining its log so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, base: format!("http://{addr}"), _dir: dir }
    }

    /// The child's resident set size in bytes (Linux `/proc`).
    pub fn rss_bytes(&self) -> u64 {
        let pid = self.child.id().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS");
        kb * 1024
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

/// Skewed data for the lists (what `every_list_is_served_by_an_index` explains and `scripts/bench-graphql`
/// measures): [`DOCTOR`] prescribed 15,400 of 20,000 prescriptions (ids `0x…01` to `0x…4e20`; one in 8
/// expired, one in 11 cancelled, one in 7 fully dispensed), [`PHARM1`] is named on 16,000 (about 10,900 of
/// them open) and dispensed 16,000, [`PATIENT_A`] holds 15,000 prescriptions, 5,000 consents, 19,800 consent
/// changes, 5,400 episodes with 21,600 records, and is named in 50,000 of 60,000 events (blocks 1 to
/// 15,000). Analysed, not vacuumed.
pub async fn skewed_fixture(pool: &PgPool) {
    let (pa, doc, ph) = (hx(&PATIENT_A), hx(&DOCTOR), hx(&PHARM1));
    let z = hx(&[0; 32]);
    let other =
        |col: &str, i: &str| format!("decode(lpad(to_hex({i}), 40, '0'), 'hex')").replace("{col}", col);
    let (o_pa, o_doc, o_ph) =
        (other("p", "i + 1000000"), other("d", "i + 2000000"), other("f", "i + 3000000"));
    let sql = format!(
        "INSERT INTO checkpoints (chain_id, block_number, block_hash, head_number) VALUES ({CHAIN}, 100000, '\\x01', 100000);
         INSERT INTO blocks VALUES ({CHAIN}, 100000, '\\x01', '\\x00', to_timestamp({T}));
         INSERT INTO prescriptions SELECT {CHAIN}, decode(lpad(to_hex(i), 64, '0'), 'hex'),
           CASE WHEN i % 4 <> 0 THEN {pa} ELSE {o_pa} END, CASE WHEN i <= 15400 THEN {doc} ELSE {o_doc} END,
           {z}, NULL, CASE WHEN i % 5 <> 0 THEN {ph} ELSE {o_ph} END, 3, 10, to_timestamp({T} - 86400),
           to_timestamp({T} + CASE WHEN i % 8 = 0 THEN -3600 ELSE 86400 END), 0, i % 3, i, {doc}, false, i,
           to_timestamp({T} - 86400), {z}, 1, CASE WHEN i % 7 = 0 THEN 30 ELSE 10 END, 1, NULL, NULL,
           i % 11 = 0, NULL, NULL, i, 30, to_timestamp({T} - 86400), false, to_timestamp({T}), false,
           CASE WHEN i % 11 = 0 THEN 'prescriber' END, NULL FROM generate_series(1, 20000) i;
         INSERT INTO dispenses SELECT {CHAIN}, i, 0, decode(lpad(to_hex(i), 64, '0'), 'hex'),
           CASE WHEN i % 5 <> 0 THEN {ph} ELSE {o_ph} END, 1, 10, 10, 10, {z}, to_timestamp({T} - 3600), {z},
           CASE WHEN i % 4 <> 0 THEN {pa} ELSE {o_pa} END FROM generate_series(1, 20000) i;
         INSERT INTO consents SELECT {CHAIN}, CASE WHEN i <= 5000 THEN {pa} ELSE {o_pa} END,
           CASE WHEN i > 5000 THEN {doc} ELSE {o_doc} END, 1, NULL, to_timestamp({T}), i, false, i % 3 = 0, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, i FROM generate_series(1, 10000) i;
         INSERT INTO consent_history SELECT {CHAIN}, i, 0, CASE WHEN i % 10 <> 0 THEN {pa} ELSE {o_pa} END, {o_doc},
           'granted', 1, NULL, false, NULL, NULL, to_timestamp({T}), {z} FROM generate_series(1, 22000) i;
         INSERT INTO episodes SELECT {CHAIN}, i, CASE WHEN i % 10 <> 0 THEN {pa} ELSE {o_pa} END, {doc},
           to_timestamp({T}), i, 4, {z}, false, NULL, NULL, NULL, i FROM generate_series(1, 6000) i;
         INSERT INTO records SELECT {CHAIN}, e, r, CASE WHEN e % 10 <> 0 THEN {pa} ELSE {o_pa_e} END, {doc}, {z}, {z},
           {z}, r = 3, e, to_timestamp({T}), {z}, NULL FROM generate_series(1, 6000) e, generate_series(0, 3) r;
         INSERT INTO events SELECT {CHAIN}, i / 4, {z}, to_timestamp({T} - 60000 + i), decode(lpad(to_hex(i / 2), 64, '0'), 'hex'),
           0, i % 4, CASE WHEN i % 8 = 0 THEN 'ConsentRegistry' ELSE 'Prescriptions' END,
           CASE WHEN i % 8 = 0 THEN {cc} ELSE {pc} END, 'PrescriptionIssued', '\\x00',
           CASE WHEN i % 6 <> 0 THEN ARRAY[{pa}] ELSE ARRAY[{o_pa}] END,
           decode(lpad(to_hex(i % 9000), 64, '0'), 'hex'), CASE WHEN i % 3 = 0 THEN i % 100 END, NULL, '{{}}'
           FROM generate_series(4, 60003) i;
         ANALYZE;",
        cc = hx(&CONSENTS),
        pc = hx(&PRESCRIPTIONS),
        o_pa_e = other("p", "e + 1000000"),
    );
    sqlx::raw_sql(&sql).execute(pool).await.unwrap();
}

/// Every list a role reads over [`skewed_fixture`]: a name and the query's top-level field, with `PAGE` where
/// the page arguments go (`first: 20`, `after: …`) and `CONNECTION` where the connection's selection goes.
pub fn skewed_lists() -> Vec<(&'static str, String)> {
    let p = |a: &[u8]| a0x(a);
    vec![
        ("pharmacy queue (open)", format!("pharmacy(address: \"{}\") {{ queue(PAGE) CONNECTION }}", p(&PHARM1))),
        ("pharmacy queue (all)", format!("pharmacy(address: \"{}\") {{ queue(filter: {{openOnly: false}} PAGE) CONNECTION }}", p(&PHARM1))),
        ("pharmacy dispenses", format!("pharmacy(address: \"{}\") {{ dispenses(PAGE) CONNECTION }}", p(&PHARM1))),
        ("prescriber prescriptions (all)", format!("prescriber(address: \"{}\") {{ prescriptions(PAGE) CONNECTION }}", p(&DOCTOR))),
        ("prescriber prescriptions (open)", format!("prescriber(address: \"{}\") {{ prescriptions(filter: {{openOnly: true}} PAGE) CONNECTION }}", p(&DOCTOR))),
        ("prescriber consents", format!("prescriber(address: \"{}\") {{ consents(PAGE) CONNECTION }}", p(&DOCTOR))),
        ("prescriber consents (active)", format!("prescriber(address: \"{}\") {{ consents(filter: {{status: ACTIVE}} PAGE) CONNECTION }}", p(&DOCTOR))),
        ("patient prescriptions (all)", format!("patient(address: \"{}\") {{ prescriptions(PAGE) CONNECTION }}", p(&PATIENT_A))),
        ("patient prescriptions (open)", format!("patient(address: \"{}\") {{ prescriptions(filter: {{openOnly: true}} PAGE) CONNECTION }}", p(&PATIENT_A))),
        ("patient consents", format!("patient(address: \"{}\") {{ consents(PAGE) CONNECTION }}", p(&PATIENT_A))),
        ("patient consent history", format!("patient(address: \"{}\") {{ consentHistory(PAGE) CONNECTION }}", p(&PATIENT_A))),
        ("patient episodes", format!("patient(address: \"{}\") {{ episodes(PAGE) CONNECTION }}", p(&PATIENT_A))),
        ("events by account", format!("events(filter: {{accounts: [\"{}\"]}} PAGE) CONNECTION", p(&PATIENT_A))),
        ("patient records", format!("patient(address: \"{}\") {{ records(PAGE) CONNECTION }}", p(&PATIENT_A))),
        ("patient dispenses", format!("patient(address: \"{}\") {{ dispenses(PAGE) CONNECTION }}", p(&PATIENT_A))),
        ("events by contract", "events(filter: {contracts: [CONSENT_REGISTRY]} PAGE) CONNECTION".to_owned()),
        ("events by contract address", format!("events(filter: {{contractAddress: \"{}\"}} PAGE) CONNECTION", p(&CONSENTS))),
        ("events by rx", format!("events(filter: {{rxId: \"0x{}\"}} PAGE) CONNECTION", "00".repeat(31) + "07")),
        ("events by episode", "events(filter: {episodeId: 7} PAGE) CONNECTION".to_owned()),
        ("events by tx", format!("events(filter: {{txHash: \"0x{}\"}} PAGE) CONNECTION", "00".repeat(31) + "09")),
        ("events by block range", "events(filter: {fromBlock: 5000, toBlock: 9000} PAGE) CONNECTION".to_owned()),
        ("events by time range", "events(filter: {fromTime: \"2025-12-31T12:00:00Z\", toTime: \"2025-12-31T20:00:00Z\"} PAGE) CONNECTION".to_owned()),
    ]
}
