//! P5: the browser. A service with 10,000 instances, opened in headless
//! Chromium by Playwright (`end2end/bench/ui.bench.ts`): time to the first
//! rows, and frame times while its table scrolls; and the overview's first
//! paint with its numbers, on the same registry.

use std::time::Duration;

use anyhow::{bail, Context};

use crate::load;
use crate::report::{quantile, Report};
use crate::server::{etcd_client, start_etcd, Leasehold};

const INSTANCES: u64 = 10_000;

pub async fn run(report: &mut Report) -> anyhow::Result<()> {
    println!("P5 UI: a service page with {INSTANCES} instances in headless Chromium");
    let etcd = start_etcd().await?;
    let mut client = etcd_client(&etcd).await?;
    let entries: Vec<(String, String)> = (0..INSTANCES)
        .map(|id| (format!("/microservices/big/{id:05}"), load::value("big", id)))
        .collect();
    let revision = load::put_all(&mut client, &entries).await?;
    let server = Leasehold::start(&etcd, &[]).await?;
    server.caught_up(revision, Duration::from_secs(60)).await?;

    let out = std::env::current_dir()?.join("target/bench/ui.json");
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(&out);
    let status = tokio::process::Command::new("npx")
        .args(["playwright", "test", "--config", "bench.config.ts"])
        .current_dir("end2end")
        .env("LEASEHOLD_BENCH_URL", server.url("/services/big"))
        .env("LEASEHOLD_BENCH_OUT", &out)
        .env("LEASEHOLD_BENCH_ETCD", etcd.endpoint())
        .status()
        .await
        .context("running Playwright (`make setup` installs it)")?;
    if !status.success() {
        bail!("the browser benchmark failed ({status})");
    }
    let figures: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).context("reading the browser's figures")?)?;
    let numbers = |name: &str| -> Vec<f64> {
        figures[name]
            .as_array()
            .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
            .unwrap_or_default()
    };
    let mut first = numbers("first_rows_ms");
    let mut seen = numbers("seen_ms");
    let mut frames = numbers("frame_ms");
    let median = quantile(&mut first, 0.5);
    let worst = first.iter().copied().fold(0.0, f64::max);
    report.goal(
        "P5",
        format!(
            "first rows painted, fresh page, by the page's clock (median / worst of {})",
            first.len()
        ),
        format!("{median:.0} / {worst:.0} ms"),
        "< 500 ms",
        median < 500.0,
    );
    report.figure(
        "P5",
        "first rows seen by Playwright (its polling and round trips included)",
        format!(
            "{:.0} / {:.0} ms",
            quantile(&mut seen, 0.5),
            seen.iter().copied().fold(0.0, f64::max)
        ),
    );
    let p95 = quantile(&mut frames, 0.95);
    let longest = frames.iter().copied().fold(0.0, f64::max);
    let slow = frames.iter().filter(|f| **f > 17.0).count();
    report.goal(
        "P5",
        "frame time while scrolling (p95 / longest)",
        format!(
            "{p95:.1} / {longest:.1} ms, {slow} of {} frames over 17 ms",
            frames.len()
        ),
        "p95 <= 17 ms (60 fps)",
        p95 <= 17.0,
    );
    let mut overview = numbers("overview_ms");
    let median = quantile(&mut overview, 0.5);
    let worst = overview.iter().copied().fold(0.0, f64::max);
    report.goal(
        "P5",
        format!(
            "the overview painted with the cluster's health and the registry's totals, fresh page (median / worst of {})",
            overview.len()
        ),
        format!("{median:.0} / {worst:.0} ms"),
        "< 500 ms",
        median < 500.0 && !overview.is_empty(),
    );
    let mut churn = numbers("churn_frame_ms");
    let changed = figures["changed"].as_u64().unwrap_or(0);
    let p95 = quantile(&mut churn, 0.95);
    let longest = churn.iter().copied().fold(0.0, f64::max);
    let slow = churn.iter().filter(|f| **f > 17.0).count();
    report.goal(
        "P5",
        format!("frame time while scrolling and 500 instances a second change (p95 / longest; {changed} changes)"),
        format!(
            "{p95:.1} / {longest:.1} ms, {slow} of {} frames over 17 ms",
            churn.len()
        ),
        "p95 <= 17 ms (60 fps)",
        p95 <= 17.0 && !churn.is_empty(),
    );
    Ok(())
}
