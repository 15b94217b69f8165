//! The one place where errors become HTTP responses.
//!
//! Handlers return `Result<_, ApiError>`; this turns each variant into the
//! status and `{"error":{"code","message"}}` body of docs/api.md ("Errors").
//! Internal errors are logged with their cause and answered with a generic
//! message.

use app::model::{
    Contender, ErrorBody, ErrorCode, ErrorDetail, HolderChangedBody, Kv, KvConflictBody, LeaseChangedBody,
    LeaseDetailBody,
};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// What every destructive route answers under `--read-only` (403 `forbidden`).
pub const READ_ONLY: &str = "this Leasehold runs with --read-only: nothing can be revoked or changed through it";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    /// A key or prefix outside the `--prefix`es this Leasehold watches.
    #[error("{0}")]
    OutOfScope(String),
    /// A `Host` not served under `--auth none` (DNS rebinding).
    #[error("{0}")]
    HostNotAllowed(String),
    /// A compare-and-swap lost: the key is no longer as the caller saw it.
    /// `current` is the key now (`None`: it does not exist).
    #[error("{message}")]
    Conflict { message: String, current: Option<Box<Kv>> },
    /// A break-lock confirmed against a holder that no longer holds the
    /// lock; `current` is the holder now (`None`: nobody).
    #[error("{message}")]
    HolderChanged {
        message: String,
        current: Option<Box<Contender>>,
    },
    /// A revoke confirmed against a preview whose keys are no longer the
    /// lease's; `current` is the preview now.
    #[error("{message}")]
    LeaseChanged {
        message: String,
        current: Box<LeaseDetailBody>,
    },
    /// What an action was confirmed against is no longer so (the members'
    /// order of a defragmentation): preview again.
    #[error("{0}")]
    Changed(String),
    /// A check the action's preview lists does not hold.
    #[error("{0}")]
    PreconditionFailed(String),
    /// Another run of the action is under way.
    #[error("{0}")]
    InProgress(String),
    /// A revision older than etcd's compaction: that history is gone.
    #[error("{0}")]
    Compacted(String),
    #[error("too many login attempts: try again in {} s", .0.as_secs().max(1))]
    TooManyRequests(std::time::Duration),
    /// Every password check the server runs at once is taken.
    #[error("the server is busy checking other sign-ins: try again in {} s", .0.as_secs().max(1))]
    Busy(std::time::Duration),
    /// A request body over what its route takes.
    #[error("{0}")]
    TooLarge(String),
    #[error("etcd is unavailable: {0}")]
    EtcdUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            ApiError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            ApiError::OutOfScope(_) => (StatusCode::FORBIDDEN, ErrorCode::OutOfScope),
            ApiError::HostNotAllowed(_) => (StatusCode::FORBIDDEN, ErrorCode::HostNotAllowed),
            ApiError::Conflict { .. } => (StatusCode::CONFLICT, ErrorCode::Conflict),
            ApiError::HolderChanged { .. } => (StatusCode::CONFLICT, ErrorCode::HolderChanged),
            ApiError::LeaseChanged { .. } => (StatusCode::CONFLICT, ErrorCode::Changed),
            ApiError::Changed(_) => (StatusCode::CONFLICT, ErrorCode::Changed),
            ApiError::PreconditionFailed(_) => (StatusCode::CONFLICT, ErrorCode::PreconditionFailed),
            ApiError::InProgress(_) => (StatusCode::CONFLICT, ErrorCode::InProgress),
            ApiError::Compacted(_) => (StatusCode::GONE, ErrorCode::Compacted),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManyRequests),
            ApiError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Busy),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge),
            ApiError::EtcdUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::EtcdUnavailable),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error answering a request");
                "internal error; the server log has the details".to_owned()
            }
            other => other.to_string(),
        };
        let error = ErrorDetail { code, message };
        let mut response = match self {
            ApiError::Conflict { current, .. } => {
                let body = KvConflictBody {
                    error,
                    current: current.map(|kv| *kv),
                };
                return (status, Json(body)).into_response();
            }
            ApiError::HolderChanged { current, .. } => {
                let body = HolderChangedBody {
                    error,
                    current: current.map(|c| *c),
                };
                return (status, Json(body)).into_response();
            }
            ApiError::LeaseChanged { current, .. } => {
                let body = LeaseChangedBody {
                    error,
                    current: *current,
                };
                return (status, Json(body)).into_response();
            }
            _ => (status, Json(ErrorBody { error })).into_response(),
        };
        if let ApiError::TooManyRequests(wait) | ApiError::Busy(wait) = self {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.max(1).into());
        }
        response
    }
}

/// Most bytes of a framework refusal's text that [`json_errors`] reads.
const REFUSAL_TEXT_MAX: usize = 4096;

/// The framework's own refusals under `/api/v1` as the JSON error body:
/// axum answers a path segment that is not UTF-8, a body over the limit or a
/// request that is no WebSocket upgrade with a line of plain text; an API
/// client (and the OpenAPI document) expects `{"error":{"code","message"}}`
/// from every route. The status and other headers stay as they were.
pub async fn json_errors(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(request).await;
    let plain_text = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/plain"));
    if !response.status().is_client_error() || !plain_text {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, REFUSAL_TEXT_MAX).await.unwrap_or_default();
    let code = match parts.status {
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthenticated,
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::TooLarge,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::TooManyRequests,
        _ => ErrorCode::BadRequest,
    };
    let message = String::from_utf8_lossy(&text).trim().to_owned();
    let body = ErrorBody {
        error: ErrorDetail { code, message },
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(json))
}
