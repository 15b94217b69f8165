//! The WebSocket protocol against a real etcd: snapshots, patches, status,
//! what malformed input gets, and the limits a socket is held to (topics,
//! frames, unread errors, a stuck client's pending patches).
//!
//! Over the usual size: one test per case, each short, sharing this file's
//! helpers.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::time::Duration;

use common::{etcd_client, put_all, spawn_app, start_etcd, Received};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_cluster_subscription_gets_a_snapshot_at_etcds_revision_then_patches() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let put = client.put("/ws/probe", "1", None).await.expect("put");
    let revision = put.header().expect("header").revision();
    app.wait_for_revision(revision, LIMIT).await;

    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": ["cluster"]})).await;
    let snapshot = ws.wait_for(LIMIT, |m| m["type"] == "snapshot").await;
    assert_eq!(snapshot["topic"], "cluster");
    // Nothing was written since the put, so the snapshot is at etcd's revision.
    assert_eq!(snapshot["revision"], revision, "{snapshot}");
    assert_eq!(snapshot["data"]["revision"], revision, "{snapshot}");

    // Writes move the member's raft index: the poller sees it and the
    // subscriber gets an upsert of that member.
    let member_id = client
        .status()
        .await
        .expect("status")
        .header()
        .expect("header")
        .member_id();
    let before = snapshot["data"]["members"]
        .as_array()
        .and_then(|m| m.first())
        .and_then(|m| m["raft_index"].as_u64())
        .unwrap_or(0);
    for i in 0..5 {
        client.put(format!("/ws/k{i}"), "v", None).await.expect("put");
    }
    let id = format!("{member_id:x}");
    let patch = ws
        .wait_for(LIMIT, |m| {
            m["type"] == "patch"
                && m["topic"] == "cluster"
                && m["ops"].as_array().is_some_and(|ops| {
                    ops.iter().any(|op| {
                        op["op"] == "upsert"
                            && op["id"] == id.as_str()
                            && op["value"]["raft_index"].as_u64().unwrap_or(0) > before
                    })
                })
        })
        .await;
    assert!(patch["revision"].as_i64().unwrap_or(0) >= revision, "{patch}");
    app.shutdown().await;
}

#[tokio::test]
async fn status_messages_follow_the_revision() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;

    let mut ws = app.ws().await;
    let first = ws.wait_for(LIMIT, |m| m["type"] == "status").await;
    assert_eq!(first["etcd"], "connected", "{first}");
    let put = client.put("/ws/status", "1", None).await.expect("put");
    let revision = put.header().expect("header").revision();
    // No topic is subscribed, yet the status reports the new revision.
    let status = ws
        .wait_for(LIMIT, |m| {
            m["type"] == "status" && m["revision"].as_i64().unwrap_or(0) >= revision
        })
        .await;
    assert_eq!(status["etcd"], "connected");

    ws.send_json(json!({"type": "ping"})).await;
    let pong = ws.wait_for(LIMIT, |m| m["type"] == "pong").await;
    assert!(pong["revision"].as_i64().unwrap_or(0) >= revision, "{pong}");
    app.shutdown().await;
}

#[tokio::test]
async fn malformed_messages_get_errors_and_the_socket_stays_usable() {
    let etcd = start_etcd().await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let mut ws = app.ws().await;

    ws.send_text("this is not json").await;
    let error = ws.wait_for(LIMIT, |m| m["type"] == "error").await;
    assert_eq!(error["code"], "bad_request");

    ws.send_json(json!({"type": "subscribe", "topics": ["no-such-topic"]}))
        .await;
    let error = ws.wait_for(LIMIT, |m| m["type"] == "error").await;
    assert!(
        error["message"].as_str().is_some_and(|m| m.contains("no-such-topic")),
        "{error}"
    );

    ws.send_json(json!({"type": "dance"})).await;
    ws.wait_for(LIMIT, |m| m["type"] == "error").await;

    // Still usable: a valid subscription works.
    ws.send_json(json!({"type": "subscribe", "topics": ["cluster"]})).await;
    let snapshot = ws.wait_for(LIMIT, |m| m["type"] == "snapshot").await;
    assert_eq!(snapshot["topic"], "cluster");
    app.shutdown().await;
}

