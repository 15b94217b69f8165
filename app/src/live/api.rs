//! REST calls from the browser (the WebSocket carries everything live; these
//! are the one-off requests: who am I, a revoke preview, a revoke, sign in and out).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::model::ErrorCode;

/// A request that did not give the expected body, in words for a person.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiFailure {
    message: String,
    /// The HTTP status, when the server answered.
    pub status: Option<u16>,
    /// The body of an error answer, for errors that carry more than words
    /// (a 409's `current`).
    pub body: String,
}

impl ApiFailure {
    fn new(message: impl Into<String>) -> Self {
        ApiFailure {
            message: message.into(),
            status: None,
            body: String::new(),
        }
    }

    /// The server wants a sign-in first (401).
    pub fn is_unauthenticated(&self) -> bool {
        self.status == Some(401)
    }
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub async fn get_json<T: DeserializeOwned>(path: &str) -> Result<T, ApiFailure> {
    request("GET", path, None).await
}

/// The build the server serves (`build` of `GET /api/v1/health`, read also
/// from a 503, whose body is the same; only that field, for the wasm's size).
pub async fn server_build() -> Result<String, ApiFailure> {
    #[derive(serde::Deserialize)]
    struct Build {
        #[serde(default)]
        build: String,
    }
    let answer = match get_json::<Build>("/api/v1/health").await {
        Err(failure) if failure.status == Some(503) => serde_json::from_str(&failure.body).map_err(|_| failure),
        answer => answer,
    };
    answer.map(|b| b.build)
}

pub async fn delete_json<T: DeserializeOwned>(path: &str) -> Result<T, ApiFailure> {
    request("DELETE", path, None).await
}

/// A `DELETE` that says what it was confirmed against.
pub async fn delete_json_with<T: DeserializeOwned>(path: &str, body: &impl Serialize) -> Result<T, ApiFailure> {
    send_json("DELETE", path, body).await
}

pub async fn put_json<T: DeserializeOwned>(path: &str, body: &impl Serialize) -> Result<T, ApiFailure> {
    send_json("PUT", path, body).await
}

pub async fn post_json<T: DeserializeOwned>(path: &str, body: &impl Serialize) -> Result<T, ApiFailure> {
    send_json("POST", path, body).await
}

async fn send_json<T: DeserializeOwned>(method: &str, path: &str, body: &impl Serialize) -> Result<T, ApiFailure> {
    let body = serde_json::to_string(body).map_err(|e| ApiFailure::new(format!("cannot send this: {e}")))?;
    request(method, path, Some(body)).await
}

#[cfg(feature = "hydrate")]
async fn request<T: DeserializeOwned>(method: &str, path: &str, body: Option<String>) -> Result<T, ApiFailure> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    let unreachable = |_| ApiFailure::new("Leasehold could not be reached; check the connection and try again.");
    let window = web_sys::window().ok_or_else(|| ApiFailure::new("no browser window"))?;
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        let headers = web_sys::Headers::new().map_err(unreachable)?;
        headers.set("content-type", "application/json").map_err(unreachable)?;
        init.set_headers(&headers);
        init.set_body(&wasm_bindgen::JsValue::from_str(&body));
    }
    let request = web_sys::Request::new_with_str_and_init(path, &init).map_err(unreachable)?;
    let response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(unreachable)?;
    let response: web_sys::Response = response.dyn_into().map_err(unreachable)?;
    let text = JsFuture::from(response.text().map_err(unreachable)?)
        .await
        .map_err(unreachable)?;
    let text = text.as_string().unwrap_or_default();
    if response.ok() {
        serde_json::from_str(&text).map_err(|e| ApiFailure::new(format!("The server's answer was not understood: {e}")))
    } else {
        let message = match serde_json::from_str::<crate::model::ErrorBody>(&text) {
            Ok(body) => describe(response.status(), body.error.code, &body.error.message),
            Err(_) => format!("The server answered {}.", response.status()),
        };
        Err(ApiFailure {
            message,
            status: Some(response.status()),
            body: text,
        })
    }
}

#[cfg(not(feature = "hydrate"))]
async fn request<T: DeserializeOwned>(_method: &str, path: &str, _body: Option<String>) -> Result<T, ApiFailure> {
    Err(ApiFailure::new(format!(
        "{path} can only be requested from the browser"
    )))
}

/// An API error in words.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn describe(status: u16, code: ErrorCode, message: &str) -> String {
    let what = match code {
        ErrorCode::NotFound => "Not found",
        ErrorCode::BadRequest => "Not a valid request",
        ErrorCode::Unauthenticated => "You are not signed in",
        ErrorCode::Forbidden => "You are not allowed to do this",
        ErrorCode::TooManyRequests => "Too many attempts",
        ErrorCode::Conflict => "Someone else changed this first",
        ErrorCode::HolderChanged => "The lock changed hands",
        ErrorCode::Changed => "This changed since you looked",
        ErrorCode::Compacted => "etcd no longer keeps that revision",
        ErrorCode::PreconditionFailed => "Not now: a check does not hold",
        ErrorCode::InProgress => "Already under way",
        ErrorCode::EtcdUnavailable => "etcd is unreachable right now",
        _ => "The server could not do this",
    };
    format!("{what} ({status}): {message}")
}
