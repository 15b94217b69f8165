//! Membership: `POST /api/v1/ops/members` (add a learner),
//! `POST /api/v1/ops/members/{id}/promote`, `DELETE /api/v1/ops/members/{id}`
//! and `POST /api/v1/ops/move-leader`.
//!
//! Each reads the members from etcd and asks each its own status at the
//! time of the request (never the model's last poll), previews the cluster
//! before and after with its quorum, refuses while a check does not hold,
//! and answers the cluster as etcd lists it after the change.

use app::model::{
    Check, ClusterShape, LearnerLag, MemberAddRequest, MemberChangeRequest, MemberId, MembershipAction, MembershipBody,
    MoveLeaderRequest, Quorum, ShapeMember,
};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::{Extension, Json};

use super::{body, unavailable, Attempt};
use crate::auth::Caller;
use crate::etcd::{broken, Listed};
use crate::http::client::Client;
use crate::http::error::ApiError;
use crate::http::openapi::Failures;
use crate::http::AppState;

/// etcd promotes a learner whose log has reached this share of the
/// leader's (its own readiness rule); the preview applies the same rule to
/// the learner's applied index.
const PROMOTE_READY: f64 = 0.9;

/// A member as a cluster's shape shows it.
fn shaped(members: &[Listed]) -> Vec<ShapeMember> {
    let leader = members.iter().map(Listed::leader).find(|&l| l != 0).unwrap_or(0);
    members
        .iter()
        .map(|m| ShapeMember {
            id: MemberId(m.id),
            name: m.name.clone(),
            peer_urls: m.peer_urls.clone(),
            is_learner: m.is_learner,
            is_leader: m.id == leader,
            healthy: m.status.is_ok(),
        })
        .collect()
}

fn label(member: &ShapeMember) -> String {
    if member.name.is_empty() {
        format!("member {} (not started)", member.id)
    } else {
        member.name.clone()
    }
}

/// What etcd said when it refused a change: its own precondition, a member
/// it does not know, or etcd unreachable.
fn refused_by_etcd(error: &crate::etcd::Error) -> ApiError {
    if let crate::etcd::Error::Client(etcd_client::Error::GRpcStatus(status)) = error {
        match status.code() {
            tonic::Code::FailedPrecondition => {
                return ApiError::PreconditionFailed(format!("etcd refused: {}", status.message()))
            }
            tonic::Code::NotFound => return ApiError::NotFound(format!("etcd: {}", status.message())),
            tonic::Code::Unavailable if status.message().contains("unhealthy cluster") => {
                return ApiError::PreconditionFailed(format!(
                    "etcd refused: {} (etcd changes its membership only once every voting member has been \
                     connected to the others for 5 s: after a member started or came back, try again shortly)",
                    status.message()
                ))
            }
            _ => {}
        }
    }
    unavailable(error)
}

fn quorum_check(before: &Quorum) -> Check {
    Check {
        ok: before.healthy_voters >= before.quorum,
        what: format!(
            "a quorum answers to commit the change: {} of {} voting members answer, {} needed",
            before.healthy_voters, before.voters, before.quorum
        ),
    }
}

fn after_check(after: &Quorum) -> Check {
    Check {
        ok: after.healthy_voters >= after.quorum,
        what: format!("the cluster after keeps a quorum: {}", after.describe()),
    }
}

/// A member name usable in etcd's flags as they are shown.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// A peer URL etcd accepts: `http(s)://host:port`, nothing after.
fn valid_peer_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) else {
        return false;
    };
    let Some((host, port)) = rest.rsplit_once(':') else {
        return false;
    };
    !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b))
        && port.parse::<u16>().is_ok_and(|p| p > 0)
}

