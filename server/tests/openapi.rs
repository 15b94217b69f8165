//! The API holds to its document. Against a real etcd with the demo writing
//! to it: `GET /api/v1/openapi.json` is an OpenAPI 3.1 document in which
//! every route answers; the WebSocket's messages (what a live server sends,
//! and every example of docs/websocket.md) match its `ServerMsg` and
//! `ClientMsg` and the topics' schemas; and schemathesis, the OpenAPI
//! fuzzer (peers/requirements.txt, installed by `make setup`), finds no
//! answer that contradicts the document and no 5xx, with `--auth none` and
//! with `--auth users`.
//!
//! The fuzzing is bounded here (`LEASEHOLD_SCHEMATHESIS_EXAMPLES` cases per
//! operation, 25 unless set) and seeded alike every run; `make soak` runs it
//! longer, from a new seed each time (printed, for a replay).

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::{config, spawn_app_with, start_etcd, EtcdProcess, Received, TestApp};
use serde_json::{json, Value};
use server::auth::{hash_password, AuthMode, Users};
use server::config::{DemoConfig, EtcdConfig};
use tokio::sync::oneshot;

const LIMIT: Duration = Duration::from_secs(30);

/// The Python test peers' virtual environment.
fn venv_bin(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../peers/.venv/bin")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: `make setup` installs the test peers (peers/requirements.txt)",
        path.display()
    );
    path
}

fn repository(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The demo at a lively pace: every layout, locks changing hands, an
/// election, configuration keys.
fn start_demo(etcd: &EtcdProcess) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    let demo = DemoConfig {
        etcd: EtcdConfig::new(vec![etcd.endpoint()]),
        services: 12,
        churn_per_minute: 120.0,
        ttl: Duration::from_secs(5),
        lock_hold: Duration::from_millis(500),
        leader_term: Duration::from_secs(2),
        // The real clients too, so their instances are checked against the schema.
        clients: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../peers")),
    };
    tokio::spawn(server::demo::run_until(demo, async move {
        let _ = stopped.await;
    }));
    stop
}

/// Waits until the demo's services are in the model.
async fn wait_for_services(app: &TestApp) -> Vec<String> {
    let body = common::poll_json(app, "/api/v1/services", LIMIT, |body| {
        body["services"].as_array().is_some_and(|s| s.len() >= 6)
    })
    .await;
    body["services"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str().map(str::to_owned))
        .collect()
}

