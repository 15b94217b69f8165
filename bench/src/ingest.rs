//! P1: puts as fast as etcd accepts them (etcd alone, then with Leasehold
//! watching), and whether Leasehold applies them as fast as they come.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::load;
use crate::report::Report;
use crate::server::{etcd_client, start_etcd, Leasehold};

const CONNECTIONS: usize = 8;
const WRITERS: usize = 32;

pub async fn run(report: &mut Report, length: Duration) -> anyhow::Result<()> {
    println!("P1 ingest: {WRITERS} writers over {CONNECTIONS} connections, 256 B values");
    let etcd = start_etcd().await?;
    let endpoint = etcd.endpoint();

    // A short warm-up, then etcd alone, then etcd with a bare watch of the
    // bench's own on the whole keyspace: what watching costs etcd by itself.
    load::flood(&endpoint, CONNECTIONS, WRITERS, Duration::from_secs(2), Arc::default()).await?;
    let alone = load::flood(&endpoint, CONNECTIONS, WRITERS, length, Arc::default()).await?;
    let bare = {
        let mut client = etcd_client(&etcd).await?;
        let mut stream = client
            .watch("", Some(etcd_client::WatchOptions::new().with_all_keys()))
            .await?;
        let drain = tokio::spawn(async move {
            let mut events = 0usize;
            while let Ok(Some(response)) = stream.message().await {
                events += response.events().len();
            }
            events
        });
        let flood = load::flood(&endpoint, CONNECTIONS, WRITERS, length, Arc::default()).await?;
        drain.abort();
        flood
    };

    // The same load with Leasehold watching, its lag sampled as it goes.
    let server = Leasehold::start(&etcd, &[]).await?;
    let last = Arc::new(AtomicI64::new(server.revision().await?));
    let done = AtomicBool::new(false);
    let cpu_before = server.cpu();
    let loading = async {
        let flood = load::flood(&endpoint, CONNECTIONS, WRITERS, length, last.clone()).await;
        done.store(true, Ordering::Relaxed);
        flood
    };
    let sampling = async {
        let mut samples: Vec<(i64, i64)> = Vec::new();
        loop {
            let etcd_at = last.load(Ordering::Relaxed);
            samples.push((etcd_at, server.revision().await.unwrap_or(0)));
            if done.load(Ordering::Relaxed) {
                return samples;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let (watched, samples) = tokio::join!(loading, sampling);
    let watched = watched?;
    let cpu = server.cpu().saturating_sub(cpu_before);
    let lag_at_end = watched.last_revision - server.revision().await?;
    let catch_up = server
        .caught_up(watched.last_revision, Duration::from_secs(120))
        .await?;

    let (first, end) = (
        samples.first().copied().unwrap_or_default(),
        samples.last().copied().unwrap_or_default(),
    );
    let ratio = (end.1 - first.1) as f64 / ((end.0 - first.0).max(1)) as f64;
    let max_lag = samples.iter().map(|(e, l)| e - l).max().unwrap_or(0);

    report.figure("P1", "etcd alone: puts/s", format!("{:.0}", alone.rate()));
    report.figure("P1", "etcd with a bare watch: puts/s", format!("{:.0}", bare.rate()));
    report.figure(
        "P1",
        "etcd with Leasehold watching: puts/s",
        format!("{:.0}", watched.rate()),
    );
    report.goal(
        "P1",
        "events applied / events put (while loaded)",
        format!("{ratio:.3}"),
        ">= 1.0 (never the bottleneck)",
        ratio >= 0.995 && lag_at_end < (watched.puts as i64 / 100).max(1000),
    );
    report.figure(
        "P1",
        "lag while loaded (max / at the end)",
        format!(
            "{max_lag} / {lag_at_end} revisions, caught up {:.0} ms after",
            catch_up.as_secs_f64() * 1000.0
        ),
    );
    report.figure(
        "P1",
        "server CPU while loaded",
        format!(
            "{:.2} cores ({:.1} µs per event)",
            cpu.as_secs_f64() / watched.elapsed.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / watched.puts.max(1) as f64
        ),
    );
    Ok(())
}
