//! A 3-member (or n-member) etcd cluster of child processes on free loopback
//! ports, each with its own temporary data directory; members can be killed,
//! restarted, frozen (SIGSTOP) and thawed.

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
}

struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    data: tempfile::TempDir,
    child: Option<Child>,
}

fn free_port() -> u16 {
    let listener = StdListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port");
    listener.local_addr().expect("its address").port()
}

impl Member {
    fn client_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }
}

impl EtcdCluster {
    /// Starts `size` members and waits until they have a leader.
    pub async fn start(size: usize) -> EtcdCluster {
        let binary = std::env::var("LEASEHOLD_ETCD_BIN").unwrap_or_else(|_| "etcd".to_owned());
        let members = (0..size)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: free_port(),
                peer_port: free_port(),
                data: tempfile::Builder::new()
                    .prefix("leasehold-cluster-")
                    .tempdir()
                    .expect("data dir"),
                child: None,
            })
            .collect();
        let mut cluster = EtcdCluster { binary, members };
        for i in 0..size {
            cluster.spawn(i);
        }
        cluster.wait_for_leader().await;
        cluster
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
        let child = Command::new(&self.binary)
            .arg(format!("--name={}", member.name))
            .arg(format!("--data-dir={}", member.data.path().join("data").display()))
            .arg(format!("--listen-client-urls={}", member.client_url()))
            .arg(format!("--advertise-client-urls={}", member.client_url()))
            .arg(format!("--listen-peer-urls={}", member.peer_url()))
            .arg(format!("--initial-advertise-peer-urls={}", member.peer_url()))
            .arg(format!("--initial-cluster={initial}"))
            .arg("--initial-cluster-state=new")
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
