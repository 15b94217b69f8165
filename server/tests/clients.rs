//! The clients people run, for real, as peers of a real etcd
//! (server/src/registry/layouts/CLIENTS.md has what each writes; the peers
//! are peers/clients/, installed by `make setup`): python-etcd3's and
//! tooz's locks are holder-only locks whose hand-over is seen live, and
//! whose key-less leases show as orphans; the npm etcd3 client's election
//! is a queue of candidates in create-revision order, its leader's
//! resignation and death seen as they happen.

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

    // The holder killed: its key ends with its lease, and the last waiter holds.
    holder.kill().await;
    let last = waiter.event("acquired", LIMIT).await;
    let shown = lock(&app, key, |l| l["holder"]["lease"] == last["lease"]).await;
    assert_eq!(shown["waiters"], json!([]), "{shown}");

    // Released and failed attempts leave leases without a key behind.
    assert!(!orphans(&app).await.is_empty());
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
