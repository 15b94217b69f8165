//! Export and import of a prefix (docs/api.md, "Export and import"):
//! `GET /api/v1/export` streams a document page by page at one revision;
//! `POST /api/v1/import` plans a document against the target prefix (the
//! dry run) and applies the plan confirmed by its revision, every key by
//! compare-and-swap. The etcd side is [`crate::etcd::transfer`], which the
//! command line shares.
//!
//! An export is a read: any caller, within `--prefix`. An import's dry run
//! changes nothing and is open to every caller too; applying needs the
//! operator role, is refused under `--read-only` (the route is then the
//! refusal, whoever asks), and is audited with its counts.

use std::collections::HashMap;

use app::model::{CopyBody, CopyRequest, ExportDocument, ImportBody, ImportLeases, ImportRequest, Revision, Role};
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::audit::Entry;
use super::client::Client;
use super::error::{ApiError, READ_ONLY};
use super::kv_routes::{in_scope, with_horizon};
use super::openapi::Failures;
use super::AppState;
use crate::auth::Caller;
use crate::etcd::transfer::{applied_body, plan_body, Exporter, Source};
use crate::registry::key_id;

/// Largest import body: a document of many keys, or of a few values of
/// etcd's 1.5 MiB in base64.
pub const MAX_IMPORT_BODY: usize = 64 << 20;

/// `GET /api/v1/export?prefix=P&rev=R&leases=keep|drop`.
#[utoipa::path(
    get,
    path = "/export",
    operation_id = "export_prefix",
    tag = "configuration",
    params(
        ("prefix" = Option<String>, Query, description = "The keys under this prefix (all)"),
        ("rev" = Option<i64>, Query, minimum = 1, description = "As the prefix was at this revision (now)"),
        ("leases" = Option<String>, Query, description = "keep (the default): each key's lease, and the leases' TTLs; drop: no lease at all"),
    ),
    responses(
        (status = 200, description = "The document, streamed as an attachment", body = ExportDocument),
        (status = 410, description = "compacted: `rev` is older than etcd's compaction", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn export(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let prefix = query.get("prefix").map(String::as_str).unwrap_or_default();
    in_scope(&state, prefix.as_bytes(), true)?;
    let revision = match query.get("rev") {
        None => 0,
        Some(text) => text
            .parse::<Revision>()
            .ok()
            .filter(|r| *r >= 1)
            .ok_or_else(|| ApiError::BadRequest(format!("rev={text:?} is not a whole number >= 1")))?,
    };
    let keep_leases = match query.get("leases").map(String::as_str) {
        None | Some("keep") => true,
        Some("drop") => false,
        Some(other) => return Err(ApiError::BadRequest(format!("leases={other:?}: give keep or drop"))),
    };
    let exporter = with_horizon(
        &state,
        Exporter::start(state.actions.clone(), prefix, revision, keep_leases).await,
    )
    .await?;
    let filename = format!("leasehold-export-r{}.json", exporter.revision());
    let at = exporter.revision();
    // One chunk per page; an error ends the body early, so the document
    // does not parse rather than look whole.
    let chunks = futures::stream::unfold(Some(exporter), |exporter| async move {
        let mut exporter = exporter?;
        match exporter.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(Bytes::from(chunk)), Some(exporter))),
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(%error, "an export stopped before its end");
                Some((Err(std::io::Error::other(error.to_string())), None))
            }
        }
    });
    let mut response = Body::from_stream(futures::StreamExt::fuse(chunks)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert("x-leasehold-revision", HeaderValue::from(at));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Who asks for an import, for the audit trail.
struct Attempt<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    from: std::net::IpAddr,
    target: Option<String>,
    /// A dry run's refusals are answered, not audited: it changes nothing.
    audited: bool,
    action: &'static str,
}

impl Attempt<'_> {
    fn audit(&self, result: &'static str, detail: String) {
        let mut entry = Entry::new(self.action, self.caller.who(), Some(self.from), result, detail);
        if let Some(target) = &self.target {
            entry = entry.with_key(target.clone());
        }
        self.state.audit.record(&entry);
    }

    fn refuse(&self, error: ApiError) -> ApiError {
        if self.audited {
            self.audit("refused", error.to_string());
        }
        error
    }

    fn fail(&self, error: ApiError) -> ApiError {
        if self.audited {
            self.audit("failed", error.to_string());
        }
        error
    }
}