async fn document(app: &TestApp, cookie: Option<&str>) -> Value {
    let mut request = app.http.get(app.url("/api/v1/openapi.json"));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let (status, body) = TestApp::answer(request).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Runs `peers/check_messages.py` on the document and the message files.
fn check_messages(document: &Value, files: &[PathBuf]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, document.to_string()).expect("write the document");
    let output = std::process::Command::new(venv_bin("python"))
        .arg(repository("peers/check_messages.py"))
        .arg(&path)
        .args(files)
        .output()
        .expect("python runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn the_document_names_every_route_and_the_websocket_speaks_it() {
    let etcd = start_etcd().await;
    let app = spawn_app_with(config(etcd.endpoint())).await;
    app.wait_for_health(200, LIMIT).await;
    let _demo = start_demo(&etcd);
    let services = wait_for_services(&app).await;
    let doc = document(&app, None).await;

    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    for (path, methods) in [
        ("/api/v1/health", &["get"][..]),
        ("/api/v1/services/{name}", &["get"]),
        ("/api/v1/leases/{id}", &["get", "delete"]),
        ("/api/v1/locks/{name}/break", &["post"]),
        ("/api/v1/kv/{key}", &["get", "put", "delete"]),
        ("/api/v1/ws", &["get"]),
        ("/api/v1/openapi.json", &["get"]),
        ("/metrics", &["get"]),
    ] {
        for method in methods {
            assert!(
                paths[path][method].is_object(),
                "{method} {path} is not in the document"
            );
        }
    }
    assert!(
        doc["components"]["securitySchemes"].is_null(),
        "no login under --auth none"
    );

    // Every operation of the document is a route: none falls through to the
    // API's "no route" answer or to "method not allowed".
    let mut operations = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            operations += 1;
            assert!(operation["responses"].is_object(), "{method} {path} without responses");
            let concrete = path
                .replace("{name}", "nobody")
                .replace("{id}", "1")
                .replace("{key}", "%2Fnothing");
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let response = app
                .http
                .request(method.clone(), app.url(&concrete))
                .header("origin", format!("http://{}", app.addr))
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            assert!(
                status != 405 && !body.contains("no API route"),
                "{method} {concrete} is documented but not routed: {status} {body}"
            );
        }
    }
    assert!(operations >= 20, "{operations} operations");

    // A live socket on every kind of topic: what it sends matches the document.
    let mut ws = app.ws().await;
    let service = services.first().expect("a service").clone();
    let topics = json!([
        "cluster",
        "ops",
        "metrics",
        format!("metrics:{service}"),
        "storm",
        "services",
        format!("service:{service}"),
        "leases",
        "locks",
        "elections",
        "events",
        format!("kv:{}", server::demo::SETTINGS_PREFIX),
        "kv-dir:/",
    ]);
    let mut sent = vec![
        json!({"type":"subscribe","topics":topics}),
        json!({"type":"ping"}),
        json!({"type":"unsubscribe","topics":["events"]}),
    ];
    let mut received = Vec::new();
    for message in &sent {
        ws.send_json(message.clone()).await;
    }
    // One the document refuses (no such topic), for the error it gets back.
    ws.send_json(json!({"type":"subscribe","topics":["nothing-of-the-kind"]}))
        .await;
    let mut kinds = std::collections::BTreeSet::new();
    // Long enough for the history's next bucket (every 10 s) to be appended.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(11);
    while tokio::time::Instant::now() < deadline || received.len() < 20 {
        match ws.next(LIMIT).await {
            Received::Json(message) => {
                let kind = message["type"].as_str().unwrap_or_default().to_owned();
                if kind == "patch" {
                    for op in message["ops"].as_array().into_iter().flatten() {
                        kinds.insert(format!(
                            "{}:{}",
                            message["topic"].as_str().unwrap_or_default(),
                            op["op"]
                        ));
                    }
                }
                kinds.insert(kind);
                received.push(message);
            }
            Received::Closed(code) => panic!("the socket closed ({code:?})"),
        }
    }
    for kind in ["snapshot", "patch", "pong", "error", "metrics:\"append\""] {
        assert!(kinds.contains(kind), "no {kind} message among {kinds:?}");
    }
    sent.append(&mut received);
    let dir = tempfile::tempdir().expect("temp dir");
    let messages = dir.path().join("messages.jsonl");
    let lines: Vec<String> = sent.iter().map(Value::to_string).collect();
    std::fs::write(&messages, lines.join("\n")).expect("write messages");
    let (ok, report) = check_messages(&doc, &[messages]);
    assert!(ok, "live WebSocket messages contradict the document:\n{report}");

    // The examples of docs/websocket.md, too.
    let examples = dir.path().join("websocket-examples.json");
    let text = std::fs::read_to_string(repository("docs/websocket.md")).expect("docs/websocket.md");
    let blocks: Vec<&str> = text
        .split("```json\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .collect();
    assert!(blocks.len() >= 5, "{} examples", blocks.len());
    std::fs::write(&examples, blocks.join("\n")).expect("write examples");
    let (ok, report) = check_messages(&doc, &[examples]);
    assert!(ok, "docs/websocket.md's examples contradict the document:\n{report}");
    app.shutdown().await;
}

/// The seed of `make test`'s runs (`LEASEHOLD_SCHEMATHESIS_SEED` to choose
/// another, `random` for a new one each run).
const DEFAULT_SEED: &str = "20261202";

