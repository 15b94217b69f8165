//! The configuration centre against a real etcd: listing pages over 10,000
//! keys, a key at past revisions and its history, compaction (410 and
//! incomplete histories), compare-and-swap writers, the prefix diff checked
//! against `etcdctl get --prefix --rev=R`, the live `kv:<prefix>` topic fed
//! by etcdctl, large and binary values, and who may write.
//!
//! Over the usual size: one test per route and case, each short, sharing
//! this file's helpers.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{audit_lines, config, etcd_client, spawn_app, spawn_app_with, start_etcd, EtcdProcess, Etcdctl, TestApp};
use etcd_client::PutOptions;
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(30);

/// Percent-encodes everything but unreserved characters: a key as one path
/// segment, or a query value.
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn key_path(key: &str) -> String {
    format!("/api/v1/kv/{}", enc(key))
}

/// Puts every key with `value`, a hundred to a transaction.
async fn put_many(client: &mut etcd_client::Client, keys: &[String], value: &str) -> i64 {
    common::put_all(client, keys.iter().map(|k| (k.clone(), value.to_owned()))).await
}

async fn put(client: &mut etcd_client::Client, key: &str, value: &str) -> i64 {
    client
        .put(key, value, None)
        .await
        .expect("put")
        .header()
        .expect("header")
        .revision()
}

async fn del(client: &mut etcd_client::Client, key: &str) -> i64 {
    client
        .delete(key, None)
        .await
        .expect("delete")
        .header()
        .expect("header")
        .revision()
}

fn keys_of(items: &Value) -> Vec<String> {
    items
        .as_array()
        .expect("a list")
        .iter()
        .map(|kv| kv["key"].as_str().expect("key").to_owned())
        .collect()
}

