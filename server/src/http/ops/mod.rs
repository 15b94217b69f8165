//! The operations console's actions: disarm an alarm
//! (`POST /api/v1/ops/alarms/disarm`), compact (`POST /api/v1/ops/compact`)
//! and a rolling defragmentation (`POST /api/v1/ops/defrag`).
//!
//! Each is a preview first (`"dry_run": true`, open to every caller: it
//! changes nothing) and then the action on what was previewed: a compaction
//! is confirmed by the revision its preview chose, a roll by the member
//! order it showed, a disarm by the checks holding now. What must be true is
//! asked of etcd at the time of the action, never taken from the model. The
//! actions need the operator role, are refused under `--read-only` (and a
//! compaction under `--prefix`: it drops history of the whole keyspace), are
//! audited, and report what etcd says afterwards.
//!
//! One file per action: [`disarm`] (and the consistency check it needs for
//! CORRUPT), [`compact`], [`defrag`] (the roll), [`snapshot`], [`members`].

pub mod compact;
pub mod defrag;
pub mod disarm;
pub mod members;
pub mod snapshot;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use app::model::{Check, Member, Role};
use axum::body::Bytes;
use axum::extract::State;
use axum::Extension;

use super::audit::Entry;
use super::client::Client;
use super::error::{ApiError, READ_ONLY};
use super::openapi::Failures;
use super::AppState;
use crate::auth::Caller;
use crate::etcd::Console;
use crate::registry::Maintenance;

/// The console's handles: etcd's maintenance requests, the model's side of
/// them, and the one rolling defragmentation that may run.
#[derive(Clone)]
pub struct Ops {
    pub console: Console,
    pub maintenance: Maintenance,
    rolling: Arc<AtomicBool>,
    /// The latest snapshots streamed, and how far each got.
    snapshots: snapshot::Snapshots,
    /// One consistency check at a time: each reads every member's keyspace.
    hashing: Arc<tokio::sync::Mutex<()>>,
    /// Wakes the cluster poller after a membership change.
    poll: Arc<tokio::sync::Notify>,
}

impl Ops {
    /// `poll` wakes the cluster poller.
    pub fn new(console: Console, maintenance: Maintenance, poll: Arc<tokio::sync::Notify>) -> Self {
        Ops {
            console,
            maintenance,
            rolling: Arc::new(AtomicBool::new(false)),
            snapshots: snapshot::Snapshots::default(),
            hashing: Arc::new(tokio::sync::Mutex::new(())),
            poll,
        }
    }

    /// Has the cluster poller read the members again now, not at its next
    /// `--cluster-poll`.
    pub fn poll_cluster(&self) {
        self.poll.notify_one();
    }
}

/// One request's audit trail.
pub(super) struct Attempt<'a> {
    pub(super) state: &'a AppState,
    pub(super) caller: &'a Caller,
    pub(super) from: std::net::IpAddr,
    pub(super) action: &'static str,
}

impl Attempt<'_> {
    pub(super) fn audit(&self, result: &'static str, detail: String) {
        let entry = Entry::new(self.action, self.caller.who(), Some(self.from), result, detail);
        self.state.audit.record(&entry);
    }

    /// The action done, at etcd's `revision` (0: nothing written).
    pub(super) fn audit_at(&self, revision: app::model::Revision, detail: String) {
        let mut entry = Entry::new(self.action, self.caller.who(), Some(self.from), "ok", detail);
        if revision > 0 {
            entry = entry.with_revision(revision);
        }
        self.state.audit.record(&entry);
    }

    pub(super) fn refuse(&self, error: ApiError) -> ApiError {
        self.audit("refused", error.to_string());
        error
    }

    pub(super) fn fail(&self, error: ApiError) -> ApiError {
        self.audit("failed", error.to_string());
        error
    }

    pub(super) fn check_role(&self, what: &str) -> Result<(), ApiError> {
        if self.caller.role == Role::Operator {
            return Ok(());
        }
        let who = self.caller.user.as_deref().unwrap_or("this caller");
        Err(self.refuse(ApiError::Forbidden(format!(
            "{who} is a viewer: only an operator may {what}"
        ))))
    }

    /// Refused with the checks that do not hold.
    pub(super) fn check(&self, checks: &[Check]) -> Result<(), ApiError> {
        let failing: Vec<&str> = checks.iter().filter(|c| !c.ok).map(|c| c.what.as_str()).collect();
        if failing.is_empty() {
            return Ok(());
        }
        Err(self.refuse(ApiError::PreconditionFailed(format!("not now: {}", failing.join("; ")))))
    }
}

