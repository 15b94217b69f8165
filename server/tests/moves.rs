//! A large prefix renamed, against a real etcd (docs/api.md, `POST
//! /api/v1/copy` with `rename`): 5,000 keys (binary keys and values among
//! them) moved by a dry run and its apply, the new prefix then holding
//! exactly the old content and the old prefix empty, in the transactions
//! etcd's 128 operations and 1 MiB require; and the link to etcd cut while
//! the move is under way: the answer says how far it got, etcd agrees with
//! it, nothing is removed from the old prefix whose copy is not in place,
//! and the same rename run again once the link is back finishes the move.
//! Every check asks etcd directly.

#![allow(
    clippy::expect_used,
    reason = "test helpers panic with a message when the setup fails"
)]

mod common;

use std::time::Duration;

use common::{config, etcd_client, spawn_app_with, start_etcd, Proxy, ProxyMode, TestApp};
use etcd_client::{DeleteOptions, GetOptions, Txn, TxnOp, WatchOptions};
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(30);
/// How long an answer may take however the link to etcd fails: the server
/// bounds each etcd call by its request timeout (5 s by default).
const ANSWER: Duration = Duration::from_secs(60);
/// How long a rename may take to write its first transaction (or answer):
/// a bound against a hang only, far beyond what a slow machine needs.
const STARTED: Duration = Duration::from_secs(120);
const KEYS: usize = 5_000;
/// etcd's limits on one transaction, as the import states them: at most 128
/// keys and 1 MiB of keys and values, a larger write alone.
const TXN_KEYS: usize = 128;
const TXN_BYTES: usize = 1 << 20;

/// Key suffix and value bytes, in key order.
type Content = Vec<(Vec<u8>, Vec<u8>)>;

/// The keys a test moves: `KEYS` suffixes (every 1000th binary), each value
/// `value_size` bytes (every ninth binary), and `large` of them from key
/// 2000 on a value of 400 KiB instead.
fn content(value_size: usize, large: usize) -> Content {
    let mut content: Content = (0..KEYS)
        .map(|i| {
            let mut suffix = format!("{i:04}").into_bytes();
            if i % 1000 == 999 {
                suffix.extend_from_slice(&[0xff, 0x00, 0xfe]);
            }
            let size = if (2000..2000 + large).contains(&i) {
                400 << 10
            } else {
                value_size
            };
            let value = if i % 9 == 4 || size > value_size {
                let mut value = vec![0xff, 0x00, 0xfe];
                value.extend_from_slice(&(i as u32).to_be_bytes());
                value.resize(size.max(value.len()), 0x80);
                value
            } else {
                let mut value = format!("value {i} ").into_bytes();
                value.resize(size.max(value.len()), b'x');
                value
            };
            (suffix, value)
        })
        .collect();
    content.sort();
    content
}

/// Writes `content` under `prefix`, in transactions of at most 100 puts and
/// 1 MiB; returns etcd's revision after the last.
async fn put_under(client: &mut etcd_client::Client, prefix: &[u8], content: &Content) -> i64 {
    let mut revision = 0;
    let mut ops = Vec::new();
    let mut bytes = 0;
    for (index, (suffix, value)) in content.iter().enumerate() {
        let mut key = prefix.to_vec();
        key.extend_from_slice(suffix);
        bytes += key.len() + value.len();
        ops.push(TxnOp::put(key, value.clone(), None));
        let next = content
            .get(index + 1)
            .map_or(0, |(s, v)| prefix.len() + s.len() + v.len());
        if ops.len() == 100 || bytes + next > TXN_BYTES || index + 1 == content.len() {
            let answer = client
                .txn(Txn::new().and_then(std::mem::take(&mut ops)))
                .await
                .expect("txn");
            revision = answer.header().expect("header").revision();
            bytes = 0;
        }
    }
    revision
}

