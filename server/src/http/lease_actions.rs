//! The two destructive actions on leases: revoking a lease
//! (`DELETE /api/v1/leases/{id}`) and breaking a lock
//! (`POST /api/v1/locks/{name}/break`, revoking its holder's lease).
//!
//! Each acts only on what the operator confirmed: a revoke carrying the
//! preview's key set (or `?expect_keys=N`) is refused with 409 `changed` and
//! the preview as it is now when the lease's keys differ; a break names the
//! holder it was confirmed against and is refused with 409 `holder_changed`
//! and the holder now when another key holds the lock. Both ask etcd, not
//! the model, whether that still holds: the model may be a moment behind.
//! Neither deletes a key outside `--prefix` (403 `out_of_scope`). Operator
//! only, refused under `--read-only`, every attempt audited.
//!
//! About 400 lines: the two routes share every step (role, scope, the keys
//! expected, the audit of each attempt), kept here in one [`LeaseAction`].

use std::time::Duration;

use app::model::{
    BreakLockRequest, LeaseDetailBody, LeaseId, LockBrokenBody, Revision, RevokeRequest, RevokedBody, Role,
};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::Deserialize;

use super::audit::Entry;
use super::client::Client;
use super::error::{ApiError, READ_ONLY};
use super::openapi::Failures;
use super::AppState;
use crate::auth::Caller;
use crate::etcd::{ActionError, LeaseKeys, Release};
use crate::registry::key_id;

/// How long a refusal waits for the model to reach the revision etcd
/// answered at, so the preview it sends back is the one that refused.
const CATCH_UP: Duration = Duration::from_secs(2);

impl From<ActionError> for ApiError {
    fn from(error: ActionError) -> Self {
        match error {
            ActionError::NotFound => ApiError::NotFound("etcd does not know this lease".to_owned()),
            ActionError::Unavailable(why) => ApiError::EtcdUnavailable(why),
        }
    }
}

fn parse_lease(text: &str) -> Result<LeaseId, ApiError> {
    text.parse()
        .map_err(|error| ApiError::BadRequest(format!("lease id {text:?}: {error}")))
}

/// One action's audit trail: who asks, from where, about which lease.
struct LeaseAction<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    from: std::net::IpAddr,
    action: &'static str,
    lease: String,
    /// The lock a break is about.
    lock: Option<String>,
    held: Option<LeaseDetailBody>,
}

