//! REST handlers under `/api/v1`.

use app::model::{
    ClusterBody, ElectionsBody, EtcdHealth, HealthBody, Lease, LeaseDetailBody, LeaseId, LeasesBody, LocksBody,
    ServiceBody, ServicesBody,
};

use axum::extract::State;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Json;
use serde::Deserialize;

use super::error::ApiError;
use super::openapi::Failures;
use super::past::AsOf;
use super::AppState;
use crate::auth::AuthMode;

/// What health says of an error to a caller without a session.
const UNDISCLOSED: &str = "failing; sign in for the details (they are also in the server's log)";

/// `GET /api/v1/health`: 200 when synced, 503 otherwise. Under `--auth
/// users`, a caller without a session learns the state but not the
/// details: no endpoints, and a generic text for every error (they name
/// etcd's addresses and users).
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = "server",
    responses(
        (status = 200, description = "The model is synced with etcd (status `ok`, or `degraded` while a task restarts)", body = HealthBody),
        (status = 503, description = "Not synced with etcd: the same body, saying why", body = HealthBody),
        (status = 403, description = "host_not_allowed: the Host rule", body = app::model::ErrorBody),
    )
)]
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
        alarms: state.store.alarms(),
        // Which services lose instances is the registry's: not told to
        // whoever may not read it.
        storm: state.store.storm().map(|mut storm| {
            if !disclose {
                storm.services.clear();
            }
            storm
        }),
        build: app::build_id().to_owned(),
    };
    let status = if body.synced {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// `GET /api/v1/cluster`.
#[utoipa::path(
    get,
    path = "/cluster",
    operation_id = "cluster",
    tag = "registry",
    responses((status = 200, description = "The members and their status", body = ClusterBody), Failures)
)]
pub async fn cluster(State(state): State<AppState>) -> Json<ClusterBody> {
    Json(state.store.cluster_body())
}

/// `GET /api/v1/ops`: each member's health, quota, alarms and its part in
/// the last rolling defragmentation.
#[utoipa::path(
    get,
    path = "/ops",
    operation_id = "ops",
    tag = "operations",
    responses((status = 200, description = "The members as the operations console shows them", body = app::model::OpsBody), Failures)
)]
pub async fn ops(State(state): State<AppState>) -> Json<app::model::OpsBody> {
    Json(state.store.ops_body())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetricsHistoryQuery {
    /// One service's series instead of the registry's and the cluster's.
    service: Option<String>,
    /// One lock's series: its longest hold and longest wait per bucket.
    lock: Option<String>,
    /// The width of the buckets: 10 (the last hour, the default) or 60 (the last day).
    #[param(schema_with = step_schema)]
    step: Option<u32>,
}

/// `step`: one of the history's two bucket widths.
fn step_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .enum_values(Some([app::model::FINE_STEP_SECONDS, app::model::COARSE_STEP_SECONDS]))
        .into()
}

