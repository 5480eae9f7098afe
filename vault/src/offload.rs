//! CPU-bound work on a stream of buffers (hashing, sealing) moved onto blocking threads one step behind the
//! request's task, so that receiving or sending the next buffer overlaps with the work on the previous one.

use crate::error::VaultError;
use tokio::task::JoinHandle;

/// A value (a hasher, a sealer) worked on by one blocking task at a time, in order, while the caller goes on.
pub(crate) struct Offloaded<T, R> {
    idle: Option<T>,
    running: Option<JoinHandle<(T, R)>>,
}

impl<T: Send + 'static, R: Send + 'static> Offloaded<T, R> {
    pub(crate) const fn new(value: T) -> Self {
        Self { idle: Some(value), running: None }
    }

    /// Waits for the step in progress, if any, and returns the value with that step's result.
    async fn settle(&mut self) -> Result<(T, Option<R>), VaultError> {
        if let Some(task) = self.running.take() {
            let (value, result) = task
                .await
                .map_err(|e| VaultError::Internal(format!("a blocking step of a transfer failed: {e}")))?;
            return Ok((value, Some(result)));
        }
        let value =
            self.idle.take().ok_or_else(|| VaultError::Internal("an offloaded step was lost".into()))?;
        Ok((value, None))
    }

    /// Starts `step` on the value once the previous step is done; returns the previous step's result.
    pub(crate) async fn then(
        &mut self,
        step: impl FnOnce(&mut T) -> R + Send + 'static,
    ) -> Result<Option<R>, VaultError> {
        let (mut value, previous) = self.settle().await?;
        self.running = Some(tokio::task::spawn_blocking(move || {
            let result = step(&mut value);
            (value, result)
        }));
        Ok(previous)
    }

    /// Waits for the last step; returns the value and that step's result.
    pub(crate) async fn finish(mut self) -> Result<(T, Option<R>), VaultError> {
        self.settle().await
    }
}

impl<T, R> Drop for Offloaded<T, R> {
    fn drop(&mut self) {
        if let Some(task) = &self.running {
            task.abort();
        }
    }
}
