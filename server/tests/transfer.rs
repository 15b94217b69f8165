//! Export and import against a real etcd: a byte-exact export at a past
//! revision (binary keys and values, leases kept and dropped, 410 once
//! compacted), an import's dry run and its apply with a write made between
//! the two (a conflict, never an overwrite), several transactions, leases
//! recreated, etcdctl's JSON as input, the refusals (viewer, `--read-only`,
//! out of scope) audited, and the command line run as a process.

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
use common::{audit_lines, config, etcd_client, spawn_app, spawn_app_with, start_etcd, TestApp};
use etcd_client::{GetOptions, PutOptions};
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(30);

async fn put(client: &mut etcd_client::Client, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> i64 {
    client
        .put(key, value, None)
        .await
        .expect("put")
        .header()
        .expect("header")
        .revision()
}

/// The keys under `prefix` at `revision` (0: now), as etcd holds them:
/// key bytes -> (value bytes, lease).
async fn etcd_keys(
    client: &mut etcd_client::Client,
    prefix: &[u8],
    revision: i64,
) -> BTreeMap<Vec<u8>, (Vec<u8>, i64)> {
    let mut options = GetOptions::new().with_prefix();
    if revision > 0 {
        options = options.with_revision(revision);
    }
    client
        .get(prefix, Some(options))
        .await
        .expect("get")
        .kvs()
        .iter()
        .map(|kv| (kv.key().to_vec(), (kv.value().to_vec(), kv.lease())))
        .collect()
}

/// Bytes of a document's `key`/`value` with its `_base64` twin.
fn bytes(item: &Value, field: &str) -> Vec<u8> {
    match item[format!("{field}_base64")].as_str() {
        Some(encoded) => STANDARD.decode(encoded).expect("base64"),
        None => item[field].as_str().expect(field).as_bytes().to_vec(),
    }
}

/// The document's keys: key bytes -> (value bytes, lease id in hex or "").
fn document_keys(document: &Value) -> BTreeMap<Vec<u8>, (Vec<u8>, String)> {
    document["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            (
                bytes(item, "key"),
                (
                    bytes(item, "value"),
                    item["lease"].as_str().unwrap_or_default().to_owned(),
                ),
            )
        })
        .collect()
}

async fn export(app: &TestApp, query: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let response = app
        .http
        .get(app.url(&format!("/api/v1/export?{query}")))
        .send()
        .await
        .expect("export");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("body"))
}

/// `POST /api/v1/import` of `request`'s `document`, its other fields
/// (`prefix`, `dry_run`, `expect_revision`, ...) as the query.
async fn import(app: &TestApp, request: &Value) -> (u16, Value) {
    TestApp::answer(import_request(app, request)).await
}

fn import_request(app: &TestApp, request: &Value) -> reqwest::RequestBuilder {
    let mut query: Vec<(String, String)> = Vec::new();
    for (name, value) in request.as_object().expect("an object") {
        if name != "document" {
            let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
            query.push((name.clone(), text));
        }
    }
    let body = serde_json::to_vec(&request["document"]).expect("a document");
    app.http
        .post(app.url("/api/v1/import"))
        .query(&query)
        .header("content-type", "application/json")
        .body(body)
}

fn keys_of(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|k| k["key"].as_str().expect("key").to_owned())
        .collect()
}

