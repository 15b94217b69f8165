//! Services, locks and elections through REST and WebSocket, against a real
//! etcd, with etcdctl's own `lock` and `elect` as the contenders.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::time::Duration;

use common::{etcd_client, poll_json, spawn_app_with, start_etcd, EtcdProcess, Etcdctl, TestApp};
use etcd_client::PutOptions;
use serde_json::{json, Value};
use server::config::Config;

const LIMIT: Duration = Duration::from_secs(30);

async fn app_with_pattern(etcd: &EtcdProcess) -> TestApp {
    let app = spawn_app_with(Config {
        service_patterns: vec!["/services/{service}/{instance}".parse().expect("pattern")],
        ..common::config(etcd.endpoint())
    })
    .await;
    app.wait_for_health(200, LIMIT).await;
    app
}

const KRATOS: &str = r#"{"id":"a1","name":"billing","version":"v1.4.2","metadata":{"zone":"eu-1"},"endpoints":["grpc://10.1.0.5:9000?isSecure=false","http://10.1.0.5:8000"]}"#;

#[tokio::test]
async fn services_appear_with_their_instances_whether_registered_before_or_after_start() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let lease = client.lease_grant(60, None).await.expect("lease").id();
    // Before the server starts: found by the initial list.
    client
        .put(
            "/microservices/billing/a1",
            KRATOS,
            Some(PutOptions::new().with_lease(lease)),
        )
        .await
        .expect("put");
    client.put("/config/unrelated", "x", None).await.expect("put");

    let app = app_with_pattern(&etcd).await;
    // After: found by the watch. A broken value is kept, with an error.
    client
        .put("/services/search/10.2.0.1:7000", "10.2.0.1:7000", None)
        .await
        .expect("put");
    client.put("/services/search/broken", "{oops", None).await.expect("put");

    let body = poll_json(&app, "/api/v1/services", LIMIT, |b| {
        b["services"].as_array().is_some_and(|s| s.len() == 2) && b["services"][1]["instances"] == 2
    })
    .await;
    let services = &body["services"];
    assert_eq!(services[0]["name"], "billing");
    assert_eq!(services[0]["layouts"], json!(["kratos"]));
    assert_eq!(services[0]["instances"], 1);
    assert_eq!(services[0]["with_lease"], 1);
    assert_eq!(services[1]["name"], "search");
    assert_eq!(services[1]["layouts"], json!(["custom"]));
    assert_eq!(services[1]["with_lease"], 0);

    let (status, filtered) = app.get("/api/v1/services?q=bill").await;
    assert_eq!(status, 200);
    assert_eq!(filtered["services"].as_array().map(Vec::len), Some(1));
    // The filter also finds services by their instances' metadata, version
    // and address, ignoring case.
    for (q, found) in [
        ("ZONE=eu-1", vec!["billing"]),
        ("eu-1", vec!["billing"]),
        ("v1.4", vec!["billing"]),
        ("10.2.0.1", vec!["search"]),
        ("CUSTOM", vec!["search"]),
        ("zone=us", vec![]),
    ] {
        let (status, body) = app.get(&format!("/api/v1/services?q={}", q.replace('=', "%3D"))).await;
        assert_eq!(status, 200);
        let names: Vec<&str> = body["services"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["name"].as_str())
            .collect();
        assert_eq!(names, found, "q={q}");
    }

    let (status, billing) = app.get("/api/v1/services/billing").await;
    assert_eq!(status, 200);
    let instance = &billing["instances"][0];
    assert_eq!(instance["id"], "/microservices/billing/a1");
    assert_eq!(instance["layout"], "kratos");
    assert_eq!(instance["address"], "10.1.0.5:9000");
    assert_eq!(instance["version"], "v1.4.2");
    assert_eq!(instance["metadata"]["zone"], "eu-1");
    assert_eq!(instance["lease"], format!("{lease:x}"));
    assert_eq!(instance["value"], KRATOS);

    let (_, search) = app.get("/api/v1/services/search").await;
    let broken = search["instances"]
        .as_array()
        .and_then(|all| all.iter().find(|i| i["key"] == "/services/search/broken"))
        .cloned()
        .unwrap_or(Value::Null);
    assert!(broken["address"].is_null(), "{broken}");
    assert!(broken["error"].is_string(), "{broken}");
    assert_eq!(broken["value"], "{oops");

    let (status, missing) = app.get("/api/v1/services/nope").await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"]["code"], "not_found");

    // Revoking the lease evicts the instance, and the service with it.
    client.lease_revoke(lease).await.expect("revoke");
    poll_json(&app, "/api/v1/services", LIMIT, |b| {
        b["services"]
            .as_array()
            .is_some_and(|s| s.len() == 1 && s[0]["name"] == "search")
    })
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn service_topics_get_snapshots_then_patches() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = app_with_pattern(&etcd).await;
    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": ["services", "service:billing"]}))
        .await;
    let first = ws.wait_for(LIMIT, |m| m["type"] == "snapshot").await;
    let second = ws.wait_for(LIMIT, |m| m["type"] == "snapshot").await;
    for snapshot in [&first, &second] {
        match snapshot["topic"].as_str() {
            Some("services") => assert_eq!(snapshot["data"]["services"], json!([])),
            Some("service:billing") => assert_eq!(snapshot["data"]["instances"], json!([])),
            other => panic!("unexpected topic {other:?}"),
        }
    }

    let put = client
        .put("/microservices/billing/a1", KRATOS, None)
        .await
        .expect("put");
    let revision = put.header().expect("header").revision();
    let instance_patch = ws
        .wait_for(LIMIT, |m| m["type"] == "patch" && m["topic"] == "service:billing")
        .await;
    assert_eq!(instance_patch["revision"], revision);
    assert_eq!(instance_patch["ops"][0]["op"], "upsert");
    assert_eq!(instance_patch["ops"][0]["id"], "/microservices/billing/a1");
    assert_eq!(instance_patch["ops"][0]["value"]["address"], "10.1.0.5:9000");

    client.delete("/microservices/billing/a1", None).await.expect("delete");
    let removal = ws
        .wait_for(LIMIT, |m| {
            m["type"] == "patch" && m["topic"] == "services" && m["ops"][0]["op"] == "remove"
        })
        .await;
    assert_eq!(removal["ops"][0]["id"], "billing");
    app.shutdown().await;
}

