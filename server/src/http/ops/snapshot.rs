//! `GET /api/v1/ops/snapshot?member=ID`: a member's `Snapshot` streamed to
//! the browser as a file, chunk by chunk as etcd sends it (never whole in
//! the server), hashed (SHA-256) on the way; `GET /api/v1/ops/snapshots`
//! says how far each download got, and the file's hash once done.
//!
//! A snapshot holds every key and value in etcd, secrets included: operator
//! only, refused under `--read-only` and `--prefix` (it holds keys outside
//! it), audited with its size, revision and hash.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use app::model::{MemberId, Role, SnapshotRecord, SnapshotState, SnapshotsBody};
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::{Extension, Json};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{members, unavailable, Attempt};
use crate::auth::Caller;
use crate::http::audit::{Audit, Entry};
use crate::http::client::Client;
use crate::http::error::{ApiError, READ_ONLY};
use crate::http::openapi::Failures;
use crate::http::AppState;

/// Snapshots remembered, newest first.
const KEPT: usize = 16;

/// The latest snapshots; bounded.
#[derive(Clone, Default)]
pub struct Snapshots {
    records: Arc<Mutex<(u64, VecDeque<SnapshotRecord>)>>,
}

impl Snapshots {
    fn start(&self, mut record: SnapshotRecord) -> u64 {
        let mut guard = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        let (next, records) = &mut *guard;
        *next += 1;
        record.id = *next;
        records.push_front(record);
        records.truncate(KEPT);
        *next
    }

    fn update(&self, id: u64, change: impl FnOnce(&mut SnapshotRecord)) {
        let mut guard = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(record) = guard.1.iter_mut().find(|r| r.id == id) {
            change(record);
        }
    }

