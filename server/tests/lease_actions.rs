//! The two destructive lease actions against a real etcd and real
//! `etcdctl lock` peers: each acts only on what the operator confirmed.
//! Breaking a lock whose holder changed is refused with the holder now;
//! revoking a lease whose keys changed since the preview is refused with the
//! preview now; a lease holding a key outside `--prefix` is not revoked.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::time::Duration;

use common::{audit_lines, config, etcd_client, poll_json, spawn_app, spawn_app_with, start_etcd, Etcdctl, TestApp};
use etcd_client::PutOptions;
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(30);

async fn post(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    TestApp::answer(reqwest::Client::new().post(app.url(path)).json(body)).await
}

async fn delete_with(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    TestApp::answer(reqwest::Client::new().delete(app.url(path)).json(body)).await
}

/// The lock `name` once `ready` holds for it.
async fn lock_when(app: &TestApp, name: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let body = poll_json(app, "/api/v1/locks", LIMIT, |b| {
        b["locks"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["name"] == name))
            .is_some_and(&ready)
    })
    .await;
    body["locks"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["name"] == name))
        .cloned()
        .expect("the lock")
}

/// Seconds etcd gives `lease` (hex) still; -1 once it is gone.
async fn ttl_of(client: &mut etcd_client::Client, lease: &str) -> i64 {
    let id = i64::from_str_radix(lease, 16).expect("hex lease id");
    client.lease_time_to_live(id, None).await.expect("time to live").ttl()
}

