//! Helpers shared by the integration tests: a real etcd child process and the
//! server running in-process on port 0 against it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
pub use server::config::Config;
use server::config::EtcdConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use server::dev::EtcdProcess;

pub mod etcd_cluster;

/// Starts a fresh single-member etcd (Debian's `etcd`, or `$LEASEHOLD_ETCD_BIN`).
pub async fn start_etcd() -> EtcdProcess {
    let binary = std::env::var("LEASEHOLD_ETCD_BIN").unwrap_or_else(|_| "etcd".to_owned());
    EtcdProcess::start(binary).await.expect("etcd starts")
}

pub async fn etcd_client(etcd: &EtcdProcess) -> etcd_client::Client {
    etcd_client::Client::connect([etcd.endpoint()], None)
        .await
        .expect("etcd client")
}

/// etcd's revision now, from the header of a read.
pub async fn etcd_revision(client: &mut etcd_client::Client) -> i64 {
    client
        .get("/", None)
        .await
        .expect("get")
        .header()
        .expect("header")
        .revision()
}

/// Puts every `(key, value)`, a hundred to a transaction (etcd's limit is
/// 128 operations); returns the revision of the last.
pub async fn put_all(client: &mut etcd_client::Client, entries: impl IntoIterator<Item = (String, String)>) -> i64 {
    let entries: Vec<(String, String)> = entries.into_iter().collect();
    let mut revision = 0;
    for chunk in entries.chunks(100) {
        let ops: Vec<etcd_client::TxnOp> = chunk
            .iter()
            .map(|(key, value)| etcd_client::TxnOp::put(key.as_str(), value.as_str(), None))
            .collect();
        let response = client.txn(etcd_client::Txn::new().and_then(ops)).await.expect("txn");
        revision = response.header().expect("header").revision();
    }
    revision
}

/// The server, running in this test's runtime; stopped on drop.
pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), server::Error>>>,
}

/// The configuration tests run with: fast polls, the whole keyspace.
pub fn config(endpoint: String) -> Config {
    Config {
        etcd: EtcdConfig::new(vec![endpoint]),
        prefixes: Vec::new(),
        service_patterns: Vec::new(),
        site: server::site::Site::chosen(None),
        cluster_poll: Duration::from_millis(500),
        lease_sample_rate: 50.0,
        lease_poll: Duration::from_millis(500),
        event_history: 10_000,
        history: server::registry::HistoryConfig::default(),
        metrics_services: 20,
        read_only: false,
        audit_log: None,
        auth: server::auth::AuthMode::None,
        session_ttl: Duration::from_secs(3600),
        tls: None,
        allowed_hosts: Vec::new(),
        trusted_proxies: Vec::new(),
    }
}

pub async fn spawn_app(etcd: &EtcdProcess) -> TestApp {
    spawn_app_with(config(etcd.endpoint())).await
}