/// The flags a learner added at `peer_urls` as `name` starts with:
/// everything its `etcd` must agree on with the cluster.
fn learner_flags(name: &str, peer_urls: &[String], members: &[ShapeMember]) -> Vec<String> {
    let urls = peer_urls.join(",");
    let mut initial: Vec<String> = members
        .iter()
        .flat_map(|m| m.peer_urls.iter().map(move |u| format!("{}={u}", m.name)))
        .collect();
    initial.extend(peer_urls.iter().map(|u| format!("{name}={u}")));
    vec![
        format!("--name={name}"),
        format!("--initial-advertise-peer-urls={urls}"),
        format!("--listen-peer-urls={urls}"),
        format!("--initial-cluster={}", initial.join(",")),
        "--initial-cluster-state=existing".to_owned(),
    ]
}

/// The leader's client URLs, as the listing found them (none when no
/// member named a leader).
fn leader_urls(listed: &[Listed]) -> Vec<String> {
    let leader = listed.iter().map(Listed::leader).find(|&l| l != 0).unwrap_or(0);
    listed
        .iter()
        .find(|m| m.id == leader)
        .map(|m| m.client_urls.clone())
        .unwrap_or_default()
}

/// A change's outcome. When its connection broke before etcd answered
/// (a member shutting down as it is removed), etcd's member list says
/// whether it was done (`done`), rather than sending it again.
async fn settled<T>(
    state: &AppState,
    attempt: &Attempt<'_>,
    result: Result<T, crate::etcd::Error>,
    done: impl Fn(&[Listed]) -> Option<T>,
) -> Result<T, ApiError> {
    match result {
        Ok(value) => Ok(value),
        Err(error) if broken(&error) => {
            let members = state
                .ops
                .console
                .member_list()
                .await
                .map_err(|e| attempt.fail(unavailable(&e)))?;
            done(&members).ok_or_else(|| attempt.fail(refused_by_etcd(&error)))
        }
        Err(error) => Err(attempt.fail(refused_by_etcd(&error))),
    }
}

/// The cluster a change starts from: etcd's members asked now, their
/// shape, and the member the change names.
struct Now {
    listed: Vec<Listed>,
    members: Vec<ShapeMember>,
    target: ShapeMember,
    before: ClusterShape,
}

async fn now(state: &AppState, id: MemberId) -> Result<Now, ApiError> {
    let listed = listed(state).await?;
    let members = shaped(&listed);
    let target = find(&members, id)?.clone();
    let before = ClusterShape::new(members.clone());
    Ok(Now {
        listed,
        members,
        target,
        before,
    })
}

async fn listed(state: &AppState) -> Result<Vec<Listed>, ApiError> {
    state.ops.console.members().await.map_err(|e| unavailable(&e))
}

/// How long the members are asked again after a change until their list
/// shows it: the member that answers may not have applied the change yet.
const SHOWN_WITHIN: std::time::Duration = std::time::Duration::from_secs(3);

