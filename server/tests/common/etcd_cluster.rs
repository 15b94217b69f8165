//! A 3-member (or n-member) etcd cluster of child processes on free loopback
//! ports, each with its own temporary data directory; members can be killed,
//! restarted, frozen (SIGSTOP) and thawed.
//!
//! [`EtcdCluster::start_partitionable`] puts the last member in a network
//! namespace of its own (`ip netns`, as root), joined to the others by one
//! veth pair for peer traffic and to clients by another: cutting the first
//! partitions it from the cluster while it keeps answering clients, from
//! its own store.

use std::net::{Ipv4Addr, TcpListener as StdListener};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

const START_LIMIT: Duration = Duration::from_secs(60);

pub struct EtcdCluster {
    binary: String,
    members: Vec<Member>,
    /// The namespace of the last member, with `start_partitionable`.
    netns: Option<Netns>,
}

struct Member {
    name: String,
    /// Where it listens for clients and for peers.
    client_host: String,
    peer_host: String,
    client_port: u16,
    peer_port: u16,
    data: tempfile::TempDir,
    child: Option<Child>,
    /// Run inside this network namespace.
    netns: Option<String>,
    /// A member that joined a running cluster: the flags it was told to
    /// start with (name, peer URLs, initial cluster and state).
    joined: Option<Vec<String>>,
}

/// A network namespace joined to this one by two veth pairs: `peer_*` for
/// raft traffic (10.77.N.0/24), the other for clients (10.78.N.0/24).
struct Netns {
    name: String,
    /// The namespace's end of the peer pair.
    peer_link: String,
    subnet: u8,
}

fn ip(args: &[&str]) {
    let status = std::process::Command::new("ip")
        .args(args)
        .status()
        .expect("ip runs (is iproute2 installed?)");
    assert!(status.success(), "ip {} failed (the test needs root)", args.join(" "));
}

