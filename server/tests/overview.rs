//! The history the server keeps, against a real etcd: a churn of
//! registrations, deregistrations and expiries counted in the series of
//! `GET /api/v1/metrics-history` and the `metrics` topic exactly as they
//! happened; an eviction storm raised by a burst of expiries and cleared
//! after it; `/metrics` read by Prometheus' own text parser.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{config, etcd_client, poll_json, put_all, spawn_app_with, start_etcd, TestApp};
use etcd_client::{PutOptions, Txn, TxnOp};
use serde_json::{json, Value};

/// Buckets close every 10 s; a few of them, and etcd's lease expiry.
const LIMIT: Duration = Duration::from_secs(60);

fn instance(name: &str, i: usize) -> String {
    format!(
        r#"{{"id":"{name}-{i}","name":"{name}","endpoints":["grpc://10.0.0.{}:9000"]}}"#,
        i % 250
    )
}

fn key(name: &str, i: usize) -> String {
    format!("/microservices/{name}/{name}-{i}")
}

/// The points of the series `name` (with `labels`) in `body`.
fn points<'a>(body: &'a Value, name: &str, labels: &Value) -> Vec<&'a Value> {
    body["series"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["name"] == name && s.get("labels").unwrap_or(&json!({})) == labels)
        .flat_map(|s| s["points"].as_array().into_iter().flatten())
        .collect()
}

fn sum(body: &Value, name: &str, labels: &Value) -> f64 {
    points(body, name, labels)
        .iter()
        .map(|p| p[1].as_f64().unwrap_or(0.0))
        .sum()
}

fn last(body: &Value, name: &str, labels: &Value) -> Option<f64> {
    points(body, name, labels).last().and_then(|p| p[1].as_f64())
}

/// `count` instances of `name` from `from` on, `per_lease` to a lease of
/// `ttl` seconds (none: no lease), a transaction per lease.
async fn register(
    client: &mut etcd_client::Client,
    name: &str,
    from: usize,
    count: usize,
    ttl: Option<i64>,
    per_lease: usize,
) {
    let mut i = from;
    while i < from + count {
        let n = per_lease.min(from + count - i);
        let options = match ttl {
            Some(ttl) => {
                let lease = client.lease_grant(ttl, None).await.expect("lease grant").id();
                Some(PutOptions::new().with_lease(lease))
            }
            None => None,
        };
        let ops: Vec<TxnOp> = (i..i + n)
            .map(|j| TxnOp::put(key(name, j), instance(name, j), options.clone()))
            .collect();
        client.txn(Txn::new().and_then(ops)).await.expect("txn");
        i += n;
    }
}

async fn spawn(etcd: &common::EtcdProcess, edit: impl FnOnce(&mut server::config::Config)) -> TestApp {
    let mut config = config(etcd.endpoint());
    edit(&mut config);
    let app = spawn_app_with(config).await;
    app.wait_for_health(200, LIMIT).await;
    app
}

