//! The clients people run, for real, as peers of a real etcd
//! (server/src/registry/layouts/CLIENTS.md has what each writes; the peers
//! are peers/clients/, installed by `make setup`): python-etcd3's and
//! tooz's locks are holder-only locks whose hand-over is seen live, and
//! whose key-less leases show as orphans; the npm etcd3 client's election
//! is a queue of candidates in create-revision order, its leader's
//! resignation and death seen as they happen; Moleculer nodes are instances
//! of the services they run, living by their heartbeat; tooz group members
//! are instances of their group; Patroni's members show the leader, their
//! lag and their state, its leader key an election handed over live.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{poll_json, spawn_app, start_etcd, EtcdProcess, TestApp};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const LIMIT: Duration = Duration::from_secs(40);

/// A short lease TTL, so that a killed peer's key expires within the test.
const TTL: &str = "4";

fn peers(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../peers").join(path)
}

/// A client library's process: its JSON events on stdout, commands on stdin.
struct Peer {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Peer {
    /// `peers/clients/<script>` under the peers' Python or Node.
    fn start(etcd: &EtcdProcess, script: &str, env: &[(&str, &str)]) -> Peer {
        let (program, what) = if script.ends_with(".py") {
            (peers(".venv/bin/python"), "the Python peers (peers/.venv)")
        } else {
            (PathBuf::from("node"), "node")
        };
        assert!(
            peers(".venv/.installed").exists() && peers("node_modules/.installed").exists(),
            "the test peers are not installed: `make setup` installs them (peers/)"
        );
        let mut command = Command::new(program);
        command
            .arg(peers("clients").join(script))
            .env("ETCD_ENDPOINT", etcd.endpoint())
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{what} starts {script}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let name = env
            .iter()
            .find(|(k, _)| *k == "MEMBER")
            .map_or(script.to_owned(), |(_, v)| (*v).to_owned());
        Peer {
            name,
            stdin: child.stdin.take(),
            child,
            lines: BufReader::new(stdout).lines(),
        }
    }

    /// The next event named `ev` (earlier ones are skipped); panics on an
    /// `error` event, an exit, or after `limit`.
    async fn event(&mut self, ev: &str, limit: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let line = tokio::time::timeout(left, self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("{}: no {ev} within {limit:?}", self.name))
                .expect("peer output")
                .unwrap_or_else(|| panic!("{}: ended before {ev}", self.name));
            let event: Value = serde_json::from_str(&line).unwrap_or_else(|_| json!({"ev":"text","line":line}));
            assert_ne!(event["ev"], "error", "{}: {event}", self.name);
            if event["ev"] == ev {
                return event;
            }
        }
    }

    async fn send(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        stdin.write_all(format!("{command}\n").as_bytes()).await.expect("write");
        stdin.flush().await.expect("flush");
    }

