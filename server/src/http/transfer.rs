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
use std::io::{Seek, SeekFrom};

use app::model::{CopyBody, CopyRequest, ExportDocument, ImportBody, ImportDocument, ImportLeases, Revision, Role};
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use tokio::io::AsyncWriteExt;

use super::audit::Entry;
use super::client::Client;
use super::error::{ApiError, READ_ONLY};
use super::kv_routes::{in_scope, with_horizon};
use super::openapi::Failures;
use super::AppState;
use crate::auth::Caller;
use crate::etcd::transfer::{applied_body, copy_detail, plan_body, CopySpec, Exporter, Source};
use crate::registry::key_id;

/// Largest import body, spooled to disk as it arrives (memory holds only
/// the document's keys). A larger document goes through `leasehold import`.
pub const MAX_IMPORT_BODY: u64 = 512 << 20;

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

/// `POST /api/v1/import?prefix=P&…`: the plan (`dry_run`, the default),
/// or the plan made again at `expect_revision` and applied. The body is
/// the document, spooled to a temporary file as it arrives and read from
/// there a key at a time.
#[utoipa::path(
    post,
    path = "/import",
    operation_id = "import_prefix",
    tag = "configuration",
    params(
        ("prefix" = String, Query, description = "Required: the target prefix"),
        ("from" = Option<String>, Query, description = "The document's prefix the keys are taken from (the export's prefix; for etcdctl output the keys' common folder)"),
        ("dry_run" = Option<bool>, Query, description = "true (the default): the plan only; false: apply it"),
        ("delete_missing" = Option<bool>, Query, description = "Delete the keys under prefix the document does not hold (false: kept)"),
        ("leases" = Option<String>, Query, description = "none (the default): written without a lease; recreate: on new leases with the recorded TTLs"),
        ("expect_revision" = Option<i64>, Query, minimum = 1, description = "Required to apply: the dry run's revision"),
    ),
    request_body(content = ImportDocument, description = "An export document, or the output of etcdctl get --prefix -w json"),
    responses(
        (status = 200, description = "The plan, and what was applied (conflicts are keys left as they are now)", body = ImportBody),
        (status = 410, description = "compacted: `expect_revision` is older than etcd's compaction: dry-run again", body = app::model::ErrorBody),
        (status = 413, description = "too_large: a body over 512 MiB", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn import(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<HashMap<String, String>>,
    body: Body,
) -> Result<Json<ImportBody>, ApiError> {
    let mut attempt = Attempt {
        state: &state,
        caller: &caller,
        from,
        target: None,
        audited: true,
        action: "import",
    };
    let request = ImportQuery::parse(&query).map_err(|e| attempt.refuse(e))?;
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
    let spooled = spool(body).await.map_err(|e| attempt.refuse(e))?;
    let document_from = request.from.clone();
    let read = tokio::task::spawn_blocking(move || {
        let mut spooled = spooled;
        spooled
            .seek(SeekFrom::Start(0))
            .map_err(|e| format!("the spooled body: {e}"))?;
        Source::read_from(spooled, document_from.as_deref())
    })
    .await
    .map_err(|e| attempt.fail(ApiError::Internal(format!("reading the document: {e}"))))?;
    let source = read.map_err(|why| attempt.refuse(ApiError::BadRequest(format!("the document: {why}"))))?;
    if request.recreate && source.etcdctl {
        return Err(attempt.refuse(ApiError::BadRequest(
            "leases recreate needs the leases' TTLs, which etcdctl's output does not record: import an export \
             document, or with leases none"
                .to_owned(),
        )));
    }
    let plan = with_horizon(
        &state,
        state
            .actions
            .import_plan(&source, target, request.expect, request.recreate)
            .await,
    )
    .await
    .map_err(|e| attempt.fail(e))?;
    let planned = plan_body(target, &source, &plan, request.delete_missing);
    if request.dry_run {
        return Ok(Json(planned));
    }
    let applied = state.actions.import_apply(&source, plan, request.delete_missing).await;
    let answer = applied_body(planned, &source, &applied);
    let detail = format!(
        "{} key(s) ({} byte(s) of values) of the document from {:?} at revision {}: {} written, {} deleted, {} \
         conflict(s), {} unchanged, {} transaction(s){}",
        source.len(),
        source.values.bytes(),
        answer.from,
        request.expect,
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

/// The query of `POST /api/v1/import`.
struct ImportQuery {
    prefix: String,
    from: Option<String>,
    dry_run: bool,
    delete_missing: bool,
    recreate: bool,
    /// The revision the plan is made at: 0 for a dry run (now).
    expect: Revision,
}

impl ImportQuery {
    fn parse(query: &HashMap<String, String>) -> Result<ImportQuery, ApiError> {
        const KNOWN: [&str; 6] = [
            "prefix",
            "from",
            "dry_run",
            "delete_missing",
            "leases",
            "expect_revision",
        ];
        if let Some(unknown) = query.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(ApiError::BadRequest(format!(
                "{unknown:?} is not a parameter of an import: give {}",
                KNOWN.join(", ")
            )));
        }
        let flag = |name: &str, default: bool| match query.get(name).map(String::as_str) {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ApiError::BadRequest(format!("{name}={other:?}: give true or false"))),
        };
        let prefix = query
            .get("prefix")
            .cloned()
            .ok_or_else(|| ApiError::BadRequest("prefix is required: the prefix the keys go under".to_owned()))?;
        let dry_run = flag("dry_run", true)?;
        let delete_missing = flag("delete_missing", false)?;
        let recreate = match query.get("leases").map(String::as_str) {
            None | Some("none") => false,
            Some("recreate") => true,
            Some(other) => return Err(ApiError::BadRequest(format!("leases={other:?}: give none or recreate"))),
        };
        let expect_revision =
            match query.get("expect_revision") {
                None => None,
                Some(text) => Some(text.parse::<Revision>().ok().filter(|r| *r >= 1).ok_or_else(|| {
                    ApiError::BadRequest(format!("expect_revision={text:?} is not a whole number >= 1"))
                })?),
            };
        let expect = match (dry_run, expect_revision) {
            (true, _) => 0,
            (false, Some(revision)) => revision,
            (false, None) => {
                return Err(ApiError::BadRequest(
                    "expect_revision is required to apply: the revision of the dry run that was confirmed".to_owned(),
                ))
            }
        };
        Ok(ImportQuery {
            prefix,
            from: query.get("from").cloned(),
            dry_run,
            delete_missing,
            recreate,
            expect,
        })
    }
}

/// The request's body in an unnamed temporary file, as it arrives: at
/// most [`MAX_IMPORT_BODY`] bytes (413 beyond).
async fn spool(body: Body) -> Result<std::fs::File, ApiError> {
    let internal = |e: std::io::Error| ApiError::Internal(format!("the import's temporary file: {e}"));
    let file = tempfile::tempfile().map_err(internal)?;
    let mut out = tokio::fs::File::from_std(file.try_clone().map_err(internal)?);
    let mut stream = body.into_data_stream();
    let mut total = 0u64;
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("the body was cut short: {e}")))?;
        total += chunk.len() as u64;
        if total > MAX_IMPORT_BODY {
            return Err(ApiError::TooLarge(format!(
                "the document is over {} MiB: import it with `leasehold import`, which reads a file of any size",
                MAX_IMPORT_BODY >> 20
            )));
        }
        out.write_all(&chunk).await.map_err(internal)?;
    }
    out.flush().await.map_err(internal)?;
    Ok(file)
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
    in_scope(&state, request.from.as_bytes(), true).map_err(|e| attempt.refuse(e))?;
    in_scope(&state, request.to.as_bytes(), true).map_err(|e| attempt.refuse(e))?;
    let spec = CopySpec {
        from: request.from.into_bytes(),
        to: request.to.into_bytes(),
        rev: request.rev,
        rename: request.rename,
        dry_run: request.dry_run,
        delete_missing: request.delete_missing,
        recreate: request.leases == ImportLeases::Recreate,
        expect_revision: request.expect_revision,
    };
    if let Some(why) = spec.refusal() {
        return Err(attempt.refuse(ApiError::BadRequest(why)));
    }
    let answer = with_horizon(&state, state.actions.copy_prefix(&spec).await)
        .await
        .map_err(|e| attempt.fail(e))?;
    if spec.dry_run {
        return Ok(Json(answer));
    }
    let failed = answer.copy.interrupted.is_some() || answer.removal_interrupted.is_some();
    attempt.audit(if failed { "failed" } else { "ok" }, copy_detail(&spec, &answer));
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
