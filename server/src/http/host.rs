//! The `Host` rule of `--auth none`, against DNS rebinding.
//!
//! Without a login, whoever reaches the port is an operator, and the
//! same-origin rule compares `Origin` with the request's own `Host`. A page
//! on `http://rebind.example:8080` that re-points its name at 127.0.0.1 is
//! then same-origin with the dashboard as far as the browser knows: its
//! requests carry `Host: rebind.example:8080`. So under `--auth none` only
//! these hosts are served, any port, before any handler (pages, assets, the
//! API and the WebSocket upgrade alike):
//!
//! - loopback names: `localhost` and names under `.localhost` (which no DNS
//!   answers for: browsers and resolvers keep them on the machine);
//! - IP literals (`127.0.0.1`, `[::1]`, `10.0.0.5`, ...): a literal is not
//!   looked up, so it cannot be rebound, and a page that shows one in its
//!   origin is the dashboard itself;
//! - the names given with `--allowed-host` (a leading dot allows a domain
//!   and every name under it).
//!
//! Every other host is 403 `host_not_allowed`. Under `--auth users` every
//! host is served: a rebound name is another origin to the browser, which
//! then sends it no session cookie.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::audit::{clip, Entry};
use super::client::Client;
use super::{ApiError, AppState};
use crate::auth::AuthMode;

/// The host part of a `Host` header or an authority, lowercased, without
/// the port or the brackets of an IPv6 literal; `None` when malformed.
fn host_of(authority: &str) -> Option<String> {
    let authority = authority.trim();
    let host = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        inside
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) if is_port(port) => host,
            Some(_) => return None,
            None => authority,
        }
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

fn is_port(text: &str) -> bool {
    text.is_empty() || text.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `host` (as [`host_of`] gives it) is served without a login.
pub fn allowed(host: &str, allowed_hosts: &[String]) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    allowed_hosts.iter().any(|name| match name.strip_prefix('.') {
        Some(domain) => host == domain || host.strip_suffix(name.as_str()).is_some_and(|sub| !sub.is_empty()),
        None => host == name,
    })
}

/// Checks `--allowed-host NAME` when it is given: a host name, no scheme,
/// no port, no path.
pub fn parse_allowed_host(text: &str) -> Result<String, String> {
    let name = text.trim().to_ascii_lowercase();
    let bare = name.strip_prefix('.').unwrap_or(&name);
    let valid = !bare.is_empty()
        && bare
            .split('.')
            .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if valid {
        Ok(name)
    } else {
        Err(format!(
            "{text:?} is not a host name: give a name like dash.example.com (any port), or .example.com for every name under it"
        ))
    }
}

/// Refuses, under `--auth none`, a request for a host that is not served
/// (see the module's doc). A refused state-changing request is audited.
pub async fn check(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !matches!(state.config.auth, AuthMode::None) {
        return next.run(request).await;
    }
    // An absolute request target names the host, and takes precedence over
    // the `Host` header; HTTP/2 has only that.
    let named = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            request
                .headers()
                .get(header::HOST)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        })
        .unwrap_or_default();
    match host_of(&named) {
        Some(host) if allowed(&host, &state.config.allowed_hosts) => next.run(request).await,
        _ => {
            let why = format!(
                "this Leasehold runs without a login (--auth none) and serves only loopback names and IP \
                 addresses, not the host {:?}: open it by address, or start it with --allowed-host NAME",
                clip(&named)
            );
            let method = request.method().clone();
            if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
                let from = request.extensions().get::<Client>().map(|c| c.0);
                let action = format!("{method} {}", request.uri().path());
                state
                    .audit
                    .record(&Entry::new(action, "anonymous", from, "refused", why.clone()));
            } else {
                tracing::debug!(host = %clip(&named), path = %clip(request.uri().path()), "host not allowed");
            }
            ApiError::HostNotAllowed(why).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports() {
        assert_eq!(host_of("127.0.0.1:8080").as_deref(), Some("127.0.0.1"));
        assert_eq!(host_of("LocalHost").as_deref(), Some("localhost"));
        assert_eq!(host_of("[::1]:3000").as_deref(), Some("::1"));
        assert_eq!(host_of("[::1]").as_deref(), Some("::1"));
        assert_eq!(host_of("dash.example:"), Some("dash.example".to_owned()));
        assert_eq!(host_of("a:b"), None);
        assert_eq!(host_of("[::1]x"), None);
        assert_eq!(host_of(""), None);
        assert_eq!(host_of(":80"), None);
    }

    #[test]
    fn names_must_be_loopback_or_allowed_and_literals_always_pass() {
        let none: [String; 0] = [];
        for host in [
            "localhost",
            "app.localhost",
            "127.0.0.1",
            "::1",
            "10.0.0.5",
            "::ffff:7f00:1",
        ] {
            assert!(allowed(host, &none), "{host}");
        }
        for host in [
            "rebind.example",
            "localhost.example",
            "notlocalhost",
            "127.0.0.1.nip.io",
            "0x7f.1",
        ] {
            assert!(!allowed(host, &none), "{host}");
        }
        let list = ["dash.example".to_owned(), ".corp.example".to_owned()];
        assert!(allowed("dash.example", &list));
        assert!(!allowed("evil-dash.example", &list));
        assert!(allowed("corp.example", &list));
        assert!(allowed("a.corp.example", &list));
        assert!(!allowed("evilcorp.example", &list));
    }

    #[test]
    fn allowed_host_flags_are_names() {
        assert_eq!(parse_allowed_host("Dash.Example"), Ok("dash.example".to_owned()));
        assert_eq!(parse_allowed_host(".corp.example"), Ok(".corp.example".to_owned()));
        for bad in ["", ".", "http://a", "a:8080", "a/b", "a..b", "*"] {
            assert!(parse_allowed_host(bad).is_err(), "{bad}");
        }
    }
}
