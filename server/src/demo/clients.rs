//! Real client libraries beside the demo's own workload: a Moleculer node
//! (npm `moleculer` with its Etcd3 discoverer) running the service
//! `v1.notifier`, and two members of the tooz group `workers` (PyPI `tooz`
//! over etcd3gw). Each is one of the test peers (`peers/clients/`, installed
//! by `make setup-peers`), a process of its own talking to etcd as the
//! library does, so that what the dashboard shows of them is what those
//! libraries really write (server/src/registry/layouts/CLIENTS.md).
//!
//! Without the peers installed the demo says how to add them, once, and
//! goes on without. A client that exits is started again after a pause;
//! stopping the demo asks each to stop (its clean exit deregisters it), and
//! kills what has not ended within a few seconds.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::pause;

/// How long a client has to stop cleanly before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// The pause before a client that exited is started again.
const RESTART_AFTER: Duration = Duration::from_secs(10);

/// One client process: what runs it, and its environment.
struct Client {
    what: &'static str,
    program: PathBuf,
    script: PathBuf,
    env: Vec<(&'static str, String)>,
}

/// The clients installed under `dir`, or why there are none.
fn clients(dir: &Path, endpoint: &str) -> Result<Vec<Client>, String> {
    let python = dir.join(".venv/bin/python");
    let node_modules = dir.join("node_modules");
    let installed = dir.join(".venv/.installed").exists() && node_modules.join(".installed").exists();
    if !installed || !python.exists() {
        return Err(format!(
            "the demo's real Moleculer node and tooz group need the client libraries in {}: \
             `make setup-peers` installs them (or --demo-clients DIR names another place, off for none)",
            dir.display()
        ));
    }
    let scripts = dir.join("clients");
    let etcd = ("ETCD_ENDPOINT", endpoint.to_owned());
    let mut out = vec![Client {
        what: "moleculer node demo-node-1",
        program: PathBuf::from("node"),
        script: scripts.join("moleculer_node.js"),
        env: vec![
            etcd.clone(),
            ("NODE_ID", "demo-node-1".to_owned()),
            ("SERVICE", "notifier".to_owned()),
            ("SVC_VERSION", "1".to_owned()),
        ],
    }];
    for (member, caps) in [
        ("worker-1", r#"{"host":"10.40.0.11","port":7001,"queue":"emails"}"#),
        ("worker-2", r#"{"host":"10.40.0.12","port":7001,"queue":"reports"}"#),
    ] {
        out.push(Client {
            what: "tooz member",
            program: python.clone(),
            script: scripts.join("tooz_peer.py"),
            env: vec![
                etcd.clone(),
                ("MEMBER", member.to_owned()),
                ("GROUP", "workers".to_owned()),
                ("CAPS", caps.to_owned()),
            ],
        });
    }
    Ok(out)
}

/// Starts the clients installed under `dir` against `endpoint` (a URL) until `stop`.
pub fn spawn(dir: &Path, endpoint: &str, stop: &CancellationToken, tasks: &mut JoinSet<()>) {
    if !endpoint.starts_with("http://") {
        tracing::info!(
            endpoint,
            "demo: the real clients run against a plain http:// etcd only; not started"
        );
        return;
    }
    match clients(dir, endpoint) {
        Ok(clients) => {
            for client in clients {
                tasks.spawn(keep_running(client, stop.clone()));
            }
        }
        Err(why) => tracing::info!("{why}"),
    }
}

/// Runs `client`, again after a pause whenever it exits, until `stop`.
async fn keep_running(client: Client, stop: CancellationToken) {
    loop {
        let mut command = Command::new(&client.program);
        command
            .arg(&client.script)
            .envs(client.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        match command.spawn() {
            Ok(mut child) => {
                tracing::info!(client = client.what, script = %client.script.display(), "demo: client started");
                // Held here: `wait` closes a child's stdin, which the
                // clients read as their stop.
                let stdin = child.stdin.take();
                tokio::select! {
                    () = stop.cancelled() => {
                        stop_child(&mut child, stdin, client.what).await;
                        return;
                    }
                    status = child.wait() => {
                        tracing::warn!(client = client.what, ?status, "demo: client exited; starting it again");
                    }
                }
            }
            Err(error) => {
                tracing::warn!(client = client.what, %error, "demo: client did not start; retrying");
            }
        }
        if !pause(&stop, RESTART_AFTER).await {
            return;
        }
    }
}

/// Asks the client to stop (its clean exit), then kills it if it lingers.
async fn stop_child(child: &mut Child, stdin: Option<ChildStdin>, what: &'static str) {
    if let Some(mut stdin) = stdin {
        // A client that already went does not read it: nothing to do then.
        let _ = stdin.write_all(b"stop\n").await;
        drop(stdin);
    }
    match tokio::time::timeout(STOP_GRACE, child.wait()).await {
        Ok(_) => tracing::debug!(client = what, "demo: client stopped"),
        Err(_) => {
            tracing::warn!(client = what, "demo: client did not stop in time; killed");
            let _ = child.kill().await;
        }
    }
}