#[tokio::test]
async fn a_listing_pages_through_ten_thousand_keys_once_each_in_order() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let keys: Vec<String> = (0..10_000).map(|i| format!("/cfg/{i}")).collect();
    put_many(&mut client, &keys, "v").await;
    // Neighbours outside the prefix must not show.
    put(&mut client, "/cfg", "outside").await;
    put(&mut client, "/cfg0", "outside").await;
    put(&mut client, "/cf", "outside").await;
    let mut expected = keys.clone();
    expected.sort();

    for limit in [1000usize, 777] {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/api/v1/kv?prefix={}&limit={limit}", enc("/cfg/"));
            if let Some(after) = &after {
                path.push_str(&format!("&after={}", enc(after)));
            }
            let (status, body) = app.get(&path).await;
            assert_eq!(status, 200, "{body}");
            assert!(body["revision"].as_i64().unwrap_or(0) > 0, "{body}");
            let page = keys_of(&body["items"]);
            assert!(page.len() <= limit);
            pages += 1;
            seen.extend(page.iter().cloned());
            let more = body["more"].as_bool().expect("more");
            // `more` is false exactly on the page holding the last key.
            assert_eq!(more, seen.len() < expected.len(), "page {pages} of limit {limit}");
            if !more {
                break;
            }
            after = page.last().cloned();
            assert!(pages < 100, "the listing does not end");
        }
        assert_eq!(seen, expected, "limit {limit}: every key once, in etcd's order");
        assert_eq!(pages, expected.len().div_ceil(limit));
    }

    // The default page is 500 keys; above 5000 and 0 are refused.
    let (_, body) = app.get(&format!("/api/v1/kv?prefix={}", enc("/cfg/"))).await;
    assert_eq!(body["items"].as_array().map(Vec::len), Some(500));
    assert_eq!(body["items"][0]["kind"], "kv");
    assert_eq!(body["items"][0]["version"], 1);
    assert!(body["items"][0]["lease"].is_null());
    for bad in ["5001", "0", "x"] {
        let (status, body) = app.get(&format!("/api/v1/kv?prefix=%2Fcfg%2F&limit={bad}")).await;
        assert_eq!(status, 400, "limit={bad}: {body}");
        assert_eq!(body["error"]["code"], "bad_request");
    }
    let (status, body) = app.get("/api/v1/kv?prefix=%2Fcfg%2F&limit=5000").await;
    assert_eq!((status, body["items"].as_array().map(Vec::len)), (200, Some(5000)));
    // After the last key, and an empty prefix.
    let (_, body) = app
        .get(&format!("/api/v1/kv?prefix=%2Fcfg%2F&after={}", enc("/cfg/9999")))
        .await;
    assert_eq!(
        (body["items"].as_array().map(Vec::len), &body["more"]),
        (Some(0), &json!(false))
    );
    let (_, body) = app.get("/api/v1/kv?prefix=%2Fnothing%2F").await;
    assert_eq!(
        (body["items"].as_array().map(Vec::len), &body["more"]),
        (Some(0), &json!(false))
    );
    // No prefix (or an empty one) is every key, from the start of the keyspace.
    for path in ["/api/v1/kv?limit=3", "/api/v1/kv?prefix=&limit=3&after="] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["items"][0]["key"], "/cf", "{path}: {body}");
        assert_eq!(body["more"], json!(true), "{path}");
    }
    let now = body["revision"].as_i64().unwrap_or_default();
    put(&mut client, "/cf", "changed").await;
    let (status, body) = app.get(&format!("/api/v1/kv-diff?from={now}")).await;
    assert_eq!(status, 200, "a diff of every key: {body}");
    assert_eq!(body["changed"][0]["after"]["key"], "/cf", "{body}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_key_reads_as_it_was_at_each_revision_and_its_history_lists_every_version() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let key = "/hist/a";
    let before = put(&mut client, "/hist/unrelated", "x").await;
    let r1 = put(&mut client, key, "one").await;
    let r2 = put(&mut client, key, "two").await;
    put(&mut client, "/hist/unrelated", "y").await;
    let r3 = del(&mut client, key).await;
    let r4 = put(&mut client, key, "three").await;

    let at = |rev: i64| format!("{}?rev={rev}", key_path(key));
    let (status, body) = app.get(&at(before)).await;
    assert_eq!((status, &body["kv"]), (200, &Value::Null), "{body}");
    let (_, body) = app.get(&at(r1)).await;
    assert_eq!(
        (
            &body["kv"]["value"],
            &body["kv"]["version"],
            &body["kv"]["mod_revision"]
        ),
        (&json!("one"), &json!(1), &json!(r1)),
        "{body}"
    );
    assert_eq!(body["revision"], r1);
    let (_, body) = app.get(&at(r2 + 1)).await;
    assert_eq!(
        (&body["kv"]["value"], &body["kv"]["version"]),
        (&json!("two"), &json!(2))
    );
    let (status, body) = app.get(&at(r3)).await;
    assert_eq!((status, &body["kv"]), (200, &Value::Null), "deleted at r3: {body}");
    let (_, body) = app.get(&key_path(key)).await;
    assert_eq!(
        (
            &body["kv"]["value"],
            &body["kv"]["version"],
            &body["kv"]["create_revision"]
        ),
        (&json!("three"), &json!(1), &json!(r4)),
        "{body}"
    );
    assert_eq!(body["revision"], r4);
    let (status, body) = app.get(&at(r4 + 1000)).await;
    assert_eq!(status, 400, "a future revision: {body}");
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| m.contains("future")),
        "{body}"
    );
    let (status, _) = app.get(&at(0)).await;
    assert_eq!(status, 400);
    let (status, body) = app.get(&key_path("/hist/never")).await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")));

    let (status, history) = app.get(&format!("{}/history", key_path(key))).await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(
        history,
        json!({
            "revision": r4,
            "versions": [
                {"mod_revision": r4, "version": 1, "value": "three", "deleted": false},
                {"mod_revision": r3, "version": 0, "value": null, "deleted": true},
                {"mod_revision": r2, "version": 2, "value": "two", "deleted": false},
                {"mod_revision": r1, "version": 1, "value": "one", "deleted": false},
            ],
            "complete": true,
            "compact_revision": 0,
        })
    );

    // A key deleted now: its deletion is its newest version.
    let b1 = put(&mut client, "/hist/b", "1").await;
    let b2 = del(&mut client, "/hist/b").await;
    put(&mut client, "/hist/unrelated", "z").await;
    let (_, history) = app.get(&format!("{}/history", key_path("/hist/b"))).await;
    assert_eq!(
        history["versions"],
        json!([
            {"mod_revision": b2, "version": 0, "value": null, "deleted": true},
            {"mod_revision": b1, "version": 1, "value": "1", "deleted": false},
        ]),
        "{history}"
    );
    // Longer than etcd sends a catching-up watcher in one message
    // (1000 revisions), alive and then deleted.
    let mut written = Vec::new();
    for i in 0..1200 {
        written.push(put(&mut client, "/hist/long", &i.to_string()).await);
    }
    let (_, history) = app.get(&format!("{}/history", key_path("/hist/long"))).await;
    let revisions: Vec<i64> = history["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v["mod_revision"].as_i64())
        .collect();
    assert_eq!(revisions, written.iter().rev().copied().collect::<Vec<_>>());
    let deleted = del(&mut client, "/hist/long").await;
    let (_, history) = app.get(&format!("{}/history", key_path("/hist/long"))).await;
    let versions = history["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 1201);
    assert_eq!(versions[0]["mod_revision"], deleted);
    assert_eq!(versions[1]["value"], "1199");
    assert_eq!(versions[1200]["value"], "0");

    // A key that never existed has an empty history.
    let (status, history) = app.get(&format!("{}/history", key_path("/hist/never"))).await;
    assert_eq!(status, 200, "{history}");
    assert_eq!((&history["versions"], &history["complete"]), (&json!([]), &json!(true)));
    app.shutdown().await;
}

#[tokio::test]
async fn a_compaction_makes_older_revisions_gone_and_histories_incomplete() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let key = "/compact/k";
    let r1 = put(&mut client, key, "v1").await;
    let r2 = put(&mut client, key, "v2").await;
    put(&mut client, "/compact/other", "x").await;
    let r3 = put(&mut client, key, "v3").await;
    let gone = put(&mut client, "/compact/gone", "x").await;
    let gone_deleted = del(&mut client, "/compact/gone").await;
    let compact_at = put(&mut client, "/compact/other", "y").await;
    client.compact(compact_at, None).await.expect("compact");
    let r4 = put(&mut client, key, "v4").await;
    let fresh = put(&mut client, "/compact/fresh", "new").await;

    for old in [r1, r2, r3] {
        let (status, body) = app.get(&format!("{}?rev={old}", key_path(key))).await;
        assert_eq!(status, 410, "rev {old}: {body}");
        assert_eq!(body["error"]["code"], "compacted", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(&format!("compaction at revision {compact_at}"))),
            "{body}"
        );
    }
    // The compaction revision itself is still readable.
    let (status, body) = app.get(&format!("{}?rev={compact_at}", key_path(key))).await;
    assert_eq!((status, &body["kv"]["value"]), (200, &json!("v3")), "{body}");

    let (status, history) = app.get(&format!("{}/history", key_path(key))).await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(
        history["versions"],
        json!([
            {"mod_revision": r4, "version": 4, "value": "v4", "deleted": false},
            {"mod_revision": r3, "version": 3, "value": "v3", "deleted": false},
        ]),
        "the version alive at the compaction is the oldest left: {history}"
    );
    assert_eq!(history["complete"], false, "{history}");
    // A key created after the compaction still has all of its history.
    let (_, history) = app.get(&format!("{}/history", key_path("/compact/fresh"))).await;
    assert_eq!(
        (&history["versions"], &history["complete"]),
        (
            &json!([{"mod_revision": fresh, "version": 1, "value": "new", "deleted": false}]),
            &json!(true)
        ),
        "{history}"
    );
    assert!(gone < gone_deleted && gone_deleted < compact_at);

    let (status, body) = app
        .get(&format!("/api/v1/kv-diff?prefix=%2Fcompact%2F&from={r2}"))
        .await;
    assert_eq!((status, &body["error"]["code"]), (410, &json!("compacted")), "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("etcd keeps revisions from {compact_at} on")),
        "the horizon is named: {body}"
    );
    let (status, body) = app
        .get(&format!("/api/v1/kv-diff?prefix=%2Fcompact%2F&from={compact_at}"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(keys_of(&body["added"]), ["/compact/fresh"]);
    assert_eq!(
        body["compact_revision"],
        json!(compact_at),
        "a compare names where history begins: {body}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn of_two_writers_one_wins_and_the_other_gets_the_current_value() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let key = "/cas/config.json";
    let path = key_path(key);

    // No blind write: the expected revision is required.
    let (status, body) = app.put_json(&path, &json!({"value": "x"})).await;
    assert_eq!((status, &body["error"]["code"]), (400, &json!("bad_request")), "{body}");
    let (status, _) = app
        .put_json(
            &path,
            &json!({"value": "x", "value_base64": "eA==", "expect_mod_revision": 0}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = app.put_json(&path, &json!({"expect_mod_revision": 0})).await;
    assert_eq!(status, 400);
    assert!(client.get(key, None).await.expect("get").kvs().is_empty());

    // Creation: 0 means "must not exist".
    let (status, created) = app
        .put_json(&path, &json!({"value": "{\"v\":0}", "expect_mod_revision": 0}))
        .await;
    assert_eq!(status, 200, "{created}");
    let base = created["kv"]["mod_revision"].as_i64().expect("mod_revision");
    assert_eq!(created["revision"], base);
    assert_eq!(created["kv"]["value"], "{\"v\":0}");
    let (status, body) = app
        .put_json(&path, &json!({"value": "again", "expect_mod_revision": 0}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    assert_eq!(body["current"]["mod_revision"], base, "{body}");

    // Two writers started from the same revision, at the same time.
    let (body_a, body_b) = (
        json!({"value": "from A", "expect_mod_revision": base}),
        json!({"value": "from B", "expect_mod_revision": base}),
    );
    let first = app.put_json(&path, &body_a);
    let second = app.put_json(&path, &body_b);
    let (a, b) = tokio::join!(first, second);
    let (winner, loser) = match (a.0, b.0) {
        (200, 409) => (a.1, b.1),
        (409, 200) => (b.1, a.1),
        other => panic!("one 200 and one 409 expected, got {other:?}: {} {}", a.1, b.1),
    };
    assert_eq!(loser["error"]["code"], "conflict");
    assert_eq!(loser["current"], winner["kv"], "the loser sees the winner's write");
    let stored = client.get(key, None).await.expect("get");
    let stored = stored.kvs().first().expect("the key");
    assert_eq!(json!(stored.value_str().expect("utf-8")), winner["kv"]["value"]);
    assert_eq!(json!(stored.mod_revision()), winner["kv"]["mod_revision"]);
    let now = stored.mod_revision();

    // Delete: the expected revision is required, a stale one is a conflict.
    let (status, _) = app.delete(&path).await;
    assert_eq!(status, 400);
    let (status, body) = app.delete(&format!("{path}?expect_mod_revision={base}")).await;
    assert_eq!((status, &body["current"]["mod_revision"]), (409, &json!(now)), "{body}");
    let (status, body) = app.delete(&format!("{path}?expect_mod_revision={now}")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["revision"].as_i64().unwrap_or(0) > now);
    assert!(client.get(key, None).await.expect("get").kvs().is_empty());
    let (status, body) = app.delete(&format!("{path}?expect_mod_revision={now}")).await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")), "{body}");
    let (status, body) = app
        .put_json(&path, &json!({"value": "x", "expect_mod_revision": now}))
        .await;
    assert_eq!((status, &body["current"]), (409, &Value::Null), "{body}");

    // A key with a lease keeps it when edited.
    let lease = client.lease_grant(600, None).await.expect("grant").id();
    let leased = client
        .put("/cas/leased", "1", Some(PutOptions::new().with_lease(lease)))
        .await
        .expect("put")
        .header()
        .expect("header")
        .revision();
    let (status, body) = app
        .put_json(
            &key_path("/cas/leased"),
            &json!({"value": "2", "expect_mod_revision": leased}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kv"]["lease"], format!("{lease:x}"));
    let stored = client.get("/cas/leased", None).await.expect("get");
    assert_eq!(stored.kvs().first().map(|kv| kv.lease()), Some(lease));
    app.shutdown().await;
}

/// `etcdctl get --prefix --rev=R -w json`: key -> (mod_revision, value).
async fn etcdctl_at(etcd: &EtcdProcess, prefix: &str, revision: i64) -> BTreeMap<Vec<u8>, (i64, Vec<u8>)> {
    let output = tokio::process::Command::new("etcdctl")
        .arg("--endpoints")
        .arg(etcd.endpoint())
        .args(["get", prefix, "--prefix", &format!("--rev={revision}"), "-w", "json"])
        .env("ETCDCTL_API", "3")
        .output()
        .await
        .expect("etcdctl runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let body: Value = serde_json::from_slice(&output.stdout).expect("etcdctl JSON");
    let decode = |v: &Value| STANDARD.decode(v.as_str().unwrap_or_default()).expect("base64");
    body["kvs"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|kv| {
            let mod_revision = kv["mod_revision"].as_i64().expect("mod_revision");
            (decode(&kv["key"]), (mod_revision, decode(&kv["value"])))
        })
        .collect()
}

/// A diff's keys as (key, mod_revision, value) triples.
fn triples(list: &Value, field: Option<&str>) -> Vec<(String, i64, String)> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|item| {
            let kv = field.map_or(item, |f| &item[f]);
            (
                kv["key"].as_str().unwrap_or_default().to_owned(),
                kv["mod_revision"].as_i64().unwrap_or_default(),
                kv["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_diff_between_two_revisions_is_what_etcdctl_shows_at_each() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let mut revisions = vec![put(&mut client, "/diff/a", "1").await];
    revisions.push(put(&mut client, "/diff/b", "1").await);
    revisions.push(put(&mut client, "/diff/c", "1").await);
    revisions.push(put(&mut client, "/outside", "1").await);
    revisions.push(put(&mut client, "/diff/b", "2").await);
    revisions.push(del(&mut client, "/diff/c").await);
    revisions.push(put(&mut client, "/diff/d", "1").await);
    // Rewritten with the same value: still a change.
    revisions.push(put(&mut client, "/diff/a", "1").await);
    revisions.push(put(&mut client, "/diff/c", "back").await);
    let keys: Vec<String> = (0..30).map(|i| format!("/diff/many/{i:02}")).collect();
    revisions.push(put_many(&mut client, &keys, "m").await);

    let text = |bytes: &Vec<u8>| String::from_utf8_lossy(bytes).into_owned();
    let mut checked = 0;
    for (i, &from) in revisions.iter().enumerate() {
        for &to in &revisions[i..] {
            let (status, body) = app
                .get(&format!("/api/v1/kv-diff?prefix=%2Fdiff%2F&from={from}&to={to}"))
                .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!((&body["from"], &body["to"]), (&json!(from), &json!(to)));
            assert_eq!(body["compact_revision"], json!(0), "nothing was compacted: {body}");
            let old = etcdctl_at(&etcd, "/diff/", from).await;
            let new = etcdctl_at(&etcd, "/diff/", to).await;
            let mut added = Vec::new();
            let mut removed = Vec::new();
            let mut changed = Vec::new();
            for (key, (rev, value)) in &new {
                match old.get(key) {
                    None => added.push((text(key), *rev, text(value))),
                    Some((old_rev, _)) if old_rev != rev => changed.push((text(key), *rev, text(value))),
                    Some(_) => {}
                }
            }
            for (key, (rev, value)) in &old {
                if !new.contains_key(key) {
                    removed.push((text(key), *rev, text(value)));
                }
            }
            assert_eq!(triples(&body["added"], None), added, "added {from}..{to}: {body}");
            assert_eq!(triples(&body["removed"], None), removed, "removed {from}..{to}: {body}");
            assert_eq!(
                triples(&body["changed"], Some("after")),
                changed,
                "changed {from}..{to}: {body}"
            );
            let befores: Vec<(String, i64, String)> = triples(&body["changed"], Some("before"));
            for (key, rev, value) in befores {
                let (old_rev, old_value) = old.get(key.as_bytes()).expect("a changed key existed before");
                assert_eq!((rev, value), (*old_rev, text(old_value)));
            }
            checked += 1;
        }
    }
    assert_eq!(checked, revisions.len() * (revisions.len() + 1) / 2);
    let changed_a = app
        .get(&format!(
            "/api/v1/kv-diff?prefix=%2Fdiff%2Fa&from={}&to={}",
            revisions[0], revisions[7]
        ))
        .await
        .1;
    assert_eq!(triples(&changed_a["changed"], Some("after")).len(), 1, "{changed_a}");

    // Without `to`, the diff runs to now.
    let (_, body) = app
        .get(&format!("/api/v1/kv-diff?prefix=%2Fdiff%2F&from={}", revisions[8]))
        .await;
    assert_eq!(body["to"], revisions[9]);
    assert_eq!(body["added"].as_array().map(Vec::len), Some(30));
    for bad in ["", "&from=0", "&from=5&to=4", "&from=x"] {
        let (status, body) = app.get(&format!("/api/v1/kv-diff?prefix=%2Fdiff%2F{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, body) = app
        .get(&format!(
            "/api/v1/kv-diff?prefix=%2Fdiff%2F&from={}",
            revisions[9] + 100
        ))
        .await;
    assert_eq!(status, 400, "{body}");
    app.shutdown().await;
}

/// Runs one etcdctl command to its end.
async fn etcdctl(etcd: &EtcdProcess, args: &[&str]) {
    let mut ctl = Etcdctl::spawn(etcd, args);
    let status = tokio::time::timeout(LIMIT, ctl.child.wait())
        .await
        .expect("etcdctl ends")
        .expect("etcdctl status");
    assert!(status.success(), "etcdctl {args:?}");
}

fn ops_of(message: &Value) -> Vec<Value> {
    message["ops"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_kv_subscriber_sees_what_etcdctl_puts_and_deletes() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    put(&mut client, "/live/b", "2").await;
    put(&mut client, "/live/a", "1").await;
    let lease = client.lease_grant(600, None).await.expect("grant").id();
    let at = client
        .put(
            format!("/live/jobs/{lease:x}"),
            "",
            Some(PutOptions::new().with_lease(lease)),
        )
        .await
        .expect("put")
        .header()
        .expect("header")
        .revision();
    put(&mut client, "/liveliness", "outside").await;
    app.wait_for_revision(at + 1, LIMIT).await;

    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": ["kv:/live/"]}))
        .await;
    let snapshot = ws.wait_for(LIMIT, |m| m["type"] == "snapshot").await;
    assert_eq!(snapshot["topic"], "kv:/live/");
    let data = &snapshot["data"];
    assert_eq!(data["more"], false);
    assert_eq!(
        keys_of(&data["items"]),
        ["/live/a", "/live/b", &format!("/live/jobs/{lease:x}")],
        "{snapshot}"
    );
    assert_eq!(data["items"][2]["kind"], "lock", "{snapshot}");
    assert_eq!(data["items"][2]["lease"], format!("{lease:x}"));
    // The same as the REST listing.
    let (_, listing) = app.get("/api/v1/kv?prefix=%2Flive%2F").await;
    assert_eq!(data["items"], listing["items"]);

    etcdctl(&etcd, &["put", "/liveliness", "still outside"]).await;
    etcdctl(&etcd, &["put", "/live/c", "3"]).await;
    let patch = ws
        .wait_for(LIMIT, |m| m["type"] == "patch" && m["topic"] == "kv:/live/")
        .await;
    let ops = ops_of(&patch);
    assert_eq!(ops.len(), 1, "only the key under the prefix: {patch}");
    assert_eq!(ops[0]["op"], "upsert");
    assert_eq!(ops[0]["id"], "/live/c");
    assert_eq!(ops[0]["value"]["value"], "3");
    assert_eq!(ops[0]["value"]["version"], 1);
    assert_eq!(ops[0]["value"]["kind"], "kv");
    etcdctl(&etcd, &["put", "/live/a", "1b"]).await;
    let patch = ws
        .wait_for(LIMIT, |m| m["type"] == "patch" && m["topic"] == "kv:/live/")
        .await;
    assert_eq!(ops_of(&patch)[0]["value"]["value"], "1b", "{patch}");
    assert_eq!(ops_of(&patch)[0]["value"]["version"], 2, "{patch}");
    etcdctl(&etcd, &["del", "/live/b"]).await;
    let patch = ws
        .wait_for(LIMIT, |m| m["type"] == "patch" && m["topic"] == "kv:/live/")
        .await;
    assert_eq!(ops_of(&patch), [json!({"op": "remove", "id": "/live/b"})], "{patch}");

    // More than 10,000 keys under a prefix: refused.
    let keys: Vec<String> = (0..10_001).map(|i| format!("/many/{i}")).collect();
    let last = put_many(&mut client, &keys, "").await;
    app.wait_for_revision(last, LIMIT).await;
    ws.send_json(json!({"type": "subscribe", "topics": ["kv:/many/"]}))
        .await;
    let error = ws.wait_for(LIMIT, |m| m["type"] == "error").await;
    assert_eq!(error["code"], "too_large", "{error}");
    // The socket keeps serving the other topic.
    etcdctl(&etcd, &["del", "/live/c"]).await;
    let patch = ws
        .wait_for(LIMIT, |m| m["type"] == "patch" && m["topic"] == "kv:/live/")
        .await;
    assert_eq!(ops_of(&patch), [json!({"op": "remove", "id": "/live/c"})], "{patch}");
    app.shutdown().await;
}

fn entries_of(data: &Value) -> Vec<String> {
    data["entries"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    format!(
                        "{}{}",
                        e["name"].as_str().unwrap_or("?"),
                        if e["kv"].is_null() { " (folder)" } else { "" }
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_folder_subscriber_sees_keys_and_sub_folders_come_and_go() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    put(&mut client, "/tree/b", "2").await;
    put(&mut client, "/tree/app/x", "1").await;
    put(&mut client, "/tree/app/deep/y", "1").await;
    let at = put(&mut client, "/treetop", "outside").await;
    app.wait_for_revision(at, LIMIT).await;

    let mut ws = app.ws().await;
    ws.send_json(json!({"type": "subscribe", "topics": ["kv-dir:/tree/"]}))
        .await;
    let snapshot = ws.wait_for(LIMIT, |m| m["type"] == "snapshot").await;
    assert_eq!(snapshot["topic"], "kv-dir:/tree/");
    assert_eq!(entries_of(&snapshot["data"]), ["app/ (folder)", "b"], "{snapshot}");
    assert_eq!(snapshot["data"]["entries"][1]["kv"]["value"], "2", "{snapshot}");
    let dir_patch = |m: &Value| m["type"] == "patch" && m["topic"] == "kv-dir:/tree/";

    // A key in a sub-folder that already exists changes nothing here; a new
    // sub-folder appears with its first key.
    etcdctl(&etcd, &["put", "/tree/app/z", "3"]).await;
    etcdctl(&etcd, &["put", "/tree/db/url", "postgres://db"]).await;
    let patch = ws.wait_for(LIMIT, dir_patch).await;
    assert_eq!(
        ops_of(&patch),
        [json!({"op": "upsert", "id": "/tree/db/", "value": {"name": "db/", "kv": null}})],
        "{patch}"
    );
    etcdctl(&etcd, &["put", "/tree/c", "3"]).await;
    let patch = ws.wait_for(LIMIT, dir_patch).await;
    let ops = ops_of(&patch);
    assert_eq!(ops.len(), 1, "{patch}");
    assert_eq!(ops[0]["id"], "/tree/c");
    assert_eq!(ops[0]["value"]["name"], "c");
    assert_eq!(ops[0]["value"]["kv"]["value"], "3");
    // The sub-folder goes with its last key.
    etcdctl(&etcd, &["del", "/tree/db/url"]).await;
    let patch = ws.wait_for(LIMIT, dir_patch).await;
    assert_eq!(ops_of(&patch), [json!({"op": "remove", "id": "/tree/db/"})], "{patch}");
    etcdctl(&etcd, &["del", "--prefix", "/tree/app/"]).await;
    let patch = ws.wait_for(LIMIT, dir_patch).await;
    assert_eq!(ops_of(&patch), [json!({"op": "remove", "id": "/tree/app/"})], "{patch}");

    // A wide folder: 10,001 keys directly in it are refused, and the
    // same keys one folder down are one entry.
    let keys: Vec<String> = (0..10_001).map(|i| format!("/wide/{i}")).collect();
    put_many(&mut client, &keys, "").await;
    let keys: Vec<String> = (0..10_001).map(|i| format!("/narrow/sub/{i}")).collect();
    let last = put_many(&mut client, &keys, "").await;
    app.wait_for_revision(last, LIMIT).await;
    ws.send_json(json!({"type": "subscribe", "topics": ["kv-dir:/wide/"]}))
        .await;
    let error = ws.wait_for(LIMIT, |m| m["type"] == "error").await;
    assert_eq!(error["code"], "too_large", "{error}");
    ws.send_json(json!({"type": "subscribe", "topics": ["kv-dir:/narrow/"]}))
        .await;
    let snapshot = ws
        .wait_for(LIMIT, |m| m["type"] == "snapshot" && m["topic"] == "kv-dir:/narrow/")
        .await;
    assert_eq!(entries_of(&snapshot["data"]), ["sub/ (folder)"], "{snapshot}");
    app.shutdown().await;
}

#[tokio::test]
async fn large_and_binary_values_and_keys_round_trip() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;

    // 1.4 MiB of text whose JSON form (every character escaped) is far
    // above axum's default 2 MB body limit.
    let large: String = "\"\t\n\\".repeat(1_400 * 1024 / 4);
    let (status, body) = app
        .put_json(
            &key_path("/big/text"),
            &json!({"value": large, "expect_mod_revision": 0}),
        )
        .await;
    assert_eq!(status, 200, "{}", body["error"]);
    let stored = client.get("/big/text", None).await.expect("get");
    assert_eq!(stored.kvs().first().map(|kv| kv.value()), Some(large.as_bytes()));
    let (status, body) = app.get(&key_path("/big/text")).await;
    assert_eq!(status, 200);
    assert!(
        body["kv"]["value"].as_str() == Some(large.as_str()),
        "the value reads back"
    );
    assert!(body["kv"].get("value_base64").is_none());

    // Binary: every byte value, sent and read back in base64.
    let binary: Vec<u8> = (0..=255u8).cycle().take(1_400 * 1024).collect();
    let (status, body) = app
        .put_json(
            &key_path("/big/binary"),
            &json!({"value_base64": STANDARD.encode(&binary), "expect_mod_revision": 0}),
        )
        .await;
    assert_eq!(status, 200, "{}", body["error"]);
    let stored = client.get("/big/binary", None).await.expect("get");
    assert_eq!(stored.kvs().first().map(|kv| kv.value()), Some(binary.as_slice()));
    let (_, body) = app.get(&key_path("/big/binary")).await;
    let read = STANDARD
        .decode(body["kv"]["value_base64"].as_str().expect("value_base64"))
        .expect("base64");
    assert!(read == binary, "the binary value reads back");
    let (_, history) = app.get(&format!("{}/history", key_path("/big/binary"))).await;
    assert_eq!(
        history["versions"][0]["value_base64"].as_str().map(str::len),
        Some(STANDARD.encode(&binary).len())
    );
    // Three versions of 1.4 MiB: more than gRPC's usual 4 MiB in one watch message.
    for _ in 0..2 {
        client.put("/big/binary", binary.clone(), None).await.expect("put");
    }
    let (status, history) = app.get(&format!("{}/history", key_path("/big/binary"))).await;
    assert_eq!(status, 200, "{}", history["error"]);
    assert_eq!(history["versions"].as_array().map(Vec::len), Some(3));
    // Both large values in one page.
    let (status, page) = app.get("/api/v1/kv?prefix=%2Fbig%2F").await;
    assert_eq!((status, page["items"].as_array().map(Vec::len)), (200, Some(2)));

    // Above etcd's limit: etcd refuses, and says so.
    let too_large = "x".repeat(1_800 * 1024);
    let (status, body) = app
        .put_json(
            &key_path("/big/too"),
            &json!({"value": too_large, "expect_mod_revision": 0}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(client.get("/big/too", None).await.expect("get").kvs().is_empty());

    // A key that is not UTF-8: by escapes or by its base64 id, and in listings.
    let key = vec![b'/', b'b', b'i', b'n', b'/', 0xff, 0x00, b'k'];
    client.put(key.clone(), vec![0xfe], None).await.expect("put");
    client.put("/bin/z", "after", None).await.expect("put");
    let id = format!("base64:{}", STANDARD.encode(&key));
    for path in ["/api/v1/kv/%2Fbin%2F%FF%00k".to_owned(), key_path(&id)] {
        let (status, body) = app.get(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["kv"]["key_base64"], STANDARD.encode(&key));
        assert_eq!(body["kv"]["value_base64"], "/g==");
    }
    // In byte order 0xff sorts after "z".
    let (_, page) = app.get("/api/v1/kv?prefix=%2Fbin%2F&limit=1").await;
    assert_eq!(
        (keys_of(&page["items"]), &page["more"]),
        (vec!["/bin/z".to_owned()], &json!(true))
    );
    let (_, page) = app.get("/api/v1/kv?prefix=%2Fbin%2F&after=%2Fbin%2Fz").await;
    assert_eq!(page["items"][0]["key_base64"], STANDARD.encode(&key), "{page}");
    assert_eq!(page["more"], false);
    let after = enc(&STANDARD.encode(&key));
    let (_, page) = app
        .get(&format!("/api/v1/kv?prefix=%2Fbin%2F&after_base64={after}"))
        .await;
    assert_eq!(page["items"], json!([]), "{page}");
    let mod_revision = app.get(&key_path(&id)).await.1["kv"]["mod_revision"].clone();
    let (status, body) = app
        .delete(&format!("{}?expect_mod_revision={mod_revision}", key_path(&id)))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(client.get(key, None).await.expect("get").kvs().is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn under_read_only_no_key_can_be_written_and_every_attempt_is_audited() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = dir.path().join("audit.jsonl");
    let app = spawn_app_with(common::Config {
        read_only: true,
        audit_log: Some(audit.clone()),
        ..config(etcd.endpoint())
    })
    .await;
    app.wait_for_health(200, LIMIT).await;
    let revision = put(&mut client, "/ro/k", "v").await;

    let (status, body) = app
        .put_json(
            &key_path("/ro/k"),
            &json!({"value": "w", "expect_mod_revision": revision}),
        )
        .await;
    assert_eq!((status, &body["error"]["code"]), (403, &json!("forbidden")), "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("--read-only")));
    let (status, _) = app
        .delete(&format!("{}?expect_mod_revision={revision}", key_path("/ro/k")))
        .await;
    assert_eq!(status, 403);
    let stored = client.get("/ro/k", None).await.expect("get");
    assert_eq!(stored.kvs().first().map(|kv| kv.mod_revision()), Some(revision));
    let lines = audit_lines(&audit);
    let summary: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["action"].as_str().unwrap_or_default(),
                l["key"].as_str().unwrap_or_default(),
                l["result"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("put_key", "/ro/k", "refused"), ("delete_key", "/ro/k", "refused")]
    );
    // Reading still works.
    let (status, _) = app.get(&key_path("/ro/k")).await;
    assert_eq!(status, 200);
    app.shutdown().await;
}

#[tokio::test]
async fn only_an_operator_from_the_servers_own_origin_writes_keys() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let viewer = server::auth::hash_password("viewer-pw").expect("hash");
    let operator = server::auth::hash_password("operator-pw").expect("hash");
    let users = format!(
        "[[users]]\nname = \"vera\"\nrole = \"viewer\"\npassword_hash = \"{viewer}\"\n\n\
         [[users]]\nname = \"otto\"\nrole = \"operator\"\npassword_hash = \"{operator}\"\n"
    );
    let users = server::auth::Users::parse(&users).expect("users");
    let audit = dir.path().join("audit.jsonl");
    let app = spawn_app_with(common::Config {
        auth: server::auth::AuthMode::Users(Arc::new(users)),
        audit_log: Some(audit.clone()),
        ..config(etcd.endpoint())
    })
    .await;
    app.wait_for_health(200, LIMIT).await;
    let revision = put(&mut client, "/auth/k", "v").await;
    let login = |name: &'static str, password: &'static str| {
        let app = &app;
        async move {
            let response = app
                .http
                .post(app.url("/api/v1/login"))
                .json(&json!({"username": name, "password": password}))
                .send()
                .await
                .expect("login");
            assert_eq!(response.status().as_u16(), 200);
            let cookie = response
                .headers()
                .get("set-cookie")
                .expect("cookie")
                .to_str()
                .expect("text");
            cookie.split(';').next().expect("pair").to_owned()
        }
    };
    let vera = login("vera", "viewer-pw").await;
    let otto = login("otto", "operator-pw").await;
    let body = json!({"value": "changed", "expect_mod_revision": revision});
    let put_as = |cookie: Option<&str>, origin: Option<&str>| {
        let mut request = app.http.put(app.url(&key_path("/auth/k"))).json(&body);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        TestApp::answer(request)
    };

    let (status, _) = put_as(None, None).await;
    assert_eq!(status, 401, "no session");
    let (status, body) = TestApp::answer(app.http.get(app.url(&key_path("/auth/k"))).header("cookie", &vera)).await;
    assert_eq!((status, &body["kv"]["value"]), (200, &json!("v")), "a viewer reads");
    let (status, body) = put_as(Some(&vera), None).await;
    assert_eq!((status, &body["error"]["code"]), (403, &json!("forbidden")), "{body}");
    let (status, _) = put_as(Some(&otto), Some("http://evil.example")).await;
    assert_eq!(status, 403, "another origin");
    let stored = client.get("/auth/k", None).await.expect("get");
    assert_eq!(stored.kvs().first().map(|kv| kv.mod_revision()), Some(revision));
    let own = format!("http://{}", app.addr);
    let (status, body) = put_as(Some(&otto), Some(&own)).await;
    assert_eq!(status, 200, "{body}");
    let stored = client.get("/auth/k", None).await.expect("get");
    assert_eq!(stored.kvs().first().map(|kv| kv.value()), Some(&b"changed"[..]));

    let lines = audit_lines(&audit);
    // A refused request is audited as its method and path (the session
    // check sees the path inside /api/v1).
    let summary: Vec<(String, &str, &str)> = lines
        .iter()
        .map(|l| {
            let action = l["action"].as_str().unwrap_or_default();
            let action = match action.strip_prefix("PUT ") {
                Some(path) if path.ends_with("/kv/%2Fauth%2Fk") => "PUT".to_owned(),
                _ => action.to_owned(),
            };
            (
                action,
                l["who"].as_str().unwrap_or_default(),
                l["result"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let expected = [
        ("PUT", "anonymous", "refused"),
        ("put_key", "vera", "refused"),
        ("PUT", "anonymous", "refused"),
        ("put_key", "otto", "ok"),
    ];
    assert_eq!(
        summary.iter().map(|(a, w, r)| (a.as_str(), *w, *r)).collect::<Vec<_>>(),
        expected,
        "{lines:?}"
    );
    assert_eq!(lines[3]["key"], "/auth/k");
    assert!(
        !lines.iter().any(|l| l.to_string().contains("changed")),
        "no value in the audit log"
    );
    app.shutdown().await;
}

/// A key's page says why it is what it is: the rule and its evidence, or,
/// for a plain key, the rules it almost matched and what failed; at a past
/// revision, as the value was then.
#[tokio::test]
async fn a_key_says_which_rule_classified_it_or_which_nearly_did() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let kratos = r#"{"id":"p1","name":"pay","endpoints":["grpc://10.0.0.1:9000"]}"#;
    put(&mut client, "/microservices/pay/p1", kratos).await;
    let (status, body) = app.get(&key_path("/microservices/pay/p1")).await;
    assert_eq!(status, 200, "{body}");
    let classification = &body["classification"];
    assert_eq!(classification["kind"], "instance", "{body}");
    assert_eq!(classification["rule"], "kratos", "{body}");
    assert_eq!(classification["of"], json!(["pay"]), "{body}");
    assert!(classification["evidence"][0]
        .as_str()
        .is_some_and(|e| e.contains("/microservices/")));
    assert_eq!(classification["near_misses"], json!([]));

    // Under /services/ but not dubbo-go's JSON: plain, and almost dubbo-app.
    let first = put(&mut client, "/services/shop/1", r#"{"address":"10.0.0.1:80"}"#).await;
    let (_, body) = app.get(&key_path("/services/shop/1")).await;
    let classification = &body["classification"];
    assert_eq!(classification["kind"], "kv", "{body}");
    assert!(classification.get("rule").is_none(), "{body}");
    assert_eq!(classification["near_misses"][0]["rule"], "dubbo-app", "{body}");
    assert!(classification["near_misses"][0]["failed"]
        .as_str()
        .is_some_and(|f| f.contains("ServiceName")));

    // Rewritten as dubbo-go writes it: an instance now, a near miss then.
    let dubbo = r#"{"ID":"10.0.0.1:80","ServiceName":"shop","Host":"10.0.0.1","Port":80}"#;
    put(&mut client, "/services/shop/1", dubbo).await;
    let (_, body) = app.get(&key_path("/services/shop/1")).await;
    assert_eq!(body["classification"]["rule"], "dubbo-app", "{body}");
    let (_, body) = app.get(&format!("{}?rev={first}", key_path("/services/shop/1"))).await;
    assert_eq!(body["classification"]["kind"], "kv", "{body}");
    app.shutdown().await;
}
