//! Browser-facing safety: response headers on everything, a Content Security
//! Policy on pages, and the same-origin rule for anything that changes state.
//!
//! - Pages get a CSP allowing only this origin's scripts, the wasm
//!   (`'wasm-unsafe-eval'`), and the inline scripts of that very page by their
//!   SHA-256 hash: the hydration bootstrap Leptos writes is allowed, an
//!   injected script is not. Other responses get `default-src 'none'`.
//! - A state-changing request (any method but GET, HEAD, OPTIONS) and a
//!   WebSocket upgrade must come from this origin: an `Origin` header naming
//!   another origin, or `Sec-Fetch-Site` saying `cross-site`/`same-site`, is
//!   403 `forbidden`. A request with neither comes from no browser (curl, a
//!   script) and carries no ambient credentials worth forging, so it passes.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::audit::{clip, Entry};
use super::client::Client;
use super::{ApiError, AppState};

/// Pages larger than this are sent with a CSP that allows no inline script.
const MAX_PAGE_BYTES: usize = 8 << 20;

/// The CSP for everything that is not a page.
const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// Sets the security headers; pages get their CSP with inline-script hashes.
pub async fn headers(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let mut response = if is_page {
        with_page_policy(response).await
    } else {
        let mut response = response;
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(API_POLICY));
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

async fn with_page_policy(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_PAGE_BYTES).await {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::warn!(%error, "a page could not be read to hash its scripts");
            return ApiError::Internal(format!("reading a rendered page: {error}")).into_response();
        }
    };
    let policy = page_policy(&String::from_utf8_lossy(&bytes));
    match HeaderValue::from_str(&policy) {
        Ok(value) => {
            parts.headers.insert(header::CONTENT_SECURITY_POLICY, value);
        }
        Err(error) => tracing::warn!(%error, "a page's policy is not a header value"),
    }
    // The body was read whole; its length is known now.
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

/// The policy of one page: its inline scripts allowed by hash, nothing else inline.
pub fn page_policy(html: &str) -> String {
    let hashes: String = inline_scripts(html)
        .map(|script| format!(" 'sha256-{}'", STANDARD.encode(Sha256::digest(script.as_bytes()))))
        .collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The text of every `<script>` element without a `src`, as the browser hashes it.
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    let mut rest = html;
    std::iter::from_fn(move || loop {
        let start = rest.find("<script")?;
        let after_name = &rest[start + "<script".len()..];
        let open_end = after_name.find('>')?;
        let attributes = &after_name[..open_end];
        let body = &after_name[open_end + 1..];
        let close = body.find("</script")?;
        rest = &body[close..];
        // `<scripts>` or another tag that merely starts with the name is not a script.
        if !attributes.is_empty() && !attributes.starts_with(|c: char| c.is_ascii_whitespace() || c == '/') {
            continue;
        }
        if has_src(attributes) {
            continue;
        }
        return Some(&body[..close]);
    })
}

fn has_src(attributes: &str) -> bool {
    attributes
        .split(|c: char| c.is_ascii_whitespace())
        .any(|a| a.eq_ignore_ascii_case("src") || a.to_ascii_lowercase().starts_with("src="))
}

/// Refuses a state-changing request or a WebSocket upgrade from another origin.
/// A refused state-changing request is audited; a refused WebSocket is only logged.
pub async fn same_origin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let upgrade = request.headers().contains_key(header::UPGRADE);
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe && !upgrade {
        return next.run(request).await;
    }
    if let Err(why) = check_origin(request.headers()) {
        let (method, path) = (request.method().clone(), request.uri().path().to_owned());
        if safe {
            tracing::warn!(%method, path = %clip(&path), %why, "cross-origin WebSocket refused");
        } else {
            // Before authentication: a cross-site request carries no
            // SameSite=Strict cookie, so it is nobody's. Logged with the
            // audit entry, which is held back in a flood.
            let from = request.extensions().get::<Client>().map(|c| c.0);
            state.audit.record(&Entry::new(
                format!("{method} {path}"),
                "anonymous",
                from,
                "refused",
                why.clone(),
            ));
        }
        return ApiError::Forbidden(why).into_response();
    }
    next.run(request).await
}

fn check_origin(headers: &HeaderMap) -> Result<(), String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(origin) = text(header::ORIGIN.as_str()) {
        let host = text(header::HOST.as_str()).unwrap_or_default();
        let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or_default();
        if origin == "null" || origin_host.is_empty() || !origin_host.eq_ignore_ascii_case(host) {
            return Err(format!(
                "this request came from the page of another site ({}); only Leasehold's own pages may change anything",
                clip(origin)
            ));
        }
        return Ok(());
    }
    match text("sec-fetch-site") {
        Some("cross-site" | "same-site") => Err(
            "this request came from the page of another site; only Leasehold's own pages may change anything"
                .to_owned(),
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_hashed_and_external_ones_are_not() {
        let html = r#"<head><script type="module">import("/pkg/a.js")</script><script src="/x.js"></script><scripts>no</scripts><script>b()</script></head>"#;
        let found: Vec<&str> = inline_scripts(html).collect();
        assert_eq!(found, [r#"import("/pkg/a.js")"#, "b()"]);
        let policy = page_policy(html);
        // SHA-256 of `b()`, as a browser computes it.
        let b = STANDARD.encode(Sha256::digest(b"b()"));
        assert!(policy.contains(&format!("'sha256-{b}'")), "{policy}");
        assert_eq!(policy.matches("'sha256-").count(), 2, "{policy}");
        let scripts = policy.split(';').find(|d| d.trim().starts_with("script-src"));
        assert!(scripts.is_some_and(|d| !d.contains("unsafe-inline")), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn origins() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, HeaderValue::from_static(value));
            }
            map
        };
        assert!(check_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ]))
        .is_ok());
        assert!(check_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example")
        ]))
        .is_err());
        assert!(check_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:9999")
        ]))
        .is_err());
        assert!(check_origin(&headers(&[("host", "127.0.0.1:8080"), ("origin", "null")])).is_err());
        assert!(check_origin(&headers(&[("host", "a:1"), ("sec-fetch-site", "cross-site")])).is_err());
        assert!(check_origin(&headers(&[("host", "a:1"), ("sec-fetch-site", "same-origin")])).is_ok());
        assert!(
            check_origin(&headers(&[("host", "a:1")])).is_ok(),
            "no browser, no ambient credentials"
        );
    }
}
