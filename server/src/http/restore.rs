//! Keys brought back (docs/api.md, "Deleted keys, restore and roll back"):
//! the keys deleted under a prefix with their last values and what deleted
//! them (`GET /api/v1/kv-deleted`), putting them back
//! (`POST /api/v1/kv-restore`), and a prefix or a key rolled back to a past
//! revision (`POST /api/v1/kv-rollback`).
//!
//! Both writes are a preview first (`"dry_run": true`, open to every
//! caller) and then exactly what was previewed, in transactions of at most
//! etcd's 128 keys, each key guarded ([`crate::etcd::Guard`]): a restore
//! writes a key only where it is still absent; a roll back applies the diff
//! from the revision the preview read (`expect_revision`), each key only
//! while it is as it was then, so a newer write is a reported conflict with
//! both sides, never lost. Operator only, refused under `--read-only` and
//! outside `--prefix`, audited (one entry per write, with its counts).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use app::model::{
    BulkConflict, BulkResult, DeletedKv, KvChange, KvDeletedListBody, RestoreBody, RestoreRequest, Revision,
    RollbackBody, RollbackRequest,
};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::{Extension, Json};

use super::client::Client;
use super::error::ApiError;
use super::kv_routes::{in_scope, number, with_horizon};
use super::openapi::Failures;
use super::ops::{body, Attempt};
use super::AppState;
use crate::auth::Caller;
use crate::etcd::{
    chunk_sizes, large_last, BulkOutcome, Change, Conflict, DeletedKey, Guard, GuardedWrite, OnLease, TXN_MAX_OPS,
};
use crate::registry::{key_id, key_of_id, Deletion, KeyValue};

/// How far back the deleted keys go when the request does not say.
const DEFAULT_SECONDS: u64 = 3600;
/// How long a write waits for the model to see it, so a page reloaded
/// after the answer shows it.
const CATCH_UP: Duration = Duration::from_secs(2);

/// The revision deletions are listed after: `since=`, or the revision
/// current `seconds=` ago or `at=` (through the revision clock). Without
/// any, the last hour, or as far as Leasehold's clock reaches when it began
/// watching less than an hour ago (the answer's `since` says which).
fn since_of(state: &AppState, query: &HashMap<String, String>) -> Result<Revision, ApiError> {
    let given = ["since", "seconds", "at"]
        .iter()
        .filter(|p| query.contains_key(**p))
        .count();
    if given > 1 {
        return Err(ApiError::BadRequest("give one of since, seconds and at".to_owned()));
    }
    if let Some(since) = number(query, "since", 0)? {
        return Ok(since);
    }
    if let Some(at) = query.get("at") {
        return super::past::revision_at_time(state, "at", at);
    }
    let explicit = number(query, "seconds", 1)?;
    let seconds = explicit.and_then(|s| u64::try_from(s).ok()).unwrap_or(DEFAULT_SECONDS);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match state.store.revision_at(now.saturating_sub(seconds)) {
        (Some(revision), _) => Ok(revision),
        (None, _) if explicit.is_none() => Ok(state.store.oldest_noted_revision().unwrap_or(0)),
        (None, Some(_)) => Err(ApiError::BadRequest(format!(
            "seconds={seconds}: Leasehold began watching more recently than that; ask for a revision (since=) instead"
        ))),
        (None, None) => Err(ApiError::BadRequest(
            "Leasehold has not seen a revision yet; ask for a revision (since=) instead".to_owned(),
        )),
    }
}

