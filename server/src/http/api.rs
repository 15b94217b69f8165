//! REST handlers under `/api/v1`.

use app::model::{
    ClusterBody, ElectionsBody, EtcdHealth, HealthBody, Lease, LeaseDetailBody, LeaseId, LeasesBody, LocksBody,
    RevokedBody, Role, ServiceBody, ServicesBody,
};

use axum::extract::State;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::{Extension, Json};
use serde::Deserialize;

use super::audit::Entry;
use super::client::Client;
use super::error::ApiError;
use super::AppState;
use crate::auth::{AuthMode, Caller};
use crate::etcd::ActionError;

/// What health says of an error to a caller without a session.
const UNDISCLOSED: &str = "failing; sign in for the details (they are also in the server's log)";

/// `GET /api/v1/health`: 200 when synced, 503 otherwise. Under `--auth
/// users`, a caller without a session learns the state but not the
/// details: no endpoints, and a generic text for every error (they name
/// etcd's addresses and users).
pub async fn health(State(state): State<AppState>, headers: HeaderMap) -> (StatusCode, Json<HealthBody>) {
    let link = state.store.link();
    let mut tasks = state.tasks.health();
    let healthy = link.synced && state.tasks.all_running();
    let disclose = matches!(state.config.auth, AuthMode::None) || super::auth::signed_in(&state, &headers);
    let (endpoints, link_error) = if disclose {
        (state.config.etcd.endpoints.clone(), link.error)
    } else {
        for task in &mut tasks {
            if task.error.is_some() {
                task.error = Some(UNDISCLOSED.to_owned());
            }
        }
        (Vec::new(), link.error.map(|_| UNDISCLOSED.to_owned()))
    };
    let body = HealthBody {
        status: if healthy { "ok" } else { "degraded" }.to_owned(),
        synced: link.synced,
        etcd: EtcdHealth {
            connected: link.synced,
            endpoints,
            error: link_error,
        },
        revision: state.store.revision(),
        tasks,
        build: app::build_id(&state.leptos).to_owned(),
    };
    let status = if body.synced {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// `GET /api/v1/cluster`.
pub async fn cluster(State(state): State<AppState>) -> Json<ClusterBody> {
    Json(state.store.cluster_body())
}

#[derive(Debug, Deserialize)]
pub struct ServicesQuery {
    q: Option<String>,
}

/// `GET /api/v1/services?q=TEXT`.
pub async fn services(State(state): State<AppState>, Query(query): Query<ServicesQuery>) -> Json<ServicesBody> {
    let filter = query.q.as_deref().filter(|q| !q.is_empty());
    Json(state.store.services_body(filter))
}

/// `GET /api/v1/services/{name}`: 404 when the service has no instances.
pub async fn service(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<ServiceBody>, ApiError> {
    state
        .store
        .service_body(&name)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no service named {name:?}")))
}

/// `GET /api/v1/leases`.
pub async fn leases(State(state): State<AppState>) -> Json<LeasesBody> {
    Json(state.store.leases_body())
}

fn parse_lease(text: &str) -> Result<LeaseId, ApiError> {
    text.parse()
        .map_err(|error| ApiError::BadRequest(format!("lease id {text:?}: {error}")))
}

impl From<ActionError> for ApiError {
    fn from(error: ActionError) -> Self {
        match error {
            ActionError::NotFound => ApiError::NotFound("etcd does not know this lease".to_owned()),
            ActionError::Unavailable(why) => ApiError::EtcdUnavailable(why),
        }
    }
}

/// `GET /api/v1/leases/{id}`: the lease and what revoking it would remove.
pub async fn lease(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<LeaseDetailBody>, ApiError> {
    let lease = parse_lease(&id)?;
    if let Some(body) = state.store.lease_detail(lease.0) {
        return Ok(Json(body));
    }
    // Not in the model yet (granted since the last poll, holding no key): ask etcd.
    let now = state.actions.lease(lease.0).await?;
    Ok(Json(LeaseDetailBody {
        revision: state.store.revision(),
        lease: Lease {
            id: lease,
            ttl: Some(now.ttl),
            granted_ttl: Some(now.granted_ttl),
            keys: now.keys,
            sampled_at: None,
            services: Vec::new(),
        },
        instances: Vec::new(),
        locks: Vec::new(),
        elections: Vec::new(),
        other_keys: Vec::new(),
        stale: !state.store.link().synced,
    }))
}

/// Every destructive route under `--read-only`.
pub async fn read_only(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiError {
    let why = "this Leasehold runs with --read-only: nothing can be revoked or changed through it".to_owned();
    let entry = Entry::new("revoke_lease", caller.who(), Some(from), "refused", why.clone()).with_lease(id, None);
    state.audit.record(&entry);
    ApiError::Forbidden(why)
}

/// `DELETE /api/v1/leases/{id}`: revokes the lease through etcd. The keys
/// leave the model when the watch reports their deletion.
pub async fn revoke_lease(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<RevokedBody>, ApiError> {
    let refuse = |error: ApiError, id: String| {
        let entry =
            Entry::new("revoke_lease", caller.who(), Some(from), "refused", error.to_string()).with_lease(id, None);
        state.audit.record(&entry);
        error
    };
    if caller.role != Role::Operator {
        let who = caller.user.as_deref().unwrap_or("this caller");
        let why = format!("{who} is a viewer: only an operator may revoke leases");
        return Err(refuse(ApiError::Forbidden(why), id));
    }
    let lease = match parse_lease(&id) {
        Ok(lease) => lease,
        Err(error) => return Err(refuse(error, id)),
    };
    let held = state.store.lease_detail(lease.0);
    let audit = |result: &'static str, detail: String| {
        let entry = Entry::new("revoke_lease", caller.who(), Some(from), result, detail)
            .with_lease(lease.to_string(), held.as_ref());
        state.audit.record(&entry);
    };
    state.revocations.note(lease.0);
    let revoked = match state.actions.revoke_lease(lease.0).await {
        Ok(revoked) => revoked,
        Err(error) => {
            let error = ApiError::from(error);
            audit("failed", error.to_string());
            return Err(error);
        }
    };
    audit(
        "ok",
        format!(
            "{} key(s) deleted at revision {}",
            revoked.deleted_keys, revoked.revision
        ),
    );
    Ok(Json(RevokedBody {
        revision: revoked.revision,
        revoked: lease,
        deleted_keys: revoked.deleted_keys,
    }))
}

/// Most events one request may ask for.
const EVENTS_MAX: usize = 10_000;

/// `GET /api/v1/events?since=REV&limit=N`.
pub async fn events(
    State(state): State<AppState>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<app::model::EventsBody>, ApiError> {
    let number = |name: &str, default: i64| -> Result<i64, ApiError> {
        match query.get(name) {
            None => Ok(default),
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| ApiError::BadRequest(format!("{name}={text:?} is not a whole number >= 0"))),
        }
    };
    let since = number("since", 0)?;
    let limit = usize::try_from(number("limit", 1000)?).unwrap_or(usize::MAX);
    if limit > EVENTS_MAX {
        return Err(ApiError::BadRequest(format!("limit must be at most {EVENTS_MAX}")));
    }
    Ok(Json(state.store.events_body(since, limit)))
}

/// `GET /api/v1/locks`.
pub async fn locks(State(state): State<AppState>) -> Json<LocksBody> {
    Json(state.store.locks_body())
}

/// `GET /api/v1/elections`.
pub async fn elections(State(state): State<AppState>) -> Json<ElectionsBody> {
    Json(state.store.elections_body())
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    let body = state.store.metrics().render(state.store.revision());
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// Any other path under `/api/`: a JSON 404, never the HTML app.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no API route at {}", uri.path()))
}
