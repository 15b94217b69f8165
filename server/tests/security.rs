//! The browser-facing rules, against a real etcd: security headers and a CSP
//! that hashes exactly the page's inline scripts; no state change and no
//! WebSocket from another origin; `--read-only` offers no destructive action;
//! and without access control the server will not listen beyond loopback.

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
