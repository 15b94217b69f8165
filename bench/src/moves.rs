//! MOVE: a prefix of 100,000 keys (1 KiB values, and 16 of 1.4 MiB, etcd's
//! largest request less its framing) exported through Leasehold
//! (`GET /api/v1/export`) and imported back under another prefix
//! (`POST /api/v1/import`, the dry run, then the apply). Neither may hold
//! the document: the figure is the server's resident memory, sampled every
//! 20 ms, its peak growth over before each step. Beside each step the floor
//! for the same work, straight against etcd: the prefix read a page at a
//! time at one revision, and the same keys written 128 to a transaction.
//! Leasehold watches what it imports, so its model grows by the keys
//! written whoever writes them: the apply's memory is given beside the
//! growth while the floor's writes go in (until the model has them both),
//! each in a server started for it, and the goal is on what the import
//! adds to it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use etcd_client::{GetOptions, Txn, TxnOp};
use futures::StreamExt;
use serde_json::Value;

use crate::report::{mib, Report};
use crate::server::{etcd_client, rss_of, EtcdProcess, Leasehold};

const KEYS: usize = 100_000;
const SMALL: usize = 1024;
/// Large values, and their size: under etcd's 1.5 MiB request with room
/// for the key and the framing.
const LARGE: usize = 16;
const LARGE_SIZE: usize = 1_400 << 10;
const FROM: &str = "/move-bench/";
const TO: &str = "/move-copy/";
/// Writes in flight while filling, and in the floor's writes.
const AT_ONCE: usize = 8;
/// Keys per transaction: etcd's default `--max-txn-ops`.
const TXN: usize = 128;

fn key(prefix: &str, i: usize) -> String {
    format!("{prefix}{:03}/k{i:06}", i % 500)
}

fn value(i: usize) -> Vec<u8> {
    let size = if i % (KEYS / LARGE) == 7 { LARGE_SIZE } else { SMALL };
    let seed = format!("v{i:06}-");
    seed.bytes().cycle().take(size).collect()
}

