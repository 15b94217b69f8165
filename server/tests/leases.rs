//! Leases against a real etcd: what each holds, sampled TTLs, the revoke
//! preview, and revoking through the API.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::time::Duration;

use common::{etcd_client, poll_json, spawn_app, start_etcd, Etcdctl};
use etcd_client::PutOptions;
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_lease_shows_what_it_holds_and_revoking_it_removes_exactly_that() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;

    let lease = client.lease_grant(30, None).await.expect("grant").id();
    let hex = format!("{lease:x}");
    let on_lease = || Some(PutOptions::new().with_lease(lease));
    client
        .put(
            "/microservices/orders/o1",
            r#"{"id":"o1","name":"orders","endpoints":["grpc://10.0.0.9:9000"]}"#,
            on_lease(),
        )
        .await
        .expect("put");
    client.put(format!("jobs/{hex}"), "", on_lease()).await.expect("put");
    client.put("/plain/flag", "on", on_lease()).await.expect("put");
    client.put("/plain/unleased", "x", None).await.expect("put");

    // The list shows the lease with its keys and, once sampled, its TTL.
    let leases = poll_json(&app, "/api/v1/leases", LIMIT, |b| {
        b["leases"].as_array().is_some_and(|l| {
            l.iter()
                .any(|l| l["id"] == hex.as_str() && l["keys"] == 3 && l["ttl"].is_i64())
        })
    })
    .await;
    let entry = leases["leases"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["id"] == hex.as_str()))
        .cloned()
        .expect("lease listed");
    assert_eq!(entry["granted_ttl"], 30);
    assert!((0..=30).contains(&entry["ttl"].as_i64().unwrap_or(-5)), "{entry}");
    assert!(entry["sampled_at"].is_string(), "{entry}");
    assert_eq!(entry["services"], json!(["orders"]), "{entry}");

    // Instances and lock contenders carry the sampled TTL too.
    let service = poll_json(&app, "/api/v1/services/orders", LIMIT, |b| {
        b["instances"][0]["ttl"].is_i64()
    })
    .await;
    assert_eq!(service["instances"][0]["granted_ttl"], 30);
    let services = poll_json(&app, "/api/v1/services", LIMIT, |b| {
        b["services"][0]["min_ttl"].is_i64()
    })
    .await;
    assert_eq!(services["services"][0]["name"], "orders");

    // The preview: exactly what revoking removes.
    let (status, preview) = app.get(&format!("/api/v1/leases/{hex}")).await;
    assert_eq!(status, 200);
    assert_eq!(preview["lease"]["id"], hex.as_str());
    assert_eq!(preview["instances"][0]["key"], "/microservices/orders/o1");
    assert_eq!(preview["locks"], json!(["jobs"]));
    assert_eq!(preview["elections"], json!([]));
    assert_eq!(preview["other_keys"], json!(["/plain/flag"]));
    // Upper case and leading zeros name the same lease.
    let (status, same) = app.get(&format!("/api/v1/leases/00{}", hex.to_uppercase())).await;
    assert_eq!(status, 200);
    assert_eq!(same["lease"]["id"], hex.as_str());

    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": ["leases", "services"]}))
        .await;
    ws.wait_for(LIMIT, |m| m["type"] == "snapshot" && m["topic"] == "leases")
        .await;

    let (status, revoked) = app.delete(&format!("/api/v1/leases/{hex}")).await;
    assert_eq!(status, 200);
    assert_eq!(revoked["revoked"], hex.as_str());
    assert_eq!(revoked["deleted_keys"], 3);
    let revision = revoked["revision"].as_i64().expect("revision");

    // The effect arrives through the watch: the lease and the service go, live.
    let gone = ws
        .wait_for(LIMIT, |m| {
            m["type"] == "patch" && m["topic"] == "leases" && m["ops"][0]["op"] == "remove"
        })
        .await;
    assert_eq!(gone["ops"][0]["id"], hex.as_str());
    assert!(gone["revision"].as_i64() >= Some(revision), "{gone}");
    poll_json(&app, "/api/v1/services", LIMIT, |b| b["services"] == json!([])).await;
    let (_, locks) = app.get("/api/v1/locks").await;
    assert_eq!(locks["locks"], json!([]));
    let unleased = client.get("/plain/unleased", None).await.expect("get");
    assert_eq!(unleased.kvs().len(), 1, "keys on no lease are untouched");

    let (status, body) = app.get(&format!("/api/v1/leases/{hex}")).await;
    assert_eq!(status, 404, "{body}");
    let (status, again) = app.delete(&format!("/api/v1/leases/{hex}")).await;
    assert_eq!(status, 404, "{again}");
    app.shutdown().await;
}

#[tokio::test]
async fn malformed_and_unknown_lease_ids() {
    let etcd = start_etcd().await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    for bad in ["xyz", "0x10", "1ffffffffffffffff"] {
        let (status, body) = app.get(&format!("/api/v1/leases/{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "bad_request");
        let (status, _) = app.delete(&format!("/api/v1/leases/{bad}")).await;
        assert_eq!(status, 400, "{bad}");
    }
    let (status, body) = app.get("/api/v1/leases/123abc").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    app.shutdown().await;
}

#[tokio::test]
async fn a_lease_granted_by_etcdctl_without_keys_is_listed() {
    let etcd = start_etcd().await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;

    let mut grant = Etcdctl::spawn(&etcd, &["lease", "grant", "120"]);
    // "lease 094d8b0ee8ec6c0a granted with TTL(120s)": etcdctl pads to 16
    // digits; the API (like etcd's own lock keys) writes no leading zeros.
    let line = grant.line(LIMIT).await;
    let printed = line.split_whitespace().nth(1).expect("lease id").to_owned();
    let hex = printed.trim_start_matches('0').to_owned();

    let (status, detail) = app.get(&format!("/api/v1/leases/{printed}")).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["lease"]["id"], hex.as_str());
    assert_eq!(detail["lease"]["granted_ttl"], 120);
    assert_eq!(detail["lease"]["keys"], 0);
    poll_json(&app, "/api/v1/leases", LIMIT, |b| {
        b["leases"]
            .as_array()
            .is_some_and(|l| l.iter().any(|l| l["id"] == hex.as_str()))
    })
    .await;
    app.shutdown().await;
}
