//! A 3-member etcd cluster under writes: the member Leasehold uses and then
//! the leader are killed, and a member is frozen; the server moves to the
//! other endpoints and its model stays exact, and it never shows a frozen
//! member's past as current.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::etcd_cluster::EtcdCluster;
use common::{spawn_app_with, TestApp};
use serde_json::{json, Value};

/// Generous: elections take about a second, reconnects a few more.
const LIMIT: Duration = Duration::from_secs(60);

/// Writes `/fo/<n>` to the cluster until stopped; failures (a member gone)
/// are retried on the next key.
fn writer(endpoints: Vec<String>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let Ok(mut client) = etcd_client::Client::connect(endpoints, None).await else {
            return 0;
        };
        let mut written = 0;
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let put = client.put(format!("/fo/{}", n % 500), format!("v{n}"), None);
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), put).await {
                written += 1;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        written
    })
}

async fn etcd_now(cluster: &EtcdCluster) -> (i64, BTreeMap<String, (i64, String)>) {
    let mut client = cluster.client().await;
    // Right after a leader is killed, reads fail until the others elect one.
    let deadline = tokio::time::Instant::now() + LIMIT;
    let answer = loop {
        let get = client.get("/fo/", Some(etcd_client::GetOptions::new().with_prefix()));
        match tokio::time::timeout(Duration::from_secs(3), get).await {
            Ok(Ok(answer)) => break answer,
            other => assert!(
                tokio::time::Instant::now() < deadline,
                "the cluster never answered: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let revision = answer.header().expect("header").revision();
    let keys = answer
        .kvs()
        .iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(kv.key()).into_owned(),
                (kv.mod_revision(), String::from_utf8_lossy(kv.value()).into_owned()),
            )
        })
        .collect();
    (revision, keys)
}

async fn mirrored(app: &TestApp) -> (i64, BTreeMap<String, (i64, String)>) {
    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": ["kv:/fo/"]})).await;
    let snapshot = ws.wait_for(LIMIT, |m| m["type"] == "snapshot").await;
    let keys = snapshot["data"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|kv: &Value| {
            (
                kv["key"].as_str().unwrap_or_default().to_owned(),
                (
                    kv["mod_revision"].as_i64().unwrap_or(0),
                    kv["value"].as_str().unwrap_or_default().to_owned(),
                ),
            )
        })
        .collect();
    (snapshot["revision"].as_i64().unwrap_or(0), keys)
}

/// Puts `key` until the members `client` knows take it, and returns its
/// revision: when the member left out led, the others elect a leader first.
async fn put_until_taken(client: &mut etcd_client::Client, key: &str, value: impl Into<Vec<u8>>) -> i64 {
    let value = value.into();
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let put = client.put(key, value.clone(), None);
        if let Ok(Ok(answer)) = tokio::time::timeout(Duration::from_secs(3), put).await {
            return answer.header().expect("header").revision();
        }
        assert!(tokio::time::Instant::now() < deadline, "the others never took a write");
    }
}

/// The server on `endpoints`, watching `/fo/`, with timeouts short enough
/// that a member gone is noticed within the test.
async fn spawn_on(endpoints: Vec<String>) -> TestApp {
    let mut config = common::config(String::new());
    config.etcd = server::config::EtcdConfig::new(endpoints);
    config.etcd.request_timeout = Duration::from_secs(3);
    config.etcd.keepalive_interval = Duration::from_secs(1);
    config.etcd.keepalive_timeout = Duration::from_secs(2);
    config.prefixes = vec!["/fo/".to_owned()];
    spawn_app_with(config).await
}

