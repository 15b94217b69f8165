//! `--auth users` against a real etcd: without a session every API route and
//! the WebSocket answer 401 (health and login excepted); a viewer's revoke is
//! 403, an operator's works; every attempt lands in the audit log and the
//! timeline under the user's name; logout ends the session and its sockets;
//! guessing is slowed, per client (behind a trusted proxy, per forwarded
//! client) and globally (a bounded number of password checks at once); a
//! session TTL beyond the clock is refused or cut, never a panic; health
//! tells a stranger no endpoint and no user name; and no password, hash or
//! session token reaches the log, from the real binary.
//!
//! Over the usual size: one test per case, each short, sharing this file's
//! helpers.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{audit_lines, config, etcd_client, spawn_app_with, start_etcd, Received, TestApp, WsClient};
use etcd_client::PutOptions;
use serde_json::{json, Value};
use server::auth::{hash_password, AuthMode, Users};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const LIMIT: Duration = Duration::from_secs(30);
const VIEWER_PASSWORD: &str = "viewer-Pa55word";
const OPERATOR_PASSWORD: &str = "operator-S3cret!";
const ETCD_PASSWORD: &str = "etcd-Secret-9";

fn users_file(dir: &std::path::Path) -> std::path::PathBuf {
    let viewer = hash_password(VIEWER_PASSWORD).expect("hash");
    let operator = hash_password(OPERATOR_PASSWORD).expect("hash");
    let text = format!(
        "[[users]]\nname = \"vera\"\nrole = \"viewer\"\npassword_hash = \"{viewer}\"\n\n\
         [[users]]\nname = \"otto\"\nrole = \"operator\"\npassword_hash = \"{operator}\"\n"
    );
    let path = dir.join("users.toml");
    std::fs::write(&path, text).expect("users file");
    path
}

/// A server with `--auth users` and an audit log in `dir`.
async fn app_with_users(endpoint: String, dir: &std::path::Path) -> TestApp {
    let users = Users::load(&users_file(dir)).expect("users load");
    let mut config = config(endpoint);
    config.auth = AuthMode::Users(Arc::new(users));
    config.audit_log = Some(dir.join("audit.log"));
    let app = spawn_app_with(config).await;
    app.wait_for_health(200, LIMIT).await;
    app
}

/// `(status, body, the session cookie to send back)` of a login.
async fn login(app: &TestApp, name: &str, password: &str) -> (u16, Value, Option<String>) {
    let response = app
        .http
        .post(app.url("/api/v1/login"))
        .json(&json!({"username": name, "password": password}))
        .send()
        .await
        .expect("login request");
    let status = response.status().as_u16();
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(set_cookie) = &set_cookie {
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
            assert!(set_cookie.contains(attribute), "{set_cookie} lacks {attribute}");
        }
        assert!(!set_cookie.contains("Secure"), "plain http: {set_cookie}");
    }
    let cookie = set_cookie.and_then(|c| c.split(';').next().map(str::to_owned));
    (status, response.json().await.expect("JSON body"), cookie)
}

async fn send(app: &TestApp, method: reqwest::Method, path: &str, cookie: Option<&str>) -> (u16, Value) {
    let mut request = app.http.request(method, app.url(path));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

async fn ws_with(app: &TestApp, cookie: Option<&str>) -> Result<WsClient, u16> {
    let mut request = format!("ws://{}/api/v1/ws", app.addr)
        .into_client_request()
        .expect("ws request");
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("cookie", HeaderValue::from_str(cookie).expect("cookie header"));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((stream, _)) => Ok(WsClient { stream }),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("websocket: {other}"),
    }
}

