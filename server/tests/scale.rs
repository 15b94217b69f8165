//! Listing at scale and watched prefixes, against a real etcd.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::time::Duration;

use common::{etcd_client, poll_json, spawn_app_with, start_etcd};
use etcd_client::{Txn, TxnOp};
use server::config::Config;

const LIMIT: Duration = Duration::from_secs(120);

fn config(endpoint: String, prefixes: Vec<String>) -> Config {
    Config {
        prefixes,
        cluster_poll: Duration::from_secs(2),
        lease_sample_rate: 20.0,
        lease_poll: Duration::from_secs(2),
        ..common::config(endpoint)
    }
}

/// 100,000 instances in 1,000 services, written in transactions of 100.
#[tokio::test]
async fn a_hundred_thousand_instances_are_listed_in_pages_at_one_revision() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let mut revision = 0;
    for batch in 0..1000 {
        let ops: Vec<TxnOp> = (0..100)
            .map(|i| {
                let n = batch * 100 + i;
                let service = format!("svc-{:04}", n % 1000);
                let value = format!(
                    r#"{{"id":"{n}","name":"{service}","endpoints":["grpc://10.{}.{}.{}:80"]}}"#,
                    n / 65536,
                    (n / 256) % 256,
                    n % 256
                );
                TxnOp::put(format!("/microservices/{service}/{n}"), value, None)
            })
            .collect();
        let response = client.txn(Txn::new().and_then(ops)).await.expect("txn");
        revision = response.header().expect("header").revision();
    }

    let app = spawn_app_with(config(etcd.endpoint(), Vec::new())).await;
    app.wait_for_health(200, LIMIT).await;
    app.wait_for_revision(revision, LIMIT).await;
    let (status, body) = app.get("/api/v1/services").await;
    assert_eq!(status, 200);
    let services = body["services"].as_array().expect("services");
    assert_eq!(services.len(), 1000);
    assert!(
        services.iter().all(|s| s["instances"] == 100),
        "every service has all its instances"
    );
    assert_eq!(body["revision"], revision, "one revision for the whole list");
    let (_, one) = app.get("/api/v1/services/svc-0042").await;
    assert_eq!(one["instances"].as_array().map(Vec::len), Some(100));
    app.shutdown().await;
}

#[tokio::test]
async fn only_the_watched_prefixes_are_mirrored() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let instance = |name: &str| format!(r#"{{"id":"1","name":"{name}","endpoints":["grpc://10.0.0.1:80"]}}"#);
    client
        .put("/microservices/seen/1", instance("seen"), None)
        .await
        .expect("put");
    client
        .put("/elsewhere/microservices/x/1", instance("x"), None)
        .await
        .expect("put");

    let app = spawn_app_with(config(etcd.endpoint(), vec!["/microservices/seen".to_owned()])).await;
    app.wait_for_health(200, LIMIT).await;
    client
        .put("/microservices/unseen/1", instance("unseen"), None)
        .await
        .expect("put");
    let last = client
        .put("/microservices/seen/2", instance("seen"), None)
        .await
        .expect("put")
        .header()
        .expect("header")
        .revision();
    let body = poll_json(&app, "/api/v1/services", LIMIT, |b| b["services"][0]["instances"] == 2).await;
    assert!(body["revision"].as_i64() >= Some(last));
    let names: Vec<&str> = body["services"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["seen"]);
    app.shutdown().await;
}

#[tokio::test]
async fn a_transaction_across_two_watched_prefixes_is_applied_whole() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app_with(config(
        etcd.endpoint(),
        vec!["/microservices/a".to_owned(), "/microservices/b".to_owned()],
    ))
    .await;
    app.wait_for_health(200, LIMIT).await;
    let instance = |name: &str| format!(r#"{{"id":"1","name":"{name}","endpoints":["grpc://10.0.0.1:80"]}}"#);
    let ops = vec![
        TxnOp::put("/microservices/a/1", instance("a"), None),
        TxnOp::put("/microservices/b/1", instance("b"), None),
    ];
    let revision = client
        .txn(Txn::new().and_then(ops))
        .await
        .expect("txn")
        .header()
        .expect("header")
        .revision();
    app.wait_for_revision(revision, LIMIT).await;
    let body = poll_json(&app, "/api/v1/services", LIMIT, |b| {
        b["services"].as_array().map(Vec::len) == Some(2)
    })
    .await;
    assert_eq!(body["services"][0]["name"], "a");
    assert_eq!(body["services"][1]["name"], "b");
    app.shutdown().await;
}