#[tokio::test]
async fn an_export_is_byte_exact_at_a_past_revision_with_leases_kept_or_dropped_and_410_once_compacted() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let lease = client.lease_grant(90, None).await.expect("grant").id();
    put(&mut client, "/ex/text", "plain").await;
    put(&mut client, b"/ex/bin\xff\x00".to_vec(), vec![0u8, 0xfe, 0xff, 1]).await;
    put(&mut client, "/ex/empty", "").await;
    client
        .put("/ex/leased", "on a lease", Some(PutOptions::new().with_lease(lease)))
        .await
        .expect("put");
    put(&mut client, "/other/x", "not exported").await;
    let at = put(&mut client, "/ex/utf8", "héllo ✓").await;
    // After the revision exported: none of it may show.
    put(&mut client, "/ex/text", "changed later").await;
    put(&mut client, "/ex/later", "added later").await;

    let (status, headers, text) = export(&app, &format!("prefix=%2Fex%2F&rev={at}")).await;
    assert_eq!(status, 200, "{text}");
    let disposition = headers
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let document: Value = serde_json::from_str(&text).expect("the export is JSON");
    assert_eq!(document["format"], "leasehold-export/1");
    assert_eq!(document["prefix"], "/ex/");
    assert_eq!(document["revision"], at);
    assert!(document["exported_at"].as_str().is_some_and(|t| t.contains('T')));
    let exported = document_keys(&document);
    let held = etcd_keys(&mut client, b"/ex/", at).await;
    let held_hex: BTreeMap<Vec<u8>, (Vec<u8>, String)> = held
        .iter()
        .map(|(k, (v, l))| {
            (
                k.clone(),
                (v.clone(), if *l == 0 { String::new() } else { format!("{l:x}") }),
            )
        })
        .collect();
    assert_eq!(exported, held_hex, "the export equals etcd at revision {at}");
    assert_eq!(exported.len(), 5);
    assert_eq!(document["leases"], json!([{"id": format!("{lease:x}"), "ttl": 90}]));
    // Revisions are etcd's.
    let item = document["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["key"] == "/ex/text")
        .expect("the text key");
    assert!(item["mod_revision"].as_i64().is_some_and(|r| r < at) && item["version"] == 1);

    let (status, _, text) = export(&app, &format!("prefix=%2Fex%2F&rev={at}&leases=drop")).await;
    assert_eq!(status, 200);
    let dropped: Value = serde_json::from_str(&text).expect("JSON");
    assert!(dropped.get("leases").is_none(), "{dropped}");
    assert!(dropped["items"]
        .as_array()
        .expect("items")
        .iter()
        .all(|i| i.get("lease").is_none()));

    // Now: the later writes are in it.
    let (_, _, text) = export(&app, "prefix=%2Fex%2F").await;
    let now: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(now["items"].as_array().map(Vec::len), Some(6));

    let (status, _, text) = export(&app, "prefix=%2Fex%2F&leases=sometimes").await;
    assert_eq!(status, 400, "{text}");

    let later = put(&mut client, "/ex/compact-mark", "x").await;
    client.compact(later, None).await.expect("compact");
    let (status, _, text) = export(&app, &format!("prefix=%2Fex%2F&rev={at}")).await;
    let error: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!((status, &error["error"]["code"]), (410, &json!("compacted")), "{text}");
    assert!(text.contains(&later.to_string()), "the horizon is named: {text}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_dry_run_lists_the_changes_and_an_apply_reports_a_write_made_meanwhile_and_applies_the_rest() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    for (key, value) in [("same", "1"), ("differs", "new"), ("added", "a"), ("raced", "mine")] {
        put(&mut client, format!("/src/{key}"), value).await;
    }
    put(&mut client, b"/src/bin\xfe".to_vec(), vec![0xffu8, 0]).await;
    for (key, value) in [("same", "1"), ("differs", "old"), ("extra", "only here")] {
        put(&mut client, format!("/dst/{key}"), value).await;
    }
    let (_, _, text) = export(&app, "prefix=%2Fsrc%2F").await;
    let document: Value = serde_json::from_str(&text).expect("JSON");

    let (status, plan) = import(
        &app,
        &json!({"prefix": "/dst/", "document": document, "dry_run": true, "delete_missing": true}),
    )
    .await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["from"], "/src/");
    assert_eq!(
        keys_of(&plan["added"]),
        ["/dst/added", "/dst/bin\u{fffd}", "/dst/raced"]
    );
    assert_eq!(plan["added"][1]["key_base64"], STANDARD.encode(b"/dst/bin\xfe"));
    assert_eq!(plan["added"][1]["after"]["value_base64"], STANDARD.encode([0xffu8, 0]));
    assert_eq!(plan["added"][0]["mod_revision"], 0);
    assert_eq!(keys_of(&plan["changed"]), ["/dst/differs"]);
    assert_eq!(plan["changed"][0]["before"]["value"], "old");
    assert_eq!(plan["changed"][0]["after"]["value"], "new");
    assert!(plan["changed"][0]["mod_revision"].as_i64().is_some_and(|r| r > 0));
    assert_eq!(plan["unchanged"], 1);
    assert_eq!(keys_of(&plan["absent_here"]), ["/dst/extra"]);
    assert_eq!(plan["applied"], false);
    let seen = plan["revision"].as_i64().expect("revision");
    // Nothing was written by the dry run.
    assert_eq!(etcd_keys(&mut client, b"/dst/", 0).await.len(), 3);

    // Between the dry run and the apply, someone creates a key the import
    // adds, and changes the one it deletes.
    put(&mut client, "/dst/raced", "theirs").await;
    put(&mut client, "/dst/extra", "edited meanwhile").await;

    let (status, _) = import(
        &app,
        &json!({"prefix": "/dst/", "document": document, "dry_run": false}),
    )
    .await;
    assert_eq!(status, 400, "an apply needs the dry run's revision");
    let (status, done) = import(
        &app,
        &json!({"prefix": "/dst/", "document": document, "dry_run": false, "delete_missing": true,
                "expect_revision": seen}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["applied"], true);
    assert_eq!(done["revision"], seen);
    let conflicts: Vec<(&str, &Value, &Value)> = done["conflicts"]
        .as_array()
        .expect("conflicts")
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap_or_default(),
                &c["current"]["value"],
                &c["after"]["value"],
            )
        })
        .collect();
    assert_eq!(
        conflicts,
        [
            ("/dst/extra", &json!("edited meanwhile"), &Value::Null),
            ("/dst/raced", &json!("theirs"), &json!("mine")),
        ],
        "{done}"
    );
    assert_eq!(done["conflicts"][1]["expected_mod_revision"], 0);
    assert_eq!((&done["written"], &done["deleted"]), (&json!(3), &json!(0)), "{done}");
    assert!(done.get("interrupted").is_none());
    let after = etcd_keys(&mut client, b"/dst/", 0).await;
    let text = |key: &str| {
        after
            .get(key.as_bytes())
            .map(|(v, _)| String::from_utf8_lossy(v).into_owned())
    };
    assert_eq!(text("/dst/raced").as_deref(), Some("theirs"), "not overwritten");
    assert_eq!(text("/dst/extra").as_deref(), Some("edited meanwhile"), "not deleted");
    assert_eq!(text("/dst/differs").as_deref(), Some("new"));
    assert_eq!(text("/dst/added").as_deref(), Some("a"));
    assert_eq!(
        after.get(&b"/dst/bin\xfe"[..]).map(|(v, _)| v.clone()),
        Some(vec![0xff, 0])
    );

    // A dry run again: only the two conflicts are left to do.
    let (_, plan) = import(
        &app,
        &json!({"prefix": "/dst/", "document": document, "delete_missing": true}),
    )
    .await;
    assert_eq!(keys_of(&plan["changed"]), ["/dst/raced"]);
    assert_eq!(keys_of(&plan["absent_here"]), ["/dst/extra"]);
    assert_eq!(plan["unchanged"], 4);
    app.shutdown().await;
}

