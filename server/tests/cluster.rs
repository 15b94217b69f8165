//! Health and the cluster, over REST, against a real etcd.

mod common;

use std::time::Duration;

use common::{etcd_client, spawn_app, start_etcd};

#[tokio::test]
async fn health_is_ok_once_synced_and_reports_the_revision() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let put = client.put("/health/probe", "1", None).await.expect("put");
    let revision = put.header().expect("header").revision();

    let app = spawn_app(&etcd).await;
    let body = app.wait_for_health(200, Duration::from_secs(30)).await;
    assert_eq!(body["status"], "ok");
    assert_eq!(body["synced"], true);
    assert_eq!(body["etcd"]["connected"], true);
    assert_eq!(body["etcd"]["endpoints"][0], etcd.endpoint());
    assert!(body["revision"].as_i64().unwrap_or(0) >= revision, "{body}");
    let tasks = body["tasks"].as_array().expect("tasks");
    assert!(
        tasks.iter().any(|t| t["name"] == "watcher" && t["running"] == true),
        "{body}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_cluster_has_one_member_and_it_leads() {
    let etcd = start_etcd().await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, Duration::from_secs(30)).await;

    // The poller fills the cluster shortly after start.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (status, body) = app.get("/api/v1/cluster").await;
        assert_eq!(status, 200);
        if body["members"].as_array().is_some_and(|m| !m.is_empty()) && !body["leader"].is_null() {
            break body;
        }
        assert!(tokio::time::Instant::now() < deadline, "no members: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let mut client = etcd_client(&etcd).await;
    let status = client.status().await.expect("status");
    let members = body["members"].as_array().expect("members");
    assert_eq!(members.len(), 1, "{body}");
    let member = &members[0];
    let leader_hex = format!("{:x}", status.leader());
    assert_eq!(member["id"], leader_hex.as_str());
    assert_eq!(body["leader"], leader_hex.as_str());
    assert_eq!(member["is_leader"], true);
    assert_eq!(member["healthy"], true);
    assert_eq!(member["name"], "leasehold-dev");
    assert_eq!(member["version"], status.version());
    assert!(member["raft_term"].as_u64().unwrap_or(0) >= 1, "{member}");
    assert!(member["db_size"].as_i64().unwrap_or(0) > 0, "{member}");
    assert_eq!(member["client_urls"][0], etcd.endpoint());
    assert!(body["cluster_id"].is_string(), "{body}");
    assert!(body.get("stale").is_none(), "{body}");
    app.shutdown().await;
}

#[tokio::test]
async fn unknown_api_paths_are_json_404s() {
    let etcd = start_etcd().await;
    let app = spawn_app(&etcd).await;
    let (status, body) = app.get("/api/v1/no-such-thing").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("/api/v1/no-such-thing")));
    app.shutdown().await;
}