#[tokio::test]
async fn viewers_look_operators_revoke_and_strangers_get_nothing() {
    let etcd = start_etcd().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let app = app_with_users(etcd.endpoint(), dir.path()).await;
    let mut client = etcd_client(&etcd).await;
    let lease = client.lease_grant(60, None).await.expect("grant").id();
    client
        .put(
            "/microservices/orders/1",
            r#"{"id":"1","name":"orders","endpoints":["grpc://10.0.0.1:9000"]}"#,
            Some(PutOptions::new().with_lease(lease)),
        )
        .await
        .expect("put");
    let lease_path = format!("/api/v1/leases/{lease:x}");

    // No session: nothing but health and login.
    for path in ["/api/v1/services", "/api/v1/me", "/api/v1/leases", lease_path.as_str()] {
        let (status, body) = send(&app, reqwest::Method::GET, path, None).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("unauthenticated")),
            "{path}: {body}"
        );
    }
    assert_eq!(send(&app, reqwest::Method::GET, "/api/v1/health", None).await.0, 200);
    let (status, body) = send(&app, reqwest::Method::DELETE, &lease_path, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthenticated")),
        "{body}"
    );
    assert_eq!(ws_with(&app, None).await.err(), Some(401), "a socket without a session");
    let (status, _) = send(
        &app,
        reqwest::Method::GET,
        "/api/v1/me",
        Some("leasehold_session=forged"),
    )
    .await;
    assert_eq!(status, 401, "a made-up session");

    // Wrong passwords and unknown users get the same answer.
    let (status, wrong, cookie) = login(&app, "vera", "not-it").await;
    assert_eq!((status, cookie), (401, None), "{wrong}");
    let (status, unknown, _) = login(&app, "nobody", VIEWER_PASSWORD).await;
    assert_eq!(status, 401);
    assert_eq!(wrong, unknown, "a wrong password and an unknown user look alike");

    // A viewer reads but may not revoke.
    let (status, body, viewer) = login(&app, "vera", VIEWER_PASSWORD).await;
    assert_eq!((status, &body), (200, &json!({"user": "vera", "role": "viewer"})));
    let viewer = viewer.expect("a session cookie");
    let (status, me) = send(&app, reqwest::Method::GET, "/api/v1/me", Some(&viewer)).await;
    assert_eq!(status, 200);
    assert_eq!(
        (me["user"].as_str(), me["role"].as_str(), me["auth"].as_str()),
        (Some("vera"), Some("viewer"), Some("users"))
    );
    let (status, services) = send(&app, reqwest::Method::GET, "/api/v1/services", Some(&viewer)).await;
    assert_eq!(status, 200);
    assert_eq!(services["services"][0]["name"], "orders", "{services}");
    let mut viewer_socket = ws_with(&app, Some(&viewer)).await.expect("a viewer's socket");
    viewer_socket
        .send_json(json!({"type": "subscribe", "topics": ["services"]}))
        .await;
    viewer_socket.wait_for(LIMIT, |m| m["type"] == "snapshot").await;
    let (status, body) = send(&app, reqwest::Method::DELETE, &lease_path, Some(&viewer)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    assert_eq!(
        client
            .get("/microservices/orders/1", None)
            .await
            .expect("get")
            .kvs()
            .len(),
        1,
        "still there"
    );

    // An operator revokes.
    let (status, body, operator) = login(&app, "otto", OPERATOR_PASSWORD).await;
    assert_eq!((status, body["role"].as_str()), (200, Some("operator")));
    let operator = operator.expect("a session cookie");
    let (status, body) = send(&app, reqwest::Method::DELETE, &lease_path, Some(&operator)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deleted_keys"], 1);
    assert!(client
        .get("/microservices/orders/1", None)
        .await
        .expect("get")
        .kvs()
        .is_empty());

    // The audit log has all three attempts, by name.
    let lines = audit_lines(&dir.path().join("audit.log"));
    let summary: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["who"].as_str().unwrap_or("?"), l["result"].as_str().unwrap_or("?")))
        .collect();
    assert_eq!(
        summary,
        [("anonymous", "refused"), ("vera", "refused"), ("otto", "ok")],
        "{lines:?}"
    );
    assert_eq!(lines[2]["lease"], format!("{lease:x}"));
    assert_eq!(lines[2]["held"]["instances"], json!(["/microservices/orders/1"]));

    // The timeline shows the same attempts.
    let (_, events) = send(&app, reqwest::Method::GET, "/api/v1/events", Some(&operator)).await;
    let audited: Vec<(&str, &str)> = events["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "audit")
        .map(|e| {
            (
                e["detail"]["who"].as_str().unwrap_or("?"),
                e["detail"]["result"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(audited, summary, "{events}");

    // Logout: the cookie is dead, and so is the socket opened with it.
    let response = app
        .http
        .post(app.url("/api/v1/logout"))
        .header("cookie", &viewer)
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status().as_u16(), 200);
    let cleared = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let (status, _) = send(&app, reqwest::Method::GET, "/api/v1/me", Some(&viewer)).await;
    assert_eq!(status, 401, "logged out");
    let closed = loop {
        match viewer_socket.next(LIMIT).await {
            Received::Closed(code) => break code,
            Received::Json(_) => continue,
        }
    };
    assert_eq!(closed, Some(4401), "the socket of a logged-out session closes");
    let (status, _) = send(&app, reqwest::Method::GET, "/api/v1/me", Some(&operator)).await;
    assert_eq!(status, 200, "another session lives on");
    app.shutdown().await;
}

#[tokio::test]
async fn password_guessing_is_slowed_per_client() {
    let etcd = start_etcd().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let app = app_with_users(etcd.endpoint(), dir.path()).await;
    // The first attempts are free; the fourth sets a wait of several seconds.
    for attempt in 1..=4 {
        let (status, body, _) = login(&app, "otto", "guess").await;
        assert_eq!(status, 401, "attempt {attempt}: {body}");
    }
    // Even the right password waits: the guesser learns nothing meanwhile.
    let response = app
        .http
        .post(app.url("/api/v1/login"))
        .json(&json!({"username": "otto", "password": OPERATOR_PASSWORD}))
        .send()
        .await
        .expect("login request");
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!(retry_after >= 1, "{retry_after}");
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["error"]["code"], "too_many_requests", "{body}");

    // Malformed logins are 400, not a crash.
    let response = app
        .http
        .post(app.url("/api/v1/login"))
        .header("content-type", "application/json")
        .body("{\"username\":")
        .send()
        .await
        .expect("login request");
    assert_eq!(response.status().as_u16(), 400);
    app.shutdown().await;
}

/// Runs the real binary with debug logging, signs in right and wrong, with
/// the password also typed where the name goes, and reads everything it logged.
#[tokio::test]
async fn no_password_reaches_the_log() {
    use tokio::io::AsyncReadExt;

    let etcd = start_etcd().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let binary = env!("CARGO_BIN_EXE_leasehold");

    // `hash-password` reads stdin and prints the hash on its last line.
    let mut hasher = tokio::process::Command::new(binary)
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("hash-password runs");
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = hasher.stdin.take().expect("stdin");
        stdin
            .write_all(format!("{OPERATOR_PASSWORD}\n").as_bytes())
            .await
            .expect("write");
    }
    let output = hasher.wait_with_output().await.expect("hash-password ends");
    assert!(output.status.success());
    let hash = String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let users = dir.path().join("users.toml");
    std::fs::write(
        &users,
        format!("[[users]]\nname = \"otto\"\nrole = \"operator\"\npassword_hash = \"{hash}\"\n"),
    )
    .expect("users file");

    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe port");
        probe.local_addr().expect("addr").port()
    };
    let mut child = tokio::process::Command::new(binary)
        .args([
            "serve",
            "--etcd",
            &etcd.endpoint(),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--auth",
            "users",
        ])
        .arg("--users-file")
        .arg(&users)
        // etcd's own credentials too (this etcd has no auth: the login to it
        // fails and is retried, and its errors are logged).
        .args(["--etcd-user", "leasehold"])
        .env("LEASEHOLD_ETCD_PASSWORD", ETCD_PASSWORD)
        .env("RUST_LOG", "debug")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("leasehold serve runs");
    let mut stderr = child.stderr.take().expect("stderr");
    let log = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });

    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + LIMIT;
    while http.get(format!("{base}/api/v1/health")).send().await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "the server never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let attempts = [
        ("otto", "wrong-Password-1"),
        (OPERATOR_PASSWORD, OPERATOR_PASSWORD),
        ("otto", OPERATOR_PASSWORD),
    ];
    let mut statuses = Vec::new();
    let mut token = None;
    for (name, password) in attempts {
        let response = http
            .post(format!("{base}/api/v1/login"))
            .json(&json!({"username": name, "password": password}))
            .send()
            .await
            .expect("login");
        statuses.push(response.status().as_u16());
        if let Some(cookie) = response.headers().get("set-cookie").and_then(|v| v.to_str().ok()) {
            token = cookie
                .split(';')
                .next()
                .and_then(|c| c.split_once('='))
                .map(|(_, t)| t.to_owned());
        }
    }
    assert_eq!(statuses, [401, 401, 200]);

    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let _ = tokio::time::timeout(LIMIT, child.wait()).await;
    let log = log.await.expect("log reader");
    assert!(log.contains("signed in"), "the log is read: {log}");
    assert!(log.contains("login failed"), "{log}");
    assert!(log.contains("etcd login"), "the etcd login was tried: {log}");
    let token = token.expect("the session token");
    for secret in [
        OPERATOR_PASSWORD,
        "wrong-Password-1",
        hash.as_str(),
        ETCD_PASSWORD,
        token.as_str(),
    ] {
        assert!(!log.contains(secret), "{secret:?} appears in the log");
    }
}

