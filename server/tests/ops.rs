//! The operations console against real etcd: the members' quota, size and
//! alarms as `GET /api/v1/ops`, `/api/v1/health` and the `ops` topic show
//! them, and the maintenance routes (disarm, compact, rolling
//! defragmentation): their previews, their refusals, and their effect as
//! etcd reports it.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use sha2::Digest;

const QUOTA: i64 = 16 << 20;

async fn post(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    TestApp::answer(app.http.post(app.url(path)).json(body)).await
}

/// Overwrites one key with 1 MiB values until etcd refuses for space: its
/// history fills the backend while the model holds one key.
async fn fill_until_nospace(client: &mut etcd_client::Client) {
    let value = vec![b'x'; 1 << 20];
    for _ in 0..200 {
        if let Err(error) = client.put("/fill", value.clone(), None).await {
            assert!(
                error.to_string().contains("database space exceeded"),
                "etcd refused for another reason: {error}"
            );
            return;
        }
    }
    panic!("etcd took 200 MiB under a 16 MiB quota");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backend_raises_nospace_in_ops_and_health_until_it_is_recovered() {
    let binary = std::env::var("LEASEHOLD_ETCD_BIN").unwrap_or_else(|_| "etcd".to_owned());
    let etcd = EtcdProcess::start_with_args(binary, &[&format!("--quota-backend-bytes={QUOTA}")])
        .await
        .expect("etcd starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = dir.path().join("audit.jsonl");
    let app = spawn_app_with(common::Config {
        audit_log: Some(audit.clone()),
        ..config(etcd.endpoint())
    })
    .await;
    let mut client = etcd_client(&etcd).await;

    // The quota is the member's own, read from its /metrics; nothing compacted yet.
    let before = poll_json(&app, "/api/v1/ops", Duration::from_secs(20), |b| {
        b["members"][0]["db_size"].is_i64() && b["compact_revision"].is_i64()
    })
    .await;
    assert_eq!(before["quota_bytes"], json!(QUOTA), "{before}");
    let member = before["members"][0].clone();
    assert_eq!(member["quota_source"], json!("metrics"), "{member}");
    assert_eq!(member["quota_bytes"], json!(QUOTA));
    assert_eq!(member["alarms"], json!([]));
    assert_eq!(member["is_leader"], json!(true));
    assert_eq!(before["compact_revision"], json!(0), "nothing was compacted: {before}");
    assert!(member["raft_applied_index"].as_u64().is_some_and(|i| i > 0), "{member}");
    let id = member["id"].clone();

    let mut ws = app.ws().await;
    ws.send_json(json!({"type":"subscribe","topics":["ops"]})).await;
    ws.wait_for(Duration::from_secs(10), |m| {
        m["type"] == "snapshot" && m["topic"] == "ops"
    })
    .await;

    fill_until_nospace(&mut client).await;
    let full = poll_json(&app, "/api/v1/ops", Duration::from_secs(20), |b| {
        b["members"][0]["alarms"] == json!(["NOSPACE"])
    })
    .await;
    let member = &full["members"][0];
    assert!(
        member["db_size"].as_i64().is_some_and(|s| s >= QUOTA * 9 / 10),
        "a full backend is near its quota: {member}"
    );
    assert!(member["db_size_in_use"].is_i64(), "{member}");
    let health = poll_json(&app, "/api/v1/health", Duration::from_secs(5), |b| {
        b["alarms"] != json!([])
    })
    .await;
    assert_eq!(
        health["alarms"],
        json!([{"member": id, "alarm": "NOSPACE"}]),
        "{health}"
    );
    let patch = ws
        .wait_for(Duration::from_secs(10), |m| {
            m["type"] == "patch" && m["topic"] == "ops" && m["ops"][0]["value"]["alarms"] == json!(["NOSPACE"])
        })
        .await;
    assert_eq!(patch["ops"][0]["id"], id, "{patch}");

    // The runbook through Leasehold: compact, defragment, disarm, each
    // previewed first. A disarm while the space is not back is refused.
    let (status, preview) = post(
        &app,
        "/api/v1/ops/alarms/disarm",
        &json!({"alarm": "NOSPACE", "dry_run": true}),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(
        preview["alarms"],
        json!([{"member": id, "alarm": "NOSPACE"}]),
        "{preview}"
    );
    assert_eq!(
        preview["checks"][0]["ok"],
        json!(true),
        "the alarm is active: {preview}"
    );
    assert_eq!(
        preview["checks"][1]["ok"],
        json!(false),
        "the database is still full: {preview}"
    );
    let (status, refused) = post(&app, "/api/v1/ops/alarms/disarm", &json!({"alarm": "NOSPACE"})).await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (409, &json!("precondition_failed")),
        "{refused}"
    );

    // Leasehold has watched for seconds: it cannot say what was current an hour ago.
    let (status, answer) = post(
        &app,
        "/api/v1/ops/compact",
        &json!({"keep_seconds": 3600, "dry_run": true}),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    let revision = etcd_revision(&mut client).await;
    let (status, preview) = post(
        &app,
        "/api/v1/ops/compact",
        &json!({"revision": revision, "dry_run": true}),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["revision"], json!(revision), "{preview}");
    assert_eq!(preview["compact_revision"], json!(0), "{preview}");
    assert_eq!(preview["revisions_lost"], json!(revision - 1), "{preview}");
    assert_eq!(preview["complete"], json!(true), "{preview}");
    assert_eq!(preview["applied"], json!(false), "{preview}");
    // Every put of /fill but the last is history the compaction drops.
    let puts = revision - 1;
    assert_eq!(
        preview["keys"][0],
        json!({"key": "/fill", "versions_lost": puts - 1}),
        "{preview}"
    );
    assert_eq!(preview["versions_lost"], json!(puts - 1), "{preview}");
    assert_eq!(preview["bytes_lost"], json!((puts - 1) << 20), "{preview}");
    let (status, done) = post(&app, "/api/v1/ops/compact", &json!({"revision": revision})).await;
    assert_eq!((status, &done["applied"]), (200, &json!(true)), "{done}");
    let ops = poll_json(&app, "/api/v1/ops", Duration::from_secs(5), |b| {
        b["compact_revision"] == json!(revision)
    })
    .await;
    assert_eq!(ops["members"][0]["compact_revision"], json!(revision), "{ops}");
    let (status, again) = post(
        &app,
        "/api/v1/ops/compact",
        &json!({"revision": revision, "dry_run": true}),
    )
    .await;
    assert_eq!((status, &again["error"]["code"]), (410, &json!("compacted")), "{again}");

    let (status, plan) = post(&app, "/api/v1/ops/defrag", &json!({"dry_run": true})).await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["order"][0]["id"], id, "{plan}");
    // etcd's own count of free pages; it lags a compaction (bbolt frees
    // pages once no older read holds them), so the roll reports the real figure.
    assert!(plan["order"][0]["reclaimable"].is_i64(), "{plan}");
    assert!(
        plan["checks"]
            .as_array()
            .is_some_and(|c| c.iter().all(|c| c["ok"] == json!(true))),
        "{plan}"
    );
    let (status, refused) = post(&app, "/api/v1/ops/defrag", &json!({"expect_order": ["ffff"]})).await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (409, &json!("changed")),
        "{refused}"
    );
    let (status, started) = post(&app, "/api/v1/ops/defrag", &json!({"expect_order": [id]})).await;
    assert_eq!((status, &started["started"]), (200, &json!(true)), "{started}");
    let patch = ws
        .wait_for(Duration::from_secs(30), |m| {
            m["type"] == "patch" && m["topic"] == "ops" && m["ops"][0]["value"]["defrag"]["state"] == json!("done")
        })
        .await;
    let step = &patch["ops"][0]["value"]["defrag"];
    assert_eq!(step["order"], json!(1), "{step}");
    let (before, after) = (step["db_size_before"].as_i64(), step["db_size_after"].as_i64());
    assert!(
        before
            .zip(after)
            .is_some_and(|(b, a)| b >= QUOTA * 9 / 10 && a < QUOTA / 2),
        "the space came back: {step}"
    );

    // The roll's own record of its end follows its last step.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while audit_lines(&audit).len() < 5 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, preview) = post(
        &app,
        "/api/v1/ops/alarms/disarm",
        &json!({"alarm": "NOSPACE", "dry_run": true}),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    assert!(
        preview["checks"]
            .as_array()
            .is_some_and(|c| c.iter().all(|c| c["ok"] == json!(true))),
        "{preview}"
    );
    let (status, done) = post(&app, "/api/v1/ops/alarms/disarm", &json!({"alarm": "NOSPACE"})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["applied"], json!(true), "{done}");
    assert_eq!(done["active_after"], json!([]), "etcd says the alarm is gone: {done}");
    let recovered = poll_json(&app, "/api/v1/ops", Duration::from_secs(20), |b| {
        b["members"][0]["alarms"] == json!([]) && b["members"][0]["db_size"].as_i64().is_some_and(|s| s < QUOTA / 2)
    })
    .await;
    assert_eq!(recovered["members"][0]["quota_bytes"], json!(QUOTA));
    let health = poll_json(&app, "/api/v1/health", Duration::from_secs(5), |b| {
        b["alarms"] == json!([])
    })
    .await;
    assert_eq!(health["status"], json!("ok"), "{health}");
    client.put("/after", "works", None).await.expect("writes work again");

    // Every attempt that could change something is in the audit log, in order.
    let lines: Vec<(String, String)> = audit_lines(&audit)
        .iter()
        .map(|l| {
            (
                l["action"].as_str().unwrap_or_default().to_owned(),
                l["result"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("disarm_alarm", "refused"),
        ("compact", "ok"),
        ("defragment", "refused"),
        ("defragment", "ok"),
        ("defragment", "ok"),
        ("disarm_alarm", "ok"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, r)| ((*a).to_owned(), (*r).to_owned()))
        .collect();
    assert_eq!(lines, expected);
    app.shutdown().await;
}

/// A cookie for `name`, signed in.
async fn login(app: &TestApp, name: &str, password: &str) -> String {
    let response = app
        .http
        .post(app.url("/api/v1/login"))
        .json(&json!({"username": name, "password": password}))
        .send()
        .await;
    let response = match response {
        Ok(response) => response,
        Err(error) => panic!("login: {error}"),
    };
    assert_eq!(response.status().as_u16(), 200);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|c| c.to_str().ok())
        .unwrap_or_default();
    cookie.split(';').next().unwrap_or_default().to_owned()
}

/// Every action of the console (method, path, audit action, body with
/// `dry_run`), on the cluster whose one member is `member`.
fn actions(member: &str, dry_run: bool) -> Vec<(reqwest::Method, String, &'static str, Value)> {
    use reqwest::Method;
    vec![
        (
            Method::POST,
            "/api/v1/ops/alarms/disarm".to_owned(),
            "disarm_alarm",
            json!({"alarm": "NOSPACE", "dry_run": dry_run}),
        ),
        (
            Method::POST,
            "/api/v1/ops/compact".to_owned(),
            "compact",
            json!({"revision": 2, "dry_run": dry_run}),
        ),
        (
            Method::POST,
            "/api/v1/ops/defrag".to_owned(),
            "defragment",
            json!({"dry_run": dry_run}),
        ),
        (
            Method::POST,
            "/api/v1/ops/members".to_owned(),
            "add_member",
            json!({"name": "later", "peer_urls": ["http://127.0.0.1:1"], "dry_run": dry_run}),
        ),
        (
            Method::POST,
            format!("/api/v1/ops/members/{member}/promote"),
            "promote_member",
            json!({"dry_run": dry_run}),
        ),
        (
            Method::DELETE,
            format!("/api/v1/ops/members/{member}"),
            "remove_member",
            json!({"dry_run": dry_run}),
        ),
        (
            Method::POST,
            "/api/v1/ops/move-leader".to_owned(),
            "move_leader",
            json!({"to": member, "dry_run": dry_run}),
        ),
    ]
}

/// The id of etcd's first member, in hex.
async fn first_member(client: &mut etcd_client::Client) -> String {
    match client.member_list().await {
        Ok(list) => list
            .members()
            .first()
            .map(|m| format!("{:x}", m.id()))
            .unwrap_or_default(),
        Err(error) => panic!("member list: {error}"),
    }
}

/// A membership change, asked again while etcd refuses it for a member
/// connected less than 5 s (it says "unhealthy cluster").
async fn change(app: &TestApp, method: reqwest::Method, path: &str, body: &Value) -> (u16, Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, answer) = TestApp::answer(app.http.request(method.clone(), app.url(path)).json(body)).await;
        let unsettled = answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unhealthy cluster"));
        if !unsettled || tokio::time::Instant::now() > deadline {
            return (status, answer);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn maintenance_needs_an_operator_is_refused_read_only_and_compaction_outside_prefix() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    client.put("/a", "1", None).await.expect("put");
    client.put("/a", "2", None).await.expect("put");
    let dir = tempfile::tempdir().expect("temp dir");

    // A viewer previews; only an operator acts.
    let viewer = server::auth::hash_password("viewer-pw").expect("hash");
    let users = format!("[[users]]\nname = \"vera\"\nrole = \"viewer\"\npassword_hash = \"{viewer}\"\n");
    let users = server::auth::Users::parse(&users).expect("users");
    let audit = dir.path().join("viewer.jsonl");
    let app = spawn_app_with(common::Config {
        auth: server::auth::AuthMode::Users(std::sync::Arc::new(users)),
        audit_log: Some(audit.clone()),
        ..config(etcd.endpoint())
    })
    .await;
    app.wait_for_health(200, Duration::from_secs(20)).await;
    let vera = login(&app, "vera", "viewer-pw").await;
    let member = first_member(&mut client).await;
    for ((method, path, action, preview), (_, _, _, act)) in
        actions(&member, true).into_iter().zip(actions(&member, false))
    {
        let ask = |body: Value| {
            TestApp::answer(
                app.http
                    .request(method.clone(), app.url(&path))
                    .header("cookie", &vera)
                    .json(&body),
            )
        };
        let (status, preview) = ask(preview).await;
        assert_eq!(status, 200, "{path}: a viewer previews: {preview}");
        let (status, refused) = ask(act).await;
        assert_eq!(
            (status, &refused["error"]["code"]),
            (403, &json!("forbidden")),
            "{path}: {refused}"
        );
        let last = audit_lines(&audit).pop().unwrap_or_default();
        assert_eq!(
            (&last["action"], &last["result"], &last["who"]),
            (&json!(action), &json!("refused"), &json!("vera")),
            "{path}"
        );
    }
    let (status, refused) =
        TestApp::answer(app.http.get(app.url("/api/v1/ops/snapshot")).header("cookie", &vera)).await;
    assert_eq!(status, 403, "a viewer takes no snapshot: {refused}");
    app.shutdown().await;
    assert_eq!(etcd_revision(&mut client).await, 3, "nothing was compacted");
    let old = client
        .get("/a", Some(etcd_client::GetOptions::new().with_revision(2)))
        .await;
    assert!(old.is_ok(), "nothing was compacted: {old:?}");

    // --read-only: refused whoever asks, previews too, and audited.
    let audit = dir.path().join("read-only.jsonl");
    let app = spawn_app_with(common::Config {
        read_only: true,
        audit_log: Some(audit.clone()),
        ..config(etcd.endpoint())
    })
    .await;
    app.wait_for_health(200, Duration::from_secs(20)).await;
    let member = first_member(&mut client).await;
    for (method, path, action, body) in actions(&member, false) {
        let (status, refused) = TestApp::answer(app.http.request(method, app.url(&path)).json(&body)).await;
        assert_eq!(status, 403, "{path}: {refused}");
        assert!(
            refused["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("--read-only")),
            "{refused}"
        );
        let last = audit_lines(&audit).pop().unwrap_or_default();
        assert_eq!(
            (&last["action"], &last["result"]),
            (&json!(action), &json!("refused")),
            "{path}"
        );
    }
    assert_eq!(
        etcd_client(&etcd)
            .await
            .member_list()
            .await
            .map(|l| l.members().len())
            .ok(),
        Some(1)
    );
    app.shutdown().await;

    // --prefix: a compaction would drop history beyond it.
    let app = spawn_app_with(common::Config {
        prefixes: vec!["/a".to_owned()],
        ..config(etcd.endpoint())
    })
    .await;
    app.wait_for_health(200, Duration::from_secs(20)).await;
    for dry_run in [true, false] {
        let (status, refused) = post(&app, "/api/v1/ops/compact", &json!({"revision": 2, "dry_run": dry_run})).await;
        assert_eq!(
            (status, &refused["error"]["code"]),
            (403, &json!("out_of_scope")),
            "{refused}"
        );
    }
    let (status, refused) = app.get("/api/v1/ops/snapshot").await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (403, &json!("out_of_scope")),
        "{refused}"
    );
    let (status, plan) = post(&app, "/api/v1/ops/defrag", &json!({"dry_run": true})).await;
    assert_eq!(status, 200, "a defragmentation loses nothing: {plan}");
    app.shutdown().await;
    let horizon = client
        .get("/a", Some(etcd_client::GetOptions::new().with_revision(2)))
        .await;
    assert!(horizon.is_ok(), "nothing was compacted: {horizon:?}");
}

/// Each member's `defrag` step in `/api/v1/ops`, by name.
fn steps(body: &Value) -> Vec<(String, Value)> {
    body["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| (m["name"].as_str().unwrap_or_default().to_owned(), m["defrag"].clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_defragmentation_takes_followers_first_one_at_a_time_and_stops_on_a_failure() {
    let cluster = common::etcd_cluster::EtcdCluster::start(3).await;
    let leader = cluster.wait_for_leader().await;
    let app = spawn_app_with(common::Config {
        etcd: server::config::EtcdConfig::new(cluster.endpoints()),
        ..config(cluster.endpoint(0))
    })
    .await;
    let ready = |b: &Value| {
        b["members"]
            .as_array()
            .is_some_and(|m| m.len() == 3 && m.iter().all(|m| m["healthy"] == json!(true)))
            && b["members"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["is_leader"] == json!(true)))
    };
    poll_json(&app, "/api/v1/ops", Duration::from_secs(30), ready).await;
    let leader_name = format!("m{leader}");

    let (status, plan) = post(&app, "/api/v1/ops/defrag", &json!({"dry_run": true})).await;
    assert_eq!(status, 200, "{plan}");
    let order: Vec<&str> = plan["order"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(order.len(), 3, "{plan}");
    assert_eq!(order[2], leader_name, "the leader last: {plan}");
    let ids: Vec<Value> = plan["order"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["id"].clone())
        .collect();
    let (status, started) = post(&app, "/api/v1/ops/defrag", &json!({"expect_order": ids})).await;
    assert_eq!((status, &started["started"]), (200, &json!(true)), "{started}");
    let (status, busy) = post(&app, "/api/v1/ops/defrag", &json!({})).await;
    // The first roll may be done already on a fast machine: then a second one starts.
    assert!(status == 200 || busy["error"]["code"] == json!("in_progress"), "{busy}");
    let done = poll_json(&app, "/api/v1/ops", Duration::from_secs(60), |b| {
        steps(b).iter().all(|(_, s)| s["state"] == json!("done"))
    })
    .await;
    // One at a time, in the order shown: each started after the one before ended.
    let mut by_order: Vec<(u64, String, Value)> = steps(&done)
        .into_iter()
        .map(|(name, s)| (s["order"].as_u64().unwrap_or_default(), name, s))
        .collect();
    by_order.sort_by_key(|(o, _, _)| *o);
    let names: Vec<&str> = by_order.iter().map(|(_, n, _)| n.as_str()).collect();
    assert_eq!(names, order, "{done}");
    for pair in by_order.windows(2) {
        let (ended, next) = (pair[0].2["finished_at"].as_str(), pair[1].2["started_at"].as_str());
        assert!(ended.zip(next).is_some_and(|(e, n)| e <= n), "{done}");
    }

    // The consistency check: every member's hash at one revision, the same.
    let (status, check) = app.get("/api/v1/ops/hashkv").await;
    assert_eq!(status, 200, "{check}");
    assert_eq!(check["agree"], json!(true), "{check}");
    assert_eq!(check["differ"], json!([]), "{check}");
    let hashes: Vec<&Value> = check["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| &m["hash"])
        .collect();
    assert_eq!(hashes.len(), 3, "{check}");
    assert!(hashes.iter().all(|h| h.is_u64() && *h == hashes[0]), "{check}");

    // A member that stops answering stops the roll at the step that meets it.
    let follower = (0..3).find(|i| *i != leader).unwrap_or(0);
    let (status, plan) = post(&app, "/api/v1/ops/defrag", &json!({"dry_run": true})).await;
    assert_eq!(status, 200, "{plan}");
    let ids: Vec<Value> = plan["order"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["id"].clone())
        .collect();
    // Started before the freeze: the roll's own health check must catch it.
    let (status, started) = post(&app, "/api/v1/ops/defrag", &json!({"expect_order": ids})).await;
    assert_eq!(status, 200, "{started}");
    cluster.freeze(follower);
    let stopped = poll_json(&app, "/api/v1/ops", Duration::from_secs(90), |b| {
        steps(b).iter().any(|(_, s)| s["state"] == json!("failed"))
            && steps(b)
                .iter()
                .all(|(_, s)| s["state"] != json!("running") && s["state"] != json!("queued"))
    })
    .await;
    let mut by_order: Vec<(u64, String, Value)> = steps(&stopped)
        .into_iter()
        .map(|(name, s)| (s["order"].as_u64().unwrap_or_default(), name, s))
        .collect();
    by_order.sort_by_key(|(o, _, _)| *o);
    let states: Vec<&str> = by_order
        .iter()
        .map(|(_, _, s)| s["state"].as_str().unwrap_or_default())
        .collect();
    let failed = states.iter().position(|s| *s == "failed").unwrap_or(usize::MAX);
    assert!(states[..failed].iter().all(|s| *s == "done"), "{states:?}");
    assert!(states[failed + 1..].iter().all(|s| *s == "skipped"), "{states:?}");
    assert_ne!(
        states[2], "done",
        "the leader is never defragmented past a failure: {states:?}"
    );
    cluster.thaw(follower);
    app.shutdown().await;
}

#[tokio::test]
async fn a_snapshot_streams_to_the_browser_whole_with_its_hash() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let value = "v".repeat(4096);
    for i in 0..300 {
        client
            .put(format!("/snap/{i}"), value.clone(), None)
            .await
            .expect("put");
    }
    let revision = etcd_revision(&mut client).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = dir.path().join("audit.jsonl");
    let app = spawn_app_with(common::Config {
        audit_log: Some(audit.clone()),
        ..config(etcd.endpoint())
    })
    .await;
    poll_json(&app, "/api/v1/ops", Duration::from_secs(20), |b| {
        b["members"][0]["is_leader"] == json!(true)
    })
    .await;
    // As a browser asks: it accepts gzip, and gets the file as etcd sent it.
    let response = app
        .http
        .get(app.url("/api/v1/ops/snapshot"))
        .header("accept-encoding", "gzip, deflate, br, zstd")
        .send()
        .await
        .expect("snapshot");
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert!(headers.get("content-encoding").is_none(), "{headers:?}");
    let disposition = headers["content-disposition"].to_str().unwrap_or_default().to_owned();
    assert!(disposition.contains(&format!("-r{revision}.db")), "{disposition}");
    let id: u64 = headers["x-leasehold-snapshot"]
        .to_str()
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let file = response.bytes().await.expect("the file");
    // etcd ends a snapshot with the SHA-256 of what precedes it: the file
    // arrived byte for byte.
    assert!(file.len() > 300 * 4096, "{} bytes", file.len());
    let (db, trailer) = file.split_at(file.len() - 32);
    assert_eq!(
        sha2::Sha256::digest(db).as_slice(),
        trailer,
        "etcd's own checksum holds"
    );
    let whole = hex(&sha2::Sha256::digest(&file));

    // The file restores with `etcdctl snapshot restore` into an etcd that
    // then holds the same keys at the same revision.
    let saved = dir.path().join("download.db");
    std::fs::write(&saved, &file).expect("write the file");
    let mut restored = start_etcd().await;
    if let Err(error) = restored.restore_snapshot(&saved).await {
        panic!("etcdctl snapshot restore: {error:#}");
    }
    let mut other = etcd_client(&restored).await;
    let keys = other
        .get("/snap/", Some(etcd_client::GetOptions::new().with_prefix()))
        .await
        .expect("get");
    assert_eq!(keys.kvs().len(), 300, "the restored etcd holds every key");
    assert!(keys.kvs().iter().all(|kv| kv.value() == value.as_bytes()));
    assert_eq!(etcd_revision(&mut other).await, revision, "at the snapshot's revision");
    drop(restored);

    let (_, list) = app.get("/api/v1/ops/snapshots").await;
    let record = &list["snapshots"][0];
    assert_eq!(record["id"], json!(id), "{list}");
    assert_eq!(record["state"], json!("done"), "{list}");
    assert_eq!(record["bytes"], json!(file.len()), "{list}");
    assert_eq!(record["expected_bytes"], json!(file.len()), "{list}");
    assert_eq!(record["revision"], json!(revision), "{list}");
    assert_eq!(record["sha256"], json!(whole), "{list}");
    let last = audit_lines(&audit).pop().unwrap_or_default();
    assert_eq!(
        (&last["action"], &last["result"]),
        (&json!("snapshot"), &json!("ok")),
        "{last}"
    );
    assert!(last["detail"].as_str().is_some_and(|d| d.contains(&whole)), "{last}");

    // A download cut short is recorded as such, not as done.
    let mut response = app
        .http
        .get(app.url("/api/v1/ops/snapshot"))
        .send()
        .await
        .expect("snapshot");
    let _ = response.chunk().await;
    drop(response);
    let list = poll_json(&app, "/api/v1/ops/snapshots", Duration::from_secs(10), |b| {
        b["snapshots"][0]["state"] != json!("running")
    })
    .await;
    let state = &list["snapshots"][0]["state"];
    // A small database may have been sent whole before the drop.
    assert!(*state == json!("aborted") || *state == json!("done"), "{list}");
    app.shutdown().await;
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A check of a membership body whose text contains `what`.
fn check<'a>(body: &'a Value, what: &str) -> &'a Value {
    body["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["what"].as_str().is_some_and(|w| w.contains(what))))
        .unwrap_or(&Value::Null)
}

/// The voting and learner members etcd lists, by name (empty: not started).
async fn etcd_members(client: &mut etcd_client::Client) -> Vec<(u64, String, bool)> {
    match client.member_list().await {
        Ok(list) => list
            .members()
            .iter()
            .map(|m| (m.id(), m.name().to_owned(), m.is_learner()))
            .collect(),
        Err(error) => panic!("member list: {error}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_joins_with_the_flags_shown_is_promoted_leads_and_members_leave_only_with_quorum() {
    let mut cluster = common::etcd_cluster::EtcdCluster::start(3).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = dir.path().join("audit.jsonl");
    let app = spawn_app_with(common::Config {
        etcd: server::config::EtcdConfig::new(cluster.endpoints()),
        audit_log: Some(audit.clone()),
        ..config(cluster.endpoint(0))
    })
    .await;
    let mut client = cluster.client().await;
    client.put("/before-the-learner", "1", None).await.expect("put");

    // The preview: a learner does not change the quorum; the flags name
    // every member and the state existing.
    let port = common::etcd_cluster::free_port();
    let peer = format!("http://127.0.0.1:{port}");
    let ask = json!({"name": "m3", "peer_urls": [peer], "dry_run": true});
    let (status, preview) = post(&app, "/api/v1/ops/members", &ask).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(
        preview["before"]["quorum"],
        json!({"voters": 3, "quorum": 2, "healthy_voters": 3, "tolerates": 1})
    );
    assert_eq!(
        preview["after"]["members"].as_array().map(Vec::len),
        Some(4),
        "{preview}"
    );
    assert_eq!(
        preview["after"]["quorum"]["voters"],
        json!(3),
        "a learner does not vote: {preview}"
    );
    assert_eq!(preview["applied"], json!(false));
    let flags: Vec<String> = preview["flags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_owned))
        .collect();
    assert!(
        flags.contains(&"--initial-cluster-state=existing".to_owned()),
        "{flags:?}"
    );
    let initial = flags
        .iter()
        .find_map(|f| f.strip_prefix("--initial-cluster="))
        .unwrap_or_default();
    for name in ["m0=", "m1=", "m2=", &format!("m3={peer}")] {
        assert!(initial.contains(name), "{initial}");
    }
    assert_eq!(etcd_members(&mut client).await.len(), 3, "a preview changes nothing");

    // Added: etcd lists a learner; it starts with the flags shown and catches up.
    let add = json!({"name": "m3", "peer_urls": [peer]});
    let (status, added) = change(&app, reqwest::Method::POST, "/api/v1/ops/members", &add).await;
    assert_eq!((status, &added["applied"]), (200, &json!(true)), "{added}");
    let id = added["member"].as_str().unwrap_or_default().to_owned();
    let listed = etcd_members(&mut client).await;
    let new_id = u64::from_str_radix(&id, 16).unwrap_or_default();
    assert!(listed.iter().any(|m| m.0 == new_id && m.2), "a learner: {listed:?}");
    assert!(
        added["after"]["members"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["id"] == json!(id) && m["is_learner"] == json!(true))),
        "{added}"
    );
    let shown: Vec<String> = added["flags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_owned))
        .collect();
    let (status, twice) = post(
        &app,
        "/api/v1/ops/members",
        &json!({"name": "m4", "peer_urls": ["http://127.0.0.1:9"]}),
    )
    .await;
    assert_eq!(
        (status, &twice["error"]["code"]),
        (409, &json!("precondition_failed")),
        "one learner at a time: {twice}"
    );
    let joined = cluster.join(port, shown);

    let promote = format!("/api/v1/ops/members/{id}/promote");
    let ready = tokio::time::Instant::now() + Duration::from_secs(60);
    let preview = loop {
        let (status, preview) = post(&app, &promote, &json!({"dry_run": true})).await;
        assert_eq!(status, 200, "{preview}");
        if preview["checks"]
            .as_array()
            .is_some_and(|c| c.iter().all(|c| c["ok"] == json!(true)))
        {
            break preview;
        }
        assert!(
            tokio::time::Instant::now() < ready,
            "the learner never caught up: {preview}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(
        preview["lag"]["leader_raft_index"].as_u64().is_some_and(|i| i > 0),
        "{preview}"
    );
    assert_eq!(preview["after"]["quorum"]["voters"], json!(4), "{preview}");
    assert_eq!(preview["after"]["quorum"]["quorum"], json!(3), "{preview}");

    // Promoted: a voting member, as etcd lists it.
    let mut promoted = Value::Null;
    for _ in 0..20 {
        // etcd's own readiness may lag the preview's by a beat.
        let (status, answer) = post(&app, &promote, &json!({})).await;
        if status == 200 {
            promoted = answer;
            break;
        }
        assert_eq!(answer["error"]["code"], json!("precondition_failed"), "{answer}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(promoted["applied"], json!(true), "{promoted}");
    assert!(
        etcd_members(&mut client).await.iter().any(|m| m.0 == new_id && !m.2),
        "etcd lists m3 as a voting member"
    );
    let stored = {
        let mut own = etcd_client::Client::connect([cluster.endpoint(joined)], None)
            .await
            .expect("client");
        own.get("/before-the-learner", None).await.map(|r| r.kvs().len()).ok()
    };
    assert_eq!(
        stored,
        Some(1),
        "the new member holds what was written before it joined"
    );

    // From here on, asked through the members that stay.
    let mut client = etcd_client::Client::connect([cluster.endpoint(2), cluster.endpoint(joined)], None)
        .await
        .expect("client");

    // The leader moves to it.
    let (status, moved) = post(&app, "/api/v1/ops/move-leader", &json!({"to": id, "dry_run": true})).await;
    assert_eq!(status, 200, "{moved}");
    let (status, moved) = change(
        &app,
        reqwest::Method::POST,
        "/api/v1/ops/move-leader",
        &json!({"to": id}),
    )
    .await;
    assert_eq!((status, &moved["applied"]), (200, &json!(true)), "{moved}");
    assert_eq!(cluster.leader().await, Some(joined), "etcd says m3 leads");
    let (status, again) = post(&app, "/api/v1/ops/move-leader", &json!({"to": id})).await;
    assert_eq!(
        (status, &again["error"]["code"]),
        (409, &json!("precondition_failed")),
        "{again}"
    );

    // Removals: m0 and m1 leave (4 -> 3 -> 2 voters); the last of the two
    // is refused, with the arithmetic.
    let ids: Vec<(String, u64)> = etcd_members(&mut client)
        .await
        .into_iter()
        .map(|(id, name, _)| (name, id))
        .collect();
    let id_of = |name: &str| {
        ids.iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| format!("{id:x}"))
            .unwrap_or_default()
    };
    let remove = |name: &str, dry_run: bool| {
        let path = format!("/api/v1/ops/members/{}", id_of(name));
        let app = &app;
        async move { change(app, reqwest::Method::DELETE, &path, &json!({"dry_run": dry_run})).await }
    };
    let (status, preview) = remove("m0", true).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["before"]["quorum"]["quorum"], json!(3), "{preview}");
    assert_eq!(
        preview["after"]["quorum"],
        json!({"voters": 3, "quorum": 2, "healthy_voters": 3, "tolerates": 1})
    );
    for name in ["m0", "m1"] {
        let (status, removed) = remove(name, false).await;
        assert_eq!(
            (status, &removed["applied"]),
            (200, &json!(true)),
            "{name}: {removed}; audit: {:?}",
            audit_lines(&audit)
        );
        let left = etcd_members(&mut client).await;
        assert!(
            !left.iter().any(|m| m.1 == name),
            "etcd no longer lists {name}: {left:?}"
        );
    }
    let (status, preview) = remove("m2", true).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(
        check(&preview, "more than 2 voting members")["ok"],
        json!(false),
        "{preview}"
    );
    let (status, refused) = remove("m2", false).await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (409, &json!("precondition_failed")),
        "{refused}"
    );
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("more than 2 voting members")),
        "{refused}"
    );
    assert_eq!(etcd_members(&mut client).await.len(), 2, "m2 and m3 stay");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !(cluster.exited(0) && cluster.exited(1)) {
        assert!(tokio::time::Instant::now() < deadline, "removed members stop");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Leasehold stays synced through the members left (two of its three
    // endpoints are gone), and sees what it writes.
    let revision = client
        .put("/after-the-changes", "1", None)
        .await
        .expect("put")
        .header()
        .map_or(0, |h| h.revision());
    app.wait_for_revision(revision, Duration::from_secs(30)).await;
    app.wait_for_health(200, Duration::from_secs(30)).await;
    poll_json(&app, "/api/v1/cluster", Duration::from_secs(30), |c| {
        c["leader"].is_string()
            && c["members"]
                .as_array()
                .is_some_and(|m| m.len() == 2 && m.iter().all(|m| m["healthy"] == json!(true)))
    })
    .await;

    // Every change is in the audit log, in order, and the refusals too.
    let entries: Vec<(String, String)> = audit_lines(&audit)
        .iter()
        // etcd's refusals while a member had just connected, asked again.
        .filter(|e| !e["detail"].as_str().is_some_and(|d| d.contains("unhealthy cluster")))
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["result"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("add_member", "ok"),
        ("add_member", "refused"),
        ("promote_member", "ok"),
        ("move_leader", "ok"),
        ("move_leader", "refused"),
        ("remove_member", "ok"),
        ("remove_member", "ok"),
        ("remove_member", "refused"),
    ];
    let got: Vec<(&str, &str)> = entries
        .iter()
        .map(|(a, r)| (a.as_str(), r.as_str()))
        .filter(|e| *e != ("promote_member", "refused") && *e != ("promote_member", "failed"))
        .collect();
    assert_eq!(got, expected, "{entries:?}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consistency_check_names_a_member_restored_from_an_older_backup() {
    let mut cluster = common::etcd_cluster::EtcdCluster::start(3).await;
    let mut client = cluster.client().await;
    for i in 0..50 {
        client.put(format!("/first/{i}"), "1", None).await.expect("put");
    }
    let app = spawn_app_with(common::Config {
        etcd: server::config::EtcdConfig::new(cluster.endpoints()),
        ..config(cluster.endpoint(0))
    })
    .await;
    let (status, agree) = app.get("/api/v1/ops/hashkv").await;
    assert_eq!(status, 200, "{agree}");
    assert_eq!(
        (&agree["agree"], &agree["differ"]),
        (&json!(true), &json!([])),
        "{agree}"
    );
    assert_eq!(agree["members"].as_array().map(Vec::len), Some(3), "{agree}");

    // The cluster is restored from backups, m2's an older one than the
    // others': raft agrees, and from there on every write lands at another
    // revision on m2 than on the others.
    let dir = tempfile::tempdir().expect("temp dir");
    let (older, newer) = (dir.path().join("older.db"), dir.path().join("newer.db"));
    cluster.save_snapshot(2, &older);
    for i in 0..50 {
        client.put(format!("/second/{i}"), "2", None).await.expect("put");
    }
    cluster.save_snapshot(0, &newer);
    cluster.restore_all(&[&newer, &newer, &older]).await;
    let mut client = cluster.client().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for i in 0..60 {
        while let Err(error) = client.put(format!("/third/{i}"), "3", None).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "writes after the restore: {error}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let m2 = etcd_members(&mut client)
        .await
        .into_iter()
        .find(|m| m.1 == "m2")
        .map(|m| format!("{:x}", m.0))
        .unwrap_or_default();
    // A revision every member has reached: m2's own, the lowest.
    let revision = {
        let mut own = etcd_client::Client::connect([cluster.endpoint(2)], None)
            .await
            .expect("client");
        own.status()
            .await
            .ok()
            .and_then(|s| s.header().map(|h| h.revision()))
            .unwrap_or(0)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let named = loop {
        let (status, check) = app.get(&format!("/api/v1/ops/hashkv?revision={revision}")).await;
        let answered = check["members"]
            .as_array()
            .is_some_and(|m| m.len() == 3 && m.iter().all(|m| m["hash"].is_u64()));
        if status == 200 && answered {
            break check;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "every member answers its hash: {check}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(named["revision"], json!(revision), "{named}");
    assert_eq!(
        (&named["agree"], &named["differ"]),
        (&json!(false), &json!([m2])),
        "{named}"
    );
    app.shutdown().await;
}

/// How many requests of `method` (gRPC, answered OK or not) a member has
/// handled, from its `/metrics`.
async fn handled(endpoint: &str, method: &str) -> f64 {
    let text = match reqwest::get(format!("{endpoint}/metrics")).await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(error) => panic!("{endpoint}/metrics: {error}"),
    };
    text.lines()
        .filter(|l| l.starts_with("grpc_server_handled_total{") && l.contains(&format!("grpc_method=\"{method}\"")))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watching_a_five_member_cluster_costs_each_member_one_status_a_poll_and_no_range_reads() {
    let cluster = common::etcd_cluster::EtcdCluster::start(5).await;
    let poll = Duration::from_millis(200);
    let app = spawn_app_with(common::Config {
        etcd: server::config::EtcdConfig::new(cluster.endpoints()),
        cluster_poll: poll,
        ..config(cluster.endpoint(0))
    })
    .await;
    poll_json(&app, "/api/v1/ops", Duration::from_secs(30), |b| {
        b["members"]
            .as_array()
            .is_some_and(|m| m.len() == 5 && m.iter().all(|m| m["healthy"] == json!(true)))
            && b["compact_revision"] == json!(0)
    })
    .await;
    // Started and synced: from here on only the polls ask anything.
    let endpoints = cluster.endpoints();
    let count = |method: &'static str| {
        let endpoints = endpoints.clone();
        async move {
            let mut counts = Vec::new();
            for endpoint in &endpoints {
                counts.push(handled(endpoint, method).await);
            }
            counts
        }
    };
    let (ranges, statuses, lists) = (count("Range").await, count("Status").await, count("MemberList").await);
    let began = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let took = began.elapsed();
    let (ranges_after, statuses_after, lists_after) =
        (count("Range").await, count("Status").await, count("MemberList").await);
    let polls = took.as_secs_f64() / poll.as_secs_f64();
    for i in 0..5 {
        assert_eq!(ranges_after[i] - ranges[i], 0.0, "member {i}: no range read");
        let asked = statuses_after[i] - statuses[i];
        assert!(
            asked >= 1.0 && asked <= polls + 1.0,
            "member {i}: one Status a poll, {asked} in {polls:.1} polls"
        );
    }
    let listed: f64 = lists_after.iter().sum::<f64>() - lists.iter().sum::<f64>();
    assert!(
        listed <= polls + 1.0,
        "one MemberList a poll, {listed} in {polls:.1} polls"
    );
    app.shutdown().await;
}

/// serde reads a struct from a JSON array (`[]`: every field at its
/// default); an action's body that is not an object is refused before
/// anything is done (schemathesis started a defragmentation with `[]`).
#[tokio::test]
async fn an_action_whose_body_is_not_an_object_is_refused() {
    let etcd = start_etcd().await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, Duration::from_secs(20)).await;
    for path in [
        "/api/v1/ops/defrag",
        "/api/v1/ops/compact",
        "/api/v1/ops/alarms/disarm",
        "/api/v1/ops/move-leader",
    ] {
        let (status, body) = post(&app, path, &json!([])).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (400, &json!("bad_request")),
            "{path}: {body}"
        );
    }
    let (_, ops) = app.get("/api/v1/ops").await;
    assert!(
        ops["members"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|m| m.get("defrag").is_none()),
        "no roll started: {ops}"
    );
    let response = app
        .http
        .delete(app.url("/api/v1/leases/1234abcd"))
        .header("content-type", "application/json")
        .body("[]")
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status().as_u16(), 400);
    app.shutdown().await;
}