#[tokio::test]
async fn etcdctl_lock_queues_show_holder_and_waiters_and_hand_over() {
    let etcd = start_etcd().await;
    let app = app_with_pattern(&etcd).await;
    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": ["locks"]})).await;
    ws.wait_for(LIMIT, |m| m["type"] == "snapshot" && m["topic"] == "locks")
        .await;

    let mut first = Etcdctl::spawn(&etcd, &["lock", "jobs"]);
    let held_key = first.line(LIMIT).await;
    let mut second = Etcdctl::spawn(&etcd, &["lock", "jobs"]);

    let body = poll_json(&app, "/api/v1/locks", LIMIT, |b| {
        b["locks"][0]["waiters"].as_array().is_some_and(|w| w.len() == 1)
    })
    .await;
    let lock = &body["locks"][0];
    assert_eq!(lock["name"], "jobs");
    assert_eq!(lock["holder"]["key"], held_key.as_str());
    assert!(held_key.ends_with(lock["holder"]["lease"].as_str().unwrap_or("?")));
    let waiter = &lock["waiters"][0];
    assert!(waiter["create_revision"].as_i64() > lock["holder"]["create_revision"].as_i64());
    assert!(waiter["since"].is_string(), "seen after start: {waiter}");
    let waiter_key = waiter["key"].as_str().unwrap_or_default().to_owned();

    // The holder lets go: the waiter holds the lock, live.
    first.interrupt().await;
    let handed_over = ws
        .wait_for(LIMIT, |m| {
            m["type"] == "patch"
                && m["topic"] == "locks"
                && m["ops"].as_array().is_some_and(|ops| {
                    ops.iter().any(|op| {
                        op["op"] == "upsert"
                            && op["value"]["holder"]["key"] == waiter_key.as_str()
                            && op["value"]["waiters"] == json!([])
                    })
                })
        })
        .await;
    assert_eq!(handed_over["ops"][0]["id"], "jobs");
    assert_eq!(second.line(LIMIT).await, waiter_key);

    second.interrupt().await;
    poll_json(&app, "/api/v1/locks", LIMIT, |b| b["locks"] == json!([])).await;
    app.shutdown().await;
}