pub(super) fn unavailable(error: &crate::etcd::Error) -> ApiError {
    ApiError::EtcdUnavailable(error.summary())
}

/// The request's JSON body: an object. serde reads a struct from an array
/// too (`[]` is every field at its default), so anything but an object is
/// refused first: an action is never taken on a body that is not one.
pub(super) fn body<T: serde::de::DeserializeOwned>(body: &Bytes, shape: &str) -> Result<T, ApiError> {
    let refuse = |why: String| ApiError::BadRequest(format!("the body must be JSON {shape}: {why}"));
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(refuse("not an object".to_owned()));
    }
    serde_json::from_slice(body).map_err(|e| refuse(e.to_string()))
}

/// The members as the model knows them, with their client URLs.
pub(super) fn members(state: &AppState) -> Vec<Member> {
    state.store.cluster_body().members
}

/// An action of the console under `--read-only`: refused and audited.
pub(super) fn read_only(state: &AppState, caller: &Caller, from: std::net::IpAddr, action: &'static str) -> ApiError {
    let entry = Entry::new(action, caller.who(), Some(from), "refused", READ_ONLY.to_owned());
    state.audit.record(&entry);
    ApiError::Forbidden(READ_ONLY.to_owned())
}

/// `POST /api/v1/ops/alarms/disarm` under `--read-only`: refused and audited.
#[utoipa::path(
    post,
    path = "/ops/alarms/disarm",
    operation_id = "disarm_alarm",
    tag = "operations",
    responses(Failures)
)]
pub async fn read_only_disarm(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
) -> ApiError {
    read_only(&state, &caller, from, "disarm_alarm")
}

/// `POST /api/v1/ops/compact` under `--read-only`: refused and audited.
#[utoipa::path(
    post,
    path = "/ops/compact",
    operation_id = "compact",
    tag = "operations",
    responses(Failures)
)]
pub async fn read_only_compact(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
) -> ApiError {
    read_only(&state, &caller, from, "compact")
}

/// `POST /api/v1/ops/defrag` under `--read-only`: refused and audited.
#[utoipa::path(
    post,
    path = "/ops/defrag",
    operation_id = "defragment",
    tag = "operations",
    responses(Failures)
)]
pub async fn read_only_defrag(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
) -> ApiError {
    read_only(&state, &caller, from, "defragment")
}

/// `POST /api/v1/ops/members` under `--read-only`: refused and audited.
#[utoipa::path(
    post,
    path = "/ops/members",
    operation_id = "add_member",
    tag = "operations",
    responses(Failures)
)]
pub async fn read_only_add_member(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
) -> ApiError {
    read_only(&state, &caller, from, "add_member")
}

/// `POST /api/v1/ops/members/{id}/promote` under `--read-only`: refused and audited.
#[utoipa::path(
    post,
    path = "/ops/members/{id}/promote",
    operation_id = "promote_member",
    tag = "operations",
    params(("id" = String, Path, description = "The member id (hex)")),
    responses(Failures)
)]
pub async fn read_only_promote_member(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
) -> ApiError {
    read_only(&state, &caller, from, "promote_member")
}

/// `DELETE /api/v1/ops/members/{id}` under `--read-only`: refused and audited.
#[utoipa::path(
    delete,
    path = "/ops/members/{id}",
    operation_id = "remove_member",
    tag = "operations",
    params(("id" = String, Path, description = "The member id (hex)")),
    responses(Failures)
)]
pub async fn read_only_remove_member(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
) -> ApiError {
    read_only(&state, &caller, from, "remove_member")
}

/// `POST /api/v1/ops/move-leader` under `--read-only`: refused and audited.
#[utoipa::path(
    post,
    path = "/ops/move-leader",
    operation_id = "move_leader",
    tag = "operations",
    responses(Failures)
)]
pub async fn read_only_move_leader(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
) -> ApiError {
    read_only(&state, &caller, from, "move_leader")
}