#[tokio::test]
async fn the_series_count_the_churn_that_happened() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    // Registered before the server started: its count, never a registration.
    put_all(&mut client, (0..4).map(|i| (key("old", i), instance("old", i)))).await;
    let app = spawn(&etcd, |_| {}).await;
    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": ["metrics", "metrics:cart"]}))
        .await;
    let snapshot = ws
        .wait_for(LIMIT, |m| m["type"] == "snapshot" && m["topic"] == "metrics")
        .await;

    // 12 of pay without a lease, 3 of them deregistered; 5 of cart on one
    // 2-second lease that expires.
    register(&mut client, "pay", 0, 12, None, 12).await;
    register(&mut client, "cart", 0, 5, Some(2), 5).await;
    for i in 0..3 {
        client.delete(key("pay", i), None).await.expect("delete");
    }
    let none = json!({});
    let done = |b: &Value| {
        sum(b, "registrations", &none) == 17.0
            && sum(b, "deregistrations", &none) == 3.0
            && sum(b, "expiries", &none) == 5.0
            && last(b, "instances", &none) == Some(13.0)
    };
    let body = poll_json(&app, "/api/v1/metrics-history", LIMIT, done).await;
    assert_eq!(
        last(&body, "services", &none),
        Some(2.0),
        "old and pay: cart has no instance left"
    );
    let events = poll_json(&app, "/api/v1/events?limit=1000", LIMIT, |_| true).await;
    let of_kind = |kind: &str| {
        events["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["kind"] == kind)
            .count()
    };
    assert_eq!(
        (of_kind("instance_registered"), of_kind("instance_deregistered")),
        (17, 3),
        "{events}"
    );
    assert_eq!(of_kind("lease_expired"), 1, "one lease, five instances: {events}");

    // cart's own series: five registered, five expired, none left.
    let cart = json!({"service": "cart"});
    let body = poll_json(&app, "/api/v1/metrics-history?service=cart", LIMIT, |b| {
        last(b, "instances", &cart) == Some(0.0)
    })
    .await;
    assert_eq!(
        (sum(&body, "registrations", &cart), sum(&body, "expiries", &cart)),
        (5.0, 5.0),
        "{body}"
    );
    // A quiet service has had its count all along; the minute buckets agree.
    let old = json!({"service": "old"});
    let body = poll_json(&app, "/api/v1/metrics-history?service=old", LIMIT, |_| true).await;
    assert!(points(&body, "instances", &old).iter().all(|p| p[1] == 4.0), "{body}");
    assert!(!points(&body, "instances", &old).is_empty(), "{body}");
    assert_eq!(sum(&body, "registrations", &old), 0.0);
    let minutes = poll_json(&app, "/api/v1/metrics-history?step=60", LIMIT, |_| true).await;
    assert!(sum(&minutes, "registrations", &none) <= 17.0, "{minutes}");
    let (status, _) = app.get("/api/v1/metrics-history?step=30").await;
    assert_eq!(status, 400);

    // The topic: its snapshot, then the appended points, add up to the same.
    let mut seen: BTreeMap<String, f64> = BTreeMap::new();
    for name in ["registrations", "deregistrations", "expiries"] {
        seen.insert(name.to_owned(), sum(&snapshot["data"], name, &none));
    }
    let mut cart_expiries = 0.0;
    while seen.get("expiries") != Some(&5.0) || seen.get("registrations") != Some(&17.0) {
        let patch = ws.wait_for(LIMIT, |m| m["type"] == "patch").await;
        for op in patch["ops"].as_array().into_iter().flatten() {
            if op["op"] != "append" {
                continue;
            }
            let series = &op["value"];
            let total: f64 = series["points"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| p[1].as_f64().unwrap_or(0.0))
                .sum();
            let name = series["name"].as_str().unwrap_or_default();
            if patch["topic"] == "metrics" {
                if let Some(count) = seen.get_mut(name) {
                    *count += total;
                }
            } else if patch["topic"] == "metrics:cart" && name == "expiries" {
                cart_expiries += total;
            }
        }
    }
    assert_eq!(seen["deregistrations"], 3.0, "{seen:?}");
    assert!(cart_expiries <= 5.0);
    app.shutdown().await;
}

