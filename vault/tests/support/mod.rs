//! Test support: a moto S3 server started for the test.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use medledger_vault::store::Store;
use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The variable naming the moto launcher (`scripts/moto`): the test command sets it.
pub const MOTO_VAR: &str = "MEDLEDGER_VAULT_MOTO";

/// A moto server on a loopback port; killed on drop.
pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Moto {
    /// Starts moto, or returns `None` (saying so loudly) when the test command did not provide it.
    pub async fn start() -> Option<Self> {
        let Ok(launcher) = std::env::var(MOTO_VAR) else {
            eprintln!(
                "\n*** SKIPPED: {MOTO_VAR} is not set; the S3 tests need it (the test command sets \
                 {MOTO_VAR}=scripts/moto) ***\n"
            );
            return None;
        };
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let launcher = root.join(launcher);
        // The first run installs moto into .venv/moto (tens of seconds).
        let status = Command::new(&launcher).arg("--install").status().unwrap();
        assert!(status.success(), "{} --install failed", launcher.display());
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(&launcher)
                .arg(port.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                    return Some(Self { child, port });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto did not start");
    }

    /// An unsigned HTTP request to moto; returns the status.
    pub async fn raw(&self, method: &str, path: &str, body: &[u8]) -> u16 {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(body).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8_lossy(&out);
        text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
    }

    /// Writes an object directly (bypassing the vault).
    pub async fn put_raw(&self, bucket: &str, key: &str, body: &[u8]) {
        let status = self.raw("PUT", &format!("/{bucket}/{key}"), body).await;
        assert_eq!(status, 200, "raw PUT");
    }

    /// Creates `bucket` and opens the vault store `s3://bucket/prefix` on it.
    pub async fn store(&self, bucket: &str, prefix: &str) -> Store {
        let port = self.port;
        let status = self.raw("PUT", &format!("/{bucket}"), b"").await;
        assert_eq!(status, 200, "creating the bucket");
        // object_store's AmazonS3Builder::from_env reads these.
        for (k, v) in [
            ("AWS_ENDPOINT", format!("http://127.0.0.1:{port}")),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ] {
            std::env::set_var(k, v);
        }
        Store::from_url(&format!("s3://{bucket}/{prefix}")).unwrap()
    }
}
