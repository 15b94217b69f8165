//! REST handlers of the configuration centre (docs/api.md, "Configuration
//! routes"): the paginated key listing, one key now or at a past revision, a
//! key's history, compare-and-swap put and delete, and the prefix diff.
//!
//! Reads ask etcd (through [`crate::etcd::Actions`]), not the model: a past
//! revision or a page of a large prefix is etcd's to answer. Writes are
//! destructive actions like a lease revoke: operator only, audited, and
//! routed to a refusal under `--read-only`.
//!
//! `{key}` is one path segment: the key's id percent-encoded (the key
//! itself, any byte of which may be escaped, or `base64:<base64>` for a key
//! that is not UTF-8 or whose text begins with `base64:`).
//!
//! With `--prefix`, these routes serve only keys under the watched
//! prefixes, by the rule the `kv:` topics follow
//! ([`crate::config::within_prefixes`]): a key or a listed or diffed prefix
//! outside them is 403 `out_of_scope` (a write audited), and so is a prefix
//! wider than them (`/` when `/a/` is watched): it is refused, not narrowed,
//! so that an answer never looks whole while it is not.
//!
//! Over the usual size: the seven routes share the key-in-path parsing, the
//! scope check and the write audit, which would otherwise be imported back.

use std::collections::HashMap;

use app::model::{
    KvBody, KvChange, KvDeletedBody, KvDiffBody, KvHistoryBody, KvListBody, KvPutRequest, KvVersion, Revision, Role,
};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::{Extension, Json};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::audit::Entry;
use super::client::Client;
use super::error::ApiError;
use super::openapi::Failures;
use super::AppState;
use crate::auth::Caller;
use crate::etcd::{KvError, Removal, Swap};
use crate::registry::{key_id, text_and_base64};

/// Keys a listing page holds unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 500;
/// Most keys one listing page may ask for.
const MAX_LIMIT: usize = 5000;
/// Largest `PUT` body: a value of etcd's 1.5 MiB, in base64, with room to spare.
pub const MAX_PUT_BODY: usize = 4 << 20;

impl From<KvError> for ApiError {
    fn from(error: KvError) -> Self {
        match error {
            KvError::Compacted(_) => ApiError::Compacted(error.to_string()),
            KvError::FutureRevision(_) | KvError::Refused(_) | KvError::TooLarge(_) => {
                ApiError::BadRequest(error.to_string())
            }
            KvError::Unavailable(why) => ApiError::EtcdUnavailable(why),
            KvError::Local(why) => ApiError::Internal(why),
        }
    }
}

/// A read of the past: when etcd answers that its revision is compacted,
/// the 410 says where etcd's history now begins (asked of etcd: one read at
/// revision 1 and one watch that etcd answers at once).
pub(super) async fn with_horizon<T>(state: &AppState, result: Result<T, KvError>) -> Result<T, ApiError> {
    match result {
        Err(KvError::Compacted(revision)) => {
            let message = match state.ops.console.horizon().await {
                Ok(Some(horizon)) if horizon > 0 => format!(
                    "revision {revision} is older than etcd's compaction at revision {horizon}: that history is \
                     gone; etcd keeps revisions from {horizon} on"
                ),
                _ => KvError::Compacted(revision).to_string(),
            };
            Err(ApiError::Compacted(message))
        }
        other => other.map_err(ApiError::from),
    }
}

/// Decodes `%XX` escapes into bytes (a path segment: `+` is a plus).
pub(super) fn percent_decode_bytes(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("broken %-escape at byte {i} of the key"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    Ok(out)
}

/// The key of a path segment: the key its percent-decoded text is the id of
/// ([`crate::registry::key_of_id`]: the text itself, or the bytes of
/// `base64:…`), or the decoded bytes themselves when they are not UTF-8.
fn key_of_segment(segment: &str) -> Result<Vec<u8>, ApiError> {
    let bytes = percent_decode_bytes(segment).map_err(ApiError::BadRequest)?;
    if bytes.is_empty() {
        return Err(ApiError::BadRequest("the key must not be empty".to_owned()));
    }
    match std::str::from_utf8(&bytes) {
        Ok(id) => crate::registry::key_of_id(id)
            .filter(|key| !key.is_empty())
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "{id:?} is no key's id: after \"base64:\" comes the key's bytes in standard base64, \
                 for a key that is not UTF-8 or whose text begins with \"base64:\" (any other key is its own id)"
                ))
            }),
        Err(_) => Ok(bytes),
    }
}