#[tokio::test]
async fn breaking_a_lock_acts_only_on_the_holder_it_was_confirmed_against() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = dir.path().join("audit.jsonl");
    let app = spawn_app_with(common::Config {
        audit_log: Some(audit.clone()),
        ..config(etcd.endpoint())
    })
    .await;
    app.wait_for_health(200, LIMIT).await;

    let mut first = Etcdctl::spawn(&etcd, &["lock", "jobs"]);
    let first_key = first.line(LIMIT).await;
    let _second = Etcdctl::spawn(&etcd, &["lock", "jobs"]);
    let lock = lock_when(&app, "jobs", |l| l["waiters"].as_array().is_some_and(|w| w.len() == 1)).await;
    let seen = lock["holder"].clone();
    assert_eq!(seen["key"], first_key.as_str());
    assert!(
        lock["holder_since"].is_string(),
        "taken after the server started: {lock}"
    );
    let waiter = lock["waiters"][0].clone();

    // The operator looks at the first holder; meanwhile its lease is revoked
    // by someone else and the waiter takes the lock, a second (the times'
    // precision) after it queued.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let first_lease = seen["lease"].as_str().expect("lease").to_owned();
    client
        .lease_revoke(i64::from_str_radix(&first_lease, 16).expect("hex"))
        .await
        .expect("revoke");
    let lock = lock_when(&app, "jobs", |l| l["holder"]["key"] == waiter["key"]).await;
    // Holding counts from the hand-over, not from when the key queued.
    assert!(
        lock["holder_since"].as_str() > waiter["since"].as_str(),
        "held since the hand-over, after it queued: {lock}"
    );

    let path = "/api/v1/locks/jobs/break";
    let stale = json!({"expect_holder": {"key": seen["key"], "lease": seen["lease"]}});
    let (status, body) = post(&app, path, &stale).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "holder_changed");
    assert_eq!(body["current"]["key"], waiter["key"], "{body}");
    let waiter_lease = waiter["lease"].as_str().expect("lease").to_owned();
    assert!(
        ttl_of(&mut client, &waiter_lease).await > 0,
        "the real holder keeps its lease"
    );

    // Confirmed against the holder as it is: its key goes (the lock is
    // released at that revision), then its lease.
    let (_, preview) = app.get(&format!("/api/v1/leases/{waiter_lease}")).await;
    assert_eq!(preview["keys"], json!([waiter["key"]]), "{preview}");
    let current = json!({
        "expect_holder": {"key": waiter["key"], "lease": waiter["lease"]},
        "expect_keys": preview["keys"],
    });
    let (status, broken) = post(&app, path, &current).await;
    assert_eq!(status, 200, "{broken}");
    assert_eq!(broken["lock"], "jobs");
    assert_eq!(broken["revoked"], waiter_lease.as_str());
    assert_eq!(broken["deleted_keys"], 1);
    // The lease held nothing else: revoking it moves no revision.
    assert!(broken["released_at"].as_i64() > Some(0), "{broken}");
    assert!(
        broken["released_at"].as_i64() <= broken["revision"].as_i64(),
        "{broken}"
    );
    assert_eq!(ttl_of(&mut client, &waiter_lease).await, -1);
    poll_json(&app, "/api/v1/locks", LIMIT, |b| b["locks"] == json!([])).await;

    // Nobody holds it now: nothing to break.
    let (status, body) = post(&app, path, &current).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["current"], Value::Null);
    let (status, body) = post(&app, path, &json!({"expect_holder": "jobs"})).await;
    assert_eq!(status, 400, "{body}");

    let results: Vec<(String, String)> = audit_lines(&audit)
        .iter()
        .filter(|l| l["action"] == "break_lock")
        .map(|l| {
            (
                l["result"].as_str().unwrap_or("").to_owned(),
                l["lease"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expected = [
        ("refused", first_lease.as_str()),
        ("ok", waiter_lease.as_str()),
        ("refused", waiter_lease.as_str()),
        ("refused", ""),
    ];
    assert_eq!(
        results,
        expected.map(|(r, l)| (r.to_owned(), l.to_owned())),
        "every attempt is audited"
    );
    first.interrupt().await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_revoke_confirmed_against_keys_that_changed_is_refused_with_the_preview_now() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;

    let lease = client.lease_grant(60, None).await.expect("grant").id();
    let hex = format!("{lease:x}");
    let on_lease = || Some(PutOptions::new().with_lease(lease));
    client.put("/plain/a", "1", on_lease()).await.expect("put");
    client.put("/plain/b", "2", on_lease()).await.expect("put");
    let shown = poll_json(&app, &format!("/api/v1/leases/{hex}"), LIMIT, |b| {
        b["keys"].as_array().is_some_and(|k| k.len() == 2)
    })
    .await;
    assert_eq!(shown["keys"], json!(["/plain/a", "/plain/b"]));

    // A key joins the lease after the preview.
    let put = client.put("/plain/c", "3", on_lease()).await.expect("put");
    let revision = put.header().expect("header").revision();
    let path = format!("/api/v1/leases/{hex}");
    let (status, body) = delete_with(&app, &path, &json!({"expect_keys": shown["keys"]})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "changed");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("/plain/c")),
        "{body}"
    );
    assert_eq!(
        body["current"]["keys"],
        json!(["/plain/a", "/plain/b", "/plain/c"]),
        "{body}"
    );
    assert!(body["current"]["revision"].as_i64() >= Some(revision), "{body}");
    let (status, body) = app.delete(&format!("{path}?expect_keys=2")).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = app.delete(&format!("{path}?expect_keys=two")).await;
    assert_eq!(status, 400, "{body}");
    assert!(ttl_of(&mut client, &hex).await > 0, "nothing was revoked");

    // Confirmed against the preview now: revoked, every key gone.
    let (status, done) = delete_with(&app, &path, &json!({"expect_keys": body_keys(&app, &path).await})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["deleted_keys"], 3);
    assert_eq!(ttl_of(&mut client, &hex).await, -1);
    app.shutdown().await;
}

async fn body_keys(app: &TestApp, path: &str) -> Value {
    let (_, preview) = app.get(path).await;
    preview["keys"].clone()
}

#[tokio::test]
async fn a_lease_holding_a_key_outside_the_prefix_is_not_revoked() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app_with(common::Config {
        prefixes: vec!["/svc/".to_owned()],
        ..config(etcd.endpoint())
    })
    .await;
    app.wait_for_health(200, LIMIT).await;
    let lease = client.lease_grant(60, None).await.expect("grant").id();
    let hex = format!("{lease:x}");
    let on_lease = || Some(PutOptions::new().with_lease(lease));
    client.put("/svc/a", "1", on_lease()).await.expect("put");
    client.put("/elsewhere/b", "2", on_lease()).await.expect("put");
    // The preview shows what Leasehold watches.
    let shown = poll_json(&app, &format!("/api/v1/leases/{hex}"), LIMIT, |b| {
        b["keys"] == json!(["/svc/a"])
    })
    .await;
    let (status, body) = delete_with(
        &app,
        &format!("/api/v1/leases/{hex}"),
        &json!({"expect_keys": shown["keys"]}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "out_of_scope");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("/elsewhere/b")),
        "{body}"
    );
    let (status, _) = app.delete(&format!("/api/v1/leases/{hex}")).await;
    assert_eq!(status, 403);
    assert!(ttl_of(&mut client, &hex).await > 0, "nothing was revoked");
    app.shutdown().await;
}

#[tokio::test]
async fn under_read_only_no_lock_is_broken() {
    let etcd = start_etcd().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = dir.path().join("audit.jsonl");
    let app = spawn_app_with(common::Config {
        read_only: true,
        audit_log: Some(audit.clone()),
        ..config(etcd.endpoint())
    })
    .await;
    app.wait_for_health(200, LIMIT).await;
    let mut holder = Etcdctl::spawn(&etcd, &["lock", "nightly"]);
    let key = holder.line(LIMIT).await;
    let lock = lock_when(&app, "nightly", |l| l["holder"]["key"] == key.as_str()).await;
    let body = json!({"expect_holder": {"key": key, "lease": lock["holder"]["lease"]}});
    let (status, answer) = post(&app, "/api/v1/locks/nightly/break", &body).await;
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("--read-only")),
        "{answer}"
    );
    let lines = audit_lines(&audit);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["action"], "break_lock");
    assert_eq!(lines[0]["key"], "nightly");
    assert_eq!(lines[0]["result"], "refused");
    lock_when(&app, "nightly", |l| l["holder"]["key"] == key.as_str()).await;
    holder.interrupt().await;
    app.shutdown().await;
}
