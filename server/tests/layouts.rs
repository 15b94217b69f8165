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
    let kratos = format!(
        r#"{{"id":"{service}-k1","name":"{service}-kratos","version":"v2.1.0","metadata":{{"region":"eu"}},"endpoints":["grpc://{host}:1005?isSecure=false"]}}"#
    );
    client
        .put(
            format!("/microservices/{service}-kratos/{service}-k1"),
            kratos,
            on_lease(),
        )
        .await
        .expect("put");
    // dubbo-go, interface level: the provider URL, percent-encoded whole, is the key.
    let provider = format!(
        "dubbo%3A%2F%2F{host}%3A1006%2Forg.example.{service}.Greeter%3Fapplication%3D{service}-app\
         %26methods%3DHello%2CBye%26side%3Dprovider%26version%3D1.2.0"
    );
    client
        .put(
            format!("/dubbo/org.example.{service}.Greeter/providers/{provider}"),
            "",
            on_lease(),
        )
        .await
        .expect("put");
    // dubbo-go, application level.
    let app = format!(
        r#"{{"ID":"{host}:1007","ServiceName":"{service}-app","Host":"{host}","Port":1007,"Enable":true,"Healthy":true,"Metadata":{{"dubbo.metadata.revision":"r1"}}}}"#
    );
    client
        .put(format!("/services/{service}-app/{host}:1007"), app, on_lease())
        .await
        .expect("put");
    // CoreDNS: `/skydns/local/<service>-dns/x1` answers for `<service>-dns.local`.
    let record = format!(r#"{{"host":"{host}","port":1008,"priority":10,"weight":100,"ttl":30}}"#);
    client
        .put(format!("/skydns/local/{service}-dns/x1"), record, on_lease())
        .await
        .expect("put");
    // rpcx: `<base path>/<service>/<network>@<address>`, metadata as a query.
    client
        .put(
            format!("/rpcx_test/{service}-rpcx/tcp@{host}:1009"),
            "group=test&state=active",
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
        b["services"].as_array().map(Vec::len) == Some(18)
    })
    .await;
    let mut expected: Vec<(String, String, i64)> = ["early", "late"]
        .iter()
        .flat_map(|when| {
            [
                ("app", "dubbo-app"),
                ("dns.local", "skydns"),
                ("grpc", "grpc"),
                ("kitex", "kitex"),
                ("kratos", "kratos"),
                ("micro", "go-micro"),
                ("rpcx", "rpcx"),
                ("zero.rpc", "go-zero"),
            ]
            .map(|(suffix, layout)| (format!("{when}-{suffix}"), layout.to_owned(), 1))
            .into_iter()
            .chain([(format!("org.example.{when}.Greeter"), "dubbo".to_owned(), 1)])
        })
        .collect();
    expected.sort();
    assert_eq!(layouts(&body), expected);

    for (service, port) in [
        ("late-micro", 1001),
        ("late-kitex", 1002),
        ("late-grpc", 1003),
        ("late-zero.rpc", 1004),
        ("late-kratos", 1005),
        ("org.example.late.Greeter", 1006),
        ("late-app", 1007),
        ("late-dns.local", 1008),
        ("late-rpcx", 1009),
    ] {
        let (status, detail) = app.get(&format!("/api/v1/services/{service}")).await;
        assert_eq!(status, 200, "{service}");
        assert_eq!(
            detail["instances"][0]["address"],
            format!("10.8.0.2:{port}"),
            "{detail}"
        );
        assert!(detail["instances"][0]["error"].is_null(), "{detail}");
        assert!(detail["instances"][0]["lease"].is_string(), "{detail}");
    }
    let (_, dubbo) = app.get("/api/v1/services/org.example.late.Greeter").await;
    assert_eq!(dubbo["instances"][0]["metadata"]["methods"], "Hello,Bye");
    assert_eq!(dubbo["instances"][0]["version"], "1.2.0");
    let (_, dns) = app.get("/api/v1/services/late-dns.local").await;
    assert_eq!(dns["instances"][0]["metadata"]["priority"], "10");
    let (_, rpcx) = app.get("/api/v1/services/late-rpcx").await;
    assert_eq!(rpcx["instances"][0]["metadata"]["state"], "active");
    let (_, kratos) = app.get("/api/v1/services/late-kratos").await;
    assert_eq!(kratos["instances"][0]["version"], "v2.1.0");
    let (_, micro) = app.get("/api/v1/services/late-micro").await;
    assert_eq!(micro["instances"][0]["metadata"]["protocol"], "grpc");
    assert_eq!(micro["instances"][0]["version"], "1.0.0");
    app.shutdown().await;
}

#[tokio::test]
async fn values_a_layout_cannot_parse_are_shown_raw_with_the_reason() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let broken = [
        ("/skydns/local/broken/x1", "not json"),
        ("/dubbo/org.example.Broken/providers/dubbo%3A%2F%2Fno-port", ""),
        ("kitex/registry-etcd/broken-kitex/x", r#"{"address":"nowhere"}"#),
    ];
    for (key, value) in &broken[..2] {
        client.put(*key, *value, None).await.expect("put");
    }
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    client.put(broken[2].0, broken[2].1, None).await.expect("put");

    for (service, key, value) in [
        ("broken.local", broken[0].0, broken[0].1),
        ("org.example.Broken", broken[1].0, broken[1].1),
        ("broken-kitex", broken[2].0, broken[2].1),
    ] {
        let detail = poll_json(&app, &format!("/api/v1/services/{service}"), LIMIT, |b| {
            b["instances"].as_array().map(Vec::len) == Some(1)
        })
        .await;
        let instance = &detail["instances"][0];
        assert_eq!(instance["key"], key, "{detail}");
        assert_eq!(instance["value"], value, "{detail}");
        assert!(instance["address"].is_null(), "{detail}");
        assert!(instance["error"].as_str().is_some_and(|e| !e.is_empty()), "{detail}");
    }
    app.shutdown().await;
}