/// What etcd holds under `prefix` now, read in pages: (suffix, value,
/// mod_revision), in key order.
async fn read_under(client: &mut etcd_client::Client, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>, i64)> {
    let end = {
        let mut end = prefix.to_vec();
        let last = end.last_mut().expect("a prefix");
        *last += 1;
        end
    };
    let mut start = prefix.to_vec();
    let mut keys = Vec::new();
    loop {
        let page = client
            .get(
                start.clone(),
                Some(GetOptions::new().with_range(end.clone()).with_limit(500)),
            )
            .await
            .expect("get");
        for kv in page.kvs() {
            let suffix = kv.key().get(prefix.len()..).expect("under the prefix").to_vec();
            keys.push((suffix, kv.value().to_vec(), kv.mod_revision()));
        }
        match page.kvs().last() {
            Some(last) if page.more() => {
                start = last.key().to_vec();
                start.push(0);
            }
            _ => return keys,
        }
    }
}

/// Only (suffix, value) of [`read_under`].
fn contents(read: &[(Vec<u8>, Vec<u8>, i64)]) -> Content {
    read.iter().map(|(s, v, _)| (s.clone(), v.clone())).collect()
}

/// The keys each transaction of a write of `content` under `prefix` takes,
/// in key order: at most [`TXN_KEYS`] keys and [`TXN_BYTES`] of keys and
/// values, a larger write alone.
fn transactions(prefix: &[u8], content: &Content) -> Vec<usize> {
    let mut sizes = Vec::new();
    let (mut keys, mut bytes) = (0, 0);
    for (suffix, value) in content {
        let size = prefix.len() + suffix.len() + value.len();
        if keys == TXN_KEYS || (keys > 0 && bytes + size > TXN_BYTES) {
            sizes.push(keys);
            (keys, bytes) = (0, 0);
        }
        keys += 1;
        bytes += size;
    }
    if keys > 0 {
        sizes.push(keys);
    }
    sizes
}

async fn copy(app: &TestApp, body: &Value) -> (u16, Value) {
    TestApp::answer(app.http.post(app.url("/api/v1/copy")).json(body)).await
}

/// The dry run of renaming /old/ to /new/; checks it holds `keys` keys.
async fn dry_run(app: &TestApp, keys: usize) -> Value {
    let (status, plan) = copy(app, &json!({"from": "/old/", "to": "/new/", "rename": true})).await;
    assert_eq!(status, 200, "{}", plan["error"]);
    assert_eq!(plan["source_keys"], json!(keys));
    assert_eq!(plan["copy"]["applied"], json!(false));
    assert!(plan["copy"]["revision"].as_i64().is_some_and(|r| r > 0));
    plan
}

/// The body that applies the dry run `plan`.
fn apply_body(plan: &Value) -> Value {
    json!({"from": "/old/", "to": "/new/", "rename": true, "dry_run": false,
           "expect_revision": plan["copy"]["revision"]})
}

/// The answer without its lists of keys, to print.
fn summary(answer: &Value) -> Value {
    let mut answer = answer.clone();
    for list in ["added", "changed", "absent_here", "conflicts"] {
        if let Some(items) = answer["copy"].get_mut(list) {
            *items = json!(items.as_array().map_or(0, Vec::len));
        }
    }
    answer
}

/// The move is done: etcd holds exactly `content` under /new/, nothing
/// under /old/.
async fn assert_moved(client: &mut etcd_client::Client, content: &Content) {
    let new = contents(&read_under(client, b"/new/").await);
    assert_eq!(new.len(), KEYS);
    assert!(new == *content, "/new/ is not the old content, byte for byte");
    assert_eq!(read_under(client, b"/old/").await.len(), 0, "/old/ is not empty");
}