#[tokio::test]
async fn a_burst_of_expiries_raises_the_storm_and_it_clears() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn(&etcd, |c| {
        c.history.storm = server::registry::StormRule {
            window_seconds: 5,
            ratio: 0.1,
            min: 20,
        };
    })
    .await;
    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": ["storm"]})).await;
    let snapshot = ws
        .wait_for(LIMIT, |m| m["type"] == "snapshot" && m["topic"] == "storm")
        .await;
    assert_eq!(snapshot["data"].get("storm"), None, "{snapshot}");

    // 800 that stay, and 200 on twenty 2-second leases: 150 of pay, 50 of cart.
    register(&mut client, "steady", 0, 800, None, 100).await;
    // Ordinary churn first: one lease of 10 expiring is no storm.
    register(&mut client, "cart", 100, 10, Some(2), 10).await;
    poll_json(&app, "/api/v1/events?kind=lease_expired", LIMIT, |b| {
        b["events"].as_array().is_some_and(|e| !e.is_empty())
    })
    .await;
    let health = app.get("/api/v1/health").await.1;
    assert_eq!(health.get("storm"), None, "ten expiries among 810 are churn: {health}");
    tokio::time::sleep(Duration::from_secs(6)).await;

    register(&mut client, "pay", 0, 150, Some(2), 10).await;
    register(&mut client, "cart", 0, 50, Some(2), 10).await;
    // The storm is raised once a tenth has gone; the rest of the leases expire
    // a moment later (etcd revokes expired leases in rounds), so wait for all.
    let health = poll_json(&app, "/api/v1/health", LIMIT, |b| b["storm"]["expired"] == json!(200)).await;
    let storm = &health["storm"];
    assert_eq!(
        storm["services"],
        json!([{"service": "pay", "expired": 150}, {"service": "cart", "expired": 50}]),
        "{health}"
    );
    assert_eq!(
        (&storm["expired"], &storm["window_seconds"]),
        (&json!(200), &json!(5)),
        "{health}"
    );
    let upsert = ws
        .wait_for(LIMIT, |m| {
            m["type"] == "patch" && m["topic"] == "storm" && m["ops"][0]["op"] == "upsert"
        })
        .await;
    assert_eq!(upsert["ops"][0]["value"]["since"], storm["since"], "{upsert}");
    assert_eq!(app.metric("leasehold_eviction_storm").await, 1.0);

    // The window passes: it clears itself, and the timeline has both ends.
    poll_json(&app, "/api/v1/health", LIMIT, |b| b.get("storm").is_none()).await;
    ws.wait_for(LIMIT, |m| {
        m["type"] == "patch" && m["topic"] == "storm" && m["ops"][0] == json!({"op": "remove", "id": "storm"})
    })
    .await;
    let events = poll_json(&app, "/api/v1/events?kind=eviction_storm", LIMIT, |b| {
        b["events"].as_array().is_some_and(|e| e.len() == 2)
    })
    .await;
    let phases: Vec<&Value> = events["events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["detail"]["phase"])
        .collect();
    assert_eq!(phases, [&json!("started"), &json!("ended")], "{events}");
    assert_eq!(events["events"][1]["detail"]["expired"], json!(200), "{events}");
    assert_eq!(app.metric("leasehold_eviction_storm").await, 0.0);
    assert_eq!(app.metric("leasehold_instances_expired_total").await, 210.0);
    app.shutdown().await;
}

#[tokio::test]
async fn metrics_read_with_prometheus_parser_and_per_service_gauges_are_bounded() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn(&etcd, |c| c.metrics_services = 2).await;
    register(&mut client, "a", 0, 5, None, 5).await;
    register(&mut client, "b", 0, 3, None, 5).await;
    register(&mut client, "c", 0, 2, None, 5).await;
    register(&mut client, "d", 0, 1, Some(60), 5).await;
    // A lock held and handed over, for the histograms (Go's concurrency
    // package: the lease in the key, in hex).
    let lease = client.lease_grant(60, None).await.expect("lease").id();
    let lease2 = client.lease_grant(60, None).await.expect("lease").id();
    let (first, second) = (format!("/locks/job/{lease:x}"), format!("/locks/job/{lease2:x}"));
    client
        .put(first.as_str(), "", Some(PutOptions::new().with_lease(lease)))
        .await
        .expect("put");
    client
        .put(second.as_str(), "", Some(PutOptions::new().with_lease(lease2)))
        .await
        .expect("put");
    poll_json(&app, "/api/v1/locks", LIMIT, |b| {
        b["locks"][0]["waiters"].as_array().is_some_and(|w| w.len() == 1)
    })
    .await;
    client.delete(first.as_str(), None).await.expect("delete");
    poll_json(&app, "/api/v1/services", LIMIT, |b| {
        b["services"].as_array().is_some_and(|s| s.len() == 4)
    })
    .await;
    poll_json(&app, "/api/v1/locks", LIMIT, |b| {
        b["locks"][0]["holder"]["key"] == second.as_str()
    })
    .await;

    let text = app.metrics_text().await;
    let parsed = parse_with_prometheus(&text);
    let samples = |family: &str| parsed[family]["samples"].as_array().cloned().unwrap_or_default();
    let instances: Vec<(String, f64)> = samples("leasehold_service_instances")
        .iter()
        .map(|s| {
            (
                s["labels"]["service"].as_str().unwrap_or_default().to_owned(),
                s["value"].as_f64().unwrap_or(-1.0),
            )
        })
        .collect();
    assert_eq!(
        instances,
        [("a".to_owned(), 5.0), ("b".to_owned(), 3.0), ("other".to_owned(), 3.0)],
        "the two largest, the rest together"
    );
    assert_eq!(parsed["leasehold_service_instances"]["type"], "gauge");
    assert_eq!(parsed["leasehold_instances_registered"]["type"], "counter");
    assert_eq!(
        samples("leasehold_instances_registered")[0]["value"].as_f64(),
        Some(11.0)
    );
    assert_eq!(parsed["leasehold_eviction_storm"]["type"], "gauge");
    assert_eq!(parsed["leasehold_lock_wait_seconds"]["type"], "histogram");
    let count = |family: &str| {
        samples(family)
            .iter()
            .find(|s| s["name"] == format!("{family}_count"))
            .and_then(|s| s["value"].as_f64())
    };
    assert_eq!(
        count("leasehold_lock_wait_seconds"),
        Some(2.0),
        "two takings: at once, and after a wait"
    );
    assert_eq!(count("leasehold_lock_hold_seconds"), Some(1.0), "one release");
    assert!(
        samples("leasehold_etcd_db_size_bytes")
            .iter()
            .any(|s| s["value"].as_f64().is_some_and(|v| v > 0.0)),
        "{text}"
    );
    assert!(
        parsed.get("leasehold_etcd_alarm").is_some(),
        "the family is there with no alarm on"
    );
    app.shutdown().await;
}

