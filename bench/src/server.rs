//! etcd and the release `leasehold` binary as child processes, with what
//! the kernel says about the server: resident memory and CPU time.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;
use tokio::process::{Child, Command};

pub use server::dev::EtcdProcess;

pub async fn start_etcd() -> anyhow::Result<EtcdProcess> {
    let binary = std::env::var("LEASEHOLD_ETCD_BIN").unwrap_or_else(|_| "etcd".to_owned());
    EtcdProcess::start(binary).await
}

pub async fn etcd_client(etcd: &EtcdProcess) -> anyhow::Result<etcd_client::Client> {
    Ok(etcd_client::Client::connect([etcd.endpoint()], None).await?)
}

/// `target/release/leasehold serve` against an etcd, killed on drop.
pub struct Leasehold {
    child: Child,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    /// From spawning to the first healthy answer.
    pub started_in: Duration,
}

impl Leasehold {
    pub async fn start(etcd: &EtcdProcess, extra: &[&str]) -> anyhow::Result<Leasehold> {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").context("a free port")?;
            probe.local_addr()?.port()
        };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let began = Instant::now();
        // `LEASEHOLD_BENCH_SERVER` runs something else in its place: a wrapper
        // that starts it under a profiler (heaptrack, perf), for one.
        let binary = std::env::var("LEASEHOLD_BENCH_SERVER").unwrap_or_else(|_| "target/release/leasehold".to_owned());
        let child = Command::new(&binary)
            .args(["serve", "--etcd", &etcd.endpoint(), "--listen", &addr.to_string()])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {binary} (run `make build` first)"))?;
        let mut server = Leasehold {
            child,
            addr,
            http: reqwest::Client::new(),
            started_in: Duration::ZERO,
        };
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if let Ok(response) = server.http.get(server.url("/api/v1/health")).send().await {
                if response.status().as_u16() == 200 {
                    break;
                }
            }
            if let Some(status) = server.child.try_wait()? {
                bail!("leasehold exited with {status}");
            }
            if Instant::now() > deadline {
                bail!("leasehold was not healthy within 300 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.started_in = began.elapsed();
        Ok(server)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn pid(&self) -> i32 {
        self.child.id().and_then(|id| i32::try_from(id).ok()).unwrap_or(0)
    }

    /// The revision the server's model is at.
    pub async fn revision(&self) -> anyhow::Result<i64> {
        let health: Value = self.http.get(self.url("/api/v1/health")).send().await?.json().await?;
        Ok(health["revision"].as_i64().unwrap_or(0))
    }

    /// Waits until the model reaches `revision`; returns how long that took.
    pub async fn caught_up(&self, revision: i64, limit: Duration) -> anyhow::Result<Duration> {
        let began = Instant::now();
        while self.revision().await? < revision {
            if began.elapsed() > limit {
                bail!("the server did not reach revision {revision} within {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(began.elapsed())
    }

    /// Resident memory in bytes (`VmRSS`).
    pub fn rss(&self) -> u64 {
        rss_of(self.pid())
    }

    /// CPU time used so far (user + system).
    pub fn cpu(&self) -> Duration {
        cpu_of(self.pid())
    }
}

/// Resident memory of a process in bytes (`VmRSS`; 0 once it is gone).
pub fn rss_of(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// CPU time of a process (user + system), from `/proc/<pid>/stat`.
pub fn cpu_of(pid: i32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces; the fields after its `)` are fixed.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15; after `)` they are the 12th and 13th.
    let total = ticks(11) + ticks(12);
    // `/proc` counts in USER_HZ, 100 per second on Linux whatever the kernel's HZ.
    Duration::from_secs_f64(total as f64 / 100.0)
}
