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

/// A throwaway PostgreSQL with the indexer's and the vault's schemas.
pub struct Db {
    pub pg: medledger_indexer::TempPostgres,
    pub pool: sqlx::PgPool,
}

impl Db {
    pub async fn start() -> Self {
        let pg = medledger_indexer::TempPostgres::start().await.unwrap();
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(8).connect(&pg.url()).await.unwrap();
        medledger_indexer::migrate(&pool).await.unwrap();
        medledger_vault::migrate(&pool).await.unwrap();
        Self { pg, pool }
    }

    /// Sets the indexer's checkpoint of `chain` to block `number` (hash = number) with time `time`.
    pub async fn checkpoint(&self, chain: i64, number: i64, time: chrono::DateTime<chrono::Utc>) {
        let hash = number.to_be_bytes().to_vec();
        sqlx::query(
            "INSERT INTO blocks (chain_id, number, hash, parent_hash, timestamp) VALUES ($1, $2, $3, $3, $4)
             ON CONFLICT (chain_id, number) DO UPDATE SET hash = $3, timestamp = $4",
        )
        .bind(chain)
        .bind(number)
        .bind(&hash)
        .bind(time)
        .execute(&self.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO checkpoints (chain_id, block_number, block_hash, head_number) VALUES ($1, $2, $3, $2)
             ON CONFLICT (chain_id) DO UPDATE SET block_number = $2, block_hash = $3, head_number = $2",
        )
        .bind(chain)
        .bind(number)
        .bind(&hash)
        .execute(&self.pool)
        .await
        .unwrap();
    }

    /// Writes the `consents` row of (patient, grantee) as the indexer's fold would.
    #[allow(clippy::too_many_arguments)]
    pub async fn consent(
        &self,
        chain: i64,
        patient: [u8; 20],
        grantee: [u8; 20],
        scopes: i16,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
        revoked: bool,
        emergency_until: Option<chrono::DateTime<chrono::Utc>>,
        block: i64,
    ) {
        sqlx::query(
            "INSERT INTO consents (chain_id, patient, grantee, scopes, expires_at, revoked, emergency_until,
                 updated_block)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (chain_id, patient, grantee) DO UPDATE SET scopes = $4, expires_at = $5, revoked = $6,
                 emergency_until = $7, updated_block = $8",
        )
        .bind(chain)
        .bind(patient.as_slice())
        .bind(grantee.as_slice())
        .bind(scopes)
        .bind(expires_at)
        .bind(revoked)
        .bind(emergency_until)
        .bind(block)
        .execute(&self.pool)
        .await
        .unwrap();
    }
}
