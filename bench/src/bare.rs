//! The floor of P1: a bare watcher, `leasehold-bench bare-watch ENDPOINT`,
//! a process of its own like the server. It watches the whole keyspace
//! with etcd-client, decodes every event (etcd-client's protobuf decoding,
//! then each key and value touched) and keeps nothing. It
//! prints the newest revision it has seen, at most every 50 ms, so that
//! the benchmark can wait until it has every event before reading its CPU.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::server::cpu_of;

/// The watcher's own loop, run as `leasehold-bench bare-watch ENDPOINT`.
pub async fn main(endpoint: &str) -> anyhow::Result<()> {
    let client = etcd_client::Client::connect([endpoint], None).await?;
    let mut watcher = client.watch_client().max_decoding_message_size(64 << 20);
    let mut stream = watcher
        .watch("", Some(etcd_client::WatchOptions::new().with_all_keys()))
        .await?;
    let mut stdout = std::io::stdout();
    let (mut seen, mut told, mut checksum) = (0i64, 0i64, 0u64);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            message = stream.message() => {
                let Some(response) = message? else { return Ok(()) };
                for event in response.events() {
                    if let Some(kv) = event.kv() {
                        // Touched, not read through: what is decoded is
                        // the floor, not a pass over the bytes.
                        let first = kv.value().first().copied().map_or(0, u64::from);
                        checksum = checksum.wrapping_add((kv.key().len() + kv.value().len()) as u64 + first);
                        seen = seen.max(kv.mod_revision());
                    }
                }
            }
            _ = tick.tick() => {
                if seen != told {
                    writeln!(stdout, "{seen} {checksum}")?;
                    stdout.flush()?;
                    told = seen;
                }
            }
        }
    }
}

/// A bare watcher running as a child process, killed on drop.
pub struct BareWatcher {
    child: Child,
    seen: watch::Receiver<i64>,
}

impl BareWatcher {
    pub async fn start(endpoint: &str) -> anyhow::Result<BareWatcher> {
        let exe = std::env::current_exe().context("the benchmark's own path")?;
        let mut child = Command::new(exe)
            .args(["bare-watch", endpoint])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting the bare watcher")?;
        let stdout = child.stdout.take().context("the bare watcher's stdout")?;
        let (tell, seen) = watch::channel(0i64);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(revision) = line.split_whitespace().next().and_then(|r| r.parse::<i64>().ok()) {
                    tell.send_replace(revision);
                }
            }
        });
        Ok(BareWatcher { child, seen })
    }

    pub fn cpu(&self) -> Duration {
        cpu_of(self.child.id().and_then(|id| i32::try_from(id).ok()).unwrap_or(0))
    }

    /// Waits until it has seen `revision`.
    pub async fn caught_up(&mut self, revision: i64, limit: Duration) -> anyhow::Result<()> {
        let seen = tokio::time::timeout(limit, self.seen.wait_for(|seen| *seen >= revision)).await;
        anyhow::ensure!(
            matches!(seen, Ok(Ok(_))),
            "the bare watcher did not reach revision {revision} within {limit:?}"
        );
        Ok(())
    }
}
