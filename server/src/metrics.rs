//! Counters and gauges for `GET /metrics`, in Prometheus' text format.
//!
//! Plain atomics, updated where things happen and read only when scraped:
//! no registry, no locks on hot paths.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Default)]
struct Inner {
    /// The newest revision etcd reported on the watch (headers, progress).
    etcd_revision: AtomicI64,
    /// Milliseconds (since `start`) when the model fell behind etcd; 0 when current.
    behind_since_ms: AtomicU64,
    events_applied: AtomicU64,
    relists: AtomicU64,
    clients: AtomicI64,
    messages_sent: AtomicU64,
    bytes_sent: AtomicU64,
    snapshots_forced: AtomicU64,
    pending_ops: AtomicI64,
    etcd_errors: AtomicU64,
}

#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
    start: Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            inner: Arc::default(),
            start: Instant::now(),
        }
    }
}

impl Metrics {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// etcd is at `revision` (a watch response header).
    pub fn etcd_at(&self, revision: i64, applied: i64) {
        self.inner.etcd_revision.fetch_max(revision, Ordering::Relaxed);
        self.applied(applied);
    }

    /// The model now reflects `applied`.
    pub fn applied(&self, applied: i64) {
        let behind = self.inner.etcd_revision.load(Ordering::Relaxed) > applied;
        if !behind {
            self.inner.behind_since_ms.store(0, Ordering::Relaxed);
        } else if self.inner.behind_since_ms.load(Ordering::Relaxed) == 0 {
            self.inner.behind_since_ms.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    pub fn events_applied(&self, count: usize) {
        self.inner.events_applied.fetch_add(count as u64, Ordering::Relaxed);
    }

    pub fn relisted(&self) {
        self.inner.relists.fetch_add(1, Ordering::Relaxed);
    }

    pub fn client_connected(&self) {
        self.inner.clients.fetch_add(1, Ordering::Relaxed);
    }

    pub fn client_gone(&self) {
        self.inner.clients.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn sent(&self, messages: usize, bytes: usize) {
        self.inner.messages_sent.fetch_add(messages as u64, Ordering::Relaxed);
        self.inner.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn snapshot_forced(&self) {
        self.inner.snapshots_forced.fetch_add(1, Ordering::Relaxed);
    }

    /// Merged patch ops waiting in sessions for busy sockets, by how many changed.
    pub fn pending_ops(&self, delta: i64) {
        self.inner.pending_ops.fetch_add(delta, Ordering::Relaxed);
    }

    pub fn etcd_error(&self) {
        self.inner.etcd_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition; `applied` is the model's revision now.
    pub fn render(&self, applied: i64) -> String {
        let i = &self.inner;
        let etcd = i.etcd_revision.load(Ordering::Relaxed).max(applied);
        let behind_since = i.behind_since_ms.load(Ordering::Relaxed);
        let lag_seconds = if behind_since == 0 || etcd <= applied {
            0.0
        } else {
            self.now_ms().saturating_sub(behind_since) as f64 / 1000.0
        };
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        };
        metric(
            "leasehold_revision",
            "gauge",
            "etcd revision the model reflects",
            applied.to_string(),
        );
        metric(
            "leasehold_watch_lag_revisions",
            "gauge",
            "revisions etcd is ahead of the model",
            (etcd - applied).to_string(),
        );
        metric(
            "leasehold_watch_lag_seconds",
            "gauge",
            "how long the model has been behind etcd",
            lag_seconds.to_string(),
        );
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed).to_string();
        metric(
            "leasehold_events_applied_total",
            "counter",
            "watch events applied to the model",
            get(&i.events_applied),
        );
        metric(
            "leasehold_relists_total",
            "counter",
            "full lists of etcd after the first (compaction, lost history)",
            get(&i.relists),
        );
        metric(
            "leasehold_clients",
            "gauge",
            "connected WebSocket clients",
            i.clients.load(Ordering::Relaxed).to_string(),
        );
        metric(
            "leasehold_messages_sent_total",
            "counter",
            "WebSocket messages sent",
            get(&i.messages_sent),
        );
        metric(
            "leasehold_bytes_sent_total",
            "counter",
            "WebSocket payload bytes sent",
            get(&i.bytes_sent),
        );
        metric(
            "leasehold_snapshots_forced_total",
            "counter",
            "snapshots sent because a client fell behind",
            get(&i.snapshots_forced),
        );
        metric(
            "leasehold_pending_ops",
            "gauge",
            "patch ops merged and waiting for busy sockets",
            i.pending_ops.load(Ordering::Relaxed).to_string(),
        );
        metric(
            "leasehold_etcd_errors_total",
            "counter",
            "failed etcd requests and lost streams",
            get(&i.etcd_errors),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text_with_lag() {
        let metrics = Metrics::default();
        metrics.etcd_at(10, 7);
        metrics.events_applied(3);
        metrics.sent(2, 100);
        let text = metrics.render(7);
        assert!(
            text.contains("# TYPE leasehold_watch_lag_revisions gauge\nleasehold_watch_lag_revisions 3\n"),
            "{text}"
        );
        assert!(text.contains("leasehold_events_applied_total 3\n"));
        assert!(text.contains("leasehold_bytes_sent_total 100\n"));
        metrics.applied(10);
        assert!(metrics.render(10).contains("leasehold_watch_lag_seconds 0\n"));
    }
}
