//! `--prefix` as a scope, against a real etcd: the configuration routes read
//! and write only keys under the watched prefixes, by the rule the `kv:`
//! topics follow, and refuse a prefix wider than them.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::time::Duration;

use common::{audit_lines, config, etcd_client, spawn_app_with, start_etcd, Received};
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(30);

/// Percent-encodes everything but unreserved characters.
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn code(body: &Value) -> Option<&str> {
    body["error"]["code"].as_str()
}

#[tokio::test]
async fn the_configuration_routes_serve_only_the_watched_prefixes() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let first = client.put("/a/in", "inside", None).await.expect("put");
    let from = first.header().expect("header").revision();
    client.put("/b/secret", "outside", None).await.expect("put");
    client.put("/ab", "a neighbour", None).await.expect("put");
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = dir.path().join("audit.jsonl");
    let app = spawn_app_with(common::Config {
        prefixes: vec!["/a/".to_owned()],
        audit_log: Some(audit.clone()),
        ..config(etcd.endpoint())
    })
    .await;
    app.wait_for_health(200, LIMIT).await;

    // Inside: served.
    let (status, body) = app.get(&format!("/api/v1/kv?prefix={}", enc("/a/"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"][0]["key"], "/a/in");
    let (status, body) = app.get(&format!("/api/v1/kv/{}", enc("/a/in"))).await;
    assert_eq!((status, body["kv"]["value"].as_str()), (200, Some("inside")), "{body}");

    // Outside, or wider than the watched prefixes: refused, whatever the route.
    let outside = [
        format!("/api/v1/kv?prefix={}", enc("/b/")),
        "/api/v1/kv?prefix=%2F".to_owned(),
        "/api/v1/kv".to_owned(),
        format!("/api/v1/kv?prefix={}", enc("/a")),
        format!("/api/v1/kv/{}", enc("/b/secret")),
        format!("/api/v1/kv/{}?rev={from}", enc("/b/secret")),
        format!("/api/v1/kv/{}", enc("/ab")),
        format!("/api/v1/kv/{}/history", enc("/b/secret")),
        format!("/api/v1/kv-diff?prefix={}&from={from}", enc("/b/")),
        format!("/api/v1/kv-diff?prefix=%2F&from={from}"),
    ];
    for path in &outside {
        let (status, body) = app.get(path).await;
        assert_eq!((status, code(&body)), (403, Some("out_of_scope")), "{path}: {body}");
        assert!(!body.to_string().contains("outside\""), "{path} leaks a value: {body}");
    }

    // Writes outside are refused, audited, and never reach etcd.
    let (status, body) = app
        .put_json(
            &format!("/api/v1/kv/{}", enc("/b/secret")),
            &json!({"value": "overwritten", "expect_mod_revision": 0}),
        )
        .await;
    assert_eq!((status, code(&body)), (403, Some("out_of_scope")), "{body}");
    let (status, body) = app
        .put_json(
            &format!("/api/v1/kv/{}", enc("/b/new")),
            &json!({"value": "created", "expect_mod_revision": 0}),
        )
        .await;
    assert_eq!((status, code(&body)), (403, Some("out_of_scope")), "{body}");
    let current = client.get("/b/secret", None).await.expect("get");
    let mod_revision = current.kvs()[0].mod_revision();
    let (status, body) = app
        .delete(&format!(
            "/api/v1/kv/{}?expect_mod_revision={mod_revision}",
            enc("/b/secret")
        ))
        .await;
    assert_eq!((status, code(&body)), (403, Some("out_of_scope")), "{body}");
    let after = client.get("/b/secret", None).await.expect("get");
    assert_eq!(after.kvs()[0].value_str().expect("text"), "outside");
    assert!(client.get("/b/new", None).await.expect("get").kvs().is_empty());

    // Inside, a write goes through.
    let (status, body) = app
        .put_json(
            &format!("/api/v1/kv/{}", enc("/a/new")),
            &json!({"value": "fine", "expect_mod_revision": 0}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let lines = audit_lines(&audit);
    let summary: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["action"].as_str().unwrap_or("?"),
                l["key"].as_str().unwrap_or("?"),
                l["result"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("put_key", "/b/secret", "refused"),
            ("put_key", "/b/new", "refused"),
            ("delete_key", "/b/secret", "refused"),
            ("put_key", "/a/new", "ok"),
        ],
        "{lines:?}"
    );
    assert!(
        lines[0]["detail"].as_str().is_some_and(|d| d.contains("/a/")),
        "the refusal names the watched prefixes: {}",
        lines[0]
    );

    // The WebSocket follows the same rule.
    let mut socket = app.ws().await;
    socket
        .send_json(json!({"type": "subscribe", "topics": ["kv:/b/", "kv:/a/"]}))
        .await;
    let (mut refused, mut served) = (None, None);
    while refused.is_none() || served.is_none() {
        match socket.next(LIMIT).await {
            Received::Json(m) if m["type"] == "error" => refused = Some(m),
            Received::Json(m) if m["type"] == "snapshot" => served = Some(m),
            Received::Json(_) => {}
            Received::Closed(code) => panic!("socket closed ({code:?})"),
        }
    }
    let (refused, served) = (refused.unwrap_or_default(), served.unwrap_or_default());
    assert_eq!(
        (refused["topic"].as_str(), refused["code"].as_str()),
        (Some("kv:/b/"), Some("not_served")),
        "{refused}"
    );
    assert_eq!(served["topic"], "kv:/a/", "{served}");
    app.shutdown().await;
}
