//! The browser-facing rules, against a real etcd: security headers and a CSP
//! that hashes exactly the page's inline scripts; no state change and no
//! WebSocket from another origin; `--read-only` offers no destructive action;
//! without access control the server will not listen beyond loopback, and
//! serves no host name a page could rebind to it; a flood of refused
//! requests cannot flood the audit log or the timeline; and `/pkg` is
//! revalidated by a tag no other build's files can have.
//!
//! Over the usual size: one test per case, each short, sharing this file's
//! helpers.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{audit_lines, config, etcd_client, spawn_app, spawn_app_with, start_etcd, TestApp};
use etcd_client::PutOptions;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const LIMIT: Duration = Duration::from_secs(30);

/// `(status, body)` of a DELETE sent as a browser on `origin` would send it.
async fn delete_from(app: &TestApp, path: &str, origin: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = app.http.delete(app.url(path));
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

/// Grants a lease and puts the key `held` on it.
async fn leased_key(client: &mut etcd_client::Client) -> i64 {
    let lease = client.lease_grant(60, None).await.expect("grant").id();
    client
        .put("held", "x", Some(PutOptions::new().with_lease(lease)))
        .await
        .expect("put");
    lease
}

/// Every inline `<script>` body of a page (no `src`), in order.
fn inline_scripts(html: &str) -> Vec<String> {
    html.split("<script")
        .skip(1)
        .filter_map(|rest| {
            let (attributes, body) = rest.split_once('>')?;
            let (script, _) = body.split_once("</script>")?;
            (!attributes.contains("src=")).then(|| script.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn pages_get_a_policy_with_their_inline_scripts_hashed_and_every_answer_gets_headers() {
    let etcd = start_etcd().await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;

    let page = app.http.get(app.url("/services")).send().await.expect("page");
    let headers = page.headers().clone();
    let html = page.text().await.expect("html");
    let policy = headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .expect("a CSP on the page")
        .to_owned();
    let scripts = inline_scripts(&html);
    assert!(!scripts.is_empty(), "the hydration bootstrap is inline: {html}");
    for script in &scripts {
        let hash = STANDARD.encode(Sha256::digest(script.as_bytes()));
        assert!(policy.contains(&format!("'sha256-{hash}'")), "{policy} lacks {script}");
    }
    assert_eq!(policy.matches("'sha256-").count(), scripts.len(), "{policy}");
    let script_src = policy
        .split(';')
        .find(|d| d.trim().starts_with("script-src"))
        .expect("script-src");
    assert!(script_src.contains("'self'") && script_src.contains("'wasm-unsafe-eval'"));
    assert!(!script_src.contains("unsafe-inline"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");

    for path in ["/services", "/api/v1/services", "/api/v1/nope"] {
        let response = app.http.get(app.url(path)).send().await.expect("request");
        let h = response.headers();
        assert_eq!(
            h.get("x-content-type-options").map(|v| v.as_bytes()),
            Some(&b"nosniff"[..]),
            "{path}"
        );
        assert_eq!(
            h.get("referrer-policy").map(|v| v.as_bytes()),
            Some(&b"no-referrer"[..]),
            "{path}"
        );
        assert!(h.contains_key("content-security-policy"), "{path}");
    }
    let api = app.http.get(app.url("/api/v1/services")).send().await.expect("request");
    assert_eq!(
        api.headers().get("content-security-policy").map(|v| v.as_bytes()),
        Some(&b"default-src 'none'; frame-ancestors 'none'"[..])
    );
    app.shutdown().await;
}

#[tokio::test]
async fn another_origin_can_neither_revoke_nor_open_the_websocket() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = dir.path().join("audit.jsonl");
    let app = spawn_app_with(common::Config {
        audit_log: Some(audit.clone()),
        ..config(etcd.endpoint())
    })
    .await;
    app.wait_for_health(200, LIMIT).await;
    let lease = leased_key(&mut client).await;
    let path = format!("/api/v1/leases/{lease:x}");

    let (status, body) = delete_from(&app, &path, Some("http://evil.example")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, _) = delete_from(&app, &path, Some(&format!("http://{}:1", app.addr.ip()))).await;
    assert_eq!(status, 403, "another port is another origin");
    let cross_site = app
        .http
        .delete(app.url(&path))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("request");
    assert_eq!(cross_site.status().as_u16(), 403);
    assert_eq!(
        client.get("held", None).await.expect("get").kvs().len(),
        1,
        "nothing revoked"
    );

    // The WebSocket upgrade checks Origin too.
    let mut request = format!("ws://{}/api/v1/ws", app.addr)
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_static("http://evil.example"));
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 403),
        other => panic!(
            "a cross-origin upgrade was not refused: {:?}",
            other.map(|(_, r)| r.status())
        ),
    }
    let mut own = format!("ws://{}/api/v1/ws", app.addr)
        .into_client_request()
        .expect("request");
    let origin = HeaderValue::from_str(&format!("http://{}", app.addr)).expect("origin");
    own.headers_mut().insert("origin", origin.clone());
    assert!(
        tokio_tungstenite::connect_async(own).await.is_ok(),
        "its own page connects"
    );

    // From its own page, the revoke goes through.
    let (status, body) = delete_from(&app, &path, origin.to_str().ok()).await;
    assert_eq!(status, 200, "{body}");
    assert!(client.get("held", None).await.expect("get").kvs().is_empty());

    // Every attempt is in the audit log: three refused, then the revoke, with what it held.
    let lines = audit_lines(&audit);
    let results: Vec<&str> = lines.iter().filter_map(|l| l["result"].as_str()).collect();
    assert_eq!(results, ["refused", "refused", "refused", "ok"], "{lines:?}");
    assert_eq!(lines[0]["action"], format!("DELETE {path}"));
    assert_eq!(lines[0]["from"], "127.0.0.1");
    let done = &lines[3];
    assert_eq!(done["action"], "revoke_lease");
    assert_eq!(done["lease"], format!("{lease:x}"));
    assert_eq!(done["held"]["other_keys"], serde_json::json!(["held"]), "{done}");
    assert_eq!(done["who"], "anonymous");
    assert!(done["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{done}");
    app.shutdown().await;
}

#[tokio::test]
async fn read_only_offers_no_destructive_action() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = dir.path().join("audit.jsonl");
    let app = spawn_app_with(common::Config {
        read_only: true,
        audit_log: Some(audit.clone()),
        ..config(etcd.endpoint())
    })
    .await;
    app.wait_for_health(200, LIMIT).await;
    let lease = leased_key(&mut client).await;

    let (status, me) = app.get("/api/v1/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["read_only"], true);
    assert_eq!(me["role"], "viewer");
    let (status, body) = app.delete(&format!("/api/v1/leases/{lease:x}")).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("--read-only")),
        "{body}"
    );
    assert_eq!(client.get("held", None).await.expect("get").kvs().len(), 1);
    let lines = audit_lines(&audit);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["result"], "refused");
    assert_eq!(lines[0]["lease"], format!("{lease:x}"));
    // Reading still works.
    let (status, _) = app.get(&format!("/api/v1/leases/{lease:x}")).await;
    assert_eq!(status, 200);
    app.shutdown().await;
}

#[tokio::test]
async fn without_a_login_it_listens_beyond_loopback_only_read_only() {
    let etcd = start_etcd().await;
    let listener = TcpListener::bind("0.0.0.0:0").await.expect("bind");
    let result = server::run(config(etcd.endpoint()), listener, async {}).await;
    let error = result.expect_err("an exposed, writable server must not start");
    let message = error.to_string();
    assert!(
        message.contains("--read-only") && message.contains("loopback"),
        "{message}"
    );

    let listener = TcpListener::bind("0.0.0.0:0").await.expect("bind");
    let read_only = common::Config {
        read_only: true,
        ..config(etcd.endpoint())
    };
    server::run(read_only, listener, async {})
        .await
        .expect("read-only may listen anywhere");

    let hash = server::auth::hash_password("pw").expect("hash");
    let users = format!("[[users]]\nname = \"otto\"\nrole = \"operator\"\npassword_hash = \"{hash}\"\n");
    let with_login = common::Config {
        auth: server::auth::AuthMode::Users(std::sync::Arc::new(server::auth::Users::parse(&users).expect("users"))),
        ..config(etcd.endpoint())
    };
    let listener = TcpListener::bind("0.0.0.0:0").await.expect("bind");
    server::run(with_login, listener, async {})
        .await
        .expect("with a login it may listen anywhere");

    let (status, me) = {
        let app = spawn_app(&etcd).await;
        let answer = app.get("/api/v1/me").await;
        app.shutdown().await;
        answer
    };
    assert_eq!(status, 200);
    assert_eq!(me["role"], "operator");
    assert_eq!(me["auth"], "none");
    assert!(me["user"].is_null());
}

/// `(status, error code)` of a request to `path` naming `host` in its `Host` header.
async fn get_with_host(app: &TestApp, path: &str, host: &str) -> (u16, Option<String>) {
    let response = app
        .http
        .get(app.url(path))
        .header("host", host)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    (status, body["error"]["code"].as_str().map(str::to_owned))
}

/// The status of a WebSocket upgrade naming `host`, from that host's page.
async fn upgrade_with_host(app: &TestApp, host: &str) -> u16 {
    let mut request = format!("ws://{}/api/v1/ws", app.addr)
        .into_client_request()
        .expect("request");
    let headers = request.headers_mut();
    headers.insert("host", HeaderValue::from_str(host).expect("host"));
    headers.insert(
        "origin",
        HeaderValue::from_str(&format!("http://{host}")).expect("origin"),
    );
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("upgrade: {other}"),
    }
}

