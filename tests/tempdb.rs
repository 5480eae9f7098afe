//! The throwaway PostgreSQL cluster disappears even when its owner is killed with SIGKILL.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

#[tokio::test]
async fn cluster_is_removed_when_its_owner_is_killed() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_medledger"))
        .args(["pg", "--log.json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn medledger pg");
    let url = {
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read url");
        line.trim().to_owned()
    };
    assert!(url.starts_with("postgres://"), "unexpected first line {url:?}");
    let mut log = String::new();
    BufReader::new(child.stderr.take().expect("stderr")).read_line(&mut log).expect("read log line");
    let entry: serde_json::Value = serde_json::from_str(&log).expect("a JSON log line");
    let dir = PathBuf::from(entry["fields"]["dir"].as_str().expect("dir field"));
    assert!(dir.exists());

    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.expect("connect");
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&mut conn).await.expect("query");
    assert_eq!(one, 1);
    drop(conn);

    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let deadline = Instant::now() + Duration::from_secs(20);
    while dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!dir.exists(), "{} survived its owner", dir.display());
    assert!(<sqlx::PgConnection as sqlx::Connection>::connect(&url).await.is_err(), "server still up");
}