/// `(status, error code, Retry-After)` of a login sent as if forwarded for `client`.
async fn login_for(app: &TestApp, client: &str, name: &str, password: &str) -> (u16, Option<String>, Option<u64>) {
    let response = app
        .http
        .post(app.url("/api/v1/login"))
        .header("x-forwarded-for", client)
        .json(&json!({"username": name, "password": password}))
        .send()
        .await
        .expect("login request");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body: Value = response.json().await.expect("JSON body");
    (status, body["error"]["code"].as_str().map(str::to_owned), retry_after)
}

/// A server with `--auth users`, an audit log in `dir`, and `trusted` as its
/// trusted proxies; not waited for.
async fn app_behind(endpoint: String, dir: &std::path::Path, trusted: &[&str]) -> TestApp {
    let mut config = config(endpoint);
    config.auth = AuthMode::Users(Arc::new(Users::load(&users_file(dir)).expect("users load")));
    config.audit_log = Some(dir.join("audit.log"));
    config.trusted_proxies = trusted.iter().map(|t| t.parse().expect("a network")).collect();
    let app = spawn_app_with(config).await;
    app.wait_for_health(200, LIMIT).await;
    app
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_brake() {
    let etcd = start_etcd().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let app = app_behind(etcd.endpoint(), dir.path(), &["127.0.0.0/8"]).await;

    // Four wrong guesses from one client behind the proxy: it waits...
    for attempt in 1..=4 {
        let (status, _, _) = login_for(&app, "203.0.113.7", "otto", "guess").await;
        assert_eq!(status, 401, "attempt {attempt}");
    }
    let (status, code, retry_after) = login_for(&app, "203.0.113.7", "otto", OPERATOR_PASSWORD).await;
    assert_eq!((status, code.as_deref()), (429, Some("too_many_requests")));
    assert!(retry_after.is_some_and(|s| s >= 1));
    // ...the proxy's other clients do not; a spoofed hop left of the proxy's
    // own does not help the guesser.
    let (status, _, _) = login_for(&app, "198.51.100.1, 203.0.113.7", "otto", OPERATOR_PASSWORD).await;
    assert_eq!(status, 429, "the rightmost untrusted hop is the client");
    let (status, _, _) = login_for(&app, "203.0.113.8", "otto", OPERATOR_PASSWORD).await;
    assert_eq!(status, 200, "another client signs in");

    // The forwarded client is who the audit log names.
    let response = app
        .http
        .delete(app.url("/api/v1/leases/1"))
        .header("x-forwarded-for", "198.51.100.4")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 401);
    let lines = audit_lines(&dir.path().join("audit.log"));
    assert_eq!(
        lines.last().map(|l| l["from"].clone()),
        Some(json!("198.51.100.4")),
        "{lines:?}"
    );
    app.shutdown().await;

    // Without a trusted proxy the header is anyone's to write: ignored.
    let dir = tempfile::tempdir().expect("temp dir");
    let app = app_behind(etcd.endpoint(), dir.path(), &[]).await;
    for attempt in 1..=4 {
        let (status, _, _) = login_for(&app, &format!("203.0.113.{attempt}"), "otto", "guess").await;
        assert_eq!(status, 401, "attempt {attempt}");
    }
    let (status, _, _) = login_for(&app, "203.0.113.99", "otto", OPERATOR_PASSWORD).await;
    assert_eq!(status, 429, "one client, whatever it says it forwards");
    app.shutdown().await;
}

