//! Losing etcd and getting it back, with a real etcd killed and restarted.

mod common;

use std::time::Duration;

use common::{etcd_client, spawn_app, start_etcd};
use serde_json::json;

/// The issue's promise: a dead etcd is noticed within 10 seconds.
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
    let mut client = etcd_client(&etcd).await;
    let value = r#"{"name":"pay","id":"p1","address":"10.0.0.1","port":9000}"#;
    client.put("/microservices/pay/p1", value, None).await.expect("put");
    drop(client);
    etcd.kill().await.expect("kill");

    let app = spawn_app(&etcd).await;
    let body = app.wait_for_health(503, DETECT).await;
    assert_eq!(body["synced"], false);
    assert!(body["etcd"]["error"].is_string(), "the reason is shown: {body}");

    let page = app.http.get(app.url("/cluster")).send().await.expect("page");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("Leasehold"), "{html}");

    // A page opened before the first list holds empty snapshots; the list
    // reaches it as patches.
    let mut ws = app.ws().await;
    ws.send_json(json!({"type":"subscribe","topics":["service:pay","services"]}))
        .await;
    let mut snapshots = Vec::new();
    while snapshots.len() < 2 {
        let snapshot = ws.wait_for(DETECT, |m| m["type"] == "snapshot").await;
        assert_eq!(snapshot["data"]["stale"], true, "{snapshot}");
        snapshots.push(snapshot["topic"].clone());
    }

    etcd.restart().await.expect("etcd starts");
    app.wait_for_health(200, RECOVER).await;
    // Both patches come with the first list, in one batch.
    let mut patched = Vec::new();
    while patched.len() < 2 {
        let patch = ws.wait_for(RECOVER, |m| m["type"] == "patch").await;
        let ids: Vec<&str> = patch["ops"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|op| op["op"] == "upsert")
            .filter_map(|op| op["id"].as_str())
            .collect();
        match patch["topic"].as_str() {
            Some("service:pay") => assert_eq!(ids, ["/microservices/pay/p1"], "{patch}"),
            Some("services") => assert_eq!(ids, ["pay"], "{patch}"),
            _ => continue,
        }
        patched.push(patch["topic"].clone());
    }
    snapshots.sort_by_key(ToString::to_string);
    patched.sort_by_key(ToString::to_string);
    assert_eq!(snapshots, patched);
    app.shutdown().await;
}

/// Services and their instances as REST shows them, without the sampled fields.
async fn registry_view(app: &common::TestApp) -> serde_json::Value {
    let (_, mut services) = app.get("/api/v1/services").await;
    let mut instances = serde_json::Map::new();
    for service in services["services"].as_array_mut().into_iter().flatten() {
        service.as_object_mut().map(|s| s.remove("min_ttl"));
        let name = service["name"].as_str().unwrap_or_default().to_owned();
        let (_, mut body) = app.get(&format!("/api/v1/services/{name}")).await;
        for instance in body["instances"].as_array_mut().into_iter().flatten() {
            if let Some(fields) = instance.as_object_mut() {
                fields.remove("ttl");
                fields.remove("granted_ttl");
            }
        }
        instances.insert(name, body["instances"].take());
    }
    json!({ "services": services["services"], "instances": instances })
}

#[tokio::test]
async fn after_kill_9_under_writes_the_model_equals_a_fresh_list() {
    let mut etcd = start_etcd().await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, RECOVER).await;

    // A writer that keeps registering and deregistering, etcd up or not.
    let endpoint = etcd.endpoint();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut client = None;
            let mut written = 0u32;
            let mut i = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if client.is_none() {
                    client = etcd_client::Client::connect([endpoint.as_str()], None).await.ok();
                }
                if let Some(c) = client.as_mut() {
                    let value = format!(
                        r#"{{"id":"{i}","name":"svc-{}","endpoints":["grpc://10.0.0.1:{i}"]}}"#,
                        i % 7
                    );
                    let put = c.put(format!("/microservices/svc-{}/{i}", i % 7), value, None).await;
                    if put.is_ok() {
                        written += 1;
                        if i.is_multiple_of(3) && i >= 2 {
                            let _ = c
                                .delete(format!("/microservices/svc-{}/{}", (i - 2) % 7, i - 2), None)
                                .await;
                        }
                    }
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            written
        })
    };

    tokio::time::sleep(Duration::from_secs(1)).await;
    etcd.kill().await.expect("kill -9");
    app.wait_for_health(503, DETECT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    etcd.restart().await.expect("restart");
    app.wait_for_health(200, RECOVER).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.expect("writer");
    assert!(written > 50, "the writer wrote {written}");

    let mut client = etcd_client(&etcd).await;
    let last = client
        .get("/", None)
        .await
        .expect("get")
        .header()
        .expect("header")
        .revision();
    app.wait_for_revision(last, RECOVER).await;
    let fresh = spawn_app(&etcd).await;
    fresh.wait_for_health(200, RECOVER).await;
    fresh.wait_for_revision(last, RECOVER).await;

    let survived = registry_view(&app).await;
    let listed = registry_view(&fresh).await;
    assert_eq!(survived, listed, "no missed and no phantom entities");
    assert!(survived["services"].as_array().is_some_and(|s| !s.is_empty()));
    fresh.shutdown().await;
    app.shutdown().await;
}