pub async fn spawn_app_with(config: Config) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(server::run(config, listener, async move {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        http: reqwest::Client::new(),
        stop: Some(stop),
        handle: Some(handle),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        Self::answer(self.http.get(self.url(path))).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        Self::answer(self.http.delete(self.url(path))).await
    }

    /// A PUT with a JSON body.
    pub async fn put_json(&self, path: &str, body: &Value) -> (u16, Value) {
        Self::answer(self.http.put(self.url(path)).json(body)).await
    }

    /// `/metrics`, the whole text.
    pub async fn metrics_text(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("text")
    }

    /// One gauge or counter (without labels) from `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.metrics_text().await;
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} not in {text}"))
    }

    pub async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.expect("JSON body");
        (status, body)
    }

    /// Polls `/api/v1/health` until it answers `status`, or panics after `limit`.
    pub async fn wait_for_health(&self, status: u16, limit: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Ok(response) = self.http.get(self.url("/api/v1/health")).send().await {
                let code = response.status().as_u16();
                if let Ok(body) = response.json::<Value>().await {
                    if code == status {
                        return body;
                    }
                    if tokio::time::Instant::now() >= deadline {
                        panic!("health still {code} after {limit:?}: {body}");
                    }
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "health never answered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the model has reached etcd revision `revision`.
    pub async fn wait_for_revision(&self, revision: i64, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let (_, body) = self.get("/api/v1/health").await;
            if body["revision"].as_i64().unwrap_or(0) >= revision {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "revision {revision} not reached: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn ws(&self) -> WsClient {
        let (stream, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", self.addr))
            .await
            .expect("websocket connects");
        WsClient { stream }
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("server task").expect("server ran cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A WebSocket client; over plain TCP unless the test brings its own stream.
pub struct WsClient<S = MaybeTlsStream<TcpStream>> {
    pub stream: WebSocketStream<S>,
}

/// What `WsClient::next` saw.
#[derive(Debug)]
pub enum Received {
    Json(Value),
    Closed(Option<u16>),
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> WsClient<S> {
    pub async fn send_json(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::Text(text.to_owned().into()))
            .await
            .expect("send");
    }

    /// The next JSON message or the close, within `limit`.
    pub async fn next(&mut self, limit: Duration) -> Received {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let message = tokio::time::timeout(left, self.stream.next())
                .await
                .unwrap_or_else(|_| panic!("nothing received within {limit:?}"));
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Received::Json(serde_json::from_str(text.as_str()).expect("JSON message"));
                }
                Some(Ok(Message::Close(frame))) => return Received::Closed(frame.map(|f| u16::from(f.code))),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Received::Closed(None),
            }
        }
    }

    /// Reads messages until one satisfies `matches`; panics after `limit`.
    pub async fn wait_for(&mut self, limit: Duration, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(!left.is_zero(), "no matching message within {limit:?}; saw {seen:?}");
            match tokio::time::timeout(left, self.next(left)).await {
                Ok(Received::Json(value)) if matches(&value) => return value,
                Ok(Received::Json(value)) => seen.push(value),
                Ok(Received::Closed(code)) => panic!("socket closed ({code:?}); saw {seen:?}"),
                Err(_) => panic!("no matching message within {limit:?}; saw {seen:?}"),
            }
        }
    }
}

/// A real `etcdctl` peer (Debian's etcd-client), killed on drop.
pub struct Etcdctl {
    pub child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Etcdctl {
    /// Starts `etcdctl --endpoints <etcd> <args...>`.
    pub fn spawn(etcd: &EtcdProcess, args: &[&str]) -> Etcdctl {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new("etcdctl")
            .arg("--endpoints")
            .arg(etcd.endpoint())
            .args(args)
            .env("ETCDCTL_API", "3")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("etcdctl starts (is etcd-client installed?)");
        let stdout = child.stdout.take().expect("stdout");
        Etcdctl {
            child,
            lines: tokio::io::BufReader::new(stdout).lines(),
        }
    }

    /// The next line etcdctl prints, within `limit`.
    pub async fn line(&mut self, limit: Duration) -> String {
        tokio::time::timeout(limit, self.lines.next_line())
            .await
            .expect("etcdctl printed nothing in time")
            .expect("etcdctl output")
            .expect("etcdctl ended")
    }

    /// Ctrl-C: etcdctl releases what it holds and exits.
    pub async fn interrupt(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGINT);
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// Polls `path` until `ready` holds for its body, or panics after `limit`.
pub async fn poll_json(app: &TestApp, path: &str, limit: Duration, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let (_, body) = app.get(path).await;
        if ready(&body) {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "{path} never got there: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a [`Proxy`] does with the traffic between Leasehold and etcd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forwards both ways.
    Open,
    /// Drops every connection and refuses new ones: etcd is unreachable.
    Cut,
    /// Keeps connections but forwards nothing: a frozen etcd or a black-holed network.
    Frozen,
}

/// A TCP proxy in front of etcd, to cut or freeze the network path while
/// etcd itself keeps running (and can be written to and compacted directly).
pub struct Proxy {
    pub addr: SocketAddr,
    mode: std::sync::Arc<tokio::sync::watch::Sender<ProxyMode>>,
}

impl Proxy {
    pub async fn start(etcd: &EtcdProcess) -> Proxy {
        let upstream = etcd.endpoint().trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let (mode, _) = tokio::sync::watch::channel(ProxyMode::Open);
        let mode = std::sync::Arc::new(mode);
        let modes = mode.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut watch = modes.subscribe();
                if *watch.borrow() == ProxyMode::Cut {
                    continue;
                }
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    loop {
                        let current = *watch.borrow_and_update();
                        match current {
                            ProxyMode::Cut => return,
                            ProxyMode::Open => {
                                tokio::select! {
                                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => return,
                                    changed = watch.changed() => if changed.is_err() { return },
                                }
                            }
                            ProxyMode::Frozen => {
                                if watch.changed().await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        Proxy { addr, mode }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, mode: ProxyMode) {
        self.mode.send_replace(mode);
    }
}

/// The audit log's lines written so far, parsed.
pub fn audit_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("an audit line is JSON"))
        .collect()
}
