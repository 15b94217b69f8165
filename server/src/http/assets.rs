//! `/pkg` (the wasm, JS and CSS): the built-in site served from memory
//! ([`built_in`]), or a folder's served by `ServeDir` ([`revalidate`]).
//!
//! How browsers cache it: `Cache-Control:
//! no-cache` with an `ETag`, so a browser keeps the files but asks each
//! time whether they are still current, and gets a 304 without a body when
//! they are.
//!
//! Not `immutable`: the names are not hashed (`pkg/leasehold.wasm` is the
//! same name in every build), and a page must never run one build's
//! modules with another's. Not `Last-Modified` either, which `ServeDir`
//! gives: its one-second dates are compared by order, so a build rolled back
//! with its files' times kept (`cp -p`, `rsync -t`, a tarball) would look
//! older than what a browser holds and be answered 304. A folder's `ETag`
//! is the served file's size and modification time to the nanosecond,
//! compared for equality: any other build's file is another tag; a built-in
//! file's is its size and a hash of its bytes.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use super::kv_routes::percent_decode_bytes;
use crate::site::Files;

/// A file of the built-in site under `/pkg`: brotli, gzip or plain by
/// `Accept-Encoding`, 304 to an `If-None-Match` naming it, 404 for any other path.
pub async fn built_in(State(files): State<&'static Files>, request: Request) -> Response {
    let headers = request.headers();
    let decoded = percent_decode_bytes(request.uri().path().trim_start_matches('/'))
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    let asset = decoded.and_then(|path| files.by_path.get(format!("pkg/{path}").as_str()));
    let mut response = Response::new(Body::empty());
    let answer = response.headers_mut();
    answer.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let Some(asset) = asset else {
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    };
    answer.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    let (chosen, encoding) = match (&asset.br, &asset.gzip) {
        (Some(br), _) if accepts(headers, "br") => (br, Some("br")),
        (_, Some(gz)) if accepts(headers, "gzip") => (gz, Some("gzip")),
        _ => (&asset.plain, None),
    };
    answer.insert(header::ETAG, chosen.etag.clone());
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|wanted| names(wanted, &chosen.etag))
    {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return response;
    }
    answer.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    if let Some(encoding) = encoding {
        answer.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    answer.insert(header::CONTENT_LENGTH, HeaderValue::from(chosen.bytes.len()));
    *response.body_mut() = Body::from(chosen.bytes);
    response
}

/// Whether `Accept-Encoding` names `coding` with a weight above 0.
fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            let mut it = part.split(';');
            let named = it.next().unwrap_or_default().trim();
            let refused = it.any(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()) == Some(0.0));
            named.eq_ignore_ascii_case(coding) && !refused
        })
}

/// Adds the caching headers to what `ServeDir` answers from `dir`, and
/// answers 304 to an `If-None-Match` that names the file's current tag.
pub async fn revalidate(State(dir): State<Arc<PathBuf>>, mut request: Request, next: Next) -> Response {
    let headers = request.headers_mut();
    let wanted = headers.remove(header::IF_NONE_MATCH);
    // Dates are not how this is revalidated (see the module's doc), and a
    // range asked on the condition of a date or tag gets the whole file.
    headers.remove(header::IF_MODIFIED_SINCE);
    if headers.remove(header::IF_RANGE).is_some() {
        headers.remove(header::RANGE);
    }
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let ok = response.status() == StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if !ok {
        return response;
    }
    headers.remove(header::LAST_MODIFIED);
    // The same name is served as brotli, gzip or plain by Accept-Encoding.
    headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    let Some(tag) = tag_of(&dir, &path, headers).await else {
        return response;
    };
    if wanted.as_ref().is_some_and(|wanted| names(wanted, &tag)) {
        let mut not_modified = Response::new(Body::empty());
        *not_modified.status_mut() = StatusCode::NOT_MODIFIED;
        let kept = not_modified.headers_mut();
        for name in [header::CACHE_CONTROL, header::VARY] {
            for value in response.headers().get_all(&name) {
                kept.append(name.clone(), value.clone());
            }
        }
        kept.insert(header::ETAG, tag);
        return not_modified;
    }
    response.headers_mut().insert(header::ETAG, tag);
    response
}

/// The tag of the file `ServeDir` served for `path`: the precompressed one
/// when the answer has a `Content-Encoding`.
async fn tag_of(dir: &Path, path: &str, answer: &HeaderMap) -> Option<HeaderValue> {
    let decoded = String::from_utf8(percent_decode_bytes(path.trim_start_matches('/')).ok()?).ok()?;
    let relative = Path::new(&decoded);
    if !relative.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    let suffix = match answer.get(header::CONTENT_ENCODING).map(HeaderValue::as_bytes) {
        None => "",
        Some(b"br") => ".br",
        Some(b"gzip") => ".gz",
        Some(_) => return None,
    };
    let mut file = dir.join(relative).into_os_string();
    file.push(suffix);
    let meta = tokio::fs::metadata(file).await.ok()?;
    let modified = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_nanos();
    let encoding = suffix.trim_start_matches('.');
    HeaderValue::from_str(&format!("\"{:x}-{modified:x}{encoding}\"", meta.len())).ok()
}

/// Whether an `If-None-Match` names `tag` (weakly: `W/` is ignored) or is `*`.
fn names(wanted: &HeaderValue, tag: &HeaderValue) -> bool {
    let Ok(wanted) = wanted.to_str() else {
        return false;
    };
    let tag = tag.as_bytes();
    wanted
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate).as_bytes() == tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_encodings() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
            headers
        };
        assert!(accepts(&with("gzip, deflate, br, zstd"), "br"));
        assert!(accepts(&with("GZIP;q=0.5"), "gzip"));
        assert!(!accepts(&with("br;q=0, gzip"), "br"));
        assert!(!accepts(&with("br; q=0.000"), "br"));
        assert!(!accepts(&with("gzip"), "br"));
        assert!(!accepts(&HeaderMap::new(), "gzip"));
    }

    #[test]
    fn if_none_match_lists() {
        let tag = HeaderValue::from_static("\"1f-abc\"");
        let matches = |text: &'static str| names(&HeaderValue::from_static(text), &tag);
        assert!(matches("\"1f-abc\""));
        assert!(matches("W/\"1f-abc\""));
        assert!(matches("\"x\", \"1f-abc\""));
        assert!(matches("*"));
        assert!(!matches("\"1f-abd\""));
        assert!(!matches("1f-abc"));
    }
}