#[tokio::test]
async fn a_rename_of_5000_keys_moves_exactly_the_old_content() {
    let etcd = start_etcd().await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app_with(config(etcd.endpoint())).await;
    app.wait_for_health(200, LIMIT).await;
    let content = content(40, 10);
    put_under(&mut client, b"/old/", &content).await;

    let plan = dry_run(&app, KEYS).await;
    assert_eq!(plan["copy"]["added"].as_array().map(Vec::len), Some(KEYS));
    assert_eq!(plan["copy"]["unchanged"], json!(0));
    let (status, done) = copy(&app, &apply_body(&plan)).await;
    assert_eq!(status, 200, "{}", summary(&done));
    // Ten values of 400 KiB in a row: at most two share a transaction, so
    // the bytes cost three more than the keys alone.
    let expected = transactions(b"/new/", &content).len();
    assert_eq!(expected, KEYS.div_ceil(TXN_KEYS) + 3);
    let counts = |answer: &Value| {
        (
            answer["copy"]["written"].clone(),
            answer["copy"]["transactions"].clone(),
            answer["removed"].clone(),
            answer["not_moved"].clone(),
            answer["copy"]["remaining"].clone(),
        )
    };
    assert_eq!(
        counts(&done),
        (json!(KEYS), json!(expected), json!(KEYS), json!(0), json!(0)),
        "{}",
        summary(&done)
    );
    assert_eq!(done["copy"]["conflicts"], json!([]));
    assert_eq!(done["removal_conflicts"], json!([]));
    assert!(done["copy"].get("interrupted").is_none() && done.get("removal_interrupted").is_none());
    assert_moved(&mut client, &content).await;
    app.shutdown().await;
}

