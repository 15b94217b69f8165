//! Leasehold against an etcd with authentication enabled: it logs in as the
//! configured user, syncs what that user may read, says clearly in health
//! what it may not (or that the password is wrong), and never prints the
//! password.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::time::Duration;

use common::{config, poll_json, spawn_app_with, start_etcd, Config, EtcdProcess};
use etcd_client::{Client, ConnectOptions, Permission};
use serde_json::Value;
use server::config::{EtcdConfig, EtcdUser, Secret};

const LIMIT: Duration = Duration::from_secs(30);
const KRATOS: &str = r#"{"id":"1","name":"orders","endpoints":["grpc://10.0.0.1:9000"]}"#;

/// etcd with users `root` (everything) and `reader` (reads Kratos's
/// `/microservices/` only), auth enabled, and an instance inside and one
/// outside what reader may read.
async fn etcd_with_users() -> EtcdProcess {
    let etcd = start_etcd().await;
    let mut client = Client::connect([etcd.endpoint()], None).await.expect("client");
    client.user_add("root", "root-secret", None).await.expect("user root");
    client.user_grant_role("root", "root").await.expect("root role");
    client.role_add("apps-reader").await.expect("role");
    client
        .role_grant_permission("apps-reader", Permission::read("/microservices/").with_prefix())
        .await
        .expect("grant");
    client
        .user_add("reader", "reader-secret", None)
        .await
        .expect("user reader");
    client
        .user_grant_role("reader", "apps-reader")
        .await
        .expect("reader role");
    client.put("/microservices/orders/1", KRATOS, None).await.expect("put");
    let micro = r#"{"name":"vault","version":"1","nodes":[{"id":"1","address":"10.0.0.2:1"}]}"#;
    client.put("/micro/registry/vault/1", micro, None).await.expect("put");
    client.auth_enable().await.expect("auth enable");
    etcd
}

fn as_user(etcd: &EtcdProcess, name: &str, password: &str, prefixes: &[&str]) -> Config {
    let base = config(etcd.endpoint());
    Config {
        etcd: EtcdConfig {
            user: Some(EtcdUser {
                name: name.to_owned(),
                password: Secret::new(password.to_owned()),
            }),
            ..base.etcd
        },
        prefixes: prefixes.iter().map(|p| (*p).to_owned()).collect(),
        ..base
    }
}

fn task_errors(health: &Value) -> String {
    health["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["error"].as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test]
async fn logs_in_and_syncs_what_the_user_may_read() {
    let etcd = etcd_with_users().await;

    // root sees everything.
    let root = spawn_app_with(as_user(&etcd, "root", "root-secret", &[])).await;
    root.wait_for_health(200, LIMIT).await;
    poll_json(&root, "/api/v1/services", LIMIT, |b| {
        b["services"].as_array().map(Vec::len) == Some(2)
    })
    .await;
    root.shutdown().await;

    // reader, watching what it may read, syncs that.
    let reader = spawn_app_with(as_user(&etcd, "reader", "reader-secret", &["/microservices/"])).await;
    let services = poll_json(&reader, "/api/v1/services", LIMIT, |b| {
        b["services"].as_array().map(Vec::len) == Some(1)
    })
    .await;
    assert_eq!(services["services"][0]["name"], "orders");
    reader.shutdown().await;
}

#[tokio::test]
async fn what_the_user_may_not_read_and_a_wrong_password_are_said_in_health() {
    let etcd = etcd_with_users().await;

    // The whole keyspace is more than reader may read.
    let app = spawn_app_with(as_user(&etcd, "reader", "reader-secret", &[])).await;
    let health = poll_json(&app, "/api/v1/health", LIMIT, |b| {
        b["etcd"]["error"]
            .as_str()
            .is_some_and(|e| e.to_lowercase().contains("permission denied"))
    })
    .await;
    assert_eq!(health["synced"], false, "{health}");
    // The browser hears the reason too, in the status message.
    let mut ws = app.ws().await;
    ws.send_json(serde_json::json!({"type": "subscribe", "topics": ["services"]}))
        .await;
    let status = ws
        .wait_for(LIMIT, |m| {
            m["type"] == "status"
                && m["error"]
                    .as_str()
                    .is_some_and(|e| e.to_lowercase().contains("permission denied"))
        })
        .await;
    assert_eq!(status["etcd"], "reconnecting", "{status}");
    app.shutdown().await;

    let wrong = spawn_app_with(as_user(&etcd, "root", "not-the-password", &[])).await;
    let health = poll_json(&wrong, "/api/v1/health", LIMIT, |b| {
        task_errors(b).contains("etcd login as \"root\" failed")
    })
    .await;
    assert!(
        task_errors(&health).to_lowercase().contains("authentication failed"),
        "{health}"
    );
    assert!(!health.to_string().contains("not-the-password"), "{health}");
    wrong.shutdown().await;
}

#[test]
fn the_password_never_prints() {
    let config = EtcdConfig {
        user: Some(EtcdUser {
            name: "root".to_owned(),
            password: Secret::new("hunter2".to_owned()),
        }),
        ..EtcdConfig::new(vec!["http://127.0.0.1:2379".to_owned()])
    };
    let printed = format!("{config:?}");
    assert!(printed.contains("root") && !printed.contains("hunter2"), "{printed}");
}

/// etcd-client's own login, for comparison: the same user and password work
/// directly, so a failure above is Leasehold's, not the setup's.
#[tokio::test]
async fn the_users_are_set_up_as_the_tests_assume() {
    let etcd = etcd_with_users().await;
    let options = ConnectOptions::new().with_user("reader", "reader-secret");
    let mut reader = Client::connect([etcd.endpoint()], Some(options))
        .await
        .expect("reader logs in");
    let allowed = reader
        .get("/microservices/", Some(etcd_client::GetOptions::new().with_prefix()))
        .await;
    assert_eq!(allowed.map(|r| r.kvs().len()).ok(), Some(1));
    assert!(
        reader.get("/micro/registry/vault/1", None).await.is_err(),
        "reader may not read go-micro's keys"
    );
}
