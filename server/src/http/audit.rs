//! The audit trail of destructive actions: every attempt, allowed or
//! refused, as one JSON line appended to `--audit-log FILE` (and to the log
//! under the `audit` target). Who, from where, what (the lease and what it
//! held), when, and how it ended. Nothing secret is in a line: no cookie, no
//! header, no credential.
//!
//! An entry copies at most [`MAX_COPIED`] bytes of anything a request
//! brings (its path, a key, a lease id, an `Origin`), marked when cut, and
//! entries of refused requests pass the brake of [`super::refusals`]: a
//! flood of them cannot fill the disk or push real actions out of the
//! timeline, and what was held back is counted in a later entry.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use app::model::LeaseDetailBody;

use super::refusals::{Limiter, Summary, Verdict, SUMMARY_EVERY};
use crate::registry::Timeline;
use crate::tasks::Supervisor;
use serde::Serialize;
use serde_json::Value;

/// Most bytes an entry copies of one thing a request brings.
pub const MAX_COPIED: usize = 256;
/// Most bytes of an entry's `detail` (which may quote the request).
const MAX_DETAIL: usize = 1024;

/// `text` cut to at most `max` bytes (on a character boundary) and marked
/// as cut, with its whole length.
fn clip_to(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…[truncated, {} bytes]", &text[..end], text.len()))
}

/// What an audit entry or a log line copies of something a request brought.
pub fn clip(text: &str) -> Cow<'_, str> {
    clip_to(text, MAX_COPIED)
}

/// Appends audit lines; cheap to clone.
#[derive(Clone)]
pub struct Audit {
    file: Option<Arc<Mutex<File>>>,
    /// Where entries also show as `audit` events in the timeline.
    timeline: Option<Timeline>,
    /// The brake on entries of refused requests. A std Mutex: held only to
    /// count, never across an await.
    refusals: Arc<Mutex<Limiter>>,
}

/// One destructive action, allowed or not.
#[derive(Debug, Serialize)]
pub struct Entry {
    /// RFC 3339.
    pub at: String,
    /// The user; `anonymous` without a login.
    pub who: String,
    /// The client's address (see [`super::client`]).
    pub from: Option<IpAddr>,
    /// `revoke_lease`, `put_key`, `delete_key`, or the method and path of a
    /// refused request.
    pub action: String,
    /// The lease, when the action names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<String>,
    /// The key, when the action is on one (its id: the text, or `base64:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What the lease held when the action was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<Value>,
    /// `ok`, `refused`, `failed`, or `suppressed` for the count of refused
    /// requests that were not recorded one by one.
    pub result: &'static str,
    /// Why it was refused or failed, or what it did.
    pub detail: String,
    /// With `suppressed`: how many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// etcd's revision after the action, when it wrote to etcd: how the
    /// timeline tells which deletion was whose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<app::model::Revision>,
    /// Something the request brought was cut to [`MAX_COPIED`] bytes.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl Entry {
    /// `action` may hold the request's path: it is cut to [`MAX_COPIED`]
    /// bytes, like the lease and key given later.
    pub fn new(
        action: impl Into<String>,
        who: &str,
        from: Option<IpAddr>,
        result: &'static str,
        detail: String,
    ) -> Self {
        let mut entry = Entry {
            at: crate::registry::now_rfc3339().unwrap_or_default(),
            who: who.to_owned(),
            from,
            action: String::new(),
            lease: None,
            key: None,
            held: None,
            result,
            detail: String::new(),
            count: None,
            revision: None,
            truncated: false,
        };
        entry.action = entry.copy(action.into(), MAX_COPIED);
        entry.detail = entry.copy(detail, MAX_DETAIL);
        entry
    }

    /// `text`, cut to `max` bytes and the entry marked when it is longer.
    fn copy(&mut self, text: String, max: usize) -> String {
        match clip_to(&text, max) {
            Cow::Borrowed(_) => text,
            Cow::Owned(cut) => {
                self.truncated = true;
                cut
            }
        }
    }

    /// The revision etcd answered the action's write at.
    pub fn with_revision(mut self, revision: app::model::Revision) -> Self {
        self.revision = Some(revision);
        self
    }

    /// Names the lease and what it held, from the revoke preview.
    pub fn with_lease(mut self, lease: String, held: Option<&LeaseDetailBody>) -> Self {
        self.lease = Some(self.copy(lease, MAX_COPIED));
        self.held = held.map(|d| {
            serde_json::json!({
                "instances": d.instances.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(),
                "locks": d.locks,
                "elections": d.elections,
                "other_keys": d.other_keys,
            })
        });
        self
    }
}

impl Entry {
    /// Names the key the action is on.
    pub fn with_key(mut self, key: String) -> Self {
        self.key = Some(self.copy(key, MAX_COPIED));
        self
    }
}

impl Audit {
    /// Appends to `path` (created if missing); `None` logs only.
    pub fn open(path: Option<&Path>) -> std::io::Result<Self> {
        let file = match path {
            Some(path) => Some(Arc::new(Mutex::new(
                OpenOptions::new().create(true).append(true).open(path)?,
            ))),
            None => None,
        };
        Ok(Audit {
            file,
            timeline: None,
            refusals: Arc::new(Mutex::new(Limiter::new(Instant::now()))),
        })
    }