impl Netns {
    fn create() -> Netns {
        static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = (std::process::id() % 10_000) * 10 + n % 10;
        let subnet = u8::try_from(id % 200 + 20).unwrap_or(20);
        let name = format!("lh{id}");
        let netns = Netns {
            peer_link: format!("lh{id}pn"),
            name,
            subnet,
        };
        let ns = netns.name.as_str();
        ip(&["netns", "add", ns]);
        ip(&["netns", "exec", ns, "ip", "link", "set", "lo", "up"]);
        for (kind, net) in [("p", 77), ("c", 78)] {
            let (outer, inner) = (format!("lh{id}{kind}r"), format!("lh{id}{kind}n"));
            ip(&["link", "add", &outer, "type", "veth", "peer", "name", &inner]);
            ip(&["link", "set", &inner, "netns", ns]);
            ip(&["addr", "add", &format!("10.{net}.{subnet}.1/24"), "dev", &outer]);
            ip(&["link", "set", &outer, "up"]);
            ip(&[
                "netns",
                "exec",
                ns,
                "ip",
                "addr",
                "add",
                &format!("10.{net}.{subnet}.2/24"),
                "dev",
                &inner,
            ]);
            ip(&["netns", "exec", ns, "ip", "link", "set", &inner, "up"]);
        }
        netns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // A veth pair goes with its namespace, but only once the last
        // process in it is gone: the root ends are deleted here, at once.
        let id = self.name.trim_start_matches("lh");
        for link in [format!("lh{id}pr"), format!("lh{id}cr")] {
            let _ = std::process::Command::new("ip").args(["link", "del", &link]).status();
        }
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn etcdctl(args: &[String]) {
    let output = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("etcdctl runs (is etcd-client installed?)");
    assert!(
        output.status.success(),
        "etcdctl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn free_port() -> u16 {
    let listener = StdListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port");
    listener.local_addr().expect("its address").port()
}

impl Member {
    fn client_url(&self) -> String {
        format!("http://{}:{}", self.client_host, self.client_port)
    }

    fn peer_url(&self) -> String {
        format!("http://{}:{}", self.peer_host, self.peer_port)
    }
}

impl EtcdCluster {
    /// Starts `size` members and waits until they have a leader.
    pub async fn start(size: usize) -> EtcdCluster {
        Self::start_with(size, None).await
    }

    /// Like [`EtcdCluster::start`], the last member in a network namespace
    /// of its own that [`EtcdCluster::partition`] cuts off from the others.
    pub async fn start_partitionable(size: usize) -> EtcdCluster {
        Self::start_with(size, Some(Netns::create())).await
    }

    async fn start_with(size: usize, netns: Option<Netns>) -> EtcdCluster {
        let binary = std::env::var("LEASEHOLD_ETCD_BIN").unwrap_or_else(|_| "etcd".to_owned());
        let members = (0..size)
            .map(|i| {
                let apart = netns.as_ref().filter(|_| i + 1 == size);
                let (client_host, peer_host) = match (&netns, apart) {
                    (Some(ns), Some(_)) => (format!("10.78.{}.2", ns.subnet), format!("10.77.{}.2", ns.subnet)),
                    (Some(ns), None) => ("127.0.0.1".to_owned(), format!("10.77.{}.1", ns.subnet)),
                    (None, _) => ("127.0.0.1".to_owned(), "127.0.0.1".to_owned()),
                };
                Member {
                    name: format!("m{i}"),
                    client_host,
                    peer_host,
                    client_port: free_port(),
                    peer_port: free_port(),
                    data: tempfile::Builder::new()
                        .prefix("leasehold-cluster-")
                        .tempdir()
                        .expect("data dir"),
                    child: None,
                    netns: apart.map(|ns| ns.name.clone()),
                    joined: None,
                }
            })
            .collect();
        let mut cluster = EtcdCluster { binary, members, netns };
        for i in 0..size {
            cluster.spawn(i);
        }
        cluster.wait_for_leader().await;
        cluster
    }

    /// Cuts the namespaced member's peer link: it loses the cluster, and
    /// clients still reach it.
    pub fn partition(&self) {
        let ns = self.netns.as_ref().expect("start_partitionable");
        ip(&["netns", "exec", &ns.name, "ip", "link", "set", &ns.peer_link, "down"]);
    }

    pub fn heal(&self) {
        let ns = self.netns.as_ref().expect("start_partitionable");
        ip(&["netns", "exec", &ns.name, "ip", "link", "set", &ns.peer_link, "up"]);
    }

    fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn spawn(&mut self, i: usize) {
        let initial = self.initial_cluster();
        let member = &mut self.members[i];
        let log = std::fs::File::create(member.data.path().join("etcd.log")).expect("log file");
        let mut command = match &member.netns {
            Some(ns) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", ns]).arg(&self.binary);
                command
            }
            None => Command::new(&self.binary),
        };
        command
            .arg(format!("--data-dir={}", member.data.path().join("data").display()))
            .arg(format!("--listen-client-urls={}", member.client_url()))
            .arg(format!("--advertise-client-urls={}", member.client_url()));
        match &member.joined {
            Some(flags) => {
                command.args(flags);
            }
            None => {
                command
                    .arg(format!("--name={}", member.name))
                    .arg(format!("--listen-peer-urls={}", member.peer_url()))
                    .arg(format!("--initial-advertise-peer-urls={}", member.peer_url()))
                    .arg(format!("--initial-cluster={initial}"))
                    .arg("--initial-cluster-state=new");
            }
        }
        let child = command
            .arg("--initial-cluster-token=leasehold-test")
            // Elections as on a LAN (etcd's defaults: 100 ms beats, 1 s election).
            .arg("--logger=zap")
            .arg("--log-outputs=stderr")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("etcd starts (is etcd-server installed?)");
        member.child = Some(child);
    }

    /// Starts a member that was added to the running cluster, with the
    /// `flags` the change said it must start with, listening for peers on
    /// `peer_port` and for clients on a free port; its index.
    pub fn join(&mut self, peer_port: u16, flags: Vec<String>) -> usize {
        let name = flags
            .iter()
            .find_map(|f| f.strip_prefix("--name="))
            .unwrap_or("joined")
            .to_owned();
        self.members.push(Member {
            name,
            client_host: "127.0.0.1".to_owned(),
            peer_host: "127.0.0.1".to_owned(),
            client_port: free_port(),
            peer_port,
            data: tempfile::Builder::new()
                .prefix("leasehold-cluster-")
                .tempdir()
                .expect("data dir"),
            child: None,
            netns: None,
            joined: Some(flags),
        });
        let i = self.members.len() - 1;
        self.spawn(i);
        i
    }

    /// Saves member `i`'s snapshot to `file` with `etcdctl snapshot save`.
    pub fn save_snapshot(&self, i: usize, file: &std::path::Path) {
        etcdctl(&[
            format!("--endpoints={}", self.members[i].client_url()),
            "snapshot".to_owned(),
            "save".to_owned(),
            file.display().to_string(),
        ]);
    }

    /// Stops every member and starts each again on a restore of its file in
    /// `files` (by member), made as the runbooks restore a cluster: the same
    /// names, peer URLs, initial cluster and token, so the same member and
    /// cluster ids. Restoring members from backups of different times
    /// leaves a cluster whose raft agrees and whose keyspaces do not.
    pub async fn restore_all(&mut self, files: &[&std::path::Path]) {
        assert_eq!(files.len(), self.members.len(), "one backup per member");
        for i in 0..self.members.len() {
            self.kill(i).await;
        }
        let initial = self.initial_cluster();
        for (member, file) in self.members.iter().zip(files) {
            let data = member.data.path().join("data");
            std::fs::remove_dir_all(&data).expect("remove the data");
            etcdctl(&[
                "snapshot".to_owned(),
                "restore".to_owned(),
                file.display().to_string(),
                format!("--name={}", member.name),
                format!("--data-dir={}", data.display()),
                format!("--initial-cluster={initial}"),
                "--initial-cluster-token=leasehold-test".to_owned(),
                format!("--initial-advertise-peer-urls={}", member.peer_url()),
            ]);
        }
        for i in 0..self.members.len() {
            self.spawn(i);
        }
        self.wait_for_leader().await;
    }

    /// Whether member `i`'s process has exited (a removed member stops).
    pub fn exited(&mut self, i: usize) -> bool {
        self.members[i]
            .child
            .as_mut()
            .is_none_or(|child| matches!(child.try_wait(), Ok(Some(_))))
    }

    /// Every member's client URL, in member order.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(Member::client_url).collect()
    }

    pub fn endpoint(&self, i: usize) -> String {
        self.members[i].client_url()
    }

    /// A client of the members that are running.
    pub async fn client(&self) -> etcd_client::Client {
        let running: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.child.is_some())
            .map(Member::client_url)
            .collect();
        etcd_client::Client::connect(running, None).await.expect("client")
    }

