//! REST handlers under `/api/v1`.

use app::model::{ClusterBody, EtcdHealth, HealthBody};
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::Json;

use super::error::ApiError;
use super::AppState;

/// `GET /api/v1/health`: 200 when synced, 503 otherwise.
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<HealthBody>) {
    let link = state.store.link();
    let tasks = state.tasks.health();
    let healthy = link.synced && state.tasks.all_running();
    let body = HealthBody {
        status: if healthy { "ok" } else { "degraded" }.to_owned(),
        synced: link.synced,
        etcd: EtcdHealth {
            connected: link.synced,
            endpoints: state.config.etcd.endpoints.clone(),
            error: link.error,
        },
        revision: state.store.revision(),
        tasks,
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

/// Any other path under `/api/`: a JSON 404, never the HTML app.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no API route at {}", uri.path()))
}