#[tokio::test]
async fn a_flood_of_malformed_messages_closes_the_socket_with_1008() {
    let etcd = start_etcd().await;
    let app = spawn_app(&etcd).await;
    let mut ws = app.ws().await;
    for _ in 0..50 {
        ws.send_text("{").await;
    }
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        match ws.next(LIMIT).await {
            Received::Closed(code) => {
                assert_eq!(code, Some(1008));
                break;
            }
            Received::Json(_) => assert!(tokio::time::Instant::now() < deadline, "never closed"),
        }
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_client_resuming_with_since_gets_what_it_missed_as_a_patch() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let instance = |name: &str| format!(r#"{{"id":"1","name":"{name}","endpoints":["grpc://10.0.0.1:80"]}}"#);
    client
        .put("/microservices/old/1", instance("old"), None)
        .await
        .expect("put");
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;

    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": ["services"]})).await;
    let snapshot = ws.wait_for(LIMIT, |m| m["type"] == "snapshot").await;
    let seen = snapshot["revision"].as_i64().expect("revision");
    drop(ws);

    // While the client is away: one service goes, another comes.
    client.delete("/microservices/old/1", None).await.expect("delete");
    let last = client
        .put("/microservices/new/1", instance("new"), None)
        .await
        .expect("put")
        .header()
        .expect("header")
        .revision();
    app.wait_for_revision(last, LIMIT).await;

    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": ["services", "cluster"], "since": seen}))
        .await;
    let mut services_patch = None;
    let mut cluster_snapshot = false;
    while services_patch.is_none() || !cluster_snapshot {
        let message = ws
            .wait_for(LIMIT, |m| m["type"] == "snapshot" || m["type"] == "patch")
            .await;
        match (message["type"].as_str(), message["topic"].as_str()) {
            (Some("patch"), Some("services")) => services_patch = Some(message),
            (Some("snapshot"), Some("services")) => panic!("resumed with a snapshot: {message}"),
            (Some("snapshot"), Some("cluster")) => cluster_snapshot = true,
            _ => {}
        }
    }
    let patch = services_patch.expect("patch");
    assert!(patch["revision"].as_i64() >= Some(last), "{patch}");
    let ops = patch["ops"].as_array().cloned().unwrap_or_default();
    assert!(
        ops.iter().any(|op| op["op"] == "remove" && op["id"] == "old"),
        "{patch}"
    );
    assert!(
        ops.iter().any(|op| op["op"] == "upsert" && op["id"] == "new"),
        "{patch}"
    );

    // A revision from before this server's first list cannot be resumed.
    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": ["services"], "since": 1}))
        .await;
    let answer = ws
        .wait_for(LIMIT, |m| m["type"] == "snapshot" || m["type"] == "patch")
        .await;
    assert_eq!(answer["type"], "snapshot", "{answer}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_large_service_snapshot_comes_in_parts_before_any_later_patch() {
    const INSTANCES: usize = 2_500;
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let instances = (0..INSTANCES).map(|i| {
        let value = format!(
            r#"{{"name":"big","id":"{i}","address":"10.0.{}.{}","port":80}}"#,
            i / 250,
            i % 250
        );
        (format!("/microservices/big/{i:05}"), value)
    });
    let revision = put_all(&mut client, instances).await;
    app.wait_for_revision(revision, LIMIT).await;

    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": ["service:big"]}))
        .await;
    let snapshot = ws.wait_for(LIMIT, |m| m["type"] == "snapshot").await;
    // A change made while the parts are on their way.
    let late = r#"{"name":"big","id":"late","address":"10.9.9.9","port":80}"#;
    client.put("/microservices/big/late", late, None).await.expect("put");

    assert_eq!(snapshot["more"], true, "{snapshot}");
    assert_eq!(snapshot["revision"], revision);
    let first = snapshot["data"]["instances"].as_array().map_or(0, Vec::len);
    assert!(first > 0 && first < INSTANCES, "the first part is a part: {first}");
    let mut ids: Vec<String> = snapshot["data"]["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["id"].as_str().map(str::to_owned))
        .collect();
    // Then patches at the snapshot's revision, each saying whether more follow.
    loop {
        let part = ws
            .wait_for(LIMIT, |m| m["type"] == "patch" && m["topic"] == "service:big")
            .await;
        assert_eq!(
            part["revision"], revision,
            "a later change came between the parts: {part}"
        );
        for op in part["ops"].as_array().into_iter().flatten() {
            assert_eq!(op["op"], "upsert", "{op}");
            ids.extend(op["id"].as_str().map(str::to_owned));
        }
        if part["more"] != true {
            break;
        }
    }
    let expected: Vec<String> = (0..INSTANCES).map(|i| format!("/microservices/big/{i:05}")).collect();
    assert_eq!(ids, expected, "every instance once, in key order");
    // The change comes after the whole snapshot.
    ws.wait_for(LIMIT, |m| {
        m["type"] == "patch"
            && m["ops"]
                .as_array()
                .is_some_and(|ops| ops.iter().any(|op| op["id"] == "/microservices/big/late"))
    })
    .await;
    app.shutdown().await;
}

/// The next data frame, as (was it binary, its JSON); a binary frame is gzip.
#[allow(clippy::expect_used)] // test code: a failure is the test's
async fn next_frame(
    socket: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> (bool, serde_json::Value) {
    use futures::StreamExt;
    use std::io::Read;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let message = tokio::time::timeout(LIMIT, socket.next())
            .await
            .expect("a message in time")
            .expect("socket open")
            .expect("a frame");
        match message {
            Message::Text(text) => return (false, serde_json::from_str(text.as_str()).expect("JSON")),
            Message::Binary(gz) => {
                let mut text = String::new();
                flate2::read::GzDecoder::new(&gz[..])
                    .read_to_string(&mut text)
                    .expect("a binary frame is gzip");
                return (true, serde_json::from_str(&text).expect("gzipped JSON"));
            }
            _ => continue,
        }
    }
}

#[tokio::test]
async fn large_messages_come_gzipped_to_a_client_that_asks_and_only_to_it() {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    const SERVICES: usize = 300;
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let services = (0..SERVICES).map(|i| {
        let value = format!(
            r#"{{"name":"gz-{i:03}","id":"1","address":"10.1.0.{}","port":80}}"#,
            i % 250
        );
        (format!("/microservices/gz-{i:03}/1"), value)
    });
    let revision = put_all(&mut client, services).await;
    app.wait_for_revision(revision, LIMIT).await;
    let subscribe = Message::Text(r#"{"type":"subscribe","topics":["services"]}"#.into());
    let names = |snapshot: &serde_json::Value| {
        snapshot["data"]["services"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["name"].as_str().is_some_and(|n| n.starts_with("gz-")))
            .count()
    };

    let (mut gzip, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws?compress=gzip", app.addr))
        .await
        .expect("connects");
    gzip.send(subscribe.clone()).await.expect("send");
    let (binary, snapshot) = loop {
        let (binary, message) = next_frame(&mut gzip).await;
        if message["type"] == "snapshot" {
            break (binary, message);
        }
    };
    assert!(
        binary,
        "a snapshot of {SERVICES} services is over the threshold: gzipped"
    );
    assert_eq!(names(&snapshot), SERVICES);
    // A small patch stays text.
    let value = r#"{"name":"gz-late","id":"1","address":"10.2.0.1","port":80}"#;
    client.put("/microservices/gz-late/1", value, None).await.expect("put");
    let (binary, patch) = loop {
        let (binary, message) = next_frame(&mut gzip).await;
        if message["type"] == "patch" {
            break (binary, message);
        }
    };
    assert!(!binary, "{patch}");
    assert_eq!(patch["ops"][0]["id"], "gz-late", "{patch}");

    // A client that did not ask gets the same snapshot as text.
    let (mut plain, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", app.addr))
        .await
        .expect("connects");
    plain.send(subscribe).await.expect("send");
    let (binary, snapshot) = loop {
        let (binary, message) = next_frame(&mut plain).await;
        if message["type"] == "snapshot" {
            break (binary, message);
        }
    };
    assert!(!binary);
    assert_eq!(names(&snapshot), SERVICES + 1, "gz-late too");

    // A compression the server does not offer is refused, in words.
    match tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws?compress=zstd", app.addr)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned();
            assert!(body.contains("gzip"), "{body}");
        }
        other => panic!("expected a 400, got {other:?}"),
    }

    // REST bodies are gzipped for a client that accepts it.
    let response = reqwest::Client::new()
        .get(app.url("/api/v1/services"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let gz = response.bytes().await.expect("body");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).expect("gzip");
    let body: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(body["services"].as_array().map_or(0, Vec::len), SERVICES + 1);
    app.shutdown().await;
}

/// A client whose socket buffers little of what the server sends, so that
/// not reading soon leaves the server's writer waiting.
async fn slow_reader(app: &common::TestApp) -> common::WsClient<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(8 * 1024).expect("receive buffer");
    let stream = socket.connect(app.addr).await.expect("connects");
    let (stream, _) = tokio_tungstenite::client_async(format!("ws://{}/api/v1/ws", app.addr), stream)
        .await
        .expect("websocket handshake");
    common::WsClient { stream }
}

#[tokio::test]
async fn a_socket_holds_at_most_64_topics_and_32_kv_topics_and_refuses_more_by_name() {
    let etcd = start_etcd().await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let mut ws = app.ws().await;
    let services: Vec<String> = (0..64).map(|i| format!("service:s{i}")).collect();
    ws.send_json(json!({"type": "subscribe", "topics": services})).await;
    for _ in 0..64 {
        ws.wait_for(LIMIT, |m| m["type"] == "snapshot").await;
    }
    // Subscribing again to one already held takes no room.
    ws.send_json(json!({"type": "subscribe", "topics": ["service:s0", "service:one-more"]}))
        .await;
    let error = ws.wait_for(LIMIT, |m| m["type"] == "error").await;
    assert_eq!(
        (&error["code"], &error["topic"]),
        (&json!("too_many_topics"), &json!("service:one-more")),
        "{error}"
    );
    assert!(error["message"].as_str().is_some_and(|m| m.contains("64")), "{error}");

    // kv: and kv-dir: topics have a smaller share of their own.
    let dropped: Vec<String> = (0..40).map(|i| format!("service:s{i}")).collect();
    ws.send_json(json!({"type": "unsubscribe", "topics": dropped})).await;
    let folders: Vec<String> = (0..32).map(|i| format!("kv-dir:/f{i}/")).collect();
    ws.send_json(json!({"type": "subscribe", "topics": folders})).await;
    for _ in 0..32 {
        ws.wait_for(LIMIT, |m| m["type"] == "snapshot").await;
    }
    ws.send_json(json!({"type": "subscribe", "topics": ["kv:/f0/", "service:fits"]}))
        .await;
    // The snapshot of the topic that fits, and the error of the one that does not.
    let (mut error, mut snapshot) = (None, None);
    while error.is_none() || snapshot.is_none() {
        let message = ws
            .wait_for(LIMIT, |m| m["type"] == "error" || m["type"] == "snapshot")
            .await;
        if message["type"] == "error" {
            error = Some(message);
        } else {
            snapshot = Some(message);
        }
    }
    let (error, snapshot) = (error.unwrap_or_default(), snapshot.unwrap_or_default());
    assert_eq!(
        (&error["code"], &error["topic"]),
        (&json!("too_many_topics"), &json!("kv:/f0/")),
        "{error}"
    );
    assert_eq!(snapshot["topic"], "service:fits", "{snapshot}");
    // Refusals do not close the socket.
    ws.send_json(json!({"type": "ping"})).await;
    ws.wait_for(LIMIT, |m| m["type"] == "pong").await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_client_that_piles_up_errors_without_reading_is_closed_with_1008() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let mut config = common::config(etcd.endpoint());
    config.prefixes = vec!["/fill/".to_owned()];
    let app = common::spawn_app_with(config).await;
    app.wait_for_health(200, LIMIT).await;
    // A snapshot of about 12 MiB: more than the sockets between us hold
    // (Linux lets a send buffer grow to 4 MiB), less than the 16 MiB frame
    // the test's client reads.
    let value = "v".repeat(4096);
    let revision = put_all(&mut client, (0..3000).map(|i| (format!("/fill/{i:05}"), value.clone()))).await;
    app.wait_for_revision(revision, LIMIT).await;

    let mut ws = slow_reader(&app).await;
    ws.send_json(json!({"type": "subscribe", "topics": ["kv:/fill/"]}))
        .await;
    // Outside the prefixes served: each is answered with an error, and none is read.
    for i in 0..200 {
        ws.send_json(json!({"type": "subscribe", "topics": [format!("kv:/elsewhere/{i}/")]}))
            .await;
    }
    let mut errors = 0;
    loop {
        match ws.next(LIMIT).await {
            Received::Closed(code) => {
                assert_eq!(code, Some(1008), "after {errors} errors");
                break;
            }
            Received::Json(message) => {
                if message["type"] == "error" {
                    assert_eq!(message["code"], "not_served", "{message}");
                    errors += 1;
                }
            }
        }
    }
    assert!(errors < 200, "the errors were not all held: {errors}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_frame_larger_than_a_client_message_is_refused_from_its_header() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let etcd = start_etcd().await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.expect("connects");
    let handshake = format!(
        "GET /api/v1/ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        app.addr
    );
    tcp.write_all(handshake.as_bytes()).await.expect("handshake");
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n\r\n") {
        let byte = tokio::time::timeout(LIMIT, tcp.read_u8())
            .await
            .expect("an answer in time")
            .expect("the answer");
        answer.push(byte);
    }
    assert!(
        answer.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // A masked text frame announcing 1 MiB, of which only a little follows:
    // the server refuses it at once rather than wait for the rest.
    let mut frame = vec![0x81, 0x80 | 127];
    frame.extend_from_slice(&(1u64 << 20).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    frame.extend_from_slice(&[0; 1024]);
    tcp.write_all(&frame).await.expect("frame");
    // The server's first messages come, then the end of the connection.
    let mut rest = [0u8; 4096];
    loop {
        match tokio::time::timeout(LIMIT, tcp.read(&mut rest)).await {
            Err(_) => panic!("the connection stayed open, waiting for the rest of the frame"),
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(_)) => {}
        }
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_stuck_client_holds_no_more_than_its_bytes_of_patches_and_gets_a_snapshot() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    client.put("/big/k", "small", None).await.expect("put");
    let mut ws = slow_reader(&app).await;
    ws.send_json(json!({"type": "subscribe", "topics": ["kv:/big/"]})).await;
    ws.wait_for(LIMIT, |m| m["type"] == "snapshot").await;
    let forced = app.metric("leasehold_snapshots_forced_total").await;

    // While the client reads nothing: 40 MiB of changes to one key, far
    // fewer ops than the count limit, far more bytes than the byte limit.
    for i in 0..30u8 {
        let value = vec![b'a' + i % 26; 1_400 * 1024];
        client.put("/big/k", value, None).await.expect("put");
    }
    let deadline = tokio::time::Instant::now() + LIMIT;
    while app.metric("leasehold_snapshots_forced_total").await <= forced {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stuck client's patches were never replaced by a snapshot"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Reading again, the client gets a fresh snapshot of the topic.
    let snapshot = ws
        .wait_for(LIMIT, |m| m["type"] == "snapshot" && m["topic"] == "kv:/big/")
        .await;
    let last_value = char::from(b'a' + 29 % 26).to_string().repeat(1_400 * 1024);
    let latest = |m: &serde_json::Value| m["data"]["items"][0]["value"] == last_value.as_str();
    if !latest(&snapshot) {
        ws.wait_for(LIMIT, |m| {
            m["type"] == "patch" && m["ops"][0]["value"]["value"] == last_value.as_str()
        })
        .await;
    }
    app.shutdown().await;
}