/// The keys deleted under `prefix` after `since`, with what deleted them,
/// and their last versions as etcd gave them; `with_recreated`, also the
/// keys deleted in that time and written again since.
async fn deleted_list(
    state: &AppState,
    prefix: &str,
    since: Revision,
    with_recreated: bool,
) -> Result<(KvDeletedListBody, Vec<KeyValue>, Vec<(DeletedKey, KeyValue)>), ApiError> {
    let read = state
        .actions
        .deleted_since(prefix.as_bytes(), since, with_recreated)
        .await;
    let deleted = with_horizon(state, read).await?;
    let asked: Vec<Deletion> = deleted
        .keys
        .iter()
        .map(|d| Deletion {
            key: key_id(&d.last.key),
            lease: d.last.lease,
            revision: d.deleted_revision,
        })
        .collect();
    let told = state.store.deletion_causes(&asked);
    let keys = deleted
        .keys
        .iter()
        .zip(told)
        .map(|(d, told)| DeletedKv {
            kv: state.store.kv(&d.last),
            deleted_revision: d.deleted_revision,
            deleted_at: told.at,
            cause: told.cause,
            who: told.who,
        })
        .collect();
    let body = KvDeletedListBody {
        revision: deleted.revision,
        prefix: prefix.to_owned(),
        since,
        keys,
        compact_revision: state.ops.console.horizon().await.ok().flatten(),
    };
    Ok((
        body,
        deleted.keys.into_iter().map(|d| d.last).collect(),
        deleted.recreated,
    ))
}

