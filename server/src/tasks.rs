//! Supervision of background tasks.
//!
//! Every long-running task (the watcher, the cluster poller, ...) is started
//! through [`Supervisor::spawn`]: if it panics or returns an error it is
//! restarted after a pause, and its state is visible in `/api/v1/health`, so a
//! dead task is never a silent one.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use app::model::TaskHealth;
use futures::FutureExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Pause before a failed task is started again.
const RESTART_DELAY: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Supervisor {
    stop: CancellationToken,
    /// Task name -> last known state. A std Mutex: held only to copy or set a
    /// few fields, never across an await.
    states: Arc<Mutex<BTreeMap<&'static str, TaskHealth>>>,
    handles: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Supervisor {
    pub fn new(stop: CancellationToken) -> Self {
        Supervisor {
            stop,
            states: Arc::default(),
            handles: Arc::default(),
        }
    }

    /// The token every task must watch to stop when the server stops.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Runs `make()` as task `name` until the server stops, restarting it when
    /// it fails (returns an error or panics).
    pub fn spawn<F, Fut, E>(&self, name: &'static str, make: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let this = self.clone();
        this.set(name, true, None);
        let handle = tokio::spawn(async move {
            loop {
                let run = std::panic::AssertUnwindSafe(make()).catch_unwind();
                let outcome = tokio::select! {
                    () = this.stop.cancelled() => break,
                    outcome = run => outcome,
                };
                let error = match outcome {
                    Ok(Ok(())) if this.stop.is_cancelled() => break,
                    Ok(Ok(())) => "stopped unexpectedly".to_owned(),
                    Ok(Err(error)) => error.to_string(),
                    Err(panic) => panic_message(panic.as_ref()),
                };
                tracing::error!(task = name, %error, "background task failed; restarting");
                this.set(name, false, Some(error));
                tokio::select! {
                    () = this.stop.cancelled() => break,
                    () = tokio::time::sleep(RESTART_DELAY) => {}
                }
                this.set(name, true, None);
            }
            this.set(name, false, None);
        });
        self.handles.lock().unwrap_or_else(PoisonError::into_inner).push(handle);
    }

    fn set(&self, name: &'static str, running: bool, error: Option<String>) {
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = states.entry(name).or_insert_with(|| TaskHealth {
            name: name.to_owned(),
            running,
            error: None,
        });
        entry.running = running;
        // Keep the last failure visible after a restart until a new one replaces it.
        if error.is_some() {
            entry.error = error;
        }
    }

    /// Every task's state, by name.
    pub fn health(&self) -> Vec<TaskHealth> {
        self.states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// True when every task is running.
    pub fn all_running(&self) -> bool {
        self.states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .all(|t| t.running)
    }

    /// Waits for every task to finish (after the stop token was cancelled).
    pub async fn join(&self) {
        let handles = std::mem::take(&mut *self.handles.lock().unwrap_or_else(PoisonError::into_inner));
        for handle in handles {
            if let Err(error) = handle.await {
                tracing::warn!(%error, "background task did not stop cleanly");
            }
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    format!("panicked: {text}")
}
