//! Start-up failures that speak: against a closed port, the indexer names the address and the cause, warns
//! once per outage rather than once per retry, gives up after its start-up bound when it has one, refuses an
//! RPC URL without a scheme, and prints a fatal error's chain once.

use medledger_core::{Contracts, Manifest};
use medledger_indexer::{Config, Indexer, IndexerError};
use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// A local port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("bound").port()
}

fn manifest() -> Manifest {
    let a = alloy::primitives::Address::repeat_byte;
    let contracts = Contracts {
        credential_registry: a(1),
        consent_registry: a(2),
        record_anchors: a(3),
        prescriptions: a(4),
        access_log_anchors: None,
    };
    Manifest { chain_id: 31337, deploy_block: 0, contracts }
}

/// Log lines written by `tracing`, kept for the test to read.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Self;
    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

impl Logs {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().expect("log buffer").clone();
        String::from_utf8_lossy(&bytes).lines().map(str::to_owned).collect()
    }
}

/// An unreachable node: one WARN for the outage however many retries, the node's address and the cause in
/// it, and with a start-up bound, an error naming both once the bound has passed.
#[tokio::test]
async fn an_unreachable_node_is_named_once_and_start_up_gives_up_in_time() {
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_env_filter("medledger::indexer=debug")
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let rpc_port = closed_port();
    let mut config = Config::new(format!("http://127.0.0.1:{rpc_port}"), manifest());
    config.min_backoff = Duration::from_millis(10);
    config.max_backoff = Duration::from_millis(40);
    config.startup_timeout = Some(Duration::from_millis(1500));
    let db = format!("postgres://medledger:secret@127.0.0.1:{}/chain", closed_port());
    let pool = sqlx::postgres::PgPoolOptions::new().connect_lazy(&db).expect("valid URL");

    let started = Instant::now();
    let err = Indexer::new(config, pool).run(std::future::pending()).await.expect_err("nothing answers");
    assert!(started.elapsed() < Duration::from_secs(5), "gave up after {:?}", started.elapsed());
    assert!(matches!(err, IndexerError::StartupTimeout { .. }), "{err:?}");
    let text = medledger_indexer::report(&err);
    assert!(text.contains(&format!("127.0.0.1:{rpc_port}")), "no address in {text:?}");
    assert!(text.to_lowercase().contains("refused"), "no cause in {text:?}");

    let lines = logs.lines();
    let warnings: Vec<_> = lines.iter().filter(|l| l.contains(" WARN ")).collect();
    let retries = lines.iter().filter(|l| l.contains("RPC call failed again")).count();
    assert!(retries >= 5, "the node was retried ({retries} times)");
    assert_eq!(warnings.len(), 1, "one WARN for the outage, not one per retry: {warnings:#?}");
    assert!(warnings[0].contains(&format!("127.0.0.1:{rpc_port}")), "{}", warnings[0]);
    assert!(warnings[0].to_lowercase().contains("refused"), "{}", warnings[0]);
    assert!(!lines.iter().any(|l| l.contains("secret")), "a password was logged");
}

/// Migrating a database already migrated passes on no PostgreSQL notice (sqlx would log `relation
/// "_sqlx_migrations" already exists, skipping` at INFO on every start).
#[tokio::test]
async fn migrations_log_no_notice() {
    let pg = medledger_indexer::TempPostgres::start().await.expect("a throwaway PostgreSQL");
    let pool = sqlx::PgPool::connect(&pg.url()).await.expect("connect");
    let logs = Logs::default();
    let subscriber =
        tracing_subscriber::fmt().with_writer(logs.clone()).with_ansi(false).with_env_filter("info").finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    for _ in 0..2 {
        medledger_indexer::migrate_when_ready(&pool, Some(Duration::from_secs(10))).await.expect("migrated");
    }
    let notices: Vec<_> = logs.lines().into_iter().filter(|l| l.contains("notice")).collect();
    assert!(notices.is_empty(), "{notices:#?}");
    // The connection went back to the pool as it came.
    let level: String = sqlx::query_scalar("SHOW client_min_messages").fetch_one(&pool).await.expect("show");
    assert_eq!(level, "notice");
}

/// `medledger index` against a closed database port: the WARN names the database's address (not its
/// password) and the cause, and comes once while start-up keeps trying every second.
#[test]
fn an_unreachable_database_is_named_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("manifest.json");
    std::fs::write(&path, serde_json::to_vec(&manifest()).expect("manifest JSON")).expect("write manifest");
    let db_port = closed_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_medledger"))
        .args(["index", "--rpc.url", "http://127.0.0.1:1", "--manifest"])
        .arg(&path)
        .args(["--db.url", &format!("postgres://medledger:secret@127.0.0.1:{db_port}/chain")])
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn medledger index");
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    // Lines as they come, on a thread: the process runs until killed.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || stderr.lines().map_while(Result::ok).try_for_each(|l| tx.send(l)));
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lines.iter().any(|l: &String| l.contains("unreachable")) && Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            lines.push(l);
        }
    }
    // Three more attempts' worth.
    let more = Instant::now() + Duration::from_millis(3_500);
    while Instant::now() < more {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            lines.push(l);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let warnings: Vec<_> = lines.iter().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "one WARN while the database stays away: {lines:#?}");
    assert!(warnings[0].contains(&format!("127.0.0.1:{db_port}/chain")), "{}", warnings[0]);
    assert!(warnings[0].to_lowercase().contains("refused"), "{}", warnings[0]);
    assert!(!lines.iter().any(|l| l.contains("secret")), "a password was logged: {lines:#?}");
    assert!(!lines.iter().any(|l| l.contains("_sqlx_migrations")), "{lines:#?}");
}

/// Runs `medledger` with `args` to its exit (killed after 20 s: a failure to exit is one) and returns its
/// stderr.
fn fails(args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_medledger"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run medledger");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = reader.join().expect("stderr reader");
    let status = status.unwrap_or_else(|| panic!("{args:?} did not exit within 20 s: {stderr}"));
    assert!(!status.success(), "{args:?} succeeded");
    stderr
}

/// An RPC URL without a scheme is refused at once, before anything is reached.
#[test]
fn an_rpc_url_without_a_scheme_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("manifest.json");
    std::fs::write(&path, serde_json::to_vec(&manifest()).expect("manifest JSON")).expect("write manifest");
    let db = format!("postgres://u@127.0.0.1:{}/x", closed_port());
    let started = Instant::now();
    let path = path.to_string_lossy().into_owned();
    let stderr = fails(&["index", "--rpc.url", "127.0.0.1:8545", "--db.url", &db, "--manifest", &path]);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert!(stderr.contains("Error: --rpc.url \"127.0.0.1:8545\" is not an http://"), "{stderr}");
}

/// A fatal error's chain is printed once, on one line: no `Caused by:` list repeating each wrapper's text.
#[test]
fn a_fatal_error_is_printed_once() {
    let stderr = fails(&["migrate", "--db.url", "postgres://u@127.0.0.1:notaport/x"]);
    let errors: Vec<_> = stderr.lines().filter(|l| l.starts_with("Error: ")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(!stderr.contains("Caused by"), "{stderr}");
    let parts: Vec<_> = errors[0].trim_start_matches("Error: ").split(": ").collect();
    assert!(parts.len() >= 2, "the cause is kept: {stderr}");
    for (i, part) in parts.iter().enumerate() {
        assert!(
            !parts[i + 1..].iter().any(|p| p.contains(part) || part.contains(p)),
            "{part:?} repeated: {stderr}"
        );
    }
}
