//! P4: 100,000 instances in 5,000 services of every layout: the initial
//! sync, memory, the `services` snapshot, and a relist after a compaction.

use std::collections::HashSet;
use std::io::Read;
use std::time::{Duration, Instant};

use etcd_client::CompactionOptions;
use futures::{SinkExt, StreamExt};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio_tungstenite::tungstenite::Message;

use crate::load;
use crate::report::{kib, mib, Report};
use crate::server::{etcd_client, start_etcd, Leasehold};

const SERVICES: usize = 5_000;
const PER_SERVICE: usize = 20;

pub async fn run(report: &mut Report) -> anyhow::Result<()> {
    println!("P4 scale: {} instances in {SERVICES} services", SERVICES * PER_SERVICE);
    let mut etcd = start_etcd().await?;

    // What a server holding nothing weighs, to tell the registry's share.
    let empty = Leasehold::start(&etcd, &["--prefix", "/nothing-here/"]).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let empty_rss = empty.rss();
    drop(empty);

    // Every layout, as the frameworks write them (without leases: the keys
    // would otherwise need 100,000 leases kept alive).
    let mut entries = Vec::with_capacity(SERVICES * PER_SERVICE);
    let mut keys = HashSet::new();
    for (i, service) in server::demo::catalog::services(SERVICES).iter().enumerate() {
        for j in 0..PER_SERVICE {
            let (key, value) = service.instance().entry((i * PER_SERVICE + j + 1) as i64);
            if keys.insert(key.clone()) {
                entries.push((key, value));
            }
        }
    }
    let instances = entries.len();
    let mut client = etcd_client(&etcd).await?;
    let began = Instant::now();
    let revision = load::put_all(&mut client, &entries).await?;
    println!(
        "  loaded {instances} keys into etcd in {:.1} s",
        began.elapsed().as_secs_f64()
    );

    let server = Leasehold::start(&etcd, &[]).await?;
    server.caught_up(revision, Duration::from_secs(120)).await?;
    let sync = server.started_in;
    report.goal(
        "P4",
        format!("initial sync of {instances} instances (start to healthy)"),
        format!("{:.2} s", sync.as_secs_f64()),
        "< 3 s",
        sync < Duration::from_secs(3),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss = server.rss();
    report.goal("P4", "server RSS", mib(rss), "< 300 MiB", rss < 300 * 1024 * 1024);
    report.figure(
        "P4",
        "memory per instance (RSS over an empty server)",
        format!("{:.0} B", rss.saturating_sub(empty_rss) as f64 / instances as f64),
    );

    let rest = rest_bytes(&server, false).await?;
    let rest_gzip = rest_bytes(&server, true).await?;
    let (ws_gzip, json) = services_snapshot_bytes(&server, true).await?;
    let (ws_plain, _) = services_snapshot_bytes(&server, false).await?;
    report.goal(
        "P4",
        "`services` snapshot on the wire (WebSocket, gzip, as the page asks for it)",
        format!("{} ({} of JSON)", kib(ws_gzip), kib(json)),
        "< 200 KB",
        ws_gzip < 200_000,
    );
    report.figure("P4", "`services` snapshot, a client not asking for gzip", kib(ws_plain));
    report.figure(
        "P4",
        "`GET /api/v1/services` (gzip / plain)",
        format!("{} / {}", kib(rest_gzip), kib(rest)),
    );

    // A relist: the server is frozen while etcd restarts (so its watch is
    // cut with nothing in flight), moves on and compacts; resuming from its
    // revision, the server finds it compacted and lists everything again.
    let relists_before = metric(&server, "leasehold_relists_total").await?;
    let pid = Pid::from_raw(server.pid());
    kill(pid, Signal::SIGSTOP)?;
    drop(client);
    etcd.restart().await?;
    let mut client = etcd_client(&etcd).await?;
    // Two revisions: the server resumes from the first, which the compaction removes.
    client.put("/bench/after-freeze", "1", None).await?;
    let response = client.put("/bench/after-freeze", "2", None).await?;
    let newest = response.header().map_or(revision, |h| h.revision());
    client
        .compact(newest, Some(CompactionOptions::new().with_physical()))
        .await?;
    let thawed = Instant::now();
    kill(pid, Signal::SIGCONT)?;
    server.caught_up(newest, Duration::from_secs(120)).await?;
    let relisted = metric(&server, "leasehold_relists_total").await? > relists_before;
    let took = thawed.elapsed();
    if relisted {
        report.figure(
            "P4",
            format!("relist of {instances} keys after a compaction (reconnect included)"),
            format!("{:.2} s", took.as_secs_f64()),
        );
    } else {
        report.figure(
            "P4",
            "relist after a compaction",
            "no relist happened: not measured".to_owned(),
        );
    }
    Ok(())
}

/// The bytes of `GET /api/v1/services` as sent, with or without gzip asked for.
async fn rest_bytes(server: &Leasehold, gzip: bool) -> anyhow::Result<u64> {
    let mut request = server.http.get(server.url("/api/v1/services"));
    if gzip {
        // reqwest is built without its gzip feature: the body stays as sent.
        request = request.header("accept-encoding", "gzip");
    }
    Ok(request.send().await?.error_for_status()?.bytes().await?.len() as u64)
}

/// The `services` snapshot: (bytes on the wire, bytes of its JSON).
async fn services_snapshot_bytes(server: &Leasehold, gzip: bool) -> anyhow::Result<(u64, u64)> {
    let query = if gzip { "?compress=gzip" } else { "" };
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws{query}", server.addr)).await?;
    socket
        .send(Message::Text(r#"{"type":"subscribe","topics":["services"]}"#.into()))
        .await?;
    while let Some(message) = socket.next().await {
        let (wire, text) = match message? {
            Message::Text(text) => (text.len(), text.as_str().to_owned()),
            Message::Binary(gz) => {
                let mut text = String::new();
                flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut text)?;
                (gz.len(), text)
            }
            _ => continue,
        };
        if text.starts_with(r#"{"type":"snapshot""#) {
            return Ok((wire as u64, text.len() as u64));
        }
    }
    anyhow::bail!("the socket closed before the services snapshot")
}

async fn metric(server: &Leasehold, name: &str) -> anyhow::Result<f64> {
    let text = server.http.get(server.url("/metrics")).send().await?.text().await?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.trim().parse::<f64>().ok()))
        .unwrap_or(0.0))
}
