//! P1: puts as fast as etcd accepts them (etcd alone, then with a watcher),
//! whether Leasehold applies them as fast as they come, and its CPU per
//! event beside the floor for the same work: a bare watcher
//! ([`crate::bare`]), a process that decodes every event and keeps nothing.
//! In three shapes: registrations of 256 bytes, and configuration values
//! of 4 KiB and 64 KiB, where bytes, not events, dominate.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::bare::BareWatcher;
use crate::load::{self, Flood, Shape};
use crate::report::Report;
use crate::server::{EtcdProcess, Leasehold};

const CONNECTIONS: usize = 8;
const WRITERS: usize = 32;
/// Leasehold's CPU per event may be at most this many times the bare
/// watcher's.
const GOAL_RATIO: f64 = 2.0;
const LIMIT: Duration = Duration::from_secs(120);

fn name(shape: Shape) -> String {
    match shape {
        Shape::Registry => "256 B registrations".to_owned(),
        Shape::Config(size) => format!("{} KiB configuration values", size >> 10),
    }
}

/// CPU per event put, in µs.
fn per_event(cpu: Duration, flood: &Flood) -> f64 {
    cpu.as_secs_f64() * 1e6 / flood.puts.max(1) as f64
}

pub async fn run(report: &mut Report, length: Duration) -> anyhow::Result<()> {
    println!("P1 ingest: {WRITERS} writers over {CONNECTIONS} connections");
    let binary = std::env::var("LEASEHOLD_ETCD_BIN").unwrap_or_else(|_| "etcd".to_owned());
    // The 64 KiB floods write about a gigabyte into etcd's history: the
    // default 2 GiB quota is raised to be clear of it.
    let etcd = EtcdProcess::start_with_args(binary, &["--quota-backend-bytes=8589934592"]).await?;
    let endpoint = etcd.endpoint();
    let shapes = [Shape::Registry, Shape::Config(4 << 10), Shape::Config(64 << 10)];

    // A short warm-up, then etcd alone, then each shape with the bare
    // watcher and with Leasehold watching (its lag sampled as it goes).
    let registry = Shape::Registry;
    load::flood(
        &endpoint,
        CONNECTIONS,
        WRITERS,
        Duration::from_secs(2),
        registry,
        Arc::default(),
    )
    .await?;
    let alone = load::flood(&endpoint, CONNECTIONS, WRITERS, length, registry, Arc::default()).await?;
    for shape in shapes {
        // The floor first, alone; then a Leasehold started for this shape
        // (stopped after it), so that neither runs beside the other.
        let mut bare = BareWatcher::start(&endpoint).await?;
        // Its first answer: the watch is in place.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = bare.cpu();
        let flood = load::flood(&endpoint, CONNECTIONS, WRITERS, length, shape, Arc::default()).await?;
        bare.caught_up(flood.last_revision, LIMIT).await?;
        let (floor_rate, floor_us) = (flood.rate(), per_event(bare.cpu().saturating_sub(before), &flood));
        drop(bare);
        let server = Leasehold::start(&etcd, &[]).await?;
        let last = Arc::new(AtomicI64::new(server.revision().await?));
        let done = AtomicBool::new(false);
        let cpu_before = server.cpu();
        let loading = async {
            let flood = load::flood(&endpoint, CONNECTIONS, WRITERS, length, shape, last.clone()).await;
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
        let cpu_loaded = server.cpu().saturating_sub(cpu_before);
        let lag_at_end = watched.last_revision - server.revision().await?;
        let catch_up = server.caught_up(watched.last_revision, LIMIT).await?;
        let cpu = server.cpu().saturating_sub(cpu_before);
        let us = per_event(cpu, &watched);
        let what = name(shape);
        if shape == Shape::Registry {
            let (first, end) = (
                samples.first().copied().unwrap_or_default(),
                samples.last().copied().unwrap_or_default(),
            );
            let ratio = (end.1 - first.1) as f64 / ((end.0 - first.0).max(1)) as f64;
            let max_lag = samples.iter().map(|(e, l)| e - l).max().unwrap_or(0);
            report.figure("P1", "etcd alone: puts/s", format!("{:.0}", alone.rate()));
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
                format!("{:.2} cores", cpu_loaded.as_secs_f64() / watched.elapsed.as_secs_f64()),
            );
        }
        report.figure(
            "P1",
            format!("{what}: puts/s with Leasehold watching; with the bare watcher"),
            format!(
                "{:.0}; {floor_rate:.0} ({:.1} MB/s put)",
                watched.rate(),
                watched.bytes as f64 / 1e6 / watched.elapsed.as_secs_f64()
            ),
        );
        report.goal(
            "P1",
            format!("{what}: CPU per event, Leasehold / the bare watcher (until each had every event)"),
            format!("{us:.1} µs / {floor_us:.1} µs = {:.2}x", us / floor_us.max(1e-9)),
            &format!("<= {GOAL_RATIO}x"),
            us <= GOAL_RATIO * floor_us,
        );
    }
    Ok(())
}
