//! What etcd can hold that a dashboard must not choke on: keys and values
//! that are not UTF-8, large values, and a client that never reads.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{etcd_client, poll_json, spawn_app, start_etcd};
use etcd_client::{Txn, TxnOp};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn binary_keys_and_values_and_a_one_mebibyte_value_are_shown_not_dropped() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;

    // An instance id that is not UTF-8, under a Kratos key.
    let mut key = b"/microservices/bin/".to_vec();
    key.extend_from_slice(&[0xff, 0xfe, b'x']);
    client
        .put(key.clone(), vec![0x00, 0x9f, 0x92, 0x96], None)
        .await
        .expect("put");
    // A value of 1 MiB.
    let big = format!(
        r#"{{"id":"big","name":"large","endpoints":["grpc://10.0.0.1:80"],"metadata":{{"blob":"{}"}}}}"#,
        "x".repeat(1024 * 1024 - 100)
    );
    client
        .put("/microservices/large/big", big.clone(), None)
        .await
        .expect("put");

    let body = poll_json(&app, "/api/v1/services", LIMIT, |b| {
        b["services"].as_array().map(Vec::len) == Some(2)
    })
    .await;
    assert_eq!(body["services"][0]["name"], "bin");

    let (status, bin) = app.get("/api/v1/services/bin").await;
    assert_eq!(status, 200);
    let instance = &bin["instances"][0];
    assert_eq!(instance["id"], format!("base64:{}", STANDARD.encode(&key)));
    assert_eq!(instance["key_base64"], STANDARD.encode(&key));
    assert_eq!(instance["value_base64"], STANDARD.encode([0x00, 0x9f, 0x92, 0x96]));
    assert!(
        instance["error"].is_string(),
        "a binary value is not Kratos JSON: {instance}"
    );
    assert!(instance["address"].is_null());

    let (status, large) = app.get("/api/v1/services/large").await;
    assert_eq!(status, 200);
    assert_eq!(large["instances"][0]["value"].as_str().map(str::len), Some(big.len()));
    assert_eq!(large["instances"][0]["address"], "10.0.0.1:80");

    // The WebSocket carries them too.
    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": ["service:bin"]}))
        .await;
    let snapshot = ws.wait_for(LIMIT, |m| m["type"] == "snapshot").await;
    assert_eq!(snapshot["data"]["instances"][0]["key_base64"], STANDARD.encode(&key));
    app.shutdown().await;
}

#[tokio::test]
async fn a_client_that_never_reads_costs_bounded_memory_and_others_stay_current() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;

    // Subscribes, then never reads again.
    let mut stuck = app.ws().await;
    stuck
        .send_json(json!({"type": "subscribe", "topics": ["services", "service:bulk", "events"]}))
        .await;
    let mut current = app.ws().await;
    current
        .send_json(json!({"type": "subscribe", "topics": ["services"]}))
        .await;
    current.wait_for(LIMIT, |m| m["type"] == "snapshot").await;

    // 20,000 events of 4 KiB, in transactions of 100.
    let filler = "y".repeat(4096);
    let mut last = 0;
    for batch in 0..200 {
        let ops: Vec<TxnOp> = (0..100)
            .map(|i| {
                let n = batch * 100 + i;
                let value = format!(
                    r#"{{"id":"{n}","name":"bulk","endpoints":["grpc://10.1.0.1:80"],"metadata":{{"pad":"{filler}"}}}}"#
                );
                TxnOp::put(format!("/microservices/bulk/{n}"), value, None)
            })
            .collect();
        last = client
            .txn(Txn::new().and_then(ops))
            .await
            .expect("txn")
            .header()
            .expect("header")
            .revision();
    }
    let marker = client
        .put(
            "/microservices/marker/1",
            r#"{"id":"1","name":"marker","endpoints":["grpc://10.2.0.1:80"]}"#,
            None,
        )
        .await
        .expect("put")
        .header()
        .expect("header")
        .revision();
    assert!(marker > last);

    // The reading client is current...
    current
        .wait_for(LIMIT, |m| {
            m["type"] == "patch"
                && m["ops"]
                    .as_array()
                    .is_some_and(|ops| ops.iter().any(|op| op["id"] == "marker"))
        })
        .await;
    // ...and what the server holds for the stuck one is bounded: merged ops
    // are capped per topic, past which a snapshot is owed instead.
    app.wait_for_revision(marker, LIMIT).await;
    let pending = app.metric("leasehold_pending_ops").await;
    assert!(pending <= 3.0 * 10_000.0, "pending ops {pending}");
    assert!(app.metric("leasehold_snapshots_forced_total").await >= 1.0);
    assert_eq!(app.metric("leasehold_clients").await, 2.0);
    drop(stuck);
    app.shutdown().await;
}