    fn list(&self) -> Vec<SnapshotRecord> {
        let guard = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        guard.1.iter().cloned().collect()
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SnapshotQuery {
    /// The member to snapshot (its id); the leader without it.
    #[param(value_type = Option<String>)]
    member: Option<String>,
}

/// `GET /api/v1/ops/snapshot`: the file, `application/octet-stream`, named
/// `etcd-<member>-r<revision>.db`, with `X-Leasehold-Snapshot: <id>`.
#[utoipa::path(
    get,
    path = "/ops/snapshot",
    operation_id = "snapshot",
    tag = "operations",
    params(SnapshotQuery),
    responses(
        (status = 200, description = "The snapshot file, streamed", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "not_found: no such member", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn snapshot(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<SnapshotQuery>,
) -> Result<Response, ApiError> {
    let attempt = Attempt {
        state: &state,
        caller: &caller,
        from,
        action: "snapshot",
    };
    if state.config.read_only {
        return Err(attempt.refuse(ApiError::Forbidden(READ_ONLY.to_owned())));
    }
    attempt.check_role("take a snapshot (it holds every key and value)")?;
    if !state.config.prefixes.is_empty() {
        return Err(attempt.refuse(ApiError::OutOfScope(format!(
            "a snapshot holds every key in etcd, not only under --prefix {}",
            state.config.prefixes.join(", --prefix ")
        ))));
    }
    let members = members(&state);
    let member = match query.member.as_deref() {
        Some(text) => {
            let id: MemberId = text
                .parse()
                .map_err(|e| attempt.refuse(ApiError::BadRequest(format!("member {text:?}: {e}"))))?;
            members.into_iter().find(|m| m.id == id)
        }
        None => members.into_iter().find(|m| m.is_leader),
    }
    .ok_or_else(|| attempt.refuse(ApiError::NotFound("no such member (or no leader)".to_owned())))?;
    let before = state
        .ops
        .console
        .status(&member.client_urls)
        .await
        .map_err(|e| attempt.fail(unavailable(&e)))?
        .header()
        .map_or(0, |h| h.revision());
    let mut stream = state
        .ops
        .console
        .snapshot(&member.client_urls)
        .await
        .map_err(|e| attempt.fail(unavailable(&e)))?;
    // The first chunk says the revision and the size before any byte goes.
    let first = stream
        .message()
        .await
        .map_err(|e| attempt.fail(unavailable(&e.into())))?
        .ok_or_else(|| {
            attempt.fail(ApiError::EtcdUnavailable(
                "the snapshot stream ended at once".to_owned(),
            ))
        })?;
    // etcd 3.4 and 3.5 put no header on the stream: the member's revision
    // just before it began is what the snapshot holds, at least.
    let revision = match first.header().map(|h| h.revision()).filter(|r| *r > 0) {
        Some(revision) => revision,
        None => before,
    };
    // etcd counts the database in `remaining_bytes`, and then sends the
    // database's SHA-256 (32 bytes) as the last chunk.
    let expected = u64::try_from(first.blob().len())
        .ok()
        .map(|n| n.saturating_add(first.remaining_bytes()).saturating_add(32));
    let snapshots = state.ops.snapshots.clone();
    let id = snapshots.start(SnapshotRecord {
        id: 0,
        member: member.id,
        name: member.name.clone(),
        revision,
        who: caller.who().to_owned(),
        started_at: crate::registry::now_rfc3339().unwrap_or_default(),
        finished_at: None,
        state: SnapshotState::Running,
        bytes: 0,
        expected_bytes: expected,
        sha256: None,
        error: None,
    });
    let mut sending = Sending {
        id,
        snapshots,
        audit: state.audit.clone(),
        who: caller.who().to_owned(),
        from,
        hash: Sha256::new(),
        bytes: 0,
        ended: false,
    };
    let body = async_stream(stream, first.blob().to_vec(), move |event| sending.on(event));
    let filename = format!("etcd-{}-r{revision}.db", safe_name(&member.name));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert("x-leasehold-snapshot", HeaderValue::from(id));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET /api/v1/ops/snapshots`: the latest snapshots (at most 16), newest
/// first, with how far each got and the file's SHA-256 once done.
#[utoipa::path(
    get,
    path = "/ops/snapshots",
    operation_id = "snapshots",
    tag = "operations",
    responses((status = 200, description = "The latest snapshots", body = SnapshotsBody), Failures)
)]
pub async fn snapshots(State(state): State<AppState>, Extension(caller): Extension<Caller>) -> Json<SnapshotsBody> {
    // Who took which is for operators; a viewer sees none.
    let snapshots = if caller.role == Role::Operator {
        state.ops.snapshots.list()
    } else {
        Vec::new()
    };
    Json(SnapshotsBody { snapshots })
}

/// A member's name as a file name's part.
fn safe_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if clean.is_empty() {
        "member".to_owned()
    } else {
        clean
    }
}

/// What happens to a chunk on its way.
enum Event<'a> {
    Chunk(&'a [u8]),
    End,
    Failed(String),
}

/// One download's bookkeeping: the hash, the count, the record and the
/// audit entry at the end. Dropped before the end: the browser went away.
struct Sending {
    id: u64,
    snapshots: Snapshots,
    audit: Audit,
    who: String,
    from: std::net::IpAddr,
    hash: Sha256,
    bytes: u64,
    ended: bool,
}

impl Sending {
    fn on(&mut self, event: Event<'_>) {
        match event {
            Event::Chunk(chunk) => {
                self.hash.update(chunk);
                self.bytes += chunk.len() as u64;
                let bytes = self.bytes;
                self.snapshots.update(self.id, |r| r.bytes = bytes);
            }
            Event::End => {
                let sha = hex(&std::mem::take(&mut self.hash).finalize());
                self.finish(SnapshotState::Done, Some(sha), None);
            }
            Event::Failed(why) => self.finish(SnapshotState::Failed, None, Some(why)),
        }
    }

    fn finish(&mut self, state: SnapshotState, sha256: Option<String>, error: Option<String>) {
        self.ended = true;
        let bytes = self.bytes;
        let mut record = None;
        self.snapshots.update(self.id, |r| {
            r.state = state;
            r.bytes = bytes;
            r.finished_at = crate::registry::now_rfc3339();
            r.sha256 = sha256;
            r.error = error;
            record = Some(r.clone());
        });
        let Some(record) = record else { return };
        let (result, detail) = match state {
            SnapshotState::Done => (
                "ok",
                format!(
                    "snapshot of {} at revision {}: {bytes} bytes, SHA-256 {}",
                    record.name,
                    record.revision,
                    record.sha256.as_deref().unwrap_or_default()
                ),
            ),
            _ => (
                "failed",
                format!(
                    "snapshot of {} at revision {} stopped after {bytes} bytes: {}",
                    record.name,
                    record.revision,
                    record.error.as_deref().unwrap_or_default()
                ),
            ),
        };
        let entry = Entry::new("snapshot", &self.who, Some(self.from), result, detail);
        self.audit.record(&entry);
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        if !self.ended {
            self.finish(
                SnapshotState::Aborted,
                None,
                Some("the download was cancelled before the end".to_owned()),
            );
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The body: `first`, then every chunk etcd sends, each through `on`.
/// An error of etcd's stream ends the body with an error, so the browser's
/// download fails instead of saving a truncated file as whole.
fn async_stream(
    stream: etcd_client::SnapshotStreaming,
    first: Vec<u8>,
    mut on: impl FnMut(Event<'_>) + Send + 'static,
) -> Body {
    on(Event::Chunk(&first));
    let chunks = futures::stream::unfold(
        (Some(stream), Some(first), on),
        |(stream, pending, mut on)| async move {
            if let Some(first) = pending {
                return Some((Ok(Bytes::from(first)), (stream, None, on)));
            }
            let mut stream = stream?;
            match stream.message().await {
                Ok(Some(message)) => {
                    on(Event::Chunk(message.blob()));
                    Some((Ok(Bytes::copy_from_slice(message.blob())), (Some(stream), None, on)))
                }
                Ok(None) => {
                    on(Event::End);
                    None
                }
                Err(error) => {
                    let why = crate::etcd::Error::from(error).summary();
                    on(Event::Failed(why.clone()));
                    Some((Err(std::io::Error::other(why)), (None, None, on)))
                }
            }
        },
    );
    // Fused: the body may be polled again after its end, which an unfold
    // must never be.
    Body::from_stream(futures::StreamExt::fuse(chunks))
}
