//! `POST /api/v1/ops/defrag`: the plan (learners and followers first, the
//! leader last, every member healthy) and the roll, one member at a time.

use std::sync::atomic::Ordering;
use std::time::Duration;

use app::model::{
    human_bytes, Check, DefragBody, DefragPlanStep, DefragRequest, DefragState, DefragStep, Member, MemberId,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::{Extension, Json};

use super::Ops;
use super::{body, members, Attempt};
use crate::auth::Caller;
use crate::http::audit::Entry;
use crate::http::client::Client;
use crate::http::error::ApiError;
use crate::http::openapi::Failures;
use crate::http::AppState;

/// How long a defragmented member has to answer healthy again.
const HEALTHY_AGAIN: Duration = Duration::from_secs(60);

/// The members in the order a roll takes them, learners and followers
/// first (by name), the leader last, and what must hold for it.
async fn plan(state: &AppState) -> (Vec<(Member, Option<i64>)>, Vec<Check>) {
    let mut members = members(state);
    members
        .sort_by(|a, b| (a.is_leader, !a.is_learner, &a.name, a.id).cmp(&(b.is_leader, !b.is_learner, &b.name, b.id)));
    let mut checks = vec![
        Check {
            ok: !state.ops.rolling.load(Ordering::Acquire),
            what: "no other defragmentation is under way".to_owned(),
        },
        Check {
            ok: members.iter().any(|m| m.is_leader),
            what: "the cluster has a leader".to_owned(),
        },
    ];
    let mut order = Vec::with_capacity(members.len());
    for member in members {
        let (ok, what, in_use) = match state.ops.console.status(&member.client_urls).await {
            Ok(status) => {
                let errors = health_errors(&status);
                let what = if errors.is_empty() {
                    format!("{} is healthy", member.name)
                } else {
                    format!("{} is healthy (it reports: {})", member.name, errors.join("; "))
                };
                (errors.is_empty(), what, Some(status.raft_used_db_size()))
            }
            Err(error) => (
                false,
                format!("{} is healthy (it does not answer: {})", member.name, error.summary()),
                None,
            ),
        };
        checks.push(Check { ok, what });
        order.push((member, in_use));
    }
    (order, checks)
}

/// What a member's status reports as wrong, but its alarms: an alarm is
/// no reason not to defragment (NOSPACE is what a defragmentation helps).
fn health_errors(status: &etcd_client::StatusResponse) -> Vec<&str> {
    status
        .errors()
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.contains("alarm:"))
        .collect()
}

/// `POST /api/v1/ops/defrag`: defragments every member, one at a time,
/// followers first and the leader last, each only while every member is
/// healthy, waiting for it to be healthy again before the next; the first
/// failure stops the roll. Progress is each member's `defrag` in the `ops`
/// topic (and `GET /api/v1/ops`).
#[utoipa::path(
    post,
    path = "/ops/defrag",
    operation_id = "defragment",
    tag = "operations",
    request_body(content = DefragRequest, description = "The order the preview showed, and dry_run for the preview"),
    responses(
        (status = 200, description = "The plan, and whether the roll started", body = DefragBody),
        (status = 409, description = "precondition_failed: a member is unhealthy; changed: the order is not the one shown; in_progress: a roll is under way", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn defrag(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    request: Bytes,
) -> Result<Json<DefragBody>, ApiError> {
    let attempt = Attempt {
        state: &state,
        caller: &caller,
        from,
        action: "defragment",
    };
    let request: DefragRequest = body(&request, r#"{"expect_order"?:[member ids], "dry_run"?}"#)?;
    if !request.dry_run {
        attempt.check_role("defragment etcd")?;
    }
    let (order, checks) = plan(&state).await;
    let ops_members = state.store.ops_members();
    let steps: Vec<DefragPlanStep> = order
        .iter()
        .map(|(m, in_use)| {
            let db_size = ops_members.iter().find(|o| o.id == m.id).and_then(|o| o.db_size);
            DefragPlanStep {
                id: m.id,
                name: m.name.clone(),
                is_leader: m.is_leader,
                db_size,
                reclaimable: db_size.zip(*in_use).map(|(size, used)| (size - used).max(0)),
            }
        })
        .collect();
    let largest = steps.iter().filter_map(|s| s.db_size).max().unwrap_or(0);
    let reclaim: i64 = steps.iter().filter_map(|s| s.reclaimable).sum();
    let cost = format!(
        "{} member(s), one at a time: each answers nothing while etcd rewrites its database ({} at most), and its clients wait or move to another member. About {} given back in all.",
        steps.len(),
        human_bytes(largest),
        human_bytes(reclaim)
    );
    let mut plan = DefragBody {
        order: steps,
        checks,
        cost,
        started: false,
    };
    if request.dry_run {
        return Ok(Json(plan));
    }
    let ids: Vec<MemberId> = plan.order.iter().map(|s| s.id).collect();
    if let Some(expected) = &request.expect_order {
        if *expected != ids {
            return Err(attempt.refuse(ApiError::Changed(format!(
                "the members' order is {} now, not the one shown: a member joined or left, or the leader moved; preview again",
                plan.order.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
            ))));
        }
    }
    if state.ops.rolling.swap(true, Ordering::AcqRel) {
        return Err(attempt.refuse(ApiError::InProgress(
            "a rolling defragmentation is under way: one at a time".to_owned(),
        )));
    }
    if let Err(error) = attempt.check(&plan.checks) {
        state.ops.rolling.store(false, Ordering::Release);
        return Err(error);
    }
    let queued = order
        .iter()
        .zip(1u32..)
        .map(|((m, _), place)| (m.id, step(DefragState::Queued, place)))
        .collect();
    state.ops.maintenance.start_defrag(queued);
    attempt.audit(
        "ok",
        format!(
            "rolling defragmentation started: {}",
            plan.order
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", then ")
        ),
    );
    let roll = Roll {
        ops: state.ops.clone(),
        audit: state.audit.clone(),
        who: caller.who().to_owned(),
        from,
    };
    let members: Vec<Member> = order.into_iter().map(|(m, _)| m).collect();
    let stop = state.stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = roll.run(&members) => {}
            () = stop.cancelled() => {}
        }
        roll.ops.rolling.store(false, Ordering::Release);
    });
    plan.started = true;
    Ok(Json(plan))
}