/// The key named by the path segment `from_end` segments before the last
/// (0: the last). Read from the raw path, so escapes of bytes that are not
/// UTF-8 work too.
fn key_in_path(uri: &Uri, from_end: usize) -> Result<Vec<u8>, ApiError> {
    let segment = uri
        .path()
        .rsplit('/')
        .nth(from_end)
        .ok_or_else(|| ApiError::BadRequest("no key in the path".to_owned()))?;
    key_of_segment(segment)
}

/// `Ok` when the configuration routes serve `key` (a key, or a prefix when
/// `prefix` is true), else 403 `out_of_scope`.
pub(super) fn in_scope(state: &AppState, key: &[u8], prefix: bool) -> Result<(), ApiError> {
    if state.config.in_scope(key) {
        return Ok(());
    }
    let what = if prefix { "the prefix" } else { "the key" };
    Err(ApiError::OutOfScope(format!(
        "{what} {:?} is outside what this Leasehold watches (--prefix {}): ask for keys under those prefixes",
        super::audit::clip(&key_id(key)),
        state.config.prefixes.join(", --prefix ")
    )))
}

/// A query parameter that must be a whole number >= `min`, if given.
pub(super) fn number(query: &HashMap<String, String>, name: &str, min: i64) -> Result<Option<i64>, ApiError> {
    match query.get(name) {
        None => Ok(None),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= min)
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest(format!("{name}={text:?} is not a whole number >= {min}"))),
    }
}

/// `text` or `base64` of one thing given in one of two forms, not both.
fn bytes_of(text: Option<&String>, base64: Option<&String>, name: &str) -> Result<Option<Vec<u8>>, ApiError> {
    match (text, base64) {
        (Some(_), Some(_)) => Err(ApiError::BadRequest(format!("give {name} or {name}_base64, not both"))),
        (Some(text), None) => Ok(Some(text.as_bytes().to_vec())),
        (None, Some(encoded)) => STANDARD
            .decode(encoded)
            .map(Some)
            .map_err(|error| ApiError::BadRequest(format!("{name}_base64 is not base64: {error}"))),
        (None, None) => Ok(None),
    }
}

/// `GET /api/v1/kv?prefix=P&limit=N&after=KEY` (`after_base64` for a key
/// that is not UTF-8): one page, read from etcd with a range limit.
#[utoipa::path(
    get,
    path = "/kv",
    operation_id = "list_keys",
    tag = "configuration",
    params(
        ("prefix" = Option<String>, Query, description = "The keys under this prefix (all)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 5000, description = "At most this many (500)"),
        ("after" = Option<String>, Query, description = "The page after this key (not with after_base64)"),
        ("after_base64" = Option<String>, Query, pattern = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$", description = "The page after this key, in base64 (a key that is not UTF-8; not with after)"),
        ("contains" = Option<String>, Query, description = "Only the keys whose name holds this text (from the model)"),
    ),
    responses((status = 200, description = "One page of keys, in etcd's byte order", body = KvListBody), Failures)
)]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<KvListBody>, ApiError> {
    let prefix = query.get("prefix").map(String::as_str).unwrap_or_default();
    in_scope(&state, prefix.as_bytes(), true)?;
    let limit = match number(&query, "limit", 1)? {
        None => DEFAULT_LIMIT,
        Some(limit) => usize::try_from(limit)
            .ok()
            .filter(|limit| *limit <= MAX_LIMIT)
            .ok_or_else(|| ApiError::BadRequest(format!("limit must be at most {MAX_LIMIT}")))?,
    };
    let after = bytes_of(
        query.get("after").filter(|a| !a.is_empty()),
        query.get("after_base64").filter(|a| !a.is_empty()),
        "after",
    )?;
    // A search: the keys whose name holds the text, from the model, which
    // holds every watched key (etcd cannot filter by a part of a key).
    if let Some(text) = query.get("contains").filter(|t| !t.is_empty()) {
        let (revision, items, more) = state
            .store
            .search_keys(prefix.as_bytes(), text, after.as_deref(), limit);
        return Ok(Json(KvListBody {
            revision,
            items,
            more,
            stale: !state.store.link().synced,
        }));
    }
    let page = state
        .actions
        .list_keys(prefix.as_bytes(), after.as_deref(), limit)
        .await?;
    Ok(Json(KvListBody {
        revision: page.revision,
        items: page.items.iter().map(|kv| state.store.kv(kv)).collect(),
        more: page.more,
        stale: false,
    }))
}

