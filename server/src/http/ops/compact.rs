//! `POST /api/v1/ops/compact`: the revision chosen (by number or by time),
//! what the compaction drops, and the horizon read back.

use app::model::{CompactBody, CompactRequest, KeyLoss, Revision};
use axum::body::Bytes;
use axum::extract::State;
use axum::{Extension, Json};

use super::{body, unavailable, Attempt};
use crate::auth::Caller;
use crate::http::client::Client;
use crate::http::error::ApiError;
use crate::http::openapi::Failures;
use crate::http::AppState;
use crate::registry::key_id;

/// Keys a compaction's preview names, most versions first.
const KEYS_SHOWN: usize = 100;

/// `POST /api/v1/ops/compact`: compacts etcd's history at `revision`, or at
/// the newest revision current `keep_seconds` ago. The preview says what is
/// lost; the action is confirmed by the revision the preview chose.
#[utoipa::path(
    post,
    path = "/ops/compact",
    operation_id = "compact",
    tag = "operations",
    request_body(content = CompactRequest, description = "revision or keep_seconds, and dry_run for the preview"),
    responses(
        (status = 200, description = "The preview, or the compaction done (the horizon read back from etcd)", body = CompactBody),
        (status = 410, description = "compacted: etcd's history starts at or after that revision already", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn compact(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    request: Bytes,
) -> Result<Json<CompactBody>, ApiError> {
    let attempt = Attempt {
        state: &state,
        caller: &caller,
        from,
        action: "compact",
    };
    let request: CompactRequest = body(&request, r#"{"revision"|"keep_seconds", "dry_run"?}"#)?;
    if !request.dry_run {
        attempt.check_role("compact etcd's history")?;
    }
    if !state.config.prefixes.is_empty() {
        let error = ApiError::OutOfScope(format!(
            "a compaction drops the history of every key in etcd, not only under --prefix {}: run it where Leasehold watches the whole keyspace",
            state.config.prefixes.join(", --prefix ")
        ));
        return Err(if request.dry_run { error } else { attempt.refuse(error) });
    }
    let console = &state.ops.console;
    let current = console.revision().await.map_err(|e| unavailable(&e))?;
    let horizon = console.horizon().await.map_err(|e| unavailable(&e))?.unwrap_or(0);
    let (revision, chosen) = choose(&state, &request, current)?;
    if revision <= horizon {
        return Err(ApiError::Compacted(format!(
            "etcd's history starts at revision {horizon} already: nothing before {revision} is left to compact"
        )));
    }
    let loss = match console.history_loss(horizon, revision).await {
        Ok(loss) => loss,
        Err(crate::etcd::Error::Compacted(at)) => {
            return Err(ApiError::Compacted(format!(
                "etcd's history was compacted at revision {at} meanwhile: preview again"
            )))
        }
        Err(error) => return Err(unavailable(&error)),
    };
    let mut keys: Vec<KeyLoss> = loss
        .keys
        .iter()
        .map(|(key, (versions, _))| KeyLoss {
            key: key_id(key),
            versions_lost: *versions,
        })
        .collect();
    keys.sort_by(|a, b| b.versions_lost.cmp(&a.versions_lost).then_with(|| a.key.cmp(&b.key)));
    keys.truncate(KEYS_SHOWN);
    let mut answer = CompactBody {
        revision,
        chosen,
        current_revision: current,
        compact_revision: horizon,
        revisions_lost: revision - horizon.max(1),
        versions_lost: loss.versions,
        bytes_lost: loss.bytes,
        keys,
        keys_count: loss.keys.len() as u64,
        complete: loss.complete,
        applied: false,
    };
    if request.dry_run {
        return Ok(Json(answer));
    }
    console
        .compact(revision)
        .await
        .map_err(|e| attempt.fail(unavailable(&e)))?;
    // What etcd says its horizon is now, not what was asked. A read right
    // after the compaction's answer can still see the horizon before it
    // (seen once under the fuzzer's load): asked again for a moment.
    let mut after = 0;
    for _ in 0..HORIZON_READS {
        after = console
            .horizon()
            .await
            .map_err(|e| attempt.fail(unavailable(&e)))?
            .unwrap_or(0);
        if after >= revision {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    state.ops.maintenance.compacted(after);
    if after < revision {
        return Err(attempt.fail(ApiError::Internal(format!(
            "etcd accepted the compaction at {revision} but reports its horizon at {after}"
        ))));
    }
    attempt.audit(
        "ok",
        format!(
            "compacted at revision {revision} ({}): about {} version(s) of {} key(s) dropped{}",
            answer.chosen,
            answer.versions_lost,
            answer.keys_count,
            if answer.complete { "" } else { " at least" }
        ),
    );
    answer.applied = true;
    Ok(Json(answer))
}

/// How many times the horizon is read after a compaction before its
/// answer is taken as wrong (100 ms apart).
const HORIZON_READS: usize = 20;

/// The revision a compaction request names, and how it was chosen.
fn choose(state: &AppState, request: &CompactRequest, current: Revision) -> Result<(Revision, String), ApiError> {
    let (revision, chosen) = match (request.revision, request.keep_seconds) {
        (Some(revision), None) => (revision, format!("revision {revision}, as asked")),
        (None, Some(seconds)) => {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let keep = i64::try_from(seconds).unwrap_or(i64::MAX);
            let at = u64::try_from(now.saturating_sub(keep)).unwrap_or(0);
            let ago = in_words(keep);
            match state.store.revision_at(at) {
                (Some(revision), _) => (
                    revision,
                    format!("the newest revision Leasehold saw current {ago} ago: the last {ago} of history are kept"),
                ),
                (None, since) => {
                    let since = since.map_or_else(
                        || "at all yet".to_owned(),
                        |since| format!("for {}", in_words(now - since as i64)),
                    );
                    return Err(ApiError::BadRequest(format!(
                        "Leasehold has watched etcd {since}: it cannot tell which revision was current {ago} ago; give a revision"
                    )));
                }
            }
        }
        _ => {
            return Err(ApiError::BadRequest(
                "give one of revision (compact before it) and keep_seconds (keep that much of the past)".to_owned(),
            ))
        }
    };
    if revision < 1 || revision > current {
        return Err(ApiError::BadRequest(format!(
            "revision {revision} is not one of etcd's: it is at revision {current}"
        )));
    }
    Ok((revision, chosen))
}

/// A span as an operator says it: `90 s`, `15 min`, `1 h`, `1 h 30 min`, `7 d`.
fn in_words(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 3_600 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => match (s / 3_600, s % 3_600 / 60) {
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        },
        s => format!("{} d", s / 86_400),
    }
}