/// What the answer of an interrupted rename says, checked against etcd.
async fn check_interrupted(
    client: &mut etcd_client::Client,
    done: &Value,
    content: &Content,
    old: &[(Vec<u8>, Vec<u8>, i64)],
) {
    let new = contents(&read_under(client, b"/new/").await);
    let left = read_under(client, b"/old/").await;
    let number = |v: &Value| usize::try_from(v.as_u64().expect("a count")).expect("small");
    let chunks = transactions(b"/new/", content);
    // Where each transaction ends: 0, 128, 256, ...
    let ends: Vec<usize> = std::iter::once(0)
        .chain(chunks.iter().scan(0, |end, size| {
            *end += size;
            Some(*end)
        }))
        .collect();
    if done["copy"]["interrupted"].is_string() {
        // Cut while copying: the transactions it counts are written, the
        // one in flight may or may not be, none after it was tried.
        let (written, tried) = (number(&done["copy"]["written"]), number(&done["copy"]["transactions"]));
        assert_eq!(written, ends[tried], "{}", summary(done));
        assert_eq!(number(&done["copy"]["remaining"]), KEYS - written);
        assert!(
            new.len() == written || new.len() == ends[tried + 1],
            "{} keys under /new/, the answer says {written}: {}",
            new.len(),
            summary(done)
        );
        assert!(
            new[..] == content[..new.len()],
            "/new/ holds other than the first keys copied"
        );
        // Nothing removed: not one key of /old/ changed.
        assert_eq!((&done["removed"], &done["not_moved"]), (&json!(0), &json!(KEYS)));
        assert!(left == old, "/old/ changed although its copy is not in place");
    } else {
        // Cut while removing: the copy is whole; what the answer counts as
        // removed is gone from /old/ (and maybe the transaction in flight),
        // the rest of /old/ is as it was.
        assert!(done["removal_interrupted"].is_string(), "{}", summary(done));
        assert_eq!(done["copy"]["written"], json!(KEYS));
        assert!(new == *content, "/new/ is not the old content, byte for byte");
        let removed = number(&done["removed"]);
        let gone = KEYS - left.len();
        assert!(
            gone == removed || gone == (removed + TXN_KEYS).min(KEYS),
            "{gone} keys gone from /old/, the answer says {removed}"
        );
        assert!(left[..] == old[gone..], "what is left of /old/ is not as it was");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rename_cut_midway_says_how_far_it_got_and_is_resumed() {
    let etcd = start_etcd().await;
    let proxy = Proxy::start(&etcd).await;
    let mut client = etcd_client(&etcd).await;
    let app = spawn_app_with(config(proxy.endpoint())).await;
    app.wait_for_health(200, LIMIT).await;

    // Each attempt's values are larger, so each transaction takes longer:
    // one where the rename ends before the cut lands is done again.
    for value_size in [1 << 10, 4 << 10, 8 << 10] {
        let content = content(value_size, 0);
        put_under(&mut client, b"/old/", &content).await;
        let old = read_under(&mut client, b"/old/").await;
        assert_eq!(old.len(), KEYS);
        let plan = dry_run(&app, KEYS).await;

        // The link is cut as soon as etcd (watched directly) holds the
        // first keys under /new/.
        let mut events = client
            .watch("/new/", Some(WatchOptions::new().with_prefix()))
            .await
            .expect("watch");
        let request = app.http.post(app.url("/api/v1/copy")).json(&apply_body(&plan));
        let mut apply = tokio::spawn(TestApp::answer(request));
        let first_keys = async {
            loop {
                let message = events.message().await.expect("watch").expect("watching");
                if !message.events().is_empty() {
                    return;
                }
            }
        };
        // (Or the answer, if the rename is somehow over first.)
        let early = tokio::time::timeout(STARTED, async {
            tokio::select! {
                () = first_keys => None,
                answer = &mut apply => Some(answer),
            }
        })
        .await
        .expect("the rename neither wrote a key nor answered");
        proxy.set(ProxyMode::Cut);
        let answer = match early {
            Some(answer) => answer,
            None => tokio::time::timeout(ANSWER, apply)
                .await
                .expect("the interrupted rename answers"),
        };
        let (status, done) = answer.expect("the request task");
        assert_eq!(status, 200, "{}", summary(&done));
        let finished = done["copy"].get("interrupted").is_none() && done.get("removal_interrupted").is_none();
        app.wait_for_health(503, LIMIT).await;
        proxy.set(ProxyMode::Open);
        app.wait_for_health(200, LIMIT).await;
        if finished {
            eprintln!("values of {value_size} bytes: the rename was done before the cut; again, larger");
            // Too late: the rename was done before the cut. It is right
            // all the same; the next attempt puts /old/ back, larger.
            assert_eq!(done["removed"], json!(KEYS), "{}", summary(&done));
            assert_moved(&mut client, &content).await;
            client
                .delete("/new/", Some(DeleteOptions::new().with_prefix()))
                .await
                .expect("delete /new/");
            continue;
        }
        check_interrupted(&mut client, &done, &content, &old).await;
        eprintln!(
            "values of {value_size} bytes: cut after {} key(s) written in {} transaction(s), {} removed; etcd holds {} \
             under /new/, {} under /old/; {}",
            done["copy"]["written"],
            done["copy"]["transactions"],
            done["removed"],
            read_under(&mut client, b"/new/").await.len(),
            read_under(&mut client, b"/old/").await.len(),
            done["copy"]["interrupted"]
                .as_str()
                .or(done["removal_interrupted"].as_str())
                .unwrap_or_default()
        );

        // Resumed: the dry run again plans what is left (the keys copied
        // are unchanged), the apply finishes the move.
        let copied = read_under(&mut client, b"/new/").await.len();
        let left = read_under(&mut client, b"/old/").await.len();
        let plan = dry_run(&app, left).await;
        assert_eq!(
            (
                plan["copy"]["added"].as_array().map(Vec::len),
                &plan["copy"]["unchanged"]
            ),
            (Some(KEYS - copied), &json!(left - (KEYS - copied))),
            "{}",
            summary(&plan)
        );
        let (status, done) = copy(&app, &apply_body(&plan)).await;
        assert_eq!(status, 200, "{}", summary(&done));
        assert_eq!(
            (&done["copy"]["written"], &done["removed"], &done["not_moved"]),
            (&json!(KEYS - copied), &json!(left), &json!(0)),
            "{}",
            summary(&done)
        );
        assert!(done["copy"].get("interrupted").is_none() && done.get("removal_interrupted").is_none());
        assert_moved(&mut client, &content).await;
        app.shutdown().await;
        return;
    }
    panic!("every rename was done before the link could be cut, even with the largest values");
}