impl LeaseAction<'_> {
    fn audit(&self, result: &'static str, detail: String) {
        self.audit_entry(Entry::new(
            self.action,
            self.caller.who(),
            Some(self.from),
            result,
            detail,
        ));
    }

    /// The action done, at etcd's `revision`.
    fn audit_done(&self, revision: Revision, detail: String) {
        self.audit_entry(
            Entry::new(self.action, self.caller.who(), Some(self.from), "ok", detail).with_revision(revision),
        );
    }

    fn audit_entry(&self, mut entry: Entry) {
        if !self.lease.is_empty() {
            entry = entry.with_lease(self.lease.clone(), self.held.as_ref());
        }
        if let Some(lock) = &self.lock {
            entry = entry.with_key(lock.clone());
        }
        self.state.audit.record(&entry);
    }

    fn refuse(&self, error: ApiError) -> ApiError {
        self.audit("refused", error.to_string());
        error
    }

    fn fail(&self, error: ApiError) -> ApiError {
        self.audit("failed", error.to_string());
        error
    }

    fn check_role(&self, what: &str) -> Result<(), ApiError> {
        if self.caller.role == Role::Operator {
            return Ok(());
        }
        let who = self.caller.user.as_deref().unwrap_or("this caller");
        Err(self.refuse(ApiError::Forbidden(format!(
            "{who} is a viewer: only an operator may {what}"
        ))))
    }

    /// The keys etcd has on `lease`, refused when any is outside `--prefix`
    /// or when they are not the `expected` ones (ids, or a number).
    async fn check_keys(&self, lease: i64, expected: &Expected) -> Result<LeaseKeys, ApiError> {
        let keys = self
            .state
            .actions
            .lease_keys(lease)
            .await
            .map_err(|e| self.fail(e.into()))?;
        if let Some(outside) = keys.keys.iter().find(|k| !self.state.config.in_scope(k)) {
            return Err(self.refuse(ApiError::OutOfScope(format!(
                "the lease also holds {:?}, outside what this Leasehold watches (--prefix {}): revoking it would delete that key too",
                super::audit::clip(&key_id(outside)),
                self.state.config.prefixes.join(", --prefix ")
            ))));
        }
        let mut now: Vec<String> = keys.keys.iter().map(|k| key_id(k)).collect();
        now.sort();
        let changed = match expected {
            Expected::Nothing => None,
            Expected::Count(n) if *n == now.len() => None,
            Expected::Count(n) => Some(format!("it holds {} key(s) now, not the {n} shown", now.len())),
            Expected::Keys(ids) if *ids == now => None,
            Expected::Keys(ids) => Some(describe_change(ids, &now)),
        };
        if let Some(change) = changed {
            let current = self.preview_at(lease, keys.revision).await;
            let message = format!("the lease changed since the preview: {change}; review it again");
            return Err(self.refuse(ApiError::LeaseChanged {
                message,
                current: Box::new(current),
            }));
        }
        Ok(keys)
    }

    /// The preview of `lease` once the model has reached `revision` (or
    /// after [`CATCH_UP`], marked stale then).
    async fn preview_at(&self, lease: i64, revision: Revision) -> LeaseDetailBody {
        let caught_up = self.state.store.reach(revision, CATCH_UP).await;
        let mut body = self.state.store.lease_detail(lease).unwrap_or_else(|| {
            let entity = app::model::Lease {
                id: LeaseId(lease),
                ttl: None,
                granted_ttl: None,
                keys: 0,
                sampled_at: None,
                services: Vec::new(),
            };
            LeaseDetailBody::holding_nothing(self.state.store.revision(), entity, false)
        });
        body.stale |= !caught_up;
        body
    }

    /// Revokes the lease; `released_at` is when a break deleted the
    /// holder's key already (a failure says the lock is released).
    async fn revoke(&self, lease: i64, keys: &LeaseKeys, released_at: Option<Revision>) -> Result<Revision, ApiError> {
        self.state.revocations.note(lease);
        match self.state.actions.revoke_lease(lease).await {
            Ok(revoked) => Ok(revoked.revision),
            // Gone between the check and the revoke (it expired): its keys
            // are gone as well.
            Err(ActionError::NotFound) if released_at.is_some() || keys.keys.is_empty() => Ok(keys.revision),
            Err(error) => {
                let error = match (ApiError::from(error), released_at) {
                    (ApiError::EtcdUnavailable(why), Some(at)) => ApiError::EtcdUnavailable(format!(
                        "the holder's key was deleted at revision {at} (the lock is released), but revoking its lease failed: {why}"
                    )),
                    (error, _) => error,
                };
                Err(self.fail(error))
            }
        }
    }
}

/// What a request confirmed the lease's keys to be.
enum Expected {
    Nothing,
    Count(usize),
    /// Sorted key ids.
    Keys(Vec<String>),
}

impl Expected {
    fn of(keys: Option<Vec<String>>, count: Option<usize>) -> Expected {
        match (keys, count) {
            (Some(mut ids), _) => {
                ids.sort();
                ids.dedup();
                Expected::Keys(ids)
            }
            (None, Some(n)) => Expected::Count(n),
            (None, None) => Expected::Nothing,
        }
    }
}

/// In words, how the keys `now` differ from those `shown` (both sorted).
fn describe_change(shown: &[String], now: &[String]) -> String {
    let gone: Vec<&String> = shown.iter().filter(|k| now.binary_search(k).is_err()).collect();
    let new: Vec<&String> = now.iter().filter(|k| shown.binary_search(k).is_err()).collect();
    let list = |keys: &[&String]| {
        let mut text = keys
            .iter()
            .take(3)
            .map(|k| format!("{:?}", super::audit::clip(k)))
            .collect::<Vec<_>>()
            .join(", ");
        if keys.len() > 3 {
            text.push_str(&format!(" and {} more", keys.len() - 3));
        }
        text
    };
    match (gone.is_empty(), new.is_empty()) {
        (false, true) => format!("{} key(s) left it ({})", gone.len(), list(&gone)),
        (true, false) => format!("{} key(s) joined it ({})", new.len(), list(&new)),
        _ => format!(
            "{} key(s) left it ({}) and {} joined it ({})",
            gone.len(),
            list(&gone),
            new.len(),
            list(&new)
        ),
    }
}