    /// Also puts every entry on the registry's event timeline.
    pub fn with_timeline(mut self, timeline: Timeline) -> Self {
        self.timeline = Some(timeline);
        self
    }

    /// Records `entry`, unless it is a refusal the brake holds back (then it
    /// is counted). Any other entry is preceded by the count of refusals held
    /// back and not reported yet.
    pub fn record(&self, entry: &Entry) {
        if entry.result == "refused" {
            let client = entry.from;
            let verdict = self
                .refusals
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .admit(client, Instant::now());
            match verdict {
                Verdict::Suppress => return,
                Verdict::Record { suppressed: 0 } => {}
                Verdict::Record { suppressed } => self.write(&suppressed_from(client, suppressed)),
            }
        } else {
            self.summarize();
        }
        self.write(entry);
    }

    /// Records one entry counting every refusal held back and not reported
    /// yet, if there is any.
    pub fn summarize(&self) {
        let summary = self.refusals.lock().unwrap_or_else(PoisonError::into_inner).summary();
        if let Some(summary) = summary {
            self.write(&summary_entry(&summary));
        }
    }

    /// Sums up held-back refusals every [`SUMMARY_EVERY`], as task `audit`,
    /// so that they are reported even when nothing else is recorded.
    pub fn spawn_summaries(&self, tasks: &Supervisor) {
        let (audit, stop) = (self.clone(), tasks.stop_token());
        tasks.spawn("audit", move || {
            let (audit, stop) = (audit.clone(), stop.clone());
            async move {
                let mut every = tokio::time::interval(SUMMARY_EVERY);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return Ok::<(), String>(()),
                        _ = every.tick() => audit.summarize(),
                    }
                }
            }
        });
    }

    fn write(&self, entry: &Entry) {
        let line = match serde_json::to_string(entry) {
            Ok(line) => line,
            Err(error) => {
                tracing::error!(%error, "an audit entry could not be written as JSON");
                return;
            }
        };
        tracing::info!(target: "audit", "{line}");
        if let Some(timeline) = &self.timeline {
            let subject = entry
                .lease
                .clone()
                .or_else(|| entry.key.clone())
                .unwrap_or_else(|| entry.action.clone());
            let mut detail = serde_json::json!({
                "action": entry.action,
                "who": entry.who,
                "from": entry.from,
                "result": entry.result,
                "detail": entry.detail,
            });
            if let Some(fields) = detail.as_object_mut() {
                if let Some(count) = entry.count {
                    fields.insert("count".to_owned(), count.into());
                }
                if let Some(revision) = entry.revision {
                    fields.insert("revision".to_owned(), revision.into());
                }
                if let Some(lease) = &entry.lease {
                    fields.insert("lease".to_owned(), lease.clone().into());
                }
                if let Some(key) = &entry.key {
                    fields.insert("key".to_owned(), key.clone().into());
                }
            }
            timeline.record_action(subject, detail);
        }
        if let Some(file) = &self.file {
            let mut file = file.lock().unwrap_or_else(PoisonError::into_inner);
            if let Err(error) = file
                .write_all(format!("{line}\n").as_bytes())
                .and_then(|()| file.flush())
            {
                tracing::error!(%error, "cannot append to the audit log");
            }
        }
    }
}

/// "N refused requests from X suppressed".
fn suppressed_from(client: Option<IpAddr>, count: u64) -> Entry {
    let from = client.map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string());
    let mut entry = Entry::new(
        "refused_requests",
        "anonymous",
        client,
        "suppressed",
        format!("{count} refused request(s) from {from} suppressed: more than the audit records of one address"),
    );
    entry.count = Some(count);
    entry
}

/// "N refused requests from M addresses suppressed: X (n), ...".
fn summary_entry(summary: &Summary) -> Entry {
    let named: Vec<String> = summary
        .top
        .iter()
        .map(|(client, n)| match client {
            Some(ip) => format!("{ip} ({n})"),
            None => format!("an unknown address ({n})"),
        })
        .collect();
    let mut entry = Entry::new(
        "refused_requests",
        "anonymous",
        None,
        "suppressed",
        format!(
            "{} refused request(s) from {} address(es) suppressed: {}",
            summary.total,
            summary.clients,
            named.join(", ")
        ),
    );
    entry.count = Some(summary.total);
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_request_brings_is_cut_and_marked() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(300);
        let cut = clip(&long);
        assert!(cut.ends_with("…[truncated, 600 bytes]"), "{cut}");
        assert!(cut.len() < MAX_COPIED + 30);
        let entry = Entry::new(
            format!("DELETE /{}", "x".repeat(30_000)),
            "anonymous",
            None,
            "refused",
            "no".to_owned(),
        )
        .with_key("k".to_owned());
        assert!(entry.truncated && entry.action.len() < MAX_COPIED + 30);
        assert_eq!(entry.key.as_deref(), Some("k"));
        let plain = Entry::new("put_key", "ada", None, "ok", "done".to_owned());
        let Ok(line) = serde_json::to_string(&plain) else {
            panic!("JSON")
        };
        assert!(!line.contains("truncated") && !line.contains("count"), "{line}");
    }
}