#[tokio::test]
async fn without_a_login_a_rebound_name_gets_nothing_but_loopback_and_addresses_do() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = dir.path().join("audit.jsonl");
    let app = spawn_app_with(common::Config {
        audit_log: Some(audit.clone()),
        allowed_hosts: vec!["dash.example".to_owned()],
        ..config(etcd.endpoint())
    })
    .await;
    app.wait_for_health(200, LIMIT).await;
    let lease = leased_key(&mut client).await;
    let port = app.addr.port();
    let rebound = format!("rebind.example:{port}");

    // A page on a name re-pointed at 127.0.0.1 reads nothing: not the API,
    // not a page, not the assets, not the socket.
    for path in [
        "/api/v1/services",
        "/api/v1/health",
        "/",
        "/services",
        "/pkg/leasehold.js",
        "/metrics",
    ] {
        assert_eq!(
            get_with_host(&app, path, &rebound).await,
            (403, Some("host_not_allowed".to_owned())),
            "{path}"
        );
    }
    assert_eq!(upgrade_with_host(&app, &rebound).await, 403);
    // And changes nothing, though its Origin matches the Host it sends.
    let response = app
        .http
        .delete(app.url(&format!("/api/v1/leases/{lease:x}")))
        .header("host", &rebound)
        .header("origin", format!("http://{rebound}"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 403);
    let body: serde_json::Value = response.json().await.expect("JSON body");
    assert_eq!(body["error"]["code"], "host_not_allowed", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("--allowed-host")),
        "the refusal says what to do: {body}"
    );
    assert_eq!(
        client.get("held", None).await.expect("get").kvs().len(),
        1,
        "nothing revoked"
    );
    let lines = audit_lines(&audit);
    assert_eq!(lines.len(), 1, "the refused revoke is audited: {lines:?}");
    assert_eq!(lines[0]["result"], "refused");
    assert_eq!(lines[0]["from"], "127.0.0.1");

    // Loopback names, any IP literal and the allowed name are served.
    for host in [
        format!("localhost:{port}"),
        format!("app.localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "10.1.2.3".to_owned(),
        format!("DASH.example:{port}"),
    ] {
        assert_eq!(
            get_with_host(&app, "/api/v1/services", &host).await,
            (200, None),
            "{host}"
        );
    }
    assert_eq!(upgrade_with_host(&app, &format!("localhost:{port}")).await, 101);
    assert_eq!(upgrade_with_host(&app, &format!("dash.example:{port}")).await, 101);
    for near_miss in [
        "evil-dash.example",
        "localhost.rebind.example",
        "127.0.0.1.nip.io",
        "a b",
    ] {
        assert_eq!(
            get_with_host(&app, "/api/v1/services", near_miss).await.0,
            403,
            "{near_miss}"
        );
    }
    let from_allowed = format!("dash.example:{port}");
    let response = app
        .http
        .delete(app.url(&format!("/api/v1/leases/{lease:x}")))
        .header("host", &from_allowed)
        .header("origin", format!("http://{from_allowed}"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200, "the allowed name's own page revokes");
    app.shutdown().await;

    // With a login, a rebound name has no session: every host is served.
    let hash = server::auth::hash_password("pw").expect("hash");
    let users = format!("[[users]]\nname = \"otto\"\nrole = \"operator\"\npassword_hash = \"{hash}\"\n");
    let app = spawn_app_with(common::Config {
        auth: server::auth::AuthMode::Users(std::sync::Arc::new(server::auth::Users::parse(&users).expect("users"))),
        ..config(etcd.endpoint())
    })
    .await;
    app.wait_for_health(200, LIMIT).await;
    let rebound = format!("rebind.example:{}", app.addr.port());
    assert_eq!(get_with_host(&app, "/api/v1/health", &rebound).await, (200, None));
    assert_eq!(
        get_with_host(&app, "/api/v1/services", &rebound).await,
        (401, Some("unauthenticated".to_owned()))
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_flood_of_refused_requests_is_held_back_counted_and_real_actions_stay_visible() {
    use futures::StreamExt;

    const FLOOD: usize = 1000;
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = dir.path().join("audit.jsonl");
    let app = spawn_app_with(common::Config {
        audit_log: Some(audit.clone()),
        ..config(etcd.endpoint())
    })
    .await;
    app.wait_for_health(200, LIMIT).await;
    let lease = leased_key(&mut client).await;

    // A page elsewhere makes the browser send a thousand refused requests
    // with 30 KB paths and long origins.
    let junk = "x".repeat(30_000);
    let origin = format!("http://evil.example/{}", "o".repeat(2_000));
    let started = std::time::Instant::now();
    let statuses: Vec<u16> = futures::stream::iter(0..FLOOD)
        .map(|i| {
            let request = app
                .http
                .delete(app.url(&format!("/api/v1/leases/{junk}{i}")))
                .header("origin", &origin);
            async move { request.send().await.expect("request").status().as_u16() }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    assert!(statuses.iter().all(|s| *s == 403), "every one refused");

    // Then the operator revokes a lease, from the dashboard's own page.
    let own = format!("http://{}", app.addr);
    let (status, body) = delete_from(&app, &format!("/api/v1/leases/{lease:x}"), Some(&own)).await;
    assert_eq!(status, 200, "{body}");

    let size = std::fs::metadata(&audit).expect("audit log").len();
    let lines = audit_lines(&audit);
    let refused: Vec<&serde_json::Value> = lines.iter().filter(|l| l["result"] == "refused").collect();
    let suppressed: u64 = lines
        .iter()
        .filter(|l| l["result"] == "suppressed")
        .map(|l| l["count"].as_u64().expect("a count"))
        .sum();
    // A burst of 20, then 10 a minute for as long as the flood lasted.
    let allowed = 20 + (minutes * 10.0).ceil() as usize + 1;
    assert!(
        refused.len() <= allowed,
        "{} refusals recorded one by one in {minutes:.2} min",
        refused.len()
    );
    assert_eq!(
        refused.len() as u64 + suppressed,
        FLOOD as u64,
        "every refusal is recorded or counted"
    );
    for line in &refused {
        let action = line["action"].as_str().expect("action");
        assert!(action.len() < 400 && action.contains("[truncated, "), "{action:.300}");
        assert_eq!(line["truncated"], true);
        let detail = line["detail"].as_str().expect("detail");
        assert!(detail.len() < 1200, "the origin is cut too: {detail:.300}");
    }
    assert!(size < 64 * 1024, "the audit log is {size} bytes");
    let last = lines.last().expect("lines");
    assert_eq!(
        (last["action"].as_str(), last["result"].as_str()),
        (Some("revoke_lease"), Some("ok"))
    );
    let before = &lines[lines.len() - 2];
    assert_eq!(
        before["result"], "suppressed",
        "the count comes before the next action: {before}"
    );
    assert!(
        before["detail"].as_str().is_some_and(|d| d.contains("127.0.0.1")),
        "{before}"
    );

    // The timeline holds the same entries: the revoke is there, last.
    let (_, events) = app.get("/api/v1/events").await;
    let audited: Vec<&serde_json::Value> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "audit")
        .collect();
    assert_eq!(audited.len(), lines.len(), "{events:.2000}");
    let last = audited.last().expect("audit events");
    assert_eq!(last["detail"]["action"], "revoke_lease");
    assert_eq!(last["detail"]["result"], "ok");
    app.shutdown().await;
}

#[tokio::test]
async fn assets_are_revalidated_by_a_tag_that_changes_with_the_file() {
    let etcd = start_etcd().await;
    let site = tempfile::tempdir().expect("temp dir");
    let pkg = site.path().join("pkg");
    std::fs::create_dir(&pkg).expect("pkg dir");
    let file = pkg.join("leasehold.js");
    std::fs::write(&file, "console.log('build 2')").expect("write");
    std::fs::write(pkg.join("leasehold.js.br"), "not really brotli").expect("write");
    let app = spawn_app_with(common::Config {
        site: server::site::Site::Folder(site.path().to_owned()),
        ..config(etcd.endpoint())
    })
    .await;
    app.wait_for_health(200, LIMIT).await;
    let url = app.url("/pkg/leasehold.js");
    let header = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };

    let first = app.http.get(&url).send().await.expect("request");
    assert_eq!(first.status().as_u16(), 200);
    assert_eq!(header(&first, "cache-control").as_deref(), Some("no-cache"));
    assert_eq!(header(&first, "last-modified"), None, "revalidated by tag, not by date");
    let tag = header(&first, "etag").expect("an ETag");
    assert_eq!(first.text().await.expect("body"), "console.log('build 2')");

    let again = app
        .http
        .get(&url)
        .header("if-none-match", &tag)
        .send()
        .await
        .expect("request");
    assert_eq!(again.status().as_u16(), 304);
    assert_eq!(header(&again, "etag").as_deref(), Some(tag.as_str()));
    assert_eq!(header(&again, "cache-control").as_deref(), Some("no-cache"));
    assert!(again.bytes().await.expect("body").is_empty());

    // A build rolled back with its files' times kept: older, but another file.
    std::fs::write(&file, "console.log('build 1!')").expect("write");
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .and_then(|f| f.set_modified(an_hour_ago))
        .expect("set mtime");
    let stale = app
        .http
        .get(&url)
        .header("if-none-match", &tag)
        .header("if-modified-since", "Sun, 01 Jan 2040 00:00:00 GMT")
        .send()
        .await
        .expect("request");
    assert_eq!(stale.status().as_u16(), 200, "the browser's copy is not this file");
    assert_ne!(header(&stale, "etag").as_deref(), Some(tag.as_str()));
    assert_eq!(stale.text().await.expect("body"), "console.log('build 1!')");

    // The brotli file has a tag of its own, and the answer varies by encoding.
    let br = app
        .http
        .get(&url)
        .header("accept-encoding", "br")
        .send()
        .await
        .expect("request");
    assert_eq!(header(&br, "content-encoding").as_deref(), Some("br"));
    assert!(header(&br, "vary").is_some_and(|v| v.contains("accept-encoding")));
    let br_tag = header(&br, "etag").expect("an ETag");
    assert_ne!(br_tag, tag);
    let missing = app.http.get(app.url("/pkg/nope.js")).send().await.expect("request");
    assert_eq!(missing.status().as_u16(), 404);
    app.shutdown().await;
}