/// `POST /api/v1/import`: the plan (`dry_run`, the default), or the plan
/// made again at `expect_revision` and applied.
#[utoipa::path(
    post,
    path = "/import",
    operation_id = "import_prefix",
    tag = "configuration",
    request_body(content = ImportRequest, description = "The target prefix, the document (an export, or etcdctl's `get --prefix -w json`), and dry_run, or expect_revision to apply"),
    responses(
        (status = 200, description = "The plan, and what was applied (conflicts are keys left as they are now)", body = ImportBody),
        (status = 410, description = "compacted: `expect_revision` is older than etcd's compaction: dry-run again", body = app::model::ErrorBody),
        (status = 413, description = "too_large: a body over 64 MiB", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn import(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Json<ImportBody>, ApiError> {
    let mut attempt = Attempt {
        state: &state,
        caller: &caller,
        from,
        target: None,
        audited: true,
        action: "import",
    };
    let request: ImportRequest = super::ops::body(
        &body,
        r#"{"prefix", "document", "from"?, "dry_run"?, "delete_missing"?, "leases"?, "expect_revision"?}"#,
    )
    .map_err(|e| attempt.refuse(e))?;
    drop(body);
    attempt.target = Some(key_id(request.prefix.as_bytes()));
    attempt.audited = !request.dry_run;
    if !request.dry_run && caller.role != Role::Operator {
        let who = caller.user.as_deref().unwrap_or("this caller");
        return Err(attempt.refuse(ApiError::Forbidden(format!(
            "{who} is a viewer: only an operator may import keys (a dry run is open to every caller)"
        ))));
    }
    let target = request.prefix.as_bytes();
    in_scope(&state, target, true).map_err(|e| attempt.refuse(e))?;
    let recreate = request.leases == ImportLeases::Recreate;
    let expect = match (request.dry_run, request.expect_revision) {
        (true, _) => 0,
        (false, Some(revision)) if revision >= 1 => revision,
        (false, _) => {
            return Err(attempt.refuse(ApiError::BadRequest(
                "expect_revision is required to apply: the revision of the dry run that was confirmed".to_owned(),
            )))
        }
    };
    let source = Source::read(request.document, request.from.as_deref())
        .map_err(|why| attempt.refuse(ApiError::BadRequest(format!("the document: {why}"))))?;
    if recreate && source.etcdctl {
        return Err(attempt.refuse(ApiError::BadRequest(
            "leases recreate needs the leases' TTLs, which etcdctl's output does not record: import an export \
             document, or with leases none"
                .to_owned(),
        )));
    }
    let plan = with_horizon(
        &state,
        state.actions.import_plan(&source, target, expect, recreate).await,
    )
    .await
    .map_err(|e| attempt.fail(e))?;
    let planned = plan_body(target, &source, &plan, request.delete_missing);
    if request.dry_run {
        return Ok(Json(planned));
    }
    let applied = state.actions.import_apply(&source, plan, request.delete_missing).await;
    let answer = applied_body(planned, &applied);
    let detail = format!(
        "{} key(s) of the document from {:?} at revision {expect}: {} written, {} deleted, {} conflict(s), {} \
         unchanged, {} transaction(s){}",
        source.len(),
        answer.from,
        answer.written,
        answer.deleted,
        answer.conflicts.len(),
        answer.unchanged,
        answer.transactions,
        match &answer.interrupted {
            Some(why) => format!("; interrupted with {} key(s) left: {why}", answer.remaining),
            None => String::new(),
        }
    );
    attempt.audit(if answer.interrupted.is_some() { "failed" } else { "ok" }, detail);
    Ok(Json(answer))
}

/// `POST /api/v1/import` under `--read-only`: refused and audited.
#[utoipa::path(
    post,
    path = "/import",
    operation_id = "import_prefix",
    tag = "configuration",
    responses(Failures)
)]
pub async fn read_only_import(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
) -> ApiError {
    let entry = Entry::new("import", caller.who(), Some(from), "refused", READ_ONLY.to_owned());
    state.audit.record(&entry);
    ApiError::Forbidden(READ_ONLY.to_owned())
}

/// `POST /api/v1/copy`: the keys under `from` imported under `to` in one
/// flow (read from etcd at one revision, planned, applied by
/// compare-and-swap), and with `rename`, each key whose copy was written
/// then deleted from `from` while it is still as the dry run saw it.
#[utoipa::path(
    post,
    path = "/copy",
    operation_id = "copy_prefix",
    tag = "configuration",
    request_body(content = CopyRequest, description = "from, to, rename, and dry_run, or expect_revision to apply"),
    responses(
        (status = 200, description = "The plan, and what was copied and removed", body = CopyBody),
        (status = 410, description = "compacted: `rev` or `expect_revision` is older than etcd's compaction", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn copy(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Json<CopyBody>, ApiError> {
    let mut attempt = Attempt {
        state: &state,
        caller: &caller,
        from,
        target: None,
        audited: true,
        action: "copy",
    };
    let request: CopyRequest = super::ops::body(
        &body,
        r#"{"from", "to", "rev"?, "rename"?, "dry_run"?, "delete_missing"?, "leases"?, "expect_revision"?}"#,
    )
    .map_err(|e| attempt.refuse(e))?;
    if request.rename {
        attempt.action = "rename";
    }
    attempt.target = Some(key_id(request.to.as_bytes()));
    attempt.audited = !request.dry_run;
    if !request.dry_run && caller.role != Role::Operator {
        let who = caller.user.as_deref().unwrap_or("this caller");
        return Err(attempt.refuse(ApiError::Forbidden(format!(
            "{who} is a viewer: only an operator may copy or rename keys (a dry run is open to every caller)"
        ))));
    }
    let (source_prefix, target) = (request.from.as_bytes(), request.to.as_bytes());
    in_scope(&state, source_prefix, true).map_err(|e| attempt.refuse(e))?;
    in_scope(&state, target, true).map_err(|e| attempt.refuse(e))?;
    if source_prefix.starts_with(target) || target.starts_with(source_prefix) {
        return Err(attempt.refuse(ApiError::BadRequest(format!(
            "{:?} and {:?} overlap: copy between prefixes neither of which holds the other",
            request.from, request.to
        ))));
    }
    if request.rename && request.rev.is_some() {
        return Err(attempt.refuse(ApiError::BadRequest(
            "a rename moves the keys as they are: give no rev".to_owned(),
        )));
    }
    if request.rev.is_some_and(|rev| rev < 1) {
        return Err(attempt.refuse(ApiError::BadRequest("rev must be >= 1".to_owned())));
    }
    let expect = match (request.dry_run, request.expect_revision) {
        (true, _) => 0,
        (false, Some(revision)) if revision >= 1 => revision,
        (false, _) => {
            return Err(attempt.refuse(ApiError::BadRequest(
                "expect_revision is required to apply: the revision of the dry run that was confirmed".to_owned(),
            )))
        }
    };
    let recreate = request.leases == ImportLeases::Recreate;
    // The source at `rev`, else at the plan's revision: the dry run's
    // first read fixes it, an apply reads at the one confirmed.
    let (source, seen, source_revision) = with_horizon(
        &state,
        state
            .actions
            .source_at(source_prefix, request.rev.unwrap_or(expect))
            .await,
    )
    .await
    .map_err(|e| attempt.fail(e))?;
    let plan_at = match (request.dry_run, request.rev) {
        (false, _) => expect,
        (true, Some(_)) => 0,
        (true, None) => source_revision,
    };
    let plan = with_horizon(
        &state,
        state.actions.import_plan(&source, target, plan_at, recreate).await,
    )
    .await
    .map_err(|e| attempt.fail(e))?;
    let planned = plan_body(target, &source, &plan, request.delete_missing);
    let mut answer = CopyBody {
        copy: planned,
        source_revision,
        source_keys: source.len() as u64,
        rename: request.rename,
        ..CopyBody::default()
    };
    if request.dry_run {
        return Ok(Json(answer));
    }
    let applied = state.actions.import_apply(&source, plan, request.delete_missing).await;
    let conflicting = crate::etcd::transfer::conflicting_keys(&applied);
    let cut_short = applied.interrupted.is_some();
    answer.copy = applied_body(std::mem::take(&mut answer.copy), &applied);
    if request.rename {
        // Only the keys whose copy is in place, each guarded by the
        // mod_revision it had when read.
        let (moved, kept): (Vec<_>, Vec<_>) = seen.into_iter().partition(|(key, _)| {
            let mut copied = target.to_vec();
            copied.extend_from_slice(key.get(source_prefix.len()..).unwrap_or_default());
            !cut_short && !conflicting.contains(&copied)
        });
        answer.not_moved = kept.len() as u64;
        if !moved.is_empty() {
            let removal = state.actions.delete_guarded(moved).await;
            answer.removed = removal.deleted;
            answer.removal_conflicts = crate::etcd::transfer::conflicts_of(&removal);
            answer.removal_interrupted = removal.interrupted;
        }
    }
    let detail = format!(
        "{} key(s) from {:?} at revision {source_revision} to {:?}: {} written, {} deleted, {} conflict(s){}{}",
        answer.source_keys,
        request.from,
        request.to,
        answer.copy.written,
        answer.copy.deleted,
        answer.copy.conflicts.len(),
        if request.rename {
            format!(
                "; {} removed from {:?}, {} kept (changed since), {} not moved",
                answer.removed,
                request.from,
                answer.removal_conflicts.len(),
                answer.not_moved
            )
        } else {
            String::new()
        },
        match (&answer.copy.interrupted, &answer.removal_interrupted) {
            (Some(why), _) | (None, Some(why)) => format!("; interrupted: {why}"),
            _ => String::new(),
        }
    );
    let failed = answer.copy.interrupted.is_some() || answer.removal_interrupted.is_some();
    attempt.audit(if failed { "failed" } else { "ok" }, detail);
    Ok(Json(answer))
}

/// `POST /api/v1/copy` under `--read-only`: refused and audited.
#[utoipa::path(
    post,
    path = "/copy",
    operation_id = "copy_prefix",
    tag = "configuration",
    responses(Failures)
)]
pub async fn read_only_copy(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
) -> ApiError {
    let entry = Entry::new("copy", caller.who(), Some(from), "refused", READ_ONLY.to_owned());
    state.audit.record(&entry);
    ApiError::Forbidden(READ_ONLY.to_owned())
}