/// `GET /api/v1/kv-deleted?prefix=P&since=N` (or `seconds=S`, `at=TIME`).
#[utoipa::path(
    get,
    path = "/kv-deleted",
    operation_id = "deleted_keys",
    tag = "configuration",
    params(
        ("prefix" = String, Query, description = "The prefix (text); empty: every key Leasehold watches"),
        ("since" = Option<i64>, Query, minimum = 0, description = "Deletions after this revision"),
        ("seconds" = Option<i64>, Query, minimum = 1, description = "Deletions in the last this many seconds (default 3600)"),
        ("at" = Option<String>, Query, format = DateTime, description = "Deletions after this time (RFC 3339)"),
    ),
    responses(
        (status = 200, description = "The keys deleted and absent now, in key order, each with its last value", body = KvDeletedListBody),
        (status = 410, description = "compacted: etcd's history does not reach back that far; the message says where it begins", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn deleted(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<KvDeletedListBody>, ApiError> {
    if let Some(unknown) = query
        .keys()
        .find(|k| !["prefix", "since", "seconds", "at"].contains(&k.as_str()))
    {
        return Err(ApiError::BadRequest(format!(
            "{:?} is no parameter of this route: prefix, and one of since, seconds and at",
            super::audit::clip(unknown)
        )));
    }
    let prefix = query.get("prefix").map(String::as_str).unwrap_or_default();
    in_scope(&state, prefix.as_bytes(), true)?;
    let since = since_of(&state, &query)?;
    Ok(Json(deleted_list(&state, prefix, since, false).await?.0))
}

/// A write's outcome as the API tells it.
fn result_of(state: &AppState, outcome: BulkOutcome) -> BulkResult {
    let conflicts = outcome
        .conflicts
        .into_iter()
        .map(|conflict| BulkConflict {
            key: key_id(&conflict.write.key),
            wanted: match conflict.write.change {
                Change::Put { value, .. } => Some(state.store.kv(&KeyValue {
                    key: conflict.write.key.clone(),
                    value,
                    create_revision: 0,
                    mod_revision: 0,
                    version: 0,
                    lease: 0,
                })),
                Change::Delete => None,
            },
            current: conflict.current.as_ref().map(|kv| state.store.kv(kv)),
        })
        .collect();
    BulkResult {
        applied: outcome.applied.len(),
        transactions: outcome.transactions,
        revision: outcome.revision,
        conflicts,
        interrupted: outcome.interrupted,
        not_tried: outcome.not_tried,
    }
}

/// Makes the writes, audits what they did (with the conflicts `set_aside`
/// before, reported first), and waits for the model to see them.
async fn apply(attempt: &Attempt<'_>, what: &str, writes: Vec<GuardedWrite>, set_aside: Vec<Conflict>) -> BulkResult {
    let state = attempt.state;
    let mut outcome = state.actions.apply_guarded(writes).await;
    outcome.conflicts.splice(0..0, set_aside);
    let (applied, conflicts, chunks) = (outcome.applied.len(), outcome.conflicts.len(), outcome.transactions);
    let revision = outcome.revision;
    let mut detail =
        format!("{what}: {applied} key(s) written in {chunks} transaction(s), {conflicts} conflict(s) left alone");
    if revision > 0 {
        detail.push_str(&format!(", etcd at revision {revision}"));
    }
    match &outcome.interrupted {
        Some(why) => {
            detail.push_str(&format!(
                "; interrupted, {} key(s) not known to be written: {why}",
                outcome.not_tried
            ));
            attempt.audit("failed", detail);
        }
        None => attempt.audit_at(revision, detail),
    }
    if revision > 0 {
        state.store.reach(revision, CATCH_UP).await;
    }
    result_of(state, outcome)
}

/// `POST /api/v1/kv-restore`: the keys deleted under `prefix` since
/// `since` (or only `keys`) put back with their last values, each only
/// where it is still absent.
#[utoipa::path(
    post,
    path = "/kv-restore",
    operation_id = "restore_keys",
    tag = "configuration",
    request_body(content = RestoreRequest, description = "The prefix, the revision deletions are restored after, optionally the keys, and dry_run for the preview"),
    responses(
        (status = 200, description = "The preview, or the restore done: `result` says what was written and what conflicted", body = RestoreBody),
        (status = 410, description = "compacted: etcd's history does not reach back that far", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn restore(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    request: Bytes,
) -> Result<Json<RestoreBody>, ApiError> {
    let attempt = Attempt {
        state: &state,
        caller: &caller,
        from,
        action: "restore_keys",
    };
    let request: RestoreRequest = body(&request, r#"{"prefix", "since", "keys"?, "dry_run"?}"#).map_err(|e| {
        if request_is_dry(&request) {
            e
        } else {
            attempt.refuse(e)
        }
    })?;
    let guard = |error: ApiError| if request.dry_run { error } else { attempt.refuse(error) };
    if !request.dry_run {
        attempt.check_role("restore keys")?;
    }
    in_scope(&state, request.prefix.as_bytes(), true).map_err(guard)?;
    if request.since < 0 {
        return Err(guard(ApiError::BadRequest("since must be a revision >= 0".to_owned())));
    }
    let (listed, last, recreated) = deleted_list(&state, &request.prefix, request.since, !request.dry_run)
        .await
        .map_err(|e| if request.dry_run { e } else { attempt.fail(e) })?;
    let wanted: Option<BTreeSet<&str>> = request
        .keys
        .as_ref()
        .map(|keys| keys.iter().map(String::as_str).collect());
    if let Some(wanted) = &wanted {
        let known: BTreeSet<String> = listed.keys.iter().map(|d| d.kv.id()).collect();
        let unknown: Vec<&str> = wanted.iter().copied().filter(|k| !known.contains(*k)).collect();
        if !unknown.is_empty() {
            return Err(guard(ApiError::BadRequest(format!(
                "not deleted under {:?} since revision {} (or written again since): {}",
                request.prefix,
                request.since,
                super::audit::clip(&unknown.join(", "))
            ))));
        }
    }
    let chosen: Vec<(&DeletedKv, &KeyValue)> = listed
        .keys
        .iter()
        .zip(&last)
        .filter(|(d, _)| wanted.as_ref().is_none_or(|w| w.contains(d.kv.id().as_str())))
        .collect();
    let writes: Vec<GuardedWrite> = chosen
        .iter()
        .map(|(_, kv)| GuardedWrite {
            key: kv.key.clone(),
            guard: Guard::Absent,
            change: Change::Put {
                value: kv.value.clone(),
                lease: OnLease::None,
            },
        })
        .collect();
    let writes = large_last(writes);
    let mut answer = RestoreBody {
        revision: listed.revision,
        prefix: request.prefix.clone(),
        since: request.since,
        dry_run: request.dry_run,
        restore: chosen.iter().map(|(d, _)| d.kv.clone()).collect(),
        without_lease: chosen.iter().filter(|(_, kv)| kv.lease != 0).count(),
        chunk: TXN_MAX_OPS,
        transactions: chunk_sizes(&writes).len(),
        result: None,
    };
    if request.dry_run {
        return Ok(Json(answer));
    }
    let what = format!(
        "restore under {:?} of the keys deleted since revision {}",
        super::audit::clip(&request.prefix),
        request.since
    );
    // A key deleted and written again since with another value is not put
    // back either, and is said: the restore would have made it its last
    // value (a key written back as it was is simply no longer deleted).
    let recreated = recreated
        .into_iter()
        .filter(|(gone, now)| gone.last.value != now.value && wanted.is_none())
        .map(|(gone, now)| Conflict {
            write: GuardedWrite {
                key: gone.last.key,
                guard: Guard::Absent,
                change: Change::Put {
                    value: gone.last.value,
                    lease: OnLease::None,
                },
            },
            current: Some(now),
        })
        .collect();
    answer.result = Some(apply(&attempt, &what, writes, recreated).await);
    Ok(Json(answer))
}

/// Whether a body that could not be read asked for a preview (its refusal
/// is then not audited: a preview changes nothing).
fn request_is_dry(body: &Bytes) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v["dry_run"] == true)
}

/// `POST /api/v1/kv-rollback`: a prefix (or one key) back to how it was at
/// `revision`.
#[utoipa::path(
    post,
    path = "/kv-rollback",
    operation_id = "rollback_keys",
    tag = "configuration",
    request_body(content = RollbackRequest, description = "The prefix or key, the revision to go back to, dry_run for the preview, and the preview's now as expect_revision to apply"),
    responses(
        (status = 200, description = "The preview (the diff to undo), or the roll back done: `result` says what was written and what conflicted", body = RollbackBody),
        (status = 410, description = "compacted: the revision, or the preview's, is older than etcd's history", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn rollback(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    request: Bytes,
) -> Result<Json<RollbackBody>, ApiError> {
    let attempt = Attempt {
        state: &state,
        caller: &caller,
        from,
        action: "rollback_keys",
    };
    let request: RollbackRequest = body(
        &request,
        r#"{"prefix", "key"?, "revision", "dry_run"?, "expect_revision"?}"#,
    )
    .map_err(|e| if request_is_dry(&request) { e } else { attempt.refuse(e) })?;
    let guard = |error: ApiError| if request.dry_run { error } else { attempt.refuse(error) };
    if !request.dry_run {
        attempt.check_role("roll keys back")?;
    }
    let (start, end) = if request.key {
        let key = key_of_id(&request.prefix)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| guard(ApiError::BadRequest(format!("{:?} is no key's id", request.prefix))))?;
        let mut end = key.clone();
        end.push(0);
        (key, end)
    } else {
        let prefix = request.prefix.as_bytes().to_vec();
        let end = crate::etcd::prefix_end(&prefix);
        (prefix, end)
    };
    in_scope(&state, &start, !request.key).map_err(guard)?;
    if request.revision < 1 {
        return Err(guard(ApiError::BadRequest("revision must be >= 1".to_owned())));
    }
    let now = match (request.dry_run, request.expect_revision) {
        (_, Some(now)) if now < request.revision => {
            return Err(guard(ApiError::BadRequest(
                "expect_revision is the preview's now: it cannot be before revision".to_owned(),
            )))
        }
        (false, None) => {
            return Err(guard(ApiError::BadRequest(
                "expect_revision is required to apply: the preview's `now`, so that exactly what was previewed is \
                 applied"
                    .to_owned(),
            )))
        }
        (_, now) => now,
    };
    let fail = |e: ApiError| if request.dry_run { e } else { attempt.fail(e) };
    let read = state.actions.diff_range(&start, &end, request.revision, now).await;
    let diff = with_horizon(&state, read).await.map_err(fail)?;
    if diff.to < request.revision {
        return Err(guard(ApiError::BadRequest(format!(
            "revision {} is in the future: etcd is at revision {}",
            request.revision, diff.to
        ))));
    }
    let live = if diff
        .removed
        .iter()
        .chain(diff.changed.iter().map(|(old, _)| old))
        .any(|kv| kv.lease != 0)
    {
        state.actions.live_leases().await.map_err(|e| fail(ApiError::from(e)))?
    } else {
        BTreeSet::new()
    };
    let mut without_lease = 0usize;
    let mut lease_for = |then: &KeyValue, now: Option<&KeyValue>| -> OnLease {
        match (then.lease, now.map(|kv| kv.lease)) {
            (0, _) => OnLease::None,
            (lease, Some(current)) if lease == current => OnLease::Keep,
            (lease, _) if live.contains(&lease) => OnLease::Lease(lease),
            _ => {
                without_lease += 1;
                OnLease::None
            }
        }
    };
    let mut writes = Vec::new();
    for then in &diff.removed {
        let lease = lease_for(then, None);
        writes.push(GuardedWrite {
            key: then.key.clone(),
            guard: Guard::Absent,
            change: Change::Put {
                value: then.value.clone(),
                lease,
            },
        });
    }
    for (then, current) in &diff.changed {
        let lease = lease_for(then, Some(current));
        writes.push(GuardedWrite {
            key: then.key.clone(),
            guard: Guard::At(current.mod_revision),
            change: Change::Put {
                value: then.value.clone(),
                lease,
            },
        });
    }
    for current in &diff.added {
        writes.push(GuardedWrite {
            key: current.key.clone(),
            guard: Guard::At(current.mod_revision),
            change: Change::Delete,
        });
    }
    let writes = large_last(writes);
    let kv = |kv: &KeyValue| state.store.kv(kv);
    let mut answer = RollbackBody {
        now: diff.to,
        revision: request.revision,
        prefix: request.prefix.clone(),
        key: request.key,
        dry_run: request.dry_run,
        put_back: diff.removed.iter().map(kv).collect(),
        revert: diff
            .changed
            .iter()
            .map(|(then, current)| KvChange {
                before: kv(current),
                after: kv(then),
            })
            .collect(),
        delete: diff.added.iter().map(kv).collect(),
        without_lease,
        chunk: TXN_MAX_OPS,
        transactions: chunk_sizes(&writes).len(),
        result: None,
    };
    if request.dry_run {
        return Ok(Json(answer));
    }
    let what = format!(
        "roll back of {} {:?} to revision {} (previewed at revision {})",
        if request.key { "the key" } else { "the prefix" },
        super::audit::clip(&request.prefix),
        request.revision,
        diff.to
    );
    answer.result = Some(apply(&attempt, &what, writes, Vec::new()).await);
    Ok(Json(answer))
}

/// `POST /api/v1/kv-restore` under `--read-only`: refused and audited.
#[utoipa::path(
    post,
    path = "/kv-restore",
    operation_id = "restore_keys",
    tag = "configuration",
    responses(Failures)
)]
pub async fn read_only_restore(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
) -> ApiError {
    super::ops::read_only(&state, &caller, from, "restore_keys")
}

/// `POST /api/v1/kv-rollback` under `--read-only`: refused and audited.
#[utoipa::path(
    post,
    path = "/kv-rollback",
    operation_id = "rollback_keys",
    tag = "configuration",
    responses(Failures)
)]
pub async fn read_only_rollback(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
) -> ApiError {
    super::ops::read_only(&state, &caller, from, "rollback_keys")
}
