//! The demo workload against a real etcd, at fast rates: what it writes (every
//! registry layout, three contended locks, an election whose leader changes),
//! what the dashboard makes of it, that it rides out an etcd restart, and that
//! stopping it leaves nothing behind.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{etcd_client, poll_json, spawn_app, start_etcd, EtcdProcess};
use etcd_client::{Client, GetOptions};
use server::config::{DemoConfig, EtcdConfig};
use server::demo::{ELECTION, LOCKS, SETTINGS_PREFIX};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const LIMIT: Duration = Duration::from_secs(30);

/// Fast rates: two services of each layout, ten arrivals or departures a
/// second, short leases, quick hand-overs and leader terms.
fn fast(etcd: &EtcdProcess) -> DemoConfig {
    DemoConfig {
        etcd: EtcdConfig::new(vec![etcd.endpoint()]),
        services: 16,
        churn_per_minute: 600.0,
        ttl: Duration::from_secs(2),
        lock_hold: Duration::from_millis(200),
        leader_term: Duration::from_secs(1),
        clients: None,
    }
}

struct Demo {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<Result<(), server::demo::Error>>,
}

fn start_demo(config: DemoConfig) -> Demo {
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(server::demo::run_until(config, async move {
        let _ = stopped.await;
    }));
    Demo { stop, handle }
}

impl Demo {
    async fn stop(self) {
        let _ = self.stop.send(());
        let stopped = tokio::time::timeout(LIMIT, self.handle).await;
        stopped
            .expect("the demo stops")
            .expect("the demo task")
            .expect("the demo revoked its leases");
    }
}

/// One key as etcd holds it.
struct Kv {
    key: String,
    value: String,
    lease: i64,
    create_revision: i64,
}

async fn all_keys(client: &mut Client) -> Vec<Kv> {
    let answer = client
        .get("", Some(GetOptions::new().with_all_keys()))
        .await
        .expect("get every key");
    answer
        .kvs()
        .iter()
        .map(|kv| Kv {
            key: String::from_utf8_lossy(kv.key()).into_owned(),
            value: String::from_utf8_lossy(kv.value()).into_owned(),
            lease: kv.lease(),
            create_revision: kv.create_revision(),
        })
        .collect()
}

/// The layout a demo key is written in, by the shapes of README.md's
/// "Registry layouts understood", or `None` for lock and election keys.
fn layout_of(kv: &Kv) -> Option<&'static str> {
    let k = kv.key.as_str();
    if k.starts_with("/microservices/") {
        Some("kratos")
    } else if k.starts_with("/micro/registry/") {
        Some("go-micro")
    } else if k.starts_with("kitex/registry-etcd/") {
        Some("kitex")
    } else if k.starts_with("/services/") {
        Some("dubbo-app")
    } else if k.starts_with("/dubbo/") && k.contains("/providers/dubbo%3A%2F%2F") && kv.value.is_empty() {
        Some("dubbo")
    } else if k.starts_with("/skydns/") {
        Some("skydns")
    } else if k.starts_with("/rpcx/") && k.contains("/tcp@") {
        Some("rpcx")
    } else if kv.value.starts_with('{') && kv.value.contains("\"Addr\"") {
        Some("grpc")
    } else if k.ends_with(&format!("/{}", kv.lease)) {
        Some("go-zero")
    } else {
        None
    }
}

/// Contender keys of `name`: `<name>/<its own lease in hex>`.
fn contenders<'a>(keys: &'a [Kv], name: &str) -> Vec<&'a Kv> {
    keys.iter()
        .filter(|kv| kv.key.strip_prefix(name).and_then(|r| r.strip_prefix('/')) == Some(&format!("{:x}", kv.lease)))
        .collect()
}

async fn assert_clean(client: &mut Client) {
    let left: Vec<String> = all_keys(client).await.into_iter().map(|kv| kv.key).collect();
    assert!(left.is_empty(), "keys left after the demo stopped: {left:?}");
    let leases = client.leases().await.expect("list leases");
    let ids: Vec<String> = leases.leases().iter().map(|l| format!("{:x}", l.id())).collect();
    assert!(ids.is_empty(), "leases left after the demo stopped: {ids:?}");
}