#[tokio::test]
async fn an_import_of_300_keys_is_several_transactions_and_etcd_then_equals_the_document() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    common::put_all(
        &mut client,
        (0..300).map(|i| (format!("/many/k{i:04}"), format!("value {i}"))),
    )
    .await;
    let (_, _, text) = export(&app, "prefix=%2Fmany%2F").await;
    let document: Value = serde_json::from_str(&text).expect("JSON");
    let (_, plan) = import(&app, &json!({"prefix": "/moved/", "document": document})).await;
    assert_eq!(plan["added"].as_array().map(Vec::len), Some(300), "{plan}");
    let (status, done) = import(
        &app,
        &json!({"prefix": "/moved/", "document": document, "dry_run": false, "expect_revision": plan["revision"]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(done["written"], 300, "{done}");
    // 128 keys at most per transaction (128 compares, 128 puts).
    assert_eq!(done["transactions"], 3, "{done}");
    let source = etcd_keys(&mut client, b"/many/", 0).await;
    let moved = etcd_keys(&mut client, b"/moved/", 0).await;
    let rerooted: BTreeMap<Vec<u8>, (Vec<u8>, i64)> = source
        .into_iter()
        .map(|(k, v)| ([b"/moved/", &k[b"/many/".len()..]].concat(), v))
        .collect();
    assert_eq!(moved, rerooted);
    app.shutdown().await;
}

#[tokio::test]
async fn a_document_of_24_mib_is_read_from_disk_written_a_value_per_transaction_and_answered_within_bounds() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    // 24 values of 1 MiB (one per transaction: over 1 MiB with its key),
    // binary and each different, and one key here that changes meanwhile.
    let value = |i: u8| -> Vec<u8> { (0..1u32 << 20).map(|j| (j as u8) ^ i ^ 0x80).collect() };
    let items: Vec<Value> = (0..24u8)
        .map(|i| {
            json!({"key": format!("/big/v{i:02}"), "value": "",
                   "value_base64": STANDARD.encode(value(i))})
        })
        .collect();
    let document = json!({"format": "leasehold-export/1", "prefix": "/big/", "items": items});
    put(&mut client, "/into/v05", "here before").await;
    let (status, plan) = import(&app, &json!({"prefix": "/into/", "document": document})).await;
    assert_eq!(status, 200, "{plan}");
    let (added, changed) = (plan["added"].as_array().expect("added"), &plan["changed"]);
    assert_eq!((added.len(), changed.as_array().map(Vec::len)), (23, Some(1)), "{plan}");
    // Every value is given by its size; the answer shows at most 8 MiB of
    // each list's values, the rest by size alone.
    assert!(added.iter().all(|k| k["after"]["size"] == json!(1u32 << 20)));
    let shown = added.iter().filter(|k| k["after"]["omitted"] != json!(true)).count();
    assert_eq!(shown, 8, "8 MiB of values are shown");
    let first = added.first().expect("one");
    assert_eq!(
        STANDARD
            .decode(first["after"]["value_base64"].as_str().expect("base64"))
            .expect("bytes"),
        value(0)
    );
    put(&mut client, "/into/v07", "written meanwhile").await;
    let (status, done) = import(
        &app,
        &json!({"prefix": "/into/", "document": document, "dry_run": false, "expect_revision": plan["revision"]}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (&done["written"], &done["transactions"]),
        (&json!(23), &json!(23)),
        "{done}"
    );
    let conflicts = done["conflicts"].as_array().expect("conflicts");
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0]["key"], "/into/v07");
    assert_eq!(conflicts[0]["current"]["value"], "written meanwhile");
    let count = client
        .get("/into/", Some(GetOptions::new().with_prefix().with_count_only()))
        .await
        .expect("count");
    assert_eq!(count.count(), 24);
    // One at a time: all of them are over a gRPC answer's 4 MiB.
    for i in 0..24u8 {
        let key = format!("/into/v{i:02}");
        let answer = client.get(key.as_str(), None).await.expect("get");
        let bytes = answer.kvs().first().expect("the key").value().to_vec();
        if i == 7 {
            assert_eq!(bytes, b"written meanwhile", "the newer write is kept");
        } else {
            assert!(bytes == value(i), "{key} is not the document's value");
        }
    }
    app.shutdown().await;
}