#[tokio::test]
async fn password_checks_are_bounded_whatever_the_number_of_clients() {
    use futures::StreamExt;

    const CLIENTS: u32 = 40;
    let etcd = start_etcd().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let app = app_behind(etcd.endpoint(), dir.path(), &["127.0.0.1"]).await;

    // Each from its own address, so no per-client brake applies: only the
    // global bound on password checks running at once.
    let answers: Vec<(u16, Option<String>, Option<u64>)> = futures::stream::iter(0..CLIENTS)
        .map(|i| {
            let app = &app;
            async move { login_for(app, &format!("10.{}.{}.1", i / 250, i % 250), "otto", "guess").await }
        })
        .buffer_unordered(CLIENTS as usize)
        .collect()
        .await;
    let busy: Vec<&(u16, Option<String>, Option<u64>)> = answers.iter().filter(|a| a.0 == 503).collect();
    assert!(
        answers.iter().all(|a| a.0 == 401 || a.0 == 503),
        "only wrong passwords and busy answers: {answers:?}"
    );
    assert!(!busy.is_empty(), "{CLIENTS} checks at once were all run: {answers:?}");
    for answer in &busy {
        assert_eq!(answer.1.as_deref(), Some("busy"));
        assert!(answer.2.is_some_and(|s| s >= 1), "Retry-After: {answer:?}");
    }
    // Every check has ended: a right password is checked again, and a client
    // told "busy" was not counted as a guesser.
    let (status, _, _) = login_for(&app, "10.200.0.1", "otto", OPERATOR_PASSWORD).await;
    assert_eq!(status, 200);
    app.shutdown().await;
}