/// A JSON body that may be absent.
fn optional_body<T: serde::de::DeserializeOwned>(body: &Bytes, shape: &str) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    // `null` is no body too; anything else must be an object (serde reads a
    // struct from an array as well: `[]` would be a request with no checks).
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') && first != Some(&b'n') {
        return Err(ApiError::BadRequest(format!(
            "the body must be JSON {shape}: not an object"
        )));
    }
    serde_json::from_slice::<Option<T>>(body)
        .map_err(|e| ApiError::BadRequest(format!("the body must be JSON {shape}: {e}")))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevokeQuery {
    /// Revoke only if the lease holds this many keys now.
    #[param(value_type = Option<i64>, minimum = 0)]
    expect_keys: Option<String>,
}

/// A count as the query gives it: a whole number from 0 to `i64::MAX`, the
/// range the document states (an int64 at least 0).
fn whole_count(text: &str) -> Option<usize> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .and_then(|n| usize::try_from(n).ok())
}

/// `DELETE /api/v1/leases/{id}[?expect_keys=N]`, optionally with the body
/// `{"expect_keys":[ids]}`: revokes the lease through etcd. The keys leave
/// the model when the watch reports their deletion.
#[utoipa::path(
    delete,
    path = "/leases/{id}",
    operation_id = "revoke_lease",
    tag = "actions",
    params(("id" = app::model::LeaseId, Path, description = "The lease id in hexadecimal"), RevokeQuery),
    request_body(content = Option<app::model::RevokeRequest>, description = "The key ids the preview showed (optional)"),
    responses(
        (status = 200, description = "Revoked: its keys are deleted", body = app::model::RevokedBody),
        (status = 404, description = "not_found: etcd has no such lease", body = app::model::ErrorBody),
        (status = 409, description = "changed: the lease's keys are not those expected; `current` is the preview now", body = app::model::LeaseChangedBody),
        Failures,
    )
)]
pub async fn revoke_lease(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<RevokeQuery>,
    body: Bytes,
) -> Result<Json<RevokedBody>, ApiError> {
    let mut action = LeaseAction {
        state: &state,
        caller: &caller,
        from,
        action: "revoke_lease",
        lease: id.clone(),
        lock: None,
        held: None,
    };
    action.check_role("revoke leases")?;
    let lease = parse_lease(&id).map_err(|e| action.refuse(e))?;
    action.held = state.store.lease_detail(lease.0);
    let count = match query.expect_keys.as_deref() {
        None => None,
        Some(text) => Some(whole_count(text).ok_or_else(|| {
            action.refuse(ApiError::BadRequest(format!(
                "expect_keys={:?} is not a whole number >= 0",
                super::audit::clip(text)
            )))
        })?),
    };
    let request: Option<RevokeRequest> =
        optional_body(&body, r#"{"expect_keys":["key id", …]}"#).map_err(|e| action.refuse(e))?;
    let expected = Expected::of(request.and_then(|r| r.expect_keys), count);
    let keys = action.check_keys(lease.0, &expected).await?;
    let revision = action.revoke(lease.0, &keys, None).await?;
    let deleted_keys = keys.keys.len();
    action.audit_done(
        revision,
        format!("{deleted_keys} key(s) deleted at revision {revision}"),
    );
    Ok(Json(RevokedBody {
        revision,
        revoked: lease,
        deleted_keys,
    }))
}

/// `POST /api/v1/locks/{name}/break` with `{"expect_holder":{"key","lease"}}`:
/// deletes the holder's key in a transaction that compares its create
/// revision and lease (so only while it still holds the lock), then revokes
/// its lease. 409 `holder_changed` with the holder now otherwise.
#[utoipa::path(
    post,
    path = "/locks/{name}/break",
    operation_id = "break_lock",
    tag = "actions",
    params(("name" = String, Path, description = "The lock's name")),
    request_body(content = app::model::BreakLockRequest, description = "The holder the operator confirmed against"),
    responses(
        (status = 200, description = "The holder's key deleted and its lease revoked", body = app::model::LockBrokenBody),
        (status = 404, description = "not_found: no such lock", body = app::model::ErrorBody),
        (status = 409, description = "holder_changed: another holder (or none) holds the lock; `current` is the holder now", body = app::model::HolderChangedBody),
        Failures,
    )
)]
pub async fn break_lock(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<LockBrokenBody>, ApiError> {
    let mut action = LeaseAction {
        state: &state,
        caller: &caller,
        from,
        action: "break_lock",
        lease: String::new(),
        lock: Some(name.clone()),
        held: None,
    };
    action.check_role("break locks")?;
    let shape = r#"{"expect_holder":{"key","lease"}, "expect_keys"?}"#;
    let request: BreakLockRequest = optional_body(&body, shape)
        .and_then(|r| r.ok_or_else(|| ApiError::BadRequest(format!("the body must be JSON {shape}"))))
        .map_err(|e| action.refuse(e))?;
    let expect = request.expect_holder;
    action.lease = expect.lease.to_string();
    action.held = state.store.lease_detail(expect.lease.0);
    // The model holds only keys within `--prefix`: a holder it knows is in
    // scope, and the lease's other keys are checked with etcd below.
    let lock = state.store.lock(&name);
    let holder = lock.as_ref().and_then(|l| l.holder.clone());
    // The create revision of the holder confirmed against, from the model:
    // the transaction below checks it against etcd.
    let create_revision = match &holder {
        Some(h) if h.key == expect.key && h.lease == expect.lease => h.create_revision,
        _ => {
            return Err(action.refuse(holder_changed(&name, holder)));
        }
    };
    let expected = Expected::of(request.expect_keys, None);
    let keys = action.check_keys(expect.lease.0, &expected).await?;
    let released_at = match state
        .actions
        .release_holder(expect.key.as_bytes(), create_revision, expect.lease.0)
        .await
    {
        Ok(Release::Done(revision)) => revision,
        Ok(Release::Changed(revision)) => {
            state.store.reach(revision, CATCH_UP).await;
            let holder = state.store.lock(&name).and_then(|l| l.holder);
            return Err(action.refuse(holder_changed(&name, holder)));
        }
        Err(error) => return Err(action.fail(error.into())),
    };
    let revision = action.revoke(expect.lease.0, &keys, Some(released_at)).await?;
    let deleted_keys = keys.keys.len();
    action.audit_done(
        revision,
        format!("the holder's key deleted at revision {released_at}; its lease revoked at revision {revision}, {deleted_keys} key(s) deleted in all"),
    );
    Ok(Json(LockBrokenBody {
        lock: name,
        released_at,
        revision,
        revoked: expect.lease,
        deleted_keys,
    }))
}

/// The 409 of a break confirmed against a holder that no longer holds.
fn holder_changed(name: &str, holder: Option<app::model::Contender>) -> ApiError {
    let message = match &holder {
        Some(h) => format!(
            "the holder of {:?} changed to {} (lease {}): review before breaking it",
            super::audit::clip(name),
            super::audit::clip(&h.key),
            h.lease
        ),
        None => format!("nobody holds {:?} any more: nothing to break", super::audit::clip(name)),
    };
    ApiError::HolderChanged {
        message,
        current: holder.map(Box::new),
    }
}

/// `DELETE /api/v1/leases/{id}` under `--read-only`: refused and audited.
#[utoipa::path(
    delete,
    path = "/leases/{id}",
    operation_id = "revoke_lease",
    tag = "actions",
    params(("id" = String, Path, description = "The lease id in hexadecimal")),
    responses(Failures)
)]
pub async fn read_only_revoke(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiError {
    let entry = Entry::new(
        "revoke_lease",
        caller.who(),
        Some(from),
        "refused",
        READ_ONLY.to_owned(),
    )
    .with_lease(id, None);
    state.audit.record(&entry);
    ApiError::Forbidden(READ_ONLY.to_owned())
}

/// `POST /api/v1/locks/{name}/break` under `--read-only`: refused and audited.
#[utoipa::path(
    post,
    path = "/locks/{name}/break",
    operation_id = "break_lock",
    tag = "actions",
    params(("name" = String, Path, description = "The lock's name")),
    responses(Failures)
)]
pub async fn read_only_break(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiError {
    let entry = Entry::new("break_lock", caller.who(), Some(from), "refused", READ_ONLY.to_owned()).with_key(name);
    state.audit.record(&entry);
    ApiError::Forbidden(READ_ONLY.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_expected_count_is_an_int64_at_least_zero() {
        assert_eq!(super::whole_count("0"), Some(0));
        assert_eq!(super::whole_count("12"), Some(12));
        assert_eq!(super::whole_count("-1"), None);
        assert_eq!(super::whole_count("9223372036854775808"), None, "over i64::MAX");
        assert_eq!(super::whole_count("1.5"), None);
    }
}