    /// Waits until some running member names a leader that is running.
    pub async fn wait_for_leader(&self) -> usize {
        let deadline = tokio::time::Instant::now() + START_LIMIT;
        loop {
            if let Some(leader) = self.leader().await {
                return leader;
            }
            assert!(tokio::time::Instant::now() < deadline, "the cluster has no leader");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The index of the running member that says it leads.
    pub async fn leader(&self) -> Option<usize> {
        for (i, member) in self.members.iter().enumerate().filter(|(_, m)| m.child.is_some()) {
            let status = async {
                let mut client = etcd_client::Client::connect([member.client_url()], None).await?;
                client.status().await
            };
            if let Ok(Ok(status)) = tokio::time::timeout(Duration::from_secs(2), status).await {
                if status.leader() != 0 && status.header().map(|h| h.member_id()) == Some(status.leader()) {
                    return Some(i);
                }
            }
        }
        None
    }

    /// Kills member `i` with SIGKILL, as a crash would.
    pub async fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            child.kill().await.expect("kill");
        }
    }

    /// Starts member `i` again on its data.
    pub async fn restart(&mut self, i: usize) {
        self.kill(i).await;
        self.spawn(i);
        self.wait_for_leader().await;
    }

    fn signal(&self, i: usize, signal: Signal) {
        let pid = self.members[i]
            .child
            .as_ref()
            .and_then(Child::id)
            .and_then(|id| i32::try_from(id).ok())
            .expect("a running member");
        kill(Pid::from_raw(pid), signal).expect("signal");
    }

    /// Freezes member `i` (SIGSTOP): it keeps its connections and answers nothing.
    pub fn freeze(&self, i: usize) {
        self.signal(i, Signal::SIGSTOP);
    }

    pub fn thaw(&self, i: usize) {
        self.signal(i, Signal::SIGCONT);
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        // A frozen member would not die of SIGKILL's delivery later than us.
        for member in &mut self.members {
            if let Some(child) = member.child.as_mut() {
                if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
                }
                let _ = child.start_kill();
            }
        }
    }
}
