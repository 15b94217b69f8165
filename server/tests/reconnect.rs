//! Losing etcd and getting it back, with a real etcd killed and restarted.

mod common;

use std::time::Duration;

use common::{etcd_client, spawn_app, start_etcd};
use serde_json::json;

/// The promise: a dead etcd is noticed within 10 seconds.
const DETECT: Duration = Duration::from_secs(10);
const RECOVER: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_killed_etcd_is_noticed_and_recovery_resumes_from_the_last_revision() {
    let mut etcd = start_etcd().await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, RECOVER).await;

    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": ["cluster"]})).await;
    ws.wait_for(RECOVER, |m| m["type"] == "status" && m["etcd"] == "connected")
        .await;

    let mut client = etcd_client(&etcd).await;
    let before = client
        .put("/reconnect/a", "1", None)
        .await
        .expect("put")
        .header()
        .expect("header")
        .revision();
    app.wait_for_revision(before, RECOVER).await;

    etcd.kill().await.expect("kill -9");
    let body = app.wait_for_health(503, DETECT).await;
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["synced"], false);
    assert_eq!(body["etcd"]["connected"], false);
    assert_eq!(body["revision"], before, "the last synced revision is kept: {body}");
    ws.wait_for(DETECT, |m| m["type"] == "status" && m["etcd"] == "reconnecting")
        .await;

    // While etcd is away, REST answers from the last model and says so.
    let (status, cluster) = app.get("/api/v1/cluster").await;
    assert_eq!(status, 200);
    assert_eq!(cluster["stale"], true, "{cluster}");

    etcd.restart().await.expect("etcd restarts on its data");
    app.wait_for_health(200, RECOVER).await;
    ws.wait_for(RECOVER, |m| m["type"] == "status" && m["etcd"] == "connected")
        .await;

    // The same server, without a restart, follows etcd again.
    let mut client = etcd_client(&etcd).await;
    let after = client
        .put("/reconnect/b", "2", None)
        .await
        .expect("put")
        .header()
        .expect("header")
        .revision();
    assert!(after > before);
    app.wait_for_revision(after, RECOVER).await;
    ws.wait_for(RECOVER, |m| {
        m["type"] == "status" && m["revision"].as_i64().unwrap_or(0) >= after
    })
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn the_server_starts_and_serves_pages_while_etcd_is_down() {
    let mut etcd = start_etcd().await;
    etcd.kill().await.expect("kill");

    let app = spawn_app(&etcd).await;
    let body = app.wait_for_health(503, DETECT).await;
    assert_eq!(body["synced"], false);
    assert!(body["etcd"]["error"].is_string(), "the reason is shown: {body}");

    let page = app.http.get(app.url("/cluster")).send().await.expect("page");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("Leasehold"), "{html}");

    etcd.restart().await.expect("etcd starts");
    app.wait_for_health(200, RECOVER).await;
    app.shutdown().await;
}
