//! SNAP: a 500 MB snapshot downloaded through Leasehold
//! (`GET /api/v1/ops/snapshot`). The server streams it as etcd sends it and
//! hashes it on the way: its resident memory must stay flat (the figure is
//! the peak growth over the server's RSS before the download). Beside it
//! the floor for the same work: the same member's `Snapshot` stream read
//! straight from etcd, and the time each took.

use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;

use crate::report::{mib, Report};
use crate::server::{etcd_client, EtcdProcess, Leasehold};

/// The database written: 500 values of 1 MiB (etcd's largest request is 1.5 MiB).
const VALUES: usize = 500;
const VALUE: usize = 1 << 20;
/// Puts in flight while filling.
const FILL_AT_ONCE: usize = 8;
/// The server's resident memory may grow by at most this during the download.
const GOAL_GROWTH: u64 = 64 << 20;

async fn fill(etcd: &EtcdProcess) -> anyhow::Result<()> {
    let client = etcd_client(etcd).await?;
    let value = vec![b's'; VALUE];
    futures::stream::iter(0..VALUES)
        .map(|i| {
            let (mut client, value) = (client.clone(), value.clone());
            async move { client.put(format!("/snapshot-bench/{i:04}"), value, None).await }
        })
        .buffer_unordered(FILL_AT_ONCE)
        .for_each(|answer| async move {
            if let Err(error) = answer {
                println!("  SNAP a put failed: {error}");
            }
        })
        .await;
    Ok(())
}

/// etcd's own stream, read and dropped: the floor.
async fn straight(etcd: &EtcdProcess) -> anyhow::Result<(u64, Duration)> {
    let mut client = etcd_client(etcd).await?;
    let began = Instant::now();
    let mut stream = client.snapshot().await.context("etcd's snapshot")?;
    let mut bytes = 0u64;
    while let Some(part) = stream.message().await.context("etcd's snapshot stream")? {
        bytes += part.blob().len() as u64;
    }
    Ok((bytes, began.elapsed()))
}

/// The download through Leasehold, sampling its RSS as the bytes arrive.
async fn through(server: &Leasehold) -> anyhow::Result<(u64, Duration, u64)> {
    let began = Instant::now();
    let mut response = server
        .http
        .get(server.url("/api/v1/ops/snapshot"))
        .send()
        .await
        .context("the download")?;
    anyhow::ensure!(
        response.status().is_success(),
        "the download answered {}",
        response.status()
    );
    let (mut bytes, mut peak, mut sampled) = (0u64, server.rss(), 0u64);
    while let Some(chunk) = response.chunk().await.context("the download's body")? {
        bytes += chunk.len() as u64;
        if bytes - sampled >= 4 << 20 {
            sampled = bytes;
            peak = peak.max(server.rss());
        }
    }
    Ok((bytes, began.elapsed(), peak.max(server.rss())))
}

fn rate(bytes: u64, took: Duration) -> String {
    format!("{:.0} MB/s", bytes as f64 / 1e6 / took.as_secs_f64().max(1e-9))
}

pub async fn run(report: &mut Report) -> anyhow::Result<()> {
    let binary = std::env::var("LEASEHOLD_ETCD_BIN").unwrap_or_else(|_| "etcd".to_owned());
    // The default 2 GiB quota holds 500 MB; raised to be clear of it.
    let etcd = EtcdProcess::start_with_args(binary, &["--quota-backend-bytes=4294967296"]).await?;
    let filled = Instant::now();
    fill(&etcd).await?;
    println!(
        "  SNAP filled {VALUES} x 1 MiB in {:.1} s",
        filled.elapsed().as_secs_f64()
    );
    let server = Leasehold::start(&etcd, &[]).await?;
    let before = server.rss();
    let (floor_bytes, floor_took) = straight(&etcd).await?;
    let (bytes, took, peak) = through(&server).await?;
    let growth = peak.saturating_sub(before);
    report.figure(
        "SNAP",
        format!("a {} snapshot downloaded through Leasehold", mib(bytes)),
        format!(
            "{:.1} s, {}; etcd's stream read straight {:.1} s, {} ({})",
            took.as_secs_f64(),
            rate(bytes, took),
            floor_took.as_secs_f64(),
            rate(floor_bytes, floor_took),
            mib(floor_bytes)
        ),
    );
    report.goal(
        "SNAP",
        "server RSS during the download: peak growth over before",
        format!("{} (from {} to a peak of {})", mib(growth), mib(before), mib(peak)),
        "< 64 MiB, flat",
        growth < GOAL_GROWTH && bytes >= floor_bytes,
    );
    Ok(())
}
