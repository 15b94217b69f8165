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
    instances_registered: AtomicU64,
    instances_deregistered: AtomicU64,
    instances_expired: AtomicU64,
    storm: AtomicI64,
    lock_wait: Histogram,
    lock_hold: Histogram,
}

/// The bucket bounds (seconds) of the lock wait and hold histograms: from a
/// hand-over in milliseconds to a lock held for an hour.
const LOCK_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// A histogram of seconds: a count per bucket (not cumulative; the
/// exposition sums them), the sum in microseconds, the count.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; LOCK_BUCKETS.len()],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn observe(&self, seconds: f64) {
        let seconds = if seconds.is_finite() { seconds.max(0.0) } else { 0.0 };
        if let Some(i) = LOCK_BUCKETS.iter().position(|bound| seconds <= *bound) {
            if let Some(bucket) = self.buckets.get(i) {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_micros.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// What `/metrics` shows of the model itself, read when it is scraped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelGauges {
    /// The largest services by instances (at most `--metrics-services`),
    /// and the instances of all the others together (`other`).
    pub services: Vec<(String, usize)>,
    pub other_instances: usize,
    /// Per member (name): db size, when known.
    pub db_sizes: Vec<(String, i64)>,
    /// (member, alarm) for every active alarm.
    pub alarms: Vec<(String, String)>,
    /// The bytes the history's series hold.
    pub history_bytes: usize,
    /// The lock held longest now, and for how many seconds (holds this
    /// server saw begin).
    pub longest_hold: Option<(String, f64)>,
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

    /// Instances registered, deregistered and expired, as the timeline saw them.
    pub fn instances_changed(&self, registered: u64, deregistered: u64, expired: u64) {
        let i = &self.inner;
        i.instances_registered.fetch_add(registered, Ordering::Relaxed);
        i.instances_deregistered.fetch_add(deregistered, Ordering::Relaxed);
        i.instances_expired.fetch_add(expired, Ordering::Relaxed);
    }

    /// Whether an eviction storm is on.
    pub fn storm(&self, on: bool) {
        self.inner.storm.store(i64::from(on), Ordering::Relaxed);
    }

    /// Lock waits and holds that ended.
    pub fn lock_times(&self, times: &crate::registry::LockTimes) {
        for wait in &times.waits {
            self.inner.lock_wait.observe(*wait);
        }
        for hold in &times.holds {
            self.inner.lock_hold.observe(*hold);
        }
    }

    /// The Prometheus text exposition; `applied` is the model's revision
    /// now, `model` what the model shows of itself.
    pub fn render(&self, applied: i64, model: &ModelGauges) -> String {
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
        out.metric(
            "leasehold_instances_registered_total",
            Kind::Counter,
            "instances registered while Leasehold watched",
            count(&i.instances_registered),
        );
        out.metric(
            "leasehold_instances_deregistered_total",
            Kind::Counter,
            "instances deregistered (their key deleted or their lease revoked)",
            count(&i.instances_deregistered),
        );
        out.metric(
            "leasehold_instances_expired_total",
            Kind::Counter,
            "instances whose lease expired",
            count(&i.instances_expired),
        );
        out.metric(
            "leasehold_eviction_storm",
            Kind::Gauge,
            "1 while an eviction storm is on (see --storm-window, --storm-ratio, --storm-min)",
            level(&i.storm),
        );
        out.histogram(
            "leasehold_lock_wait_seconds",
            "how long a lock's holder waited for it, from its key's appearance to holding it",
            &i.lock_wait,
        );
        out.histogram(
            "leasehold_lock_hold_seconds",
            "how long a lock was held, from its taking to its release",
            &i.lock_hold,
        );
        out.family(
            "leasehold_lock_longest_hold_seconds",
            Kind::Gauge,
            "how long the lock held longest now has been held (no sample while no lock is held)",
        );
        if let Some((lock, seconds)) = &model.longest_hold {
            out.sample(
                "leasehold_lock_longest_hold_seconds",
                &[("lock", lock)],
                Value::Float(*seconds),
            );
        }
        out.metric(
            "leasehold_history_bytes",
            Kind::Gauge,
            "bytes the history's time series hold (bounded: see --history-services)",
            Value::Unsigned(model.history_bytes as u64),
        );
        out.family(
            "leasehold_service_instances",
            Kind::Gauge,
            "instances per service: the largest services by name, the rest together as service=\"other\"",
        );
        for (service, instances) in &model.services {
            out.sample(
                "leasehold_service_instances",
                &[("service", service)],
                Value::Unsigned(*instances as u64),
            );
        }
        out.sample(
            "leasehold_service_instances",
            &[("service", "other")],
            Value::Unsigned(model.other_instances as u64),
        );
        out.family(
            "leasehold_etcd_db_size_bytes",
            Kind::Gauge,
            "each etcd member's database size, as its last status said",
        );
        for (member, size) in &model.db_sizes {
            out.sample(
                "leasehold_etcd_db_size_bytes",
                &[("member", member)],
                Value::Signed(*size),
            );
        }
        out.family(
            "leasehold_etcd_alarm",
            Kind::Gauge,
            "1 for each alarm active on a member (NOSPACE, CORRUPT)",
        );
        for (member, alarm) in &model.alarms {
            out.sample(
                "leasehold_etcd_alarm",
                &[("member", member), ("alarm", alarm)],
                Value::Unsigned(1),
            );
        }
        out.text
    }
}

/// A family's type, as its `# TYPE` line names it.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
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

    /// A histogram: its cumulative buckets, `+Inf`, sum and count.
    fn histogram(&mut self, name: &str, help: &str, histogram: &Histogram) {
        self.family(name, Kind::Histogram, help);
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for (bound, count) in LOCK_BUCKETS.iter().zip(&histogram.buckets) {
            cumulative += count.load(Ordering::Relaxed);
            let le = Value::Float(*bound).to_string();
            self.sample(&bucket, &[("le", &le)], Value::Unsigned(cumulative));
        }
        let count = histogram.count.load(Ordering::Relaxed);
        self.sample(&bucket, &[("le", "+Inf")], Value::Unsigned(count));
        let sum = histogram.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        self.sample(&format!("{name}_sum"), &[], Value::Float(sum));
        self.sample(&format!("{name}_count"), &[], Value::Unsigned(count));
    }

    /// The `# HELP` and `# TYPE` lines that come before a family's samples.
    fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
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
        let text = metrics.render(7, &ModelGauges::default());
        assert!(
            text.contains("# TYPE leasehold_watch_lag_revisions gauge\nleasehold_watch_lag_revisions 3\n"),
            "{text}"
        );
        assert!(text.contains("leasehold_events_applied_total 3\n"));
        assert!(text.contains("leasehold_bytes_sent_total 100\n"));
        metrics.applied(10);
        assert!(metrics
            .render(10, &ModelGauges::default())
            .contains("leasehold_watch_lag_seconds 0\n"));
    }

    /// Every sample follows its family's `# HELP` and `# TYPE` lines, has a
    /// valid name (the family's, or its histogram parts') and a value the
    /// format reads; counters end in `_total`.
    #[test]
    fn every_family_has_help_and_type_and_valid_samples() {
        let metrics = Metrics::default();
        metrics.etcd_at(10, 7);
        metrics.pending_ops(-2);
        metrics.lock_times(&crate::registry::LockTimes {
            waits: vec![0.2, 7.0],
            holds: vec![4000.0],
        });
        let model = ModelGauges {
            services: vec![("pay\"ments".to_owned(), 3)],
            other_instances: 4,
            db_sizes: vec![("m1".to_owned(), 1024)],
            alarms: vec![("m1".to_owned(), "NOSPACE".to_owned())],
            history_bytes: 1,
            longest_hold: Some(("/locks/x".to_owned(), 12.5)),
        };
        let text = metrics.render(7, &model);
        let valid = |name: &str| {
            name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == ':')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        };
        let mut family: Option<(String, String)> = None;
        let mut families = 0;
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            if let Some(help) = line.strip_prefix("# HELP ") {
                let name = help.split(' ').next().unwrap_or_default().to_owned();
                let kind = lines
                    .next()
                    .and_then(|l| l.strip_prefix(&format!("# TYPE {name} ")))
                    .expect("TYPE");
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{kind}");
                assert_eq!(kind == "counter", name.ends_with("_total"), "{name} is a {kind}");
                assert!(valid(&name), "{name}");
                family = Some((name, kind.to_owned()));
                families += 1;
                continue;
            }
            let Some((name, kind)) = &family else {
                panic!("a sample before any family: {line}")
            };
            let (sample, value) = line.rsplit_once(' ').expect("name and value");
            let sample_name = sample.split('{').next().unwrap_or_default();
            let parts = [format!("{name}_bucket"), format!("{name}_sum"), format!("{name}_count")];
            assert!(
                sample_name == name || (kind == "histogram" && parts.iter().any(|p| p == sample_name)),
                "{line} in {name}"
            );
            assert!(value.parse::<f64>().is_ok() || value == "+Inf", "{line}");
        }
        assert_eq!(families, 23, "{text}");
        assert!(text.contains("\nleasehold_pending_ops -2\n"), "{text}");
        assert!(
            text.contains("leasehold_lock_wait_seconds_bucket{le=\"0.5\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("leasehold_lock_wait_seconds_bucket{le=\"+Inf\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("leasehold_lock_wait_seconds_sum 7.2\n"), "{text}");
        assert!(
            text.contains("leasehold_lock_hold_seconds_bucket{le=\"3600\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("leasehold_service_instances{service=\"pay\\\"ments\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("leasehold_service_instances{service=\"other\"} 4\n"),
            "{text}"
        );
        assert!(
            text.contains("leasehold_etcd_alarm{member=\"m1\",alarm=\"NOSPACE\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("leasehold_lock_longest_hold_seconds{lock=\"/locks/x\"} 12.5\n"),
            "{text}"
        );
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
