//! Reaching PostgreSQL: where it is (its address, without credentials), why it cannot be reached (the cause
//! a pool's time-out hides), and waiting for it at start-up with one WARN per state change.

use crate::{error::IndexerError, sync::migrate};
use sqlx::{postgres::PgConnectOptions, Connection, PgConnection, PgPool};
use std::time::{Duration, Instant};
use tracing::{debug, warn};

/// How often start-up tries the database again while it is unreachable.
pub(crate) const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Longest a probe connection may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The database's address as `host:port/database` (a socket directory for a Unix socket); never the user
/// or password.
pub fn address(pool: &PgPool) -> String {
    address_of(&pool.connect_options())
}

fn address_of(o: &PgConnectOptions) -> String {
    format!("{}:{}/{}", o.get_host(), o.get_port(), o.get_database().unwrap_or_default())
}

/// Connects once, directly (not through the pool, whose time-out hides the cause), and says why that
/// failed; `None` when it connects.
async fn probe(options: &PgConnectOptions) -> Option<String> {
    match tokio::time::timeout(PROBE_TIMEOUT, PgConnection::connect_with(options)).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            None
        }
        Ok(Err(e)) => Some(crate::report(&e)),
        Err(_) => Some(format!("no connection within {PROBE_TIMEOUT:?}")),
    }
}

/// Whether a database error means the server was not reached or the connection was lost (SQLSTATE class 08,
/// or 57P: the server shutting down or starting), rather than a statement failing.
fn is_connection_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => {
            true
        }
        sqlx::Error::Database(db) => db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

/// A database failure with its address and cause: a connection failure becomes
/// [`IndexerError::DatabaseUnreachable`] (for a pool time-out, the cause a direct connection meets); any
/// other error is returned as it is.
pub(crate) async fn explain(pool: &PgPool, err: IndexerError) -> IndexerError {
    let e = match &err {
        IndexerError::Database(e) => e,
        IndexerError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => e,
        _ => return err,
    };
    if !is_connection_error(e) {
        return err;
    }
    let options = pool.connect_options();
    let cause = match e {
        sqlx::Error::PoolTimedOut => match probe(&options).await {
            Some(cause) => cause,
            // The server answers: the pool is busy, not the database away.
            None => return err,
        },
        other => crate::report(other),
    };
    IndexerError::DatabaseUnreachable { address: address_of(&options), cause }
}

/// Applies the migrations once the database can be reached: tries every [`RETRY_EVERY`], with one WARN
/// when it is unreachable (its address and the cause) and one when it is back; other failures at DEBUG.
/// Gives up with [`IndexerError::StartupTimeout`] after `wait` (`None`: waits as long as it takes).
/// Failures that waiting does not cure (a migration that fails) are returned at once.
pub async fn migrate_when_ready(pool: &PgPool, wait: Option<Duration>) -> Result<(), IndexerError> {
    let started = Instant::now();
    let options = pool.connect_options();
    let address = address_of(&options);
    let mut down = false;
    loop {
        // A direct connection first: it fails at once (where the pool would wait for its time-out) and
        // says why.
        let result = match probe(&options).await {
            Some(cause) => Err(IndexerError::DatabaseUnreachable { address: address.clone(), cause }),
            None => match migrate(pool).await {
                Ok(()) => Ok(()),
                Err(e) => Err(explain(pool, e).await),
            },
        };
        let err = match result {
            Ok(()) => {
                if down {
                    warn!(target: "medledger::indexer::db", %address, waited_secs = started.elapsed().as_secs(), "database reachable again");
                }
                return Ok(());
            }
            Err(e) if e.is_retryable() => e,
            Err(e) => return Err(e),
        };
        if let Some(limit) = wait.filter(|limit| started.elapsed() + RETRY_EVERY > *limit) {
            return Err(IndexerError::StartupTimeout { waited: limit, cause: crate::report(&err) });
        }
        if down {
            debug!(target: "medledger::indexer::db", error = %err, "database still unreachable");
        } else {
            let give_up_after_secs = wait.map(|w| w.as_secs());
            warn!(
                target: "medledger::indexer::db",
                error = %err,
                retry_every_secs = RETRY_EVERY.as_secs(),
                give_up_after_secs,
                "database unreachable at start-up; retrying"
            );
            down = true;
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::postgres::PgPoolOptions;

    /// A local port nothing listens on.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("bound").port()
    }

    #[tokio::test]
    async fn a_closed_port_is_named_with_its_cause_and_start_up_gives_up_in_time() {
        let port = closed_port();
        let url = format!("postgres://medledger:secret@127.0.0.1:{port}/chain");
        let pool = PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(300))
            .connect_lazy(&url)
            .expect("valid URL");
        let started = Instant::now();
        let err =
            migrate_when_ready(&pool, Some(Duration::from_millis(1500))).await.expect_err("nothing listens");
        let waited = started.elapsed();
        assert!(waited < Duration::from_secs(4), "gave up after {waited:?}");
        let text = crate::report(&err);
        assert!(text.contains(&format!("127.0.0.1:{port}/chain")), "no address in {text:?}");
        assert!(text.to_lowercase().contains("refused"), "no cause in {text:?}");
        assert!(!text.contains("secret"), "password in {text:?}");
        assert!(matches!(err, IndexerError::StartupTimeout { .. }), "{err:?}");

        // Through the pool, whose own error is a bare time-out, the cause is found all the same.
        let timed_out = IndexerError::Database(pool.acquire().await.expect_err("nothing listens"));
        let explained = crate::report(&explain(&pool, timed_out).await);
        assert!(explained.contains(&format!("127.0.0.1:{port}")), "{explained}");
        assert!(explained.to_lowercase().contains("refused"), "{explained}");
    }
}
