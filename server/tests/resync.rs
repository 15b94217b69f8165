//! The watcher's hard cases against a real etcd behind a proxy: a network
//! path that is cut while etcd compacts (relist and diff), and one that
//! freezes (a hung stream noticed within seconds).

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::time::Duration;

use common::{etcd_client, poll_json, spawn_app_with, start_etcd, Proxy, ProxyMode};
use etcd_client::CompactionOptions;
use serde_json::json;
use server::config::Config;

const LIMIT: Duration = Duration::from_secs(30);
/// The issue's promise: a dead or frozen etcd is noticed within 10 seconds.
const DETECT: Duration = Duration::from_secs(10);

fn config(endpoint: String) -> Config {
    Config {
        cluster_poll: Duration::from_secs(1),
        lease_sample_rate: 20.0,
        lease_poll: Duration::from_secs(1),
        ..common::config(endpoint)
    }
}

fn instance(name: &str) -> String {
    format!(r#"{{"id":"1","name":"{name}","endpoints":["grpc://10.0.0.1:80"]}}"#)
}

#[tokio::test]
async fn after_a_compaction_the_watcher_relists_and_clients_get_the_difference() {
    let etcd = start_etcd().await;
    let proxy = Proxy::start(&etcd).await;
    let mut client = etcd_client(&etcd).await;
    client
        .put("/microservices/alpha/1", instance("alpha"), None)
        .await
        .expect("put");
    client
        .put("/microservices/beta/1", instance("beta"), None)
        .await
        .expect("put");

    let app = spawn_app_with(config(proxy.endpoint())).await;
    app.wait_for_health(200, LIMIT).await;
    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": ["services"]})).await;
    let snapshot = ws.wait_for(LIMIT, |m| m["type"] == "snapshot").await;
    assert_eq!(snapshot["data"]["services"].as_array().map(Vec::len), Some(2));

    proxy.set(ProxyMode::Cut);
    app.wait_for_health(503, DETECT).await;
    ws.wait_for(DETECT, |m| m["type"] == "status" && m["etcd"] == "reconnecting")
        .await;

    // While Leasehold cannot see etcd: changes, then a compaction past them.
    client.delete("/microservices/alpha/1", None).await.expect("delete");
    client
        .put("/microservices/gamma/1", instance("gamma"), None)
        .await
        .expect("put");
    let last = client
        .put("/filler", "x", None)
        .await
        .expect("put")
        .header()
        .expect("header")
        .revision();
    client
        .compact(last, Some(CompactionOptions::new().with_physical()))
        .await
        .expect("compact");

    proxy.set(ProxyMode::Open);
    ws.wait_for(LIMIT, |m| m["type"] == "status" && m["etcd"] == "resyncing")
        .await;
    app.wait_for_health(200, LIMIT).await;
    // Not a blank page and a reload: the removal and the addition, as patches.
    let mut removed = false;
    let mut added = false;
    while !(removed && added) {
        let patch = ws
            .wait_for(LIMIT, |m| m["type"] == "patch" && m["topic"] == "services")
            .await;
        for op in patch["ops"].as_array().into_iter().flatten() {
            removed |= op["op"] == "remove" && op["id"] == "alpha";
            added |= op["op"] == "upsert" && op["id"] == "gamma";
        }
    }
    let body = poll_json(&app, "/api/v1/services", LIMIT, |b| {
        b["revision"].as_i64() >= Some(last)
    })
    .await;
    let names: Vec<&str> = body["services"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["beta", "gamma"]);
    app.shutdown().await;
}

#[tokio::test]
async fn a_frozen_network_path_is_noticed_and_recovered_from() {
    let etcd = start_etcd().await;
    let proxy = Proxy::start(&etcd).await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app_with(config(proxy.endpoint())).await;
    app.wait_for_health(200, LIMIT).await;
    let mut ws = app.ws().await;
    ws.wait_for(LIMIT, |m| m["type"] == "status" && m["etcd"] == "connected")
        .await;

    proxy.set(ProxyMode::Frozen);
    let body = app.wait_for_health(503, DETECT + Duration::from_secs(5)).await;
    assert!(body["etcd"]["error"].is_string(), "{body}");
    ws.wait_for(DETECT, |m| m["type"] == "status" && m["etcd"] == "reconnecting")
        .await;

    let revision = client
        .put("/after/freeze", "1", None)
        .await
        .expect("put")
        .header()
        .expect("header")
        .revision();
    proxy.set(ProxyMode::Open);
    app.wait_for_health(200, LIMIT).await;
    app.wait_for_revision(revision, LIMIT).await;
    app.shutdown().await;
}
