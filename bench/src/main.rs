//! `make bench`: Leasehold measured against etcd itself, on this machine, in
//! one run. Starts its own etcd (Debian's `etcd`) and the release server as a
//! child process, drives load, and prints one table with the goal beside
//! each figure (also written to `target/bench/report.md`).
//!
//! Benchmarks print figures; they never fail on slowness. A goal that is
//! missed is reported as missed.

#![allow(clippy::print_stdout, reason = "the table is this program's output")]

mod bare;
mod bundle;
mod fanout;
mod history;
mod ingest;
mod load;
mod moves;
mod report;
mod scale;
mod server;
mod snapshot;
mod start;
mod ui;

use std::time::Duration;

use anyhow::Context;
use report::Report;

/// How long each load phase runs; `LEASEHOLD_BENCH_SECONDS` overrides it.
fn phase_length() -> Duration {
    let seconds = std::env::var("LEASEHOLD_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(10);
    Duration::from_secs(seconds)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The floor of P1, run by P1 as a process of its own.
    if let (Some("bare-watch"), Some(endpoint)) = (args.first().map(String::as_str), args.get(1)) {
        return bare::main(endpoint).await;
    }
    let only: Vec<String> = args.iter().map(|a| a.to_uppercase()).collect();
    let wanted = |id: &str| only.is_empty() || only.iter().any(|o| o == id);
    let length = phase_length();
    let mut report = Report::new();
    println!(
        "Leasehold benchmarks: {} s per load phase, {} cores",
        length.as_secs(),
        cores()
    );

    if wanted("P1") {
        ingest::run(&mut report, length).await.context("P1 ingest")?;
    }
    if wanted("P2") || wanted("P3") {
        fanout::run(&mut report, length, wanted("P2"), wanted("P3"))
            .await
            .context("P2/P3 latency and fan-out")?;
    }
    if wanted("P4") {
        scale::run(&mut report).await.context("P4 scale")?;
    }
    if wanted("P5") {
        ui::run(&mut report).await.context("P5 UI")?;
    }
    if wanted("P6") {
        bundle::run(&mut report).context("P6 bundle")?;
    }
    if wanted("HIST") {
        history::run(&mut report).context("HIST history sampling")?;
    }
    if wanted("SNAP") {
        snapshot::run(&mut report).await.context("SNAP snapshot download")?;
    }
    if wanted("MOVE") {
        moves::run(&mut report).await.context("MOVE export and import")?;
    }
    if wanted("START") {
        start::run(&mut report).await.context("START warm start")?;
    }

    let table = report.markdown(length, cores());
    println!("\n{table}");
    let path = std::path::Path::new("target/bench/report.md");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).context("creating target/bench")?;
    }
    std::fs::write(path, &table).context("writing target/bench/report.md")?;
    println!("written to {}", path.display());
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map(usize::from).unwrap_or(1)
}
