//! START: what a warm `make run` costs. `make build` with nothing changed
//! (the build skipped by its stamp), then `leasehold dev` from an empty
//! directory until the dashboard answers its first page; beside it the
//! floor for the same work, a private etcd started alone until it answers.
//! The cold path (setup and first build on a fresh machine) is measured by
//! hand and stated in the README: it takes most of an hour here.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::AsyncBufReadExt;
use tokio::process::Command;

use crate::report::{quantile, Report};

/// Runs of each measurement; the median is reported.
const RUNS: usize = 3;
/// The goal of issue 25: a warm `make run` answers within this.
const GOAL: Duration = Duration::from_secs(5);

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn median(mut values: Vec<Duration>) -> Duration {
    let mut secs: Vec<f64> = values.drain(..).map(|d| d.as_secs_f64()).collect();
    Duration::from_secs_f64(quantile(&mut secs, 0.5))
}

/// `make build` with nothing changed, as `make run` starts.
async fn noop_build() -> anyhow::Result<Duration> {
    let began = Instant::now();
    let status = Command::new("make")
        .args(["--no-print-directory", "build"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .await
        .context("running make build")?;
    if !status.success() {
        bail!("make build failed: {status}");
    }
    Ok(began.elapsed())
}

/// `leasehold dev --no-demo` run from an empty directory, until `/` answers 200.
async fn first_answer(binary: &std::path::Path) -> anyhow::Result<Duration> {
    let dir = tempfile::tempdir().context("a temporary directory")?;
    let began = Instant::now();
    let mut child = Command::new(binary)
        .args(["dev", "--no-demo", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .env_remove("LEASEHOLD_SITE_ROOT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let stdout = child.stdout.take().context("dev's stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let dashboard = loop {
        let Some(line) = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .context("leasehold dev printed no dashboard URL within 60 s")??
        else {
            bail!("leasehold dev exited before printing its URL");
        };
        if let Some(url) = line.strip_prefix("leasehold dev: dashboard at ") {
            break url.trim().to_owned();
        }
    };
    let http = reqwest::Client::new();
    loop {
        if let Ok(response) = http.get(&dashboard).send().await {
            if response.status().is_success() && !response.bytes().await.unwrap_or_default().is_empty() {
                break;
            }
        }
        if began.elapsed() > Duration::from_secs(60) {
            bail!("the dashboard did not answer / within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = began.elapsed();
    // Stopped as an operator stops it, so the private etcd goes with it.
    if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGINT);
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    Ok(took)
}

/// A private etcd started alone until it answers: the floor of `leasehold dev`.
async fn etcd_alone() -> anyhow::Result<Duration> {
    let began = Instant::now();
    let etcd = crate::server::start_etcd().await?;
    let mut client = crate::server::etcd_client(&etcd).await?;
    client.status().await.context("etcd's status")?;
    Ok(began.elapsed())
}

pub async fn run(report: &mut Report) -> anyhow::Result<()> {
    let binary = std::fs::canonicalize("target/release/leasehold").context("target/release/leasehold (make build)")?;
    let mut builds = Vec::new();
    let mut answers = Vec::new();
    let mut floors = Vec::new();
    for _ in 0..RUNS {
        builds.push(noop_build().await?);
        answers.push(first_answer(&binary).await?);
        floors.push(etcd_alone().await?);
    }
    let (build, answer, floor) = (median(builds), median(answers), median(floors));
    report.figure("START", "`make build` with nothing changed (median of 3)", ms(build));
    report.figure(
        "START",
        "`leasehold dev` from an empty directory to its first page (median of 3)",
        format!("{}; a private etcd alone to its first answer {}", ms(answer), ms(floor)),
    );
    report.goal(
        "START",
        "warm `make run`: no-op build + first page",
        ms(build + answer),
        "< 5 s",
        build + answer < GOAL,
    );
    let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
    report.figure(
        "START",
        "the release binary, the site built in",
        crate::report::mib(size),
    );
    Ok(())
}
