//! The audit trail of destructive actions: every attempt, allowed or
//! refused, as one JSON line appended to `--audit-log FILE` (and to the log
//! under the `audit` target). Who, from where, what (the lease and what it
//! held), when, and how it ended. Nothing secret is in a line: no cookie, no
//! header, no credential.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use app::model::LeaseDetailBody;

use crate::registry::Store;
use serde::Serialize;
use serde_json::Value;

/// Appends audit lines; cheap to clone.
#[derive(Clone, Default)]
pub struct Audit {
    file: Option<Arc<Mutex<File>>>,
    /// Where entries also show as `audit` events in the timeline.
    timeline: Option<Store>,
}

/// One destructive action, allowed or not.
#[derive(Debug, Serialize)]
pub struct Entry {
    /// RFC 3339.
    pub at: String,
    /// The user; `anonymous` without a login.
    pub who: String,
    /// The client's address as the server saw it.
    pub from: Option<String>,
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
    /// `ok`, `refused` or `failed`.
    pub result: &'static str,
    /// Why it was refused or failed, or what it did.
    pub detail: String,
}

impl Entry {
    pub fn new(
        action: impl Into<String>,
        who: &str,
        from: Option<SocketAddr>,
        result: &'static str,
        detail: String,
    ) -> Self {
        Entry {
            at: crate::registry::now_rfc3339().unwrap_or_default(),
            who: who.to_owned(),
            from: from.map(|a| a.ip().to_string()),
            action: action.into(),
            lease: None,
            key: None,
            held: None,
            result,
            detail,
        }
    }

    /// Names the lease and what it held, from the revoke preview.
    pub fn with_lease(mut self, lease: String, held: Option<&LeaseDetailBody>) -> Self {
        self.lease = Some(lease);
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
        self.key = Some(key);
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
        Ok(Audit { file, timeline: None })
    }

    /// Also puts every entry on `store`'s event timeline.
    pub fn with_timeline(mut self, store: Store) -> Self {
        self.timeline = Some(store);
        self
    }

    pub fn record(&self, entry: &Entry) {
        let line = match serde_json::to_string(entry) {
            Ok(line) => line,
            Err(error) => {
                tracing::error!(%error, "an audit entry could not be written as JSON");
                return;
            }
        };
        tracing::info!(target: "audit", "{line}");
        if let Some(store) = &self.timeline {
            let subject = entry
                .lease
                .clone()
                .or_else(|| entry.key.clone())
                .unwrap_or_else(|| entry.action.clone());
            let detail = serde_json::json!({
                "action": entry.action,
                "who": entry.who,
                "from": entry.from,
                "result": entry.result,
                "detail": entry.detail,
            });
            store.record_action(subject, detail);
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