/// `GET /api/v1/metrics-history?service=NAME&step=10|60`: the history the
/// server keeps, as the `metrics` (or `metrics:<service>`) topic's snapshot;
/// `?lock=NAME`: that lock's holds and waits.
#[utoipa::path(
    get,
    path = "/metrics-history",
    operation_id = "metrics_history",
    tag = "registry",
    params(MetricsHistoryQuery),
    responses(
        (status = 200, description = "The series, oldest point first", body = app::model::MetricsHistoryBody),
        Failures,
    )
)]
pub async fn metrics_history(
    State(state): State<AppState>,
    Query(query): Query<MetricsHistoryQuery>,
) -> Result<Json<app::model::MetricsHistoryBody>, ApiError> {
    let step = match query.step {
        None => app::model::FINE_STEP_SECONDS,
        Some(step) if step == app::model::FINE_STEP_SECONDS || step == app::model::COARSE_STEP_SECONDS => step,
        Some(step) => {
            return Err(ApiError::BadRequest(format!(
                "step={step}: the history has buckets of 10 and 60 seconds"
            )))
        }
    };
    let service = query.service.as_deref().filter(|s| !s.is_empty());
    match (service, query.lock.as_deref().filter(|l| !l.is_empty())) {
        (Some(_), Some(_)) => Err(ApiError::BadRequest(
            "service and lock each name a history of their own: give one".to_owned(),
        )),
        (None, Some(lock)) => Ok(Json(state.store.lock_history(lock, step))),
        (service, None) => Ok(Json(state.store.metrics_history(service, step))),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ServicesQuery {
    /// Only the services whose name holds this text (any case).
    q: Option<String>,
}

/// The past registry of `?rev=`/`?at=`, and what to mark its bodies with.
macro_rules! as_of {
    ($state:expr, $as_of:expr, $now:expr, |$store:ident| $read:expr) => {
        match super::past::registry_at(&$state, &$as_of).await? {
            None => {
                let $store = &$now;
                $read
            }
            Some(past) => {
                let $store = &past.store;
                let mut body = $read;
                body.as_of = true;
                body
            }
        }
    };
}

/// `GET /api/v1/services?q=TEXT`.
#[utoipa::path(
    get,
    path = "/services",
    operation_id = "services",
    tag = "registry",
    params(ServicesQuery, AsOf),
    responses(
        (status = 200, description = "The services, by name", body = ServicesBody),
        (status = 410, description = "compacted: `rev` (or `at`) is older than etcd's compaction", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn services(
    State(state): State<AppState>,
    Query(query): Query<ServicesQuery>,
    Query(as_of): Query<AsOf>,
) -> Result<Json<ServicesBody>, ApiError> {
    let filter = query.q.as_deref().filter(|q| !q.is_empty());
    Ok(Json(
        as_of!(state, as_of, state.store, |store| store.services_body(filter))
    ))
}

/// `GET /api/v1/services/{name}`: 404 when the service has no instances.
#[utoipa::path(
    get,
    path = "/services/{name}",
    operation_id = "service",
    tag = "registry",
    params(("name" = String, Path, description = "The service's name"), AsOf),
    responses(
        (status = 200, description = "The service's instances", body = ServiceBody),
        (status = 404, description = "not_found: no instance of that name (then)", body = app::model::ErrorBody),
        (status = 410, description = "compacted: `rev` (or `at`) is older than etcd's compaction", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn service(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(as_of): Query<AsOf>,
) -> Result<Json<ServiceBody>, ApiError> {
    let missing = || ApiError::NotFound(format!("no service named {name:?}"));
    let body = match super::past::registry_at(&state, &as_of).await? {
        None => state.store.service_body(&name).ok_or_else(missing)?,
        Some(past) => {
            let mut body = past.store.service_body(&name).ok_or_else(|| {
                ApiError::NotFound(format!("no service named {name:?} at revision {}", past.revision))
            })?;
            body.as_of = true;
            body
        }
    };
    Ok(Json(body))
}

/// `GET /api/v1/leases`.
#[utoipa::path(
    get,
    path = "/leases",
    operation_id = "leases",
    tag = "registry",
    params(AsOf),
    responses(
        (status = 200, description = "Every lease the model knows (at `rev`: those holding a key then, no TTL)", body = LeasesBody),
        (status = 410, description = "compacted: `rev` (or `at`) is older than etcd's compaction", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn leases(State(state): State<AppState>, Query(as_of): Query<AsOf>) -> Result<Json<LeasesBody>, ApiError> {
    Ok(Json(as_of!(state, as_of, state.store, |store| store.leases_body())))
}

/// `GET /api/v1/leases/{id}`: the lease and what revoking it would remove.
#[utoipa::path(
    get,
    path = "/leases/{id}",
    operation_id = "lease",
    tag = "registry",
    params(("id" = LeaseId, Path, description = "The lease id in hexadecimal")),
    responses(
        (status = 200, description = "The lease and exactly what revoking it removes", body = LeaseDetailBody),
        (status = 404, description = "not_found: etcd has no such lease", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn lease(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<LeaseDetailBody>, ApiError> {
    let lease: LeaseId = id
        .parse()
        .map_err(|error| ApiError::BadRequest(format!("lease id {id:?}: {error}")))?;
    // A lease holding a watched key exists while the key does; one holding
    // none may have ended since the last poll (revoked, expired): etcd says.
    if let Some(body) = state.store.lease_detail(lease.0).filter(|body| !body.keys.is_empty()) {
        return Ok(Json(body));
    }
    // Not in the model yet (granted since the last poll, holding no key): ask etcd.
    let now = state.actions.lease(lease.0).await?;
    let entity = Lease {
        id: lease,
        ttl: Some(now.ttl),
        granted_ttl: Some(now.granted_ttl),
        keys: now.keys,
        sampled_at: None,
        services: Vec::new(),
    };
    let stale = !state.store.link().synced;
    Ok(Json(LeaseDetailBody::holding_nothing(
        state.store.revision(),
        entity,
        stale,
    )))
}

/// Most events one request may ask for.
const EVENTS_MAX: usize = 10_000;

/// `GET /api/v1/events?since=REV&before=REV&limit=N&kind=K,…&q=TEXT&subject=S&hide=lock_chatter&from=T&until=T`:
/// the newest `limit` events that match, oldest first, from the whole
/// history the server keeps; `matched`, `oldest` and `next_before` say how
/// much there is and how to page back.
#[utoipa::path(
    get,
    path = "/events",
    operation_id = "events",
    tag = "registry",
    params(
        ("since" = Option<i64>, Query, minimum = 0, description = "Only events after this revision"),
        ("before" = Option<i64>, Query, minimum = 0, description = "Only events before this revision (paging back)"),
        ("limit" = Option<i64>, Query, minimum = 0, maximum = 10000, description = "At most this many, the newest (1000)"),
        ("kind" = Option<String>, Query, pattern = r"^\s*((instance_registered|instance_updated|instance_deregistered|lease_expired|lease_revoked|lock_acquired|lock_waiting|lock_released|leader_elected|candidate_joined|candidate_left|audit|etcd_went_back|eviction_storm)\s*(,\s*|$))*$", description = "Kinds, comma-separated (docs/api.md, Events)"),
        ("q" = Option<String>, Query, description = "Text the subject or detail holds"),
        ("subject" = Option<String>, Query, description = "Exactly this subject"),
        ("hide" = Option<String>, Query, pattern = "^(lock_chatter)?$", description = "`lock_chatter`: leave out lock waits and releases"),
        ("from" = Option<String>, Query, format = DateTime, description = "Only events at or after this time (RFC 3339)"),
        ("until" = Option<String>, Query, format = DateTime, description = "Only events at or before this time (RFC 3339)"),
    ),
    responses((status = 200, description = "The newest matching events, oldest first", body = app::model::EventsBody), Failures)
)]
pub async fn events(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<app::model::EventsBody>, ApiError> {
    let get = |name: &str| query.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let number = |name: &str| -> Result<Option<i64>, ApiError> {
        match get(name) {
            None => Ok(None),
            Some(text) => text.parse::<i64>().ok().filter(|n| *n >= 0).map(Some).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "{name}={:?} is not a whole number >= 0",
                    super::audit::clip(text)
                ))
            }),
        }
    };
    let since = number("since")?.unwrap_or(0);
    let before = number("before")?;
    let limit = usize::try_from(number("limit")?.unwrap_or(1000)).unwrap_or(usize::MAX);
    if limit > EVENTS_MAX {
        return Err(ApiError::BadRequest(format!("limit must be at most {EVENTS_MAX}")));
    }
    let mut filter = app::model::EventFilter::from_pairs(query.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(ApiError::BadRequest)?;
    filter.from = get("from").map(|t| utc_time("from", t)).transpose()?;
    filter.until = get("until").map(|t| utc_time("until", t)).transpose()?;
    Ok(Json(state.store.events_query(&filter, since, before, limit)))
}

/// An RFC 3339 time as events are stamped (UTC, whole seconds), so that
/// times compare as text.
fn utc_time(name: &str, text: &str) -> Result<String, ApiError> {
    use time::format_description::well_known::Rfc3339;
    let parsed = time::OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
        ApiError::BadRequest(format!(
            "{name}={:?} is not an RFC 3339 time (2026-12-01T10:02:00Z): {e}",
            super::audit::clip(text)
        ))
    })?;
    let utc = parsed.to_offset(time::UtcOffset::UTC);
    let utc = utc.replace_nanosecond(0).unwrap_or(utc);
    utc.format(&Rfc3339).map_err(|e| ApiError::Internal(e.to_string()))
}

/// `GET /api/v1/locks`.
#[utoipa::path(
    get,
    path = "/locks",
    operation_id = "locks",
    tag = "registry",
    params(AsOf),
    responses(
        (status = 200, description = "Every lock, with holder and queue", body = LocksBody),
        (status = 410, description = "compacted: `rev` (or `at`) is older than etcd's compaction", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn locks(State(state): State<AppState>, Query(as_of): Query<AsOf>) -> Result<Json<LocksBody>, ApiError> {
    Ok(Json(as_of!(state, as_of, state.store, |store| store.locks_body())))
}

/// `GET /api/v1/elections`.
#[utoipa::path(
    get,
    path = "/elections",
    operation_id = "elections",
    tag = "registry",
    params(AsOf),
    responses(
        (status = 200, description = "Every election, with leader and candidates", body = ElectionsBody),
        (status = 410, description = "compacted: `rev` (or `at`) is older than etcd's compaction", body = app::model::ErrorBody),
        Failures,
    )
)]
pub async fn elections(
    State(state): State<AppState>,
    Query(as_of): Query<AsOf>,
) -> Result<Json<ElectionsBody>, ApiError> {
    Ok(Json(as_of!(state, as_of, state.store, |store| store.elections_body())))
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "server",
    responses(
        (status = 200, description = "Prometheus text format (docs/api.md, Metrics)", content_type = "text/plain", body = String),
        (status = 403, description = "host_not_allowed: the Host rule", body = app::model::ErrorBody),
    )
)]
pub async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    let model = state.store.model_gauges(state.config.metrics_services);
    let body = state.store.metrics().render(state.store.revision(), &model);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// Any other path under `/api/`: a JSON 404, never the HTML app.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no API route at {}", uri.path()))
}
