//! Counters and gauges for `GET /metrics`, in Prometheus' text exposition
//! format (version 0.0.4).
//!
//! Plain atomics, updated where things happen and read only when scraped:
//! no registry, no locks on hot paths. The text is written by
//! [`Exposition`]: each family with its `# HELP` and `# TYPE` lines, help
//! texts and label values escaped as the format requires, floats in its
//! spelling (`+Inf`, `-Inf`, `NaN` for the values that are not finite).

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
    /// Requests asking etcd how leases that lost every key in one revision
    /// ended (`TimeToLive` for a few, one `LeaseLeases` for many).
    lease_end_requests: AtomicU64,
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

    /// `count` requests asked etcd how emptied leases ended.
    pub fn lease_end_requests(&self, count: usize) {
        self.inner.lease_end_requests.fetch_add(count as u64, Ordering::Relaxed);
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
        let count = |a: &AtomicU64| Value::Unsigned(a.load(Ordering::Relaxed));
        let level = |a: &AtomicI64| Value::Signed(a.load(Ordering::Relaxed));
        let mut out = Exposition::default();
        out.metric(
            "leasehold_revision",
            Kind::Gauge,
            "etcd revision the model reflects",
            Value::Signed(applied),
        );
        out.metric(
            "leasehold_watch_lag_revisions",
            Kind::Gauge,
            "revisions etcd is ahead of the model",
            Value::Signed(etcd - applied),
        );
        out.metric(
            "leasehold_watch_lag_seconds",
            Kind::Gauge,
            "how long the model has been behind etcd",
            Value::Float(lag_seconds),
        );
        out.metric(
            "leasehold_events_applied_total",
            Kind::Counter,
            "watch events applied to the model",
            count(&i.events_applied),
        );
        out.metric(
            "leasehold_relists_total",
            Kind::Counter,
            "full lists of etcd after the first (compaction, lost history)",
            count(&i.relists),
        );
        out.metric(
            "leasehold_clients",
            Kind::Gauge,
            "connected WebSocket clients",
            level(&i.clients),
        );
        out.metric(
            "leasehold_messages_sent_total",
            Kind::Counter,
            "WebSocket messages sent",
            count(&i.messages_sent),
        );
        out.metric(
            "leasehold_bytes_sent_total",
            Kind::Counter,
            "WebSocket payload bytes sent",
            count(&i.bytes_sent),
        );
        out.metric(
            "leasehold_snapshots_forced_total",
            Kind::Counter,
            "snapshots sent because a client fell behind",
            count(&i.snapshots_forced),
        );
        out.metric(
            "leasehold_pending_ops",
            Kind::Gauge,
            "patch ops merged and waiting for busy sockets",
            level(&i.pending_ops),
        );
        out.metric(
            "leasehold_etcd_errors_total",
            Kind::Counter,
            "failed etcd requests and lost streams",
            count(&i.etcd_errors),
        );
        out.metric(
            "leasehold_lease_end_requests_total",
            Kind::Counter,
            "etcd requests asking how leases that lost every key in one revision ended",
            count(&i.lease_end_requests),
        );
        out.text
    }
}

/// A family's type, as its `# TYPE` line names it.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

/// A sample's value.
#[derive(Debug, Clone, Copy)]
enum Value {
    Signed(i64),
    Unsigned(u64),
    Float(f64),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Value::Signed(value) => write!(f, "{value}"),
            Value::Unsigned(value) => write!(f, "{value}"),
            // Rust writes the shortest digits that read back as the same
            // value, never an exponent; the format spells the others its way.
            Value::Float(value) if value.is_nan() => f.write_str("NaN"),
            Value::Float(value) if value.is_infinite() => f.write_str(if value > 0.0 { "+Inf" } else { "-Inf" }),
            Value::Float(value) => write!(f, "{value}"),
        }
    }
}

/// Text in the exposition format, one family after the other. Metric and
/// label names are this module's constants; help texts and label values may
/// hold anything and are escaped.
#[derive(Debug, Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    /// A family of one sample without labels.
    fn metric(&mut self, name: &str, kind: Kind, help: &str, value: Value) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// The `# HELP` and `# TYPE` lines that come before a family's samples.
    fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        // Writing to a String cannot fail.
        let _ = writeln!(self.text, "# HELP {name} {}", escape(help, false));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// `name{label="value",...} value`.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: Value) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (n, (label, text)) in labels.iter().enumerate() {
                if n > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape(text, true));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }
}

/// `text` escaped for a `# HELP` line (backslash and line feed) or, with
/// `quoted`, for a label value (the double quote too).
fn escape(text: &str, quoted: bool) -> std::borrow::Cow<'_, str> {
    let special = |c: char| c == '\\' || c == '\n' || (quoted && c == '"');
    if !text.contains(special) {
        return text.into();
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            '"' if quoted => escaped.push_str("\\\""),
            c => escaped.push(c),
        }
    }
    escaped.into()
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

    /// Every sample follows its family's `# HELP` and `# TYPE` lines, has a
    /// valid name and a value the format reads.
    #[test]
    fn every_family_has_help_and_type_and_valid_samples() {
        let metrics = Metrics::default();
        metrics.etcd_at(10, 7);
        metrics.pending_ops(-2);
        let text = metrics.render(7);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 12 * 3, "{text}");
        for family in lines.chunks(3) {
            let [help, kind, sample] = family else {
                panic!("{family:?}")
            };
            let (name, value) = sample.split_once(' ').expect("name and value");
            assert!(
                name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == ':')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "{name}"
            );
            assert!(help.starts_with(&format!("# HELP {name} ")), "{help}");
            let kind = kind.strip_prefix(&format!("# TYPE {name} ")).expect("TYPE line");
            assert!(kind == "counter" || kind == "gauge", "{kind}");
            assert_eq!(kind == "counter", name.ends_with("_total"), "{name} is a {kind}");
            assert!(value.parse::<f64>().is_ok(), "{sample}");
        }
        assert!(text.contains("\nleasehold_pending_ops -2\n"), "{text}");
    }

    #[test]
    fn help_texts_and_label_values_are_escaped() {
        let mut out = Exposition::default();
        out.family("leasehold_test", Kind::Gauge, "a \\ path\nand \"quotes\"");
        out.sample(
            "leasehold_test",
            &[("key", "/a\\b\n\"c\""), ("le", "+Inf")],
            Value::Float(f64::INFINITY),
        );
        out.sample("leasehold_test", &[], Value::Float(f64::NAN));
        out.sample("leasehold_test", &[], Value::Float(f64::NEG_INFINITY));
        out.sample("leasehold_test", &[], Value::Float(0.25));
        assert_eq!(
            out.text,
            "# HELP leasehold_test a \\\\ path\\nand \"quotes\"\n\
             # TYPE leasehold_test gauge\n\
             leasehold_test{key=\"/a\\\\b\\n\\\"c\\\"\",le=\"+Inf\"} +Inf\n\
             leasehold_test NaN\n\
             leasehold_test -Inf\n\
             leasehold_test 0.25\n"
        );
    }
}
