//! The WebSocket guarantee, checked against a real etcd: for every topic, the
//! snapshot followed by the patches equals the REST body at that revision,
//! entity by entity (sampled TTL fields aside), after a random mix of
//! registrations, deregistrations, lock contenders and lease revocations.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{etcd_client, spawn_app, start_etcd, TestApp, WsClient};
use etcd_client::PutOptions;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(60);
const SERVICES: [&str; 3] = ["svc-0", "svc-1", "svc-2"];

/// Removes the fields the lease sampler refreshes between revisions.
fn unsampled(mut value: Value) -> Value {
    match &mut value {
        Value::Object(map) => {
            for field in ["ttl", "granted_ttl", "min_ttl", "sampled_at"] {
                map.remove(field);
            }
            for (_, v) in map.iter_mut() {
                *v = unsampled(v.take());
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                *item = unsampled(item.take());
            }
        }
        _ => {}
    }
    value
}

fn topics() -> Vec<String> {
    let mut topics = vec!["services".to_owned(), "locks".to_owned(), "elections".to_owned()];
    topics.extend(SERVICES.iter().map(|s| format!("service:{s}")));
    topics
}

/// Entities by id for each topic, from a snapshot and the patches after it.
#[derive(Default)]
struct Mirror {
    topics: BTreeMap<String, BTreeMap<String, Value>>,
    /// The revision of the last `status`: everything up to it has arrived.
    status: i64,
}

impl Mirror {
    fn apply(&mut self, message: &Value) {
        if message["type"] == "status" {
            self.status = self.status.max(message["revision"].as_i64().unwrap_or(0));
        }
        let topic = message["topic"].as_str().unwrap_or_default().to_owned();
        match message["type"].as_str() {
            Some("snapshot") => {
                let data = &message["data"];
                let (list, key) = match topic.as_str() {
                    "services" => (&data["services"], "name"),
                    "locks" => (&data["locks"], "name"),
                    "elections" => (&data["elections"], "name"),
                    _ => (&data["instances"], "id"),
                };
                let entities = list
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| (e[key].as_str().unwrap_or_default().to_owned(), unsampled(e.clone())))
                    .collect();
                self.topics.insert(topic, entities);
            }
            Some("patch") => {
                let entities = self.topics.entry(topic).or_default();
                for op in message["ops"].as_array().into_iter().flatten() {
                    let id = op["id"].as_str().unwrap_or_default().to_owned();
                    match op["op"].as_str() {
                        Some("upsert") => {
                            entities.insert(id, unsampled(op["value"].clone()));
                        }
                        Some("remove") => {
                            entities.remove(&id);
                        }
                        other => panic!("unexpected op {other:?}"),
                    }
                }
            }
            _ => {}
        }
    }
}

async fn rest_view(app: &TestApp) -> BTreeMap<String, BTreeMap<String, Value>> {
    let mut view = BTreeMap::new();
    let by = |list: &Value, key: &str| -> BTreeMap<String, Value> {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|e| (e[key].as_str().unwrap_or_default().to_owned(), unsampled(e.clone())))
            .collect()
    };
    view.insert(
        "services".to_owned(),
        by(&app.get("/api/v1/services").await.1["services"], "name"),
    );
    view.insert(
        "locks".to_owned(),
        by(&app.get("/api/v1/locks").await.1["locks"], "name"),
    );
    view.insert(
        "elections".to_owned(),
        by(&app.get("/api/v1/elections").await.1["elections"], "name"),
    );
    for service in SERVICES {
        let (status, body) = app.get(&format!("/api/v1/services/{service}")).await;
        let instances = if status == 404 {
            BTreeMap::new()
        } else {
            by(&body["instances"], "id")
        };
        view.insert(format!("service:{service}"), instances);
    }
    view
}

/// Applies messages until a `status` at `until` or later: a status comes
/// after every patch of the revisions it reports.
async fn follow(ws: &mut WsClient, mirror: &mut Mirror, until: i64) {
    while mirror.status < until {
        let message = ws.wait_for(LIMIT, |_| true).await;
        mirror.apply(&message);
    }
}

#[tokio::test]
async fn snapshot_plus_patches_equals_rest_after_random_changes() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": topics()})).await;
    let mut mirror = Mirror::default();

    let mut rng = StdRng::seed_from_u64(0x1ea5e);
    let mut leases: Vec<i64> = Vec::new();
    for _ in 0..3 {
        leases.push(client.lease_grant(120, None).await.expect("grant").id());
    }
    let mut last = 0;
    for step in 0..300 {
        let roll = rng.random_range(0..100);
        let service = SERVICES[rng.random_range(0..SERVICES.len())];
        let id = rng.random_range(0..12);
        let key = format!("/microservices/{service}/{id}");
        let lease = leases[rng.random_range(0..leases.len())];
        let header = if roll < 45 {
            let value = format!(
                r#"{{"id":"{id}","name":"{service}","version":"v{step}","endpoints":["grpc://10.0.0.{id}:80"]}}"#
            );
            let options = (rng.random_range(0..2) == 0).then(|| PutOptions::new().with_lease(lease));
            client
                .put(key, value, options)
                .await
                .expect("put")
                .header()
                .map(|h| h.revision())
        } else if roll < 70 {
            client
                .delete(key, None)
                .await
                .expect("delete")
                .header()
                .map(|h| h.revision())
        } else if roll < 85 {
            // A lock contender or an election candidate on one of the leases.
            let name = format!("queue-{}", rng.random_range(0..2));
            let value = if rng.random_range(0..2) == 0 {
                String::new()
            } else {
                format!("node-{step}")
            };
            let options = Some(PutOptions::new().with_lease(lease));
            client
                .put(format!("{name}/{lease:x}"), value, options)
                .await
                .expect("put")
                .header()
                .map(|h| h.revision())
        } else if roll < 92 {
            let gone = leases.remove(rng.random_range(0..leases.len()));
            let revoked = client
                .lease_revoke(gone)
                .await
                .expect("revoke")
                .header()
                .map(|h| h.revision());
            leases.push(client.lease_grant(120, None).await.expect("grant").id());
            revoked
        } else {
            // A burst in one transaction: one revision, several entities.
            let ops: Vec<etcd_client::TxnOp> = (0..5)
                .map(|n| {
                    let value = format!(r#"{{"id":"t{n}","name":"{service}","endpoints":["grpc://10.1.0.{n}:80"]}}"#);
                    etcd_client::TxnOp::put(format!("/microservices/{service}/t{n}"), value, None)
                })
                .collect();
            client
                .txn(etcd_client::Txn::new().and_then(ops))
                .await
                .expect("txn")
                .header()
                .map(|h| h.revision())
        };
        last = last.max(header.unwrap_or(0));
        // Read along now and then, so patches arrive both one by one and coalesced.
        if step % 50 == 49 {
            follow(&mut ws, &mut mirror, last).await;
        }
    }

    app.wait_for_revision(last, LIMIT).await;
    follow(&mut ws, &mut mirror, last).await;
    let rest = rest_view(&app).await;
    for topic in topics() {
        let live = mirror.topics.get(&topic).cloned().unwrap_or_default();
        let expected = rest.get(&topic).cloned().unwrap_or_default();
        assert_eq!(live, expected, "topic {topic} differs at revision {last}");
    }
    assert!(!rest["services"].is_empty(), "the run left something to compare");
    app.shutdown().await;
}