#[tokio::test]
async fn an_apply_that_etcd_stops_midway_says_how_far_it_got_and_the_rest_is_untouched() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = dir.path().join("audit.jsonl");
    let app = spawn_app_with(common::Config {
        audit_log: Some(audit.clone()),
        ..config(etcd.endpoint())
    })
    .await;
    app.wait_for_health(200, LIMIT).await;
    // 200 keys, and in their key order one value etcd refuses (over its
    // 1.5 MiB request limit): too large to share a transaction, it goes
    // after the others, which go through; then the apply stops there.
    let mut items: Vec<Value> = (0..200)
        .map(|i| json!({"key": format!("/big/k{i:04}"), "value": format!("v{i}")}))
        .collect();
    items.push(json!({"key": "/big/k0100-huge", "value": "x".repeat(2 << 20)}));
    let document = json!({"format": "leasehold-export/1", "prefix": "/big/", "revision": 1,
                          "exported_at": "2026-12-07T00:00:00Z", "items": items});
    let (status, plan) = import(&app, &json!({"prefix": "/into/", "document": document})).await;
    assert_eq!((status, plan["added"].as_array().map(Vec::len)), (200, Some(201)));
    let (status, done) = import(
        &app,
        &json!({"prefix": "/into/", "document": document, "dry_run": false, "expect_revision": plan["revision"]}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert!(done["interrupted"].as_str().is_some_and(|m| !m.is_empty()), "{done}");
    // The 200 small keys are written (128 + 72), the huge one is not.
    assert_eq!(
        (&done["written"], &done["remaining"]),
        (&json!(200), &json!(1)),
        "{done}"
    );
    assert_eq!(done["transactions"], 2);
    let held = etcd_keys(&mut client, b"/into/", 0).await;
    assert_eq!(held.len(), 200);
    assert!(held.contains_key(&b"/into/k0199"[..]) && !held.contains_key(&b"/into/k0100-huge"[..]));
    let lines = audit_lines(&audit);
    let last = lines.last().expect("an entry");
    assert_eq!(
        (&last["action"], &last["result"]),
        (&json!("import"), &json!("failed")),
        "{last}"
    );
    assert!(
        last["detail"].as_str().is_some_and(|d| d.contains("1 key(s) left")),
        "{last}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn recreated_leases_are_new_leases_with_the_recorded_ttls() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let long = client.lease_grant(300, None).await.expect("grant").id();
    let short = client.lease_grant(120, None).await.expect("grant").id();
    for (key, lease) in [("a", long), ("b", long), ("c", short)] {
        client
            .put(format!("/l/{key}"), "v", Some(PutOptions::new().with_lease(lease)))
            .await
            .expect("put");
    }
    put(&mut client, "/l/plain", "no lease").await;
    let (_, _, text) = export(&app, "prefix=%2Fl%2F").await;
    let document: Value = serde_json::from_str(&text).expect("JSON");
    let (_, plan) = import(
        &app,
        &json!({"prefix": "/l2/", "document": document, "leases": "recreate"}),
    )
    .await;
    let (status, done) = import(
        &app,
        &json!({"prefix": "/l2/", "document": document, "leases": "recreate", "dry_run": false,
                "expect_revision": plan["revision"]}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["written"], 4);
    let granted: BTreeMap<String, (String, i64)> = done["leases"]
        .as_array()
        .expect("leases")
        .iter()
        .map(|l| {
            (
                l["from"].as_str().unwrap_or_default().to_owned(),
                (
                    l["id"].as_str().unwrap_or_default().to_owned(),
                    l["ttl"].as_i64().unwrap_or(0),
                ),
            )
        })
        .collect();
    assert_eq!(granted.len(), 2, "{done}");
    assert_eq!(granted[&format!("{long:x}")].1, 300);
    assert_eq!(granted[&format!("{short:x}")].1, 120);
    let moved = etcd_keys(&mut client, b"/l2/", 0).await;
    let lease_of = |key: &str| moved.get(key.as_bytes()).map_or(-1, |(_, l)| *l);
    let new_long = i64::from_str_radix(&granted[&format!("{long:x}")].0, 16).expect("hex");
    assert!(new_long != long && new_long != 0);
    assert_eq!((lease_of("/l2/a"), lease_of("/l2/b")), (new_long, new_long));
    assert!(lease_of("/l2/c") != short && lease_of("/l2/c") != 0);
    assert_eq!(lease_of("/l2/plain"), 0);
    let ttl = client.lease_time_to_live(new_long, None).await.expect("ttl");
    assert_eq!(ttl.granted_ttl(), 300);

    // Without recreate, the keys are written with no lease at all.
    let (_, done) = {
        let (_, plan) = import(&app, &json!({"prefix": "/l3/", "document": document})).await;
        import(
            &app,
            &json!({"prefix": "/l3/", "document": document, "dry_run": false, "expect_revision": plan["revision"]}),
        )
        .await
    };
    assert_eq!(done["written"], 4);
    assert!(etcd_keys(&mut client, b"/l3/", 0).await.values().all(|(_, l)| *l == 0));
    app.shutdown().await;
}

#[tokio::test]
async fn etcdctl_json_output_imports_as_the_export_does() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    put(&mut client, "/ctl/a", "1").await;
    put(&mut client, "/ctl/sub/b", "2").await;
    put(&mut client, b"/ctl/\xff".to_vec(), vec![0u8, 0xff]).await;
    put(&mut client, "/ctl/empty", "").await;
    let output = tokio::process::Command::new("etcdctl")
        .args([
            "--endpoints",
            &etcd.endpoint(),
            "get",
            "--prefix",
            "/ctl/",
            "-w",
            "json",
        ])
        .env("ETCDCTL_API", "3")
        .output()
        .await
        .expect("etcdctl runs (is etcd-client installed?)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let etcdctl: Value = serde_json::from_slice(&output.stdout).expect("etcdctl's JSON");
    let (_, _, text) = export(&app, "prefix=%2Fctl%2F").await;
    let ours: Value = serde_json::from_str(&text).expect("JSON");

    let (status, from_etcdctl) = import(&app, &json!({"prefix": "/copy/", "document": etcdctl})).await;
    assert_eq!(status, 200, "{from_etcdctl}");
    assert_eq!(from_etcdctl["from"], "/ctl/", "the keys' common folder");
    let (_, from_export) = import(&app, &json!({"prefix": "/copy/", "document": ours})).await;
    assert_eq!(from_etcdctl["added"], from_export["added"]);
    assert_eq!(from_etcdctl["added"].as_array().map(Vec::len), Some(4));
    let (status, done) = import(
        &app,
        &json!({"prefix": "/copy/", "document": etcdctl, "dry_run": false,
                "expect_revision": from_etcdctl["revision"]}),
    )
    .await;
    assert_eq!((status, &done["written"]), (200, &json!(4)), "{done}");
    assert_eq!(
        etcd_keys(&mut client, b"/copy/\xff", 0)
            .await
            .values()
            .next()
            .map(|(v, _)| v.clone()),
        Some(vec![0, 0xff])
    );
    // etcdctl records no lease TTL: recreating leases from it is refused.
    let (status, body) = import(
        &app,
        &json!({"prefix": "/copy/", "document": etcdctl, "leases": "recreate"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // A `from` that not every key is under is refused.
    let (_, plan) = import(
        &app,
        &json!({"prefix": "/deep/", "from": "/ctl/sub/", "document": etcdctl}),
    )
    .await;
    assert_eq!(plan["error"]["code"], "bad_request", "a key outside `from`: {plan}");
    app.shutdown().await;
}

#[tokio::test]
async fn under_read_only_an_import_is_refused_and_audited_and_outside_prefix_it_is_out_of_scope() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = dir.path().join("audit.jsonl");
    let app = spawn_app_with(common::Config {
        read_only: true,
        audit_log: Some(audit.clone()),
        prefixes: vec!["/in/".to_owned()],
        ..config(etcd.endpoint())
    })
    .await;
    app.wait_for_health(200, LIMIT).await;
    put(&mut client, "/in/a", "1").await;
    let (status, _, text) = export(&app, "prefix=%2Fin%2F").await;
    assert_eq!(status, 200, "an export is a read: {text}");
    let document: Value = serde_json::from_str(&text).expect("JSON");
    let (status, _, text) = export(&app, "prefix=%2Fout%2F").await;
    assert!(status == 403 && text.contains("out_of_scope"), "{status} {text}");
    let (status, _, text) = export(&app, "prefix=").await;
    assert_eq!(status, 403, "wider than --prefix: {text}");

    let (status, body) = import(
        &app,
        &json!({"prefix": "/in/b/", "document": document, "dry_run": false, "expect_revision": 1}),
    )
    .await;
    assert_eq!((status, &body["error"]["code"]), (403, &json!("forbidden")), "{body}");
    assert!(etcd_keys(&mut client, b"/in/b/", 0).await.is_empty());
    let (status, body) = TestApp::answer(
        app.http
            .post(app.url("/api/v1/copy"))
            .json(&json!({"from": "/in/", "to": "/in2/", "rename": true, "dry_run": false, "expect_revision": 1})),
    )
    .await;
    assert_eq!((status, &body["error"]["code"]), (403, &json!("forbidden")), "{body}");
    assert_eq!(etcd_keys(&mut client, b"/in/", 0).await.len(), 1, "nothing renamed");
    let lines = audit_lines(&audit);
    let summary: Vec<(&Value, &Value)> = lines.iter().map(|l| (&l["action"], &l["result"])).collect();
    assert_eq!(
        summary,
        [
            (&json!("import"), &json!("refused")),
            (&json!("copy"), &json!("refused"))
        ],
        "{lines:?}"
    );
    app.shutdown().await;

    // Writable, with --prefix: an import outside it is refused and audited.
    let audit = dir.path().join("audit2.jsonl");
    let app = spawn_app_with(common::Config {
        audit_log: Some(audit.clone()),
        prefixes: vec!["/in/".to_owned()],
        ..config(etcd.endpoint())
    })
    .await;
    app.wait_for_health(200, LIMIT).await;
    let (status, body) = import(
        &app,
        &json!({"prefix": "/out/", "document": document, "dry_run": false, "expect_revision": 1}),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (403, &json!("out_of_scope")),
        "{body}"
    );
    assert!(etcd_keys(&mut client, b"/out/", 0).await.is_empty());
    let lines = audit_lines(&audit);
    assert_eq!(
        (&lines[0]["action"], &lines[0]["key"], &lines[0]["result"]),
        (&json!("import"), &json!("/out/"), &json!("refused"))
    );
    // Inside it, applied and audited with its counts.
    let (_, plan) = import(&app, &json!({"prefix": "/in/copy/", "document": document})).await;
    let (status, done) = import(
        &app,
        &json!({"prefix": "/in/copy/", "document": document, "dry_run": false, "expect_revision": plan["revision"]}),
    )
    .await;
    assert_eq!((status, &done["written"]), (200, &json!(1)), "{done}");
    let lines = audit_lines(&audit);
    let last = lines.last().expect("an entry");
    assert_eq!((&last["action"], &last["result"]), (&json!("import"), &json!("ok")));
    assert!(
        last["detail"].as_str().is_some_and(|d| d.contains("1 written")),
        "{last}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_viewer_may_dry_run_but_not_apply_and_the_refusal_is_audited() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let viewer = server::auth::hash_password("viewer-pw").expect("hash");
    let users = format!("[[users]]\nname = \"vera\"\nrole = \"viewer\"\npassword_hash = \"{viewer}\"\n");
    let users = server::auth::Users::parse(&users).expect("users");
    let audit = dir.path().join("audit.jsonl");
    let app = spawn_app_with(common::Config {
        auth: server::auth::AuthMode::Users(Arc::new(users)),
        audit_log: Some(audit.clone()),
        ..config(etcd.endpoint())
    })
    .await;
    app.wait_for_health(200, LIMIT).await;
    put(&mut client, "/v/a", "1").await;
    let response = app
        .http
        .post(app.url("/api/v1/login"))
        .json(&json!({"username": "vera", "password": "viewer-pw"}))
        .send()
        .await
        .expect("login");
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .expect("cookie")
        .to_owned();
    let response = app
        .http
        .get(app.url("/api/v1/export?prefix=%2Fv%2F"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("export");
    assert_eq!(response.status().as_u16(), 200);
    let document: Value = response.json().await.expect("JSON");
    let as_vera = |body: Value| TestApp::answer(import_request(&app, &body).header("cookie", &cookie));
    let (status, plan) = as_vera(json!({"prefix": "/v2/", "document": document})).await;
    assert_eq!(
        (status, plan["added"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{plan}"
    );
    let (status, body) = as_vera(json!({"prefix": "/v2/", "document": document, "dry_run": false,
                                         "expect_revision": plan["revision"]}))
    .await;
    assert_eq!((status, &body["error"]["code"]), (403, &json!("forbidden")), "{body}");
    assert!(etcd_keys(&mut client, b"/v2/", 0).await.is_empty());
    let lines = audit_lines(&audit);
    let imports: Vec<(&Value, &Value)> = lines
        .iter()
        .filter(|l| l["action"] == "import")
        .map(|l| (&l["who"], &l["result"]))
        .collect();
    assert_eq!(
        imports,
        [(&json!("vera"), &json!("refused"))],
        "the dry run is not audited"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_command_line_exports_and_imports_with_a_dry_run_first() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let binary = env!("CARGO_BIN_EXE_leasehold");
    let lease = client.lease_grant(200, None).await.expect("grant").id();
    put(&mut client, "/cli/a", "1").await;
    put(&mut client, b"/cli/\x80bin".to_vec(), vec![0x80u8, 0x81]).await;
    client
        .put("/cli/leased", "l", Some(PutOptions::new().with_lease(lease)))
        .await
        .expect("put");
    put(&mut client, "/cli2/stale", "only in the target").await;
    let file = dir.path().join("export.json");
    let output = tokio::process::Command::new(binary)
        .args(["export", "--endpoints", &etcd.endpoint(), "--prefix", "/cli/", "-o"])
        .arg(&file)
        .output()
        .await
        .expect("leasehold export runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let document: Value = serde_json::from_slice(&std::fs::read(&file).expect("the file")).expect("JSON");
    assert_eq!(document_keys(&document).len(), 3);
    assert_eq!(document["leases"][0]["ttl"], 200);

    let run = |args: &[&str]| {
        let mut command = tokio::process::Command::new(binary);
        command
            .args(["import", "--etcd", &etcd.endpoint(), "--prefix", "/cli2/"])
            .args(args)
            .arg(&file);
        command.output()
    };
    let output = run(&["--delete-missing"]).await.expect("leasehold import runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let plan: Value = serde_json::from_slice(&output.stdout).expect("the plan on stdout");
    assert_eq!(plan["added"].as_array().map(Vec::len), Some(3), "{plan}");
    assert_eq!(keys_of(&plan["absent_here"]), ["/cli2/stale"]);
    assert_eq!(plan["applied"], false);
    assert_eq!(
        etcd_keys(&mut client, b"/cli2/", 0).await.len(),
        1,
        "a dry run writes nothing"
    );

    let output = run(&["--delete-missing", "--recreate-leases", "--apply"])
        .await
        .expect("leasehold import runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let done: Value = serde_json::from_slice(&output.stdout).expect("the outcome on stdout");
    assert_eq!((&done["written"], &done["deleted"]), (&json!(3), &json!(1)), "{done}");
    let moved = etcd_keys(&mut client, b"/cli2/", 0).await;
    assert_eq!(moved.len(), 3);
    assert_eq!(
        moved.get(&b"/cli2/\x80bin"[..]).map(|(v, _)| v.clone()),
        Some(vec![0x80, 0x81])
    );
    let new_lease = moved.get(&b"/cli2/leased"[..]).map_or(0, |(_, l)| *l);
    assert!(new_lease != 0 && new_lease != lease);

    // `leasehold copy --rename`: the dry run first, then the move.
    let copy = |args: &[&str]| {
        let mut command = tokio::process::Command::new(binary);
        command
            .args(["copy", "--etcd", &etcd.endpoint(), "--from", "/cli2/", "--to", "/cli4/"])
            .args(args);
        command.output()
    };
    let output = copy(&["--rename"]).await.expect("leasehold copy runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let plan: Value = serde_json::from_slice(&output.stdout).expect("the plan on stdout");
    assert_eq!(plan["copy"]["added"].as_array().map(Vec::len), Some(3), "{plan}");
    assert_eq!(
        etcd_keys(&mut client, b"/cli2/", 0).await.len(),
        3,
        "a dry run moves nothing"
    );
    let output = copy(&["--rename", "--apply"]).await.expect("leasehold copy runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let done: Value = serde_json::from_slice(&output.stdout).expect("the outcome on stdout");
    assert_eq!(
        (&done["copy"]["written"], &done["removed"]),
        (&json!(3), &json!(3)),
        "{done}"
    );
    assert!(etcd_keys(&mut client, b"/cli2/", 0).await.is_empty());
    let renamed: Vec<(Vec<u8>, Vec<u8>)> = etcd_keys(&mut client, b"/cli4/", 0)
        .await
        .into_iter()
        .map(|(k, (v, _))| (k, v))
        .collect();
    let expected: Vec<(Vec<u8>, Vec<u8>)> = moved
        .iter()
        .map(|(k, (v, _))| ([b"/cli4/", &k[b"/cli2/".len()..]].concat(), v.clone()))
        .collect();
    assert_eq!(renamed, expected);
    let output = copy(&["--rename", "--rev", "3"]).await.expect("runs");
    assert_eq!(output.status.code(), Some(2), "clap refuses a rename of the past");

    // A refusal is an error exit, not a panic: a document that is none.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"format\":\"other\"}").expect("write");
    let output = tokio::process::Command::new(binary)
        .args(["import", "--etcd", &etcd.endpoint(), "--prefix", "/cli3/"])
        .arg(&bad)
        .output()
        .await
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn a_rename_moves_the_keys_whose_copy_was_written_and_keeps_what_changed_meanwhile() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app(&etcd).await;
    app.wait_for_health(200, LIMIT).await;
    let copy = |body: Value| TestApp::answer(app.http.post(app.url("/api/v1/copy")).json(&body));
    let first = put(&mut client, "/old/a", "1").await;
    put(&mut client, "/old/b", "2").await;
    put(&mut client, "/old/c", "3").await;
    put(&mut client, "/new/b", "already there").await;

    let (status, plan) = copy(json!({"from": "/old/", "to": "/new/", "rename": true})).await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["source_keys"], 3);
    assert_eq!(keys_of(&plan["copy"]["added"]), ["/new/a", "/new/c"]);
    assert_eq!(keys_of(&plan["copy"]["changed"]), ["/new/b"]);
    let seen = plan["copy"]["revision"].as_i64().expect("revision");
    assert_eq!(plan["source_revision"], seen, "one revision for both sides");
    assert_eq!(
        etcd_keys(&mut client, b"/old/", 0).await.len(),
        3,
        "a dry run moves nothing"
    );

    // Meanwhile: the target's b and the source's c change.
    put(&mut client, "/new/b", "theirs").await;
    put(&mut client, "/old/c", "3, edited").await;
    let (status, done) = copy(json!({"from": "/old/", "to": "/new/", "rename": true, "dry_run": false,
                                     "expect_revision": seen}))
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["copy"]["written"], 2, "{done}");
    assert_eq!(keys_of(&done["copy"]["conflicts"]), ["/new/b"]);
    assert_eq!((&done["removed"], &done["not_moved"]), (&json!(1), &json!(1)), "{done}");
    assert_eq!(keys_of(&done["removal_conflicts"]), ["/old/c"]);
    assert_eq!(done["removal_conflicts"][0]["current"]["value"], "3, edited");
    let text = |map: &BTreeMap<Vec<u8>, (Vec<u8>, i64)>| -> Vec<(String, String)> {
        map.iter()
            .map(|(k, (v, _))| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    };
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    assert_eq!(
        text(&etcd_keys(&mut client, b"/old/", 0).await),
        pairs(&[("/old/b", "2"), ("/old/c", "3, edited")]),
        "nothing lost: the unmoved and the changed stay"
    );
    assert_eq!(
        text(&etcd_keys(&mut client, b"/new/", 0).await),
        pairs(&[("/new/a", "1"), ("/new/b", "theirs"), ("/new/c", "3")])
    );

    // A copy of the past: the source as it was at the first write.
    let (_, plan) = copy(json!({"from": "/old/", "to": "/past/", "rev": first})).await;
    assert_eq!(plan["source_revision"], first);
    let (status, done) = copy(json!({"from": "/old/", "to": "/past/", "rev": first, "dry_run": false,
                                     "expect_revision": plan["copy"]["revision"]}))
    .await;
    assert_eq!((status, &done["copy"]["written"]), (200, &json!(1)), "{done}");
    assert_eq!(
        text(&etcd_keys(&mut client, b"/past/", 0).await),
        pairs(&[("/past/a", "1")])
    );
    let (status, _) = copy(json!({"from": "/old/", "to": "/old/sub/"})).await;
    assert_eq!(status, 400, "overlapping prefixes");
    let (status, _) = copy(json!({"from": "/old/", "to": "/x/", "rename": true, "rev": first})).await;
    assert_eq!(status, 400, "a rename of the past");
    app.shutdown().await;
}