#[tokio::test]
async fn the_demo_fills_every_layout_contends_and_leaves_nothing_behind() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    let demo = start_demo(fast(&etcd));

    // Every layout appears, every instance key under a lease; every lock has
    // had two contenders or more at once, and the election two leaders.
    let deadline = tokio::time::Instant::now() + LIMIT;
    let mut layouts = BTreeSet::new();
    let mut crowded_locks = BTreeSet::new();
    let mut leaders = BTreeSet::new();
    // Configuration keys, the only ones without a lease.
    let mut settings = BTreeSet::new();
    loop {
        let keys = all_keys(&mut client).await;
        settings.extend(
            keys.iter()
                .filter(|kv| kv.key.starts_with(SETTINGS_PREFIX))
                .map(|kv| kv.key.clone()),
        );
        for kv in keys.iter().filter(|kv| !kv.key.starts_with(SETTINGS_PREFIX)) {
            assert_ne!(kv.lease, 0, "{} has no lease", kv.key);
            if let Some(layout) = layout_of(kv) {
                layouts.insert(layout);
            }
        }
        for lock in LOCKS {
            if contenders(&keys, lock).len() >= 2 {
                crowded_locks.insert(lock);
            }
        }
        let mut elections = client.election_client();
        if let Ok(answer) = elections.leader(ELECTION).await {
            if let Some(leader) = answer.kv().filter(|kv| !kv.value().is_empty()) {
                leaders.insert(leader.value().to_vec());
            }
        }
        if layouts.len() == 9 && crowded_locks.len() == LOCKS.len() && leaders.len() >= 2 && settings.len() == 5 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "layouts {layouts:?}, locks with contenders {crowded_locks:?}, leaders seen {}, settings {settings:?}",
            leaders.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The dashboard sees services of every layout, the locks and the election,
    // and, in its timeline, clean deregistrations as well as crashes whose
    // leases expired.
    poll_json(&app, "/api/v1/services", LIMIT, |body| {
        let layouts: BTreeSet<&str> = body["services"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["layouts"].as_array().into_iter().flatten())
            .filter_map(|l| l.as_str())
            .collect();
        layouts.len() == 9
    })
    .await;
    poll_json(&app, "/api/v1/locks", LIMIT, |body| {
        let names: BTreeSet<&str> = body["locks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|l| l["holder"].is_object())
            .filter_map(|l| l["name"].as_str())
            .collect();
        LOCKS.iter().all(|lock| names.contains(lock))
    })
    .await;
    poll_json(&app, "/api/v1/elections", LIMIT, |body| {
        body["elections"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["name"] == ELECTION && e["leader"]["value"].as_str().is_some_and(|v| !v.is_empty()))
    })
    .await;
    poll_json(&app, "/api/v1/events", LIMIT, |body| {
        let kinds: BTreeSet<&str> = body["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["kind"].as_str())
            .collect();
        [
            "instance_registered",
            "instance_deregistered",
            "lease_expired",
            "leader_elected",
        ]
        .iter()
        .all(|kind| kinds.contains(kind))
    })
    .await;

    demo.stop().await;
    assert_clean(&mut client).await;
    app.shutdown().await;
}

#[tokio::test]
async fn the_demo_rides_out_an_etcd_restart() {
    let mut etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let config = DemoConfig {
        services: 8,
        churn_per_minute: 120.0,
        ..fast(&etcd)
    };
    let demo = start_demo(config);

    let is_running = |keys: &[Kv]| {
        keys.iter().any(|kv| layout_of(kv).is_some()) && LOCKS.iter().all(|lock| !contenders(keys, lock).is_empty())
    };
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !is_running(&all_keys(&mut client).await) {
        assert!(tokio::time::Instant::now() < deadline, "the demo never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = client
        .status()
        .await
        .expect("status")
        .header()
        .map_or(0, |h| h.revision());

    etcd.restart().await.expect("etcd restarts");

    // New instances register, and every lock and the election get new
    // contenders, after the restart.
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let keys = all_keys(&mut client).await;
        let fresh: Vec<Kv> = keys.into_iter().filter(|kv| kv.create_revision > before).collect();
        if fresh.iter().any(|kv| layout_of(kv).is_some())
            && LOCKS.iter().all(|lock| !contenders(&fresh, lock).is_empty())
            && !contenders(&fresh, ELECTION).is_empty()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no new registrations, lock turns and candidates after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    demo.stop().await;
    assert_clean(&mut client).await;
}

/// With the real clients installed (`make setup-peers`), the demo runs a
/// Moleculer node and a tooz group beside its own workload, the dashboard
/// shows them as their services, and stopping the demo stops them cleanly.
#[tokio::test]
async fn the_demo_runs_a_real_moleculer_node_and_tooz_group() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let peers = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../peers");
    assert!(
        peers.join(".venv/.installed").exists(),
        "the test peers are not installed: `make setup` installs them (peers/)"
    );
    let app = spawn_app(&etcd).await;
    let demo = start_demo(DemoConfig {
        services: 2,
        clients: Some(peers),
        ..fast(&etcd)
    });
    let theirs = |keys: &[Kv]| {
        let has = |key: &str| keys.iter().any(|kv| kv.key == key);
        has("moleculer/discovery/info/demo-node-1")
            && has("tooz/groups/workers/worker-1")
            && has("tooz/groups/workers/worker-2")
    };
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !theirs(&all_keys(&mut client).await) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the real clients did not register"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let body = poll_json(&app, "/api/v1/services/v1.notifier", LIMIT, |b| {
        b["instances"][0]["layout"] == "moleculer"
    })
    .await;
    assert_eq!(body["instances"][0]["metadata"]["node"], "demo-node-1", "{body}");
    let body = poll_json(&app, "/api/v1/services/workers", LIMIT, |b| {
        b["instances"].as_array().is_some_and(|i| i.len() == 2)
    })
    .await;
    assert_eq!(body["instances"][0]["layout"], "tooz", "{body}");

    demo.stop().await;
    // Each stopped cleanly: deregistered at once, not left to expire.
    let keys = all_keys(&mut client).await;
    let left: Vec<&str> = keys
        .iter()
        .map(|kv| kv.key.as_str())
        .filter(|k| k.starts_with("moleculer/discovery/info/") || k.starts_with("tooz/groups/workers/w"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    app.shutdown().await;
}
