//! Framework layouts recognised through REST against a real etcd, for
//! registrations written before the server starts (the list) and after (the watch).

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::time::Duration;

use common::{etcd_client, poll_json, spawn_app, start_etcd};
use etcd_client::{Client, PutOptions};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(30);

/// Registers one instance of `service` in every layout, as each framework writes it.
async fn register_all(client: &mut Client, service: &str, host: &str) {
    let lease = client.lease_grant(60, None).await.expect("grant").id();
    let on_lease = || Some(PutOptions::new().with_lease(lease));
    let micro = format!(
        r#"{{"name":"{service}-micro","version":"1.0.0","metadata":null,"endpoints":null,"nodes":[{{"id":"{service}-1","address":"{host}:1001","metadata":{{"protocol":"grpc"}}}}]}}"#
    );
    client
        .put(
            format!("/micro/registry/{service}-micro/{service}-1"),
            micro,
            on_lease(),
        )
        .await
        .expect("put");
    let kitex = format!(r#"{{"network":"tcp","address":"{host}:1002","weight":10,"tags":{{"env":"test"}}}}"#);
    client
        .put(
            format!("kitex/registry-etcd/{service}-kitex/{host}:1002"),
            kitex,
            on_lease(),
        )
        .await
        .expect("put");
    let grpc = format!(r#"{{"Op":0,"Addr":"{host}:1003","Metadata":null}}"#);
    client
        .put(format!("{service}-grpc/{host}:1003"), grpc, on_lease())
        .await
        .expect("put");
    client
        .put(
            format!("{service}-zero.rpc/{lease}"),
            format!("{host}:1004"),
            on_lease(),
        )
        .await
        .expect("put");
}

fn layouts(body: &Value) -> Vec<(String, String, i64)> {
    body["services"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or_default().to_owned(),
                s["layouts"][0].as_str().unwrap_or_default().to_owned(),
                s["instances"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_layout_is_recognised_before_and_after_start() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    register_all(&mut client, "early", "10.8.0.1").await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    register_all(&mut client, "late", "10.8.0.2").await;

    let body = poll_json(&app, "/api/v1/services", LIMIT, |b| {
        b["services"].as_array().map(Vec::len) == Some(8)
    })
    .await;
    let expected: Vec<(String, String, i64)> = [
        ("early-grpc", "grpc"),
        ("early-kitex", "kitex"),
        ("early-micro", "go-micro"),
        ("early-zero.rpc", "go-zero"),
        ("late-grpc", "grpc"),
        ("late-kitex", "kitex"),
        ("late-micro", "go-micro"),
        ("late-zero.rpc", "go-zero"),
    ]
    .iter()
    .map(|(name, layout)| ((*name).to_owned(), (*layout).to_owned(), 1))
    .collect();
    assert_eq!(layouts(&body), expected);

    for (service, port) in [
        ("late-micro", 1001),
        ("late-kitex", 1002),
        ("late-grpc", 1003),
        ("late-zero.rpc", 1004),
    ] {
        let (status, detail) = app.get(&format!("/api/v1/services/{service}")).await;
        assert_eq!(status, 200, "{service}");
        assert_eq!(
            detail["instances"][0]["address"],
            format!("10.8.0.2:{port}"),
            "{detail}"
        );
        assert!(detail["instances"][0]["error"].is_null(), "{detail}");
    }
    let (_, micro) = app.get("/api/v1/services/late-micro").await;
    assert_eq!(micro["instances"][0]["metadata"]["protocol"], "grpc");
    assert_eq!(micro["instances"][0]["version"], "1.0.0");
    app.shutdown().await;
}