/// The prefix's keys written `TXN` to a transaction, `AT_ONCE` at a time
/// (a large value alone): the fill, and the floor of an import's writes.
async fn write_all(etcd: &EtcdProcess, prefix: &str) -> anyhow::Result<Duration> {
    let client = etcd_client(etcd).await?;
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut batch = Vec::new();
    for i in 0..KEYS {
        if value(i).len() > SMALL {
            batches.push(vec![i]);
            continue;
        }
        batch.push(i);
        if batch.len() == TXN {
            batches.push(std::mem::take(&mut batch));
        }
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    let began = Instant::now();
    let failures = futures::stream::iter(batches)
        .map(|batch| {
            let mut client = client.clone();
            async move {
                let ops: Vec<TxnOp> = batch
                    .iter()
                    .map(|i| TxnOp::put(key(prefix, *i), value(*i), None))
                    .collect();
                client.txn(Txn::new().and_then(ops)).await
            }
        })
        .buffer_unordered(AT_ONCE)
        .filter(|answer| futures::future::ready(answer.is_err()))
        .count()
        .await;
    anyhow::ensure!(failures == 0, "{failures} transaction(s) failed writing {prefix}");
    Ok(began.elapsed())
}

/// The prefix read straight, a page of 1,000 keys at a time at one
/// revision, as an export reads it: the floor of an export.
async fn read_all(etcd: &EtcdProcess, prefix: &str) -> anyhow::Result<(u64, Duration)> {
    let client = etcd_client(etcd).await?;
    let mut kv = client.kv_client().max_decoding_message_size(64 << 20);
    let end = {
        let mut end = prefix.as_bytes().to_vec();
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        end
    };
    let began = Instant::now();
    let (mut next, mut revision, mut bytes) = (prefix.as_bytes().to_vec(), 0i64, 0u64);
    loop {
        let mut options = GetOptions::new().with_range(end.clone()).with_limit(1000);
        if revision > 0 {
            options = options.with_revision(revision);
        }
        let page = kv.get(next.clone(), Some(options)).await?;
        if revision == 0 {
            revision = page.header().map_or(0, |h| h.revision());
        }
        for kv in page.kvs() {
            bytes += (kv.key().len() + kv.value().len()) as u64;
        }
        match page.kvs().last() {
            Some(last) if page.more() => {
                next = last.key().to_vec();
                next.push(0);
            }
            _ => break,
        }
    }
    Ok((bytes, began.elapsed()))
}

/// The server's resident memory, sampled every 20 ms until dropped: the
/// peak seen.
struct Sampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Sampler {
    fn start(pid: i32) -> Sampler {
        let peak = Arc::new(AtomicU64::new(rss_of(pid)));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopped) = (peak.clone(), stop.clone());
        tokio::spawn(async move {
            while !stopped.load(Ordering::Relaxed) {
                seen.fetch_max(rss_of(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Sampler { peak, stop }
    }

    fn peak(&self, pid: i32) -> u64 {
        self.peak.fetch_max(rss_of(pid), Ordering::Relaxed).max(rss_of(pid))
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One step through Leasehold: its time, and the RSS before and at the peak.
struct Step {
    took: Duration,
    before: u64,
    peak: u64,
    /// An import's: the revision its plan was made at.
    revision: i64,
}

impl Step {
    fn growth(&self) -> u64 {
        self.peak.saturating_sub(self.before)
    }

    fn said(&self) -> String {
        format!(
            "{} (from {} to a peak of {})",
            mib(self.growth()),
            mib(self.before),
            mib(self.peak)
        )
    }
}

async fn export(server: &Leasehold, file: &std::path::Path) -> anyhow::Result<(Step, u64)> {
    let pid = server.pid();
    let before = rss_of(pid);
    let sampler = Sampler::start(pid);
    let began = Instant::now();
    let url = server.url(&format!("/api/v1/export?prefix={}", FROM.replace('/', "%2F")));
    let mut response = server.http.get(url).send().await.context("the export")?;
    anyhow::ensure!(
        response.status().is_success(),
        "the export answered {}",
        response.status()
    );
    let mut out = tokio::fs::File::create(file).await.context("the document's file")?;
    let mut bytes = 0u64;
    while let Some(chunk) = response.chunk().await.context("the export's body")? {
        bytes += chunk.len() as u64;
        tokio::io::AsyncWriteExt::write_all(&mut out, &chunk).await?;
    }
    let took = began.elapsed();
    let peak = sampler.peak(pid);
    Ok((
        Step {
            took,
            before,
            peak,
            revision: 0,
        },
        bytes,
    ))
}

async fn import(server: &Leasehold, document: &[u8], query: &str) -> anyhow::Result<(Step, Value)> {
    let pid = server.pid();
    let before = rss_of(pid);
    let sampler = Sampler::start(pid);
    let began = Instant::now();
    let response = server
        .http
        .post(server.url(&format!("/api/v1/import?prefix={}{query}", TO.replace('/', "%2F"))))
        .header("content-type", "application/json")
        .body(document.to_vec())
        .send()
        .await
        .context("the import")?;
    let status = response.status();
    let answer: Value = response.json().await.context("the import's answer")?;
    let took = began.elapsed();
    // Until the model holds what was written.
    if let Some(revision) = answer["applied_revision"].as_i64().filter(|r| *r > 0) {
        server.caught_up(revision, Duration::from_secs(120)).await?;
    }
    let peak = sampler.peak(pid);
    anyhow::ensure!(status.is_success(), "the import answered {status}: {answer}");
    let revision = answer["revision"].as_i64().unwrap_or(0);
    Ok((
        Step {
            took,
            before,
            peak,
            revision,
        },
        answer,
    ))
}

pub async fn run(report: &mut Report) -> anyhow::Result<()> {
    let binary = std::env::var("LEASEHOLD_ETCD_BIN").unwrap_or_else(|_| "etcd".to_owned());
    // Two copies of ~120 MB, their history, and the floor's third copy: the
    // default 2 GiB quota holds them; raised to be clear of it.
    let etcd = EtcdProcess::start_with_args(binary, &["--quota-backend-bytes=8589934592"]).await?;
    let filled = write_all(&etcd, FROM).await?;
    println!(
        "  MOVE filled {KEYS} keys ({LARGE} of 1.4 MiB) in {:.1} s",
        filled.as_secs_f64()
    );
    let server = Leasehold::start(&etcd, &[]).await?;
    let dir = tempfile::tempdir().context("a temporary folder")?;
    let file = dir.path().join("export.json");

    let (floor_bytes, floor_read) = read_all(&etcd, FROM).await?;
    let (exported, document_bytes) = export(&server, &file).await?;
    report.figure(
        "MOVE",
        format!(
            "export of {KEYS} keys ({}, a {} document)",
            mib(floor_bytes),
            mib(document_bytes)
        ),
        format!(
            "{:.1} s; the prefix read straight a page at a time {:.1} s",
            exported.took.as_secs_f64(),
            floor_read.as_secs_f64()
        ),
    );
    report.goal(
        "MOVE",
        "server RSS during the export: peak growth over before",
        exported.said(),
        "< 64 MiB, flat",
        exported.growth() < 64 << 20,
    );

    let document = tokio::fs::read(&file).await.context("the document")?;
    let (planned, plan) = import(&server, &document, "").await?;
    let added = plan["added"].as_array().map_or(0, Vec::len);
    drop(plan);
    drop(server);
    // The apply, in a server started for it, at the dry run's revision.
    let server = Leasehold::start(&etcd, &[]).await?;
    let (applied, done) = import(
        &server,
        &document,
        &format!("&dry_run=false&expect_revision={}", planned.revision),
    )
    .await?;
    let written = done["written"].as_u64().unwrap_or(0);
    anyhow::ensure!(
        added == KEYS && written == KEYS as u64,
        "the import planned {added} and wrote {written} of {KEYS} keys: {}",
        done["interrupted"]
    );
    drop(document);
    drop(server);
    // The floor, in a server started for it: the same keys written
    // straight, until the model holds them.
    let server = Leasehold::start(&etcd, &[]).await?;
    let pid = server.pid();
    let before = rss_of(pid);
    let sampler = Sampler::start(pid);
    let floor_write = write_all(&etcd, "/move-floor/").await?;
    let mut client = etcd_client(&etcd).await?;
    let now = client.get("/", Some(GetOptions::new().with_count_only())).await?;
    server
        .caught_up(now.header().map_or(0, |h| h.revision()), Duration::from_secs(120))
        .await?;
    let watched = Step {
        took: floor_write,
        before,
        peak: sampler.peak(pid),
        revision: 0,
    };
    drop(sampler);
    report.figure(
        "MOVE",
        format!("import of the document under another prefix: dry run, then apply ({} transactions)", done["transactions"]),
        format!(
            "dry run {:.1} s, apply {:.1} s; the same keys written straight, {TXN} to a transaction, {AT_ONCE} at once: {:.1} s",
            planned.took.as_secs_f64(),
            applied.took.as_secs_f64(),
            watched.took.as_secs_f64()
        ),
    );
    // What the import holds: the keys (~30 B each here), its plan's entries
    // and the answer's list of 100,000 keys; the values stay on disk.
    let own = applied.growth().saturating_sub(watched.growth());
    report.goal(
        "MOVE",
        "server RSS during the import's dry run: peak growth over before",
        planned.said(),
        "< 64 MiB",
        planned.growth() < 64 << 20,
    );
    report.goal(
        "MOVE",
        "server RSS during the apply, until the model holds the keys, beside the same keys written straight",
        format!(
            "{} more than the floor: {}; the floor (the model taking the keys in) {}",
            mib(own),
            applied.said(),
            watched.said()
        ),
        "< 64 MiB more than the floor",
        own < 64 << 20,
    );
    Ok(())
}