/// The families of `text` as Python's `prometheus_client` parser reads
/// them: `{family: {"type", "samples": [{"name", "labels", "value"}]}}`.
fn parse_with_prometheus(text: &str) -> Value {
    use std::io::Write as _;
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../peers/.venv/bin/python");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../peers/check_metrics.py");
    let mut child = std::process::Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("peers/.venv (make setup-peers)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("parser");
    assert!(
        output.status.success(),
        "prometheus_client refused the text: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[tokio::test]
async fn a_locks_holds_and_waits_are_kept_over_time() {
    let etcd = start_etcd().await;
    let app = spawn(&etcd, |_| ()).await;
    // The real `etcdctl lock`: one holds, one waits, the holder lets go.
    let mut first = common::Etcdctl::spawn(&etcd, &["lock", "jobs"]);
    first.line(LIMIT).await;
    let mut second = common::Etcdctl::spawn(&etcd, &["lock", "jobs"]);
    poll_json(&app, "/api/v1/events?kind=lock_waiting", LIMIT, |b| {
        b["events"].as_array().is_some_and(|e| !e.is_empty())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    first.interrupt().await;
    second.line(LIMIT).await;
    let series_of = |body: &Value, name: &str| -> Vec<f64> {
        points(body, name, &json!({"lock": "jobs"}))
            .iter()
            .filter_map(|p| p[1].as_f64())
            .collect()
    };
    // Once the bucket closes: the wait the second had, the hold the first had.
    let body = poll_json(&app, "/api/v1/metrics-history?lock=jobs", LIMIT, |b| {
        !points(b, "lock_wait_seconds", &json!({"lock": "jobs"})).is_empty()
    })
    .await;
    let waits = series_of(&body, "lock_wait_seconds");
    assert!(waits.iter().any(|w| *w >= 1.0), "waited 1.5 s or more: {body}");
    assert!(
        series_of(&body, "lock_hold_seconds").iter().any(|h| *h >= 1.0),
        "{body}"
    );
    assert_eq!(body.get("untracked"), None, "{body}");
    // A lock the history never saw change hands is untracked; both at once is refused.
    let (_, other) = app.get("/api/v1/metrics-history?lock=nothing").await;
    assert_eq!(
        (&other["untracked"], &other["series"]),
        (&json!(true), &json!([])),
        "{other}"
    );
    let (status, _) = app.get("/api/v1/metrics-history?lock=jobs&service=a").await;
    assert_eq!(status, 400);
    second.interrupt().await;
    app.shutdown().await;
}
