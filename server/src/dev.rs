//! `leasehold dev`: a private etcd child process on free loopback ports with a
//! temporary data directory, the dashboard on top of it and, unless
//! `--no-demo`, the demo workload writing to it (never to an etcd named with
//! `--etcd`).
//!
//! [`EtcdProcess`] is also what the integration tests use to get a real etcd.

use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, DemoConfig, DevArgs};

/// How long a starting etcd may take to answer.
const ETCD_START_LIMIT: Duration = Duration::from_secs(30);
/// How many pairs of ports `EtcdProcess::start` tries.
const PORT_ATTEMPTS: u32 = 5;

/// A single-member etcd cluster run as a child process.
///
/// Killed on drop. The data directory lives as long as the value, so the same
/// member can be stopped and started again on its data (a restart keeps the
/// revision history, like a real member coming back).
pub struct EtcdProcess {
    binary: PathBuf,
    data: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
    tls: Option<EtcdServerTls>,
    /// More flags for etcd (a test's `--quota-backend-bytes`).
    args: Vec<String>,
}

/// TLS on the client port of an [`EtcdProcess`] (the peer port stays plain:
/// the cluster has one member).
#[derive(Clone)]
pub struct EtcdServerTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The CA client certificates must be signed by.
    pub ca_file: PathBuf,
    /// Refuse clients without a certificate from `ca_file`.
    pub client_cert_auth: bool,
    /// How the readiness check connects: the CA, and a client certificate
    /// when one is required.
    pub client: etcd_client::ConnectOptions,
}

impl EtcdProcess {
    /// Starts etcd on two free loopback ports and waits until it answers.
    pub async fn start(binary: impl Into<PathBuf>) -> anyhow::Result<Self> {
        Self::start_with(binary.into(), None, Vec::new()).await
    }

    /// Starts etcd with more flags (e.g. `--quota-backend-bytes=16777216`).
    pub async fn start_with_args(binary: impl Into<PathBuf>, args: &[&str]) -> anyhow::Result<Self> {
        let args = args.iter().map(|a| (*a).to_owned()).collect();
        Self::start_with(binary.into(), None, args).await
    }

    /// Starts etcd serving clients over TLS.
    pub async fn start_tls(binary: impl Into<PathBuf>, tls: EtcdServerTls) -> anyhow::Result<Self> {
        Self::start_with(binary.into(), Some(tls), Vec::new()).await
    }

    async fn start_with(binary: PathBuf, tls: Option<EtcdServerTls>, args: Vec<String>) -> anyhow::Result<Self> {
        let data = tempfile::Builder::new()
            .prefix("leasehold-etcd-")
            .tempdir()
            .context("cannot create a temporary data directory for etcd")?;
        let mut etcd = EtcdProcess {
            binary,
            data,
            client_port: 0,
            peer_port: 0,
            child: None,
            tls,
            args,
        };
        // A port found free can be taken before etcd binds it (tests start
        // many at once): then etcd exits at once, and new ports are tried.
        let mut attempt = 1;
        loop {
            etcd.client_port = free_port()?;
            etcd.peer_port = free_port()?;
            match etcd.spawn().await {
                Ok(()) => return Ok(etcd),
                Err(error) if attempt < PORT_ATTEMPTS && format!("{error:#}").contains("address already in use") => {
                    tracing::debug!(attempt, "etcd's ports were taken meanwhile; trying others");
                    // Nothing is written before the listeners; in case, start afresh.
                    let _ = std::fs::remove_dir_all(etcd.data.path().join("data"));
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The client URL, e.g. `http://127.0.0.1:41234` (`https://` with TLS).
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let client = self.endpoint();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::File::create(self.data.path().join("etcd.log")).context("cannot create etcd's log file")?;
        let mut command = Command::new(&self.binary);
        if let Some(tls) = &self.tls {
            command
                .arg(format!("--cert-file={}", tls.cert_file.display()))
                .arg(format!("--key-file={}", tls.key_file.display()))
                .arg(format!("--trusted-ca-file={}", tls.ca_file.display()))
                .arg(format!("--client-cert-auth={}", tls.client_cert_auth));
        }
        let child = command
            .arg("--name=leasehold-dev")
            .arg(format!("--data-dir={}", self.data.path().join("data").display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=leasehold-dev={peer}"))
            .arg("--initial-cluster-state=new")
            .arg("--logger=zap")
            .arg("--log-outputs=stderr")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {} (is etcd-server installed?)", self.binary.display()))?;
        self.child = Some(child);
        self.wait_ready().await
    }

    /// Waits until etcd answers a request, or fails with the tail of its log.
    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + ETCD_START_LIMIT;
        let endpoint = self.endpoint();
        let options = self.tls.as_ref().map(|tls| tls.client.clone());
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait().context("cannot check on etcd")? {
                    anyhow::bail!("etcd exited with {status} while starting:\n{}", self.log_tail());
                }
            }
            let ready = async {
                let mut client = etcd_client::Client::connect([endpoint.as_str()], options.clone()).await?;
                client.status().await
            };
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), ready).await {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!("etcd did not answer within {ETCD_START_LIMIT:?}:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.data.path().join("etcd.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Kills etcd with SIGKILL, as a crash would, and reaps it.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await.context("cannot kill etcd")?;
        }
        Ok(())
    }

    /// Stops etcd with SIGTERM and waits for it to exit (SIGKILL after 10 s).
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
            // The child may already have exited; then there is nothing to signal.
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
            Ok(status) => {
                status.context("cannot wait for etcd")?;
            }
            Err(_) => child.kill().await.context("cannot kill etcd")?,
        }
        Ok(())
    }