/// The members as etcd lists them after a change, and the model told to
/// look again. Asked again, for at most [`SHOWN_WITHIN`], until `shows` holds
/// of the list (a member answering the list may be a moment behind the one
/// that made the change); the last list is the answer either way.
async fn after_change(
    state: &AppState,
    attempt: &Attempt<'_>,
    shows: impl Fn(&[ShapeMember]) -> bool,
) -> Result<ClusterShape, ApiError> {
    let deadline = tokio::time::Instant::now() + SHOWN_WITHIN;
    loop {
        let members = state
            .ops
            .console
            .members()
            .await
            .map_err(|e| attempt.fail(unavailable(&e)))?;
        let members = shaped(&members);
        if shows(&members) || tokio::time::Instant::now() >= deadline {
            state.ops.poll_cluster();
            return Ok(ClusterShape::new(members));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn find(members: &[ShapeMember], id: MemberId) -> Result<&ShapeMember, ApiError> {
    members
        .iter()
        .find(|m| m.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("etcd has no member {id}")))
}

/// A promotion's or removal's body; none is `{}`.
fn change_request(request: &Bytes) -> Result<MemberChangeRequest, ApiError> {
    if request.iter().all(u8::is_ascii_whitespace) {
        return Ok(MemberChangeRequest::default());
    }
    body(request, r#"{"dry_run"?}"#)
}

fn member_id(text: &str) -> Result<MemberId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::BadRequest(format!("{text:?} is not a member id (hex, as etcd writes it)")))
}

/// `POST /api/v1/ops/members`: adds a member as a learner (it does not
/// vote, so the quorum stays as it is) and answers the flags its `etcd`
/// must start with. Promote it once it has caught up.
#[utoipa::path(
    post,
    path = "/ops/members",
    operation_id = "add_member",
    tag = "operations",
    request_body(content = MemberAddRequest, description = "The new member's name and peer URLs, and dry_run for the preview"),
    responses(
        (status = 200, description = "The preview, or the learner added and the cluster as etcd lists it after", body = MembershipBody),
        (status = 404, description = "not_found: etcd has no such member", body = app::model::ErrorBody),
        (status = 409, description = "precondition_failed: a check does not hold, or etcd refused", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn add(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    request: Bytes,
) -> Result<Json<MembershipBody>, ApiError> {
    let attempt = Attempt {
        state: &state,
        caller: &caller,
        from,
        action: "add_member",
    };
    let request: MemberAddRequest = body(&request, r#"{"name", "peer_urls":[...], "dry_run"?}"#)?;
    if !valid_name(&request.name) {
        return Err(ApiError::BadRequest(format!(
            "{:?} is not a member name: letters, digits, '-', '_' and '.', at most 64",
            request.name
        )));
    }
    if request.peer_urls.is_empty() || request.peer_urls.len() > 8 {
        return Err(ApiError::BadRequest("peer_urls needs one to eight URLs".to_owned()));
    }
    if let Some(url) = request.peer_urls.iter().find(|u| !valid_peer_url(u)) {
        return Err(ApiError::BadRequest(format!(
            "{url:?} is not a peer URL (http(s)://host:port)"
        )));
    }
    if !request.dry_run {
        attempt.check_role("add members")?;
    }
    let listed = listed(&state).await?;
    let via = leader_urls(&listed);
    let members = shaped(&listed);
    let before = ClusterShape::new(members.clone());
    let taken: Vec<&ShapeMember> = members
        .iter()
        .filter(|m| m.peer_urls.iter().any(|u| request.peer_urls.contains(u)))
        .collect();
    let learners: Vec<String> = members.iter().filter(|m| m.is_learner).map(label).collect();
    let unstarted: Vec<String> = members.iter().filter(|m| m.name.is_empty()).map(label).collect();
    let checks = vec![
        Check {
            ok: !members.iter().any(|m| m.name == request.name),
            what: format!("no member is named {}", request.name),
        },
        Check {
            ok: taken.is_empty(),
            what: if taken.is_empty() {
                "no member has these peer URLs".to_owned()
            } else {
                format!("no member has these peer URLs ({} has)", label(taken[0]))
            },
        },
        Check {
            ok: learners.is_empty(),
            what: if learners.is_empty() {
                "no other learner is in the cluster (etcd takes one at a time)".to_owned()
            } else {
                format!(
                    "no other learner is in the cluster (etcd takes one at a time): promote or remove {} first",
                    learners.join(", ")
                )
            },
        },
        Check {
            ok: unstarted.is_empty(),
            what: if unstarted.is_empty() {
                "every member has started, so the new member's --initial-cluster can name them".to_owned()
            } else {
                format!("every member has started: {} has not", unstarted.join(", "))
            },
        },
        quorum_check(&before.quorum),
    ];
    let flags = learner_flags(&request.name, &request.peer_urls, &members);
    let mut after = members.clone();
    after.push(ShapeMember {
        id: MemberId(0),
        name: request.name.clone(),
        peer_urls: request.peer_urls.clone(),
        is_learner: true,
        is_leader: false,
        healthy: false,
    });
    let mut answer = MembershipBody {
        action: MembershipAction::AddLearner,
        member: None,
        before,
        after: ClusterShape::new(after),
        checks,
        flags,
        lag: None,
        applied: false,
    };
    if request.dry_run {
        return Ok(Json(answer));
    }
    attempt.check(&answer.checks)?;
    let added = state.ops.console.add_learner(&via, &request.peer_urls).await;
    let id = settled(&state, &attempt, added, |members| {
        members.iter().find(|m| m.peer_urls == request.peer_urls).map(|m| m.id)
    })
    .await?;
    let after = after_change(&state, &attempt, |members| {
        members.iter().any(|m| m.id.0 == id && m.is_learner)
    })
    .await?;
    let listed = after.members.iter().any(|m| m.id.0 == id && m.is_learner);
    attempt.audit(
        "ok",
        format!(
            "learner {} ({}) added at {}; etcd lists it {}",
            request.name,
            MemberId(id),
            request.peer_urls.join(","),
            if listed { "as a learner" } else { "not yet" }
        ),
    );
    answer.member = Some(MemberId(id));
    answer.after = after;
    answer.applied = true;
    Ok(Json(answer))
}

/// `POST /api/v1/ops/members/{id}/promote`: makes a learner that has caught
/// up with the leader a voting member.
#[utoipa::path(
    post,
    path = "/ops/members/{id}/promote",
    operation_id = "promote_member",
    tag = "operations",
    params(("id" = String, Path, description = "The learner's member id (hex)")),
    request_body(content = MemberChangeRequest, description = "dry_run for the preview"),
    responses(
        (status = 200, description = "The preview with the learner's lag, or the promotion and the cluster as etcd lists it after", body = MembershipBody),
        (status = 404, description = "not_found: etcd has no such member", body = app::model::ErrorBody),
        (status = 409, description = "precondition_failed: a check does not hold, or etcd refused (the learner is not in sync yet)", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn promote(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    request: Bytes,
) -> Result<Json<MembershipBody>, ApiError> {
    let attempt = Attempt {
        state: &state,
        caller: &caller,
        from,
        action: "promote_member",
    };
    let id = member_id(&id)?;
    let request = change_request(&request)?;
    if !request.dry_run {
        attempt.check_role("promote members")?;
    }
    let Now {
        listed,
        members,
        target,
        before,
    } = now(&state, id).await?;
    let leader = members
        .iter()
        .find(|m| m.is_leader)
        .and_then(|l| listed.iter().find(|m| m.id == l.id.0));
    let learner = listed.iter().find(|m| m.id == id.0);
    let lag = match (leader.map(|l| &l.status), learner.map(|l| &l.status)) {
        (Some(Ok(leader)), Some(Ok(learner))) => Some(LearnerLag {
            leader_raft_index: leader.raft_index(),
            learner_applied_index: learner.raft_applied_index(),
            entries_behind: leader.raft_index().saturating_sub(learner.raft_applied_index()),
        }),
        _ => None,
    };
    let after: Vec<ShapeMember> = members
        .iter()
        .cloned()
        .map(|mut m| {
            if m.id == id {
                m.is_learner = false;
            }
            m
        })
        .collect();
    let after = ClusterShape::new(after);
    let caught_up = match lag {
        Some(lag) => Check {
            ok: lag.learner_applied_index as f64 >= lag.leader_raft_index as f64 * PROMOTE_READY,
            what: format!(
                "{} has caught up with the leader: applied {} of the leader's {} raft entries, {} behind (etcd promotes at {:.0}%)",
                label(&target),
                lag.learner_applied_index,
                lag.leader_raft_index,
                lag.entries_behind,
                PROMOTE_READY * 100.0
            ),
        },
        None => Check {
            ok: false,
            what: format!(
                "{} and the leader answer their status, so its lag is known",
                label(&target)
            ),
        },
    };
    let checks = vec![
        Check {
            ok: target.is_learner,
            what: format!("{} is a learner", label(&target)),
        },
        caught_up,
        quorum_check(&before.quorum),
        after_check(&after.quorum),
    ];
    let mut answer = MembershipBody {
        action: MembershipAction::Promote,
        member: Some(id),
        before,
        after,
        checks,
        flags: Vec::new(),
        lag,
        applied: false,
    };
    if request.dry_run {
        return Ok(Json(answer));
    }
    attempt.check(&answer.checks)?;
    let promoted = state.ops.console.promote(&leader_urls(&listed), id.0).await;
    settled(&state, &attempt, promoted, |members| {
        members.iter().any(|m| m.id == id.0 && !m.is_learner).then_some(())
    })
    .await?;
    let after = after_change(&state, &attempt, |members| {
        members.iter().any(|m| m.id == id && !m.is_learner)
    })
    .await?;
    let voting = after.members.iter().any(|m| m.id == id && !m.is_learner);
    attempt.audit(
        "ok",
        format!(
            "{} ({id}) promoted; etcd lists it {}; {}",
            label(&target),
            if voting {
                "as a voting member"
            } else {
                "still as a learner"
            },
            after.quorum.describe()
        ),
    );
    answer.after = after;
    answer.applied = true;
    Ok(Json(answer))
}

/// The checks of removing `target` from `members`.
/// `reached_elsewhere`: Leasehold's endpoints include one that is not the
/// target's.
fn removal_checks(target: &ShapeMember, before: &Quorum, after: &Quorum, reached_elsewhere: bool) -> Vec<Check> {
    let mut checks = Vec::new();
    if target.is_learner {
        checks.push(Check {
            ok: true,
            what: format!("{} is a learner: the quorum stays as it is", label(target)),
        });
    } else {
        checks.push(Check {
            ok: before.voters > 2,
            what: match before.voters {
                1 => "it is not the last voting member".to_owned(),
                2 => "the cluster has more than 2 voting members: with 2, the change needs both; once the removed one \
                      stops, the other may never learn that it committed and waits for a quorum of 2 that cannot \
                      come (add a member first)"
                    .to_owned(),
                n => format!("the cluster has more than 2 voting members ({n})"),
            },
        });
        checks.push(quorum_check(before));
        checks.push(after_check(after));
    }
    checks.push(Check {
        ok: reached_elsewhere,
        what: format!("Leasehold reaches etcd through another member than {}", label(target)),
    });
    checks
}

/// `DELETE /api/v1/ops/members/{id}`: removes a member, refused when the
/// cluster would lose its quorum (the arithmetic is in the checks).
#[utoipa::path(
    delete,
    path = "/ops/members/{id}",
    operation_id = "remove_member",
    tag = "operations",
    params(("id" = String, Path, description = "The member id (hex)")),
    request_body(content = MemberChangeRequest, description = "dry_run for the preview"),
    responses(
        (status = 200, description = "The preview, or the removal and the cluster as etcd lists it after", body = MembershipBody),
        (status = 404, description = "not_found: etcd has no such member", body = app::model::ErrorBody),
        (status = 409, description = "precondition_failed: the cluster would lose its quorum, or another check does not hold", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    request: Bytes,
) -> Result<Json<MembershipBody>, ApiError> {
    let attempt = Attempt {
        state: &state,
        caller: &caller,
        from,
        action: "remove_member",
    };
    let id = member_id(&id)?;
    let request = change_request(&request)?;
    if !request.dry_run {
        attempt.check_role("remove members")?;
    }
    let Now {
        listed,
        members,
        target,
        before,
    } = now(&state, id).await?;
    let after = ClusterShape::new(members.iter().filter(|m| m.id != id).cloned().collect());
    // The client URLs Leasehold connects through, against the member's.
    let client_urls: Vec<String> = listed
        .iter()
        .find(|m| m.id == id.0)
        .map(|m| m.client_urls.clone())
        .unwrap_or_default();
    let own: Vec<String> = state.config.etcd.endpoints.iter().map(|e| normal_url(e)).collect();
    let theirs: Vec<String> = client_urls.iter().map(|u| normal_url(u)).collect();
    let elsewhere = own.iter().any(|e| !theirs.contains(e));
    let checks = removal_checks(&target, &before.quorum, &after.quorum, elsewhere);
    let mut answer = MembershipBody {
        action: MembershipAction::Remove,
        member: Some(id),
        before,
        after,
        checks,
        flags: Vec::new(),
        lag: None,
        applied: false,
    };
    if request.dry_run {
        return Ok(Json(answer));
    }
    attempt.check(&answer.checks)?;
    let removed = state.ops.console.remove(&leader_urls(&listed), id.0).await;
    settled(&state, &attempt, removed, |members| {
        (!members.iter().any(|m| m.id == id.0)).then_some(())
    })
    .await?;
    let after = after_change(&state, &attempt, |members| !members.iter().any(|m| m.id == id)).await?;
    let gone = !after.members.iter().any(|m| m.id == id);
    attempt.audit(
        "ok",
        format!(
            "{} ({id}) removed; etcd {}; {}",
            label(&target),
            if gone { "no longer lists it" } else { "still lists it" },
            after.quorum.describe()
        ),
    );
    answer.after = after;
    answer.applied = true;
    Ok(Json(answer))
}

/// A URL without scheme and trailing slash, to compare endpoints (which
/// may be written `host:port`) with advertised URLs.
fn normal_url(url: &str) -> String {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    rest.trim_end_matches('/').to_owned()
}

/// `POST /api/v1/ops/move-leader`: hands leadership to another voting
/// member, and waits (10 s) until it says it leads.
#[utoipa::path(
    post,
    path = "/ops/move-leader",
    operation_id = "move_leader",
    tag = "operations",
    request_body(content = MoveLeaderRequest, description = "The member to lead, and dry_run for the preview"),
    responses(
        (status = 200, description = "The preview, or the transfer and the cluster after", body = MembershipBody),
        (status = 404, description = "not_found: etcd has no such member", body = app::model::ErrorBody),
        (status = 409, description = "precondition_failed: a check does not hold, or etcd refused", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn move_leader(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    request: Bytes,
) -> Result<Json<MembershipBody>, ApiError> {
    let attempt = Attempt {
        state: &state,
        caller: &caller,
        from,
        action: "move_leader",
    };
    let request: MoveLeaderRequest = body(&request, r#"{"to", "dry_run"?}"#)?;
    if !request.dry_run {
        attempt.check_role("move the leader")?;
    }
    let Now {
        listed,
        members,
        target,
        before,
    } = now(&state, request.to).await?;
    let leader = members.iter().find(|m| m.is_leader).cloned();
    let after = ClusterShape::new(
        members
            .iter()
            .cloned()
            .map(|mut m| {
                m.is_leader = m.id == request.to;
                m
            })
            .collect(),
    );
    let checks = vec![
        Check {
            ok: leader.as_ref().is_some_and(|l| l.healthy),
            what: match &leader {
                Some(l) => format!("the leader ({}) answers: it hands over", label(l)),
                None => "the cluster has a leader to hand over".to_owned(),
            },
        },
        Check {
            ok: !target.is_leader,
            what: format!("{} does not lead already", label(&target)),
        },
        Check {
            ok: !target.is_learner,
            what: format!("{} is a voting member (a learner cannot lead)", label(&target)),
        },
        Check {
            ok: target.healthy,
            what: format!("{} answers its status", label(&target)),
        },
    ];
    let mut answer = MembershipBody {
        action: MembershipAction::MoveLeader,
        member: Some(request.to),
        before,
        after,
        checks,
        flags: Vec::new(),
        lag: None,
        applied: false,
    };
    if request.dry_run {
        return Ok(Json(answer));
    }
    attempt.check(&answer.checks)?;
    let urls = |id: MemberId| {
        listed
            .iter()
            .find(|m| m.id == id.0)
            .map(|m| m.client_urls.clone())
            .unwrap_or_default()
    };
    let (from_urls, to_urls) = (urls(leader.as_ref().map_or(MemberId(0), |l| l.id)), urls(request.to));
    let moved = state
        .ops
        .console
        .move_leader(&from_urls, request.to.0, &to_urls)
        .await
        .map_err(|e| attempt.fail(refused_by_etcd(&e)))?;
    let after = after_change(&state, &attempt, |members| {
        members.iter().any(|m| m.id == request.to && m.is_leader)
    })
    .await?;
    let leads = after.members.iter().any(|m| m.id == request.to && m.is_leader);
    if !moved || !leads {
        return Err(attempt.fail(ApiError::Internal(format!(
            "etcd accepted the transfer, but {} did not say it leads within 10 s",
            label(&target)
        ))));
    }
    attempt.audit(
        "ok",
        format!(
            "leadership moved from {} to {} ({}); etcd's members agree",
            leader.as_ref().map_or_else(|| "nobody".to_owned(), label),
            label(&target),
            request.to
        ),
    );
    answer.after = after;
    answer.applied = true;
    Ok(Json(answer))
}

#[cfg(test)]
mod tests {
    use super::{learner_flags, removal_checks, valid_name, valid_peer_url};
    use app::model::{MemberId, Quorum, ShapeMember};

    fn member(id: u64, name: &str, is_learner: bool) -> ShapeMember {
        ShapeMember {
            id: MemberId(id),
            name: name.to_owned(),
            peer_urls: vec![format!("http://127.0.0.1:{}", 2380 + id)],
            is_learner,
            is_leader: id == 1,
            healthy: true,
        }
    }

    #[test]
    fn a_learner_starts_with_the_whole_cluster_and_state_existing() {
        let members = [member(1, "m0", false), member(2, "m1", false)];
        let flags = learner_flags("m2", &["http://127.0.0.1:2390".to_owned()], &members);
        assert_eq!(
            flags,
            [
                "--name=m2",
                "--initial-advertise-peer-urls=http://127.0.0.1:2390",
                "--listen-peer-urls=http://127.0.0.1:2390",
                "--initial-cluster=m0=http://127.0.0.1:2381,m1=http://127.0.0.1:2382,m2=http://127.0.0.1:2390",
                "--initial-cluster-state=existing",
            ]
        );
    }

    #[test]
    fn removing_a_voter_of_two_is_refused_and_a_learner_is_not() {
        let two = [member(1, "m0", false), member(2, "m1", false)];
        let (before, after) = (Quorum::of(&two), Quorum::of(&two[..1]));
        let checks = removal_checks(&two[1], &before, &after, true);
        assert!(
            checks.iter().any(|c| !c.ok && c.what.contains("2 voting members")),
            "{checks:?}"
        );
        let three = [member(1, "m0", false), member(2, "m1", false), member(3, "m2", true)];
        let checks = removal_checks(&three[2], &Quorum::of(&three), &Quorum::of(&three[..2]), true);
        assert!(checks.iter().all(|c| c.ok), "{checks:?}");
        let mut sick = [member(1, "m0", false), member(2, "m1", false), member(3, "m2", false)];
        sick[2].healthy = false;
        let checks = removal_checks(
            &sick[1],
            &Quorum::of(&sick),
            &Quorum::of(&[sick[0].clone(), sick[2].clone()]),
            true,
        );
        let failing: Vec<&str> = checks.iter().filter(|c| !c.ok).map(|c| c.what.as_str()).collect();
        assert_eq!(
            failing,
            ["the cluster after keeps a quorum: 2 voting members, quorum 2, 1 answers: tolerates 0 failures"]
        );
    }

    #[test]
    fn names_and_peer_urls_are_what_etcd_flags_take() {
        assert!(valid_name("m-3.b_x"));
        assert!(!valid_name("m 3") && !valid_name("") && !valid_name("a,b") && !valid_name("a=b"));
        assert!(valid_peer_url("http://127.0.0.1:2380") && valid_peer_url("https://etcd-3.example:2380"));
        assert!(valid_peer_url("http://[::1]:2380"));
        assert!(
            !valid_peer_url("127.0.0.1:2380") && !valid_peer_url("http://h:2380/x") && !valid_peer_url("http://h,x:1")
        );
        assert!(!valid_peer_url("http://h:0") && !valid_peer_url("http://:2380"));
    }
}
