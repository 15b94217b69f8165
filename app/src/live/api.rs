//! REST calls from the browser (the WebSocket carries everything live; these
//! are the one-off requests: who am I, a revoke preview, a revoke, sign in and out,
//! a file sent as it is).

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
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        let headers = json_headers()?;
        init.set_headers(&headers);
        init.set_body(&wasm_bindgen::JsValue::from_str(&body));
    }
    fetch(path, &init).await
}

/// Why the server could not be asked, in words.
#[cfg(feature = "hydrate")]
fn unreachable(_: wasm_bindgen::JsValue) -> ApiFailure {
    ApiFailure::new("Leasehold could not be reached; check the connection and try again.")
}

/// `Content-Type: application/json`.
#[cfg(feature = "hydrate")]
fn json_headers() -> Result<web_sys::Headers, ApiFailure> {
    let headers = web_sys::Headers::new().map_err(unreachable)?;
    headers.set("content-type", "application/json").map_err(unreachable)?;
    Ok(headers)
}

/// Sends the request and reads its answer: the body `T`, or the failure
/// in words.
#[cfg(feature = "hydrate")]
async fn fetch<T: DeserializeOwned>(path: &str, init: &web_sys::RequestInit) -> Result<T, ApiFailure> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    let window = web_sys::window().ok_or_else(|| ApiFailure::new("no browser window"))?;
    let request = web_sys::Request::new_with_str_and_init(path, init).map_err(unreachable)?;
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

/// A file the user chose, to be sent as a request's body as it is: the
/// browser reads it from disk as it sends it, and the wasm never holds it.
#[derive(Clone)]
pub struct Upload {
    #[cfg(feature = "hydrate")]
    file: send_wrapper::SendWrapper<web_sys::File>,
    /// The file's name, as the picker gives it.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

impl PartialEq for Upload {
    /// The same file object (a file chosen again is another upload).
    fn eq(&self, other: &Self) -> bool {
        #[cfg(feature = "hydrate")]
        {
            let (this, that): (&wasm_bindgen::JsValue, &wasm_bindgen::JsValue) = (&self.file, &other.file);
            this == that
        }
        #[cfg(not(feature = "hydrate"))]
        {
            self.name == other.name && self.size == other.size
        }
    }
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Upload({:?}, {} bytes)", self.name, self.size)
    }
}

impl Upload {
    /// The file chosen in the `<input type="file">` an event came from.
    #[cfg(feature = "hydrate")]
    pub fn chosen(ev: &leptos::ev::Event) -> Option<Upload> {
        use wasm_bindgen::JsCast;
        let input = ev.target()?.dyn_into::<web_sys::HtmlInputElement>().ok()?;
        let file = input.files()?.get(0)?;
        Some(Upload {
            name: file.name(),
            size: file.size() as u64,
            file: send_wrapper::SendWrapper::new(file),
        })
    }

    #[cfg(not(feature = "hydrate"))]
    pub fn chosen(_: &leptos::ev::Event) -> Option<Upload> {
        None
    }
}

/// `POST path` with the file `upload` as the body (`Content-Type:
/// application/json`), sent by the browser straight from the file.
#[cfg(feature = "hydrate")]
pub async fn post_file<T: DeserializeOwned>(path: &str, upload: &Upload) -> Result<T, ApiFailure> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    let headers = json_headers()?;
    init.set_headers(&headers);
    // A File is a Blob: fetch sends it as it reads it.
    init.set_body(&upload.file);
    fetch(path, &init).await
}

#[cfg(not(feature = "hydrate"))]
pub async fn post_file<T: DeserializeOwned>(path: &str, _: &Upload) -> Result<T, ApiFailure> {
    Err(ApiFailure::new(format!(
        "{path} can only be requested from the browser"
    )))
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