    /// Starts etcd again on the same ports and data.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await?;
        self.spawn().await
    }

    /// Saves a snapshot of the running member to `file` with `etcdctl
    /// snapshot save`, as an operator's backup is taken.
    pub async fn save_snapshot(&self, file: &Path) -> anyhow::Result<()> {
        let endpoints = format!("--endpoints={}", self.endpoint());
        etcdctl(&[
            endpoints.as_ref(),
            "snapshot".as_ref(),
            "save".as_ref(),
            file.as_os_str(),
        ])
        .await
    }

    /// Stops etcd, puts the snapshot `file` back as its data with `etcdctl
    /// snapshot restore` (the keyspace and revision of the backup), and
    /// starts it again on the same ports.
    pub async fn restore_snapshot(&mut self, file: &Path) -> anyhow::Result<()> {
        self.stop().await?;
        let data = self.data.path().join("data");
        if data.exists() {
            std::fs::remove_dir_all(&data).context("cannot remove etcd's data directory")?;
        }
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let data_dir = format!("--data-dir={}", data.display());
        let cluster = format!("--initial-cluster=leasehold-dev={peer}");
        let advertise = format!("--initial-advertise-peer-urls={peer}");
        etcdctl(&[
            "snapshot".as_ref(),
            "restore".as_ref(),
            file.as_os_str(),
            "--name=leasehold-dev".as_ref(),
            data_dir.as_ref(),
            cluster.as_ref(),
            advertise.as_ref(),
        ])
        .await?;
        self.spawn().await
    }
}

/// Runs `etcdctl` (API v3) with `args`; its error output when it fails.
async fn etcdctl(args: &[&std::ffi::OsStr]) -> anyhow::Result<()> {
    let output = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .context("cannot run etcdctl (is etcd-client installed?)")?;
    anyhow::ensure!(
        output.status.success(),
        "etcdctl {} failed: {}",
        args.iter()
            .take(2)
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

/// A port that was free a moment ago. etcd needs port numbers up front, so
/// there is a short window in which another process could take it.
fn free_port() -> anyhow::Result<u16> {
    let listener = StdListener::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot find a free port")?;
    Ok(listener.local_addr().context("cannot read a free port")?.port())
}

/// `leasehold dev`.
#[allow(
    clippy::print_stdout,
    reason = "the URLs are the command's output, for people and scripts"
)]
pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    let mut private = None;
    let endpoints = if args.etcd.is_empty() {
        let etcd = EtcdProcess::start(&args.etcd_bin).await?;
        let endpoint = etcd.endpoint();
        tracing::info!(%endpoint, data = %etcd.data_dir().display(), "private etcd started");
        private = Some(etcd);
        vec![endpoint]
    } else {
        args.etcd.clone()
    };

    let listener = bind_dev(args.common.listen).await?;
    let addr = listener.local_addr().context("listener has no address")?;
    let config = Config::new(endpoints.clone(), &args.common).map_err(anyhow::Error::msg)?;

    println!("leasehold dev: etcd at {}", endpoints.join(","));
    println!("leasehold dev: dashboard at http://{addr}/");

    // The demo writes only to the private etcd: an etcd named with --etcd may
    // hold someone's real registry. `leasehold demo --etcd URL` is the deliberate way.
    let wants_demo = !args.no_demo && private.is_some();
    if !args.no_demo && private.is_none() {
        tracing::info!("no demo workload on an etcd named with --etcd; run `leasehold demo --etcd URL` for one");
    }
    let demo = wants_demo.then(|| {
        let stop = CancellationToken::new();
        let demo = DemoConfig::new(endpoints.clone(), &args.demo);
        let handle = tokio::spawn(crate::demo::run_until(demo, stop.clone().cancelled_owned()));
        (stop, handle)
    });

    let result = crate::run(config, listener, crate::shutdown_signal()).await;
    // The demo revokes its leases while etcd is still there to be told.
    if let Some((stop, handle)) = demo {
        stop.cancel();
        match handle.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "the demo did not stop cleanly"),
            Err(error) => tracing::error!(%error, "the demo task failed"),
        }
    }
    if let Some(mut etcd) = private {
        etcd.stop().await?;
        tracing::info!("private etcd stopped and its data removed");
    }
    Ok(result?)
}

/// Binds the dev listener; if the default port is taken, takes a free one
/// instead of failing (the URL printed is the one to open).
async fn bind_dev(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    match TcpListener::bind(addr).await {
        Ok(listener) => Ok(listener),
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
            tracing::warn!(%addr, "address in use; listening on a free port instead");
            let fallback = SocketAddr::new(addr.ip(), 0);
            TcpListener::bind(fallback)
                .await
                .with_context(|| format!("cannot listen on {fallback}"))
        }
        Err(error) => Err(error).with_context(|| format!("cannot listen on {addr}")),
    }
}
