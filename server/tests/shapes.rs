//! Shapes real clusters have, each against a real etcd: answers over gRPC's
//! default 4 MiB, several prefixes written while the link is down, and etcd
//! restored from a backup to an older revision.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{etcd_client, etcd_revision, put_all, spawn_app_with, start_etcd, Proxy, ProxyMode, TestApp};
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(60);

/// The keys the server mirrors under `prefix`, from a `kv:<prefix>`
/// snapshot: key to (mod revision, value length).
async fn mirrored(app: &TestApp, prefix: &str) -> BTreeMap<String, (i64, usize)> {
    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": [format!("kv:{prefix}")]}))
        .await;
    let snapshot = ws
        .wait_for(LIMIT, |m| m["type"] == "snapshot" || m["type"] == "error")
        .await;
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    snapshot["data"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|kv: &Value| {
            let key = kv["key"].as_str().expect("key").to_owned();
            let value = kv["value"].as_str().unwrap_or_default().len();
            (key, (kv["mod_revision"].as_i64().expect("mod_revision"), value))
        })
        .collect()
}

/// The truth: `prefix`'s keys in etcd now.
async fn in_etcd(client: &mut etcd_client::Client, prefix: &str) -> BTreeMap<String, (i64, usize)> {
    let answer = client
        .kv_client()
        .max_decoding_message_size(256 << 20)
        .get(prefix, Some(etcd_client::GetOptions::new().with_prefix()))
        .await
        .expect("get");
    answer
        .kvs()
        .iter()
        .map(|kv| {
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            (key, (kv.mod_revision(), kv.value().len()))
        })
        .collect()
}

#[tokio::test]
async fn a_list_page_and_a_catch_up_over_4_mib_are_read_whole() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    // Three adjacent values of 1.4 MiB, then 1,000 of 4.2 KB: each a page of
    // over 4 MiB at 1,000 keys a page.
    let large = "x".repeat(1_400_000);
    for i in 0..3 {
        client
            .put(format!("/big/a{i}"), large.as_str(), None)
            .await
            .expect("put");
    }
    let medium = "y".repeat(4_200);
    put_all(
        &mut client,
        (0..1000).map(|i| (format!("/big/m{i:04}"), medium.clone())),
    )
    .await;

    let proxy = Proxy::start(&etcd).await;
    let mut config = common::config(proxy.endpoint());
    config.prefixes = vec!["/big/".to_owned()];
    let app = spawn_app_with(config).await;
    let health = app.wait_for_health(200, LIMIT).await;
    assert_eq!(health["revision"], etcd_revision(&mut client).await, "{health}");
    assert_eq!(mirrored(&app, "/big/").await, in_etcd(&mut client, "/big/").await);

    // While the link is down: four more large values, one catch-up of 5.6 MB.
    proxy.set(ProxyMode::Cut);
    app.wait_for_health(503, LIMIT).await;
    for i in 0..4 {
        client
            .put(format!("/big/b{i}"), large.as_str(), None)
            .await
            .expect("put");
    }
    proxy.set(ProxyMode::Open);
    let target = etcd_revision(&mut client).await;
    app.wait_for_revision(target, LIMIT).await;
    let health = app.wait_for_health(200, LIMIT).await;
    assert_eq!(health["etcd"]["error"], Value::Null, "{health}");
    assert_eq!(mirrored(&app, "/big/").await, in_etcd(&mut client, "/big/").await);
    app.shutdown().await;
}

