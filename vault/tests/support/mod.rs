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
        scopes: u8,
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
        .bind(i16::from(scopes))
        .bind(expires_at)
        .bind(revoked)
        .bind(emergency_until)
        .bind(block)
        .execute(&self.pool)
        .await
        .unwrap();
    }
}

/// Index rows the indexer would write (episodes, records, credentials).
impl Db {
    pub async fn episode(&self, chain: i64, episode: i64, patient: [u8; 20], closed: bool) {
        sqlx::query(
            "INSERT INTO episodes (chain_id, episode_id, patient, opened_by, opened_at, opened_block, record_count,
                 head, closed, updated_block)
             VALUES ($1, $2, $3, $3, now(), 1, 0, '\\x00', $4, 1)",
        )
        .bind(chain)
        .bind(episode)
        .bind(patient.as_slice())
        .bind(closed)
        .execute(&self.pool)
        .await
        .unwrap();
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn record(
        &self,
        chain: i64,
        episode: i64,
        index: i64,
        patient: [u8; 20],
        content_hash: &[u8],
        pointer_hash: &[u8],
        hidden: bool,
    ) {
        sqlx::query(
            "INSERT INTO records (chain_id, episode_id, record_index, patient, author, content_hash, pointer_hash,
                 head, hidden, anchored_block, anchored_at, tx_hash)
             VALUES ($1, $2, $3, $4, $4, $5, $6, '\\x00', $7, 1, now(), '\\x00')
             ON CONFLICT (chain_id, episode_id, record_index) DO UPDATE SET hidden = $7, content_hash = $5",
        )
        .bind(chain)
        .bind(episode)
        .bind(index)
        .bind(patient.as_slice())
        .bind(content_hash)
        .bind(pointer_hash)
        .bind(hidden)
        .execute(&self.pool)
        .await
        .unwrap();
    }

    pub async fn credential(&self, chain: i64, account: [u8; 20], status: &str) {
        self.credential_until(chain, account, status, chrono::Utc::now() + chrono::Duration::days(365)).await;
    }

    /// A prescriber's credential with `status`, expiring at `expires_at` (the chain's [start, end)).
    pub async fn credential_until(
        &self,
        chain: i64,
        account: [u8; 20],
        status: &str,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) {
        sqlx::query(
            "INSERT INTO credentials (chain_id, account, credential_id, kind, status, license_hash, jurisdiction,
                 expires_at, schedules, registered_block, registered_at, updated_block, updated_at)
             VALUES ($1, $2, (SELECT count(*) + 1 FROM credentials), 'prescriber', $3, '\\x00', '\\x00',
                 $4, 0, 1, now(), 1, now())
             ON CONFLICT (chain_id, account) DO UPDATE SET status = $3, expires_at = $4",
        )
        .bind(chain)
        .bind(account.as_slice())
        .bind(status)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .unwrap();
    }
}

/// An HTTP client for the vault's router (requests come from 127.0.0.1).
pub struct Client {
    pub router: axum::Router,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    /// The diagnostics of an OperationOutcome.
    pub fn outcome(&self) -> String {
        let j = self.json();
        assert_eq!(j["resourceType"], "OperationOutcome", "{j}");
        j["issue"][0]["diagnostics"].as_str().unwrap().to_owned()
    }
}

impl Client {
    pub async fn send(&self, req: axum::http::Request<axum::body::Body>) -> Reply {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let mut req = req;
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 40000))));
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = match res.into_body().collect().await {
            Ok(b) => b.to_bytes().to_vec(),
            Err(e) => format!("<<body error: {e}>>").into_bytes(),
        };
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut b = axum::http::Request::get(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        self.send(b.body(axum::body::Body::empty()).unwrap()).await
    }

    pub async fn get_range(&self, path: &str, token: &str, range: &str) -> Reply {
        let req = axum::http::Request::get(path)
            .header("authorization", format!("Bearer {token}"))
            .header("range", range)
            .body(axum::body::Body::empty())
            .unwrap();
        self.send(req).await
    }

    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> Reply {
        let req = axum::http::Request::post(path)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        self.send(req).await
    }

    pub async fn post_authed(&self, path: &str, token: &str, body: serde_json::Value) -> Reply {
        let req = axum::http::Request::post(path)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/fhir+json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        self.send(req).await
    }

    pub async fn upload(&self, token: &str, query: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let req = axum::http::Request::post(format!("/fhir/Binary?{query}"))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", content_type)
            .body(axum::body::Body::from(body))
            .unwrap();
        self.send(req).await
    }

    pub async fn nonce(&self) -> String {
        let r = self.get("/auth/nonce", None).await;
        assert_eq!(r.status, 200);
        r.json()["nonce"].as_str().unwrap().to_owned()
    }

    /// Signs in `signer` with a standard message; returns the token.
    pub async fn login(&self, signer: &alloy::signers::local::PrivateKeySigner) -> String {
        let nonce = self.nonce().await;
        let msg = siwe_message(
            "localhost:8080",
            "http://localhost:8080/app",
            31337,
            signer.address(),
            &nonce,
            None,
        );
        let r = self.sign_in(signer, &msg).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()["token"].as_str().unwrap().to_owned()
    }

    pub async fn sign_in(&self, signer: &alloy::signers::local::PrivateKeySigner, msg: &str) -> Reply {
        use alloy::signers::SignerSync;
        let sig = signer.sign_message_sync(msg.as_bytes()).unwrap();
        self.post_json(
            "/auth/login",
            serde_json::json!({ "message": msg, "signature": format!("0x{}", hex::encode(sig.as_bytes())) }),
        )
        .await
    }
}

/// An EIP-4361 message.
pub fn siwe_message(
    domain: &str,
    uri: &str,
    chain: u64,
    address: alloy::primitives::Address,
    nonce: &str,
    expiration: Option<chrono::DateTime<chrono::Utc>>,
) -> String {
    let issued = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    let mut m = format!(
        "{domain} wants you to sign in with your Ethereum account:\n{}\n\nSign in to the medledger vault.\n\n\
         URI: {uri}\nVersion: 1\nChain ID: {chain}\nNonce: {nonce}\nIssued At: {issued}",
        address.to_checksum(None)
    );
    if let Some(e) = expiration {
        m.push_str(&format!("\nExpiration Time: {}", e.format("%Y-%m-%dT%H:%M:%SZ")));
    }
    m
}