/// `GET /api/v1/kv/{key}` (`?rev=R`: as it was at revision R).
#[utoipa::path(
    get,
    path = "/kv/{key}",
    operation_id = "get_key",
    tag = "configuration",
    params(("key" = String, Path, description = "The key's id, percent-encoded: the key, or base64: and its bytes in base64"), ("rev" = Option<i64>, Query, minimum = 1, description = "As the key was at this revision")),
    responses(
        (status = 200, description = "The key (`kv` null: it did not exist at `rev`)", body = KvBody),
        (status = 404, description = "not_found: no such key now", body = app::model::ErrorBody),
        (status = 410, description = "compacted: `rev` is older than etcd's compaction", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn get(
    State(state): State<AppState>,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<KvBody>, ApiError> {
    let key = key_in_path(&uri, 0)?;
    in_scope(&state, &key, false)?;
    let at = number(&query, "rev", 1)?;
    let (now, kv) = with_horizon(&state, state.actions.get_key(&key, at.unwrap_or(0)).await).await?;
    if at.is_none() && kv.is_none() {
        return Err(ApiError::NotFound(format!("no key {:?}", key_id(&key))));
    }
    Ok(Json(KvBody {
        // With `rev`, the data reflects that revision.
        revision: at.unwrap_or(now),
        classification: kv.as_ref().map(|kv| state.store.classification(kv)),
        kv: kv.map(|kv| state.store.kv(&kv)),
    }))
}

/// `GET /api/v1/kv/{key}/history`: newest first.
#[utoipa::path(
    get,
    path = "/kv/{key}/history",
    operation_id = "key_history",
    tag = "configuration",
    params(("key" = String, Path, description = "The key's id, percent-encoded: the key, or base64: and its bytes in base64")),
    responses((status = 200, description = "The key's versions, newest first", body = KvHistoryBody), Failures)
)]
pub async fn history(State(state): State<AppState>, uri: Uri) -> Result<Json<KvHistoryBody>, ApiError> {
    let key = key_in_path(&uri, 1)?;
    in_scope(&state, &key, false)?;
    let history = state.actions.key_history(&key).await?;
    let versions = history
        .versions
        .into_iter()
        .rev()
        .map(|version| {
            let (value, value_base64) = match version.value.as_deref().map(text_and_base64) {
                Some((text, base64)) => (Some(text), base64),
                None => (None, None),
            };
            KvVersion {
                mod_revision: version.mod_revision,
                version: version.version,
                deleted: value.is_none(),
                value,
                value_base64,
            }
        })
        .collect();
    Ok(Json(KvHistoryBody {
        revision: history.revision,
        versions,
        complete: history.complete,
        truncated: history.truncated,
        compact_revision: history.compact_revision,
    }))
}

/// `GET /api/v1/kv-diff?prefix=P&from=R1&to=R2`.
#[utoipa::path(
    get,
    path = "/kv-diff",
    operation_id = "diff_prefix",
    tag = "configuration",
    params(
        ("prefix" = Option<String>, Query, description = "The keys under this prefix (all)"),
        ("from" = i64, Query, minimum = 1, description = "The earlier revision"),
        ("to" = Option<i64>, Query, minimum = 1, description = "The later revision (now)"),
    ),
    responses(
        (status = 200, description = "What was added, removed and changed between the two", body = KvDiffBody),
        (status = 410, description = "compacted: `from` is older than etcd's compaction", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn diff(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<KvDiffBody>, ApiError> {
    let prefix = query.get("prefix").map(String::as_str).unwrap_or_default();
    in_scope(&state, prefix.as_bytes(), true)?;
    let from = number(&query, "from", 1)?.ok_or_else(|| ApiError::BadRequest("from=REV is required".to_owned()))?;
    let to = number(&query, "to", 1)?;
    if to.is_some_and(|to| to < from) {
        return Err(ApiError::BadRequest("from must not be after to".to_owned()));
    }
    let diff = with_horizon(&state, state.actions.diff_prefix(prefix.as_bytes(), from, to).await).await?;
    if diff.to < from {
        return Err(ApiError::BadRequest(format!(
            "from={from} is in the future: etcd is at revision {}",
            diff.to
        )));
    }
    // Where history begins, asked of etcd now, so the page can say how far
    // back a compare can reach (the diff itself read `from` fine).
    let compact_revision = state.ops.console.horizon().await.ok().flatten();
    let kv = |kv: &crate::registry::KeyValue| state.store.kv(kv);
    Ok(Json(KvDiffBody {
        revision: diff.revision,
        from,
        to: diff.to,
        added: diff.added.iter().map(kv).collect(),
        removed: diff.removed.iter().map(kv).collect(),
        changed: diff
            .changed
            .iter()
            .map(|(before, after)| KvChange {
                before: kv(before),
                after: kv(after),
            })
            .collect(),
        compact_revision,
    }))
}

/// Who asks for a write, for the audit trail.
struct KeyWrite<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    from: std::net::IpAddr,
    action: &'static str,
    key: String,
}

impl KeyWrite<'_> {
    fn audit(&self, result: &'static str, detail: String) {
        self.audit_entry(Entry::new(
            self.action,
            self.caller.who(),
            Some(self.from),
            result,
            detail,
        ));
    }

    /// The write done, at etcd's `revision`.
    fn audit_done(&self, revision: Revision, detail: String) {
        self.audit_entry(
            Entry::new(self.action, self.caller.who(), Some(self.from), "ok", detail).with_revision(revision),
        );
    }

    fn audit_entry(&self, entry: Entry) {
        self.state.audit.record(&entry.with_key(self.key.clone()));
    }

    /// Audits a refusal and hands the error back.
    fn refuse(&self, error: ApiError) -> ApiError {
        self.audit("refused", error.to_string());
        error
    }

    /// Audits a failure and hands the error back.
    fn fail(&self, error: ApiError) -> ApiError {
        self.audit("failed", error.to_string());
        error
    }

    fn check_role(&self) -> Result<(), ApiError> {
        if self.caller.role == Role::Operator {
            return Ok(());
        }
        let who = self.caller.user.as_deref().unwrap_or("this caller");
        Err(self.refuse(ApiError::Forbidden(format!(
            "{who} is a viewer: only an operator may change keys"
        ))))
    }

    /// The 409 of a lost compare-and-swap, audited.
    fn conflict(&self, expected: Revision, current: Option<&crate::registry::KeyValue>) -> ApiError {
        let message = match current {
            Some(kv) => format!(
                "the key changed: it is at mod_revision {}, not {expected}",
                kv.mod_revision
            ),
            None if expected == 0 => "the key changed meanwhile".to_owned(),
            None => format!("the key does not exist (expected mod_revision {expected})"),
        };
        self.audit("failed", format!("conflict: {message}"));
        ApiError::Conflict {
            message,
            current: current.map(|kv| Box::new(self.state.store.kv(kv))),
        }
    }
}

/// The key of a write's path, or a refusal audited under the raw segment.
fn write_target<'a>(
    state: &'a AppState,
    caller: &'a Caller,
    from: std::net::IpAddr,
    action: &'static str,
    uri: &Uri,
) -> (KeyWrite<'a>, Result<Vec<u8>, ApiError>) {
    let key = key_in_path(uri, 0);
    let id = match &key {
        Ok(key) => key_id(key),
        Err(_) => uri.path().rsplit('/').next().unwrap_or_default().to_owned(),
    };
    let writer = KeyWrite {
        state,
        caller,
        from,
        action,
        key: id,
    };
    (writer, key)
}

/// `PUT /api/v1/kv/{key}`: a compare-and-swap on `expect_mod_revision`.
#[utoipa::path(
    put,
    path = "/kv/{key}",
    operation_id = "put_key",
    tag = "configuration",
    params(("key" = String, Path, description = "The key's id, percent-encoded: the key, or base64: and its bytes in base64")),
    request_body = KvPutRequest,
    responses(
        (status = 200, description = "Written: the key as it is now", body = KvBody),
        (status = 409, description = "conflict: the key is no longer at `expect_mod_revision`; `current` is the key now", body = app::model::KvConflictBody),
        (status = 413, description = "too_large: a body over etcd's largest request", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn put(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
    body: Result<Json<KvPutRequest>, JsonRejection>,
) -> Result<Json<KvBody>, ApiError> {
    let (writer, key) = write_target(&state, &caller, from, "put_key", &uri);
    writer.check_role()?;
    let key = key.map_err(|e| writer.refuse(e))?;
    in_scope(&state, &key, false).map_err(|e| writer.refuse(e))?;
    let Json(body) = body.map_err(|rejection| {
        writer.refuse(ApiError::BadRequest(format!(
            "the body must be JSON {{\"value\" or \"value_base64\", \"expect_mod_revision\"}}: {}",
            rejection.body_text()
        )))
    })?;
    let value = bytes_of(body.value.as_ref(), body.value_base64.as_ref(), "value")
        .and_then(|v| v.ok_or_else(|| ApiError::BadRequest("give value or value_base64".to_owned())))
        .map_err(|e| writer.refuse(e))?;
    let expect = body
        .expect_mod_revision
        .filter(|e| *e >= 0)
        .ok_or_else(|| {
            ApiError::BadRequest(
                "expect_mod_revision is required: the mod_revision the change was made from, 0 to create the key"
                    .to_owned(),
            )
        })
        .map_err(|e| writer.refuse(e))?;
    let size = value.len();
    match state.actions.put_key(&key, value, expect).await {
        Ok(Swap::Done { revision, kv }) => {
            writer.audit_done(
                revision,
                format!("{size} byte(s) written at revision {revision} (expected mod_revision {expect})"),
            );
            Ok(Json(KvBody {
                revision,
                kv: Some(state.store.kv(&kv)),
                classification: None,
            }))
        }
        Ok(Swap::Conflict { current }) => Err(writer.conflict(expect, current.as_ref())),
        Err(error) => Err(writer.fail(error.into())),
    }
}

/// `DELETE /api/v1/kv/{key}?expect_mod_revision=N`: a compare-and-delete.
#[utoipa::path(
    delete,
    path = "/kv/{key}",
    operation_id = "delete_key",
    tag = "configuration",
    params(("key" = String, Path, description = "The key's id, percent-encoded: the key, or base64: and its bytes in base64"), ("expect_mod_revision" = i64, Query, minimum = 0, description = "The mod_revision being deleted")),
    responses(
        (status = 200, description = "Deleted", body = KvDeletedBody),
        (status = 404, description = "not_found: no such key", body = app::model::ErrorBody),
        (status = 409, description = "conflict: the key is no longer at `expect_mod_revision`; `current` is the key now", body = app::model::KvConflictBody),
        Failures,
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<KvDeletedBody>, ApiError> {
    let (writer, key) = write_target(&state, &caller, from, "delete_key", &uri);
    writer.check_role()?;
    let key = key.map_err(|e| writer.refuse(e))?;
    in_scope(&state, &key, false).map_err(|e| writer.refuse(e))?;
    let expect = number(&query, "expect_mod_revision", 0)
        .and_then(|e| {
            e.ok_or_else(|| {
                ApiError::BadRequest("expect_mod_revision=N is required: the mod_revision being deleted".to_owned())
            })
        })
        .map_err(|e| writer.refuse(e))?;
    match state.actions.delete_key(&key, expect).await {
        Ok(Removal::Done { revision }) => {
            writer.audit_done(
                revision,
                format!("deleted at revision {revision} (expected mod_revision {expect})"),
            );
            Ok(Json(KvDeletedBody { revision }))
        }
        Ok(Removal::Absent) => Err(writer.fail(ApiError::NotFound(format!("no key {:?}", key_id(&key))))),
        Ok(Removal::Conflict { current }) => Err(writer.conflict(expect, Some(&current))),
        Err(error) => Err(writer.fail(error.into())),
    }
}

/// `PUT` of a key under `--read-only`: refused and audited.
#[utoipa::path(
    put,
    path = "/kv/{key}",
    operation_id = "put_key",
    tag = "configuration",
    params(("key" = String, Path, description = "The key's id, percent-encoded: the key, or base64: and its bytes in base64")),
    responses(Failures)
)]
pub async fn read_only_put(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> ApiError {
    read_only(&state, &caller, from, "put_key", &uri)
}

/// `DELETE` of a key under `--read-only`: refused and audited.
#[utoipa::path(
    delete,
    path = "/kv/{key}",
    operation_id = "delete_key",
    tag = "configuration",
    params(("key" = String, Path, description = "The key's id, percent-encoded: the key, or base64: and its bytes in base64")),
    responses(Failures)
)]
pub async fn read_only_delete(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> ApiError {
    read_only(&state, &caller, from, "delete_key", &uri)
}

/// A write refused under `--read-only`, audited.
fn read_only(state: &AppState, caller: &Caller, from: std::net::IpAddr, action: &'static str, uri: &Uri) -> ApiError {
    let (writer, _) = write_target(state, caller, from, action, uri);
    writer.refuse(ApiError::Forbidden(super::error::READ_ONLY.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_paths() {
        let key = |path: &str, from_end: usize| key_in_path(&path.parse::<Uri>().ok().unwrap_or_default(), from_end);
        assert_eq!(key("/kv/%2Fconfig%2Fa", 0).ok(), Some(b"/config/a".to_vec()));
        assert_eq!(key("/kv/%2Fconfig%2Fa/history", 1).ok(), Some(b"/config/a".to_vec()));
        assert_eq!(key("/kv/a+b", 0).ok(), Some(b"a+b".to_vec()));
        assert_eq!(key("/kv/%FF%00", 0).ok(), Some(vec![0xff, 0]));
        assert_eq!(key("/kv/base64:%2FwA%3D", 0).ok(), Some(vec![0xff, 0]));
        // A text key beginning with `base64:` is named by its base64 id;
        // the base64 of a key that is its own id names nothing.
        assert_eq!(
            key("/kv/base64:YmFzZTY0OllRPT0%3D", 0).ok(),
            Some(b"base64:YQ==".to_vec())
        );
        assert!(key("/kv/base64:YQ==", 0).is_err());
        assert!(key("/kv/base64:not%20base64", 0).is_err());
        assert!(key("/kv/%zz", 0).is_err());
        assert!(key("/kv/", 0).is_err());
    }
}
