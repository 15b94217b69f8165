//! Sign-in over HTTP: the session cookie, `POST /api/v1/login`,
//! `POST /api/v1/logout`, `GET /api/v1/me`, and the layer that answers 401
//! to every other API route without a valid session.

use std::time::Duration;

use app::model::{LoginBody, MeBody, Role};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::audit::Entry;
use super::client::Client;
use super::{ApiError, AppState};
use crate::auth::{AuthMode, Caller};

/// The session cookie's name.
pub const COOKIE: &str = "leasehold_session";

/// Finds the caller of every protected route: without `--auth users`,
/// everyone (with the server's one role); with it, the session's user, or
/// 401 without a live session. A refused state-changing request is audited.
pub async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let caller = match &state.config.auth {
        AuthMode::None => Caller {
            user: None,
            role: if state.config.read_only {
                Role::Viewer
            } else {
                Role::Operator
            },
            session: None,
        },
        AuthMode::Users(_) => match session_token(request.headers()).and_then(|token| state.sessions.get(token)) {
            Some(session) => Caller {
                user: Some(session.user.clone()),
                role: session.role,
                session: Some(session),
            },
            None => {
                let why =
                    "sign in first: this Leasehold needs a login, and this request has no live session".to_owned();
                if !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
                    let from = request.extensions().get::<Client>().map(|c| c.0);
                    let action = format!("{} {}", request.method(), request.uri().path());
                    state
                        .audit
                        .record(&Entry::new(action, "anonymous", from, "refused", why.clone()));
                }
                return ApiError::Unauthenticated(why).into_response();
            }
        },
    };
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// Whether the request comes with a live session (always false under
/// `--auth none`, which has none).
pub fn signed_in(state: &AppState, headers: &HeaderMap) -> bool {
    session_token(headers).is_some_and(|token| state.sessions.get(token).is_some())
}

/// How long a login that finds every password check taken is told to wait.
const BUSY_WAIT: Duration = Duration::from_secs(1);

/// The session token from the request's cookies.
fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, token)| token)
        .filter(|token| !token.is_empty())
}

/// `Set-Cookie` for a session; `max_age` zero clears it.
fn cookie(token: &str, max_age: Duration, secure: bool) -> Result<HeaderValue, ApiError> {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age.as_secs()
    );
    HeaderValue::from_str(&text).map_err(|e| ApiError::Internal(format!("session cookie: {e}")))
}

/// A login request. No `Debug`: it holds a password.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    username: String,
    password: String,
}

/// `POST /api/v1/login`: 200 with the user and a session cookie; 401 for a
/// wrong name or password (the same answer for both); 429 while the client
/// must wait after too many attempts; 503 `busy` while the server already
/// checks [`super::MAX_HASHING`] passwords (an attempt it did not check
/// does not count against the client).
#[utoipa::path(
    post,
    path = "/login",
    operation_id = "login",
    tag = "access",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in: the session cookie is set", body = LoginBody,
            headers(("set-cookie" = String, description = "The session cookie, HttpOnly, SameSite=Strict"))),
        (status = 400, description = "bad_request: not a login body, or --auth none (no login)", body = app::model::ErrorBody),
        (status = 401, description = "unauthenticated: a wrong user name or password", body = app::model::ErrorBody),
        (status = 403, description = "forbidden or host_not_allowed: the Origin or Host rules", body = app::model::ErrorBody),
        (status = 429, description = "too_many_requests: too many attempts from this client", body = app::model::ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait"))),
        (status = 503, description = "busy: every password check is taken", body = app::model::ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    Extension(Client(from)): Extension<Client>,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let AuthMode::Users(users) = &state.config.auth else {
        return Err(ApiError::BadRequest(
            "this Leasehold has no login: it runs with --auth none".to_owned(),
        ));
    };
    let Json(login) = body.map_err(|rejection| {
        ApiError::BadRequest(format!(
            "a login is a JSON object {{\"username\", \"password\"}}: {}",
            rejection.body_text()
        ))
    })?;
    // Held by the check itself: a client that gives up does not free it
    // before argon2 is done.
    let Ok(permit) = state.hashing.clone().try_acquire_owned() else {
        tracing::warn!(%from, "login refused: every password check is taken");
        return Err(ApiError::Busy(BUSY_WAIT));
    };
    if let Err(wait) = state.throttle.begin(from) {
        tracing::warn!(%from, wait_s = wait.as_secs(), "login refused: too many attempts");
        return Err(ApiError::TooManyRequests(wait));
    }
    let known = users.contains(&login.username);
    let name = login.username.clone();
    let checker = users.clone();
    let role = tokio::task::spawn_blocking(move || {
        let role = checker.verify(&name, &login.password);
        drop(permit);
        role
    })
    .await
    .map_err(|e| ApiError::Internal(format!("checking a password: {e}")))?;
    let Some(role) = role else {
        // The name only when it is a user's: a password typed into the name
        // field must not reach the log.
        let user = if known { login.username.as_str() } else { "(unknown)" };
        tracing::warn!(%user, %from, "login failed");
        return Err(ApiError::Unauthenticated("wrong user name or password".to_owned()));
    };
    state.throttle.succeeded(from);
    let (token, _) = state
        .sessions
        .create(login.username.clone(), role)
        .map_err(ApiError::Internal)?;
    tracing::info!(user = %login.username, ?role, %from, "signed in");
    let cookie = cookie(&token, state.sessions.ttl(), state.config.tls.is_some())?;
    let body = LoginBody {
        user: login.username,
        role,
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// `POST /api/v1/logout`: ends the session (its WebSockets close) and clears
/// the cookie. 200 whether or not there was a session.
#[utoipa::path(
    post,
    path = "/logout",
    operation_id = "logout",
    tag = "access",
    responses(
        (status = 200, description = "The session (if any) ended and the cookie cleared", body = Object,
            headers(("set-cookie" = String, description = "The cookie, expired"))),
        (status = 403, description = "forbidden or host_not_allowed: the Origin or Host rules", body = app::model::ErrorBody),
    )
)]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(session) = session_token(&headers).and_then(|token| state.sessions.end(token)) {
        tracing::info!(user = %session.user, "signed out");
    }
    let cookie = cookie("", Duration::ZERO, state.config.tls.is_some())?;
    Ok(([(header::SET_COOKIE, cookie)], Json(serde_json::json!({}))).into_response())
}

/// `GET /api/v1/me`: who this is and what they may do.
#[utoipa::path(
    get,
    path = "/me",
    operation_id = "me",
    tag = "access",
    responses((status = 200, description = "Who the caller is and what they may do", body = MeBody), super::openapi::Failures)
)]
pub async fn me(State(state): State<AppState>, Extension(caller): Extension<Caller>) -> Json<MeBody> {
    Json(MeBody {
        user: caller.user,
        role: caller.role,
        auth: state.config.auth.name().to_owned(),
        read_only: state.config.read_only,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; leasehold_session=abc"),
        );
        assert_eq!(session_token(&headers), Some("abc"));
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("leasehold_session="));
        assert_eq!(session_token(&headers), None);
        assert_eq!(session_token(&HeaderMap::new()), None);
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_under_https() {
        let Ok(plain) = cookie("t", Duration::from_secs(60), false) else {
            panic!("a cookie")
        };
        let plain = plain.to_str().unwrap_or_default();
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Strict") && plain.contains("Max-Age=60"));
        assert!(!plain.contains("Secure"));
        let Ok(secure) = cookie("t", Duration::from_secs(60), true) else {
            panic!("a cookie")
        };
        assert!(secure.to_str().unwrap_or_default().ends_with("; Secure"));
    }
}
