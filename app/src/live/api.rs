//! REST calls from the browser (the WebSocket carries everything live; these
//! are the one-off requests: a revoke preview, a revoke).

use serde::de::DeserializeOwned;

/// A request that did not give the expected body, in words for a person.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiFailure(pub String);

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub async fn get_json<T: DeserializeOwned>(path: &str) -> Result<T, ApiFailure> {
    request("GET", path).await
}

pub async fn delete_json<T: DeserializeOwned>(path: &str) -> Result<T, ApiFailure> {
    request("DELETE", path).await
}

#[cfg(feature = "hydrate")]
async fn request<T: DeserializeOwned>(method: &str, path: &str) -> Result<T, ApiFailure> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    let unreachable = |_| ApiFailure("Leasehold could not be reached; check the connection and try again.".to_owned());
    let window = web_sys::window().ok_or_else(|| ApiFailure("no browser window".to_owned()))?;
    let init = web_sys::RequestInit::new();
    init.set_method(method);
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
        serde_json::from_str(&text).map_err(|e| ApiFailure(format!("The server's answer was not understood: {e}")))
    } else {
        Err(ApiFailure(
            match serde_json::from_str::<crate::model::ErrorBody>(&text) {
                Ok(body) => describe(response.status(), &body.error.code, &body.error.message),
                Err(_) => format!("The server answered {}.", response.status()),
            },
        ))
    }
}

#[cfg(not(feature = "hydrate"))]
async fn request<T: DeserializeOwned>(_method: &str, path: &str) -> Result<T, ApiFailure> {
    Err(ApiFailure(format!("{path} can only be requested from the browser")))
}

/// An API error in words.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn describe(status: u16, code: &str, message: &str) -> String {
    let what = match code {
        "not_found" => "Not found",
        "bad_request" => "Not a valid request",
        "unauthenticated" => "You are not signed in",
        "forbidden" => "You are not allowed to do this",
        "conflict" => "Someone else changed this first",
        "etcd_unavailable" => "etcd is unreachable right now",
        _ => "The server could not do this",
    };
    format!("{what} ({status}): {message}")
}