    /// SIGKILL: nothing is released; what it held ends with its lease.
    async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// The lock `name` as `GET /api/v1/locks` shows it, once `ready` holds.
async fn lock(app: &TestApp, name: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let body = poll_json(app, "/api/v1/locks", LIMIT, |body| {
        body["locks"]
            .as_array()
            .and_then(|locks| locks.iter().find(|l| l["name"] == name))
            .is_some_and(&ready)
    })
    .await;
    body["locks"]
        .as_array()
        .and_then(|locks| locks.iter().find(|l| l["name"] == name))
        .cloned()
        .unwrap_or_default()
}

/// Waits on the socket for a patch of `topic` whose upsert of `id` satisfies `ready`.
async fn patched(ws: &mut common::WsClient, topic: &str, id: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let message = ws
        .wait_for(LIMIT, |m| {
            m["type"] == "patch"
                && m["topic"] == topic
                && m["ops"].as_array().is_some_and(|ops| {
                    ops.iter()
                        .any(|op| op["op"] == "upsert" && op["id"] == id && ready(&op["value"]))
                })
        })
        .await;
    message["ops"]
        .as_array()
        .and_then(|ops| ops.iter().find(|op| op["op"] == "upsert" && op["id"] == id))
        .map(|op| op["value"].clone())
        .unwrap_or_default()
}

/// The leases etcd lists that hold no key, as the Leases page shows them.
async fn orphans(app: &TestApp) -> Vec<String> {
    let body = poll_json(app, "/api/v1/leases", LIMIT, |body| {
        body["leases"]
            .as_array()
            .is_some_and(|leases| leases.iter().any(|l| l["keys"] == 0))
    })
    .await;
    body["leases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["keys"] == 0)
        .filter_map(|l| l["id"].as_str().map(str::to_owned))
        .collect()
}

/// Three contenders of a holder-only lock `script` writes as `key`: the
/// first holds, the others wait without a key; a release hands over (seen
/// live), a killed holder's lock goes with its lease, and the key-less
/// leases the library leaves are orphans on the Leases page.
async fn holder_only_lock(script: &str, key: &str, library: &str, env: &[(&str, &str)]) {
    let etcd = start_etcd().await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let peer = |member: &'static str| {
        let mut all = vec![("MEMBER", member)];
        all.extend_from_slice(env);
        Peer::start(&etcd, script, &all)
    };
    let mut first = peer("c1");
    let held = first.event("acquired", LIMIT).await;
    let mut second = peer("c2");
    second.event("waiting", LIMIT).await;
    let mut third = peer("c3");
    third.event("waiting", LIMIT).await;

    let shown = lock(&app, key, |l| l["holder"]["lease"] == held["lease"]).await;
    assert_eq!(shown["holder_only"], library, "{shown}");
    assert_eq!(shown["waiters"], json!([]), "its waiters keep no key: {shown}");
    assert_eq!(shown["holder"]["key"], key, "{shown}");

    // A release hands the lock over, live.
    let mut ws = app.ws().await;
    ws.send_json(json!({"type":"subscribe","topics":["locks"]})).await;
    ws.wait_for(LIMIT, |m| m["type"] == "snapshot" && m["topic"] == "locks")
        .await;
    first.send("release").await;
    first.event("released", LIMIT).await;
    let (second_won, event) = tokio::select! {
        event = second.event("acquired", LIMIT) => (true, event),
        event = third.event("acquired", LIMIT) => (false, event),
    };
    let (mut holder, mut waiter) = if second_won { (second, third) } else { (third, second) };
    let next = event["lease"].clone();
    let value = patched(&mut ws, "locks", key, |l| l["holder"]["lease"] == next).await;
    assert_eq!(value["holder_only"], library, "{value}");
    // Released and failed attempts leave leases without a key behind, each
    // until its TTL runs out: looked for now, while the release's is fresh
    // (after the kill below, which waits a TTL, they may all have expired).
    assert!(!orphans(&app).await.is_empty());

    // The holder killed: its key ends with its lease, and the last waiter holds.
    holder.kill().await;
    let last = waiter.event("acquired", LIMIT).await;
    let shown = lock(&app, key, |l| l["holder"]["lease"] == last["lease"]).await;
    assert_eq!(shown["waiters"], json!([]), "{shown}");

    waiter.send("stop").await;
    waiter.event("stopped", LIMIT).await;
    first.send("stop").await;
    poll_json(&app, "/api/v1/locks", LIMIT, |body| {
        body["locks"]
            .as_array()
            .is_some_and(|locks| locks.iter().all(|l| l["name"] != key))
    })
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn python_etcd3_locks_show_their_holder_and_hand_over() {
    holder_only_lock(
        "pyetcd3_lock.py",
        "/locks/jobs",
        "python-etcd3",
        &[("LOCK", "jobs"), ("TTL", TTL)],
    )
    .await;
}

#[tokio::test]
async fn tooz_locks_show_their_holder_and_hand_over() {
    holder_only_lock(
        "tooz_peer.py",
        "/tooz/locksjobs",
        "tooz",
        &[
            ("ROLE", "lock"),
            ("LOCK", "jobs"),
            ("LOCK_TIMEOUT", TTL),
            ("MEMBERSHIP_TIMEOUT", TTL),
        ],
    )
    .await;
}

#[tokio::test]
async fn npm_etcd3_elections_queue_their_candidates_in_order() {
    let etcd = start_etcd().await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let candidate = |member: &'static str| {
        Peer::start(
            &etcd,
            "etcd3js_peer.js",
            &[
                ("MEMBER", member),
                ("NAME", "scheduler"),
                ("VALUE", member),
                ("TTL", TTL),
            ],
        )
    };
    let mut e1 = candidate("e1");
    e1.event("elected", LIMIT).await;
    let mut e2 = candidate("e2");
    let joined = e2.event("campaigning", LIMIT).await;
    let mut e3 = candidate("e3");
    e3.event("campaigning", LIMIT).await;
    // The key names the lease in decimal: the model reads it all the same.
    let lease = joined["lease"].as_str().expect("a lease");
    let decimal = u64::from_str_radix(lease, 16).expect("hex lease");
    assert!(
        joined["key"]
            .as_str()
            .is_some_and(|k| k.ends_with(&format!("/{decimal}"))),
        "{joined}"
    );

    let name = "election/scheduler";
    let order = |body: &Value| -> Vec<String> {
        let election = body["elections"]
            .as_array()
            .and_then(|all| all.iter().find(|e| e["name"] == name))
            .cloned()
            .unwrap_or_default();
        election["leader"]
            .as_object()
            .map(|l| l["value"].as_str().unwrap_or_default().to_owned())
            .into_iter()
            .chain(
                election["candidates"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["value"].as_str().map(str::to_owned)),
            )
            .collect()
    };
    let body = poll_json(&app, "/api/v1/elections", LIMIT, |b| order(b).len() == 3).await;
    assert_eq!(order(&body), ["e1", "e2", "e3"], "{body}");

    // The leader resigns: the next in line leads, live.
    let mut ws = app.ws().await;
    ws.send_json(json!({"type":"subscribe","topics":["elections"]})).await;
    ws.wait_for(LIMIT, |m| m["type"] == "snapshot" && m["topic"] == "elections")
        .await;
    e1.send("release").await;
    e2.event("elected", LIMIT).await;
    let value = patched(&mut ws, "elections", name, |e| e["leader"]["value"] == "e2").await;
    assert_eq!(value["candidates"][0]["value"], "e3", "{value}");

    // The leader killed: it leads until its lease expires, then e3 does.
    e2.kill().await;
    e3.event("elected", LIMIT).await;
    let body = poll_json(&app, "/api/v1/elections", LIMIT, |b| order(b) == ["e3"]).await;
    assert_eq!(order(&body), ["e3"]);
    e3.send("stop").await;
    e3.event("stopped", LIMIT).await;
    e1.send("stop").await;
    app.shutdown().await;
}

/// The instances of `service` once `ready` holds for the list.
async fn instances(app: &TestApp, service: &str, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let path = format!("/api/v1/services/{}", service.replace('$', "%24").replace('/', "%2F"));
    let list = |body: &Value| body["instances"].as_array().cloned().unwrap_or_default();
    let body = poll_json(app, &path, LIMIT, |body| ready(&list(body))).await;
    list(&body)
}

fn with<'a>(list: &'a [Value], field: &str, value: &str) -> Option<&'a Value> {
    list.iter().find(|i| i["metadata"][field] == value)
}

