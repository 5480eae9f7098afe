//! A throwaway PostgreSQL cluster for tests and for `medledger dev`.
//!
//! [`TempPostgres::start`] runs `initdb` into a fresh temporary directory and starts `postgres` on a free
//! loopback port. The server is owned by a small supervisor process that holds the read end of a pipe
//! whose write end lives in this process: when this process lets go of it — on drop, on a panic, on
//! Ctrl-C, even on SIGKILL — the supervisor stops PostgreSQL and removes the directory. The supervisor
//! runs in its own process group, so a terminal's Ctrl-C reaches it only through that pipe.
//!
//! PostgreSQL refuses to run as root; when this process is root, the cluster runs as the `postgres`
//! user (or `nobody`) through `setpriv`. Each instance has its own directory and port, so any number
//! can run at once.

use crate::error::TempDbError;
use std::{
    io::Read,
    net::TcpListener,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// How long a fresh cluster may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a start is retried when the chosen port was taken in the meantime.
const PORT_ATTEMPTS: usize = 5;

/// A running throwaway PostgreSQL cluster; dropping it stops the server and deletes its files.
#[derive(Debug)]
pub struct TempPostgres {
    dir: PathBuf,
    port: u16,
    supervisor: Option<Child>,
}

impl TempPostgres {
    /// Initialises a cluster in a new temporary directory, starts it and waits until it accepts
    /// connections. The superuser is `medledger` (trust authentication on loopback only) and a database
    /// `medledger` exists.
    pub async fn start() -> Result<Self, TempDbError> {
        tokio::task::spawn_blocking(Self::start_blocking).await.map_err(|e| TempDbError::Io {
            context: "joining the start task",
            source: std::io::Error::other(e),
        })?
    }

    fn start_blocking() -> Result<Self, TempDbError> {
        let bin = find_bin_dir()?;
        let run_as = if unsafe { libc::geteuid() } == 0 { Some(unprivileged_user()?) } else { None };
        let dir = tempfile::Builder::new()
            .prefix("medledger-pg-")
            .tempdir()
            .map_err(|source| TempDbError::Io { context: "creating the temporary directory", source })?
            .keep();
        let cleanup_on_error = |err: TempDbError| {
            let _ = std::fs::remove_dir_all(&dir);
            err
        };
        if let Some(user) = &run_as {
            chown_recursive(&dir, user).map_err(cleanup_on_error)?;
        }
        run_initdb(&bin, &dir, run_as.as_deref()).map_err(cleanup_on_error)?;

        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port().map_err(cleanup_on_error)?;
            let supervisor =
                spawn_supervisor(&bin, &dir, port, run_as.as_deref()).map_err(cleanup_on_error)?;
            let mut pg = Self { dir: dir.clone(), port, supervisor: Some(supervisor) };
            match pg.wait_ready() {
                Ok(()) => {
                    pg.create_database("medledger")?;
                    return Ok(pg);
                }
                Err(log) => {
                    last_log = log;
                    pg.stop_server_keep_dir();
                    if !last_log.contains("could not bind") && !last_log.contains("in use") {
                        break;
                    }
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Err(TempDbError::NotReady { log: last_log })
    }

    /// The connection URL of the `medledger` database.
    pub fn url(&self) -> String {
        self.database_url("medledger")
    }

    /// The connection URL of another database on this cluster.
    pub fn database_url(&self, database: &str) -> String {
        format!("postgres://medledger@127.0.0.1:{}/{database}", self.port)
    }

    /// The TCP port the server listens on (127.0.0.1).
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the cluster's data and log (`postgres.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a database on this cluster (for tests that each want their own).
    pub fn create_database(&self, name: &str) -> Result<(), TempDbError> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(TempDbError::BadDatabaseName(name.to_owned()));
        }
        let out = Command::new(find_bin_dir()?.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "medledger", name])
            .stdin(Stdio::null())
            .output()
            .map_err(|source| TempDbError::Io { context: "running createdb", source })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(TempDbError::Command {
                command: "createdb",
                output: String::from_utf8_lossy(&out.stderr).into_owned(),
            })
        }
    }

    /// Polls until the server accepts TCP connections and says so in its log; returns the log on failure.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let log_path = self.dir.join("postgres.log");
        loop {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if log.contains("ready to accept connections")
                && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            {
                return Ok(());
            }
            let exited = self.supervisor.as_mut().is_none_or(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited || log.contains("FATAL") || Instant::now() > deadline {
                return Err(log);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Stops the server but leaves the data directory, for a retry on another port.
    fn stop_server_keep_dir(&mut self) {
        if let Some(mut child) = self.supervisor.take() {
            // Dropping stdin tells the supervisor to stop; KEEP_DIR was not set, so write the marker first.
            let _ = std::fs::write(self.dir.join("keep"), b"");
            drop(child.stdin.take());
            let _ = child.wait();
            let _ = std::fs::remove_file(self.dir.join("keep"));
        }
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.supervisor.take() {
            drop(child.stdin.take());
            // The supervisor stops the server (fast shutdown) and removes the directory.
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The directory with `initdb` and `postgres`: `MEDLEDGER_PG_BIN`, then `PATH`, then the newest
/// `/usr/lib/postgresql/*/bin`.
fn find_bin_dir() -> Result<PathBuf, TempDbError> {
    if let Some(dir) = std::env::var_os("MEDLEDGER_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> =
            entries.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).collect();
        versions.sort_by_key(|p| {
            p.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0)
        });
        candidates.extend(versions.into_iter().rev());
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates
        .into_iter()
        .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
        .ok_or(TempDbError::BinariesNotFound)
}

fn unprivileged_user() -> Result<String, TempDbError> {
    for user in ["postgres", "nobody"] {
        let ok = Command::new("id").arg("-u").arg(user).stdout(Stdio::null()).stderr(Stdio::null()).status();
        if matches!(ok, Ok(s) if s.success()) {
            return Ok(user.to_owned());
        }
    }
    Err(TempDbError::NoUnprivilegedUser)
}

fn chown_recursive(dir: &Path, user: &str) -> Result<(), TempDbError> {
    let out = Command::new("chown")
        .arg("-R")
        .arg(format!("{user}:"))
        .arg(dir)
        .output()
        .map_err(|source| TempDbError::Io { context: "running chown", source })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(TempDbError::Command {
            command: "chown",
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// `setpriv` arguments that drop to `user`, or nothing when already unprivileged.
fn drop_privileges(user: Option<&str>) -> Vec<String> {
    user.map(|u| {
        vec![
            "setpriv".to_owned(),
            format!("--reuid={u}"),
            format!("--regid={u}"),
            "--init-groups".to_owned(),
            "--".to_owned(),
        ]
    })
    .unwrap_or_default()
}

fn run_initdb(bin: &Path, dir: &Path, user: Option<&str>) -> Result<(), TempDbError> {
    let mut argv = drop_privileges(user);
    argv.push(bin.join("initdb").display().to_string());
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .arg("-D")
        .arg(dir.join("data"))
        .args([
            "-U",
            "medledger",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ])
        .stdin(Stdio::null())
        .current_dir(dir);
    let out = cmd.output().map_err(|source| TempDbError::Io { context: "running initdb", source })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(TempDbError::Command {
            command: "initdb",
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
    }
}

fn free_port() -> Result<u16, TempDbError> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| TempDbError::Io { context: "finding a free port", source })
}

/// The supervisor: starts postgres in the background, blocks reading its stdin until this process
/// closes it (or dies), then stops postgres and removes the directory unless a `keep` marker exists.
const SUPERVISOR: &str = r#"
dir="$1"; shift
"$@" >"$dir/postgres.log" 2>&1 &
pg=$!
trap '' INT TERM HUP
cat >/dev/null
kill -INT "$pg" 2>/dev/null
wait "$pg" 2>/dev/null
[ -e "$dir/keep" ] || rm -rf "$dir"
"#;

fn spawn_supervisor(bin: &Path, dir: &Path, port: u16, user: Option<&str>) -> Result<Child, TempDbError> {
    let mut argv = drop_privileges(user);
    argv.push(bin.join("postgres").display().to_string());
    argv.extend(
        [
            "-D",
            &dir.join("data").display().to_string(),
            "-p",
            &port.to_string(),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            &format!("unix_socket_directories={}", dir.display()),
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=300",
            "-c",
            "shared_buffers=128MB",
        ]
        .map(str::to_owned),
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(SUPERVISOR)
        .arg("medledger-pg-supervisor")
        .arg(dir)
        .args(&argv)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = cmd.spawn().map_err(|source| TempDbError::Io { context: "starting postgres", source })?;
    // Fail fast if the shell itself could not start.
    if let Ok(Some(status)) = child.try_wait() {
        let mut err = String::new();
        if let Some(mut s) = child.stderr.take() {
            let _ = s.read_to_string(&mut err);
        }
        return Err(TempDbError::Command {
            command: "postgres supervisor",
            output: format!("{status}: {err}"),
        });
    }
    Ok(child)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_clusters_run_at_once_and_vanish_on_drop() {
        let (a, b) = tokio::join!(TempPostgres::start(), TempPostgres::start());
        let (a, b) = (a.expect("first cluster"), b.expect("second cluster"));
        assert_ne!(a.port(), b.port());
        for pg in [&a, &b] {
            let mut conn =
                <sqlx::PgConnection as sqlx::Connection>::connect(&pg.url()).await.expect("connect");
            let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&mut conn).await.expect("query");
            assert_eq!(one, 1);
        }
        a.create_database("second_db").expect("create database");
        let _conn = <sqlx::PgConnection as sqlx::Connection>::connect(&a.database_url("second_db"))
            .await
            .expect("connect to the second database");
        let dirs = [a.dir().to_owned(), b.dir().to_owned()];
        drop(a);
        drop(b);
        for dir in dirs {
            assert!(!dir.exists(), "{} should have been removed", dir.display());
        }
    }

    #[test]
    fn rejects_bad_database_names() {
        let pg = TempPostgres { dir: PathBuf::from("/nonexistent"), port: 1, supervisor: None };
        assert!(matches!(pg.create_database("x; DROP"), Err(TempDbError::BadDatabaseName(_))));
    }
}
