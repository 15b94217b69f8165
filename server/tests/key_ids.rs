//! Key ids against a real etcd: a text key named like a binary key's id
//! (`base64:…`) and that binary key get two ids, in the `kv:` and `kv-dir:`
//! topics (a sub-folder too) and in the REST routes that take an id.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{etcd_client, spawn_app, start_etcd, WsClient};
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(30);

/// A key that is not UTF-8 and whose base64 has no `/`: its id is `base64:gIGC`.
const BINARY: [u8; 3] = [0x80, 0x81, 0x82];
/// Another, whose id `base64:gIG/` is also the prefix of a text sub-folder.
const BINARY_SLASH: [u8; 3] = [0x80, 0x81, 0xbf];

fn b64_id(key: &[u8]) -> String {
    format!("base64:{}", STANDARD.encode(key))
}

fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Reads patches until each topic of `wanted` has had its number of ops:
/// topic -> id -> the ops on it, in order.
async fn ops_of(ws: &mut WsClient, wanted: &[(&str, usize)]) -> BTreeMap<String, BTreeMap<String, Vec<Value>>> {
    let mut seen: BTreeMap<String, BTreeMap<String, Vec<Value>>> = BTreeMap::new();
    let count = |seen: &BTreeMap<String, BTreeMap<String, Vec<Value>>>, topic: &str| {
        seen.get(topic)
            .map_or(0, |ids| ids.values().map(Vec::len).sum::<usize>())
    };
    while wanted.iter().any(|(topic, ops)| count(&seen, topic) < *ops) {
        let patch = ws.wait_for(LIMIT, |m| m["type"] == "patch").await;
        let topic = patch["topic"].as_str().expect("a topic").to_owned();
        for op in patch["ops"].as_array().into_iter().flatten() {
            let id = op["id"].as_str().expect("an id").to_owned();
            seen.entry(topic.clone())
                .or_default()
                .entry(id)
                .or_default()
                .push(op.clone());
        }
    }
    seen
}

#[tokio::test]
async fn a_text_key_named_like_a_binary_keys_id_does_not_share_its_id() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let text_key = b64_id(&BINARY);
    assert_eq!(text_key, "base64:gIGC");
    let text_in_folder = format!("{}x", b64_id(&BINARY_SLASH));
    assert_eq!(text_in_folder, "base64:gIG/x");

    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": ["kv:", "kv-dir:"]}))
        .await;
    for topic in ["kv:", "kv-dir:"] {
        ws.wait_for(LIMIT, |m| m["type"] == "snapshot" && m["topic"] == topic)
            .await;
    }
    client.put(BINARY.to_vec(), "binary", None).await.expect("put");
    client.put(text_key.as_str(), "text", None).await.expect("put");
    client.put(BINARY_SLASH.to_vec(), "binary 2", None).await.expect("put");
    client
        .put(text_in_folder.as_str(), "in a folder", None)
        .await
        .expect("put");

    // kv: every key its own id; the text keys' ids are their text in base64.
    let mut ops = ops_of(&mut ws, &[("kv:", 4), ("kv-dir:", 4)]).await;
    let kv = ops.remove("kv:").unwrap_or_default();
    let ids: BTreeSet<&str> = kv.keys().map(String::as_str).collect();
    let expected_kv = [
        b64_id(&BINARY),
        b64_id(text_key.as_bytes()),
        b64_id(&BINARY_SLASH),
        b64_id(text_in_folder.as_bytes()),
    ];
    assert_eq!(ids, expected_kv.iter().map(String::as_str).collect(), "{kv:?}");
    assert_eq!(kv[&b64_id(text_key.as_bytes())][0]["value"]["value"], "text");
    assert_eq!(kv[&b64_id(&BINARY)][0]["value"]["value"], "binary");

    // kv-dir: at the root, the sub-folder `base64:gIG/` is named by its
    // prefix's id, not by the binary key `base64:gIG/`.
    let dir = ops.remove("kv-dir:").unwrap_or_default();
    let folder_id = b64_id(b"base64:gIG/");
    let ids: BTreeSet<&str> = dir.keys().map(String::as_str).collect();
    let expected_dir = [
        b64_id(&BINARY),
        b64_id(text_key.as_bytes()),
        b64_id(&BINARY_SLASH),
        folder_id.clone(),
    ];
    assert_eq!(ids, expected_dir.iter().map(String::as_str).collect(), "{dir:?}");
    assert_eq!(dir[&folder_id][0]["value"], json!({"name": "base64:gIG/", "kv": null}));
    assert_eq!(dir[&b64_id(&BINARY_SLASH)][0]["value"]["kv"]["value"], "binary 2");

    // REST: each id names its own key.
    for (id, value) in [
        (b64_id(&BINARY), "binary"),
        (b64_id(text_key.as_bytes()), "text"),
        (b64_id(text_in_folder.as_bytes()), "in a folder"),
    ] {
        let (status, body) = app.get(&format!("/api/v1/kv/{}", enc(&id))).await;
        assert_eq!((status, &body["kv"]["value"]), (200, &json!(value)), "{id}: {body}");
        let (status, history) = app.get(&format!("/api/v1/kv/{}/history", enc(&id))).await;
        assert_eq!(
            (status, &history["versions"][0]["value"]),
            (200, &json!(value)),
            "{id}: {history}"
        );
    }
    // The text of a text key beginning with `base64:` is no id of it.
    let (status, body) = app.get(&format!("/api/v1/kv/{}", enc(&text_in_folder))).await;
    assert_eq!(status, 400, "{body}");

    // Deleting the text key removes it, and only it.
    client.delete(text_key.as_str(), None).await.expect("delete");
    let mut removed = ops_of(&mut ws, &[("kv:", 1), ("kv-dir:", 1)]).await;
    let expected_removal = [(
        b64_id(text_key.as_bytes()),
        vec![json!({"op": "remove", "id": b64_id(text_key.as_bytes())})],
    )];
    assert_eq!(
        removed
            .remove("kv-dir:")
            .unwrap_or_default()
            .into_iter()
            .collect::<Vec<_>>(),
        expected_removal
    );
    assert_eq!(
        removed
            .remove("kv:")
            .unwrap_or_default()
            .into_iter()
            .collect::<Vec<_>>(),
        expected_removal
    );
    let (status, body) = app.get(&format!("/api/v1/kv/{}", enc(&b64_id(&BINARY)))).await;
    assert_eq!((status, &body["kv"]["value"]), (200, &json!("binary")), "{body}");
    app.shutdown().await;
}
