//! `POST /api/v1/ops/alarms/disarm`, and the consistency check
//! (`GET /api/v1/ops/hashkv`) a CORRUPT alarm's disarm needs.

use app::model::{human_bytes, Alarm, Check, DisarmBody, DisarmRequest, HashKvBody, MemberAlarm, MemberHash};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::{Extension, Json};

use super::{body, members, unavailable, Attempt};
use crate::auth::Caller;
use crate::http::client::Client;
use crate::http::error::ApiError;
use crate::http::openapi::Failures;
use crate::http::AppState;

/// A NOSPACE alarm is disarmed only when every member's database leaves
/// this share of its quota free, and at least [`ROOM_MIN`]: etcd refuses a
/// write that would take the file past the quota, so a database near it
/// raises the alarm again on the next large write.
const ROOM_SHARE: f64 = 0.05;
/// Two of etcd's largest requests (1.5 MiB each by default).
const ROOM_MIN: i64 = 3 << 20;

/// The room a NOSPACE disarm needs under `quota`.
fn room(quota: i64) -> i64 {
    ((quota as f64 * ROOM_SHARE) as i64).max(ROOM_MIN)
}

/// `POST /api/v1/ops/alarms/disarm`: disarms an alarm on every member that
/// raised it (or on `member`), once what it needs holds: for NOSPACE, every
/// member's database with room under its quota (compact and defragment
/// first); for CORRUPT, every member's `HashKV` the same.
#[utoipa::path(
    post,
    path = "/ops/alarms/disarm",
    operation_id = "disarm_alarm",
    tag = "operations",
    request_body(content = DisarmRequest, description = "The alarm, optionally one member, and dry_run for the preview"),
    responses(
        (status = 200, description = "The preview, or the alarms disarmed and those etcd reports after", body = DisarmBody),
        (status = 409, description = "precondition_failed: a check does not hold", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn disarm(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    request: Bytes,
) -> Result<Json<DisarmBody>, ApiError> {
    let attempt = Attempt {
        state: &state,
        caller: &caller,
        from,
        action: "disarm_alarm",
    };
    let shape = r#"{"alarm":"NOSPACE"|"CORRUPT", "member"?, "dry_run"?}"#;
    let request: DisarmRequest = body(&request, shape)?;
    let alarm = request.alarm;
    if !request.dry_run {
        attempt.check_role("disarm alarms")?;
    }
    let active = state.ops.console.alarms().await.map_err(|e| unavailable(&e))?;
    let alarms: Vec<MemberAlarm> = active
        .iter()
        .filter(|a| a.alarm == alarm && request.member.is_none_or(|m| m == a.member))
        .copied()
        .collect();
    let mut checks = vec![Check {
        ok: !alarms.is_empty(),
        what: format!("a {} alarm is active", alarm.as_str()),
    }];
    checks.extend(match alarm {
        Alarm::NoSpace => space_checks(&state).await,
        Alarm::Corrupt => vec![hashes_agree(&state).await],
    });
    let mut preview = DisarmBody {
        alarm,
        alarms,
        checks,
        applied: false,
        active_after: None,
    };
    if request.dry_run {
        return Ok(Json(preview));
    }
    attempt.check(&preview.checks)?;
    let after = state
        .ops
        .console
        .disarm(&preview.alarms)
        .await
        .map_err(|e| attempt.fail(unavailable(&e)))?;
    state.ops.maintenance.set_alarms(after.clone());
    let still = after.iter().filter(|a| a.alarm == alarm).count();
    attempt.audit(
        "ok",
        format!(
            "{} disarmed on {}; etcd reports {} such alarm(s) after",
            alarm.as_str(),
            preview
                .alarms
                .iter()
                .map(|a| a.member.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            still
        ),
    );
    preview.applied = true;
    preview.active_after = Some(after);
    Ok(Json(preview))
}

/// For NOSPACE: each member's database, asked now, with [`room`] under its
/// quota.
async fn space_checks(state: &AppState) -> Vec<Check> {
    let quotas = state.store.ops_members();
    let mut checks = Vec::new();
    for member in members(state) {
        let quota = quotas
            .iter()
            .find(|m| m.id == member.id)
            .map_or(app::model::DEFAULT_QUOTA_BYTES, |m| m.quota_bytes);
        let check = match state.ops.console.status(&member.client_urls).await {
            Ok(status) => Check {
                ok: status.db_size() <= quota - room(quota),
                what: format!(
                    "{}'s database leaves at least {} of its quota free: {} of {}",
                    member.name,
                    human_bytes(room(quota)),
                    human_bytes(status.db_size()),
                    human_bytes(quota)
                ),
            },
            Err(error) => Check {
                ok: false,
                what: format!("{} answers its status: {}", member.name, error.summary()),
            },
        };
        checks.push(check);
    }
    checks
}

/// For CORRUPT: every member's `HashKV` at one revision, the same.
async fn hashes_agree(state: &AppState) -> Check {
    let what = "every member's HashKV at one revision is the same";
    match hashes(state, None).await {
        Ok(body) if body.agree => Check {
            ok: true,
            what: format!("{what} (at revision {})", body.revision),
        },
        Ok(body) => {
            let names: Vec<&str> = body
                .members
                .iter()
                .filter(|m| body.differ.contains(&m.id))
                .map(|m| m.name.as_str())
                .collect();
            Check {
                ok: false,
                what: format!("{what} (at revision {}: {} differ)", body.revision, names.join(", ")),
            }
        }
        Err(error) => Check {
            ok: false,
            what: format!("{what} ({error})"),
        },
    }
}

/// Every voting member's `HashKV` up to `revision` (etcd's current one
/// without it), asked at once.
async fn hashes(state: &AppState, revision: Option<i64>) -> Result<HashKvBody, ApiError> {
    let Ok(_one) = state.ops.hashing.try_lock() else {
        return Err(ApiError::InProgress(
            "a consistency check is under way: one at a time".to_owned(),
        ));
    };
    let console = &state.ops.console;
    let revision = match revision {
        Some(revision) => revision,
        None => console.revision().await.map_err(|e| unavailable(&e))?,
    };
    // Learners answer no HashKV (etcd serves them little but Status).
    let mut members = console.member_list().await.map_err(|e| unavailable(&e))?;
    members.retain(|m| !m.is_learner);
    let answers = futures::future::join_all(members.iter().map(|m| async move {
        if m.client_urls.is_empty() {
            return Err("not started: it has no client URL yet".to_owned());
        }
        console.hash_kv(&m.client_urls, revision).await.map_err(|e| e.summary())
    }))
    .await;
    let hashes = members
        .into_iter()
        .zip(answers)
        .map(|(member, answer)| {
            let (hash, compact_revision, error) = match answer {
                Ok((hash, compact)) => (Some(hash), Some(compact), None),
                Err(error) => (None, None, Some(error)),
            };
            MemberHash {
                id: app::model::MemberId(member.id),
                name: member.name,
                hash,
                compact_revision,
                error,
            }
        })
        .collect();
    Ok(HashKvBody::judged(revision, hashes))
}

/// `GET /api/v1/ops/hashkv`: the consistency check. Every member hashes its
/// keyspace up to one revision (etcd's `HashKV`); they agree, or the body
/// names the members off the majority: a corruption seen before etcd
/// declares it. It changes nothing; each member reads its whole keyspace,
/// so one check runs at a time.
#[utoipa::path(
    get,
    path = "/ops/hashkv",
    operation_id = "hashkv",
    tag = "operations",
    params(HashKvQuery),
    responses(
        (status = 200, description = "Every member's hash at one revision, and whether they agree", body = HashKvBody),
        (status = 400, description = "bad_request: a revision below 1", body = app::model::ErrorBody),
        (status = 409, description = "in_progress: another check is under way", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn hashkv(
    State(state): State<AppState>,
    Query(query): Query<HashKvQuery>,
) -> Result<Json<HashKvBody>, ApiError> {
    if query.revision.is_some_and(|r| r < 1) {
        return Err(ApiError::BadRequest("revision must be 1 or more".to_owned()));
    }
    hashes(&state, query.revision).await.map(Json)
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HashKvQuery {
    /// Hash up to this revision (etcd's current one without it): one every
    /// member has reached, or those behind answer an error.
    #[param(minimum = 1)]
    revision: Option<i64>,
}
