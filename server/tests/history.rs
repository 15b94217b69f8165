//! A key's history against a real etcd: bounded by versions and by bytes
//! while it is read (the newest kept, `truncated` said), also for the lives
//! of a key before its last deletion, and what a compaction leaves.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::time::Duration;

use common::{etcd_client, spawn_app, start_etcd};
use serde_json::Value;
use server::etcd::{HISTORY_MAX, HISTORY_MAX_BYTES};

const LIMIT: Duration = Duration::from_secs(60);
/// A value near etcd's largest (1.5 MiB by default).
const LARGE: usize = 1_400 * 1024;

fn history_path(key: &str) -> String {
    let encoded: String = key
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("/api/v1/kv/{encoded}/history")
}

async fn put(client: &mut etcd_client::Client, key: &str, value: impl Into<Vec<u8>>) -> i64 {
    client
        .put(key, value, None)
        .await
        .expect("put")
        .header()
        .expect("header")
        .revision()
}

/// `value` of each version, as (version, first byte of the value, length).
fn shapes(history: &Value) -> Vec<(i64, Option<u8>, usize)> {
    history["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| {
            let value = v["value"].as_str().unwrap_or_default();
            (
                v["version"].as_i64().expect("version"),
                value.bytes().next(),
                value.len(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_history_of_more_versions_than_it_may_hold_is_the_newest_and_says_it_is_truncated() {
    const WRITERS: usize = 16;
    let total = HISTORY_MAX + 16;
    let etcd = start_etcd().await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    // The same key from several connections at once: each put is a version.
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let mut client = etcd_client(&etcd).await;
        writers.push(tokio::spawn(async move {
            for i in 0..total / WRITERS {
                put(&mut client, "/many", format!("{w}-{i}")).await;
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }

    let (status, history) = app.get(&history_path("/many")).await;
    assert_eq!(status, 200, "{}", history["error"]);
    let versions: Vec<i64> = history["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["version"].as_i64().expect("version"))
        .collect();
    let total = i64::try_from(total).expect("small");
    let newest: Vec<i64> = (total - i64::try_from(HISTORY_MAX).expect("small") + 1..=total)
        .rev()
        .collect();
    assert!(versions == newest, "the newest {HISTORY_MAX}, newest first");
    assert_eq!(
        (&history["truncated"], &history["complete"]),
        (&Value::Bool(true), &Value::Bool(false))
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_history_holds_the_newest_versions_that_fit_in_its_bytes() {
    let written = HISTORY_MAX_BYTES / LARGE + 2;
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    for i in 0..written {
        let fill = b'a' + u8::try_from(i % 26).expect("small");
        put(&mut client, "/large", vec![fill; LARGE]).await;
    }

    let (status, history) = app.get(&history_path("/large")).await;
    assert_eq!(status, 200, "{}", history["error"]);
    let fit = HISTORY_MAX_BYTES / LARGE;
    let expected: Vec<(i64, Option<u8>, usize)> = (0..written)
        .rev()
        .take(fit)
        .map(|i| {
            let version = i64::try_from(i + 1).expect("small");
            (version, Some(b'a' + u8::try_from(i % 26).expect("small")), LARGE)
        })
        .collect();
    assert_eq!(shapes(&history), expected);
    assert_eq!(
        (&history["truncated"], &history["complete"]),
        (&Value::Bool(true), &Value::Bool(false))
    );

    // A small key's history says nothing of truncation.
    put(&mut client, "/small", "1").await;
    let (_, history) = app.get(&history_path("/small")).await;
    assert_eq!(history.get("truncated"), None, "{history}");
    assert_eq!(history["complete"], true);
    assert_eq!(history["compact_revision"], 0, "nothing compacted: {history}");
    app.shutdown().await;
}

#[tokio::test]
async fn the_lives_of_a_key_before_its_last_deletion_are_bounded_too() {
    let earlier = HISTORY_MAX_BYTES / LARGE + 1;
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    for i in 0..earlier {
        let fill = b'a' + u8::try_from(i % 26).expect("small");
        put(&mut client, "/lives", vec![fill; LARGE]).await;
    }
    let deleted = client
        .delete("/lives", None)
        .await
        .expect("delete")
        .header()
        .expect("header")
        .revision();
    let again = put(&mut client, "/lives", "small").await;

    let (status, history) = app.get(&history_path("/lives")).await;
    assert_eq!(status, 200, "{}", history["error"]);
    let versions = history["versions"].as_array().expect("versions");
    assert_eq!(versions[0]["mod_revision"], again, "{}", versions[0]);
    assert_eq!(versions[0]["value"], "small");
    assert_eq!(
        (&versions[1]["mod_revision"], &versions[1]["deleted"]),
        (&deleted.into(), &Value::Bool(true))
    );
    // What is left of the bytes holds the newest of the earlier life.
    let fit = (HISTORY_MAX_BYTES - "small".len()) / LARGE;
    let expected: Vec<(i64, Option<u8>, usize)> = (0..earlier)
        .rev()
        .take(fit)
        .map(|i| {
            let version = i64::try_from(i + 1).expect("small");
            (version, Some(b'a' + u8::try_from(i % 26).expect("small")), LARGE)
        })
        .collect();
    assert_eq!(shapes(&history).get(2..).map(<[_]>::to_vec), Some(expected));
    assert_eq!(
        (&history["truncated"], &history["complete"]),
        (&Value::Bool(true), &Value::Bool(false))
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_key_deleted_and_then_compacted_away_has_an_incomplete_empty_history() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    put(&mut client, "/gone", "1").await;
    put(&mut client, "/gone", "2").await;
    client.delete("/gone", None).await.expect("delete");
    // Several lives, every one before the compaction.
    put(&mut client, "/gone-twice", "1").await;
    client.delete("/gone-twice", None).await.expect("delete");
    put(&mut client, "/gone-twice", "2").await;
    client.delete("/gone-twice", None).await.expect("delete");
    let at = put(&mut client, "/other", "x").await;
    client.compact(at, None).await.expect("compact");
    put(&mut client, "/other", "y").await;

    for key in ["/gone", "/gone-twice", "/never"] {
        let (status, history) = app.get(&history_path(key)).await;
        assert_eq!(status, 200, "{key}: {history}");
        assert_eq!(history["versions"], serde_json::json!([]), "{key}: {history}");
        // Nothing is left, and etcd cannot say whether there was anything.
        assert_eq!(history["complete"], false, "{key}: {history}");
        assert_eq!(history.get("truncated"), None, "{key}: {history}");
        assert_eq!(history["compact_revision"], at, "the horizon is shown: {history}");
    }
    // A key whose history after the compaction starts with its creation is whole.
    let created = put(&mut client, "/fresh", "1").await;
    let (_, history) = app.get(&history_path("/fresh")).await;
    assert_eq!(history["versions"][0]["mod_revision"], created, "{history}");
    assert_eq!(history["complete"], true, "{history}");
    app.shutdown().await;
}