#[tokio::test]
async fn etcdctl_elections_show_the_leader_and_candidates() {
    let etcd = start_etcd().await;
    let app = app_with_pattern(&etcd).await;

    let mut leader = Etcdctl::spawn(&etcd, &["elect", "primary", "node-a"]);
    // etcdctl prints the leader's key once it leads.
    let leader_key = leader.line(LIMIT).await;
    assert!(leader_key.starts_with("primary/"), "{leader_key}");
    let _candidate = Etcdctl::spawn(&etcd, &["elect", "primary", "node-b"]);

    let body = poll_json(&app, "/api/v1/elections", LIMIT, |b| {
        b["elections"][0]["candidates"].as_array().is_some_and(|c| c.len() == 1)
    })
    .await;
    let election = &body["elections"][0];
    assert_eq!(election["name"], "primary");
    assert_eq!(election["leader"]["value"], "node-a");
    assert_eq!(election["leader"]["key"], leader_key.as_str());
    assert_eq!(election["candidates"][0]["value"], "node-b");
    // Elections are not locks.
    let (_, locks) = app.get("/api/v1/locks").await;
    assert_eq!(locks["locks"], json!([]));

    leader.interrupt().await;
    poll_json(&app, "/api/v1/elections", LIMIT, |b| {
        b["elections"][0]["leader"]["value"] == "node-b" && b["elections"][0]["candidates"] == json!([])
    })
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn revoking_the_holders_lease_through_the_api_hands_the_lock_to_the_next_waiter() {
    let etcd = start_etcd().await;
    let app = app_with_pattern(&etcd).await;
    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": ["locks"]})).await;
    ws.wait_for(LIMIT, |m| m["type"] == "snapshot" && m["topic"] == "locks")
        .await;

    // Three contenders, each holding the lock while running `sleep 600`.
    let mut contenders = Vec::new();
    for _ in 0..3 {
        contenders.push(Etcdctl::spawn(&etcd, &["lock", "backup", "sleep", "600"]));
        // One at a time, so the queue order is the start order.
        let waiting = contenders.len() - 1;
        poll_json(&app, "/api/v1/locks", LIMIT, |b| {
            b["locks"][0]["waiters"].as_array().map(Vec::len) == Some(waiting)
        })
        .await;
    }
    let (_, body) = app.get("/api/v1/locks").await;
    let lock = &body["locks"][0];
    let holder_lease = lock["holder"]["lease"].as_str().unwrap_or_default().to_owned();
    let first_waiter = lock["waiters"][0]["key"].as_str().unwrap_or_default().to_owned();
    let revisions: Vec<i64> = std::iter::once(&lock["holder"])
        .chain(lock["waiters"].as_array().into_iter().flatten())
        .filter_map(|c| c["create_revision"].as_i64())
        .collect();
    assert!(
        revisions.windows(2).all(|w| w[0] < w[1]),
        "queue in create-revision order: {lock}"
    );
    // The keys are etcd's own.
    let mut client = common::etcd_client(&etcd).await;
    let keys = client
        .get("backup/", Some(etcd_client::GetOptions::new().with_prefix()))
        .await
        .expect("get");
    assert_eq!(keys.kvs().len(), 3);
    for kv in keys.kvs() {
        let key = kv.key_str().expect("utf-8");
        assert!(body.to_string().contains(key), "{key} missing from {body}");
    }

    let (status, _) = app.delete(&format!("/api/v1/leases/{holder_lease}")).await;
    assert_eq!(status, 200);
    ws.wait_for(LIMIT, |m| {
        m["type"] == "patch"
            && m["ops"].as_array().is_some_and(|ops| {
                ops.iter()
                    .any(|op| op["value"]["holder"]["key"] == first_waiter.as_str())
            })
    })
    .await;
    let (_, after) = app.get("/api/v1/locks").await;
    assert_eq!(after["locks"][0]["holder"]["key"], first_waiter.as_str());
    assert_eq!(after["locks"][0]["waiters"].as_array().map(Vec::len), Some(1));
    drop(contenders);
    app.shutdown().await;
}
