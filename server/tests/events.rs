//! The timeline against a real etcd: registrations, updates, deregistrations,
//! expiry, revocation and lock hand-overs, over REST and WebSocket.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::time::Duration;

use common::{config, etcd_client, poll_json, put_all, spawn_app, spawn_app_with, start_etcd, Etcdctl, TestApp};
use etcd_client::PutOptions;
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(30);

fn kinds(body: &Value) -> Vec<(String, String)> {
    body["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| {
                    (
                        e["kind"].as_str().unwrap_or_default().to_owned(),
                        e["subject"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn events_since(app: &TestApp, since: i64, until: impl Fn(&[(String, String)]) -> bool) -> Value {
    poll_json(app, &format!("/api/v1/events?since={since}"), LIMIT, |b| {
        until(&kinds(b))
    })
    .await
}

fn instance(name: &str, address: &str) -> String {
    format!(r#"{{"id":"x","name":"{name}","endpoints":["grpc://{address}"]}}"#)
}

#[tokio::test]
async fn instances_register_update_and_deregister_and_leases_end() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    let start = app.wait_for_health(200, LIMIT).await["revision"]
        .as_i64()
        .expect("revision");

    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": ["events"]})).await;
    ws.wait_for(LIMIT, |m| m["type"] == "snapshot" && m["topic"] == "events")
        .await;

    client
        .put("/microservices/api/1", instance("api", "10.0.0.1:80"), None)
        .await
        .expect("put");
    client
        .put("/microservices/api/1", instance("api", "10.0.0.1:81"), None)
        .await
        .expect("put");
    client.delete("/microservices/api/1", None).await.expect("delete");

    let body = events_since(&app, start, |k| k.len() >= 3).await;
    let key = "/microservices/api/1".to_owned();
    assert_eq!(
        kinds(&body),
        [
            ("instance_registered".to_owned(), key.clone()),
            ("instance_updated".to_owned(), key.clone()),
            ("instance_deregistered".to_owned(), key.clone()),
        ]
    );
    assert_eq!(body["events"][1]["detail"]["address"], "10.0.0.1:81");
    assert_eq!(body["events"][0]["detail"]["service"], "api");
    assert!(body["events"][0]["at"].is_string());
    let appended = ws
        .wait_for(LIMIT, |m| m["type"] == "patch" && m["topic"] == "events")
        .await;
    assert_eq!(appended["ops"][0]["op"], "append");
    assert_eq!(appended["ops"][0]["value"]["kind"], "instance_registered");
    let after_plain = body["events"][2]["revision"].as_i64().expect("revision");

    // Revoked through Leasehold: one lease_revoked event that names the keys.
    let revoked = client.lease_grant(60, None).await.expect("grant").id();
    client
        .put(
            "/microservices/api/2",
            instance("api", "10.0.0.2:80"),
            Some(PutOptions::new().with_lease(revoked)),
        )
        .await
        .expect("put");
    let hex = format!("{revoked:x}");
    let (status, _) = app.delete(&format!("/api/v1/leases/{hex}")).await;
    assert_eq!(status, 200);
    let body = events_since(&app, after_plain, |k| k.iter().any(|(kind, _)| kind == "lease_revoked")).await;
    let ended: Vec<&Value> = body["events"]
        .as_array()
        .map(|e| e.iter().filter(|e| e["kind"] == "lease_revoked").collect())
        .unwrap_or_default();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0]["subject"], hex.as_str());
    assert_eq!(ended[0]["detail"]["keys"], json!(["/microservices/api/2"]));
    assert_eq!(ended[0]["detail"]["services"], json!(["api"]));
    assert!(
        !kinds(&body).contains(&("instance_deregistered".to_owned(), "/microservices/api/2".to_owned())),
        "the lease's event tells it: {body}"
    );
    let after_revoke = ended[0]["revision"].as_i64().expect("revision");

    // Left to expire: lease_expired.
    let expiring = client.lease_grant(2, None).await.expect("grant").id();
    client
        .put(
            "/microservices/api/3",
            instance("api", "10.0.0.3:80"),
            Some(PutOptions::new().with_lease(expiring)),
        )
        .await
        .expect("put");
    let body = events_since(&app, after_revoke, |k| {
        k.iter().any(|(kind, _)| kind == "lease_expired")
    })
    .await;
    assert!(
        kinds(&body).contains(&("lease_expired".to_owned(), format!("{expiring:x}"))),
        "{body}"
    );

    // Deleting a leased key by hand is a deregistration, not an expiry.
    let alive = client.lease_grant(60, None).await.expect("grant").id();
    let put = client
        .put(
            "/microservices/api/4",
            instance("api", "10.0.0.4:80"),
            Some(PutOptions::new().with_lease(alive)),
        )
        .await
        .expect("put");
    client.delete("/microservices/api/4", None).await.expect("delete");
    let since = put.header().expect("header").revision() - 1;
    let body = events_since(&app, since, |k| k.len() >= 2).await;
    assert_eq!(
        kinds(&body)[1],
        ("instance_deregistered".to_owned(), "/microservices/api/4".to_owned())
    );
    app.shutdown().await;
}

#[tokio::test]
async fn lock_hand_overs_are_on_the_timeline() {
    let etcd = start_etcd().await;
    let app = spawn_app(&etcd).await;
    let start = app.wait_for_health(200, LIMIT).await["revision"]
        .as_i64()
        .expect("revision");

    let mut first = Etcdctl::spawn(&etcd, &["lock", "deploy"]);
    let first_key = first.line(LIMIT).await;
    let mut second = Etcdctl::spawn(&etcd, &["lock", "deploy"]);
    events_since(&app, start, |k| k.iter().any(|(kind, _)| kind == "lock_waiting")).await;
    first.interrupt().await;
    let second_key = second.line(LIMIT).await;
    let body = events_since(&app, start, |k| k.len() >= 4).await;
    let summary: Vec<(String, String)> = body["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| {
                    (
                        e["kind"].as_str().unwrap_or_default().to_owned(),
                        e["detail"]["key"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        summary,
        [
            ("lock_acquired".to_owned(), first_key.clone()),
            ("lock_waiting".to_owned(), second_key.clone()),
            ("lock_released".to_owned(), first_key),
            ("lock_acquired".to_owned(), second_key),
        ],
        "{body}"
    );
    assert!(body["events"]
        .as_array()
        .is_some_and(|e| e.iter().all(|e| e["subject"] == "deploy")));
    second.interrupt().await;
    app.shutdown().await;
}

#[tokio::test]
async fn event_queries_are_checked() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    for i in 0..5 {
        client
            .put(format!("/microservices/s/{i}"), instance("s", "10.0.0.1:1"), None)
            .await
            .expect("put");
    }
    let all = events_since(&app, 0, |k| k.len() == 5).await;
    let (status, newest) = app.get("/api/v1/events?limit=2").await;
    assert_eq!(status, 200);
    assert_eq!(newest["events"].as_array().map(Vec::len), Some(2));
    assert_eq!(newest["events"][1], all["events"][4], "the newest, oldest first");
    let third = all["events"][2]["revision"].as_i64().expect("revision");
    let (_, later) = app.get(&format!("/api/v1/events?since={third}")).await;
    assert_eq!(later["events"].as_array().map(Vec::len), Some(2));
    for bad in [
        "limit=10001",
        "limit=-1",
        "since=abc",
        "before=x",
        "kind=coffee",
        "hide=all",
        "from=yesterday",
    ] {
        let (status, body) = app.get(&format!("/api/v1/events?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "bad_request");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn many_leased_instances_deleted_in_one_revision_are_deregistrations() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    // More leases than are asked about one by one: one `LeaseLeases` tells
    // that all are alive, so no lease ended.
    let mut ops = Vec::new();
    for i in 0..20 {
        let lease = client.lease_grant(60, None).await.expect("grant").id();
        let key = format!("/microservices/bulk/{i}");
        client
            .put(
                key.as_str(),
                instance("bulk", "10.0.0.9:80"),
                Some(PutOptions::new().with_lease(lease)),
            )
            .await
            .expect("put");
        ops.push(etcd_client::TxnOp::delete(key, None));
    }
    let since = common::etcd_revision(&mut client).await;
    app.wait_for_revision(since, LIMIT).await;
    let asked_before = app.metric("leasehold_lease_end_requests_total").await;
    client.txn(etcd_client::Txn::new().and_then(ops)).await.expect("txn");
    let body = events_since(&app, since, |k| {
        k.iter().filter(|(kind, _)| kind == "instance_deregistered").count() == 20
    })
    .await;
    assert!(
        !kinds(&body).iter().any(|(kind, _)| kind.starts_with("lease_")),
        "live leases did not end: {body}"
    );
    // One request told it, not one per lease: the watch waits for the answer.
    let asked = app.metric("leasehold_lease_end_requests_total").await - asked_before;
    assert_eq!(asked, 1.0, "requests asking how the 20 leases ended");

    // And a revoke with more than one lease's keys gone at once is still told apart.
    let ended = client.lease_grant(60, None).await.expect("grant").id();
    for i in 0..3 {
        client
            .put(
                format!("/microservices/bulk/r{i}"),
                instance("bulk", "10.0.0.9:81"),
                Some(PutOptions::new().with_lease(ended)),
            )
            .await
            .expect("put");
    }
    let before = common::etcd_revision(&mut client).await;
    app.wait_for_revision(before, LIMIT).await;
    client.lease_revoke(ended).await.expect("revoke");
    let body = events_since(&app, before, |k| k.iter().any(|(kind, _)| kind == "lease_expired")).await;
    assert!(
        kinds(&body).contains(&("lease_expired".to_owned(), format!("{ended:x}"))),
        "{body}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn an_operators_action_is_found_after_a_flood_and_pages_reach_back_through_the_history() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app_with(common::Config {
        event_history: 500,
        ..config(etcd.endpoint())
    })
    .await;
    app.wait_for_health(200, LIMIT).await;

    // An operator's action first: a refused revoke of a lease nobody has.
    let (status, _) = app.delete("/api/v1/leases/abc123").await;
    assert_eq!(status, 404);
    // Then a flood of registrations, twice what the history keeps.
    let revision = put_all(
        &mut client,
        (0..1_000).map(|i| (format!("/microservices/flood/{i:04}"), instance("flood", "10.0.0.1:1"))),
    )
    .await;
    app.wait_for_revision(revision, LIMIT).await;
    poll_json(&app, "/api/v1/events?kind=instance_registered&limit=1", LIMIT, |b| {
        b["matched"] == 500
    })
    .await;

    let (status, audit) = app.get("/api/v1/events?kind=audit").await;
    assert_eq!(status, 200, "{audit}");
    assert_eq!(audit["matched"], 1, "{audit}");
    assert_eq!(audit["events"][0]["detail"]["lease"], "abc123");
    let (_, by_text) = app.get("/api/v1/events?q=ABC123").await;
    assert_eq!(kinds(&by_text), [("audit".to_owned(), "abc123".to_owned())]);
    // The oldest kept event is the action: the history covers since then.
    let (_, all) = app.get("/api/v1/events?limit=10").await;
    assert_eq!(all["oldest"], audit["events"][0]["at"]);
    assert_eq!(all["matched"], 501);

    // Paging back: every kept registration once, newest page first.
    let mut seen = std::collections::BTreeSet::new();
    let mut before: Option<i64> = None;
    for _ in 0..20 {
        let path = match before {
            Some(b) => format!("/api/v1/events?kind=instance_registered&limit=120&before={b}"),
            None => "/api/v1/events?kind=instance_registered&limit=120".to_owned(),
        };
        let (_, page) = app.get(&path).await;
        for event in page["events"].as_array().expect("events") {
            assert!(
                seen.insert(event["subject"].as_str().unwrap_or_default().to_owned()),
                "{event}"
            );
        }
        before = page["next_before"].as_i64();
        if before.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 500);
    assert!(seen.contains("/microservices/flood/0999") && seen.contains("/microservices/flood/0500"));

    // A time range: nothing before the action, everything until now.
    let at = audit["events"][0]["at"].as_str().expect("at");
    let (_, none) = app.get("/api/v1/events?until=2000-01-01T00:00:00Z").await;
    assert_eq!(none["matched"], 0);
    let (_, since_action) = app.get(&format!("/api/v1/events?limit=1&from={at}")).await;
    assert_eq!(since_action["matched"], 501);
    app.shutdown().await;
}