#[tokio::test]
async fn a_session_ttl_beyond_the_clock_is_refused_at_start_or_cut_never_a_panic() {
    let binary = env!("CARGO_BIN_EXE_leasehold");
    let output = tokio::process::Command::new(binary)
        .args(["serve", "--session-ttl", "99999999999999999999h"])
        .output()
        .await
        .expect("leasehold runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "a usage error, not a panic: {stderr}");
    assert!(stderr.contains("at most 400 days"), "{stderr}");

    // Given directly, it is cut to what a cookie can hold.
    let etcd = start_etcd().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = config(etcd.endpoint());
    config.auth = AuthMode::Users(Arc::new(Users::load(&users_file(dir.path())).expect("users load")));
    config.session_ttl = Duration::MAX;
    let app = spawn_app_with(config).await;
    app.wait_for_health(200, LIMIT).await;
    let response = app
        .http
        .post(app.url("/api/v1/login"))
        .json(&json!({"username": "otto", "password": OPERATOR_PASSWORD}))
        .send()
        .await
        .expect("login request");
    assert_eq!(response.status().as_u16(), 200);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a cookie")
        .to_owned();
    assert!(cookie.contains("Max-Age=34560000"), "400 days: {cookie}");
    let session = cookie.split(';').next().expect("name=value").to_owned();
    let (status, _) = send(&app, reqwest::Method::GET, "/api/v1/me", Some(&session)).await;
    assert_eq!(status, 200, "the session lives");
    app.shutdown().await;
}

#[tokio::test]
async fn health_names_endpoints_and_users_only_to_the_signed_in() {
    let etcd = start_etcd().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = config(etcd.endpoint());
    config.auth = AuthMode::Users(Arc::new(Users::load(&users_file(dir.path())).expect("users load")));
    // This etcd has no auth: the login to it fails, and says as whom.
    config.etcd.user = Some(server::config::EtcdUser {
        name: "leasehold-etcd-user".to_owned(),
        password: server::config::Secret::new(ETCD_PASSWORD.to_owned()),
    });
    let app = spawn_app_with(config).await;
    let (status, _, session) = {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            let answer = login(&app, "vera", VIEWER_PASSWORD).await;
            if answer.0 == 200 || tokio::time::Instant::now() >= deadline {
                break answer;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    assert_eq!(status, 200);
    let session = session.expect("a session");

    // Signed in: every detail, once the etcd login has failed.
    let deadline = tokio::time::Instant::now() + LIMIT;
    let full = loop {
        let (_, body) = send(&app, reqwest::Method::GET, "/api/v1/health", Some(&session)).await;
        if body.to_string().contains("leasehold-etcd-user") {
            break body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the etcd login never failed: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(full["etcd"]["endpoints"], json!([etcd.endpoint()]), "{full}");

    // Without a session: the same state, no endpoint, no name.
    let (_, anonymous) = send(&app, reqwest::Method::GET, "/api/v1/health", None).await;
    let text = anonymous.to_string();
    let address = etcd.endpoint().trim_start_matches("http://").to_owned();
    assert!(!text.contains("leasehold-etcd-user"), "{text}");
    assert!(!text.contains(&address), "{text}");
    assert_eq!(anonymous["etcd"]["endpoints"], json!([]), "{text}");
    let failed: Vec<&Value> = anonymous["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter(|t| t["error"].is_string())
        .collect();
    assert!(!failed.is_empty(), "a failure still shows as one: {text}");
    assert!(
        failed
            .iter()
            .all(|t| t["error"].as_str().is_some_and(|e| e.contains("sign in"))),
        "{text}"
    );
    app.shutdown().await;
}
