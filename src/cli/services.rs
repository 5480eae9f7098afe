//! What one process runs: the indexer, and optionally its metrics server and the GraphQL API.

use anyhow::{Context, Result};
use medledger::server::{self, ServerConfig};
use medledger_indexer::Indexer;
use std::{future::Future, net::SocketAddr};
use tracing::info;

/// What one process runs: the indexer, and optionally its metrics server and the GraphQL API.
pub(crate) struct Services {
    pub(crate) indexer: Indexer,
    pub(crate) pool: sqlx::PgPool,
    pub(crate) metrics: Option<SocketAddr>,
    pub(crate) api: Option<(tokio::net::TcpListener, ServerConfig)>,
}

impl Services {
    /// Runs everything until `shutdown` or until the indexer fails; then stops the rest gracefully.
    pub(crate) async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let mut tasks = Vec::new();
        if let Some(addr) = self.metrics {
            let handle = medledger_indexer::metrics::install_prometheus().map_err(anyhow::Error::msg)?;
            info!(target: "medledger::index", %addr, "serving /healthz, /readyz and /metrics");
            let server = medledger_indexer::metrics::serve(
                addr,
                self.indexer.status(),
                handle,
                stopped(stop_rx.clone()),
            );
            tasks.push(tokio::spawn(async move { server.await.context("metrics server") }));
        }
        if let Some((listener, config)) = self.api {
            let api = server::serve_on(listener, config, self.pool.clone(), stopped(stop_rx.clone()));
            tasks.push(tokio::spawn(api));
        }
        let result = self.indexer.run(shutdown).await.context("indexer");
        let _ = stop_tx.send(true);
        for task in tasks {
            task.await.context("service task")??;
        }
        result
    }
}