#[tokio::test]
async fn moleculer_nodes_are_instances_of_their_services_and_live_by_their_heartbeat() {
    let etcd = start_etcd().await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let node = |id: &'static str, service: &'static str, version: &'static str| {
        Peer::start(
            &etcd,
            "moleculer_node.js",
            &[
                ("MEMBER", id),
                ("NODE_ID", id),
                ("SERVICE", service),
                ("SVC_VERSION", version),
                ("HEARTBEAT_INTERVAL", "1"),
                ("HEARTBEAT_TIMEOUT", TTL),
            ],
        )
    };
    let mut a = node("node-a", "greeter", "2");
    let joined = a.event("joined", LIMIT).await;
    let mut b = node("node-b", "math", "");
    b.event("joined", LIMIT).await;

    // Each service by Moleculer's name for it, the node its instance, whose
    // TTL is the heartbeat's (the INFO key's own lease is 60 s).
    let greeter = instances(&app, "v2.greeter", |list| {
        with(list, "node", "node-a").is_some_and(|i| i["granted_ttl"] == 4)
    })
    .await;
    let instance = with(&greeter, "node", "node-a").cloned().unwrap_or_default();
    assert_eq!(instance["layout"], "moleculer", "{instance}");
    assert_eq!(instance["version"], "2", "{instance}");
    assert_eq!(instance["key"], joined["info"], "{instance}");
    // The heartbeat key ends in the node's INFO sequence number, which
    // Moleculer raises whenever the node's info changes (it may have since
    // "joined"): the key is the node's and its instance's, any sequence.
    let beat = joined["beat"].as_str().unwrap_or_default();
    let beats = beat.rsplit_once('/').map_or(beat, |(node, _)| node);
    let heartbeat = instance["metadata"]["heartbeat"].as_str().unwrap_or_default();
    let seq = heartbeat.strip_prefix(beats).and_then(|s| s.strip_prefix('/'));
    assert!(
        !beats.is_empty() && seq.is_some_and(|s| s.parse::<u64>().is_ok()),
        "{instance} {joined}"
    );
    assert_eq!(instance["metadata"]["actions"], "v2.greeter.hello", "{instance}");
    assert!(instance.get("declared").is_none(), "{instance}");
    let nodes = instances(&app, "$node", |list| list.len() == 2).await;
    assert!(with(&nodes, "node", "node-b").is_some(), "{nodes:?}");
    instances(&app, "math", |list| list.len() == 1).await;
    // Heartbeats are never services of their own.
    let (_, services) = app.get("/api/v1/services").await;
    let names: Vec<&str> = services["services"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["$node", "math", "v2.greeter"], "{services}");

    // A clean stop deregisters the node's services now.
    a.send("stop").await;
    a.event("stopped", LIMIT).await;
    poll_json(&app, "/api/v1/services", LIMIT, |body| {
        body["services"]
            .as_array()
            .is_some_and(|all| all.iter().all(|s| s["name"] != "v2.greeter"))
    })
    .await;
    instances(&app, "$node", |list| list.len() == 1).await;

    // A killed node: its heartbeat expires with its lease, and its
    // instances say the node is gone while the INFO key waits for its 60 s.
    let mut ws = app.ws().await;
    ws.send_json(json!({"type":"subscribe","topics":["service:math"]}))
        .await;
    ws.wait_for(LIMIT, |m| m["type"] == "snapshot" && m["topic"] == "service:math")
        .await;
    b.kill().await;
    let info = "moleculer/discovery/info/node-b";
    let value = patched(&mut ws, "service:math", info, |i| i.get("declared").is_some()).await;
    assert_eq!(value["declared"], "no heartbeat (other nodes drop it)", "{value}");
    assert!(value["metadata"].get("heartbeat").is_none(), "{value}");
    app.shutdown().await;
}