fn step(state: DefragState, order: u32) -> DefragStep {
    DefragStep {
        state,
        order,
        started_at: None,
        finished_at: None,
        db_size_before: None,
        db_size_after: None,
        error: None,
    }
}

/// A rolling defragmentation under way.
struct Roll {
    ops: Ops,
    audit: crate::http::audit::Audit,
    who: String,
    from: std::net::IpAddr,
}

impl Roll {
    async fn run(&self, members: &[Member]) {
        let mut reclaimed = Vec::new();
        for (index, member) in members.iter().enumerate() {
            let place = u32::try_from(index + 1).unwrap_or(u32::MAX);
            match self.one(member, place, members).await {
                Ok(freed) => reclaimed.push(format!("{}: {}", member.name, human_bytes(freed))),
                Err(why) => {
                    for (later, skipped) in members.iter().enumerate().skip(index + 1) {
                        let mut step = step(DefragState::Skipped, u32::try_from(later + 1).unwrap_or(u32::MAX));
                        step.error = Some(format!("not defragmented: the roll stopped at {}", member.name));
                        self.ops.maintenance.defrag_step(skipped.id, step);
                    }
                    self.record(
                        "failed",
                        format!(
                            "rolling defragmentation stopped at {}: {why}; done before it: {}",
                            member.name,
                            if reclaimed.is_empty() {
                                "none".to_owned()
                            } else {
                                reclaimed.join(", ")
                            }
                        ),
                    );
                    return;
                }
            }
        }
        self.record(
            "ok",
            format!("rolling defragmentation done; given back: {}", reclaimed.join(", ")),
        );
    }

    fn record(&self, result: &'static str, detail: String) {
        let entry = Entry::new("defragment", &self.who, Some(self.from), result, detail);
        self.audit.record(&entry);
    }

    /// Defragments `member` once every member is healthy; the bytes it gave back.
    async fn one(&self, member: &Member, place: u32, all: &[Member]) -> Result<i64, String> {
        let console = &self.ops.console;
        let mut current = step(DefragState::Running, place);
        let fail = |mut current: DefragStep, why: String| {
            current.state = DefragState::Failed;
            current.finished_at = crate::registry::now_rfc3339();
            current.error = Some(why.clone());
            self.ops.maintenance.defrag_step(member.id, current);
            Err(why)
        };
        for other in all {
            match console.status(&other.client_urls).await {
                Ok(status) if health_errors(&status).is_empty() => {}
                Ok(status) => {
                    let errors = health_errors(&status).join("; ");
                    return fail(current, format!("{} is not healthy: {errors}", other.name));
                }
                Err(error) => return fail(current, format!("{} does not answer: {}", other.name, error.summary())),
            }
        }
        let before = match console.status(&member.client_urls).await {
            Ok(status) => status.db_size(),
            Err(error) => return fail(current, format!("{} does not answer: {}", member.name, error.summary())),
        };
        current.started_at = crate::registry::now_rfc3339();
        current.db_size_before = Some(before);
        self.ops.maintenance.defrag_step(member.id, current.clone());
        if let Err(error) = console.defragment(&member.client_urls).await {
            return fail(current, format!("the defragmentation failed: {}", error.summary()));
        }
        // Healthy again: it answers its status without errors.
        let deadline = tokio::time::Instant::now() + HEALTHY_AGAIN;
        let after = loop {
            match console.status(&member.client_urls).await {
                Ok(status) if health_errors(&status).is_empty() => break status.db_size(),
                Ok(_) | Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Ok(status) => {
                    let errors = health_errors(&status).join("; ");
                    return fail(current, format!("not healthy again within {HEALTHY_AGAIN:?}: {errors}"));
                }
                Err(error) => {
                    return fail(
                        current,
                        format!("not answering again within {HEALTHY_AGAIN:?}: {}", error.summary()),
                    )
                }
            }
        };
        current.state = DefragState::Done;
        current.finished_at = crate::registry::now_rfc3339();
        current.db_size_after = Some(after);
        self.ops.maintenance.defrag_step(member.id, current);
        Ok((before - after).max(0))
    }
}