/// How many cases schemathesis makes per operation.
fn examples() -> String {
    std::env::var("LEASEHOLD_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "25".to_owned())
}

/// Runs schemathesis on `app`'s document, signed in with the session
/// `cookie` if given (the document's `session` scheme) and leaving out the
/// operations matching `exclude`; panics with its report when it finds
/// anything.
fn schemathesis(app: &TestApp, session: Option<&str>, exclude: Option<&str>) {
    let report = tempfile::tempdir().expect("temp dir");
    let mut config = std::fs::read_to_string(repository("peers/schemathesis.toml")).expect("peers/schemathesis.toml");
    if let Some(token) = session {
        config.push_str(&format!("\n[auth.openapi.session]\napi_key = \"{token}\"\n"));
    }
    let config_file = report.path().join("schemathesis.toml");
    std::fs::write(&config_file, config).expect("write the configuration");
    let mut command = std::process::Command::new(venv_bin("schemathesis"));
    command
        .arg("--config-file")
        .arg(&config_file)
        .arg("--no-color")
        .arg("run")
        .arg(app.url("/api/v1/openapi.json"))
        .args(["--checks", "all"])
        .args(["--max-examples", &examples()])
        .args(["--workers", "1"])
        .args(["--request-timeout", "20"])
        .args(["--suppress-health-check", "all"])
        .args(["--report", "json"])
        .arg("--report-dir")
        .arg(report.path())
        // Same-origin requests, as the dashboard's own page makes them.
        .args(["-H", &format!("Origin: http://{}", app.addr)])
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    // A fixed seed by default, so that `make test` fuzzes the same cases
    // each run; `random` (as `make soak` does) lets each run find new ones.
    let seed = std::env::var("LEASEHOLD_SCHEMATHESIS_SEED").unwrap_or_else(|_| DEFAULT_SEED.to_owned());
    if seed != "random" {
        command.args(["--seed", &seed]);
    }
    if let Some(pattern) = exclude {
        command.args(["--exclude-path-regex", pattern]);
    }
    let output = command.output().expect("schemathesis runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{text}");
    // The run's JSON report tells what the server answered wrong (failures)
    // from what went wrong in the run (errors). A failure fails the test; so
    // does an error on the way to the server (a refused or dropped
    // connection, a timeout). An error inside the fuzzer itself (hypothesis
    // giving up on one operation's data) is reported and tolerated: it says
    // nothing of the server.
    let report = std::fs::read_dir(report.path())
        .expect("the report directory")
        .filter_map(Result::ok)
        .find(|entry| entry.file_name().to_string_lossy().ends_with(".json"))
        .and_then(|entry| std::fs::read_to_string(entry.path()).ok())
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .unwrap_or_else(|| panic!("schemathesis wrote no JSON report:\n{text}"));
    let failures = report["failures"].as_array().cloned().unwrap_or_default();
    assert!(
        failures.is_empty(),
        "schemathesis found answers that contradict the document:\n{text}"
    );
    let errors = report["errors"].as_array().cloned().unwrap_or_default();
    let transport = ["Connection", "connection", "timed out", "Timeout", "RemoteDisconnected"];
    for error in &errors {
        let error = error.to_string();
        assert!(
            !transport.iter().any(|word| error.contains(word)),
            "schemathesis could not talk to the server: {error}\n{text}"
        );
        eprintln!(
            "tolerated, inside the fuzzer: {}",
            error.chars().take(400).collect::<String>()
        );
    }
    let tested = report["test_cases"]["generated"].as_u64().unwrap_or(0);
    assert!(tested >= 100, "only {tested} test cases ran:\n{text}");
    assert_eq!(
        report["operations"]["tested"], report["operations"]["selected"],
        "{text}"
    );
}

#[tokio::test]
async fn schemathesis_finds_nothing_against_the_demo() {
    let etcd = start_etcd().await;
    let app = spawn_app_with(config(etcd.endpoint())).await;
    app.wait_for_health(200, LIMIT).await;
    let _demo = start_demo(&etcd);
    wait_for_services(&app).await;
    let app = Arc::new(app);
    let runner = app.clone();
    tokio::task::spawn_blocking(move || schemathesis(&runner, None, None))
        .await
        .expect("schemathesis task");
    // Still answering, still synced.
    app.wait_for_health(200, LIMIT).await;
}

#[tokio::test]
async fn schemathesis_finds_nothing_with_auth_users() {
    let etcd = start_etcd().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let hash = hash_password("fuzz-operator-password").expect("hash");
    let users_file = dir.path().join("users.toml");
    std::fs::write(
        &users_file,
        format!("[[users]]\nname = \"otto\"\nrole = \"operator\"\npassword_hash = \"{hash}\"\n"),
    )
    .expect("users file");
    let mut config = config(etcd.endpoint());
    config.auth = AuthMode::Users(Arc::new(Users::load(&users_file).expect("users")));
    let app = spawn_app_with(config).await;
    app.wait_for_health(200, LIMIT).await;
    let _demo = start_demo(&etcd);

    let response = app
        .http
        .post(app.url("/api/v1/login"))
        .header("origin", format!("http://{}", app.addr))
        .json(&json!({"username":"otto","password":"fuzz-operator-password"}))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status().as_u16(), 200);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let token = cookie.split_once('=').map(|(_, t)| t.to_owned()).expect("name=token");
    let doc = document(&app, None).await;
    assert!(
        doc["components"]["securitySchemes"]["session"].is_object(),
        "the session cookie is a security scheme: {}",
        doc["components"]
    );
    assert!(doc["paths"]["/api/v1/services"]["get"]["security"].is_array());
    assert!(doc["paths"]["/api/v1/health"]["get"]["security"].is_null());
    let (status, _) = TestApp::answer(app.http.get(app.url("/api/v1/services")).header("cookie", &cookie)).await;
    assert_eq!(status, 200);
    let app = Arc::new(app);
    let runner = app.clone();
    // Logging out would end the session the run signs its requests with.
    tokio::task::spawn_blocking(move || schemathesis(&runner, Some(&token), Some("/logout$")))
        .await
        .expect("schemathesis task");
    app.wait_for_health(200, LIMIT).await;
}