#[tokio::test]
async fn tooz_group_members_are_instances_of_their_group() {
    let etcd = start_etcd().await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let member = |id: &'static str, caps: &'static str| {
        Peer::start(
            &etcd,
            "tooz_peer.py",
            &[
                ("MEMBER", id),
                ("GROUP", "workers"),
                ("CAPS", caps),
                ("MEMBERSHIP_TIMEOUT", TTL),
            ],
        )
    };
    let mut m1 = member("m1", r#"{"host":"10.0.0.1","port":8001,"zone":"a"}"#);
    m1.event("joined", LIMIT).await;
    let mut m2 = member("m2", r#"{"host":"10.0.0.2","port":8002}"#);
    m2.event("joined", LIMIT).await;
    let mut m3 = member("m3", r#"{"host":"10.0.0.3","port":8003}"#);
    let joined = m3.event("joined", LIMIT).await;

    let list = instances(&app, "workers", |list| list.len() == 3).await;
    let first = with(&list, "member", "m1").cloned().unwrap_or_default();
    assert_eq!(first["layout"], "tooz", "{first}");
    assert_eq!(first["address"], "10.0.0.1:8001", "{first}");
    assert_eq!(first["metadata"]["zone"], "a", "{first}");
    assert!(first.get("error").is_none(), "{first}");
    let third = with(&list, "member", "m3").cloned().unwrap_or_default();
    let lease = joined["lease"].as_str().unwrap_or_default();
    assert_eq!(third["lease"], lease, "the coordinator's membership lease: {third}");

    // Leaving deregisters now; a killed member goes with its lease.
    m1.send("release").await;
    m1.event("released", LIMIT).await;
    instances(&app, "workers", |list| {
        list.len() == 2 && with(list, "member", "m1").is_none()
    })
    .await;
    m2.kill().await;
    let list = instances(&app, "workers", |list| list.len() == 1).await;
    assert!(with(&list, "member", "m3").is_some(), "{list:?}");
    for peer in [&mut m1, &mut m3] {
        peer.send("stop").await;
        peer.event("stopped", LIMIT).await;
    }
    app.shutdown().await;
}

#[tokio::test]
async fn patroni_members_show_their_leader_lag_and_state_and_the_leader_hands_over() {
    let etcd = start_etcd().await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let node = |name: &'static str, role: &'static str, port: &'static str| {
        Peer::start(
            &etcd,
            "patroni_dcs.py",
            &[
                ("MEMBER", name),
                ("NAME", name),
                ("ROLE", role),
                ("PG_PORT", port),
                ("TTL", TTL),
                ("LOOP_WAIT", "1"),
                ("RETRY_TIMEOUT", "2"),
            ],
        )
    };
    let mut pg1 = node("pg1", "leader", "5433");
    let elected = pg1.event("elected", LIMIT).await;
    let mut pg2 = node("pg2", "replica", "5434");
    pg2.event("joined", LIMIT).await;

    let name = "/service/demo/leader";
    let election = |body: &Value| {
        body["elections"]
            .as_array()
            .and_then(|all| all.iter().find(|e| e["name"] == name))
            .cloned()
            .unwrap_or_default()
    };
    let body = poll_json(&app, "/api/v1/elections", LIMIT, |b| {
        election(b)["leader"]["value"] == "pg1"
    })
    .await;
    let shown = election(&body);
    assert_eq!(shown["holder_only"], "patroni", "{shown}");
    assert_eq!(shown["leader"]["lease"], elected["lease"], "{shown}");
    assert_eq!(
        shown["candidates"],
        json!([]),
        "replicas write no candidate key: {shown}"
    );

    let list = instances(&app, "demo", |list| {
        list.len() == 2 && with(list, "member", "pg2").is_some_and(|i| i["metadata"]["lag"].is_string())
    })
    .await;
    let leader = with(&list, "member", "pg1").cloned().unwrap_or_default();
    assert_eq!(leader["layout"], "patroni", "{leader}");
    assert_eq!(leader["address"], "127.0.0.1:5433", "{leader}");
    assert_eq!(leader["metadata"]["leader"], "true", "{leader}");
    assert_eq!(leader["metadata"]["role"], "primary", "{leader}");
    let replica = with(&list, "member", "pg2").cloned().unwrap_or_default();
    let lag = replica["metadata"]["lag"].as_str().unwrap_or_default();
    assert!(lag.parse::<u64>().is_ok(), "lag in bytes: {replica}");
    assert!(replica["metadata"].get("leader").is_none(), "{replica}");

    // A clean shutdown of the leader: the replica takes the key (seen live),
    // and the stopped member says so until its lease ends.
    let mut ws = app.ws().await;
    ws.send_json(json!({"type":"subscribe","topics":["elections"]})).await;
    ws.wait_for(LIMIT, |m| m["type"] == "snapshot" && m["topic"] == "elections")
        .await;
    let mut members = app.ws().await;
    members
        .send_json(json!({"type":"subscribe","topics":["service:demo"]}))
        .await;
    members
        .wait_for(LIMIT, |m| m["type"] == "snapshot" && m["topic"] == "service:demo")
        .await;
    pg1.send("stop").await;
    pg1.event("stopped", LIMIT).await;
    pg2.event("elected", LIMIT).await;
    let value = patched(&mut ws, "elections", name, |e| e["leader"]["value"] == "pg2").await;
    assert_eq!(value["holder_only"], "patroni", "{value}");
    let stopped = patched(&mut members, "service:demo", "/service/demo/members/pg1", |i| {
        i.get("declared").is_some()
    })
    .await;
    assert_eq!(stopped["declared"], "not running (state=stopped)", "{stopped}");
    instances(&app, "demo", |list| {
        with(list, "member", "pg2").is_some_and(|i| i["metadata"]["leader"] == "true")
    })
    .await;

    // The new leader killed: its key ends with its lease, and nobody leads.
    pg2.kill().await;
    poll_json(&app, "/api/v1/elections", LIMIT, |b| election(b).is_null()).await;
    app.shutdown().await;
}