#[tokio::test]
async fn several_prefixes_written_while_the_link_is_down_are_all_caught_up() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let proxy = Proxy::start(&etcd).await;
    let mut config = common::config(proxy.endpoint());
    config.prefixes = vec!["/pa/".to_owned(), "/pb/".to_owned()];
    let app = spawn_app_with(config).await;
    app.wait_for_health(200, LIMIT).await;

    proxy.set(ProxyMode::Cut);
    app.wait_for_health(503, LIMIT).await;
    // Interleaved, one revision each: etcd catches up each watched range on
    // its own, so one prefix's revisions would arrive after the other's.
    for i in 0..300 {
        client.put(format!("/pa/{i:03}"), "a", None).await.expect("put");
        client.put(format!("/pb/{i:03}"), "b", None).await.expect("put");
        client.put(format!("/pab/{i:03}"), "between", None).await.expect("put");
    }
    // A transaction over both prefixes and the range between them.
    let ops = ["/pa/t", "/pab/t", "/pb/t"].map(|k| etcd_client::TxnOp::put(k, "t", None));
    client.txn(etcd_client::Txn::new().and_then(ops)).await.expect("txn");
    proxy.set(ProxyMode::Open);

    let target = etcd_revision(&mut client).await;
    app.wait_for_revision(target, LIMIT).await;
    app.wait_for_health(200, LIMIT).await;
    for prefix in ["/pa/", "/pb/"] {
        let shown = mirrored(&app, prefix).await;
        assert_eq!(shown.len(), 301, "{prefix}: {} keys shown", shown.len());
        assert_eq!(shown, in_etcd(&mut client, prefix).await, "{prefix}");
    }
    // Keys between the prefixes are not shown.
    let (status, body) = app.get("/api/v1/health").await;
    assert_eq!(status, 200, "{body}");
    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": ["kv:/pab/"]})).await;
    let refused = ws
        .wait_for(LIMIT, |m| m["type"] == "error" || m["type"] == "snapshot")
        .await;
    assert_eq!(refused["type"], "error", "{refused}");
    app.shutdown().await;
}

#[tokio::test]
async fn etcd_restored_to_an_older_revision_is_listed_again_and_said_so() {
    let mut etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    put_all(
        &mut client,
        (0..50).map(|i| (format!("/restore/{i:02}"), "before".to_owned())),
    )
    .await;
    let backup_dir = tempfile::tempdir().expect("temp dir");
    let backup = backup_dir.path().join("backup.db");
    etcd.save_snapshot(&backup).await.expect("snapshot saved");
    let saved = etcd_revision(&mut client).await;

    let app = spawn_app_with(common::config(etcd.endpoint())).await;
    // After the backup: changes, deletions, new keys, many revisions.
    for i in 0..20 {
        client
            .put(format!("/restore/{i:02}"), "after", None)
            .await
            .expect("put");
        client
            .delete(format!("/restore/{:02}", 49 - i), None)
            .await
            .expect("delete");
        client.put(format!("/restore/new/{i}"), "new", None).await.expect("put");
    }
    let before = etcd_revision(&mut client).await;
    app.wait_for_revision(before, LIMIT).await;

    etcd.restore_snapshot(&backup).await.expect("etcd restored");
    let mut client = etcd_client(&etcd).await;
    let restored = etcd_revision(&mut client).await;
    assert!(
        restored < before,
        "the backup's revision {restored} is older than {before}"
    );
    assert!(restored >= saved);

    // The server follows etcd back: its revision is etcd's, not the old one.
    let health = common::poll_json(&app, "/api/v1/health", LIMIT, |h| {
        h["synced"] == true && h["revision"].as_i64() == Some(restored)
    })
    .await;
    assert_eq!(health["revision"], restored, "{health}");
    assert_eq!(
        mirrored(&app, "/restore/").await,
        in_etcd(&mut client, "/restore/").await
    );
    let events = common::poll_json(&app, "/api/v1/events", LIMIT, |e| {
        e["events"]
            .as_array()
            .is_some_and(|all| all.iter().any(|e| e["kind"] == "etcd_went_back"))
    })
    .await;
    let went_back = events["events"]
        .as_array()
        .and_then(|all| all.iter().find(|e| e["kind"] == "etcd_went_back"))
        .cloned()
        .expect("the event");
    assert_eq!(went_back["detail"]["from_revision"], before, "{went_back}");
    assert_eq!(went_back["detail"]["to_revision"], restored, "{went_back}");

    // And it keeps following: later writes are seen, not taken for old ones.
    let after = client
        .put("/restore/later", "1", None)
        .await
        .expect("put")
        .header()
        .expect("header")
        .revision();
    app.wait_for_revision(after, LIMIT).await;
    assert_eq!(
        mirrored(&app, "/restore/").await,
        in_etcd(&mut client, "/restore/").await
    );
    app.shutdown().await;
}
