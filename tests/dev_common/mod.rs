//! Shared by the tests that run `medledger dev` as a process: start it, read its banner, ask its GraphQL API,
//! stop it with SIGINT.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// A running `medledger dev`.
pub struct DevProcess {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

/// What the banner and the story summary say.
#[derive(Debug, Default)]
pub struct Banner {
    pub graphql: String,
    pub rpc: String,
    pub temp_dirs: Vec<PathBuf>,
    /// label -> (rxId, contentHash)
    pub rx: BTreeMap<String, (String, String)>,
    pub episode: Option<i64>,
    pub story_transactions: Option<usize>,
}

fn collect(reader: impl std::io::Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            into.lock().unwrap().push(line);
        }
    });
}

impl DevProcess {
    /// Starts `medledger dev` with `args`, logging JSON lines; the environment's own `medledger` settings are
    /// removed so the test controls everything.
    pub fn start(args: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_medledger"));
        cmd.arg("dev").args(args);
        for var in [
            "DATABASE_URL",
            "MEDLEDGER_RPC_URL",
            "MEDLEDGER_API_ADDR",
            "MEDLEDGER_DEV_NO_SEED",
            "MEDLEDGER_DEV_SIMULATE",
            "MEDLEDGER_DEV_SIMULATE_INTERVAL_MS",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("MEDLEDGER_LOG_JSON", "true")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn medledger dev");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().unwrap(), stdout.clone());
        collect(child.stderr.take().unwrap(), stderr.clone());
        Self { child, stdout, stderr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything printed so far (for failure messages).
    pub fn output(&self) -> String {
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            self.stdout.lock().unwrap().join("\n"),
            self.stderr.lock().unwrap().join("\n")
        )
    }

    /// The JSON log lines on stderr.
    pub fn log_lines(&self) -> Vec<Value> {
        self.stderr.lock().unwrap().iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// Waits for "medledger dev is ready" and parses the banner.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Banner {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stdout.lock().unwrap().iter().any(|l| l.starts_with("medledger dev is ready")) {
                break;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(200)); // let the readers drain
                panic!("medledger dev exited early with {status}\n{}", self.output());
            }
            assert!(
                Instant::now() < deadline,
                "medledger dev not ready within {timeout:?}\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let lines = self.stdout.lock().unwrap().clone();
        let mut b = Banner::default();
        for line in &lines {
            let t: Vec<&str> = line.split_whitespace().collect();
            match t.as_slice() {
                ["GraphQL", url, ..] => b.graphql = (*url).to_owned(),
                ["RPC", url, ..] => b.rpc = (*url).to_owned(),
                ["temporary", "files", dirs @ ..] => b.temp_dirs = dirs.iter().map(PathBuf::from).collect(),
                ["rx", label, id, "contentHash", hash] => {
                    b.rx.insert((*label).to_owned(), ((*id).to_owned(), (*hash).to_owned()));
                }
                ["episode", id, ..] => b.episode = id.parse().ok(),
                ["demo", "story", "played", n, ..] => {
                    b.story_transactions = n.trim_start_matches('(').parse().ok();
                }
                _ => {}
            }
        }
        assert!(b.graphql.starts_with("http://"), "no GraphQL URL in the banner\n{}", self.output());
        assert!(b.rpc.starts_with("http://"), "no RPC URL in the banner\n{}", self.output());
        b
    }

    /// Sends SIGINT and waits for the exit.
    pub async fn interrupt(mut self, timeout: Duration) -> (ExitStatus, String) {
        let status = Command::new("kill").arg("-INT").arg(self.pid().to_string()).status().unwrap();
        assert!(status.success(), "kill -INT");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(200));
                return (status, self.output());
            }
            assert!(
                Instant::now() < deadline,
                "medledger dev did not exit within {timeout:?} of SIGINT\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for DevProcess {
    fn drop(&mut self) {
        // A failed test: stop it the clean way first, so anvil and PostgreSQL go too.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill").arg("-INT").arg(self.child.id().to_string()).status();
            for _ in 0..100 {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// POSTs a JSON body and returns the JSON answer.
async fn post(url: &str, body: Value) -> Value {
    let answer = reqwest::Client::new().post(url).json(&body).send().await;
    answer.unwrap_or_else(|e| panic!("POST {url}: {e}")).json().await.unwrap()
}

/// One GraphQL query; panics on transport or GraphQL errors.
pub async fn gql(url: &str, query: &str) -> Value {
    let body = post(url, serde_json::json!({ "query": query })).await;
    assert!(body.get("errors").is_none(), "GraphQL errors for {query}: {body}");
    body["data"].clone()
}

/// One JSON-RPC call; panics on errors.
pub async fn rpc(url: &str, method: &str, params: Value) -> Value {
    let request = serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    let body = post(url, request).await;
    assert!(body.get("error").is_none(), "{method}: {body}");
    body["result"].clone()
}

/// The node's head block number.
pub async fn head(rpc_url: &str) -> i64 {
    let n = rpc(rpc_url, "eth_blockNumber", serde_json::json!([])).await;
    i64::from_str_radix(n.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// Waits until the API's indexer has indexed the node's head.
pub async fn wait_indexed(graphql: &str, rpc_url: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let head = head(rpc_url).await;
    loop {
        let d = gql(graphql, "{ indexerStatus { indexedBlock } }").await;
        let indexed = d["indexerStatus"]["indexedBlock"].as_i64().unwrap_or(-1);
        if indexed >= head {
            return;
        }
        assert!(Instant::now() < deadline, "indexed {indexed}, head {head}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