/// Writes stopped: the server reaches etcd's revision and shows exactly its
/// keys. etcd is read again when its answer is older than the model: a read
/// right after a member was thawed has answered revision 2 when 3 was
/// committed and shown.
async fn assert_exact(app: &TestApp, cluster: &EtcdCluster) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let (revision, truth) = etcd_now(cluster).await;
        app.wait_for_revision(revision, LIMIT).await;
        app.wait_for_health(200, LIMIT).await;
        let (shown_at, shown) = mirrored(app).await;
        if shown_at == revision {
            assert_eq!(shown, truth, "at revision {revision}");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the model stayed at {shown_at}, etcd at {revision}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_member_in_use_and_then_the_leader_under_writes_keeps_the_model_exact() {
    let mut cluster = EtcdCluster::start(3).await;
    let app = spawn_on(cluster.endpoints()).await;
    app.wait_for_health(200, LIMIT).await;

    for round in 0..2 {
        let stop = Arc::new(AtomicBool::new(false));
        let writes = writer(cluster.endpoints(), stop.clone());
        tokio::time::sleep(Duration::from_millis(500)).await;
        // First the member listed first (the one a fresh client starts
        // with), then whichever leads.
        let victim = if round == 0 { 0 } else { cluster.wait_for_leader().await };
        cluster.kill(victim).await;
        let killed = tokio::time::Instant::now();
        // etcd's revision as the two that are left answer after the kill,
        // and when the server shows it: how long the failover took, writes
        // going on.
        let (revision, _) = etcd_now(&cluster).await;
        app.wait_for_revision(revision, LIMIT).await;
        eprintln!(
            "round {round}: member {victim} killed; the server showed etcd's revision {revision}, read after it, {:?} later",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.store(true, Ordering::Relaxed);
        let written = writes.await.expect("writer");
        assert!(written > 0, "writes went on");
        assert_exact(&app, &cluster).await;
        cluster.restart(victim).await;
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_member_is_left_and_never_shown_as_current() {
    let cluster = EtcdCluster::start(3).await;
    // The server knows only the member that will freeze, then all of them.
    for endpoints in [vec![cluster.endpoint(1)], cluster.endpoints()] {
        let only_one = endpoints.len() == 1;
        let app = spawn_on(endpoints).await;
        app.wait_for_health(200, LIMIT).await;

        cluster.freeze(1);
        let mut client = etcd_client::Client::connect([cluster.endpoint(0), cluster.endpoint(2)], None)
            .await
            .expect("client");
        let written = put_until_taken(&mut client, "/fo/while-frozen", "1").await;
        if only_one {
            // Nothing else to ask: the server must say it is not current.
            let health = app.wait_for_health(503, LIMIT).await;
            assert!(health["revision"].as_i64().unwrap_or(0) < written, "{health}");
        } else {
            app.wait_for_revision(written, LIMIT).await;
        }
        cluster.thaw(1);
        assert_exact(&app, &cluster).await;
        app.shutdown().await;
    }
}

/// The last member cut off from the others (its peer link down) while it
/// still answers clients from its own store, which no longer changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_member_never_passes_its_past_for_the_present() {
    let cluster = EtcdCluster::start_partitionable(3).await;
    let apart = 2;
    for endpoints in [vec![cluster.endpoint(apart)], cluster.endpoints()] {
        let only_one = endpoints.len() == 1;
        let app = spawn_on(endpoints).await;
        app.wait_for_health(200, LIMIT).await;

        cluster.partition();
        let mut client = etcd_client::Client::connect([cluster.endpoint(0), cluster.endpoint(1)], None)
            .await
            .expect("client");
        let written = put_until_taken(&mut client, "/fo/while-apart", format!("{only_one}")).await;
        if only_one {
            // The member answers, but from a store that stopped: the server
            // must not call that synced.
            let health = app.wait_for_health(503, LIMIT).await;
            assert!(health["revision"].as_i64().unwrap_or(0) < written, "{health}");
            let mut apart_client = etcd_client::Client::connect([cluster.endpoint(apart)], None)
                .await
                .expect("client");
            let serializable = etcd_client::GetOptions::new().with_serializable();
            let stale = apart_client.get("/fo/while-apart", Some(serializable)).await;
            assert!(
                stale.is_ok_and(|answer| answer.kvs().is_empty()),
                "the member was really apart, and still answering"
            );
        } else {
            app.wait_for_revision(written, LIMIT).await;
            app.wait_for_health(200, LIMIT).await;
        }
        cluster.heal();
        assert_exact(&app, &cluster).await;
        app.shutdown().await;
    }
}
