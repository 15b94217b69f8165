//! The registry as of a past revision (`?rev=`, `?at=`) against a real etcd:
//! a service's instances at a revision before and after registrations,
//! deregistrations and an expiry are what `etcdctl get --prefix --rev`
//! returns then; locks and elections at a revision; a compacted revision is
//! 410 with the horizon named.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::time::Duration;

use common::{etcd_client, etcd_revision, poll_json, spawn_app, start_etcd, EtcdProcess};
use etcd_client::{CompactionOptions, PutOptions};
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(30);

fn instance(name: &str, id: &str, address: &str) -> String {
    format!(r#"{{"id":"{id}","name":"{name}","endpoints":["grpc://{address}"]}}"#)
}

/// `etcdctl get --prefix --rev=R --keys-only`: the keys etcd held under `prefix` then.
fn etcdctl_keys(etcd: &EtcdProcess, prefix: &str, revision: i64) -> Vec<String> {
    let output = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            "--endpoints",
            &etcd.endpoint(),
            "get",
            "--prefix",
            &format!("--rev={revision}"),
            "--keys-only",
            prefix,
        ])
        .output()
        .expect("etcdctl");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn keys(body: &Value) -> Vec<String> {
    let mut keys: Vec<String> = body["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["key"].as_str().map(str::to_owned))
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn a_service_at_a_past_revision_is_what_etcd_held_then() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let lease = client.lease_grant(2, None).await.expect("lease").id();
    for (id, address) in [("p1", "10.0.0.1:80"), ("p2", "10.0.0.2:80")] {
        client
            .put(format!("/microservices/pay/{id}"), instance("pay", id, address), None)
            .await
            .expect("put");
    }
    client
        .put(
            "/microservices/pay/p3",
            instance("pay", "p3", "10.0.0.3:80"),
            Some(PutOptions::new().with_lease(lease)),
        )
        .await
        .expect("put");
    let lock_lease = client.lease_grant(60, None).await.expect("lease").id();
    let lock_key = format!("/locks/job/{lock_lease:x}");
    client
        .put(lock_key.as_str(), "", Some(PutOptions::new().with_lease(lock_lease)))
        .await
        .expect("put");
    let before = etcd_revision(&mut client).await;
    // Then: p1 deregistered, p4 registered, p3 expires with its lease, the lock released.
    client.delete("/microservices/pay/p1", None).await.expect("delete");
    client
        .put("/microservices/pay/p4", instance("pay", "p4", "10.0.0.4:80"), None)
        .await
        .expect("put");
    client.delete(lock_key.as_str(), None).await.expect("delete");
    poll_json(&app, "/api/v1/services/pay", LIMIT, |b| keys(b).len() == 2).await;
    let after = etcd_revision(&mut client).await;

    for revision in [before, after] {
        let (status, body) = app.get(&format!("/api/v1/services/pay?rev={revision}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (&body["revision"], &body["as_of"]),
            (&json!(revision), &json!(true)),
            "{body}"
        );
        assert_eq!(
            keys(&body),
            etcdctl_keys(&etcd, "/microservices/pay/", revision),
            "at {revision}"
        );
        assert!(
            body["instances"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|i| i["ttl"].is_null()),
            "{body}"
        );
    }
    let (_, now) = app.get("/api/v1/services/pay").await;
    assert_eq!(now.get("as_of"), None, "now is not a past: {now}");
    let (_, services) = app.get(&format!("/api/v1/services?rev={before}")).await;
    assert_eq!(services["services"][0]["instances"], json!(3), "{services}");
    let (_, locks) = app.get(&format!("/api/v1/locks?rev={before}")).await;
    assert_eq!(locks["locks"][0]["holder"]["key"], json!(lock_key), "{locks}");
    let (_, locks) = app.get(&format!("/api/v1/locks?rev={after}")).await;
    assert_eq!(locks["locks"], json!([]), "{locks}");
    let (_, leases) = app.get(&format!("/api/v1/leases?rev={before}")).await;
    let leased: Vec<&Value> = leases["leases"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| &l["id"])
        .collect();
    assert!(leased.contains(&&json!(format!("{lease:x}"))), "{leases}");
    let (status, body) = app.get(&format!("/api/v1/services/nobody?rev={before}")).await;
    assert_eq!(status, 404, "{body}");

    // A time maps to the revision Leasehold saw current then.
    let at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time");
    let (status, body) = app
        .get(&format!("/api/v1/services/pay?at={}", at.replace('+', "%2B")))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["revision"].as_i64().is_some_and(|r| r >= after), "{body}");
    let (status, _) = app.get("/api/v1/services/pay?at=2001-01-01T00:00:00Z").await;
    assert_eq!(status, 400, "before Leasehold watched");
    let (status, _) = app.get(&format!("/api/v1/services?rev={before}&at={at}")).await;
    assert_eq!(status, 400);
    let (status, body) = app.get(&format!("/api/v1/services?rev={}", after + 1000)).await;
    assert_eq!(status, 400, "a future revision: {body}");

    // Compacted: gone, and the horizon said.
    client
        .compact(after, Some(CompactionOptions::new().with_physical()))
        .await
        .expect("compact");
    let (status, body) = app.get(&format!("/api/v1/services/pay?rev={before}")).await;
    assert_eq!((status, &body["error"]["code"]), (410, &json!("compacted")), "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("etcd keeps revisions from {after} on")),
        "{body}"
    );
    let (status, _) = app.get(&format!("/api/v1/services/pay?rev={after}")).await;
    assert_eq!(status, 200, "the horizon itself is still there");
    app.shutdown().await;
}
